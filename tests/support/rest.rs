//! The REST API as the tests reach it: `engine standalone WORKER.properties` with its listener from the worker
//! file's `listeners`, stopped with SIGTERM and started again on the same files and port; and the clients no one
//! here wrote that talk to it: Python `requests` (`tests/peers/rest_requests.py`, `rest_concurrent.py`), the `kc`
//! CLI of kafka-connect-py, prometheus_client's text parser (`tests/peers/prometheus_metrics.py`) and
//! schemathesis, all from the venv `scripts/setup` fills.
//!
//! Must not: bind anything but 127.0.0.1; judge what the server answers (the tests do).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::broker::free_port;
use super::engine_process::{terminate, EngineProcess};
use super::peers::peer_command;
use super::process::{run, RunOutput, PROCESS_TIMEOUT};
use super::tools::{engine, python, repo_root};

/// How long an engine may take to answer its first REST request.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long SIGTERM may take (sinks drain, positions commit).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// `engine standalone` on a worker file in `dir`, its REST API on a port of its own.
pub struct StandaloneEngine {
    dir: PathBuf,
    worker_file: PathBuf,
    port: u16,
    /// `http` or `https`.
    scheme: &'static str,
    /// Whether `GET /` over plain HTTP answers 200 (no TLS, no credentials asked): how readiness is seen.
    open: bool,
    process: Option<EngineProcess>,
}

impl StandaloneEngine {
    /// Writes `dir`/worker.properties (`bootstrap`, the offsets file in `dir`, `listeners` on a free port, and
    /// `extra` lines) and starts the engine on it; returns once the REST API answers.
    pub fn start(dir: &Path, bootstrap: &str, extra: &str) -> StandaloneEngine {
        Self::start_protected(dir, bootstrap, "http", false, extra)
    }

    /// [`StandaloneEngine::start`] with a `scheme` listener (`http` or `https`); `protected`: it asks for
    /// credentials, so readiness is its port accepting connections rather than `GET /` answering.
    pub fn start_protected(
        dir: &Path,
        bootstrap: &str,
        scheme: &'static str,
        protected: bool,
        extra: &str,
    ) -> StandaloneEngine {
        let port = free_port();
        let worker_file = dir.join("worker.properties");
        let offsets = dir.join("connect.offsets");
        std::fs::write(
            &worker_file,
            format!(
                "bootstrap.servers={bootstrap}\noffset.storage.file.filename={}\n\
                 offset.flush.interval.ms=200\nlisteners={scheme}://127.0.0.1:{port}\n{extra}\n",
                offsets.display()
            ),
        )
        .expect("write worker.properties");
        let mut engine = StandaloneEngine {
            dir: dir.to_owned(),
            worker_file,
            port,
            scheme,
            open: scheme == "http" && !protected,
            process: None,
        };
        engine.spawn();
        engine
    }

    fn spawn(&mut self) {
        let child = Command::new(engine())
            .arg("standalone")
            .arg(&self.worker_file)
            .arg("--cores")
            .arg("1")
            .arg("--state-dir")
            .arg(self.dir.join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start engine standalone");
        let mut process = EngineProcess(child, self.port);
        let (port, open) = (self.port, self.open);
        process.wait_while_running("the REST API to answer", START_TIMEOUT, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && (!open || get_json(port, "/").0 == 200)
        });
        self.process = Some(process);
    }

    /// `http://127.0.0.1:<port>` (or `https://`).
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// SIGTERM; panics unless it exits 0 in time.
    pub fn stop(&mut self) {
        let mut process = self.process.take().expect("the engine is running");
        let status = terminate(&mut process, STOP_TIMEOUT);
        assert!(status.success(), "the engine exited {status} after SIGTERM");
    }

    /// Stops it and starts it again on the same worker file, state and port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

/// One request for `rest_requests.py`.
#[derive(Debug, Clone)]
pub struct Call(Value);

impl Call {
    pub fn new(method: &str, path: &str) -> Call {
        Call(json!({"method": method, "path": path}))
    }

    pub fn get(path: &str) -> Call {
        Call::new("GET", path)
    }

    pub fn post(path: &str) -> Call {
        Call::new("POST", path)
    }

    pub fn put(path: &str) -> Call {
        Call::new("PUT", path)
    }

    pub fn patch(path: &str) -> Call {
        Call::new("PATCH", path)
    }

    pub fn delete(path: &str) -> Call {
        Call::new("DELETE", path)
    }

    /// A JSON body (sent with `Content-Type: application/json`).
    pub fn json(mut self, body: Value) -> Call {
        self.0["json"] = body;
        self
    }

    /// A body sent as it is (for what is not JSON).
    pub fn data(mut self, body: &str) -> Call {
        self.0["data"] = json!(body);
        self.0["headers"] = json!({"Content-Type": "application/json"});
        self
    }

    pub fn params(mut self, params: Value) -> Call {
        self.0["params"] = params;
        self
    }

    /// `Authorization: Bearer TOKEN`.
    pub fn bearer(mut self, token: &str) -> Call {
        self.0["headers"] = json!({"Authorization": format!("Bearer {token}")});
        self
    }

    /// `METHOD path`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} {}",
            self.0["method"].as_str().unwrap_or_default(),
            self.0["path"].as_str().unwrap_or_default()
        )
    }
}

/// What the server answered one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub content_type: Option<String>,
    /// The body parsed as JSON; null when it is empty or not JSON.
    pub json: Value,
    pub text: String,
}

/// Sends `calls` in order with Python `requests`, each answer before the next request.
pub fn requests(url: &str, calls: &[Call]) -> Vec<Reply> {
    let input = Value::Array(calls.iter().map(|c| c.0.clone()).collect()).to_string();
    let output = run(
        peer_command("rest_requests.py").args(["--url", url]),
        Some(input.as_bytes()),
        PROCESS_TIMEOUT,
    );
    output.assert_success("requests");
    let replies: Vec<Reply> = output
        .stdout_str()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("rest_requests.py line {line}: {e}"));
            Reply {
                status: v["status"].as_u64().expect("a status") as u16,
                location: v["location"].as_str().map(str::to_owned),
                content_type: v["content_type"].as_str().map(str::to_owned),
                json: v["json"].clone(),
                text: v["text"].as_str().unwrap_or_default().to_owned(),
            }
        })
        .collect();
    assert_eq!(replies.len(), calls.len(), "one reply per request");
    replies
}

/// Sends `calls` with Python `requests` and `options` of `rest_requests.py` (`--ca`, `--cert`, `--key`,
/// `--auth`): one JSON object per call, `{"status", "www_authenticate", "json", ...}` for an answer or
/// `{"error", "message"}` for a request that got none (a TLS handshake refused, say).
pub fn requests_with(url: &str, options: &[&str], calls: &[Call]) -> Vec<Value> {
    let input = Value::Array(calls.iter().map(|c| c.0.clone()).collect()).to_string();
    let output = run(
        peer_command("rest_requests.py")
            .args(["--url", url, "--errors", "--timeout", "10"])
            .args(options),
        Some(input.as_bytes()),
        PROCESS_TIMEOUT,
    );
    output.assert_success("requests");
    let replies: Vec<Value> = output
        .stdout_str()
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("rest_requests.py line {line}: {e}"))
        })
        .collect();
    assert_eq!(replies.len(), calls.len(), "one reply per request");
    replies
}

/// Sends one request with Python `requests`.
pub fn request(url: &str, call: Call) -> Reply {
    requests(url, &[call]).remove(0)
}

/// A console script of the venv (installed beside its python by pip).
fn venv_script(name: &str) -> PathBuf {
    let script = python().with_file_name(name);
    assert!(
        script.exists(),
        "{} not found: run ./scripts/setup (it installs the packages of scripts/lib.sh's PY_PACKAGES)",
        script.display()
    );
    script
}

/// `kc --url URL <args>` (kafka-connect-py's CLI). It prints the server's JSON answer, or the error it met,
/// and exits 0 either way: callers read stdout.
pub fn kc(url: &str, args: &[&str]) -> RunOutput {
    kc_with(url, &[], &[], args)
}

/// [`kc`] with its global `options` (`--auth USER:PASSWORD`, ...) and `env` (`REQUESTS_CA_BUNDLE`: the CA its
/// `requests` trusts).
pub fn kc_with(url: &str, options: &[&str], env: &[(&str, &Path)], args: &[&str]) -> RunOutput {
    let mut command = Command::new(venv_script("kc"));
    command.args(["--url", url]).args(options).args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = run(&mut command, None, PROCESS_TIMEOUT);
    output.assert_success("kc");
    output
}

/// `kc` whose output is JSON; panics with what it printed otherwise.
pub fn kc_json(url: &str, args: &[&str]) -> Value {
    let output = kc(url, args);
    let text = output.stdout_str();
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("kc {args:?} printed {text:?}, not JSON: {e}"))
}

/// `/metrics` as prometheus_client's parser reads it: `{"content_type", "families": [{"name", "type",
/// "samples": [{"name", "labels", "value"}]}]}`.
pub fn prometheus_metrics(url: &str) -> Value {
    let output = run(
        peer_command("prometheus_metrics.py").args(["--url", url]),
        None,
        PROCESS_TIMEOUT,
    );
    output.assert_success("prometheus_client parsing /metrics");
    serde_json::from_str(&output.stdout_str()).expect("prometheus_metrics.py prints JSON")
}

/// `rest_concurrent.py`: `count` clients at once while another holds a half-sent request.
pub fn concurrent_requests(url: &str, path: &str, count: usize) -> Value {
    let output = run(
        peer_command("rest_concurrent.py").args([
            "--url",
            url,
            "--path",
            path,
            "--count",
            &count.to_string(),
        ]),
        None,
        PROCESS_TIMEOUT,
    );
    output.assert_success("concurrent requests");
    serde_json::from_str(&output.stdout_str()).expect("rest_concurrent.py prints JSON")
}

/// schemathesis run against docs/openapi.yaml and `url`, every phase, for at most `max_time`, with `checks`.
pub fn schemathesis(url: &str, max_time: Duration, checks: &str) -> RunOutput {
    run(
        Command::new(venv_script("schemathesis"))
            .arg("run")
            .arg(repo_root().join("docs/openapi.yaml"))
            .args(["--url", url, "--checks", checks])
            .args(["--max-time", &max_time.as_secs().to_string()])
            .args(["--request-timeout", "10", "--workers", "2"])
            .args(["--generation-database", "none", "--no-color"])
            // Its seed is printed, so a failure can be replayed (`--seed`); nothing is left in the worktree.
            .current_dir(std::env::temp_dir())
            .env("SCHEMATHESIS_TELEMETRY", "false"),
        None,
        max_time + Duration::from_secs(60),
    )
}

/// `GET path` over a plain socket (`Connection: close`): the status and the body as JSON (null if it is not),
/// for polling while a test waits; what a test asserts goes through the clients above.
pub fn get_json(port: u16, path: &str) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("the REST API is listening");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the answer");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: no status line in {response:?}"));
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}
