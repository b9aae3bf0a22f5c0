//! The Kafka source: a consumer group member whose records stay raw bytes.
//!
//! Positions: the source commits offsets to its group only when the engine says the sink has everything before
//! them (at-least-once); auto-commit is off. Reaches Kafka through `client` + `runtime` only.

use super::config::KafkaSourceConfig;
use crate::client::consumer::TopicPartition;
use crate::client::records::Record;
use crate::client::txn::ConsumerGroupMetadata;
use crate::connect::connector::{ConnectorError, PollLimit, SourcePoll, SourceTask, TaskId};
use crate::connect::data::{Str, Value};
use crate::connect::record::{ConnectRecord, Data, Header, SourcePosition};
use crate::runtime::group_consumer::{GroupConsumer, GroupConsumerEvent};
use crate::runtime::ConnectionProblems;

/// Reads topics as a group member.
pub struct KafkaSource {
    consumer: Option<GroupConsumer>,
    /// Records of the last event not yet handed out (an event may carry more than one poll's limit).
    leftover: Vec<ConnectRecord>,
    /// This task's static member id (KIP-345), if the consumer settings give it one.
    group_instance_id: Option<String>,
    /// Partitions are being revoked: the member rejoins at the next `recv`, so everything handed out must be
    /// committed before the next poll.
    commit_requested: bool,
    /// `Some` when the engine says where assigned partitions start ([`KafkaSource::start_where_told`]): the
    /// partitions assigned since the engine last asked.
    assigned: Option<Vec<TopicPartition>>,
}

impl KafkaSource {
    /// Joins the group of `config.consumer` for `config.topics`, with auto-commit off: the engine commits.
    pub fn open(config: &KafkaSourceConfig, task: TaskId) -> Result<Self, ConnectorError> {
        let mut consumer = config.consumer.clone();
        consumer.enable_auto_commit = false;
        // Static membership: each task is its own member, under an id a restart of the same task reuses, so
        // the coordinator hands it its partitions back at once instead of waiting out the dead member's
        // session (and a second instance of the task is fenced).
        consumer.group_instance_id = consumer
            .group_instance_id
            .map(|base| format!("{base}-{}", task.index));
        let group_instance_id = consumer.group_instance_id.clone();
        let consumer = GroupConsumer::new(consumer, config.topics.clone())
            .map_err(|e| ConnectorError::fatal(format!("kafka source: {e}")))?;
        Ok(Self {
            consumer: Some(consumer),
            leftover: Vec::new(),
            group_instance_id,
            commit_requested: false,
            assigned: None,
        })
    }

    /// Assigned partitions are not read until [`KafkaSource::start_at`] says where they start: the sink keeps
    /// the consumed offsets (in the database it writes, in the same transaction as the records), and those,
    /// not the group's, say what is done. Called before the first poll.
    pub fn start_where_told(&mut self) {
        if let Some(consumer) = &self.consumer {
            consumer.start_where_told();
            self.assigned = Some(Vec::new());
        }
    }

    /// The partitions assigned since the last call, which wait for [`KafkaSource::start_at`].
    pub fn take_assigned(&mut self) -> Vec<TopicPartition> {
        self.assigned
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Where assigned partitions start: `Some(next offset)`, or `None` for the group's committed offset.
    pub fn start_at(&self, starts: Vec<(TopicPartition, Option<i64>)>) {
        if let Some(consumer) = &self.consumer {
            consumer.start_partitions_at(starts);
        }
    }

    fn consumer(&self) -> Result<&GroupConsumer, ConnectorError> {
        self.consumer
            .as_ref()
            .ok_or_else(|| ConnectorError::fatal("kafka source is closed"))
    }

    /// The group's id, generation and member id, for offsets committed inside a transaction (KIP-447: the
    /// coordinator refuses them from a member of an older generation, so a zombie cannot commit).
    /// The connection failures the consumer and group member are telling of now.
    pub fn connection_problems(&self) -> Vec<ConnectionProblems> {
        self.consumer
            .iter()
            .flat_map(GroupConsumer::connection_problems)
            .collect()
    }

    /// Each assigned partition's lag: high watermark minus the consumer's position, where both are known.
    pub fn partition_lag(&self) -> Vec<(TopicPartition, i64)> {
        self.consumer
            .as_ref()
            .map(GroupConsumer::partition_lag)
            .unwrap_or_default()
    }

    /// Whether the engine must commit everything handed out so far (under exactly-once: commit its open
    /// transaction, with the offsets of what it processed) before it polls again; asking clears it. Set when
    /// partitions are revoked: the member rejoins only at the next poll, and the partitions' next owner reads
    /// from the offsets committed by then, so anything committed later, under the group's next generation,
    /// would be read and written twice (Kafka Streams commits before giving partitions up for the same reason).
    pub fn take_commit_request(&mut self) -> bool {
        std::mem::take(&mut self.commit_requested)
    }

    pub fn group_metadata(&self, group_id: &str) -> Option<ConsumerGroupMetadata> {
        let consumer = self.consumer.as_ref()?;
        Some(consumer.with_member(|m| ConsumerGroupMetadata {
            group_id: group_id.to_owned(),
            generation_id: m.generation(),
            member_id: m.member_id().to_owned(),
            group_instance_id: self.group_instance_id.clone(),
        }))
    }
}

fn record_from_kafka(topic: &Str, partition: i32, record: Record) -> ConnectRecord {
    let headers = record
        .headers
        .iter()
        .filter_map(Result::ok)
        .map(|h| {
            let key = Str::from_utf8(h.key.clone())
                .unwrap_or_else(|_| Str::from(String::from_utf8_lossy(&h.key).as_ref()));
            let value = h.value.map_or(Value::Null, Value::Bytes);
            Header::new(key, value, None)
        })
        .collect();
    ConnectRecord {
        topic: topic.clone(),
        partition: Some(partition),
        key: Data::Raw(record.key),
        value: Data::Raw(record.value),
        timestamp: Some(record.timestamp),
        headers,
        kafka_offset: Some(record.offset),
        source_offset: Some(SourcePosition::KafkaOffset {
            topic: topic.clone(),
            partition,
            offset: record.offset + 1,
        }),
    }
}

/// Drops the records of `revoked` partitions: not handed out, they are the next owner's to read.
fn drop_revoked(records: &mut Vec<ConnectRecord>, revoked: &[TopicPartition]) {
    records.retain(|r| {
        !revoked
            .iter()
            .any(|tp| r.partition == Some(tp.partition) && r.topic.as_str() == tp.topic)
    });
}

/// Takes from `records` (oldest first) as many as `limit` allows, at least one.
fn take_within(records: &mut Vec<ConnectRecord>, limit: PollLimit) -> Vec<ConnectRecord> {
    let mut bytes = 0usize;
    let mut take = 0usize;
    while take < records.len() && !limit.is_reached(take, bytes) {
        bytes += records[take].byte_len();
        take += 1;
    }
    let rest = records.split_off(take);
    std::mem::replace(records, rest)
}

impl SourceTask for KafkaSource {
    async fn poll(&mut self, limit: PollLimit) -> Result<SourcePoll, ConnectorError> {
        if !self.leftover.is_empty() {
            return Ok(SourcePoll::Records(take_within(&mut self.leftover, limit)));
        }
        let consumer = self.consumer()?;
        let event = tokio::select! {
            event = consumer.recv() => event,
            // Come back to the engine now and then so it can flush, commit and notice a stop.
            _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => return Ok(SourcePoll::Idle),
        };
        match event {
            GroupConsumerEvent::Records {
                topic,
                partition,
                records,
            } => {
                let topic = Str::from(topic.as_str());
                let mut converted: Vec<ConnectRecord> = records
                    .into_iter()
                    .map(|r| record_from_kafka(&topic, partition, r))
                    .collect();
                let polled = take_within(&mut converted, limit);
                self.leftover = converted;
                Ok(SourcePoll::Records(polled))
            }
            GroupConsumerEvent::Fatal(error) => {
                Err(ConnectorError::fatal(format!("kafka source: {error}")))
            }
            GroupConsumerEvent::PartitionError {
                topic,
                partition,
                error,
            } => Err(ConnectorError::fatal(format!(
                "kafka source: {topic}{}: {error}",
                partition.map(|p| format!("-{p}")).unwrap_or_default()
            ))),
            GroupConsumerEvent::Revoked(partitions) => {
                // The records of these partitions already handed out commit before the member rejoins (at the
                // next poll): the engine commits when asked (`take_commit_request`), still under this
                // generation. The ones not handed out yet are the next owner's to read.
                tracing::info!(?partitions, "kafka source: partitions revoked");
                drop_revoked(&mut self.leftover, &partitions);
                self.commit_requested = true;
                Ok(SourcePoll::Idle)
            }
            GroupConsumerEvent::Lost(partitions) => {
                // Taken away without a commit (session expired across a broker restart, fenced): their records
                // already handed out must not commit under the group's next generation, where the partitions'
                // new owner reads them again from the committed offsets. Failing the task drops them (an open
                // transaction is aborted when the restarted task registers its transactional id) and reads on
                // from the committed offsets.
                let lost: Vec<String> = partitions
                    .iter()
                    .map(|tp| format!("{}-{}", tp.topic, tp.partition))
                    .collect();
                Err(ConnectorError::retriable(format!(
                    "kafka source: partitions lost without a commit ({}); the task restarts from the committed \
                     offsets",
                    lost.join(", ")
                )))
            }
            GroupConsumerEvent::Assigned(partitions) => {
                tracing::debug!(?partitions, "kafka source: partitions assigned");
                if let Some(assigned) = &mut self.assigned {
                    assigned.extend(partitions);
                }
                Ok(SourcePoll::Idle)
            }
            other => {
                tracing::debug!(?other, "kafka source: group event");
                Ok(SourcePoll::Idle)
            }
        }
    }

    async fn commit(&mut self, position: &SourcePosition) -> Result<(), ConnectorError> {
        let SourcePosition::KafkaOffset {
            topic,
            partition,
            offset,
        } = position
        else {
            return Ok(());
        };
        let consumer = self.consumer()?;
        consumer
            .commit_offsets(vec![(
                TopicPartition::new(topic.as_str(), *partition),
                *offset,
            )])
            .await
            .map_err(|e| ConnectorError::retriable(format!("kafka source: commit failed: {e}")))
    }

    async fn close(&mut self) {
        if let Some(consumer) = self.consumer.take() {
            consumer.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(sizes: &[usize]) -> Vec<ConnectRecord> {
        sizes
            .iter()
            .map(|n| ConnectRecord::raw("t", None, Some(bytes::Bytes::from(vec![b'v'; *n]))))
            .collect()
    }

    #[test]
    fn records_of_revoked_partitions_not_handed_out_are_dropped() {
        let record = |topic: &str, partition: i32| ConnectRecord {
            partition: Some(partition),
            ..ConnectRecord::raw(topic, None, None)
        };
        let mut leftover = vec![record("a", 0), record("a", 1), record("b", 0)];
        drop_revoked(&mut leftover, &[TopicPartition::new("a", 0)]);
        let left: Vec<(&str, Option<i32>)> = leftover
            .iter()
            .map(|r| (r.topic.as_str(), r.partition))
            .collect();
        assert_eq!(left, [("a", Some(1)), ("b", Some(0))]);
    }

    #[test]
    fn a_poll_takes_records_up_to_queue_max_records_or_bytes() {
        let limit = PollLimit {
            records: 3,
            bytes: 250,
        };
        let mut event = records(&[100, 100, 100, 100, 1000, 10, 10, 10, 10]);
        let sizes = |polled: Vec<ConnectRecord>| -> Vec<usize> {
            polled.iter().map(ConnectRecord::byte_len).collect()
        };
        assert_eq!(
            sizes(take_within(&mut event, limit)),
            [100, 100, 100],
            "bytes: 300 ≥ 250"
        );
        assert_eq!(
            sizes(take_within(&mut event, limit)),
            [100, 1000],
            "a large record still goes"
        );
        assert_eq!(
            sizes(take_within(&mut event, limit)),
            [10, 10, 10],
            "records: 3"
        );
        assert_eq!(sizes(take_within(&mut event, limit)), [10]);
        assert!(event.is_empty());
    }
}
