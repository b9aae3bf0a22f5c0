//! The HTTP sink against a small scripted HTTP server on a local port.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::connect::config_def::ParsedConfig;
use crate::connect::connector::{Converters, SinkTask, TaskId};
use crate::connect::converters::{Converter, JsonConverter, StringConverter};
use crate::connect::data::Value;
use crate::connect::record::{ConnectRecord, Data};

const TASK: TaskId = TaskId { index: 0, count: 1 };

/// One request the server received.
#[derive(Debug, Clone)]
struct Received {
    head: String,
    body: String,
}

/// Answers each request with the next scripted (status, body), then 200 once the script is used up.
struct TestServer {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl TestServer {
    async fn start(script: &[(u16, &str)]) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, script)
    }

    fn serve(listener: TcpListener, script: &[(u16, &str)]) -> TestServer {
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let mut script: std::collections::VecDeque<(u16, String)> =
            script.iter().map(|(s, b)| (*s, b.to_string())).collect();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break (String::new(), String::new());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + length {
                        let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]);
                        break (head, body.to_string());
                    }
                };
                log.lock().unwrap().push(Received { head, body });
                let (status, body) = script.pop_front().unwrap_or((200, String::new()));
                let response = format!(
                    "HTTP/1.1 {status} Scripted\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        TestServer { addr, received }
    }

    fn url(&self) -> String {
        format!("http://{}/ingest", self.addr)
    }

    fn bodies(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.body.clone())
            .collect()
    }

    fn heads(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.head.clone())
            .collect()
    }
}

fn config(pairs: &[(&str, &str)]) -> ParsedConfig {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    CONFIG.parse(&map, &[]).expect("valid keys")
}

fn json_converters() -> Converters {
    Converters::new(
        Converter::Json(JsonConverter::schemaless()),
        Converter::Json(JsonConverter::schemaless()),
    )
}

fn raw(value: &'static str) -> ConnectRecord {
    ConnectRecord::raw("t", None, Some(Bytes::from_static(value.as_bytes())))
}

async fn sink(url: &str, extra: &[(&str, &str)]) -> HttpSink {
    let mut pairs = vec![("url", url), ("retry.backoff.ms", "1")];
    pairs.extend_from_slice(extra);
    let config = HttpSinkConfig::new(&config(&pairs)).expect("valid config");
    HttpSink::open(&config, TASK).await.unwrap()
}

#[tokio::test]
async fn records_go_out_in_json_array_batches_of_at_most_batch_max_records() {
    let server = TestServer::start(&[]).await;
    let mut sink = sink(
        &server.url(),
        &[
            ("batch.max.records", "2"),
            ("headers", "Authorization: Bearer abc, X-Source:pipewright"),
        ],
    )
    .await;
    let mut converters = json_converters();
    let mut records = vec![
        raw(r#"{"a":1}"#),
        ConnectRecord::new(
            "t",
            Data::Raw(None),
            Data::new(None, Value::String("converted".into())),
        ),
        ConnectRecord::raw("t", None, None),
        ConnectRecord::new(
            "t",
            Data::Raw(None),
            Data::new(None, Value::String("not json".into())),
        ),
        raw("[1,2]"),
    ];
    sink.put(&mut records, &mut converters).await.unwrap();
    assert!(records.is_empty());
    // Two full batches were sent by put; the fifth record waits for flush.
    assert_eq!(server.bodies().len(), 2);
    assert_eq!(sink.pending_batches(), 1);
    sink.flush().await.unwrap();
    assert_eq!(
        server.bodies(),
        vec![
            r#"[{"a":1},"converted"]"#.to_owned(),
            r#"[null,"not json"]"#.to_owned(),
            "[[1,2]]".to_owned(),
        ]
    );
    assert_eq!(sink.pending_batches(), 0);
    let head = &server.heads()[0];
    assert!(head.starts_with("POST /ingest HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("Content-Type: application/json"), "{head}");
    assert!(head.contains("Authorization: Bearer abc"), "{head}");
    assert!(head.contains("X-Source: pipewright"), "{head}");
}

#[tokio::test]
async fn a_raw_value_its_json_converter_cannot_read_is_rejected_and_the_ones_before_it_sent() {
    let server = TestServer::start(&[]).await;
    let mut sink = sink(&server.url(), &[]).await;
    let mut converters = json_converters();
    let mut records = vec![raw(r#"{"a": 1}"#), raw("not json"), raw("[1,2]")];
    let error = sink.put(&mut records, &mut converters).await.unwrap_err();
    assert_eq!(error.rejected_at, Some("VALUE_CONVERTER"), "{error}");
    assert!(error.message.contains("invalid JSON"), "{error}");
    assert_eq!(
        records.len(),
        2,
        "the rejected record and the one after it stay"
    );
    records.remove(0);
    sink.put(&mut records, &mut converters).await.unwrap();
    sink.flush().await.unwrap();
    // Written back by the converter, as Kafka Connect would: its own spacing.
    assert_eq!(server.bodies(), vec![r#"[{"a":1},[1,2]]"#.to_owned()]);
}

#[tokio::test]
async fn batch_max_bytes_bounds_a_request_body() {
    let server = TestServer::start(&[]).await;
    let mut sink = sink(&server.url(), &[("batch.max.bytes", "16")]).await;
    let mut converters = json_converters();
    let mut records = vec![raw("\"aaaa\""), raw("\"bbbb\""), raw("\"cccc\"")];
    sink.put(&mut records, &mut converters).await.unwrap();
    sink.flush().await.unwrap();
    let bodies = server.bodies();
    assert_eq!(
        bodies,
        vec![r#"["aaaa","bbbb"]"#.to_owned(), r#"["cccc"]"#.to_owned()]
    );
    assert!(bodies.iter().all(|b| b.len() <= 16));
}

#[tokio::test]
async fn non_json_converters_send_values_as_json_strings() {
    let server = TestServer::start(&[]).await;
    let mut sink = sink(&server.url(), &[]).await;
    let mut converters = Converters::new(
        Converter::String(StringConverter::default()),
        Converter::String(StringConverter::default()),
    );
    let mut records = vec![raw(r#"{"quoted":"x"}"#), raw("line")];
    sink.put(&mut records, &mut converters).await.unwrap();
    sink.flush().await.unwrap();
    assert_eq!(server.bodies(), vec![r#"["{\"quoted\":\"x\"}","line"]"#]);
}

#[tokio::test]
async fn a_server_error_is_retried_until_the_batch_is_accepted() {
    let server = TestServer::start(&[(500, "oops"), (503, "busy")]).await;
    let mut sink = sink(&server.url(), &[]).await;
    let mut records = vec![raw("1"), raw("2")];
    sink.put(&mut records, &mut json_converters())
        .await
        .unwrap();
    sink.flush().await.unwrap();
    assert_eq!(server.bodies(), vec!["[1,2]", "[1,2]", "[1,2]"]);
}

#[tokio::test]
async fn a_client_error_fails_the_task_with_the_status_and_body() {
    let server = TestServer::start(&[(422, r#"{"error":"field `price` missing"}"#)]).await;
    let mut sink = sink(&server.url(), &[]).await;
    let mut records = vec![raw("{}")];
    sink.put(&mut records, &mut json_converters())
        .await
        .unwrap();
    let err = sink.flush().await.unwrap_err();
    assert!(!err.retriable, "{err:?}");
    assert!(err.message.contains("422"), "{}", err.message);
    assert!(
        err.message.contains("field `price` missing"),
        "{}",
        err.message
    );
    assert_eq!(server.bodies().len(), 1, "a 4xx is not retried");
}

#[tokio::test]
async fn exhausted_retries_are_a_retriable_error_and_the_batch_is_kept() {
    let server = TestServer::start(&[(500, "a"), (500, "b"), (500, "c")]).await;
    let mut sink = sink(&server.url(), &[("retry.max", "1")]).await;
    let mut records = vec![raw("7")];
    sink.put(&mut records, &mut json_converters())
        .await
        .unwrap();
    let err = sink.flush().await.unwrap_err();
    assert!(err.retriable, "{err:?}");
    assert!(
        err.message.contains("2 times") && err.message.contains("500"),
        "{}",
        err.message
    );
    // The engine retries the call: the same batch goes out again; the third 500 is followed by a 200.
    sink.flush().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(server.bodies(), vec!["[7]"; 4]);
}

#[tokio::test]
async fn a_refused_connection_is_retried_and_the_batch_sent_once_the_server_is_up() {
    // A port nobody listens on (bound, then released).
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let url = format!("http://{addr}/ingest");
    let mut sink = sink(&url, &[("retry.max", "2")]).await;
    let mut records = vec![raw(r#"{"n":1}"#)];
    sink.put(&mut records, &mut json_converters())
        .await
        .unwrap();
    let err = sink.flush().await.unwrap_err();
    assert!(err.retriable, "{err:?}");
    assert!(
        err.message.contains("3 times") && err.message.contains("cannot connect"),
        "{}",
        err.message
    );

    let server = TestServer::serve(TcpListener::bind(addr).await.unwrap(), &[]);
    sink.flush().await.unwrap();
    assert_eq!(server.bodies(), vec![r#"[{"n":1}]"#]);
}

#[tokio::test]
async fn a_silent_server_times_out_and_is_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and reads, never answers.
    let held = tokio::spawn(async move {
        let mut streams = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            streams.push(stream);
        }
    });
    let mut sink = sink(
        &format!("http://{addr}/"),
        &[("request.timeout.ms", "50"), ("retry.max", "1")],
    )
    .await;
    let mut records = vec![raw("1")];
    sink.put(&mut records, &mut json_converters())
        .await
        .unwrap();
    let err = sink.flush().await.unwrap_err();
    assert!(
        err.retriable && err.message.contains("no response"),
        "{err:?}"
    );
    held.abort();
}

#[tokio::test]
async fn bad_urls_and_headers_are_refused_by_the_config() {
    for (key, value) in [
        ("url", "https://example.com/"),
        ("url", "example.com"),
        ("headers", "NoColon"),
        ("headers", "Content-Length: 5"),
    ] {
        let mut pairs = vec![("url", "http://127.0.0.1:1/")];
        pairs.retain(|(k, _)| *k != key);
        pairs.push((key, value));
        match HttpSinkConfig::new(&config(&pairs)) {
            Err(problems) => assert!(problems.iter().all(|p| p.key == key), "{problems:?}"),
            Ok(_) => panic!("{key}={value} must be refused"),
        }
    }
}

#[tokio::test]
async fn basic_authentication_sends_the_user_and_password_of_confluents_keys() {
    let server = TestServer::start(&[]).await;
    let mut sink = sink(
        &server.url(),
        &[
            ("auth.type", "BASIC"),
            ("connection.user", "ingest"),
            ("connection.password", "s3cret"),
        ],
    )
    .await;
    let mut records = vec![raw("1")];
    sink.put(&mut records, &mut json_converters())
        .await
        .unwrap();
    sink.flush().await.unwrap();
    let head = &server.heads()[0];
    // base64("ingest:s3cret")
    assert!(
        head.contains("Authorization: Basic aW5nZXN0OnMzY3JldA=="),
        "{head}"
    );
}

#[test]
fn basic_authentication_needs_a_user_and_no_second_authorization_header() {
    for (pairs, key) in [
        (vec![("auth.type", "BASIC")], "connection.user"),
        (vec![("auth.type", "DIGEST")], "auth.type"),
        (vec![("connection.password", "x")], "connection.password"),
        (
            vec![
                ("auth.type", "basic"),
                ("connection.user", "u"),
                ("headers", "Authorization: Bearer t"),
            ],
            "headers",
        ),
    ] {
        let mut all = vec![("url", "http://127.0.0.1:1/x")];
        all.extend(pairs.iter().copied());
        let problems = HttpSinkConfig::new(&config(&all)).unwrap_err();
        assert!(
            problems.iter().any(|p| p.key == key),
            "{pairs:?}: {problems:?}"
        );
    }
}
