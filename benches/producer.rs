//! The sans-IO producer's cost per record, without sockets: `send` of 1000 records of 100 B (no key, so the
//! sticky partitioner spreads batches over 3 partitions; or keyed), then `flush`, every Produce request taken
//! with `poll_transmit` and answered, every delivery event drained. This is the client-side CPU the perf
//! harness's produce scenarios spend outside the kernel and the runtime: partitioning, the topic lookup,
//! copying into the open batch, sealing batches (CRC32C, compression) and settling acknowledgements.
//! Throughput is in records (elements) per second.

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{InitProducerIdResponse, ProduceResponse, ProducerId};
use pipewright::client::config::{ConfigMap, ProducerConfig};
use pipewright::client::producer::{Producer, RecordRef};
use pipewright::protocol::messages::{Request, Response};

const TOPIC: &str = "bench-topic";
const PARTITIONS: i32 = 3;
const RECORDS_PER_ROUND: usize = 1000;
const VALUE_BYTES: usize = 100;

/// The broker's answer to a request: success for every batch of a Produce.
fn answer(request: &Request) -> Response {
    match request {
        Request::Metadata(_) => support::metadata(TOPIC, PARTITIONS),
        Request::InitProducerId(_) => Response::InitProducerId(
            InitProducerIdResponse::default()
                .with_producer_id(ProducerId(7))
                .with_producer_epoch(0),
        ),
        Request::Produce(produce) => Response::Produce(
            ProduceResponse::default().with_responses(
                produce
                    .topic_data
                    .iter()
                    .map(|topic| {
                        TopicProduceResponse::default()
                            .with_name(topic.name.clone())
                            .with_partition_responses(
                                topic
                                    .partition_data
                                    .iter()
                                    .map(|partition| {
                                        PartitionProduceResponse::default()
                                            .with_index(partition.index)
                                            .with_base_offset(0)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        ),
        other => panic!("the bench broker does not answer {other:?}"),
    }
}

/// Answers every request the producer has to send and drops its delivery events.
fn serve(producer: &mut Producer, now: Instant) {
    while let Some(transmit) = producer.poll_transmit(now) {
        let response = answer(&transmit.request);
        producer.handle_response(transmit.broker, transmit.token, Ok(response), now);
    }
    while let Some(event) = producer.poll_event() {
        black_box(event);
    }
}

fn producer(compression: &str) -> Producer {
    let config = ProducerConfig::from_map(ConfigMap::from_pairs([
        ("bootstrap.servers", "bench:9092"),
        ("linger.ms", "5"),
        ("batch.size", "1000000"),
        ("compression.type", compression),
    ]))
    .expect("valid bench config");
    let mut producer = Producer::new(config);
    let now = Instant::now();
    let warm_up = RecordRef {
        topic: TOPIC,
        partition: None,
        key: None,
        value: Some(b"warm-up"),
        headers: &[],
        timestamp_ms: 0,
    };
    producer.send(warm_up, now).expect("accepted");
    producer.flush();
    // Metadata, producer id, then the warm-up record's batch.
    for _ in 0..4 {
        serve(&mut producer, now);
    }
    assert_eq!(
        producer.outstanding_records(),
        0,
        "bench producer not ready"
    );
    producer
}

fn bench_send(c: &mut Criterion) {
    let value = [b'v'; VALUE_BYTES];
    let keys: Vec<String> = (0..RECORDS_PER_ROUND)
        .map(|i| format!("user-{i:08}"))
        .collect();
    let mut group = c.benchmark_group("producer");
    group.throughput(Throughput::Elements(RECORDS_PER_ROUND as u64));
    for (name, compression, keyed) in [
        ("send 100 B, no key, none", "none", false),
        ("send 100 B, no key, lz4", "lz4", false),
        ("send 100 B, keyed, none", "none", true),
    ] {
        let mut producer = producer(compression);
        let mut now = Instant::now();
        group.bench_function(name, |b| {
            b.iter(|| {
                for (i, key) in keys.iter().enumerate() {
                    let record = RecordRef {
                        topic: TOPIC,
                        partition: None,
                        key: keyed.then_some(key.as_bytes()),
                        value: Some(&value),
                        headers: &[],
                        timestamp_ms: 1_700_000_000_000 + i as i64,
                    };
                    producer.send(record, now).expect("accepted");
                }
                producer.flush();
                serve(&mut producer, now);
                // A fake clock that moves, as a real one would between rounds.
                now += Duration::from_micros(100);
            })
        });
        assert_eq!(producer.outstanding_records(), 0);
    }
    group.finish();
}

criterion_group!(benches, bench_send);
criterion_main!(benches);
