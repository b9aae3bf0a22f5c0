//! The group member driven by scripted coordinator replies, with simulated time.

use super::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::client::config::ConfigMap;
use crate::client::errors::ResponseError;
use crate::client::{ResponseResult, Transmit};
use crate::protocol::consumer_protocol;
use crate::protocol::{Request, Response};
use bytes::Bytes;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorResponse, JoinGroupRequest, JoinGroupResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::messages::{BrokerId as NodeId, HeartbeatResponse, MetadataResponse};
use kafka_protocol::protocol::StrBytes;

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
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(NodeId(COORDINATOR))
            .with_host(StrBytes::from_static_str("coord"))
            .with_port(9092)])
        .with_topics(vec![MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC))))
            .with_partitions(
                (0..partitions)
                    .map(|p| {
                        MetadataResponsePartition::default()
                            .with_partition_index(p)
                            .with_leader_id(NodeId(COORDINATOR))
                    })
                    .collect(),
            )])
}

fn tp(partition: i32) -> TopicPartition {
    TopicPartition::new(TOPIC, partition)
}

fn tps(partitions: &[i32]) -> Vec<TopicPartition> {
    partitions.iter().map(|p| tp(*p)).collect()
}

/// A member and a simulated clock.
struct Harness {
    member: GroupMember,
    now: Instant,
    partitions: i32,
}

impl Harness {
    fn new(pairs: &[(&str, &str)], partitions: i32) -> Self {
        let now = Instant::now();
        let member = GroupMember::new(&config(pairs), vec![TOPIC.into()], now).expect("member");
        Self {
            member,
            now,
            partitions,
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.member.poll_timeout().is_some_and(|t| t <= self.now) {
            self.member.handle_timeout(self.now);
        }
    }

    fn transmit(&mut self) -> Option<Transmit> {
        self.member.poll_transmit(self.now)
    }

    fn expect(&mut self, api: ApiKey) -> Transmit {
        let tx = self
            .transmit()
            .unwrap_or_else(|| panic!("expected a {api:?} request, got nothing"));
        assert_eq!(tx.request.api_key(), api, "{tx:?}");
        tx
    }

    fn reply(&mut self, tx: &Transmit, response: Response) {
        self.member
            .handle_response(tx.broker, tx.token, Ok(response), self.now);
    }

    fn events(&mut self) -> Vec<GroupEvent> {
        std::iter::from_fn(|| self.member.poll_event()).collect()
    }

    /// Metadata, then FindCoordinator answered with the coordinator.
    fn find_coordinator(&mut self) {
        if self.member.metadata.is_refresh_pending() {
            let tx = self.expect(ApiKey::Metadata);
            let partitions = self.partitions;
            self.reply(&tx, Response::Metadata(metadata_response(partitions)));
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
        self.advance(Duration::from_millis(100));
        let tx = self.expect(ApiKey::Metadata);
        let partitions = self.partitions;
        self.reply(&tx, Response::Metadata(metadata_response(partitions)));
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
    Response::FindCoordinator(
        FindCoordinatorResponse::default()
            .with_node_id(NodeId(COORDINATOR))
            .with_host(StrBytes::from_static_str("coord"))
            .with_port(9092),
    )
}

fn find_coordinator_error(error: ResponseError) -> Response {
    Response::FindCoordinator(
        FindCoordinatorResponse::default()
            .with_error_code(error.code())
            .with_node_id(NodeId(-1)),
    )
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
    let mut h = Harness::new(pairs, partitions);
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

#[test]
fn joins_with_the_member_id_the_coordinator_requires_and_assigns_as_leader() {
    let mut h = Harness::new(&[], 3);
    h.find_coordinator();
    let (tx, request) = h.expect_join();
    assert_eq!(request.group_id.0.as_str(), "g");
    assert_eq!(request.protocol_type.as_str(), "consumer");
    assert_eq!(request.session_timeout_ms, 10_000);
    assert_eq!(request.rebalance_timeout_ms, 60_000);
    assert_eq!(request.protocols[0].name.as_str(), "range");
    let subscription =
        consumer_protocol::decode_subscription(request.protocols[0].metadata.clone()).unwrap();
    assert_eq!(subscription.topics, vec![TOPIC]);
    // KIP-394: first join is answered with MEMBER_ID_REQUIRED and the id to use.
    h.reply(&tx, join_error(ResponseError::MemberIdRequired, "m1"));
    let sync = {
        let (tx, request) = h.expect_join();
        assert_eq!(request.member_id.as_str(), "m1");
        let metadata = request.protocols[0].metadata.clone();
        h.reply(&tx, join_ok("m1", 1, "m1", &[("m1", metadata)]));
        h.advance(Duration::from_millis(100));
        let tx = h.expect(ApiKey::Metadata);
        h.reply(&tx, Response::Metadata(metadata_response(3)));
        let (tx, sync) = h.expect_sync();
        let mine = sync.assignments[0].assignment.clone();
        h.reply(&tx, sync_ok(mine));
        sync
    };
    assert_eq!(sync.generation_id, 1);
    assert_eq!(sync.member_id.as_str(), "m1");
    assert_eq!(sync.assignments.len(), 1);
    assert_eq!(
        consumer_protocol::decode_assignment(sync.assignments[0].assignment.clone()).unwrap(),
        tps(&[0, 1, 2])
    );
    assert_eq!(
        h.events(),
        vec![GroupEvent::PartitionsAssigned {
            partitions: tps(&[0, 1, 2])
        }]
    );
    assert!(h.member.is_stable());
    h.answer_offset_fetch(&[(0, 42), (1, -1), (2, 7)]);
    assert_eq!(
        h.events(),
        vec![GroupEvent::CommittedOffsets {
            offsets: vec![(tp(0), Some(42)), (tp(1), None), (tp(2), Some(7))]
        }]
    );
}

#[test]
fn follower_sends_an_empty_sync_and_takes_the_leaders_assignment() {
    let mut h = Harness::new(&[], 4);
    h.find_coordinator();
    let (tx, _) = h.expect_join();
    h.reply(&tx, join_ok("m2", 3, "m1", &[]));
    let (tx, sync) = h.expect_sync();
    assert!(sync.assignments.is_empty());
    assert_eq!(sync.generation_id, 3);
    h.reply(
        &tx,
        sync_ok(consumer_protocol::encode_assignment(&tps(&[2, 3])).unwrap()),
    );
    assert_eq!(
        h.events(),
        vec![GroupEvent::PartitionsAssigned {
            partitions: tps(&[2, 3])
        }]
    );
    assert_eq!(
        h.member.assignment().cloned().collect::<Vec<_>>(),
        tps(&[2, 3])
    );
}

#[test]
fn coordinator_lookup_retries_while_not_available() {
    let mut h = Harness::new(&[], 1);
    let tx = h.expect(ApiKey::Metadata);
    h.reply(&tx, Response::Metadata(metadata_response(1)));
    let tx = h.expect(ApiKey::FindCoordinator);
    h.reply(
        &tx,
        find_coordinator_error(ResponseError::CoordinatorNotAvailable),
    );
    assert!(h.transmit().is_none(), "backs off before asking again");
    h.advance(Duration::from_millis(100));
    let tx = h.expect(ApiKey::FindCoordinator);
    h.reply(
        &tx,
        find_coordinator_error(ResponseError::CoordinatorLoadInProgress),
    );
    h.advance(Duration::from_millis(100));
    let tx = h.expect(ApiKey::FindCoordinator);
    h.reply(&tx, find_coordinator_ok());
    h.expect_join();
}

#[test]
fn heartbeats_every_interval_while_stable() {
    let mut h = stable_member(&[], 2);
    assert!(h.transmit().is_none());
    h.advance(Duration::from_millis(999));
    assert!(h.transmit().is_none());
    h.advance(Duration::from_millis(1));
    let tx = h.expect(ApiKey::Heartbeat);
    let Request::Heartbeat(request) = &tx.request else {
        unreachable!()
    };
    assert_eq!(request.generation_id, 1);
    assert_eq!(request.member_id.as_str(), "m1");
    assert!(h.transmit().is_none(), "one heartbeat in flight");
    h.reply(&tx, heartbeat(None));
    h.advance(Duration::from_millis(1000));
    h.expect(ApiKey::Heartbeat);
}

#[test]
fn eager_rebalance_revokes_everything_and_waits_for_the_apps_commit_before_rejoining() {
    let mut h = stable_member(&[], 2);
    h.member.record_consumed(&tp(0), 10);
    h.member.record_consumed(&tp(1), 20);
    h.advance(Duration::from_secs(1));
    let tx = h.expect(ApiKey::Heartbeat);
    h.reply(&tx, heartbeat(Some(ResponseError::RebalanceInProgress)));
    assert!(
        h.transmit().is_none(),
        "no JoinGroup before the app is done revoking"
    );
    assert_eq!(
        h.events(),
        vec![GroupEvent::PartitionsRevoked {
            partitions: tps(&[0, 1])
        }]
    );
    assert!(h.transmit().is_none());
    // The app commits what it consumed, then says it is done.
    let id = h.member.commit_consumed(None).expect("something to commit");
    h.member.revoke_done();
    let tx = h.expect(ApiKey::OffsetCommit);
    let Request::OffsetCommit(commit) = tx.request.clone() else {
        unreachable!()
    };
    assert_eq!(commit.generation_id_or_member_epoch, 1);
    assert_eq!(commit.member_id.as_str(), "m1");
    assert_eq!(committed_offsets(&commit), vec![(tp(0), 10), (tp(1), 20)]);
    // The commit goes out before the rejoin, on the same connection.
    let (join_tx, join) = h.expect_join();
    assert_eq!(join.member_id.as_str(), "m1");
    let subscription =
        consumer_protocol::decode_subscription(join.protocols[0].metadata.clone()).unwrap();
    assert!(
        subscription.owned_partitions.is_empty(),
        "eager members own nothing when they rejoin"
    );
    h.reply(&tx, commit_response(&commit, None));
    assert_eq!(
        h.events(),
        vec![GroupEvent::OffsetsCommitted {
            id,
            offsets: vec![(tp(0), 10), (tp(1), 20)]
        }]
    );
    // Another member joined: this one is a follower now and gets partition 1 only.
    h.reply(&join_tx, join_ok("m1", 2, "m0", &[]));
    let (tx, _) = h.expect_sync();
    h.reply(
        &tx,
        sync_ok(consumer_protocol::encode_assignment(&tps(&[1])).unwrap()),
    );
    assert_eq!(
        h.events(),
        vec![GroupEvent::PartitionsAssigned {
            partitions: tps(&[1])
        }]
    );
    let tx = h.expect(ApiKey::OffsetFetch);
    h.reply(&tx, offset_fetch_ok(&[(1, 20)]));
    assert_eq!(
        h.events(),
        vec![GroupEvent::CommittedOffsets {
            offsets: vec![(tp(1), Some(20))]
        }]
    );
}

#[test]
fn cooperative_rebalance_keeps_partitions_and_revokes_only_moved_ones_then_rejoins() {
    let mut h = Harness::new(
        &[("partition.assignment.strategy", "cooperative-sticky")],
        4,
    );
    h.find_coordinator();
    let (tx, _) = h.expect_join();
    let mut response = join_ok("m1", 1, "m0", &[]);
    if let Response::JoinGroup(r) = &mut response {
        r.protocol_name = Some(StrBytes::from_static_str("cooperative-sticky"));
    }
    h.reply(&tx, response.clone());
    let (tx, _) = h.expect_sync();
    h.reply(
        &tx,
        sync_ok(consumer_protocol::encode_assignment(&tps(&[0, 1, 2, 3])).unwrap()),
    );
    h.answer_offset_fetch(&[(0, -1), (1, -1), (2, -1), (3, -1)]);
    h.events();

    // A rebalance: the member rejoins at once, still owning everything.
    h.advance(Duration::from_secs(1));
    let tx = h.expect(ApiKey::Heartbeat);
    h.reply(&tx, heartbeat(Some(ResponseError::RebalanceInProgress)));
    assert!(
        h.events().is_empty(),
        "cooperative members revoke nothing up front"
    );
    let (tx, join) = h.expect_join();
    let subscription =
        consumer_protocol::decode_subscription(join.protocols[0].metadata.clone()).unwrap();
    assert_eq!(subscription.owned_partitions, tps(&[0, 1, 2, 3]));
    assert_eq!(subscription.generation, 1);
    if let Response::JoinGroup(r) = &mut response {
        r.generation_id = 2;
    }
    h.reply(&tx, response.clone());
    let (tx, _) = h.expect_sync();
    // The leader moves 2 and 3 elsewhere.
    h.reply(
        &tx,
        sync_ok(consumer_protocol::encode_assignment(&tps(&[0, 1])).unwrap()),
    );
    assert_eq!(
        h.events(),
        vec![
            GroupEvent::PartitionsAssigned { partitions: vec![] },
            GroupEvent::PartitionsRevoked {
                partitions: tps(&[2, 3])
            }
        ]
    );
    assert!(h.transmit().is_none(), "waits for the revocation");
    h.member.revoke_done();
    // Follow-up rebalance so the leader can hand 2 and 3 over.
    let (_, join) = h.expect_join();
    let subscription =
        consumer_protocol::decode_subscription(join.protocols[0].metadata.clone()).unwrap();
    assert_eq!(subscription.owned_partitions, tps(&[0, 1]));
}

#[test]
fn unknown_member_id_on_heartbeat_loses_partitions_and_rejoins_fresh() {
    let mut h = stable_member(&[], 2);
    h.member.record_consumed(&tp(0), 5);
    h.advance(Duration::from_secs(1));
    let tx = h.expect(ApiKey::Heartbeat);
    h.reply(&tx, heartbeat(Some(ResponseError::UnknownMemberId)));
    assert_eq!(
        h.events(),
        vec![GroupEvent::PartitionsLost {
            partitions: tps(&[0, 1])
        }]
    );
    assert_eq!(
        h.member.commit_consumed(None),
        None,
        "lost positions are not committed"
    );
    let (_, join) = h.expect_join();
    assert_eq!(join.member_id.as_str(), "");
}

#[test]
fn illegal_generation_loses_partitions_but_keeps_the_member_id() {
    let mut h = stable_member(&[], 1);
    h.advance(Duration::from_secs(1));
    let tx = h.expect(ApiKey::Heartbeat);
    h.reply(&tx, heartbeat(Some(ResponseError::IllegalGeneration)));
    assert_eq!(
        h.events(),
        vec![GroupEvent::PartitionsLost {
            partitions: tps(&[0])
        }]
    );
    let (_, join) = h.expect_join();
    assert_eq!(join.member_id.as_str(), "m1");
}

#[test]
fn not_coordinator_on_heartbeat_rediscovers_the_coordinator() {
    let mut h = stable_member(&[], 1);
    h.advance(Duration::from_secs(1));
    let tx = h.expect(ApiKey::Heartbeat);
    h.reply(&tx, heartbeat(Some(ResponseError::NotCoordinator)));
    let tx = h.expect(ApiKey::FindCoordinator);
    h.reply(&tx, find_coordinator_ok());
    h.advance(Duration::from_millis(100));
    h.expect(ApiKey::Heartbeat);
    assert!(h.events().is_empty(), "partitions stay owned");
}

#[test]
fn sync_rebalance_in_progress_rejoins() {
    let mut h = Harness::new(&[], 1);
    h.find_coordinator();
    let (tx, _) = h.expect_join();
    h.reply(&tx, join_ok("m2", 3, "m1", &[]));
    let (tx, _) = h.expect_sync();
    h.reply(&tx, sync_error(ResponseError::RebalanceInProgress));
    let (_, join) = h.expect_join();
    assert_eq!(join.member_id.as_str(), "m2");
}

#[test]
fn fatal_join_errors_are_reported() {
    let mut h = Harness::new(&[], 1);
    h.find_coordinator();
    let (tx, _) = h.expect_join();
    h.reply(
        &tx,
        join_error(ResponseError::InconsistentGroupProtocol, ""),
    );
    assert!(matches!(
        h.events().as_slice(),
        [GroupEvent::Fatal {
            error: GroupError::Broker {
                api: ApiKey::JoinGroup,
                error: ResponseError::InconsistentGroupProtocol
            }
        }]
    ));
    assert!(h.transmit().is_none());
}

#[test]
fn static_member_sends_its_instance_id_and_does_not_leave_on_close() {
    let mut h = Harness::new(&[("group.instance.id", "worker-1")], 1);
    h.find_coordinator();
    let (tx, join) = h.expect_join();
    assert_eq!(join.group_instance_id.as_deref(), Some("worker-1"));
    assert_eq!(
        join.member_id.as_str(),
        "",
        "static members get their id in one round"
    );
    let metadata = join.protocols[0].metadata.clone();
    h.reply(
        &tx,
        join_ok(
            "worker-1-uuid",
            1,
            "worker-1-uuid",
            &[("worker-1-uuid", metadata)],
        ),
    );
    h.advance(Duration::from_millis(100));
    let tx = h.expect(ApiKey::Metadata);
    h.reply(&tx, Response::Metadata(metadata_response(1)));
    let (tx, sync) = h.expect_sync();
    assert_eq!(sync.group_instance_id.as_deref(), Some("worker-1"));
    let mine = sync.assignments[0].assignment.clone();
    h.reply(&tx, sync_ok(mine));
    h.answer_offset_fetch(&[(0, -1)]);
    h.advance(Duration::from_secs(1));
    let tx = h.expect(ApiKey::Heartbeat);
    let Request::Heartbeat(hb) = &tx.request else {
        unreachable!()
    };
    assert_eq!(hb.group_instance_id.as_deref(), Some("worker-1"));
    h.reply(&tx, heartbeat(None));
    h.events();
    h.member.close();
    assert!(h.transmit().is_none(), "no LeaveGroup for a static member");
    assert_eq!(h.events(), vec![GroupEvent::Closed]);
}

#[test]
fn fenced_static_member_loses_its_partitions() {
    let mut h = stable_member(&[("group.instance.id", "worker-1")], 1);
    h.advance(Duration::from_secs(1));
    let tx = h.expect(ApiKey::Heartbeat);
    h.reply(&tx, heartbeat(Some(ResponseError::FencedInstanceId)));
    assert_eq!(
        h.events(),
        vec![GroupEvent::PartitionsLost {
            partitions: tps(&[0])
        }]
    );
}

#[test]
fn close_commits_then_leaves() {
    let mut h = stable_member(&[], 2);
    h.member.record_consumed(&tp(1), 3);
    h.member.commit_consumed(None);
    h.member.close();
    let tx = h.expect(ApiKey::OffsetCommit);
    assert!(h.transmit().is_none(), "LeaveGroup waits for the commit");
    let Request::OffsetCommit(commit) = tx.request.clone() else {
        unreachable!()
    };
    h.reply(&tx, commit_response(&commit, None));
    let tx = h.expect(ApiKey::LeaveGroup);
    let Request::LeaveGroup(leave) = &tx.request else {
        unreachable!()
    };
    assert_eq!(leave.members[0].member_id.as_str(), "m1");
    h.reply(&tx, Response::LeaveGroup(Default::default()));
    assert!(h.transmit().is_none());
    let events = h.events();
    assert!(
        matches!(events.last(), Some(GroupEvent::Closed)),
        "{events:?}"
    );
}

#[test]
fn auto_commit_sends_consumed_positions_every_interval_only_when_changed() {
    let mut h = stable_member(&[], 2);
    h.member.record_consumed(&tp(0), 4);
    // Runs `seconds` of simulated time answering heartbeats; returns the commits sent.
    let run = |h: &mut Harness, seconds: u32| {
        let mut commits = Vec::new();
        for _ in 0..seconds {
            h.advance(Duration::from_secs(1));
            while let Some(tx) = h.transmit() {
                match tx.request.clone() {
                    Request::Heartbeat(_) => h.reply(&tx, heartbeat(None)),
                    Request::OffsetCommit(commit) => {
                        h.reply(&tx, commit_response(&commit, None));
                        commits.push(committed_offsets(&commit));
                    }
                    other => panic!("unexpected {:?}", other.api_key()),
                }
            }
        }
        commits
    };
    assert!(
        run(&mut h, 4).is_empty(),
        "nothing before auto.commit.interval.ms"
    );
    assert_eq!(run(&mut h, 2), vec![vec![(tp(0), 4)]]);
    assert!(
        run(&mut h, 6).is_empty(),
        "unchanged positions are not committed again"
    );
    h.member.record_consumed(&tp(1), 8);
    assert_eq!(run(&mut h, 5), vec![vec![(tp(1), 8)]]);
}

#[test]
fn commit_retries_after_not_coordinator_and_fails_on_rebalance() {
    let mut h = stable_member(&[("enable.auto.commit", "false")], 1);
    let id = h.member.commit(vec![(tp(0), 9)]);
    let tx = h.expect(ApiKey::OffsetCommit);
    let Request::OffsetCommit(commit) = tx.request.clone() else {
        unreachable!()
    };
    h.reply(
        &tx,
        commit_response(&commit, Some(ResponseError::NotCoordinator)),
    );
    let tx = h.expect(ApiKey::FindCoordinator);
    h.reply(&tx, find_coordinator_ok());
    h.advance(Duration::from_millis(100));
    let tx = h.expect(ApiKey::OffsetCommit);
    h.reply(
        &tx,
        commit_response(&commit, Some(ResponseError::RebalanceInProgress)),
    );
    assert!(matches!(
        h.events().as_slice(),
        [GroupEvent::CommitFailed { id: failed, error: GroupError::Broker { error: ResponseError::RebalanceInProgress, .. } }, ..] if *failed == id
    ));
}

#[test]
fn missing_poll_within_max_poll_interval_leaves_and_rejoins_on_next_poll() {
    let mut h = stable_member(&[("max.poll.interval.ms", "3000")], 1);
    for _ in 0..3 {
        h.advance(Duration::from_secs(1));
        while let Some(tx) = h.transmit() {
            if tx.request.api_key() == ApiKey::Heartbeat {
                h.reply(&tx, heartbeat(None));
            } else {
                assert_eq!(tx.request.api_key(), ApiKey::LeaveGroup);
                h.reply(&tx, Response::LeaveGroup(Default::default()));
            }
        }
    }
    assert_eq!(
        h.events(),
        vec![GroupEvent::PartitionsLost {
            partitions: tps(&[0])
        }]
    );
    h.advance(Duration::from_secs(5));
    assert!(
        h.transmit().is_none(),
        "stays out until the application polls"
    );
    h.member.poll(h.now);
    let (_, join) = h.expect_join();
    assert_eq!(join.member_id.as_str(), "");
}

#[test]
fn leader_rebalances_when_the_partition_count_grows() {
    let mut h = stable_member(&[("metadata.max.age.ms", "2000")], 2);
    h.advance(Duration::from_secs(1));
    let tx = h.expect(ApiKey::Heartbeat);
    h.reply(&tx, heartbeat(None));
    h.advance(Duration::from_secs(1));
    let tx = h.expect(ApiKey::Metadata);
    h.reply(&tx, Response::Metadata(metadata_response(3)));
    assert_eq!(
        h.events(),
        vec![GroupEvent::PartitionsRevoked {
            partitions: tps(&[0, 1])
        }]
    );
}

#[test]
fn not_coordinator_on_join_rediscovers_and_joins_again() {
    let mut h = Harness::new(&[], 1);
    h.find_coordinator();
    let (tx, _) = h.expect_join();
    h.reply(&tx, join_error(ResponseError::NotCoordinator, ""));
    let tx = h.expect(ApiKey::FindCoordinator);
    h.reply(&tx, find_coordinator_ok());
    h.expect_join();
}

#[test]
fn lost_connection_during_sync_rediscovers_and_rejoins() {
    let mut h = Harness::new(&[], 1);
    h.find_coordinator();
    let (tx, _) = h.expect_join();
    h.reply(&tx, join_ok("m2", 1, "m1", &[]));
    let (tx, _) = h.expect_sync();
    h.member.handle_response(
        tx.broker,
        tx.token,
        Err(TransportError::Disconnected { broker: tx.broker }),
        h.now,
    );
    let tx = h.expect(ApiKey::FindCoordinator);
    h.reply(&tx, find_coordinator_ok());
    let (_, join) = h.expect_join();
    assert_eq!(join.member_id.as_str(), "m2");
}

#[test]
fn unstable_offset_commit_is_fetched_again_after_backoff() {
    let mut h = Harness::new(&[], 1);
    h.find_coordinator();
    let (tx, _) = h.expect_join();
    h.reply(&tx, join_ok("m2", 1, "m1", &[]));
    let (tx, _) = h.expect_sync();
    h.reply(
        &tx,
        sync_ok(consumer_protocol::encode_assignment(&tps(&[0])).unwrap()),
    );
    h.events();
    let tx = h.expect(ApiKey::OffsetFetch);
    let Request::OffsetFetch(request) = &tx.request else {
        unreachable!()
    };
    assert!(request.require_stable, "KIP-447: ask for stable offsets");
    h.reply(
        &tx,
        Response::OffsetFetch(
            OffsetFetchResponse::default()
                .with_error_code(ResponseError::UnstableOffsetCommit.code()),
        ),
    );
    assert!(h.events().is_empty());
    h.advance(Duration::from_millis(100));
    h.answer_offset_fetch(&[(0, 11)]);
    assert_eq!(
        h.events(),
        vec![GroupEvent::CommittedOffsets {
            offsets: vec![(tp(0), Some(11))]
        }]
    );
}

#[test]
fn leader_gives_nothing_to_a_member_with_unreadable_metadata() {
    let mut h = Harness::new(&[], 2);
    h.find_coordinator();
    let (tx, join) = h.expect_join();
    let mine = join.protocols[0].metadata.clone();
    h.reply(
        &tx,
        join_ok(
            "m1",
            1,
            "m1",
            &[("m1", mine), ("m9", Bytes::from_static(&[0]))],
        ),
    );
    h.advance(Duration::from_millis(100));
    let tx = h.expect(ApiKey::Metadata);
    h.reply(&tx, Response::Metadata(metadata_response(2)));
    let (_, sync) = h.expect_sync();
    let by_member: BTreeMap<String, Vec<TopicPartition>> = sync
        .assignments
        .iter()
        .map(|a| {
            (
                a.member_id.to_string(),
                consumer_protocol::decode_assignment(a.assignment.clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(by_member["m1"], tps(&[0, 1]));
    assert!(by_member["m9"].is_empty());
}

#[test]
fn closing_mid_rebalance_still_leaves() {
    let mut h = Harness::new(&[], 1);
    h.find_coordinator();
    let (tx, _) = h.expect_join();
    h.reply(&tx, join_error(ResponseError::MemberIdRequired, "m1"));
    let _join_in_flight = h.expect_join();
    h.member.close();
    let tx = h.expect(ApiKey::LeaveGroup);
    h.reply(&tx, Response::LeaveGroup(Default::default()));
    assert!(h.transmit().is_none());
    assert_eq!(h.events(), vec![GroupEvent::Closed]);
}

// ---- several members against a simulated coordinator ------------------------------------------------------------

/// A coordinator that follows Kafka's classic group protocol closely enough to run members against each other:
/// a join round completes once every known member has (re)joined, the first to join leads, followers' SyncGroups
/// wait for the leader's, heartbeats during a round answer REBALANCE_IN_PROGRESS.
#[derive(Default)]
struct SimulatedCoordinator {
    generation: i32,
    rebalancing: bool,
    next_member: u32,
    /// Known members and, during a join round, the metadata each sent.
    members: BTreeMap<String, Option<Bytes>>,
    parked_joins: Vec<(usize, Transmit, String)>,
    parked_syncs: Vec<(usize, Transmit, String)>,
    leader: Option<String>,
    join_order: Vec<String>,
    assignments: BTreeMap<String, Bytes>,
    offsets: BTreeMap<TopicPartition, i64>,
}

impl SimulatedCoordinator {
    /// Handles one request from member `from`; answers now or parks it. Returns the answers to deliver.
    fn handle(
        &mut self,
        from: usize,
        tx: Transmit,
        partitions: i32,
    ) -> Vec<(usize, Transmit, Response)> {
        let mut out = Vec::new();
        match tx.request.clone() {
            Request::Metadata(_) => {
                out.push((from, tx, Response::Metadata(metadata_response(partitions))))
            }
            Request::FindCoordinator(_) => out.push((from, tx, find_coordinator_ok())),
            Request::JoinGroup(join) => {
                if join.member_id.is_empty() {
                    self.next_member += 1;
                    let id = format!("member-{}", self.next_member);
                    out.push((from, tx, join_error(ResponseError::MemberIdRequired, &id)));
                    return out;
                }
                let id = join.member_id.to_string();
                if !self.rebalancing {
                    self.start_round();
                }
                let protocol = &join.protocols[0];
                self.members
                    .insert(id.clone(), Some(protocol.metadata.clone()));
                self.join_order.push(id.clone());
                self.parked_joins.push((from, tx, id));
                out.extend(self.maybe_complete_join(&protocol.name.to_string()));
            }
            Request::SyncGroup(sync) => {
                let id = sync.member_id.to_string();
                if self.rebalancing || sync.generation_id != self.generation {
                    out.push((from, tx, sync_error(ResponseError::RebalanceInProgress)));
                    return out;
                }
                if self.leader.as_deref() == Some(id.as_str()) {
                    self.assignments = sync
                        .assignments
                        .iter()
                        .map(|a| (a.member_id.to_string(), a.assignment.clone()))
                        .collect();
                    out.push((
                        from,
                        tx,
                        sync_ok(self.assignments.get(&id).cloned().unwrap_or_default()),
                    ));
                    for (member, parked, parked_id) in std::mem::take(&mut self.parked_syncs) {
                        let assignment = self
                            .assignments
                            .get(&parked_id)
                            .cloned()
                            .unwrap_or_default();
                        out.push((member, parked, sync_ok(assignment)));
                    }
                } else {
                    self.parked_syncs.push((from, tx, id));
                }
            }
            Request::Heartbeat(heartbeat_request) => {
                let id = heartbeat_request.member_id.to_string();
                let error = if !self.members.contains_key(&id) {
                    Some(ResponseError::UnknownMemberId)
                } else if self.rebalancing {
                    Some(ResponseError::RebalanceInProgress)
                } else if heartbeat_request.generation_id != self.generation {
                    Some(ResponseError::IllegalGeneration)
                } else {
                    None
                };
                out.push((from, tx, heartbeat(error)));
            }
            Request::LeaveGroup(leave) => {
                for member in &leave.members {
                    self.members.remove(member.member_id.as_str());
                }
                out.push((from, tx, Response::LeaveGroup(Default::default())));
                if !self.members.is_empty() {
                    if !self.rebalancing {
                        self.start_round();
                    }
                    out.extend(self.maybe_complete_join("range"));
                }
            }
            Request::OffsetCommit(commit) => {
                for (tp, offset) in committed_offsets(&commit) {
                    self.offsets.insert(tp, offset);
                }
                let response = commit_response(&commit, None);
                out.push((from, tx, response));
            }
            Request::OffsetFetch(fetch) => {
                let offsets: Vec<(i32, i64)> = fetch
                    .topics
                    .iter()
                    .flatten()
                    .flat_map(|t| {
                        t.partition_indexes
                            .iter()
                            .map(|p| (*p, self.offsets.get(&tp(*p)).copied().unwrap_or(-1)))
                    })
                    .collect();
                out.push((from, tx, offset_fetch_ok(&offsets)));
            }
            other => panic!(
                "the simulated coordinator does not speak {:?}",
                other.api_key()
            ),
        }
        out
    }

    fn start_round(&mut self) {
        self.rebalancing = true;
        self.join_order.clear();
        for metadata in self.members.values_mut() {
            *metadata = None;
        }
        // Followers waiting for a sync of the old generation are told to rejoin.
        self.parked_syncs.clear();
    }

    fn maybe_complete_join(&mut self, protocol: &str) -> Vec<(usize, Transmit, Response)> {
        if self.members.values().any(Option::is_none) || self.parked_joins.is_empty() {
            return Vec::new();
        }
        self.rebalancing = false;
        self.generation += 1;
        let leader = self.join_order[0].clone();
        self.leader = Some(leader.clone());
        let members: Vec<(String, Bytes)> = self
            .members
            .iter()
            .map(|(id, metadata)| (id.clone(), metadata.clone().unwrap_or_default()))
            .collect();
        std::mem::take(&mut self.parked_joins)
            .into_iter()
            .map(|(member, tx, id)| {
                let listed: Vec<(&str, Bytes)> = if id == leader {
                    members
                        .iter()
                        .map(|(i, m)| (i.as_str(), m.clone()))
                        .collect()
                } else {
                    Vec::new()
                };
                let mut response = join_ok(&id, self.generation, &leader, &listed);
                if let Response::JoinGroup(r) = &mut response {
                    r.protocol_name = Some(StrBytes::from_string(protocol.to_owned()));
                }
                (member, tx, response)
            })
            .collect()
    }
}

/// Members and the simulated coordinator stepping through simulated time; the application part commits on
/// revocation and acknowledges it at once, as `GroupConsumer` does with auto-commit.
struct Simulation {
    members: Vec<Option<GroupMember>>,
    coordinator: SimulatedCoordinator,
    now: Instant,
    partitions: i32,
}

impl Simulation {
    fn new(partitions: i32) -> Self {
        Self {
            members: Vec::new(),
            coordinator: SimulatedCoordinator::default(),
            now: Instant::now(),
            partitions,
        }
    }

    fn add_member(&mut self, strategy: &str) -> usize {
        let config = config(&[("partition.assignment.strategy", strategy)]);
        let member = GroupMember::new(&config, vec![TOPIC.into()], self.now).expect("member");
        self.members.push(Some(member));
        self.members.len() - 1
    }

    /// Runs `duration` in 50 ms steps, checking after each that no partition has two owners.
    fn run(&mut self, duration: Duration) {
        let steps = duration.as_millis() / 50;
        for _ in 0..steps {
            self.now += Duration::from_millis(50);
            for index in 0..self.members.len() {
                let now = self.now;
                let Some(member) = self.members[index].as_mut() else {
                    continue;
                };
                member.poll(now);
                if member.poll_timeout().is_some_and(|t| t <= now) {
                    member.handle_timeout(now);
                }
                let mut transmits = Vec::new();
                while let Some(tx) = member.poll_transmit(now) {
                    transmits.push(tx);
                }
                for tx in transmits {
                    for (to, tx, response) in self.coordinator.handle(index, tx, self.partitions) {
                        if let Some(member) = self.members[to].as_mut() {
                            member.handle_response(tx.broker, tx.token, Ok(response), now);
                        }
                    }
                }
                if let Some(member) = self.members[index].as_mut() {
                    while let Some(event) = member.poll_event() {
                        if let GroupEvent::PartitionsRevoked { partitions } = event {
                            member.commit_consumed(Some(&partitions));
                            member.revoke_done();
                        }
                    }
                }
            }
            self.assert_no_partition_owned_twice();
        }
    }

    fn assert_no_partition_owned_twice(&self) {
        let mut owners: BTreeMap<&TopicPartition, usize> = BTreeMap::new();
        for (index, member) in self.members.iter().enumerate() {
            for tp in member.iter().flat_map(|m| m.assignment()) {
                if let Some(other) = owners.insert(tp, index) {
                    panic!("{tp} owned by members {other} and {index} at once");
                }
            }
        }
    }

    fn owned(&self, index: usize) -> Vec<TopicPartition> {
        self.members[index]
            .as_ref()
            .map(|m| m.assignment().cloned().collect())
            .unwrap_or_default()
    }

    fn close(&mut self, index: usize) {
        if let Some(member) = self.members[index].as_mut() {
            member.close();
        }
    }
}

fn simulate_join_and_leave(strategy: &str) {
    let mut sim = Simulation::new(6);
    let a = sim.add_member(strategy);
    sim.run(Duration::from_secs(2));
    assert_eq!(sim.owned(a).len(), 6);
    let b = sim.add_member(strategy);
    sim.run(Duration::from_secs(5));
    assert_eq!(
        (sim.owned(a).len(), sim.owned(b).len()),
        (3, 3),
        "{strategy}"
    );
    let c = sim.add_member(strategy);
    sim.run(Duration::from_secs(5));
    assert_eq!(
        (sim.owned(a).len(), sim.owned(b).len(), sim.owned(c).len()),
        (2, 2, 2),
        "{strategy}"
    );
    sim.close(b);
    sim.run(Duration::from_secs(5));
    assert!(sim.owned(b).is_empty());
    assert_eq!(
        (sim.owned(a).len(), sim.owned(c).len()),
        (3, 3),
        "{strategy}"
    );
}

#[test]
fn simulated_group_rebalances_eagerly_as_members_join_and_leave() {
    simulate_join_and_leave("range");
    simulate_join_and_leave("roundrobin");
}

#[test]
fn simulated_cooperative_group_hands_partitions_over_in_two_rounds() {
    simulate_join_and_leave("cooperative-sticky");
    // Stickiness: when a second member joins, the first keeps half of what it had.
    let mut sim = Simulation::new(4);
    let a = sim.add_member("cooperative-sticky");
    sim.run(Duration::from_secs(2));
    let before = sim.owned(a);
    sim.add_member("cooperative-sticky");
    sim.run(Duration::from_secs(5));
    let after = sim.owned(a);
    assert_eq!(after.len(), 2);
    assert!(after.iter().all(|tp| before.contains(tp)));
}

/// Drives `h` by its own deadlines for `steps` rounds, answering each request through `answer` (or leaving
/// it unanswered), and checks the driver's contract: once everything due at `now` was handled and sent,
/// `poll_timeout` names only a later instant (a deadline at or before `now` would make a driver spin).
fn assert_deadlines_move_forward(
    h: &mut Harness,
    steps: usize,
    mut answer: impl FnMut(&Transmit, usize) -> Option<ResponseResult>,
) {
    for step in 0..steps {
        while let Some(tx) = h.transmit() {
            if let Some(result) = answer(&tx, step) {
                h.member.handle_response(tx.broker, tx.token, result, h.now);
            }
        }
        h.events();
        let Some(deadline) = h.member.poll_timeout() else {
            return;
        };
        assert!(
            deadline > h.now,
            "step {step}: poll_timeout names an instant {:?} at or before the handled now ({:?})",
            h.now.saturating_duration_since(deadline),
            h.member.phase
        );
        h.now = deadline;
        h.member.handle_timeout(h.now);
    }
}

#[test]
fn deadlines_move_forward_while_the_coordinator_never_answers() {
    let mut h = stable_member(&[("enable.auto.commit", "true")], 3);
    assert_deadlines_move_forward(&mut h, 500, |_, _| None);
}

#[test]
fn deadlines_move_forward_while_every_connection_fails() {
    let mut h = stable_member(&[("enable.auto.commit", "true")], 3);
    assert_deadlines_move_forward(&mut h, 500, |tx, _| {
        Some(Err(TransportError::Disconnected { broker: tx.broker }))
    });
}

#[test]
fn deadlines_move_forward_while_the_coordinator_keeps_moving() {
    let mut h = stable_member(&[("enable.auto.commit", "true")], 3);
    assert_deadlines_move_forward(&mut h, 500, |tx, step| match tx.request.api_key() {
        ApiKey::Metadata => Some(Ok(Response::Metadata(metadata_response(3)))),
        ApiKey::FindCoordinator if step % 3 == 0 => Some(Ok(find_coordinator_error(
            ResponseError::CoordinatorNotAvailable,
        ))),
        ApiKey::FindCoordinator => Some(Ok(find_coordinator_ok())),
        ApiKey::Heartbeat | ApiKey::JoinGroup | ApiKey::OffsetCommit if step % 2 == 0 => {
            Some(Err(TransportError::Disconnected { broker: tx.broker }))
        }
        ApiKey::Heartbeat => Some(Ok(heartbeat(Some(ResponseError::NotCoordinator)))),
        _ => None,
    });
}
