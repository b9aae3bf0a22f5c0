//! Epoch bumps (KIP-360): every unacknowledged batch renumbered under a new epoch, or a new producer id on
//! brokers without InitProducerId v3.

use super::*;

/// Two batches in flight on partition 0: "a","b" (sequence 0) and "c" (sequence 2). The first is answered
/// with `error`; returns the two requests.
fn first_batch_rejected(h: &mut Harness, error: ResponseError) -> (Transmit, Transmit) {
    h.connect(cluster(&[("t", &[1])]), 5);
    h.send("t", 0, "a");
    h.send("t", 0, "b");
    let first = h.poll_produce();
    h.send("t", 0, "c");
    let second = h.poll_produce();
    assert_eq!(single_batch(&first).base_sequence, 0);
    assert_eq!(single_batch(&second).base_sequence, 2);
    h.reply(&first, answer_all(&first, Err(error)));
    (first, second)
}

fn epoch_bump_renumbers_unacknowledged_batches(error: ResponseError) {
    let mut h = Harness::producer(&[]);
    let (_first, second) = first_batch_rejected(&mut h, error);
    assert_eq!(
        h.machine.producer_id_state(),
        ProducerIdState::BumpNeeded {
            producer_id: PID,
            epoch: 5,
            not_before: None
        }
    );
    h.send("t", 0, "d");
    h.advance(ms(100));
    assert!(
        h.poll().is_none(),
        "no InitProducerId and no Produce while a batch is still in flight"
    );
    h.reply(
        &second,
        answer_all(&second, Err(ResponseError::OutOfOrderSequenceNumber)),
    );

    let bump = h.poll().expect("InitProducerId once in-flight drained");
    let request = init_producer_id_request(&bump);
    assert_eq!(
        (request.producer_id, request.producer_epoch),
        (ProducerId(PID), 5),
        "v3+: bump the epoch of the producer id we have"
    );
    assert_eq!(request.transactional_id, None);
    assert!(h.poll().is_none(), "no Produce before the new epoch");
    h.reply(&bump, producer_id(PID, 6));

    h.advance(ms(200));
    let resends: Vec<SentBatch> = std::iter::from_fn(|| h.poll())
        .map(|tx| single_batch(&tx))
        .collect();
    let expected = |seq: i32, values: &[&str]| SentBatch {
        topic: "t".into(),
        partition: 0,
        producer_id: PID,
        epoch: 6,
        base_sequence: seq,
        values: values.iter().map(|v| v.to_string()).collect(),
    };
    assert_eq!(
        resends,
        vec![
            expected(0, &["a", "b"]),
            expected(2, &["c"]),
            expected(3, &["d"])
        ],
        "renumbered from 0 under the new epoch (decoding checked the rewritten CRC)"
    );
}

#[test]
fn unknown_producer_id_bumps_the_epoch_and_renumbers_from_zero() {
    epoch_bump_renumbers_unacknowledged_batches(ResponseError::UnknownProducerId);
}

#[test]
fn out_of_order_sequence_on_the_first_unacknowledged_batch_bumps_the_epoch() {
    epoch_bump_renumbers_unacknowledged_batches(ResponseError::OutOfOrderSequenceNumber);
}

#[test]
fn a_broker_without_init_producer_id_v3_gives_a_new_producer_id_instead() {
    let mut h = Harness::producer(&[]);
    for broker in [-1, 1, 2, 3] {
        h.machine
            .handle_broker_versions(broker, versions_with_init_producer_id_up_to(2));
    }
    let (_first, second) = first_batch_rejected(&mut h, ResponseError::UnknownProducerId);
    h.reply(
        &second,
        answer_all(&second, Err(ResponseError::OutOfOrderSequenceNumber)),
    );
    let init = h.poll().expect("InitProducerId");
    let request = init_producer_id_request(&init);
    assert_eq!(
        (request.producer_id, request.producer_epoch),
        (ProducerId(-1), -1),
        "a broker before KIP-360 is asked for a fresh producer id"
    );
    h.reply(&init, producer_id(PID + 1, 0));
    h.advance(ms(200));
    let resent: Vec<(i64, i16, i32)> = std::iter::from_fn(|| h.poll())
        .map(|tx| {
            let b = single_batch(&tx);
            (b.producer_id, b.epoch, b.base_sequence)
        })
        .collect();
    assert_eq!(resent, vec![(PID + 1, 0, 0), (PID + 1, 0, 2)]);
}

#[test]
fn an_epoch_bump_rewrites_compressed_batches_with_a_valid_crc() {
    let mut h = Harness::producer(&[("compression.type", "lz4")]);
    let (first, second) = first_batch_rejected(&mut h, ResponseError::UnknownProducerId);
    let records = produce_request(&first).topic_data[0].partition_data[0]
        .records
        .clone()
        .expect("records");
    let batch = RecordBatch::parse(records, DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES).expect("batch");
    assert_eq!(
        batch.compression(),
        crate::protocol::compression::Compression::Lz4
    );
    h.reply(
        &second,
        answer_all(&second, Err(ResponseError::OutOfOrderSequenceNumber)),
    );
    let bump = h.poll().expect("InitProducerId");
    h.reply(&bump, producer_id(PID, 6));
    h.advance(ms(200));
    let resent: Vec<(i16, i32, Vec<String>)> = std::iter::from_fn(|| h.poll())
        .map(|tx| {
            let b = single_batch(&tx);
            (b.epoch, b.base_sequence, b.values)
        })
        .collect();
    assert_eq!(
        resent,
        vec![
            (6, 0, vec!["a".to_string(), "b".to_string()]),
            (6, 2, vec!["c".to_string()])
        ]
    );
}

#[test]
fn a_rejected_batch_among_five_in_flight_renumbers_the_rest_under_a_new_epoch() {
    let mut h = Harness::producer(&[("batch.size", "1")]);
    h.connect(cluster(&[("t", &[1])]), 0);
    for v in values(0..5) {
        h.send("t", 0, &v);
    }
    let requests: Vec<Transmit> = (0..5).map(|_| h.poll_produce()).collect();
    h.reply(&requests[0], answer_all(&requests[0], Ok(100)));
    h.reply(
        &requests[1],
        answer_all(&requests[1], Err(ResponseError::MessageTooLarge)),
    );
    for tx in &requests[2..] {
        assert!(h.poll().is_none(), "no bump while batches are in flight");
        h.reply(
            tx,
            answer_all(tx, Err(ResponseError::OutOfOrderSequenceNumber)),
        );
    }
    let bump = h.poll().expect("InitProducerId");
    assert_eq!(init_producer_id_request(&bump).producer_epoch, 0);
    h.reply(&bump, producer_id(PID, 1));
    h.advance(ms(100));
    let resent: Vec<(i16, i32, Vec<String>)> = std::iter::from_fn(|| h.poll())
        .map(|tx| {
            let b = single_batch(&tx);
            (b.epoch, b.base_sequence, b.values)
        })
        .collect();
    assert_eq!(
        resent,
        vec![
            (1, 0, vec!["v2".to_string()]),
            (1, 1, vec!["v3".to_string()]),
            (1, 2, vec!["v4".to_string()])
        ],
        "the rejected batch's sequence is gone: the rest start over at 0"
    );
}

#[test]
fn a_lost_epoch_bump_is_asked_again_for_the_same_producer_id_and_epoch() {
    let mut h = Harness::producer(&[]);
    let (_first, second) = first_batch_rejected(&mut h, ResponseError::UnknownProducerId);
    h.reply(&second, answer_all(&second, Ok(2)));
    let bump = h.poll().expect("InitProducerId");
    h.lose(&bump);
    assert!(h.poll().is_none(), "backoff");
    h.advance(ms(100));
    let again = h.poll().expect("InitProducerId again");
    let request = init_producer_id_request(&again);
    assert_eq!(
        (request.producer_id, request.producer_epoch),
        (ProducerId(PID), 5)
    );
    h.reply(
        &again,
        producer_id_error(ResponseError::CoordinatorLoadInProgress),
    );
    h.advance(ms(200));
    let third = h.poll().expect("InitProducerId a third time");
    let request = init_producer_id_request(&third);
    assert_eq!(
        (request.producer_id, request.producer_epoch),
        (ProducerId(PID), 5)
    );
    h.reply(&third, producer_id(PID, 6));
    let resent = single_batch(&h.poll_produce());
    assert_eq!(
        (resent.epoch, resent.base_sequence, resent.values),
        (6, 0, vec!["a".into(), "b".into()])
    );
}

#[test]
fn a_bump_refused_for_an_unknown_epoch_starts_over_with_a_new_producer_id() {
    let mut h = Harness::producer(&[]);
    let (_first, second) = first_batch_rejected(&mut h, ResponseError::UnknownProducerId);
    h.reply(&second, answer_all(&second, Ok(2)));
    let bump = h.poll().expect("InitProducerId");
    h.reply(
        &bump,
        producer_id_error(ResponseError::InvalidProducerEpoch),
    );
    assert!(h.poll().is_none(), "backoff");
    h.advance(ms(100));
    let fresh = h.poll().expect("InitProducerId for a new producer id");
    let request = init_producer_id_request(&fresh);
    assert_eq!(
        (request.producer_id, request.producer_epoch),
        (ProducerId(-1), -1)
    );
    h.reply(&fresh, producer_id(PID + 1, 0));
    let resent = single_batch(&h.poll_produce());
    assert_eq!(
        (resent.producer_id, resent.epoch, resent.base_sequence),
        (PID + 1, 0, 0)
    );
}

#[test]
fn a_batch_that_expires_before_its_resend_under_a_new_epoch_needs_no_second_bump() {
    let mut h = Harness::producer(&[("delivery.timeout.ms", "1000")]);
    h.connect(cluster(&[("t", &[1])]), 5);
    let a = h.send("t", 0, "a");
    let tx = h.poll_produce();
    h.at(ms(900));
    h.reply(&tx, answer_all(&tx, Err(ResponseError::UnknownProducerId)));
    let bump = h.poll().expect("InitProducerId");
    h.reply(&bump, producer_id(PID, 6));
    h.at(ms(1000));
    h.machine.handle_timeout(h.now);
    let failures = h.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, vec![a]);
    assert_eq!(
        h.machine.producer_id_state(),
        ProducerIdState::Ready {
            producer_id: PID,
            epoch: 6
        },
        "the expired batch never got a sequence under epoch 6: no gap, no bump"
    );
    h.send("t", 0, "b");
    let next = single_batch(&h.poll_produce());
    assert_eq!((next.epoch, next.base_sequence), (6, 0));
}

#[test]
fn a_rejected_batch_fails_alone_with_topic_partition_and_error_then_the_epoch_is_bumped() {
    for error in [
        ResponseError::MessageTooLarge,
        ResponseError::TopicAuthorizationFailed,
    ] {
        let mut h = Harness::producer(&[]);
        h.connect(cluster(&[("t", &[1, 1])]), 0);
        let rejected = h.send("t", 0, "too-big");
        let fine = h.send("t", 1, "fine");
        let tx = h.poll_produce();
        h.reply(
            &tx,
            produce_response(&[("t", 0, Err(error)), ("t", 1, Ok(40))]),
        );
        // A record refused as too large is also reported with its content (see tests/too_large.rs).
        let mut events: Vec<ProducerEvent> = h
            .events()
            .into_iter()
            .filter(|e| !matches!(e, ProducerEvent::Refused(_)))
            .collect();
        events.sort_by_key(|e| matches!(e, ProducerEvent::Failed { .. }));
        assert!(matches!(
            &events[0],
            ProducerEvent::Delivered { record_ids, base_offset: 40, .. } if *record_ids == vec![fine]
        ));
        let ProducerEvent::Failed {
            record_ids,
            error: failure,
        } = &events[1]
        else {
            panic!("expected a failure, got {events:?}");
        };
        assert_eq!(record_ids, &vec![rejected]);
        assert_eq!(
            failure,
            &ProduceError::Broker {
                topic: "t".into(),
                partition: 0,
                error
            }
        );
        let message = failure.to_string();
        assert!(
            message.contains("t-0") && message.contains(&error.code().to_string()),
            "{message}"
        );
        h.assert_idle();

        // A sent sequence was lost: bump the epoch before anything else goes out.
        h.send("t", 0, "next");
        let init = h.poll().expect("InitProducerId");
        assert_eq!(init_producer_id_request(&init).producer_epoch, 0);
        h.reply(&init, producer_id(PID, 1));
        let next = single_batch(&h.poll_produce());
        assert_eq!((next.epoch, next.base_sequence), (1, 0));
    }
}
