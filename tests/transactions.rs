//! Transactions against a real broker: committed and aborted transactions written with our CLI and library,
//! read with our consumer and with confluent-kafka (librdkafka), read_committed and read_uncommitted.
//!
//! tansu (the default test broker) takes the transactional APIs (InitProducerId, AddPartitionsToTxn, EndTxn
//! answer and markers are written) but does not keep aborted records from read_committed consumers (its Fetch
//! responses carry no aborted transactions), and does not fence an older producer with the same
//! transactional id (its commit with the old epoch succeeds). Checks it fails say so in their names
//! (`..._tansu_incomplete`) and are skipped only when the harness started tansu; with
//! `PIPEWRIGHT_TEST_BROKER` set (a real Kafka) everything runs.

mod support;

use std::time::Duration;

use pipewright::client::config::{ConfigMap, ProducerConfig};
use pipewright::client::producer::RecordRef;
use pipewright::runtime::Producer;
use support::broker::{create_topic, unique_topic, TestBroker};
use support::engine_cli::{engine_consume, engine_produce, spawn_engine_produce};
use support::local_runtime::block_on_local;
use support::peers::{ck_consume_with, ConsumedRecord};

/// Whether checks tansu is known to fail must be skipped: only when the harness runs tansu itself.
fn tansu_incomplete(broker: &TestBroker, what: &str) -> bool {
    if broker.is_external() {
        false
    } else {
        eprintln!("skipped against tansu: {what}");
        true
    }
}

fn values_by_engine(bootstrap: &str, topic: &str, isolation: &str) -> Vec<String> {
    let output = engine_consume(
        bootstrap,
        topic,
        &[
            "-o",
            "beginning",
            "-e",
            "-f",
            "%s\n",
            "-X",
            &format!("isolation.level={isolation}"),
        ],
    );
    output.assert_success("engine consume");
    let mut values: Vec<String> = output.stdout_str().lines().map(str::to_owned).collect();
    values.sort();
    values
}

fn values_by_confluent_kafka(bootstrap: &str, topic: &str, isolation: &str) -> Vec<String> {
    let isolation = format!("isolation.level={isolation}");
    let mut values: Vec<String> = ck_consume_with(bootstrap, topic, None, &["-X", &isolation])
        .iter()
        .map(ConsumedRecord::value_text)
        .collect();
    values.sort();
    values
}

fn sorted(values: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = values.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Runs `body` with a transactional producer of our library, on a current-thread runtime.
fn with_transactional_producer<F, Fut>(bootstrap: &str, transactional_id: &str, body: F)
where
    F: FnOnce(Producer) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    block_on_local(async {
        let config = ProducerConfig::from_map(ConfigMap::from_pairs([
            ("bootstrap.servers", bootstrap),
            ("transactional.id", transactional_id),
        ]))
        .expect("config");
        let producer = Producer::new(config);
        tokio::time::timeout(Duration::from_secs(60), body(producer))
            .await
            .expect("transactional producer finished within 60 s");
    });
}

fn record<'a>(topic: &'a str, value: &'a str) -> RecordRef<'a> {
    RecordRef {
        topic,
        partition: None,
        key: None,
        value: Some(value.as_bytes()),
        headers: &[],
        timestamp_ms: 1_700_000_000_000,
    }
}

#[test]
fn cli_transactions_of_n_records_are_committed_and_read_by_both_consumers() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("txn-cli");
    create_topic(&bootstrap, &topic, 2);
    let input: String = (0..10).map(|i| format!("r{i}\n")).collect();
    let produced = engine_produce(
        &bootstrap,
        &topic,
        &[
            "-X",
            &format!("transactional.id={topic}-tx"),
            "--txn-size",
            "4",
        ],
        input.as_bytes(),
    );
    produced.assert_success("engine produce in transactions");
    assert!(
        produced
            .stderr
            .contains("committed 3 transactions (10 records), aborted 0"),
        "{}",
        produced.stderr
    );
    let expected: Vec<String> = {
        let mut v: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
        v.sort();
        v
    };
    for isolation in ["read_committed", "read_uncommitted"] {
        assert_eq!(
            values_by_engine(&bootstrap, &topic, isolation),
            expected,
            "engine consume {isolation}"
        );
        assert_eq!(
            values_by_confluent_kafka(&bootstrap, &topic, isolation),
            expected,
            "confluent-kafka {isolation}"
        );
    }
}

/// One aborted transaction (its records written, then aborted) between two committed ones.
fn committed_aborted_committed(bootstrap: &str, topic: &str) {
    let topic_owned = topic.to_owned();
    with_transactional_producer(bootstrap, &format!("{topic}-lib"), |producer| async move {
        let topic = topic_owned.as_str();
        producer.init_transactions().await.expect("init");
        for (value, commit) in [("c1", true), ("a1", false), ("c2", true)] {
            producer.begin_transaction().await.expect("begin");
            let deliveries = [
                producer
                    .send(record(topic, &format!("{value}-x")))
                    .await
                    .expect("send"),
                producer
                    .send(record(topic, &format!("{value}-y")))
                    .await
                    .expect("send"),
            ];
            if commit {
                producer.commit_transaction().await.expect("commit");
                for delivery in deliveries {
                    delivery.await.expect("delivered");
                }
            } else {
                // Written first, so the abort marker has something to abort.
                for delivery in deliveries {
                    delivery.await.expect("delivered before the abort");
                }
                producer.abort_transaction().await.expect("abort");
            }
        }
        producer.close().await;
    });
}

#[test]
fn read_uncommitted_sees_aborted_and_committed_records() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("txn-uncommitted");
    create_topic(&bootstrap, &topic, 1);
    committed_aborted_committed(&bootstrap, &topic);
    let everything = sorted(&["c1-x", "c1-y", "a1-x", "a1-y", "c2-x", "c2-y"]);
    assert_eq!(
        values_by_engine(&bootstrap, &topic, "read_uncommitted"),
        everything
    );
    assert_eq!(
        values_by_confluent_kafka(&bootstrap, &topic, "read_uncommitted"),
        everything
    );
}

#[test]
fn read_committed_hides_aborted_records_tansu_incomplete() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("txn-committed");
    create_topic(&bootstrap, &topic, 1);
    committed_aborted_committed(&bootstrap, &topic);
    if tansu_incomplete(
        &broker,
        "its Fetch responses list no aborted transactions, so read_committed sees aborted records",
    ) {
        return;
    }
    let committed = sorted(&["c1-x", "c1-y", "c2-x", "c2-y"]);
    assert_eq!(
        values_by_engine(&bootstrap, &topic, "read_committed"),
        committed,
        "engine consume read_committed"
    );
    assert_eq!(
        values_by_confluent_kafka(&bootstrap, &topic, "read_committed"),
        committed,
        "confluent-kafka read_committed"
    );
}

#[test]
fn cli_exits_non_zero_saying_so_when_a_second_producer_fences_it_tansu_incomplete() {
    let broker = TestBroker::start();
    if tansu_incomplete(
        &broker,
        "it does not fence the older producer (its EndTxn with the old epoch succeeds; observed drops of its \
         connection instead of INVALID_PRODUCER_EPOCH / PRODUCER_FENCED)",
    ) {
        return;
    }
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("txn-fenced");
    create_topic(&bootstrap, &topic, 1);
    let transactional_id = format!("{topic}-tx");
    let mut first = spawn_engine_produce(
        &bootstrap,
        &topic,
        &["-X", &format!("transactional.id={transactional_id}")],
    );
    first.feed(b"from-the-first\n");
    // Give the first producer time to register its transactional id and open its transaction.
    std::thread::sleep(Duration::from_secs(2));
    let topic_owned = topic.clone();
    with_transactional_producer(&bootstrap, &transactional_id, |producer| async move {
        producer
            .init_transactions()
            .await
            .expect("the successor registers");
        producer.begin_transaction().await.expect("begin");
        producer
            .send(record(&topic_owned, "from-the-successor"))
            .await
            .expect("send");
        producer.commit_transaction().await.expect("commit");
        producer.close().await;
    });
    let output = first.finish(Duration::from_secs(60));
    assert!(
        !output.status.success(),
        "the fenced producer must fail; stderr:\n{}",
        output.stderr
    );
    assert!(output.stderr.contains("fenced"), "{}", output.stderr);
}
