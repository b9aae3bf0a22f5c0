//! read_committed and read_uncommitted over transactional data, deleted topics, throttling, and deadlines
//! that always move forward.

use super::*;

/// Producer 7 commits "c1","c2"; producer 8 aborts "x1","x2" interleaved; then plain "p".
fn transactional_log() -> (Bytes, Vec<AbortedTransaction>) {
    let records = concat(&[
        txn_batch(0, 7, &["c1"]),
        txn_batch(1, 8, &["x1"]),
        txn_batch(2, 7, &["c2"]),
        txn_batch(3, 8, &["x2"]),
        marker(4, 7, ControlRecordType::Commit),
        marker(5, 8, ControlRecordType::Abort),
        batch(6, &["p"]),
    ]);
    let aborted = vec![AbortedTransaction::default()
        .with_producer_id(ProducerId(8))
        .with_first_offset(1)];
    (records, aborted)
}

#[test]
fn read_committed_skips_aborted_transactions_and_every_control_record() {
    let mut h = Harness::started(
        &[("isolation.level", "read_committed")],
        &[(0, StartPosition::Offset(0))],
        &[1],
    );
    let (tx, _) = h.expect_fetch();
    let (records, aborted) = transactional_log();
    let partition = data(0, 7, records)
        .with_last_stable_offset(7)
        .with_aborted_transactions(Some(aborted));
    h.reply(&tx, Ok(fetch_response(vec![partition])));
    let events = h.events();
    assert_eq!(
        delivered(&events),
        vec![(0, "c1".into()), (2, "c2".into()), (6, "p".into())]
    );
    assert_eq!(h.machine.position(TOPIC, 0), Some(7));
    assert_eq!(eofs(&events), vec![(0, 7)]);
}

#[test]
fn read_uncommitted_shows_aborted_data_but_never_control_records() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, _) = h.expect_fetch();
    let (records, aborted) = transactional_log();
    let partition = data(0, 7, records).with_aborted_transactions(Some(aborted));
    h.reply(&tx, Ok(fetch_response(vec![partition])));
    assert_eq!(values(&h.events()), vec!["c1", "x1", "c2", "x2", "p"]);
    assert_eq!(h.machine.position(TOPIC, 0), Some(7));
}

#[test]
fn read_committed_end_of_partition_is_the_last_stable_offset() {
    let mut h = Harness::started(
        &[("isolation.level", "read_committed")],
        &[(0, StartPosition::Offset(0))],
        &[1],
    );
    let (tx, _) = h.expect_fetch();
    // An open transaction holds the LSO at 1 while the high watermark is 3.
    let partition = data(0, 3, batch(0, &["a"])).with_last_stable_offset(1);
    h.reply(&tx, Ok(fetch_response(vec![partition])));
    let events = h.events();
    assert_eq!(eofs(&events), vec![(0, 1)]);
    assert_eq!(h.machine.last_stable_offset(TOPIC, 0), Some(1));
}

#[test]
fn deleted_topic_is_an_error_after_request_timeout() {
    let mut h = Harness::started(
        &[("request.timeout.ms", "1000")],
        &[(0, StartPosition::Offset(0))],
        &[1],
    );
    let (tx, _) = h.expect_fetch();
    h.reply(
        &tx,
        Ok(fetch_response(vec![data_error(
            0,
            ResponseError::UnknownTopicOrPartition,
        )])),
    );
    h.tick(Duration::from_millis(100));
    let tx = h.expect_transmit();
    h.reply(
        &tx,
        Ok(Response::Metadata(metadata_topic_error(
            ResponseError::UnknownTopicOrPartition,
        ))),
    );
    assert!(h.events().is_empty());
    h.tick(Duration::from_millis(1000));
    let events = h.events();
    assert!(
        matches!(
            errors(&events)[..],
            [(None, ConsumerError::UnknownTopic { .. })]
        ),
        "{events:?}"
    );
}

#[test]
fn throttled_broker_is_not_fetched_from_until_the_throttle_ends() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, _) = h.expect_fetch();
    let response = FetchResponse::default()
        .with_throttle_time_ms(300)
        .with_responses(vec![FetchableTopicResponse::default()
            .with_topic(topic_name(TOPIC))
            .with_partitions(vec![data(0, 5, Bytes::new())])]);
    h.reply(&tx, Ok(Response::Fetch(response)));
    assert!(h.transmit().is_none());
    assert_eq!(
        h.machine.poll_timeout(),
        Some(h.now + Duration::from_millis(300))
    );
    h.tick(Duration::from_millis(300));
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 0)]);
}

#[test]
fn unassigned_partition_is_no_longer_fetched_and_its_late_data_is_ignored() {
    let starts = [(0, StartPosition::Offset(0)), (1, StartPosition::Offset(0))];
    let mut h = Harness::started(&[], &starts, &[1, 1]);
    let (tx, _) = h.expect_fetch();
    h.machine.unassign(TOPIC, 1);
    h.reply(
        &tx,
        Ok(fetch_response(vec![
            data(0, 1, batch(0, &["a"])),
            data(1, 1, batch(0, &["b"])),
        ])),
    );
    assert_eq!(values(&h.events()), vec!["a"]);
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 1)]);
}

#[test]
fn requests_encode_at_every_version_we_speak() {
    use crate::protocol::versions::client_range;
    for (isolation, list_offsets_min) in [("read_uncommitted", 1), ("read_committed", 2)] {
        let starts = [(0, StartPosition::Earliest), (1, StartPosition::Offset(4))];
        let mut h = Harness::started(&[("isolation.level", isolation)], &starts, &[1, 2]);
        let (list, _) = h.expect_list_offsets();
        let (fetch, _) = h.expect_fetch();
        let (min, max) = client_range(ApiKey::ListOffsets).expect("range");
        for version in min.max(list_offsets_min)..=max {
            let mut out = BytesMut::new();
            list.request
                .encode_body(&mut out, version)
                .unwrap_or_else(|e| panic!("ListOffsets v{version} {isolation}: {e}"));
        }
        let (min, max) = client_range(ApiKey::Fetch).expect("range");
        for version in min..=max {
            let mut out = BytesMut::new();
            fetch
                .request
                .encode_body(&mut out, version)
                .unwrap_or_else(|e| panic!("Fetch v{version} {isolation}: {e}"));
        }
    }
}

/// Drives `h` by its own deadlines for `steps` rounds, answering each request through `answer` (or leaving
/// it unanswered), and checks the driver's contract: once everything due at `now` was handled and sent,
/// `poll_timeout` names only a later instant (one at or before `now` would make a driver spin).
fn assert_deadlines_move_forward(
    h: &mut Harness,
    steps: usize,
    mut answer: impl FnMut(&Transmit, usize) -> Option<ResponseResult>,
) {
    for step in 0..steps {
        while let Some(tx) = h.transmit() {
            if let Some(result) = answer(&tx, step) {
                h.reply(&tx, result);
            }
        }
        h.events();
        let Some(deadline) = h.machine.poll_timeout() else {
            return;
        };
        assert!(
            deadline > h.now,
            "step {step}: poll_timeout names an instant {:?} at or before the handled now",
            h.now.saturating_duration_since(deadline)
        );
        h.now = deadline;
        h.machine.handle_timeout(h.now);
    }
}

fn fetching_three_partitions() -> Harness {
    let starts: Vec<(i32, StartPosition)> = (0..3).map(|p| (p, StartPosition::Offset(0))).collect();
    Harness::started(&[], &starts, &[1, 2, 1])
}

#[test]
fn deadlines_move_forward_while_every_connection_fails() {
    let mut h = fetching_three_partitions();
    assert_deadlines_move_forward(&mut h, 300, |tx, _| {
        Some(Err(TransportError::Disconnected { broker: tx.broker }))
    });
}

#[test]
fn deadlines_move_forward_while_leaders_move_and_the_topic_comes_and_goes() {
    let mut h = fetching_three_partitions();
    assert_deadlines_move_forward(&mut h, 300, |tx, step| match &tx.request {
        Request::Metadata(_) if step % 4 == 0 => Some(Ok(Response::Metadata(
            metadata_topic_error(ResponseError::UnknownTopicOrPartition),
        ))),
        Request::Metadata(_) if step % 4 == 1 => {
            Some(Ok(Response::Metadata(metadata(&[-1, 2, 1]))))
        }
        Request::Metadata(_) => Some(Ok(Response::Metadata(metadata(&[2, 1, 2])))),
        Request::Fetch(request) => Some(Ok(fetch_response(
            fetch_offsets(request)
                .into_iter()
                .map(|(p, _)| data_error(p, ResponseError::NotLeaderOrFollower))
                .collect(),
        ))),
        _ => None,
    });
}

#[test]
fn deadlines_move_forward_while_the_brokers_never_answer() {
    let mut h = fetching_three_partitions();
    assert_deadlines_move_forward(&mut h, 300, |_, _| None);
}
