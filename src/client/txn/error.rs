//! What went wrong in a transaction, and the one classification every transactional path uses.
//!
//! Kafka's transaction errors fall in three classes (KIP-98, KIP-360, KIP-588, KIP-890): retriable (the client
//! retries by itself, after finding the coordinator again if it moved), abortable (the transaction can no
//! longer commit: the user aborts it and carries on with the next one) and fatal (the producer is fenced or
//! misconfigured: every later call fails and the user must close it).

use std::fmt;

use kafka_protocol::messages::ApiKey;

use crate::client::coordinator::coordinator_moved;
use crate::client::errors::{classify, ErrorAction, ResponseError};

/// The two classes of error a user sees; retriable errors never reach the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnErrorClass {
    /// Abort the transaction, then go on with the next one.
    Abortable,
    /// The producer can do nothing more; close it.
    Fatal,
}

impl fmt::Display for TxnErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TxnErrorClass::Abortable => "abortable",
            TxnErrorClass::Fatal => "fatal",
        })
    }
}

/// The user-facing transactional operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOperation {
    InitTransactions,
    BeginTransaction,
    SendOffsets,
    Commit,
    Abort,
    Send,
}

impl fmt::Display for TxnOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TxnOperation::InitTransactions => "init_transactions",
            TxnOperation::BeginTransaction => "begin_transaction",
            TxnOperation::SendOffsets => "send_offsets_to_transaction",
            TxnOperation::Commit => "commit_transaction",
            TxnOperation::Abort => "abort_transaction",
            TxnOperation::Send => "send",
        })
    }
}

/// Why a transactional operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    #[error("the producer was fenced: another producer with transactional.id `{transactional_id}` started (or the coordinator aborted a transaction that outlived transaction.timeout.ms); {api:?} answered {error}. Close this producer")]
    Fenced {
        transactional_id: String,
        api: ApiKey,
        error: ResponseError,
    },
    #[error("{api:?} failed: {error} (code {}); {}", error.code(), class_advice(*class))]
    Broker {
        api: ApiKey,
        error: ResponseError,
        class: TxnErrorClass,
    },
    #[error("records of the transaction were not delivered ({reason}); abort the transaction")]
    RecordsFailed { reason: String },
    #[error("the transaction was aborted before these records were sent")]
    Aborted,
    #[error("cannot {operation} while the producer is {state}")]
    InvalidState {
        operation: TxnOperation,
        state: &'static str,
    },
    #[error("cannot {operation}: {pending} is still in progress; wait for it first")]
    OperationInProgress {
        operation: TxnOperation,
        pending: TxnOperation,
    },
    #[error("the producer is not transactional: set transactional.id")]
    NotTransactional,
    #[error("the transaction coordinator cannot be reached: {reason}")]
    Protocol { reason: String },
    #[error("the transaction failed earlier and must be aborted: {0}")]
    MustAbort(Box<TxnError>),
    #[error("the producer failed and cannot be used any more: {0}")]
    FatalEarlier(Box<TxnError>),
}

fn class_advice(class: TxnErrorClass) -> &'static str {
    match class {
        TxnErrorClass::Abortable => "abort the transaction, then start a new one",
        TxnErrorClass::Fatal => "the producer cannot go on; close it",
    }
}

impl TxnError {
    /// Whether the user can abort and carry on, or must close the producer.
    pub fn class(&self) -> TxnErrorClass {
        match self {
            TxnError::Fenced { .. } | TxnError::Protocol { .. } | TxnError::FatalEarlier(_) => {
                TxnErrorClass::Fatal
            }
            TxnError::Broker { class, .. } => *class,
            TxnError::NotTransactional => TxnErrorClass::Fatal,
            TxnError::RecordsFailed { .. }
            | TxnError::Aborted
            | TxnError::InvalidState { .. }
            | TxnError::OperationInProgress { .. }
            | TxnError::MustAbort(_) => TxnErrorClass::Abortable,
        }
    }

    /// Whether this error means another producer took over the transactional id.
    pub fn is_fenced(&self) -> bool {
        match self {
            TxnError::Fenced { .. } => true,
            TxnError::FatalEarlier(inner) | TxnError::MustAbort(inner) => inner.is_fenced(),
            _ => false,
        }
    }
}

/// What to do about an error code in a transactional response (or a Produce response of a transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnErrorAction {
    /// The coordinator moved or is not there yet: FindCoordinator again, then retry.
    RetryAfterRediscovery,
    /// Retry the same request after backoff.
    Retry,
    /// Retry soon: the previous transaction's markers are still being written (CONCURRENT_TRANSACTIONS).
    RetrySoon,
    /// The transaction cannot commit; with `bump_epoch` the abort also bumps the epoch (KIP-360), because the
    /// broker lost or no longer trusts this producer's sequence state.
    Abortable {
        bump_epoch: bool,
    },
    /// Another producer took over the transactional id (or the coordinator expired our transaction).
    Fenced,
    Fatal,
}

/// The classification of `error` answered to `api` (a transactional API, FindCoordinator or Produce).
pub fn classify_txn_error(api: ApiKey, error: ResponseError) -> TxnErrorAction {
    use ResponseError::*;
    match error {
        error if coordinator_moved(error) => TxnErrorAction::RetryAfterRediscovery,
        ConcurrentTransactions => TxnErrorAction::RetrySoon,
        CoordinatorLoadInProgress => TxnErrorAction::Retry,
        // A partition the coordinator does not know yet (just created): the Java client retries.
        UnknownTopicOrPartition
            if matches!(api, ApiKey::AddPartitionsToTxn | ApiKey::TxnOffsetCommit) =>
        {
            TxnErrorAction::Retry
        }
        RequestTimedOut if api == ApiKey::TxnOffsetCommit => TxnErrorAction::RetryAfterRediscovery,
        ProducerFenced | InvalidProducerEpoch => TxnErrorAction::Fenced,
        TransactionalIdAuthorizationFailed
        | ClusterAuthorizationFailed
        | InvalidTxnState
        | InvalidTransactionTimeout
        | UnsupportedVersion
        | UnsupportedForMessageFormat
        | TransactionCoordinatorFenced
        | InvalidRequest => TxnErrorAction::Fatal,
        UnknownProducerId | InvalidProducerIdMapping | OutOfOrderSequenceNumber => {
            TxnErrorAction::Abortable { bump_epoch: true }
        }
        TransactionAbortable
        | TopicAuthorizationFailed
        | GroupAuthorizationFailed
        | UnknownMemberId
        | IllegalGeneration
        | FencedInstanceId
        | RebalanceInProgress => TxnErrorAction::Abortable { bump_epoch: false },
        other if api == ApiKey::Produce => match classify(other) {
            ErrorAction::Retry | ErrorAction::RetryAfterMetadataRefresh => TxnErrorAction::Retry,
            ErrorAction::Fail => TxnErrorAction::Abortable { bump_epoch: false },
        },
        other if other.is_retriable() => TxnErrorAction::Retry,
        _ => TxnErrorAction::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinator_moves_are_rediscovered_and_load_in_progress_is_retried() {
        for api in [
            ApiKey::InitProducerId,
            ApiKey::AddPartitionsToTxn,
            ApiKey::EndTxn,
        ] {
            assert_eq!(
                classify_txn_error(api, ResponseError::NotCoordinator),
                TxnErrorAction::RetryAfterRediscovery
            );
            assert_eq!(
                classify_txn_error(api, ResponseError::CoordinatorNotAvailable),
                TxnErrorAction::RetryAfterRediscovery
            );
            assert_eq!(
                classify_txn_error(api, ResponseError::CoordinatorLoadInProgress),
                TxnErrorAction::Retry
            );
            assert_eq!(
                classify_txn_error(api, ResponseError::ConcurrentTransactions),
                TxnErrorAction::RetrySoon
            );
        }
    }

    #[test]
    fn fencing_is_fatal_on_every_transactional_api_and_on_produce() {
        for api in [
            ApiKey::InitProducerId,
            ApiKey::AddPartitionsToTxn,
            ApiKey::AddOffsetsToTxn,
            ApiKey::TxnOffsetCommit,
            ApiKey::EndTxn,
            ApiKey::Produce,
        ] {
            for error in [
                ResponseError::ProducerFenced,
                ResponseError::InvalidProducerEpoch,
            ] {
                assert_eq!(classify_txn_error(api, error), TxnErrorAction::Fenced);
            }
            assert_eq!(
                classify_txn_error(api, ResponseError::TransactionalIdAuthorizationFailed),
                TxnErrorAction::Fatal
            );
        }
    }

    #[test]
    fn lost_producer_state_is_abortable_with_an_epoch_bump() {
        assert_eq!(
            classify_txn_error(ApiKey::Produce, ResponseError::UnknownProducerId),
            TxnErrorAction::Abortable { bump_epoch: true }
        );
        assert_eq!(
            classify_txn_error(
                ApiKey::AddOffsetsToTxn,
                ResponseError::InvalidProducerIdMapping
            ),
            TxnErrorAction::Abortable { bump_epoch: true }
        );
    }

    #[test]
    fn authorization_and_group_errors_are_abortable() {
        assert_eq!(
            classify_txn_error(
                ApiKey::AddPartitionsToTxn,
                ResponseError::TopicAuthorizationFailed
            ),
            TxnErrorAction::Abortable { bump_epoch: false }
        );
        assert_eq!(
            classify_txn_error(
                ApiKey::TxnOffsetCommit,
                ResponseError::GroupAuthorizationFailed
            ),
            TxnErrorAction::Abortable { bump_epoch: false }
        );
        assert_eq!(
            classify_txn_error(ApiKey::TxnOffsetCommit, ResponseError::IllegalGeneration),
            TxnErrorAction::Abortable { bump_epoch: false }
        );
        assert_eq!(
            classify_txn_error(ApiKey::EndTxn, ResponseError::TransactionAbortable),
            TxnErrorAction::Abortable { bump_epoch: false }
        );
    }

    #[test]
    fn a_rejected_produce_batch_makes_the_transaction_abortable() {
        assert_eq!(
            classify_txn_error(ApiKey::Produce, ResponseError::MessageTooLarge),
            TxnErrorAction::Abortable { bump_epoch: false }
        );
        assert_eq!(
            classify_txn_error(ApiKey::Produce, ResponseError::NotLeaderOrFollower),
            TxnErrorAction::Retry
        );
    }

    #[test]
    fn broken_state_is_fatal() {
        assert_eq!(
            classify_txn_error(ApiKey::EndTxn, ResponseError::InvalidTxnState),
            TxnErrorAction::Fatal
        );
        assert_eq!(
            classify_txn_error(ApiKey::InitProducerId, ResponseError::UnsupportedVersion),
            TxnErrorAction::Fatal
        );
    }
}
