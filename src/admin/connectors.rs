//! `/connectors…`: Kafka Connect's connector resources, each a few lines over the worker.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::error::RestError;
use super::RestState;
use crate::worker::offsets::{ConnectorOffset, OffsetsAnswer, OffsetsRequest};
use crate::worker::requests::ConnectorInfo;
use crate::worker::status::{ConnectorStatus, TargetState, TaskStatus};

type Reply = Result<Response, RestError>;

fn ok(value: Value) -> Reply {
    Ok(Json(value).into_response())
}

fn info_json(info: &ConnectorInfo) -> Value {
    json!({
        "name": info.name,
        "config": info.config,
        "tasks": info.tasks.iter().map(|t| json!({"connector": info.name, "task": t})).collect::<Vec<_>>(),
        "type": info.kind,
    })
}

fn task_status_json(id: u32, task: &TaskStatus) -> Value {
    let mut object = json!({"id": id, "state": task.state, "worker_id": task.worker_id});
    if let Some(trace) = &task.trace {
        object["trace"] = Value::String(trace.clone());
    }
    object
}

fn status_json(name: &str, status: &ConnectorStatus) -> Value {
    json!({
        "name": name,
        "connector": {"state": status.state(), "worker_id": status.worker_id},
        "tasks": status.tasks.iter().map(|(id, t)| task_status_json(*id, t)).collect::<Vec<_>>(),
        "type": status.kind,
    })
}

/// A boolean query parameter (`true`/`false`, any case); absent is `false`.
fn query_flag(query: &Option<String>, name: &str) -> Result<bool, RestError> {
    match super::query::values(query, name)
        .last()
        .map(|v| v.to_ascii_lowercase())
    {
        None => Ok(false),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(RestError::bad_request(format!(
            "query parameter {name} must be true or false, not {v:?}"
        ))),
    }
}

/// A JSON body; malformed JSON is a 400 naming the problem.
pub(super) fn json_body(body: &Bytes) -> Result<Value, RestError> {
    serde_json::from_slice(body)
        .map_err(|e| RestError::bad_request(format!("Request body is not valid JSON: {e}")))
}

/// A connector config object: every value a string (numbers and booleans are taken as their text, as Kafka
/// Connect's JSON mapper does).
pub(super) fn config_map(value: &Value) -> Result<BTreeMap<String, String>, RestError> {
    let Value::Object(object) = value else {
        return Err(RestError::bad_request(
            "Connector config must be a JSON object of string values",
        ));
    };
    object
        .iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => {
                    return Err(RestError::bad_request(format!(
                        "Connector config value of {key:?} is null"
                    )))
                }
                _ => {
                    return Err(RestError::bad_request(format!(
                        "Connector config value of {key:?} must be a string"
                    )))
                }
            };
            Ok((key.clone(), text))
        })
        .collect()
}

/// `GET /connectors` (`?expand=status`, `?expand=info`, both). Any `expand` answers the map of names, even one
/// whose values name no expansion (those are ignored, as Kafka Connect ignores them).
pub(super) async fn list(State(state): State<RestState>, RawQuery(query): RawQuery) -> Reply {
    let expand = super::query::values(&query, "expand");
    let want_status = expand.iter().any(|e| e == "status");
    let want_info = expand.iter().any(|e| e == "info");
    if expand.is_empty() {
        let names = state.worker.call(|w| w.connector_names()).await?;
        return ok(json!(names));
    }
    let views = state
        .worker
        .call(move |w| {
            let statuses = w.statuses();
            w.connector_names()
                .into_iter()
                .filter_map(|name| {
                    let info = w.connector_info(&name).ok()?;
                    let status = statuses.get(&name)?.clone();
                    Some((name, info, status))
                })
                .collect::<Vec<_>>()
        })
        .await?;
    let mut out = Map::new();
    for (name, info, status) in views {
        let mut entry = Map::new();
        if want_status {
            entry.insert("status".into(), status_json(&name, &status));
        }
        if want_info {
            entry.insert("info".into(), info_json(&info));
        }
        out.insert(name, Value::Object(entry));
    }
    ok(Value::Object(out))
}

/// `POST /connectors` with `{"name": …, "config": {…}, "initial_state": …}` (KIP-980). The name is trimmed, as
/// Kafka Connect trims it.
pub(super) async fn create(
    State(state): State<RestState>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let body = json_body(&body)?;
    let name = match body.get("name") {
        Some(Value::String(name)) => name.trim().to_owned(),
        Some(Value::Null) | None => match body.get("config").and_then(|c| c.get("name")) {
            Some(Value::String(name)) => name.clone(),
            _ => return Err(RestError::bad_request("Connector name should not be null")),
        },
        Some(_) => return Err(RestError::bad_request("Connector name must be a string")),
    };
    let config = match body.get("config") {
        Some(config) => config_map(config)?,
        None => {
            return Err(RestError::bad_request(
                "Connector config should not be null",
            ))
        }
    };
    let initial = match body.get("initial_state") {
        None | Some(Value::Null) => TargetState::Running,
        Some(Value::String(state)) => TargetState::parse(state).ok_or_else(|| {
            RestError::bad_request(format!(
                "initial_state must be RUNNING, PAUSED or STOPPED, not {state:?}"
            ))
        })?,
        Some(_) => return Err(RestError::bad_request("initial_state must be a string")),
    };
    let info = state
        .worker
        .call(move |w| w.create_connector(&name, &config, initial))
        .await??;
    Ok(created(&headers, &info))
}

/// 201 with the connector and its address in `Location`, absolute as Kafka Connect's (its JAX-RS resolves the
/// path against the address the request was sent to).
fn created(headers: &HeaderMap, info: &ConnectorInfo) -> Response {
    let path = format!("/connectors/{}", encode_path_segment(&info.name));
    let location = match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => format!("http://{host}{path}"),
        None => path,
    };
    let mut response = (StatusCode::CREATED, Json(info_json(info))).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `text` as one path segment: everything but RFC 3986's unreserved characters percent-encoded.
fn encode_path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

pub(super) async fn get(State(state): State<RestState>, Path(name): Path<String>) -> Reply {
    let info = state
        .worker
        .call(move |w| w.connector_info(&name))
        .await??;
    ok(info_json(&info))
}

pub(super) async fn get_config(State(state): State<RestState>, Path(name): Path<String>) -> Reply {
    let config = state
        .worker
        .call(move |w| w.connector_config(&name))
        .await??;
    ok(json!(config))
}

/// `PUT /connectors/{name}/config`: 201 when it created the connector, 200 when it changed one.
pub(super) async fn put_config(
    State(state): State<RestState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let config = config_map(&json_body(&body)?)?;
    let (is_new, info) = state
        .worker
        .call(move |w| w.put_connector_config(&name, &config))
        .await??;
    if is_new {
        return Ok(created(&headers, &info));
    }
    ok(info_json(&info))
}

/// `PATCH /connectors/{name}/config` (KIP-477): a null value removes the key.
pub(super) async fn patch_config(
    State(state): State<RestState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Reply {
    let Value::Object(object) = json_body(&body)? else {
        return Err(RestError::bad_request(
            "A config patch must be a JSON object",
        ));
    };
    let mut patch = BTreeMap::new();
    for (key, value) in object {
        let value = match value {
            Value::Null => None,
            other => Some(
                config_map(&json!({ key.clone(): other }))?
                    .remove(&key)
                    .unwrap_or_default(),
            ),
        };
        patch.insert(key, value);
    }
    let info = state
        .worker
        .call(move |w| w.patch_connector_config(&name, &patch))
        .await??;
    ok(info_json(&info))
}

pub(super) async fn status(State(state): State<RestState>, Path(name): Path<String>) -> Reply {
    let lookup = name.clone();
    let status = state
        .worker
        .call(move |w| w.connector_status(&lookup))
        .await?
        .map_err(|_| RestError::not_found(format!("No status found for connector {name}")))?;
    ok(status_json(&name, &status))
}

pub(super) async fn tasks(State(state): State<RestState>, Path(name): Path<String>) -> Reply {
    let lookup = name.clone();
    let tasks = state
        .worker
        .call(move |w| w.task_configs(&lookup))
        .await??;
    ok(Value::Array(
        tasks
            .into_iter()
            .map(
                |(task, config)| json!({"id": {"connector": name, "task": task}, "config": config}),
            )
            .collect(),
    ))
}

fn task_id(text: &str) -> Result<u32, RestError> {
    text.parse()
        .map_err(|_| RestError::not_found(format!("Task {text} not found")))
}

pub(super) async fn task_status(
    State(state): State<RestState>,
    Path((name, task)): Path<(String, String)>,
) -> Reply {
    let task = task_id(&task)?;
    let status = state
        .worker
        .call(move |w| w.task_status(&name, task))
        .await??;
    ok(task_status_json(task, &status))
}

/// `POST /connectors/{name}/restart` (KIP-745): 204 for the connector alone, 202 with the status otherwise.
pub(super) async fn restart(
    State(state): State<RestState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Reply {
    let include_tasks = query_flag(&query, "includeTasks")?;
    let only_failed = query_flag(&query, "onlyFailed")?;
    let lookup = name.clone();
    let status = state
        .worker
        .call(move |w| w.restart_connector(&lookup, include_tasks, only_failed))
        .await??;
    if !include_tasks && !only_failed {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok((StatusCode::ACCEPTED, Json(status_json(&name, &status))).into_response())
}

pub(super) async fn restart_task(
    State(state): State<RestState>,
    Path((name, task)): Path<(String, String)>,
    request: axum::extract::Request,
) -> Reply {
    let task = task_id(&task)?;
    let restarted = state
        .worker
        .call(move |w| w.restart_task(&name, task))
        .await?;
    match restarted {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        // The leader got it; the task runs on another worker, which carries it out.
        Err(crate::worker::WorkerError::RunsElsewhere { owner_url }) => {
            Ok(super::forward::to_task_owner(&state.forwarding, &owner_url, request).await)
        }
        Err(other) => Err(other.into()),
    }
}

async fn change_state(
    state: RestState,
    name: String,
    target: TargetState,
) -> Result<(), RestError> {
    state
        .worker
        .call(move |w| w.change_target_state(&name, target))
        .await??;
    Ok(())
}

pub(super) async fn pause(State(state): State<RestState>, Path(name): Path<String>) -> Reply {
    change_state(state, name, TargetState::Paused).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub(super) async fn resume(State(state): State<RestState>, Path(name): Path<String>) -> Reply {
    change_state(state, name, TargetState::Running).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub(super) async fn stop(State(state): State<RestState>, Path(name): Path<String>) -> Reply {
    change_state(state, name, TargetState::Stopped).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn delete(State(state): State<RestState>, Path(name): Path<String>) -> Reply {
    state
        .worker
        .call(move |w| w.delete_connector(&name))
        .await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A reading or change of a connector's offsets, answered as Kafka Connect answers it: `{"offsets": [...]}`
/// or `{"message": ...}`.
async fn offsets_reply(state: RestState, name: String, request: OffsetsRequest) -> Reply {
    let work = state
        .worker
        .call(move |w| w.connector_offsets(&name, request))
        .await??;
    match work.finish().await? {
        OffsetsAnswer::Offsets(offsets) => ok(json!({
            "offsets": offsets
                .iter()
                .map(|o| json!({"partition": o.partition, "offset": o.offset}))
                .collect::<Vec<_>>(),
        })),
        OffsetsAnswer::Message(message) => ok(json!({ "message": message })),
    }
}

/// `GET /connectors/{name}/offsets` (KIP-875).
pub(super) async fn get_offsets(State(state): State<RestState>, Path(name): Path<String>) -> Reply {
    offsets_reply(state, name, OffsetsRequest::Read).await
}

/// `PATCH /connectors/{name}/offsets` with `{"offsets": [{"partition": {...}, "offset": {...} | null}]}`.
pub(super) async fn alter_offsets(
    State(state): State<RestState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Reply {
    let body = json_body(&body)?;
    let entries = match body.get("offsets") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(entries)) => entries.clone(),
        Some(_) => return Err(RestError::bad_request("offsets must be a JSON array")),
    };
    let mut offsets = Vec::with_capacity(entries.len());
    for entry in entries {
        let partition =
            match entry.get("partition") {
                Some(Value::Object(partition)) => partition.clone(),
                _ => return Err(RestError::bad_request(
                    "Partition objects cannot be null: each offset needs a \"partition\" object",
                )),
            };
        let offset = match entry.get("offset") {
            None | Some(Value::Null) => None,
            Some(Value::Object(offset)) => Some(offset.clone()),
            Some(other) => {
                return Err(RestError::bad_request(format!(
                    "An offset must be a JSON object or null, not {other}"
                )))
            }
        };
        offsets.push(ConnectorOffset { partition, offset });
    }
    offsets_reply(state, name, OffsetsRequest::Alter(offsets)).await
}

/// `DELETE /connectors/{name}/offsets`.
pub(super) async fn reset_offsets(
    State(state): State<RestState>,
    Path(name): Path<String>,
) -> Reply {
    offsets_reply(state, name, OffsetsRequest::Reset).await
}

/// 403 with Kafka Connect's messages when the worker's `topic.tracking.enable` (or, for a reset,
/// `topic.tracking.allow.reset`) is false.
fn tracking_allowed(state: &RestState, reset: bool) -> Result<(), RestError> {
    if !state.topic_tracking.enabled {
        return Err(RestError::new(
            StatusCode::FORBIDDEN,
            "Topic tracking is disabled.",
        ));
    }
    if reset && !state.topic_tracking.allow_reset {
        return Err(RestError::new(
            StatusCode::FORBIDDEN,
            "Topic tracking reset is disabled.",
        ));
    }
    Ok(())
}

/// `GET /connectors/{name}/topics` (KIP-558): `{"<name>": {"topics": [...]}}`.
pub(super) async fn topics(State(state): State<RestState>, Path(name): Path<String>) -> Reply {
    tracking_allowed(&state, false)?;
    let lookup = name.clone();
    let topics = state
        .worker
        .call(move |w| w.connector_active_topics(&lookup))
        .await??;
    ok(json!({ name: {"topics": topics} }))
}

/// `PUT /connectors/{name}/topics/reset`: 202 with no body, as Kafka Connect answers.
pub(super) async fn reset_topics(
    State(state): State<RestState>,
    Path(name): Path<String>,
) -> Reply {
    tracking_allowed(&state, true)?;
    state
        .worker
        .call(move |w| w.reset_connector_active_topics(&name))
        .await??;
    Ok(StatusCode::ACCEPTED.into_response())
}
