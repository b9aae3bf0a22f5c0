//! Records that arrived before their topic's metadata: placed into partitions once it comes, failed when the
//! broker refuses the topic or delivery.timeout.ms passes first.

use std::time::Instant;

use super::ResponseError;
use super::{held_bytes, PartitionQueue, ProduceError, Producer, ProducerEvent, RecordRef};
use crate::protocol::record_batch::HeaderRef;

impl Producer {
    /// Moves pending records of topics whose metadata arrived into their partitions.
    pub(super) fn place_pending(&mut self, now: Instant) {
        for topic in self.topics.values_mut() {
            if let Some(md) = self.metadata.topic(&topic.name) {
                let count = md.partitions.len();
                if count > topic.partitions.len() {
                    // New partitions (first metadata, or the topic grew): add queues, keep the old ones.
                    for p in topic.partitions.len()..count {
                        topic.partitions.push(PartitionQueue::new(p as i32));
                    }
                }
            }
            if topic.partitions.is_empty() {
                continue;
            }
            let name = topic.name.clone();
            while let Some(pending) = topic.pending.pop_front() {
                let headers: Vec<HeaderRef<'_>> = pending
                    .headers
                    .iter()
                    .map(|(k, v)| HeaderRef {
                        key: k,
                        value: v.as_deref(),
                    })
                    .collect();
                let record = RecordRef {
                    topic: &name,
                    partition: pending.partition,
                    key: pending.key.as_deref(),
                    value: pending.value.as_deref(),
                    headers: &headers,
                    timestamp_ms: pending.timestamp_ms,
                };
                let result = Self::append_to_partition(
                    &self.config,
                    topic,
                    pending.id,
                    &record,
                    pending.size_bytes,
                    pending.enqueued.min(now),
                );
                match result {
                    Ok(partition) => {
                        if let Some(txn) = &mut self.txn {
                            txn.add_partition((name.clone(), partition));
                        }
                    }
                    Err(error) => {
                        self.outstanding.settle(1, held_bytes(pending.size_bytes));
                        if let Some(txn) = &mut self.txn {
                            txn.on_records_failed(error.to_string());
                        }
                        self.events.push_back(ProducerEvent::Failed {
                            record_ids: vec![pending.id],
                            error,
                        });
                    }
                }
            }
        }
    }

    /// Fails pending records of topics the broker reported an error for, or whose metadata never came.
    pub(super) fn fail_stuck_pending(&mut self, now: Instant) {
        for topic in self.topics.values_mut() {
            let error = self
                .metadata
                .topic_error(&topic.name)
                .filter(|e| !e.is_retriable());
            // A topic metadata keeps saying does not exist: after the propagation bound its records fail with
            // that error, as librdkafka's do, instead of waiting out delivery.timeout.ms (a producer fed
            // without end would otherwise wait that long for every buffer.memory of records).
            let missing = self
                .metadata
                .topic_error(&topic.name)
                .filter(|e| *e == ResponseError::UnknownTopicOrPartition);
            while let Some(front) = topic.pending.front() {
                let waited = now.saturating_duration_since(front.enqueued);
                let timed_out = waited >= self.config.delivery_timeout;
                let missing_too_long =
                    missing.is_some() && waited >= self.config.topic_metadata_propagation_max;
                let error = error.or(missing.filter(|_| missing_too_long && !timed_out));
                if error.is_none() && !timed_out {
                    break;
                }
                let Some(pending) = topic.pending.pop_front() else {
                    break;
                };
                self.outstanding.settle(1, held_bytes(pending.size_bytes));
                let error = match error {
                    Some(error) => ProduceError::Topic {
                        topic: topic.name.to_string(),
                        error,
                    },
                    None => ProduceError::DeliveryTimeout {
                        topic: topic.name.to_string(),
                        partition: pending.partition.unwrap_or(-1),
                        timeout_ms: self.config.delivery_timeout.as_millis(),
                        // Records that never had a partition waited for metadata: say why it never came.
                        last_error: self
                            .metadata
                            .topic_error(&topic.name)
                            .map(|e| e.to_string())
                            .or_else(|| self.metadata.last_failure().map(|e| e.to_string())),
                    },
                };
                if let Some(txn) = &mut self.txn {
                    txn.on_records_failed(error.to_string());
                }
                self.events.push_back(ProducerEvent::Failed {
                    record_ids: vec![pending.id],
                    error,
                });
            }
        }
        self.apply_txn_effects();
    }
}
