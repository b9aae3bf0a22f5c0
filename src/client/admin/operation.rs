//! What every admin operation is: a request, where it goes, which answers ask to be sent again, and how the
//! answer reads. Also the one error type of admin operations.

use kafka_protocol::messages::ApiKey;

use crate::client::coordinator::{read_find_coordinator, Lookup};
use crate::client::errors::ResponseError;
use crate::client::{BrokerId, TransportError};
use crate::protocol::{Request, Response};

/// Where an admin request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminTarget {
    AnyBroker,
    /// The controller (CreateTopics on ZooKeeper-mode clusters; KRaft brokers forward it).
    Controller,
    /// One broker by node id, once metadata names it (a partition's leader, a broker's own groups).
    Broker(BrokerId),
    /// The coordinator of a group, found with FindCoordinator first.
    GroupCoordinator(String),
}

/// Why an answer is sent again (within `request.timeout.ms` of the first attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerRetry {
    /// NOT_CONTROLLER and the like: the cluster changed; refresh metadata, then ask again.
    AfterMetadataRefresh,
    /// NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE: look the coordinator up again, then ask it.
    AfterRediscovery,
    /// COORDINATOR_LOAD_IN_PROGRESS and the like: ask the same broker again after a backoff.
    AfterBackoff,
}

/// An answer and the broker that gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub broker: BrokerId,
    pub response: Response,
}

/// What went wrong in an admin operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error("{api:?} got no response: {error}")]
    Transport { api: ApiKey, error: TransportError },
    #[error("{api:?} got no answer within request.timeout.ms ({waited_ms} ms)")]
    TimedOut { api: ApiKey, waited_ms: u128 },
    #[error("the broker answered {api:?} with {got:?}")]
    UnexpectedResponse { api: ApiKey, got: ApiKey },
    #[error("could not find the coordinator of group {group}: {error}")]
    Coordinator { group: String, error: ResponseError },
    #[error("{api:?} failed: {error}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Broker {
        api: ApiKey,
        error: ResponseError,
        message: Option<String>,
    },
    #[error("the {api:?} answer does not mention {what}")]
    Missing { api: ApiKey, what: String },
}

impl AdminError {
    /// The broker's error code, where the failure is one.
    pub fn response_error(&self) -> Option<ResponseError> {
        match self {
            AdminError::Coordinator { error, .. } | AdminError::Broker { error, .. } => {
                Some(*error)
            }
            _ => None,
        }
    }
}

/// One admin operation. The admin client sends [`request`](Self::request) to [`target`](Self::target),
/// sends it again while [`retry`](Self::retry) says so, and hands the answer to [`read`](Self::read).
pub trait AdminOperation {
    type Output;

    /// The API of the request: names it in errors.
    const API: ApiKey;

    fn target(&self) -> AdminTarget;

    fn request(&self) -> Request;

    /// Whether an answer asks to be sent again.
    fn retry(response: &Response) -> Option<AnswerRetry> {
        let _ = response;
        None
    }

    fn read(self, answer: Answer) -> Result<Self::Output, AdminError>;
}

/// An answer of another API than the operation's.
pub(crate) fn unexpected(api: ApiKey, response: &Response) -> AdminError {
    AdminError::UnexpectedResponse {
        api,
        got: response.api_key(),
    }
}

/// As [`unexpected`], for an operation on `group`: when the group's coordinator could not be found, the
/// admin client answers with the FindCoordinator response itself, which becomes [`AdminError::Coordinator`].
pub(crate) fn unexpected_for_group(api: ApiKey, group: &str, response: &Response) -> AdminError {
    if let Response::FindCoordinator(lookup) = response {
        if let Lookup::Failed(error) = read_find_coordinator(lookup, group) {
            return AdminError::Coordinator {
                group: group.to_owned(),
                error,
            };
        }
    }
    unexpected(api, response)
}

/// The error of `code` answered to `api`, if any.
pub(crate) fn broker_error(
    api: ApiKey,
    code: i16,
    message: Option<&str>,
) -> Result<(), AdminError> {
    match crate::client::errors::response_error(code) {
        None => Ok(()),
        Some(error) => Err(AdminError::Broker {
            api,
            error,
            message: message.map(str::to_owned),
        }),
    }
}

/// The retry a group-level error code asks for (coordinator moved or loading).
pub(crate) fn coordinator_retry(code: i16) -> Option<AnswerRetry> {
    let error = crate::client::errors::response_error(code)?;
    if crate::client::coordinator::coordinator_moved(error) {
        Some(AnswerRetry::AfterRediscovery)
    } else if error == ResponseError::CoordinatorLoadInProgress {
        Some(AnswerRetry::AfterBackoff)
    } else {
        None
    }
}
