//! The pipewright side: each role runs in its own child process on pipewright's own runtime.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
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
    if spec.defaults {
        // acks=all and idempotence are the defaults; nothing else is set.
        let map = ConfigMap::from_pairs([("bootstrap.servers", spec.broker.clone())]);
        return Ok(ProducerConfig::from_map(map)?);
    }
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
    if matches!(spec.kind, Kind::Fill | Kind::FillJson) {
        let backend = AnyBackend::choose(IoChoice::Auto).map_err(anyhow::Error::msg)?;
        return backend.block_on(fill(spec.clone()))?;
    }
    let backend = AnyBackend::choose(IoChoice::Auto).map_err(anyhow::Error::msg)?;
    let spec = spec.clone();
    backend.block_on(async move {
        match spec.kind {
            Kind::Produce => produce(&spec).await,
            Kind::Latency => latency(&spec).await,
            Kind::Consume => consume(&spec).await,
            Kind::Probe => crate::e2e::probe(&spec).await,
            _ => anyhow::bail!("pipewright does not run the {:?} role", spec.kind),
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

/// Fills `spec.topic` with `spec.records` records, record n to partition n % partitions: `Fill` with
/// `record_bytes` of JSON-ish text and no key, `FillJson` with the pipeline scenario's JSON values keyed by n.
async fn fill(spec: Spec) -> anyhow::Result<ChildResult> {
    let producer = Producer::new(producer_config(&spec, 5)?);
    let json = spec.kind == Kind::FillJson;
    let mut value = if json {
        Vec::new()
    } else {
        payload_template(spec.record_bytes)
    };
    let mut key = String::new();
    for n in 0..spec.records {
        if json {
            crate::pipeline::write_source_value(n, &mut value);
            key.clear();
            let _ = write!(key, "{n}");
        } else {
            stamp(&mut value, n);
        }
        producer
            .send_counted(RecordRef {
                topic: &spec.topic,
                partition: Some((n % spec.partitions as u64) as i32),
                key: json.then_some(key.as_bytes()),
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
