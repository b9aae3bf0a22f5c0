//! What becomes of a sent batch: the Produce answer per partition (delivered, a duplicate, retried with the
//! same sequence, an epoch bump, failed), retries with backoff, and failing everything when the producer
//! id is lost for good.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::ProduceResponse;

use super::{
    held_bytes, InFlightProduce, PartitionQueue, ProduceError, Producer, ProducerEvent,
    ProducerIdState, RefusedRecord, RetryRefused,
};
use crate::client::errors::{classify, response_error, ErrorAction, ResponseError};

impl Producer {
    pub(super) fn handle_produce_response(
        &mut self,
        in_flight: InFlightProduce,
        response: &ProduceResponse,
        now: Instant,
    ) {
        for (topic, partition, batch_id) in in_flight.batches {
            let result = response
                .responses
                .iter()
                .filter(|t| t.name.0.as_str() == &*topic)
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == partition);
            let Some(result) = result else {
                self.retry_batch(
                    &topic,
                    partition,
                    batch_id,
                    "partition missing from the Produce response".into(),
                    now,
                );
                continue;
            };
            let halted = self
                .partition_queue(&topic, partition)
                .is_some_and(|q| q.halted());
            match response_error(result.error_code) {
                Some(_) if halted => self.fail_batch(
                    &topic,
                    partition,
                    batch_id,
                    ProduceError::NotSentAfterRefusal {
                        topic: topic.to_string(),
                        partition,
                    },
                ),
                None => self.complete_batch(
                    &topic,
                    partition,
                    batch_id,
                    result.base_offset,
                    result.log_append_time_ms,
                ),
                Some(ResponseError::DuplicateSequenceNumber) => {
                    // Already written by an earlier attempt whose answer we lost.
                    self.complete_batch(
                        &topic,
                        partition,
                        batch_id,
                        result.base_offset,
                        result.log_append_time_ms,
                    )
                }
                Some(ResponseError::OutOfOrderSequenceNumber) => {
                    let earlier_unacked = self
                        .partition_queue(&topic, partition)
                        .is_some_and(|q| q.has_earlier_than(batch_id));
                    if !earlier_unacked && self.txn.is_some() {
                        self.fail_in_transaction(
                            &topic,
                            partition,
                            batch_id,
                            ResponseError::OutOfOrderSequenceNumber,
                        );
                        continue;
                    }
                    if !earlier_unacked {
                        // Nothing before it is outstanding, so the broker lost our sequence state: renumber.
                        self.request_epoch_bump(None);
                    }
                    self.retry_batch(
                        &topic,
                        partition,
                        batch_id,
                        ResponseError::OutOfOrderSequenceNumber.to_string(),
                        now,
                    );
                }
                Some(
                    error @ (ResponseError::UnknownProducerId
                    | ResponseError::InvalidProducerEpoch
                    | ResponseError::ProducerFenced),
                ) => {
                    if self.txn.is_some() {
                        // Fenced (a zombie's batch) or lost producer state: never resent in a transaction.
                        self.fail_in_transaction(&topic, partition, batch_id, error);
                        continue;
                    }
                    self.request_epoch_bump(None);
                    self.retry_batch(&topic, partition, batch_id, error.to_string(), now);
                }
                Some(
                    error @ (ResponseError::MessageTooLarge | ResponseError::RecordListTooLarge),
                ) => self.handle_batch_too_large(&topic, partition, batch_id, error),
                Some(error) => match classify(error) {
                    ErrorAction::RetryAfterMetadataRefresh => {
                        self.metadata.request_refresh();
                        self.retry_batch(&topic, partition, batch_id, error.to_string(), now);
                    }
                    ErrorAction::Retry => {
                        self.retry_batch(&topic, partition, batch_id, error.to_string(), now)
                    }
                    ErrorAction::Fail if self.txn.is_some() => {
                        self.fail_in_transaction(&topic, partition, batch_id, error);
                    }
                    ErrorAction::Fail => {
                        let error = ProduceError::Broker {
                            topic: topic.to_string(),
                            partition,
                            error,
                        };
                        self.fail_batch(&topic, partition, batch_id, error);
                    }
                },
            }
        }
    }

    /// The broker refused a batch as too large: a batch of several records is split into one-record batches
    /// sent again in its place; a single record is refused for good, and reported with its content
    /// ([`ProducerEvent::Refused`]) so the caller can keep it elsewhere (a dead-letter topic).
    fn handle_batch_too_large(
        &mut self,
        topic: &Arc<str>,
        partition: i32,
        batch_id: u64,
        error: ResponseError,
    ) {
        let config = &self.config;
        let Some(queue) = self
            .topics
            .get_mut(&**topic)
            .and_then(|t| t.partitions.get_mut(partition as usize))
        else {
            return;
        };
        match queue.split(batch_id, config) {
            Ok(true) => {
                tracing::debug!(
                    topic = &**topic,
                    partition,
                    %error,
                    "batch refused as too large: sending its records one by one"
                );
                return;
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(topic = &**topic, partition, error = %e, "a refused batch could not be split")
            }
        }
        let record = queue.single_record(batch_id);
        let produce_error = ProduceError::Broker {
            topic: topic.to_string(),
            partition,
            error,
        };
        if let Some(record) = record {
            self.events.push_back(ProducerEvent::Refused(RefusedRecord {
                id: batch_id,
                topic: topic.clone(),
                partition,
                record,
                error: produce_error.clone(),
            }));
        }
        if self.txn.is_some() {
            // A transaction with a record missing cannot commit: it aborts as with any failed batch.
            self.fail_in_transaction(topic, partition, batch_id, error);
            return;
        }
        self.fail_batch(topic, partition, batch_id, produce_error);
        if self.stop_after_refusal {
            let unsent = self
                .partition_queue(topic, partition)
                .map(PartitionQueue::halt)
                .unwrap_or_default();
            for id in unsent {
                let error = ProduceError::NotSentAfterRefusal {
                    topic: topic.to_string(),
                    partition,
                };
                self.fail_batch(topic, partition, id, error);
            }
        }
    }

    pub(super) fn retry_batch(
        &mut self,
        topic: &Arc<str>,
        partition: i32,
        batch_id: u64,
        last_error: String,
        now: Instant,
    ) {
        let retries = self.config.retries;
        let delivery_timeout = self.config.delivery_timeout;
        let backoff_base = self.config.common.retry_backoff;
        let backoff_max = self.config.common.retry_backoff_max;
        let Some(queue) = self.partition_queue(topic, partition) else {
            return;
        };
        if queue.halted() {
            let error = ProduceError::NotSentAfterRefusal {
                topic: topic.to_string(),
                partition,
            };
            self.fail_batch(topic, partition, batch_id, error);
            return;
        }
        let verdict = queue.mark_for_retry(
            batch_id,
            last_error,
            now,
            retries,
            delivery_timeout,
            backoff_base,
            backoff_max,
        );
        if let Some(error) = verdict {
            let error = match error {
                RetryRefused::Exhausted(last_error) => ProduceError::DeliveryTimeout {
                    topic: topic.to_string(),
                    partition,
                    timeout_ms: delivery_timeout.as_millis(),
                    last_error: Some(last_error),
                },
            };
            self.fail_batch(topic, partition, batch_id, error);
        }
    }

    pub(super) fn complete_batch(
        &mut self,
        topic: &Arc<str>,
        partition: i32,
        batch_id: u64,
        base_offset: i64,
        log_append_time_ms: i64,
    ) {
        let Some(queue) = self.partition_queue(topic, partition) else {
            return;
        };
        let Some(batch) = queue.remove(batch_id) else {
            return;
        };
        self.outstanding
            .settle(batch.record_ids.len(), batch.size_bytes);
        self.events.push_back(ProducerEvent::Delivered {
            record_ids: batch.record_ids,
            topic: topic.clone(),
            partition,
            base_offset,
            log_append_time_ms,
        });
    }

    pub(super) fn fail_batch(
        &mut self,
        topic: &str,
        partition: i32,
        batch_id: u64,
        error: ProduceError,
    ) {
        let Some(queue) = self.partition_queue(topic, partition) else {
            return;
        };
        let Some(batch) = queue.remove(batch_id) else {
            return;
        };
        // Only a sequence handed out under the current epoch leaves a gap; one from before an epoch bump was
        // never used under the new epoch (it would have been renumbered when resent), so no second bump.
        let numbered_now = match self.pid {
            ProducerIdState::Ready { producer_id, epoch } => batch
                .sequence
                .is_some_and(|(p, e, _)| (p, e) == (producer_id, epoch)),
            _ => false,
        };
        self.outstanding
            .settle(batch.record_ids.len(), batch.size_bytes);
        if let Some(txn) = &mut self.txn {
            txn.on_records_failed(error.to_string());
        }
        self.events.push_back(ProducerEvent::Failed {
            record_ids: batch.record_ids,
            error,
        });
        if numbered_now {
            // The broker may have seen this sequence; later batches would leave a gap it rejects. Renumber.
            self.request_epoch_bump(None);
        }
    }

    pub(super) fn fail_everything(&mut self, error: ProduceError) {
        let mut failed: Vec<(Arc<str>, i32, u64)> = Vec::new();
        for topic in self.topics.values_mut() {
            for queue in topic.partitions.iter_mut() {
                queue.close_open_batch();
                failed.extend(
                    queue
                        .batch_ids()
                        .map(|id| (topic.name.clone(), queue.partition(), id)),
                );
            }
            while let Some(p) = topic.pending.pop_front() {
                self.outstanding.settle(1, held_bytes(p.size_bytes));
                self.events.push_back(ProducerEvent::Failed {
                    record_ids: vec![p.id],
                    error: error.clone(),
                });
            }
        }
        for (topic, partition, id) in failed {
            if let Some(queue) = self.partition_queue(&topic, partition) {
                if let Some(batch) = queue.remove(id) {
                    self.outstanding
                        .settle(batch.record_ids.len(), batch.size_bytes);
                    self.events.push_back(ProducerEvent::Failed {
                        record_ids: batch.record_ids,
                        error: error.clone(),
                    });
                }
            }
        }
    }

    pub(super) fn backoff(&self, attempts: u32) -> Duration {
        let base = self.config.common.retry_backoff;
        let factor = 1u32 << attempts.saturating_sub(1).min(10);
        (base * factor).min(self.config.common.retry_backoff_max.max(base))
    }

    pub(super) fn partition_queue(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> Option<&mut PartitionQueue> {
        self.topics
            .get_mut(topic)?
            .partitions
            .get_mut(partition as usize)
    }
}
