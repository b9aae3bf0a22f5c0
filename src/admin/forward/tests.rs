//! Forwarding between real REST servers on 127.0.0.1, each over a real worker (memory stores, no tasks run).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::*;
use crate::admin::rest_client::{exchange, RestUrl};
use crate::admin::tests::state;
use crate::admin::RestServer;
use crate::config::rest_server::{BasicUsers, RestAuth};

/// A REST server over its own worker, in `role`.
async fn serve(dir: &tempfile::TempDir, role: ClusterRole) -> (SocketAddr, RestState) {
    let (address, state) = bind(dir).await;
    set_role(&state, role).await;
    (address, state)
}

/// A REST server whose worker's role is set later.
async fn bind(dir: &tempfile::TempDir) -> (SocketAddr, RestState) {
    serve_state(state(dir)).await
}

async fn serve_state(state: RestState) -> (SocketAddr, RestState) {
    let server = RestServer::bind("127.0.0.1:0").await.unwrap();
    let address = server.local_addr().unwrap();
    tokio::spawn(server.serve(state.clone()));
    (address, state)
}

async fn set_role(state: &RestState, role: ClusterRole) {
    state
        .worker
        .call(move |w| w.set_cluster_role(role))
        .await
        .unwrap();
}

fn url(address: SocketAddr) -> String {
    format!("http://{address}")
}

struct Answered {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn send(
    to: SocketAddr,
    method: Method,
    path: &str,
    authorization: Option<&str>,
    body: Option<Value>,
) -> Answered {
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let answer = exchange(
        &RestUrl::parse(&url(to)).unwrap(),
        None,
        request,
        usize::MAX,
    )
    .await
    .unwrap();
    let body = if answer.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&answer.body).unwrap()
    };
    Answered {
        status: answer.head.status,
        headers: answer.head.headers,
        body,
    }
}

async fn names(state: &RestState) -> Vec<String> {
    state.worker.call(|w| w.connector_names()).await.unwrap()
}

fn file_source(file: &str) -> Value {
    json!({"connector.class": "FileStreamSource", "file": file, "topic": "lines", "tasks.max": "1"})
}

fn error(code: u16, message: &str) -> Value {
    json!({"error_code": code, "message": message})
}

#[test]
fn only_changes_to_connectors_go_to_the_leader() {
    for (method, path) in [
        (Method::POST, "/connectors"),
        (Method::DELETE, "/connectors/a"),
        (Method::PUT, "/connectors/a/config"),
        (Method::PATCH, "/connectors/a/config"),
        (Method::POST, "/connectors/a/restart"),
        (Method::POST, "/connectors/a/tasks/0/restart"),
        (Method::PUT, "/connectors/a/pause"),
        (Method::PUT, "/connectors/a/resume"),
        (Method::PUT, "/connectors/a/stop"),
        (Method::PATCH, "/connectors/a/offsets"),
        (Method::DELETE, "/connectors/a/offsets"),
        (Method::PUT, "/connectors/a/topics/reset"),
    ] {
        assert!(carried_out_by_leader(&method, path), "{method} {path}");
    }
    for (method, path) in [
        (Method::GET, "/connectors"),
        (Method::GET, "/connectors/a"),
        (Method::GET, "/connectors/a/status"),
        (Method::GET, "/connectors/a/offsets"),
        (
            Method::PUT,
            "/connector-plugins/FileStreamSource/config/validate",
        ),
        (Method::PUT, "/admin/loggers/root"),
        (Method::POST, "/connectorsx"),
        (Method::POST, "/connectors/a/status"),
    ] {
        assert!(!carried_out_by_leader(&method, path), "{method} {path}");
    }
}

#[test]
fn the_forward_parameter_counts_hops_as_kafka_connect_does() {
    assert_eq!(Hop::of(None), Hop::FromCaller);
    assert_eq!(Hop::of(Some("includeTasks=true")), Hop::FromCaller);
    assert_eq!(Hop::of(Some("forward=true")), Hop::FirstForward);
    assert_eq!(Hop::of(Some("a=b&forward=TRUE")), Hop::FirstForward);
    assert_eq!(Hop::of(Some("forward=false")), Hop::LastForward);
    assert_eq!(Hop::of(Some("forward=yes")), Hop::LastForward);
    assert_eq!(Hop::of(Some("forwar%64=false")), Hop::LastForward);
    assert_eq!(
        Hop::of(Some("forward=false&forward=true")),
        Hop::LastForward
    );
    assert_eq!(
        forwarded_path(
            "/connectors/a/restart",
            Some("includeTasks=true&forward=true&onlyFailed=false&forwar%64=x"),
            false
        ),
        "/connectors/a/restart?forward=false&includeTasks=true&onlyFailed=false"
    );
    assert_eq!(
        forwarded_path("/connectors", None, true),
        "/connectors?forward=true"
    );
}

#[tokio::test]
async fn a_change_sent_to_a_follower_is_carried_out_by_the_leader_and_answered_as_it_answered() {
    let dir = tempfile::tempdir().unwrap();
    let (leader, leader_state) = serve(&dir, ClusterRole::Leader).await;
    let follower_dir = tempfile::tempdir().unwrap();
    let (follower, follower_state) = serve(
        &follower_dir,
        ClusterRole::Follower {
            leader_url: url(leader),
        },
    )
    .await;

    let created = send(
        follower,
        Method::POST,
        "/connectors",
        None,
        Some(json!({"name": "src", "config": file_source("/tmp/a")})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.headers[header::LOCATION],
        format!("http://{leader}/connectors/src"),
        "the leader's Location"
    );
    assert_eq!(created.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(created.body["name"], "src");
    assert_eq!(created.body["config"]["file"], "/tmp/a");
    assert_eq!(names(&leader_state).await, ["src"]);
    assert!(
        names(&follower_state).await.is_empty(),
        "the follower's own worker is untouched"
    );
    // Reads are the follower's own: it has no connector (its loop would have read the leader's from the
    // config topic).
    let listed = send(follower, Method::GET, "/connectors", None, None).await;
    assert_eq!((listed.status, listed.body), (StatusCode::OK, json!([])));

    // The leader's errors come back as they were.
    let again = send(
        follower,
        Method::POST,
        "/connectors",
        None,
        Some(json!({"name": "src", "config": file_source("/tmp/b")})),
    )
    .await;
    assert_eq!(
        (again.status, again.body),
        (
            StatusCode::CONFLICT,
            error(409, "Connector src already exists")
        )
    );

    let paused = send(follower, Method::PUT, "/connectors/src/pause", None, None).await;
    assert_eq!(paused.status, StatusCode::ACCEPTED);
    let target = leader_state
        .worker
        .call(|w| w.stored_target_state("src"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(target, Some(crate::worker::status::TargetState::Paused));

    // Query parameters go on beside `forward`.
    let restarted = send(
        follower,
        Method::POST,
        "/connectors/src/restart?includeTasks=true",
        None,
        None,
    )
    .await;
    assert_eq!(restarted.status, StatusCode::ACCEPTED, "{}", restarted.body);
    assert_eq!(restarted.body["name"], "src");

    let deleted = send(follower, Method::DELETE, "/connectors/src", None, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert!(names(&leader_state).await.is_empty());
}

#[tokio::test]
async fn a_change_during_a_rebalance_is_refused_with_409_and_reads_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let (worker, state) = serve(&dir, ClusterRole::Rebalancing).await;
    let refused = send(
        worker,
        Method::POST,
        "/connectors",
        None,
        Some(json!({"name": "src", "config": file_source("/tmp/a")})),
    )
    .await;
    assert_eq!(
        (refused.status, refused.body),
        (StatusCode::CONFLICT, error(409, STALE_CONFIGURATION))
    );
    assert!(names(&state).await.is_empty());
    let listed = send(worker, Method::GET, "/connectors", None, None).await;
    assert_eq!((listed.status, listed.body), (StatusCode::OK, json!([])));

    // A follower that knows no leader URL says so.
    set_role(
        &state,
        ClusterRole::Follower {
            leader_url: String::new(),
        },
    )
    .await;
    let refused = send(worker, Method::PUT, "/connectors/src/stop", None, None).await;
    assert_eq!(
        (refused.status, refused.body),
        (StatusCode::CONFLICT, error(409, NO_KNOWN_LEADER))
    );
}

#[tokio::test]
async fn a_request_sent_round_between_followers_ends_in_409_instead_of_a_loop() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let (a, a_state) = bind(&dir_a).await;
    let (b, b_state) = bind(&dir_b).await;
    // Each believes the other leads.
    set_role(&a_state, ClusterRole::Follower { leader_url: url(b) }).await;
    set_role(&b_state, ClusterRole::Follower { leader_url: url(a) }).await;
    let answered = tokio::time::timeout(
        Duration::from_secs(10),
        send(a, Method::DELETE, "/connectors/src", None, None),
    )
    .await
    .expect("answered, not sent round for ever");
    assert_eq!(
        (answered.status, answered.body),
        (StatusCode::CONFLICT, error(409, CONFLICTING_OPERATION))
    );
    // A request already on its last hop is not forwarded at all.
    let last = send(
        b,
        Method::DELETE,
        "/connectors/src?forward=false",
        None,
        None,
    )
    .await;
    assert_eq!(
        (last.status, last.body),
        (StatusCode::CONFLICT, error(409, CONFLICTING_OPERATION))
    );
    // A leader carries out a forwarded request whatever its hop.
    set_role(&b_state, ClusterRole::Leader).await;
    let carried_out = send(
        b,
        Method::POST,
        "/connectors?forward=false",
        None,
        Some(json!({"name": "src", "config": file_source("/tmp/a")})),
    )
    .await;
    assert_eq!(
        carried_out.status,
        StatusCode::CREATED,
        "{}",
        carried_out.body
    );
}

#[tokio::test]
async fn an_unreachable_leader_is_a_500_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on any more.
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone_address = gone.local_addr().unwrap();
    drop(gone);
    let (follower, _) = serve(
        &dir,
        ClusterRole::Follower {
            leader_url: url(gone_address),
        },
    )
    .await;
    let answered = send(follower, Method::PUT, "/connectors/src/resume", None, None).await;
    assert_eq!(answered.status, StatusCode::INTERNAL_SERVER_ERROR);
    let message = answered.body["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "IO Error trying to forward REST request to the leader at http://{gone_address}/connectors/src/resume?forward=true: cannot connect:"
        )),
        "{message}"
    );
}

#[tokio::test]
async fn a_leader_that_does_not_answer_is_a_500_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // Takes connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_address = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let mut state = state(&dir);
    state.forwarding.timeout = Duration::from_millis(300);
    let (follower, state) = serve_state(state).await;
    set_role(
        &state,
        ClusterRole::Follower {
            leader_url: url(silent_address),
        },
    )
    .await;
    let started = Instant::now();
    let answered = send(follower, Method::DELETE, "/connectors/src", None, None).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(answered.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        answered.body["message"],
        format!("IO Error trying to forward REST request to the leader at http://{silent_address}/connectors/src?forward=true: no answer within 300 ms")
    );
}

#[tokio::test]
async fn the_callers_credentials_go_on_to_the_leader() {
    use base64::Engine as _;
    let basic = |user_password: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let mut protected = state(&dir);
    protected.auth = RestAuth {
        basic: Some(Arc::new(BasicUsers::new(
            "users.properties".into(),
            vec![("admin".into(), "s3cret".into())],
        ))),
        bearer: None,
    };
    let (leader, leader_state) = serve_state(protected).await;
    set_role(&leader_state, ClusterRole::Leader).await;
    // The follower asks for no credentials itself, so only the leader checks them.
    let follower_dir = tempfile::tempdir().unwrap();
    let (follower, _) = serve(
        &follower_dir,
        ClusterRole::Follower {
            leader_url: url(leader),
        },
    )
    .await;
    let create = json!({"name": "src", "config": file_source("/tmp/a")});

    let refused = send(
        follower,
        Method::POST,
        "/connectors",
        None,
        Some(create.clone()),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.headers[header::WWW_AUTHENTICATE],
        "Basic realm=\"pipewright\""
    );
    assert!(names(&leader_state).await.is_empty());

    let created = send(
        follower,
        Method::POST,
        "/connectors",
        Some(&basic("admin:s3cret")),
        Some(create),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(names(&leader_state).await, ["src"]);
}

#[tokio::test]
async fn an_https_leader_is_reached_with_the_workers_tls_client_settings() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    let client = |roots: rustls::RootCertStore| {
        let mut client = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(client)
    };
    let mut trusted = rustls::RootCertStore::empty();
    trusted.add(cert.der().clone()).unwrap();
    let tls = crate::config::rest_server::RestTls {
        server: Arc::new(server),
        client_auth: Default::default(),
        client: client(trusted),
    };
    let listener = crate::config::rest_server::RestListener {
        scheme: crate::config::rest_server::RestScheme::Https,
        host: "127.0.0.1".into(),
        port: 0,
    };
    let server = RestServer::bind_listener(&listener, Some(&tls))
        .await
        .unwrap();
    let leader = server.local_addr().unwrap();
    let leader_state = state(&dir);
    tokio::spawn(server.serve(leader_state.clone()));
    set_role(&leader_state, ClusterRole::Leader).await;
    let leader_url = format!("https://localhost:{}", leader.port());

    let follower_dir = tempfile::tempdir().unwrap();
    let mut follower_state = state(&follower_dir);
    follower_state.forwarding = LeaderForwarding::new(Some(&tls));
    let (follower, mut follower_state) = serve_state(follower_state).await;
    set_role(
        &follower_state,
        ClusterRole::Follower {
            leader_url: leader_url.clone(),
        },
    )
    .await;
    let create = json!({"name": "src", "config": file_source("/tmp/a")});
    let created = send(
        follower,
        Method::POST,
        "/connectors",
        None,
        Some(create.clone()),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(names(&leader_state).await, ["src"]);

    // A follower whose TLS does not trust the leader's certificate says why, naming the leader.
    follower_state.forwarding =
        LeaderForwarding::with_tls_client(client(rustls::RootCertStore::empty()));
    let (untrusting, _) = serve_state(follower_state.clone()).await;
    let refused = send(untrusting, Method::DELETE, "/connectors/src", None, None).await;
    assert_eq!(refused.status, StatusCode::INTERNAL_SERVER_ERROR);
    let message = refused.body["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "{leader_url}/connectors/src?forward=true: TLS handshake:"
        )),
        "{message}"
    );
    // And one with no TLS settings at all says what to give it.
    follower_state.forwarding = LeaderForwarding::default();
    let (plain, _) = serve_state(follower_state).await;
    let refused = send(plain, Method::DELETE, "/connectors/src", None, None).await;
    assert_eq!(refused.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("this worker has no TLS settings"),
        "{}",
        refused.body
    );
    assert_eq!(names(&leader_state).await, ["src"]);
}
