//! Offsets in the transaction (KIP-447): AddOffsetsToTxn, then TxnOffsetCommit to the group coordinator.

use super::*;

#[test]
fn offsets_are_added_to_the_transaction_then_committed_to_the_group_coordinator_with_generation_and_member(
) {
    let mut h = Harness::transactional();
    h.init_transactions(0);
    h.machine.begin_transaction().unwrap();
    let group = ConsumerGroupMetadata {
        group_id: "copier".into(),
        generation_id: 7,
        member_id: "member-1".into(),
        group_instance_id: Some("copier-a".into()),
    };
    h.machine
        .send_offsets_to_transaction(
            vec![
                TxnOffset {
                    topic: "in".into(),
                    partition: 0,
                    offset: 42,
                    leader_epoch: Some(3),
                    metadata: None,
                },
                TxnOffset {
                    topic: "in".into(),
                    partition: 1,
                    offset: 9,
                    leader_epoch: None,
                    metadata: Some("m".into()),
                },
            ],
            group,
        )
        .unwrap();

    let add = h.poll().expect("AddOffsetsToTxn");
    assert_eq!(add.broker, 2, "to the transaction coordinator");
    let request = add_offsets_request(&add);
    assert_eq!(request.group_id.0.as_str(), "copier");
    assert_eq!(request.transactional_id.0.as_str(), TXN_ID);
    assert_eq!(
        (request.producer_id, request.producer_epoch),
        (ProducerId(PID), 0)
    );
    h.reply(
        &add,
        offsets_added(Some(ResponseError::ConcurrentTransactions)),
    );
    h.advance(ms(20));
    let add = h.poll().expect("AddOffsetsToTxn retried");
    h.reply(&add, offsets_added(None));

    let find = h.poll().expect("FindCoordinator for the group");
    let request = find_coordinator_request(&find);
    assert_eq!(request.key_type, 0, "key type 0: group");
    assert_eq!(
        looked_up_keys(request),
        vec![StrBytes::from_static_str("copier")]
    );
    h.reply(&find, coordinator_is("copier", 3));

    let commit = h.poll().expect("TxnOffsetCommit");
    assert_eq!(commit.broker, 3, "to the group coordinator");
    let request = txn_offset_commit_request(&commit);
    assert_eq!(request.transactional_id.0.as_str(), TXN_ID);
    assert_eq!(request.group_id.0.as_str(), "copier");
    assert_eq!(request.generation_id, 7);
    assert_eq!(request.member_id.as_str(), "member-1");
    assert_eq!(
        request.group_instance_id.as_ref().map(|s| s.as_str()),
        Some("copier-a")
    );
    let partitions: Vec<(i32, i64, i32)> = request.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.committed_offset,
                p.committed_leader_epoch,
            )
        })
        .collect();
    assert_eq!(partitions, vec![(0, 42, 3), (1, 9, -1)]);
    h.reply(
        &commit,
        offsets_committed(&[
            ("in", 0, None),
            ("in", 1, Some(ResponseError::CoordinatorLoadInProgress)),
        ]),
    );
    h.advance(ms(100));
    let commit = h.poll().expect("the partition not yet committed, again");
    let request = txn_offset_commit_request(&commit);
    assert_eq!(request.topics[0].partitions.len(), 1);
    assert_eq!(request.topics[0].partitions[0].partition_index, 1);
    h.reply(&commit, offsets_committed(&[("in", 1, None)]));
    assert_eq!(
        h.txn_events(),
        vec![TxnEvent::OffsetsSent {
            group_id: "copier".into()
        }]
    );

    h.machine.commit_transaction().unwrap();
    let end = h
        .poll()
        .expect("EndTxn: the offsets are in the transaction");
    assert!(end_txn_request(&end).committed);
    h.reply(&end, end_txn(None));
    assert_eq!(h.txn_events(), vec![TxnEvent::TransactionCommitted]);
}

#[test]
fn a_member_that_lost_its_generation_cannot_commit_offsets_and_must_abort() {
    let mut h = Harness::transactional();
    h.init_transactions(0);
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
            ConsumerGroupMetadata {
                group_id: "g".into(),
                generation_id: 3,
                member_id: "m".into(),
                group_instance_id: None,
            },
        )
        .unwrap();
    let add = h.poll().unwrap();
    h.reply(&add, offsets_added(None));
    let find = h.poll().unwrap();
    h.reply(&find, coordinator_is("g", 1));
    let commit = h.poll().unwrap();
    h.reply(
        &commit,
        offsets_committed(&[("in", 0, Some(ResponseError::IllegalGeneration))]),
    );
    let events = h.txn_events();
    assert!(
        matches!(
            &events[..],
            [TxnEvent::TransactionFailed {
                operation: Some(TxnOperation::SendOffsets),
                class: TxnErrorClass::Abortable,
                error: TxnError::Broker {
                    error: ResponseError::IllegalGeneration,
                    ..
                }
            }]
        ),
        "{events:?}"
    );
    h.machine.abort_transaction().unwrap();
    let end = h
        .poll()
        .expect("EndTxn(abort): AddOffsetsToTxn started the transaction");
    assert!(!end_txn_request(&end).committed);
    h.reply(&end, end_txn(None));
    assert_eq!(h.txn_events(), vec![TxnEvent::TransactionAborted]);
}

#[test]
fn group_authorization_failure_on_add_offsets_is_abortable() {
    let mut h = Harness::transactional();
    h.init_transactions(0);
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
            ConsumerGroupMetadata::group_only("secret"),
        )
        .unwrap();
    let add = h.poll().unwrap();
    h.reply(
        &add,
        offsets_added(Some(ResponseError::GroupAuthorizationFailed)),
    );
    assert!(matches!(h.txn_state(), TxnState::AbortableError(_)));
}
