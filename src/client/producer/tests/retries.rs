//! Retries: leader moves, timeouts and lost requests resent in order with the same sequences.

use super::*;

#[test]
fn not_leader_refreshes_metadata_and_retries_to_the_new_leader_with_the_same_sequence() {
    let mut h = Harness::producer(&[]);
    h.connect(cluster(&[("t", &[1])]), 0);
    h.send("t", 0, "a");
    let tx = h.poll_produce();
    let sent = single_batch(&tx);
    assert_eq!(tx.broker, 1);
    let refreshes = h.metadata_requests;
    h.cluster = cluster(&[("t", &[2])]);
    h.reply(
        &tx,
        answer_all(&tx, Err(ResponseError::NotLeaderOrFollower)),
    );
    assert!(h.poll().is_none(), "retry waits for retry.backoff.ms");
    h.advance(ms(100));
    let retry = h.poll_produce();
    assert!(h.metadata_requests > refreshes, "metadata was refreshed");
    assert_eq!(retry.broker, 2, "the retry goes to the new leader");
    assert_eq!(
        single_batch(&retry),
        sent,
        "same producer id, epoch, sequence, records"
    );
    h.reply(&retry, answer_all(&retry, Ok(7)));
    assert_eq!(h.deliveries(), vec![(vec![0], 0, 7)]);
    h.assert_idle();
}

#[test]
fn timeouts_and_missing_replicas_are_retried_with_backoff_and_the_same_sequence() {
    let mut h = Harness::producer(&[]);
    h.connect(cluster(&[("t", &[1])]), 0);
    h.send("t", 0, "a");
    let tx = h.poll_produce();
    let sent = single_batch(&tx);
    h.reply(&tx, answer_all(&tx, Err(ResponseError::RequestTimedOut)));
    assert_eq!(h.machine.poll_timeout(), Some(h.now + ms(100)));
    h.advance(ms(99));
    assert!(h.poll().is_none());
    h.advance(ms(1));
    let retry = h.poll_produce();
    assert_eq!(single_batch(&retry), sent);
    h.reply(
        &retry,
        answer_all(&retry, Err(ResponseError::NotEnoughReplicas)),
    );
    assert_eq!(
        h.machine.poll_timeout(),
        Some(h.now + ms(200)),
        "backoff doubles on each attempt"
    );
    h.advance(ms(200));
    let retry = h.poll_produce();
    assert_eq!(single_batch(&retry), sent);
    h.reply(&retry, answer_all(&retry, Ok(1)));
    assert_eq!(h.deliveries(), vec![(vec![0], 0, 1)]);
    h.assert_idle();
}

#[test]
fn a_failed_batch_among_five_in_flight_is_resent_in_order_after_all_five_have_outcomes() {
    let mut h = Harness::producer(&[("batch.size", "1")]);
    h.connect(cluster(&[("t", &[1])]), 0);
    for v in values(0..5) {
        h.send("t", 0, &v);
    }
    let requests: Vec<Transmit> = (0..5).map(|_| h.poll_produce()).collect();
    assert!(h.poll().is_none(), "five in flight is the limit");
    let sequences: Vec<i32> = requests
        .iter()
        .map(|tx| single_batch(tx).base_sequence)
        .collect();
    assert_eq!(sequences, vec![0, 1, 2, 3, 4]);

    h.reply(&requests[0], answer_all(&requests[0], Ok(100)));
    h.reply(
        &requests[1],
        answer_all(&requests[1], Err(ResponseError::NotEnoughReplicas)),
    );
    h.advance(ms(100));
    assert!(
        h.poll().is_none(),
        "no resend while later batches are in flight"
    );
    for tx in &requests[2..4] {
        h.reply(
            tx,
            answer_all(tx, Err(ResponseError::OutOfOrderSequenceNumber)),
        );
        assert!(h.poll().is_none(), "still one batch in flight");
    }
    h.reply(
        &requests[4],
        answer_all(&requests[4], Err(ResponseError::OutOfOrderSequenceNumber)),
    );
    assert_eq!(
        h.machine.producer_id_state(),
        ProducerIdState::Ready {
            producer_id: PID,
            epoch: 0
        },
        "out-of-order behind a failed batch is expected, not a reason to bump the epoch"
    );
    h.advance(ms(100));
    let resends: Vec<Transmit> = std::iter::from_fn(|| h.poll()).collect();
    let resent: Vec<(i32, i16, Vec<String>)> = resends
        .iter()
        .map(|tx| {
            let b = single_batch(tx);
            (b.base_sequence, b.epoch, b.values)
        })
        .collect();
    assert_eq!(
        resent,
        (1..5)
            .map(|i: i32| (i, 0, vec![format!("v{i}")]))
            .collect::<Vec<_>>(),
        "resent in sequence order with their original sequences"
    );
    for (i, tx) in resends.iter().enumerate() {
        h.reply(tx, answer_all(tx, Ok(101 + i as i64)));
    }
    assert_eq!(
        h.deliveries(),
        (0..5)
            .map(|i| (vec![i as u64], 0, 100 + i as i64))
            .collect::<Vec<_>>(),
        "offsets follow record order"
    );
    h.assert_idle();
}

#[test]
fn a_lost_request_resends_all_its_batches_and_a_duplicate_counts_as_delivered() {
    let mut h = Harness::producer(&[]);
    h.connect(cluster(&[("t", &[1, 2, 1])]), 0);
    h.send("t", 0, "a");
    h.send("t", 2, "c");
    let tx = h.poll_produce();
    let sent = sent_batches(&tx);
    assert_eq!(sent.len(), 2);
    h.lose(&tx);
    assert!(h.poll().is_none(), "resend after backoff");
    h.advance(ms(100));
    let retry = h.poll_produce();
    assert_eq!(sent_batches(&retry), sent, "same batches, same sequences");
    h.reply(
        &retry,
        produce_response(&[
            ("t", 0, Err(ResponseError::DuplicateSequenceNumber)),
            ("t", 2, Ok(9)),
        ]),
    );
    let mut deliveries = h.deliveries();
    deliveries.sort();
    assert_eq!(deliveries, vec![(vec![0], 0, -1), (vec![1], 2, 9)]);
    assert_eq!(
        h.machine.producer_id_state(),
        ProducerIdState::Ready {
            producer_id: PID,
            epoch: 0
        }
    );
    h.assert_idle();
}
