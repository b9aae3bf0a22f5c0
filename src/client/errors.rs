//! One classification of Kafka error codes, used by every state machine.
//!
//! Kafka's own table says whether an error is retriable; on top of that the client needs to know which errors
//! mean "our metadata is stale" so that a retry goes to the right leader.

pub use kafka_protocol::ResponseError;

/// What a client should do about an error code in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    /// Retry after backoff; the partition's leader may have moved, so refresh metadata first.
    RetryAfterMetadataRefresh,
    /// Retry after backoff, same broker.
    Retry,
    /// Give up on this request; report the error.
    Fail,
}

/// The error for a code, `None` for 0.
pub fn response_error(code: i16) -> Option<ResponseError> {
    ResponseError::try_from_code(code)
}

/// How to react to `error` in a partition-level response (Produce, Fetch, ListOffsets).
pub fn classify(error: ResponseError) -> ErrorAction {
    use ResponseError::*;
    match error {
        NotLeaderOrFollower
        | UnknownTopicOrPartition
        | LeaderNotAvailable
        | FencedLeaderEpoch
        | UnknownLeaderEpoch
        | KafkaStorageError
        | NotCoordinator
        | CoordinatorNotAvailable
        | OffsetNotAvailable
        | ReplicaNotAvailable => ErrorAction::RetryAfterMetadataRefresh,
        other if other.is_retriable() => ErrorAction::Retry,
        _ => ErrorAction::Fail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leader_moves_refresh_metadata() {
        assert_eq!(
            classify(ResponseError::NotLeaderOrFollower),
            ErrorAction::RetryAfterMetadataRefresh
        );
        assert_eq!(
            classify(ResponseError::UnknownTopicOrPartition),
            ErrorAction::RetryAfterMetadataRefresh
        );
    }

    #[test]
    fn timeouts_retry_and_corruption_fails() {
        assert_eq!(classify(ResponseError::RequestTimedOut), ErrorAction::Retry);
        assert_eq!(
            classify(ResponseError::NotEnoughReplicas),
            ErrorAction::Retry
        );
        assert_eq!(classify(ResponseError::MessageTooLarge), ErrorAction::Fail);
        assert_eq!(
            classify(ResponseError::TopicAuthorizationFailed),
            ErrorAction::Fail
        );
    }
}
