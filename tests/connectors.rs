//! The non-Kafka connectors through their public API, in process (no broker): a file → file copy driven like
//! the engine drives it (poll, put, flush, then commit the last position), interrupted and restarted at the
//! committed position; datagen → HTTP.

use std::collections::BTreeMap;
use std::io::Write;

use pipewright::connect::config_def::{ConfigDef, ParsedConfig};
use pipewright::connect::connector::{
    Converters, PollLimit, SinkTask, SourcePoll, SourceTask, TaskId,
};
use pipewright::connect::connectors::{datagen, file, http};
use pipewright::connect::converters::{Converter, JsonConverter, StringConverter};
use pipewright::connect::record::SourcePosition;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TASK: TaskId = TaskId { index: 0, count: 1 };

fn config(def: ConfigDef, pairs: &[(&str, &str)]) -> ParsedConfig {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    def.parse(&map, &[]).expect("valid config")
}

fn string_converters() -> Converters {
    Converters::new(
        Converter::String(StringConverter::default()),
        Converter::String(StringConverter::default()),
    )
}

/// Copies until `limit` records went through or the source is idle; returns the last committed position.
async fn copy(
    source: &mut file::FileSource,
    sink: &mut file::FileSink,
    limit: usize,
) -> Option<SourcePosition> {
    let mut converters = string_converters();
    let mut copied = 0;
    let mut committed = None;
    while copied < limit {
        let SourcePoll::Records(mut records) = source
            .poll(PollLimit::records(limit - copied))
            .await
            .unwrap()
        else {
            break;
        };
        copied += records.len();
        let last = records.last().and_then(|r| r.source_offset.clone());
        sink.put(&mut records, &mut converters).await.unwrap();
        sink.flush().await.unwrap();
        if let Some(position) = last {
            source.commit(&position).await.unwrap();
            committed = Some(position);
        }
    }
    committed
}

#[tokio::test]
async fn a_file_is_copied_line_for_line_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("orders.jsonl");
    let output = dir.path().join("orders-out.jsonl");
    let lines: Vec<String> = (0..1000)
        .map(|i| format!(r#"{{"order":{i},"item":"thing {i}"}}"#))
        .collect();
    std::fs::write(&input, lines[..600].join("\n") + "\n").unwrap();

    let source_cfg = file::FileSourceConfig::new(&config(
        file::SOURCE_CONFIG,
        &[("file", input.to_str().unwrap()), ("batch.size", "64")],
    ))
    .unwrap();
    let sink_cfg = file::FileSinkConfig::new(&config(
        file::SINK_CONFIG,
        &[("file", output.to_str().unwrap())],
    ))
    .unwrap();

    let mut source = file::FileSource::open(&source_cfg, TASK, None)
        .await
        .unwrap();
    let mut sink = file::FileSink::open(&sink_cfg, TASK).await.unwrap();
    let committed = copy(&mut source, &mut sink, 250).await;
    // More is read and put (so written: a reader sees it at once) but never flushed nor committed: the task
    // dies here.
    let SourcePoll::Records(mut uncommitted) = source.poll(PollLimit::records(100)).await.unwrap()
    else {
        panic!("more lines expected")
    };
    let written_uncommitted = uncommitted.len();
    sink.put(&mut uncommitted, &mut string_converters())
        .await
        .unwrap();
    drop(source);
    drop(sink);

    let mut appended = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    appended
        .write_all((lines[600..].join("\n") + "\n").as_bytes())
        .unwrap();

    let mut source = file::FileSource::open(&source_cfg, TASK, committed)
        .await
        .unwrap();
    let mut sink = file::FileSink::open(&sink_cfg, TASK).await.unwrap();
    copy(&mut source, &mut sink, usize::MAX).await;
    sink.close().await;

    let copied = std::fs::read_to_string(&output).unwrap();
    let copied: Vec<&str> = copied.lines().collect();
    // At least once, as Kafka's FileStreamSink: the lines written after the last commit come again, in order,
    // from the committed position on; none is lost.
    let expected: Vec<&String> = lines[..250 + written_uncommitted]
        .iter()
        .chain(&lines[250..])
        .collect();
    assert!(written_uncommitted > 0);
    assert_eq!(
        copied, expected,
        "every line, the uncommitted ones again after the restart, in order"
    );
}

/// Reads one HTTP request, answers 200 and returns its body.
async fn answer_one(listener: &tokio::net::TcpListener) -> String {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut request = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed mid-request");
        request.extend_from_slice(&chunk[..n]);
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await
                    .unwrap();
                return String::from_utf8_lossy(&request[end + 4..end + 4 + length]).to_string();
            }
        }
    }
}

#[tokio::test]
async fn datagen_orders_are_posted_as_json_arrays() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/orders", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let mut bodies = Vec::new();
        for _ in 0..3 {
            bodies.push(answer_one(&listener).await);
        }
        bodies
    });

    let mut source = datagen::DatagenSource::open(
        &datagen::DatagenConfig::new(&config(
            datagen::CONFIG,
            &[("rate", "0"), ("count", "250"), ("seed", "1")],
        ))
        .unwrap(),
        TASK,
        None,
    )
    .await
    .unwrap();
    let mut sink = http::HttpSink::open(
        &http::HttpSinkConfig::new(&config(
            http::CONFIG,
            &[("url", &url), ("batch.max.records", "100")],
        ))
        .unwrap(),
        TASK,
    )
    .await
    .unwrap();
    let mut converters = Converters::new(
        Converter::Json(JsonConverter::schemaless()),
        Converter::Json(JsonConverter::schemaless()),
    );
    while let SourcePoll::Records(mut records) = source.poll(PollLimit::records(64)).await.unwrap()
    {
        sink.put(&mut records, &mut converters).await.unwrap();
    }
    sink.flush().await.unwrap();

    let bodies = server.await.unwrap();
    let mut ids = Vec::new();
    for body in &bodies {
        let batch: serde_json::Value = serde_json::from_str(body).unwrap();
        for order in batch.as_array().unwrap() {
            ids.push(order["id"].as_u64().unwrap());
        }
    }
    assert_eq!(
        bodies
            .iter()
            .map(|b| serde_json::from_str::<serde_json::Value>(b)
                .unwrap()
                .as_array()
                .unwrap()
                .len())
            .collect::<Vec<_>>(),
        vec![100, 100, 50]
    );
    assert_eq!(ids, (1..=250).collect::<Vec<u64>>());
}
