//! Fencing and timed-out transactions (fatal); abortable produce errors and the KIP-360 epoch bump.

use super::*;

#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let mut zombie = Harness::transactional();
    zombie.init_transactions(0);
    let produce = zombie.begin_with_records(&[("t", 0, "old")]);
    zombie.reply(&produce[0], answer_all(&produce[0], Ok(0)));

    // The new instance registers the same id: the coordinator aborts the open transaction and bumps the epoch.
    let mut successor = Harness::transactional();
    successor.init_transactions(1);

    zombie.machine.commit_transaction().unwrap();
    let end = zombie.poll().unwrap();
    assert_eq!(end_txn_request(&end).producer_epoch, 0);
    zombie.reply(&end, end_txn(Some(ResponseError::ProducerFenced)));
    let events = zombie.txn_events();
    assert_eq!(events.len(), 1, "{events:?}");
    let TxnEvent::TransactionFailed {
        operation: Some(TxnOperation::Commit),
        class: TxnErrorClass::Fatal,
        error,
    } = &events[0]
    else {
        panic!("expected a fatal commit failure, got {events:?}");
    };
    assert!(error.is_fenced());
    assert!(error.to_string().contains("fenced"), "{error}");
    assert!(matches!(zombie.txn_state(), TxnState::Fatal(_)));

    // After a fatal error, everything fails with a clear error.
    let err = zombie.machine.begin_transaction().unwrap_err();
    assert!(
        err.is_fenced() && err.class() == TxnErrorClass::Fatal,
        "{err}"
    );
    assert!(zombie.machine.abort_transaction().is_err());
    assert!(zombie.machine.init_transactions().is_err());
    let send = zombie.machine.send(
        RecordRef {
            topic: "t",
            partition: Some(0),
            key: None,
            value: Some(b"x"),
            headers: &[],
            timestamp_ms: 0,
        },
        zombie.now,
    );
    assert!(send.is_err());
    assert!(zombie.poll().is_none(), "a fenced producer sends nothing");
}

#[test]
fn a_zombies_late_batch_rejected_with_invalid_producer_epoch_makes_it_fatal() {
    let mut h = Harness::transactional();
    h.init_transactions(0);
    let produce = h.begin_with_records(&[("t", 0, "late")]);
    let queued = h.send("t", 1, "queued");
    h.reply(
        &produce[0],
        answer_all(&produce[0], Err(ResponseError::InvalidProducerEpoch)),
    );
    let events = h.events();
    let failed: Vec<&ProduceError> = events
        .iter()
        .filter_map(|e| match e {
            ProducerEvent::Failed { error, .. } => Some(error),
            _ => None,
        })
        .collect();
    assert_eq!(
        failed.len(),
        2,
        "the rejected batch and the queued record: {events:?}"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        ProducerEvent::Transaction(TxnEvent::TransactionFailed {
            class: TxnErrorClass::Fatal,
            error,
            ..
        }) if error.is_fenced()
    )));
    let _ = queued;
    assert!(
        h.poll().is_none(),
        "not resent under a new epoch: a zombie must not write"
    );
    assert!(h.machine.commit_transaction().is_err());
}

fn timed_out_transaction_is_fatal_at(error: ResponseError, on_end_txn: bool) {
    let mut h = Harness::transactional();
    h.init_transactions(0);
    let produce = h.begin_with_records(&[("t", 0, "slow")]);
    h.reply(&produce[0], answer_all(&produce[0], Ok(0)));
    // transaction.timeout.ms passes: the coordinator aborts the transaction and bumps the epoch to 1.
    h.advance(ms(61_000));
    let tx = if on_end_txn {
        h.machine.commit_transaction().unwrap();
        let end = h.poll().unwrap();
        end_txn_request(&end);
        end
    } else {
        h.send("t", 1, "more");
        let add = h.poll().unwrap();
        add_partitions_request(&add);
        add
    };
    let response = if on_end_txn {
        end_txn(Some(error))
    } else {
        partitions_added(&[("t", 1, Some(error))])
    };
    h.reply(&tx, response);
    let events = h.txn_events();
    assert!(
        matches!(
            &events[..],
            [TxnEvent::TransactionFailed {
                class: TxnErrorClass::Fatal,
                error,
                ..
            }] if error.is_fenced()
        ),
        "{events:?}"
    );
    assert!(h.machine.abort_transaction().is_err());
}

#[test]
fn a_transaction_the_coordinator_timed_out_is_fenced_on_end_txn() {
    timed_out_transaction_is_fatal_at(ResponseError::ProducerFenced, true);
}

#[test]
fn a_transaction_the_coordinator_timed_out_is_fenced_on_add_partitions_old_broker_epoch_error() {
    timed_out_transaction_is_fatal_at(ResponseError::InvalidProducerEpoch, false);
}

#[test]
fn invalid_txn_state_on_end_txn_is_fatal() {
    let mut h = Harness::transactional();
    h.init_transactions(0);
    let produce = h.begin_with_records(&[("t", 0, "a")]);
    h.reply(&produce[0], answer_all(&produce[0], Ok(0)));
    h.machine.commit_transaction().unwrap();
    let end = h.poll().unwrap();
    h.reply(&end, end_txn(Some(ResponseError::InvalidTxnState)));
    assert!(matches!(h.txn_state(), TxnState::Fatal(_)));
}

// ---------------------------------------------------------------------------------------------------------
// Abortable produce errors and the KIP-360 epoch bump
// ---------------------------------------------------------------------------------------------------------

#[test]
fn unknown_producer_id_in_a_transaction_is_abortable_and_the_abort_bumps_the_epoch() {
    let mut h = Harness::transactional();
    h.init_transactions(5);
    let produce = h.begin_with_records(&[("t", 0, "a")]);
    h.reply(
        &produce[0],
        answer_all(&produce[0], Err(ResponseError::UnknownProducerId)),
    );
    let events = h.txn_events();
    assert_eq!(
        events,
        vec![TxnEvent::TransactionFailed {
            operation: None,
            class: TxnErrorClass::Abortable,
            error: TxnError::Broker {
                api: ApiKey::Produce,
                error: ResponseError::UnknownProducerId,
                class: TxnErrorClass::Abortable
            }
        }]
    );
    assert!(
        h.poll().is_none(),
        "nothing is resent in a failed transaction"
    );

    h.machine.abort_transaction().unwrap();
    let end = h.poll().expect("EndTxn(abort)");
    assert!(!end_txn_request(&end).committed);
    h.reply(&end, end_txn(None));
    let bump = h.poll().expect("InitProducerId to bump the epoch");
    assert_eq!(bump.broker, 2);
    let request = init_producer_id_request(&bump);
    assert_eq!(
        (request.producer_id, request.producer_epoch),
        (ProducerId(PID), 5),
        "KIP-360: the producer id and epoch we have"
    );
    assert_eq!(
        request.transactional_id.as_ref().map(|t| t.0.as_str()),
        Some(TXN_ID)
    );
    h.reply(&bump, producer_id(PID, 6));
    assert_eq!(h.txn_events(), vec![TxnEvent::TransactionAborted]);

    let produce = h.begin_with_records(&[("t", 0, "b")]);
    let batch = single_batch(&produce[0]);
    assert_eq!(
        (batch.epoch, batch.base_sequence),
        (6, 0),
        "new epoch, sequences from 0"
    );
}

#[test]
fn a_rejected_batch_fails_the_commit_and_the_transaction_must_be_aborted() {
    let mut h = Harness::transactional();
    h.init_transactions(0);
    let produce = h.begin_with_records(&[("t", 0, "too-big")]);
    h.machine.commit_transaction().unwrap();
    h.reply(
        &produce[0],
        answer_all(&produce[0], Err(ResponseError::MessageTooLarge)),
    );
    let events = h.txn_events();
    assert!(
        matches!(
            &events[..],
            [TxnEvent::TransactionFailed {
                operation: Some(TxnOperation::Commit),
                class: TxnErrorClass::Abortable,
                ..
            }]
        ),
        "{events:?}"
    );
    assert!(h.poll().is_none(), "no EndTxn(commit)");
    h.machine.abort_transaction().unwrap();
    let end = h.poll().unwrap();
    assert!(!end_txn_request(&end).committed);
    h.reply(&end, end_txn(None));
    let bump = h
        .poll()
        .expect("the failed batch had a sequence: bump the epoch");
    h.reply(&bump, producer_id(PID, 1));
    assert_eq!(h.txn_events(), vec![TxnEvent::TransactionAborted]);
}
