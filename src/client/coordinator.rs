//! Finding a coordinator (a group's or a transactional id's), remembering it, and forgetting it when it moves.
//!
//! Shared by the group member, the transaction layer and the admin client: the FindCoordinator request in
//! whichever shape the version wants, the answer read in either shape (v0-3 at the top level, v4+ one entry
//! per key), and what NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE mean (the coordinator moved: look it up
//! again). Sans-IO: no socket, no clock; time is an argument.

use std::time::Instant;

use kafka_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::errors::{response_error, ResponseError};
use super::{BrokerId, RequestToken, TokenSource, Transmit};
use crate::protocol::Request;

/// FindCoordinator key type of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// FindCoordinator key type of a transactional id.
const KEY_TYPE_TRANSACTION: i8 = 1;

/// What a coordinator is looked up for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CoordinatorKey {
    Group(String),
    Transaction(String),
}

impl CoordinatorKey {
    pub fn name(&self) -> &str {
        match self {
            CoordinatorKey::Group(name) | CoordinatorKey::Transaction(name) => name,
        }
    }

    fn key_type(&self) -> i8 {
        match self {
            CoordinatorKey::Group(_) => KEY_TYPE_GROUP,
            CoordinatorKey::Transaction(_) => KEY_TYPE_TRANSACTION,
        }
    }

    /// The FindCoordinator request for this key, in the shape of `version` (v4, KIP-699, looks up a list of
    /// keys; `None` when the version is not known yet: the single-key shape every broker speaks).
    pub fn request(&self, version: Option<i16>) -> FindCoordinatorRequest {
        let request = FindCoordinatorRequest::default().with_key_type(self.key_type());
        let name = StrBytes::from_string(self.name().to_owned());
        if version.is_some_and(|v| v >= 4) {
            request.with_coordinator_keys(vec![name])
        } else {
            request.with_key(name)
        }
    }
}

/// A coordinator FindCoordinator named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    pub broker: BrokerId,
    /// `host:port`, for connecting before metadata lists the broker.
    pub address: String,
}

/// What a FindCoordinator answer says about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Coordinator),
    /// No error, but no node either: ask again after a backoff.
    NoNode,
    Failed(ResponseError),
}

/// Reads the answer for `key` (v4+ answers per key; earlier versions at the top level).
pub fn read_find_coordinator(response: &FindCoordinatorResponse, key: &str) -> Lookup {
    let (error_code, node_id, host, port) = match response
        .coordinators
        .iter()
        .find(|c| c.key.as_str() == key)
        .or(response.coordinators.first())
    {
        Some(c) => (c.error_code, c.node_id.0, c.host.as_str(), c.port),
        None => (
            response.error_code,
            response.node_id.0,
            response.host.as_str(),
            response.port,
        ),
    };
    if let Some(error) = response_error(error_code) {
        return Lookup::Failed(error);
    }
    if node_id < 0 {
        return Lookup::NoNode;
    }
    Lookup::Found(Coordinator {
        broker: node_id,
        address: format!("{host}:{port}"),
    })
}

/// NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE: the coordinator we asked is not (or no longer) the one; look
/// it up again before retrying.
pub fn coordinator_moved(error: ResponseError) -> bool {
    matches!(
        error,
        ResponseError::NotCoordinator | ResponseError::CoordinatorNotAvailable
    )
}

/// An error a coordinator answers while it moves or loads: retry (after a lookup if it moved).
pub fn is_coordinator_retriable(error: ResponseError) -> bool {
    coordinator_moved(error) || error == ResponseError::CoordinatorLoadInProgress
}

/// The coordinator of one key: known, being looked up, or waiting for the lookup's backoff.
#[derive(Debug, Clone)]
pub struct CoordinatorState {
    key: CoordinatorKey,
    known: Option<Coordinator>,
    in_flight: Option<RequestToken>,
    not_before: Option<Instant>,
}

impl CoordinatorState {
    pub fn new(key: CoordinatorKey) -> Self {
        Self {
            key,
            known: None,
            in_flight: None,
            not_before: None,
        }
    }

    pub fn key(&self) -> &CoordinatorKey {
        &self.key
    }

    pub fn known(&self) -> Option<&Coordinator> {
        self.known.as_ref()
    }

    pub fn broker(&self) -> Option<BrokerId> {
        self.known.as_ref().map(|c| c.broker)
    }

    /// The address of `broker` if it is the known coordinator.
    pub fn address(&self, broker: BrokerId) -> Option<&str> {
        self.known
            .as_ref()
            .filter(|c| c.broker == broker)
            .map(|c| c.address.as_str())
    }

    pub fn owns(&self, token: RequestToken) -> bool {
        self.in_flight == Some(token)
    }

    pub fn is_looking_up(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Forgets the coordinator (it moved); returns whether one was known.
    pub fn forget(&mut self) -> bool {
        self.known.take().is_some()
    }

    /// No lookup before `until`.
    pub fn back_off(&mut self, until: Instant) {
        self.not_before = Some(until);
    }

    /// When the lookup's backoff ends, if one holds it.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.not_before
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.not_before.is_some_and(|t| now >= t) {
            self.not_before = None;
        }
    }

    /// Whether a lookup may go out now: none known, none in flight, no backoff holding it.
    pub fn lookup_due(&self, now: Instant) -> bool {
        self.known.is_none() && self.in_flight.is_none() && self.not_before.is_none_or(|t| now >= t)
    }

    /// The lookup, to `broker`, if one is due.
    pub fn poll_lookup(
        &mut self,
        now: Instant,
        tokens: &mut TokenSource,
        broker: BrokerId,
        version: Option<i16>,
    ) -> Option<Transmit> {
        if !self.lookup_due(now) {
            return None;
        }
        let token = tokens.next_token();
        self.in_flight = Some(token);
        Some(Transmit {
            broker,
            token,
            request: Request::FindCoordinator(self.key.request(version)),
            expects_response: true,
        })
    }

    /// Applies the answer to the lookup in flight (the caller checked [`owns`](Self::owns)); `None` when the
    /// request failed without an answer. A found coordinator is remembered; the caller decides the backoff of
    /// anything else.
    pub fn handle_lookup(&mut self, response: Option<&FindCoordinatorResponse>) -> Option<Lookup> {
        self.in_flight = None;
        let lookup = read_find_coordinator(response?, self.key.name());
        if let Lookup::Found(coordinator) = &lookup {
            self.known = Some(coordinator.clone());
        }
        Some(lookup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::find_coordinator_response::Coordinator as KeyCoordinator;
    use kafka_protocol::messages::BrokerId as NodeId;

    #[test]
    fn the_request_shape_follows_the_version() {
        let key = CoordinatorKey::Transaction("tx".into());
        let old = key.request(Some(3));
        assert_eq!((old.key.as_str(), old.key_type), ("tx", 1));
        assert!(old.coordinator_keys.is_empty());
        let new = key.request(Some(4));
        assert_eq!(new.coordinator_keys, vec![StrBytes::from_static_str("tx")]);
        let group = CoordinatorKey::Group("g".into()).request(None);
        assert_eq!((group.key.as_str(), group.key_type), ("g", 0));
    }

    #[test]
    fn answers_are_read_in_either_shape() {
        let top_level = FindCoordinatorResponse::default()
            .with_node_id(NodeId(3))
            .with_host(StrBytes::from_static_str("h3"))
            .with_port(9092);
        assert_eq!(
            read_find_coordinator(&top_level, "g"),
            Lookup::Found(Coordinator {
                broker: 3,
                address: "h3:9092".into()
            })
        );
        let per_key = FindCoordinatorResponse::default().with_coordinators(vec![
            KeyCoordinator::default()
                .with_key(StrBytes::from_static_str("other"))
                .with_node_id(NodeId(1)),
            KeyCoordinator::default()
                .with_key(StrBytes::from_static_str("g"))
                .with_error_code(ResponseError::CoordinatorLoadInProgress.code())
                .with_node_id(NodeId(-1)),
        ]);
        assert_eq!(
            read_find_coordinator(&per_key, "g"),
            Lookup::Failed(ResponseError::CoordinatorLoadInProgress)
        );
        let no_node = FindCoordinatorResponse::default().with_node_id(NodeId(-1));
        assert_eq!(read_find_coordinator(&no_node, "g"), Lookup::NoNode);
    }

    #[test]
    fn a_state_looks_up_once_remembers_and_forgets() {
        let mut state = CoordinatorState::new(CoordinatorKey::Group("g".into()));
        let mut tokens = TokenSource::default();
        let now = Instant::now();
        let tx = state
            .poll_lookup(now, &mut tokens, -1, None)
            .expect("lookup");
        assert!(state.owns(tx.token));
        assert!(
            state.poll_lookup(now, &mut tokens, -1, None).is_none(),
            "one lookup at a time"
        );
        let answer = FindCoordinatorResponse::default()
            .with_node_id(NodeId(7))
            .with_host(StrBytes::from_static_str("c"))
            .with_port(1);
        assert!(matches!(
            state.handle_lookup(Some(&answer)),
            Some(Lookup::Found(_))
        ));
        assert_eq!(state.broker(), Some(7));
        assert_eq!(state.address(7), Some("c:1"));
        assert!(state.poll_lookup(now, &mut tokens, -1, None).is_none());
        assert!(state.forget());
        state.back_off(now + std::time::Duration::from_millis(100));
        assert!(state.poll_lookup(now, &mut tokens, -1, None).is_none());
        state.handle_timeout(now + std::time::Duration::from_millis(100));
        assert!(state.poll_lookup(now, &mut tokens, -1, None).is_some());
    }
}
