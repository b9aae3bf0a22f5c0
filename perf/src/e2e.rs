//! End-to-end latency of a relay — an engine pipeline Kafka → Kafka, or librdkafka's consume → produce loop —
//! at a fixed rate, each tool at its defaults (and the tuned settings beside them).
//!
//! A probe child sends stamped records to topic A at the rate and reads them back twice: from A itself (the
//! direct produce → consume path, the baseline) and from B, where the relay copies them. Both latencies come
//! from the probe's own clock, so no clocks are compared across processes; what the relay adds is B's latency
//! minus A's, percentile by percentile.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use pipewright::client::config::{ConfigMap, ConsumerConfig, ProducerConfig};
use pipewright::client::consumer::{ConsumerEvent, StartPosition};
use pipewright::client::producer::{RecordRef, TIMESTAMP_ON_SEND};
use pipewright::runtime::{Consumer, Producer};

use crate::broker::Broker;
use crate::spec::{process_cpu_ns, ChildResult, Client, Kind, Spec};

/// Record values: a marker byte, the sequence number, the send instant (ns since the probe started), padding.
const VALUE_BYTES: usize = 100;
const WARM_UP: u8 = b'W';
const MEASURED: u8 = b'M';

/// What copies A to B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relay {
    /// `engine --config pipelines.toml`, Kafka source → Kafka sink, no profile and no client keys.
    Engine,
    /// The same with `profile = "latency"`.
    EngineLatencyProfile,
    /// librdkafka consume → produce at its defaults (linger.ms 5), idempotent.
    Librdkafka,
    /// The same with linger.ms=0.
    LibrdkafkaLinger0,
}

impl Relay {
    pub const ALL: [Relay; 4] = [
        Relay::Engine,
        Relay::EngineLatencyProfile,
        Relay::Librdkafka,
        Relay::LibrdkafkaLinger0,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Relay::Engine => "engine, defaults",
            Relay::EngineLatencyProfile => "engine, profile=latency",
            Relay::Librdkafka => "librdkafka loop, defaults",
            Relay::LibrdkafkaLinger0 => "librdkafka loop, linger.ms=0",
        }
    }
}

/// One relay at one rate: the probe's two histograms (µs).
pub struct E2eRun {
    pub relay: Relay,
    pub rate_per_s: u64,
    pub records: u64,
    pub direct: Histogram<u64>,
    pub through: Histogram<u64>,
}

impl E2eRun {
    /// What the relay adds at percentile `q`: B's latency minus A's, in µs (never below 0).
    pub fn added_us(&self, q: f64) -> u64 {
        self.through
            .value_at_percentile(q)
            .saturating_sub(self.direct.value_at_percentile(q))
    }
}

fn encode(kind: u8, seq: u64, sent_ns: u64) -> [u8; VALUE_BYTES] {
    let mut value = [b'.'; VALUE_BYTES];
    value[0] = kind;
    value[1..9].copy_from_slice(&seq.to_le_bytes());
    value[9..17].copy_from_slice(&sent_ns.to_le_bytes());
    value
}

fn decode(value: &[u8]) -> Option<(u8, u64, u64)> {
    let seq = u64::from_le_bytes(value.get(1..9)?.try_into().ok()?);
    let sent_ns = u64::from_le_bytes(value.get(9..17)?.try_into().ok()?);
    Some((*value.first()?, seq, sent_ns))
}

/// Counts and latencies of what one consumer of the probe read.
#[derive(Default)]
struct Arrivals {
    measured: Cell<u64>,
    warm_up_seen: Cell<bool>,
    histogram: RefCell<Option<Histogram<u64>>>,
}

/// Reads `consumer` until the probe ends, recording each measured record's latency.
async fn read_arrivals(consumer: Rc<Consumer>, arrivals: Rc<Arrivals>, epoch: Instant) {
    loop {
        match consumer.recv().await {
            ConsumerEvent::Records { records, .. } => {
                let now_ns = epoch.elapsed().as_nanos() as u64;
                for record in records.iter() {
                    let Some((kind, _, sent_ns)) = record.value.as_deref().and_then(decode) else {
                        continue;
                    };
                    match kind {
                        WARM_UP => arrivals.warm_up_seen.set(true),
                        MEASURED => {
                            let us = now_ns.saturating_sub(sent_ns) / 1000;
                            if let Some(h) = arrivals.histogram.borrow_mut().as_mut() {
                                h.saturating_record(us.max(1));
                            }
                            arrivals.measured.set(arrivals.measured.get() + 1);
                        }
                        _ => {}
                    }
                }
            }
            ConsumerEvent::PartitionEof { .. } => {}
            ConsumerEvent::Error { error, .. } => {
                eprintln!("  probe consumer: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The probe child (pipewright's client, linger.ms=0 so its own sends add as little as they can; the same for
/// every relay, and in the baseline).
pub async fn probe(spec: &Spec) -> anyhow::Result<ChildResult> {
    let producer = Producer::new(ProducerConfig::from_map(ConfigMap::from_pairs([
        ("bootstrap.servers", spec.broker.as_str()),
        ("linger.ms", "0"),
    ]))?);
    let consumer = || -> anyhow::Result<Rc<Consumer>> {
        Ok(Rc::new(Consumer::new(ConsumerConfig::from_map(
            ConfigMap::from_pairs([("bootstrap.servers", spec.broker.as_str())]),
        )?)))
    };
    let (direct, through) = (consumer()?, consumer()?);
    direct.assign_topic_all_partitions(&spec.topic, StartPosition::Latest);
    through.assign_topic_all_partitions(&spec.sink_topic, StartPosition::Latest);
    let epoch = Instant::now();
    let direct_arrivals = Rc::new(Arrivals::default());
    let through_arrivals = Rc::new(Arrivals::default());
    let readers = [
        tokio::task::spawn_local(read_arrivals(
            direct.clone(),
            direct_arrivals.clone(),
            epoch,
        )),
        tokio::task::spawn_local(read_arrivals(
            through.clone(),
            through_arrivals.clone(),
            epoch,
        )),
    ];
    let send = |kind: u8, seq: u64| {
        let value = encode(kind, seq, epoch.elapsed().as_nanos() as u64);
        let producer = &producer;
        let topic = spec.topic.as_str();
        async move {
            producer
                .send_counted(RecordRef {
                    topic,
                    partition: None,
                    key: None,
                    value: Some(&value),
                    headers: &[],
                    timestamp_ms: TIMESTAMP_ON_SEND,
                })
                .await
        }
    };
    // The relay is ready (its group joined, its producer connected) once it copies a warm-up record.
    let ready_by = Instant::now() + Duration::from_secs(90);
    let mut seq = 0;
    while !through_arrivals.warm_up_seen.get() {
        anyhow::ensure!(
            Instant::now() < ready_by,
            "the relay copied no warm-up record from {} to {} within 90 s",
            spec.topic,
            spec.sink_topic
        );
        send(WARM_UP, seq).await?;
        seq += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the warm-ups drain, then measure from a clean start.
    tokio::time::sleep(Duration::from_millis(500)).await;
    *direct_arrivals.histogram.borrow_mut() = Some(Histogram::new_with_bounds(1, 60_000_000, 3)?);
    *through_arrivals.histogram.borrow_mut() = Some(Histogram::new_with_bounds(1, 60_000_000, 3)?);
    let (start, cpu_start) = (Instant::now(), process_cpu_ns());
    let mut sent = 0u64;
    while sent < spec.records {
        let due = (start.elapsed().as_nanos() as u64 * spec.rate_per_s / 1_000_000_000 + 1)
            .min(spec.records);
        while sent < due {
            send(MEASURED, sent).await?;
            sent += 1;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while (direct_arrivals.measured.get() < spec.records
        || through_arrivals.measured.get() < spec.records)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let result = ChildResult {
        records: through_arrivals.measured.get(),
        failed: spec.records.saturating_sub(through_arrivals.measured.get()),
        elapsed_ns: start.elapsed().as_nanos() as u64,
        cpu_window_ns: process_cpu_ns() - cpu_start,
    };
    for reader in readers {
        reader.abort();
    }
    for (arrivals, suffix) in [(&direct_arrivals, "direct"), (&through_arrivals, "through")] {
        let histogram = arrivals.histogram.borrow();
        let histogram = histogram.as_ref().context("histogram")?;
        crate::write_histogram(histogram, &format!("{}.{suffix}", spec.histogram_path))?;
    }
    producer.close().await;
    Ok(result)
}

/// The pipelines.toml of an engine relay: bytes in, the same bytes out.
fn pipelines_toml(broker: &str, source: &str, sink: &str, latency_profile: bool) -> String {
    let profile = if latency_profile {
        "profile = \"latency\"\n"
    } else {
        ""
    };
    format!(
        r#"[kafka]
"bootstrap.servers" = "{broker}"

[[pipeline]]
name = "relay"
{profile}source = {{ type = "kafka", topics = "{source}", "group.id" = "{sink}-relay", "auto.offset.reset" = "latest" }}
sink = {{ type = "kafka", topic = "{sink}" }}
"key.converter" = "bytearray"
"value.converter" = "bytearray"
"#
    )
}

/// A relay process, stopped when dropped.
struct RelayChild {
    child: Child,
    dir: Option<std::path::PathBuf>,
}

impl Drop for RelayChild {
    fn drop(&mut self) {
        // SAFETY: signals our own child, which has not been waited for yet.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let stop_by = Instant::now() + Duration::from_secs(10);
        while Instant::now() < stop_by {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn start_relay(
    relay: Relay,
    engine: &Path,
    broker: &str,
    a: &str,
    b: &str,
) -> anyhow::Result<RelayChild> {
    match relay {
        Relay::Engine | Relay::EngineLatencyProfile => {
            let dir = std::env::temp_dir().join(format!("perf-e2e-{}-{b}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let config = dir.join("pipelines.toml");
            std::fs::write(
                &config,
                pipelines_toml(broker, a, b, relay == Relay::EngineLatencyProfile),
            )?;
            let child = Command::new(engine)
                .arg("--config")
                .arg(&config)
                .arg("--state-dir")
                .arg(dir.join("state"))
                .arg("--rest-listen")
                .arg(format!("127.0.0.1:{}", crate::broker::free_port()?))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", engine.display()))?;
            Ok(RelayChild {
                child,
                dir: Some(dir),
            })
        }
        Relay::Librdkafka | Relay::LibrdkafkaLinger0 => {
            let spec = Spec {
                records: u64::MAX,
                sink_topic: b.to_owned(),
                defaults: relay == Relay::Librdkafka,
                linger_ms: 0,
                ..crate::base_spec(Client::Librdkafka, Kind::Relay, broker, a)
            };
            let child = Command::new(std::env::current_exe()?)
                .arg("child")
                .args(spec.to_args())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()?;
            Ok(RelayChild { child, dir: None })
        }
    }
}

/// Every relay at 1 000 and 50 000 records/s of 100 B, ten seconds each (times `scale`).
pub fn run(broker_option: Option<&str>, scale: f64, out: &Path) -> anyhow::Result<Vec<E2eRun>> {
    let engine = crate::engine_binary()?;
    let mut runs = Vec::new();
    for rate_per_s in [1_000u64, 50_000] {
        let records = ((rate_per_s as f64 * 10.0 * scale) as u64).max(1000);
        eprintln!("end-to-end latency: {records} records of {VALUE_BYTES} B at {rate_per_s}/s through each relay");
        for relay in Relay::ALL {
            let broker = Broker::start(broker_option)?;
            let id = format!("{}-{rate_per_s}-{relay:?}", std::process::id()).to_lowercase();
            let (a, b) = (format!("perf-e2e-a-{id}"), format!("perf-e2e-b-{id}"));
            crate::create_topic(&broker.address, &a, 3)?;
            crate::create_topic(&broker.address, &b, 3)?;
            let _relay = start_relay(relay, &engine, &broker.address, &a, &b)?;
            let path = out.join(format!("e2e-{id}.hdr"));
            let spec = Spec {
                records,
                rate_per_s,
                sink_topic: b.clone(),
                histogram_path: path.display().to_string(),
                ..crate::base_spec(Client::Pipewright, Kind::Probe, &broker.address, &a)
            };
            let measured = crate::run_child(&spec, &broker)?;
            anyhow::ensure!(
                measured.result.failed == 0,
                "{}: {} of {records} records never came through",
                relay.name(),
                measured.result.failed
            );
            let read = |suffix: &str| -> anyhow::Result<Histogram<u64>> {
                let file = format!("{}.{suffix}", path.display());
                let histogram = crate::read_histogram(Path::new(&file))?;
                std::fs::remove_file(&file)?;
                Ok(histogram)
            };
            let run = E2eRun {
                relay,
                rate_per_s,
                records,
                direct: read("direct")?,
                through: read("through")?,
            };
            eprintln!(
                "  {:<30} added p50 {} µs, p99 {} µs (direct p50 {} µs)",
                relay.name(),
                run.added_us(50.0),
                run.added_us(99.0),
                run.direct.value_at_percentile(50.0)
            );
            runs.push(run);
        }
    }
    Ok(runs)
}
