//! Kafka Connect's request forwarding: in a distributed cluster the leader carries out every request that
//! changes a connector, so a follower sends such a request on to the leader's REST URL and answers what the
//! leader answered (status, `Content-Type`, `Location`, `WWW-Authenticate`, body). Reads are answered where
//! they arrive.
//!
//! One middleware ([`to_leader`]) does it for every route, before the handlers: it asks the worker for its
//! [`ClusterRole`] and carries the request out here (standalone, leader), refuses it with 409 (rebalancing, no
//! leader known, or too many hops), or forwards it. The `forward` query parameter counts the hops as Kafka
//! Connect counts them (HerderRequestHandler): a request without it may be forwarded with `forward=true`, one
//! with `forward=true` once more with `forward=false`, and one with `forward=false` is not forwarded again, so a
//! request sent round between workers that disagree about the leader ends in 409 instead of a loop. The
//! caller's `Authorization` goes on with it, as Kafka Connect's does.
//!
//! Must not: wait for the leader without a bound (it has [`LeaderForwarding::timeout`], then the answer is 500
//! naming it), read a body larger than the REST API takes, or forward a request it has carried out.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::RestError;
use super::rest_client::{exchange, RestUrl};
use super::{RestState, MAX_REQUEST_BODY_BYTES, REQUEST_TIMEOUT};
use crate::config::rest_server::RestTls;
use crate::worker::ClusterRole;

/// Kafka Connect's answer (409) to a change asked for while the cluster rebalances (RebalanceNeededException).
pub const STALE_CONFIGURATION: &str = "Cannot complete request momentarily due to stale configuration (typically caused by a concurrent config change)";
/// Kafka Connect's answer (409) when this worker follows a leader whose URL it does not know.
pub const NO_KNOWN_LEADER: &str = "Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway.";
/// Kafka Connect's answer (409) to a request that reached a follower after its last allowed hop.
pub const CONFLICTING_OPERATION: &str =
    "Cannot complete request because of a conflicting operation (e.g. worker rebalance)";
/// The query parameter that counts hops between workers.
pub const FORWARD_PARAMETER: &str = "forward";
/// The largest answer taken from the leader: a connector's info or status, small.
pub const MAX_LEADER_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// How this worker reaches its leader.
#[derive(Clone)]
pub struct LeaderForwarding {
    /// What an https leader URL is reached with; none: an https leader cannot be reached (500 saying so).
    tls: Option<tokio_rustls::TlsConnector>,
    /// How long the leader has to answer a forwarded request.
    pub timeout: Duration,
}

impl Default for LeaderForwarding {
    fn default() -> Self {
        Self {
            tls: None,
            timeout: REQUEST_TIMEOUT,
        }
    }
}

impl LeaderForwarding {
    /// Forwarding with the client side of the worker's REST TLS (none: no https listener, so no TLS settings),
    /// the leader given [`REQUEST_TIMEOUT`] to answer.
    pub fn new(tls: Option<&RestTls>) -> Self {
        Self {
            tls: tls.map(|tls| tokio_rustls::TlsConnector::from(tls.client.clone())),
            timeout: REQUEST_TIMEOUT,
        }
    }

    /// Forwarding over TLS with `client`.
    pub fn with_tls_client(client: Arc<rustls::ClientConfig>) -> Self {
        Self {
            tls: Some(tokio_rustls::TlsConnector::from(client)),
            timeout: REQUEST_TIMEOUT,
        }
    }
}

/// Whether the leader carries out `method` on `path`: the changes to connectors Kafka Connect forwards, and
/// pause, resume and the topics' reset (Kafka Connect's followers write those to the config and status topics
/// themselves; ours leave every change to the leader, which owns the configs).
pub fn carried_out_by_leader(method: &Method, path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/connectors") else {
        return false;
    };
    let segments: Vec<&str> = match rest.strip_prefix('/') {
        Some(rest) => rest.split('/').collect(),
        None if rest.is_empty() => Vec::new(),
        None => return false,
    };
    let m = method;
    match segments.as_slice() {
        [] => m == Method::POST,
        [_name] => m == Method::DELETE,
        [_, "config"] => m == Method::PUT || m == Method::PATCH,
        [_, "restart"] | [_, "tasks", _, "restart"] => m == Method::POST,
        [_, "pause" | "resume" | "stop"] | [_, "topics", "reset"] => m == Method::PUT,
        [_, "offsets"] => m == Method::PATCH || m == Method::DELETE,
        _ => false,
    }
}

/// The connector and task of `POST /connectors/{name}/tasks/{task}/restart`.
fn task_restart(method: &Method, path: &str) -> Option<(String, u32)> {
    if method != Method::POST {
        return None;
    }
    let rest = path.strip_prefix("/connectors/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        [name, "tasks", task, "restart"] => Some((super::query::decode(name), task.parse().ok()?)),
        _ => None,
    }
}

/// Sends a task restart the leader got to the worker that runs the task, at `owner_url`, and answers what it
/// answered (Kafka Connect's leader does the same).
pub(super) async fn to_task_owner(
    forwarding: &LeaderForwarding,
    owner_url: &str,
    request: Request,
) -> Response {
    let hop = Hop::of(request.uri().query());
    let Some(next_forward) = hop.next() else {
        return RestError::new(StatusCode::CONFLICT, CONFLICTING_OPERATION).into_response();
    };
    forward(forwarding, owner_url, next_forward, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Which hop a request is on, from its `forward` query parameter (the first one, as JAX-RS reads it; any value
/// but `true`, in any case, is false).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// No `forward`: from a caller, not a worker; it may be forwarded twice.
    FromCaller,
    /// `forward=true`: forwarded once; it may be forwarded once more.
    FirstForward,
    /// `forward=false`: forwarded as far as it may go.
    LastForward,
}

impl Hop {
    pub fn of(query: Option<&str>) -> Self {
        let values = super::query::values(&query.map(str::to_owned), FORWARD_PARAMETER);
        match values.first() {
            None => Self::FromCaller,
            Some(value) if value.eq_ignore_ascii_case("true") => Self::FirstForward,
            Some(_) => Self::LastForward,
        }
    }

    /// The `forward` value the next hop gets; none: it may not be forwarded again.
    fn next(self) -> Option<bool> {
        match self {
            Self::FromCaller => Some(true),
            Self::FirstForward => Some(false),
            Self::LastForward => None,
        }
    }
}

/// The middleware: lets reads and a leader's (or a standalone worker's) changes through to the handlers, and
/// sends a follower's changes to the leader.
pub async fn to_leader(State(state): State<RestState>, request: Request, next: Next) -> Response {
    if !carried_out_by_leader(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    // A task restart is carried out where the task runs (Kafka Connect's leader sends it on to the owner):
    // the owner does it whoever sent it.
    if let Some((name, task)) = task_restart(request.method(), request.uri().path()) {
        let runs_here = state.worker.call(move |w| w.runs_task(&name, task));
        if let Ok(Ok(true)) = tokio::time::timeout(REQUEST_TIMEOUT, runs_here).await {
            return next.run(request).await;
        }
    }
    let role = state.worker.call(|w| w.cluster_role().clone());
    let role = match tokio::time::timeout(REQUEST_TIMEOUT, role).await {
        Ok(Ok(role)) => role,
        Ok(Err(gone)) => return RestError::from(gone).into_response(),
        Err(_) => {
            return RestError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the worker did not answer within {} s",
                    REQUEST_TIMEOUT.as_secs()
                ),
            )
            .into_response()
        }
    };
    match role {
        ClusterRole::Standalone | ClusterRole::Leader => next.run(request).await,
        ClusterRole::Rebalancing => {
            RestError::new(StatusCode::CONFLICT, STALE_CONFIGURATION).into_response()
        }
        ClusterRole::Follower { leader_url } => {
            let hop = Hop::of(request.uri().query());
            let Some(next_forward) = hop.next() else {
                tracing::error!(
                    method = %request.method(),
                    path = request.uri().path(),
                    "request not carried out: it reached a follower after two hops between workers"
                );
                return RestError::new(StatusCode::CONFLICT, CONFLICTING_OPERATION).into_response();
            };
            if leader_url.trim().is_empty() {
                return RestError::new(StatusCode::CONFLICT, NO_KNOWN_LEADER).into_response();
            }
            forward(&state.forwarding, &leader_url, next_forward, request)
                .await
                .unwrap_or_else(IntoResponse::into_response)
        }
    }
}

/// Sends `request` to the leader at `leader_url` with `forward=next_forward`, and answers what it answered.
async fn forward(
    forwarding: &LeaderForwarding,
    leader_url: &str,
    next_forward: bool,
    request: Request,
) -> Result<Response, RestError> {
    let (head, body) = request.into_parts();
    let path_and_query = forwarded_path(head.uri.path(), head.uri.query(), next_forward);
    let failed = |target: &str, cause: &dyn std::fmt::Display| {
        RestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("IO Error trying to forward REST request to the leader at {target}: {cause}"),
        )
    };
    let leader = RestUrl::parse(leader_url).map_err(|e| failed(leader_url, &e))?;
    let target = leader.target(&path_and_query);
    // The caller's body, under the limits a handler would have read it with.
    let body = match tokio::time::timeout(
        REQUEST_TIMEOUT,
        axum::body::to_bytes(body, MAX_REQUEST_BODY_BYTES),
    )
    .await
    {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            return Err(RestError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                "the request body could not be read (at most {MAX_REQUEST_BODY_BYTES} bytes): {e}"
            ),
            ))
        }
        Err(_) => {
            return Err(RestError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s",
                    REQUEST_TIMEOUT.as_secs()
                ),
            ))
        }
    };
    let mut to_leader = hyper::Request::builder()
        .method(head.method.clone())
        .uri(&path_and_query)
        .header(header::ACCEPT, "application/json");
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE] {
        if let Some(value) = head.headers.get(&name) {
            to_leader = to_leader.header(name, value);
        }
    }
    let to_leader = to_leader
        .body(Body::from(body))
        .map_err(|e| failed(&target, &e))?;
    tracing::debug!(method = %head.method, %target, "forwarding REST request to the leader");
    let answer = tokio::time::timeout(
        forwarding.timeout,
        exchange(
            &leader,
            forwarding.tls.as_ref(),
            to_leader,
            MAX_LEADER_ANSWER_BYTES,
        ),
    )
    .await;
    let answer = match answer {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => return Err(failed(&target, &e)),
        Err(_) => {
            let cause = format!("no answer within {} ms", forwarding.timeout.as_millis());
            return Err(failed(&target, &cause));
        }
    };
    let status = answer.head.status;
    // Kafka Connect passes on success and error answers; anything else is no answer it knows what to do with.
    if !(status.is_success() || status.is_client_error() || status.is_server_error()) {
        return Err(RestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "Unexpected status code when handling forwarded request: {} (from the leader at {target})",
                status.as_u16()
            ),
        ));
    }
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = status;
    copy_answer_headers(&answer.head.headers, response.headers_mut());
    Ok(response)
}

/// The headers of the leader's answer that say something about it to the caller.
fn copy_answer_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for name in [
        header::CONTENT_TYPE,
        header::LOCATION,
        header::WWW_AUTHENTICATE,
    ] {
        for value in from.get_all(&name) {
            to.append(name.clone(), value.clone());
        }
    }
}

/// `path` with `forward=next_forward` first and the caller's other parameters after it, as sent.
fn forwarded_path(path: &str, query: Option<&str>, next_forward: bool) -> String {
    let mut out = format!("{path}?{FORWARD_PARAMETER}={next_forward}");
    for pair in query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|pair| !pair.is_empty())
    {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        if super::query::decode(name) != FORWARD_PARAMETER {
            out.push('&');
            out.push_str(pair);
        }
    }
    out
}

#[cfg(test)]
mod tests;
