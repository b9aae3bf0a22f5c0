//! Interoperability with clients no one here wrote: what we write, confluent-kafka (librdkafka) and kcat read
//! identically; what confluent-kafka, kafka-python and kcat write, we read identically.

mod support;

use std::collections::{BTreeSet, HashMap};

use support::broker::{create_topic, unique_topic, TestBroker};
use support::engine_cli::{assert_delivered, engine_consume, engine_produce};
use support::peers::{
    ck_consume, ck_produce, kcat, kp_produce, ConsumedRecord, Delivery, PeerRecord,
};
use support::raw_kafka::{BatchCompression, RawKafka};
use support::tab_format::{parse_tab_format, FormattedRecord, TAB_FORMAT};

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

fn text(bytes: &Option<Vec<u8>>) -> String {
    // `-f` prints null as empty, like kcat without -Z.
    String::from_utf8(bytes.clone().unwrap_or_default()).expect("test data is UTF-8")
}

/// What `-f TAB_FORMAT` prints for a record a peer consumer read.
fn as_formatted(record: &ConsumedRecord) -> FormattedRecord {
    FormattedRecord {
        topic: record.topic.clone(),
        partition: record.partition,
        offset: record.offset,
        timestamp: record.timestamp,
        key: text(&record.key),
        headers: record
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), text(value)))
            .collect(),
        value: text(&record.value),
    }
}

/// What `-f TAB_FORMAT` should print for `records` written by a peer that reported `deliveries`.
fn expected_from_deliveries(
    topic: &str,
    records: &[PeerRecord],
    deliveries: &[Delivery],
) -> Vec<FormattedRecord> {
    let mut expected: Vec<FormattedRecord> = deliveries
        .iter()
        .map(|delivery| {
            let record = &records[delivery.index];
            FormattedRecord {
                topic: topic.to_string(),
                partition: delivery.partition,
                offset: delivery.offset,
                timestamp: record
                    .timestamp
                    .expect("test records carry explicit timestamps"),
                key: text(&record.key),
                headers: record
                    .headers
                    .iter()
                    .map(|(name, value)| (name.clone(), text(value)))
                    .collect(),
                value: text(&record.value),
            }
        })
        .collect();
    expected.sort_by_key(|r| (r.partition, r.offset));
    expected
}

fn engine_read_all(bootstrap: &str, topic: &str) -> Vec<FormattedRecord> {
    let consumed = engine_consume(
        bootstrap,
        topic,
        &["-o", "beginning", "-e", "-f", TAB_FORMAT],
    );
    consumed.assert_success("engine consume");
    parse_tab_format(&consumed.stdout_str())
}

fn kcat_read(bootstrap: &str, topic: &str, count: usize) -> Vec<FormattedRecord> {
    // -c rather than -e: exact count, and a short read fails by timeout instead of passing quietly.
    let count = count.to_string();
    let output = kcat(
        &[
            "-C",
            "-b",
            bootstrap,
            "-t",
            topic,
            "-o",
            "beginning",
            "-c",
            &count,
            "-q",
            "-f",
            TAB_FORMAT,
        ],
        None,
    );
    output.assert_success("kcat consume");
    parse_tab_format(&output.stdout_str())
}

/// Keyed, keyless, tombstone and empty-valued records with headers and explicit timestamps, spread over
/// `partitions` partitions (some placed explicitly). `allow_null_key_and_value` adds a record whose key and
/// value are both null, which kafka-python refuses to send.
fn mixed_records(partitions: i32, allow_null_key_and_value: bool) -> Vec<PeerRecord> {
    let base_timestamp = 1_700_000_000_000i64;
    let mut records = Vec::new();
    for i in 0..120i64 {
        let mut record = match i % 6 {
            0..=2 => PeerRecord::new(
                Some(format!("key-{}", i % 13).as_bytes()),
                Some(format!("value {i} with spaces and ümlauts").as_bytes()),
            )
            .header("seq", Some(i.to_string().as_bytes()))
            .header("kind", Some(b"keyed")),
            3 => PeerRecord::new(None, Some(format!("keyless-{i}").as_bytes()))
                .header("kind", Some(b"keyless")),
            4 => PeerRecord::new(Some(format!("gone-{i}").as_bytes()), None),
            _ => PeerRecord::new(Some(format!("empty-{i}").as_bytes()), Some(b"")),
        };
        if i % 5 == 0 {
            record.partition = Some((i % i64::from(partitions)) as i32);
        }
        record.timestamp = Some(base_timestamp + i * 1_000);
        records.push(record);
    }
    if allow_null_key_and_value {
        let mut both_null = PeerRecord::new(None, None);
        both_null.timestamp = Some(base_timestamp - 1);
        both_null.partition = Some(0);
        records.push(both_null);
    }
    records
}

// ------------------------------------------------------------------------------------------------------
// What we write, they read

#[test]
fn confluent_kafka_and_kcat_read_our_keys_values_headers_and_murmur2_partitions() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("we-write");
    const PARTITIONS: u32 = 6;
    const RECORDS: usize = 3_000;
    create_topic(&bootstrap, &topic, PARTITIONS);
    let lines: Vec<(String, String)> = (0..RECORDS)
        .map(|i| (format!("user-{}", i % 257), format!("event-{i}")))
        .collect();
    let input: String = lines.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();

    let produced = engine_produce(
        &bootstrap,
        &topic,
        &["-K", ":", "-H", "source=pipewright", "-H", "schema=v1"],
        input.as_bytes(),
    );
    assert_delivered(&produced, &topic, RECORDS);

    let peer_view = ck_consume(&bootstrap, &topic, Some(RECORDS));
    let mut read: Vec<(String, String)> = peer_view
        .iter()
        .map(|r| (text(&r.key), text(&r.value)))
        .collect();
    read.sort();
    let mut expected = lines.clone();
    expected.sort();
    assert_eq!(read, expected, "confluent-kafka reads exactly our records");
    for record in &peer_view {
        assert_eq!(
            record.headers,
            vec![
                ("source".to_string(), Some(b"pipewright".to_vec())),
                ("schema".to_string(), Some(b"v1".to_vec())),
            ],
            "{record:?}"
        );
    }

    let kcat_view = kcat_read(&bootstrap, &topic, RECORDS);
    let peer_formatted: Vec<FormattedRecord> = peer_view.iter().map(as_formatted).collect();
    assert_eq!(
        kcat_view, peer_formatted,
        "kcat and confluent-kafka disagree"
    );

    // The Java client's partitioner (murmur2) is the reference: librdkafka's murmur2_random matches it for
    // keyed records. Each key once into a twin topic tells where Java would put it.
    let reference_topic = unique_topic("murmur2-reference");
    create_topic(&bootstrap, &reference_topic, PARTITIONS);
    let keys: Vec<String> = lines
        .iter()
        .map(|(k, _)| k.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let key_records: Vec<PeerRecord> = keys
        .iter()
        .map(|k| PeerRecord::new(Some(k.as_bytes()), Some(b"x")))
        .collect();
    let deliveries = ck_produce(
        &bootstrap,
        &reference_topic,
        "none",
        &["--partitioner", "murmur2_random"],
        &key_records,
    );
    let java_partition: HashMap<&str, i32> = deliveries
        .iter()
        .map(|d| (keys[d.index].as_str(), d.partition))
        .collect();
    for record in &peer_view {
        let key = text(&record.key);
        assert_eq!(
            record.partition,
            java_partition[key.as_str()],
            "key {key:?}: we chose partition {}, the Java partitioner (murmur2) chooses {}",
            record.partition,
            java_partition[key.as_str()]
        );
    }
}

#[test]
fn peers_read_what_we_write_with_every_compression_codec() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    for codec in CODECS {
        let topic = unique_topic(&format!("we-write-{codec}"));
        create_topic(&bootstrap, &topic, 1);
        // Repetitive values, so every codec has something to squeeze.
        let lines: Vec<String> = (0..500)
            .map(|i| format!("k{}:{codec} {i} {}", i % 7, "abcdefgh".repeat(8)))
            .collect();
        let input = lines.join("\n") + "\n";
        let produced = engine_produce(
            &bootstrap,
            &topic,
            &["-K", ":", "-z", codec],
            input.as_bytes(),
        );
        assert_delivered(&produced, &topic, lines.len());

        let peer_view = ck_consume(&bootstrap, &topic, Some(lines.len()));
        let read: Vec<String> = peer_view
            .iter()
            .map(|r| format!("{}:{}", text(&r.key), text(&r.value)))
            .collect();
        assert_eq!(
            read, lines,
            "{codec}: confluent-kafka reads our records in order"
        );
        let kcat_view = kcat_read(&bootstrap, &topic, lines.len());
        let peer_formatted: Vec<FormattedRecord> = peer_view.iter().map(as_formatted).collect();
        assert_eq!(
            kcat_view, peer_formatted,
            "{codec}: kcat and confluent-kafka disagree"
        );

        let compressions = RawKafka::connect(&bootstrap).batch_compressions(&topic, 0);
        assert!(!compressions.is_empty(), "{codec}: no batches stored");
        assert!(
            compressions
                .iter()
                .all(|c| *c == BatchCompression::from_name(codec)),
            "-z {codec} stored batches compressed as {compressions:?}"
        );
    }
}

// ------------------------------------------------------------------------------------------------------
// What they write, we read

fn we_read_what_confluent_kafka_writes(codec: &str) {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic(&format!("ck-writes-{codec}"));
    create_topic(&bootstrap, &topic, 3);
    let records = mixed_records(3, true);

    let deliveries = ck_produce(&bootstrap, &topic, codec, &[], &records);
    let compressions = RawKafka::connect(&bootstrap).batch_compressions(&topic, 0);
    assert!(
        compressions.iter().all(|c| *c == BatchCompression::from_name(codec)),
        "the peer was asked for {codec} but stored {compressions:?}: this test would not test {codec}"
    );

    assert_eq!(
        engine_read_all(&bootstrap, &topic),
        expected_from_deliveries(&topic, &records, &deliveries),
        "engine consume vs what confluent-kafka wrote with compression {codec}"
    );
}

#[test]
fn we_read_what_confluent_kafka_writes_uncompressed() {
    we_read_what_confluent_kafka_writes("none");
}

#[test]
fn we_read_what_confluent_kafka_writes_with_gzip() {
    we_read_what_confluent_kafka_writes("gzip");
}

#[test]
fn we_read_what_confluent_kafka_writes_with_snappy() {
    we_read_what_confluent_kafka_writes("snappy");
}

#[test]
fn we_read_what_confluent_kafka_writes_with_lz4() {
    we_read_what_confluent_kafka_writes("lz4");
}

#[test]
fn we_read_what_confluent_kafka_writes_with_zstd() {
    we_read_what_confluent_kafka_writes("zstd");
}

#[test]
fn we_read_what_kafka_python_writes_with_gzip() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("kp-writes-gzip");
    create_topic(&bootstrap, &topic, 3);
    let records = mixed_records(3, false);

    let deliveries = kp_produce(&bootstrap, &topic, "gzip", &records);
    // kafka-python sends a batch uncompressed when gzip does not make it smaller (a small batch): every batch is
    // one or the other, and there are gzip ones to read.
    let mut raw = RawKafka::connect(&bootstrap);
    let compressions: Vec<BatchCompression> = (0..3)
        .flat_map(|p| raw.batch_compressions(&topic, p))
        .collect();
    assert!(
        compressions.contains(&BatchCompression::Gzip)
            && compressions
                .iter()
                .all(|c| matches!(c, BatchCompression::Gzip | BatchCompression::None)),
        "kafka-python stored {compressions:?}"
    );

    assert_eq!(
        engine_read_all(&bootstrap, &topic),
        expected_from_deliveries(&topic, &records, &deliveries),
        "engine consume vs what kafka-python wrote"
    );
}

#[test]
fn we_read_what_kcat_writes() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("kcat-writes");
    create_topic(&bootstrap, &topic, 2);
    let lines: Vec<String> = (0..200)
        .map(|i| match i % 4 {
            0 => format!("no delimiter so no key {i}"),
            1 => format!(":empty key {i}"),
            _ => format!("k{}:v{i}:with a colon", i % 9),
        })
        .collect();
    let input = lines.join("\n") + "\n";
    kcat(
        &[
            "-P", "-b", &bootstrap, "-t", &topic, "-K", ":", "-H", "via=kcat", "-z", "snappy",
        ],
        Some(input.as_bytes()),
    )
    .assert_success("kcat produce");

    // confluent-kafka is the witness of what kcat stored; we must print the same.
    let peer_view = ck_consume(&bootstrap, &topic, Some(lines.len()));
    let mut stored: Vec<String> = peer_view
        .iter()
        .map(|r| match &r.key {
            Some(key) => format!("{}:{}", String::from_utf8_lossy(key), text(&r.value)),
            None => text(&r.value),
        })
        .collect();
    stored.sort();
    let mut expected = lines.clone();
    expected.sort();
    assert_eq!(
        stored, expected,
        "kcat stored something else than we gave it"
    );

    let peer_formatted: Vec<FormattedRecord> = peer_view.iter().map(as_formatted).collect();
    assert_eq!(engine_read_all(&bootstrap, &topic), peer_formatted);
}
