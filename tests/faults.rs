//! The idempotent producer through a hostile network: the fault proxy cuts connections at random points,
//! truncates frames, delays and blackholes, and afterwards every record is in the topic exactly once, in order
//! per partition. Each scenario also runs with confluent-kafka (librdkafka) as the producer: the reference
//! showing the scenario is survivable on this broker, so a failure of ours is ours.

mod support;

use std::time::Duration;

use support::broker::{create_topic, unique_topic, TestBroker};
use support::engine_cli::{assert_delivered, engine_consume, spawn_engine_produce};
use support::fault_proxy::{DropPolicy, FaultProxy};
use support::numbered::{
    assert_exactly_once_in_order, numbered_json_lines, numbered_key_value_lines, numbered_record,
};
use support::peers::{
    ck_consume, ck_consume_with, ck_produce, spawn_ck_produce, ConsumedRecord, PeerRecord,
};
use support::process::{RunOutput, RunningProcess};
use support::tab_format::TAB_FORMAT;

const PARTITIONS: u32 = 3;
/// How long a producer may take to finish once its input has ended, faults and all.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(150);
/// How long a producer may take to reach each point of a scenario (it cannot exit before its stdin closes,
/// unless it failed: then the wait ends at once).
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
enum Producer {
    /// Our `engine produce`.
    Engine,
    /// confluent-kafka via tests/peers/ck_produce.py, same settings.
    Reference,
}

impl Producer {
    /// Starts the producer with idempotence on and acks=all, stdin open. `extra_config` are more
    /// Java/librdkafka config names (both take the same ones).
    fn spawn(self, bootstrap: &str, topic: &str, extra_config: &[&str]) -> RunningProcess {
        let mut config = vec!["enable.idempotence=true", "acks=all"];
        config.extend_from_slice(extra_config);
        let x_args: Vec<&str> = config.iter().flat_map(|c| ["-X", c]).collect();
        match self {
            Producer::Engine => {
                let mut args = vec!["-K", ":"];
                args.extend_from_slice(&x_args);
                spawn_engine_produce(bootstrap, topic, &args)
            }
            Producer::Reference => {
                // Keyed records land where the Java client (and we) would put them.
                let mut args = vec!["--partitioner", "murmur2_random"];
                args.extend_from_slice(&x_args);
                spawn_ck_produce(bootstrap, topic, &args)
            }
        }
    }

    /// Stdin for records `range`: `key:value` lines for the engine, JSON lines for the peer.
    fn input(self, range: std::ops::Range<usize>) -> Vec<u8> {
        match self {
            Producer::Engine => numbered_key_value_lines(range),
            Producer::Reference => numbered_json_lines(range),
        }
        .into_bytes()
    }
}

fn assert_producer_succeeded(output: &RunOutput, producer: Producer, topic: &str, records: usize) {
    match producer {
        Producer::Engine => assert_delivered(output, topic, records),
        Producer::Reference => {
            output.assert_success("confluent-kafka producer under faults");
        }
    }
}

/// Connections cut after a random 6..=30 frames each, every frame delayed 1 ms; 50,000 records in small
/// batches (4 KiB), so there are hundreds of requests to cut between.
fn survives_random_connection_drops(producer: Producer) {
    survives_random_connection_drops_with(
        producer,
        50_000,
        DropPolicy::AfterFrames { min: 6, max: 30 },
        &["linger.ms=5", "batch.size=4096"],
    );
}

fn survives_random_connection_drops_with(
    producer: Producer,
    records: usize,
    drops: DropPolicy,
    settings: &[&str],
) {
    let broker = TestBroker::start();
    let topic = unique_topic("drops");
    create_topic(&broker.bootstrap(), &topic, PARTITIONS);
    let proxy = FaultProxy::start(&broker.bootstrap());
    proxy.set_drop_policy(drops);
    proxy.set_delay(Duration::from_millis(1));

    let mut running = producer.spawn(&proxy.bootstrap(), &topic, settings);
    running.feed(&producer.input(0..records));
    let output = running.finish(DRAIN_TIMEOUT);
    assert_producer_succeeded(&output, producer, &topic, records);

    let stats = proxy.stats();
    eprintln!("{producer:?} under random drops: {stats:?}");
    assert!(
        stats.connections_cut >= 3,
        "too few faults to prove anything: {stats:?}"
    );
    // Read straight from the broker, not through the proxy.
    let read = ck_consume(&broker.bootstrap(), &topic, None);
    assert_exactly_once_in_order(&read, records);
}

/// Mid-frame cuts, a truncated frame, a blackhole longer than the request timeout and a drop of every
/// connection, each injected while the producer is part-way through its input.
fn survives_truncation_blackhole_and_drop_all(producer: Producer) {
    const RECORDS: usize = 20_000;
    let broker = TestBroker::start();
    let topic = unique_topic("truncate-blackhole");
    create_topic(&broker.bootstrap(), &topic, PARTITIONS);
    let proxy = FaultProxy::start(&broker.bootstrap());
    proxy.set_drop_policy(DropPolicy::AfterBytes {
        min: 20_000,
        max: 400_000,
    });

    let mut running = producer.spawn(
        &proxy.bootstrap(),
        &topic,
        &["linger.ms=5", "request.timeout.ms=2000"],
    );

    running.feed(&producer.input(0..5_000));
    running.wait_while_running("records to flow through the proxy", STEP_TIMEOUT, || {
        proxy.stats().bytes_forwarded > 50_000
    });
    let cut_before = proxy.stats().connections_cut;
    proxy.truncate_next_frames(1);
    running.feed(&producer.input(5_000..10_000));
    running.wait_while_running("the truncated frame", STEP_TIMEOUT, || {
        proxy.stats().connections_cut > cut_before
    });

    proxy.blackhole_for(Duration::from_millis(3_000));
    running.feed(&producer.input(10_000..15_000));
    running.wait_while_running("frames to be swallowed", STEP_TIMEOUT, || {
        proxy.stats().frames_blackholed > 0
    });
    running.wait_while_running("the blackhole to lift", STEP_TIMEOUT, || {
        !proxy.is_blackholed()
    });

    proxy.drop_all_connections();
    running.feed(&producer.input(15_000..RECORDS));
    let output = running.finish(DRAIN_TIMEOUT);
    assert_producer_succeeded(&output, producer, &topic, RECORDS);
    eprintln!(
        "{producer:?} under truncation/blackhole/drop-all: {:?}",
        proxy.stats()
    );

    let read = ck_consume(&broker.bootstrap(), &topic, None);
    assert_exactly_once_in_order(&read, RECORDS);
}

/// Who reads the topic back through the proxy.
#[derive(Clone, Copy, Debug)]
enum Consumer {
    /// `engine consume -o beginning -e -f …`.
    Engine,
    /// confluent-kafka via tests/peers/ck_consume.py.
    Reference,
}

/// 20,000 records written straight to the broker, read back in small fetches through connections cut after
/// a random 5..=40 KB (mostly mid-frame), 1 ms per frame: every record exactly once, in offset order, nothing
/// re-printed after a reconnect.
fn consumer_survives_random_connection_drops(consumer: Consumer) {
    const RECORDS: usize = 20_000;
    let broker = TestBroker::start();
    let topic = unique_topic("consume-drops");
    create_topic(&broker.bootstrap(), &topic, PARTITIONS);
    let records: Vec<PeerRecord> = (0..RECORDS)
        .map(|i| {
            let (key, value) = numbered_record(i);
            PeerRecord::new(Some(key.as_bytes()), Some(value.as_bytes()))
        })
        .collect();
    // Small batches, so a consumer needs many fetches (and connections) to read it all.
    ck_produce(
        &broker.bootstrap(),
        &topic,
        "none",
        &["--partitioner", "murmur2_random", "-X", "batch.size=4096"],
        &records,
    );
    let proxy = FaultProxy::start(&broker.bootstrap());
    proxy.set_drop_policy(DropPolicy::AfterBytes {
        min: 5_000,
        max: 40_000,
    });
    proxy.set_delay(Duration::from_millis(1));
    let small_fetches = [
        "-X",
        "fetch.max.bytes=16384",
        "-X",
        "max.partition.fetch.bytes=4096",
    ];

    let read: Vec<ConsumedRecord> = match consumer {
        Consumer::Engine => {
            let output = engine_consume(
                &proxy.bootstrap(),
                &topic,
                &[
                    &["-o", "beginning", "-e", "-f", TAB_FORMAT],
                    &small_fetches[..],
                ]
                .concat(),
            );
            output.assert_success("engine consume under faults");
            // Printed order, not sorted: a record printed twice must show up as printed twice.
            output
                .stdout_str()
                .lines()
                .map(|line| {
                    let fields: Vec<&str> = line.splitn(7, '\t').collect();
                    assert_eq!(fields.len(), 7, "not a TAB_FORMAT line: {line:?}");
                    ConsumedRecord {
                        topic: fields[0].to_string(),
                        partition: fields[1].parse().expect("partition"),
                        offset: fields[2].parse().expect("offset"),
                        timestamp: fields[3].parse().expect("timestamp"),
                        key: Some(fields[4].as_bytes().to_vec()),
                        headers: Vec::new(),
                        value: Some(fields[6].as_bytes().to_vec()),
                    }
                })
                .collect()
        }
        Consumer::Reference => {
            // librdkafka insists on fetch.max.bytes >= message.max.bytes; its reconnect backoff would
            // otherwise grow to seconds over dozens of cuts.
            let librdkafka_only = [
                "-X",
                "message.max.bytes=16384",
                "-X",
                "reconnect.backoff.max.ms=200",
            ];
            let config = [&small_fetches[..], &librdkafka_only[..]].concat();
            ck_consume_with(&proxy.bootstrap(), &topic, None, &config)
        }
    };
    let stats = proxy.stats();
    eprintln!("{consumer:?} consuming under random drops: {stats:?}");
    assert!(
        stats.connections_cut >= 3,
        "too few faults to prove anything: {stats:?}"
    );
    assert_exactly_once_in_order(&read, RECORDS);
}

#[test]
fn consumer_reads_every_record_once_in_order_through_connection_drops() {
    consumer_survives_random_connection_drops(Consumer::Engine);
}

#[test]
fn reference_consumer_reads_every_record_once_in_order_through_connection_drops() {
    consumer_survives_random_connection_drops(Consumer::Reference);
}

#[test]
fn idempotent_producer_survives_random_connection_drops_without_loss_duplicates_or_reordering() {
    survives_random_connection_drops(Producer::Engine);
}

/// At the default batch.size (1 MB) a million records are about 21 MB in a few dozen requests, too few frames
/// to cut between by count; so cuts come after 1.5..=4 MB, mid-frame, always past the largest request
/// (max.request.size, 1 MiB) so every connection gets some of it through.
#[test]
fn idempotent_producer_sends_a_million_records_through_random_drops_without_loss_duplicates_or_reordering(
) {
    survives_random_connection_drops_with(
        Producer::Engine,
        1_000_000,
        DropPolicy::AfterBytes {
            min: 1_500_000,
            max: 4_000_000,
        },
        &["linger.ms=5"],
    );
}

#[test]
fn idempotent_producer_survives_truncated_frames_a_blackhole_and_dropped_connections() {
    survives_truncation_blackhole_and_drop_all(Producer::Engine);
}

#[test]
fn reference_client_survives_random_connection_drops() {
    survives_random_connection_drops(Producer::Reference);
}

#[test]
fn reference_client_survives_truncated_frames_a_blackhole_and_dropped_connections() {
    survives_truncation_blackhole_and_drop_all(Producer::Reference);
}

#[test]
#[should_panic(expected = "1 duplicated")]
fn exactly_once_check_catches_a_duplicate() {
    let read: Vec<ConsumedRecord> = [0usize, 1, 1, 2]
        .iter()
        .enumerate()
        .map(|(offset, &i)| ConsumedRecord {
            topic: "t".into(),
            partition: 0,
            offset: offset as i64,
            key: Some(numbered_record(i).0.into_bytes()),
            value: Some(numbered_record(i).1.into_bytes()),
            headers: Vec::new(),
            timestamp: 0,
        })
        .collect();
    // Keys differ per record but all sit in partition 0: fine for this check.
    assert_exactly_once_in_order(&read, 3);
}
