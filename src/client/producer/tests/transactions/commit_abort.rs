//! Commit and abort, and which operations each state allows.

use super::*;

#[test]
fn commit_adds_partitions_before_the_first_batch_and_ends_the_transaction_after_every_ack() {
    let mut h = Harness::transactional();
    h.init_transactions(0);
    h.machine.begin_transaction().unwrap();
    h.send("t", 0, "a");
    h.send("t", 1, "b");

    let add = h.poll().expect("AddPartitionsToTxn first");
    assert_eq!(add.broker, 2);
    let request = add_partitions_request(&add);
    assert_eq!(request.v3_and_below_transactional_id.0.as_str(), TXN_ID);
    assert_eq!(
        (
            request.v3_and_below_producer_id,
            request.v3_and_below_producer_epoch
        ),
        (ProducerId(PID), 0)
    );
    assert_eq!(
        partitions_in(&add),
        vec![("t".into(), 0), ("t".into(), 1)],
        "both new partitions in one request"
    );
    assert!(
        h.poll().is_none(),
        "no Produce before the coordinator added the partitions"
    );
    h.reply(&add, partitions_added(&[("t", 0, None), ("t", 1, None)]));

    let produce = h.poll_produce();
    assert!(h.poll().is_none());
    assert_eq!(
        produce_request(&produce)
            .transactional_id
            .as_ref()
            .map(|id| id.0.as_str()),
        Some(TXN_ID)
    );
    assert_eq!(transactional_flags(&produce), vec![true, true]);
    assert!(sent_batches(&produce)
        .iter()
        .all(|b| b.producer_id == PID && b.epoch == 0 && b.base_sequence == 0));

    h.machine.commit_transaction().unwrap();
    assert_eq!(h.txn_state(), TxnState::Committing);
    assert!(
        h.poll().is_none(),
        "EndTxn waits for the batch in flight to be acknowledged"
    );
    h.reply(&produce, answer_all(&produce, Ok(7)));
    let end = h.poll().expect("EndTxn");
    assert_eq!(end.broker, 2);
    let request = end_txn_request(&end);
    assert!(request.committed);
    assert_eq!(request.transactional_id.0.as_str(), TXN_ID);
    assert_eq!(
        (request.producer_id, request.producer_epoch),
        (ProducerId(PID), 0)
    );
    h.reply(&end, end_txn(None));
    assert_eq!(h.txn_events(), vec![TxnEvent::TransactionCommitted]);
    assert_eq!(h.txn_state(), TxnState::Ready);
    h.assert_idle();

    // The next transaction adds its partitions again and continues the sequences under the same epoch.
    let produce = h.begin_with_records(&[("t", 0, "c")]);
    assert_eq!(
        sent_batches(&produce[0])[0].base_sequence,
        1,
        "sequences continue across transactions"
    );
}

#[test]
fn commit_sends_lingering_records_at_once() {
    let mut h = Harness::producer(&[("transactional.id", TXN_ID), ("linger.ms", "60000")]);
    h.cluster = cluster(&[("t", &[1, 1])]);
    h.init_transactions(0);
    h.machine.begin_transaction().unwrap();
    h.send("t", 0, "a");
    let add = h.poll().unwrap();
    h.reply(&add, partitions_added(&[("t", 0, None)]));
    assert!(h.poll().is_none(), "lingering");
    h.machine.commit_transaction().unwrap();
    let produce = h.poll().expect("commit flushes");
    h.reply(&produce, answer_all(&produce, Ok(0)));
    let end = h.poll().expect("EndTxn");
    assert!(end_txn_request(&end).committed);
}

#[test]
fn abort_drops_unsent_batches_waits_for_in_flight_ones_then_sends_end_txn_abort() {
    let mut h = Harness::producer(&[("transactional.id", TXN_ID), ("linger.ms", "1000")]);
    h.cluster = cluster(&[("t", &[1, 1]), ("u", &[3])]);
    h.init_transactions(0);
    h.machine.begin_transaction().unwrap();
    let sent = h.send("t", 0, "in-flight");
    let add = h.poll().expect("AddPartitionsToTxn");
    h.reply(&add, partitions_added(&[("t", 0, None)]));
    h.machine.flush();
    let produce = h.poll_produce();
    h.machine.flush();
    let lingering = h.send("t", 0, "lingering");
    let never_added = h.send("u", 0, "never-added");
    assert!(h
        .poll()
        .is_some_and(|tx| partitions_in(&tx) == vec![("u".into(), 0)]));

    h.machine.abort_transaction().unwrap();
    let failed = h.failures();
    let mut dropped: Vec<RecordId> = failed.iter().flat_map(|(ids, _)| ids.clone()).collect();
    dropped.sort();
    assert_eq!(dropped, vec![lingering, never_added]);
    assert!(failed
        .iter()
        .all(|(_, e)| *e == ProduceError::Transaction(TxnError::Aborted)));
    assert!(
        h.poll().is_none(),
        "EndTxn waits for the batch in flight (and for the AddPartitionsToTxn in flight)"
    );
    h.reply(&produce, answer_all(&produce, Ok(3)));
    assert_eq!(h.deliveries(), vec![(vec![sent], 0, 3)]);
    assert!(h.poll().is_none(), "one coordinator request at a time");
}

#[test]
fn abort_ends_with_end_txn_abort_once_nothing_is_in_flight() {
    let mut h = Harness::transactional();
    h.init_transactions(0);
    let produce = h.begin_with_records(&[("t", 0, "a")]);
    h.machine.abort_transaction().unwrap();
    assert_eq!(h.txn_state(), TxnState::Aborting);
    assert!(h.poll().is_none());
    h.reply(&produce[0], answer_all(&produce[0], Ok(0)));
    let end = h.poll().expect("EndTxn");
    assert!(!end_txn_request(&end).committed);
    h.reply(&end, end_txn(None));
    let events = h.txn_events();
    assert_eq!(events, vec![TxnEvent::TransactionAborted]);
    assert_eq!(h.txn_state(), TxnState::Ready);
    h.assert_idle();
}

#[test]
fn a_transaction_that_reached_no_partition_ends_without_end_txn() {
    let mut h = Harness::transactional();
    h.init_transactions(0);
    h.machine.begin_transaction().unwrap();
    h.machine.commit_transaction().unwrap();
    assert!(h.poll().is_none(), "nothing to end at the coordinator");
    assert_eq!(h.txn_events(), vec![TxnEvent::TransactionCommitted]);
    h.machine.begin_transaction().unwrap();
    h.machine.abort_transaction().unwrap();
    assert!(h.poll().is_none());
    assert_eq!(h.txn_events(), vec![TxnEvent::TransactionAborted]);
}

// ---------------------------------------------------------------------------------------------------------
// State rules
// ---------------------------------------------------------------------------------------------------------

#[test]
fn records_and_operations_outside_their_state_are_refused_with_a_clear_error() {
    let mut h = Harness::transactional();
    let err = h
        .machine
        .begin_transaction()
        .expect_err("before init_transactions");
    assert!(err.to_string().contains("init_transactions"), "{err}");
    h.init_transactions(0);
    let err = h
        .machine
        .send(
            RecordRef {
                topic: "t",
                partition: Some(0),
                key: None,
                value: Some(b"x"),
                headers: &[],
                timestamp_ms: 0,
            },
            h.now,
        )
        .expect_err("send outside a transaction");
    assert!(err.to_string().contains("begin_transaction"), "{err}");
    assert!(h.machine.commit_transaction().is_err());
    h.machine.begin_transaction().unwrap();
    h.machine
        .send_offsets_to_transaction(
            vec![TxnOffset {
                topic: "in".into(),
                partition: 0,
                offset: 1,
                leader_epoch: None,
                metadata: None,
            }],
            ConsumerGroupMetadata::group_only("g"),
        )
        .unwrap();
    assert_eq!(
        h.machine.commit_transaction(),
        Err(TxnError::OperationInProgress {
            operation: TxnOperation::Commit,
            pending: TxnOperation::SendOffsets
        })
    );
}

#[test]
fn a_producer_without_transactional_id_refuses_transactions() {
    let mut h = Harness::producer(&[]);
    assert_eq!(
        h.machine.init_transactions(),
        Err(TxnError::NotTransactional)
    );
}
