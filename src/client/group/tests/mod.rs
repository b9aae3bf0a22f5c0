//! The group member driven by scripted coordinator replies, with simulated time.

mod commits;
mod joining;
mod session;
mod simulation;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, JoinGroupRequest, JoinGroupResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::messages::{HeartbeatResponse, MetadataResponse};
use kafka_protocol::protocol::StrBytes;

use super::*;
use crate::client::config::ConfigMap;
use crate::client::errors::ResponseError;
use crate::client::testing::{coordinator_error, coordinator_is, metadata, ScriptedBroker};
use crate::client::{ResponseResult, Transmit};
use crate::protocol::consumer_protocol;
use crate::protocol::{Request, Response};

const TOPIC: &str = "t";
const COORDINATOR: BrokerId = 7;

fn config(pairs: &[(&str, &str)]) -> ConsumerConfig {
    let mut map = ConfigMap::from_pairs([
        ("bootstrap.servers", "boot:9092"),
        ("group.id", "g"),
        ("heartbeat.interval.ms", "1000"),
        ("session.timeout.ms", "10000"),
        ("max.poll.interval.ms", "60000"),
        ("auto.commit.interval.ms", "5000"),
        ("partition.assignment.strategy", "range"),
    ]);
    for (key, value) in pairs {
        map.set(*key, *value);
    }
    ConsumerConfig::from_map(map).expect("valid test config")
}

fn metadata_response(partitions: i32) -> MetadataResponse {
    let leaders = vec![COORDINATOR; partitions.max(0) as usize];
    metadata(&[(COORDINATOR, "coord", 9092)], &[(TOPIC, &leaders)])
}

fn tp(partition: i32) -> TopicPartition {
    TopicPartition::new(TOPIC, partition)
}

fn tps(partitions: &[i32]) -> Vec<TopicPartition> {
    partitions.iter().map(|p| tp(*p)).collect()
}

/// A member against the scripted broker: its metadata refreshes are answered with `TOPIC` led by the
/// coordinator.
type Harness = ScriptedBroker<GroupMember>;

impl Harness {
    fn member(pairs: &[(&str, &str)], partitions: i32) -> Self {
        let start = Instant::now();
        let member = GroupMember::new(&config(pairs), vec![TOPIC.into()], start).expect("member");
        ScriptedBroker::starting_at(member, metadata_response(partitions), start)
    }

    fn transmit(&mut self) -> Option<Transmit> {
        self.poll_raw()
    }

    fn events(&mut self) -> Vec<GroupEvent> {
        std::iter::from_fn(|| self.machine.poll_event()).collect()
    }

    /// Metadata, then FindCoordinator answered with the coordinator.
    fn find_coordinator(&mut self) {
        if self.machine.metadata.is_refresh_pending() {
            let tx = self.expect(ApiKey::Metadata);
            self.reply(&tx, Response::Metadata(self.cluster.clone()));
        }
        let tx = self.expect(ApiKey::FindCoordinator);
        let Request::FindCoordinator(request) = &tx.request else {
            unreachable!()
        };
        assert_eq!(request.key.as_str(), "g");
        assert_eq!(request.key_type, 0);
        self.reply(&tx, find_coordinator_ok());
    }

    fn expect_join(&mut self) -> (Transmit, JoinGroupRequest) {
        let tx = self.expect(ApiKey::JoinGroup);
        assert_eq!(tx.broker, COORDINATOR);
        let Request::JoinGroup(request) = tx.request.clone() else {
            unreachable!()
        };
        (tx, request)
    }

    fn expect_sync(&mut self) -> (Transmit, SyncGroupRequest) {
        let tx = self.expect(ApiKey::SyncGroup);
        let Request::SyncGroup(request) = tx.request.clone() else {
            unreachable!()
        };
        (tx, request)
    }

    /// Join as the only member (and so the leader) of generation `generation`; returns the sync request.
    fn join_as_leader(&mut self, member_id: &str, generation: i32) -> SyncGroupRequest {
        let (tx, request) = self.expect_join();
        let metadata = request.protocols[0].metadata.clone();
        self.reply(
            &tx,
            join_ok(member_id, generation, member_id, &[(member_id, metadata)]),
        );
        // The leader refreshes metadata before assigning (after the refresh backoff).
        assert!(self.transmit().is_none());
        self.pass(Duration::from_millis(100));
        let tx = self.expect(ApiKey::Metadata);
        self.reply(&tx, Response::Metadata(self.cluster.clone()));
        let (tx, sync) = self.expect_sync();
        let mine = sync
            .assignments
            .iter()
            .find(|a| a.member_id.as_str() == member_id)
            .map(|a| a.assignment.clone())
            .unwrap_or_default();
        self.reply(&tx, sync_ok(mine));
        sync
    }

    /// Answers the OffsetFetch for new partitions with `offsets` (-1: nothing committed).
    fn answer_offset_fetch(&mut self, offsets: &[(i32, i64)]) {
        let tx = self.expect(ApiKey::OffsetFetch);
        self.reply(&tx, offset_fetch_ok(offsets));
    }
}

fn find_coordinator_ok() -> Response {
    coordinator_is("g", COORDINATOR, "coord")
}

fn find_coordinator_error(error: ResponseError) -> Response {
    coordinator_error("g", error)
}

fn join_ok(member_id: &str, generation: i32, leader: &str, members: &[(&str, Bytes)]) -> Response {
    Response::JoinGroup(
        JoinGroupResponse::default()
            .with_generation_id(generation)
            .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
            .with_protocol_name(Some(StrBytes::from_static_str("range")))
            .with_leader(StrBytes::from_string(leader.into()))
            .with_member_id(StrBytes::from_string(member_id.into()))
            .with_members(
                members
                    .iter()
                    .map(|(id, metadata)| {
                        JoinGroupResponseMember::default()
                            .with_member_id(StrBytes::from_string(id.to_string()))
                            .with_metadata(metadata.clone())
                    })
                    .collect(),
            ),
    )
}

fn join_error(error: ResponseError, member_id: &str) -> Response {
    Response::JoinGroup(
        JoinGroupResponse::default()
            .with_error_code(error.code())
            .with_generation_id(-1)
            .with_member_id(StrBytes::from_string(member_id.into())),
    )
}

fn sync_ok(assignment: Bytes) -> Response {
    Response::SyncGroup(SyncGroupResponse::default().with_assignment(assignment))
}

fn sync_error(error: ResponseError) -> Response {
    Response::SyncGroup(SyncGroupResponse::default().with_error_code(error.code()))
}

fn heartbeat(error: Option<ResponseError>) -> Response {
    Response::Heartbeat(HeartbeatResponse::default().with_error_code(error.map_or(0, |e| e.code())))
}

fn offset_fetch_ok(offsets: &[(i32, i64)]) -> Response {
    Response::OffsetFetch(OffsetFetchResponse::default().with_topics(
        vec![OffsetFetchResponseTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(
                offsets
                    .iter()
                    .map(|(p, o)| {
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(*o)
                    })
                    .collect(),
            )],
    ))
}

fn commit_response(request: &OffsetCommitRequest, error: Option<ResponseError>) -> Response {
    Response::OffsetCommit(
        OffsetCommitResponse::default().with_topics(
            request
                .topics
                .iter()
                .map(|t| {
                    OffsetCommitResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    OffsetCommitResponsePartition::default()
                                        .with_partition_index(p.partition_index)
                                        .with_error_code(error.map_or(0, |e| e.code()))
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
    )
}

fn committed_offsets(request: &OffsetCommitRequest) -> Vec<(TopicPartition, i64)> {
    request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (
                    TopicPartition::new(t.name.0.as_str(), p.partition_index),
                    p.committed_offset,
                )
            })
        })
        .collect()
}

/// A member that joined as sole leader of generation 1 and owns every partition, offsets fetched.
fn stable_member(pairs: &[(&str, &str)], partitions: i32) -> Harness {
    let mut h = Harness::member(pairs, partitions);
    h.find_coordinator();
    let (tx, request) = h.expect_join();
    assert_eq!(request.member_id.as_str(), "");
    h.reply(&tx, join_error(ResponseError::MemberIdRequired, "m1"));
    h.join_as_leader("m1", 1);
    let all: Vec<(i32, i64)> = (0..partitions).map(|p| (p, -1)).collect();
    h.answer_offset_fetch(&all);
    h.events();
    h
}
