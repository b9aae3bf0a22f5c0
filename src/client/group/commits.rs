//! The group's offsets: OffsetCommit of what the application consumed (retried while the coordinator moves)
//! and OffsetFetch of the committed offsets of newly assigned partitions.

use std::collections::BTreeMap;
use std::time::Instant;

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::{
    GroupError, GroupEvent, GroupMember, OffsetFetchInFlight, PendingCommit, MAX_COMMIT_ATTEMPTS,
};
use crate::client::consumer::TopicPartition;
use crate::client::coordinator::coordinator_moved;
use crate::client::errors::{response_error, ResponseError};
use crate::client::{Transmit, TransportError};
use crate::protocol::Request;

impl GroupMember {
    pub(super) fn next_commit(&mut self, now: Instant) -> Option<Transmit> {
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

    pub(super) fn handle_commit_response(
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

    pub(super) fn commit_transport_failed(
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

    pub(super) fn after_commit_settled(&mut self) {
        if self.closing && !self.has_pending_commits() && self.coordinator.known().is_none() {
            self.finish_close();
        }
    }

    pub(super) fn next_offset_fetch(&mut self, now: Instant) -> Option<Transmit> {
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

    pub(super) fn retry_offset_fetch(&mut self, partitions: Vec<TopicPartition>, now: Instant) {
        self.offsets_not_before = Some(now + self.config.retry_backoff);
        // Only partitions still owned are worth asking about again.
        for tp in partitions {
            if self.owned.contains(&tp) {
                self.offsets_wanted.insert(tp);
            }
        }
    }

    pub(super) fn handle_offset_fetch(
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
}
