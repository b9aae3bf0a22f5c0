//! Running a helper process with a timeout, so a hung process fails its test instead of hanging CI: to the
//! end with its input given up front (`run`), or left running for the test to feed (`RunningProcess`).
//!
//! Must not: know which program it runs (callers build the `Command`).

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::waiting::{wait_for_while_running, POLL_INTERVAL};

/// How long any single helper process may run before the test fails.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(180);

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

    /// Polls `condition` (up to `timeout`) while the process runs: one waiting for more input cannot exit
    /// unless it failed, and then this panics with its stderr rather than waiting out the timeout.
    pub fn wait_while_running(
        &mut self,
        what: &str,
        timeout: Duration,
        condition: impl FnMut() -> bool,
    ) {
        let gone = || {
            self.has_exited().then(|| {
                let output = self.finish(Duration::from_secs(5));
                format!(
                    "`{}` exited ({}); stderr:\n{}\n",
                    output.what, output.status, output.stderr
                )
            })
        };
        wait_for_while_running(what, timeout, gone, condition);
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
