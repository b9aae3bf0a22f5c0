//! A search cluster for the Elasticsearch sink tests: an HTTP server on 127.0.0.1 implementing the part of the
//! Elasticsearch REST API the sink and the tests use, built from Elasticsearch's documented request and
//! response formats — `POST /_bulk` (NDJSON action and source lines; `index`, `create`, `update` with
//! `doc_as_upsert`, `delete`; external versioning; a reply with per-item `status` and `error.type`/`reason`),
//! `HEAD`/`PUT /{index}`, `GET`/`PUT /{index}/_mapping`, `GET /{index}/_doc/{id}`, `_count`, `_search`,
//! `_refresh`. A document that is not a JSON object, or holds a non-number where the mapping says `long`, is
//! refused with `mapper_parsing_exception`, as Elasticsearch refuses it.
//!
//! Faults the tests ask for: the next N bulk requests answered 429 as a whole, or the next N bulk items
//! refused with 429 (`es_rejected_execution_exception`) in an otherwise good reply.
//!
//! With `PIPEWRIGHT_TEST_ELASTICSEARCH=http://host:9200` the server forwards every request to that cluster
//! instead, injecting the same faults on the way (items refused are cut out of the forwarded request and
//! their 429s spliced into the reply), so the same tests run against a real cluster.
//!
//! [`SearchCluster::start_tls`] serves the same API over https too (a CA and a certificate for `localhost` made
//! with rcgen for the run; the tests' own calls stay on plain http).
//!
//! Must not: bind anything but 127.0.0.1.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

/// Most bytes of one request the server reads.
const MAX_REQUEST_BYTES: usize = 256 << 20;

#[derive(Default)]
struct Document {
    source: Value,
    version: i64,
}

#[derive(Default)]
struct Index {
    documents: BTreeMap<String, Document>,
    /// `properties` of the mapping.
    properties: serde_json::Map<String, Value>,
}

#[derive(Default)]
struct State {
    indices: BTreeMap<String, Index>,
    reject_requests: usize,
    reject_items: usize,
    bulk_requests: usize,
    items_rejected: usize,
    requests_rejected: usize,
}

/// The test cluster (or the proxy in front of a real one).
pub struct SearchCluster {
    port: u16,
    state: Arc<Mutex<State>>,
    upstream: Option<String>,
    /// With [`SearchCluster::start_tls`]: the https port and the directory holding the CA's PEM file.
    tls: Option<(u16, tempfile::TempDir)>,
}

impl SearchCluster {
    /// Starts the server; in front of `PIPEWRIGHT_TEST_ELASTICSEARCH` when that is set.
    pub fn start() -> SearchCluster {
        let upstream = std::env::var("PIPEWRIGHT_TEST_ELASTICSEARCH")
            .ok()
            .filter(|u| !u.is_empty())
            .map(|u| u.trim_end_matches('/').to_owned());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let forward_to = upstream.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&shared);
                let upstream = forward_to.clone();
                thread::spawn(move || serve_stream(stream, &state, upstream.as_deref()));
            }
        });
        SearchCluster {
            port,
            state,
            upstream,
            tls: None,
        }
    }

    /// [`SearchCluster::start`], also serving https on a port of its own, with a certificate for `localhost` and
    /// 127.0.0.1 from a CA made for this run ([`SearchCluster::ca_file`]).
    pub fn start_tls() -> SearchCluster {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let mut cluster = SearchCluster::start();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("certificate params")
            .signed_by(&key, &ca)
            .expect("certificate");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write ca.pem");
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server TLS config");
        let server = Arc::new(server);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let tls_port = listener.local_addr().expect("local addr").port();
        let shared = Arc::clone(&cluster.state);
        let forward_to = cluster.upstream.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let Ok(connection) = rustls::ServerConnection::new(Arc::clone(&server)) else {
                    continue;
                };
                let state = Arc::clone(&shared);
                let upstream = forward_to.clone();
                thread::spawn(move || {
                    let tls = rustls::StreamOwned::new(connection, stream);
                    serve_stream(tls, &state, upstream.as_deref())
                });
            }
        });
        cluster.tls = Some((tls_port, dir));
        cluster
    }

    /// The PEM file of the CA of [`SearchCluster::start_tls`]'s certificate.
    pub fn ca_file(&self) -> PathBuf {
        let (_, dir) = self.tls.as_ref().expect("started with start_tls");
        dir.path().join("ca.pem")
    }

    /// What the sink's `connection.url` is.
    pub fn url(&self) -> String {
        match &self.tls {
            Some((port, _)) => format!("https://localhost:{port}"),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    pub fn is_real(&self) -> bool {
        self.upstream.is_some()
    }

    /// The next `n` bulk requests are answered 429 as a whole.
    pub fn reject_next_requests(&self, n: usize) {
        self.state.lock().unwrap().reject_requests = n;
    }

    /// The next `n` bulk items are refused with 429.
    pub fn reject_next_items(&self, n: usize) {
        self.state.lock().unwrap().reject_items = n;
    }

    /// (bulk requests seen, requests answered 429, items refused with 429).
    pub fn fault_counts(&self) -> (usize, usize, usize) {
        let s = self.state.lock().unwrap();
        (s.bulk_requests, s.requests_rejected, s.items_rejected)
    }

    /// Every document of `index`: id → source (after a refresh on a real cluster).
    pub fn documents(&self, index: &str) -> BTreeMap<String, Value> {
        let reply = self.call("POST", &format!("/{index}/_refresh"), b"");
        if reply.0 == 404 {
            return BTreeMap::new();
        }
        let (status, body) = self.call(
            "POST",
            &format!("/{index}/_search"),
            br#"{"size":10000,"query":{"match_all":{}}}"#,
        );
        if status == 404 {
            return BTreeMap::new();
        }
        assert_eq!(status, 200, "_search: {body}");
        let json: Value = serde_json::from_str(&body).expect("_search reply is JSON");
        json["hits"]["hits"]
            .as_array()
            .expect("hits.hits")
            .iter()
            .map(|hit| {
                (
                    hit["_id"].as_str().expect("_id").to_owned(),
                    hit["_source"].clone(),
                )
            })
            .collect()
    }

    /// How many documents `index` holds (after a refresh on a real cluster); 0 before it exists.
    pub fn count(&self, index: &str) -> u64 {
        self.call("POST", &format!("/{index}/_refresh"), b"");
        let (status, body) = self.call("GET", &format!("/{index}/_count"), b"");
        if status != 200 {
            return 0;
        }
        let json: Value = serde_json::from_str(&body).unwrap_or_default();
        json["count"].as_u64().unwrap_or(0)
    }

    /// The mapping `properties` of `index`.
    pub fn properties(&self, index: &str) -> Value {
        let (status, body) = self.call("GET", &format!("/{index}/_mapping"), b"");
        assert_eq!(status, 200, "_mapping: {body}");
        let json: Value = serde_json::from_str(&body).expect("JSON");
        json[index]["mappings"]["properties"].clone()
    }

    /// Deletes `index` (on a real cluster: what earlier runs left).
    pub fn delete_index(&self, index: &str) {
        self.call("DELETE", &format!("/{index}"), b"");
    }

    /// One request through the server (status, body).
    pub fn call(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("send");
        stream.write_all(body).expect("send");
        let mut reader = BufReader::new(stream);
        let (status, body) = read_response(&mut reader, method == "HEAD").expect("response");
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().ok()?;
        }
        headers.push((name, value));
    }
    if length > MAX_REQUEST_BYTES {
        return None;
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

/// Reads one response with Content-Length or chunked body.
fn read_response(reader: &mut impl BufRead, no_body: bool) -> Option<(u16, Vec<u8>)> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            length = value.trim().parse::<usize>().ok();
        } else if name.trim().eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let mut body = Vec::new();
    if no_body {
        return Some((status, body));
    }
    if let Some(length) = length {
        body.resize(length.min(MAX_REQUEST_BYTES), 0);
        reader.read_exact(&mut body).ok()?;
    } else if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                let mut end = String::new();
                reader.read_line(&mut end).ok()?;
                break;
            }
            let mut chunk = vec![0; size.min(MAX_REQUEST_BYTES)];
            reader.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk);
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf).ok()?;
        }
    } else if status != 204 && status != 304 {
        reader.read_to_end(&mut body).ok()?;
    }
    Some((status, body))
}

/// Answers the requests of one connection, plain or TLS, until it ends.
fn serve_stream(stream: impl Read + Write, state: &Mutex<State>, upstream: Option<&str>) {
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let (status, body) = handle(&request, state, upstream);
        let body = if request.method == "HEAD" {
            String::new()
        } else {
            body
        };
        let head =
            format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            if request.method == "HEAD" { 0 } else { body.len() }
        );
        let writer = reader.get_mut();
        if writer.write_all(head.as_bytes()).is_err()
            || writer.write_all(body.as_bytes()).is_err()
            || writer.flush().is_err()
        {
            return;
        }
    }
}

fn error_body(status: u16, kind: &str, reason: &str) -> String {
    json!({"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}, "status": status})
        .to_string()
}

fn handle(request: &Request, state: &Mutex<State>, upstream: Option<&str>) -> (u16, String) {
    let path = request.path.split('?').next().unwrap_or("");
    let is_bulk = request.method == "POST" && path == "/_bulk";
    if !is_bulk {
        return match upstream {
            Some(upstream) => forward(upstream, request, &request.body),
            None => handle_in_memory(&request.method, path, &request.body, state),
        };
    }
    let Some(ops) = parse_bulk(&request.body) else {
        return (
            400,
            error_body(
                400,
                "illegal_argument_exception",
                "Malformed action/metadata line",
            ),
        );
    };
    // Faults first: the request as a whole, then items.
    let mut refused = vec![false; ops.len()];
    {
        let mut s = state.lock().unwrap();
        s.bulk_requests += 1;
        if s.reject_requests > 0 {
            s.reject_requests -= 1;
            s.requests_rejected += 1;
            return (
                429,
                error_body(
                    429,
                    "es_rejected_execution_exception",
                    "rejected execution of coordinating operation",
                ),
            );
        }
        for r in refused.iter_mut() {
            if s.reject_items == 0 {
                break;
            }
            s.reject_items -= 1;
            s.items_rejected += 1;
            *r = true;
        }
    }
    let kept: Vec<&BulkOp> = ops
        .iter()
        .zip(&refused)
        .filter(|(_, r)| !**r)
        .map(|(o, _)| o)
        .collect();
    let kept_items: Vec<Value> = if kept.is_empty() {
        Vec::new()
    } else {
        match upstream {
            Some(upstream) => {
                let mut body = Vec::new();
                for op in &kept {
                    body.extend_from_slice(op.action_line.as_bytes());
                    body.push(b'\n');
                    if let Some(source) = &op.source_line {
                        body.extend_from_slice(source.as_bytes());
                        body.push(b'\n');
                    }
                }
                let (status, reply) = forward(upstream, request, &body);
                if status != 200 {
                    return (status, reply);
                }
                let reply: Value = serde_json::from_str(&reply).unwrap_or_default();
                reply["items"].as_array().cloned().unwrap_or_default()
            }
            None => {
                let mut s = state.lock().unwrap();
                kept.iter().map(|op| apply(&mut s, op)).collect()
            }
        }
    };
    let mut kept_items = kept_items.into_iter();
    let items: Vec<Value> = ops
        .iter()
        .zip(&refused)
        .map(|(op, refused)| {
            if *refused {
                json!({ op.kind.clone(): {
                    "_index": op.index, "_id": op.id, "status": 429,
                    "error": {"type": "es_rejected_execution_exception",
                              "reason": "rejected execution of primary operation"}
                }})
            } else {
                kept_items.next().unwrap_or_else(|| json!({op.kind.clone(): {"status": 500, "error": {"type": "test_server", "reason": "missing item"}}}))
            }
        })
        .collect();
    let errors = items.iter().any(|item| {
        item.as_object()
            .and_then(|o| o.values().next())
            .is_some_and(|i| i.get("error").is_some())
    });
    (
        200,
        json!({"took": 1, "errors": errors, "items": items}).to_string(),
    )
}

struct BulkOp {
    kind: String,
    index: String,
    id: String,
    version: Option<i64>,
    external: bool,
    action_line: String,
    source_line: Option<String>,
}

fn parse_bulk(body: &[u8]) -> Option<Vec<BulkOp>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let mut ops = Vec::new();
    while let Some(action_line) = lines.next() {
        let action: Value = serde_json::from_str(action_line).ok()?;
        let (kind, meta) = action.as_object()?.iter().next()?;
        let source_line = if kind == "delete" {
            None
        } else {
            Some(lines.next()?.to_owned())
        };
        ops.push(BulkOp {
            kind: kind.clone(),
            index: meta.get("_index")?.as_str()?.to_owned(),
            id: meta
                .get("_id")
                .and_then(|i| i.as_str())
                .unwrap_or("")
                .to_owned(),
            version: meta.get("version").and_then(|v| v.as_i64()),
            external: meta.get("version_type").and_then(|v| v.as_str()) == Some("external"),
            action_line: action_line.to_owned(),
            source_line,
        });
    }
    Some(ops)
}

/// One bulk item against the in-memory indices, answered as Elasticsearch answers it.
fn apply(s: &mut State, op: &BulkOp) -> Value {
    let item =
        |status: u16, result: Option<&str>, version: Option<i64>, error: Option<(&str, String)>| {
            let mut inner = json!({"_index": op.index, "_id": op.id, "status": status});
            if let Some(result) = result {
                inner["result"] = json!(result);
            }
            if let Some(version) = version {
                inner["_version"] = json!(version);
            }
            if let Some((kind, reason)) = error {
                inner["error"] = json!({"type": kind, "reason": reason, "index": op.index});
            }
            json!({ op.kind.clone(): inner })
        };
    let index = s.indices.entry(op.index.clone()).or_default();
    let current = index.documents.get(&op.id).map(|d| d.version);
    if op.external {
        let Some(version) = op.version else {
            return item(
                400,
                None,
                None,
                Some((
                    "action_request_validation_exception",
                    "external version required".into(),
                )),
            );
        };
        if let Some(current) = current {
            if current >= version {
                return item(
                    409,
                    None,
                    None,
                    Some((
                        "version_conflict_engine_exception",
                        format!("[{}]: version conflict, current version [{current}] is higher or equal to the one provided [{version}]", op.id),
                    )),
                );
            }
        }
    }
    let source: Option<Value> = match &op.source_line {
        Some(line) => match serde_json::from_str(line) {
            Ok(v) => Some(v),
            Err(e) => {
                return item(
                    400,
                    None,
                    None,
                    Some(("mapper_parsing_exception", format!("failed to parse: {e}"))),
                )
            }
        },
        None => None,
    };
    let next_version = |current: Option<i64>| {
        if op.external {
            op.version.unwrap_or(1)
        } else {
            current.unwrap_or(0) + 1
        }
    };
    match op.kind.as_str() {
        "index" | "create" => {
            let source = source.unwrap_or_default();
            if let Err(reason) = check_document(&source, &index.properties) {
                return item(400, None, None, Some(("mapper_parsing_exception", reason)));
            }
            if op.kind == "create" && current.is_some() {
                return item(
                    409,
                    None,
                    None,
                    Some((
                        "version_conflict_engine_exception",
                        "document already exists".into(),
                    )),
                );
            }
            let version = next_version(current);
            index
                .documents
                .insert(op.id.clone(), Document { source, version });
            item(
                if current.is_some() { 200 } else { 201 },
                Some(if current.is_some() {
                    "updated"
                } else {
                    "created"
                }),
                Some(version),
                None,
            )
        }
        "update" => {
            let body = source.unwrap_or_default();
            let doc = body.get("doc").cloned().unwrap_or_default();
            if let Err(reason) = check_document(&doc, &index.properties) {
                return item(400, None, None, Some(("mapper_parsing_exception", reason)));
            }
            match index.documents.get_mut(&op.id) {
                Some(existing) => {
                    if let (Some(target), Some(fields)) =
                        (existing.source.as_object_mut(), doc.as_object())
                    {
                        for (k, v) in fields {
                            target.insert(k.clone(), v.clone());
                        }
                    }
                    existing.version += 1;
                    item(200, Some("updated"), Some(existing.version), None)
                }
                None if body.get("doc_as_upsert") == Some(&json!(true)) => {
                    index.documents.insert(
                        op.id.clone(),
                        Document {
                            source: doc,
                            version: 1,
                        },
                    );
                    item(201, Some("created"), Some(1), None)
                }
                None => item(
                    404,
                    None,
                    None,
                    Some((
                        "document_missing_exception",
                        format!("[{}]: document missing", op.id),
                    )),
                ),
            }
        }
        "delete" => match index.documents.remove(&op.id) {
            Some(_) => item(200, Some("deleted"), Some(next_version(current)), None),
            None => item(404, Some("not_found"), Some(next_version(current)), None),
        },
        other => item(
            400,
            None,
            None,
            Some((
                "illegal_argument_exception",
                format!("unknown action [{other}]"),
            )),
        ),
    }
}

/// Elasticsearch refuses a document that is not an object, or a field that does not fit its mapped type.
fn check_document(
    source: &Value,
    properties: &serde_json::Map<String, Value>,
) -> Result<(), String> {
    let Some(fields) = source.as_object() else {
        return Err("failed to parse, document is empty or not an object".into());
    };
    for (name, value) in fields {
        let mapped = properties
            .get(name)
            .and_then(|m| m.get("type"))
            .and_then(|t| t.as_str());
        let fits = match mapped {
            Some("long" | "integer" | "short" | "byte") => value.is_i64() || value.is_null(),
            Some("double" | "float") => value.is_number() || value.is_null(),
            Some("boolean") => value.is_boolean() || value.is_null(),
            _ => true,
        };
        if !fits {
            return Err(format!(
                "failed to parse field [{name}] of type [{}]",
                mapped.unwrap_or("")
            ));
        }
    }
    Ok(())
}

fn handle_in_memory(method: &str, path: &str, body: &[u8], state: &Mutex<State>) -> (u16, String) {
    let mut s = state.lock().unwrap();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let missing = |index: &str| {
        (
            404,
            error_body(
                404,
                "index_not_found_exception",
                &format!("no such index [{index}]"),
            ),
        )
    };
    match (method, segments.as_slice()) {
        ("HEAD", [index]) => (if s.indices.contains_key(*index) { 200 } else { 404 }, String::new()),
        ("PUT", [index]) => {
            if s.indices.contains_key(*index) {
                return (400, error_body(400, "resource_already_exists_exception", &format!("index [{index}] already exists")));
            }
            s.indices.insert((*index).to_owned(), Index::default());
            (200, json!({"acknowledged": true, "index": index}).to_string())
        }
        ("DELETE", [index]) => match s.indices.remove(*index) {
            Some(_) => (200, json!({"acknowledged": true}).to_string()),
            None => missing(index),
        },
        ("GET", [index, "_mapping"]) => match s.indices.get(*index) {
            Some(i) if i.properties.is_empty() => (200, json!({ *index: {"mappings": {}}}).to_string()),
            Some(i) => (200, json!({ *index: {"mappings": {"properties": i.properties}}}).to_string()),
            None => missing(index),
        },
        ("PUT", [index, "_mapping"]) => {
            let Some(i) = s.indices.get_mut(*index) else { return missing(index) };
            let mapping: Value = serde_json::from_slice(body).unwrap_or_default();
            if let Some(properties) = mapping.get("properties").and_then(|p| p.as_object()) {
                for (k, v) in properties {
                    i.properties.insert(k.clone(), v.clone());
                }
            }
            (200, json!({"acknowledged": true}).to_string())
        }
        ("GET", [index, "_doc", id]) => match s.indices.get(*index) {
            Some(i) => match i.documents.get(*id) {
                Some(d) => (200, json!({"_index": index, "_id": id, "_version": d.version, "found": true, "_source": d.source}).to_string()),
                None => (404, json!({"_index": index, "_id": id, "found": false}).to_string()),
            },
            None => missing(index),
        },
        ("POST", [index, "_refresh"]) => match s.indices.get(*index) {
            Some(_) => (200, json!({"_shards": {"total": 1, "successful": 1, "failed": 0}}).to_string()),
            None => missing(index),
        },
        ("GET" | "POST", [index, "_count"]) => match s.indices.get(*index) {
            Some(i) => (200, json!({"count": i.documents.len()}).to_string()),
            None => missing(index),
        },
        ("GET" | "POST", [index, "_search"]) => match s.indices.get(*index) {
            Some(i) => {
                let hits: Vec<Value> = i
                    .documents
                    .iter()
                    .map(|(id, d)| json!({"_index": index, "_id": id, "_version": d.version, "_source": d.source}))
                    .collect();
                (200, json!({"hits": {"total": {"value": hits.len(), "relation": "eq"}, "hits": hits}}).to_string())
            }
            None => missing(index),
        },
        _ => (400, error_body(400, "illegal_argument_exception", &format!("the test server does not serve {method} {path}"))),
    }
}

/// The request sent on to the real cluster (with `body` in place of its own), its response read whole.
fn forward(upstream: &str, request: &Request, body: &[u8]) -> (u16, String) {
    let authority = upstream.strip_prefix("http://").unwrap_or(upstream);
    let (host_port, prefix) = match authority.find('/') {
        Some(i) => (&authority[..i], &authority[i..]),
        None => (authority, ""),
    };
    let stream = match TcpStream::connect(host_port) {
        Ok(s) => s,
        Err(e) => {
            return (
                502,
                error_body(502, "test_proxy", &format!("cannot reach {upstream}: {e}")),
            )
        }
    };
    stream.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut head = format!("{} {prefix}{} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\nContent-Length: {}\r\n", request.method, request.path, body.len());
    for (name, value) in &request.headers {
        if ["host", "connection", "content-length"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !request
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str("\r\n");
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(e) => return (502, error_body(502, "test_proxy", &e.to_string())),
    };
    if writer
        .write_all(head.as_bytes())
        .and_then(|_| writer.write_all(body))
        .is_err()
    {
        return (502, error_body(502, "test_proxy", "send failed"));
    }
    let mut reader = BufReader::new(stream);
    match read_response(&mut reader, request.method == "HEAD") {
        Some((status, body)) => (status, String::from_utf8_lossy(&body).into_owned()),
        None => (502, error_body(502, "test_proxy", "no response")),
    }
}
