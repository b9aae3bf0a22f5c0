//! Running `engine --config pipelines.toml` for the pipeline tests: the config file, the process (killed when
//! the test ends, pass or fail), its SIGTERM shutdown, and what a test reads from it while it runs (its REST
//! API, a file source's committed position).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::broker::free_port;
use super::tools::engine;
use super::waiting::wait_for_while_running;

/// A pipelines.toml: the `[kafka]` table naming `bootstrap`, then `pipelines`.
pub fn with_kafka(bootstrap: &str, pipelines: &str) -> String {
    format!("[kafka]\n\"bootstrap.servers\" = \"{bootstrap}\"\n\n{pipelines}")
}

/// Writes `text` to `dir`/pipelines.toml.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("pipelines.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Writes `dir`/pipelines.toml: the `[kafka]` table naming `bootstrap`, then `pipelines`.
pub fn write_pipelines(dir: &Path, bootstrap: &str, pipelines: &str) -> PathBuf {
    write_config(dir, &with_kafka(bootstrap, pipelines))
}

/// An engine process killed when the test ends, pass or fail, so a failed test leaves nothing running.
/// The child and its REST API port.
pub struct EngineProcess(pub Child, pub u16);

impl std::ops::Deref for EngineProcess {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for EngineProcess {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl EngineProcess {
    /// Polls `condition` (up to `timeout`) while the engine runs; panics at once if it exits meanwhile (its
    /// pipelines run until stopped, so an exit is a failure).
    pub fn wait_while_running(
        &mut self,
        what: &str,
        timeout: Duration,
        condition: impl FnMut() -> bool,
    ) {
        let gone = || {
            let status = self.0.try_wait().ok().flatten()?;
            Some(format!("the engine exited ({status})"))
        };
        wait_for_while_running(what, timeout, gone, condition);
    }

    /// What the engine wrote to stderr, once it has exited (only with `start_engine_capturing_stderr`).
    pub fn stderr_after_exit(&mut self) -> String {
        let mut stderr = String::new();
        self.0
            .stderr
            .as_mut()
            .expect("started with start_engine_capturing_stderr")
            .read_to_string(&mut stderr)
            .expect("read the engine's stderr");
        stderr
    }
}

/// `engine --cores N --config F --state-dir D --rest-listen 127.0.0.1:<free port>`; stderr goes to the test's.
pub fn start_engine(config: &Path, state_dir: &Path, cores: usize) -> EngineProcess {
    spawn_engine(config, state_dir, cores, Stdio::inherit())
}

/// `start_engine` with stderr kept for `EngineProcess::stderr_after_exit`. The pipe is read only then, so
/// this suits engines that write little before they stop.
pub fn start_engine_capturing_stderr(
    config: &Path,
    state_dir: &Path,
    cores: usize,
) -> EngineProcess {
    spawn_engine(config, state_dir, cores, Stdio::piped())
}

fn spawn_engine(config: &Path, state_dir: &Path, cores: usize, stderr: Stdio) -> EngineProcess {
    let rest_port = free_port();
    EngineProcess(
        Command::new(engine())
            .arg("--cores")
            .arg(cores.to_string())
            .arg("--config")
            .arg(config)
            .arg("--state-dir")
            .arg(state_dir)
            .arg("--rest-listen")
            .arg(format!("127.0.0.1:{rest_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start engine"),
        rest_port,
    )
}

/// SIGTERM, then waits up to `timeout` for the exit; kills it and panics after that.
pub fn terminate(child: &mut Child, timeout: Duration) -> ExitStatus {
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("engine did not exit within {timeout:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// GET `path` from the REST API on 127.0.0.1:`port`: the whole HTTP response, status line first.
pub fn rest_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("REST API listening");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send the REST request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the REST response");
    response
}

/// One task's slot in the engine's positions file (`<state-dir>/offsets.json`).
pub struct TaskPositions {
    pub file: PathBuf,
    pub pipeline: String,
    pub task: usize,
}

/// Where a pipeline task's positions are kept under `state_dir`.
pub fn positions_file(state_dir: &Path, pipeline: &str, task: usize) -> TaskPositions {
    TaskPositions {
        file: state_dir.join("offsets.json"),
        pipeline: pipeline.to_owned(),
        task,
    }
}

/// The byte offset a file-source task has committed, from the positions file
/// (`{"connectors": {NAME: {TASK: ["file\t<bytes>\t<device>\t…"]}}}`).
pub fn committed_file_position(positions: &TaskPositions) -> Option<u64> {
    let text = std::fs::read_to_string(&positions.file).ok()?;
    let document: serde_json::Value = serde_json::from_str(&text).ok()?;
    document["connectors"][&positions.pipeline][positions.task.to_string()]
        .as_array()?
        .iter()
        .find_map(|line| file_offset(line.as_str()?))
}

/// The byte offset in a file source's position line: `file\t<bytes>\t<device>\t<inode>\t…`, or the bare
/// `offset\t<bytes>` of older versions.
pub fn file_offset(line: &str) -> Option<u64> {
    let rest = line
        .strip_prefix("file\t")
        .or_else(|| line.strip_prefix("offset\t"))?;
    rest.split('\t').next()?.trim().parse().ok()
}
