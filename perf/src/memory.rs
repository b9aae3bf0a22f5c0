//! Section 4: RSS idle, under load and with a stalled sink, and start-up to first record delivered, measured
//! on the `engine` binary (`$PIPEWRIGHT_ENGINE`, default `../target/release/engine`).

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::broker::Broker;

/// VmRSS and VmHWM of `pid`, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

struct Engine {
    child: Child,
}

impl Engine {
    fn spawn(args: &[&str], stdin: Stdio, stdout: Stdio) -> anyhow::Result<Self> {
        let child = Command::new(crate::engine_binary()?)
            .args(args)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn()
            .context("starting engine")?;
        Ok(Self { child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Samples VmRSS every 50 ms for `duration` (or until exit); returns (samples at each second, peak).
    fn sample(&mut self, duration: Duration) -> (Vec<u64>, u64) {
        let start = Instant::now();
        let mut per_second = Vec::new();
        let mut peak = 0;
        let mut next_second = Duration::from_secs(1);
        while start.elapsed() < duration {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            let (rss, hwm) = rss_kib(self.pid());
            peak = peak.max(hwm).max(rss);
            if start.elapsed() >= next_second {
                per_second.push(rss);
                next_second += Duration::from_secs(1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        (per_second, peak)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `lines` lines of `bytes` bytes into `stdin` on a thread, stopping early when `stop` is set.
fn feed(
    mut stdin: std::process::ChildStdin,
    lines: u64,
    bytes: usize,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut line = crate::spec::payload_template(bytes - 1);
        line.retain(|b| *b != b'\n');
        line.push(b'\n');
        let chunk: Vec<u8> = line.repeat(1000);
        let mut written = 0;
        while written < lines && !stop.load(Ordering::Relaxed) {
            if stdin.write_all(&chunk).is_err() {
                break;
            }
            written += 1000;
        }
        written
    })
}

pub fn run(out: &Path, external: Option<&str>) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let mut md = String::from("### Memory and start-up (`engine` binary)\n\n| measurement | value | target |\n|---|---:|---|\n");
    let broker = Broker::start(external)?;
    let b = broker.address.as_str();
    let topic = format!("perf-memory-{}", std::process::id());
    crate::create_topic(b, &topic, 3)?;

    // Idle: a consumer at the end of an empty topic, and a producer waiting on stdin.
    {
        let mut consumer = Engine::spawn(
            &["consume", "-b", b, "-t", &topic, "-o", "end"],
            Stdio::null(),
            Stdio::null(),
        )?;
        let (samples, _) = consumer.sample(Duration::from_secs(2));
        let rss = samples.last().copied().unwrap_or(0);
        eprintln!("idle consumer RSS {}", mib(rss));
        let _ = writeln!(
            md,
            "| RSS idle, `engine consume` at the end of an empty topic | {} | < 20 MB |",
            mib(rss)
        );
        let mut producer = Engine::spawn(
            &["produce", "-b", b, "-t", &topic],
            Stdio::piped(),
            Stdio::null(),
        )?;
        let (samples, _) = producer.sample(Duration::from_secs(2));
        let rss = samples.last().copied().unwrap_or(0);
        eprintln!("idle producer RSS {}", mib(rss));
        let _ = writeln!(
            md,
            "| RSS idle, `engine produce` waiting on stdin | {} | < 20 MB |",
            mib(rss)
        );
    }

    // Under load: 1 M lines of 100 B through `engine produce`, then read back by `engine consume`.
    let load_records = 1_000_000u64;
    {
        let mut producer = Engine::spawn(
            &["produce", "-b", b, "-t", &topic],
            Stdio::piped(),
            Stdio::null(),
        )?;
        let stdin = producer.child.stdin.take().unwrap();
        let start = Instant::now();
        let writer = feed(stdin, load_records, 100, Arc::new(AtomicBool::new(false)));
        let (_, peak) = producer.sample(Duration::from_secs(120));
        writer.join().ok();
        let status = producer.child.wait()?;
        eprintln!(
            "producer under load: peak RSS {} in {:?} ({status})",
            mib(peak),
            start.elapsed()
        );
        let _ = writeln!(md, "| RSS peak, `engine produce` of {load_records} lines of 100 B (buffer.memory 32 MiB) | {} | bounded |", mib(peak));
        let mut consumer = Engine::spawn(
            &["consume", "-b", b, "-t", &topic, "-o", "beginning", "-e"],
            Stdio::null(),
            Stdio::null(),
        )?;
        let (_, peak) = consumer.sample(Duration::from_secs(120));
        eprintln!("consumer under load: peak RSS {}", mib(peak));
        let _ = writeln!(
            md,
            "| RSS peak, `engine consume -e` of those records to /dev/null | {} | bounded |",
            mib(peak)
        );
    }

    // Stalled sink: a consumer whose stdout pipe nobody reads.
    {
        let mut consumer = Engine::spawn(
            &["consume", "-b", b, "-t", &topic, "-o", "beginning"],
            Stdio::null(),
            Stdio::piped(),
        )?;
        let (samples, peak) = consumer.sample(Duration::from_secs(5));
        let trace: Vec<String> = samples
            .iter()
            .map(|k| format!("{:.1}", *k as f64 / 1024.0))
            .collect();
        eprintln!("stalled consumer RSS per second (MiB): {}", trace.join(" "));
        let _ = writeln!(md, "| RSS of `engine consume` whose stdout is never read, each second for 5 s | {} MiB (peak {}) | bounded |", trace.join(" → "), mib(peak));
    }

    // Stalled broker: `engine produce` keeps being fed while the broker is stopped (SIGSTOP): a blackhole.
    if external.is_none() {
        let port = crate::broker::free_port()?;
        let stalled = Broker::start_tansu(port, port)?;
        let sb = stalled.address.clone();
        crate::create_topic(&sb, &topic, 3)?;
        let mut producer = Engine::spawn(
            &["produce", "-b", &sb, "-t", &topic],
            Stdio::piped(),
            Stdio::null(),
        )?;
        let stop = Arc::new(AtomicBool::new(false));
        let writer = feed(
            producer.child.stdin.take().unwrap(),
            u64::MAX,
            100,
            stop.clone(),
        );
        std::thread::sleep(Duration::from_millis(500));
        let pid = stalled.pid().unwrap() as libc::pid_t;
        // SAFETY: signals the broker process this function started.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        let (samples, peak) = producer.sample(Duration::from_secs(6));
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGCONT) };
        stop.store(true, Ordering::Relaxed);
        drop(producer);
        writer.join().ok();
        let trace: Vec<String> = samples
            .iter()
            .map(|k| format!("{:.1}", *k as f64 / 1024.0))
            .collect();
        eprintln!(
            "producer with a stopped broker, RSS per second (MiB): {}",
            trace.join(" ")
        );
        let _ = writeln!(md, "| RSS of `engine produce` fed without end while the broker is stopped (SIGSTOP), each second for 6 s | {} MiB (peak {}) | bounded: flat once buffer.memory (32 MiB of record bytes) is full |", trace.join(" → "), mib(peak));
    }

    // Start-up: process start → one line delivered (acknowledged) and the process exited.
    for (label, extra) in [
        ("idempotent (default)", vec![]),
        (
            "enable.idempotence=false",
            vec!["-X", "enable.idempotence=false"],
        ),
    ] {
        let mut times = Vec::new();
        for _ in 0..7 {
            let mut args = vec!["produce", "-b", b, "-t", &topic];
            args.extend(extra.iter().copied());
            let start = Instant::now();
            let mut engine = Engine::spawn(&args, Stdio::piped(), Stdio::null())?;
            engine
                .child
                .stdin
                .take()
                .unwrap()
                .write_all(b"first record\n")?;
            let status = engine.child.wait()?;
            anyhow::ensure!(status.success(), "engine produce failed: {status}");
            times.push(start.elapsed());
        }
        times.sort();
        eprintln!(
            "start → first record delivered and exit ({label}): min {:?} median {:?}",
            times[0],
            times[times.len() / 2]
        );
        let _ = writeln!(md, "| start → first record delivered (acknowledged) and process exited, {label}: median of 7 (min) | {:.1} ms ({:.1} ms) | < 20 ms |", times[times.len() / 2].as_secs_f64() * 1e3, times[0].as_secs_f64() * 1e3);
    }
    println!("\n{md}");
    std::fs::write(out.join("memory.md"), md)?;
    Ok(())
}
