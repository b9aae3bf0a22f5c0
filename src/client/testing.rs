//! The scripted broker the client state machines' tests share: a state machine under test, a simulated
//! clock (`start` plus durations, never a sleep), a cluster that answers its metadata refreshes, and the
//! broker's answers every machine meets (metadata, FindCoordinator, InitProducerId, lost connections).
//!
//! Each test plays the rest of the broker's side by hand, request by request: it takes what the machine
//! emits ([`ScriptedBroker::poll`], [`ScriptedBroker::expect`]) and answers ([`ScriptedBroker::reply`]).
//! Test-only (`cfg(test)`): no socket, no thread, no clock.

use std::time::{Duration, Instant};

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId as NodeId, FindCoordinatorResponse,
    InitProducerIdResponse, MetadataResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::admin::AdminClient;
use super::consumer::Consumer;
use super::errors::ResponseError;
use super::group::GroupMember;
use super::producer::Producer;
use super::{BrokerId, RequestToken, ResponseResult, Transmit, TransportError};
use crate::protocol::versions::ApiVersionTable;
use crate::protocol::{Request, Response};

/// A sans-IO state machine as the scripted broker drives it.
pub(crate) trait ClientUnderTest {
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit>;
    fn handle_response(
        &mut self,
        broker: BrokerId,
        token: RequestToken,
        result: ResponseResult,
        now: Instant,
    );
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
}

macro_rules! client_under_test {
    ($($ty:ty),*) => {$(
        impl ClientUnderTest for $ty {
            fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
                <$ty>::poll_transmit(self, now)
            }
            fn handle_response(
                &mut self,
                broker: BrokerId,
                token: RequestToken,
                result: ResponseResult,
                now: Instant,
            ) {
                <$ty>::handle_response(self, broker, token, result, now)
            }
            fn poll_timeout(&self) -> Option<Instant> {
                <$ty>::poll_timeout(self)
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$ty>::handle_timeout(self, now)
            }
        }
    )*};
}

client_under_test!(
    Producer,
    Consumer,
    GroupMember,
    AdminClient,
    crate::client::worker_group::member::WorkerGroupMember
);

/// An answer to hand back: a response, or a request's failure.
pub(crate) trait IntoAnswer {
    fn into_answer(self) -> ResponseResult;
}

impl IntoAnswer for Response {
    fn into_answer(self) -> ResponseResult {
        Ok(self)
    }
}

impl IntoAnswer for ResponseResult {
    fn into_answer(self) -> ResponseResult {
        self
    }
}

/// A state machine, a clock, and the cluster its metadata refreshes are answered with.
pub(crate) struct ScriptedBroker<M> {
    pub machine: M,
    pub start: Instant,
    pub now: Instant,
    /// What [`ScriptedBroker::poll`] answers metadata requests with.
    pub cluster: MetadataResponse,
    /// Metadata requests [`ScriptedBroker::poll`] answered.
    pub metadata_requests: usize,
}

impl<M: ClientUnderTest> ScriptedBroker<M> {
    pub fn new(machine: M, cluster: MetadataResponse) -> Self {
        Self::starting_at(machine, cluster, Instant::now())
    }

    /// As [`new`](Self::new), for a machine built with `start` as its first `now`.
    pub fn starting_at(machine: M, cluster: MetadataResponse, start: Instant) -> Self {
        Self {
            machine,
            start,
            now: start,
            cluster,
            metadata_requests: 0,
        }
    }

    /// The clock at `since_start`; it only moves forward.
    pub fn at(&mut self, since_start: Duration) {
        assert!(
            self.start + since_start >= self.now,
            "time only moves forward"
        );
        self.now = self.start + since_start;
    }

    /// The clock moves on; nothing else happens.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// The clock moves on and a deadline it reached fires, as a driver does.
    pub fn pass(&mut self, by: Duration) {
        self.now += by;
        if self.machine.poll_timeout().is_some_and(|t| t <= self.now) {
            self.machine.handle_timeout(self.now);
        }
    }

    /// The clock moves on and `handle_timeout` runs whether a deadline was reached or not.
    pub fn tick(&mut self, by: Duration) {
        self.now += by;
        self.machine.handle_timeout(self.now);
    }

    /// What a driver does when idle: sleep until `poll_timeout`, which must lie ahead, then `handle_timeout`.
    pub fn sleep_until_next_deadline(&mut self) {
        let deadline = self.machine.poll_timeout().expect("a deadline");
        assert!(
            deadline > self.now,
            "a deadline not after now would make the caller spin"
        );
        self.now = deadline;
        self.machine.handle_timeout(self.now);
    }

    /// The next request, whatever it is.
    pub fn poll_raw(&mut self) -> Option<Transmit> {
        self.machine.poll_transmit(self.now)
    }

    /// The next request that is not a metadata request; those are answered with `self.cluster` on the spot.
    pub fn poll(&mut self) -> Option<Transmit> {
        loop {
            let tx = self.poll_raw()?;
            if let Request::Metadata(_) = tx.request {
                self.metadata_requests += 1;
                let response = Response::Metadata(self.cluster.clone());
                self.reply(&tx, response);
                continue;
            }
            return Some(tx);
        }
    }

    /// The next request, which must be of `api`.
    pub fn expect(&mut self, api: ApiKey) -> Transmit {
        let tx = self
            .poll_raw()
            .unwrap_or_else(|| panic!("expected a {api:?} request, got nothing"));
        assert_eq!(tx.request.api_key(), api, "{tx:?}");
        tx
    }

    pub fn reply(&mut self, tx: &Transmit, answer: impl IntoAnswer) {
        self.machine
            .handle_response(tx.broker, tx.token, answer.into_answer(), self.now);
    }

    /// The connection carrying `tx` broke before its answer.
    pub fn lose(&mut self, tx: &Transmit) {
        self.reply(
            tx,
            Err(TransportError::Disconnected { broker: tx.broker }) as ResponseResult,
        );
    }
}

// ---- the broker's answers -----------------------------------------------------------------------------------

pub(crate) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// Brokers (id, host, port) and each topic with the leader of each of its partitions (-1: no leader,
/// LEADER_NOT_AVAILABLE).
pub(crate) fn metadata(
    brokers: &[(BrokerId, &str, i32)],
    topics: &[(&str, &[BrokerId])],
) -> MetadataResponse {
    MetadataResponse::default()
        .with_brokers(
            brokers
                .iter()
                .map(|(id, host, port)| {
                    MetadataResponseBroker::default()
                        .with_node_id(NodeId(*id))
                        .with_host(StrBytes::from_string((*host).to_owned()))
                        .with_port(*port)
                })
                .collect(),
        )
        .with_topics(
            topics
                .iter()
                .map(|(name, leaders)| {
                    MetadataResponseTopic::default()
                        .with_name(Some(topic_name(name)))
                        .with_partitions(
                            leaders
                                .iter()
                                .enumerate()
                                .map(|(i, leader)| {
                                    MetadataResponsePartition::default()
                                        .with_partition_index(i as i32)
                                        .with_leader_id(NodeId(*leader))
                                        .with_error_code(if *leader < 0 {
                                            ResponseError::LeaderNotAvailable.code()
                                        } else {
                                            0
                                        })
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
}

/// `response` with every partition's leader epoch set to `epoch`.
pub(crate) fn with_leader_epoch(mut response: MetadataResponse, epoch: i32) -> MetadataResponse {
    for topic in &mut response.topics {
        for partition in &mut topic.partitions {
            partition.leader_epoch = epoch;
        }
    }
    response
}

/// Metadata in which `name` has `error` instead of partitions.
pub(crate) fn topic_error(
    brokers: &[(BrokerId, &str, i32)],
    name: &str,
    error: ResponseError,
) -> MetadataResponse {
    metadata(brokers, &[]).with_topics(vec![MetadataResponseTopic::default()
        .with_name(Some(topic_name(name)))
        .with_error_code(error.code())])
}

/// A FindCoordinator answer naming `node` at `host:9092` for `key`, in both shapes: the v0-3 top-level
/// fields and the v4+ `coordinators` list, so it fits whichever version the request was built for.
pub(crate) fn coordinator_is(key: &str, node: BrokerId, host: &str) -> Response {
    Response::FindCoordinator(
        FindCoordinatorResponse::default()
            .with_node_id(NodeId(node))
            .with_host(StrBytes::from_string(host.to_owned()))
            .with_port(9092)
            .with_coordinators(vec![Coordinator::default()
                .with_key(StrBytes::from_string(key.to_owned()))
                .with_node_id(NodeId(node))
                .with_host(StrBytes::from_string(host.to_owned()))
                .with_port(9092)]),
    )
}

/// A FindCoordinator answer with `error` for `key`, in both shapes.
pub(crate) fn coordinator_error(key: &str, error: ResponseError) -> Response {
    Response::FindCoordinator(
        FindCoordinatorResponse::default()
            .with_node_id(NodeId(-1))
            .with_error_code(error.code())
            .with_coordinators(vec![Coordinator::default()
                .with_key(StrBytes::from_string(key.to_owned()))
                .with_node_id(NodeId(-1))
                .with_error_code(error.code())]),
    )
}

pub(crate) fn producer_id(producer_id: i64, epoch: i16) -> Response {
    Response::InitProducerId(
        InitProducerIdResponse::default()
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(epoch),
    )
}

pub(crate) fn producer_id_error(error: ResponseError) -> Response {
    Response::InitProducerId(
        InitProducerIdResponse::default()
            .with_error_code(error.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    )
}

/// What a broker that speaks every version we do, except InitProducerId only up to `init_pid_max`, says.
pub(crate) fn versions_with_init_producer_id_up_to(init_pid_max: i16) -> ApiVersionTable {
    let response = ApiVersionsResponse::default().with_api_keys(vec![
        ApiVersion::default()
            .with_api_key(ApiKey::Produce as i16)
            .with_min_version(3)
            .with_max_version(9),
        ApiVersion::default()
            .with_api_key(ApiKey::Metadata as i16)
            .with_min_version(1)
            .with_max_version(9),
        ApiVersion::default()
            .with_api_key(ApiKey::InitProducerId as i16)
            .with_min_version(0)
            .with_max_version(init_pid_max),
    ]);
    ApiVersionTable::from_response(&response).expect("valid table")
}
