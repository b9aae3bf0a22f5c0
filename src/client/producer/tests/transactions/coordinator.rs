//! Retriable coordinator errors and the batching of AddPartitionsToTxn, with its per-partition errors.

use super::*;

#[test]
fn init_transactions_retries_load_in_progress_and_concurrent_transactions() {
    let mut h = Harness::transactional();
    h.machine.init_transactions().unwrap();
    let find = h.poll().unwrap();
    h.reply(
        &find,
        coordinator_error(TXN_ID, ResponseError::CoordinatorNotAvailable),
    );
    assert!(h.poll().is_none(), "backoff before looking up again");
    h.advance(ms(100));
    let find = h.poll().unwrap();
    find_coordinator_request(&find);
    h.reply(&find, coordinator_is(TXN_ID, 2));
    let init = h.poll().unwrap();
    h.reply(
        &init,
        producer_id_error(ResponseError::CoordinatorLoadInProgress),
    );
    h.advance(ms(99));
    assert!(h.poll().is_none(), "retry.backoff.ms first");
    h.advance(ms(1));
    let init = h.poll().unwrap();
    init_producer_id_request(&init);
    h.reply(
        &init,
        producer_id_error(ResponseError::ConcurrentTransactions),
    );
    h.advance(ms(20));
    let init = h
        .poll()
        .expect("CONCURRENT_TRANSACTIONS retries after 20 ms");
    h.reply(&init, producer_id(PID, 4));
    assert_eq!(
        h.txn_events(),
        vec![TxnEvent::Initialized {
            producer_id: PID,
            epoch: 4
        }]
    );
}

#[test]
fn the_coordinator_moving_mid_transaction_is_found_again_and_the_request_retried_there() {
    let mut h = Harness::transactional();
    h.init_transactions(0);
    h.machine.begin_transaction().unwrap();
    h.send("t", 0, "a");
    let add = h.poll().unwrap();
    assert_eq!(add.broker, 2);
    h.reply(
        &add,
        partitions_added(&[("t", 0, Some(ResponseError::NotCoordinator))]),
    );
    h.advance(ms(100));
    let find = h.poll().expect("FindCoordinator again");
    assert_eq!(find_coordinator_request(&find).key_type, 1);
    h.reply(&find, coordinator_is(TXN_ID, 3));
    let add = h.poll().expect("AddPartitionsToTxn again");
    assert_eq!(add.broker, 3, "to the new coordinator");
    assert_eq!(partitions_in(&add), vec![("t".into(), 0)]);
    h.reply(&add, partitions_added(&[("t", 0, None)]));
    let produce = h.poll_produce();
    h.reply(&produce, answer_all(&produce, Ok(0)));

    h.machine.commit_transaction().unwrap();
    let end = h.poll().unwrap();
    assert_eq!(end.broker, 3);
    h.reply(&end, end_txn(Some(ResponseError::CoordinatorNotAvailable)));
    h.advance(ms(100));
    let find = h
        .poll()
        .expect("FindCoordinator after COORDINATOR_NOT_AVAILABLE");
    h.reply(&find, coordinator_is(TXN_ID, 1));
    let end = h.poll().expect("EndTxn again");
    assert_eq!(end.broker, 1);
    assert!(end_txn_request(&end).committed);
    h.reply(&end, end_txn(None));
    assert_eq!(h.txn_events(), vec![TxnEvent::TransactionCommitted]);
}

#[test]
fn a_lost_connection_to_the_coordinator_looks_it_up_again() {
    let mut h = Harness::transactional();
    h.init_transactions(0);
    let produce = h.begin_with_records(&[("t", 0, "a")]);
    h.reply(&produce[0], answer_all(&produce[0], Ok(0)));
    h.machine.commit_transaction().unwrap();
    let end = h.poll().unwrap();
    h.lose(&end);
    h.advance(ms(100));
    let find = h.poll().unwrap();
    h.reply(&find, coordinator_is(TXN_ID, 2));
    let end = h.poll().unwrap();
    h.reply(&end, end_txn(None));
    assert_eq!(h.txn_events(), vec![TxnEvent::TransactionCommitted]);
}

#[test]
fn concurrent_transactions_on_add_partitions_is_retried_after_20_ms_with_the_same_partitions() {
    let mut h = Harness::transactional();
    h.init_transactions(0);
    h.machine.begin_transaction().unwrap();
    h.send("t", 0, "a");
    h.send("t", 1, "b");
    let add = h.poll().unwrap();
    h.reply(
        &add,
        partitions_added(&[
            ("t", 0, Some(ResponseError::ConcurrentTransactions)),
            ("t", 1, Some(ResponseError::ConcurrentTransactions)),
        ]),
    );
    h.advance(ms(19));
    assert!(h.poll().is_none());
    assert_eq!(h.machine.poll_timeout(), Some(h.start + ms(20)));
    h.advance(ms(1));
    let add = h.poll().expect("retried");
    assert_eq!(partitions_in(&add), vec![("t".into(), 0), ("t".into(), 1)]);
    h.reply(&add, partitions_added(&[("t", 0, None), ("t", 1, None)]));
    assert!(h
        .poll()
        .is_some_and(|tx| matches!(tx.request, Request::Produce(_))));
}

// ---------------------------------------------------------------------------------------------------------
// AddPartitionsToTxn batching and per-partition errors
// ---------------------------------------------------------------------------------------------------------

#[test]
fn add_partitions_batches_every_partition_that_got_records_since_the_last_request() {
    let mut h = Harness::transactional();
    h.init_transactions(0);
    h.machine.begin_transaction().unwrap();
    h.send("t", 0, "a");
    let first = h.poll().unwrap();
    assert_eq!(partitions_in(&first), vec![("t".into(), 0)]);
    h.send("t", 1, "b");
    h.send("u", 0, "c");
    h.send("t", 0, "d");
    assert!(h.poll().is_none(), "one coordinator request at a time");
    h.reply(&first, partitions_added(&[("t", 0, None)]));
    let mut next: Vec<Transmit> = std::iter::from_fn(|| h.poll()).collect();
    let add_index = next
        .iter()
        .position(|tx| matches!(tx.request, Request::AddPartitionsToTxn(_)))
        .expect("second AddPartitionsToTxn");
    let add = next.remove(add_index);
    assert_eq!(
        partitions_in(&add),
        vec![("t".into(), 1), ("u".into(), 0)],
        "the two partitions new since the first request, in one request"
    );
    assert_eq!(next.len(), 1, "only t-0 may be produced to so far");
    assert_eq!(
        sent_batches(&next[0])
            .iter()
            .map(|b| (b.partition, b.values.clone()))
            .collect::<Vec<_>>(),
        vec![(0, vec!["a".to_string(), "d".to_string()])]
    );
}

#[test]
fn a_topic_we_may_not_write_makes_the_transaction_abortable_and_the_abort_lets_us_go_on() {
    let mut h = Harness::transactional();
    h.init_transactions(0);
    h.machine.begin_transaction().unwrap();
    let ok_record = h.send("t", 0, "a");
    let denied = h.send("u", 0, "b");
    let add = h.poll().unwrap();
    h.reply(
        &add,
        partitions_added(&[
            ("t", 0, Some(ResponseError::OperationNotAttempted)),
            ("u", 0, Some(ResponseError::TopicAuthorizationFailed)),
        ]),
    );
    let events = h.events();
    let mut failed: Vec<RecordId> = Vec::new();
    let mut txn_events = Vec::new();
    for event in events {
        match event {
            ProducerEvent::Failed { record_ids, .. } => failed.extend(record_ids),
            ProducerEvent::Transaction(e) => txn_events.push(e),
            other => panic!("unexpected {other:?}"),
        }
    }
    failed.sort();
    assert_eq!(
        failed,
        vec![ok_record, denied],
        "unsent records fail at once"
    );
    let expected_error = TxnError::Broker {
        api: ApiKey::AddPartitionsToTxn,
        error: ResponseError::TopicAuthorizationFailed,
        class: TxnErrorClass::Abortable,
    };
    assert_eq!(
        txn_events,
        vec![TxnEvent::TransactionFailed {
            operation: None,
            class: TxnErrorClass::Abortable,
            error: expected_error.clone()
        }]
    );
    let err = h.machine.commit_transaction().unwrap_err();
    assert_eq!(err, TxnError::MustAbort(Box::new(expected_error)));
    assert!(err.to_string().contains("abort"), "{err}");
    assert!(h.poll().is_none());

    h.machine.abort_transaction().unwrap();
    assert!(
        h.poll().is_none(),
        "no partition was added: no EndTxn needed"
    );
    assert_eq!(h.txn_events(), vec![TxnEvent::TransactionAborted]);
    h.begin_with_records(&[("t", 0, "next")]);
    h.assert_idle_except_in_flight();
}

impl Harness {
    fn assert_idle_except_in_flight(&self) {
        assert!(self.machine.outstanding_records() <= 1);
    }
}
