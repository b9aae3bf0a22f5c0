//! A member of a Connect worker group, sans-IO: finding the coordinator, JoinGroup with protocol type
//! `connect`, the leader's SyncGroup, heartbeats and leaving.
//!
//! Unlike a consumer's member it knows nothing of what is assigned: the metadata it offers and the assignments
//! it receives are bytes the caller encodes and decodes (with [`crate::protocol::connect_protocol`]), and the
//! leader's assignment is the caller's to compute: [`WorkerGroupEvent::Lead`] hands it the members and
//! [`WorkerGroupMember::assign`] sends what it decided. Rebalances are cooperative (Connect's incremental
//! protocol, KIP-415): a member keeps running what it has while the group rebalances, and gives up only what an
//! assignment revokes; the caller rejoins after a revocation with [`WorkerGroupMember::rejoin`].
//!
//! Time is an argument; nothing here touches a socket, thread or clock.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::client::coordinator::{
    coordinator_moved, is_coordinator_retriable, CoordinatorKey, CoordinatorState, Lookup,
};
use crate::client::errors::{response_error, ResponseError};
use crate::client::group::GroupError;
use crate::client::metadata::MetadataState;
use crate::client::{
    BrokerId, RequestToken, ResponseResult, TokenSource, Transmit, TransportError,
};
use crate::protocol::versions::{client_range, ApiVersionTable};
use crate::protocol::{Request, Response};

/// JoinGroup protocol type of Kafka Connect workers.
pub const PROTOCOL_TYPE_CONNECT: &str = "connect";

/// How the member takes part in its group (Kafka Connect's worker keys of the same names).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerGroupConfig {
    pub group_id: String,
    /// Static membership (KIP-345): a restarted worker with the same id gets its assignment back without a
    /// rebalance of the others, if it returns within the session timeout.
    pub group_instance_id: Option<String>,
    pub bootstrap_servers: Vec<String>,
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// How long the coordinator waits for every member to rejoin during a rebalance.
    pub rebalance_timeout: Duration,
    pub retry_backoff: Duration,
    pub metadata_max_age: Duration,
}

/// One member as the coordinator told the leader of it.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// The metadata the member offered for the protocol the coordinator chose.
    pub metadata: Bytes,
}

/// What the member reports to its caller.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerGroupEvent {
    /// A rebalance began (the coordinator asked, or the caller did); what runs keeps running meanwhile.
    RebalanceStarted,
    /// This member leads `generation`: compute every member's assignment and call
    /// [`WorkerGroupMember::assign`].
    Lead {
        generation: i32,
        protocol: String,
        members: Vec<JoinedMember>,
    },
    /// The assignment of `generation` for this member.
    Assigned {
        generation: i32,
        protocol: String,
        member_id: String,
        assignment: Bytes,
    },
    /// This member is out of the group (its session expired, or it was fenced): the leader may already have
    /// handed its work to others. Stop everything; the member joins again as new.
    Lost,
    /// The member cannot go on (authorization, inconsistent protocols).
    Fatal { error: GroupError },
    /// [`WorkerGroupMember::close`] finished.
    Closed,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Unjoined,
    Joining {
        token: RequestToken,
    },
    /// The leader computes the assignment of this generation.
    Leading {
        generation: i32,
    },
    ReadyToSync,
    Syncing {
        token: RequestToken,
    },
    Stable,
    Closed,
}

/// The sans-IO member. See the module documentation.
#[derive(Debug)]
pub struct WorkerGroupMember {
    config: WorkerGroupConfig,
    metadata: MetadataState,
    tokens: TokenSource,
    versions: HashMap<BrokerId, ApiVersionTable>,
    coordinator: CoordinatorState,
    /// The protocols offered at the next JoinGroup, most preferred first, with their metadata.
    protocols: Vec<(String, Bytes)>,
    member_id: String,
    generation: i32,
    protocol: Option<String>,
    phase: Phase,
    /// The SyncGroup assignments to send next (the leader's; empty for a follower).
    pending_sync: Option<Vec<SyncGroupRequestAssignment>>,
    join_not_before: Option<Instant>,
    heartbeat_in_flight: Option<RequestToken>,
    next_heartbeat: Option<Instant>,
    last_coordinator_contact: Option<Instant>,
    closing: bool,
    leave_pending: Option<String>,
    leave_in_flight: Option<RequestToken>,
    events: VecDeque<WorkerGroupEvent>,
}

impl WorkerGroupMember {
    /// A member that joins once [`set_protocols`](Self::set_protocols) gave it something to offer.
    pub fn new(config: WorkerGroupConfig) -> Result<Self, GroupError> {
        if config.group_id.is_empty() {
            return Err(GroupError::NoGroupId);
        }
        let metadata = MetadataState::new(
            config.bootstrap_servers.clone(),
            config.metadata_max_age,
            config.retry_backoff,
            false,
        );
        Ok(Self {
            coordinator: CoordinatorState::new(CoordinatorKey::Group(config.group_id.clone())),
            config,
            metadata,
            tokens: TokenSource::default(),
            versions: HashMap::new(),
            protocols: Vec::new(),
            member_id: String::new(),
            generation: -1,
            protocol: None,
            phase: Phase::Unjoined,
            pending_sync: None,
            join_not_before: None,
            heartbeat_in_flight: None,
            next_heartbeat: None,
            last_coordinator_contact: None,
            closing: false,
            leave_pending: None,
            leave_in_flight: None,
            events: VecDeque::new(),
        })
    }

    pub fn group_id(&self) -> &str {
        &self.config.group_id
    }

    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// Whether the member is in a generation with its assignment received.
    pub fn is_stable(&self) -> bool {
        self.phase == Phase::Stable
    }

    pub fn poll_event(&mut self) -> Option<WorkerGroupEvent> {
        self.events.pop_front()
    }

    /// What the next JoinGroup offers (the metadata carries what the member runs, so it changes).
    pub fn set_protocols(&mut self, protocols: Vec<(String, Bytes)>) {
        self.protocols = protocols;
    }

    /// Starts a rebalance (the caller's view of the work changed, or it gave up what it was told to revoke).
    pub fn rejoin(&mut self) {
        if self.phase == Phase::Stable {
            self.phase = Phase::Unjoined;
            self.events.push_back(WorkerGroupEvent::RebalanceStarted);
        }
    }

    /// [`rejoin`](Self::rejoin) at `at`, not before (a scheduled rebalance: lost work waits for its worker).
    pub fn rejoin_at(&mut self, at: Instant) {
        if self.phase == Phase::Stable {
            self.phase = Phase::Unjoined;
            self.join_not_before = Some(at);
            self.events.push_back(WorkerGroupEvent::RebalanceStarted);
        }
    }

    /// The leader's SyncGroup for `generation`: each member id with its encoded assignment. Ignored when the
    /// generation is no longer the one being led.
    pub fn assign(&mut self, generation: i32, assignments: Vec<(String, Bytes)>) {
        if self.phase != (Phase::Leading { generation }) {
            return;
        }
        let assignments = assignments
            .into_iter()
            .map(|(member_id, bytes)| {
                SyncGroupRequestAssignment::default()
                    .with_member_id(StrBytes::from_string(member_id))
                    .with_assignment(bytes)
            })
            .collect();
        self.pending_sync = Some(assignments);
        self.phase = Phase::ReadyToSync;
    }

    /// Leaves the group: LeaveGroup for a dynamic member, so the others rebalance at once; a static member
    /// stays registered until its session times out, expecting to come back. [`WorkerGroupEvent::Closed`]
    /// follows.
    pub fn close(&mut self) {
        if self.closing {
            return;
        }
        self.closing = true;
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
        if self.phase == Phase::Closed {
            return None;
        }
        if let Some(transmit) = self.metadata.poll_transmit(now, &mut self.tokens) {
            return Some(transmit);
        }
        if self.coordinator.known().is_none() {
            return self.find_coordinator(now);
        }
        if let Some(transmit) = self.next_leave() {
            return Some(transmit);
        }
        if self.closing {
            if self.leave_in_flight.is_none() && self.leave_pending.is_none() {
                self.finish_close();
            }
            return None;
        }
        match self.phase {
            Phase::Unjoined
                if self.join_not_before.is_none_or(|t| now >= t) && !self.protocols.is_empty() =>
            {
                if let Some(transmit) = self.send_join() {
                    return Some(transmit);
                }
            }
            Phase::ReadyToSync => {
                let assignments = self.pending_sync.take().unwrap_or_default();
                if let Some(transmit) = self.send_sync(assignments) {
                    return Some(transmit);
                }
            }
            _ => {}
        }
        self.next_heartbeat(now)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Closed {
            return None;
        }
        let session_deadline = self
            .last_coordinator_contact
            .filter(|_| self.generation >= 0 && matches!(self.phase, Phase::Stable))
            .map(|t| t + self.config.session_timeout);
        let heartbeat = self.next_heartbeat.filter(|_| self.heartbeat_may_go_out());
        [
            session_deadline,
            heartbeat,
            self.coordinator.poll_timeout(),
            self.join_not_before
                .filter(|_| self.phase == Phase::Unjoined),
            self.metadata.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.coordinator.handle_timeout(now);
        if self.join_not_before.is_some_and(|t| now >= t) {
            self.join_not_before = None;
        }
        if self.generation < 0 || self.closing {
            return;
        }
        if self.phase == Phase::Stable
            && self
                .last_coordinator_contact
                .is_some_and(|t| now >= t + self.config.session_timeout)
        {
            // The coordinator has surely removed us by now: whatever we run may run elsewhere too.
            tracing::warn!(
                group = %self.config.group_id,
                "no answer from the group coordinator within session.timeout.ms; giving up this worker's tasks and joining again"
            );
            self.mark_coordinator_unknown();
            self.lose(true);
        }
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
        if self.coordinator.owns(token) {
            match result {
                Ok(Response::FindCoordinator(response)) => {
                    match self.coordinator.handle_lookup(Some(&response)) {
                        Some(Lookup::Found(coordinator)) => {
                            tracing::debug!(group = %self.config.group_id, coordinator = coordinator.broker, "found the group coordinator");
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
                        _ => self.coordinator.back_off(now + self.config.retry_backoff),
                    }
                }
                Ok(other) => {
                    self.find_failed(TransportError::unexpected_response(broker, &other), now)
                }
                Err(error) => self.find_failed(error, now),
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
                    self.mark_coordinator_unknown();
                    self.phase = Phase::Unjoined;
                }
            },
            _ => {}
        }
    }

    // ---- joining and syncing -----------------------------------------------------------------------------

    fn send_join(&mut self) -> Option<Transmit> {
        let protocols = self
            .protocols
            .iter()
            .map(|(name, metadata)| {
                JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_string(name.clone()))
                    .with_metadata(metadata.clone())
            })
            .collect();
        let request = JoinGroupRequest::default()
            .with_group_id(self.group_id_field())
            .with_session_timeout_ms(millis_i32(self.config.session_timeout))
            .with_rebalance_timeout_ms(millis_i32(self.config.rebalance_timeout))
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_group_instance_id(self.instance_id_if(ApiKey::JoinGroup, 5))
            .with_protocol_type(StrBytes::from_static_str(PROTOCOL_TYPE_CONNECT))
            .with_protocols(protocols);
        let (token, transmit) = self.transmit_to_coordinator(Request::JoinGroup(request))?;
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
                self.lose(true);
                return;
            }
            Some(IllegalGeneration) => {
                self.lose(false);
                return;
            }
            Some(FencedInstanceId) => {
                // Another process runs with our group.instance.id: two workers must not share one.
                self.fatal(GroupError::Broker {
                    api: ApiKey::JoinGroup,
                    error: FencedInstanceId,
                });
                self.phase = Phase::Closed;
                return;
            }
            Some(error) if coordinator_moved(error) => {
                self.mark_coordinator_unknown();
                self.phase = Phase::Unjoined;
                return;
            }
            Some(error) if error.is_retriable() || error == RebalanceInProgress => {
                self.phase = Phase::Unjoined;
                self.join_not_before = Some(now + self.config.retry_backoff);
                return;
            }
            Some(error) => {
                self.fatal(GroupError::Broker {
                    api: ApiKey::JoinGroup,
                    error,
                });
                self.phase = Phase::Closed;
                return;
            }
        }
        self.member_id = response.member_id.to_string();
        self.generation = response.generation_id;
        self.next_heartbeat = Some(now + self.config.heartbeat_interval);
        let name = response
            .protocol_name
            .as_ref()
            .map(|n| n.to_string())
            .unwrap_or_default();
        if !self.protocols.iter().any(|(offered, _)| *offered == name) {
            self.fatal(GroupError::UnknownProtocol { name });
            self.phase = Phase::Closed;
            return;
        }
        self.protocol = Some(name.clone());
        tracing::debug!(group = %self.config.group_id, member = %self.member_id, generation = self.generation, protocol = %name, leader = %response.leader.as_str(), "joined");
        if response.leader.as_str() == self.member_id && !response.skip_assignment {
            let members = response
                .members
                .iter()
                .map(|m| JoinedMember {
                    member_id: m.member_id.to_string(),
                    group_instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                    metadata: m.metadata.clone(),
                })
                .collect();
            self.phase = Phase::Leading {
                generation: self.generation,
            };
            self.events.push_back(WorkerGroupEvent::Lead {
                generation: self.generation,
                protocol: name,
                members,
            });
        } else {
            self.pending_sync = Some(Vec::new());
            self.phase = Phase::ReadyToSync;
        }
    }

    fn send_sync(&mut self, assignments: Vec<SyncGroupRequestAssignment>) -> Option<Transmit> {
        let request = SyncGroupRequest::default()
            .with_group_id(self.group_id_field())
            .with_generation_id(self.generation)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_group_instance_id(self.instance_id_if(ApiKey::SyncGroup, 3))
            .with_protocol_type(Some(StrBytes::from_static_str(PROTOCOL_TYPE_CONNECT)))
            .with_protocol_name(self.protocol.clone().map(StrBytes::from_string))
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
        match response_error(response.error_code) {
            None => {}
            Some(RebalanceInProgress) => {
                self.phase = Phase::Unjoined;
                return;
            }
            Some(UnknownMemberId | FencedInstanceId) => {
                self.lose(true);
                return;
            }
            Some(IllegalGeneration) => {
                self.lose(false);
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
        self.phase = Phase::Stable;
        self.next_heartbeat = Some(now + self.config.heartbeat_interval);
        self.events.push_back(WorkerGroupEvent::Assigned {
            generation: self.generation,
            protocol: self.protocol.clone().unwrap_or_default(),
            member_id: self.member_id.clone(),
            assignment: response.assignment,
        });
    }

    /// Out of the group: everything owned may be elsewhere already.
    fn lose(&mut self, forget_member_id: bool) {
        let was_in_group = self.generation >= 0;
        self.generation = -1;
        if forget_member_id {
            self.member_id.clear();
        }
        if self.phase != Phase::Closed {
            self.phase = Phase::Unjoined;
        }
        if was_in_group {
            self.events.push_back(WorkerGroupEvent::Lost);
        }
    }

    // ---- the session -------------------------------------------------------------------------------------

    fn find_coordinator(&mut self, now: Instant) -> Option<Transmit> {
        if !self.coordinator.lookup_due(now) {
            return None;
        }
        if self.closing {
            self.finish_close();
            return None;
        }
        let broker = self.metadata.any_broker();
        self.coordinator
            .poll_lookup(now, &mut self.tokens, broker, None)
    }

    fn find_failed(&mut self, error: TransportError, now: Instant) {
        tracing::debug!(group = %self.config.group_id, %error, "FindCoordinator failed");
        self.coordinator.handle_lookup(None);
        self.metadata.request_refresh();
        self.coordinator.back_off(now + self.config.retry_backoff);
    }

    fn mark_coordinator_unknown(&mut self) {
        self.heartbeat_in_flight = None;
        self.coordinator.forget();
    }

    fn coordinator_version(&self, api: ApiKey) -> Option<i16> {
        let coordinator = self.coordinator.broker()?;
        match self.versions.get(&coordinator) {
            Some(table) => table.negotiate(api).ok(),
            None => client_range(api).map(|(_, max)| max),
        }
    }

    fn instance_id_if(&self, api: ApiKey, min_version: i16) -> Option<StrBytes> {
        let instance = self.config.group_instance_id.as_ref()?;
        (self.coordinator_version(api)? >= min_version)
            .then(|| StrBytes::from_string(instance.clone()))
    }

    fn group_id_field(&self) -> GroupId {
        GroupId(StrBytes::from_string(self.config.group_id.clone()))
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
        tracing::error!(group = %self.config.group_id, %error, "worker group member failed");
        self.events.push_back(WorkerGroupEvent::Fatal { error });
    }

    /// As the Java client: heartbeats go out from the JoinGroup answer on, through SyncGroup, so the session
    /// stays alive while the leader assigns.
    fn heartbeat_may_go_out(&self) -> bool {
        self.generation >= 0
            && matches!(
                self.phase,
                Phase::Stable
                    | Phase::Unjoined
                    | Phase::Leading { .. }
                    | Phase::ReadyToSync
                    | Phase::Syncing { .. }
            )
            && self.heartbeat_in_flight.is_none()
            && self.coordinator.known().is_some()
            && !self.closing
    }

    fn next_heartbeat(&mut self, now: Instant) -> Option<Transmit> {
        if !self.heartbeat_may_go_out() || self.next_heartbeat.is_none_or(|t| now < t) {
            return None;
        }
        let request = HeartbeatRequest::default()
            .with_group_id(self.group_id_field())
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
        match error {
            None => self.last_coordinator_contact = Some(now),
            Some(RebalanceInProgress) => {
                self.last_coordinator_contact = Some(now);
                if self.phase == Phase::Stable {
                    tracing::info!(group = %self.config.group_id, "rebalance in progress; rejoining");
                    self.rejoin();
                }
            }
            Some(UnknownMemberId | FencedInstanceId) => self.lose(true),
            Some(IllegalGeneration) => self.lose(false),
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

    fn next_leave(&mut self) -> Option<Transmit> {
        if self.leave_in_flight.is_some() {
            return None;
        }
        let member_id = self.leave_pending.take()?;
        let version = self.coordinator_version(ApiKey::LeaveGroup).unwrap_or(3);
        let member_id = StrBytes::from_string(member_id);
        let request = if version >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(self.group_id_field())
                .with_members(vec![MemberIdentity::default().with_member_id(member_id)])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(self.group_id_field())
                .with_member_id(member_id)
        };
        let (token, transmit) = self.transmit_to_coordinator(Request::LeaveGroup(request))?;
        self.leave_in_flight = Some(token);
        Some(transmit)
    }

    fn finish_close(&mut self) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        self.generation = -1;
        self.events.push_back(WorkerGroupEvent::Closed);
    }
}

fn millis_i32(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
    use kafka_protocol::messages::HeartbeatResponse;

    use super::*;
    use crate::client::testing::{coordinator_is, metadata, ScriptedBroker};

    const COORDINATOR: BrokerId = 7;

    fn config(instance: Option<&str>) -> WorkerGroupConfig {
        WorkerGroupConfig {
            group_id: "connect-cluster".into(),
            group_instance_id: instance.map(str::to_owned),
            bootstrap_servers: vec!["boot:9092".into()],
            session_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(3),
            rebalance_timeout: Duration::from_secs(60),
            retry_backoff: Duration::from_millis(100),
            metadata_max_age: Duration::from_secs(300),
        }
    }

    type Harness = ScriptedBroker<WorkerGroupMember>;

    fn harness(instance: Option<&str>) -> Harness {
        let mut member = WorkerGroupMember::new(config(instance)).expect("member");
        member.set_protocols(vec![("compatible".into(), Bytes::from_static(b"meta"))]);
        ScriptedBroker::new(member, metadata(&[(COORDINATOR, "coord", 9092)], &[]))
    }

    fn events(h: &mut Harness) -> Vec<WorkerGroupEvent> {
        std::iter::from_fn(|| h.machine.poll_event()).collect()
    }

    fn join_ok(member: &str, generation: i32, leader: &str, members: &[&str]) -> Response {
        Response::JoinGroup(
            JoinGroupResponse::default()
                .with_generation_id(generation)
                .with_protocol_type(Some(StrBytes::from_static_str(PROTOCOL_TYPE_CONNECT)))
                .with_protocol_name(Some(StrBytes::from_static_str("compatible")))
                .with_leader(StrBytes::from_string(leader.into()))
                .with_member_id(StrBytes::from_string(member.into()))
                .with_members(
                    members
                        .iter()
                        .map(|id| {
                            JoinGroupResponseMember::default()
                                .with_member_id(StrBytes::from_string(id.to_string()))
                                .with_metadata(Bytes::from(format!("meta-{id}")))
                        })
                        .collect(),
                ),
        )
    }

    /// Metadata, FindCoordinator, then the JoinGroup request.
    fn to_join(h: &mut Harness) -> (Transmit, JoinGroupRequest) {
        let tx = h.poll().expect("FindCoordinator");
        assert_eq!(tx.request.api_key(), ApiKey::FindCoordinator);
        h.reply(&tx, coordinator_is("connect-cluster", COORDINATOR, "coord"));
        let tx = h.poll().expect("JoinGroup");
        let Request::JoinGroup(request) = tx.request.clone() else {
            panic!("expected JoinGroup, got {tx:?}")
        };
        (tx, request)
    }

    #[test]
    fn the_leader_joins_with_protocol_type_connect_assigns_and_gets_its_assignment() {
        let mut h = harness(None);
        let (tx, join) = to_join(&mut h);
        assert_eq!(join.protocol_type.as_str(), "connect");
        assert_eq!(join.protocols[0].name.as_str(), "compatible");
        assert_eq!(join.protocols[0].metadata, Bytes::from_static(b"meta"));
        assert_eq!(join.rebalance_timeout_ms, 60_000);
        h.reply(&tx, join_ok("m1", 4, "m1", &["m1", "m2"]));
        let lead = events(&mut h);
        let [WorkerGroupEvent::Lead {
            generation: 4,
            members,
            ..
        }] = lead.as_slice()
        else {
            panic!("expected Lead, got {lead:?}")
        };
        assert_eq!(members.len(), 2);
        assert_eq!(members[1].metadata, Bytes::from_static(b"meta-m2"));
        // Nothing goes out before the caller assigned; a stale generation's assignment is ignored.
        assert!(h.poll().is_none());
        h.machine.assign(3, vec![]);
        assert!(h.poll().is_none());
        h.machine.assign(
            4,
            vec![
                ("m1".into(), Bytes::from_static(b"a1")),
                ("m2".into(), Bytes::from_static(b"a2")),
            ],
        );
        let tx = h.poll().expect("SyncGroup");
        let Request::SyncGroup(sync) = &tx.request else {
            panic!("expected SyncGroup, got {tx:?}")
        };
        assert_eq!(sync.generation_id, 4);
        assert_eq!(sync.assignments.len(), 2);
        h.reply(
            &tx,
            Response::SyncGroup(
                SyncGroupResponse::default().with_assignment(Bytes::from_static(b"a1")),
            ),
        );
        let assigned = events(&mut h);
        assert!(
            matches!(assigned.as_slice(), [WorkerGroupEvent::Assigned { generation: 4, assignment, .. }] if assignment == &Bytes::from_static(b"a1")),
            "{assigned:?}"
        );
        assert!(h.machine.is_stable());
    }

    #[test]
    fn a_follower_syncs_with_no_assignments_and_rejoins_when_the_coordinator_says_rebalance() {
        let mut h = harness(None);
        let (tx, _) = to_join(&mut h);
        h.reply(&tx, join_ok("m2", 1, "m1", &[]));
        assert!(events(&mut h).is_empty());
        let tx = h.poll().expect("SyncGroup");
        let Request::SyncGroup(sync) = &tx.request else {
            panic!("expected SyncGroup, got {tx:?}")
        };
        assert!(sync.assignments.is_empty());
        h.reply(&tx, Response::SyncGroup(SyncGroupResponse::default()));
        assert_eq!(events(&mut h).len(), 1);
        h.pass(Duration::from_secs(3));
        let tx = h.poll().expect("Heartbeat");
        assert_eq!(tx.request.api_key(), ApiKey::Heartbeat);
        h.reply(
            &tx,
            Response::Heartbeat(
                HeartbeatResponse::default()
                    .with_error_code(ResponseError::RebalanceInProgress.code()),
            ),
        );
        assert_eq!(events(&mut h), vec![WorkerGroupEvent::RebalanceStarted]);
        let tx = h.poll().expect("JoinGroup");
        assert_eq!(tx.request.api_key(), ApiKey::JoinGroup);
    }

    #[test]
    fn a_member_whose_coordinator_goes_silent_for_the_session_timeout_is_lost() {
        let mut h = harness(None);
        let (tx, _) = to_join(&mut h);
        h.reply(&tx, join_ok("m2", 1, "m1", &[]));
        let tx = h.poll().expect("SyncGroup");
        h.reply(&tx, Response::SyncGroup(SyncGroupResponse::default()));
        events(&mut h);
        for _ in 0..3 {
            h.pass(Duration::from_secs(3));
            if let Some(tx) = h.poll() {
                // Heartbeats go unanswered (the connection broke).
                h.lose(&tx);
            }
        }
        h.pass(Duration::from_secs(2));
        assert!(
            events(&mut h).contains(&WorkerGroupEvent::Lost),
            "no Lost after the session timeout"
        );
        assert!(!h.machine.is_stable());
        assert_eq!(h.machine.member_id(), "");
    }

    #[test]
    fn a_static_member_names_its_instance_and_does_not_leave_on_close_a_dynamic_one_does() {
        let mut h = harness(Some("worker-1:8083"));
        let (tx, join) = to_join(&mut h);
        assert_eq!(
            join.group_instance_id.as_ref().map(|i| i.as_str()),
            Some("worker-1:8083")
        );
        h.reply(&tx, join_ok("m1", 1, "m0", &[]));
        h.machine.close();
        assert!(h.poll().is_none());
        assert!(events(&mut h).contains(&WorkerGroupEvent::Closed));

        let mut h = harness(None);
        let (tx, _) = to_join(&mut h);
        h.reply(&tx, join_ok("m1", 1, "m0", &[]));
        h.machine.close();
        let tx = h.poll().expect("LeaveGroup");
        assert_eq!(tx.request.api_key(), ApiKey::LeaveGroup);
        h.reply(
            &tx,
            Response::LeaveGroup(kafka_protocol::messages::LeaveGroupResponse::default()),
        );
        assert!(h.poll().is_none());
        assert!(events(&mut h).contains(&WorkerGroupEvent::Closed));
    }

    #[test]
    fn a_coordinator_choosing_a_protocol_not_offered_is_fatal() {
        let mut h = harness(None);
        let (tx, _) = to_join(&mut h);
        let Ok(Response::JoinGroup(response)) = Ok::<_, ()>(join_ok("m1", 1, "m1", &[])) else {
            unreachable!()
        };
        h.reply(
            &tx,
            Response::JoinGroup(
                response.with_protocol_name(Some(StrBytes::from_static_str("default"))),
            ),
        );
        assert!(matches!(
            events(&mut h).as_slice(),
            [WorkerGroupEvent::Fatal {
                error: GroupError::UnknownProtocol { .. }
            }]
        ));
    }
}
