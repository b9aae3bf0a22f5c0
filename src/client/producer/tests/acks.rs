//! acks=0 and acks=1 without idempotence.

use super::*;

#[test]
fn acks_zero_expects_no_answer_and_delivers_at_offset_minus_one() {
    let mut h = Harness::producer(&[("acks", "0")]);
    assert_eq!(h.machine.producer_id_state(), ProducerIdState::Disabled);
    let id = h.send("t", 0, "fire-and-forget");
    h.connect_without_idempotence(cluster(&[("t", &[1])]));
    let tx = h.poll_produce();
    assert!(!tx.expects_response);
    assert_eq!(produce_request(&tx).acks, 0);
    assert_eq!(h.deliveries(), vec![(vec![id], 0, -1)]);
    h.assert_idle();
}

#[test]
fn acks_one_without_idempotence_writes_no_producer_id() {
    let mut h = Harness::producer(&[("acks", "1")]);
    h.send("t", 0, "a");
    h.connect_without_idempotence(cluster(&[("t", &[1])]));
    let tx = h.poll_produce();
    assert_eq!(produce_request(&tx).acks, 1);
    let batch = single_batch(&tx);
    assert_eq!(
        (batch.producer_id, batch.epoch, batch.base_sequence),
        (-1, -1, -1)
    );
    h.reply(&tx, answer_all(&tx, Ok(5)));
    assert_eq!(h.deliveries(), vec![(vec![0], 0, 5)]);
    h.assert_idle();
}
