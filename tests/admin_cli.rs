//! `engine topic create` and `engine metadata` against a real broker, checked through the wire.

mod support;

use support::broker::{create_topic, unique_topic, TestBroker};
use support::engine_cli::run_engine;
use support::raw_kafka::RawKafka;
use support::waiting::wait_for;

use std::time::Duration;

/// Partition count of `topic` as the broker's Metadata (v12) reports it, if the topic exists.
fn partitions_of(bootstrap: &str, topic: &str) -> Option<usize> {
    let metadata = RawKafka::connect(bootstrap).metadata(12);
    metadata
        .topics
        .iter()
        .find(|t| t.name.as_ref().map(|name| name.0.as_str()) == Some(topic) && t.error_code == 0)
        .map(|t| t.partitions.len())
}

#[test]
fn topic_create_makes_a_topic_with_the_requested_partitions() {
    let broker = TestBroker::start();
    let topic = unique_topic("created-by-engine");
    assert_eq!(partitions_of(&broker.bootstrap(), &topic), None);

    run_engine(&[
        "topic",
        "create",
        &topic,
        "--partitions",
        "5",
        "-b",
        &broker.bootstrap(),
    ])
    .assert_success("engine topic create");

    // Creation may finish a moment after the reply on a real cluster.
    wait_for("the topic in metadata", Duration::from_secs(10), || {
        partitions_of(&broker.bootstrap(), &topic).is_some()
    });
    assert_eq!(partitions_of(&broker.bootstrap(), &topic), Some(5));
}

#[test]
fn metadata_names_the_brokers_and_topics() {
    let broker = TestBroker::start();
    let topic = unique_topic("listed");
    create_topic(&broker.bootstrap(), &topic, 2);
    let advertised = RawKafka::connect(&broker.bootstrap()).metadata(12);

    let output = run_engine(&["metadata", "-b", &broker.bootstrap()]);
    output.assert_success("engine metadata");
    let listing = output.stdout_str();

    assert!(
        listing.contains(&topic),
        "topic {topic} missing from:\n{listing}"
    );
    for b in &advertised.brokers {
        assert!(
            listing.contains(&b.host.to_string()) && listing.contains(&b.port.to_string()),
            "broker {} at {}:{} missing from:\n{listing}",
            b.node_id.0,
            b.host,
            b.port
        );
    }
}
