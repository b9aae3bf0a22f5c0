//! The REST API, Kafka Connect compatible where it overlaps: `GET /`, `GET /connectors`,
//! `GET /connectors/{name}`, `GET /connectors/{name}/status` (each pipeline is a connector; its tasks' states
//! and last errors as Kafka Connect reports them), and `GET /metrics` (Prometheus text).
//!
//! Runs on the control side (its own thread), never on a core: it reads a status table the control thread
//! updates from task reports.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One task's state as the REST API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStatus {
    /// `RUNNING`, `FAILED`, `UNASSIGNED` (finished or stopped), as Kafka Connect names them.
    pub state: &'static str,
    pub worker_id: String,
    /// The last error, for a failed task.
    pub trace: Option<String>,
}

/// One pipeline ("connector") and its tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineStatus {
    pub kind: &'static str,
    pub config: BTreeMap<String, String>,
    pub tasks: BTreeMap<u32, TaskStatus>,
}

/// The table the control thread keeps current and the REST thread reads.
pub type StatusTable = Arc<Mutex<BTreeMap<String, PipelineStatus>>>;

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The body and status code for `GET path`.
pub fn respond(table: &BTreeMap<String, PipelineStatus>, path: &str) -> (u16, String) {
    let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let not_found = |what: &str| {
        (
            404,
            format!("{{\"error_code\":404,\"message\":{}}}", json_string(what)),
        )
    };
    match segments.as_slice() {
        [] => (
            200,
            format!(
                "{{\"version\":{},\"commit\":\"\",\"kafka_cluster_id\":null}}",
                json_string(env!("CARGO_PKG_VERSION"))
            ),
        ),
        ["connectors"] => {
            let names: Vec<String> = table.keys().map(|n| json_string(n)).collect();
            (200, format!("[{}]", names.join(",")))
        }
        ["connectors", name] => match table.get(*name) {
            None => not_found(&format!("Connector {name} not found")),
            Some(p) => {
                let config: Vec<String> = p
                    .config
                    .iter()
                    .map(|(k, v)| format!("{}:{}", json_string(k), json_string(v)))
                    .collect();
                let tasks: Vec<String> = p
                    .tasks
                    .keys()
                    .map(|id| format!("{{\"connector\":{},\"task\":{id}}}", json_string(name)))
                    .collect();
                (
                    200,
                    format!(
                        "{{\"name\":{},\"config\":{{{}}},\"tasks\":[{}],\"type\":{}}}",
                        json_string(name),
                        config.join(","),
                        tasks.join(","),
                        json_string(p.kind)
                    ),
                )
            }
        },
        ["connectors", name, "status"] => match table.get(*name) {
            None => not_found(&format!("No status found for connector {name}")),
            Some(p) => {
                let worker = p
                    .tasks
                    .values()
                    .next()
                    .map(|t| t.worker_id.clone())
                    .unwrap_or_default();
                let connector_state =
                    if p.tasks.values().all(|t| t.state == "FAILED") && !p.tasks.is_empty() {
                        "FAILED"
                    } else if p.tasks.values().any(|t| t.state == "RUNNING") {
                        "RUNNING"
                    } else {
                        "UNASSIGNED"
                    };
                let tasks: Vec<String> = p
                    .tasks
                    .iter()
                    .map(|(id, t)| {
                        let trace = t
                            .trace
                            .as_deref()
                            .map(|e| format!(",\"trace\":{}", json_string(e)))
                            .unwrap_or_default();
                        format!(
                            "{{\"id\":{id},\"state\":{},\"worker_id\":{}{trace}}}",
                            json_string(t.state),
                            json_string(&t.worker_id)
                        )
                    })
                    .collect();
                (
                    200,
                    format!(
                        "{{\"name\":{},\"connector\":{{\"state\":{},\"worker_id\":{}}},\"tasks\":[{}],\"type\":{}}}",
                        json_string(name),
                        json_string(connector_state),
                        json_string(&worker),
                        tasks.join(","),
                        json_string(p.kind)
                    ),
                )
            }
        },
        _ => not_found(&format!("no such resource: {path}")),
    }
}

/// Renders `/metrics` on demand.
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

fn handle(
    mut stream: TcpStream,
    table: &StatusTable,
    metrics: &MetricsRenderer,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    // Bound what one request line may take: the API is for operators, not a data path.
    reader.by_ref().take(8192).read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        let n = reader.by_ref().take(8192).read_line(&mut header)?;
        if n == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("/");
    let metrics_path = path.split('?').next() == Some("/metrics");
    let (status, body) = if method == "GET" && metrics_path {
        (200, metrics())
    } else if method == "GET" {
        let table = table
            .lock()
            .map_err(|_| std::io::Error::other("status table poisoned"))?;
        respond(&table, path)
    } else {
        (
            405,
            "{\"error_code\":405,\"message\":\"only GET is supported\"}".to_owned(),
        )
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        if metrics_path { "text/plain; version=0.0.4" } else { "application/json" },
        body.len()
    )?;
    stream.flush()
}

/// Serves the REST API on `listener` on a thread of its own until the process exits.
pub fn serve(
    listener: TcpListener,
    table: StatusTable,
    metrics: MetricsRenderer,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("rest".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(e) = handle(stream, &table, &metrics) {
                    tracing::debug!(error = %e, "REST request failed");
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> BTreeMap<String, PipelineStatus> {
        let mut tasks = BTreeMap::new();
        tasks.insert(
            0,
            TaskStatus {
                state: "RUNNING",
                worker_id: "host:8083".into(),
                trace: None,
            },
        );
        tasks.insert(
            1,
            TaskStatus {
                state: "FAILED",
                worker_id: "host:8083".into(),
                trace: Some("boom \"x\"".into()),
            },
        );
        let mut t = BTreeMap::new();
        t.insert(
            "orders".to_owned(),
            PipelineStatus {
                kind: "source",
                config: BTreeMap::new(),
                tasks,
            },
        );
        t
    }

    #[test]
    fn status_reports_each_task_with_its_last_error() {
        let (code, body) = respond(&table(), "/connectors/orders/status");
        assert_eq!(code, 200);
        assert_eq!(
            body,
            r#"{"name":"orders","connector":{"state":"RUNNING","worker_id":"host:8083"},"tasks":[{"id":0,"state":"RUNNING","worker_id":"host:8083"},{"id":1,"state":"FAILED","worker_id":"host:8083","trace":"boom \"x\""}],"type":"source"}"#
        );
    }

    #[test]
    fn unknown_connector_is_a_404_like_kafka_connect() {
        let (code, body) = respond(&table(), "/connectors/nope/status");
        assert_eq!(code, 404);
        assert!(body.contains("No status found for connector nope"));
        assert_eq!(respond(&table(), "/connectors").1, r#"["orders"]"#);
    }
}
