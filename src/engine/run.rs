//! The control thread: loads the config, places every pipeline task on a core, reports task states, and on
//! SIGINT / SIGTERM stops the cores (sources stop, sinks drain, positions commit) within a deadline.

use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cores::{CoreCommand, CoreSet, TaskReport, TaskState};
use super::task::TaskSpec;
use crate::config::{self, EngineConfig};
use crate::connect::connector::TaskId;
use crate::runtime::backend::IoChoice;

/// How `engine --config F` runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: PathBuf,
    pub cores: usize,
    pub io: IoChoice,
    /// Where file-like sources' positions are kept.
    pub state_dir: PathBuf,
    /// How long a stop may take before the process exits anyway.
    pub shutdown_timeout: Duration,
    /// Where the REST API listens (`None`: no REST API).
    pub rest_listen: Option<String>,
}

/// Places tasks round-robin over the cores, pipeline by pipeline, so a pipeline's tasks land on different
/// cores.
pub fn place_tasks(
    config: &EngineConfig,
    cores: usize,
    state_dir: &Path,
) -> Vec<(usize, TaskSpec)> {
    let mut placed = Vec::new();
    let mut next_core = 0usize;
    for pipeline in &config.pipelines {
        let pipeline = Arc::new(pipeline.clone());
        for index in 0..pipeline.tasks.max(1) {
            let spec = TaskSpec {
                pipeline: pipeline.clone(),
                task: TaskId {
                    index,
                    count: pipeline.tasks.max(1),
                },
                state_dir: state_dir.to_path_buf(),
                metrics: Arc::new(super::metrics::TaskMetrics::default()),
            };
            placed.push((next_core % cores.max(1), spec));
            next_core += 1;
        }
    }
    placed
}

/// Runs the pipelines until every task finished or a signal arrives. Returns the process exit code.
pub fn run(options: RunOptions) -> anyhow::Result<i32> {
    let config = config::load(&options.config).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    if config.pipelines.is_empty() {
        anyhow::bail!("{}: no pipeline to run", options.config.display());
    }
    let (reports_tx, reports_rx) = std_mpsc::channel::<TaskReport>();
    let cores =
        CoreSet::start(options.cores, options.io, reports_tx).map_err(anyhow::Error::msg)?;
    tracing::info!(
        cores = cores.len(),
        backend = cores.backend_name(),
        "engine started"
    );
    eprintln!(
        "% engine: {} pipeline(s), {} core(s), {} I/O",
        config.pipelines.len(),
        cores.len(),
        cores.backend_name()
    );
    let status = status_table(&config, options.rest_listen.as_deref().unwrap_or("-"));
    let placed = place_tasks(&config, cores.len(), &options.state_dir);
    let metrics: super::metrics::MetricsTable = Arc::new(
        placed
            .iter()
            .map(|(_, spec)| {
                (
                    spec.pipeline.name.clone(),
                    spec.task.index,
                    spec.metrics.clone(),
                )
            })
            .collect(),
    );
    if let Some(address) = &options.rest_listen {
        match std::net::TcpListener::bind(address) {
            Ok(listener) => {
                let bound = listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_else(|_| address.clone());
                let metrics = metrics.clone();
                crate::admin::serve(
                    listener,
                    status.clone(),
                    Arc::new(move || super::metrics::render(&metrics)),
                )?;
                eprintln!("% engine: REST API on http://{bound}/connectors");
            }
            Err(e) => eprintln!("% engine: REST API not started, cannot listen on {address}: {e}"),
        }
    }
    let total = placed.len();
    for (core, spec) in placed {
        tracing::info!(task = %spec.label(), core, "task placed");
        cores.send(core, CoreCommand::Start(spec));
    }

    let signals = install_signal_flag()?;
    let mut done = 0usize;
    let mut failures = 0usize;
    loop {
        if signals.load(std::sync::atomic::Ordering::SeqCst) {
            eprintln!("% engine: stopping (draining sinks, committing positions)");
            break;
        }
        match reports_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(report) => {
                log_report(&report);
                record_status(
                    &status,
                    &report,
                    options.rest_listen.as_deref().unwrap_or("-"),
                );
                match report.state {
                    TaskState::Finished | TaskState::Stopped => done += 1,
                    TaskState::Failed { .. } => failures += 1,
                    TaskState::Running => {}
                }
                if done >= total {
                    break;
                }
            }
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let deadline = Instant::now() + options.shutdown_timeout;
    let (finished_tx, finished_rx) = std_mpsc::channel();
    std::thread::spawn(move || {
        cores.stop_and_join();
        let _ = finished_tx.send(());
    });
    let remaining = deadline.saturating_duration_since(Instant::now());
    if finished_rx.recv_timeout(remaining).is_err() {
        eprintln!(
            "% engine: stop did not finish within {:?}; exiting",
            options.shutdown_timeout
        );
        return Ok(1);
    }
    while let Ok(report) = reports_rx.try_recv() {
        log_report(&report);
    }
    let _ = failures;
    Ok(0)
}

/// Every pipeline as a connector with its tasks unassigned, before any report.
fn status_table(config: &EngineConfig, worker_id: &str) -> crate::admin::StatusTable {
    let mut table = std::collections::BTreeMap::new();
    for pipeline in &config.pipelines {
        let tasks = (0..pipeline.tasks.max(1))
            .map(|i| {
                (
                    i,
                    crate::admin::TaskStatus {
                        state: "UNASSIGNED",
                        worker_id: worker_id.to_owned(),
                        trace: None,
                    },
                )
            })
            .collect();
        let mut summary = std::collections::BTreeMap::new();
        summary.insert("source".to_owned(), pipeline.source.type_name.clone());
        summary.insert("sink".to_owned(), pipeline.sink.type_name.clone());
        summary.insert("tasks.max".to_owned(), pipeline.tasks.max(1).to_string());
        // A pipeline into Kafka is what Kafka Connect calls a source connector; one out of Kafka, a sink.
        let kind = if pipeline.sink.name == "kafka" {
            "source"
        } else {
            "sink"
        };
        table.insert(
            pipeline.name.clone(),
            crate::admin::PipelineStatus {
                kind,
                config: summary,
                tasks,
            },
        );
    }
    Arc::new(std::sync::Mutex::new(table))
}

fn record_status(table: &crate::admin::StatusTable, report: &TaskReport, worker_id: &str) {
    let Some((pipeline, index)) = report.task.rsplit_once('#') else {
        return;
    };
    let Ok(index) = index.parse::<u32>() else {
        return;
    };
    let (state, trace) = match &report.state {
        TaskState::Running => ("RUNNING", None),
        TaskState::Failed { error, .. } => ("FAILED", Some(error.clone())),
        TaskState::Finished | TaskState::Stopped => ("UNASSIGNED", None),
    };
    if let Ok(mut table) = table.lock() {
        if let Some(p) = table.get_mut(pipeline) {
            p.tasks.insert(
                index,
                crate::admin::TaskStatus {
                    state,
                    worker_id: worker_id.to_owned(),
                    trace,
                },
            );
        }
    }
}

fn log_report(report: &TaskReport) {
    match &report.state {
        TaskState::Running => {
            tracing::info!(task = %report.task, core = report.core, "task running")
        }
        TaskState::Failed {
            error,
            restarts,
            retry_in,
        } => {
            eprintln!(
                "% task {} failed (restart {restarts} in {retry_in:?}): {error}",
                report.task
            )
        }
        TaskState::Finished => eprintln!("% task {} finished", report.task),
        TaskState::Stopped => tracing::info!(task = %report.task, "task stopped"),
    }
}

/// A flag set by SIGINT or SIGTERM.
fn install_signal_flag() -> anyhow::Result<Arc<std::sync::atomic::AtomicBool>> {
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let thread_flag = flag.clone();
    // A small current-thread runtime on its own thread turns signals into the flag.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async move {
                let mut term =
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    {
                        Ok(s) => s,
                        Err(_) => return,
                    };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                thread_flag.store(true, std::sync::atomic::Ordering::SeqCst);
            });
        })?;
    Ok(flag)
}
