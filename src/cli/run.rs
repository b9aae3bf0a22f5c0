//! `engine --config F` and `engine standalone WORKER CONNECTOR…`: run the pipelines as a standalone worker, with
//! the REST API beside it, until every task finished or SIGINT / SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::admin::{LogLevels, RestServer, RestState};
use crate::config;
use crate::config::rest_server::{
    ClientAuth, RestListener, RestScheme, RestServerSpec, DEFAULT_REST_HOST, DEFAULT_REST_PORT,
};
use crate::runtime::backend::IoChoice;
use crate::worker::distributed::{Distributed, DistributedOptions};
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
    /// `engine distributed WORKER`.
    Distributed { worker: PathBuf },
}

/// A started worker of either mode, before its loop runs.
enum StartedWorker {
    Standalone(Box<Standalone>),
    Distributed(Box<Distributed>),
}

impl StartedWorker {
    fn runtime(&self) -> tokio::runtime::Handle {
        match self {
            StartedWorker::Standalone(w) => w.runtime(),
            StartedWorker::Distributed(w) => w.runtime(),
        }
    }

    fn handle(&self) -> crate::worker::WorkerHandle {
        match self {
            StartedWorker::Standalone(w) => w.handle(),
            StartedWorker::Distributed(w) => w.handle(),
        }
    }

    fn core_count(&self) -> usize {
        match self {
            StartedWorker::Standalone(w) => w.core_count(),
            StartedWorker::Distributed(w) => w.core_count(),
        }
    }

    fn backend_name(&self) -> &'static str {
        match self {
            StartedWorker::Standalone(w) => w.backend_name(),
            StartedWorker::Distributed(w) => w.backend_name(),
        }
    }
}

/// The REST API's address when neither `--rest-listen` nor the worker's config gives one.
pub const DEFAULT_REST_LISTENER: &str = "127.0.0.1:8083";

/// The listeners to bind: `--rest-listen HOST:PORT` (one http listener) or `off`, else the worker's, else
/// [`DEFAULT_REST_LISTENER`].
fn rest_listeners(
    option: Option<&str>,
    spec: &RestServerSpec,
) -> anyhow::Result<Vec<RestListener>> {
    match option {
        Some("off") => Ok(Vec::new()),
        Some(address) => {
            let (host, port) = address
                .rsplit_once(':')
                .and_then(|(h, p)| {
                    Some((
                        h.trim_start_matches('[').trim_end_matches(']'),
                        p.parse().ok()?,
                    ))
                })
                .ok_or_else(|| {
                    anyhow::anyhow!("--rest-listen {address}: expected HOST:PORT or off")
                })?;
            Ok(vec![RestListener::http(host, port)])
        }
        None if spec.listeners.is_empty() => Ok(vec![RestListener::http(
            DEFAULT_REST_HOST,
            DEFAULT_REST_PORT,
        )]),
        None => Ok(spec.listeners.clone()),
    }
}

/// The warning a listener bound to `bound` deserves: one when anyone on the network may call it.
fn exposure_warning(
    bound: std::net::SocketAddr,
    listener: &RestListener,
    spec: &RestServerSpec,
) -> Option<&'static str> {
    (!bound.ip().is_loopback() && !authenticates(listener, spec)).then_some(
        "the REST API is open to the network without authentication: anyone who reaches it can create, \
         change and delete connectors. Bind 127.0.0.1, or turn on basic auth (rest.extension.classes), a \
         bearer token (rest.auth.bearer.token.file) or required client certificates \
         (listeners.https.ssl.client.auth=required)",
    )
}

/// Whether callers of `listener` must prove who they are: basic auth or a bearer token, or on https a client
/// certificate the truststore vouches for.
fn authenticates(listener: &RestListener, spec: &RestServerSpec) -> bool {
    spec.auth.is_required()
        || (listener.scheme == RestScheme::Https
            && spec
                .tls
                .as_ref()
                .is_some_and(|t| t.client_auth == ClientAuth::Required))
}
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
        Configs::Distributed { worker } => config::load_distributed(worker),
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
    let listeners = rest_listeners(options.rest_listen.as_deref(), &worker.rest)?;
    let worker_id = worker
        .rest_advertised
        .clone()
        .or_else(|| listeners.first().map(RestListener::address))
        .unwrap_or_else(|| "-".into());
    let shutdown_timeout = options
        .shutdown_timeout
        .or(worker.task_shutdown_timeout)
        .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT);
    let standalone = match &worker.distributed {
        None => StartedWorker::Standalone(Box::new(
            Standalone::start(StandaloneOptions {
                cores: options.cores,
                io: options.io,
                state_dir: options.state_dir.clone(),
                offset_file: worker.offset_file.clone(),
                shutdown_timeout,
                worker_id,
            })
            .map_err(anyhow::Error::msg)?,
        )),
        Some(spec) => {
            let client = config.defaults().admin_client().ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: a distributed worker needs bootstrap.servers: the cluster its group and internal topics live in",
                    config.file
                )
            })?;
            let scheme = listeners.first().map_or("http", |l| l.scheme_name());
            StartedWorker::Distributed(Box::new(
                Distributed::start(
                    DistributedOptions {
                        cores: options.cores,
                        io: options.io,
                        shutdown_timeout,
                        rest_url: format!("{scheme}://{worker_id}/"),
                        worker_id,
                        spec: spec.clone(),
                        client,
                    },
                    config.defaults(),
                )
                .map_err(anyhow::Error::msg)?,
            ))
        }
    };
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
    let kafka_cluster_id = Arc::new(crate::admin::ClusterId::of(
        config.defaults().admin_client(),
    ));
    for listener in &listeners {
        let runtime = standalone.runtime();
        match runtime.block_on(RestServer::bind_listener(
            listener,
            worker.rest.tls.as_ref(),
        )) {
            Ok(server) => {
                let bound = server.local_addr().ok();
                let shown = bound.map_or_else(|| listener.address(), |a| a.to_string());
                let state = RestState {
                    worker: standalone.handle(),
                    log_levels: options.log_levels.clone(),
                    topic_tracking: worker.topic_tracking,
                    kafka_cluster_id: kafka_cluster_id.clone(),
                    auth: worker.rest.auth.clone(),
                    forwarding: crate::admin::LeaderForwarding::new(worker.rest.tls.as_ref()),
                };
                runtime.spawn(server.serve(state));
                let scheme = listener.scheme_name();
                eprintln!("% engine: REST API on {scheme}://{shown}/connectors");
                if let Some(warning) =
                    bound.and_then(|a| exposure_warning(a, listener, &worker.rest))
                {
                    tracing::warn!(listener = %format!("{scheme}://{shown}"), "{warning}");
                }
            }
            // A cluster's worker is reached at its REST URL by the others (forwarded requests, task
            // restarts): one that cannot listen must not join the group.
            Err(e) if matches!(standalone, StartedWorker::Distributed(_)) => {
                anyhow::bail!("REST API not started: {e}; a distributed worker needs its listener")
            }
            Err(e) => eprintln!("% engine: REST API not started: {e}"),
        }
    }
    match standalone {
        StartedWorker::Standalone(mut standalone) => {
            let defaults = config.defaults();
            standalone.run_connectors(config.pipelines, defaults)?;
            Ok(standalone.run())
        }
        StartedWorker::Distributed(distributed) => Ok(distributed.run()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_beyond_loopback_without_authentication_is_warned_about() {
        let open = RestServerSpec::default();
        let listener = RestListener::http("0.0.0.0", 8083);
        let everywhere: std::net::SocketAddr = "0.0.0.0:8083".parse().unwrap();
        let one_interface: std::net::SocketAddr = "192.0.2.10:8083".parse().unwrap();
        let loopback: std::net::SocketAddr = "127.0.0.1:8083".parse().unwrap();
        let loopback6: std::net::SocketAddr = "[::1]:8083".parse().unwrap();
        assert!(exposure_warning(everywhere, &listener, &open).is_some());
        assert!(exposure_warning(one_interface, &listener, &open).is_some());
        assert!(exposure_warning(loopback, &listener, &open).is_none());
        assert!(exposure_warning(loopback6, &listener, &open).is_none());
        // With a bearer token (or basic auth) the API is protected wherever it listens.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "t0ken").unwrap();
        std::fs::write(
            dir.path().join("worker.properties"),
            format!(
                "bootstrap.servers=127.0.0.1:1\nrest.auth.bearer.token.file={}/token\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let worker = config::load_standalone(&dir.path().join("worker.properties"), &[])
            .unwrap()
            .worker;
        assert!(worker.rest.auth.bearer.is_some());
        assert!(exposure_warning(everywhere, &listener, &worker.rest).is_none());
    }
}
