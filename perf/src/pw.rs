//! The pipewright side: each role runs in its own child process on pipewright's own runtime.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use pipewright::client::config::{ConfigMap, ConsumerConfig, ProducerConfig};
use pipewright::client::consumer::{ConsumerEvent, StartPosition};
use pipewright::client::producer::{RecordRef, TIMESTAMP_ON_SEND};
use pipewright::runtime::backend::{AnyBackend, IoChoice};
use pipewright::runtime::{Consumer, Producer};

use crate::spec::{payload_template, process_cpu_ns, stamp, ChildResult, Kind, Spec};

fn producer_config(spec: &Spec, linger_ms: u64) -> anyhow::Result<ProducerConfig> {
    let map = ConfigMap::from_pairs([
        ("bootstrap.servers", spec.broker.clone()),
        ("acks", "all".into()),
        ("enable.idempotence", "true".into()),
        ("linger.ms", linger_ms.to_string()),
        ("batch.size", crate::BATCH_SIZE_BYTES.to_string()),
        ("compression.type", spec.compression.clone()),
    ]);
    Ok(ProducerConfig::from_map(map)?)
}

fn consumer_config(spec: &Spec) -> anyhow::Result<ConsumerConfig> {
    let map = ConfigMap::from_pairs([
        ("bootstrap.servers", spec.broker.clone()),
        ("auto.offset.reset", "earliest".to_string()),
    ]);
    Ok(ConsumerConfig::from_map(map)?)
}

pub fn run(spec: &Spec) -> anyhow::Result<ChildResult> {
    match spec.kind {
        Kind::Pipeline => return pipeline(spec),
        Kind::Fill => {
            let backend = AnyBackend::choose(IoChoice::Auto).map_err(anyhow::Error::msg)?;
            return backend.block_on(fill(spec.clone()))?;
        }
        _ => {}
    }
    let backend = AnyBackend::choose(IoChoice::Auto).map_err(anyhow::Error::msg)?;
    let spec = spec.clone();
    backend.block_on(async move {
        match spec.kind {
            Kind::Produce => produce(&spec).await,
            Kind::Latency => latency(&spec).await,
            Kind::Consume => consume(&spec).await,
            _ => unreachable!(),
        }
    })?
}

/// Sends one record and waits for it: connections, metadata and the producer id are set up before timing.
async fn warm_up(producer: &Producer, topic: &str) -> anyhow::Result<()> {
    let delivery = producer
        .send(RecordRef {
            topic,
            partition: None,
            key: None,
            value: Some(b"warm-up"),
            headers: &[],
            timestamp_ms: TIMESTAMP_ON_SEND,
        })
        .await?;
    delivery.await.context("warm-up record")?;
    Ok(())
}

async fn produce(spec: &Spec) -> anyhow::Result<ChildResult> {
    let producer = Producer::new(producer_config(spec, spec.linger_ms)?);
    warm_up(&producer, &spec.topic).await?;
    let mut value = payload_template(spec.record_bytes);
    let (start, cpu_start) = (Instant::now(), process_cpu_ns());
    for n in 0..spec.records {
        stamp(&mut value, n);
        producer
            .send_counted(RecordRef {
                topic: &spec.topic,
                partition: None,
                key: None,
                value: Some(&value),
                headers: &[],
                timestamp_ms: TIMESTAMP_ON_SEND,
            })
            .await?;
    }
    let stats = producer.flush().await;
    let result = ChildResult {
        records: stats.delivered - 1,
        failed: stats.failed,
        elapsed_ns: start.elapsed().as_nanos() as u64,
        cpu_window_ns: process_cpu_ns() - cpu_start,
    };
    producer.close().await;
    Ok(result)
}

async fn latency(spec: &Spec) -> anyhow::Result<ChildResult> {
    let producer = Producer::new(producer_config(spec, spec.linger_ms)?);
    warm_up(&producer, &spec.topic).await?;
    let histogram = Rc::new(RefCell::new(Histogram::<u64>::new(3)?));
    let done = Rc::new(Cell::new(0u64));
    let failed = Rc::new(Cell::new(0u64));
    let mut value = payload_template(spec.record_bytes);
    let (start, cpu_start) = (Instant::now(), process_cpu_ns());
    let mut sent = 0u64;
    while sent < spec.records {
        let due = (start.elapsed().as_nanos() as u64 * spec.rate_per_s / 1_000_000_000 + 1)
            .min(spec.records);
        while sent < due {
            stamp(&mut value, sent);
            let sent_at = Instant::now();
            let delivery = producer
                .send(RecordRef {
                    topic: &spec.topic,
                    partition: None,
                    key: None,
                    value: Some(&value),
                    headers: &[],
                    timestamp_ms: TIMESTAMP_ON_SEND,
                })
                .await?;
            let (histogram, done, failed) = (histogram.clone(), done.clone(), failed.clone());
            tokio::task::spawn_local(async move {
                match delivery.await {
                    Ok(_) => {
                        let us = sent_at.elapsed().as_micros() as u64;
                        histogram.borrow_mut().record(us.max(1)).ok();
                    }
                    Err(_) => failed.set(failed.get() + 1),
                }
                done.set(done.get() + 1);
            });
            sent += 1;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    producer.flush().await;
    while done.get() < spec.records {
        tokio::task::yield_now().await;
    }
    let result = ChildResult {
        records: spec.records - failed.get(),
        failed: failed.get(),
        elapsed_ns: start.elapsed().as_nanos() as u64,
        cpu_window_ns: process_cpu_ns() - cpu_start,
    };
    crate::write_histogram(&histogram.borrow(), &spec.histogram_path)?;
    producer.close().await;
    Ok(result)
}

async fn consume(spec: &Spec) -> anyhow::Result<ChildResult> {
    let consumer = Consumer::new(consumer_config(spec)?);
    let (start, cpu_start) = (Instant::now(), process_cpu_ns());
    consumer.assign_topic_all_partitions(&spec.topic, StartPosition::Earliest);
    let (mut records, mut bytes) = (0u64, 0u64);
    while records < spec.records {
        match consumer.recv().await {
            ConsumerEvent::Records { records: batch, .. } => {
                records += batch.len() as u64;
                bytes += batch
                    .iter()
                    .map(|r| r.value.as_ref().map_or(0, |v| v.len()) as u64)
                    .sum::<u64>();
            }
            ConsumerEvent::PartitionEof { .. } => {}
            ConsumerEvent::Error { error, .. } => anyhow::bail!("consume failed: {error}"),
        }
    }
    std::hint::black_box(bytes);
    let result = ChildResult {
        records,
        failed: 0,
        elapsed_ns: start.elapsed().as_nanos() as u64,
        cpu_window_ns: process_cpu_ns() - cpu_start,
    };
    consumer.close().await;
    Ok(result)
}

/// Fills `spec.topic` with `spec.records` records, record n to partition n % partitions.
async fn fill(spec: Spec) -> anyhow::Result<ChildResult> {
    let producer = Producer::new(producer_config(&spec, 5)?);
    let mut value = payload_template(spec.record_bytes);
    for n in 0..spec.records {
        stamp(&mut value, n);
        producer
            .send_counted(RecordRef {
                topic: &spec.topic,
                partition: Some((n % spec.partitions as u64) as i32),
                key: None,
                value: Some(&value),
                headers: &[],
                timestamp_ms: TIMESTAMP_ON_SEND,
            })
            .await?;
    }
    let stats = producer.close().await;
    anyhow::ensure!(
        stats.failed == 0,
        "filling {} failed: {:?}",
        spec.topic,
        stats.first_error
    );
    Ok(ChildResult {
        records: stats.delivered,
        ..ChildResult::default()
    })
}

/// The three transforms of the pipeline scenario, each writing into `out` (no allocation per record):
/// mask digits (like MaskField), upper-case ASCII (a value rewrite), append a routing suffix (InsertField-ish).
fn transform(value: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend(
        value
            .iter()
            .map(|b| if b.is_ascii_digit() { b'#' } else { *b }),
    );
    out.make_ascii_uppercase();
    out.extend_from_slice(b" |via=pipewright");
}

/// kafka → 3 transforms → kafka on `spec.cores` threads, each with its own runtime, consumer and producer,
/// owning partitions p with p % cores == its index — what `engine --cores N` does, emulated with the library.
fn pipeline(spec: &Spec) -> anyhow::Result<ChildResult> {
    let cpu_start = process_cpu_ns();
    let start = Instant::now();
    let threads: Vec<_> = (0..spec.cores)
        .map(|core| {
            let spec = spec.clone();
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let backend = AnyBackend::choose(IoChoice::Auto).map_err(anyhow::Error::msg)?;
                backend.block_on(pipeline_core(spec, core))?
            })
        })
        .collect();
    let mut records = 0;
    for thread in threads {
        records += thread.join().expect("pipeline thread panicked")?;
    }
    Ok(ChildResult {
        records,
        failed: 0,
        elapsed_ns: start.elapsed().as_nanos() as u64,
        cpu_window_ns: process_cpu_ns() - cpu_start,
    })
}

async fn pipeline_core(spec: Spec, core: usize) -> anyhow::Result<u64> {
    let owned: Vec<i32> = (0..spec.partitions)
        .filter(|p| *p as usize % spec.cores == core)
        .collect();
    let per_partition = spec.records / spec.partitions as u64;
    let target = per_partition * owned.len() as u64;
    let consumer = Consumer::new(consumer_config(&spec)?);
    consumer.assign(
        owned
            .iter()
            .map(|p| (spec.topic.clone(), *p, StartPosition::Earliest))
            .collect(),
    );
    let producer = Producer::new(producer_config(&spec, spec.linger_ms)?);
    let mut out = Vec::with_capacity(spec.record_bytes + 64);
    let mut records = 0u64;
    while records < target {
        match consumer.recv().await {
            ConsumerEvent::Records {
                partition,
                records: batch,
                ..
            } => {
                for record in &batch {
                    transform(record.value.as_deref().unwrap_or_default(), &mut out);
                    producer
                        .send_counted(RecordRef {
                            topic: &spec.sink_topic,
                            partition: Some(partition),
                            key: record.key.as_deref(),
                            value: Some(&out),
                            headers: &[],
                            timestamp_ms: record.timestamp,
                        })
                        .await?;
                }
                records += batch.len() as u64;
            }
            ConsumerEvent::PartitionEof { .. } => {}
            ConsumerEvent::Error { error, .. } => anyhow::bail!("pipeline consume failed: {error}"),
        }
    }
    let stats = producer.close().await;
    consumer.close().await;
    anyhow::ensure!(
        stats.failed == 0,
        "pipeline produce failed: {:?}",
        stats.first_error
    );
    Ok(records)
}
