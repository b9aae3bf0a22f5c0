//! One-off cluster requests (metadata listings, topic creation), sans-IO.
//!
//! Each request is retried on transport failures (rotating brokers) up to a bound; cluster-wide requests that
//! must reach the controller wait for metadata to name it.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::metadata::MetadataState;
use super::{BrokerId, RequestToken, ResponseResult, TokenSource, Transmit, TransportError};
use crate::client::config::CommonConfig;
use crate::protocol::Request;

/// Where an admin request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminTarget {
    AnyBroker,
    /// The controller (CreateTopics on ZooKeeper-mode clusters; KRaft brokers forward it).
    Controller,
    /// One broker by node id, once metadata names it (a group's coordinator, a partition's leader).
    Broker(BrokerId),
}

#[derive(Debug)]
struct AdminRequest {
    token: RequestToken,
    target: AdminTarget,
    request: Request,
    attempts: u32,
    not_before: Option<Instant>,
}

/// Attempts per admin request before its transport error is reported.
const MAX_ATTEMPTS: u32 = 5;

pub struct AdminClient {
    config: CommonConfig,
    metadata: MetadataState,
    tokens: TokenSource,
    queued: VecDeque<AdminRequest>,
    in_flight: HashMap<RequestToken, AdminRequest>,
    done: HashMap<RequestToken, ResponseResult>,
}

impl AdminClient {
    pub fn new(config: CommonConfig) -> Self {
        let metadata = MetadataState::new(
            config.bootstrap_servers.clone(),
            config.metadata_max_age,
            config.retry_backoff,
            false,
        );
        Self {
            config,
            metadata,
            tokens: TokenSource::default(),
            queued: VecDeque::new(),
            in_flight: HashMap::new(),
            done: HashMap::new(),
        }
    }

    pub fn metadata(&self) -> &MetadataState {
        &self.metadata
    }

    /// Refreshes metadata for every topic of the cluster.
    pub fn refresh_all_metadata(&mut self) {
        self.metadata.want_all_topics();
    }

    /// Queues `request`; its response comes back from [`AdminClient::take_response`] under the returned token.
    pub fn request(&mut self, request: Request, target: AdminTarget) -> RequestToken {
        let token = self.tokens.next_token();
        self.queued.push_back(AdminRequest {
            token,
            target,
            request,
            attempts: 0,
            not_before: None,
        });
        token
    }

    pub fn take_response(&mut self, token: RequestToken) -> Option<ResponseResult> {
        self.done.remove(&token)
    }

    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if let Some(tx) = self.metadata.poll_transmit(now, &mut self.tokens) {
            return Some(tx);
        }
        let index = self.queued.iter().position(|r| {
            r.not_before.is_none_or(|t| now >= t)
                && (r.target == AdminTarget::AnyBroker || self.metadata.has_refreshed())
                && match r.target {
                    AdminTarget::Broker(id) => self.metadata.broker_address(id).is_some(),
                    _ => true,
                }
        })?;
        let mut request = self.queued.remove(index)?;
        let broker = match request.target {
            AdminTarget::Controller => self
                .metadata
                .controller()
                .unwrap_or_else(|| self.metadata.any_broker()),
            AdminTarget::AnyBroker => self.metadata.any_broker(),
            AdminTarget::Broker(id) => id,
        };
        request.attempts += 1;
        let transmit = Transmit {
            broker,
            token: request.token,
            request: request.request.clone(),
            expects_response: true,
        };
        self.in_flight.insert(request.token, request);
        Some(transmit)
    }

    pub fn handle_response(
        &mut self,
        _broker: BrokerId,
        token: RequestToken,
        result: ResponseResult,
        now: Instant,
    ) {
        if self.metadata.owns(token) {
            let response = match &result {
                Ok(crate::protocol::Response::Metadata(m)) => Ok(m),
                Ok(_) => Err(TransportError::Disconnected { broker: _broker }),
                Err(e) => Err(e.clone()),
            };
            self.metadata
                .handle_response(token, response.as_ref().map(|m| *m), now);
            return;
        }
        let Some(mut request) = self.in_flight.remove(&token) else {
            return;
        };
        match result {
            Err(error)
                if request.attempts < MAX_ATTEMPTS
                    && !matches!(error, TransportError::Protocol { .. }) =>
            {
                self.metadata.request_refresh();
                request.not_before = Some(now + self.config.retry_backoff * request.attempts);
                self.queued.push_back(request);
            }
            result => {
                self.done.insert(token, result);
            }
        }
    }

    /// Asks again later, e.g. after NOT_CONTROLLER: metadata is refreshed first.
    pub fn retry_after_metadata_refresh(
        &mut self,
        request: Request,
        target: AdminTarget,
        now: Instant,
    ) -> RequestToken {
        self.metadata.request_refresh();
        let token = self.tokens.next_token();
        self.queued.push_back(AdminRequest {
            token,
            target,
            request,
            attempts: 0,
            not_before: Some(now + self.config.retry_backoff),
        });
        token
    }

    pub fn handle_timeout(&mut self, _now: Instant) {}

    pub fn poll_timeout(&self) -> Option<Instant> {
        let queued = self.queued.iter().filter_map(|r| r.not_before).min();
        match (queued, self.metadata.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn broker_address(&self, broker: BrokerId) -> Option<&str> {
        self.metadata.broker_address(broker)
    }
}
