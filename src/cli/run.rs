//! `engine --config F`: runs the config's pipelines as a standalone worker, with the REST API beside it, until
//! every task finished or SIGINT / SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::admin::{LogLevels, RestServer, RestState};
use crate::config;
use crate::runtime::backend::IoChoice;
use crate::worker::standalone::{Standalone, StandaloneOptions};

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
    /// The process's log levels, for `/admin/loggers`.
    pub log_levels: Option<Arc<LogLevels>>,
}

/// Runs the pipelines until every task finished or a signal arrives. Returns the process exit code.
pub fn run(options: RunOptions) -> anyhow::Result<i32> {
    let config = config::load(&options.config).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    if config.pipelines.is_empty() {
        anyhow::bail!("{}: no pipeline to run", options.config.display());
    }
    let mut standalone = Standalone::start(StandaloneOptions {
        cores: options.cores,
        io: options.io,
        state_dir: options.state_dir.clone(),
        shutdown_timeout: options.shutdown_timeout,
        worker_id: options.rest_listen.clone().unwrap_or_else(|| "-".into()),
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
    if let Some(address) = &options.rest_listen {
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
                };
                runtime.spawn(server.serve(state));
                eprintln!("% engine: REST API on http://{bound}/connectors");
            }
            Err(e) => eprintln!("% engine: REST API not started, cannot listen on {address}: {e}"),
        }
    }
    standalone.run_connectors(config.pipelines, config.kafka)?;
    Ok(standalone.run())
}
