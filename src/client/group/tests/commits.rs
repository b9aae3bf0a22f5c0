//! The group's offsets: auto-commit, commit retries, committed offsets of new partitions.

use super::*;

#[test]
fn auto_commit_sends_consumed_positions_every_interval_only_when_changed() {
    let mut h = stable_member(&[], 2);
    h.machine.record_consumed(&tp(0), 4);
    // Runs `seconds` of simulated time answering heartbeats; returns the commits sent.
    let run = |h: &mut Harness, seconds: u32| {
        let mut commits = Vec::new();
        for _ in 0..seconds {
            h.pass(Duration::from_secs(1));
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
    h.machine.record_consumed(&tp(1), 8);
    assert_eq!(run(&mut h, 5), vec![vec![(tp(1), 8)]]);
}

#[test]
fn commit_retries_after_not_coordinator_and_fails_on_rebalance() {
    let mut h = stable_member(&[("enable.auto.commit", "false")], 1);
    let id = h.machine.commit(vec![(tp(0), 9)]);
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
    h.pass(Duration::from_millis(100));
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
fn unstable_offset_commit_is_fetched_again_after_backoff() {
    let mut h = Harness::member(&[], 1);
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
    h.pass(Duration::from_millis(100));
    h.answer_offset_fetch(&[(0, 11)]);
    assert_eq!(
        h.events(),
        vec![GroupEvent::CommittedOffsets {
            offsets: vec![(tp(0), Some(11))]
        }]
    );
}
