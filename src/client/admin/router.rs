//! The admin client: sends one-off requests where their target says, sans-IO.
//!
//! A request waits for metadata when its target needs it (the controller, a broker by id) and for
//! FindCoordinator when it goes to a group's coordinator. Transport failures are retried (rotating brokers,
//! looking the coordinator up again) up to a bound; an answer its operation asks to send again (NOT_CONTROLLER,
//! NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS) is retried within `request.timeout.ms` of the first attempt,
//! then handed back as it is.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use super::operation::{AdminOperation, AdminTarget, AnswerRetry};
use crate::client::config::CommonConfig;
use crate::client::coordinator::{
    is_coordinator_retriable, CoordinatorKey, CoordinatorState, Lookup,
};
use crate::client::metadata::MetadataState;
use crate::client::{
    BrokerId, RequestToken, ResponseResult, TokenSource, Transmit, TransportError,
};
use crate::protocol::{Request, Response};

/// Which answers of a request ask to be sent again.
pub type RetryRule = fn(&Response) -> Option<AnswerRetry>;

fn never_retry(_: &Response) -> Option<AnswerRetry> {
    None
}

#[derive(Debug)]
struct AdminRequest {
    token: RequestToken,
    target: AdminTarget,
    request: Request,
    retry: RetryRule,
    attempts: u32,
    not_before: Option<Instant>,
    /// When the request was first considered for sending: answer retries end `request.timeout.ms` later.
    started: Option<Instant>,
}

impl AdminRequest {
    fn group(&self) -> Option<&str> {
        match &self.target {
            AdminTarget::GroupCoordinator(group) => Some(group),
            _ => None,
        }
    }
}

/// Attempts per admin request before its transport error is reported.
const MAX_ATTEMPTS: u32 = 5;

pub struct AdminClient {
    config: CommonConfig,
    metadata: MetadataState,
    tokens: TokenSource,
    /// Coordinators of the groups requests went to.
    coordinators: BTreeMap<String, CoordinatorState>,
    queued: VecDeque<AdminRequest>,
    in_flight: HashMap<RequestToken, AdminRequest>,
    done: HashMap<RequestToken, (BrokerId, ResponseResult)>,
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
            coordinators: BTreeMap::new(),
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

    /// Queues `operation`; its answer comes back from [`AdminClient::take_response`] under the returned token.
    pub fn submit<O: AdminOperation>(&mut self, operation: &O) -> RequestToken {
        self.request_with_retry(operation.request(), operation.target(), O::retry)
    }

    /// Queues `request` as it is, never retrying an answer.
    pub fn request(&mut self, request: Request, target: AdminTarget) -> RequestToken {
        self.request_with_retry(request, target, never_retry)
    }

    fn request_with_retry(
        &mut self,
        request: Request,
        target: AdminTarget,
        retry: RetryRule,
    ) -> RequestToken {
        let token = self.tokens.next_token();
        if let AdminTarget::GroupCoordinator(group) = &target {
            self.coordinators
                .entry(group.clone())
                .or_insert_with(|| CoordinatorState::new(CoordinatorKey::Group(group.clone())));
        }
        self.queued.push_back(AdminRequest {
            token,
            target,
            request,
            retry,
            attempts: 0,
            not_before: None,
            started: None,
        });
        token
    }

    /// The answer to `token` and the broker that gave it, once there is one.
    pub fn take_response(&mut self, token: RequestToken) -> Option<(BrokerId, ResponseResult)> {
        self.done.remove(&token)
    }

    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if let Some(tx) = self.metadata.poll_transmit(now, &mut self.tokens) {
            return Some(tx);
        }
        for request in self.queued.iter_mut() {
            request.started.get_or_insert(now);
        }
        if let Some(tx) = self.poll_lookup(now) {
            return Some(tx);
        }
        let index = self.queued.iter().position(|r| {
            r.not_before.is_none_or(|t| now >= t) && self.resolve(&r.target).is_some()
        })?;
        let mut request = self.queued.remove(index)?;
        let broker = match &request.target {
            AdminTarget::Controller => self
                .metadata
                .controller()
                .unwrap_or_else(|| self.metadata.any_broker()),
            AdminTarget::AnyBroker => self.metadata.any_broker(),
            target => self.resolve(target)?,
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

    /// The broker `target` names now, if it can be sent to (`Some(-1)` stands for "any" and the controller).
    fn resolve(&self, target: &AdminTarget) -> Option<BrokerId> {
        match target {
            AdminTarget::AnyBroker => Some(-1),
            AdminTarget::Controller => self.metadata.has_refreshed().then_some(-1),
            AdminTarget::Broker(id) => (self.metadata.has_refreshed()
                && self.metadata.broker_address(*id).is_some())
            .then_some(*id),
            AdminTarget::GroupCoordinator(group) => self.coordinators.get(group)?.broker(),
        }
    }

    /// A FindCoordinator for a group some queued request waits for.
    fn poll_lookup(&mut self, now: Instant) -> Option<Transmit> {
        let group = self
            .queued
            .iter()
            .filter_map(AdminRequest::group)
            .find(|g| self.coordinators.get(*g).is_some_and(|c| c.lookup_due(now)))?
            .to_owned();
        let broker = self.metadata.any_broker();
        self.coordinators
            .get_mut(&group)?
            .poll_lookup(now, &mut self.tokens, broker, None)
    }

    pub fn handle_response(
        &mut self,
        broker: BrokerId,
        token: RequestToken,
        result: ResponseResult,
        now: Instant,
    ) {
        if self
            .metadata
            .take_response(broker, token, &result, now)
            .is_some()
        {
            return;
        }
        if let Some(group) = self
            .coordinators
            .iter()
            .find(|(_, c)| c.owns(token))
            .map(|(g, _)| g.clone())
        {
            self.handle_lookup(&group, broker, result, now);
            return;
        }
        let Some(mut request) = self.in_flight.remove(&token) else {
            return;
        };
        match result {
            Err(error)
                if request.attempts < MAX_ATTEMPTS
                    && !matches!(
                        error,
                        TransportError::Protocol { .. } | TransportError::Authentication { .. }
                    ) =>
            {
                self.forget_coordinator(&request);
                self.metadata.request_refresh();
                request.not_before = Some(now + self.config.retry_backoff * request.attempts);
                self.queued.push_back(request);
            }
            Ok(response) => match (request.retry)(&response) {
                Some(retry) if self.within_timeout(&request, now) => {
                    tracing::debug!(api = ?request.request.api_key(), ?retry, "admin request answered: ask again");
                    match retry {
                        AnswerRetry::AfterMetadataRefresh => self.metadata.request_refresh(),
                        AnswerRetry::AfterRediscovery => self.forget_coordinator(&request),
                        AnswerRetry::AfterBackoff => {}
                    }
                    request.not_before = Some(now + self.config.retry_backoff);
                    self.queued.push_back(request);
                }
                _ => {
                    self.done.insert(token, (broker, Ok(response)));
                }
            },
            Err(error) => {
                self.done.insert(token, (broker, Err(error)));
            }
        }
    }

    fn within_timeout(&self, request: &AdminRequest, now: Instant) -> bool {
        request
            .started
            .is_none_or(|t| now < t + self.config.request_timeout)
    }

    fn forget_coordinator(&mut self, request: &AdminRequest) {
        if let Some(state) = request.group().and_then(|g| self.coordinators.get_mut(g)) {
            state.forget();
        }
    }

    fn handle_lookup(
        &mut self,
        group: &str,
        broker: BrokerId,
        result: ResponseResult,
        now: Instant,
    ) {
        let Some(state) = self.coordinators.get_mut(group) else {
            return;
        };
        let response = match result {
            Ok(Response::FindCoordinator(response)) => Some(response),
            _ => None,
        };
        let backoff = now + self.config.retry_backoff;
        let give_up = match state.handle_lookup(response.as_ref()) {
            Some(Lookup::Found(_)) => return,
            Some(Lookup::Failed(error))
                if !is_coordinator_retriable(error) && !error.is_retriable() =>
            {
                true
            }
            Some(Lookup::Failed(_) | Lookup::NoNode) => {
                state.back_off(backoff);
                false
            }
            None => {
                state.back_off(backoff);
                self.metadata.request_refresh();
                false
            }
        };
        // A coordinator that cannot be found (authorization, invalid group), or one still unknown after
        // request.timeout.ms: the requests waiting for it are answered with the lookup's answer.
        let timeout = self.config.request_timeout;
        let mut waiting = VecDeque::new();
        for request in std::mem::take(&mut self.queued) {
            let overdue = request.started.is_some_and(|t| now >= t + timeout);
            match (
                &response,
                request.group() == Some(group) && (give_up || overdue),
            ) {
                (Some(answer), true) => {
                    self.done.insert(
                        request.token,
                        (broker, Ok(Response::FindCoordinator(answer.clone()))),
                    );
                }
                (None, true) if overdue => {
                    self.done.insert(
                        request.token,
                        (broker, Err(TransportError::TimedOut { broker })),
                    );
                }
                _ => waiting.push_back(request),
            }
        }
        self.queued = waiting;
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for state in self.coordinators.values_mut() {
            state.handle_timeout(now);
        }
        for request in self.queued.iter_mut() {
            if request.not_before.is_some_and(|t| now >= t) {
                request.not_before = None;
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let queued = self.queued.iter().filter_map(|r| r.not_before);
        let lookups = self
            .queued
            .iter()
            .filter_map(AdminRequest::group)
            .filter_map(|g| self.coordinators.get(g)?.poll_timeout());
        queued
            .chain(lookups)
            .chain(self.metadata.poll_timeout())
            .min()
    }

    /// Where to connect for `broker`: a coordinator FindCoordinator named, or a broker metadata names.
    pub fn broker_address(&self, broker: BrokerId) -> Option<&str> {
        self.coordinators
            .values()
            .find_map(|c| c.address(broker))
            .or_else(|| self.metadata.broker_address(broker))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
    use kafka_protocol::messages::describe_groups_response::DescribedGroup;
    use kafka_protocol::messages::{ApiKey, CreateTopicsResponse, DescribeGroupsResponse, GroupId};
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::client::admin::Answer;
    use crate::client::admin::{AdminError, CreateTopics, DescribeGroup, NewTopic};
    use crate::client::config::{admin_config, ConfigMap};
    use crate::client::errors::ResponseError;
    use crate::client::testing::{
        coordinator_error, coordinator_is, metadata, topic_name, ScriptedBroker,
    };

    type Harness = ScriptedBroker<AdminClient>;

    fn admin() -> Harness {
        let config = admin_config(ConfigMap::from_pairs([
            ("bootstrap.servers", "boot:9092"),
            ("retry.backoff.ms", "100"),
        ]))
        .expect("valid config");
        let mut cluster = metadata(&[(1, "b1", 9092), (2, "b2", 9092), (3, "b3", 9092)], &[]);
        cluster.controller_id = kafka_protocol::messages::BrokerId(1);
        ScriptedBroker::new(AdminClient::new(config), cluster)
    }

    fn described(error: Option<ResponseError>) -> Response {
        Response::DescribeGroups(DescribeGroupsResponse::default().with_groups(vec![
            DescribedGroup::default()
                .with_group_id(GroupId(StrBytes::from_static_str("g")))
                .with_group_state(StrBytes::from_static_str("Stable"))
                .with_error_code(error.map_or(0, |e| e.code())),
        ]))
    }

    fn created(error: Option<ResponseError>) -> Response {
        Response::CreateTopics(CreateTopicsResponse::default().with_topics(vec![
            CreatableTopicResult::default()
                .with_name(topic_name("t"))
                .with_error_code(error.map_or(0, |e| e.code())),
        ]))
    }

    /// The answer to `token`, read by `operation`.
    fn read<O: AdminOperation>(
        h: &mut Harness,
        token: RequestToken,
        operation: O,
    ) -> Result<O::Output, AdminError> {
        let (broker, result) = h.machine.take_response(token).expect("an answer");
        operation.read(Answer {
            broker,
            response: result.expect("a response"),
        })
    }

    #[test]
    fn a_group_operation_finds_the_coordinator_and_looks_again_when_it_moved() {
        let mut h = admin();
        let operation = DescribeGroup { group: "g".into() };
        let token = h.machine.submit(&operation);
        let find = h.poll().expect("FindCoordinator");
        let Request::FindCoordinator(request) = &find.request else {
            panic!("FindCoordinator first, got {:?}", find.request.api_key())
        };
        assert_eq!((request.key.as_str(), request.key_type), ("g", 0));
        h.reply(&find, coordinator_is("g", 2, "b2"));
        assert_eq!(h.machine.broker_address(2), Some("b2:9092"));
        let describe = h.expect(ApiKey::DescribeGroups);
        assert_eq!(describe.broker, 2, "to the coordinator");
        h.reply(&describe, described(Some(ResponseError::NotCoordinator)));
        assert!(h.machine.take_response(token).is_none(), "asked again");
        let find = h.expect(ApiKey::FindCoordinator);
        h.reply(&find, coordinator_is("g", 3, "b3"));
        assert!(h.poll().is_none(), "the request waits for its backoff");
        h.pass(Duration::from_millis(100));
        let describe = h.expect(ApiKey::DescribeGroups);
        assert_eq!(describe.broker, 3);
        h.reply(&describe, described(None));
        let group = read(&mut h, token, operation).expect("described");
        assert_eq!((group.coordinator, group.state.as_str()), (3, "Stable"));
    }

    #[test]
    fn a_coordinator_that_cannot_be_found_fails_the_operation_with_the_lookups_error() {
        let mut h = admin();
        let operation = DescribeGroup { group: "g".into() };
        let token = h.machine.submit(&operation);
        let find = h.poll().expect("FindCoordinator");
        h.reply(
            &find,
            coordinator_error("g", ResponseError::GroupAuthorizationFailed),
        );
        assert_eq!(
            read(&mut h, token, operation),
            Err(AdminError::Coordinator {
                group: "g".into(),
                error: ResponseError::GroupAuthorizationFailed
            })
        );
    }

    #[test]
    fn not_controller_is_asked_again_after_a_metadata_refresh() {
        let mut h = admin();
        let operation = CreateTopics {
            topics: vec![NewTopic {
                name: "t".into(),
                partitions: 1,
                replication_factor: -1,
                configs: Vec::new(),
            }],
            timeout_ms: 1_000,
        };
        let token = h.machine.submit(&operation);
        let create = h.poll().expect("CreateTopics after metadata");
        assert_eq!(create.broker, 1, "to the controller metadata names");
        h.reply(&create, created(Some(ResponseError::NotController)));
        h.pass(Duration::from_millis(100));
        let refreshes = h.metadata_requests;
        let create = h.poll().expect("CreateTopics again");
        assert!(
            h.metadata_requests > refreshes,
            "metadata was refreshed first"
        );
        h.reply(&create, created(None));
        let outcomes = read(&mut h, token, operation).expect("created");
        assert_eq!(outcomes[0].result, Ok(()));
    }
}
