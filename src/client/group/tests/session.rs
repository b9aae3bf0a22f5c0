//! The session with the coordinator: finding it, heartbeats, losing the generation, polling, leaving,
//! and deadlines that always move forward.

use super::*;

#[test]
fn coordinator_lookup_retries_while_not_available() {
    let mut h = Harness::member(&[], 1);
    let tx = h.expect(ApiKey::Metadata);
    h.reply(&tx, Response::Metadata(metadata_response(1)));
    let tx = h.expect(ApiKey::FindCoordinator);
    h.reply(
        &tx,
        find_coordinator_error(ResponseError::CoordinatorNotAvailable),
    );
    assert!(h.transmit().is_none(), "backs off before asking again");
    h.pass(Duration::from_millis(100));
    let tx = h.expect(ApiKey::FindCoordinator);
    h.reply(
        &tx,
        find_coordinator_error(ResponseError::CoordinatorLoadInProgress),
    );
    h.pass(Duration::from_millis(100));
    let tx = h.expect(ApiKey::FindCoordinator);
    h.reply(&tx, find_coordinator_ok());
    h.expect_join();
}

#[test]
fn heartbeats_every_interval_while_stable() {
    let mut h = stable_member(&[], 2);
    assert!(h.transmit().is_none());
    h.pass(Duration::from_millis(999));
    assert!(h.transmit().is_none());
    h.pass(Duration::from_millis(1));
    let tx = h.expect(ApiKey::Heartbeat);
    let Request::Heartbeat(request) = &tx.request else {
        unreachable!()
    };
    assert_eq!(request.generation_id, 1);
    assert_eq!(request.member_id.as_str(), "m1");
    assert!(h.transmit().is_none(), "one heartbeat in flight");
    h.reply(&tx, heartbeat(None));
    h.pass(Duration::from_millis(1000));
    h.expect(ApiKey::Heartbeat);
}

#[test]
fn unknown_member_id_on_heartbeat_loses_partitions_and_rejoins_fresh() {
    let mut h = stable_member(&[], 2);
    h.machine.record_consumed(&tp(0), 5);
    h.pass(Duration::from_secs(1));
    let tx = h.expect(ApiKey::Heartbeat);
    h.reply(&tx, heartbeat(Some(ResponseError::UnknownMemberId)));
    assert_eq!(
        h.events(),
        vec![GroupEvent::PartitionsLost {
            partitions: tps(&[0, 1])
        }]
    );
    assert_eq!(
        h.machine.commit_consumed(None),
        None,
        "lost positions are not committed"
    );
    let (_, join) = h.expect_join();
    assert_eq!(join.member_id.as_str(), "");
}

#[test]
fn illegal_generation_loses_partitions_but_keeps_the_member_id() {
    let mut h = stable_member(&[], 1);
    h.pass(Duration::from_secs(1));
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
    h.pass(Duration::from_secs(1));
    let tx = h.expect(ApiKey::Heartbeat);
    h.reply(&tx, heartbeat(Some(ResponseError::NotCoordinator)));
    let tx = h.expect(ApiKey::FindCoordinator);
    h.reply(&tx, find_coordinator_ok());
    h.pass(Duration::from_millis(100));
    h.expect(ApiKey::Heartbeat);
    assert!(h.events().is_empty(), "partitions stay owned");
}

#[test]
fn fenced_static_member_loses_its_partitions() {
    let mut h = stable_member(&[("group.instance.id", "worker-1")], 1);
    h.pass(Duration::from_secs(1));
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
fn missing_poll_within_max_poll_interval_leaves_and_rejoins_on_next_poll() {
    let mut h = stable_member(&[("max.poll.interval.ms", "3000")], 1);
    for _ in 0..3 {
        h.pass(Duration::from_secs(1));
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
    h.pass(Duration::from_secs(5));
    assert!(
        h.transmit().is_none(),
        "stays out until the application polls"
    );
    h.machine.poll(h.now);
    let (_, join) = h.expect_join();
    assert_eq!(join.member_id.as_str(), "");
}

#[test]
fn close_commits_then_leaves() {
    let mut h = stable_member(&[], 2);
    h.machine.record_consumed(&tp(1), 3);
    h.machine.commit_consumed(None);
    h.machine.close();
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
fn closing_mid_rebalance_still_leaves() {
    let mut h = Harness::member(&[], 1);
    h.find_coordinator();
    let (tx, _) = h.expect_join();
    h.reply(&tx, join_error(ResponseError::MemberIdRequired, "m1"));
    let _join_in_flight = h.expect_join();
    h.machine.close();
    let tx = h.expect(ApiKey::LeaveGroup);
    h.reply(&tx, Response::LeaveGroup(Default::default()));
    assert!(h.transmit().is_none());
    assert_eq!(h.events(), vec![GroupEvent::Closed]);
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
                h.machine
                    .handle_response(tx.broker, tx.token, result, h.now);
            }
        }
        h.events();
        let Some(deadline) = h.machine.poll_timeout() else {
            return;
        };
        assert!(
            deadline > h.now,
            "step {step}: poll_timeout names an instant {:?} at or before the handled now ({:?})",
            h.now.saturating_duration_since(deadline),
            h.machine.phase
        );
        h.now = deadline;
        h.machine.handle_timeout(h.now);
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
