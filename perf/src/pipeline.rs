//! The pipeline scenario: `engine --cores N --config pipelines.toml` as a child process, Kafka → JSON
//! converter → InsertField, ReplaceField, MaskField → Kafka. The engine's `/metrics` are polled from spawn:
//! the rate is measured from the first record polled until every source record is written to the Kafka sink
//! (start-up is reported apart: it is mostly the broker holding a new group's first join back, Kafka's
//! `group.initial.rebalance.delay.ms`, 3 s on tansu too). CPU and peak RSS are the whole engine process's, from
//! wait4 after SIGTERM; the sink topic is then read back to check every record arrived once, transformed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use pipewright::client::config::{ConfigMap, ConsumerConfig};
use pipewright::client::consumer::{ConsumerEvent, StartPosition};
use pipewright::runtime::Consumer;

use crate::spec::{timeval_ns, ChildResult};
use crate::Measured;

/// What the masked card number reads on the sink.
const CARD_MASK: &str = "****-****-****-****";

/// Source record `n`'s value: a customer order as a Kafka Connect user would have it, ~170 bytes of JSON.
/// Every field is an integer or a string so the JSON converter writes it back byte for byte.
pub fn write_source_value(n: u64, out: &mut Vec<u8>) {
    out.clear();
    let _ = write!(
        out,
        r#"{{"id":{n},"name":"customer-{n}","email":"customer-{n}@example.com","card":"4000-1234-5678-{:04}","amount_cents":{},"currency":"EUR","status":"paid","note":"internal {}"}}"#,
        n % 10_000,
        (n * 7919) % 100_000,
        n % 97
    );
}

/// What the engine must write for source record `n`: `name` renamed to `customer`, `note` dropped (ReplaceField),
/// `card` masked (MaskField), `source` appended (InsertField).
fn expected_sink_value(n: u64) -> String {
    format!(
        r#"{{"id":{n},"customer":"customer-{n}","email":"customer-{n}@example.com","card":"{CARD_MASK}","amount_cents":{},"currency":"EUR","status":"paid","source":"perf"}}"#,
        (n * 7919) % 100_000
    )
}

/// The pipelines.toml of the run: one pipeline with a task per core in the documented fast setting (the
/// `throughput` profile), reading the source topic from the beginning in a fresh group.
fn pipelines_toml(broker: &str, source: &str, sink: &str, group: &str, tasks: usize) -> String {
    format!(
        r#"[kafka]
"bootstrap.servers" = "{broker}"

[[pipeline]]
name = "perf"
tasks = {tasks}
profile = "throughput"
# Members of a new group find each other within a heartbeat, so the group forms in well under a second.
source = {{ type = "kafka", topics = "{source}", "group.id" = "{group}", "auto.offset.reset" = "earliest", "heartbeat.interval.ms" = "500", "session.timeout.ms" = "6000" }}
sink = {{ type = "kafka", topic = "{sink}" }}
"key.converter" = "string"
"value.converter" = "json"
"value.converter.schemas.enable" = false

[[pipeline.transforms]]
name = "origin"
type = "InsertField"
"static.field" = "source"
"static.value" = "perf"

[[pipeline.transforms]]
name = "tidy"
type = "ReplaceField"
renames = "name:customer"
exclude = "note"

[[pipeline.transforms]]
name = "mask-card"
type = "MaskField"
fields = "card"
replacement = "{CARD_MASK}"
"#
    )
}

/// A spawned engine, killed if the measurement fails before it is waited for.
struct EngineChild(Option<Child>);

impl Drop for EngineChild {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `GET /metrics` from the engine's REST API; `None` while it is not listening yet.
fn get_metrics(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// The sum of counter `name` over every task in a Prometheus text page.
fn counter_total(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{'))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// user+sys CPU of `pid` so far, from /proc/PID/stat (clock ticks).
fn proc_cpu_ns(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(ticks * 1_000_000_000 / per_second)
}

/// One engine run.
pub struct EngineRun {
    /// Records, and the time from the first record polled until the last was written; the process's CPU.
    pub measured: Measured,
    /// Spawn → the first record polled from the source (start-up and group join).
    pub first_record: Duration,
}

/// Runs `engine --cores cores` on a pipeline from `source` (holding `records` records written by
/// [`write_source_value`]) to `sink`; returns once the engine has exited and the sink is checked.
pub fn run_engine(
    engine: &Path,
    broker: &str,
    source: &str,
    sink: &str,
    records: u64,
    cores: usize,
) -> anyhow::Result<EngineRun> {
    let dir = std::env::temp_dir().join(format!("perf-pipeline-{}-{cores}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("pipelines.toml");
    let group = format!("{sink}-group");
    std::fs::write(&config, pipelines_toml(broker, source, sink, &group, cores))?;
    let result = measure(engine, &config, &dir, records, cores);
    let _ = std::fs::remove_dir_all(&dir);
    let run = result?;
    verify_sink(broker, sink, records)?;
    Ok(run)
}

fn measure(
    engine: &Path,
    config: &Path,
    dir: &Path,
    records: u64,
    cores: usize,
) -> anyhow::Result<EngineRun> {
    let port = crate::broker::free_port()?;
    // Generous: the group forming, then the slowest rate worth reporting.
    let timeout = Duration::from_secs(60) + Duration::from_secs(records / 20_000);
    let start = Instant::now();
    let mut child = EngineChild(Some(
        Command::new(engine)
            .arg("--cores")
            .arg(cores.to_string())
            .arg("--config")
            .arg(config)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--rest-listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", engine.display()))?,
    ));
    let pid = child.0.as_ref().map_or(0, Child::id);
    let mut first_record: Option<Duration> = None;
    let (written_after, cpu_until_written_ns) = loop {
        if let Some(status) = child.0.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            anyhow::bail!("engine exited before writing every record: {status}");
        }
        anyhow::ensure!(
            start.elapsed() < timeout,
            "the engine did not write {records} records within {timeout:?}"
        );
        if let Some(metrics) = get_metrics(port) {
            if first_record.is_none()
                && counter_total(&metrics, "pipewright_records_polled_total") > 0
            {
                first_record = Some(start.elapsed());
            }
            let written = counter_total(&metrics, "pipewright_records_written_total");
            if written >= records {
                break (start.elapsed(), proc_cpu_ns(pid).unwrap_or(0));
            }
        }
        // Often enough for a few ms of resolution, rarely enough that serving it costs the engine nothing.
        std::thread::sleep(Duration::from_millis(10));
    };
    // SAFETY: kill(2) on our own child, which has not been waited for.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child and writes into structs we own; `child` is not waited for again.
    let waited = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    anyhow::ensure!(
        waited == pid as libc::pid_t,
        "wait4: {}",
        std::io::Error::last_os_error()
    );
    child.0 = None;
    let stopped = start.elapsed();
    let first_record = first_record.unwrap_or_default();
    anyhow::ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "engine did not drain and exit cleanly on SIGTERM (status {status})"
    );
    let cpu_process_ns = timeval_ns(usage.ru_utime) + timeval_ns(usage.ru_stime);
    eprintln!(
        "  engine --cores {cores}: first record polled after {:.0} ms, every record written after {:.0} ms, exited after {:.0} ms; CPU {:.0} ms until written, {:.0} ms in all",
        first_record.as_secs_f64() * 1e3,
        written_after.as_secs_f64() * 1e3,
        stopped.as_secs_f64() * 1e3,
        cpu_until_written_ns as f64 / 1e6,
        cpu_process_ns as f64 / 1e6,
    );
    Ok(EngineRun {
        measured: Measured {
            result: ChildResult {
                records,
                failed: 0,
                elapsed_ns: written_after.saturating_sub(first_record).as_nanos() as u64,
                // The whole process from wait4, its drain after SIGTERM included: all it spent on the records.
                cpu_window_ns: cpu_process_ns,
            },
            cpu_process_ns,
            max_rss_kib: usage.ru_maxrss as u64,
            // Not reported for the pipeline: the engine's records/s is not compared with anyone's.
            broker_cpu_ns: None,
            child_wall_ns: stopped.as_nanos() as u64,
        },
        first_record,
    })
}

/// Reads the whole sink topic: every source record must be there exactly once with its key and the value
/// the three transforms make of it.
fn verify_sink(broker: &str, sink: &str, records: u64) -> anyhow::Result<()> {
    let config = ConsumerConfig::from_map(ConfigMap::from_pairs([
        ("bootstrap.servers", broker),
        ("auto.offset.reset", "earliest"),
    ]))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut seen = vec![false; records as usize];
    let mut unique = 0u64;
    let outcome: anyhow::Result<()> = tokio::task::LocalSet::new().block_on(&runtime, async {
        let consumer = Consumer::new(config);
        consumer.assign_topic_all_partitions(sink, StartPosition::Earliest);
        let deadline =
            Instant::now() + Duration::from_secs(60) + Duration::from_secs(records / 50_000);
        // Once every record is in, a short quiet spell shows nothing more (no duplicate) follows.
        let mut quiet_since: Option<Instant> = None;
        loop {
            if unique == records
                && quiet_since.is_some_and(|t| t.elapsed() > Duration::from_millis(500))
            {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the sink topic {sink} holds {unique} of {records} records"
            );
            let event =
                match tokio::time::timeout(Duration::from_millis(100), consumer.recv()).await {
                    Ok(event) => event,
                    Err(_) => {
                        quiet_since.get_or_insert_with(Instant::now);
                        continue;
                    }
                };
            match event {
                ConsumerEvent::Records { records: batch, .. } => {
                    quiet_since = None;
                    for record in &batch {
                        let key = record.key.as_deref().unwrap_or_default();
                        let n: u64 = std::str::from_utf8(key)
                            .ok()
                            .and_then(|k| k.parse().ok())
                            .with_context(|| {
                                format!("sink record key {key:?} is not a record number")
                            })?;
                        anyhow::ensure!(n < records, "sink record {n} was never in the source");
                        anyhow::ensure!(!seen[n as usize], "record {n} is twice in the sink topic");
                        let value = record.value.as_deref().unwrap_or_default();
                        let expected = expected_sink_value(n);
                        anyhow::ensure!(
                            value == expected.as_bytes(),
                            "record {n} on the sink:\n  {}\nexpected\n  {expected}",
                            String::from_utf8_lossy(value)
                        );
                        seen[n as usize] = true;
                        unique += 1;
                    }
                }
                ConsumerEvent::PartitionEof { .. } => {
                    quiet_since.get_or_insert_with(Instant::now);
                }
                ConsumerEvent::Error { error, .. } => anyhow::bail!("reading {sink}: {error}"),
            }
        }
        consumer.close().await;
        Ok(())
    });
    outcome?;
    eprintln!("  checked: the sink holds each of the {records} records once, transformed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_summed_over_tasks_and_other_counters_ignored() {
        let page = "# HELP pipewright_records_written_total x\n\
                    pipewright_records_written_total{pipeline=\"perf\",task=\"0\"} 12\n\
                    pipewright_records_written_total{pipeline=\"perf\",task=\"1\"} 30\n\
                    pipewright_records_written_total_other{pipeline=\"perf\",task=\"1\"} 99\n\
                    pipewright_records_polled_total{pipeline=\"perf\",task=\"0\"} 7\n";
        assert_eq!(counter_total(page, "pipewright_records_written_total"), 42);
        assert_eq!(counter_total(page, "pipewright_records_polled_total"), 7);
    }

    #[test]
    fn source_values_are_json_of_the_advertised_size() {
        let mut value = Vec::new();
        write_source_value(123_456, &mut value);
        let text = String::from_utf8(value.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"id":123456,"name":"customer-123456""#),
            "{text}"
        );
        assert!(text.contains(r#""card":"4000-1234-5678-3456""#), "{text}");
        assert!((100..=200).contains(&value.len()), "{} bytes", value.len());
    }
}
