//! The clients no one here wrote, as the tests run them: confluent-kafka and kafka-python through the scripts
//! in `tests/peers/` (records in and out as JSON lines, bytes as hex), and kcat through `scripts/kcat`.

use std::process::Command;

use serde_json::{json, Value};

use super::process::{run, RunOutput, RunningProcess, PROCESS_TIMEOUT};
use super::tools::{python, repo_root};

/// `scripts/kcat <args>` (kcat on the confluent-kafka wheel's librdkafka).
pub fn kcat(args: &[&str], stdin: Option<&[u8]>) -> RunOutput {
    run(
        Command::new(repo_root().join("scripts/kcat")).args(args),
        stdin,
        PROCESS_TIMEOUT,
    )
}

/// `python tests/peers/<script>` with the harness's python.
pub fn peer_command(script: &str) -> Command {
    let mut command = Command::new(python());
    command
        .arg(repo_root().join("tests/peers").join(script))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

/// A record as the peers read and write it. `None` is Kafka's null (distinct from empty).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PeerRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Option<i64>,
    pub partition: Option<i32>,
}

impl PeerRecord {
    pub fn new(key: Option<&[u8]>, value: Option<&[u8]>) -> PeerRecord {
        PeerRecord {
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            ..PeerRecord::default()
        }
    }

    pub fn header(mut self, name: &str, value: Option<&[u8]>) -> PeerRecord {
        self.headers
            .push((name.to_string(), value.map(<[u8]>::to_vec)));
        self
    }

    pub fn to_json_line(&self) -> String {
        let line = json!({
            "key": self.key.as_deref().map(to_hex),
            "value": self.value.as_deref().map(to_hex),
            "headers": self.headers.iter()
                .map(|(name, value)| json!([name, value.as_deref().map(to_hex)]))
                .collect::<Vec<_>>(),
            "timestamp": self.timestamp,
            "partition": self.partition,
        });
        line.to_string()
    }
}

/// Where a peer producer says a record landed; `index` is its position in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub index: usize,
    pub partition: i32,
    pub offset: i64,
}

/// A record as a peer consumer read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumedRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: i64,
}

impl ConsumedRecord {
    /// The value as text (the tests write UTF-8); a null value reads as empty.
    pub fn value_text(&self) -> String {
        String::from_utf8_lossy(self.value.as_deref().unwrap_or_default()).into_owned()
    }
}

/// Produces `records` with confluent-kafka. `extra` are more ck_produce.py arguments, e.g.
/// `["--partitioner", "murmur2_random"]` or `["-X", "enable.idempotence=true"]`. Panics unless all delivered.
pub fn ck_produce(
    bootstrap: &str,
    topic: &str,
    compression: &str,
    extra: &[&str],
    records: &[PeerRecord],
) -> Vec<Delivery> {
    let output = run(
        peer_command("ck_produce.py")
            .args([
                "--bootstrap",
                bootstrap,
                "--topic",
                topic,
                "--compression",
                compression,
            ])
            .args(extra),
        Some(records_to_json_lines(records).as_bytes()),
        PROCESS_TIMEOUT,
    );
    output.assert_success("confluent-kafka produce");
    parse_deliveries(&output, records.len())
}

/// confluent-kafka producing what the test feeds it (`PeerRecord` JSON lines) to `topic`, stdin left open.
/// `extra` are more ck_produce.py arguments, as for `ck_produce`.
pub fn spawn_ck_produce(bootstrap: &str, topic: &str, extra: &[&str]) -> RunningProcess {
    RunningProcess::spawn(
        peer_command("ck_produce.py")
            .args(["--bootstrap", bootstrap, "--topic", topic])
            .args(extra),
    )
}

/// Produces `records` with kafka-python (needs key or value on every record; header values not null).
pub fn kp_produce(
    bootstrap: &str,
    topic: &str,
    compression: &str,
    records: &[PeerRecord],
) -> Vec<Delivery> {
    let output = run(
        peer_command("kp_produce.py").args([
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--compression",
            compression,
        ]),
        Some(records_to_json_lines(records).as_bytes()),
        PROCESS_TIMEOUT,
    );
    output.assert_success("kafka-python produce");
    parse_deliveries(&output, records.len())
}

/// Reads `topic` from the beginning with confluent-kafka: until `count` records if given, else until every
/// partition's end. Records come back sorted by (partition, offset).
pub fn ck_consume(bootstrap: &str, topic: &str, count: Option<usize>) -> Vec<ConsumedRecord> {
    ck_consume_with(bootstrap, topic, count, &[])
}

/// `ck_consume` with more ck_consume.py arguments, e.g. `["-X", "fetch.max.bytes=16384"]`.
pub fn ck_consume_with(
    bootstrap: &str,
    topic: &str,
    count: Option<usize>,
    extra: &[&str],
) -> Vec<ConsumedRecord> {
    let mut command = peer_command("ck_consume.py");
    command.args([
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--timeout",
        "60",
    ]);
    command.args(extra);
    if let Some(count) = count {
        command.args(["--count", &count.to_string()]);
    }
    let output = run(&mut command, None, PROCESS_TIMEOUT);
    output.assert_success("confluent-kafka consume");
    let mut records: Vec<ConsumedRecord> = output
        .stdout_str()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("ck_consume.py line {line}: {err}"));
            ConsumedRecord {
                topic: v["topic"].as_str().unwrap().to_string(),
                partition: v["partition"].as_i64().unwrap() as i32,
                offset: v["offset"].as_i64().unwrap(),
                key: hex_field(&v["key"]),
                value: hex_field(&v["value"]),
                headers: v["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| (h[0].as_str().unwrap().to_string(), hex_field(&h[1])))
                    .collect(),
                timestamp: v["timestamp"].as_i64().unwrap(),
            }
        })
        .collect();
    records.sort_by_key(|r| (r.partition, r.offset));
    records
}

fn records_to_json_lines(records: &[PeerRecord]) -> String {
    let mut lines = String::new();
    for record in records {
        lines.push_str(&record.to_json_line());
        lines.push('\n');
    }
    lines
}

fn parse_deliveries(output: &RunOutput, expected: usize) -> Vec<Delivery> {
    let deliveries: Vec<Delivery> = output
        .stdout_str()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("delivery line {line}: {err}"));
            Delivery {
                index: v["index"].as_u64().unwrap() as usize,
                partition: v["partition"].as_i64().unwrap() as i32,
                offset: v["offset"].as_i64().unwrap(),
            }
        })
        .collect();
    assert_eq!(
        deliveries.len(),
        expected,
        "{}: delivery reports",
        output.what
    );
    deliveries
}

fn hex_field(v: &Value) -> Option<Vec<u8>> {
    v.as_str().map(from_hex)
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn from_hex(hex: &str) -> Vec<u8> {
    assert!(hex.len() % 2 == 0, "odd-length hex {hex:?}");
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or_else(|_| panic!("bad hex {hex:?}"))
        })
        .collect()
}
