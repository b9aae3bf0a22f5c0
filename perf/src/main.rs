//! `perf`: pipewright against librdkafka, side by side, against one broker on this machine.
//!
//! The parent starts a fresh tansu (or uses `--broker`), then re-executes itself as `perf child key=value…`
//! once per client and scenario, so each client's CPU time is its own process's: user+sys over the measured
//! window from getrusage inside the child (every thread, librdkafka's included), and for the whole process
//! from wait4. The broker shares the cores, so wall-clock rates and CPU per record are reported apart.

mod broker;
mod cluster;
mod e2e;
mod memory;
mod pipeline;
mod pw;
mod report;
mod rk;
mod spec;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;

use broker::Broker;
use spec::{ChildResult, Client, Kind, Spec};

/// `batch.size` for both clients: librdkafka's default, so batching is the same on both sides.
pub const BATCH_SIZE_BYTES: usize = 1_000_000;

const USAGE: &str = "\
usage: perf [--broker HOST:PORT] [--out DIR] [--scale F] [--only produce,latency,consume,pipeline,e2e,cluster]
       perf memory [--out DIR]     RSS idle / under load / stalled sink, and start-up to first record

Without --broker every scenario gets a fresh in-memory tansu on a free port.
--scale multiplies every record count (default 1.0: a few minutes on 2 cores).";

struct Options {
    broker: Option<String>,
    out: PathBuf,
    scale: f64,
    only: Option<Vec<String>>,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("child") => return child(&args[1..]),
        Some("memory") => {
            let options = parse_options(&args[1..])?;
            return memory::run(&options.out, options.broker.as_deref());
        }
        _ => {}
    }
    let options = parse_options(&args)?;
    std::fs::create_dir_all(&options.out)?;
    let wants = |name: &str| {
        options
            .only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == name))
    };
    let mut results = report::Results::default();
    if wants("produce") {
        produce_matrix(&options, &mut results)?;
    }
    if wants("latency") {
        latency(&options, &mut results)?;
    }
    if wants("consume") {
        consume(&options, &mut results)?;
    }
    if wants("pipeline") {
        pipeline(&options, &mut results)?;
    }
    if wants("cluster") {
        cluster(&options, &mut results)?;
    }
    if wants("e2e") {
        results.add_e2e(e2e::run(
            options.broker.as_deref(),
            options.scale,
            &options.out,
        )?);
    }
    let table = results.write(&options.out)?;
    println!("\n{table}");
    eprintln!("wrote {}", options.out.display());
    Ok(())
}

fn parse_options(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        broker: None,
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results"),
        scale: 1.0,
        only: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--broker" => options.broker = Some(value()?),
            "--out" => options.out = PathBuf::from(value()?),
            "--scale" => options.scale = value()?.parse().context("--scale takes a number")?,
            "--only" => options.only = Some(value()?.split(',').map(str::to_owned).collect()),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    Ok(options)
}

fn child(args: &[String]) -> anyhow::Result<()> {
    let spec = Spec::from_args(args)?;
    let result = match spec.client {
        Client::Pipewright => pw::run(&spec)?,
        Client::Librdkafka => rk::run(&spec)?,
    };
    println!("{}", result.to_line());
    Ok(())
}

/// One child's outcome with its whole-process CPU from wait4.
#[derive(Debug, Clone)]
pub struct Measured {
    pub result: ChildResult,
    pub cpu_process_ns: u64,
    pub max_rss_kib: u64,
    /// CPU (user+sys) the broker process used while the child ran, when the harness started the broker.
    pub broker_cpu_ns: Option<u64>,
    /// Wall time from starting the child to its exit.
    pub child_wall_ns: u64,
}

impl Measured {
    pub fn records_per_s(&self) -> f64 {
        self.result.records as f64 / (self.result.elapsed_ns as f64 / 1e9)
    }
    pub fn cpu_ns_per_record(&self) -> f64 {
        self.result.cpu_window_ns as f64 / self.result.records.max(1) as f64
    }
    /// How many cores the broker kept busy on average while the child ran: near the cores it can use, the
    /// broker, not the client, set the records/s.
    pub fn broker_cores(&self) -> Option<f64> {
        self.broker_cpu_ns
            .map(|cpu| cpu as f64 / self.child_wall_ns.max(1) as f64)
    }
}

/// Runs `spec` in a child process and reads its CPU time and peak RSS with wait4, and what CPU `broker` (when
/// the harness started it) used meanwhile.
pub fn run_child(spec: &Spec, broker: &Broker) -> anyhow::Result<Measured> {
    let broker_cpu_before = broker.cpu_ns();
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe()?)
        .arg("child")
        .args(spec.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut stdout)?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child and writes into structs we own; `child` is not waited for again.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    anyhow::ensure!(waited == pid, "wait4: {}", std::io::Error::last_os_error());
    std::mem::forget(child);
    let child_wall_ns = started.elapsed().as_nanos() as u64;
    let broker_cpu_ns = broker_cpu_before
        .zip(broker.cpu_ns())
        .map(|(before, after)| after.saturating_sub(before));
    anyhow::ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{} {:?} child failed (status {status})",
        spec.client.name(),
        spec.kind
    );
    let result = ChildResult::parse(&stdout)?;
    let measured = Measured {
        cpu_process_ns: spec::timeval_ns(usage.ru_utime) + spec::timeval_ns(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss as u64,
        broker_cpu_ns,
        child_wall_ns,
        result,
    };
    eprintln!(
        "  {:<10} {:>9} records {:>10.0} records/s {:>8.0} CPU ns/record{}{}",
        spec.client.name(),
        measured.result.records,
        measured.records_per_s(),
        measured.cpu_ns_per_record(),
        measured
            .broker_cores()
            .map_or(String::new(), |cores| format!(
                "  (broker {cores:.2} cores)"
            )),
        if measured.result.failed > 0 {
            format!("  ({} FAILED)", measured.result.failed)
        } else {
            String::new()
        }
    );
    Ok(measured)
}

pub fn write_histogram(histogram: &Histogram<u64>, path: &str) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(histogram, &mut bytes)
        .map_err(|e| anyhow::anyhow!("serialising histogram: {e:?}"))?;
    std::fs::write(path, bytes)?;
    Ok(())
}

pub(crate) fn read_histogram(path: &Path) -> anyhow::Result<Histogram<u64>> {
    let bytes = std::fs::read(path)?;
    Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| anyhow::anyhow!("reading histogram {}: {e:?}", path.display()))
}

/// The `engine` binary perf runs: `$PIPEWRIGHT_ENGINE`, or the repository's release build.
pub fn engine_binary() -> anyhow::Result<PathBuf> {
    let path = std::env::var("PIPEWRIGHT_ENGINE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/engine")
        });
    anyhow::ensure!(
        path.exists(),
        "{} not found: build it with `cargo build --release` in the repository root",
        path.display()
    );
    Ok(path)
}

fn scaled(options: &Options, records: u64) -> u64 {
    ((records as f64 * options.scale) as u64).max(1000)
}

fn base_spec(client: Client, kind: Kind, broker: &str, topic: &str) -> Spec {
    Spec {
        client,
        kind,
        broker: broker.to_owned(),
        topic: topic.to_owned(),
        partitions: 3,
        records: 0,
        record_bytes: 100,
        linger_ms: 0,
        compression: "none".into(),
        rate_per_s: 0,
        histogram_path: String::new(),
        sink_topic: String::new(),
        defaults: false,
    }
}

/// Creates `topic` with pipewright's admin client (a throwaway runtime in the parent).
fn create_topic(broker: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let config = pipewright::client::config::ConfigMap::from_pairs([("bootstrap.servers", broker)]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio::task::LocalSet::new().block_on(&runtime, async {
        pipewright::cli::admin::create_topic(config, topic, partitions, 1, true).await
    })?;
    Ok(())
}

fn run_id() -> String {
    format!("{}", std::process::id())
}

/// One produce row: each client against a fresh broker (or the given one) on a topic of its own.
fn produce_row(
    options: &Options,
    results: &mut report::Results,
    name: &str,
    spec_of: impl Fn(Client, &str, &str) -> Spec,
) -> anyhow::Result<()> {
    for client in [Client::Pipewright, Client::Librdkafka] {
        let broker = Broker::start(options.broker.as_deref())?;
        let topic = format!(
            "perf-{}-{}-{}",
            name.replace([' ', ','], "-"),
            client.name(),
            run_id()
        );
        create_topic(&broker.address, &topic, 3)?;
        let spec = spec_of(client, &broker.address, &topic);
        results.add(name, client, run_child(&spec, &broker)?);
    }
    Ok(())
}

fn produce_matrix(options: &Options, results: &mut report::Results) -> anyhow::Result<()> {
    let records_of = |record_bytes: usize| {
        scaled(
            options,
            if record_bytes == 100 {
                1_000_000
            } else {
                300_000
            },
        )
    };
    // Each tool at its own defaults first (what users run), then the tuned rows with both set alike.
    for record_bytes in [100usize, 1024] {
        let records = records_of(record_bytes);
        let name = format!("produce {record_bytes} B, each at its defaults");
        eprintln!("{name}: {records} records each (pipewright: nothing set; librdkafka: enable.idempotence=true)");
        produce_row(options, results, &name, |client, broker, topic| Spec {
            records,
            record_bytes,
            defaults: true,
            ..base_spec(client, Kind::Produce, broker, topic)
        })?;
    }
    for record_bytes in [100usize, 1024] {
        for linger_ms in [0u64, 5] {
            for compression in ["none", "lz4"] {
                let records = records_of(record_bytes);
                let name = format!("produce {record_bytes} B linger {linger_ms} ms {compression}");
                eprintln!("{name}: {records} records each, acks=all, idempotent");
                produce_row(options, results, &name, |client, broker, topic| Spec {
                    records,
                    record_bytes,
                    linger_ms,
                    compression: compression.into(),
                    ..base_spec(client, Kind::Produce, broker, topic)
                })?;
            }
        }
    }
    Ok(())
}

fn latency(options: &Options, results: &mut report::Results) -> anyhow::Result<()> {
    let rate_per_s = 10_000;
    let records = scaled(options, 100_000);
    eprintln!(
        "latency: {records} records of 100 B at {rate_per_s}/s, linger 0, acks=all, idempotent"
    );
    for client in [Client::Pipewright, Client::Librdkafka] {
        let broker = Broker::start(options.broker.as_deref())?;
        let topic = format!("perf-latency-{}-{}", client.name(), run_id());
        create_topic(&broker.address, &topic, 3)?;
        let path = options.out.join(format!("latency-{}.hdr", client.name()));
        let spec = Spec {
            records,
            rate_per_s,
            histogram_path: path.display().to_string(),
            ..base_spec(client, Kind::Latency, &broker.address, &topic)
        };
        let measured = run_child(&spec, &broker)?;
        let histogram = read_histogram(&path)?;
        std::fs::remove_file(&path)?;
        results.add_latency(client, measured, histogram);
    }
    Ok(())
}

fn fill(broker: &str, topic: &str, partitions: i32, records: u64) -> anyhow::Result<()> {
    create_topic(broker, topic, partitions)?;
    let spec = Spec {
        records,
        partitions,
        ..base_spec(Client::Pipewright, Kind::Fill, broker, topic)
    };
    eprintln!("  filling {topic} with {records} records of 100 B");
    run_child_quiet(&spec)
}

fn run_child_quiet(spec: &Spec) -> anyhow::Result<()> {
    let status = Command::new(std::env::current_exe()?)
        .arg("child")
        .args(spec.to_args())
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "{:?} child failed", spec.kind);
    Ok(())
}

fn consume(options: &Options, results: &mut report::Results) -> anyhow::Result<()> {
    let records = scaled(options, 2_000_000);
    eprintln!("consume: {records} records of 100 B from the same topic, from the beginning");
    let broker = Broker::start(options.broker.as_deref())?;
    let topic = format!("perf-consume-{}", run_id());
    fill(&broker.address, &topic, 3, records)?;
    for client in [Client::Pipewright, Client::Librdkafka] {
        let spec = Spec {
            records,
            ..base_spec(client, Kind::Consume, &broker.address, &topic)
        };
        results.add("consume 100 B", client, run_child(&spec, &broker)?);
    }
    Ok(())
}

/// kafka → JSON converter → InsertField, ReplaceField, MaskField → kafka in `engine --cores N`.
fn cluster(options: &Options, results: &mut report::Results) -> anyhow::Result<()> {
    let engine = engine_binary()?;
    let partitions = 6;
    let records = scaled(options, 2_000_000);
    eprintln!("cluster (engine distributed × 1, 2, 3: FileStreamSink, 6 tasks → /dev/null): {records} records");
    let broker = Broker::start(options.broker.as_deref())?;
    let source = format!("perf-cluster-source-{}", run_id());
    create_topic(&broker.address, &source, partitions)?;
    let spec = Spec {
        records,
        partitions,
        ..base_spec(Client::Pipewright, Kind::FillJson, &broker.address, &source)
    };
    eprintln!("  filling {source} with {records} JSON records of ~170 B");
    run_child_quiet(&spec)?;
    for workers in [1usize, 2, 3] {
        let run = cluster::run(&engine, &broker.address, &source, records, workers, 6)?;
        eprintln!(
            "  {workers} worker(s): {:>10.0} records/s, tasks running {:.1} s after the connector was created",
            run.records_per_s(),
            run.tasks_running_after.as_secs_f64()
        );
        results.add_cluster(run);
    }
    Ok(())
}

fn pipeline(options: &Options, results: &mut report::Results) -> anyhow::Result<()> {
    let engine = engine_binary()?;
    let partitions = 4;
    let records = scaled(options, 1_000_000);
    eprintln!(
        "pipeline (engine --cores N: kafka → json → InsertField, ReplaceField, MaskField → kafka, throughput profile): {records} records"
    );
    let broker = Broker::start(options.broker.as_deref())?;
    let source = format!("perf-pipeline-source-{}", run_id());
    create_topic(&broker.address, &source, partitions)?;
    let spec = Spec {
        records,
        partitions,
        ..base_spec(Client::Pipewright, Kind::FillJson, &broker.address, &source)
    };
    eprintln!("  filling {source} with {records} JSON records of ~170 B");
    run_child_quiet(&spec)?;
    for cores in [1usize, 2] {
        let sink = format!("perf-pipeline-sink-{cores}-{}", run_id());
        create_topic(&broker.address, &sink, partitions)?;
        let run = pipeline::run_engine(&engine, &broker.address, &source, &sink, records, cores)?;
        eprintln!(
            "  pipewright {:>9} records {:>10.0} records/s {:>8.0} CPU ns/record",
            run.measured.result.records,
            run.measured.records_per_s(),
            run.measured.cpu_ns_per_record(),
        );
        results.add_pipeline(cores, run);
    }
    Ok(())
}
