//! Exactly-once sources that are not Kafka (KIP-618 style): a task's source positions are written to an
//! offsets topic inside the same transaction as its records, so both commit or neither does; at start the task
//! reads its latest committed position back with a read_committed consumer.
//!
//! Records are keyed `<pipeline>/<task>`; the value is the position in the offsets-file line format. The last
//! value for a key wins.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::client::admin::{CreateTopics, NewTopic};
use crate::client::config::{AutoOffsetReset, CommonConfig, ConsumerConfig, IsolationLevel};
use crate::client::consumer::{ConsumerEvent, StartPosition};
use crate::client::errors::ResponseError;
use crate::connect::connector::ConnectorError;
use crate::connect::record::SourcePosition;
use crate::engine::positions::{format_line, parse_line};
use crate::runtime::{Admin, Consumer};

/// The offsets topic's default name, like Kafka Connect's `offset.storage.topic`.
pub const DEFAULT_OFFSETS_TOPIC: &str = "pipewright-offsets";

/// The key a task's positions are stored under.
pub fn position_key(pipeline: &str, task: u32) -> String {
    format!("{pipeline}/{task}")
}

/// The value stored for `positions` (one line each).
pub fn position_value(positions: &[SourcePosition]) -> String {
    positions
        .iter()
        .map(format_line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Creates the offsets topic (one partition, the broker's replication factor) unless it exists, so the first
/// read finds an empty topic instead of waiting for one to appear.
pub async fn ensure_topic(common: CommonConfig, topic: &str) -> Result<(), ConnectorError> {
    let admin = Admin::new(common);
    let result = admin
        .run(CreateTopics {
            topics: vec![NewTopic {
                name: topic.to_owned(),
                partitions: 1,
                replication_factor: -1,
                configs: Vec::new(),
            }],
            timeout_ms: 30_000,
        })
        .await;
    admin.close().await;
    let outcomes = result.map_err(|e| ConnectorError::retriable(format!("offsets topic: {e}")))?;
    match outcomes.into_iter().next().map(|t| t.result) {
        None | Some(Ok(())) => Ok(()),
        Some(Err(error)) if error.response_error() == Some(ResponseError::TopicAlreadyExists) => {
            Ok(())
        }
        Some(Err(error)) => Err(ConnectorError::retriable(format!(
            "creating offsets topic {topic}: {}",
            error
                .response_error()
                .map_or(error.to_string(), |e| e.to_string())
        ))),
    }
}

/// Reads the topic to its end and returns the last committed positions stored under `key`; none if the
/// topic does not exist yet or holds nothing for the key.
pub async fn read_positions(
    mut config: ConsumerConfig,
    topic: &str,
    key: &str,
    timeout: Duration,
) -> Result<Vec<SourcePosition>, ConnectorError> {
    config.group_id = None;
    config.isolation_level = IsolationLevel::ReadCommitted;
    config.auto_offset_reset = AutoOffsetReset::Earliest;
    let consumer = Consumer::new(config);
    consumer.assign_topic_all_partitions(topic, StartPosition::Earliest);
    let mut latest: Option<String> = None;
    let mut at_end: BTreeSet<i32> = BTreeSet::new();
    let read = async {
        loop {
            match consumer.recv().await {
                ConsumerEvent::Records {
                    partition, records, ..
                } => {
                    at_end.remove(&partition);
                    for record in records {
                        if record.key.as_deref() == Some(key.as_bytes()) {
                            latest = record
                                .value
                                .map(|v| String::from_utf8_lossy(&v).into_owned());
                        }
                    }
                }
                ConsumerEvent::PartitionEof { partition, .. } => {
                    at_end.insert(partition);
                    let assigned = consumer.with_state(|c| c.assignment().count());
                    if assigned > 0 && at_end.len() >= assigned {
                        return Ok(());
                    }
                }
                ConsumerEvent::Error { error, .. } => {
                    // A topic that does not exist yet: nothing was ever committed.
                    return Err(error.to_string());
                }
            }
        }
    };
    let outcome = tokio::time::timeout(timeout, read).await;
    consumer.close().await;
    match outcome {
        Err(_) => Err(ConnectorError::retriable(format!(
            "reading positions from offsets topic {topic} did not finish within {timeout:?}"
        ))),
        Ok(Err(error)) if error.contains("not found") || error.contains("UnknownTopic") => {
            Ok(Vec::new())
        }
        Ok(Err(error)) => Err(ConnectorError::retriable(format!(
            "offsets topic {topic}: {error}"
        ))),
        Ok(Ok(())) => Ok(latest
            .map(|text| text.lines().filter_map(parse_line).collect())
            .unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::data::Str;

    #[test]
    fn positions_round_trip_through_the_stored_value() {
        let positions = vec![
            SourcePosition::Offset(77),
            SourcePosition::KafkaOffset {
                topic: Str::from("t"),
                partition: 1,
                offset: 9,
            },
        ];
        let value = position_value(&positions);
        let parsed: Vec<SourcePosition> = value.lines().filter_map(parse_line).collect();
        assert_eq!(parsed, positions);
        assert_eq!(position_key("orders", 2), "orders/2");
    }
}
