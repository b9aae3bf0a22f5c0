//! Errors: leader moves, out-of-range offsets, authorization, lost connections, unknown topics.

use super::*;

#[test]
fn not_leader_refreshes_metadata_and_fetches_from_the_new_leader_after_backoff() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(5))], &[1]);
    let (tx, _) = h.expect_fetch();
    h.reply(
        &tx,
        Ok(fetch_response(vec![data_error(
            0,
            ResponseError::NotLeaderOrFollower,
        )])),
    );
    assert!(
        h.events().is_empty(),
        "a moved leader is not the user's problem"
    );
    assert!(
        h.transmit().is_none(),
        "metadata and fetch both wait for the backoff"
    );
    let wake = h.machine.poll_timeout().expect("a timer");
    assert!(wake > h.now && wake <= h.now + Duration::from_millis(100));
    h.tick(Duration::from_millis(100));
    h.refresh_metadata(&[2]);
    let (tx, request) = h.expect_fetch();
    assert_eq!(tx.broker, 2, "the fetch goes to the new leader");
    assert_eq!(fetch_offsets(&request), vec![(0, 5)]);
}

#[test]
fn leader_and_epoch_errors_retry_after_a_metadata_refresh() {
    for error in [
        ResponseError::UnknownTopicOrPartition,
        ResponseError::FencedLeaderEpoch,
        ResponseError::UnknownLeaderEpoch,
    ] {
        let mut h = Harness::started(&[], &[(0, StartPosition::Offset(5))], &[1]);
        let (tx, _) = h.expect_fetch();
        h.reply(&tx, Ok(fetch_response(vec![data_error(0, error)])));
        assert!(h.events().is_empty(), "{error:?}");
        h.tick(Duration::from_millis(100));
        h.refresh_metadata(&[1]);
        let (_, request) = h.expect_fetch();
        assert_eq!(fetch_offsets(&request), vec![(0, 5)], "{error:?}");
    }
}

#[test]
fn offset_out_of_range_resets_to_earliest_or_latest() {
    for (reset, timestamp) in [("earliest", -2), ("latest", -1)] {
        let mut h = Harness::started(
            &[("auto.offset.reset", reset)],
            &[(0, StartPosition::Offset(99))],
            &[1],
        );
        let (tx, _) = h.expect_fetch();
        h.reply(
            &tx,
            Ok(fetch_response(vec![data_error(
                0,
                ResponseError::OffsetOutOfRange,
            )])),
        );
        assert!(h.events().is_empty());
        let (tx, request) = h.expect_list_offsets();
        assert_eq!(list_timestamps(&request), vec![(0, timestamp)], "{reset}");
        h.reply(&tx, Ok(list_offsets_response(&[(0, None, 20)])));
        let (_, request) = h.expect_fetch();
        assert_eq!(fetch_offsets(&request), vec![(0, 20)]);
    }
}

#[test]
fn offset_out_of_range_with_reset_none_is_an_error_event() {
    let mut h = Harness::started(
        &[("auto.offset.reset", "none")],
        &[(0, StartPosition::Offset(99))],
        &[1],
    );
    let (tx, _) = h.expect_fetch();
    h.reply(
        &tx,
        Ok(fetch_response(vec![data_error(
            0,
            ResponseError::OffsetOutOfRange,
        )])),
    );
    let events = h.events();
    assert_eq!(
        errors(&events),
        vec![(Some(0), &ConsumerError::OffsetOutOfRange { offset: 99 })]
    );
    assert!(h.transmit().is_none());
    let wake = h.machine.poll_timeout();
    assert!(
        wake.is_some_and(|t| t >= h.now + Duration::from_secs(299)),
        "only the periodic metadata refresh is left"
    );
}

#[test]
fn topic_authorization_failed_is_a_fatal_partition_error() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, _) = h.expect_fetch();
    h.reply(
        &tx,
        Ok(fetch_response(vec![data_error(
            0,
            ResponseError::TopicAuthorizationFailed,
        )])),
    );
    let events = h.events();
    assert_eq!(
        errors(&events),
        vec![(
            Some(0),
            &ConsumerError::Broker {
                api: ApiKey::Fetch,
                error: ResponseError::TopicAuthorizationFailed
            }
        )]
    );
}

#[test]
fn topic_authorization_failed_in_metadata_fails_the_topic() {
    let mut h = Harness::consumer(&[]);
    h.machine
        .assign_topic_all_partitions(TOPIC, StartPosition::Earliest);
    let tx = h.expect_transmit();
    h.reply(
        &tx,
        Ok(Response::Metadata(metadata_topic_error(
            ResponseError::TopicAuthorizationFailed,
        ))),
    );
    let events = h.events();
    assert_eq!(
        errors(&events),
        vec![(
            None,
            &ConsumerError::Topic {
                error: ResponseError::TopicAuthorizationFailed
            }
        )]
    );
}

#[test]
fn disconnect_retries_after_backoff_with_a_metadata_refresh() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(3))], &[1]);
    let (tx, _) = h.expect_fetch();
    h.reply(&tx, Err(TransportError::Disconnected { broker: 1 }));
    assert!(h.events().is_empty());
    assert!(h.transmit().is_none());
    h.tick(Duration::from_millis(100));
    h.refresh_metadata(&[1]);
    let (tx, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 3)]);
    // A second failure in a row waits longer (exponential backoff).
    h.reply(&tx, Err(TransportError::TimedOut { broker: 1 }));
    h.tick(Duration::from_millis(100));
    h.refresh_metadata(&[1]);
    assert!(h.transmit().is_none(), "second backoff is 200 ms");
    h.tick(Duration::from_millis(100));
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 3)]);
}

#[test]
fn unknown_topic_is_an_error_after_request_timeout() {
    let mut h = Harness::consumer(&[("request.timeout.ms", "1000")]);
    h.machine
        .assign_topic_all_partitions(TOPIC, StartPosition::Earliest);
    let tx = h.expect_transmit();
    h.reply(
        &tx,
        Ok(Response::Metadata(metadata_topic_error(
            ResponseError::UnknownTopicOrPartition,
        ))),
    );
    assert!(
        h.events().is_empty(),
        "a new topic may still be propagating"
    );
    h.tick(Duration::from_millis(999));
    assert!(h.events().is_empty());
    h.tick(Duration::from_millis(1));
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
fn all_partitions_assignment_waits_for_metadata_then_starts_every_partition() {
    let mut h = Harness::consumer(&[]);
    h.machine
        .assign_topic_all_partitions(TOPIC, StartPosition::Offset(0));
    assert_eq!(h.machine.assignment().count(), 0);
    h.refresh_metadata(&[1, 1, 2]);
    assert_eq!(h.machine.assignment().count(), 3);
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 0), (1, 0)]);
}

#[test]
fn broker_addresses_come_from_metadata_and_bootstrap() {
    let mut h = Harness::consumer(&[]);
    h.machine
        .assign(vec![(TOPIC.into(), 0, StartPosition::Offset(0))]);
    let tx = h.expect_transmit();
    assert_eq!(h.machine.broker_address(tx.broker), Some("boot:9092"));
    h.reply(&tx, Ok(Response::Metadata(metadata(&[2]))));
    assert_eq!(h.machine.broker_address(2), Some("h2:9093"));
}

#[test]
fn a_fetch_response_larger_than_message_max_bytes_fails_the_partition_naming_the_limit() {
    let mut h = Harness::started(
        &[("message.max.bytes", "1048576")],
        &[(0, StartPosition::Offset(3))],
        &[1],
    );
    let (tx, fetch) = h.expect_fetch();
    // The request asks for what fits in one frame, so only a record batch larger than that can overflow it.
    assert!(fetch.max_bytes < 1048576, "{}", fetch.max_bytes);
    assert!(
        fetch.topics[0].partitions[0].partition_max_bytes <= fetch.max_bytes,
        "{fetch:?}"
    );
    h.reply(
        &tx,
        Err(TransportError::Protocol {
            broker: 1,
            error: crate::protocol::ProtocolError::FrameTooLarge {
                claimed_bytes: 3_000_322,
                max_bytes: 1048576,
            },
        }),
    );
    let events = h.events();
    let [ConsumerEvent::Error {
        partition: Some(0),
        error,
        ..
    }] = events.as_slice()
    else {
        panic!("one error for the partition, not a retry: {events:?}")
    };
    let text = error.to_string();
    assert!(
        text.contains("offset 3") && text.contains("3000322") && text.contains("message.max.bytes"),
        "{text}"
    );
    h.tick(Duration::from_secs(1));
    assert!(h.transmit().is_none(), "no fetch after the failure");
}
