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
mod requests;
mod responses;

pub use error::{classify_txn_error, TxnError, TxnErrorAction, TxnErrorClass, TxnOperation};

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::ApiKey;

use super::coordinator::CoordinatorKey;
use super::errors::ResponseError;
use super::{BrokerId, RequestToken};
use crate::protocol::versions::ApiVersionTable;

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
}
