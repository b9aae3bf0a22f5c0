//! A pipeline killed with -9 in the middle of its work and started again on the same state: the scenario of
//! the engine's crash tests. A kill that lands after the work is done proves nothing, so it is checked: the
//! first engine must have done some of the work and not all of it.
//!
//! A kill lands mid-run however fast the engine is when the input keeps arriving while the first engine
//! runs: `append_paced` and `produce_paced` hand it over in chunks, a pause apart.
//!
//! Must not: decide what the work is; the test counts it (bytes committed, records in the output ...).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::engine_cli::spawn_engine_produce;
use super::engine_process::{start_engine, terminate};
use super::process::RunOutput;

/// How long the first engine may take to do some of the work.
const SOME_DONE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the restarted engine may take to do all of it (a Kafka source's new group member first waits
/// for the coordinator to drop the dead one, after its session timeout).
const ALL_DONE_TIMEOUT: Duration = Duration::from_secs(150);

/// A pipeline's work as the test counts it: `count()` of `total` done so far.
pub struct Work<'a> {
    /// What is counted, for messages: "bytes of the file committed", "records in the output".
    pub counted: &'a str,
    pub total: u64,
    pub count: &'a dyn Fn() -> u64,
}

/// What each engine run had done when it was stopped.
#[derive(Clone, Copy, Debug)]
pub struct Runs {
    /// The count right after the first engine was killed -9: some of the work, not all of it.
    pub at_kill: u64,
    /// The count when the restarted engine had done all the work; it then exited 0 on SIGTERM.
    pub at_end: u64,
    /// From the restart to the first work the restarted engine did (the count passing `at_kill`).
    pub resumed_after: Duration,
}

/// `engine --config config --state-dir state_dir --cores cores` until `work` counts some of its work done,
/// then kill -9 (checking it came before the end), the same again on the same state until all of it is done,
/// then SIGTERM (checking exit 0).
pub fn kill_mid_run_and_restart(
    config: &Path,
    state_dir: &Path,
    cores: usize,
    work: &Work<'_>,
) -> Runs {
    let Work {
        counted,
        total,
        count,
    } = *work;
    let started = Instant::now();
    let mut first = start_engine(config, state_dir, cores);
    first.wait_while_running(
        &format!("some of the {total} {counted} before the kill"),
        SOME_DONE_TIMEOUT,
        || count() > 0,
    );
    first.kill().expect("kill -9");
    let _ = first.wait();
    let first_run = started.elapsed();
    let at_kill = count();
    assert!(
        at_kill < total,
        "the kill -9 came too late to interrupt anything: the first engine had done all {total} {counted} \
         {first_run:?} after its start; give it more work or a slower pace"
    );
    eprintln!("kill -9 at {at_kill} of {total} {counted}, {first_run:?} after the start");

    let restarted = Instant::now();
    let mut second = start_engine(config, state_dir, cores);
    second.wait_while_running(
        &format!("more than the {at_kill} {counted} of the first engine after the restart"),
        ALL_DONE_TIMEOUT,
        || count() > at_kill,
    );
    let resumed_after = restarted.elapsed();
    eprintln!("restarted engine moving again {resumed_after:?} after its start");
    second.wait_while_running(
        &format!("all {total} {counted} after the restart ({at_kill} at the kill)"),
        ALL_DONE_TIMEOUT,
        || count() >= total,
    );
    let at_end = count();
    eprintln!(
        "restarted engine done ({at_end} {counted}) {:?} after its start",
        restarted.elapsed()
    );
    let status = terminate(&mut second, Duration::from_secs(30));
    assert!(
        status.success(),
        "the restarted engine exits 0 on SIGTERM: {status:?}"
    );
    Runs {
        at_kill,
        at_end,
        resumed_after,
    }
}

/// Appends `chunks` to `path` (created empty now) on a thread of its own, `pause` after each.
pub fn append_paced(path: &Path, chunks: Vec<String>, pause: Duration) -> JoinHandle<()> {
    let path: PathBuf = path.to_owned();
    let mut file = std::fs::File::create(&path)
        .unwrap_or_else(|err| panic!("create {}: {err}", path.display()));
    thread::spawn(move || {
        for chunk in chunks {
            file.write_all(chunk.as_bytes())
                .unwrap_or_else(|err| panic!("append to {}: {err}", path.display()));
            thread::sleep(pause);
        }
    })
}

/// `engine produce -b BOOTSTRAP -t TOPIC <args>` fed `chunks` on a thread of its own, `pause` after each;
/// the thread hands back its output once its input has ended and it exited.
pub fn produce_paced(
    bootstrap: &str,
    topic: &str,
    args: &[&str],
    chunks: Vec<String>,
    pause: Duration,
) -> JoinHandle<RunOutput> {
    let mut producer = spawn_engine_produce(bootstrap, topic, args);
    thread::spawn(move || {
        for chunk in chunks {
            producer.feed(chunk.as_bytes());
            thread::sleep(pause);
        }
        producer.finish(Duration::from_secs(60))
    })
}
