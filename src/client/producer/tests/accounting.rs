//! Accounting: buffered bytes and outstanding records return to zero, and deadlines wake the caller.

use super::*;

#[test]
fn buffered_bytes_and_outstanding_records_return_to_zero_once_everything_is_settled() {
    let mut h = Harness::producer(&[("batch.size", "1")]);
    h.assert_idle();
    let ids: Vec<RecordId> = values(0..4).iter().map(|v| h.send("t", 0, v)).collect();
    assert_eq!(h.machine.outstanding_records(), 4);
    assert!(h.machine.buffered_bytes() > 0);
    h.connect(cluster(&[("t", &[1])]), 0);
    let requests: Vec<Transmit> = std::iter::from_fn(|| h.poll()).collect();
    assert_eq!(requests.len(), 4);
    h.reply(&requests[0], answer_all(&requests[0], Ok(0)));
    h.reply(
        &requests[1],
        answer_all(&requests[1], Err(ResponseError::MessageTooLarge)),
    );
    h.lose(&requests[2]);
    h.reply(
        &requests[3],
        answer_all(&requests[3], Err(ResponseError::OutOfOrderSequenceNumber)),
    );
    assert_eq!(h.machine.outstanding_records(), 2);
    let init = h.poll().expect("epoch bump");
    h.reply(&init, producer_id(PID, 1));
    h.advance(ms(1000));
    let resends: Vec<Transmit> = std::iter::from_fn(|| h.poll()).collect();
    assert_eq!(resends.len(), 2);
    for tx in &resends {
        h.reply(tx, answer_all(tx, Ok(1)));
    }
    let settled: usize = h
        .events()
        .iter()
        .map(|e| match e {
            ProducerEvent::Delivered { record_ids, .. }
            | ProducerEvent::Failed { record_ids, .. } => record_ids.len(),
            ProducerEvent::Transaction(event) => panic!("not transactional: {event:?}"),
            // Its `Failed` event follows.
            ProducerEvent::Refused(_) => 0,
        })
        .sum();
    assert_eq!(settled, ids.len());
    h.assert_idle();
}

#[test]
fn buffered_bytes_count_what_each_record_holds_beside_its_encoded_bytes() {
    // Records of one byte before the topic's metadata is known: each holds a pending copy (its structure and
    // allocations) far larger than its encoded size, and buffer.memory must see that.
    let mut h = Harness::producer(&[]);
    let records = 1000;
    for _ in 0..records {
        h.send("t", 0, "x");
    }
    let encoded = encoded_record_size(0, 0, None, Some(b"x"), &[]);
    assert!(
        h.machine.buffered_bytes() >= records * (encoded + std::mem::size_of::<PendingRecord>()),
        "{} bytes counted for {records} pending records of {encoded} encoded bytes",
        h.machine.buffered_bytes()
    );
    // Placed in batches once metadata comes, and settled, they count nothing again.
    h.connect(cluster(&[("t", &[1])]), 0);
    h.advance(ms(10));
    let requests: Vec<Transmit> = std::iter::from_fn(|| h.poll()).collect();
    for tx in &requests {
        h.reply(tx, answer_all(tx, Ok(0)));
    }
    h.events();
    h.assert_idle();
}

#[test]
fn a_retry_backoff_behind_an_open_batch_past_its_linger_still_wakes_the_caller() {
    // A lost request puts its batch back with a backoff while new records sit in an open batch whose
    // linger deadline has already passed (it cannot go before the retried batch). The past linger deadline
    // must not hide the future retry deadline, or a runtime sleeping on poll_timeout never resends.
    let mut h = Harness::producer(&[("linger.ms", "5")]);
    h.connect(cluster(&[("t", &[1])]), 0);
    h.send("t", 0, "a");
    h.advance(ms(5));
    let tx = h.poll_produce();
    h.lose(&tx);
    h.send("t", 0, "b");
    h.advance(ms(10));
    assert!(
        h.poll().is_none(),
        "the retry waits for its backoff and 'b' waits behind it"
    );
    let deadline = h
        .machine
        .poll_timeout()
        .expect("the retry backoff is a deadline");
    assert!(deadline > h.now, "the reported deadline lies ahead");
    // Sleeping from deadline to deadline (a metadata refresh may come first) reaches the resend.
    let retry = (0..5)
        .find_map(|_| {
            h.sleep_until_next_deadline();
            h.poll()
        })
        .expect("the lost batch is resent once its backoff is over");
    assert!(
        h.now <= h.start + ms(5 + 100),
        "resent when the 100 ms backoff ends, not later"
    );
    assert_eq!(
        sent_batches(&retry),
        sent_batches(&tx),
        "the lost batch goes again, same sequence"
    );
}
