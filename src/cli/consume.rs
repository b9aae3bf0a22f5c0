//! `engine consume`: print records of a topic, like `kcat -C`.

use std::collections::BTreeSet;
use std::io::Write;

use crate::cli::format::{FormatRecord, OutputFormat};
use crate::client::config::{ConfigMap, ConsumerConfig};
use crate::client::consumer::{ConsumerEvent, StartPosition};
use crate::runtime::Consumer;

/// What `engine consume` was asked to do.
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    pub topic: String,
    pub partitions: Vec<i32>,
    pub start: StartPosition,
    pub count: Option<u64>,
    pub exit_at_end: bool,
    pub format: Option<OutputFormat>,
    pub config: ConfigMap,
}

/// How a consume run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumeReport {
    pub records: u64,
    pub error: Option<String>,
}

/// Parses `-o`: `beginning`, `end`, an offset, or `s@<ms>` for the first record at or after a timestamp.
pub fn parse_start(value: &str) -> Result<StartPosition, String> {
    match value {
        "beginning" | "earliest" => Ok(StartPosition::Earliest),
        "end" | "latest" => Ok(StartPosition::Latest),
        other => {
            if let Some(ts) = other.strip_prefix("s@") {
                return ts
                    .parse()
                    .map(StartPosition::Timestamp)
                    .map_err(|_| format!("bad timestamp in -o {other}"));
            }
            match other.parse::<i64>() {
                Ok(offset) if offset >= 0 => Ok(StartPosition::Offset(offset)),
                _ => Err(format!(
                    "-o takes beginning, end, an offset ≥ 0 or s@<timestamp ms>, not `{other}`"
                )),
            }
        }
    }
}

/// Consumes until `-c` records, the end of every partition (`-e`), an error, or Ctrl-C. Writes to `out`.
pub async fn run(options: ConsumeOptions, out: &mut impl Write) -> anyhow::Result<ConsumeReport> {
    let config = ConsumerConfig::from_map(options.config.clone())?;
    crate::config::check_tls_files(&config.common)?;
    let consumer = Consumer::new(config);
    let problems = consumer.connection_problems();
    // A broker refusing our credentials ends the command at once; nothing would ever arrive.
    tokio::select! {
        report = consume_with(consumer, options, out) => report,
        failure = problems.authentication_refused() => Err(anyhow::anyhow!(failure)),
    }
}

async fn consume_with(
    consumer: Consumer,
    options: ConsumeOptions,
    out: &mut impl Write,
) -> anyhow::Result<ConsumeReport> {
    if options.partitions.is_empty() {
        consumer.assign_topic_all_partitions(&options.topic, options.start);
    } else {
        consumer.assign(
            options
                .partitions
                .iter()
                .map(|p| (options.topic.clone(), *p, options.start))
                .collect(),
        );
    }
    let mut buffer: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut records = 0u64;
    let mut at_end: BTreeSet<i32> = BTreeSet::new();
    let mut error = None;
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    'consume: loop {
        if options.count.is_some_and(|c| records >= c) {
            break;
        }
        let event = tokio::select! {
            event = consumer.recv() => event,
            _ = &mut ctrl_c => break 'consume,
        };
        match event {
            ConsumerEvent::Records {
                topic,
                partition,
                records: batch,
            } => {
                at_end.remove(&partition);
                for record in batch {
                    if options.count.is_some_and(|c| records >= c) {
                        break;
                    }
                    records += 1;
                    match &options.format {
                        Some(format) => {
                            let headers = record.headers.borrowed();
                            let header_iter = headers
                                .iter()
                                .filter_map(Result::ok)
                                .map(|h| (h.key, h.value));
                            format.render(
                                &FormatRecord {
                                    topic: &topic,
                                    partition,
                                    offset: record.offset,
                                    timestamp_ms: record.timestamp,
                                    key: record.key.as_deref(),
                                    value: record.value.as_deref(),
                                    headers: header_iter,
                                },
                                &mut buffer,
                            );
                        }
                        None => {
                            buffer.extend_from_slice(record.value.as_deref().unwrap_or_default());
                            buffer.push(b'\n');
                        }
                    }
                }
                out.write_all(&buffer)?;
                buffer.clear();
            }
            ConsumerEvent::PartitionEof { partition, .. } => {
                at_end.insert(partition);
                if options.exit_at_end {
                    let assigned = consumer.with_state(|c| c.assignment().count());
                    if assigned > 0 && at_end.len() >= assigned {
                        break;
                    }
                }
            }
            ConsumerEvent::Error {
                topic,
                partition,
                error: e,
            } => {
                let place = partition.map_or(topic.clone(), |p| format!("{topic}-{p}"));
                error = Some(format!("{place}: {e}"));
                break;
            }
        }
    }
    out.flush()?;
    consumer.close().await;
    Ok(ConsumeReport { records, error })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions_parse_like_kcat() {
        assert_eq!(parse_start("beginning"), Ok(StartPosition::Earliest));
        assert_eq!(parse_start("end"), Ok(StartPosition::Latest));
        assert_eq!(parse_start("42"), Ok(StartPosition::Offset(42)));
        assert_eq!(
            parse_start("s@1700000000000"),
            Ok(StartPosition::Timestamp(1_700_000_000_000))
        );
        assert!(parse_start("-5").is_err());
        assert!(parse_start("soon").is_err());
    }
}
