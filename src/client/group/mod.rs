//! Consumer group membership, sans-IO: finding the coordinator, joining, syncing, heartbeating, leaving, and
//! committing and fetching the group's offsets.
//!
//! Owns the member id, generation, owned partitions and every group timer (heartbeat, session, poll interval,
//! auto-commit). Does not fetch records: the caller pairs it with a [`crate::client::consumer::Consumer`] and
//! turns [`GroupEvent`]s into `assign` / `unassign` / `set_committed_offset` calls. Like the rest of `client`
//! it touches no socket, thread or clock: time is an argument.
//!
//! Rebalances follow the Java client. Under an eager protocol (`range`, `roundrobin`) a member gives up every
//! partition before it rejoins; under `cooperative-sticky` (KIP-429) it keeps them and only gives up those the
//! new assignment moves, then rejoins once so they can be handed over. Either way a revocation is announced with
//! [`GroupEvent::PartitionsRevoked`] and the member waits for [`GroupMember::revoke_done`], so the application
//! can commit what it consumed before anyone else reads those partitions.

pub mod assignor;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorResponse, GroupId, HeartbeatRequest, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, OffsetCommitRequest, OffsetCommitResponse,
    OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use self::assignor::MemberSubscription;
use super::config::{AssignmentStrategy, ConsumerConfig};
use super::consumer::TopicPartition;
use super::coordinator::{
    coordinator_moved, is_coordinator_retriable, CoordinatorKey, CoordinatorState, Lookup,
};
use super::errors::{response_error, ResponseError};
use super::metadata::MetadataState;
use super::{BrokerId, RequestToken, ResponseResult, TokenSource, Transmit, TransportError};
use crate::protocol::consumer_protocol::{self, ConsumerProtocolError};
use crate::protocol::versions::{client_range, ApiVersionTable};
use crate::protocol::{Request, Response};

/// JoinGroup protocol type of consumers; Connect workers use "connect".
const PROTOCOL_TYPE_CONSUMER: &str = "consumer";
/// Attempts for a commit whose coordinator moved or could not be reached, before it is reported failed.
const MAX_COMMIT_ATTEMPTS: u32 = 10;

/// Identifies one commit, so its outcome can be matched to the caller that asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitId(pub u64);

/// What went wrong in the group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("{api:?} failed with {error:?} ({error})")]
    Broker { api: ApiKey, error: ResponseError },
    #[error("{api:?} got no response: {error}")]
    Transport { api: ApiKey, error: TransportError },
    #[error("bad group protocol data: {0}")]
    ConsumerProtocol(#[from] ConsumerProtocolError),
    #[error("the coordinator chose assignment protocol `{name}`, which this member did not offer")]
    UnknownProtocol { name: String },
    #[error("`group.id` is required to join a group; set -X group.id=NAME (or -G NAME)")]
    NoGroupId,
    #[error("no topics to subscribe to")]
    NoTopics,
    #[error("the commit got no answer within {waited:?} (request.timeout.ms); is the group coordinator reachable?")]
    CommitTimedOut { waited: Duration },
}

/// Something the member reports to its caller.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupEvent {
    /// A rebalance finished; these partitions are new to this member (under eager protocols: all of them).
    /// Their committed offsets follow in [`GroupEvent::CommittedOffsets`].
    PartitionsAssigned {
        partitions: Vec<TopicPartition>,
    },
    /// These partitions go to another member. Stop fetching them, commit what was consumed, then call
    /// [`GroupMember::revoke_done`]; the member does not rejoin before.
    PartitionsRevoked {
        partitions: Vec<TopicPartition>,
    },
    /// These partitions were taken away without a chance to commit (session expired, fenced, poll timeout):
    /// another member may already own them. Stop fetching them and do not commit them.
    PartitionsLost {
        partitions: Vec<TopicPartition>,
    },
    /// Committed offsets of assigned partitions; `None` where the group never committed one.
    CommittedOffsets {
        offsets: Vec<(TopicPartition, Option<i64>)>,
    },
    OffsetsCommitted {
        id: CommitId,
        offsets: Vec<(TopicPartition, i64)>,
    },
    CommitFailed {
        id: CommitId,
        error: GroupError,
    },
    /// The member cannot go on (authorization, inconsistent protocols, bad configuration).
    Fatal {
        error: GroupError,
    },
    /// [`GroupMember::close`] finished: commits done, group left.
    Closed,
}

/// Group settings taken from [`ConsumerConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct GroupConfig {
    pub group_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub max_poll_interval: Duration,
    pub strategies: Vec<AssignmentStrategy>,
    /// `None` with enable.auto.commit=false.
    pub auto_commit_interval: Option<Duration>,
    pub retry_backoff: Duration,
}

impl GroupConfig {
    pub fn from_consumer_config(config: &ConsumerConfig) -> Result<Self, GroupError> {
        let group_id = config
            .group_id
            .clone()
            .filter(|g| !g.is_empty())
            .ok_or(GroupError::NoGroupId)?;
        Ok(Self {
            group_id,
            group_instance_id: config.group_instance_id.clone(),
            client_id: config.common.client_id.clone(),
            session_timeout: config.session_timeout,
            heartbeat_interval: config.heartbeat_interval,
            max_poll_interval: config.max_poll_interval,
            strategies: config.partition_assignment_strategy.clone(),
            auto_commit_interval: config
                .enable_auto_commit
                .then_some(config.auto_commit_interval),
            retry_backoff: config.common.retry_backoff,
        })
    }
}

/// What a JoinGroup answered to the leader, kept while metadata for the members' topics is refreshed.
#[derive(Debug, Clone)]
struct LeaderDuty {
    strategy: AssignmentStrategy,
    members: Vec<MemberSubscription>,
    /// Metadata refreshes completed when the duty arrived; the assignment waits for a newer one.
    refreshes_before: u64,
}

#[derive(Debug, Clone)]
enum Phase {
    /// Not in a generation; joins once the coordinator is known (and any revocation is done).
    Unjoined,
    Joining {
        token: RequestToken,
    },
    /// The leader waits for fresh metadata before it assigns.
    Assigning(LeaderDuty),
    /// A follower joined; its SyncGroup (with no assignments) goes out next.
    ReadyToSync,
    Syncing {
        token: RequestToken,
    },
    Stable,
    /// max.poll.interval.ms passed without [`GroupMember::poll`]: out of the group until the next poll.
    PollTimedOut,
    Closed,
}

#[derive(Debug, Clone)]
struct PendingCommit {
    id: CommitId,
    offsets: Vec<(TopicPartition, i64)>,
    attempts: u32,
    not_before: Option<Instant>,
}

#[derive(Debug)]
struct OffsetFetchInFlight {
    token: RequestToken,
    partitions: Vec<TopicPartition>,
}

/// The sans-IO group member. See the module documentation.
#[derive(Debug)]
pub struct GroupMember {
    config: GroupConfig,
    topics: Vec<String>,
    metadata: MetadataState,
    metadata_refreshes: u64,
    tokens: TokenSource,
    versions: HashMap<BrokerId, ApiVersionTable>,

    coordinator: CoordinatorState,

    member_id: String,
    generation: i32,
    protocol: Option<AssignmentStrategy>,
    phase: Phase,
    join_not_before: Option<Instant>,
    /// Partition counts the leader assigned from; a change in metadata starts a new rebalance.
    leader_partition_counts: Option<BTreeMap<String, i32>>,
    owned: BTreeSet<TopicPartition>,
    /// Announced revocation waiting for [`revoke_done`](Self::revoke_done).
    revoking: Option<Vec<TopicPartition>>,
    /// After the revocation, rejoin (cooperative follow-up rebalance).
    rejoin_after_revoke: bool,

    heartbeat_in_flight: Option<RequestToken>,
    next_heartbeat: Option<Instant>,
    /// Last time the coordinator showed it still knows us (join, sync or heartbeat answered).
    last_coordinator_contact: Option<Instant>,
    last_poll: Option<Instant>,

    consumed: BTreeMap<TopicPartition, i64>,
    committed: BTreeMap<TopicPartition, i64>,
    next_auto_commit: Option<Instant>,
    next_commit_id: u64,
    commits_queued: VecDeque<PendingCommit>,
    commits_in_flight: HashMap<RequestToken, PendingCommit>,

    offsets_wanted: BTreeSet<TopicPartition>,
    offsets_not_before: Option<Instant>,
    offset_fetch: Option<OffsetFetchInFlight>,

    closing: bool,
    /// A LeaveGroup to send for this member id (on close, or after a poll timeout).
    leave_pending: Option<String>,
    leave_in_flight: Option<RequestToken>,

    events: VecDeque<GroupEvent>,
}

impl GroupMember {
    /// A member of `config.group_id` subscribing to `topics`. Nothing is sent before the first
    /// [`poll_transmit`](Self::poll_transmit).
    pub fn new(
        consumer_config: &ConsumerConfig,
        topics: Vec<String>,
        now: Instant,
    ) -> Result<Self, GroupError> {
        let config = GroupConfig::from_consumer_config(consumer_config)?;
        let group_id = config.group_id.clone();
        if topics.is_empty() {
            return Err(GroupError::NoTopics);
        }
        let mut metadata = MetadataState::new(
            consumer_config.common.bootstrap_servers.clone(),
            consumer_config.common.metadata_max_age,
            consumer_config.common.retry_backoff,
            consumer_config.allow_auto_create_topics,
        );
        for topic in &topics {
            metadata.want_topic(topic);
        }
        Ok(Self {
            config,
            topics,
            metadata,
            metadata_refreshes: 0,
            tokens: TokenSource::default(),
            versions: HashMap::new(),
            coordinator: CoordinatorState::new(CoordinatorKey::Group(group_id)),
            member_id: String::new(),
            generation: -1,
            protocol: None,
            phase: Phase::Unjoined,
            join_not_before: None,
            leader_partition_counts: None,
            owned: BTreeSet::new(),
            revoking: None,
            rejoin_after_revoke: false,
            heartbeat_in_flight: None,
            next_heartbeat: None,
            last_coordinator_contact: None,
            last_poll: Some(now),
            consumed: BTreeMap::new(),
            committed: BTreeMap::new(),
            next_auto_commit: None,
            next_commit_id: 0,
            commits_queued: VecDeque::new(),
            commits_in_flight: HashMap::new(),
            offsets_wanted: BTreeSet::new(),
            offsets_not_before: None,
            offset_fetch: None,
            closing: false,
            leave_pending: None,
            leave_in_flight: None,
            events: VecDeque::new(),
        })
    }

    // ---- what the application sees and does --------------------------------------------------------------

    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// The assignment protocol the coordinator chose in the current generation.
    pub fn protocol(&self) -> Option<AssignmentStrategy> {
        self.protocol
    }

    /// Partitions this member owns now (including ones announced as revoked until `revoke_done`).
    pub fn assignment(&self) -> impl Iterator<Item = &TopicPartition> {
        self.owned.iter()
    }

    pub fn owns(&self, tp: &TopicPartition) -> bool {
        self.owned.contains(tp)
    }

    /// Whether the member is in a generation with a settled assignment.
    pub fn is_stable(&self) -> bool {
        matches!(self.phase, Phase::Stable) && self.revoking.is_none()
    }

    pub fn poll_event(&mut self) -> Option<GroupEvent> {
        self.events.pop_front()
    }

    /// The application is alive and taking records (Java's `poll`). A member out of the group because it did not
    /// poll for max.poll.interval.ms rejoins.
    pub fn poll(&mut self, now: Instant) {
        self.last_poll = Some(now);
        if matches!(self.phase, Phase::PollTimedOut) && !self.closing {
            self.phase = Phase::Unjoined;
        }
    }

    /// The application consumed `tp` up to `next_offset` (exclusive): auto-commit and
    /// [`commit_consumed`](Self::commit_consumed) commit this position.
    pub fn record_consumed(&mut self, tp: &TopicPartition, next_offset: i64) {
        if self.owned.contains(tp) {
            self.consumed.insert(tp.clone(), next_offset);
        }
    }

    /// Commits explicit offsets (the next offset to read, per partition). The outcome arrives as
    /// [`GroupEvent::OffsetsCommitted`] or [`GroupEvent::CommitFailed`] with the returned id.
    pub fn commit(&mut self, offsets: Vec<(TopicPartition, i64)>) -> CommitId {
        self.next_commit_id += 1;
        let id = CommitId(self.next_commit_id);
        if offsets.is_empty() {
            self.events.push_back(GroupEvent::OffsetsCommitted {
                id,
                offsets: Vec::new(),
            });
            return id;
        }
        self.commits_queued.push_back(PendingCommit {
            id,
            offsets,
            attempts: 0,
            not_before: None,
        });
        id
    }

    /// Commits the consumed positions of `partitions` (all owned ones if `None`) that changed since the last
    /// commit; `None` if there is nothing new to commit.
    pub fn commit_consumed(&mut self, partitions: Option<&[TopicPartition]>) -> Option<CommitId> {
        let offsets: Vec<(TopicPartition, i64)> = self
            .consumed
            .iter()
            .filter(|(tp, _)| partitions.is_none_or(|list| list.contains(tp)))
            .filter(|(tp, offset)| self.committed.get(*tp) != Some(*offset))
            .filter(|(tp, offset)| {
                // Not already on its way.
                !self
                    .commits_in_flight
                    .values()
                    .chain(self.commits_queued.iter())
                    .any(|c| c.offsets.iter().any(|(t, o)| t == *tp && o == *offset))
            })
            .map(|(tp, offset)| (tp.clone(), *offset))
            .collect();
        if offsets.is_empty() {
            return None;
        }
        Some(self.commit(offsets))
    }

    /// Whether commits are queued or waiting for their response.
    pub fn has_pending_commits(&self) -> bool {
        !self.commits_queued.is_empty() || !self.commits_in_flight.is_empty()
    }

    /// The application stopped fetching the partitions of the last [`GroupEvent::PartitionsRevoked`] and
    /// committed what it wanted to; the member may rejoin.
    pub fn revoke_done(&mut self) {
        let Some(revoked) = self.revoking.take() else {
            return;
        };
        for tp in &revoked {
            self.owned.remove(tp);
            self.consumed.remove(tp);
            self.offsets_wanted.remove(tp);
        }
        if std::mem::take(&mut self.rejoin_after_revoke) && matches!(self.phase, Phase::Stable) {
            self.phase = Phase::Unjoined;
        }
    }

    /// Leaves the group: queued commits go out first, then LeaveGroup (not for static members, whose
    /// partitions wait for them for session.timeout.ms, as in the Java client). [`GroupEvent::Closed`] follows.
    pub fn close(&mut self) {
        if self.closing {
            return;
        }
        self.closing = true;
        self.revoking = None;
        // Java's rule: a dynamic member with an id says goodbye, even mid-rebalance, so the group need not wait for
        // its session to expire.
        if self.config.group_instance_id.is_none() && !self.member_id.is_empty() {
            self.leave_pending = Some(self.member_id.clone());
        }
    }

    // ---- the sans-IO surface -----------------------------------------------------------------------------

    pub fn broker_address(&self, broker: BrokerId) -> Option<&str> {
        self.coordinator
            .address(broker)
            .or_else(|| self.metadata.broker_address(broker))
    }

    pub fn handle_broker_versions(&mut self, broker: BrokerId, versions: ApiVersionTable) {
        self.versions.insert(broker, versions);
    }

    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if matches!(self.phase, Phase::Closed) {
            return None;
        }
        if let Some(transmit) = self.metadata.poll_transmit(now, &mut self.tokens) {
            return Some(transmit);
        }
        if self.coordinator.known().is_none() {
            return self.find_coordinator(now);
        }
        if let Some(transmit) = self.next_commit(now) {
            return Some(transmit);
        }
        if let Some(transmit) = self.next_leave() {
            return Some(transmit);
        }
        if self.closing {
            if !self.has_pending_commits()
                && self.leave_in_flight.is_none()
                && self.leave_pending.is_none()
            {
                self.finish_close();
            }
            return None;
        }
        if let Some(transmit) = self.next_offset_fetch(now) {
            return Some(transmit);
        }
        if let Some(transmit) = self.next_join_or_sync(now) {
            return Some(transmit);
        }
        self.next_heartbeat(now)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if matches!(self.phase, Phase::Closed) {
            return None;
        }
        let in_group = self.generation >= 0 && !matches!(self.phase, Phase::PollTimedOut);
        let session_deadline = self
            .last_coordinator_contact
            .filter(|_| in_group && matches!(self.phase, Phase::Stable | Phase::Unjoined))
            .map(|t| t + self.config.session_timeout);
        let poll_deadline = self
            .last_poll
            .filter(|_| in_group && !self.closing)
            .map(|t| t + self.config.max_poll_interval);
        let heartbeat = self.next_heartbeat.filter(|_| self.heartbeat_may_go_out());
        let auto_commit = self.next_auto_commit.filter(|_| in_group);
        let commits = self.commits_queued.iter().filter_map(|c| c.not_before);
        [
            session_deadline,
            poll_deadline,
            heartbeat,
            auto_commit,
            self.coordinator.poll_timeout(),
            self.join_not_before,
            self.offsets_not_before,
            self.metadata.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .chain(commits)
        .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.coordinator.handle_timeout(now);
        if self.join_not_before.is_some_and(|t| now >= t) {
            self.join_not_before = None;
        }
        if self.offsets_not_before.is_some_and(|t| now >= t) {
            self.offsets_not_before = None;
        }
        let in_group =
            self.generation >= 0 && !matches!(self.phase, Phase::PollTimedOut | Phase::Closed);
        if !in_group {
            return;
        }
        if !self.closing
            && self
                .last_poll
                .is_some_and(|t| now >= t + self.config.max_poll_interval)
        {
            tracing::warn!(
                group = %self.config.group_id,
                "the application did not poll within max.poll.interval.ms; leaving the group \
                 (raise max.poll.interval.ms or process records faster)"
            );
            // Java's rule: a dynamic member says goodbye so the group rebalances now; a static member stays
            // registered until session.timeout.ms, expecting to come back.
            if self.config.group_instance_id.is_none() && !self.member_id.is_empty() {
                self.leave_pending = Some(self.member_id.clone());
            }
            self.lose_partitions(true);
            self.phase = Phase::PollTimedOut;
            return;
        }
        // Only while heartbeating: a JoinGroup legitimately waits up to the rebalance timeout for its answer.
        let heartbeating = matches!(self.phase, Phase::Stable | Phase::Unjoined);
        if heartbeating
            && self
                .last_coordinator_contact
                .is_some_and(|t| now >= t + self.config.session_timeout)
        {
            tracing::warn!(group = %self.config.group_id, "no answer from the coordinator within session.timeout.ms; looking for it again");
            self.mark_coordinator_unknown();
            self.last_coordinator_contact = Some(now);
        }
        if self.next_auto_commit.is_some_and(|t| now >= t) {
            if let Some(interval) = self.config.auto_commit_interval {
                self.next_auto_commit = Some(now + interval);
                if matches!(self.phase, Phase::Stable) {
                    self.commit_consumed(None);
                }
            }
        }
    }

    pub fn handle_response(
        &mut self,
        broker: BrokerId,
        token: RequestToken,
        result: ResponseResult,
        now: Instant,
    ) {
        if let Some(refreshed) = self.metadata.take_response(broker, token, &result, now) {
            if refreshed.succeeded {
                self.metadata_refreshes += 1;
                self.after_metadata(&refreshed.changed);
            }
            return;
        }
        if self.coordinator.owns(token) {
            match result {
                Ok(Response::FindCoordinator(response)) => {
                    self.handle_find_coordinator(&response, now)
                }
                Ok(other) => {
                    self.find_failed(TransportError::unexpected_response(broker, &other), now)
                }
                Err(error) => self.find_failed(error, now),
            }
            return;
        }
        if let Some(commit) = self.commits_in_flight.remove(&token) {
            match result {
                Ok(Response::OffsetCommit(response)) => {
                    self.handle_commit_response(commit, &response, now)
                }
                Ok(other) => self.commit_transport_failed(
                    commit,
                    TransportError::unexpected_response(broker, &other),
                    now,
                ),
                Err(error) => self.commit_transport_failed(commit, error, now),
            }
            return;
        }
        if self.offset_fetch.as_ref().is_some_and(|f| f.token == token) {
            let Some(in_flight) = self.offset_fetch.take() else {
                return;
            };
            match result {
                Ok(Response::OffsetFetch(response)) => {
                    self.handle_offset_fetch(in_flight, &response, now)
                }
                Ok(_) | Err(_) => {
                    self.mark_coordinator_unknown();
                    self.retry_offset_fetch(in_flight.partitions, now);
                }
            }
            return;
        }
        if self.heartbeat_in_flight == Some(token) {
            self.heartbeat_in_flight = None;
            match result {
                Ok(Response::Heartbeat(response)) => {
                    self.handle_heartbeat(response_error(response.error_code), now)
                }
                Ok(_) | Err(_) => {
                    self.mark_coordinator_unknown();
                    self.next_heartbeat = Some(now + self.config.retry_backoff);
                }
            }
            return;
        }
        if self.leave_in_flight == Some(token) {
            self.leave_in_flight = None;
            // Whatever the answer, the member is gone from our side; the session timeout covers a lost leave.
            return;
        }
        match (&self.phase, result) {
            (Phase::Joining { token: joining }, result) if *joining == token => match result {
                Ok(Response::JoinGroup(response)) => self.handle_join(response, now),
                Ok(_) | Err(_) => {
                    self.mark_coordinator_unknown();
                    self.phase = Phase::Unjoined;
                }
            },
            (Phase::Syncing { token: syncing }, result) if *syncing == token => match result {
                Ok(Response::SyncGroup(response)) => self.handle_sync(response, now),
                Ok(_) | Err(_) => {
                    tracing::debug!(group = %self.config.group_id, "SyncGroup got no response");
                    self.mark_coordinator_unknown();
                    self.phase = Phase::Unjoined;
                }
            },
            // A response to something superseded (a join from before a reset): nothing to do.
            _ => {}
        }
    }

    // ---- coordinator -------------------------------------------------------------------------------------

    fn find_coordinator(&mut self, now: Instant) -> Option<Transmit> {
        if !self.coordinator.lookup_due(now) {
            return None;
        }
        if self.closing && !self.has_pending_commits() {
            // Nothing left to tell a coordinator we do not know; the session timeout removes us.
            self.finish_close();
            return None;
        }
        let broker = self.metadata.any_broker();
        self.coordinator
            .poll_lookup(now, &mut self.tokens, broker, None)
    }

    fn handle_find_coordinator(&mut self, response: &FindCoordinatorResponse, now: Instant) {
        match self.coordinator.handle_lookup(Some(response)) {
            Some(Lookup::Found(coordinator)) => {
                tracing::debug!(group = %self.config.group_id, coordinator = coordinator.broker, address = %coordinator.address, "found coordinator");
                self.last_coordinator_contact = Some(now);
            }
            Some(Lookup::Failed(error))
                if !is_coordinator_retriable(error) && !error.is_retriable() =>
            {
                self.coordinator.back_off(now + self.config.retry_backoff);
                self.fatal(GroupError::Broker {
                    api: ApiKey::FindCoordinator,
                    error,
                });
            }
            Some(Lookup::Failed(_) | Lookup::NoNode) | None => {
                self.coordinator.back_off(now + self.config.retry_backoff)
            }
        }
    }

    fn find_failed(&mut self, error: TransportError, now: Instant) {
        tracing::debug!(%error, "FindCoordinator failed");
        self.coordinator.handle_lookup(None);
        self.metadata.request_refresh();
        self.coordinator.back_off(now + self.config.retry_backoff);
    }

    fn mark_coordinator_unknown(&mut self) {
        // A heartbeat stuck on the old coordinator's connection must not hold back the next one.
        self.heartbeat_in_flight = None;
        if self.coordinator.forget() {
            tracing::debug!(group = %self.config.group_id, "coordinator unknown; rediscovering");
        }
    }

    fn coordinator_version(&self, api: ApiKey) -> Option<i16> {
        let coordinator = self.coordinator.broker()?;
        match self.versions.get(&coordinator) {
            Some(table) => table.negotiate(api).ok(),
            // Not connected yet: the connection will pick the highest common version.
            None => client_range(api).map(|(_, max)| max),
        }
    }

    fn instance_id_if(&self, api: ApiKey, min_version: i16) -> Option<StrBytes> {
        let instance = self.config.group_instance_id.as_ref()?;
        (self.coordinator_version(api)? >= min_version)
            .then(|| StrBytes::from_string(instance.clone()))
    }

    fn transmit_to_coordinator(&mut self, request: Request) -> Option<(RequestToken, Transmit)> {
        let broker = self.coordinator.broker()?;
        let token = self.tokens.next_token();
        Some((
            token,
            Transmit {
                broker,
                token,
                request,
                expects_response: true,
            },
        ))
    }

    fn fatal(&mut self, error: GroupError) {
        tracing::error!(group = %self.config.group_id, %error, "group member failed");
        self.events.push_back(GroupEvent::Fatal { error });
    }

    // ---- join and sync -----------------------------------------------------------------------------------

    fn next_join_or_sync(&mut self, now: Instant) -> Option<Transmit> {
        match &self.phase {
            Phase::Unjoined => {
                if self.revoking.is_some() || self.join_not_before.is_some_and(|t| now < t) {
                    return None;
                }
                // Under eager protocols every partition is given up before joining.
                if !self.cooperative() && !self.owned.is_empty() {
                    self.revoke(self.owned.iter().cloned().collect(), false);
                    return None;
                }
                self.send_join()
            }
            Phase::Assigning(duty) => {
                if self.metadata_refreshes <= duty.refreshes_before {
                    return None;
                }
                let duty = duty.clone();
                self.send_sync_as_leader(duty)
            }
            Phase::ReadyToSync => self.send_sync(Vec::new()),
            _ => None,
        }
    }

    /// Whether the configured assignors allow keeping partitions across rebalances: only when every one of them
    /// is cooperative, as in the Java client (a group falls back to eager when any member's list is eager).
    fn cooperative(&self) -> bool {
        self.config.strategies.iter().all(|s| s.is_cooperative())
    }

    fn send_join(&mut self) -> Option<Transmit> {
        let owned: Vec<TopicPartition> = self.owned.iter().cloned().collect();
        let metadata =
            match consumer_protocol::encode_subscription(&self.topics, &owned, self.generation) {
                Ok(bytes) => bytes,
                Err(error) => {
                    self.fatal(error.into());
                    self.phase = Phase::Closed;
                    return None;
                }
            };
        let protocols = self
            .config
            .strategies
            .iter()
            .map(|s| {
                JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str(s.protocol_name()))
                    .with_metadata(metadata.clone())
            })
            .collect();
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.config.group_id.clone())))
            .with_session_timeout_ms(millis_i32(self.config.session_timeout))
            .with_rebalance_timeout_ms(millis_i32(self.config.max_poll_interval))
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_group_instance_id(self.instance_id_if(ApiKey::JoinGroup, 5))
            .with_protocol_type(StrBytes::from_static_str(PROTOCOL_TYPE_CONSUMER))
            .with_protocols(protocols);
        let (token, transmit) = self.transmit_to_coordinator(Request::JoinGroup(request))?;
        tracing::debug!(group = %self.config.group_id, member = %self.member_id, "joining");
        self.phase = Phase::Joining { token };
        Some(transmit)
    }

    fn handle_join(&mut self, response: JoinGroupResponse, now: Instant) {
        use ResponseError::*;
        self.last_coordinator_contact = Some(now);
        match response_error(response.error_code) {
            None => {}
            Some(MemberIdRequired) => {
                // KIP-394: the coordinator hands out the member id and expects it back on the next join.
                self.member_id = response.member_id.to_string();
                self.phase = Phase::Unjoined;
                return;
            }
            Some(UnknownMemberId) => {
                self.member_id.clear();
                self.generation = -1;
                self.phase = Phase::Unjoined;
                return;
            }
            Some(IllegalGeneration) => {
                self.generation = -1;
                self.phase = Phase::Unjoined;
                return;
            }
            Some(error) if coordinator_moved(error) => {
                tracing::debug!(%error, "JoinGroup: coordinator moved");
                self.mark_coordinator_unknown();
                self.phase = Phase::Unjoined;
                return;
            }
            Some(CoordinatorLoadInProgress | RebalanceInProgress) => {
                self.phase = Phase::Unjoined;
                self.join_not_before = Some(now + self.config.retry_backoff);
                return;
            }
            Some(error) => {
                self.phase = Phase::Unjoined;
                self.join_not_before = Some(now + self.config.retry_backoff);
                if !error.is_retriable() {
                    self.fatal(GroupError::Broker {
                        api: ApiKey::JoinGroup,
                        error,
                    });
                    self.phase = Phase::Closed;
                }
                return;
            }
        }
        self.member_id = response.member_id.to_string();
        self.generation = response.generation_id;
        self.last_coordinator_contact = Some(now);
        self.next_heartbeat = Some(now + self.config.heartbeat_interval);
        let name = response
            .protocol_name
            .as_ref()
            .map(|n| n.to_string())
            .unwrap_or_default();
        let Some(strategy) = self
            .config
            .strategies
            .iter()
            .copied()
            .find(|s| s.protocol_name() == name)
        else {
            self.fatal(GroupError::UnknownProtocol { name });
            self.phase = Phase::Closed;
            return;
        };
        self.protocol = Some(strategy);
        tracing::debug!(group = %self.config.group_id, member = %self.member_id, generation = self.generation, protocol = %name, leader = %response.leader.as_str(), "joined");
        if response.leader.as_str() == self.member_id && !response.skip_assignment {
            let mut members = Vec::with_capacity(response.members.len());
            for member in &response.members {
                match assignor::decode_member(
                    member.member_id.as_str(),
                    member.group_instance_id.as_deref(),
                    member.metadata.clone(),
                ) {
                    Ok(subscription) => members.push(subscription),
                    Err(error) => {
                        // One member's garbage should not stop the group: it gets nothing.
                        tracing::warn!(member = %member.member_id.as_str(), %error, "unreadable subscription");
                        members.push(MemberSubscription {
                            member_id: member.member_id.to_string(),
                            group_instance_id: member
                                .group_instance_id
                                .as_ref()
                                .map(|i| i.to_string()),
                            topics: Vec::new(),
                            owned_partitions: Vec::new(),
                            generation: -1,
                        });
                    }
                }
            }
            for topic in members.iter().flat_map(|m| m.topics.iter()) {
                self.metadata.want_topic(topic);
            }
            self.metadata.request_refresh();
            self.phase = Phase::Assigning(LeaderDuty {
                strategy,
                members,
                refreshes_before: self.metadata_refreshes,
            });
        } else {
            self.leader_partition_counts = None;
            self.phase = Phase::ReadyToSync;
        }
    }

    fn send_sync_as_leader(&mut self, duty: LeaderDuty) -> Option<Transmit> {
        let mut partition_counts = BTreeMap::new();
        for topic in duty.members.iter().flat_map(|m| m.topics.iter()) {
            if let Some(metadata) = self.metadata.topic(topic) {
                partition_counts.insert(topic.clone(), metadata.partitions.len() as i32);
            }
        }
        let assignment = assignor::assign(duty.strategy, &duty.members, &partition_counts);
        let mut assignments = Vec::with_capacity(assignment.len());
        for (member_id, partitions) in &assignment {
            match consumer_protocol::encode_assignment(partitions) {
                Ok(bytes) => assignments.push(
                    SyncGroupRequestAssignment::default()
                        .with_member_id(StrBytes::from_string(member_id.clone()))
                        .with_assignment(bytes),
                ),
                Err(error) => {
                    self.fatal(error.into());
                    self.phase = Phase::Closed;
                    return None;
                }
            }
        }
        tracing::debug!(group = %self.config.group_id, ?assignment, "leader assigned");
        self.leader_partition_counts = Some(partition_counts);
        self.send_sync(assignments)
    }

    fn send_sync(&mut self, assignments: Vec<SyncGroupRequestAssignment>) -> Option<Transmit> {
        let protocol_name = self
            .protocol
            .map(|p| StrBytes::from_static_str(p.protocol_name()));
        let request = SyncGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.config.group_id.clone())))
            .with_generation_id(self.generation)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_group_instance_id(self.instance_id_if(ApiKey::SyncGroup, 3))
            .with_protocol_type(Some(StrBytes::from_static_str(PROTOCOL_TYPE_CONSUMER)))
            .with_protocol_name(protocol_name)
            .with_assignments(assignments);
        match self.transmit_to_coordinator(Request::SyncGroup(request)) {
            Some((token, transmit)) => {
                self.phase = Phase::Syncing { token };
                Some(transmit)
            }
            None => {
                self.phase = Phase::Unjoined;
                None
            }
        }
    }

    fn handle_sync(&mut self, response: SyncGroupResponse, now: Instant) {
        use ResponseError::*;
        self.last_coordinator_contact = Some(now);
        let error = response_error(response.error_code);
        if let Some(error) = error {
            tracing::debug!(group = %self.config.group_id, %error, "SyncGroup failed");
        }
        match error {
            None => {}
            Some(RebalanceInProgress) => {
                self.phase = Phase::Unjoined;
                return;
            }
            Some(UnknownMemberId | FencedInstanceId) => {
                self.lose_partitions(true);
                return;
            }
            Some(IllegalGeneration) => {
                self.lose_partitions(false);
                return;
            }
            Some(error) if coordinator_moved(error) => {
                self.mark_coordinator_unknown();
                self.phase = Phase::Unjoined;
                return;
            }
            Some(error) if error.is_retriable() => {
                self.phase = Phase::Unjoined;
                self.join_not_before = Some(now + self.config.retry_backoff);
                return;
            }
            Some(error) => {
                self.fatal(GroupError::Broker {
                    api: ApiKey::SyncGroup,
                    error,
                });
                self.phase = Phase::Closed;
                return;
            }
        }
        let assigned = match consumer_protocol::decode_assignment(response.assignment.clone()) {
            Ok(partitions) => partitions,
            Err(error) => {
                self.fatal(error.into());
                self.phase = Phase::Closed;
                return;
            }
        };
        self.last_coordinator_contact = Some(now);
        self.phase = Phase::Stable;
        self.next_heartbeat = Some(now + self.config.heartbeat_interval);
        if let Some(interval) = self.config.auto_commit_interval {
            self.next_auto_commit.get_or_insert(now + interval);
        }
        let assigned_set: BTreeSet<TopicPartition> = assigned.iter().cloned().collect();
        let added: Vec<TopicPartition> = assigned_set.difference(&self.owned).cloned().collect();
        let revoked: Vec<TopicPartition> = self.owned.difference(&assigned_set).cloned().collect();
        tracing::info!(group = %self.config.group_id, generation = self.generation, assigned = ?assigned, "assignment received");
        for tp in &added {
            self.owned.insert(tp.clone());
            self.offsets_wanted.insert(tp.clone());
        }
        self.events
            .push_back(GroupEvent::PartitionsAssigned { partitions: added });
        if !revoked.is_empty() {
            // KIP-429: give these up, then rejoin so the leader can hand them to their new owner.
            self.revoke(revoked, true);
        }
    }

    fn revoke(&mut self, partitions: Vec<TopicPartition>, rejoin_after: bool) {
        self.rejoin_after_revoke = rejoin_after;
        self.revoking = Some(partitions.clone());
        self.events
            .push_back(GroupEvent::PartitionsRevoked { partitions });
    }

    /// Starts a new rebalance from a stable generation.
    fn rejoin(&mut self) {
        if matches!(self.phase, Phase::Stable) {
            self.phase = Phase::Unjoined;
            if !self.cooperative() && !self.owned.is_empty() && self.revoking.is_none() {
                self.revoke(self.owned.iter().cloned().collect(), false);
            }
        }
    }

    /// Drops every owned partition without a commit and goes back to joining.
    fn lose_partitions(&mut self, forget_member_id: bool) {
        let lost: Vec<TopicPartition> = std::mem::take(&mut self.owned).into_iter().collect();
        self.revoking = None;
        self.rejoin_after_revoke = false;
        self.consumed.clear();
        self.offsets_wanted.clear();
        self.generation = -1;
        if forget_member_id {
            self.member_id.clear();
        }
        if !lost.is_empty() {
            self.events
                .push_back(GroupEvent::PartitionsLost { partitions: lost });
        }
        if !matches!(self.phase, Phase::Closed | Phase::PollTimedOut) {
            self.phase = Phase::Unjoined;
        }
    }

    fn after_metadata(&mut self, changed: &[String]) {
        let affects_assignment = self
            .leader_partition_counts
            .as_ref()
            .is_some_and(|counts| changed.iter().any(|t| counts.contains_key(t)));
        if affects_assignment && matches!(self.phase, Phase::Stable) {
            tracing::info!(group = %self.config.group_id, ?changed, "partition count changed; rebalancing");
            self.rejoin();
        }
    }

    // ---- heartbeat ---------------------------------------------------------------------------------------

    /// Whether a due heartbeat would be sent now. `poll_timeout` names the heartbeat's time only then: a due
    /// heartbeat that cannot go out (no coordinator known, one still in flight) would otherwise be a deadline
    /// in the past, and the driver would wake for it again and again; what unblocks it is a response.
    fn heartbeat_may_go_out(&self) -> bool {
        // As the Java client: from the JoinGroup answer on, through SyncGroup, so the coordinator keeps the session
        // alive while the leader assigns.
        let heartbeating = self.generation >= 0
            && matches!(
                self.phase,
                Phase::Stable
                    | Phase::Unjoined
                    | Phase::Assigning(_)
                    | Phase::ReadyToSync
                    | Phase::Syncing { .. }
            );
        heartbeating
            && self.heartbeat_in_flight.is_none()
            && self.coordinator.known().is_some()
            && !self.closing
    }

    fn next_heartbeat(&mut self, now: Instant) -> Option<Transmit> {
        if !self.heartbeat_may_go_out() || self.next_heartbeat.is_none_or(|t| now < t) {
            return None;
        }
        let request = HeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.config.group_id.clone())))
            .with_generation_id(self.generation)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_group_instance_id(self.instance_id_if(ApiKey::Heartbeat, 3));
        let (token, transmit) = self.transmit_to_coordinator(Request::Heartbeat(request))?;
        self.heartbeat_in_flight = Some(token);
        self.next_heartbeat = Some(now + self.config.heartbeat_interval);
        Some(transmit)
    }

    fn handle_heartbeat(&mut self, error: Option<ResponseError>, now: Instant) {
        use ResponseError::*;
        if let Some(error) = error {
            tracing::debug!(group = %self.config.group_id, %error, "Heartbeat failed");
        }
        match error {
            None => self.last_coordinator_contact = Some(now),
            Some(RebalanceInProgress) => {
                self.last_coordinator_contact = Some(now);
                tracing::info!(group = %self.config.group_id, "rebalance in progress; rejoining");
                self.rejoin();
            }
            Some(UnknownMemberId | FencedInstanceId) => self.lose_partitions(true),
            Some(IllegalGeneration) => self.lose_partitions(false),
            Some(error) if coordinator_moved(error) => {
                self.mark_coordinator_unknown();
                self.next_heartbeat = Some(now + self.config.retry_backoff);
            }
            Some(error) if error.is_retriable() => {
                self.next_heartbeat = Some(now + self.config.retry_backoff);
            }
            Some(error) => self.fatal(GroupError::Broker {
                api: ApiKey::Heartbeat,
                error,
            }),
        }
    }

    // ---- commits -----------------------------------------------------------------------------------------

    fn next_commit(&mut self, now: Instant) -> Option<Transmit> {
        let index = self
            .commits_queued
            .iter()
            .position(|c| c.not_before.is_none_or(|t| now >= t))?;
        let mut commit = self.commits_queued.remove(index)?;
        let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for (tp, offset) in &commit.offsets {
            by_topic.entry(&tp.topic).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(tp.partition)
                    .with_committed_offset(*offset),
            );
        }
        let topics = by_topic
            .into_iter()
            .map(|(topic, partitions)| {
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                    .with_partitions(partitions)
            })
            .collect();
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.config.group_id.clone())))
            .with_generation_id_or_member_epoch(self.generation)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_group_instance_id(self.instance_id_if(ApiKey::OffsetCommit, 7))
            .with_topics(topics);
        commit.attempts += 1;
        let Some((token, transmit)) = self.transmit_to_coordinator(Request::OffsetCommit(request))
        else {
            self.commits_queued.push_front(commit);
            return None;
        };
        self.commits_in_flight.insert(token, commit);
        Some(transmit)
    }

    fn handle_commit_response(
        &mut self,
        mut commit: PendingCommit,
        response: &OffsetCommitResponse,
        now: Instant,
    ) {
        use ResponseError::*;
        let first_error = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find_map(|p| response_error(p.error_code));
        match first_error {
            None => {
                for (tp, offset) in &commit.offsets {
                    self.committed.insert(tp.clone(), *offset);
                }
                self.events.push_back(GroupEvent::OffsetsCommitted {
                    id: commit.id,
                    offsets: commit.offsets,
                });
            }
            Some(
                error @ (NotCoordinator
                | CoordinatorNotAvailable
                | CoordinatorLoadInProgress
                | RequestTimedOut),
            ) if commit.attempts < MAX_COMMIT_ATTEMPTS => {
                if error != CoordinatorLoadInProgress {
                    self.mark_coordinator_unknown();
                }
                commit.not_before = Some(now + self.config.retry_backoff);
                self.commits_queued.push_front(commit);
            }
            Some(error) => {
                let generation_gone = matches!(
                    error,
                    UnknownMemberId | IllegalGeneration | FencedInstanceId
                );
                self.events.push_back(GroupEvent::CommitFailed {
                    id: commit.id,
                    error: GroupError::Broker {
                        api: ApiKey::OffsetCommit,
                        error,
                    },
                });
                if error == RebalanceInProgress {
                    self.rejoin();
                } else if generation_gone && !self.closing {
                    self.lose_partitions(error != IllegalGeneration);
                }
            }
        }
        self.after_commit_settled();
    }

    fn commit_transport_failed(
        &mut self,
        mut commit: PendingCommit,
        error: TransportError,
        now: Instant,
    ) {
        self.mark_coordinator_unknown();
        if commit.attempts < MAX_COMMIT_ATTEMPTS {
            commit.not_before = Some(now + self.config.retry_backoff);
            self.commits_queued.push_front(commit);
        } else {
            self.events.push_back(GroupEvent::CommitFailed {
                id: commit.id,
                error: GroupError::Transport {
                    api: ApiKey::OffsetCommit,
                    error,
                },
            });
        }
        self.after_commit_settled();
    }

    fn after_commit_settled(&mut self) {
        if self.closing && !self.has_pending_commits() && self.coordinator.known().is_none() {
            self.finish_close();
        }
    }

    // ---- offset fetch ------------------------------------------------------------------------------------

    fn next_offset_fetch(&mut self, now: Instant) -> Option<Transmit> {
        if self.offset_fetch.is_some()
            || self.offsets_wanted.is_empty()
            || self.offsets_not_before.is_some_and(|t| now < t)
            || self.generation < 0
        {
            return None;
        }
        let partitions: Vec<TopicPartition> = self.offsets_wanted.iter().cloned().collect();
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in &partitions {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        let topics = by_topic
            .into_iter()
            .map(|(topic, partition_indexes)| {
                OffsetFetchRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                    .with_partition_indexes(partition_indexes)
            })
            .collect();
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.config.group_id.clone())))
            .with_topics(Some(topics))
            // KIP-447: wait for offsets committed in open transactions rather than read stale ones.
            .with_require_stable(
                self.coordinator_version(ApiKey::OffsetFetch)
                    .is_some_and(|v| v >= 7),
            );
        let (token, transmit) = self.transmit_to_coordinator(Request::OffsetFetch(request))?;
        self.offset_fetch = Some(OffsetFetchInFlight { token, partitions });
        Some(transmit)
    }

    fn retry_offset_fetch(&mut self, partitions: Vec<TopicPartition>, now: Instant) {
        self.offsets_not_before = Some(now + self.config.retry_backoff);
        // Only partitions still owned are worth asking about again.
        for tp in partitions {
            if self.owned.contains(&tp) {
                self.offsets_wanted.insert(tp);
            }
        }
    }

    fn handle_offset_fetch(
        &mut self,
        in_flight: OffsetFetchInFlight,
        response: &OffsetFetchResponse,
        now: Instant,
    ) {
        use ResponseError::*;
        if let Some(error) = response_error(response.error_code) {
            match error {
                error if coordinator_moved(error) => self.mark_coordinator_unknown(),
                CoordinatorLoadInProgress | UnstableOffsetCommit => {}
                error if error.is_retriable() => {}
                error => {
                    self.fatal(GroupError::Broker {
                        api: ApiKey::OffsetFetch,
                        error,
                    });
                    return;
                }
            }
            return self.retry_offset_fetch(in_flight.partitions, now);
        }
        let mut offsets = Vec::new();
        let mut retry = Vec::new();
        for tp in in_flight.partitions {
            if !self.offsets_wanted.contains(&tp) {
                continue; // revoked or lost meanwhile, or asked again
            }
            let answer = response
                .topics
                .iter()
                .filter(|t| t.name.0.as_str() == tp.topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == tp.partition);
            match answer {
                Some(p) if p.error_code == 0 => {
                    self.offsets_wanted.remove(&tp);
                    let committed = (p.committed_offset >= 0).then_some(p.committed_offset);
                    if let Some(offset) = committed {
                        self.committed.insert(tp.clone(), offset);
                    }
                    offsets.push((tp, committed));
                }
                Some(p)
                    if response_error(p.error_code)
                        .is_some_and(|e| !e.is_retriable() && e != UnstableOffsetCommit) =>
                {
                    // A partition the group has no offset for in a way that will not change: start by reset.
                    self.offsets_wanted.remove(&tp);
                    offsets.push((tp, None));
                }
                _ => retry.push(tp),
            }
        }
        if !retry.is_empty() {
            for tp in &retry {
                self.offsets_wanted.remove(tp);
            }
            self.retry_offset_fetch(retry, now);
        }
        if !offsets.is_empty() {
            self.events
                .push_back(GroupEvent::CommittedOffsets { offsets });
        }
    }

    // ---- leaving -----------------------------------------------------------------------------------------

    fn next_leave(&mut self) -> Option<Transmit> {
        if self.leave_in_flight.is_some() || self.has_pending_commits() {
            return None;
        }
        let member_id = self.leave_pending.clone()?;
        let version = self.coordinator_version(ApiKey::LeaveGroup).unwrap_or(3);
        let group_id = GroupId(StrBytes::from_string(self.config.group_id.clone()));
        let member_id = StrBytes::from_string(member_id);
        let request = if version >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(group_id)
                .with_members(vec![MemberIdentity::default().with_member_id(member_id)])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(group_id)
                .with_member_id(member_id)
        };
        let (token, transmit) = self.transmit_to_coordinator(Request::LeaveGroup(request))?;
        self.leave_in_flight = Some(token);
        self.leave_pending = None;
        Some(transmit)
    }

    fn finish_close(&mut self) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        self.phase = Phase::Closed;
        self.owned.clear();
        self.generation = -1;
        self.events.push_back(GroupEvent::Closed);
    }
}

fn millis_i32(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}
