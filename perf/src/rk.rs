//! The librdkafka side, through the `rdkafka` crate (bundled librdkafka): the same roles, the idiomatic way
//! (BaseProducer + poll for delivery reports, BaseConsumer + poll).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::spec::{payload_template, process_cpu_ns, stamp, ChildResult, Kind, Spec};

#[derive(Default)]
struct Reports {
    delivered: AtomicU64,
    failed: AtomicU64,
    histogram: Option<Mutex<Histogram<u64>>>,
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    /// Nanoseconds from [`epoch`] to the send, for latency runs (0: not timed).
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at_ns: usize) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                if let (Some(histogram), true) = (&self.histogram, sent_at_ns != 0) {
                    let us = (since_epoch_ns() - sent_at_ns) as u64 / 1000;
                    histogram.lock().unwrap().record(us.max(1)).ok();
                }
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn since_epoch_ns() -> usize {
    epoch().elapsed().as_nanos() as usize + 1
}

fn producer(spec: &Spec, reports: Reports) -> anyhow::Result<BaseProducer<Reports>> {
    let compression = if spec.compression == "none" {
        "none"
    } else {
        &spec.compression
    };
    if spec.defaults {
        // librdkafka's defaults (acks=all, linger.ms=5, batch.size=1000000), idempotent like pipewright's.
        return Ok(ClientConfig::new()
            .set("bootstrap.servers", &spec.broker)
            .set("enable.idempotence", "true")
            .create_with_context(reports)?);
    }
    Ok(ClientConfig::new()
        .set("bootstrap.servers", &spec.broker)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", spec.linger_ms.to_string())
        .set("batch.size", crate::BATCH_SIZE_BYTES.to_string())
        .set("compression.type", compression)
        .create_with_context(reports)?)
}

/// Sends, serving delivery reports while librdkafka's queue is full.
fn send(
    producer: &BaseProducer<Reports>,
    mut record: BaseRecord<'_, (), [u8], usize>,
) -> anyhow::Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(1));
            }
            Err((e, _)) => anyhow::bail!("librdkafka send: {e}"),
        }
    }
}

fn warm_up(producer: &BaseProducer<Reports>, topic: &str) -> anyhow::Result<()> {
    send(
        producer,
        BaseRecord::with_opaque_to(topic, 0).payload(&b"warm-up"[..]),
    )?;
    producer.flush(Duration::from_secs(30))?;
    anyhow::ensure!(
        producer.context().delivered.load(Ordering::Relaxed) == 1,
        "warm-up record not delivered"
    );
    Ok(())
}

pub fn run(spec: &Spec) -> anyhow::Result<ChildResult> {
    match spec.kind {
        Kind::Produce => produce(spec),
        Kind::Latency => latency(spec),
        Kind::Consume => consume(spec),
        Kind::Relay => relay(spec),
        Kind::Fill | Kind::FillJson | Kind::Probe => {
            anyhow::bail!("librdkafka does not run this role")
        }
    }
}

fn produce(spec: &Spec) -> anyhow::Result<ChildResult> {
    let producer = producer(spec, Reports::default())?;
    warm_up(&producer, &spec.topic)?;
    let mut value = payload_template(spec.record_bytes);
    let (start, cpu_start) = (Instant::now(), process_cpu_ns());
    for n in 0..spec.records {
        stamp(&mut value, n);
        send(
            &producer,
            BaseRecord::with_opaque_to(&spec.topic, 0).payload(&value[..]),
        )?;
        if n % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(120))?;
    let reports = producer.context();
    Ok(ChildResult {
        records: reports.delivered.load(Ordering::Relaxed) - 1,
        failed: reports.failed.load(Ordering::Relaxed),
        elapsed_ns: start.elapsed().as_nanos() as u64,
        cpu_window_ns: process_cpu_ns() - cpu_start,
    })
}

fn latency(spec: &Spec) -> anyhow::Result<ChildResult> {
    let producer = producer(
        spec,
        Reports {
            histogram: Some(Mutex::new(Histogram::new(3)?)),
            ..Reports::default()
        },
    )?;
    epoch();
    warm_up(&producer, &spec.topic)?;
    let mut value = payload_template(spec.record_bytes);
    let (start, cpu_start) = (Instant::now(), process_cpu_ns());
    let mut sent = 0u64;
    while sent < spec.records {
        let due = (start.elapsed().as_nanos() as u64 * spec.rate_per_s / 1_000_000_000 + 1)
            .min(spec.records);
        while sent < due {
            stamp(&mut value, sent);
            let record =
                BaseRecord::with_opaque_to(&spec.topic, since_epoch_ns()).payload(&value[..]);
            send(&producer, record)?;
            sent += 1;
        }
        // Serves delivery reports as they come, and paces the sender like the pipewright side's sleep.
        producer.poll(Duration::from_micros(200));
    }
    producer.flush(Duration::from_secs(120))?;
    let reports = producer.context();
    let result = ChildResult {
        records: reports.delivered.load(Ordering::Relaxed) - 1,
        failed: reports.failed.load(Ordering::Relaxed),
        elapsed_ns: start.elapsed().as_nanos() as u64,
        cpu_window_ns: process_cpu_ns() - cpu_start,
    };
    let histogram = reports.histogram.as_ref().unwrap().lock().unwrap();
    crate::write_histogram(&histogram, &spec.histogram_path)?;
    Ok(result)
}

fn consume(spec: &Spec) -> anyhow::Result<ChildResult> {
    let (start, cpu_start) = (Instant::now(), process_cpu_ns());
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &spec.broker)
        .set("group.id", "perf-librdkafka")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..spec.partitions {
        assignment.add_partition_offset(&spec.topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let (mut records, mut bytes) = (0u64, 0u64);
    while records < spec.records {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                records += 1;
                bytes += message.payload().map_or(0, |v| v.len()) as u64;
            }
            Some(Err(e)) => anyhow::bail!("librdkafka consume: {e}"),
            None => {}
        }
    }
    std::hint::black_box(bytes);
    Ok(ChildResult {
        records,
        failed: 0,
        elapsed_ns: start.elapsed().as_nanos() as u64,
        cpu_window_ns: process_cpu_ns() - cpu_start,
    })
}

/// librdkafka's consume → produce loop, the way a user writes one: a group consumer on `topic` from the end,
/// every record produced to `sink_topic` as it arrives, delivery reports served between polls. Runs until
/// `records` records went through or the parent kills it.
fn relay(spec: &Spec) -> anyhow::Result<ChildResult> {
    let producer = producer(spec, Reports::default())?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &spec.broker)
        .set("group.id", format!("perf-relay-{}", std::process::id()))
        .set("auto.offset.reset", "latest")
        .create()?;
    consumer.subscribe(&[&spec.topic])?;
    let (start, cpu_start) = (Instant::now(), process_cpu_ns());
    let mut relayed = 0u64;
    while relayed < spec.records {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let mut record = BaseRecord::with_opaque_to(&spec.sink_topic, 0);
                if let Some(payload) = message.payload() {
                    record = record.payload(payload);
                }
                send(&producer, record)?;
                relayed += 1;
            }
            Some(Err(e)) => anyhow::bail!("librdkafka relay consume: {e}"),
            None => {}
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(ChildResult {
        records: relayed,
        failed: producer.context().failed.load(Ordering::Relaxed),
        elapsed_ns: start.elapsed().as_nanos() as u64,
        cpu_window_ns: process_cpu_ns() - cpu_start,
    })
}
