//! `engine --config F` and `engine standalone WORKER CONNECTOR…`: run the pipelines as a standalone worker, with
//! the REST API beside it, until every task finished or SIGINT / SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::admin::{LogLevels, RestServer, RestState};
use crate::config;
use crate::runtime::backend::IoChoice;
use crate::worker::standalone::{Standalone, StandaloneOptions};

/// The config files a worker runs.
#[derive(Debug, Clone)]
pub enum Configs {
    /// `engine --config F`: pipelines.toml, or one connector .properties / .json file.
    File(PathBuf),
    /// `engine standalone WORKER CONNECTOR…`.
    Standalone {
        worker: PathBuf,
        connectors: Vec<PathBuf>,
    },
}

/// The REST API's address when neither `--rest-listen` nor the worker's config gives one.
pub const DEFAULT_REST_LISTENER: &str = "127.0.0.1:8083";
/// How long a stop may take when neither `--shutdown-timeout-ms` nor the worker's config says.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// How a worker runs; options left `None` come from the worker's config, then the defaults.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub configs: Configs,
    pub cores: usize,
    pub io: IoChoice,
    /// Where file-like sources' positions are kept.
    pub state_dir: PathBuf,
    /// How long a stop may take before the process exits anyway.
    pub shutdown_timeout: Option<Duration>,
    /// Where the REST API listens, `off` for nowhere.
    pub rest_listen: Option<String>,
    /// The process's log levels, for `/admin/loggers`.
    pub log_levels: Option<Arc<LogLevels>>,
}

/// Runs the pipelines until every task finished or a signal arrives. Returns the process exit code.
pub fn run(options: RunOptions) -> anyhow::Result<i32> {
    let config = match &options.configs {
        Configs::File(path) => config::load(path),
        Configs::Standalone { worker, connectors } => config::load_standalone(worker, connectors),
    }
    .map_err(|errors| anyhow::anyhow!("{errors}"))?;
    if let Configs::File(path) = &options.configs {
        if config.pipelines.is_empty() {
            anyhow::bail!("{}: no pipeline to run", path.display());
        }
    }
    let worker = &config.worker;
    if let Some(path) = &worker.plugin_path {
        eprintln!(
            "% engine: plugin.path={path} is not used: pipewright's connectors are built in (engine --help lists them)"
        );
    }
    let rest_listen = match options.rest_listen.as_deref() {
        Some("off") => None,
        Some(address) => Some(address.to_owned()),
        None => Some(
            worker
                .rest_listener
                .clone()
                .unwrap_or_else(|| DEFAULT_REST_LISTENER.to_owned()),
        ),
    };
    let worker_id = worker
        .rest_advertised
        .clone()
        .or_else(|| rest_listen.clone())
        .unwrap_or_else(|| "-".into());
    let mut standalone = Standalone::start(StandaloneOptions {
        cores: options.cores,
        io: options.io,
        state_dir: options.state_dir.clone(),
        offset_file: worker.offset_file.clone(),
        shutdown_timeout: options
            .shutdown_timeout
            .or(worker.task_shutdown_timeout)
            .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT),
        worker_id,
    })
    .map_err(anyhow::Error::msg)?;
    tracing::info!(
        cores = standalone.core_count(),
        backend = standalone.backend_name(),
        "engine started"
    );
    eprintln!(
        "% engine: {} pipeline(s), {} core(s), {} I/O",
        config.pipelines.len(),
        standalone.core_count(),
        standalone.backend_name()
    );
    if let Some(address) = &rest_listen {
        let runtime = standalone.runtime();
        match runtime.block_on(RestServer::bind(address)) {
            Ok(server) => {
                let bound = server
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_else(|_| address.clone());
                let state = RestState {
                    worker: standalone.handle(),
                    log_levels: options.log_levels.clone(),
                    topic_tracking: worker.topic_tracking,
                    kafka_cluster_id: Arc::new(crate::admin::ClusterId::of(
                        config.defaults().admin_client(),
                    )),
                };
                runtime.spawn(server.serve(state));
                eprintln!("% engine: REST API on http://{bound}/connectors");
            }
            Err(e) => eprintln!("% engine: REST API not started, cannot listen on {address}: {e}"),
        }
    }
    let defaults = config.defaults();
    standalone.run_connectors(config.pipelines, defaults)?;
    Ok(standalone.run())
}
