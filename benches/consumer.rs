//! The sans-IO consumer's cost per record, without sockets: each round answers the consumer's Fetch with a
//! response of 1000 records of 100 B (no key, 10 batches of 100, as the perf harness's consume scenario
//! reads them), decoded from wire bytes, and drains the `Records` event the way that scenario's loop does
//! (summing value lengths). This is the client-side CPU of consuming outside the kernel and the runtime:
//! decoding the Fetch response, checking each batch's CRC32C, parsing records and handing them out as slices
//! of the fetched buffer. The wire bytes are copied into a fresh buffer each round (standing in for the read
//! from the socket) with the batches' base offsets moved to the consumer's position.
//! Throughput is in records (elements) per second.

mod support;

use std::hint::black_box;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchResponse, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use pipewright::client::config::{ConfigMap, ConsumerConfig};
use pipewright::client::consumer::{Consumer, ConsumerEvent, StartPosition};
use pipewright::client::Transmit;
use pipewright::protocol::messages::{Request, Response};
use pipewright::protocol::record_batch::{BatchOptions, RecordBatchEncoder};

const TOPIC: &str = "bench-topic";
const RECORDS_PER_BATCH: usize = 100;
const BATCHES_PER_FETCH: usize = 10;
const RECORDS_PER_FETCH: usize = RECORDS_PER_BATCH * BATCHES_PER_FETCH;
const VALUE_BYTES: usize = 100;
/// The newest Fetch version the client speaks (flexible encoding, topics by name).
const FETCH_VERSION: i16 = 12;

/// A Fetch response body holding `RECORDS_PER_FETCH` records at offsets 0.., and where in it each batch's
/// base offset sits (the CRC does not cover it, so moving the offsets keeps the batches valid).
fn fetch_response_body() -> (Vec<u8>, Vec<usize>) {
    let value = [b'v'; VALUE_BYTES];
    let mut records = BytesMut::new();
    let mut batch_starts = Vec::new();
    for batch in 0..BATCHES_PER_FETCH {
        let mut encoder = RecordBatchEncoder::new(BatchOptions::default());
        for i in 0..RECORDS_PER_BATCH {
            encoder
                .append(1_700_000_000_000 + i as i64, None, Some(&value), &[])
                .expect("append");
        }
        let encoded = encoder.finish().expect("finish");
        batch_starts.push(records.len());
        let base_offset = (batch * RECORDS_PER_BATCH) as i64;
        records.extend_from_slice(&base_offset.to_be_bytes());
        records.extend_from_slice(&encoded[8..]);
    }
    let records = records.freeze();
    let response = FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
        .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
        .with_partitions(vec![PartitionData::default()
            .with_partition_index(0)
            .with_high_watermark(i64::MAX)
            .with_records(Some(records.clone()))])]);
    let mut body = BytesMut::new();
    response
        .encode(&mut body, FETCH_VERSION)
        .expect("encode fetch response");
    // Where the records sit in the body: the encoder copied them verbatim.
    let at = body
        .windows(records.len())
        .position(|window| window == &records[..])
        .expect("records in the body");
    let offsets = batch_starts.iter().map(|start| at + start).collect();
    (body.to_vec(), offsets)
}

/// A consumer past its metadata request, and its first Fetch request.
fn consumer(check_crcs: bool) -> (Consumer, Transmit) {
    let config = ConsumerConfig::from_map(ConfigMap::from_pairs([
        ("bootstrap.servers", "bench:9092"),
        ("check.crcs", if check_crcs { "true" } else { "false" }),
    ]))
    .expect("valid bench config");
    let mut consumer = Consumer::new(config);
    consumer.assign(vec![(TOPIC.to_owned(), 0, StartPosition::Offset(0))]);
    let now = Instant::now();
    while let Some(transmit) = consumer.poll_transmit(now) {
        match transmit.request {
            Request::Metadata(_) => consumer.handle_response(
                transmit.broker,
                transmit.token,
                Ok(support::metadata(TOPIC, 1)),
                now,
            ),
            Request::Fetch(_) => return (consumer, transmit),
            other => panic!("the bench consumer asked for {other:?} before fetching"),
        }
    }
    panic!("the bench consumer sent no fetch")
}

fn bench_fetch(c: &mut Criterion) {
    let (template, base_offset_at) = fetch_response_body();
    let mut group = c.benchmark_group("consumer");
    group.throughput(Throughput::Elements(RECORDS_PER_FETCH as u64));
    for (name, check_crcs) in [
        ("fetch 100 B, no key, check.crcs=true", true),
        ("fetch 100 B, no key, check.crcs=false", false),
    ] {
        let (mut consumer, mut pending) = consumer(check_crcs);
        let now = Instant::now();
        let mut position = 0i64;
        group.bench_function(name, |b| {
            b.iter(|| {
                let Request::Fetch(_) = &pending.request else {
                    panic!("expected a fetch, got {:?}", pending.request);
                };
                let mut wire = BytesMut::from(&template[..]);
                for (batch, at) in base_offset_at.iter().enumerate() {
                    let base = position + (batch * RECORDS_PER_BATCH) as i64;
                    wire[*at..*at + 8].copy_from_slice(&base.to_be_bytes());
                }
                let mut body: Bytes = wire.freeze();
                let response = Response::decode_body(ApiKey::Fetch, &mut body, FETCH_VERSION)
                    .expect("decode fetch response");
                consumer.handle_response(pending.broker, pending.token, Ok(response), now);
                let mut bytes = 0u64;
                let mut records = 0usize;
                while let Some(event) = consumer.poll_event() {
                    if let ConsumerEvent::Records { records: batch, .. } = event {
                        records += batch.len();
                        bytes += batch
                            .iter()
                            .map(|r| r.value.as_ref().map_or(0, |v| v.len()) as u64)
                            .sum::<u64>();
                    }
                }
                assert_eq!(
                    records, RECORDS_PER_FETCH,
                    "every fetched record handed out"
                );
                black_box(bytes);
                position += RECORDS_PER_FETCH as i64;
                pending = consumer.poll_transmit(now).expect("the next fetch");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_fetch);
criterion_main!(benches);
