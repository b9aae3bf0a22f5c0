//! The REST API over a real worker (memory stores, a task runner that runs nothing), request by request.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use super::*;
use crate::engine::control::{TaskReport, TaskState};
use crate::engine::positions::TaskKey;
use crate::engine::task::TaskSpec;
use crate::worker::status::MemoryStatusStore;
use crate::worker::store::{MemoryConfigStore, PositionFile};
use crate::worker::{TaskRunner, Worker};

struct NoTasks;

impl TaskRunner for NoTasks {
    fn start_task(&mut self, _: TaskSpec) {}
    fn stop_task(&mut self, _: &TaskKey) {}
    fn pause_task(&mut self, _: &TaskKey) {}
    fn resume_task(&mut self, _: &TaskKey) {}
    fn shutdown(self: Box<Self>) {}
}

/// A worker served on a task of the test's runtime, as the control thread serves it.
pub(super) fn state(dir: &tempfile::TempDir) -> RestState {
    let (worker_handle, mut calls) = WorkerHandle::channel();
    let mut worker = Worker::new(
        "host:8083",
        Box::new(NoTasks),
        Arc::new(PositionFile::open(dir.path().join("offsets.json")).unwrap()),
        Box::new(MemoryConfigStore::default()),
        Box::new(MemoryStatusStore::default()),
    );
    tokio::spawn(async move {
        while let Some(call) = calls.recv().await {
            call(&mut worker);
        }
    });
    RestState {
        worker: worker_handle,
        log_levels: None,
        topic_tracking: Default::default(),
        kafka_cluster_id: Default::default(),
        auth: Default::default(),
        forwarding: Default::default(),
    }
}

async fn send(
    state: &RestState,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, value)
}

fn file_source(file: &str) -> Value {
    json!({"connector.class": "FileStreamSource", "file": file, "topic": "lines", "tasks.max": "1"})
}

#[tokio::test]
async fn a_connector_is_created_read_changed_and_deleted_as_kafka_connect_answers() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir);
    let (status, body) = send(
        &state,
        Method::POST,
        "/connectors",
        Some(json!({"name": "src", "config": file_source("/tmp/a")})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "src");
    assert_eq!(body["type"], "source");
    assert_eq!(body["tasks"], json!([{"connector": "src", "task": 0}]));
    assert_eq!(body["config"]["file"], "/tmp/a");

    let (status, body) = send(
        &state,
        Method::POST,
        "/connectors",
        Some(json!({"name": "src", "config": file_source("/tmp/b")})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        json!({"error_code": 409, "message": "Connector src already exists"})
    );

    assert_eq!(
        send(&state, Method::GET, "/connectors", None).await.1,
        json!(["src"])
    );
    let (_, config) = send(&state, Method::GET, "/connectors/src/config", None).await;
    assert_eq!(config["connector.class"], "FileStreamSource");

    let (status, _) = send(
        &state,
        Method::PUT,
        "/connectors/src/config",
        Some(file_source("/tmp/c")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "an existing connector is changed");
    let (status, _) = send(
        &state,
        Method::PUT,
        "/connectors/new/config",
        Some(file_source("/tmp/d")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "an unknown one is created");
    let (status, body) = send(
        &state,
        Method::PATCH,
        "/connectors/src/config",
        Some(json!({"file": "/tmp/e", "tasks.max": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["config"]["file"], "/tmp/e");
    assert!(body["config"].get("tasks.max").is_none());

    let (status, body) = send(&state, Method::GET, "/connectors/src/tasks", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body[0]["id"], json!({"connector": "src", "task": 0}));
    assert_eq!(body[0]["config"]["file"], "/tmp/e");

    assert_eq!(
        send(&state, Method::DELETE, "/connectors/src", None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = send(&state, Method::GET, "/connectors/src", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Connector src not found");
    assert_eq!(
        send(&state, Method::DELETE, "/connectors/src", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_requests_are_400s_that_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir);
    let (status, body) = send(
        &state,
        Method::POST,
        "/connectors",
        Some(json!({"name": "x", "config": {"connector.class": "FileStreamSourc"}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Connector configuration is invalid and contains the following 1 error(s)"
        ),
        "{message}"
    );
    assert!(
        message.contains("did you mean \"FileStreamSource\""),
        "{message}"
    );
    let (status, body) = send(
        &state,
        Method::POST,
        "/connectors",
        Some(json!({"config": {}})),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("Connector name should not be null")
        )
    );
    let (status, _) = send(
        &state,
        Method::PUT,
        "/connectors/x/config",
        Some(json!({"name": "y", "connector.class": "FileStreamSource"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let request = Request::builder()
        .method(Method::POST)
        .uri("/connectors")
        .body(Body::from("{not json"))
        .unwrap();
    let response = router(state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (status, body) = send(&state, Method::GET, "/nope", None).await;
    assert_eq!(
        (status, body["error_code"].as_u64()),
        (StatusCode::NOT_FOUND, Some(404))
    );
    let (status, _) = send(&state, Method::GET, "/connectors/x/tasks/zero/status", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn status_shows_each_task_with_its_last_error_and_the_target_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir);
    // Datagen, whose tasks each do useful work (a file source runs one task whatever tasks.max says).
    let config = json!({"connector.class": "datagen", "topic": "lines", "tasks.max": "2"});
    send(
        &state,
        Method::POST,
        "/connectors",
        Some(json!({"name": "orders", "config": config})),
    )
    .await;
    state
        .worker
        .call(|w| {
            w.handle_report(&TaskReport {
                core: 0,
                task: TaskKey::new("orders", 0),
                state: TaskState::Running,
            });
            w.handle_report(&TaskReport {
                core: 1,
                task: TaskKey::new("orders", 1),
                state: TaskState::Failed {
                    error: "boom \"x\"".into(),
                    restarts: 1,
                    retry_in: Some(std::time::Duration::from_secs(1)),
                },
            });
        })
        .await
        .unwrap();
    let (status, body) = send(&state, Method::GET, "/connectors/orders/status", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"name": "orders", "connector": {"state": "RUNNING", "worker_id": "host:8083"},
               "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "host:8083"},
                         {"id": 1, "state": "FAILED", "worker_id": "host:8083", "trace": "boom \"x\""}],
               "type": "source"})
    );
    let (_, task) = send(
        &state,
        Method::GET,
        "/connectors/orders/tasks/1/status",
        None,
    )
    .await;
    assert_eq!(task["trace"], "boom \"x\"");
    let (status, body) = send(&state, Method::GET, "/connectors/nope/status", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("No status found for connector nope"));

    let (status, body) = send(
        &state,
        Method::POST,
        "/connectors/orders/restart?includeTasks=true&onlyFailed=true",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["tasks"][0]["state"], "RUNNING");
    assert_eq!(body["tasks"][1]["state"], "RESTARTING");
    assert_eq!(
        send(&state, Method::POST, "/connectors/orders/restart", None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(
            &state,
            Method::POST,
            "/connectors/orders/tasks/1/restart",
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );

    assert_eq!(
        send(&state, Method::PUT, "/connectors/orders/pause", None)
            .await
            .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        send(&state, Method::GET, "/connectors/orders/status", None)
            .await
            .1["connector"]["state"],
        "PAUSED"
    );
    assert_eq!(
        send(&state, Method::PUT, "/connectors/orders/stop", None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&state, Method::GET, "/connectors/orders/status", None)
            .await
            .1["connector"]["state"],
        "STOPPED"
    );
    assert_eq!(
        send(&state, Method::PUT, "/connectors/orders/resume", None)
            .await
            .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        send(&state, Method::GET, "/connectors/orders/status", None)
            .await
            .1["connector"]["state"],
        "UNASSIGNED"
    );

    let (_, expanded) = send(
        &state,
        Method::GET,
        "/connectors?expand=status&expand=info",
        None,
    )
    .await;
    assert_eq!(expanded["orders"]["status"]["name"], "orders");
    assert_eq!(expanded["orders"]["info"]["config"]["tasks.max"], "2");
    let (_, only_info) = send(&state, Method::GET, "/connectors?expand=info", None).await;
    assert!(only_info["orders"].get("status").is_none());
    let (_, unknown) = send(&state, Method::GET, "/connectors?expand=foo", None).await;
    assert_eq!(
        unknown,
        json!({"orders": {}}),
        "unknown expansions are ignored"
    );
}

#[tokio::test]
async fn plugins_are_listed_described_and_validate_configs() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir);
    let (_, plugins) = send(&state, Method::GET, "/connector-plugins", None).await;
    let classes: Vec<&str> = plugins
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["class"].as_str())
        .collect();
    assert!(
        classes.contains(&"org.apache.kafka.connect.file.FileStreamSourceConnector"),
        "{classes:?}"
    );
    assert!(plugins
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["type"] == "source" || p["type"] == "sink"));
    let (_, all) = send(
        &state,
        Method::GET,
        "/connector-plugins?connectorsOnly=false",
        None,
    )
    .await;
    let types: std::collections::BTreeSet<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["type"].as_str())
        .collect();
    assert!(
        types.contains("transformation")
            && types.contains("converter")
            && types.contains("predicate"),
        "{types:?}"
    );

    let (status, keys) = send(
        &state,
        Method::GET,
        "/connector-plugins/FileStreamSource/config",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(keys
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["name"] == "file" && k["type"] == "STRING"));

    let (status, report) = send(
        &state,
        Method::PUT,
        "/connector-plugins/FileStreamSourceConnector/config/validate",
        Some(json!({"connector.class": "FileStreamSource", "topic": "t", "batch.size": "many"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(report["error_count"].as_u64().unwrap() >= 1, "{report}");
    let configs = report["configs"].as_array().unwrap();
    let batch = configs
        .iter()
        .find(|c| c["definition"]["name"] == "batch.size")
        .unwrap();
    assert_eq!(batch["value"]["value"], "many");
    assert!(
        !batch["value"]["errors"].as_array().unwrap().is_empty(),
        "{batch}"
    );
    let (_, clean) = send(
        &state,
        Method::PUT,
        "/connector-plugins/FileStreamSource/config/validate",
        Some(json!({"connector.class": "FileStreamSource", "file": "/tmp/x", "topic": "t"})),
    )
    .await;
    assert_eq!(clean["error_count"], 0, "{clean}");
    let (status, _) = send(
        &state,
        Method::PUT,
        "/connector-plugins/FileStreamSink/config/validate",
        Some(json!({"connector.class": "FileStreamSource"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        send(&state, Method::GET, "/connector-plugins/Nope/config", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off_while_others_are_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir);
    let server = RestServer::bind("127.0.0.1:0").await.unwrap();
    let address = server.local_addr().unwrap();
    tokio::spawn(server.serve_with(state, std::time::Duration::from_millis(300)));
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    // Others are answered while it holds its half-sent request.
    for _ in 0..5 {
        let mut fast = tokio::net::TcpStream::connect(address).await.unwrap();
        fast.write_all(b"GET /connectors HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        fast.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("[]"), "{answer}");
    }
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        slow.read_to_end(&mut rest),
    )
    .await;
    assert!(
        read.is_ok(),
        "the half-sent request is cut off, not held open"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn health_answers_healthy_while_the_worker_answers_and_unhealthy_once_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir);
    let (status, body) = send(&state, Method::GET, "/health", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"status": "healthy", "message": "Worker has completed startup and is ready to handle requests."})
    );
    // A worker whose loop has ended: its calls are never answered.
    let (gone, calls) = WorkerHandle::channel();
    drop(calls);
    let gone = RestState {
        worker: gone,
        log_levels: None,
        topic_tracking: Default::default(),
        kafka_cluster_id: Default::default(),
        auth: Default::default(),
        forwarding: Default::default(),
    };
    let (status, body) = send(&gone, Method::GET, "/health", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["status"], "unhealthy");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Worker was unable to handle this request")),
        "{body}"
    );
}

#[tokio::test]
async fn a_password_type_value_is_hidden_in_every_answer() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir);
    let config = json!({
        "source.type": "file", "source.file": "/tmp/in.txt",
        "sink.type": "http", "sink.url": "http://127.0.0.1:9/ingest",
        "sink.auth.type": "BASIC", "sink.connection.user": "ingest",
        "sink.connection.password": "s3cret-value",
    });
    let (status, body) = send(
        &state,
        Method::POST,
        "/connectors",
        Some(json!({"name": "guarded", "config": config})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["config"]["sink.connection.password"], "[hidden]",
        "{body}"
    );
    let (_, shown) = send(&state, Method::GET, "/connectors/guarded/config", None).await;
    assert_eq!(shown["sink.connection.password"], "[hidden]", "{shown}");
    assert_eq!(shown["sink.connection.user"], "ingest", "{shown}");
    for path in [
        "/connectors/guarded",
        "/connectors/guarded/tasks",
        "/connectors?expand=info",
    ] {
        let (_, body) = send(&state, Method::GET, path, None).await;
        assert!(!body.to_string().contains("s3cret-value"), "{path}: {body}");
    }
    let (_, validated) = send(
        &state,
        Method::PUT,
        "/connector-plugins/http/config/validate",
        Some(config),
    )
    .await;
    assert!(
        !validated.to_string().contains("s3cret-value"),
        "{validated}"
    );
}

#[tokio::test]
async fn offsets_are_read_always_and_changed_only_on_a_stopped_connector() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir);
    let created =
        json!({"name": "src", "config": file_source("/tmp/a"), "initial_state": "STOPPED"});
    assert_eq!(
        send(&state, Method::POST, "/connectors", Some(created))
            .await
            .0,
        StatusCode::CREATED
    );
    let read = || send(&state, Method::GET, "/connectors/src/offsets", None);
    assert_eq!(read().await, (StatusCode::OK, json!({"offsets": []})));
    let to = |position: Value| json!({"offsets": [{"partition": {"filename": "/tmp/a"}, "offset": position}]});
    let (status, body) = send(
        &state,
        Method::PATCH,
        "/connectors/src/offsets",
        Some(to(json!({"position": 42}))),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({"message": "The offsets for this connector have been altered successfully"})
        )
    );
    assert_eq!(read().await.1, to(json!({"position": 42})));

    for (body, says) in [
        (
            json!({"offsets": []}),
            "Partitions / offsets need to be provided",
        ),
        (json!({}), "Partitions / offsets need to be provided"),
        (
            json!({"offsets": [{"offset": {"position": 1}}]}),
            "Partition objects cannot be null",
        ),
        (
            json!({"offsets": [{"partition": {"filename": "/tmp/a"}, "offset": 3}]}),
            "JSON object or null",
        ),
        (to(json!({"position": "far"})), "Long value"),
    ] {
        let (status, answer) = send(
            &state,
            Method::PATCH,
            "/connectors/src/offsets",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error_code"], 400);
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{body}: {answer}"
        );
    }

    assert_eq!(
        send(&state, Method::PUT, "/connectors/src/resume", None)
            .await
            .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        read().await.1,
        to(json!({"position": 42})),
        "read while running"
    );
    for method in [Method::PATCH, Method::DELETE] {
        let (status, answer) = send(
            &state,
            method.clone(),
            "/connectors/src/offsets",
            Some(to(Value::Null)),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method}");
        assert_eq!(
            answer["message"],
            "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the \
             specified connector by issuing a 'PUT' request to the '/connectors/src/stop' endpoint"
        );
    }
    assert_eq!(
        send(&state, Method::PUT, "/connectors/src/stop", None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = send(&state, Method::DELETE, "/connectors/src/offsets", None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({"message": "The offsets for this connector have been reset successfully"})
        )
    );
    assert_eq!(read().await.1, json!({"offsets": []}));
    let (status, body) = send(&state, Method::GET, "/connectors/nope/offsets", None).await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (StatusCode::NOT_FOUND, json!(404))
    );
}

#[tokio::test]
async fn active_topics_are_listed_under_the_connectors_name_and_reset_with_202() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir);
    let created = json!({"name": "src", "config": file_source("/tmp/a")});
    assert_eq!(
        send(&state, Method::POST, "/connectors", Some(created))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        send(&state, Method::GET, "/connectors/src/topics", None).await,
        (StatusCode::OK, json!({"src": {"topics": []}}))
    );
    assert_eq!(
        send(&state, Method::PUT, "/connectors/src/topics/reset", None).await,
        (StatusCode::ACCEPTED, Value::Null)
    );
    for (method, path) in [
        (Method::GET, "/connectors/nope/topics"),
        (Method::PUT, "/connectors/nope/topics/reset"),
    ] {
        let (status, body) = send(&state, method, path, None).await;
        assert_eq!(
            (status, body["error_code"].clone()),
            (StatusCode::NOT_FOUND, json!(404)),
            "{path}"
        );
    }
}

#[tokio::test]
async fn active_topics_answer_403_when_the_worker_turned_tracking_or_its_reset_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = state(&dir);
    let created = json!({"name": "src", "config": file_source("/tmp/a")});
    assert_eq!(
        send(&state, Method::POST, "/connectors", Some(created))
            .await
            .0,
        StatusCode::CREATED
    );
    state.topic_tracking.allow_reset = false;
    assert_eq!(
        send(&state, Method::GET, "/connectors/src/topics", None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        send(&state, Method::PUT, "/connectors/src/topics/reset", None).await,
        (
            StatusCode::FORBIDDEN,
            json!({"error_code": 403, "message": "Topic tracking reset is disabled."})
        )
    );
    state.topic_tracking.enabled = false;
    for (method, path) in [
        (Method::GET, "/connectors/src/topics"),
        (Method::PUT, "/connectors/src/topics/reset"),
    ] {
        assert_eq!(
            send(&state, method, path, None).await,
            (
                StatusCode::FORBIDDEN,
                json!({"error_code": 403, "message": "Topic tracking is disabled."})
            ),
            "{path}"
        );
    }
}

mod authentication {
    use super::*;
    use crate::config::rest_server::{BasicUsers, BearerToken, RestAuth};

    fn protected(dir: &tempfile::TempDir) -> RestState {
        let mut state = state(dir);
        state.auth = RestAuth {
            basic: Some(Arc::new(BasicUsers::new(
                "users.properties".into(),
                vec![("admin".into(), "s3cret".into())],
            ))),
            bearer: Some(Arc::new(BearerToken::new("token".into(), "t0ken"))),
        };
        state
    }

    async fn send_as(
        state: &RestState,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Vec<String>, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let request = request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = router(state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let challenges = response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, challenges, value)
    }

    fn basic(user_password: &str) -> String {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        )
    }

    #[tokio::test]
    async fn requests_without_acceptable_credentials_get_401_with_the_challenges() {
        let dir = tempfile::tempdir().unwrap();
        let state = protected(&dir);
        for authorization in [
            None,
            Some(basic("admin:wrong")),
            Some(basic("nobody:s3cret")),
            Some(basic("admin")),
            Some("Basic !!!".to_owned()),
            Some("Bearer t0ke".to_owned()),
            Some("Digest t0ken".to_owned()),
        ] {
            for path in ["/connectors", "/", "/no/such/path"] {
                let (status, challenges, body) =
                    send_as(&state, Method::GET, path, authorization.as_deref(), None).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?} {path}");
                assert_eq!(
                    challenges,
                    ["Basic realm=\"pipewright\"", "Bearer realm=\"pipewright\""]
                );
                assert_eq!(
                    body,
                    json!({"error_code": 401, "message": "User cannot access the resource."})
                );
            }
        }
        for authorization in [
            basic("admin:s3cret"),
            "Bearer t0ken".to_owned(),
            "bearer  t0ken".to_owned(),
        ] {
            let (status, _, body) = send_as(
                &state,
                Method::GET,
                "/connectors",
                Some(&authorization),
                None,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{authorization}: {body}");
            assert_eq!(body, json!([]));
        }
    }

    #[tokio::test]
    async fn writes_without_credentials_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state = protected(&dir);
        let file = dir.path().join("in.txt");
        std::fs::write(&file, "").unwrap();
        let connector = json!({"name": "guarded", "config": {
            "connector.class": "FileStreamSource", "file": file.display().to_string(), "topic": "t"}});
        let (status, _, _) = send_as(
            &state,
            Method::POST,
            "/connectors",
            Some(&basic("admin:nope")),
            Some(connector.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let admin = basic("admin:s3cret");
        let (_, _, listed) = send_as(&state, Method::GET, "/connectors", Some(&admin), None).await;
        assert_eq!(listed, json!([]), "nothing was created");
        let (status, _, body) = send_as(
            &state,
            Method::POST,
            "/connectors",
            Some(&admin),
            Some(connector),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, _, _) =
            send_as(&state, Method::DELETE, "/connectors/guarded", None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (_, _, listed) = send_as(&state, Method::GET, "/connectors", Some(&admin), None).await;
        assert_eq!(listed, json!(["guarded"]), "still there");
    }
}

#[tokio::test]
async fn a_client_stalling_in_the_tls_handshake_is_cut_off_while_others_are_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let tls = crate::config::rest_server::RestTls {
        server: Arc::new(server),
        client_auth: Default::default(),
        client: Arc::new(
            rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        ),
    };
    let listener = crate::config::rest_server::RestListener {
        scheme: crate::config::rest_server::RestScheme::Https,
        host: "127.0.0.1".into(),
        port: 0,
    };
    let server = RestServer::bind_listener(&listener, Some(&tls))
        .await
        .unwrap();
    let address = server.local_addr().unwrap();
    tokio::spawn(server.serve_with(state(&dir), std::time::Duration::from_millis(300)));

    // Connected, and never says a word of TLS.
    let mut stalled = tokio::net::TcpStream::connect(address).await.unwrap();
    // Meanwhile a client that trusts the certificate is answered.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut tls_stream = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    tls_stream
        .write_all(b"GET /connectors HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls_stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("[]"), "{answer}");

    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stalled.read_to_end(&mut rest),
    )
    .await;
    assert!(
        read.is_ok(),
        "the stalled handshake is cut off, not held open"
    );
}
