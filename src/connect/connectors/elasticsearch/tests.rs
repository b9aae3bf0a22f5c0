//! The sink against a small scripted HTTP server on a local port (keep-alive, one reply function).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;
use crate::connect::config_def::ParsedConfig;
use crate::connect::connector::{Converters, SinkTask, TaskId};
use crate::connect::converters::{Converter, JsonConverter, StringConverter};
use crate::connect::record::{ConnectRecord, Data};

const TASK: TaskId = TaskId { index: 0, count: 1 };

#[derive(Debug, Clone)]
struct Received {
    request_line: String,
    head: String,
    body: String,
}

type Reply = Arc<dyn Fn(&Received) -> (u16, String) + Send + Sync>;

struct ScriptedCluster {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl ScriptedCluster {
    async fn start(reply: Reply) -> ScriptedCluster {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = Arc::clone(&log);
                let reply = Arc::clone(&reply);
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read);
                    loop {
                        let mut request_line = String::new();
                        if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut head = String::new();
                        let mut length = 0usize;
                        loop {
                            let mut line = String::new();
                            reader.read_line(&mut line).await.unwrap();
                            if line == "\r\n" {
                                break;
                            }
                            if let Some(v) = line.strip_prefix("Content-Length: ") {
                                length = v.trim().parse().unwrap();
                            }
                            head.push_str(&line);
                        }
                        let mut body = vec![0; length];
                        reader.read_exact(&mut body).await.unwrap();
                        let received = Received {
                            request_line: request_line.trim_end().to_owned(),
                            head,
                            body: String::from_utf8(body).unwrap(),
                        };
                        let (status, body) = reply(&received);
                        log.lock().unwrap().push(received);
                        let response = format!(
                            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if write.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        ScriptedCluster { addr, received }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn bulk_bodies(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.request_line.starts_with("POST /_bulk"))
            .map(|r| r.body.clone())
            .collect()
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// A `_bulk` reply with `status` for every item of `body` (and `error` for non-2xx ones).
fn bulk_reply(body: &str, status: impl Fn(usize, &str) -> u16, error: &str) -> String {
    let mut items = Vec::new();
    let mut lines = body.lines();
    let mut n = 0;
    while let Some(action) = lines.next() {
        let kind = if action.starts_with("{\"delete\"") {
            "delete"
        } else {
            lines.next();
            if action.starts_with("{\"update\"") {
                "update"
            } else {
                "index"
            }
        };
        let s = status(n, action);
        items.push(if (200..300).contains(&s) {
            format!(r#"{{"{kind}":{{"status":{s}}}}}"#)
        } else {
            format!(r#"{{"{kind}":{{"status":{s},"error":{{"type":"{error}","reason":"r"}}}}}}"#)
        });
        n += 1;
    }
    format!(
        r#"{{"took":1,"errors":false,"items":[{}]}}"#,
        items.join(",")
    )
}

fn all_created() -> Reply {
    Arc::new(|r: &Received| {
        if r.request_line.starts_with("POST /_bulk") {
            (200, bulk_reply(&r.body, |_, _| 201, ""))
        } else {
            (200, "{}".into())
        }
    })
}

fn config(pairs: &[(&str, &str)]) -> ParsedConfig {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    CONFIG.parse(&map, &[]).expect("valid keys")
}

async fn sink(urls: &str, extra: &[(&str, &str)]) -> ElasticsearchSink {
    let mut pairs = vec![
        ("connection.url", urls),
        ("retry.backoff.ms", "1"),
        ("schema.ignore", "true"),
    ];
    pairs.extend_from_slice(extra);
    let config = ElasticsearchSinkConfig::new(&config(&pairs)).expect("valid config");
    ElasticsearchSink::open(&config, TASK).await.unwrap()
}

fn converters() -> Converters {
    Converters::new(
        Converter::String(StringConverter::default()),
        Converter::Json(JsonConverter::schemaless()),
    )
}

fn record(key: Option<&'static str>, value: Option<&'static str>, offset: i64) -> ConnectRecord {
    let mut r = ConnectRecord::raw(
        "Orders",
        key.map(|k| Bytes::from_static(k.as_bytes())),
        value.map(|v| Bytes::from_static(v.as_bytes())),
    );
    r.partition = Some(0);
    r.kafka_offset = Some(offset);
    r
}

#[tokio::test]
async fn a_put_returns_after_its_bulk_requests_were_answered() {
    let cluster = ScriptedCluster::start(all_created()).await;
    let mut sink = sink(&cluster.url(), &[("batch.size", "2")]).await;
    let mut records = vec![
        record(Some("a"), Some(r#"{"n":1}"#), 10),
        record(Some("b"), Some(r#"{"n": 2}"#), 11),
        record(Some("c"), Some("[3]"), 12),
    ];
    sink.put(&mut records, &mut converters()).await.unwrap();
    assert!(records.is_empty());
    let mut bodies = cluster.bulk_bodies();
    bodies.sort();
    assert_eq!(
        bodies,
        vec![
            concat!(
                r#"{"index":{"_index":"orders","_id":"a","version":10,"version_type":"external"}}"#,
                "\n",
                r#"{"n":1}"#,
                "\n",
                r#"{"index":{"_index":"orders","_id":"b","version":11,"version_type":"external"}}"#,
                "\n",
                r#"{"n":2}"#,
                "\n"
            ),
            concat!(
                r#"{"index":{"_index":"orders","_id":"c","version":12,"version_type":"external"}}"#,
                "\n[3]\n"
            ),
        ]
    );
    let received = cluster.received();
    let bulk = received
        .iter()
        .find(|r| r.request_line.starts_with("POST /_bulk"))
        .unwrap();
    assert!(
        bulk.head.contains("Content-Type: application/x-ndjson"),
        "{}",
        bulk.head
    );
    // The index is checked once, before the first write.
    assert_eq!(
        received
            .iter()
            .filter(|r| r.request_line.starts_with("HEAD /orders "))
            .count(),
        1
    );
}

#[tokio::test]
async fn refused_items_alone_are_sent_again_and_exhausted_retries_are_a_retriable_error() {
    // The first record's item is refused with 429 every time; the second is written at once.
    let cluster = ScriptedCluster::start(Arc::new(|r: &Received| {
        if r.request_line.starts_with("POST /_bulk") {
            (
                200,
                bulk_reply(
                    &r.body,
                    |_, action| {
                        if action.contains(r#""_id":"a""#) {
                            429
                        } else {
                            201
                        }
                    },
                    "es_rejected_execution_exception",
                ),
            )
        } else {
            (200, "{}".into())
        }
    }))
    .await;
    let mut sink = sink(&cluster.url(), &[("max.retries", "2")]).await;
    let mut records = vec![
        record(Some("a"), Some("{}"), 1),
        record(Some("b"), Some("{}"), 2),
    ];
    let error = sink.put(&mut records, &mut converters()).await.unwrap_err();
    assert!(error.retriable && error.rejected_at.is_none(), "{error:?}");
    assert!(
        error.message.contains("after 3 attempts")
            && error.message.contains("es_rejected_execution_exception"),
        "{error}"
    );
    let bodies = cluster.bulk_bodies();
    assert_eq!(bodies.len(), 3);
    assert!(bodies[0].contains(r#""_id":"b""#));
    assert!(
        bodies[1..]
            .iter()
            .all(|b| b.contains(r#""_id":"a""#) && !b.contains(r#""_id":"b""#)),
        "{bodies:?}"
    );
    assert_eq!(
        records.len(),
        2,
        "nothing is acknowledged: the engine restarts from the committed offsets"
    );
}

#[tokio::test]
async fn a_malformed_document_is_the_rejected_record_and_the_ones_after_it_stay() {
    let cluster = ScriptedCluster::start(Arc::new(|r: &Received| {
        if r.request_line.starts_with("POST /_bulk") {
            (
                200,
                bulk_reply(
                    &r.body,
                    |n, _| if n == 1 { 400 } else { 201 },
                    "mapper_parsing_exception",
                ),
            )
        } else {
            (200, "{}".into())
        }
    }))
    .await;
    let mut sink = sink(&cluster.url(), &[]).await;
    let mut records = vec![
        record(Some("a"), Some("{}"), 1),
        record(Some("b"), Some("\"text\""), 2),
        record(Some("c"), Some("{}"), 3),
    ];
    let error = sink.put(&mut records, &mut converters()).await.unwrap_err();
    assert_eq!(error.rejected_at, Some("TASK_PUT"), "{error:?}");
    assert!(
        error.message.contains("mapper_parsing_exception"),
        "{error}"
    );
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0].kafka_offset,
        Some(2),
        "the rejected record leads, as it arrived"
    );
    assert_eq!(
        records[0].value,
        Data::Raw(Some(Bytes::from_static(b"\"text\"")))
    );

    // warn: skipped, nothing rejected.
    let mut sink = super::sink::ElasticsearchSink::open(
        &ElasticsearchSinkConfig::new(&config(&[
            ("connection.url", &cluster.url()),
            ("schema.ignore", "true"),
            ("behavior.on.malformed.documents", "warn"),
        ]))
        .unwrap(),
        TASK,
    )
    .await
    .unwrap();
    let mut records = vec![
        record(Some("a"), Some("{}"), 1),
        record(Some("b"), Some("1"), 2),
    ];
    sink.put(&mut records, &mut converters()).await.unwrap();
}

#[tokio::test]
async fn tombstones_and_ids_follow_confluents_rules() {
    let cluster = ScriptedCluster::start(all_created()).await;
    let mut deleting = sink(&cluster.url(), &[("behavior.on.null.values", "delete")]).await;
    let mut records = vec![record(Some("k"), None, 7), record(None, None, 8)];
    deleting.put(&mut records, &mut converters()).await.unwrap();
    assert_eq!(
        cluster.bulk_bodies(),
        vec![concat!(
            r#"{"delete":{"_index":"orders","_id":"k","version":7,"version_type":"external"}}"#,
            "\n"
        )]
    );

    let mut failing = sink(&cluster.url(), &[]).await;
    let mut records = vec![record(Some("k"), Some("{}"), 1), record(Some("k"), None, 2)];
    let error = failing
        .put(&mut records, &mut converters())
        .await
        .unwrap_err();
    assert_eq!(error.rejected_at, Some("TASK_PUT"));
    assert!(error.message.contains("behavior.on.null.values"), "{error}");
    assert_eq!(records.len(), 1);

    let mut records = vec![record(None, Some("{}"), 3)];
    let error = failing
        .put(&mut records, &mut converters())
        .await
        .unwrap_err();
    assert!(error.message.contains("must not be null"), "{error}");

    let mut by_offset = sink(
        &cluster.url(),
        &[("key.ignore", "true"), ("write.method", "upsert")],
    )
    .await;
    let mut records = vec![record(None, Some(r#"{"a":1}"#), 4)];
    by_offset
        .put(&mut records, &mut converters())
        .await
        .unwrap();
    let last = cluster.bulk_bodies().pop().unwrap();
    assert_eq!(
        last,
        concat!(
            r#"{"update":{"_index":"orders","_id":"Orders+0+4","retry_on_conflict":5}}"#,
            "\n",
            r#"{"doc":{"a":1},"doc_as_upsert":true}"#,
            "\n"
        )
    );
    let mut no_offset = vec![ConnectRecord::raw(
        "t",
        None,
        Some(Bytes::from_static(b"{}")),
    )];
    let error = by_offset
        .put(&mut no_offset, &mut converters())
        .await
        .unwrap_err();
    assert!(
        error.message.contains("no Kafka partition and offset"),
        "{error}"
    );
}

#[tokio::test]
async fn a_refused_connection_moves_on_to_the_next_url() {
    let dead = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let cluster = ScriptedCluster::start(all_created()).await;
    let mut sink = sink(
        &format!("http://{dead}, {}", cluster.url()),
        &[
            ("connection.username", "elastic"),
            ("connection.password", "s3cret"),
        ],
    )
    .await;
    let mut records = vec![record(Some("a"), Some("{}"), 1)];
    sink.put(&mut records, &mut converters()).await.unwrap();
    assert_eq!(cluster.bulk_bodies().len(), 1);
    // base64("elastic:s3cret")
    assert!(cluster.received()[0]
        .head
        .contains("Authorization: Basic ZWxhc3RpYzpzM2NyZXQ="));
}

#[tokio::test]
async fn a_client_error_of_the_whole_request_fails_the_task_with_its_body() {
    let cluster = ScriptedCluster::start(Arc::new(|r: &Received| {
        if r.request_line.starts_with("POST /_bulk") {
            (
                401,
                r#"{"error":"security_exception: missing authentication credentials"}"#.into(),
            )
        } else {
            (200, "{}".into())
        }
    }))
    .await;
    let mut sink = sink(&cluster.url(), &[]).await;
    let mut records = vec![record(Some("a"), Some("{}"), 1)];
    let error = sink.put(&mut records, &mut converters()).await.unwrap_err();
    assert!(!error.retriable && error.rejected_at.is_none(), "{error:?}");
    assert!(
        error.message.contains("401") && error.message.contains("security_exception"),
        "{error}"
    );
    assert_eq!(cluster.bulk_bodies().len(), 1, "a 4xx is not retried");
}

#[test]
fn config_problems_name_their_key_and_keys_confluent_has_but_we_do_not_honour_are_unknown() {
    for (pairs, key) in [
        (
            vec![("connection.url", "http://es:9200,https://es2:9200")],
            "connection.url",
        ),
        (
            vec![
                ("connection.url", "http://es:9200"),
                ("elastic.security.protocol", "SSL"),
            ],
            "elastic.security.protocol",
        ),
        (
            vec![
                ("connection.url", "https://es:9200"),
                ("elastic.https.ssl.truststore.location", "/etc/ca.pem"),
            ],
            "elastic.https.ssl.truststore.location",
        ),
        (
            vec![
                ("connection.url", "http://es"),
                ("connection.username", "u"),
            ],
            "connection.password",
        ),
        (
            vec![
                ("connection.url", "http://es"),
                ("connection.password", "p"),
            ],
            "connection.username",
        ),
        (
            vec![("connection.url", "http://es"), ("batch.size", "0")],
            "batch.size",
        ),
    ] {
        let problems = ElasticsearchSinkConfig::new(&config(&pairs)).unwrap_err();
        assert!(
            problems.iter().any(|p| p.key == key),
            "{pairs:?}: {problems:?}"
        );
    }
    let map: BTreeMap<String, String> = [
        ("connection.url".to_owned(), "http://es".to_owned()),
        ("linger.ms".to_owned(), "5".to_owned()),
    ]
    .into();
    assert!(CONFIG.parse(&map, &[]).is_err(), "linger.ms is not offered");
    let shown = format!(
        "{:?}",
        ElasticsearchSinkConfig::new(&config(&[
            ("connection.url", "http://es"),
            ("connection.username", "u"),
            ("connection.password", "p"),
        ]))
        .unwrap()
    );
    assert!(
        shown.contains("[hidden]") && !shown.contains("dTpw"),
        "{shown}"
    );
}
