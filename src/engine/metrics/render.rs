//! `/metrics` in the Prometheus text exposition format (version 0.0.4): every family with its `# HELP` and
//! `# TYPE`, names ending in their unit (`_total`, `_seconds`, `_bytes`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::histogram::{Distribution, QUANTILES};
use super::{CoreMetrics, Stage, TaskDistributions, TaskMetrics, TaskMetricsRow};

/// Upper bounds of the latency histograms' buckets, in microseconds (100 µs to 60 s).
const LATENCY_BUCKETS_US: [u64; 18] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];
/// Upper bounds of the batch size histogram's buckets, in records.
const BATCH_BUCKETS: [u64; 13] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000,
];

/// What the process itself measures at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessSample {
    pub resident_memory_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub now_unix_ms: i64,
}

impl ProcessSample {
    pub fn now() -> Self {
        Self {
            resident_memory_bytes: super::process::resident_memory_bytes(),
            open_fds: super::process::open_fds(),
            now_unix_ms: super::recorder::unix_now_ms(),
        }
    }
}

/// Renders every task's, every core's and the process's metrics, measured now.
pub fn render(tasks: &[TaskMetricsRow], cores: &[Arc<CoreMetrics>]) -> String {
    render_at(tasks, cores, ProcessSample::now())
}

/// A counter's Prometheus name, help text, and where it lives in [`TaskMetrics`].
type CounterDef = (&'static str, &'static str, fn(&TaskMetrics) -> &AtomicU64);

const TASK_COUNTERS: [CounterDef; 9] = [
    (
        "pipewright_records_polled_total",
        "Records a source handed out",
        |m| &m.records_polled,
    ),
    (
        "pipewright_records_written_total",
        "Records handed to the sink",
        |m| &m.records_written,
    ),
    (
        "pipewright_bytes_polled_total",
        "Key and value bytes of the records a source handed out (raw data only)",
        |m| &m.bytes_polled,
    ),
    (
        "pipewright_bytes_written_total",
        "Key and value bytes of the records handed to the sink (raw data only)",
        |m| &m.bytes_written,
    ),
    (
        "pipewright_records_filtered_total",
        "Records a transform or predicate dropped",
        |m| &m.records_filtered,
    ),
    (
        "pipewright_records_failed_total",
        "Records that failed a transform (skipped or dead-lettered)",
        |m| &m.records_failed,
    ),
    (
        "pipewright_records_dead_lettered_total",
        "Records sent to the dead-letter topic",
        |m| &m.records_dead_lettered,
    ),
    (
        "pipewright_commits_total",
        "Sink flushes followed by a position commit",
        |m| &m.commits,
    ),
    (
        "pipewright_task_failures_total",
        "Times a task failed and was retried (restarted after a backoff)",
        |m| &m.task_failures,
    ),
];

/// [`render`] with what the process measured given (tests).
pub fn render_at(
    tasks: &[TaskMetricsRow],
    cores: &[Arc<CoreMetrics>],
    process: ProcessSample,
) -> String {
    let mut out = String::new();
    let labels: Vec<String> = tasks
        .iter()
        .map(|(pipeline, task, _)| format!("pipeline=\"{}\",task=\"{task}\"", escape(pipeline)))
        .collect();
    for (name, help, get) in TASK_COUNTERS {
        family(&mut out, name, help, "counter");
        for ((_, _, metrics), labels) in tasks.iter().zip(&labels) {
            let value = get(metrics).load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }

    family(
        &mut out,
        "pipewright_task_core",
        "The core (pinned thread) the task runs on",
        "gauge",
    );
    for ((_, _, metrics), labels) in tasks.iter().zip(&labels) {
        if let Some(core) = metrics.core() {
            let _ = writeln!(out, "pipewright_task_core{{{labels}}} {core}");
        }
    }
    render_last_record(&mut out, tasks, &labels, process.now_unix_ms);

    let distributions: Vec<TaskDistributions> =
        tasks.iter().map(|(_, _, m)| m.distributions()).collect();
    family(
        &mut out,
        "pipewright_consumer_lag_records",
        "Records between the consumer's position and the partition's high watermark",
        "gauge",
    );
    for (d, labels) in distributions.iter().zip(&labels) {
        for lag in &d.lag {
            let _ = writeln!(
                out,
                "pipewright_consumer_lag_records{{{labels},topic=\"{}\",partition=\"{}\"}} {}",
                escape(&lag.topic),
                lag.partition,
                lag.records
            );
        }
    }

    let end_to_end: Vec<(String, &Distribution)> = distributions
        .iter()
        .zip(&labels)
        .map(|(d, labels)| (labels.clone(), &d.end_to_end_us))
        .collect();
    let stages: Vec<(String, &Distribution)> = distributions
        .iter()
        .zip(&labels)
        .flat_map(|(d, labels)| {
            Stage::ALL
                .iter()
                .map(move |s| (format!("{labels},stage=\"{}\"", s.name()), d.stage(*s)))
        })
        .collect();
    let batches: Vec<(String, &Distribution)> = distributions
        .iter()
        .zip(&labels)
        .map(|(d, labels)| (labels.clone(), &d.batch_records))
        .collect();
    summary_seconds(
        &mut out,
        "pipewright_end_to_end_latency_summary_seconds",
        "Record timestamp (or poll time) to sink acknowledgement, quantiles since the task's config was set",
        &end_to_end,
    );
    histogram(
        &mut out,
        "pipewright_end_to_end_latency_seconds",
        "Record timestamp (or poll time) to sink acknowledgement",
        &end_to_end,
        &LATENCY_BUCKETS_US,
        1e6,
    );
    summary_seconds(
        &mut out,
        "pipewright_stage_latency_summary_seconds",
        "Time of one batch in a stage of the task loop (poll, transform, put, commit), quantiles",
        &stages,
    );
    histogram(
        &mut out,
        "pipewright_stage_latency_seconds",
        "Time of one batch in a stage of the task loop (poll, transform, put, commit)",
        &stages,
        &LATENCY_BUCKETS_US,
        1e6,
    );
    histogram(
        &mut out,
        "pipewright_batch_records",
        "Records per batch a source handed out",
        &batches,
        &BATCH_BUCKETS,
        1.0,
    );

    render_cores(&mut out, cores);
    if let Some(bytes) = process.resident_memory_bytes {
        family(
            &mut out,
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            "gauge",
        );
        let _ = writeln!(out, "process_resident_memory_bytes {bytes}");
    }
    if let Some(fds) = process.open_fds {
        family(
            &mut out,
            "process_open_fds",
            "Number of open file descriptors",
            "gauge",
        );
        let _ = writeln!(out, "process_open_fds {fds}");
    }
    out
}

fn render_last_record(out: &mut String, tasks: &[TaskMetricsRow], labels: &[String], now_ms: i64) {
    let last: Vec<(&String, u64)> = tasks
        .iter()
        .zip(labels)
        .filter_map(|((_, _, m), labels)| {
            let ms = m.last_record_unix_ms.load(Ordering::Relaxed);
            (ms > 0).then_some((labels, ms))
        })
        .collect();
    family(
        out,
        "pipewright_last_record_timestamp_seconds",
        "Unix time of the last batch of records the source handed out",
        "gauge",
    );
    for (labels, ms) in &last {
        let _ = writeln!(
            out,
            "pipewright_last_record_timestamp_seconds{{{labels}}} {}",
            *ms as f64 / 1e3
        );
    }
    family(
        out,
        "pipewright_last_record_age_seconds",
        "Time since the last batch of records the source handed out",
        "gauge",
    );
    for (labels, ms) in &last {
        let age_ms = now_ms.saturating_sub(*ms as i64).max(0);
        let _ = writeln!(
            out,
            "pipewright_last_record_age_seconds{{{labels}}} {}",
            age_ms as f64 / 1e3
        );
    }
}

fn render_cores(out: &mut String, cores: &[Arc<CoreMetrics>]) {
    family(
        out,
        "pipewright_core_busy_ratio",
        "Share of the last second the core's thread spent working rather than waiting",
        "gauge",
    );
    for (core, m) in cores.iter().enumerate() {
        let _ = writeln!(
            out,
            "pipewright_core_busy_ratio{{core=\"{core}\"}} {}",
            m.busy_ratio()
        );
    }
    family(
        out,
        "pipewright_core_busy_seconds_total",
        "Time the core's thread spent working rather than waiting",
        "counter",
    );
    for (core, m) in cores.iter().enumerate() {
        let ns = m.busy_ns.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "pipewright_core_busy_seconds_total{{core=\"{core}\"}} {}",
            ns as f64 / 1e9
        );
    }
    family(
        out,
        "pipewright_core_tasks",
        "Tasks running on the core",
        "gauge",
    );
    for (core, m) in cores.iter().enumerate() {
        let tasks = m.tasks.load(Ordering::Relaxed);
        let _ = writeln!(out, "pipewright_core_tasks{{core=\"{core}\"}} {tasks}");
    }
}

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A summary of microsecond distributions, in seconds; quantiles of an empty one are NaN (as Prometheus's own
/// clients show them).
fn summary_seconds(out: &mut String, name: &str, help: &str, rows: &[(String, &Distribution)]) {
    family(out, name, help, "summary");
    for (labels, d) in rows {
        for quantile in QUANTILES {
            let value = if d.is_empty() {
                "NaN".to_owned()
            } else {
                (d.value_at_quantile(quantile) as f64 / 1e6).to_string()
            };
            let _ = writeln!(out, "{name}{{{labels},quantile=\"{quantile}\"}} {value}");
        }
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", d.sum() as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", d.count());
    }
}

/// A Prometheus histogram; `bounds` and the distribution's values are in units of 1/`per_unit`.
fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    rows: &[(String, &Distribution)],
    bounds: &[u64],
    per_unit: f64,
) {
    family(out, name, help, "histogram");
    for (labels, d) in rows {
        for (bound, count) in bounds.iter().zip(d.cumulative_counts(bounds)) {
            let le = *bound as f64 / per_unit;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", d.count());
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", d.sum() as f64 / per_unit);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", d.count());
    }
}

/// A label value as the text format wants it: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests;
