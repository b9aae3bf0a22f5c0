//! Our producer into our consumer, through a real broker: `engine produce` → `engine consume`.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use support::broker::{create_topic, unique_topic, TestBroker};
use support::engine_cli::{assert_delivered, engine_consume, engine_produce};
use support::peers::ck_consume;
use support::process::RunOutput;
use support::tab_format::{parse_tab_format, FormattedRecord, TAB_FORMAT};

const RECORDS: usize = 100_000;
const KEYS: usize = 1_000;
const PARTITIONS: u32 = 4;
/// Slack for comparing broker timestamps with this machine's clock (an external broker may stamp them).
const CLOCK_SLACK_MS: i64 = 60_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Record `i` is `key-<i % KEYS>:<i>:<per-key sequence>`: the value itself holds the delimiter, so it also
/// checks that `-K :` splits at the first one only.
fn line(i: usize) -> (String, String) {
    (format!("key-{:04}", i % KEYS), format!("{i}:{}", i / KEYS))
}

/// Parses a value written by `line`: (record number, per-key sequence).
fn value_numbers(value: &str) -> (usize, usize) {
    let (i, sequence) = value
        .split_once(':')
        .unwrap_or_else(|| panic!("value {value:?} lost its ':'"));
    (
        i.parse().unwrap_or_else(|_| panic!("value {value:?}")),
        sequence
            .parse()
            .unwrap_or_else(|_| panic!("value {value:?}")),
    )
}

#[test]
fn hundred_thousand_keyed_records_with_headers_come_back_once_each_in_key_order() {
    let broker = TestBroker::start();
    let topic = unique_topic("roundtrip");
    create_topic(&broker.bootstrap(), &topic, PARTITIONS);
    let mut input = String::with_capacity(RECORDS * 24);
    for i in 0..RECORDS {
        let (key, value) = line(i);
        input.push_str(&key);
        input.push(':');
        input.push_str(&value);
        input.push('\n');
    }

    let started_ms = now_ms();
    let produced = engine_produce(
        &broker.bootstrap(),
        &topic,
        &["-K", ":", "-H", "origin=roundtrip", "-H", "trace=t-42"],
        input.as_bytes(),
    );
    assert_delivered(&produced, &topic, RECORDS);
    let consumed = engine_consume(
        &broker.bootstrap(),
        &topic,
        &["-o", "beginning", "-e", "-f", TAB_FORMAT],
    );
    consumed.assert_success("engine consume");
    let finished_ms = now_ms();
    let records = parse_tab_format(&consumed.stdout_str());

    assert_eq!(
        records.len(),
        RECORDS,
        "records read back (if short: does `-e` trust ListOffsets? tansu's latest offset can lag; the Fetch \
         high watermark is right)"
    );
    let expected_headers = vec![
        ("origin".to_string(), "roundtrip".to_string()),
        ("trace".to_string(), "t-42".to_string()),
    ];
    let mut seen = vec![false; RECORDS];
    let mut partition_of_key: HashMap<&str, i32> = HashMap::new();
    let mut last_sequence_of_key: HashMap<&str, usize> = HashMap::new();
    let mut offsets_seen: HashSet<(i32, i64)> = HashSet::new();
    for record in &records {
        assert_eq!(record.topic, topic);
        assert!(
            (0..PARTITIONS as i32).contains(&record.partition),
            "{record:?}"
        );
        assert!(
            offsets_seen.insert((record.partition, record.offset)),
            "offset printed twice: {record:?}"
        );
        let (i, sequence) = value_numbers(&record.value);
        assert!(i < RECORDS, "{record:?}");
        assert!(!seen[i], "record {i} read twice: {record:?}");
        seen[i] = true;
        let (key, value) = line(i);
        assert_eq!(
            (record.key.as_str(), record.value.as_str()),
            (key.as_str(), value.as_str())
        );
        assert_eq!(record.headers, expected_headers, "{record:?}");
        assert!(
            record.timestamp >= started_ms - CLOCK_SLACK_MS
                && record.timestamp <= finished_ms + CLOCK_SLACK_MS,
            "timestamp {} outside the test's run [{started_ms}, {finished_ms}]: {record:?}",
            record.timestamp
        );
        // Records arrive sorted by (partition, offset): per key, sequences must rise.
        let partition = *partition_of_key
            .entry(&record.key)
            .or_insert(record.partition);
        assert_eq!(
            partition, record.partition,
            "key {} in two partitions",
            record.key
        );
        if let Some(previous) = last_sequence_of_key.insert(&record.key, sequence) {
            assert!(
                previous < sequence,
                "key {}: sequence {sequence} after {previous} (order lost): {record:?}",
                record.key
            );
        }
    }
    let used: HashSet<i32> = partition_of_key.values().copied().collect();
    assert_eq!(
        used.len(),
        PARTITIONS as usize,
        "{KEYS} keys should spread over every partition"
    );
}

#[test]
fn default_output_is_one_value_per_line_and_count_limits_it() {
    let broker = TestBroker::start();
    let topic = unique_topic("plain");
    create_topic(&broker.bootstrap(), &topic, 1);
    let values: Vec<String> = (0..20).map(|i| format!("plain value {i}")).collect();
    let input = values.join("\n") + "\n";
    assert_delivered(
        &engine_produce(&broker.bootstrap(), &topic, &[], input.as_bytes()),
        &topic,
        values.len(),
    );

    let all = engine_consume(&broker.bootstrap(), &topic, &["-o", "beginning", "-e"]);
    all.assert_success("engine consume -e");
    assert_eq!(all.stdout_str().lines().collect::<Vec<_>>(), values);

    let first_five = engine_consume(&broker.bootstrap(), &topic, &["-o", "beginning", "-c", "5"]);
    first_five.assert_success("engine consume -c 5");
    assert_eq!(
        first_five.stdout_str().lines().collect::<Vec<_>>(),
        values[..5]
    );
}

#[test]
fn explicit_partition_and_offset_select_what_is_read() {
    let broker = TestBroker::start();
    let topic = unique_topic("partition-offset");
    create_topic(&broker.bootstrap(), &topic, 3);
    let input: String = (0..10).map(|i| format!("k{i}:p2-{i}\n")).collect();
    let produced = engine_produce(
        &broker.bootstrap(),
        &topic,
        &["-p", "2", "-K", ":"],
        input.as_bytes(),
    );
    assert_delivered(&produced, &topic, 10);

    // A peer confirms where `-p 2` put them, whatever the keys hash to.
    let peer_view = ck_consume(&broker.bootstrap(), &topic, Some(10));
    assert!(peer_view.iter().all(|r| r.partition == 2), "{peer_view:?}");

    let from_offset_4 = engine_consume(
        &broker.bootstrap(),
        &topic,
        &["-p", "2", "-o", "4", "-e", "-f", "%p/%o/%k/%s\n"],
    );
    from_offset_4.assert_success("engine consume -p 2 -o 4");
    let expected: Vec<String> = (4..10).map(|i| format!("2/{i}/k{i}/p2-{i}")).collect();
    assert_eq!(
        from_offset_4.stdout_str().lines().collect::<Vec<_>>(),
        expected
    );
}

#[test]
fn format_escapes_and_topic_field_are_expanded() {
    let broker = TestBroker::start();
    let topic = unique_topic("format");
    create_topic(&broker.bootstrap(), &topic, 1);
    assert_delivered(
        &engine_produce(&broker.bootstrap(), &topic, &["-K", "="], b"name=value\n"),
        &topic,
        1,
    );
    let consumed = engine_consume(
        &broker.bootstrap(),
        &topic,
        &["-o", "beginning", "-e", "-f", "[%t]\\t%k\\n%s\\n"],
    );
    consumed.assert_success("engine consume");
    assert_eq!(consumed.stdout_str(), format!("[{topic}]\tname\nvalue\n"));
}

/// Keeps the test helpers' own parsing honest: they must reject what they do not understand.
#[test]
#[should_panic(expected = "not a TAB_FORMAT line")]
fn tab_format_parser_rejects_short_lines() {
    let _: Vec<FormattedRecord> = parse_tab_format("topic\t0\t1\n");
}

/// What `engine produce` would print having delivered 99 of 100 records to a topic whose name holds "100".
fn produce_output_short_of_100() -> RunOutput {
    use std::os::unix::process::ExitStatusExt;
    RunOutput {
        what: "engine produce".into(),
        status: std::process::ExitStatus::from_raw(0),
        stdout: Vec::new(),
        stderr: "% delivered 99 records to test-t-100-0\n".into(),
        elapsed: std::time::Duration::ZERO,
    }
}

/// The delivery check reads `engine produce`'s sentence, not any number on stderr (a topic name holds some).
#[test]
#[should_panic(expected = "should report `% delivered 100 records to test-t-100-0`")]
fn delivered_check_rejects_a_short_count_whatever_numbers_the_topic_name_holds() {
    assert_delivered(&produce_output_short_of_100(), "test-t-100-0", 100);
}

#[test]
fn delivered_check_accepts_the_sentence_engine_produce_prints() {
    assert_delivered(&produce_output_short_of_100(), "test-t-100-0", 99);
}
