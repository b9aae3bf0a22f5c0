//! `engine produce`: one record per stdin line, like `kcat -P`.

use std::io::Read;

use tokio::sync::mpsc;

use crate::client::config::{ConfigMap, ProducerConfig};
use crate::client::producer::RecordRef;
use crate::protocol::record_batch::HeaderRef;
use crate::runtime::producer::now_ms;
use crate::runtime::Producer;

/// What `engine produce` was asked to do.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    pub topic: String,
    pub partition: Option<i32>,
    /// Split each line at the first occurrence into key and value.
    pub key_delimiter: Option<Vec<u8>>,
    pub headers: Vec<(String, String)>,
    pub config: ConfigMap,
}

/// How a produce run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceReport {
    pub delivered: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    pub interrupted: bool,
}

/// Reads stdin on a plain thread (blocking reads must not stall the executor) and hands over chunks.
fn spawn_stdin_reader(
    input: impl Read + Send + 'static,
) -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut input = input;
        loop {
            let mut chunk = vec![0u8; 256 * 1024];
            match input.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    chunk.truncate(n);
                    if tx.blocking_send(Ok(chunk)).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    rx
}

/// Sends every line of `input` to the topic. Must run inside a `LocalSet`.
pub async fn run(
    options: ProduceOptions,
    input: impl Read + Send + 'static,
) -> anyhow::Result<ProduceReport> {
    let config = ProducerConfig::from_map(options.config.clone())?;
    let producer = Producer::new(config);
    let headers: Vec<(Vec<u8>, Vec<u8>)> = options
        .headers
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    let header_refs: Vec<HeaderRef<'_>> = headers
        .iter()
        .map(|(k, v)| HeaderRef {
            key: k,
            value: Some(v),
        })
        .collect();
    let mut chunks = spawn_stdin_reader(input);
    let mut carry: Vec<u8> = Vec::new();
    let mut interrupted = false;
    let mut send_error: Option<String> = None;
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    'read: loop {
        let chunk = tokio::select! {
            chunk = chunks.recv() => chunk,
            _ = &mut ctrl_c => { interrupted = true; break 'read; }
        };
        let chunk = match chunk {
            None => break,
            Some(Err(e)) => return Err(anyhow::anyhow!("reading stdin: {e}")),
            Some(Ok(chunk)) => chunk,
        };
        let data: Vec<u8> = if carry.is_empty() {
            chunk
        } else {
            [std::mem::take(&mut carry), chunk].concat()
        };
        let mut start = 0;
        while let Some(pos) = memchr_newline(&data[start..]) {
            let line = &data[start..start + pos];
            start += pos + 1;
            if let Err(e) = send_line(&producer, &options, line, &header_refs).await {
                send_error = Some(e.to_string());
                break 'read;
            }
        }
        carry = data[start..].to_vec();
    }
    if !carry.is_empty() && send_error.is_none() && !interrupted {
        // The last line without a trailing newline is still a record, as with kcat.
        if let Err(e) = send_line(&producer, &options, &carry, &header_refs).await {
            send_error = Some(e.to_string());
        }
    }
    let stats = producer.close().await;
    Ok(ProduceReport {
        delivered: stats.delivered,
        failed: stats.failed + u64::from(send_error.is_some()),
        first_error: send_error.or(stats.first_error.map(|e| e.to_string())),
        interrupted,
    })
}

fn memchr_newline(data: &[u8]) -> Option<usize> {
    data.iter().position(|b| *b == b'\n')
}

async fn send_line(
    producer: &Producer,
    options: &ProduceOptions,
    line: &[u8],
    headers: &[HeaderRef<'_>],
) -> Result<(), crate::client::producer::ProduceError> {
    let (key, value) = match &options.key_delimiter {
        Some(delimiter) => match find(line, delimiter) {
            Some(at) => (Some(&line[..at]), &line[at + delimiter.len()..]),
            // kcat: no delimiter in the line means no key.
            None => (None, line),
        },
        None => (None, line),
    };
    producer
        .send_counted(RecordRef {
            topic: &options.topic,
            partition: options.partition,
            key,
            value: Some(value),
            headers,
            timestamp_ms: now_ms(),
        })
        .await
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
