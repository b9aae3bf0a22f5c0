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
mod commits;
mod events;
mod membership;
mod session;
#[cfg(test)]
mod tests;

pub use events::{CommitId, GroupConfig, GroupError, GroupEvent};

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use self::assignor::MemberSubscription;
use super::config::{AssignmentStrategy, ConsumerConfig};
use super::consumer::TopicPartition;
use super::coordinator::{CoordinatorKey, CoordinatorState};
use super::errors::response_error;
use super::metadata::MetadataState;
use super::{BrokerId, RequestToken, ResponseResult, TokenSource, Transmit, TransportError};
use crate::protocol::versions::ApiVersionTable;
use crate::protocol::Response;

/// JoinGroup protocol type of consumers; Connect workers use "connect".
const PROTOCOL_TYPE_CONSUMER: &str = "consumer";
/// Attempts for a commit whose coordinator moved or could not be reached, before it is reported failed.
const MAX_COMMIT_ATTEMPTS: u32 = 10;

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
}

fn millis_i32(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}
