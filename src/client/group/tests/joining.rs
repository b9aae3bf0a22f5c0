//! Joining and syncing: member ids, the leader's assignment, eager and cooperative rebalances.

use super::*;

#[test]
fn joins_with_the_member_id_the_coordinator_requires_and_assigns_as_leader() {
    let mut h = Harness::member(&[], 3);
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
        h.pass(Duration::from_millis(100));
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
    assert!(h.machine.is_stable());
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
    let mut h = Harness::member(&[], 4);
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
        h.machine.assignment().cloned().collect::<Vec<_>>(),
        tps(&[2, 3])
    );
}

#[test]
fn while_a_revocation_waits_the_member_keeps_the_generation_that_owned_the_partitions() {
    // Exactly-once commits its open transaction with the offsets of the revoked partitions (TxnOffsetCommit,
    // carrying this generation and member id) after PartitionsRevoked and before revoke_done: the coordinator
    // takes it only from the generation that owned them, and only until the member rejoins.
    let mut h = stable_member(&[], 2);
    let generation = h.machine.generation();
    h.pass(Duration::from_secs(1));
    let tx = h.expect(ApiKey::Heartbeat);
    h.reply(&tx, heartbeat(Some(ResponseError::RebalanceInProgress)));
    assert_eq!(
        h.events(),
        vec![GroupEvent::PartitionsRevoked {
            partitions: tps(&[0, 1])
        }]
    );
    assert_eq!(
        (h.machine.generation(), h.machine.member_id()),
        (generation, "m1")
    );
    assert!(h.machine.owns(&tp(0)) && h.machine.owns(&tp(1)));
    h.pass(Duration::from_secs(2));
    assert!(
        !std::iter::from_fn(|| h.transmit()).any(|tx| tx.request.api_key() == ApiKey::JoinGroup),
        "no JoinGroup however long the application takes to commit"
    );
    h.machine.revoke_done();
    assert!(!h.machine.owns(&tp(0)));
    let (_, join) = h.expect_join();
    assert_eq!(join.member_id.as_str(), "m1");
}

#[test]
fn eager_rebalance_revokes_everything_and_waits_for_the_apps_commit_before_rejoining() {
    let mut h = stable_member(&[], 2);
    h.machine.record_consumed(&tp(0), 10);
    h.machine.record_consumed(&tp(1), 20);
    h.pass(Duration::from_secs(1));
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
    let id = h
        .machine
        .commit_consumed(None)
        .expect("something to commit");
    h.machine.revoke_done();
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
    let mut h = Harness::member(
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
    h.pass(Duration::from_secs(1));
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
    h.machine.revoke_done();
    // Follow-up rebalance so the leader can hand 2 and 3 over.
    let (_, join) = h.expect_join();
    let subscription =
        consumer_protocol::decode_subscription(join.protocols[0].metadata.clone()).unwrap();
    assert_eq!(subscription.owned_partitions, tps(&[0, 1]));
}

#[test]
fn sync_rebalance_in_progress_rejoins() {
    let mut h = Harness::member(&[], 1);
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
    let mut h = Harness::member(&[], 1);
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
    let mut h = Harness::member(&[("group.instance.id", "worker-1")], 1);
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
    h.pass(Duration::from_millis(100));
    let tx = h.expect(ApiKey::Metadata);
    h.reply(&tx, Response::Metadata(metadata_response(1)));
    let (tx, sync) = h.expect_sync();
    assert_eq!(sync.group_instance_id.as_deref(), Some("worker-1"));
    let mine = sync.assignments[0].assignment.clone();
    h.reply(&tx, sync_ok(mine));
    h.answer_offset_fetch(&[(0, -1)]);
    h.pass(Duration::from_secs(1));
    let tx = h.expect(ApiKey::Heartbeat);
    let Request::Heartbeat(hb) = &tx.request else {
        unreachable!()
    };
    assert_eq!(hb.group_instance_id.as_deref(), Some("worker-1"));
    h.reply(&tx, heartbeat(None));
    h.events();
    h.machine.close();
    assert!(h.transmit().is_none(), "no LeaveGroup for a static member");
    assert_eq!(h.events(), vec![GroupEvent::Closed]);
}

#[test]
fn leader_rebalances_when_the_partition_count_grows() {
    let mut h = stable_member(&[("metadata.max.age.ms", "2000")], 2);
    h.pass(Duration::from_secs(1));
    let tx = h.expect(ApiKey::Heartbeat);
    h.reply(&tx, heartbeat(None));
    h.pass(Duration::from_secs(1));
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
    let mut h = Harness::member(&[], 1);
    h.find_coordinator();
    let (tx, _) = h.expect_join();
    h.reply(&tx, join_error(ResponseError::NotCoordinator, ""));
    let tx = h.expect(ApiKey::FindCoordinator);
    h.reply(&tx, find_coordinator_ok());
    h.expect_join();
}

#[test]
fn lost_connection_during_sync_rediscovers_and_rejoins() {
    let mut h = Harness::member(&[], 1);
    h.find_coordinator();
    let (tx, _) = h.expect_join();
    h.reply(&tx, join_ok("m2", 1, "m1", &[]));
    let (tx, _) = h.expect_sync();
    h.machine.handle_response(
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
fn leader_gives_nothing_to_a_member_with_unreadable_metadata() {
    let mut h = Harness::member(&[], 2);
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
    h.pass(Duration::from_millis(100));
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
fn an_assignment_of_topics_not_subscribed_is_refused_and_the_member_joins_again() {
    // A static member restarted with a new subscription: the coordinator hands back its old assignment.
    let mut h = Harness::member(&[("group.instance.id", "pw-0")], 4);
    h.find_coordinator();
    let (tx, _) = h.expect_join();
    h.reply(&tx, join_ok("m2", 3, "m1", &[]));
    let (tx, _) = h.expect_sync();
    let old_topic = vec![TopicPartition::new("old-topic", 0)];
    h.reply(
        &tx,
        sync_ok(consumer_protocol::encode_assignment(&old_topic).unwrap()),
    );
    assert!(
        h.events().is_empty(),
        "nothing of the old subscription is taken"
    );
    assert_eq!(h.machine.assignment().count(), 0);
    h.tick(Duration::from_millis(100));
    let (_, join) = h.expect_join();
    assert_eq!(join.member_id.as_str(), "m2", "it joins again as itself");
}
