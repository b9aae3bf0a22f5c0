//! Waiting for what other processes do: polling a condition until it holds, and reading the lines a process
//! has written to a file so far.
//!
//! Must not: sleep a fixed time where a condition can be polled.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// How often conditions are polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

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

/// `wait_for`, panicking at once (not after `timeout`) when `gone` says the process the wait is for ended
/// (it returns why, e.g. the exit status and stderr).
pub fn wait_for_while_running(
    what: &str,
    timeout: Duration,
    mut gone: impl FnMut() -> Option<String>,
    mut condition: impl FnMut() -> bool,
) {
    wait_for(what, timeout, || {
        if let Some(why) = gone() {
            panic!("{why} while waiting for {what}");
        }
        condition()
    });
}

/// The lines a process has written to `path` so far; none while the file does not exist yet.
pub fn file_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}
