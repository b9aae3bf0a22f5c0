//! The sans-IO producer: partitioning, per-partition batching, Produce requests, retries and idempotence.
//!
//! Records are written straight into their partition's open batch in wire format. A batch closes when it is
//! full, and is finished (producer id, epoch and base sequence filled in, compressed, CRC computed) when it is
//! first drained into a Produce request, so sequence numbers follow send order even across epoch bumps.
//!
//! Ordering with idempotence: batches of one partition are kept in one queue in sequence order. When one fails
//! with a retriable error, nothing more of that partition is sent until every batch of it in flight has an
//! outcome; then the queue is sent again from its first unacknowledged batch. The broker deduplicates batches it
//! already wrote (DUPLICATE_SEQUENCE_NUMBER counts as success), so a retry never writes a record twice.
//!
//! Epoch bumps (KIP-360): UNKNOWN_PRODUCER_ID, an OUT_OF_ORDER_SEQUENCE_NUMBER on the first unacknowledged
//! batch, or a batch that failed after it was sent (a sequence gap) make the producer stop sending, wait for all
//! in-flight requests, get a new epoch with InitProducerId (v3+: same producer id, epoch + 1; older brokers: a
//! new producer id) and renumber every unacknowledged batch from sequence 0.
//!
//! Transactions (`transactional.id`) are a layer over this producer, not threaded through it: a
//! [`TransactionManager`] talks to the coordinator and hands the producer its id and epoch; the producer asks
//! it before sending a partition's batch (AddPartitionsToTxn first), tells it about failed batches (which make
//! the transaction abortable or, when fenced, fatal) and drops unsent batches when it says so (abort).

mod identity;
mod outcomes;
mod partition;
mod pending;
mod request;
mod transactions;

pub use partition::PartitionQueue;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::config::ProducerConfig;
use super::errors::ResponseError;
use super::metadata::MetadataState;
use super::partitioner::{partition_for_key, StickyPartitioner};

/// The most bytes of keyless records a topic sends to one partition before the sticky partitioner moves on.
const STICKY_SWITCH_MAX_BYTES: usize = 16_384;
use super::txn::{ProducerProgress, TransactionManager, TxnError, TxnEvent};
use super::{BrokerId, RequestToken, ResponseResult, TokenSource, Transmit};
use crate::protocol::record_batch::{encoded_record_size, HeaderRef};
use crate::protocol::versions::ApiVersionTable;
use crate::protocol::Response;

/// Identifies one record given to [`Producer::send`]; delivery events name records by it.
pub type RecordId = u64;

/// Why records were not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProduceError {
    #[error("broker rejected the batch for {topic}-{partition}: {error} (code {})", error.code())]
    Broker {
        topic: String,
        partition: i32,
        error: ResponseError,
    },
    #[error("records for {topic}-{partition} were not acknowledged within delivery.timeout.ms ({timeout_ms} ms){}", last_error.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default())]
    DeliveryTimeout {
        topic: String,
        partition: i32,
        timeout_ms: u128,
        last_error: Option<String>,
    },
    #[error("topic {topic}: {error}")]
    Topic { topic: String, error: ResponseError },
    #[error("partition {partition} does not exist in topic {topic} ({partitions} partitions)")]
    UnknownPartition {
        topic: String,
        partition: i32,
        partitions: i32,
    },
    #[error("record of {size_bytes} bytes is larger than max.request.size ({max_bytes} bytes)")]
    RecordTooLarge { size_bytes: usize, max_bytes: usize },
    #[error("the idempotent producer failed: {reason}")]
    Fatal { reason: String },
    #[error("record could not be encoded: {reason}")]
    Encode { reason: String },
    #[error("{0}")]
    Transaction(TxnError),
    #[error("not sent: an earlier record for {topic}-{partition} was refused by the broker")]
    NotSentAfterRefusal { topic: String, partition: i32 },
}

/// What the producer reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProducerEvent {
    /// These records were written at `base_offset`, `base_offset + 1`, … in order (`base_offset` is -1 when
    /// unknown: acks=0, or a retried batch the broker recognised as a duplicate).
    Delivered {
        record_ids: Vec<RecordId>,
        topic: Arc<str>,
        partition: i32,
        base_offset: i64,
        log_append_time_ms: i64,
    },
    /// These records were not written.
    Failed {
        record_ids: Vec<RecordId>,
        error: ProduceError,
    },
    /// A transactional operation finished or failed, or the transaction can no longer commit.
    Transaction(TxnEvent),
    /// The broker refused this record as it is (alone it is larger than the topic's `max.message.bytes`), so no
    /// retry can deliver it: its content, for the caller to keep elsewhere. A `Failed` event for it follows.
    Refused(RefusedRecord),
}

/// A record the broker refused as it is, read back from the batch it was sent in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedRecord {
    pub id: RecordId,
    pub topic: Arc<str>,
    pub partition: i32,
    /// Its key, value, headers and timestamp as they were sent.
    pub record: crate::client::records::Record,
    pub error: ProduceError,
}

/// A `RecordRef::timestamp_ms` that asks the async producer (`runtime::producer`) to stamp the record with
/// the wall-clock time it accepts it, as the Java producer does for a null timestamp. It is Kafka's
/// NO_TIMESTAMP; this sans-IO producer has no clock and writes it as given.
pub const TIMESTAMP_ON_SEND: i64 = -1;

/// A record to send, borrowed: its bytes are copied once, into the partition's open batch.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    pub topic: &'a str,
    pub partition: Option<i32>,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [HeaderRef<'a>],
    /// Milliseconds since the Unix epoch (CreateTime), or [`TIMESTAMP_ON_SEND`].
    pub timestamp_ms: i64,
}

/// The idempotent producer's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerIdState {
    /// Idempotence is off: batches carry no producer id.
    Disabled,
    /// InitProducerId not sent yet (or being retried after backoff).
    Uninitialized {
        not_before: Option<Instant>,
    },
    /// InitProducerId in flight.
    Requesting {
        token: RequestToken,
        bumping: bool,
    },
    Ready {
        producer_id: i64,
        epoch: i16,
    },
    /// Stop sending, drain in-flight requests, then ask for a new epoch.
    BumpNeeded {
        producer_id: i64,
        epoch: i16,
        not_before: Option<Instant>,
    },
    Fatal,
}

/// A record waiting for its topic's metadata (partition count unknown yet).
/// What the producer holds for one record besides its encoded bytes, counted against `buffer.memory`: before
/// its topic's metadata is known, the pending copy (its own structure and the allocations of its key, value
/// and headers); in a batch, its id, and the caller's delivery slot for it. Small records would otherwise hold
/// several times what `buffer.memory` allows.
const RECORD_OVERHEAD_BYTES: usize =
    std::mem::size_of::<PendingRecord>() + 3 * ALLOCATION_HEADER_BYTES;
/// What an allocator keeps beside each allocation (glibc: 16 bytes, rounded up to 16).
const ALLOCATION_HEADER_BYTES: usize = 32;

/// Bytes counted against `buffer.memory` for a record of `size_bytes` encoded bytes: the same at send and at
/// every settle, whichever way the record goes.
fn held_bytes(size_bytes: usize) -> usize {
    size_bytes + RECORD_OVERHEAD_BYTES
}

#[derive(Debug)]
struct PendingRecord {
    id: RecordId,
    partition: Option<i32>,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(Bytes, Option<Bytes>)>,
    timestamp_ms: i64,
    size_bytes: usize,
    enqueued: Instant,
}

#[derive(Debug)]
struct TopicState {
    name: Arc<str>,
    partitions: Vec<PartitionQueue>,
    sticky: StickyPartitioner,
    pending: VecDeque<PendingRecord>,
}

#[derive(Debug)]
struct InFlightProduce {
    broker: BrokerId,
    /// (topic, partition, batch id) of each batch in the request.
    batches: Vec<(Arc<str>, i32, u64)>,
}

pub struct Producer {
    config: ProducerConfig,
    metadata: MetadataState,
    tokens: TokenSource,
    /// By name. hashbrown for `entry_ref` (one lookup per record, no `Arc<str>` built unless the topic is new)
    /// and foldhash: SipHash and the second lookup were ~10 % of a 100 B record's CPU in the perf profile.
    topics: hashbrown::HashMap<Arc<str>, TopicState>,
    in_flight: HashMap<RequestToken, InFlightProduce>,
    in_flight_per_broker: HashMap<BrokerId, usize>,
    broker_versions: HashMap<BrokerId, ApiVersionTable>,
    pid: ProducerIdState,
    events: VecDeque<ProducerEvent>,
    next_record_id: RecordId,
    /// The latest `now` seen: deadlines at or before it were already acted on.
    last_now: Option<Instant>,
    outstanding: Outstanding,
    init_pid_attempts: u32,
    /// Why the producer id was lost for good, for the error of every later send.
    pid_failure: Option<String>,
    /// Present with `transactional.id`: the transaction layer.
    txn: Option<TransactionManager>,
    /// Set by [`Producer::stop_partitions_after_refusal`].
    stop_after_refusal: bool,
}

/// Records accepted and not yet reported delivered or failed, and their bytes.
#[derive(Debug, Default)]
struct Outstanding {
    records: usize,
    bytes: usize,
    /// Set by [`Producer::flush`]; lasts until every outstanding record is settled, then linger applies again.
    flushing: bool,
}

impl Outstanding {
    fn add(&mut self, size_bytes: usize) {
        self.records += 1;
        self.bytes += size_bytes;
    }

    /// `records` records of `size_bytes` bytes in all were reported delivered or failed.
    fn settle(&mut self, records: usize, size_bytes: usize) {
        self.records -= records;
        self.bytes -= size_bytes;
        if self.records == 0 {
            self.flushing = false;
        }
    }
}

impl Producer {
    pub fn new(config: ProducerConfig) -> Self {
        let metadata = MetadataState::new(
            config.common.bootstrap_servers.clone(),
            config.common.metadata_max_age,
            config.common.retry_backoff,
            config.allow_auto_create_topics,
        );
        let pid = if config.enable_idempotence {
            ProducerIdState::Uninitialized { not_before: None }
        } else {
            ProducerIdState::Disabled
        };
        let txn = config.transactional_id.clone().map(|id| {
            TransactionManager::new(
                id,
                config.transaction_timeout,
                config.common.retry_backoff,
                config.common.retry_backoff_max,
            )
        });
        Self {
            txn,
            config,
            metadata,
            tokens: TokenSource::default(),
            topics: hashbrown::HashMap::new(),
            in_flight: HashMap::new(),
            in_flight_per_broker: HashMap::new(),
            broker_versions: HashMap::new(),
            pid,
            events: VecDeque::new(),
            next_record_id: 0,
            last_now: None,
            outstanding: Outstanding::default(),
            init_pid_attempts: 0,
            pid_failure: None,
            stop_after_refusal: false,
        }
    }

    /// From now on, once the broker refuses a record as it is, nothing more is written to its partition: the
    /// records after it fail with [`ProduceError::NotSentAfterRefusal`]. For a caller that stops at the first
    /// record it cannot deliver (`errors.tolerance=none`) and must not have written the ones after it, which a
    /// restart sends again.
    pub fn stop_partitions_after_refusal(&mut self) {
        self.stop_after_refusal = true;
    }

    pub fn config(&self) -> &ProducerConfig {
        &self.config
    }

    pub fn metadata(&self) -> &MetadataState {
        &self.metadata
    }

    pub fn producer_id_state(&self) -> ProducerIdState {
        self.pid
    }

    /// Where to connect for `broker` (a coordinator FindCoordinator named counts too).
    pub fn broker_address(&self, broker: BrokerId) -> Option<&str> {
        self.metadata
            .broker_address(broker)
            .or_else(|| self.txn.as_ref()?.coordinator_address(broker))
    }

    /// Tells the producer what a broker's ApiVersions said (the runtime learns it when connecting).
    pub fn handle_broker_versions(&mut self, broker: BrokerId, versions: ApiVersionTable) {
        self.broker_versions.insert(broker, versions);
    }

    /// Bytes held for records accepted and not yet acknowledged or failed (their encoded size and what each
    /// record costs beside it); the caller stops sending past `buffer.memory`.
    pub fn buffered_bytes(&self) -> usize {
        self.outstanding.bytes
    }

    /// Records accepted and not yet reported delivered or failed.
    pub fn outstanding_records(&self) -> usize {
        self.outstanding.records
    }

    /// Sends every open batch now instead of waiting for `linger.ms`, until [`Producer::outstanding_records`]
    /// reaches zero.
    pub fn flush(&mut self) {
        self.outstanding.flushing = true;
    }

    /// Accepts a record. Its bytes are copied into the partition's open batch (or, before the topic's metadata
    /// is known, into a pending queue). The outcome arrives later as a [`ProducerEvent`].
    pub fn send(&mut self, record: RecordRef<'_>, now: Instant) -> Result<RecordId, ProduceError> {
        if let Some(txn) = &self.txn {
            txn.check_send().map_err(ProduceError::Transaction)?;
        }
        if self.pid == ProducerIdState::Fatal {
            return Err(ProduceError::Fatal {
                reason: self
                    .pid_failure
                    .clone()
                    .unwrap_or_else(|| "the producer id could not be obtained".into()),
            });
        }
        let size_bytes = encoded_record_size(0, 0, record.key, record.value, record.headers);
        if size_bytes + 61 + 128 > self.config.max_request_size_bytes {
            return Err(ProduceError::RecordTooLarge {
                size_bytes,
                max_bytes: self.config.max_request_size_bytes,
            });
        }
        let id = self.next_record_id;
        self.next_record_id += 1;
        self.outstanding.add(held_bytes(size_bytes));
        let metadata = &mut self.metadata;
        // Keyless records move to another partition after this many bytes (KIP-794 uses batch.size). Capped at
        // Java's default batch.size, so the larger default batch.size (batches grow only with the rate) does
        // not keep a quiet feed on one partition for a megabyte.
        let batch_size_bytes = self.config.batch_size_bytes.min(STICKY_SWITCH_MAX_BYTES);
        let topic = self
            .topics
            .entry_ref(record.topic)
            .or_insert_with_key(|name| {
                metadata.want_topic(name);
                let name: Arc<str> = Arc::from(name);
                let sticky =
                    StickyPartitioner::new(batch_size_bytes, 0x5eed ^ id ^ name.len() as u64);
                TopicState {
                    name,
                    partitions: Vec::new(),
                    sticky,
                    pending: VecDeque::new(),
                }
            });
        if topic.partitions.is_empty() || !topic.pending.is_empty() {
            topic.pending.push_back(PendingRecord {
                id,
                partition: record.partition,
                key: record.key.map(Bytes::copy_from_slice),
                value: record.value.map(Bytes::copy_from_slice),
                headers: record
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            Bytes::copy_from_slice(h.key),
                            h.value.map(Bytes::copy_from_slice),
                        )
                    })
                    .collect(),
                timestamp_ms: record.timestamp_ms,
                size_bytes,
                enqueued: now,
            });
            return Ok(id);
        }
        let partition =
            match Self::append_to_partition(&self.config, topic, id, &record, size_bytes, now) {
                Ok(partition) => partition,
                Err(error @ ProduceError::NotSentAfterRefusal { .. }) => {
                    // Accepted and failed at once, like the records already queued behind the refused one.
                    self.outstanding.settle(1, held_bytes(size_bytes));
                    self.events.push_back(ProducerEvent::Failed {
                        record_ids: vec![id],
                        error,
                    });
                    return Ok(id);
                }
                Err(error) => {
                    self.outstanding.settle(1, held_bytes(size_bytes));
                    return Err(error);
                }
            };
        if let Some(txn) = &mut self.txn {
            txn.add_partition((topic.name.clone(), partition));
        }
        Ok(id)
    }

    fn append_to_partition(
        config: &ProducerConfig,
        topic: &mut TopicState,
        id: RecordId,
        record: &RecordRef<'_>,
        size_bytes: usize,
        now: Instant,
    ) -> Result<i32, ProduceError> {
        let partitions = topic.partitions.len() as i32;
        let partition = match record.partition {
            Some(p) if p < 0 || p >= partitions => {
                return Err(ProduceError::UnknownPartition {
                    topic: topic.name.to_string(),
                    partition: p,
                    partitions,
                })
            }
            Some(p) => p,
            None => match record.key {
                Some(key) if !config.partitioner_ignore_keys => partition_for_key(key, partitions),
                _ => topic.sticky.partition(partitions, size_bytes),
            },
        };
        let queue = &mut topic.partitions[partition as usize];
        if queue.halted() {
            return Err(ProduceError::NotSentAfterRefusal {
                topic: topic.name.to_string(),
                partition,
            });
        }
        queue
            .append(config, id, record, size_bytes, now)
            .map_err(|e| ProduceError::Encode {
                reason: e.to_string(),
            })?;
        Ok(partition)
    }

    pub fn poll_event(&mut self) -> Option<ProducerEvent> {
        self.events.pop_front()
    }

    /// The next request to send, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        self.observe(now);
        self.place_pending(now);
        if let Some(tx) = self.metadata.poll_transmit(now, &mut self.tokens) {
            return Some(tx);
        }
        if self.txn.is_some() {
            self.drop_unsent_batches();
            let lookup_broker = self.coordinator_lookup_broker();
            let progress = ProducerProgress {
                outstanding_records: self.outstanding.records,
                versions: &self.broker_versions,
                lookup_broker,
            };
            let tx = self
                .txn
                .as_mut()
                .and_then(|txn| txn.poll_transmit(now, &mut self.tokens, progress));
            self.apply_txn_effects();
            if tx.is_some() {
                return tx;
            }
        }
        if let Some(tx) = self.poll_init_producer_id(now) {
            return Some(tx);
        }
        if !self.may_send_produce() {
            return None;
        }
        self.poll_produce(now)
    }

    fn may_send_produce(&self) -> bool {
        matches!(
            self.pid,
            ProducerIdState::Disabled | ProducerIdState::Ready { .. }
        )
    }

    /// Routes a response (or a transport failure) back to whoever asked.
    pub fn handle_response(
        &mut self,
        broker: BrokerId,
        token: RequestToken,
        result: ResponseResult,
        now: Instant,
    ) {
        self.observe(now);
        if self
            .metadata
            .take_response(broker, token, &result, now)
            .is_some()
        {
            self.place_pending(now);
            // A non-retriable topic error (authorization, invalid name) will not go away by waiting for
            // delivery.timeout.ms: fail those records now.
            self.fail_stuck_pending(now);
            return;
        }
        if let Some(txn) = self.txn.as_mut().filter(|txn| txn.owns(token)) {
            txn.handle_response(token, result, now);
            self.apply_txn_effects();
            return;
        }
        if let ProducerIdState::Requesting {
            token: pid_token,
            bumping,
        } = self.pid
        {
            if pid_token == token {
                match result {
                    Ok(Response::InitProducerId(response)) => {
                        self.handle_init_producer_id(&response, bumping, now)
                    }
                    _ => self.retry_init_producer_id(bumping, now),
                }
                return;
            }
        }
        let Some(in_flight) = self.in_flight.remove(&token) else {
            return;
        };
        if let Some(count) = self.in_flight_per_broker.get_mut(&in_flight.broker) {
            *count = count.saturating_sub(1);
        }
        match result {
            Ok(Response::Produce(response)) => {
                self.handle_produce_response(in_flight, &response, now);
                self.apply_txn_effects();
            }
            Ok(_) | Err(_) => {
                // No answer: outcome unknown. Resend with the same sequence numbers; the broker deduplicates.
                let last_error = match &result {
                    Err(e) => e.to_string(),
                    Ok(_) => "unexpected response type".to_string(),
                };
                self.metadata.request_refresh();
                for (topic, partition, batch_id) in in_flight.batches {
                    self.retry_batch(&topic, partition, batch_id, last_error.clone(), now);
                }
            }
        }
    }

    /// Expires batches past `delivery.timeout.ms` that are not in flight, and fails stuck pending records.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.observe(now);
        self.place_pending(now);
        self.fail_stuck_pending(now);
        let delivery_timeout = self.config.delivery_timeout;
        let mut expired: Vec<(Arc<str>, i32, u64, Option<String>)> = Vec::new();
        for topic in self.topics.values_mut() {
            for queue in topic.partitions.iter_mut() {
                for (id, last_error) in queue.expired(now, delivery_timeout) {
                    expired.push((topic.name.clone(), queue.partition(), id, last_error));
                }
            }
        }
        for (topic, partition, id, last_error) in expired {
            let error = ProduceError::DeliveryTimeout {
                topic: topic.to_string(),
                partition,
                timeout_ms: delivery_timeout.as_millis(),
                last_error,
            };
            self.fail_batch(&topic, partition, id, error);
        }
        self.apply_txn_effects();
    }

    fn observe(&mut self, now: Instant) {
        self.last_now = Some(self.last_now.map_or(now, |t| t.max(now)));
    }

    /// When [`Producer::handle_timeout`] next has work: a linger deadline, a retry backoff, a metadata refresh.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut earliest = None;
        let last_now = self.last_now;
        let mut consider = |t: Option<Instant>| {
            // A deadline already reached was acted on; what still waits there waits for a response, not time.
            if let Some(t) = t.filter(|t| last_now.is_none_or(|now| *t > now)) {
                earliest = Some(earliest.map_or(t, |e: Instant| e.min(t)));
            }
        };
        consider(self.metadata.poll_timeout());
        if let Some(txn) = &self.txn {
            consider(txn.poll_timeout());
        }
        match self.pid {
            ProducerIdState::Uninitialized { not_before }
            | ProducerIdState::BumpNeeded { not_before, .. } => consider(not_before),
            _ => {}
        }
        for topic in self.topics.values() {
            if let Some(p) = topic.pending.front() {
                consider(Some(p.enqueued + self.config.delivery_timeout));
                if self.metadata.topic_error(&topic.name)
                    == Some(ResponseError::UnknownTopicOrPartition)
                {
                    consider(Some(
                        p.enqueued + self.config.topic_metadata_propagation_max,
                    ));
                }
            }
            for queue in &topic.partitions {
                consider(queue.next_deadline(&self.config, last_now));
            }
        }
        earliest
    }
}

/// Why a batch will not be retried.
pub(crate) enum RetryRefused {
    /// Out of retries or past delivery.timeout.ms; carries the last error seen.
    Exhausted(String),
}

#[cfg(test)]
mod tests;
