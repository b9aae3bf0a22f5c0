//! The consumer driven by scripted broker replies, with simulated time.

mod errors;
mod fetching;
mod start_positions;
mod transactions;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{
    BrokerId as NodeId, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse,
};
use kafka_protocol::messages::{MetadataResponse, ProducerId};

use super::*;
use crate::client::config::ConfigMap;
use crate::client::testing::{self, with_leader_epoch, ScriptedBroker};
use crate::client::BrokerId;
use crate::client::TransportError;
use crate::protocol::compression::Compression;
use crate::protocol::record_batch::{
    encode_control_batch, BatchOptions, ControlBatch, ControlRecordType, RecordBatchEncoder,
};
use crate::protocol::{Request, Response};

const TOPIC: &str = "t";

fn config(pairs: &[(&str, &str)]) -> ConsumerConfig {
    let mut map = ConfigMap::from_pairs([("bootstrap.servers", "boot:9092")]);
    for (key, value) in pairs {
        map.set(*key, *value);
    }
    ConsumerConfig::from_map(map).expect("valid test config")
}

/// Brokers 1 (`h1:9092`) and 2 (`h2:9093`).
const BROKERS: [(BrokerId, &str, i32); 2] = [(1, "h1", 9092), (2, "h2", 9093)];

/// Metadata naming brokers 1 and 2 and `TOPIC` with one partition per leader given (leader epoch 5).
fn metadata(leaders: &[i32]) -> MetadataResponse {
    with_leader_epoch(testing::metadata(&BROKERS, &[(TOPIC, leaders)]), 5)
}

fn metadata_topic_error(error: ResponseError) -> MetadataResponse {
    testing::topic_error(&[], TOPIC, error)
}

/// Plain records with the given values at `base_offset`, `base_offset + 1`, …
fn batch(base_offset: i64, values: &[&str]) -> Bytes {
    batch_with(base_offset, BatchOptions::default(), values)
}

fn batch_with(base_offset: i64, options: BatchOptions, values: &[&str]) -> Bytes {
    let mut encoder = RecordBatchEncoder::new(options);
    for (i, value) in values.iter().enumerate() {
        encoder
            .append(1_000 + i as i64, None, Some(value.as_bytes()), &[])
            .expect("append");
    }
    at_offset(encoder.finish().expect("finish"), base_offset)
}

fn txn_batch(base_offset: i64, producer_id: i64, values: &[&str]) -> Bytes {
    let options = BatchOptions {
        producer_id,
        producer_epoch: 0,
        base_sequence: 0,
        is_transactional: true,
        ..BatchOptions::default()
    };
    batch_with(base_offset, options, values)
}

fn marker(offset: i64, producer_id: i64, marker: ControlRecordType) -> Bytes {
    let batch = encode_control_batch(&ControlBatch {
        producer_id,
        producer_epoch: 0,
        marker,
        coordinator_epoch: 0,
        timestamp_ms: 2_000,
    })
    .expect("control batch");
    at_offset(batch, offset)
}

/// The encoder writes base offset 0 (the broker assigns offsets); the CRC does not cover it.
fn at_offset(batch: Bytes, base_offset: i64) -> Bytes {
    let mut bytes = BytesMut::from(&batch[..]);
    bytes[..8].copy_from_slice(&base_offset.to_be_bytes());
    bytes.freeze()
}

fn concat(parts: &[Bytes]) -> Bytes {
    let mut out = BytesMut::new();
    for part in parts {
        out.extend_from_slice(part);
    }
    out.freeze()
}

fn data(partition: i32, high_watermark: i64, records: Bytes) -> PartitionData {
    PartitionData::default()
        .with_partition_index(partition)
        .with_high_watermark(high_watermark)
        .with_records(Some(records))
}

fn data_error(partition: i32, error: ResponseError) -> PartitionData {
    PartitionData::default()
        .with_partition_index(partition)
        .with_error_code(error.code())
        .with_records(None)
}

fn fetch_response(partitions: Vec<PartitionData>) -> Response {
    Response::Fetch(
        FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
            .with_topic(topic_name(TOPIC))
            .with_partitions(partitions)]),
    )
}

fn list_offsets_response(partitions: &[(i32, Option<ResponseError>, i64)]) -> Response {
    Response::ListOffsets(ListOffsetsResponse::default().with_topics(
        vec![ListOffsetsTopicResponse::default()
            .with_name(topic_name(TOPIC))
            .with_partitions(
                partitions
                    .iter()
                    .map(|(partition, error, offset)| {
                        ListOffsetsPartitionResponse::default()
                            .with_partition_index(*partition)
                            .with_error_code(error.map_or(0, |e| e.code()))
                            .with_offset(*offset)
                    })
                    .collect(),
            )],
    ))
}

/// A consumer against the scripted broker; each test answers its metadata refreshes itself.
type Harness = ScriptedBroker<Consumer>;

impl Harness {
    fn consumer(pairs: &[(&str, &str)]) -> Self {
        ScriptedBroker::new(Consumer::new(config(pairs)), metadata(&[]))
    }

    /// A consumer that assigned `assignments` and learned `leaders` from its first metadata refresh.
    fn started(
        pairs: &[(&str, &str)],
        assignments: &[(i32, StartPosition)],
        leaders: &[i32],
    ) -> Self {
        let mut h = Self::consumer(pairs);
        h.machine.assign(
            assignments
                .iter()
                .map(|(p, start)| (TOPIC.to_owned(), *p, *start))
                .collect(),
        );
        let tx = h.expect_transmit();
        assert!(matches!(tx.request, Request::Metadata(_)), "{tx:?}");
        h.reply(&tx, Ok(Response::Metadata(metadata(leaders))));
        h
    }

    fn transmit(&mut self) -> Option<Transmit> {
        self.poll_raw()
    }

    fn expect_transmit(&mut self) -> Transmit {
        self.transmit().expect("a request to send")
    }

    fn expect_fetch(&mut self) -> (Transmit, FetchRequest) {
        let tx = self.expect_transmit();
        match &tx.request {
            Request::Fetch(request) => {
                let request = request.clone();
                (tx, request)
            }
            other => panic!("expected Fetch, got {other:?}"),
        }
    }

    fn expect_list_offsets(&mut self) -> (Transmit, ListOffsetsRequest) {
        let tx = self.expect_transmit();
        match &tx.request {
            Request::ListOffsets(request) => {
                let request = request.clone();
                (tx, request)
            }
            other => panic!("expected ListOffsets, got {other:?}"),
        }
    }

    fn events(&mut self) -> Vec<ConsumerEvent> {
        std::iter::from_fn(|| self.machine.poll_event()).collect()
    }

    /// A consumer with `config` reading partition 0 (leader 1) from offset 0, whose first Fetch is answered
    /// with `records` (high watermark 10); returns it and the events that answer produced.
    fn after_one_fetch(config: &[(&str, &str)], records: Bytes) -> (Self, Vec<ConsumerEvent>) {
        let mut h = Harness::started(config, &[(0, StartPosition::Offset(0))], &[1]);
        let (tx, _) = h.expect_fetch();
        h.reply(&tx, Ok(fetch_response(vec![data(0, 10, records)])));
        let events = h.events();
        (h, events)
    }

    /// Answers a metadata refresh, which must be the next request.
    fn refresh_metadata(&mut self, leaders: &[i32]) {
        let tx = self.expect_transmit();
        assert!(matches!(tx.request, Request::Metadata(_)), "{tx:?}");
        self.reply(&tx, Ok(Response::Metadata(metadata(leaders))));
    }
}

/// (offset, value) of every delivered record, in event order.
fn delivered(events: &[ConsumerEvent]) -> Vec<(i64, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            ConsumerEvent::Records { records, .. } => Some(records),
            _ => None,
        })
        .flatten()
        .map(|r| {
            let value = r.value.as_deref().unwrap_or_default();
            (r.offset, String::from_utf8_lossy(value).into_owned())
        })
        .collect()
}

fn values(events: &[ConsumerEvent]) -> Vec<String> {
    delivered(events).into_iter().map(|(_, v)| v).collect()
}

fn eofs(events: &[ConsumerEvent]) -> Vec<(i32, i64)> {
    events
        .iter()
        .filter_map(|e| match e {
            ConsumerEvent::PartitionEof {
                partition, offset, ..
            } => Some((*partition, *offset)),
            _ => None,
        })
        .collect()
}

fn errors(events: &[ConsumerEvent]) -> Vec<(Option<i32>, &ConsumerError)> {
    events
        .iter()
        .filter_map(|e| match e {
            ConsumerEvent::Error {
                partition, error, ..
            } => Some((*partition, error)),
            _ => None,
        })
        .collect()
}

fn fetch_offsets(request: &FetchRequest) -> Vec<(i32, i64)> {
    request
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| (p.partition, p.fetch_offset))
        .collect()
}

fn list_timestamps(request: &ListOffsetsRequest) -> Vec<(i32, i64)> {
    request
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| (p.partition_index, p.timestamp))
        .collect()
}
