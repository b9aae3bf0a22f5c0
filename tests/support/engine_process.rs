//! Running `engine --config pipelines.toml` for the pipeline tests: the config file, the process (killed when
//! the test ends, pass or fail) and its SIGTERM shutdown.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::broker::free_port;
use super::tools::engine;

/// A pipelines.toml: the `[kafka]` table naming `bootstrap`, then `pipelines`.
pub fn with_kafka(bootstrap: &str, pipelines: &str) -> String {
    format!("[kafka]\n\"bootstrap.servers\" = \"{bootstrap}\"\n\n{pipelines}")
}

/// Writes `text` to `dir`/pipelines.toml.
pub fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("pipelines.toml");
    std::fs::write(&path, text).expect("write config");
    path
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

/// `engine --cores N --config F --state-dir D --rest-listen 127.0.0.1:<free port>`; stderr goes to the test's.
pub fn start_engine(config: &Path, state_dir: &Path, cores: usize) -> EngineProcess {
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
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start engine"),
        rest_port,
    )
}

/// SIGTERM, then waits up to `timeout` for the exit; kills it and panics after that.
pub fn terminate(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
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
