//! Start positions: ListOffsets for partitions that start at the earliest, latest or a timestamp, grouped
//! by leader.

use std::time::Instant;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId as NodeId, ListOffsetsRequest, ListOffsetsResponse,
};

use super::{topic_name, Consumer, ListOffsetsInFlight, Phase, TopicPartition, LATEST_TIMESTAMP};
use crate::client::errors::response_error;
use crate::client::{BrokerId, RequestToken, Transmit};
use crate::protocol::Request;

impl Consumer {
    pub(super) fn next_list_offsets(&mut self, now: Instant) -> Option<Transmit> {
        let candidates: Vec<(TopicPartition, i64)> = self
            .partitions
            .iter()
            .filter(|(_, s)| s.ready(now))
            .filter_map(|(tp, s)| match s.phase {
                Phase::NeedsOffset { timestamp } => Some((tp.clone(), timestamp)),
                _ => None,
            })
            .collect();
        let mut chosen: Option<BrokerId> = None;
        let mut topics: Vec<ListOffsetsTopic> = Vec::new();
        let mut partitions = Vec::new();
        for (tp, timestamp) in candidates {
            let Some((leader, leader_epoch)) = self.leader(&tp) else {
                continue;
            };
            if self.list_offsets.values().any(|f| f.broker == leader) {
                continue;
            }
            if *chosen.get_or_insert(leader) != leader {
                continue;
            }
            let partition = ListOffsetsPartition::default()
                .with_partition_index(tp.partition)
                .with_current_leader_epoch(leader_epoch)
                .with_timestamp(timestamp);
            match topics.iter_mut().find(|t| t.name.0.as_str() == tp.topic) {
                Some(topic) => topic.partitions.push(partition),
                None => topics.push(
                    ListOffsetsTopic::default()
                        .with_name(topic_name(&tp.topic))
                        .with_partitions(vec![partition]),
                ),
            }
            partitions.push(tp);
        }
        let broker = chosen?;
        let token = self.tokens.next_token();
        for tp in &partitions {
            if let Some(state) = self.partitions.get_mut(tp) {
                if let Phase::NeedsOffset { timestamp } = state.phase {
                    state.phase = Phase::ListingOffsets { token, timestamp };
                }
            }
        }
        self.list_offsets
            .insert(token, ListOffsetsInFlight { broker, partitions });
        let request = ListOffsetsRequest::default()
            .with_replica_id(NodeId(-1))
            .with_isolation_level(self.config.isolation_level.as_i8())
            .with_topics(topics);
        Some(Transmit {
            broker,
            token,
            request: Request::ListOffsets(request),
            expects_response: true,
        })
    }

    /// Puts a partition whose lookup `token` is answered back to needing one, returning the timestamp it asked
    /// for; `None` if the partition moved on (reassigned) in the meantime.
    pub(super) fn take_listing(&mut self, tp: &TopicPartition, token: RequestToken) -> Option<i64> {
        let state = self.partitions.get_mut(tp)?;
        match state.phase {
            Phase::ListingOffsets {
                token: listing,
                timestamp,
            } if listing == token => {
                state.phase = Phase::NeedsOffset { timestamp };
                Some(timestamp)
            }
            _ => None,
        }
    }

    pub(super) fn list_offsets_failed(
        &mut self,
        token: RequestToken,
        in_flight: ListOffsetsInFlight,
        now: Instant,
    ) {
        for tp in &in_flight.partitions {
            if self.take_listing(tp, token).is_some() {
                self.retry_later(tp, true, now);
            }
        }
    }

    pub(super) fn handle_list_offsets_response(
        &mut self,
        token: RequestToken,
        in_flight: ListOffsetsInFlight,
        response: &ListOffsetsResponse,
        now: Instant,
    ) {
        for tp in &in_flight.partitions {
            let Some(timestamp) = self.take_listing(tp, token) else {
                continue;
            };
            let answer = response
                .topics
                .iter()
                .filter(|t| t.name.0.as_str() == tp.topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == tp.partition);
            let Some(answer) = answer else {
                self.retry_later(tp, false, now);
                continue;
            };
            if let Some(error) = response_error(answer.error_code) {
                self.partition_error(tp, ApiKey::ListOffsets, error, now);
                continue;
            }
            let Some(state) = self.partitions.get_mut(tp) else {
                continue;
            };
            if answer.offset >= 0 {
                state.phase = Phase::Fetching;
                state.position = answer.offset;
                state.attempts = 0;
                state.eof_reported_at = None;
            } else if timestamp >= 0 {
                // No record at or after the timestamp: start at the end, as the Java and librdkafka clients do.
                state.phase = Phase::NeedsOffset {
                    timestamp: LATEST_TIMESTAMP,
                };
            } else {
                self.retry_later(tp, false, now);
            }
        }
    }
}
