//! The transactional producer against a scripted coordinator and partition leaders: the KIP-98 / KIP-360 /
//! KIP-447 request sequences, answered the way a Kafka broker answers them.
//!
//! Cluster: brokers 1, 2 and 3; topic `t` with partitions led by 1 and 1 (and `u` by 3); the transaction
//! coordinator is broker 2 unless a test moves it.

mod commit_abort;
mod coordinator;
mod failures;
mod offsets;

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, FindCoordinatorRequest,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};

use super::*;
use crate::client::testing::coordinator_error;
use crate::client::txn::{
    ConsumerGroupMetadata, TxnError, TxnErrorClass, TxnEvent, TxnOffset, TxnOperation, TxnState,
};

const TXN_ID: &str = "orders-tx";

// ---------------------------------------------------------------------------------------------------------
// The coordinator's side
// ---------------------------------------------------------------------------------------------------------

/// A FindCoordinator answer naming broker `node` (`b{node}:9092`) for `key`, in both shapes.
fn coordinator_is(key: &str, node: i32) -> Response {
    testing::coordinator_is(key, node, &format!("b{node}"))
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
        let mut h = Harness::producer(&[("transactional.id", TXN_ID)]);
        h.cluster = cluster(&[("t", &[1, 1]), ("u", &[3])]);
        h
    }

    fn txn_state(&self) -> TxnState {
        self.machine
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
        self.machine.init_transactions().expect("init allowed");
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
        self.machine.begin_transaction().expect("begin allowed");
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
