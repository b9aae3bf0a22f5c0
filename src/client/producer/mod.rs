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

mod partition;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdResponse, ProduceRequest, ProduceResponse, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use super::config::{Acks, ProducerConfig};
use super::errors::{classify, response_error, ErrorAction, ResponseError};
use super::metadata::MetadataState;
use super::partitioner::{partition_for_key, StickyPartitioner};
use super::producer_id::{init_producer_id_request, supports_epoch_bump};
use super::txn::{
    ConsumerGroupMetadata, ProducerProgress, TransactionManager, TxnEffect, TxnError, TxnEvent,
    TxnOffset, TxnState,
};
use super::{BrokerId, RequestToken, ResponseResult, TokenSource, Transmit};
use crate::protocol::record_batch::NO_PRODUCER_ID;
use crate::protocol::record_batch::{encoded_record_size, HeaderRef};
use crate::protocol::versions::ApiVersionTable;
use crate::protocol::{Request, Response};

pub use partition::PartitionQueue;

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
    /// Present with `transactional.id`: the transaction layer.
    txn: Option<TransactionManager>,
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
        }
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

    // -----------------------------------------------------------------------------------------------------
    // Transactions: each operation checks the state at once and finishes with a `ProducerEvent::Transaction`.
    // -----------------------------------------------------------------------------------------------------

    pub fn is_transactional(&self) -> bool {
        self.txn.is_some()
    }

    /// The transaction layer's state (`None` without `transactional.id`).
    pub fn transaction_state(&self) -> Option<&TxnState> {
        self.txn.as_ref().map(TransactionManager::state)
    }

    pub fn transaction_manager(&self) -> Option<&TransactionManager> {
        self.txn.as_ref()
    }

    fn txn_operation(
        &mut self,
        operation: impl FnOnce(&mut TransactionManager) -> Result<(), TxnError>,
    ) -> Result<(), TxnError> {
        let txn = self.txn.as_mut().ok_or(TxnError::NotTransactional)?;
        operation(txn)?;
        self.apply_txn_effects();
        Ok(())
    }

    /// Finds the transaction coordinator and gets the producer id and epoch for `transactional.id`, fencing
    /// any older producer with the same id. Finishes with `TxnEvent::Initialized`.
    pub fn init_transactions(&mut self) -> Result<(), TxnError> {
        self.txn_operation(TransactionManager::init_transactions)
    }

    /// Opens a transaction (no request: the first record of each partition adds it).
    pub fn begin_transaction(&mut self) -> Result<(), TxnError> {
        self.txn_operation(TransactionManager::begin_transaction)
    }

    /// Commits consumed offsets as part of the transaction (KIP-447). Finishes with `TxnEvent::OffsetsSent`.
    pub fn send_offsets_to_transaction(
        &mut self,
        offsets: Vec<TxnOffset>,
        group: ConsumerGroupMetadata,
    ) -> Result<(), TxnError> {
        self.txn_operation(|txn| txn.send_offsets_to_transaction(offsets, group))
    }

    /// Sends every record of the transaction, then EndTxn(commit). Finishes with `TransactionCommitted`.
    pub fn commit_transaction(&mut self) -> Result<(), TxnError> {
        self.txn_operation(TransactionManager::commit_transaction)?;
        self.flush();
        Ok(())
    }

    /// Drops records not sent yet (they fail with `TxnError::Aborted`), waits for batches in flight, then
    /// EndTxn(abort). Finishes with `TransactionAborted`.
    pub fn abort_transaction(&mut self) -> Result<(), TxnError> {
        self.txn_operation(TransactionManager::abort_transaction)
    }

    /// Fails batches the transaction layer says will not be sent (abort, or a transaction that cannot commit).
    fn drop_unsent_batches(&mut self) {
        let Some(error) = self.txn.as_ref().and_then(|t| t.unsent_batches_error()) else {
            return;
        };
        let error = ProduceError::Transaction(error);
        let mut unsent: Vec<(Arc<str>, i32, u64)> = Vec::new();
        for topic in self.topics.values_mut() {
            while let Some(p) = topic.pending.pop_front() {
                self.outstanding.settle(1, p.size_bytes);
                self.events.push_back(ProducerEvent::Failed {
                    record_ids: vec![p.id],
                    error: error.clone(),
                });
            }
            for queue in topic.partitions.iter_mut() {
                for id in queue.unsent_batch_ids() {
                    unsent.push((topic.name.clone(), queue.partition(), id));
                }
            }
        }
        for (topic, partition, id) in unsent {
            self.fail_batch(&topic, partition, id, error.clone());
        }
    }

    /// Carries out what the transaction layer decided and passes its events on.
    fn apply_txn_effects(&mut self) {
        self.drop_unsent_batches();
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        let effects: Vec<TxnEffect> = std::iter::from_fn(|| txn.poll_effect()).collect();
        let events: Vec<TxnEvent> = std::iter::from_fn(|| txn.poll_event()).collect();
        for effect in effects {
            match effect {
                TxnEffect::ProducerId { producer_id, epoch } => {
                    self.pid = ProducerIdState::Ready { producer_id, epoch };
                    for topic in self.topics.values_mut() {
                        for queue in topic.partitions.iter_mut() {
                            queue.reset_sequences();
                        }
                    }
                }
                TxnEffect::Fatal(error) => {
                    self.pid = ProducerIdState::Fatal;
                    self.fail_everything(ProduceError::Transaction(error));
                }
            }
        }
        self.events
            .extend(events.into_iter().map(ProducerEvent::Transaction));
    }

    /// A broker to look coordinators up at: one whose FindCoordinator version is known (the request's
    /// shape depends on it), real brokers before bootstrap servers, rotating with the attempts.
    fn coordinator_lookup_broker(&self) -> Option<(BrokerId, i16)> {
        let mut known: Vec<(BrokerId, i16)> = self
            .broker_versions
            .iter()
            .filter(|(b, _)| self.metadata.broker_address(**b).is_some())
            .filter_map(|(b, v)| v.negotiate(ApiKey::FindCoordinator).ok().map(|v| (*b, v)))
            .collect();
        known.sort_by_key(|(b, _)| (*b < 0, b.abs()));
        known.first().copied()
    }

    /// Tells the producer what a broker's ApiVersions said (the runtime learns it when connecting).
    pub fn handle_broker_versions(&mut self, broker: BrokerId, versions: ApiVersionTable) {
        self.broker_versions.insert(broker, versions);
    }

    /// Bytes of records accepted and not yet acknowledged or failed; the caller stops sending past
    /// `buffer.memory`.
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
                reason: "the producer id could not be obtained".into(),
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
        self.outstanding.add(size_bytes);
        let metadata = &mut self.metadata;
        let batch_size_bytes = self.config.batch_size_bytes;
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
            Self::append_to_partition(&self.config, topic, id, &record, size_bytes, now)
                .inspect_err(|_| {
                    self.outstanding.settle(1, size_bytes);
                })?;
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
        queue
            .append(config, id, record, size_bytes, now)
            .map_err(|e| ProduceError::Encode {
                reason: e.to_string(),
            })?;
        Ok(partition)
    }

    /// Moves pending records of topics whose metadata arrived into their partitions.
    fn place_pending(&mut self, now: Instant) {
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
                        self.outstanding.settle(1, pending.size_bytes);
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
    fn fail_stuck_pending(&mut self, now: Instant) {
        for topic in self.topics.values_mut() {
            let error = self
                .metadata
                .topic_error(&topic.name)
                .filter(|e| !e.is_retriable());
            while let Some(front) = topic.pending.front() {
                let timed_out =
                    now.saturating_duration_since(front.enqueued) >= self.config.delivery_timeout;
                if error.is_none() && !timed_out {
                    break;
                }
                let Some(pending) = topic.pending.pop_front() else {
                    break;
                };
                self.outstanding.settle(1, pending.size_bytes);
                let error = match error {
                    Some(error) => ProduceError::Topic {
                        topic: topic.name.to_string(),
                        error,
                    },
                    None => ProduceError::DeliveryTimeout {
                        topic: topic.name.to_string(),
                        partition: pending.partition.unwrap_or(-1),
                        timeout_ms: self.config.delivery_timeout.as_millis(),
                        last_error: self
                            .metadata
                            .topic_error(&topic.name)
                            .map(|e| e.to_string()),
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

    fn poll_init_producer_id(&mut self, now: Instant) -> Option<Transmit> {
        if self.txn.is_some() {
            return None; // the transaction layer asks the coordinator, with the transactional id
        }
        let (bump_from, not_before) = match self.pid {
            ProducerIdState::Uninitialized { not_before } => (None, not_before),
            ProducerIdState::BumpNeeded {
                producer_id,
                epoch,
                not_before,
            } => {
                if !self.in_flight.is_empty() {
                    return None; // wait for every in-flight batch's outcome before renumbering
                }
                (Some((producer_id, epoch)), not_before)
            }
            _ => return None,
        };
        if not_before.is_some_and(|t| now < t) {
            return None;
        }
        let bumping = bump_from.is_some();
        let broker = self.metadata.any_broker();
        let bump_from =
            bump_from.filter(|_| supports_epoch_bump(self.broker_versions.get(&broker)));
        let request = init_producer_id_request(None, i32::MAX, bump_from);
        let token = self.tokens.next_token();
        self.pid = ProducerIdState::Requesting { token, bumping };
        Some(Transmit {
            broker,
            token,
            request: Request::InitProducerId(request),
            expects_response: true,
        })
    }

    fn poll_produce(&mut self, now: Instant) -> Option<Transmit> {
        let max_in_flight = self.config.max_in_flight_per_connection;
        let producer_state = match self.pid {
            ProducerIdState::Ready { producer_id, epoch } => Some((producer_id, epoch)),
            _ => None,
        };
        // Group sendable batches by leader: one batch per partition per request, as the Java client does.
        let mut chosen_broker: Option<BrokerId> = None;
        let mut request_bytes = 0usize;
        let mut batches: Vec<(Arc<str>, i32, u64, Bytes)> = Vec::new();
        let flushing = self.outstanding.flushing;
        let transactional = self.txn.is_some();
        for topic in self.topics.values_mut() {
            for queue in topic.partitions.iter_mut() {
                let Some(leader) = self.metadata.leader(&topic.name, queue.partition()) else {
                    continue;
                };
                if let Some(b) = chosen_broker {
                    if b != leader {
                        continue;
                    }
                } else if self.in_flight_per_broker.get(&leader).copied().unwrap_or(0)
                    >= max_in_flight
                {
                    continue;
                }
                if let Some(txn) = &self.txn {
                    // AddPartitionsToTxn first: the broker rejects transactional batches of other partitions.
                    if !txn.is_partition_added(&topic.name, queue.partition()) {
                        continue;
                    }
                }
                if !queue.has_sendable(&self.config, now, flushing) {
                    continue;
                }
                let size = queue.next_sendable_size();
                if !batches.is_empty() && request_bytes + size > self.config.max_request_size_bytes
                {
                    continue;
                }
                let Some((batch_id, bytes)) =
                    queue.take_sendable(&self.config, producer_state, transactional, now)
                else {
                    continue;
                };
                chosen_broker = Some(leader);
                request_bytes += bytes.len();
                batches.push((topic.name.clone(), queue.partition(), batch_id, bytes));
            }
        }
        let broker = chosen_broker?;
        let token = self.tokens.next_token();
        let mut topic_data: Vec<TopicProduceData> = Vec::new();
        for (topic, partition, _, bytes) in &batches {
            let data = PartitionProduceData::default()
                .with_index(*partition)
                .with_records(Some(bytes.clone()));
            match topic_data
                .iter_mut()
                .find(|t| t.name.0.as_str() == &**topic)
            {
                Some(t) => t.partition_data.push(data),
                None => topic_data.push(
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partition_data(vec![data]),
                ),
            }
        }
        let timeout_ms = self
            .config
            .common
            .request_timeout
            .as_millis()
            .min(i32::MAX as u128) as i32;
        let request = ProduceRequest::default()
            .with_transactional_id(self.txn.as_ref().map(|txn| {
                TransactionalId(StrBytes::from_string(txn.transactional_id().to_owned()))
            }))
            .with_acks(self.config.acks.as_i16())
            .with_timeout_ms(timeout_ms)
            .with_topic_data(topic_data);
        let expects_response = self.config.acks != Acks::None;
        let batch_refs: Vec<(Arc<str>, i32, u64)> = batches
            .into_iter()
            .map(|(t, p, id, _)| (t, p, id))
            .collect();
        if expects_response {
            *self.in_flight_per_broker.entry(broker).or_default() += 1;
            self.in_flight.insert(
                token,
                InFlightProduce {
                    broker,
                    batches: batch_refs,
                },
            );
        } else {
            // acks=0: the broker never answers; the batches count as delivered once handed to the connection.
            for (topic, partition, batch_id) in batch_refs {
                self.complete_batch(&topic, partition, batch_id, -1, -1);
            }
        }
        Some(Transmit {
            broker,
            token,
            request: Request::Produce(request),
            expects_response,
        })
    }

    fn partition_queue(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionQueue> {
        self.topics
            .get_mut(topic)?
            .partitions
            .get_mut(partition as usize)
    }

    fn complete_batch(
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

    fn fail_batch(&mut self, topic: &str, partition: i32, batch_id: u64, error: ProduceError) {
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

    fn request_epoch_bump(&mut self, not_before: Option<Instant>) {
        if let Some(txn) = &mut self.txn {
            // A transaction cannot renumber in place: its abort bumps the epoch (KIP-360).
            txn.require_epoch_bump();
            return;
        }
        match self.pid {
            ProducerIdState::Ready { producer_id, epoch } => {
                self.pid = ProducerIdState::BumpNeeded {
                    producer_id,
                    epoch,
                    not_before,
                };
            }
            ProducerIdState::Disabled
            | ProducerIdState::BumpNeeded { .. }
            | ProducerIdState::Requesting { bumping: true, .. }
            | ProducerIdState::Uninitialized { .. }
            | ProducerIdState::Requesting { .. }
            | ProducerIdState::Fatal => {}
        }
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

    fn handle_init_producer_id(
        &mut self,
        response: &InitProducerIdResponse,
        bumping: bool,
        now: Instant,
    ) {
        match response_error(response.error_code) {
            None => {
                self.init_pid_attempts = 0;
                self.pid = ProducerIdState::Ready {
                    producer_id: response.producer_id.0,
                    epoch: response.producer_epoch,
                };
                for topic in self.topics.values_mut() {
                    for queue in topic.partitions.iter_mut() {
                        queue.reset_sequences();
                    }
                }
            }
            Some(error)
                if error.is_retriable()
                    || matches!(error, ResponseError::ConcurrentTransactions) =>
            {
                self.retry_init_producer_id(bumping, now)
            }
            Some(error) => {
                if bumping
                    && matches!(
                        error,
                        ResponseError::InvalidProducerEpoch | ResponseError::ProducerFenced
                    )
                {
                    // Our epoch is no longer known: start over with a fresh producer id.
                    self.pid = ProducerIdState::Uninitialized {
                        not_before: Some(now + self.config.common.retry_backoff),
                    };
                    return;
                }
                self.pid = ProducerIdState::Fatal;
                self.fail_everything(ProduceError::Fatal {
                    reason: format!("InitProducerId failed: {error}"),
                });
            }
        }
    }

    fn retry_init_producer_id(&mut self, bumping: bool, now: Instant) {
        self.init_pid_attempts += 1;
        let not_before = Some(now + self.backoff(self.init_pid_attempts));
        self.pid = match (bumping, self.pid) {
            (true, _) => match self.last_ready_identity() {
                Some((producer_id, epoch)) => ProducerIdState::BumpNeeded {
                    producer_id,
                    epoch,
                    not_before,
                },
                None => ProducerIdState::Uninitialized { not_before },
            },
            _ => ProducerIdState::Uninitialized { not_before },
        };
    }

    /// The identity a bump starts from: sequences in batches record it.
    fn last_ready_identity(&self) -> Option<(i64, i16)> {
        self.topics
            .values()
            .flat_map(|t| t.partitions.iter())
            .find_map(|q| q.last_identity())
            .filter(|(pid, _)| *pid != NO_PRODUCER_ID)
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let base = self.config.common.retry_backoff;
        let factor = 1u32 << attempts.saturating_sub(1).min(10);
        (base * factor).min(self.config.common.retry_backoff_max.max(base))
    }

    fn fail_everything(&mut self, error: ProduceError) {
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
                self.outstanding.settle(1, p.size_bytes);
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

    fn handle_produce_response(
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
            match response_error(result.error_code) {
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

    /// A batch of the transaction failed with `error`: the transaction layer classifies it (abortable, or
    /// fatal when fenced) before the batch's records fail.
    fn fail_in_transaction(
        &mut self,
        topic: &Arc<str>,
        partition: i32,
        batch_id: u64,
        error: ResponseError,
    ) {
        if let Some(txn) = &mut self.txn {
            txn.on_produce_error(error);
        }
        let failure = ProduceError::Broker {
            topic: topic.to_string(),
            partition,
            error,
        };
        self.fail_batch(topic, partition, batch_id, failure);
    }

    fn retry_batch(
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
