//! `/metrics` and `engine status` against a running engine: a file → file pipeline copies a known file, then
//! - Python's `prometheus_client` parses `/metrics` (the format is what Prometheus reads, not just what we
//!   think it is), its counters match the records and bytes written, the end-to-end latency quantiles are
//!   there and ordered, the histogram counts every record, the process's RSS and open files are positive;
//! - `engine status` prints the task's row (state, core, rates, p99), and `--watch` redraws it;
//! - a Kafka source's lag is shown per partition (high watermark minus position), in `/metrics` and the table.

mod support;

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use support::broker::{create_topic, unique_topic, TestBroker};
use support::engine_cli::{assert_delivered, engine_produce};
use support::engine_process::{rest_get, start_engine, write_config, write_pipelines};
use support::peers::peer_command;
use support::process::{run, PROCESS_TIMEOUT};
use support::tools::engine;
use support::waiting::{file_lines, wait_for};

const RECORDS: usize = 3_000;

/// The body of an HTTP response.
fn body(response: &str) -> &str {
    response
        .split_once("\r\n\r\n")
        .map_or(response, |(_, body)| body)
}

/// `/metrics` as prometheus_client parsed it: one JSON object per sample.
fn parsed_metrics(port: u16) -> Vec<Value> {
    let text = rest_get(port, "/metrics");
    let output = run(
        &mut peer_command("prom_parse.py"),
        Some(body(&text).as_bytes()),
        PROCESS_TIMEOUT,
    );
    output.assert_success("prometheus_client parses /metrics");
    serde_json::from_str(&output.stdout_str()).expect("prom_parse.py prints JSON")
}

/// The value of the one sample named `name` whose labels include `labels`.
fn sample(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> Option<Value> {
    let found: Vec<&Value> = samples
        .iter()
        .filter(|s| {
            s["name"] == name
                && labels
                    .iter()
                    .all(|(k, v)| s["labels"][*k].as_str() == Some(*v))
        })
        .collect();
    assert!(
        found.len() <= 1,
        "more than one {name} {labels:?}: {found:?}"
    );
    found.first().map(|s| s["value"].clone())
}

fn number(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(samples, name, labels)
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
        .as_f64()
        .unwrap_or_else(|| panic!("{name} {labels:?} is not a number"))
}

#[test]
fn metrics_count_a_file_copy_and_engine_status_shows_its_task() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    let output = dir.path().join("out.txt");
    let lines: Vec<String> = (0..RECORDS).map(|i| format!("record-{i:05}")).collect();
    std::fs::write(
        &input,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            r#"[[pipeline]]
name = "copy"
source = {{ type = "file", file = "{}" }}
sink = {{ type = "file", file = "{}" }}
"#,
            input.display(),
            output.display()
        ),
    );
    let mut engine_process = start_engine(&config, &dir.path().join("state"), 1);
    let port = engine_process.1;
    engine_process.wait_while_running("the copy to be written", Duration::from_secs(30), || {
        file_lines(&output).len() >= RECORDS
    });
    assert_eq!(file_lines(&output), lines);

    let task = [("pipeline", "copy"), ("task", "0")];
    // Distributions reach /metrics at most a second after the commit that acknowledged the records.
    let mut samples = Vec::new();
    engine_process.wait_while_running(
        "every record's latency in /metrics",
        Duration::from_secs(15),
        || {
            samples = parsed_metrics(port);
            sample(
                &samples,
                "pipewright_end_to_end_latency_seconds_count",
                &task,
            )
            .and_then(|v| v.as_f64())
                == Some(RECORDS as f64)
        },
    );

    let types: std::collections::BTreeMap<&str, &str> = samples
        .iter()
        .map(|s| (s["family"].as_str().unwrap(), s["type"].as_str().unwrap()))
        .collect();
    assert_eq!(types["pipewright_records_polled"], "counter");
    assert_eq!(types["pipewright_end_to_end_latency_seconds"], "histogram");
    assert_eq!(
        types["pipewright_end_to_end_latency_summary_seconds"],
        "summary"
    );
    assert_eq!(types["process_resident_memory_bytes"], "gauge");

    let records = RECORDS as f64;
    let bytes: usize = lines.iter().map(String::len).sum();
    assert_eq!(
        number(&samples, "pipewright_records_polled_total", &task),
        records
    );
    assert_eq!(
        number(&samples, "pipewright_records_written_total", &task),
        records
    );
    assert_eq!(
        number(&samples, "pipewright_bytes_polled_total", &task),
        bytes as f64
    );
    assert_eq!(
        number(&samples, "pipewright_bytes_written_total", &task),
        bytes as f64
    );
    assert_eq!(
        number(&samples, "pipewright_records_filtered_total", &task),
        0.0
    );
    assert_eq!(
        number(&samples, "pipewright_records_failed_total", &task),
        0.0
    );
    assert_eq!(number(&samples, "pipewright_task_core", &task), 0.0);
    assert!(number(&samples, "pipewright_commits_total", &task) >= 1.0);
    let batches = number(&samples, "pipewright_batch_records_count", &task);
    assert!(batches >= 1.0);
    assert_eq!(
        number(&samples, "pipewright_batch_records_sum", &task),
        records
    );
    assert!(number(&samples, "pipewright_last_record_age_seconds", &task) >= 0.0);

    let quantiles: Vec<f64> = ["0.5", "0.9", "0.99", "0.999", "0.9999"]
        .iter()
        .map(|q| {
            let mut labels = task.to_vec();
            labels.push(("quantile", q));
            number(
                &samples,
                "pipewright_end_to_end_latency_summary_seconds",
                &labels,
            )
        })
        .collect();
    assert!(quantiles[0] >= 0.0, "{quantiles:?}");
    assert!(
        quantiles.windows(2).all(|w| w[0] <= w[1]),
        "quantiles are ordered: {quantiles:?}"
    );
    assert!(
        quantiles[4] < 60.0,
        "a local file copy takes seconds at most: {quantiles:?}"
    );
    let mut inf = task.to_vec();
    inf.push(("le", "+Inf"));
    assert_eq!(
        number(
            &samples,
            "pipewright_end_to_end_latency_seconds_bucket",
            &inf
        ),
        records
    );
    for stage in ["poll", "transform", "put", "commit"] {
        let mut labels = task.to_vec();
        labels.push(("stage", stage));
        assert!(
            number(&samples, "pipewright_stage_latency_seconds_count", &labels) >= 1.0,
            "stage {stage} measured"
        );
    }

    assert!(number(&samples, "process_resident_memory_bytes", &[]) > 0.0);
    assert!(number(&samples, "process_open_fds", &[]) > 0.0);
    assert_eq!(
        number(&samples, "pipewright_core_tasks", &[("core", "0")]),
        1.0
    );
    let busy = number(&samples, "pipewright_core_busy_ratio", &[("core", "0")]);
    assert!((0.0..=1.0).contains(&busy), "busy ratio {busy}");

    // engine status: the task's row, with the numbers /metrics has.
    let url = format!("http://127.0.0.1:{port}");
    let status = run(
        Command::new(engine()).args(["status", "--url", &url]),
        None,
        PROCESS_TIMEOUT,
    );
    status.assert_success("engine status");
    let table = status.stdout_str();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "CONNECTOR",
            "TASK",
            "WORKER",
            "CORE",
            "STATE",
            "IN/S",
            "OUT/S",
            "LAG",
            "P99",
            "LAST",
            "ERROR"
        ],
        "{table}"
    );
    assert_eq!(rows.len(), 2, "one task: {table}");
    let row = &rows[1];
    assert_eq!(&row[..2], ["copy", "0"], "{table}");
    assert_eq!(row[3], "0", "core: {table}");
    assert_eq!(row[4], "RUNNING", "{table}");
    // The file is copied: nothing moves any more.
    assert_eq!(&row[5..7], ["0.0", "0.0"], "{table}");
    assert_eq!(row[7], "-", "a file source has no consumer lag: {table}");
    assert!(
        row[8].ends_with("ms") || row[8].ends_with("µs") || row[8].ends_with('s'),
        "p99 shown: {table}"
    );
    assert_eq!(row[9], "-", "no error: {table}");

    // --watch redraws the table in place: cursor home, then the table, once a second.
    let mut watch = Command::new(engine())
        .args(["status", "--watch", "--url", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start engine status --watch");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = watch.stdout.take().unwrap();
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        })
    };
    let frames = || {
        String::from_utf8_lossy(&seen.lock().unwrap())
            .matches("\x1b[H")
            .count()
    };
    wait_for("two frames of --watch", Duration::from_secs(15), || {
        frames() >= 2
    });
    let _ = watch.kill();
    let _ = watch.wait();
    let _ = reader.join();
    let text = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(text.matches("CONNECTOR").count() >= 2, "{text:?}");
    assert!(text.contains("copy"), "{text:?}");
}

#[test]
fn a_kafka_source_shows_its_lag_per_partition() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let topic = unique_topic("metrics-lag");
    create_topic(&bootstrap, &topic, 2);
    let records = 1_000;
    let input: String = (0..records).map(|i| format!("k{i}:v{i}\n")).collect();
    assert_delivered(
        &engine_produce(&bootstrap, &topic, &["-K", ":"], input.as_bytes()),
        &topic,
        records,
    );
    let output = dir.path().join("out.txt");
    let config = write_pipelines(
        dir.path(),
        &bootstrap,
        &format!(
            r#"[[pipeline]]
name = "drain"
source = {{ type = "kafka", topics = "{topic}", "group.id" = "{topic}-g", "auto.offset.reset" = "earliest", "session.timeout.ms" = "6000", "heartbeat.interval.ms" = "500" }}
sink = {{ type = "file", file = "{}" }}
"value.converter" = "string"
"#,
            output.display()
        ),
    );
    let mut engine_process = start_engine(&config, &dir.path().join("state"), 1);
    let port = engine_process.1;
    engine_process.wait_while_running("the topic drained", Duration::from_secs(60), || {
        file_lines(&output).len() >= records
    });
    let task = [("pipeline", "drain"), ("task", "0")];
    // Caught up: each partition's high watermark is the consumer's position.
    let mut samples = Vec::new();
    engine_process.wait_while_running(
        "zero lag on both partitions",
        Duration::from_secs(15),
        || {
            samples = parsed_metrics(port);
            ["0", "1"].iter().all(|partition| {
                let mut labels = task.to_vec();
                labels.extend([("topic", topic.as_str()), ("partition", *partition)]);
                sample(&samples, "pipewright_consumer_lag_records", &labels)
                    .and_then(|v| v.as_f64())
                    == Some(0.0)
            })
        },
    );
    assert_eq!(
        number(&samples, "pipewright_records_polled_total", &task),
        records as f64
    );
    let status = run(
        Command::new(engine()).args(["status", "--url", &format!("127.0.0.1:{port}")]),
        None,
        PROCESS_TIMEOUT,
    );
    status.assert_success("engine status");
    let table = status.stdout_str();
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("drain"))
        .unwrap_or_else(|| panic!("a row for the pipeline: {table}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[7], "0", "the lag column sums the partitions: {table}");
}
