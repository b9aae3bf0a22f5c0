//! `engine status`: one table of every task of a worker — connector, task, worker, core, state, records/s in
//! and out, consumer lag, p99 end-to-end latency, last error — from its REST API (`/connectors?expand=status`
//! for states and errors, two `/metrics` scrapes a second apart for the rates). `--watch` redraws it each
//! second.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;

use super::prometheus_text::{self, Sample};
use super::rest_client::{RestAccess, RestClient, RestUrl};

/// Time between the two scrapes a rate is taken from, and between redraws with `--watch`.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
/// The longest last error shown; the REST API has the whole trace.
const ERROR_CHARS: usize = 60;

/// What `/metrics` tells of one task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskSample {
    pub records_in: f64,
    pub records_out: f64,
    /// Sum over its partitions; `None` for a task that reads no Kafka partitions.
    pub lag: Option<f64>,
    pub p99_seconds: Option<f64>,
    pub core: Option<u64>,
}

/// Tasks by connector and index.
pub type TaskSamples = BTreeMap<(String, u32), TaskSample>;

/// Picks each task's numbers out of a `/metrics` scrape.
pub fn task_samples(samples: &[Sample]) -> TaskSamples {
    let mut tasks = TaskSamples::new();
    for sample in samples {
        let (Some(pipeline), Some(task)) = (
            sample.label("pipeline"),
            sample.label("task").and_then(|t| t.parse::<u32>().ok()),
        ) else {
            continue;
        };
        let entry = tasks.entry((pipeline.to_owned(), task)).or_default();
        match sample.name.as_str() {
            "pipewright_records_polled_total" => entry.records_in = sample.value,
            "pipewright_records_written_total" => entry.records_out = sample.value,
            "pipewright_consumer_lag_records" => {
                *entry.lag.get_or_insert(0.0) += sample.value;
            }
            "pipewright_end_to_end_latency_summary_seconds"
                if sample.label("quantile") == Some("0.99") && !sample.value.is_nan() =>
            {
                entry.p99_seconds = Some(sample.value)
            }
            "pipewright_task_core" if sample.value >= 0.0 => entry.core = Some(sample.value as u64),
            _ => {}
        }
    }
    tasks
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusRow {
    pub connector: String,
    pub task: u32,
    pub worker: String,
    pub core: Option<u64>,
    pub state: String,
    pub in_per_second: Option<f64>,
    pub out_per_second: Option<f64>,
    pub lag: Option<f64>,
    pub p99_seconds: Option<f64>,
    pub last_error: String,
}

/// The table's rows: every task `statuses` (the answer to `/connectors?expand=status`) names, with rates from
/// `earlier` to `later`, `seconds` apart.
pub fn rows(
    statuses: &Value,
    earlier: &TaskSamples,
    later: &TaskSamples,
    seconds: f64,
) -> Vec<StatusRow> {
    let mut rows = Vec::new();
    let Some(connectors) = statuses.as_object() else {
        return rows;
    };
    for (connector, entry) in connectors {
        let tasks = entry["status"]["tasks"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for task in tasks {
            let Some(index) = task["id"].as_u64().and_then(|i| u32::try_from(i).ok()) else {
                continue;
            };
            let key = (connector.clone(), index);
            let now = later.get(&key);
            let before = earlier.get(&key);
            let rate = |get: fn(&TaskSample) -> f64| match (before, now) {
                (Some(before), Some(now)) if seconds > 0.0 => {
                    Some(((get(now) - get(before)) / seconds).max(0.0))
                }
                _ => None,
            };
            let trace = task["trace"].as_str().unwrap_or("");
            rows.push(StatusRow {
                connector: connector.clone(),
                task: index,
                worker: task["worker_id"].as_str().unwrap_or("-").to_owned(),
                core: now.and_then(|s| s.core),
                state: task["state"].as_str().unwrap_or("-").to_owned(),
                in_per_second: rate(|s| s.records_in),
                out_per_second: rate(|s| s.records_out),
                lag: now.and_then(|s| s.lag),
                p99_seconds: now.and_then(|s| s.p99_seconds),
                last_error: first_line(trace, ERROR_CHARS),
            });
        }
    }
    rows
}

fn first_line(text: &str, max_chars: usize) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() > max_chars {
        let cut: String = line.chars().take(max_chars - 1).collect();
        format!("{cut}…")
    } else {
        line.to_owned()
    }
}

const HEADERS: [&str; 10] = [
    "CONNECTOR",
    "TASK",
    "WORKER",
    "CORE",
    "STATE",
    "IN/S",
    "OUT/S",
    "LAG",
    "P99",
    "LAST ERROR",
];

/// The rows as a table with a header, columns aligned; `-` where a value is not known.
pub fn render_table(rows: &[StatusRow]) -> String {
    let dash = || "-".to_owned();
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
                r.connector.clone(),
                r.task.to_string(),
                r.worker.clone(),
                r.core.map_or_else(dash, |c| c.to_string()),
                r.state.clone(),
                r.in_per_second.map_or_else(dash, |v| format!("{v:.1}")),
                r.out_per_second.map_or_else(dash, |v| format!("{v:.1}")),
                r.lag.map_or_else(dash, |v| format!("{v:.0}")),
                r.p99_seconds.map_or_else(dash, latency),
                if r.last_error.is_empty() {
                    dash()
                } else {
                    r.last_error.clone()
                },
            ]
        })
        .collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ");
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&HEADERS.map(str::to_owned));
    for row in &cells {
        line(row);
    }
    if rows.is_empty() {
        out.push_str("(no connectors)\n");
    }
    out
}

/// Seconds as µs, ms or s, three significant digits or so.
fn latency(seconds: f64) -> String {
    if seconds < 1e-3 {
        format!("{:.0}µs", seconds * 1e6)
    } else if seconds < 1.0 {
        format!("{:.1}ms", seconds * 1e3)
    } else {
        format!("{seconds:.2}s")
    }
}

async fn scrape(client: &RestClient) -> anyhow::Result<(TaskSamples, Instant)> {
    let text = client.get("/metrics").await?;
    let at = Instant::now();
    let samples = prometheus_text::parse(&text)?;
    Ok((task_samples(&samples), at))
}

/// The REST URL of the worker `config` describes (its first listener, `listeners` / `rest.port`), else the
/// default listener. A listener bound to every interface is reached on loopback.
pub fn default_url(config: Option<&std::path::Path>) -> anyhow::Result<String> {
    let listener = match config {
        None => None,
        Some(path) => {
            let loaded = if path.extension().is_some_and(|e| e == "properties") {
                crate::config::load_standalone(path, &[])
            } else {
                crate::config::load(path)
            };
            loaded
                .map_err(|errors| anyhow::anyhow!("{errors}"))?
                .worker
                .rest
                .listeners
                .into_iter()
                .next()
        }
    };
    Ok(match listener {
        None => format!("http://{}", super::run::DEFAULT_REST_LISTENER),
        Some(mut listener) => {
            if matches!(listener.host.as_str(), "0.0.0.0" | "::") {
                listener.host = "127.0.0.1".into();
            }
            format!("{}://{}", listener.scheme_name(), listener.address())
        }
    })
}

/// Prints the table once (after two scrapes a second apart), or with `watch` redraws it in place each second
/// until interrupted.
pub fn run(url: &str, watch: bool, access: &RestAccess) -> anyhow::Result<()> {
    let client = RestClient::new(RestUrl::parse(url)?, access)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let (mut earlier, mut earlier_at) = scrape(&client).await?;
        let mut stdout = std::io::stdout();
        loop {
            tokio::time::sleep(SAMPLE_INTERVAL).await;
            let statuses: Value =
                serde_json::from_str(&client.get("/connectors?expand=status").await?)
                    .context("/connectors?expand=status: not JSON")?;
            let (later, later_at) = scrape(&client).await?;
            let seconds = later_at.duration_since(earlier_at).as_secs_f64();
            let table = render_table(&rows(&statuses, &earlier, &later, seconds));
            if !watch {
                stdout.write_all(table.as_bytes())?;
                return Ok(());
            }
            // Cursor home, each line cleared to its end, then everything below: the table is redrawn in place.
            let mut frame = String::from("\x1b[H");
            for line in table.lines() {
                let _ = writeln!(frame, "{line}\x1b[K");
            }
            frame.push_str("\x1b[J");
            stdout.write_all(frame.as_bytes())?;
            stdout.flush()?;
            (earlier, earlier_at) = (later, later_at);
        }
    })
}

#[cfg(test)]
mod tests;
