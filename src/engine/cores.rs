//! Thread per core: one OS thread per core, pinned, each with its own single-threaded executor, I/O backend
//! and broker connections. A task is placed on one core and never migrates; nothing on the hot path is shared
//! between cores. The control thread talks to cores only through channels: commands in, [`TaskReport`]s out.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::control::TaskControl;
use super::control::{ReportSender, TaskState};
use super::metrics::CoreMetrics;
use super::positions::TaskKey;
use super::task::{run_task, TaskOutcome, TaskSpec};
use crate::runtime::backend::{AnyBackend, IoBackend, IoChoice};

/// What the control thread asks a core to do.
#[derive(Debug)]
pub enum CoreCommand {
    /// Run a task (after the one of the same key, if still running, has stopped).
    Start(TaskSpec),
    /// Stop one task: stop polling its source, flush its sink, commit, close.
    Stop(TaskKey),
    /// Commit what the task's sink has and poll its source no more until resumed.
    Pause(TaskKey),
    Resume(TaskKey),
    /// Stop every task of the core, then end the core's thread.
    StopAll,
}

/// The running cores.
pub struct CoreSet {
    commands: Vec<mpsc::UnboundedSender<CoreCommand>>,
    threads: Vec<JoinHandle<()>>,
    metrics: Vec<Arc<CoreMetrics>>,
    backend_name: &'static str,
}

/// The CPUs this process may run on, in order.
pub fn allowed_cpus() -> Vec<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `set` is a plain bitmask owned by this frame; sched_getaffinity writes at most its size.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let ok =
            unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) }
                == 0;
        if ok {
            // SAFETY: CPU_ISSET only reads the bitmask, for indexes below CPU_SETSIZE.
            let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
                .filter(|i| unsafe { libc::CPU_ISSET(*i, &set) })
                .collect();
            if !cpus.is_empty() {
                return cpus;
            }
        }
    }
    (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
}

/// Pins the calling thread to `cpu`.
fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: as above; CPU_SET writes one bit of the local mask, sched_setaffinity reads it.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        unsafe { libc::CPU_SET(cpu, &mut set) };
        if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
    Ok(())
}

impl CoreSet {
    /// Starts `cores` pinned threads (core i on the i-th allowed CPU, wrapping), each on `io`.
    pub fn start(cores: usize, io: IoChoice, reports: ReportSender) -> Result<Self, String> {
        let backend = AnyBackend::choose(io)?;
        let backend_name = backend.name();
        let cpus = allowed_cpus();
        let mut commands = Vec::with_capacity(cores);
        let mut threads = Vec::with_capacity(cores);
        let mut metrics = Vec::with_capacity(cores);
        for core in 0..cores.max(1) {
            let (tx, rx) = mpsc::unbounded_channel();
            let core_metrics = Arc::new(CoreMetrics::default());
            metrics.push(core_metrics.clone());
            let cpu = cpus[core % cpus.len()];
            let reports = reports.clone();
            let backend = backend.clone();
            let thread = std::thread::Builder::new()
                .name(format!("core-{core}"))
                .spawn(move || {
                    if let Err(e) = pin_current_thread(cpu) {
                        tracing::warn!(core, cpu, error = %e, "could not pin the core's thread");
                    } else {
                        tracing::debug!(core, cpu, "core thread pinned");
                    }
                    let run = backend.block_on(core_main(core, rx, reports, core_metrics));
                    if let Err(e) = run {
                        tracing::error!(core, error = %e, "core runtime failed to start");
                    }
                })
                .map_err(|e| format!("could not start core {core}: {e}"))?;
            commands.push(tx);
            threads.push(thread);
        }
        Ok(Self {
            commands,
            threads,
            metrics,
            backend_name,
        })
    }

    /// Each core's counters, by core index.
    pub fn metrics(&self) -> &[Arc<CoreMetrics>] {
        &self.metrics
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend_name
    }

    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    pub fn send(&self, core: usize, command: CoreCommand) {
        let _ = self.commands[core % self.commands.len()].send(command);
    }

    /// Asks every core to stop and waits for the threads (each drains, commits and closes its tasks).
    pub fn stop_and_join(self) {
        for tx in &self.commands {
            let _ = tx.send(CoreCommand::StopAll);
        }
        drop(self.commands);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// A core's executor: starts, pauses and stops tasks as asked; stops them all on `StopAll`.
async fn core_main(
    core: usize,
    mut commands: mpsc::UnboundedReceiver<CoreCommand>,
    reports: ReportSender,
    metrics: Arc<CoreMetrics>,
) {
    let sampler = tokio::task::spawn_local(sample_busy_time(metrics.clone()));
    let mut tasks: HashMap<TaskKey, (Rc<TaskControl>, tokio::task::JoinHandle<()>)> =
        HashMap::new();
    while let Some(command) = commands.recv().await {
        match command {
            CoreCommand::Start(spec) => {
                let key = spec.key();
                let control = Rc::new(TaskControl::new(core, key.clone(), reports.clone()));
                if spec.start_paused {
                    control.set_paused(true);
                }
                let previous = tasks.remove(&key);
                spec.metrics.set_core(core);
                let handle = tokio::task::spawn_local({
                    let control = control.clone();
                    let metrics = metrics.clone();
                    async move {
                        // A restart: the old run commits its positions before the new one reads them.
                        if let Some((old, handle)) = previous {
                            old.request_stop();
                            let _ = handle.await;
                        }
                        // Counted down however the run ends, aborted by a stop that timed out included.
                        let _running = RunningTask::count(metrics);
                        supervise(spec, control).await;
                    }
                });
                tasks.insert(key, (control, handle));
            }
            CoreCommand::Stop(key) => {
                if let Some((control, handle)) = tasks.get(&key) {
                    control.request_stop();
                    tokio::task::spawn_local(abandon_after(
                        TASK_STOP_TIMEOUT,
                        control.clone(),
                        handle.abort_handle(),
                    ));
                }
            }
            CoreCommand::Pause(key) => {
                if let Some((control, _)) = tasks.get(&key) {
                    control.set_paused(true);
                }
            }
            CoreCommand::Resume(key) => {
                if let Some((control, _)) = tasks.get(&key) {
                    control.set_paused(false);
                }
            }
            CoreCommand::StopAll => break,
        }
        tasks.retain(|_, (_, handle)| !handle.is_finished());
    }
    for (control, _) in tasks.values() {
        control.request_stop();
    }
    for (_, (_, handle)) in tasks {
        let _ = handle.await;
    }
    sampler.abort();
}

/// How long a stopped task may take to commit and end (Kafka Connect's `task.shutdown.graceful.timeout.ms`
/// default): a task whose broker or database stopped answering is abandoned after it, so a worker that gave
/// its tasks up (a rebalance moved them, or it fell out of its group) does not run them beside their new owner.
/// Positions it did not commit are read again by the next run (at-least-once); a transaction it left open is
/// aborted when the next run fences it.
pub const TASK_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Aborts the task behind `handle` if it has not ended `timeout` after its stop was asked for.
async fn abandon_after(
    timeout: Duration,
    control: Rc<TaskControl>,
    handle: tokio::task::AbortHandle,
) {
    tokio::time::sleep(timeout).await;
    if handle.is_finished() {
        return;
    }
    handle.abort();
    tracing::warn!(
        task = %control.key(),
        "task did not stop within {timeout:?} (is its broker or database answering?); abandoned: what it \
         did not commit is read again by its next run"
    );
    control.report(TaskState::Stopped);
}

/// A running task in the core's count, for as long as it lives.
struct RunningTask(Arc<CoreMetrics>);

impl RunningTask {
    fn count(metrics: Arc<CoreMetrics>) -> Self {
        metrics.tasks.fetch_add(1, Ordering::Relaxed);
        Self(metrics)
    }
}

impl Drop for RunningTask {
    fn drop(&mut self) {
        self.0.tasks.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How often a core measures how busy it was.
const BUSY_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Measures, once per [`BUSY_SAMPLE_INTERVAL`], the share of wall time the core's thread spent on a CPU: the
/// rest it waited in the I/O backend for sockets, files or timers. Reading the kernel's per-thread CPU time
/// costs the task loop nothing.
async fn sample_busy_time(metrics: Arc<CoreMetrics>) {
    let Some(mut last_cpu_ns) = super::metrics::process::thread_cpu_ns() else {
        return;
    };
    let started_cpu_ns = last_cpu_ns;
    let mut last_wall = Instant::now();
    loop {
        tokio::time::sleep(BUSY_SAMPLE_INTERVAL).await;
        let Some(cpu_ns) = super::metrics::process::thread_cpu_ns() else {
            return;
        };
        let wall = Instant::now();
        let wall_ns = wall.duration_since(last_wall).as_nanos().max(1) as f64;
        let ratio = (cpu_ns.saturating_sub(last_cpu_ns) as f64 / wall_ns).clamp(0.0, 1.0);
        metrics
            .busy_ratio_millionths
            .store((ratio * 1e6) as u64, Ordering::Relaxed);
        metrics
            .busy_ns
            .store(cpu_ns.saturating_sub(started_cpu_ns), Ordering::Relaxed);
        last_cpu_ns = cpu_ns;
        last_wall = wall;
    }
}

/// Runs a task, restarting it with exponential backoff (1 s doubling to 60 s) when it fails, unless the failure
/// is one a restart would meet again (a record no sink can write).
async fn supervise(spec: TaskSpec, control: Rc<TaskControl>) {
    let label = spec.label();
    let mut restarts = 0u32;
    loop {
        if control.stop_requested() {
            control.report(TaskState::Stopped);
            return;
        }
        control.report(TaskState::Running);
        match run_task(&spec, &control).await {
            Ok(TaskOutcome::Finished) => {
                control.report(TaskState::Finished);
                return;
            }
            Ok(TaskOutcome::Stopped) => {
                control.report(TaskState::Stopped);
                return;
            }
            Err(error) => {
                crate::engine::metrics::TaskMetrics::add(&spec.metrics.task_failures, 1);
                restarts += 1;
                if error.permanent {
                    // The same record would fail the restarted task again (and, with at-least-once, after
                    // re-sending the records before it): it stays failed until an operator restarts it, as a
                    // Kafka Connect task does.
                    tracing::debug!(task = %label, %error, "task failed; not restarting");
                    control.report(TaskState::Failed {
                        error: error.to_string(),
                        restarts,
                        retry_in: None,
                    });
                    return;
                }
                let retry_in =
                    Duration::from_secs(1u64 << (restarts - 1).min(6)).min(Duration::from_secs(60));
                // Reported once, by whoever receives the report (the worker logs it and shows it in REST).
                tracing::debug!(task = %label, %error, restarts, ?retry_in, "task failed; restarting");
                control.report(TaskState::Failed {
                    error: error.to_string(),
                    restarts,
                    retry_in: Some(retry_in),
                });
                let deadline = tokio::time::Instant::now() + retry_in;
                while !control.stop_requested() {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    control.wait_for_request(left).await;
                }
            }
        }
    }
}
