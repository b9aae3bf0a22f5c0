//! The member's session with its coordinator: finding it (through `client::coordinator`), heartbeats,
//! and leaving the group.

use std::time::Instant;

use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorResponse, GroupId, HeartbeatRequest, LeaveGroupRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::{GroupError, GroupEvent, GroupMember, Phase};
use crate::client::coordinator::{coordinator_moved, is_coordinator_retriable, Lookup};
use crate::client::errors::ResponseError;
use crate::client::{RequestToken, Transmit, TransportError};
use crate::protocol::versions::client_range;
use crate::protocol::Request;

impl GroupMember {
    pub(super) fn find_coordinator(&mut self, now: Instant) -> Option<Transmit> {
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

    pub(super) fn handle_find_coordinator(
        &mut self,
        response: &FindCoordinatorResponse,
        now: Instant,
    ) {
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

    pub(super) fn find_failed(&mut self, error: TransportError, now: Instant) {
        tracing::debug!(%error, "FindCoordinator failed");
        self.coordinator.handle_lookup(None);
        self.metadata.request_refresh();
        self.coordinator.back_off(now + self.config.retry_backoff);
    }

    pub(super) fn mark_coordinator_unknown(&mut self) {
        // A heartbeat stuck on the old coordinator's connection must not hold back the next one.
        self.heartbeat_in_flight = None;
        if self.coordinator.forget() {
            tracing::debug!(group = %self.config.group_id, "coordinator unknown; rediscovering");
        }
    }

    pub(super) fn coordinator_version(&self, api: ApiKey) -> Option<i16> {
        let coordinator = self.coordinator.broker()?;
        match self.versions.get(&coordinator) {
            Some(table) => table.negotiate(api).ok(),
            // Not connected yet: the connection will pick the highest common version.
            None => client_range(api).map(|(_, max)| max),
        }
    }

    pub(super) fn instance_id_if(&self, api: ApiKey, min_version: i16) -> Option<StrBytes> {
        let instance = self.config.group_instance_id.as_ref()?;
        (self.coordinator_version(api)? >= min_version)
            .then(|| StrBytes::from_string(instance.clone()))
    }

    pub(super) fn transmit_to_coordinator(
        &mut self,
        request: Request,
    ) -> Option<(RequestToken, Transmit)> {
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

    pub(super) fn fatal(&mut self, error: GroupError) {
        tracing::error!(group = %self.config.group_id, %error, "group member failed");
        self.events.push_back(GroupEvent::Fatal { error });
    }

    /// Whether a due heartbeat would be sent now. `poll_timeout` names the heartbeat's time only then: a due
    /// heartbeat that cannot go out (no coordinator known, one still in flight) would otherwise be a deadline
    /// in the past, and the driver would wake for it again and again; what unblocks it is a response.
    pub(super) fn heartbeat_may_go_out(&self) -> bool {
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

    pub(super) fn next_heartbeat(&mut self, now: Instant) -> Option<Transmit> {
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

    pub(super) fn handle_heartbeat(&mut self, error: Option<ResponseError>, now: Instant) {
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

    pub(super) fn next_leave(&mut self) -> Option<Transmit> {
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

    pub(super) fn finish_close(&mut self) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        self.phase = Phase::Closed;
        self.owned.clear();
        self.generation = -1;
        self.events.push_back(GroupEvent::Closed);
    }
}
