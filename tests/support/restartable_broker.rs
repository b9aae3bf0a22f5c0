//! A broker a test can kill -9 and start again with its data kept, for the broker-restart fault tests.
//!
//! tansu keeps everything in memory by default, so a restart would lose every topic. Here it stores in S3
//! instead (`--storage-engine s3://BUCKET/`), on a moto S3 server of the test's own: moto keeps the objects
//! in its memory and outlives every tansu restart. Each broker gets its own moto process and bucket, so tests
//! share nothing. `restart()` kills tansu with SIGKILL (no shutdown, no flush) and starts it again on the same
//! port, so clients reconnect to the address they already know.
//!
//! With `PIPEWRIGHT_TEST_BROKER=host:port` the external broker is restarted by the shell command in
//! `PIPEWRIGHT_TEST_BROKER_RESTART` (e.g. `docker restart kafka`); a test needing restarts fails at start if
//! that is not set, since nothing may be skipped against an external broker.
//!
//! moto runs as `python -m moto.server` with the harness's python (`scripts/lib.sh` installs `moto[server]`
//! into the venv next to the other peers).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::broker::{
    free_port, unique_topic, wait_until_broker_answers, Tansu, BROKER_START_ATTEMPTS,
    BROKER_START_TIMEOUT,
};
use super::process::{run, PROCESS_TIMEOUT};
use super::tools::python;
use super::waiting::POLL_INTERVAL;

/// How long moto may take to answer its first request (it imports most of boto on start).
const MOTO_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an external broker may take to answer again after its restart command returned.
const EXTERNAL_RESTART_TIMEOUT: Duration = Duration::from_secs(120);

pub struct RestartableBroker {
    bootstrap: String,
    backend: Backend,
    restarts: u32,
}

enum Backend {
    Local(LocalBroker),
    External { restart_command: String },
}

/// tansu on S3, moto under it, and the directory with both logs.
struct LocalBroker {
    tansu: Tansu,
    running: Option<Child>,
    moto: Child,
    dir: tempfile::TempDir,
}

impl RestartableBroker {
    /// Kills the broker with SIGKILL and starts it again. On tansu, `proxy` first holds all traffic until tansu has
    /// answered all it got, so the kill falls between requests (tests/broker_restart.rs's header says why).
    pub fn restart_between_requests_on_tansu(&mut self, proxy: &super::fault_proxy::FaultProxy) {
        if self.is_external() {
            self.restart();
            return;
        }
        proxy.set_blackhole(true);
        proxy.wait_until_upstream_idle(Duration::from_secs(30));
        self.restart();
        // Connections to the killed broker are dead; close their client sides too before traffic flows again.
        proxy.drop_all_connections();
        proxy.set_blackhole(false);
    }

    pub fn start() -> RestartableBroker {
        if let Ok(external) = std::env::var("PIPEWRIGHT_TEST_BROKER") {
            let external = external.trim().to_string();
            let restart_command = std::env::var("PIPEWRIGHT_TEST_BROKER_RESTART")
                .ok()
                .filter(|command| !command.trim().is_empty())
                .unwrap_or_else(|| {
                    panic!(
                        "PIPEWRIGHT_TEST_BROKER={external} is set and this test restarts the broker: set \
                         PIPEWRIGHT_TEST_BROKER_RESTART to a shell command that restarts it and returns \
                         (e.g. `docker restart kafka`)"
                    )
                });
            wait_until_broker_answers(&external, None, BROKER_START_TIMEOUT)
                .unwrap_or_else(|err| panic!("PIPEWRIGHT_TEST_BROKER={external}: {err}"));
            return RestartableBroker {
                bootstrap: external,
                backend: Backend::External { restart_command },
                restarts: 0,
            };
        }
        let dir = tempfile::tempdir().expect("tempdir for the broker's logs");
        let (moto, s3_endpoint) = start_moto(&dir);
        // S3 bucket names: 3-63 lowercase letters, digits and hyphens.
        let bucket = unique_topic("tansu").to_ascii_lowercase();
        create_bucket(&s3_endpoint, &bucket)
            .unwrap_or_else(|err| panic!("create bucket {bucket} on moto at {s3_endpoint}: {err}"));
        let env = [
            ("AWS_ENDPOINT", s3_endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", "pipewright"),
            ("AWS_SECRET_ACCESS_KEY", "pipewright"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_REGION", "us-east-1"),
        ]
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .to_vec();
        let mut failures = Vec::new();
        for _ in 0..BROKER_START_ATTEMPTS {
            // Another process may take the port between our probe and tansu's bind: then retry.
            let port = free_port();
            let tansu = Tansu {
                port,
                advertised: format!("127.0.0.1:{port}"),
                storage_engine: format!("s3://{bucket}/"),
                env: env.clone(),
                log_path: dir.path().join("tansu.log"),
            };
            match tansu.spawn_and_wait() {
                Ok(child) => {
                    return RestartableBroker {
                        bootstrap: format!("127.0.0.1:{port}"),
                        backend: Backend::Local(LocalBroker {
                            tansu,
                            running: Some(child),
                            moto,
                            dir,
                        }),
                        restarts: 0,
                    }
                }
                Err(err) => failures.push(err),
            }
        }
        panic!(
            "could not start tansu on S3 after {BROKER_START_ATTEMPTS} attempts:\n{}",
            failures.join("\n---\n")
        );
    }

    /// "host:port" for clients; the same before and after restarts.
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    pub fn is_external(&self) -> bool {
        matches!(self.backend, Backend::External { .. })
    }

    /// How many times `restart` ran.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Kills the broker with SIGKILL and starts it again; returns once it answers ApiVersions, with the time
    /// from the kill to that answer.
    pub fn restart(&mut self) -> Duration {
        let started = Instant::now();
        match &mut self.backend {
            Backend::Local(local) => {
                if let Some(mut child) = local.running.take() {
                    // Child::kill is SIGKILL: no graceful shutdown, nothing flushed.
                    let _ = child.kill();
                    let _ = child.wait();
                }
                // Same port, so clients find it where they left it; a stranger taking the port in between
                // makes the start fail with that in the message.
                let child = local
                    .tansu
                    .spawn_and_wait()
                    .unwrap_or_else(|err| panic!("restarting tansu: {err}"));
                local.running = Some(child);
            }
            Backend::External { restart_command } => {
                run(
                    Command::new("sh").args(["-c", restart_command.as_str()]),
                    None,
                    PROCESS_TIMEOUT,
                )
                .assert_success("PIPEWRIGHT_TEST_BROKER_RESTART");
                wait_until_broker_answers(&self.bootstrap, None, EXTERNAL_RESTART_TIMEOUT)
                    .unwrap_or_else(|err| panic!("{} after restart: {err}", self.bootstrap));
            }
        }
        self.restarts += 1;
        let downtime = started.elapsed();
        eprintln!(
            "broker {} restarted (restart {}): answering again after {downtime:?}",
            self.bootstrap, self.restarts
        );
        downtime
    }
}

impl Drop for RestartableBroker {
    fn drop(&mut self) {
        if let Backend::Local(local) = &mut self.backend {
            if let Some(child) = &mut local.running {
                let _ = child.kill();
                let _ = child.wait();
            }
            let _ = local.moto.kill();
            let _ = local.moto.wait();
        }
    }
}

/// Starts moto on a free port, retrying when the port was taken meanwhile; returns it and its URL once it
/// answers HTTP.
fn start_moto(dir: &tempfile::TempDir) -> (Child, String) {
    let mut failures = Vec::new();
    for _ in 0..BROKER_START_ATTEMPTS {
        let port = free_port();
        let log_path = dir.path().join("moto.log");
        let log = std::fs::File::create(&log_path).expect("create moto log");
        let log_err = log.try_clone().expect("moto log");
        let mut child = Command::new(python())
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|err| panic!("spawn {} -m moto.server: {err}", python().display()));
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + MOTO_START_TIMEOUT;
        let outcome = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break Err(format!("exited before answering ({status})"));
            }
            // Any HTTP answer will do: the bucket is created (and checked) afterwards.
            match http_request(port, "GET", "/") {
                Ok(_) => break Ok(()),
                Err(err) if Instant::now() > deadline => {
                    break Err(format!(
                        "no HTTP answer within {MOTO_START_TIMEOUT:?}: {err}"
                    ))
                }
                Err(_) => thread::sleep(POLL_INTERVAL),
            }
        };
        match outcome {
            // A moto that lost the race for its port exits; someone else answers on that port then.
            Ok(()) if matches!(child.try_wait(), Ok(None)) => return (child, endpoint),
            Ok(()) => failures.push(format!(
                "moto on port {port} exited; the port is someone else's"
            )),
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                failures.push(format!(
                    "moto on port {port}: {err}\n{log}\n(is moto[server] installed? run ./scripts/setup)"
                ));
            }
        }
    }
    panic!(
        "could not start moto after {BROKER_START_ATTEMPTS} attempts:\n{}",
        failures.join("\n---\n")
    );
}

/// PUT /bucket: S3's CreateBucket. moto accepts unsigned requests.
fn create_bucket(endpoint: &str, bucket: &str) -> Result<(), String> {
    let port: u16 = endpoint
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .ok_or_else(|| format!("no port in {endpoint}"))?;
    let (status, body) = http_request(port, "PUT", &format!("/{bucket}"))?;
    if status == 200 {
        Ok(())
    } else {
        Err(format!("HTTP {status}: {body}"))
    }
}

/// One HTTP/1.1 request without a body to 127.0.0.1:`port`; returns the status code and the response.
fn http_request(port: u16, method: &str, path: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|err| err.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|err| err.to_string())?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(|err| err.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|err| err.to_string())?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {response:?}"))?;
    Ok((status, response))
}
