//! linger.ms, batch.size, flush and max.in.flight.

use super::*;

#[test]
fn linger_holds_a_batch_until_its_deadline() {
    let mut h = Harness::producer(&[("linger.ms", "50")]);
    h.connect(cluster(&[("t", &[1])]), 0);
    h.at(ms(10));
    h.send("t", 0, "a");
    h.at(ms(30));
    h.send("t", 0, "b");
    assert!(h.poll().is_none(), "linger not elapsed");
    assert_eq!(h.machine.poll_timeout(), Some(h.start + ms(60)));
    h.at(ms(59));
    h.machine.handle_timeout(h.now);
    assert!(h.poll().is_none());
    h.at(ms(60));
    h.machine.handle_timeout(h.now);
    let tx = h.poll_produce();
    assert_eq!(single_batch(&tx).values, vec!["a", "b"]);
    let timeout = h.machine.poll_timeout();
    assert!(
        timeout.is_none_or(|t| t > h.now),
        "while waiting for the answer, no deadline in the past: {timeout:?} vs now {:?}",
        h.now
    );
}

#[test]
fn without_linger_ms_a_partition_with_nothing_in_flight_sends_at_once() {
    let mut h = Harness::producer_without_linger_ms(&[]);
    h.connect(cluster(&[("t", &[1])]), 0);
    h.send("t", 0, "a");
    let first = h.poll_produce();
    assert_eq!(single_batch(&first).values, vec!["a"]);
    // While "a" is on its way, records batch up: no request per record.
    h.advance(ms(1));
    h.send("t", 0, "b");
    h.send("t", 0, "c");
    assert!(
        h.poll().is_none(),
        "a batch is in flight: b and c wait for it"
    );
    // Its answer frees the partition: what accumulated goes out at once, as one batch.
    h.reply(&first, answer_all(&first, Ok(0)));
    let second = h.poll_produce();
    assert_eq!(single_batch(&second).values, vec!["b", "c"]);
}

#[test]
fn without_linger_ms_records_wait_at_most_five_ms_behind_a_batch_in_flight() {
    let mut h = Harness::producer_without_linger_ms(&[]);
    h.connect(cluster(&[("t", &[1])]), 0);
    h.send("t", 0, "a");
    let _slow = h.poll_produce();
    h.at(ms(1));
    h.send("t", 0, "b");
    assert!(h.poll().is_none());
    assert_eq!(h.machine.poll_timeout(), Some(h.start + ms(6)));
    h.at(ms(6));
    h.machine.handle_timeout(h.now);
    let second = h.poll_produce();
    assert_eq!(single_batch(&second).values, vec!["b"]);
}

#[test]
fn linger_ms_set_explicitly_waits_even_with_nothing_in_flight() {
    let mut h = Harness::producer_without_linger_ms(&[("linger.ms", "5")]);
    h.connect(cluster(&[("t", &[1])]), 0);
    h.send("t", 0, "a");
    assert!(h.poll().is_none(), "linger.ms=5 given: Java's wait applies");
    h.at(ms(5));
    h.machine.handle_timeout(h.now);
    assert_eq!(single_batch(&h.poll_produce()).values, vec!["a"]);
}

#[test]
fn a_full_batch_goes_out_before_linger() {
    let mut h = Harness::producer(&[("linger.ms", "60000"), ("batch.size", "200")]);
    h.connect(cluster(&[("t", &[1])]), 0);
    for sent in 1..=100 {
        h.send("t", 0, &format!("{sent:040}"));
        if let Some(tx) = h.poll() {
            let batch = single_batch(&tx);
            assert!(batch.values.len() > 1, "{batch:?}");
            assert!(batch.values.len() <= sent, "{batch:?}");
            return;
        }
    }
    panic!("batch.size never closed a batch");
}

#[test]
fn flush_sends_at_once_and_linger_applies_again_afterwards() {
    let mut h = Harness::producer(&[("linger.ms", "1000")]);
    h.connect(cluster(&[("t", &[1])]), 0);
    h.send("t", 0, "a");
    assert!(h.poll().is_none());
    h.machine.flush();
    let tx = h.poll_produce();
    h.reply(&tx, answer_all(&tx, Ok(0)));
    assert_eq!(h.deliveries().len(), 1);
    h.assert_idle();

    // The flush is over: a new record lingers again.
    h.advance(ms(5));
    h.send("t", 0, "b");
    assert!(
        h.poll().is_none(),
        "a completed flush must not turn linger.ms off for good"
    );
    assert_eq!(h.machine.poll_timeout(), Some(h.now + ms(1000)));
}

#[test]
fn poll_timeout_never_reports_a_deadline_in_the_past() {
    let mut h = Harness::producer(&[
        ("linger.ms", "10"),
        ("max.in.flight.requests.per.connection", "1"),
    ]);
    h.connect(cluster(&[("t", &[1])]), 0);
    h.send("t", 0, "a");
    h.at(ms(10));
    let first = h.poll_produce();
    h.send("t", 0, "b");
    // "b" lingers until 20 ms, then waits for the request slot "a" holds.
    h.at(ms(25));
    h.machine.handle_timeout(h.now);
    assert!(h.poll().is_none(), "max.in.flight=1 holds the second batch");
    let timeout = h.machine.poll_timeout();
    assert!(
        timeout.is_none_or(|t| t > h.now),
        "deadline {timeout:?} is not after now: the caller would spin"
    );
    h.reply(&first, answer_all(&first, Ok(0)));
    let second = h.poll_produce();
    assert_eq!(single_batch(&second).values, vec!["b"]);
}

#[test]
fn max_in_flight_caps_produce_requests_per_broker() {
    let mut h = Harness::producer(&[
        ("batch.size", "1"),
        ("max.in.flight.requests.per.connection", "2"),
    ]);
    h.connect(cluster(&[("t", &[1, 2])]), 0);
    for v in values(0..4) {
        h.send("t", 0, &v);
    }
    h.send("t", 1, "other-broker");
    let mut to_1 = Vec::new();
    let mut to_2 = Vec::new();
    while let Some(tx) = h.poll() {
        if tx.broker == 1 {
            to_1.push(tx)
        } else {
            to_2.push(tx)
        }
    }
    assert_eq!(to_1.len(), 2, "two requests in flight to broker 1, no more");
    assert_eq!(to_2.len(), 1, "broker 2 has its own budget");
    let first = to_1.remove(0);
    h.reply(&first, answer_all(&first, Ok(0)));
    let third = h.poll_produce();
    assert_eq!(third.broker, 1);
    assert_eq!(single_batch(&third).values, vec!["v2"]);
    assert!(h.poll().is_none());
}
