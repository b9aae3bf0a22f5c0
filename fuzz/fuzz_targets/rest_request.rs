//! Arbitrary requests to the REST API: Kafka Connect's router and handlers over a real worker (memory stores,
//! a task runner that runs nothing), fed through tower's `oneshot` as hyper would hand them over.
//!
//! The input is a sequence of requests against one worker, so a request can meet the connectors earlier ones
//! created, paused, stopped or deleted. Each request is a method byte (an index into `METHODS`), the path up to
//! `\n`, then the body up to the next `\0\0` (or the input's end). Paths that are no valid URI are skipped: hyper
//! answers those 400 before the router sees them.
//!
//! Whatever comes in, no answer is a 5xx, every error body is `{"error_code": <its status>, "message": "..."}`,
//! and every other body is JSON (but `/metrics`, which is Prometheus text).
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request, Uri};
use libfuzzer_sys::fuzz_target;
use pipewright::admin::{router, RestState, MAX_REQUEST_BODY_BYTES};
use pipewright::engine::positions::TaskKey;
use pipewright::engine::task::TaskSpec;
use pipewright::worker::status::MemoryStatusStore;
use pipewright::worker::store::{MemoryConfigStore, PositionFile};
use pipewright::worker::{TaskRunner, Worker, WorkerHandle};
use tower::ServiceExt;

const METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
];

/// Requests taken from one input: enough for create → change → pause → stop → delete sequences.
const MAX_REQUESTS: usize = 8;

struct NoTasks;

impl TaskRunner for NoTasks {
    fn start_task(&mut self, _: TaskSpec) {}
    fn stop_task(&mut self, _: &TaskKey) {}
    fn pause_task(&mut self, _: &TaskKey) {}
    fn resume_task(&mut self, _: &TaskKey) {}
    fn shutdown(self: Box<Self>) {}
}

/// One positions file for the whole run: no task ever runs, so nothing is written to it.
fn positions() -> Arc<PositionFile> {
    static POSITIONS: OnceLock<Arc<PositionFile>> = OnceLock::new();
    POSITIONS
        .get_or_init(|| {
            let dir =
                std::env::temp_dir().join(format!("pipewright-fuzz-rest-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("create the fuzz state directory");
            Arc::new(PositionFile::open(dir.join("offsets.json")).expect("open the positions file"))
        })
        .clone()
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// The requests of one input, as (method, path, body).
fn requests(mut data: &[u8]) -> Vec<(Method, &[u8], &[u8])> {
    let mut out = Vec::new();
    while let [method, rest @ ..] = data {
        if out.len() == MAX_REQUESTS {
            break;
        }
        let method = METHODS[usize::from(*method) % METHODS.len()].clone();
        let (path, rest) = match rest.iter().position(|&b| b == b'\n') {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &[][..]),
        };
        let (body, rest) = match rest.windows(2).position(|w| w == b"\0\0") {
            Some(at) => (&rest[..at], &rest[at + 2..]),
            None => (rest, &[][..]),
        };
        out.push((method, path, body));
        data = rest;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let requests = requests(data);
    if requests.is_empty() {
        return;
    }
    runtime().block_on(async move {
        let (handle, mut calls) = WorkerHandle::channel();
        let mut worker = Worker::new(
            "fuzz:8083",
            Box::new(NoTasks),
            positions(),
            Box::new(MemoryConfigStore::default()),
            Box::new(MemoryStatusStore::default()),
        );
        let serving = tokio::spawn(async move {
            while let Some(call) = calls.recv().await {
                call(&mut worker);
            }
        });
        let app = router(RestState {
            worker: handle,
            log_levels: None,
            topic_tracking: Default::default(),
        kafka_cluster_id: Default::default(),
            auth: Default::default(),
            forwarding: Default::default(),
        });
        for (method, path, body) in requests {
            let Ok(uri) = Uri::try_from(path) else {
                continue;
            };
            let Ok(request) = Request::builder()
                .method(method.clone())
                .uri(uri)
                .header("content-type", "application/json")
                .body(Body::from(body.to_vec()))
            else {
                continue;
            };
            let response = app
                .clone()
                .oneshot(request)
                .await
                .expect("the router is infallible");
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), MAX_REQUEST_BODY_BYTES * 4)
                .await
                .expect("a response body within bounds");
            let shown = String::from_utf8_lossy(&bytes);
            let path = String::from_utf8_lossy(path);
            assert!(
                !status.is_server_error(),
                "{method} {path} answered {status}: {shown}"
            );
            if bytes.is_empty() || path.starts_with("/metrics") {
                continue;
            }
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!("{method} {path} answered {status} {shown:?}, not JSON: {e}")
            });
            if status.is_client_error() {
                assert_eq!(
                    value["error_code"].as_u64(),
                    Some(u64::from(status.as_u16())),
                    "{method} {path}: {shown}"
                );
                assert!(value["message"].is_string(), "{method} {path}: {shown}");
            }
        }
        drop(app);
        serving
            .await
            .expect("the worker loop ends once every handle is gone");
    });
});
