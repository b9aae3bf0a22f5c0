//! Batches the broker refuses as too large (MESSAGE_TOO_LARGE): split into one-record batches and sent again,
//! so only a record too large on its own fails, reported with its content.

use super::*;

fn refused(events: &[ProducerEvent]) -> Vec<(RecordId, String)> {
    events
        .iter()
        .filter_map(|event| match event {
            ProducerEvent::Refused(refused) => Some((
                refused.id,
                String::from_utf8(refused.record.value.clone().expect("value").to_vec())
                    .expect("utf8"),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_batch_refused_as_too_large_is_sent_again_record_by_record_and_only_the_large_record_fails() {
    let mut h = Harness::producer(&[]);
    h.connect(cluster(&[("t", &[1])]), 0);
    let small = h.send("t", 0, "v0");
    let large = h.send("t", 0, "large");
    let last = h.send("t", 0, "v2");
    let whole = h.poll_produce();
    assert_eq!(single_batch(&whole).values, ["v0", "large", "v2"]);
    h.reply(
        &whole,
        answer_all(&whole, Err(ResponseError::MessageTooLarge)),
    );
    assert!(
        h.events().is_empty(),
        "nothing fails before the split is tried"
    );

    // The records go again one per batch, with the refused batch's sequence numbers.
    let first = h.poll_produce();
    let batch = single_batch(&first);
    assert_eq!(
        (batch.values, batch.base_sequence),
        (vec!["v0".to_owned()], 0)
    );
    h.reply(&first, answer_all(&first, Ok(10)));
    let second = h.poll_produce();
    let batch = single_batch(&second);
    assert_eq!(
        (batch.values, batch.base_sequence),
        (vec!["large".to_owned()], 1)
    );
    h.reply(
        &second,
        answer_all(&second, Err(ResponseError::MessageTooLarge)),
    );
    let events = h.events();
    assert_eq!(refused(&events), [(large, "large".to_owned())]);
    let outcomes: Vec<(Vec<RecordId>, bool)> = events
        .iter()
        .filter_map(|event| match event {
            ProducerEvent::Delivered { record_ids, .. } => Some((record_ids.clone(), true)),
            ProducerEvent::Failed { record_ids, error } => {
                assert!(
                    matches!(
                        error,
                        ProduceError::Broker {
                            error: ResponseError::MessageTooLarge,
                            ..
                        }
                    ),
                    "{error:?}"
                );
                Some((record_ids.clone(), false))
            }
            _ => None,
        })
        .collect();
    assert_eq!(outcomes, [(vec![small], true), (vec![large], false)]);

    // Sequence 1 was never written: the producer takes a new epoch, and the last record goes under it.
    let bump = h.poll().expect("InitProducerId");
    init_producer_id_request(&bump);
    h.reply(&bump, producer_id(PID, 1));
    let third = h.poll_produce();
    let batch = single_batch(&third);
    assert_eq!(
        (batch.values, batch.epoch, batch.base_sequence),
        (vec!["v2".to_owned()], 1, 0)
    );
    h.reply(&third, answer_all(&third, Ok(11)));
    assert_eq!(h.deliveries(), [(vec![last], 0, 11)]);
    h.assert_idle();
}

#[test]
fn without_idempotence_a_refused_batch_is_split_too() {
    let mut h = Harness::producer(&[("enable.idempotence", "false"), ("acks", "1")]);
    h.connect_without_idempotence(cluster(&[("t", &[1])]));
    let a = h.send("t", 0, "a");
    let b = h.send("t", 0, "b");
    let whole = h.poll_produce();
    h.reply(
        &whole,
        answer_all(&whole, Err(ResponseError::MessageTooLarge)),
    );
    let first = h.poll_produce();
    assert_eq!(single_batch(&first).values, ["a"]);
    h.reply(&first, answer_all(&first, Ok(3)));
    let second = h.poll_produce();
    assert_eq!(single_batch(&second).values, ["b"]);
    h.reply(&second, answer_all(&second, Ok(4)));
    assert_eq!(h.deliveries(), [(vec![a], 0, 3), (vec![b], 0, 4)]);
    h.assert_idle();
}

#[test]
fn a_single_record_refused_as_too_large_fails_with_its_content() {
    let mut h = Harness::producer(&[]);
    h.connect(cluster(&[("t", &[1])]), 0);
    let id = h.send("t", 0, "alone");
    let tx = h.poll_produce();
    h.reply(&tx, answer_all(&tx, Err(ResponseError::MessageTooLarge)));
    let events = h.events();
    assert_eq!(refused(&events), [(id, "alone".to_owned())]);
    assert!(
        matches!(events.last(), Some(ProducerEvent::Failed { record_ids, .. }) if *record_ids == [id]),
        "{events:?}"
    );
    h.assert_idle();
}

#[test]
fn after_a_refusal_a_producer_told_to_stop_writes_nothing_more_to_that_partition() {
    let mut h = Harness::producer(&[]);
    h.machine.stop_partitions_after_refusal();
    h.connect(cluster(&[("t", &[1, 1])]), 0);
    let before = h.send("t", 0, "v0");
    let large = h.send("t", 0, "large");
    let after = h.send("t", 0, "v2");
    let whole = h.poll_produce();
    h.reply(
        &whole,
        answer_all(&whole, Err(ResponseError::MessageTooLarge)),
    );
    let first = h.poll_produce();
    h.reply(&first, answer_all(&first, Ok(0)));
    // One batch of the split at a time: nothing after the large record is in flight when it is refused.
    let second = h.poll_produce();
    assert_eq!(single_batch(&second).values, ["large"]);
    assert!(h.poll().is_none(), "one split batch in flight at a time");
    h.reply(
        &second,
        answer_all(&second, Err(ResponseError::MessageTooLarge)),
    );
    let later = h.send("t", 0, "v3");
    let other_partition = h.send("t", 1, "elsewhere");
    let mut outcomes: Vec<(RecordId, &'static str)> = Vec::new();
    let mut settle = |events: Vec<ProducerEvent>| {
        for event in events {
            match event {
                ProducerEvent::Delivered { record_ids, .. } => {
                    outcomes.extend(record_ids.into_iter().map(|id| (id, "delivered")))
                }
                ProducerEvent::Failed { record_ids, error } => {
                    let kind = match error {
                        ProduceError::NotSentAfterRefusal { .. } => "held back",
                        _ => "refused",
                    };
                    outcomes.extend(record_ids.into_iter().map(|id| (id, kind)))
                }
                _ => {}
            }
        }
    };
    settle(h.events());
    // The bump that follows the refusal, then only the other partition's record goes out.
    while let Some(tx) = h.poll() {
        match &tx.request {
            Request::InitProducerId(_) => h.reply(&tx, producer_id(PID, 1)),
            Request::Produce(_) => {
                assert_eq!(single_batch(&tx).values, ["elsewhere"]);
                h.reply(&tx, answer_all(&tx, Ok(7)));
            }
            other => panic!("unexpected {:?}", other.api_key()),
        }
    }
    settle(h.events());
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            (before, "delivered"),
            (large, "refused"),
            (after, "held back"),
            (later, "held back"),
            (other_partition, "delivered"),
        ]
    );
    h.assert_idle();
}
