//! Memory is bounded whatever the sink does (issue 12): a Kafka source whose sink never drains stops fetching
//! once its bounded queues are full, instead of reading the whole topic into memory. The engine's resident
//! set is read from `/proc/<pid>/status` while it runs.

mod support;

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::broker::{create_topic, unique_topic, TestBroker};
use support::engine_cli::{assert_delivered, engine_produce};
use support::engine_process::{rest_get, start_engine, write_pipelines};

/// 2000 records of 100 KiB: 200 MiB waiting in the topic.
const RECORDS: usize = 2_000;
const RECORD_BYTES: usize = 100 * 1024;
const PARTITIONS: u32 = 8;
/// The issue's goal for a sink that never drains.
const RSS_LIMIT_BYTES: u64 = 150 * 1024 * 1024;
/// How long the engine is watched once the source has handed out its first records: far longer than it
/// takes to fetch 200 MiB from a local broker.
const WATCH: Duration = Duration::from_secs(30);
const SAMPLE_EVERY: Duration = Duration::from_millis(200);

/// VmRSS of `pid` in bytes, from `/proc/<pid>/status`.
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// An HTTP endpoint that accepts connections and never reads from them nor answers: a sink posting to it
/// waits forever once the socket buffers are full. Counts the connections it accepted.
struct SilentEndpoint {
    port: u16,
    accepted: Arc<AtomicUsize>,
    _held: Arc<Mutex<Vec<TcpStream>>>,
}

impl SilentEndpoint {
    fn start() -> SilentEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the silent endpoint");
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let held = Arc::new(Mutex::new(Vec::new()));
        let (count, keep) = (accepted.clone(), held.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                count.fetch_add(1, Ordering::SeqCst);
                keep.lock().unwrap().push(stream);
            }
        });
        SilentEndpoint {
            port,
            accepted,
            _held: held,
        }
    }
}

/// The value of the `/metrics` sample `name{pipeline="PIPELINE",task="0"}`.
fn task_counter(port: u16, name: &str, pipeline: &str) -> Option<f64> {
    // Until its REST API listens, the engine has polled nothing.
    TcpStream::connect(("127.0.0.1", port)).ok()?;
    let response = rest_get(port, "/metrics");
    let prefix = format!("{name}{{");
    response.lines().find_map(|line| {
        let rest = line.strip_prefix(&prefix)?;
        let (labels, value) = rest.split_once("} ")?;
        (labels.contains(&format!("pipeline=\"{pipeline}\"")) && labels.contains("task=\"0\""))
            .then(|| value.trim().parse().ok())?
    })
}

/// A kafka source → http sink pipeline whose endpoint never reads: 200 MiB waiting in the topic must not
/// reach the engine's memory (it grew to 528 MB before the fetch queues were bounded by bytes).
#[cfg(target_os = "linux")]
#[test]
fn a_stalled_sink_keeps_a_kafka_source_under_150_mib() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("memory-stall");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let mut input = Vec::with_capacity(RECORDS * (RECORD_BYTES + 1));
    for i in 0..RECORDS {
        let start = input.len();
        input.extend_from_slice(format!("{i:06}-").as_bytes());
        input.resize(start + RECORD_BYTES, b'a' + (i % 26) as u8);
        input.push(b'\n');
    }
    let produced = Instant::now();
    let output = engine_produce(&bootstrap, &topic, &["-X", "linger.ms=20"], &input);
    assert_delivered(&output, &topic, RECORDS);
    eprintln!(
        "produced {} MiB in {:?}",
        input.len() >> 20,
        produced.elapsed()
    );
    drop(input);

    let endpoint = SilentEndpoint::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_pipelines(
        dir.path(),
        &bootstrap,
        &format!(
            r#"[[pipeline]]
name = "stalled"
source = {{ type = "kafka", topics = "{topic}", "group.id" = "{topic}-g", "auto.offset.reset" = "earliest", "session.timeout.ms" = "6000", "heartbeat.interval.ms" = "500" }}
sink = {{ type = "http", url = "http://127.0.0.1:{}/ingest", "request.timeout.ms" = "3600000" }}
"value.converter" = "string"
"#,
            endpoint.port
        ),
    );
    let mut engine = start_engine(&config, &dir.path().join("state"), 1);
    let (pid, rest_port) = (engine.id(), engine.1);
    let mut peak = 0u64;
    let sample = |peak: &mut u64| {
        if let Some(rss) = resident_bytes(pid) {
            *peak = (*peak).max(rss);
        }
    };
    engine.wait_while_running(
        "the source to hand records to the sink",
        Duration::from_secs(60),
        || {
            sample(&mut peak);
            task_counter(rest_port, "pipewright_records_polled_total", "stalled")
                .is_some_and(|n| n > 0.0)
        },
    );
    let watched = Instant::now();
    while watched.elapsed() < WATCH {
        assert!(
            engine.try_wait().unwrap().is_none(),
            "the engine exited while its sink was stalled"
        );
        sample(&mut peak);
        std::thread::sleep(SAMPLE_EVERY);
    }
    let polled = task_counter(rest_port, "pipewright_records_polled_total", "stalled")
        .expect("the task's polled counter");
    eprintln!(
        "peak RSS {:.1} MiB over {WATCH:?} with the sink stalled; {polled} of {RECORDS} records polled",
        peak as f64 / (1 << 20) as f64
    );
    assert!(
        endpoint.accepted.load(Ordering::SeqCst) >= 1,
        "the sink reached the endpoint that never answers"
    );
    assert!(
        polled < RECORDS as f64,
        "a sink that never drains cannot have taken the whole topic ({polled} records polled)"
    );
    assert!(
        peak < RSS_LIMIT_BYTES,
        "the engine held {:.1} MiB (limit {} MiB) with {} MiB waiting in the topic",
        peak as f64 / (1 << 20) as f64,
        RSS_LIMIT_BYTES >> 20,
        (RECORDS * RECORD_BYTES) >> 20
    );
}
