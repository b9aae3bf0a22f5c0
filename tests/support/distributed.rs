//! Kafka Connect's distributed mode as the tests run it: `engine distributed WORKER.properties` processes
//! (workers) of one group, each with its REST API on a port of its own, its stderr kept in a file, killed -9,
//! stopped with SIGTERM and started again on the same file and port; and what a test asks a group: connectors
//! created or changed through any worker (Python `requests`, retried while a rebalance answers 409), statuses
//! polled from every worker, and where each task runs.
//!
//! Every wait has a deadline and fails with what it saw last and the tail of every worker's stderr.
//!
//! Must not: bind anything but 127.0.0.1; judge what the workers answer (the tests do).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::broker::{free_port, unique_topic};
use super::rest::{requests_with, Call};
use super::tools::engine;

/// Heartbeats every second and a session of six: a vanished worker's tasks move within seconds, and a
/// worker busy for a moment on two shared cores is not taken for dead.
pub const HEARTBEAT_INTERVAL_MS: u64 = 1_000;
pub const SESSION_TIMEOUT_MS: u64 = 6_000;
/// How long a worker may take to answer its first REST request.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long SIGTERM may take (tasks stop and commit, the worker leaves the group).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a write through REST is retried while the group rebalances (409) or the worker is starting.
const WRITE_RETRY: Duration = Duration::from_secs(20);
/// How long one HTTP exchange of a poll may take before it counts as no answer.
const POLL_HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the group is polled while a test waits.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Lines of each worker's stderr shown when a wait fails.
const STDERR_TAIL_LINES: usize = 40;

/// The names one worker group uses: its `group.id` and three internal topics, unique per test.
#[derive(Debug, Clone)]
pub struct GroupNames {
    pub group_id: String,
    pub config_topic: String,
    pub offset_topic: String,
    pub status_topic: String,
}

impl GroupNames {
    pub fn unique(name: &str) -> GroupNames {
        let base = unique_topic(name);
        GroupNames {
            group_id: format!("{base}-group"),
            config_topic: format!("{base}-configs"),
            offset_topic: format!("{base}-offsets"),
            status_topic: format!("{base}-status"),
        }
    }
}

/// A connect-distributed.properties for one worker of `group`, its REST API on 127.0.0.1:`port` (advertised
/// as the same, so its worker id is `127.0.0.1:port`), JSON converters without schemas, then `extra` lines.
pub fn worker_properties(bootstrap: &str, group: &GroupNames, port: u16, extra: &str) -> String {
    format!(
        "bootstrap.servers={bootstrap}\n\
         group.id={}\n\
         config.storage.topic={}\n\
         offset.storage.topic={}\n\
         status.storage.topic={}\n\
         config.storage.replication.factor=1\n\
         offset.storage.replication.factor=1\n\
         status.storage.replication.factor=1\n\
         offset.storage.partitions=5\n\
         status.storage.partitions=3\n\
         listeners=http://127.0.0.1:{port}\n\
         rest.advertised.host.name=127.0.0.1\n\
         rest.advertised.port={port}\n\
         heartbeat.interval.ms={HEARTBEAT_INTERVAL_MS}\n\
         session.timeout.ms={SESSION_TIMEOUT_MS}\n\
         rebalance.timeout.ms=20000\n\
         scheduled.rebalance.max.delay.ms=0\n\
         key.converter=org.apache.kafka.connect.json.JsonConverter\n\
         value.converter=org.apache.kafka.connect.json.JsonConverter\n\
         key.converter.schemas.enable=false\n\
         value.converter.schemas.enable=false\n\
         offset.flush.interval.ms=500\n\
         {extra}\n",
        group.group_id, group.config_topic, group.offset_topic, group.status_topic
    )
}

/// `engine distributed WORKER.properties --cores 1`, run in its own directory, stderr appended to a file
/// there (so a restarted worker's log follows the one before). Killed when dropped.
pub struct DistributedWorker {
    dir: PathBuf,
    worker_file: PathBuf,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl DistributedWorker {
    /// Writes `dir`/worker.properties for `group` (bootstrapping from `bootstrap`, a free REST port) and starts
    /// the worker; returns once its REST API answers.
    pub fn start(
        dir: &Path,
        bootstrap: &str,
        group: &GroupNames,
        extra: &str,
    ) -> DistributedWorker {
        std::fs::create_dir_all(dir).expect("create the worker's directory");
        let port = free_port();
        let worker_file = dir.join("worker.properties");
        std::fs::write(
            &worker_file,
            worker_properties(bootstrap, group, port, extra),
        )
        .expect("write worker.properties");
        let mut worker = DistributedWorker {
            dir: dir.to_owned(),
            worker_file,
            log: dir.join("stderr.log"),
            port,
            child: None,
        };
        worker.spawn();
        worker
    }

    /// Starts the process on the worker file (again) and waits until its REST API answers `GET /`.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.id());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the worker's stderr log");
        let child = Command::new(engine())
            .arg("distributed")
            .arg(&self.worker_file)
            .args(["--cores", "1"])
            // Anything it keeps on disk by default lands in its own directory, not the worktree.
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start engine distributed");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.exit_status() {
                panic!(
                    "worker {} exited ({status}) before its REST API answered; stderr:\n{}",
                    self.id(),
                    self.stderr_tail(STDERR_TAIL_LINES)
                );
            }
            if http_get(self.port, "/").is_some_and(|(status, _)| status == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "worker {}: no answer to GET / within {START_TIMEOUT:?}; stderr:\n{}",
                self.id(),
                self.stderr_tail(STDERR_TAIL_LINES)
            );
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Its worker id in statuses: the advertised `host:port`.
    pub fn id(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn worker_file(&self) -> &Path {
        &self.worker_file
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The exit status if the process has ended (and the worker was started).
    fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// SIGKILL, then reaps it.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the worker is running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGTERM; panics unless it exits 0 within [`STOP_TIMEOUT`].
    pub fn terminate(&mut self) {
        let mut child = self.child.take().expect("the worker is running");
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the worker") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "worker {} did not exit within {STOP_TIMEOUT:?} of SIGTERM; stderr:\n{}",
                    self.id(),
                    self.stderr_tail(STDERR_TAIL_LINES)
                );
            }
            thread::sleep(Duration::from_millis(50));
        };
        assert!(
            status.success(),
            "worker {} exited {status} after SIGTERM; stderr:\n{}",
            self.id(),
            self.stderr_tail(STDERR_TAIL_LINES)
        );
    }

    /// The last `lines` lines the worker wrote to stderr, over all its runs.
    pub fn stderr_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Everything the worker wrote to stderr, over all its runs.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for DistributedWorker {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Workers of one group, started one after another, each in a directory of its own under the test's.
pub struct WorkerGroup {
    pub names: GroupNames,
    workers: Vec<DistributedWorker>,
}

impl WorkerGroup {
    /// One worker per entry of `bootstraps` (the broker, or a proxy in front of it for one of them), all in
    /// group `names`.
    pub fn start(dir: &Path, names: GroupNames, bootstraps: &[String]) -> WorkerGroup {
        let workers = bootstraps
            .iter()
            .enumerate()
            .map(|(i, bootstrap)| {
                DistributedWorker::start(&dir.join(format!("worker-{i}")), bootstrap, &names, "")
            })
            .collect();
        WorkerGroup { names, workers }
    }

    pub fn worker(&self, i: usize) -> &DistributedWorker {
        &self.workers[i]
    }

    pub fn worker_mut(&mut self, i: usize) -> &mut DistributedWorker {
        &mut self.workers[i]
    }

    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// The ids of the workers that are running.
    pub fn running_ids(&self) -> Vec<String> {
        self.workers
            .iter()
            .filter(|w| w.is_running())
            .map(DistributedWorker::id)
            .collect()
    }

    /// The tail of every worker's stderr, each under its id.
    pub fn stderr_tails(&self) -> String {
        let mut out = String::new();
        for worker in &self.workers {
            let state = if worker.is_running() {
                "running"
            } else {
                "stopped"
            };
            let _ = writeln!(
                out,
                "----- worker {} ({state}), stderr tail -----\n{}",
                worker.id(),
                worker.stderr_tail(STDERR_TAIL_LINES)
            );
        }
        out
    }

    /// Polls `check` until it returns `Ok`; returns how long that took. Panics after `timeout` with `what`, the
    /// last `Err` (what was seen) and every worker's stderr tail, and at once if a running worker exits.
    pub fn wait_until<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        check: impl FnMut(&WorkerGroup) -> Result<T, String>,
    ) -> (T, Duration) {
        self.poll_until(what, timeout, check)
            .unwrap_or_else(|failure| panic!("{failure}"))
    }

    /// [`WorkerGroup::wait_until`] that returns the failure (with the stderr tails) instead of panicking after
    /// `timeout`, for a test that has more to check before it fails; a worker's exit still panics at once.
    pub fn poll_until<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&WorkerGroup) -> Result<T, String>,
    ) -> Result<(T, Duration), String> {
        let started = Instant::now();
        loop {
            for i in 0..self.workers.len() {
                if let Some(status) = self.workers[i].exit_status() {
                    let id = self.workers[i].id();
                    self.workers[i].child = None;
                    let hint = if status.success() {
                        " (exit 0 is a stop on SIGTERM/SIGINT, which this test did not send: another process \
                         signalled it)"
                    } else {
                        ""
                    };
                    panic!(
                        "worker {id} exited ({status}){hint} while waiting for {what}\n{}",
                        self.stderr_tails()
                    );
                }
            }
            let seen = match check(self) {
                Ok(value) => return Ok((value, started.elapsed())),
                Err(seen) => seen,
            };
            if started.elapsed() > timeout {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {what}; last seen: {seen}\n{}",
                    self.stderr_tails()
                ));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits until every running worker answers `GET /connectors` with 200 (it has joined and read the
    /// config topic).
    pub fn wait_until_serving(&mut self, timeout: Duration) {
        self.wait_until("every worker to answer GET /connectors", timeout, |group| {
            for worker in group.workers.iter().filter(|w| w.is_running()) {
                match http_get(worker.port, "/connectors") {
                    Some((200, _)) => {}
                    other => return Err(format!("{}: {other:?}", worker.id())),
                }
            }
            Ok(())
        });
    }

    /// Sends `call` to worker `via` with Python `requests`, again while the answer is 409 (a rebalance is
    /// under way) or 503 or none (the worker is starting, or the leader it forwards to is changing), for up
    /// to [`WRITE_RETRY`]; returns the first other answer as `{"status", "json", "text"}`.
    pub fn write(&self, via: usize, call: Call) -> Value {
        let worker = &self.workers[via];
        let started = Instant::now();
        loop {
            let reply = requests_with(
                &worker.url(),
                &["--timeout", "10"],
                std::slice::from_ref(&call),
            )
            .remove(0);
            let retry = match reply["status"].as_u64() {
                Some(409) | Some(503) => true,
                Some(_) => false,
                None => true, // no answer: {"error", "message"}
            };
            if !retry {
                return reply;
            }
            assert!(
                started.elapsed() < WRITE_RETRY,
                "{} to worker {} still answered {reply} after {WRITE_RETRY:?}\n{}",
                call.describe(),
                worker.id(),
                self.stderr_tails()
            );
            thread::sleep(Duration::from_millis(300));
        }
    }

    /// `POST /connectors` through worker `via`; panics unless it answers 201.
    pub fn create_connector(&self, via: usize, name: &str, config: Value) {
        let reply = self.write(
            via,
            Call::post("/connectors").json(json!({"name": name, "config": config})),
        );
        assert_eq!(
            reply["status"],
            201,
            "POST /connectors {name} through worker {}: {reply}\n{}",
            self.workers[via].id(),
            self.stderr_tails()
        );
    }

    /// `PUT /connectors/{name}/config` through worker `via`; panics unless it answers 200 (changed) or 201.
    pub fn put_config(&self, via: usize, name: &str, config: Value) {
        let reply = self.write(
            via,
            Call::put(&format!("/connectors/{name}/config")).json(config),
        );
        assert!(
            matches!(reply["status"].as_u64(), Some(200 | 201)),
            "PUT /connectors/{name}/config through worker {}: {reply}\n{}",
            self.workers[via].id(),
            self.stderr_tails()
        );
    }

    /// `GET /connectors/{name}/status` from worker `i`, if it answers 200.
    pub fn status(&self, i: usize, name: &str) -> Result<Value, String> {
        let worker = &self.workers[i];
        match http_get(worker.port, &format!("/connectors/{name}/status")) {
            Some((200, status)) => Ok(status),
            other => Err(format!(
                "GET /connectors/{name}/status from {}: {other:?}",
                worker.id()
            )),
        }
    }

    /// The tasks worker `i` runs, from its `/metrics` (`pipewright_core_tasks`), if it answers.
    pub fn tasks_running_on(&self, i: usize) -> Option<u64> {
        tasks_on_cores(&self.metrics_text(i)?)
    }

    /// The tasks the running workers run between them, with what each runs; `Err` if one does not answer.
    pub fn tasks_running(&self) -> Result<(u64, BTreeMap<String, u64>), String> {
        let mut each = BTreeMap::new();
        for i in (0..self.len()).filter(|&i| self.workers[i].is_running()) {
            let tasks = self
                .tasks_running_on(i)
                .ok_or_else(|| format!("no /metrics from {}", self.workers[i].id()))?;
            each.insert(self.workers[i].id(), tasks);
        }
        Ok((each.values().sum(), each))
    }

    /// `/metrics` of worker `i` as text, if it answers 200.
    pub fn metrics_text(&self, i: usize) -> Option<String> {
        let (status, body) = http_get_text(self.workers[i].port, "/metrics")?;
        (status == 200).then_some(body)
    }
}

/// Where each task of a connector runs, from its status: task id → worker id, when every task (there are
/// `tasks` of them) is RUNNING; else what the status shows.
pub fn running_placement(status: &Value, tasks: usize) -> Result<BTreeMap<u64, String>, String> {
    let list = status["tasks"]
        .as_array()
        .ok_or_else(|| format!("no tasks in {status}"))?;
    let placement: BTreeMap<u64, String> = list
        .iter()
        .filter(|t| t["state"] == "RUNNING")
        .filter_map(|t| Some((t["id"].as_u64()?, t["worker_id"].as_str()?.to_owned())))
        .collect();
    if list.len() != tasks || placement.len() != tasks {
        return Err(format!(
            "{} of {tasks} tasks RUNNING: {}",
            placement.len(),
            Value::Array(list.clone())
        ));
    }
    Ok(placement)
}

/// How many tasks each worker id runs in `placement`.
pub fn tasks_per_worker(placement: &BTreeMap<u64, String>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for worker in placement.values() {
        *counts.entry(worker.clone()).or_default() += 1;
    }
    counts
}

/// The sum of `pipewright_core_tasks` over every core in `/metrics` text: the tasks the worker runs.
pub fn tasks_on_cores(metrics: &str) -> Option<u64> {
    let samples: Vec<f64> = metrics
        .lines()
        .filter(|line| line.starts_with("pipewright_core_tasks{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect();
    (!samples.is_empty()).then(|| samples.iter().sum::<f64>() as u64)
}

/// `GET path` on 127.0.0.1:`port` with short timeouts: status and body as JSON (null if not), or `None` when
/// nothing answered in time. For polling only; what a test asserts goes through Python `requests`.
pub fn http_get(port: u16, path: &str) -> Option<(u16, Value)> {
    let (status, body) = http_get_text(port, path)?;
    Some((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

/// [`http_get`] with the body as text.
pub fn http_get_text(port: u16, path: &str) -> Option<(u16, String)> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, POLL_HTTP_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(POLL_HTTP_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(POLL_HTTP_TIMEOUT)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response);
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    Some((status, body))
}

/// The body of a chunked HTTP/1.1 response.
fn dechunk(mut body: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        body = rest.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// Appends `lines` to `file` (created if missing), one write per call.
pub fn append_lines(file: &Path, lines: &[String]) {
    let mut text = String::new();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    let mut out: File = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .expect("open the source file");
    out.write_all(text.as_bytes()).expect("append lines");
}
