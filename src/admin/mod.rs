//! The REST API, Kafka Connect compatible where it overlaps: `GET /`, `GET /connectors`,
//! `GET /connectors/{name}`, `GET /connectors/{name}/status` (each pipeline is a connector; its tasks' states
//! and last errors as Kafka Connect reports them), and `GET /metrics` (Prometheus text).
//!
//! Runs on the control side (its own thread), never on a core, and talks to the worker only: each request
//! asks the worker for its connectors' statuses or metrics through a [`WorkerHandle`].

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::worker::status::ConnectorStatus;
use crate::worker::WorkerHandle;

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
pub fn respond(table: &BTreeMap<String, ConnectorStatus>, path: &str) -> (u16, String) {
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
                let connector_state = p.state();
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

/// The most bytes of a request line and headers the server reads: the API is for operators and their tools, not
/// a data path, and no endpoint takes a body.
pub const MAX_REQUEST_HEAD_BYTES: usize = 32 * 1024;

/// How long a client has to send its whole request, and the server to send the answer. The server has one thread:
/// a per-read timeout alone would let a client sending a byte every few seconds hold it for hours.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// What the server takes from a request: its method and target. Headers are read past and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The request target as sent (`/connectors/orders/status?expand=info`); `/` when the line has none.
    pub path: String,
}

/// Reads a request line and its headers, up to the blank line that ends them, never more than
/// [`MAX_REQUEST_HEAD_BYTES`] of `reader`.
///
/// Fails on a request line that is not UTF-8, and on a head that does not end within the bound. A head cut short
/// by the end of the stream is taken as it is, as the server always did.
pub fn read_request_head(reader: impl BufRead) -> io::Result<RequestHead> {
    let mut head = reader.take(MAX_REQUEST_HEAD_BYTES as u64);
    let mut request_line = String::new();
    head.read_line(&mut request_line)?;
    let mut header = Vec::new();
    loop {
        header.clear();
        let n = head.read_until(b'\n', &mut header)?;
        if header == b"\r\n" || header == b"\n" {
            break;
        }
        if n == 0 {
            if head.limit() == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("request line and headers exceed {MAX_REQUEST_HEAD_BYTES} bytes"),
                ));
            }
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    Ok(RequestHead {
        method: parts.next().unwrap_or("").to_owned(),
        path: parts.next().unwrap_or("/").to_owned(),
    })
}

/// A connection's reads, all before one deadline.
struct ReadsBefore {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for ReadsBefore {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request did not arrive in time",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

fn handle(mut stream: TcpStream, worker: &WorkerHandle, deadline: Duration) -> io::Result<()> {
    stream.set_write_timeout(Some(deadline))?;
    let head = read_request_head(BufReader::new(ReadsBefore {
        stream: stream.try_clone()?,
        deadline: Instant::now() + deadline,
    }))?;
    let path = head.path.as_str();
    let metrics_path = path.split('?').next() == Some("/metrics");
    let gone = |e: crate::worker::handle::WorkerGone| io::Error::other(e.to_string());
    let (status, body) = if head.method == "GET" && metrics_path {
        (
            200,
            worker.blocking_call(|w| w.metrics_text()).map_err(gone)?,
        )
    } else if head.method == "GET" {
        let table = worker.blocking_call(|w| w.statuses()).map_err(gone)?;
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
pub fn serve(listener: TcpListener, worker: WorkerHandle) -> io::Result<()> {
    std::thread::Builder::new()
        .name("rest".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(e) = handle(stream, &worker, REQUEST_DEADLINE) {
                    tracing::debug!(error = %e, "REST request failed");
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::worker::status::{TargetState, TaskStatus};

    fn table() -> BTreeMap<String, ConnectorStatus> {
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
            ConnectorStatus {
                kind: "source",
                config: BTreeMap::new(),
                target: TargetState::Running,
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
    fn a_request_head_gives_its_method_and_target_whatever_its_headers() {
        let mut request: &[u8] =
            b"GET /connectors/orders/status?x=1 HTTP/1.1\r\nHost: a\r\nX-Bytes: \xff\xfe\r\n\r\nbody";
        let head = read_request_head(&mut request).unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.path, "/connectors/orders/status?x=1");
        assert_eq!(request, b"body", "the head ends at the blank line");
        let head = read_request_head(&b"DELETE"[..]).unwrap();
        assert_eq!((head.method.as_str(), head.path.as_str()), ("DELETE", "/"));
        assert!(read_request_head(&b"GET /\xff HTTP/1.1\r\n\r\n"[..]).is_err());
    }

    #[test]
    fn endless_headers_are_read_no_further_than_the_bound() {
        let mut request = b"GET / HTTP/1.1\r\n".to_vec();
        while request.len() < 4 * MAX_REQUEST_HEAD_BYTES {
            request.extend_from_slice(b"X-Padding: 0123456789\r\n");
        }
        let mut rest = &request[..];
        let error = read_request_head(&mut rest).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(request.len() - rest.len(), MAX_REQUEST_HEAD_BYTES);
        // One line as long as the bound, with no end.
        let line = vec![b'a'; 2 * MAX_REQUEST_HEAD_BYTES];
        assert!(read_request_head(&line[..]).is_err());
    }

    #[test]
    fn a_client_trickling_headers_is_cut_off_at_the_deadline() {
        // Each header arrives well within any per-read timeout; only a deadline for the whole request ends it.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut stream = TcpStream::connect(address).unwrap();
            let _ = stream.write_all(b"GET / HTTP/1.1\r\n");
            for _ in 0..1_000 {
                if stream.write_all(b"X-Slow: 1\r\n").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let (stream, _) = listener.accept().unwrap();
        // No worker answers: the request must be refused before anything would ask one.
        let (worker, _calls) = WorkerHandle::channel();
        let result = handle(stream, &worker, Duration::from_millis(200));
        let error = result.expect_err("a request still arriving at the deadline is refused");
        assert!(
            matches!(
                error.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            "{error}"
        );
        client.join().unwrap();
    }

    #[test]
    fn unknown_connector_is_a_404_like_kafka_connect() {
        let (code, body) = respond(&table(), "/connectors/nope/status");
        assert_eq!(code, 404);
        assert!(body.contains("No status found for connector nope"));
        assert_eq!(respond(&table(), "/connectors").1, r#"["orders"]"#);
    }
}
