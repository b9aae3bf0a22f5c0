//! One worker in one process (Kafka Connect's standalone mode): the engine's cores, file-backed stores under
//! the state directory, and the control loop that feeds the worker task reports and calls until every task
//! finished or a signal arrives; then the cores stop (sources stop, sinks drain, positions commit) within a
//! deadline, and a second signal ends the process at once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::handle::{WorkerCall, WorkerHandle};
use super::status::{MemoryStatusStore, TargetState};
use super::store::{migrate_task_files, ConfigFile, PositionFile};
use super::{Worker, WorkerError};
use crate::config::PipelineConfig;
use crate::engine::control::{TaskReport, TaskState};
use crate::engine::Engine;
use crate::runtime::backend::IoChoice;

/// The positions file in the state directory, when the worker names none (`offset.storage.file.filename`).
pub const POSITIONS_FILE: &str = "offsets.json";
/// The file beside the positions that keeps connectors' configs set through the REST API and their target
/// states.
pub const CONNECTORS_FILE: &str = "connectors.json";

/// How a standalone worker runs.
#[derive(Debug, Clone)]
pub struct StandaloneOptions {
    pub cores: usize,
    pub io: IoChoice,
    /// Where positions and connector states are kept.
    pub state_dir: PathBuf,
    /// The positions file (`offset.storage.file.filename`); `None`: [`POSITIONS_FILE`] in the state directory.
    /// Connector configs and states are kept beside it.
    pub offset_file: Option<PathBuf>,
    /// How long a stop may take before the process exits anyway.
    pub shutdown_timeout: Duration,
    /// How statuses name this worker (its REST address).
    pub worker_id: String,
}

/// A started standalone worker, before its loop runs.
pub struct Standalone {
    runtime: tokio::runtime::Runtime,
    worker: Worker,
    positions: Arc<PositionFile>,
    state_dir: PathBuf,
    handle: WorkerHandle,
    calls: mpsc::UnboundedReceiver<WorkerCall>,
    reports: mpsc::UnboundedReceiver<TaskReport>,
    shutdown_timeout: Duration,
    backend_name: &'static str,
    core_count: usize,
}

impl Standalone {
    /// Starts the cores and opens the stores; no task runs yet.
    pub fn start(options: StandaloneOptions) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("could not start the control thread's runtime: {e}"))?;
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let engine = Engine::start(options.cores, options.io, reports_tx)?;
        let backend_name = engine.backend_name();
        let core_count = engine.core_count();
        let (handle, calls) = WorkerHandle::channel();
        let (positions_path, connectors_path) = match &options.offset_file {
            Some(file) => {
                let mut connectors = file.clone().into_os_string();
                connectors.push(".connectors.json");
                (file.clone(), PathBuf::from(connectors))
            }
            None => (
                options.state_dir.join(POSITIONS_FILE),
                options.state_dir.join(CONNECTORS_FILE),
            ),
        };
        let positions = Arc::new(PositionFile::open(positions_path).map_err(|e| e.to_string())?);
        let worker = Worker::new(
            options.worker_id,
            Box::new(engine),
            positions.clone(),
            Box::new(ConfigFile::new(connectors_path)),
            Box::new(MemoryStatusStore::default()),
        );
        Ok(Self {
            runtime,
            worker,
            positions,
            state_dir: options.state_dir,
            handle,
            calls,
            reports,
            shutdown_timeout: options.shutdown_timeout,
            backend_name,
            core_count,
        })
    }

    pub fn handle(&self) -> WorkerHandle {
        self.handle.clone()
    }

    /// The control thread's runtime, for what runs beside the worker (the REST API): futures spawned on it run
    /// while [`Standalone::run`] does.
    pub fn runtime(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend_name
    }

    pub fn core_count(&self) -> usize {
        self.core_count
    }

    /// Runs the connectors of the config file, each in the target state stored for it (running if none), and
    /// the connectors created through the REST API before a restart, which start from `defaults`.
    pub fn run_connectors(
        &mut self,
        pipelines: Vec<PipelineConfig>,
        defaults: crate::config::ConnectorDefaults,
    ) -> Result<(), WorkerError> {
        self.worker.set_defaults(defaults);
        let names: std::collections::BTreeSet<String> =
            pipelines.iter().map(|p| p.name.clone()).collect();
        migrate_task_files(&self.state_dir, &names, &self.positions)
            .map_err(|e| WorkerError::Store(super::store::StoreError(e.to_string())))?;
        for pipeline in pipelines {
            let target = self
                .worker
                .stored_target_state(&pipeline.name)?
                .unwrap_or(TargetState::Running);
            self.worker.put_connector(pipeline, target);
        }
        self.worker.restore_stored_connectors(&names)
    }

    /// Runs until every task finished or SIGINT / SIGTERM, then stops the cores. Returns the exit code: 0, or 1
    /// when the stop did not finish in time or a second signal cut it short.
    pub fn run(self) -> i32 {
        let Standalone {
            runtime,
            mut worker,
            handle,
            mut calls,
            mut reports,
            shutdown_timeout,
            ..
        } = self;
        // Calls still queued when the loop ends get no answer; their callers see the worker gone.
        drop(handle);
        runtime.block_on(async move {
            let mut signals = match Signals::new() {
                Ok(signals) => signals,
                Err(e) => {
                    eprintln!("% engine: cannot watch for signals: {e}");
                    return 1;
                }
            };
            loop {
                tokio::select! {
                    report = reports.recv() => {
                        let Some(report) = report else { break };
                        log_report(&report);
                        worker.handle_report(&report);
                        if worker.all_finished() {
                            break;
                        }
                    }
                    Some(call) = calls.recv() => call(&mut worker),
                    () = signals.next() => {
                        eprintln!("% engine: stopping (draining sinks, committing positions)");
                        break;
                    }
                }
            }
            drop(calls);
            shut_down(worker, &mut reports, shutdown_timeout, &mut signals).await
        })
    }
}

/// Stops every task of `worker` (sources stop, sinks drain, positions commit) and waits for it, logging the
/// reports that still come, until `timeout` or a second signal. Returns the exit code: 0, or 1 when the stop
/// did not finish in time or a signal cut it short.
pub(super) async fn shut_down(
    worker: Worker,
    reports: &mut mpsc::UnboundedReceiver<TaskReport>,
    shutdown_timeout: Duration,
    signals: &mut Signals,
) -> i32 {
    let (stopped_tx, mut stopped) = mpsc::unbounded_channel::<()>();
    std::thread::spawn(move || {
        worker.shutdown();
        let _ = stopped_tx.send(());
    });
    let deadline = tokio::time::sleep(shutdown_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            report = reports.recv() => match report {
                Some(report) => log_report(&report),
                None => return 0,
            },
            _ = stopped.recv() => {
                while let Ok(report) = reports.try_recv() {
                    log_report(&report);
                }
                return 0;
            }
            () = &mut deadline => {
                eprintln!("% engine: stop did not finish within {shutdown_timeout:?}; exiting");
                return 1;
            }
            () = signals.next() => {
                eprintln!("% engine: second signal: exiting without waiting for the tasks to stop");
                return 1;
            }
        }
    }
}

/// SIGINT and SIGTERM, as one stream.
pub(super) struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    pub(super) fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    pub(super) async fn next(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

pub(super) fn log_report(report: &TaskReport) {
    match &report.state {
        TaskState::Running => {
            tracing::info!(task = %report.task, core = report.core, "task running")
        }
        TaskState::Paused => tracing::info!(task = %report.task, "task paused"),
        TaskState::Failed {
            error,
            restarts,
            retry_in,
        } => {
            let error = crate::config::redact_url_credentials(error);
            match retry_in {
                Some(retry_in) => eprintln!(
                    "% task {} failed (restart {restarts} in {retry_in:?}): {error}",
                    report.task
                ),
                None => eprintln!(
                    "% task {} failed and will not restart on its own: {error}",
                    report.task
                ),
            }
        }
        TaskState::Finished => eprintln!("% task {} finished", report.task),
        TaskState::Stopped => tracing::info!(task = %report.task, "task stopped"),
    }
}
