//! Joining and syncing: the JoinGroup and SyncGroup rounds, the leader's assignment, and what a rebalance
//! does to owned partitions (revoked under eager protocols, only the moved ones under cooperative-sticky,
//! lost when the generation is gone).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, GroupId, JoinGroupRequest, JoinGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::assignor::{self, MemberSubscription};
use super::{
    millis_i32, GroupError, GroupEvent, GroupMember, LeaderDuty, Phase, PROTOCOL_TYPE_CONSUMER,
};
use crate::client::consumer::TopicPartition;
use crate::client::coordinator::coordinator_moved;
use crate::client::errors::{response_error, ResponseError};
use crate::client::Transmit;
use crate::protocol::consumer_protocol::{self};
use crate::protocol::Request;

impl GroupMember {
    pub(super) fn next_join_or_sync(&mut self, now: Instant) -> Option<Transmit> {
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
    pub(super) fn cooperative(&self) -> bool {
        self.config.strategies.iter().all(|s| s.is_cooperative())
    }

    pub(super) fn send_join(&mut self) -> Option<Transmit> {
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

    pub(super) fn handle_join(&mut self, response: JoinGroupResponse, now: Instant) {
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

    pub(super) fn send_sync_as_leader(&mut self, duty: LeaderDuty) -> Option<Transmit> {
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

    pub(super) fn send_sync(
        &mut self,
        assignments: Vec<SyncGroupRequestAssignment>,
    ) -> Option<Transmit> {
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

    pub(super) fn handle_sync(&mut self, response: SyncGroupResponse, now: Instant) {
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
        if let Some(foreign) = assigned.iter().find(|tp| !self.topics.contains(&tp.topic)) {
            // A static member restarted with another subscription gets the assignment of its old one back without
            // a rebalance. As the Java consumer does, take none of it and join again with the current
            // subscription, so the leader assigns what this member reads now.
            tracing::info!(
                group = %self.config.group_id,
                topic = %foreign.topic,
                subscription = ?self.topics,
                "the assignment received is of topics this member does not subscribe to; joining again"
            );
            self.phase = Phase::Unjoined;
            self.join_not_before = Some(now + self.config.retry_backoff);
            return;
        }
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

    pub(super) fn revoke(&mut self, partitions: Vec<TopicPartition>, rejoin_after: bool) {
        self.rejoin_after_revoke = rejoin_after;
        self.revoking = Some(partitions.clone());
        self.events
            .push_back(GroupEvent::PartitionsRevoked { partitions });
    }

    /// Starts a new rebalance from a stable generation.
    pub(super) fn rejoin(&mut self) {
        if matches!(self.phase, Phase::Stable) {
            self.phase = Phase::Unjoined;
            if !self.cooperative() && !self.owned.is_empty() && self.revoking.is_none() {
                self.revoke(self.owned.iter().cloned().collect(), false);
            }
        }
    }

    /// Drops every owned partition without a commit and goes back to joining.
    pub(super) fn lose_partitions(&mut self, forget_member_id: bool) {
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

    pub(super) fn after_metadata(&mut self, changed: &[String]) {
        let affects_assignment = self
            .leader_partition_counts
            .as_ref()
            .is_some_and(|counts| changed.iter().any(|t| counts.contains_key(t)));
        if affects_assignment && matches!(self.phase, Phase::Stable) {
            tracing::info!(group = %self.config.group_id, ?changed, "partition count changed; rebalancing");
            self.rejoin();
        }
    }
}
