//! Start positions: earliest, latest, a timestamp, an offset, the committed offset.

use super::*;

#[test]
fn earliest_start_looks_up_the_log_start_on_the_leader_then_fetches_from_it() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Earliest)], &[2]);
    let (tx, request) = h.expect_list_offsets();
    assert_eq!(tx.broker, 2, "ListOffsets goes to the partition leader");
    assert_eq!(list_timestamps(&request), vec![(0, -2)]);
    assert_eq!(request.replica_id, NodeId(-1));
    assert_eq!(request.topics[0].partitions[0].current_leader_epoch, 5);
    assert!(
        h.transmit().is_none(),
        "nothing to fetch before the offset is known"
    );
    h.reply(&tx, Ok(list_offsets_response(&[(0, None, 40)])));
    assert_eq!(h.machine.position(TOPIC, 0), Some(40));
    let (tx, request) = h.expect_fetch();
    assert_eq!(tx.broker, 2);
    assert_eq!(fetch_offsets(&request), vec![(0, 40)]);
}

#[test]
fn latest_start_asks_for_the_log_end() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Latest)], &[1]);
    let (_, request) = h.expect_list_offsets();
    assert_eq!(list_timestamps(&request), vec![(0, -1)]);
}

#[test]
fn list_offsets_are_grouped_by_leader_broker() {
    let starts = [
        (0, StartPosition::Earliest),
        (1, StartPosition::Latest),
        (2, StartPosition::Earliest),
    ];
    let mut h = Harness::started(&[], &starts, &[1, 2, 1]);
    let (first, request) = h.expect_list_offsets();
    assert_eq!(first.broker, 1);
    assert_eq!(list_timestamps(&request), vec![(0, -2), (2, -2)]);
    let (second, request) = h.expect_list_offsets();
    assert_eq!(second.broker, 2);
    assert_eq!(list_timestamps(&request), vec![(1, -1)]);
}

#[test]
fn timestamp_start_asks_by_timestamp_and_falls_back_to_latest_when_no_record_is_that_new() {
    let starts = [
        (0, StartPosition::Timestamp(1_700_000_000_000)),
        (1, StartPosition::Timestamp(1_700_000_000_000)),
    ];
    let mut h = Harness::started(&[], &starts, &[1, 1]);
    let (tx, request) = h.expect_list_offsets();
    assert_eq!(
        list_timestamps(&request),
        vec![(0, 1_700_000_000_000), (1, 1_700_000_000_000)]
    );
    h.reply(
        &tx,
        Ok(list_offsets_response(&[(0, None, 12), (1, None, -1)])),
    );
    assert_eq!(h.machine.position(TOPIC, 0), Some(12));
    assert_eq!(h.machine.position(TOPIC, 1), None);
    let (_, request) = h.expect_list_offsets();
    assert_eq!(list_timestamps(&request), vec![(1, -1)]);
}

#[test]
fn offset_start_fetches_without_a_lookup() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(7))], &[1]);
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 7)]);
}

#[test]
fn committed_start_waits_for_the_committed_offset_or_applies_auto_offset_reset() {
    let starts = [(0, StartPosition::Committed), (1, StartPosition::Committed)];
    let mut h = Harness::started(&[("auto.offset.reset", "earliest")], &starts, &[1, 1]);
    assert!(h.transmit().is_none());
    assert_eq!(h.machine.awaiting_committed().count(), 2);
    h.machine.set_committed_offset(TOPIC, 0, Some(33));
    h.machine.set_committed_offset(TOPIC, 1, None);
    let (_, request) = h.expect_list_offsets();
    assert_eq!(list_timestamps(&request), vec![(1, -2)]);
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 33)]);
}

#[test]
fn list_offsets_error_retries_after_refresh_and_backoff() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Earliest)], &[1]);
    let (tx, _) = h.expect_list_offsets();
    h.reply(
        &tx,
        Ok(list_offsets_response(&[(
            0,
            Some(ResponseError::NotLeaderOrFollower),
            -1,
        )])),
    );
    h.tick(Duration::from_millis(100));
    h.refresh_metadata(&[2]);
    let (tx, request) = h.expect_list_offsets();
    assert_eq!(tx.broker, 2);
    assert_eq!(list_timestamps(&request), vec![(0, -2)]);
}
