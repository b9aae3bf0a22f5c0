//! The producer against a scripted broker: every test plays the broker's side by hand, request by request, on
//! a fake timeline (`start` plus durations, never a sleep), and reads the record batches it is sent with our
//! own batch decoder.

mod accounting;
mod acks;
mod batching;
mod epoch_bumps;
mod giving_up;
mod linger;
mod retries;
mod too_large;
mod transactions;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::ProduceRequest;
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, MetadataResponse, ProduceResponse, ProducerId,
};
use kafka_protocol::protocol::StrBytes;

use super::*;
use crate::client::config::ConfigMap;
use crate::client::partitioner::partition_for_key;
use crate::client::testing::{
    self, producer_id, producer_id_error, topic_name, versions_with_init_producer_id_up_to,
    ScriptedBroker,
};
use crate::client::BrokerId;
use crate::protocol::record_batch::{RecordBatch, DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES};
use crate::protocol::versions::ApiVersionTable;
use crate::protocol::{Request, Response};

const PID: i64 = 4242;

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

// ---------------------------------------------------------------------------------------------------------
// The broker's side: responses built with kafka-protocol's structs.
// ---------------------------------------------------------------------------------------------------------

/// Brokers 1, 2 and 3 (`b1:9092`, …).
const BROKERS: [(BrokerId, &str, i32); 3] = [(1, "b1", 9092), (2, "b2", 9092), (3, "b3", 9092)];

/// Brokers 1, 2 and 3, and each topic with the leader of each of its partitions (-1: no leader).
fn cluster(topics: &[(&str, &[i32])]) -> MetadataResponse {
    testing::metadata(&BROKERS, topics)
}

fn topic_error(name: &str, error: ResponseError) -> MetadataResponse {
    testing::topic_error(&BROKERS, name, error)
}

/// One Produce answer per partition: `Ok(base_offset)` or the error code.
fn produce_response(outcomes: &[(&str, i32, Result<i64, ResponseError>)]) -> Response {
    let mut topics: BTreeMap<&str, Vec<PartitionProduceResponse>> = BTreeMap::new();
    for (topic, partition, outcome) in outcomes {
        let (error_code, base_offset) = match outcome {
            Ok(offset) => (0, *offset),
            Err(error) => (error.code(), -1),
        };
        topics.entry(topic).or_default().push(
            PartitionProduceResponse::default()
                .with_index(*partition)
                .with_error_code(error_code)
                .with_base_offset(base_offset),
        );
    }
    Response::Produce(
        ProduceResponse::default().with_responses(
            topics
                .into_iter()
                .map(|(topic, partitions)| {
                    TopicProduceResponse::default()
                        .with_name(topic_name(topic))
                        .with_partition_responses(partitions)
                })
                .collect(),
        ),
    )
}

/// Every batch of `tx` answered the same way.
fn answer_all(tx: &Transmit, outcome: Result<i64, ResponseError>) -> Response {
    let batches = sent_batches(tx);
    let outcomes: Vec<(&str, i32, Result<i64, ResponseError>)> = batches
        .iter()
        .map(|b| (b.topic.as_str(), b.partition, outcome))
        .collect();
    produce_response(&outcomes)
}

// ---------------------------------------------------------------------------------------------------------
// What the producer sent, decoded.
// ---------------------------------------------------------------------------------------------------------

/// One record batch of a Produce request, decoded (which also checks its CRC).
#[derive(Debug, Clone, PartialEq)]
struct SentBatch {
    topic: String,
    partition: i32,
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
    values: Vec<String>,
}

fn produce_request(tx: &Transmit) -> &ProduceRequest {
    match &tx.request {
        Request::Produce(request) => request,
        other => panic!("expected a Produce request, got {:?}", other.api_key()),
    }
}

fn init_producer_id_request(tx: &Transmit) -> &InitProducerIdRequest {
    match &tx.request {
        Request::InitProducerId(request) => request,
        other => panic!("expected InitProducerId, got {:?}", other.api_key()),
    }
}

fn sent_batches(tx: &Transmit) -> Vec<SentBatch> {
    let mut out = Vec::new();
    for topic in &produce_request(tx).topic_data {
        for partition in &topic.partition_data {
            let bytes: Bytes = partition.records.clone().expect("records");
            let batch = RecordBatch::parse(bytes, DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES)
                .expect("a valid record batch (CRC checked)");
            let values: Vec<String> = batch
                .records()
                .expect("records")
                .map(|r| {
                    let r = r.expect("record");
                    String::from_utf8(r.value.expect("value").to_vec()).expect("utf8")
                })
                .collect();
            assert_eq!(values.len() as i32, batch.record_count());
            out.push(SentBatch {
                topic: topic.name.0.to_string(),
                partition: partition.index,
                producer_id: batch.producer_id(),
                epoch: batch.producer_epoch(),
                base_sequence: batch.base_sequence(),
                values,
            });
        }
    }
    out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    out
}

/// The only batch of a Produce request.
fn single_batch(tx: &Transmit) -> SentBatch {
    let mut batches = sent_batches(tx);
    assert_eq!(batches.len(), 1, "one batch expected in {batches:?}");
    batches.remove(0)
}

fn values(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("v{i}")).collect()
}

// ---------------------------------------------------------------------------------------------------------
// The harness: a producer, a clock, and a cluster that answers metadata requests.
// ---------------------------------------------------------------------------------------------------------

/// A producer against the scripted broker, which answers its metadata requests with `cluster`.
type Harness = ScriptedBroker<Producer>;

impl Harness {
    fn producer(settings: &[(&str, &str)]) -> Self {
        let mut pairs = vec![("linger.ms", "0")];
        pairs.extend_from_slice(settings);
        Self::producer_without_linger_ms(&pairs)
    }

    /// A producer whose `linger.ms` is left unset unless `settings` sets it (the default's adaptive batching).
    fn producer_without_linger_ms(settings: &[(&str, &str)]) -> Self {
        let mut pairs = vec![
            ("bootstrap.servers", "boot:9092"),
            ("retry.backoff.ms", "100"),
            ("retry.backoff.max.ms", "1000"),
        ];
        pairs.extend_from_slice(settings);
        let config = ProducerConfig::from_map(ConfigMap::from_pairs(pairs)).expect("valid config");
        let mut producer = Producer::new(config);
        for broker in [-1, 1, 2, 3] {
            producer.handle_broker_versions(broker, ApiVersionTable::all_client_versions());
        }
        ScriptedBroker::new(producer, cluster(&[]))
    }

    fn send_to(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&str>,
        value: &str,
    ) -> RecordId {
        self.machine
            .send(
                RecordRef {
                    topic,
                    partition,
                    key: key.map(str::as_bytes),
                    value: Some(value.as_bytes()),
                    headers: &[],
                    timestamp_ms: 1_700_000_000_000,
                },
                self.now,
            )
            .expect("record accepted")
    }

    fn send(&mut self, topic: &str, partition: i32, value: &str) -> RecordId {
        self.send_to(topic, Some(partition), None, value)
    }

    fn poll_produce(&mut self) -> Transmit {
        let tx = self.poll().expect("a request");
        produce_request(&tx);
        tx
    }

    /// Metadata as `cluster`, then a producer id: what every producer does before its first Produce.
    fn connect(&mut self, cluster: MetadataResponse, epoch: i16) {
        self.cluster = cluster;
        let tx = self.poll().expect("InitProducerId");
        init_producer_id_request(&tx);
        self.reply(&tx, producer_id(PID, epoch));
    }

    /// Metadata only: for producers without idempotence.
    fn connect_without_idempotence(&mut self, cluster: MetadataResponse) {
        self.cluster = cluster;
        let tx = self.poll_raw().expect("metadata request");
        assert!(matches!(tx.request, Request::Metadata(_)));
        self.reply(&tx, Response::Metadata(self.cluster.clone()));
    }

    fn events(&mut self) -> Vec<ProducerEvent> {
        std::iter::from_fn(|| self.machine.poll_event()).collect()
    }

    /// (record ids, partition, base offset) of each delivery, in the order reported.
    fn deliveries(&mut self) -> Vec<(Vec<RecordId>, i32, i64)> {
        self.events()
            .into_iter()
            .map(|event| match event {
                ProducerEvent::Delivered {
                    record_ids,
                    partition,
                    base_offset,
                    ..
                } => (record_ids, partition, base_offset),
                failed => panic!("expected deliveries only, got {failed:?}"),
            })
            .collect()
    }

    /// (record ids, error) of each failure, in the order reported.
    fn failures(&mut self) -> Vec<(Vec<RecordId>, ProduceError)> {
        self.events()
            .into_iter()
            .map(|event| match event {
                ProducerEvent::Failed { record_ids, error } => (record_ids, error),
                delivered => panic!("expected failures only, got {delivered:?}"),
            })
            .collect()
    }

    fn assert_idle(&self) {
        assert_eq!(self.machine.outstanding_records(), 0, "outstanding records");
        assert_eq!(self.machine.buffered_bytes(), 0, "buffered bytes");
    }
}
