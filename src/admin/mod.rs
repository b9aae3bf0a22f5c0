//! The REST API: Kafka Connect's (every endpoint of 4.x, its status codes and JSON shapes) and `/metrics`
//! (Prometheus text), on hyper + axum on the control thread's runtime.
//!
//! Handlers are a few lines each over the worker ([`WorkerHandle`]); nothing here runs a task or reads a
//! record. Each connection is served on its own, so a slow client holds up no other: headers must arrive within
//! [`HEADER_READ_TIMEOUT`] (a TLS handshake too) and a whole request within [`REQUEST_TIMEOUT`], and heads and
//! bodies are bounded. Listeners are http or https (rustls, the TLS the worker config built, client certificates
//! checked there); who may call is [`auth`]'s to say, before any handler runs. In a distributed cluster a
//! follower sends the changes to the leader ([`forward`]), after `auth` and before the handlers.

pub mod auth;
mod connectors;
pub mod error;
pub mod forward;
pub mod loggers;
mod plugins;
mod query;
pub mod rest_client;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower_http::timeout::TimeoutLayer;

use crate::config::rest_server::{RestAuth, RestListener, RestScheme, RestTls};
use crate::worker::WorkerHandle;
use error::RestError;
pub use forward::LeaderForwarding;
pub use loggers::LogLevels;

/// The most bytes a request's line and headers may take (hyper's read buffer).
pub const MAX_REQUEST_HEAD_BYTES: usize = 64 * 1024;
/// The largest request body taken: connector configs are small.
pub const MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;
/// How long a client has to send a request's line and headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request (body included) may take to be read and answered.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 512;

/// What every handler has.
#[derive(Clone)]
pub struct RestState {
    pub worker: WorkerHandle,
    pub log_levels: Option<Arc<LogLevels>>,
    /// Whether `/connectors/{name}/topics` answers, and its reset (the worker's `topic.tracking.*` keys).
    pub topic_tracking: crate::config::TopicTracking,
    /// The id of the Kafka cluster the worker uses, as `GET /` shows it (Kafka Connect does too).
    pub kafka_cluster_id: Arc<ClusterId>,
    /// Who may call: every route, the unknown ones included, answers 401 without acceptable credentials.
    pub auth: RestAuth,
    /// How a follower reaches the leader it forwards changes to.
    pub forwarding: LeaderForwarding,
}

/// The id of the worker's Kafka cluster: read from the broker once something asks for it (the first `GET /`),
/// so a worker no one asks opens no extra connection and a refused broker is still reported once, by the
/// clients that need it.
#[derive(Debug, Default)]
pub struct ClusterId {
    admin: Option<crate::client::config::CommonConfig>,
    id: Arc<std::sync::OnceLock<String>>,
    asked: std::sync::atomic::AtomicBool,
}

impl ClusterId {
    /// The id of the cluster `admin` reaches (none: no Kafka to ask).
    pub fn of(admin: Option<crate::client::config::CommonConfig>) -> Self {
        Self {
            admin,
            ..Self::default()
        }
    }

    /// The id when known. The first call starts reading it and waits up to a second for the answer; later
    /// ones answer at once (null until it arrives).
    async fn get(&self) -> Option<String> {
        if let Some(admin) = &self.admin {
            if !self.asked.swap(true, std::sync::atomic::Ordering::Relaxed) {
                look_up_cluster_id(admin.clone(), self.id.clone());
                for _ in 0..20 {
                    if self.id.get().is_some() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        self.id.get().cloned()
    }
}

/// Reads the id of the cluster `admin` reaches on a thread of its own (the REST API's runtime must not wait
/// for a broker), retrying every second until it is known or the process ends, and keeps it in `into`.
fn look_up_cluster_id(
    admin: crate::client::config::CommonConfig,
    into: Arc<std::sync::OnceLock<String>>,
) {
    let lookup = move || async move {
        let client = crate::runtime::Admin::new(admin);
        loop {
            let asked = client.run(crate::client::admin::DescribeCluster {
                topics: Some(Vec::new()),
            });
            match tokio::time::timeout(Duration::from_secs(30), asked).await {
                Ok(Ok(cluster)) => {
                    if let Some(id) = cluster.cluster_id {
                        let _ = into.set(id);
                    }
                    break;
                }
                // The connection failure is logged by the client; the lookup tries again.
                Ok(Err(_)) | Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
        client.close().await;
    };
    if let Err(e) = crate::runtime::backend::spawn_on_own_thread("pipewright-cluster-id", lookup) {
        tracing::warn!(error = %e, "no thread to read the Kafka cluster id on");
    }
}

/// Every route of the API.
pub fn router(state: RestState) -> Router {
    let auth = state.auth.clone();
    let forwarding = state.clone();
    let routes = Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route(
            "/connectors",
            get(connectors::list).post(connectors::create),
        )
        .route(
            "/connectors/{name}",
            get(connectors::get).delete(connectors::delete),
        )
        .route(
            "/connectors/{name}/config",
            get(connectors::get_config)
                .put(connectors::put_config)
                .patch(connectors::patch_config),
        )
        .route("/connectors/{name}/status", get(connectors::status))
        .route("/connectors/{name}/tasks", get(connectors::tasks))
        .route(
            "/connectors/{name}/tasks/{task}/status",
            get(connectors::task_status),
        )
        .route("/connectors/{name}/restart", post(connectors::restart))
        .route(
            "/connectors/{name}/tasks/{task}/restart",
            post(connectors::restart_task),
        )
        .route("/connectors/{name}/pause", put(connectors::pause))
        .route("/connectors/{name}/resume", put(connectors::resume))
        .route("/connectors/{name}/stop", put(connectors::stop))
        .route(
            "/connectors/{name}/offsets",
            get(connectors::get_offsets)
                .patch(connectors::alter_offsets)
                .delete(connectors::reset_offsets),
        )
        .route("/connectors/{name}/topics", get(connectors::topics))
        .route(
            "/connectors/{name}/topics/reset",
            put(connectors::reset_topics),
        )
        .route("/connector-plugins", get(plugins::list))
        .route("/connector-plugins/{plugin}/config", get(plugins::config))
        .route(
            "/connector-plugins/{plugin}/config/validate",
            put(plugins::validate),
        )
        .route("/admin/loggers", get(loggers::list))
        .route(
            "/admin/loggers/{logger}",
            get(loggers::get).put(loggers::set),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(state)
        // Outside the request's time limit: the leader has its own (`LeaderForwarding::timeout`), answered
        // with a 500 that names it.
        .layer(axum::middleware::from_fn_with_state(
            forwarding,
            forward::to_leader,
        ));
    if auth.is_required() {
        // Outermost, so nothing (not even the body limit's read) happens for a caller it refuses.
        routes.layer(axum::middleware::from_fn_with_state(
            auth,
            auth::require_credentials,
        ))
    } else {
        routes
    }
}

async fn root(State(state): State<RestState>) -> Response {
    let kafka_cluster_id = state.kafka_cluster_id.get().await;
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "commit": "",
        "kafka_cluster_id": kafka_cluster_id,
    }))
    .into_response()
}

/// How long `GET /health` waits for the worker, as Kafka Connect's (KIP-1017) does: shorter than other requests, so a
/// probe sees a stuck worker quickly.
pub const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /health` (KIP-1017): 200 when the worker's loop answers a call, 500 when it does not within
/// [`HEALTH_CHECK_TIMEOUT`] or has ended. The REST API is served from that loop's thread once the connectors of
/// the config are placed, so there is no "starting" answer to give: until then the connection waits.
async fn health(State(state): State<RestState>) -> Response {
    let (code, status, message) =
        match tokio::time::timeout(HEALTH_CHECK_TIMEOUT, state.worker.call(|_| ())).await {
            Ok(Ok(())) => (
                StatusCode::OK,
                "healthy",
                "Worker has completed startup and is ready to handle requests.".to_owned(),
            ),
            Ok(Err(_)) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "unhealthy",
                "Worker was unable to handle this request and may be unable to handle other requests: \
                 the worker has stopped."
                    .to_owned(),
            ),
            Err(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "unhealthy",
                format!(
                    "Worker was unable to handle this request and may be unable to handle other requests: \
                     it did not answer within {} s.",
                    HEALTH_CHECK_TIMEOUT.as_secs()
                ),
            ),
        };
    (code, Json(json!({"status": status, "message": message}))).into_response()
}

async fn metrics(State(state): State<RestState>) -> Result<Response, RestError> {
    let text = state.worker.call(|w| w.metrics_text()).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

async fn not_found(uri: axum::http::Uri) -> RestError {
    RestError::not_found(format!("No such resource: {}", uri.path()))
}

/// A known path asked with a method it does not take: 405 with Kafka Connect's error body (axum's own has none).
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> RestError {
    RestError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("HTTP 405 Method Not Allowed: {method} {}", uri.path()),
    )
}

/// A bound listener, ready to serve.
pub struct RestServer {
    listener: TcpListener,
    /// Set for an https listener.
    tls: Option<TlsAcceptor>,
}

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error("{address}: an https listener without TLS settings")]
    NoTls { address: String },
}

impl RestServer {
    /// Binds a plain http listener on `address` (`host:port`); call from inside the control thread's runtime.
    pub async fn bind(address: &str) -> std::io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(address).await?,
            tls: None,
        })
    }

    /// Binds `listener`, with `tls` for an https one.
    pub async fn bind_listener(
        listener: &RestListener,
        tls: Option<&RestTls>,
    ) -> Result<Self, BindError> {
        let address = listener.address();
        let tls = match listener.scheme {
            RestScheme::Http => None,
            RestScheme::Https => match tls {
                Some(tls) => Some(TlsAcceptor::from(tls.server.clone())),
                None => return Err(BindError::NoTls { address }),
            },
        };
        let bound = TcpListener::bind(&address)
            .await
            .map_err(|source| BindError::Listen {
                address: address.clone(),
                source,
            })?;
        Ok(Self {
            listener: bound,
            tls,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the runtime ends, each connection on its own task.
    pub async fn serve(self, state: RestState) {
        self.serve_with(state, HEADER_READ_TIMEOUT).await
    }

    /// [`RestServer::serve`] with another header read timeout (tests).
    pub async fn serve_with(self, state: RestState, header_read_timeout: Duration) {
        let router = router(state);
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "REST API: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(router.clone());
            let tls = self.tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => serve_connection(stream, service, header_read_timeout, peer).await,
                    Some(acceptor) => {
                        // The handshake has the time the head has: a client that stalls in it is cut off too.
                        match tokio::time::timeout(header_read_timeout, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(stream)) => {
                                serve_connection(stream, service, header_read_timeout, peer).await
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "REST TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(%peer, "REST TLS handshake timed out"),
                        }
                    }
                }
                drop(permit);
            });
        }
    }
}

async fn serve_connection<S>(
    stream: S,
    service: TowerToHyperService<Router>,
    header_read_timeout: Duration,
    peer: SocketAddr,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_buf_size(MAX_REQUEST_HEAD_BYTES)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = connection.await {
        tracing::debug!(%peer, error = %e, "REST connection ended");
    }
}
