use std::time::{Duration, Instant};

use super::*;
use crate::engine::metrics::recorder::TaskRecorder;
use crate::engine::metrics::PartitionLag;

/// The value of the one line of `text` that starts with `series` (name and labels) followed by a space.
fn value(text: &str, series: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .collect();
    assert_eq!(lines.len(), 1, "one line for {series} in:\n{text}");
    lines[0].to_owned()
}

fn sample() -> ProcessSample {
    ProcessSample {
        resident_memory_bytes: Some(4096),
        open_fds: Some(12),
        now_unix_ms: 10_000,
    }
}

#[test]
fn counters_render_in_prometheus_text_format() {
    let metrics = Arc::new(TaskMetrics::default());
    TaskMetrics::add(&metrics.records_polled, 5);
    TaskMetrics::add(&metrics.bytes_written, 70);
    let table = vec![("orders".to_owned(), 1, metrics)];
    let text = render_at(&table, &[], sample());
    assert!(text.contains("# TYPE pipewright_records_polled_total counter"));
    assert_eq!(
        value(
            &text,
            r#"pipewright_records_polled_total{pipeline="orders",task="1"}"#
        ),
        "5"
    );
    assert_eq!(
        value(
            &text,
            r#"pipewright_bytes_written_total{pipeline="orders",task="1"}"#
        ),
        "70"
    );
    assert_eq!(value(&text, "process_resident_memory_bytes"), "4096");
    assert_eq!(value(&text, "process_open_fds"), "12");
}

#[test]
fn label_values_are_escaped() {
    let table = vec![("a\"b\\c\nd".to_owned(), 0, Arc::new(TaskMetrics::default()))];
    let text = render_at(&table, &[], sample());
    assert!(
        text.contains(r#"pipewright_commits_total{pipeline="a\"b\\c\nd",task="0"} 0"#),
        "{text}"
    );
}

#[test]
fn latencies_render_as_ordered_quantiles_and_cumulative_buckets() {
    let metrics = Arc::new(TaskMetrics::default());
    let mut recorder = TaskRecorder::new();
    // 1000 records acknowledged 1..=1000 ms after their timestamps.
    for i in 1..=1000 {
        recorder.handed_to_sink(5_000 - i);
    }
    recorder.acknowledged(5_000);
    recorder.stage(Stage::Poll, Duration::from_micros(300));
    recorder.batch(1000);
    recorder.publish(&metrics, None, Instant::now());
    let table = vec![("p".to_owned(), 0, metrics)];
    let text = render_at(&table, &[], sample());

    let labels = r#"pipeline="p",task="0""#;
    let quantile = |q: &str| -> f64 {
        value(
            &text,
            &format!("pipewright_end_to_end_latency_summary_seconds{{{labels},quantile=\"{q}\"}}"),
        )
        .parse()
        .unwrap()
    };
    let quantiles: Vec<f64> = ["0.5", "0.9", "0.99", "0.999", "0.9999"]
        .iter()
        .map(|q| quantile(q))
        .collect();
    assert!(quantiles.windows(2).all(|w| w[0] <= w[1]), "{quantiles:?}");
    assert!((quantiles[0] - 0.5).abs() <= 0.0005, "p50 {}", quantiles[0]);
    assert!((quantiles[2] - 0.99).abs() <= 0.001, "p99 {}", quantiles[2]);
    assert_eq!(
        value(
            &text,
            &format!("pipewright_end_to_end_latency_summary_seconds_count{{{labels}}}")
        ),
        "1000"
    );
    // 100 values at most 100 ms, all 1000 at most 1 s.
    assert_eq!(
        value(
            &text,
            &format!("pipewright_end_to_end_latency_seconds_bucket{{{labels},le=\"0.1\"}}")
        ),
        "100"
    );
    assert_eq!(
        value(
            &text,
            &format!("pipewright_end_to_end_latency_seconds_bucket{{{labels},le=\"1\"}}")
        ),
        "1000"
    );
    assert_eq!(
        value(
            &text,
            &format!("pipewright_end_to_end_latency_seconds_bucket{{{labels},le=\"+Inf\"}}")
        ),
        "1000"
    );
    let sum: f64 = value(
        &text,
        &format!("pipewright_end_to_end_latency_seconds_sum{{{labels}}}"),
    )
    .parse()
    .unwrap();
    assert!((sum - 500.5).abs() < 1e-6, "sum {sum}");
    assert_eq!(
        value(
            &text,
            &format!("pipewright_stage_latency_summary_seconds{{{labels},stage=\"poll\",quantile=\"0.5\"}}")
        ),
        "0.0003"
    );
    // A stage with nothing recorded has NaN quantiles and zero counts.
    assert_eq!(
        value(
            &text,
            &format!("pipewright_stage_latency_summary_seconds{{{labels},stage=\"put\",quantile=\"0.99\"}}")
        ),
        "NaN"
    );
    assert_eq!(
        value(
            &text,
            &format!("pipewright_batch_records_bucket{{{labels},le=\"500\"}}")
        ),
        "0"
    );
    assert_eq!(
        value(
            &text,
            &format!("pipewright_batch_records_bucket{{{labels},le=\"1000\"}}")
        ),
        "1"
    );
}

#[test]
fn lag_age_core_and_cores_render() {
    let metrics = Arc::new(TaskMetrics::default());
    metrics.set_core(1);
    metrics.last_record_unix_ms.store(7_500, Ordering::Relaxed);
    let mut recorder = TaskRecorder::new();
    let lag = vec![PartitionLag {
        topic: "in".into(),
        partition: 2,
        records: 42,
    }];
    recorder.publish(&metrics, Some(lag), Instant::now());
    let core = Arc::new(CoreMetrics::default());
    core.tasks.store(3, Ordering::Relaxed);
    core.busy_ratio_millionths.store(250_000, Ordering::Relaxed);
    core.busy_ns.store(1_500_000_000, Ordering::Relaxed);
    let table = vec![("p".to_owned(), 0, metrics)];
    let text = render_at(&table, &[Arc::new(CoreMetrics::default()), core], sample());
    let labels = r#"pipeline="p",task="0""#;
    assert_eq!(
        value(
            &text,
            &format!("pipewright_consumer_lag_records{{{labels},topic=\"in\",partition=\"2\"}}")
        ),
        "42"
    );
    assert_eq!(
        value(&text, &format!("pipewright_task_core{{{labels}}}")),
        "1"
    );
    assert_eq!(
        value(
            &text,
            &format!("pipewright_last_record_age_seconds{{{labels}}}")
        ),
        "2.5"
    );
    assert_eq!(
        value(
            &text,
            &format!("pipewright_last_record_timestamp_seconds{{{labels}}}")
        ),
        "7.5"
    );
    assert_eq!(value(&text, r#"pipewright_core_tasks{core="1"}"#), "3");
    assert_eq!(
        value(&text, r#"pipewright_core_busy_ratio{core="1"}"#),
        "0.25"
    );
    assert_eq!(
        value(&text, r#"pipewright_core_busy_seconds_total{core="1"}"#),
        "1.5"
    );
    assert_eq!(value(&text, r#"pipewright_core_tasks{core="0"}"#), "0");
}
