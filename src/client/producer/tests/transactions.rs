//! The transactional producer against a scripted coordinator and partition leaders: the KIP-98 / KIP-360 /
//! KIP-447 request sequences, answered the way a Kafka broker answers them.
//!
//! Cluster: brokers 1, 2 and 3; topic `t` with partitions led by 1 and 1 (and `u` by 3); the transaction
//! coordinator is broker 2 unless a test moves it.

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};

use super::*;
use crate::client::txn::{
    ConsumerGroupMetadata, TxnError, TxnErrorClass, TxnEvent, TxnOffset, TxnOperation, TxnState,
};

const TXN_ID: &str = "orders-tx";

// ---------------------------------------------------------------------------------------------------------
// The coordinator's side
// ---------------------------------------------------------------------------------------------------------

/// FindCoordinator v4 answer (one entry per key), as Kafka 3.x/4.x gives it.
/// A FindCoordinator answer in both shapes: the v0-3 top-level fields and the v4+ `coordinators` list, so it
/// fits whichever version the negotiated table picks.
fn coordinator_is(key: &str, node: i32) -> Response {
    Response::FindCoordinator(
        FindCoordinatorResponse::default()
            .with_node_id(NodeId(node))
            .with_host(StrBytes::from_string(format!("b{node}")))
            .with_port(9092)
            .with_coordinators(vec![Coordinator::default()
                .with_key(StrBytes::from_string(key.to_owned()))
                .with_node_id(NodeId(node))
                .with_host(StrBytes::from_string(format!("b{node}")))
                .with_port(9092)]),
    )
}

fn coordinator_error(key: &str, error: ResponseError) -> Response {
    Response::FindCoordinator(
        FindCoordinatorResponse::default()
            .with_node_id(NodeId(-1))
            .with_error_code(error.code())
            .with_coordinators(vec![Coordinator::default()
                .with_key(StrBytes::from_string(key.to_owned()))
                .with_node_id(NodeId(-1))
                .with_error_code(error.code())]),
    )
}

/// The key a FindCoordinator request looks up, in either shape (v0-3 `key`, v4+ `coordinator_keys`).
fn looked_up_keys(request: &FindCoordinatorRequest) -> Vec<StrBytes> {
    if request.coordinator_keys.is_empty() {
        vec![request.key.clone()]
    } else {
        request.coordinator_keys.clone()
    }
}

/// AddPartitionsToTxn v0-3 answer: one code per partition.
fn partitions_added(outcomes: &[(&str, i32, Option<ResponseError>)]) -> Response {
    let mut topics: BTreeMap<&str, Vec<AddPartitionsToTxnPartitionResult>> = BTreeMap::new();
    for (topic, partition, error) in outcomes {
        topics.entry(topic).or_default().push(
            AddPartitionsToTxnPartitionResult::default()
                .with_partition_index(*partition)
                .with_partition_error_code(error.map_or(0, |e| e.code())),
        );
    }
    Response::AddPartitionsToTxn(
        AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(
            topics
                .into_iter()
                .map(|(topic, results)| {
                    AddPartitionsToTxnTopicResult::default()
                        .with_name(topic_name(topic))
                        .with_results_by_partition(results)
                })
                .collect(),
        ),
    )
}

fn end_txn(error: Option<ResponseError>) -> Response {
    Response::EndTxn(EndTxnResponse::default().with_error_code(error.map_or(0, |e| e.code())))
}

fn offsets_added(error: Option<ResponseError>) -> Response {
    Response::AddOffsetsToTxn(
        AddOffsetsToTxnResponse::default().with_error_code(error.map_or(0, |e| e.code())),
    )
}

fn offsets_committed(outcomes: &[(&str, i32, Option<ResponseError>)]) -> Response {
    let mut topics: BTreeMap<&str, Vec<TxnOffsetCommitResponsePartition>> = BTreeMap::new();
    for (topic, partition, error) in outcomes {
        topics.entry(topic).or_default().push(
            TxnOffsetCommitResponsePartition::default()
                .with_partition_index(*partition)
                .with_error_code(error.map_or(0, |e| e.code())),
        );
    }
    Response::TxnOffsetCommit(
        TxnOffsetCommitResponse::default().with_topics(
            topics
                .into_iter()
                .map(|(topic, partitions)| {
                    TxnOffsetCommitResponseTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(partitions)
                })
                .collect(),
        ),
    )
}

// ---------------------------------------------------------------------------------------------------------
// What the producer sent
// ---------------------------------------------------------------------------------------------------------

fn find_coordinator_request(tx: &Transmit) -> &FindCoordinatorRequest {
    match &tx.request {
        Request::FindCoordinator(r) => r,
        other => panic!("expected FindCoordinator, got {:?}", other.api_key()),
    }
}

fn add_partitions_request(tx: &Transmit) -> &AddPartitionsToTxnRequest {
    match &tx.request {
        Request::AddPartitionsToTxn(r) => r,
        other => panic!("expected AddPartitionsToTxn, got {:?}", other.api_key()),
    }
}

fn end_txn_request(tx: &Transmit) -> &EndTxnRequest {
    match &tx.request {
        Request::EndTxn(r) => r,
        other => panic!("expected EndTxn, got {:?}", other.api_key()),
    }
}

fn add_offsets_request(tx: &Transmit) -> &AddOffsetsToTxnRequest {
    match &tx.request {
        Request::AddOffsetsToTxn(r) => r,
        other => panic!("expected AddOffsetsToTxn, got {:?}", other.api_key()),
    }
}

fn txn_offset_commit_request(tx: &Transmit) -> &TxnOffsetCommitRequest {
    match &tx.request {
        Request::TxnOffsetCommit(r) => r,
        other => panic!("expected TxnOffsetCommit, got {:?}", other.api_key()),
    }
}

/// (topic, partition) pairs of an AddPartitionsToTxn request, in request order.
fn partitions_in(tx: &Transmit) -> Vec<(String, i32)> {
    add_partitions_request(tx)
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), *p)))
        .collect()
}

fn transactional_flags(tx: &Transmit) -> Vec<bool> {
    produce_request(tx)
        .topic_data
        .iter()
        .flat_map(|t| t.partition_data.iter())
        .map(|p| {
            let bytes = p.records.clone().expect("records");
            RecordBatch::parse(bytes, DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES)
                .expect("valid batch")
                .is_transactional()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// The harness, transactional
// ---------------------------------------------------------------------------------------------------------

impl Harness {
    fn transactional() -> Self {
        let mut h = Harness::new(&[("transactional.id", TXN_ID)]);
        h.cluster = cluster(&[("t", &[1, 1]), ("u", &[3])]);
        h
    }

    fn txn_state(&self) -> TxnState {
        self.producer
            .transaction_state()
            .expect("transactional")
            .clone()
    }

    /// Transaction events only; record outcomes are dropped.
    fn txn_events(&mut self) -> Vec<TxnEvent> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                ProducerEvent::Transaction(event) => Some(event),
                _ => None,
            })
            .collect()
    }

    /// init_transactions: FindCoordinator(transaction) → coordinator 2 → InitProducerId → (PID, epoch).
    fn init_transactions(&mut self, epoch: i16) {
        self.producer.init_transactions().expect("init allowed");
        let find = self.poll().expect("FindCoordinator");
        let request = find_coordinator_request(&find);
        assert_eq!(request.key_type, 1, "key type 1: transaction coordinator");
        assert_eq!(
            looked_up_keys(request),
            vec![StrBytes::from_static_str(TXN_ID)]
        );
        self.reply(&find, coordinator_is(TXN_ID, 2));
        let init = self.poll().expect("InitProducerId");
        assert_eq!(init.broker, 2, "InitProducerId goes to the coordinator");
        let request = init_producer_id_request(&init);
        assert_eq!(
            request.transactional_id.as_ref().map(|id| id.0.to_string()),
            Some(TXN_ID.to_string())
        );
        assert_eq!(request.transaction_timeout_ms, 60_000);
        assert_eq!(
            (request.producer_id, request.producer_epoch),
            (ProducerId(-1), -1)
        );
        self.reply(&init, producer_id(PID, epoch));
        assert_eq!(
            self.txn_events(),
            vec![TxnEvent::Initialized {
                producer_id: PID,
                epoch
            }]
        );
        assert_eq!(self.txn_state(), TxnState::Ready);
    }

    /// begin_transaction and one record to each (topic, partition); the AddPartitionsToTxn that follows is
    /// answered with success, and the Produce requests returned unanswered.
    fn begin_with_records(&mut self, records: &[(&str, i32, &str)]) -> Vec<Transmit> {
        self.producer.begin_transaction().expect("begin allowed");
        for (topic, partition, value) in records {
            self.send(topic, *partition, value);
        }
        let add = self.poll().expect("AddPartitionsToTxn");
        let outcomes: Vec<(String, i32)> = partitions_in(&add);
        let outcomes: Vec<(&str, i32, Option<ResponseError>)> = outcomes
            .iter()
            .map(|(t, p)| (t.as_str(), *p, None))
            .collect();
        self.reply(&add, partitions_added(&outcomes));
        std::iter::from_fn(|| self.poll()).collect()
    }
}

// ---------------------------------------------------------------------------------------------------------
// Commit and abort
// ---------------------------------------------------------------------------------------------------------

#[test]
fn commit_adds_partitions_before_the_first_batch_and_ends_the_transaction_after_every_ack() {
    let mut h = Harness::transactional();
    h.init_transactions(0);
    h.producer.begin_transaction().unwrap();
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

    h.producer.commit_transaction().unwrap();
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
    let mut h = Harness::new(&[("transactional.id", TXN_ID), ("linger.ms", "60000")]);
    h.cluster = cluster(&[("t", &[1, 1])]);
    h.init_transactions(0);
    h.producer.begin_transaction().unwrap();
    h.send("t", 0, "a");
    let add = h.poll().unwrap();
    h.reply(&add, partitions_added(&[("t", 0, None)]));
    assert!(h.poll().is_none(), "lingering");
    h.producer.commit_transaction().unwrap();
    let produce = h.poll().expect("commit flushes");
    h.reply(&produce, answer_all(&produce, Ok(0)));
    let end = h.poll().expect("EndTxn");
    assert!(end_txn_request(&end).committed);
}

#[test]
fn abort_drops_unsent_batches_waits_for_in_flight_ones_then_sends_end_txn_abort() {
    let mut h = Harness::new(&[("transactional.id", TXN_ID), ("linger.ms", "1000")]);
    h.cluster = cluster(&[("t", &[1, 1]), ("u", &[3])]);
    h.init_transactions(0);
    h.producer.begin_transaction().unwrap();
    let sent = h.send("t", 0, "in-flight");
    let add = h.poll().expect("AddPartitionsToTxn");
    h.reply(&add, partitions_added(&[("t", 0, None)]));
    h.producer.flush();
    let produce = h.poll_produce();
    h.producer.flush();
    let lingering = h.send("t", 0, "lingering");
    let never_added = h.send("u", 0, "never-added");
    assert!(h
        .poll()
        .is_some_and(|tx| partitions_in(&tx) == vec![("u".into(), 0)]));

    h.producer.abort_transaction().unwrap();
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
    h.producer.abort_transaction().unwrap();
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
    h.producer.begin_transaction().unwrap();
    h.producer.commit_transaction().unwrap();
    assert!(h.poll().is_none(), "nothing to end at the coordinator");
    assert_eq!(h.txn_events(), vec![TxnEvent::TransactionCommitted]);
    h.producer.begin_transaction().unwrap();
    h.producer.abort_transaction().unwrap();
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
        .producer
        .begin_transaction()
        .expect_err("before init_transactions");
    assert!(err.to_string().contains("init_transactions"), "{err}");
    h.init_transactions(0);
    let err = h
        .producer
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
    assert!(h.producer.commit_transaction().is_err());
    h.producer.begin_transaction().unwrap();
    h.producer
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
        h.producer.commit_transaction(),
        Err(TxnError::OperationInProgress {
            operation: TxnOperation::Commit,
            pending: TxnOperation::SendOffsets
        })
    );
}

#[test]
fn a_producer_without_transactional_id_refuses_transactions() {
    let mut h = Harness::new(&[]);
    assert_eq!(
        h.producer.init_transactions(),
        Err(TxnError::NotTransactional)
    );
}

// ---------------------------------------------------------------------------------------------------------
// Retriable coordinator errors
// ---------------------------------------------------------------------------------------------------------

#[test]
fn init_transactions_retries_load_in_progress_and_concurrent_transactions() {
    let mut h = Harness::transactional();
    h.producer.init_transactions().unwrap();
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
    h.producer.begin_transaction().unwrap();
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

    h.producer.commit_transaction().unwrap();
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
    h.producer.commit_transaction().unwrap();
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
    h.producer.begin_transaction().unwrap();
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
    assert_eq!(h.producer.poll_timeout(), Some(h.start + ms(20)));
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
    h.producer.begin_transaction().unwrap();
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
    h.producer.begin_transaction().unwrap();
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
    let err = h.producer.commit_transaction().unwrap_err();
    assert_eq!(err, TxnError::MustAbort(Box::new(expected_error)));
    assert!(err.to_string().contains("abort"), "{err}");
    assert!(h.poll().is_none());

    h.producer.abort_transaction().unwrap();
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
        assert!(self.producer.outstanding_records() <= 1);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Fencing and timed-out transactions (fatal)
// ---------------------------------------------------------------------------------------------------------

#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let mut zombie = Harness::transactional();
    zombie.init_transactions(0);
    let produce = zombie.begin_with_records(&[("t", 0, "old")]);
    zombie.reply(&produce[0], answer_all(&produce[0], Ok(0)));

    // The new instance registers the same id: the coordinator aborts the open transaction and bumps the epoch.
    let mut successor = Harness::transactional();
    successor.init_transactions(1);

    zombie.producer.commit_transaction().unwrap();
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
    let err = zombie.producer.begin_transaction().unwrap_err();
    assert!(
        err.is_fenced() && err.class() == TxnErrorClass::Fatal,
        "{err}"
    );
    assert!(zombie.producer.abort_transaction().is_err());
    assert!(zombie.producer.init_transactions().is_err());
    let send = zombie.producer.send(
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
    assert!(h.producer.commit_transaction().is_err());
}

fn timed_out_transaction_is_fatal_at(error: ResponseError, on_end_txn: bool) {
    let mut h = Harness::transactional();
    h.init_transactions(0);
    let produce = h.begin_with_records(&[("t", 0, "slow")]);
    h.reply(&produce[0], answer_all(&produce[0], Ok(0)));
    // transaction.timeout.ms passes: the coordinator aborts the transaction and bumps the epoch to 1.
    h.advance(ms(61_000));
    let tx = if on_end_txn {
        h.producer.commit_transaction().unwrap();
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
    assert!(h.producer.abort_transaction().is_err());
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
    h.producer.commit_transaction().unwrap();
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

    h.producer.abort_transaction().unwrap();
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
    h.producer.commit_transaction().unwrap();
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
    h.producer.abort_transaction().unwrap();
    let end = h.poll().unwrap();
    assert!(!end_txn_request(&end).committed);
    h.reply(&end, end_txn(None));
    let bump = h
        .poll()
        .expect("the failed batch had a sequence: bump the epoch");
    h.reply(&bump, producer_id(PID, 1));
    assert_eq!(h.txn_events(), vec![TxnEvent::TransactionAborted]);
}

// ---------------------------------------------------------------------------------------------------------
// Offsets in the transaction (KIP-447)
// ---------------------------------------------------------------------------------------------------------

#[test]
fn offsets_are_added_to_the_transaction_then_committed_to_the_group_coordinator_with_generation_and_member(
) {
    let mut h = Harness::transactional();
    h.init_transactions(0);
    h.producer.begin_transaction().unwrap();
    let group = ConsumerGroupMetadata {
        group_id: "copier".into(),
        generation_id: 7,
        member_id: "member-1".into(),
        group_instance_id: Some("copier-a".into()),
    };
    h.producer
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

    h.producer.commit_transaction().unwrap();
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
    h.producer.begin_transaction().unwrap();
    h.producer
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
    h.producer.abort_transaction().unwrap();
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
    h.producer.begin_transaction().unwrap();
    h.producer
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
