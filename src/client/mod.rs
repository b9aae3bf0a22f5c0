//! Sans-IO Kafka client state machines: metadata, producer, consumer.
//!
//! In the style of quinn-proto: a state machine never touches a socket, thread or clock. The caller (the
//! `runtime` layer) feeds it with `handle_response(broker, token, result, now)` and `handle_timeout(now)`, and
//! drains it with `poll_transmit(now)`, `poll_timeout()` and `poll_event()`. Every rule of the protocol (retries,
//! sequence numbers, epochs, offsets) lives here, where scripted broker replies can test it without a network.

pub mod admin;
pub mod config;
pub mod consumer;
pub mod coordinator;
pub mod errors;
pub mod group;
mod key_suggestion;
pub mod metadata;
pub mod partitioner;
pub mod producer;
pub mod producer_id;
pub mod records;
pub mod sasl;
#[cfg(test)]
pub(crate) mod testing;
pub mod tls_config;
pub mod topic_name;
pub mod txn;
pub mod worker_group;

use crate::protocol::{ProtocolError, Request, Response};

/// A broker's node id. Bootstrap servers, whose node ids are not yet known, get negative ids (see
/// [`bootstrap_broker_id`]).
pub type BrokerId = i32;

/// The id the client uses for the `index`-th bootstrap server before metadata names the real brokers.
pub fn bootstrap_broker_id(index: usize) -> BrokerId {
    -1 - index as BrokerId
}

/// Identifies one request a state machine handed out, so its response can be routed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestToken(pub u64);

/// Hands out request tokens in increasing order.
#[derive(Debug, Default)]
pub struct TokenSource {
    next: u64,
}

impl TokenSource {
    pub fn next_token(&mut self) -> RequestToken {
        self.next += 1;
        RequestToken(self.next)
    }
}

/// A request a state machine wants sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Transmit {
    pub broker: BrokerId,
    pub token: RequestToken,
    pub request: Request,
    /// False for Produce with acks=0: the broker sends nothing back, so the caller must not wait for a reply.
    pub expects_response: bool,
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("could not connect to broker {broker} ({address}): {reason}")]
    ConnectFailed {
        broker: BrokerId,
        address: String,
        reason: String,
    },
    #[error("connection to broker {broker} closed before the response arrived")]
    Disconnected { broker: BrokerId },
    #[error("broker {broker} did not answer within request.timeout.ms")]
    TimedOut { broker: BrokerId },
    #[error("broker {broker} has no known address")]
    UnknownBroker { broker: BrokerId },
    #[error("broker {broker}: {error}")]
    Protocol {
        broker: BrokerId,
        error: ProtocolError,
    },
    /// SASL authentication failed: the broker refused our credentials, or we refused the broker (SCRAM).
    #[error("authentication to broker {broker} ({address}) failed: {error}")]
    Authentication {
        broker: BrokerId,
        address: String,
        error: sasl::SaslError,
    },
}

impl TransportError {
    /// A response of another API than the request's: a bug in the caller, treated like a failed request.
    pub fn unexpected_response(broker: BrokerId, response: &Response) -> Self {
        TransportError::Protocol {
            broker,
            error: ProtocolError::UnsupportedApi {
                api: response.api_key(),
            },
        }
    }
}

/// What a caller hands back for one transmitted request.
pub type ResponseResult = Result<Response, TransportError>;
