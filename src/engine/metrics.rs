//! Per-task counters for `/metrics` (Prometheus text format). Each counter is written by its task's core only
//! (relaxed atomics, no lock on the hot path) and read by the REST thread.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One task's counters.
#[derive(Debug, Default)]
pub struct TaskMetrics {
    pub records_polled: AtomicU64,
    pub records_written: AtomicU64,
    pub records_filtered: AtomicU64,
    pub records_failed: AtomicU64,
    pub commits: AtomicU64,
    pub task_failures: AtomicU64,
}

impl TaskMetrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A counter's Prometheus name, help text, and where it lives in [`TaskMetrics`].
type CounterDef = (&'static str, &'static str, fn(&TaskMetrics) -> &AtomicU64);

/// One task's counters, labelled by its connector (pipeline) and task index.
pub type TaskMetricsRow = (String, u32, Arc<TaskMetrics>);

/// Renders every task's counters in the Prometheus text exposition format.
pub fn render(table: &[TaskMetricsRow]) -> String {
    let mut out = String::new();
    let counters: [CounterDef; 6] = [
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
            "pipewright_commits_total",
            "Sink flushes followed by a position commit",
            |m| &m.commits,
        ),
        (
            "pipewright_task_failures_total",
            "Times a task failed and was restarted",
            |m| &m.task_failures,
        ),
    ];
    for (name, help, get) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (pipeline, task, metrics) in table.iter() {
            let value = get(metrics).load(Ordering::Relaxed);
            let pipeline = pipeline.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(
                out,
                "{name}{{pipeline=\"{pipeline}\",task=\"{task}\"}} {value}"
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_in_prometheus_text_format() {
        let metrics = Arc::new(TaskMetrics::default());
        TaskMetrics::add(&metrics.records_polled, 5);
        let table = vec![("orders".to_owned(), 1, metrics)];
        let text = render(&table);
        assert!(text.contains("# TYPE pipewright_records_polled_total counter"));
        assert!(
            text.contains("pipewright_records_polled_total{pipeline=\"orders\",task=\"1\"} 5"),
            "{text}"
        );
    }
}
