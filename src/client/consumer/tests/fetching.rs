//! Fetching: the request's settings, records in order, partial and oversized batches, rotation, pausing,
//! corrupt data, and the end of a partition.

use super::*;

#[test]
fn fetch_request_carries_the_fetch_settings_and_leader_epoch() {
    let settings = [
        ("fetch.min.bytes", "10"),
        ("fetch.max.wait.ms", "250"),
        ("fetch.max.bytes", "1000000"),
        ("max.partition.fetch.bytes", "65536"),
        ("isolation.level", "read_committed"),
    ];
    let mut h = Harness::started(&settings, &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, request) = h.expect_fetch();
    assert!(tx.expects_response);
    assert_eq!(request.min_bytes, 10);
    assert_eq!(request.max_wait_ms, 250);
    assert_eq!(request.max_bytes, 1_000_000);
    assert_eq!(request.isolation_level, 1);
    assert_eq!(request.replica_id, NodeId(-1));
    assert_eq!(request.session_epoch, -1, "full fetches, no fetch session");
    let partition = &request.topics[0].partitions[0];
    assert_eq!(partition.partition_max_bytes, 65_536);
    assert_eq!(partition.current_leader_epoch, 5);
}

#[test]
fn fetch_delivers_records_in_order_and_advances_the_position() {
    let records = concat(&[batch(0, &["a", "b"]), batch(2, &["c"])]);
    let (mut h, events) = Harness::after_one_fetch(&[], records);
    assert_eq!(
        delivered(&events),
        vec![(0, "a".into()), (1, "b".into()), (2, "c".into())]
    );
    assert_eq!(h.machine.position(TOPIC, 0), Some(3));
    assert_eq!(h.machine.high_watermark(TOPIC, 0), Some(10));
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 3)]);
}

#[test]
fn partial_trailing_batch_is_fetched_again_from_the_first_undelivered_offset() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, _) = h.expect_fetch();
    let second = batch(2, &["c", "d"]);
    let truncated = second.slice(..second.len() - 5);
    let records = concat(&[batch(0, &["a", "b"]), truncated]);
    h.reply(&tx, Ok(fetch_response(vec![data(0, 10, records)])));
    assert_eq!(values(&h.events()), vec!["a", "b"]);
    assert_eq!(h.machine.position(TOPIC, 0), Some(2));
    let (tx, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 2)]);
    h.reply(&tx, Ok(fetch_response(vec![data(0, 10, second)])));
    assert_eq!(values(&h.events()), vec!["c", "d"]);
}

#[test]
fn records_below_the_fetch_offset_inside_a_batch_are_skipped() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(3))], &[1]);
    let (tx, _) = h.expect_fetch();
    // A compressed batch is returned whole, starting before the fetch offset.
    let gzip = BatchOptions {
        compression: Compression::Gzip,
        ..BatchOptions::default()
    };
    let records = concat(&[
        batch_with(0, gzip, &["a", "b", "c", "d", "e"]),
        batch(5, &["f"]),
    ]);
    h.reply(&tx, Ok(fetch_response(vec![data(0, 10, records)])));
    assert_eq!(
        delivered(&h.events()),
        vec![(3, "d".into()), (4, "e".into()), (5, "f".into())]
    );
    assert_eq!(h.machine.position(TOPIC, 0), Some(6));
}

#[test]
fn empty_fetch_keeps_the_position_and_fetches_again() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(4))], &[1]);
    let (tx, _) = h.expect_fetch();
    h.reply(&tx, Ok(fetch_response(vec![data(0, 10, Bytes::new())])));
    assert!(h.events().is_empty());
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 4)]);
}

#[test]
fn one_fetch_in_flight_per_broker_with_partitions_grouped_by_leader() {
    let starts = [
        (0, StartPosition::Offset(0)),
        (1, StartPosition::Offset(0)),
        (2, StartPosition::Offset(0)),
    ];
    let mut h = Harness::started(&[], &starts, &[1, 2, 1]);
    let (to_1, request) = h.expect_fetch();
    assert_eq!(to_1.broker, 1);
    assert_eq!(fetch_offsets(&request), vec![(0, 0), (2, 0)]);
    let (to_2, request) = h.expect_fetch();
    assert_eq!(to_2.broker, 2);
    assert_eq!(fetch_offsets(&request), vec![(1, 0)]);
    assert!(
        h.transmit().is_none(),
        "both brokers have a fetch in flight"
    );
    h.reply(
        &to_1,
        Ok(fetch_response(vec![
            data(0, 0, Bytes::new()),
            data(2, 0, Bytes::new()),
        ])),
    );
    let (again, _) = h.expect_fetch();
    assert_eq!(again.broker, 1);
}

#[test]
fn partition_order_rotates_between_fetches() {
    let starts = [(0, StartPosition::Offset(0)), (1, StartPosition::Offset(0))];
    let mut h = Harness::started(&[], &starts, &[1, 1]);
    let (tx, first) = h.expect_fetch();
    h.reply(
        &tx,
        Ok(fetch_response(vec![
            data(0, 9, Bytes::new()),
            data(1, 9, Bytes::new()),
        ])),
    );
    let (_, second) = h.expect_fetch();
    assert_eq!(fetch_offsets(&first), vec![(0, 0), (1, 0)]);
    assert_eq!(fetch_offsets(&second), vec![(1, 0), (0, 0)]);
}

#[test]
fn paused_partition_is_not_fetched_and_its_in_flight_data_is_dropped() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, _) = h.expect_fetch();
    h.machine.pause(TOPIC, 0);
    h.reply(&tx, Ok(fetch_response(vec![data(0, 10, batch(0, &["a"]))])));
    assert!(h.events().is_empty());
    assert_eq!(h.machine.position(TOPIC, 0), Some(0));
    assert!(h.transmit().is_none());
    h.machine.resume(TOPIC, 0);
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 0)]);
}

#[test]
fn batch_larger_than_max_partition_fetch_bytes_is_a_clear_error_not_a_loop() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, _) = h.expect_fetch();
    let whole = batch(0, &["a large record"]);
    h.reply(
        &tx,
        Ok(fetch_response(vec![data(0, 10, whole.slice(..40))])),
    );
    let events = h.events();
    let errors = errors(&events);
    assert!(
        matches!(
            errors[..],
            [(
                Some(0),
                ConsumerError::NoCompleteBatch {
                    offset: 0,
                    bytes: 40,
                    ..
                }
            )]
        ),
        "{errors:?}"
    );
    assert!(errors[0]
        .1
        .to_string()
        .contains("max.partition.fetch.bytes"));
    assert!(h.transmit().is_none(), "the partition is no longer fetched");
}

#[test]
fn corrupt_batch_is_an_error_event_after_the_good_records() {
    let mut bad = BytesMut::from(&batch(1, &["b"])[..]);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let records = concat(&[batch(0, &["a"]), bad.freeze()]);
    let (_, events) = Harness::after_one_fetch(&[], records);
    assert_eq!(values(&events), vec!["a"]);
    assert!(matches!(
        errors(&events)[..],
        [(Some(0), ConsumerError::Corrupt { offset: 1, .. })]
    ));
}

/// A batch whose stored CRC32C is wrong but whose bytes are intact, after a good one.
fn records_with_a_wrong_crc_field() -> Bytes {
    let mut bad = BytesMut::from(&batch(1, &["b"])[..]);
    // The CRC field follows base offset (8), batch length (4), leader epoch (4) and magic (1).
    bad[17] ^= 0xff;
    concat(&[batch(0, &["a"]), bad.freeze()])
}

#[test]
fn check_crcs_false_delivers_a_batch_whose_crc_is_wrong_as_the_java_setting_does() {
    let (_, events) =
        Harness::after_one_fetch(&[("check.crcs", "false")], records_with_a_wrong_crc_field());
    assert_eq!(values(&events), vec!["a", "b"]);
    assert!(errors(&events).is_empty());
}

#[test]
fn by_default_a_batch_whose_crc_is_wrong_is_corrupt() {
    let (_, events) = Harness::after_one_fetch(&[], records_with_a_wrong_crc_field());
    assert_eq!(values(&events), vec!["a"]);
    assert!(matches!(
        errors(&events)[..],
        [(Some(0), ConsumerError::Corrupt { offset: 1, .. })]
    ));
}

// ---------------------------------------------------------------------------------------------------------
// end of partition
// ---------------------------------------------------------------------------------------------------------

#[test]
fn partition_eof_is_reported_once_each_time_the_position_reaches_the_high_watermark() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, _) = h.expect_fetch();
    h.reply(
        &tx,
        Ok(fetch_response(vec![data(0, 2, batch(0, &["a", "b"]))])),
    );
    let events = h.events();
    assert!(
        matches!(events.last(), Some(ConsumerEvent::PartitionEof { .. })),
        "records first, then EOF"
    );
    assert_eq!(eofs(&events), vec![(0, 2)]);

    let (tx, _) = h.expect_fetch();
    h.reply(&tx, Ok(fetch_response(vec![data(0, 2, Bytes::new())])));
    assert!(
        eofs(&h.events()).is_empty(),
        "still at the same end: no second EOF"
    );

    let (tx, _) = h.expect_fetch();
    h.reply(&tx, Ok(fetch_response(vec![data(0, 3, batch(2, &["c"]))])));
    assert_eq!(eofs(&h.events()), vec![(0, 3)]);
}

#[test]
fn every_answered_fetch_is_counted_even_without_records() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    assert_eq!(h.machine.fetch_answers(TOPIC, 0), 0);
    let (tx, _) = h.expect_fetch();
    h.reply(
        &tx,
        Ok(fetch_response(vec![data(0, 2, batch(0, &["a", "b"]))])),
    );
    h.events();
    assert_eq!(h.machine.fetch_answers(TOPIC, 0), 1);
    let (tx, _) = h.expect_fetch();
    h.reply(&tx, Ok(fetch_response(vec![data(0, 5, Bytes::new())])));
    assert_eq!(
        (
            h.machine.fetch_answers(TOPIC, 0),
            h.machine.high_watermark(TOPIC, 0)
        ),
        (2, Some(5)),
        "an empty answer still tells the end"
    );
    assert_eq!(h.machine.fetch_answers(TOPIC, 9), 0, "not assigned");
}

#[test]
fn empty_partition_reports_eof_at_its_start() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Earliest)], &[1]);
    let (tx, _) = h.expect_list_offsets();
    h.reply(&tx, Ok(list_offsets_response(&[(0, None, 0)])));
    let (tx, _) = h.expect_fetch();
    h.reply(&tx, Ok(fetch_response(vec![data(0, 0, Bytes::new())])));
    assert_eq!(eofs(&h.events()), vec![(0, 0)]);
}

#[test]
fn a_partition_whose_records_are_not_taken_is_not_fetched_again() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, _) = h.expect_fetch();
    h.reply(&tx, Ok(fetch_response(vec![data(0, 10, batch(0, &["a"]))])));
    assert!(
        h.transmit().is_none(),
        "its records wait in the queue: no second fetch behind them"
    );
    assert_eq!(values(&h.events()), vec!["a"]);
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 1)]);
}

#[test]
fn queued_records_count_against_fetch_max_bytes_until_taken() {
    let first = batch(0, &[&"x".repeat(600)]);
    let limit = first.len() + 100;
    let mut h = Harness::started(
        &[
            ("fetch.max.bytes", &limit.to_string()),
            ("max.partition.fetch.bytes", "1048576"),
        ],
        &[(0, StartPosition::Offset(0)), (1, StartPosition::Offset(0))],
        &[1, 1],
    );
    let (tx, request) = h.expect_fetch();
    assert_eq!(request.max_bytes as usize, limit);
    assert!(
        request.topics[0]
            .partitions
            .iter()
            .all(|p| p.partition_max_bytes as usize <= limit),
        "no partition may bring more than the whole budget"
    );
    h.reply(&tx, Ok(fetch_response(vec![data(0, 10, first.clone())])));
    assert_eq!(h.machine.queued_bytes(), first.len());
    // Partition 1 came back empty, but its leader's next fetch waits until partition 0's records are taken:
    // a fetch of partition 1 alone would leave partition 0 out until it returned, and a record arriving there
    // meanwhile would wait for fetch.max.wait.ms.
    assert!(
        h.transmit().is_none(),
        "no fetch to a leader while records it sent wait to be taken"
    );
    assert_eq!(values(&h.events()).len(), 1);
    let (tx, request) = h.expect_fetch();
    let mut offsets = fetch_offsets(&request);
    offsets.sort();
    assert_eq!(
        offsets,
        vec![(0, 1), (1, 0)],
        "the next fetch asks for both"
    );
    assert_eq!(
        request.max_bytes as usize, limit,
        "taken records free the budget"
    );
    let second = batch(1, &[&"y".repeat(600)]);
    h.reply(
        &tx,
        Ok(fetch_response(vec![
            data(0, 10, second.clone()),
            data(1, 10, first.clone()),
        ])),
    );
    assert!(
        h.machine.queued_bytes() > limit,
        "a broker returns one batch whole, larger than asked for (KIP-74)"
    );
    assert!(
        h.transmit().is_none(),
        "nothing is fetched while the queued records exceed fetch.max.bytes"
    );
    assert_eq!(values(&h.events()).len(), 2);
    assert_eq!(h.machine.queued_bytes(), 0);
    let (_, request) = h.expect_fetch();
    assert_eq!(
        request.max_bytes as usize, limit,
        "taken records free the budget"
    );
}

#[test]
fn a_compressed_batch_counts_its_decompressed_records_while_queued() {
    let gzip = BatchOptions {
        compression: Compression::Gzip,
        ..BatchOptions::default()
    };
    let long = "y".repeat(10_000);
    let records = batch_with(0, gzip, &[&long, &long]);
    let fetched = records.len();
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, _) = h.expect_fetch();
    h.reply(&tx, Ok(fetch_response(vec![data(0, 10, records)])));
    assert!(
        h.machine.queued_bytes() >= fetched + 2 * long.len(),
        "{} bytes queued for {fetched} fetched that decompress to over {}",
        h.machine.queued_bytes(),
        2 * long.len()
    );
    h.events();
    assert_eq!(h.machine.queued_bytes(), 0);
}
