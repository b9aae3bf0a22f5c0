//! A Schema Registry for one test: enough of Confluent's REST API for our AvroConverter's client and for
//! Python confluent-kafka's `SchemaRegistryClient` — register (same schema → same id), look up, schemas by id,
//! subjects and versions, compatibility answers, and Confluent's error bodies
//! (`{"error_code":40403,"message":…}`). It listens on a free port of 127.0.0.1, one thread per connection,
//! HTTP/1.1 with keep-alive.
//!
//! With `PIPEWRIGHT_TEST_SCHEMA_REGISTRY=url` set, `TestRegistry::start` uses that real registry instead;
//! `refuse_new_schemas` then sets the subject's compatibility to FULL (the test registers an incompatible
//! schema next), and a registry that demands credentials is always a local one (a real registry's users are
//! not ours to set).
//!
//! Must not: bind anything but 127.0.0.1, or keep state between tests.

use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Largest request body accepted (a schema).
const MAX_BODY_BYTES: usize = 4 << 20;

#[derive(Default)]
struct State {
    /// Schema texts; the id of `schemas[i]` is `i + 1`.
    schemas: Vec<String>,
    /// The ids registered under each subject, in version order.
    subjects: BTreeMap<String, Vec<i32>>,
    /// Subjects whose registration of a schema they do not hold answers 409.
    refusing: BTreeSet<String>,
}

struct Shared {
    state: Mutex<State>,
    /// `Authorization` header value every request must carry, when set.
    required_authorization: Option<String>,
    requests: AtomicUsize,
    stop: AtomicBool,
}

pub struct TestRegistry {
    url: String,
    /// `None` for a real registry.
    shared: Option<Arc<Shared>>,
}

fn same_schema(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Json>(a),
        serde_json::from_str::<Json>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

impl TestRegistry {
    /// The registry of `PIPEWRIGHT_TEST_SCHEMA_REGISTRY`, else a new local one.
    pub fn start() -> TestRegistry {
        match std::env::var("PIPEWRIGHT_TEST_SCHEMA_REGISTRY") {
            Ok(url) if !url.is_empty() => TestRegistry {
                url: url.trim_end_matches('/').to_owned(),
                shared: None,
            },
            _ => Self::start_local(None),
        }
    }

    /// A registry in the test, whatever `PIPEWRIGHT_TEST_SCHEMA_REGISTRY` says (for tests that count its
    /// requests).
    pub fn local() -> TestRegistry {
        Self::start_local(None)
    }

    /// A local registry that answers 401 unless a request carries Basic credentials `user_info`.
    pub fn start_with_basic_auth(user_info: &str) -> TestRegistry {
        let encoded = base64_encode(user_info.as_bytes());
        Self::start_local(Some(format!("Basic {encoded}")))
    }

    /// A local registry on `port` (one a test chose before the registry was up, to start it late).
    #[allow(dead_code)]
    pub fn local_on_port(port: u16) -> TestRegistry {
        Self::start_local_at(None, port)
    }

    fn start_local(required_authorization: Option<String>) -> TestRegistry {
        Self::start_local_at(required_authorization, 0)
    }

    fn start_local_at(required_authorization: Option<String>, port: u16) -> TestRegistry {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the test registry");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            required_authorization,
            requests: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&accepting);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        TestRegistry {
            url,
            shared: Some(shared),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_local(&self) -> bool {
        self.shared.is_some()
    }

    /// Requests answered so far (local registry only; a real one answers `None`).
    pub fn requests(&self) -> Option<usize> {
        self.shared
            .as_ref()
            .map(|s| s.requests.load(Ordering::Relaxed))
    }

    /// From now on, registering a schema `subject` does not hold yet answers 409 (a real registry: the
    /// subject's compatibility becomes FULL).
    pub fn refuse_new_schemas(&self, subject: &str) {
        match &self.shared {
            Some(shared) => {
                shared
                    .state
                    .lock()
                    .expect("registry state")
                    .refusing
                    .insert(subject.to_owned());
            }
            None => {
                let body = json!({ "compatibility": "FULL" }).to_string();
                let (status, answer) =
                    http(&self.url, "PUT", &format!("/config/{subject}"), Some(&body));
                assert_eq!(status, 200, "PUT /config/{subject}: {answer}");
            }
        }
    }

    /// Registers `schema` under `subject` as a client would; its id.
    pub fn register(&self, subject: &str, schema: &str) -> i32 {
        let body = json!({ "schema": schema }).to_string();
        let (status, answer) = http(
            &self.url,
            "POST",
            &format!("/subjects/{subject}/versions"),
            Some(&body),
        );
        assert_eq!(status, 200, "register under {subject}: {answer}");
        answer["id"].as_i64().expect("id") as i32
    }

    /// `GET` `path`: the status and JSON answer.
    pub fn get(&self, path: &str) -> (u16, Json) {
        http(&self.url, "GET", path, None)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.stop.store(true, Ordering::Relaxed);
            // Wake the accept loop so it sees `stop`.
            let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        }
    }
}

/// A tiny blocking HTTP/1.1 client for the tests' own calls (one request per connection).
fn http(base: &str, method: &str, path: &str, body: Option<&str>) -> (u16, Json) {
    let host = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).expect("connect to the registry");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read answer");
    let status: u16 = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let json_text = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (
        status,
        serde_json::from_str(json_text).unwrap_or(Json::Null),
    )
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = request_line.split_whitespace();
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return;
        };
        let (method, target) = (method.to_owned(), target.to_owned());
        let mut content_length = 0usize;
        let mut authorization = None;
        let mut close = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => content_length = value.parse().unwrap_or(0),
                    "authorization" => authorization = Some(value.to_owned()),
                    "connection" => close = value.eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        if content_length > MAX_BODY_BYTES {
            return;
        }
        let mut body = vec![0u8; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        shared.requests.fetch_add(1, Ordering::Relaxed);
        let (status, answer) = match &shared.required_authorization {
            Some(required) if authorization.as_deref() != Some(required.as_str()) => {
                (401, error_body(401, "Unauthorized"))
            }
            _ => {
                let body = String::from_utf8_lossy(&body);
                route(shared, &method, &target, &body)
            }
        };
        let text = answer.to_string();
        let reason = match status {
            200 => "OK",
            401 => "Unauthorized",
            404 => "Not Found",
            409 => "Conflict",
            422 => "Unprocessable Entity",
            _ => "Error",
        };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\n\
             Content-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(response.as_bytes()).is_err() || close {
            return;
        }
    }
}

fn error_body(code: i64, message: &str) -> Json {
    json!({ "error_code": code, "message": message })
}

fn decode_segment(s: &str) -> String {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn version_answer(state: &State, subject: &str, version: usize) -> Json {
    let id = state.subjects[subject][version - 1];
    json!({
        "subject": subject,
        "version": version,
        "id": id,
        "schema": state.schemas[(id - 1) as usize],
    })
}

fn route(shared: &Shared, method: &str, target: &str, body: &str) -> (u16, Json) {
    let path = target.split('?').next().unwrap_or(target);
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(decode_segment)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let request: Json = serde_json::from_str(body).unwrap_or(Json::Null);
    let schema_text = request["schema"].as_str().map(str::to_owned);
    let mut state = shared.state.lock().expect("registry state");
    let subject_missing = |s: &str| (404, error_body(40401, &format!("Subject '{s}' not found.")));
    match (method, segments.as_slice()) {
        ("GET", ["subjects"]) => (200, json!(state.subjects.keys().collect::<Vec<_>>())),
        ("GET", ["schemas", "ids", id]) => {
            let found = id
                .parse::<usize>()
                .ok()
                .filter(|i| *i >= 1)
                .and_then(|i| state.schemas.get(i - 1));
            match found {
                Some(schema) => (200, json!({ "schema": schema })),
                None => (404, error_body(40403, &format!("Schema {id} not found"))),
            }
        }
        ("GET", ["subjects", subject, "versions"]) => match state.subjects.get(*subject) {
            Some(ids) => (200, json!((1..=ids.len()).collect::<Vec<_>>())),
            None => subject_missing(subject),
        },
        ("GET", ["subjects", subject, "versions", version]) => {
            let Some(ids) = state.subjects.get(*subject) else {
                return subject_missing(subject);
            };
            let version = match *version {
                "latest" | "-1" => Some(ids.len()),
                v => v
                    .parse::<usize>()
                    .ok()
                    .filter(|v| *v >= 1 && *v <= ids.len()),
            };
            match version {
                Some(v) => (200, version_answer(&state, subject, v)),
                None => (404, error_body(40402, "Version not found.")),
            }
        }
        ("POST", ["subjects", subject, "versions"]) => {
            let Some(schema) = schema_text else {
                return (422, error_body(42201, "Invalid schema: no `schema` string"));
            };
            if serde_json::from_str::<Json>(&schema).is_err() && !schema.starts_with('"') {
                return (422, error_body(42201, "Invalid schema: not JSON"));
            }
            let existing = state.schemas.iter().position(|s| same_schema(s, &schema));
            let held = existing.is_some_and(|at| {
                state
                    .subjects
                    .get(*subject)
                    .is_some_and(|ids| ids.contains(&((at + 1) as i32)))
            });
            if !held && state.refusing.contains(*subject) {
                return (
                    409,
                    error_body(
                        409,
                        "Schema being registered is incompatible with an earlier schema for subject",
                    ),
                );
            }
            let id = match existing {
                Some(at) => (at + 1) as i32,
                None => {
                    state.schemas.push(schema);
                    state.schemas.len() as i32
                }
            };
            let ids = state.subjects.entry((*subject).to_owned()).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
            (200, json!({ "id": id }))
        }
        ("POST", ["subjects", subject]) => {
            let Some(schema) = schema_text else {
                return (422, error_body(42201, "Invalid schema: no `schema` string"));
            };
            let Some(ids) = state.subjects.get(*subject) else {
                return subject_missing(subject);
            };
            let found = ids
                .iter()
                .position(|id| same_schema(&state.schemas[(*id - 1) as usize], &schema));
            match found {
                Some(at) => (200, version_answer(&state, subject, at + 1)),
                None => (404, error_body(40403, "Schema not found")),
            }
        }
        ("POST", ["compatibility", "subjects", subject, "versions", _]) => {
            let Some(schema) = schema_text else {
                return (422, error_body(42201, "Invalid schema: no `schema` string"));
            };
            let held = state.subjects.get(*subject).is_some_and(|ids| {
                ids.iter()
                    .any(|id| same_schema(&state.schemas[(*id - 1) as usize], &schema))
            });
            let compatible = held || !state.refusing.contains(*subject);
            (200, json!({ "is_compatible": compatible }))
        }
        ("GET", ["config"]) | ("GET", ["config", _]) => {
            (200, json!({ "compatibilityLevel": "BACKWARD" }))
        }
        _ => (
            404,
            error_body(404, &format!("HTTP 404 Not Found: {method} {path}")),
        ),
    }
}
