//! The transaction layer over the idempotent producer (KIP-98, KIP-360, KIP-447), sans-IO.
//!
//! [`TransactionManager`] owns the conversation with the transaction coordinator: FindCoordinator,
//! InitProducerId with the transactional id, AddPartitionsToTxn (batched: every partition that got its first
//! record since the last request goes in the next one), AddOffsetsToTxn + TxnOffsetCommit (to the group
//! coordinator, with the group's generation and member id), EndTxn, and the epoch bump after an abortable
//! error. One coordinator request is in flight at a time, as in the Java client.
//!
//! It does not own records, batches or sequences: the producer keeps those and asks this layer whether a
//! partition may be written (`is_partition_added`), tells it about failures (`on_produce_error`,
//! `on_records_failed`) and says how many records are still outstanding, so EndTxn goes out only once every
//! batch of the transaction has its answer. No clock and no socket: time is an argument.

mod error;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey,
    EndTxnRequest, FindCoordinatorResponse, GroupId, ProducerId, TopicName, TransactionalId,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::coordinator::{read_find_coordinator, CoordinatorKey, Lookup};
use super::errors::{response_error, ResponseError};
use super::producer_id::{init_producer_id_request, supports_epoch_bump};
use super::{BrokerId, RequestToken, ResponseResult, TokenSource, Transmit, TransportError};
use crate::protocol::versions::ApiVersionTable;
use crate::protocol::{Request, Response};

pub use error::{classify_txn_error, TxnError, TxnErrorAction, TxnErrorClass, TxnOperation};

/// Backoff after CONCURRENT_TRANSACTIONS: the previous transaction's markers are usually written within
/// milliseconds (the Java client uses 20 ms too).
const CONCURRENT_TRANSACTIONS_BACKOFF: Duration = Duration::from_millis(20);

/// A partition of a topic.
pub type TopicPartition = (Arc<str>, i32);

/// What the group coordinator needs to accept offsets from a transaction (KIP-447): the consumer's group and
/// its place in the group, so a zombie that lost its partitions cannot commit for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// For a consumer outside any group protocol (no generation checks; what the Java client sends for
    /// `new ConsumerGroupMetadata(groupId)`).
    pub fn group_only(group_id: impl Into<String>) -> Self {
        Self {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// One consumed position to commit inside the transaction: the offset of the next record to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: Option<i32>,
    pub metadata: Option<String>,
}

/// Where the transactional producer is (the Java client's states).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnState {
    Uninitialized,
    /// InitProducerId in progress.
    Initializing,
    /// No transaction open.
    Ready,
    InTransaction,
    /// Flushing, then EndTxn(commit).
    Committing,
    /// Dropping unsent batches, waiting for in-flight ones, then EndTxn(abort) and, if needed, an epoch bump.
    Aborting,
    /// The transaction cannot commit; abort it.
    AbortableError(TxnError),
    /// Nothing more can be done.
    Fatal(TxnError),
}

impl TxnState {
    pub fn name(&self) -> &'static str {
        match self {
            TxnState::Uninitialized => "uninitialized (call init_transactions first)",
            TxnState::Initializing => "initializing",
            TxnState::Ready => "not in a transaction (call begin_transaction first)",
            TxnState::InTransaction => "in a transaction",
            TxnState::Committing => "committing a transaction",
            TxnState::Aborting => "aborting a transaction",
            TxnState::AbortableError(_) => "in a failed transaction (abort it)",
            TxnState::Fatal(_) => "failed",
        }
    }
}

/// What the transaction layer reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnEvent {
    /// `init_transactions` finished: the producer id and epoch the coordinator handed out.
    Initialized {
        producer_id: i64,
        epoch: i16,
    },
    /// `send_offsets_to_transaction` finished: the offsets are part of the transaction.
    OffsetsSent {
        group_id: String,
    },
    TransactionCommitted,
    TransactionAborted,
    /// An operation failed (`operation` names it), or the open transaction can no longer commit
    /// (`operation: None`).
    TransactionFailed {
        operation: Option<TxnOperation>,
        class: TxnErrorClass,
        error: TxnError,
    },
}

/// What the producer must do for the transaction layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TxnEffect {
    /// Use this producer id and epoch from now on (sequences start again at 0).
    ProducerId { producer_id: i64, epoch: i16 },
    /// Fail every record and every later send.
    Fatal(TxnError),
}

/// What the producer tells the transaction layer on every poll.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProducerProgress<'a> {
    /// Records accepted and not yet delivered or failed (after unsent batches of an abort were dropped).
    pub outstanding_records: usize,
    /// ApiVersions of each broker the producer talked to.
    pub versions: &'a HashMap<BrokerId, ApiVersionTable>,
    /// A broker to send FindCoordinator to, with the FindCoordinator version it speaks.
    pub lookup_broker: Option<(BrokerId, i16)>,
}

#[derive(Debug)]
enum TxnRequest {
    FindCoordinator(CoordinatorKey),
    InitProducerId { bumping: bool },
    AddPartitions(Vec<TopicPartition>),
    AddOffsets,
    TxnOffsetCommit,
    EndTxn { commit: bool },
}

#[derive(Debug)]
struct InFlight {
    token: RequestToken,
    request: TxnRequest,
}

/// `send_offsets_to_transaction` in progress.
#[derive(Debug)]
struct PendingOffsets {
    group: ConsumerGroupMetadata,
    /// Offsets still to commit (those the coordinator accepted are removed).
    offsets: Vec<TxnOffset>,
    /// AddOffsetsToTxn succeeded.
    added_to_txn: bool,
}

/// The transactional producer's coordinator conversation and state machine.
#[derive(Debug)]
pub struct TransactionManager {
    transactional_id: String,
    transaction_timeout_ms: i32,
    retry_backoff: Duration,
    retry_backoff_max: Duration,
    state: TxnState,
    operation: Option<TxnOperation>,
    producer: Option<(i64, i16)>,
    coordinator: Option<BrokerId>,
    group_coordinator: Option<(String, BrokerId)>,
    /// Addresses FindCoordinator named, for coordinators metadata does not list (yet).
    coordinator_addresses: HashMap<BrokerId, String>,
    in_flight: Option<InFlight>,
    not_before: Option<Instant>,
    attempts: u32,
    /// Partitions with records in this transaction that still need AddPartitionsToTxn.
    new_partitions: BTreeSet<TopicPartition>,
    /// Partitions of the AddPartitionsToTxn in flight.
    adding_partitions: BTreeSet<TopicPartition>,
    added_partitions: BTreeSet<TopicPartition>,
    pending_offsets: Option<PendingOffsets>,
    /// AddOffsetsToTxn succeeded in this transaction: EndTxn is needed even without partitions.
    offsets_added: bool,
    /// KIP-360: the abort must end with InitProducerId bumping the epoch.
    epoch_bump_required: bool,
    /// EndTxn(abort) is done (or was not needed); only the epoch bump is left.
    bumping_after_abort: bool,
    events: VecDeque<TxnEvent>,
    effects: VecDeque<TxnEffect>,
}

impl TransactionManager {
    pub fn new(
        transactional_id: String,
        transaction_timeout: Duration,
        retry_backoff: Duration,
        retry_backoff_max: Duration,
    ) -> Self {
        Self {
            transactional_id,
            transaction_timeout_ms: transaction_timeout.as_millis().min(i32::MAX as u128) as i32,
            retry_backoff,
            retry_backoff_max,
            state: TxnState::Uninitialized,
            operation: None,
            producer: None,
            coordinator: None,
            group_coordinator: None,
            coordinator_addresses: HashMap::new(),
            in_flight: None,
            not_before: None,
            attempts: 0,
            new_partitions: BTreeSet::new(),
            adding_partitions: BTreeSet::new(),
            added_partitions: BTreeSet::new(),
            pending_offsets: None,
            offsets_added: false,
            epoch_bump_required: false,
            bumping_after_abort: false,
            events: VecDeque::new(),
            effects: VecDeque::new(),
        }
    }

    pub fn transactional_id(&self) -> &str {
        &self.transactional_id
    }

    pub fn state(&self) -> &TxnState {
        &self.state
    }

    /// The operation started and not yet finished, if any.
    pub fn operation_in_progress(&self) -> Option<TxnOperation> {
        self.operation
    }

    pub fn coordinator(&self) -> Option<BrokerId> {
        self.coordinator
    }

    pub fn coordinator_address(&self, broker: BrokerId) -> Option<&str> {
        self.coordinator_addresses.get(&broker).map(String::as_str)
    }

    pub fn poll_event(&mut self) -> Option<TxnEvent> {
        self.events.pop_front()
    }

    pub(crate) fn poll_effect(&mut self) -> Option<TxnEffect> {
        self.effects.pop_front()
    }

    pub fn owns(&self, token: RequestToken) -> bool {
        self.in_flight.as_ref().is_some_and(|f| f.token == token)
    }

    // -----------------------------------------------------------------------------------------------------
    // The user's operations. Each checks the state, then finishes later with an event.
    // -----------------------------------------------------------------------------------------------------

    fn check_idle(&self, operation: TxnOperation) -> Result<(), TxnError> {
        if let TxnState::Fatal(error) = &self.state {
            return Err(TxnError::FatalEarlier(Box::new(error.clone())));
        }
        if let Some(pending) = self.operation {
            return Err(TxnError::OperationInProgress { operation, pending });
        }
        Ok(())
    }

    fn invalid(&self, operation: TxnOperation) -> TxnError {
        match &self.state {
            TxnState::AbortableError(error) => TxnError::MustAbort(Box::new(error.clone())),
            TxnState::Fatal(error) => TxnError::FatalEarlier(Box::new(error.clone())),
            state => TxnError::InvalidState {
                operation,
                state: state.name(),
            },
        }
    }

    pub fn init_transactions(&mut self) -> Result<(), TxnError> {
        self.check_idle(TxnOperation::InitTransactions)?;
        if self.state != TxnState::Uninitialized {
            return Err(self.invalid(TxnOperation::InitTransactions));
        }
        self.state = TxnState::Initializing;
        self.operation = Some(TxnOperation::InitTransactions);
        Ok(())
    }

    pub fn begin_transaction(&mut self) -> Result<(), TxnError> {
        self.check_idle(TxnOperation::BeginTransaction)?;
        if self.state != TxnState::Ready {
            return Err(self.invalid(TxnOperation::BeginTransaction));
        }
        self.state = TxnState::InTransaction;
        Ok(())
    }

    pub fn send_offsets_to_transaction(
        &mut self,
        offsets: Vec<TxnOffset>,
        group: ConsumerGroupMetadata,
    ) -> Result<(), TxnError> {
        self.check_idle(TxnOperation::SendOffsets)?;
        if self.state != TxnState::InTransaction {
            return Err(self.invalid(TxnOperation::SendOffsets));
        }
        if offsets.is_empty() {
            // Nothing to commit: like the Java client, no request at all.
            self.events.push_back(TxnEvent::OffsetsSent {
                group_id: group.group_id,
            });
            return Ok(());
        }
        self.pending_offsets = Some(PendingOffsets {
            group,
            offsets,
            added_to_txn: false,
        });
        self.operation = Some(TxnOperation::SendOffsets);
        Ok(())
    }

    pub fn commit_transaction(&mut self) -> Result<(), TxnError> {
        self.check_idle(TxnOperation::Commit)?;
        if self.state != TxnState::InTransaction {
            return Err(self.invalid(TxnOperation::Commit));
        }
        self.state = TxnState::Committing;
        self.operation = Some(TxnOperation::Commit);
        Ok(())
    }

    pub fn abort_transaction(&mut self) -> Result<(), TxnError> {
        self.check_idle(TxnOperation::Abort)?;
        if !matches!(
            self.state,
            TxnState::InTransaction | TxnState::AbortableError(_)
        ) {
            return Err(self.invalid(TxnOperation::Abort));
        }
        self.state = TxnState::Aborting;
        self.operation = Some(TxnOperation::Abort);
        // Partitions not added yet have nothing that will be sent: their batches are dropped.
        self.new_partitions.clear();
        self.pending_offsets = None;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------------------
    // What the producer asks and tells.
    // -----------------------------------------------------------------------------------------------------

    /// Whether a record may be accepted now.
    pub fn check_send(&self) -> Result<(), TxnError> {
        match &self.state {
            TxnState::InTransaction => Ok(()),
            _ => Err(self.invalid(TxnOperation::Send)),
        }
    }

    /// A record of the transaction landed in `partition`: it must be added before its batch is sent.
    pub fn add_partition(&mut self, partition: TopicPartition) {
        if matches!(self.state, TxnState::InTransaction | TxnState::Committing)
            && !self.added_partitions.contains(&partition)
            && !self.adding_partitions.contains(&partition)
        {
            self.new_partitions.insert(partition);
        }
    }

    /// Whether batches of `partition` may be sent: the coordinator knows the partition is in the transaction.
    pub fn is_partition_added(&self, topic: &Arc<str>, partition: i32) -> bool {
        matches!(
            self.state,
            TxnState::InTransaction | TxnState::Committing | TxnState::Aborting
        ) && self.added_partitions.contains(&(topic.clone(), partition))
    }

    /// The error to fail batches with that were not sent yet: they are dropped while aborting and once the
    /// transaction cannot commit.
    pub fn unsent_batches_error(&self) -> Option<TxnError> {
        match &self.state {
            TxnState::Aborting => Some(TxnError::Aborted),
            TxnState::AbortableError(error) => Some(TxnError::MustAbort(Box::new(error.clone()))),
            _ => None,
        }
    }

    /// A Produce response of the transaction carried `error` for a batch that will not be retried.
    pub fn on_produce_error(&mut self, error: ResponseError) {
        match classify_txn_error(ApiKey::Produce, error) {
            TxnErrorAction::Fenced => self.become_fatal(TxnError::Fenced {
                transactional_id: self.transactional_id.clone(),
                api: ApiKey::Produce,
                error,
            }),
            TxnErrorAction::Abortable { bump_epoch } => {
                if bump_epoch {
                    self.epoch_bump_required = true;
                }
                self.become_abortable(TxnError::Broker {
                    api: ApiKey::Produce,
                    error,
                    class: TxnErrorClass::Abortable,
                });
            }
            TxnErrorAction::Fatal => self.become_fatal(TxnError::Broker {
                api: ApiKey::Produce,
                error,
                class: TxnErrorClass::Fatal,
            }),
            TxnErrorAction::Retry
            | TxnErrorAction::RetrySoon
            | TxnErrorAction::RetryAfterRediscovery => {}
        }
    }

    /// Records of the transaction failed: it cannot commit.
    pub fn on_records_failed(&mut self, reason: String) {
        self.become_abortable(TxnError::RecordsFailed { reason });
    }

    /// A batch that may have reached the broker failed, leaving a sequence gap: the abort bumps the epoch.
    pub fn require_epoch_bump(&mut self) {
        self.epoch_bump_required = true;
    }

    fn become_abortable(&mut self, error: TxnError) {
        match self.state {
            TxnState::InTransaction | TxnState::Committing => {}
            // Aborting anyway; Fatal and an earlier abortable error stay as they are.
            _ => return,
        }
        self.state = TxnState::AbortableError(error.clone());
        self.new_partitions.clear();
        self.pending_offsets = None;
        let operation = self.operation.take();
        self.events.push_back(TxnEvent::TransactionFailed {
            operation,
            class: TxnErrorClass::Abortable,
            error,
        });
    }

    fn become_fatal(&mut self, error: TxnError) {
        if matches!(self.state, TxnState::Fatal(_)) {
            return;
        }
        self.state = TxnState::Fatal(error.clone());
        self.new_partitions.clear();
        self.pending_offsets = None;
        let operation = self.operation.take();
        self.effects.push_back(TxnEffect::Fatal(error.clone()));
        self.events.push_back(TxnEvent::TransactionFailed {
            operation,
            class: TxnErrorClass::Fatal,
            error,
        });
    }

    /// Applies the classification of `error`, answered to `api`; `retry` puts the request's work back.
    fn handle_error(&mut self, api: ApiKey, error: ResponseError, now: Instant) {
        let action = classify_txn_error(api, error);
        tracing::debug!(
            ?api,
            ?error,
            ?action,
            state = self.state.name(),
            "transaction coordinator error"
        );
        match action {
            TxnErrorAction::RetryAfterRediscovery => {
                if api == ApiKey::TxnOffsetCommit {
                    self.group_coordinator = None;
                } else {
                    self.coordinator = None;
                }
                self.back_off(now, false);
            }
            TxnErrorAction::Retry => self.back_off(now, false),
            TxnErrorAction::RetrySoon => self.back_off(now, true),
            TxnErrorAction::Abortable { bump_epoch } => {
                if bump_epoch {
                    self.epoch_bump_required = true;
                }
                if self.state == TxnState::Aborting {
                    if api == ApiKey::EndTxn {
                        // The abort itself cannot finish (e.g. an unknown producer id): a new epoch aborts
                        // whatever the coordinator still holds open for our transactional id.
                        self.epoch_bump_required = true;
                        self.bumping_after_abort = true;
                    }
                } else if self.state == TxnState::Initializing {
                    self.become_fatal(TxnError::Broker {
                        api,
                        error,
                        class: TxnErrorClass::Fatal,
                    })
                } else {
                    self.become_abortable(TxnError::Broker {
                        api,
                        error,
                        class: TxnErrorClass::Abortable,
                    });
                }
            }
            TxnErrorAction::Fenced => self.become_fatal(TxnError::Fenced {
                transactional_id: self.transactional_id.clone(),
                api,
                error,
            }),
            TxnErrorAction::Fatal => self.become_fatal(TxnError::Broker {
                api,
                error,
                class: TxnErrorClass::Fatal,
            }),
        }
    }

    fn back_off(&mut self, now: Instant, soon: bool) {
        self.attempts += 1;
        let delay = if soon {
            CONCURRENT_TRANSACTIONS_BACKOFF.min(self.retry_backoff)
        } else {
            let factor = 1u32 << self.attempts.saturating_sub(1).min(10);
            (self.retry_backoff * factor).min(self.retry_backoff_max.max(self.retry_backoff))
        };
        self.not_before = Some(now + delay);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.in_flight.is_some() {
            return None;
        }
        self.not_before
    }

    // -----------------------------------------------------------------------------------------------------
    // Requests
    // -----------------------------------------------------------------------------------------------------

    fn transactional_id_field(&self) -> TransactionalId {
        TransactionalId(StrBytes::from_string(self.transactional_id.clone()))
    }

    fn producer_fields(&self) -> (ProducerId, i16) {
        let (producer_id, epoch) = self.producer.unwrap_or((-1, -1));
        (ProducerId(producer_id), epoch)
    }

    fn send(
        &mut self,
        tokens: &mut TokenSource,
        broker: BrokerId,
        request: Request,
        kind: TxnRequest,
    ) -> Option<Transmit> {
        let token = tokens.next_token();
        self.in_flight = Some(InFlight {
            token,
            request: kind,
        });
        Some(Transmit {
            broker,
            token,
            request,
            expects_response: true,
        })
    }

    fn transaction_key(&self) -> CoordinatorKey {
        CoordinatorKey::Transaction(self.transactional_id.clone())
    }

    fn find_coordinator(
        &mut self,
        key: CoordinatorKey,
        tokens: &mut TokenSource,
        progress: &ProducerProgress<'_>,
    ) -> Option<Transmit> {
        let (broker, version) = progress.lookup_broker?;
        let request = key.request(Some(version));
        self.send(
            tokens,
            broker,
            Request::FindCoordinator(request),
            TxnRequest::FindCoordinator(key),
        )
    }

    /// The next coordinator request, if one is due. The producer drops unsent batches of an abort before.
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
        tokens: &mut TokenSource,
        progress: ProducerProgress<'_>,
    ) -> Option<Transmit> {
        if self.in_flight.is_some() || self.not_before.is_some_and(|t| now < t) {
            return None;
        }
        match self.state {
            TxnState::Initializing => self.poll_init_producer_id(false, tokens, &progress),
            TxnState::InTransaction | TxnState::Committing => {
                if !self.new_partitions.is_empty() {
                    return self.poll_add_partitions(tokens, &progress);
                }
                if self.pending_offsets.is_some() {
                    return self.poll_offsets(tokens, &progress);
                }
                if self.state == TxnState::Committing && progress.outstanding_records == 0 {
                    return self.poll_end_txn(true, tokens, &progress);
                }
                None
            }
            TxnState::Aborting => {
                if progress.outstanding_records > 0 {
                    return None; // in-flight batches first: the abort marker must come after them
                }
                if self.bumping_after_abort {
                    return self.poll_init_producer_id(true, tokens, &progress);
                }
                self.poll_end_txn(false, tokens, &progress)
            }
            TxnState::Uninitialized
            | TxnState::Ready
            | TxnState::AbortableError(_)
            | TxnState::Fatal(_) => None,
        }
    }

    fn poll_init_producer_id(
        &mut self,
        bumping: bool,
        tokens: &mut TokenSource,
        progress: &ProducerProgress<'_>,
    ) -> Option<Transmit> {
        let Some(coordinator) = self.coordinator else {
            return self.find_coordinator(self.transaction_key(), tokens, progress);
        };
        // KIP-360: v3+ bumps the epoch of the producer id we name, and answers PRODUCER_FENCED if another
        // producer took over. Without v3, a plain InitProducerId for the transactional id bumps it too.
        let bump_from = self
            .producer
            .filter(|_| bumping && supports_epoch_bump(progress.versions.get(&coordinator)));
        let request = init_producer_id_request(
            Some(&self.transactional_id),
            self.transaction_timeout_ms,
            bump_from,
        );
        self.send(
            tokens,
            coordinator,
            Request::InitProducerId(request),
            TxnRequest::InitProducerId { bumping },
        )
    }

    fn poll_add_partitions(
        &mut self,
        tokens: &mut TokenSource,
        progress: &ProducerProgress<'_>,
    ) -> Option<Transmit> {
        let Some(coordinator) = self.coordinator else {
            return self.find_coordinator(self.transaction_key(), tokens, progress);
        };
        let partitions: Vec<TopicPartition> = std::mem::take(&mut self.new_partitions)
            .into_iter()
            .collect();
        self.adding_partitions = partitions.iter().cloned().collect();
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (topic, partition) in &partitions {
            topics.entry(topic).or_default().push(*partition);
        }
        let topics: Vec<AddPartitionsToTxnTopic> = topics
            .into_iter()
            .map(|(topic, partitions)| {
                AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                    .with_partitions(partitions)
            })
            .collect();
        let (producer_id, epoch) = self.producer_fields();
        let request = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(self.transactional_id_field())
            .with_v3_and_below_producer_id(producer_id)
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(topics);
        self.send(
            tokens,
            coordinator,
            Request::AddPartitionsToTxn(request),
            TxnRequest::AddPartitions(partitions),
        )
    }

    fn poll_offsets(
        &mut self,
        tokens: &mut TokenSource,
        progress: &ProducerProgress<'_>,
    ) -> Option<Transmit> {
        let pending = self.pending_offsets.as_ref()?;
        let group_id = pending.group.group_id.clone();
        let (producer_id, epoch) = self.producer_fields();
        if !pending.added_to_txn {
            let Some(coordinator) = self.coordinator else {
                return self.find_coordinator(self.transaction_key(), tokens, progress);
            };
            let request = AddOffsetsToTxnRequest::default()
                .with_transactional_id(self.transactional_id_field())
                .with_producer_id(producer_id)
                .with_producer_epoch(epoch)
                .with_group_id(GroupId(StrBytes::from_string(group_id)));
            return self.send(
                tokens,
                coordinator,
                Request::AddOffsetsToTxn(request),
                TxnRequest::AddOffsets,
            );
        }
        let group_coordinator = match &self.group_coordinator {
            Some((group, broker)) if *group == group_id => *broker,
            _ => {
                return self.find_coordinator(CoordinatorKey::Group(group_id), tokens, progress);
            }
        };
        let mut topics: BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> = BTreeMap::new();
        for offset in &pending.offsets {
            topics.entry(&offset.topic).or_default().push(
                TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(offset.partition)
                    .with_committed_offset(offset.offset)
                    .with_committed_leader_epoch(offset.leader_epoch.unwrap_or(-1))
                    .with_committed_metadata(offset.metadata.clone().map(StrBytes::from_string)),
            );
        }
        let group = &pending.group;
        let request = TxnOffsetCommitRequest::default()
            .with_transactional_id(self.transactional_id_field())
            .with_group_id(GroupId(StrBytes::from_string(group_id)))
            .with_producer_id(producer_id)
            .with_producer_epoch(epoch)
            .with_generation_id(group.generation_id)
            .with_member_id(StrBytes::from_string(group.member_id.clone()))
            .with_group_instance_id(group.group_instance_id.clone().map(StrBytes::from_string))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        TxnOffsetCommitRequestTopic::default()
                            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        self.send(
            tokens,
            group_coordinator,
            Request::TxnOffsetCommit(request),
            TxnRequest::TxnOffsetCommit,
        )
    }

    fn poll_end_txn(
        &mut self,
        commit: bool,
        tokens: &mut TokenSource,
        progress: &ProducerProgress<'_>,
    ) -> Option<Transmit> {
        let started = !self.added_partitions.is_empty() || self.offsets_added;
        if !started {
            // Nothing reached the coordinator: there is nothing to end (as in the Java client).
            self.end_txn_done(commit);
            return if self.bumping_after_abort {
                self.poll_init_producer_id(true, tokens, progress)
            } else {
                None
            };
        }
        let Some(coordinator) = self.coordinator else {
            return self.find_coordinator(self.transaction_key(), tokens, progress);
        };
        let (producer_id, epoch) = self.producer_fields();
        let request = EndTxnRequest::default()
            .with_transactional_id(self.transactional_id_field())
            .with_producer_id(producer_id)
            .with_producer_epoch(epoch)
            .with_committed(commit);
        self.send(
            tokens,
            coordinator,
            Request::EndTxn(request),
            TxnRequest::EndTxn { commit },
        )
    }

    /// EndTxn succeeded (or was not needed).
    fn end_txn_done(&mut self, commit: bool) {
        self.added_partitions.clear();
        self.new_partitions.clear();
        self.offsets_added = false;
        self.pending_offsets = None;
        if commit {
            self.state = TxnState::Ready;
            self.operation = None;
            self.events.push_back(TxnEvent::TransactionCommitted);
        } else if self.epoch_bump_required {
            self.bumping_after_abort = true;
        } else {
            self.abort_done();
        }
    }

    fn abort_done(&mut self) {
        self.state = TxnState::Ready;
        self.operation = None;
        self.bumping_after_abort = false;
        self.epoch_bump_required = false;
        self.events.push_back(TxnEvent::TransactionAborted);
    }

    // -----------------------------------------------------------------------------------------------------
    // Responses
    // -----------------------------------------------------------------------------------------------------

    /// Handles the answer to the request in flight (the caller checked [`TransactionManager::owns`]).
    pub fn handle_response(&mut self, token: RequestToken, result: ResponseResult, now: Instant) {
        let Some(in_flight) = self.in_flight.take().filter(|f| f.token == token) else {
            return;
        };
        self.adding_partitions.clear();
        let response = match result {
            Ok(response) => response,
            Err(TransportError::Protocol { broker, error }) => {
                // The coordinator cannot be spoken to (no common version, undecodable answer): retrying
                // would give the same answer.
                self.become_fatal(TxnError::Protocol {
                    reason: format!("broker {broker}: {error}"),
                });
                return;
            }
            Err(_) => {
                self.transport_failed(&in_flight.request, now);
                return;
            }
        };
        match (in_flight.request, response) {
            (TxnRequest::FindCoordinator(key), Response::FindCoordinator(response)) => {
                self.handle_find_coordinator(key, &response, now)
            }
            (TxnRequest::InitProducerId { bumping }, Response::InitProducerId(response)) => {
                match response_error(response.error_code) {
                    None => {
                        self.attempts = 0;
                        let (producer_id, epoch) =
                            (response.producer_id.0, response.producer_epoch);
                        self.producer = Some((producer_id, epoch));
                        self.effects
                            .push_back(TxnEffect::ProducerId { producer_id, epoch });
                        if bumping {
                            self.abort_done();
                        } else {
                            self.state = TxnState::Ready;
                            self.operation = None;
                            self.events
                                .push_back(TxnEvent::Initialized { producer_id, epoch });
                        }
                    }
                    Some(error) => self.handle_error(ApiKey::InitProducerId, error, now),
                }
            }
            (TxnRequest::AddPartitions(partitions), Response::AddPartitionsToTxn(response)) => {
                self.handle_add_partitions(partitions, &response, now)
            }
            (TxnRequest::AddOffsets, Response::AddOffsetsToTxn(response)) => {
                match response_error(response.error_code) {
                    None => {
                        self.attempts = 0;
                        self.offsets_added = true;
                        if let Some(pending) = &mut self.pending_offsets {
                            pending.added_to_txn = true;
                        }
                    }
                    Some(error) => self.handle_error(ApiKey::AddOffsetsToTxn, error, now),
                }
            }
            (TxnRequest::TxnOffsetCommit, Response::TxnOffsetCommit(response)) => {
                self.handle_txn_offset_commit(&response, now)
            }
            (TxnRequest::EndTxn { commit }, Response::EndTxn(response)) => {
                match response_error(response.error_code) {
                    None => {
                        self.attempts = 0;
                        self.end_txn_done(commit);
                    }
                    Some(error) => self.handle_error(ApiKey::EndTxn, error, now),
                }
            }
            (request, _) => self.transport_failed(&request, now),
        }
    }

    fn transport_failed(&mut self, request: &TxnRequest, now: Instant) {
        match request {
            TxnRequest::FindCoordinator(_) => {}
            TxnRequest::TxnOffsetCommit => self.group_coordinator = None,
            TxnRequest::AddPartitions(partitions) => {
                self.coordinator = None;
                self.requeue_partitions(partitions);
            }
            _ => self.coordinator = None,
        }
        self.back_off(now, false);
    }

    fn requeue_partitions(&mut self, partitions: &[TopicPartition]) {
        if matches!(self.state, TxnState::InTransaction | TxnState::Committing) {
            self.new_partitions.extend(partitions.iter().cloned());
        }
    }

    fn handle_find_coordinator(
        &mut self,
        key: CoordinatorKey,
        response: &FindCoordinatorResponse,
        now: Instant,
    ) {
        let coordinator = match read_find_coordinator(response, key.name()) {
            Lookup::Found(coordinator) => coordinator,
            Lookup::Failed(error) => {
                let api = match key {
                    CoordinatorKey::Transaction(_) => ApiKey::FindCoordinator,
                    // Group errors (authorization) belong to the offsets of the transaction.
                    CoordinatorKey::Group(_) => ApiKey::TxnOffsetCommit,
                };
                self.handle_error(api, error, now);
                return;
            }
            Lookup::NoNode => {
                self.back_off(now, false);
                return;
            }
        };
        let node_id = coordinator.broker;
        self.attempts = 0;
        self.not_before = None;
        self.coordinator_addresses
            .insert(node_id, coordinator.address);
        match key {
            CoordinatorKey::Transaction(_) => self.coordinator = Some(node_id),
            CoordinatorKey::Group(group) => self.group_coordinator = Some((group, node_id)),
        }
    }

    fn handle_add_partitions(
        &mut self,
        partitions: Vec<TopicPartition>,
        response: &AddPartitionsToTxnResponse,
        now: Instant,
    ) {
        // v4+ (not used by us) has a top-level error; v0-3 one per partition.
        if let Some(error) = response_error(response.error_code) {
            self.requeue_partitions(&partitions);
            self.handle_error(ApiKey::AddPartitionsToTxn, error, now);
            return;
        }
        let mut retry: Vec<TopicPartition> = Vec::new();
        let mut worst: Option<(TxnErrorAction, ResponseError)> = None;
        for (topic, partition) in partitions {
            let code = response
                .results_by_topic_v3_and_below
                .iter()
                .filter(|t| t.name.0.as_str() == &*topic)
                .flat_map(|t| t.results_by_partition.iter())
                .find(|p| p.partition_index == partition)
                .map(|p| p.partition_error_code);
            match code.map(response_error) {
                Some(None) => {
                    self.added_partitions.insert((topic, partition));
                }
                Some(Some(ResponseError::OperationNotAttempted)) | None => {
                    retry.push((topic, partition))
                }
                Some(Some(error)) => {
                    let action = classify_txn_error(ApiKey::AddPartitionsToTxn, error);
                    retry.push((topic, partition));
                    if worst.is_none_or(|(w, _)| severity(action) > severity(w)) {
                        worst = Some((action, error));
                    }
                }
            }
        }
        match worst {
            None if retry.is_empty() => self.attempts = 0,
            None => {
                // Missing from the answer or not attempted without a reason: ask again.
                self.requeue_partitions(&retry);
                self.back_off(now, false);
            }
            Some((_, error)) => {
                self.requeue_partitions(&retry);
                self.handle_error(ApiKey::AddPartitionsToTxn, error, now);
            }
        }
    }

    fn handle_txn_offset_commit(&mut self, response: &TxnOffsetCommitResponse, now: Instant) {
        let Some(pending) = &mut self.pending_offsets else {
            return;
        };
        let mut worst: Option<(TxnErrorAction, ResponseError)> = None;
        pending.offsets.retain(|offset| {
            let code = response
                .topics
                .iter()
                .filter(|t| t.name.0.as_str() == offset.topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == offset.partition)
                .map(|p| p.error_code);
            match code.map(response_error) {
                Some(None) => false,
                None => true,
                Some(Some(error)) => {
                    let action = classify_txn_error(ApiKey::TxnOffsetCommit, error);
                    if worst.is_none_or(|(w, _)| severity(action) > severity(w)) {
                        worst = Some((action, error));
                    }
                    true
                }
            }
        });
        if pending.offsets.is_empty() {
            let group_id = pending.group.group_id.clone();
            self.pending_offsets = None;
            self.attempts = 0;
            self.operation = None;
            self.events.push_back(TxnEvent::OffsetsSent { group_id });
            return;
        }
        match worst {
            Some((_, error)) => self.handle_error(ApiKey::TxnOffsetCommit, error, now),
            None => self.back_off(now, false),
        }
    }
}

/// Which of two outcomes of one response decides what happens: fencing over fatal over abortable over retry.
fn severity(action: TxnErrorAction) -> u8 {
    match action {
        TxnErrorAction::Retry => 0,
        TxnErrorAction::RetrySoon => 1,
        TxnErrorAction::RetryAfterRediscovery => 2,
        TxnErrorAction::Abortable { bump_epoch: false } => 3,
        TxnErrorAction::Abortable { bump_epoch: true } => 4,
        TxnErrorAction::Fatal => 5,
        TxnErrorAction::Fenced => 6,
    }
}
