//! The REST API protected, as Kafka Connect protects it, driven by clients no one here wrote (Python `requests`,
//! the `kc` CLI of kafka-connect-py, curl) and by our own `engine status`:
//! - an https listener (`listeners=https://…`, `listeners.https.ssl.*`, a PEM keystore) answers clients that
//!   trust its CA, and no client that does not;
//! - basic auth (BasicAuthSecurityRestExtension, its JAAS file and PropertyFileLoginModule credentials) and a
//!   bearer token: 401 with a challenge for no or wrong credentials, for reads and writes alike; the right ones
//!   are let in;
//! - `listeners.https.ssl.client.auth=required`: no connection without a client certificate the truststore
//!   vouches for;
//! - http and https listeners at once serve one worker, basic auth on both, the JAAS file named by `KAFKA_OPTS`;
//! - a keystore whose key does not match its certificate stops `engine standalone` with the file, line and key
//!   before anything listens.
//!
//! The certificates are made in each test (`support::tls`). No broker is needed: no connector here runs.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use support::broker::free_port;
use support::engine_cli::run_engine;
use support::process::{run, PROCESS_TIMEOUT};
use support::rest::{kc_with, requests_with, Call, StandaloneEngine};
use support::tls::TestPki;
use support::tools::engine;

/// A bootstrap no broker listens on: the connectors here never run.
const NO_BROKER: &str = "127.0.0.1:1";
const ADMIN: &str = "admin:adm1n-pw";
const TOKEN: &str = "tok3n.for-scripts";

fn https_keys(pki: &TestPki) -> String {
    format!(
        "listeners.https.ssl.keystore.type=PEM\nlisteners.https.ssl.keystore.location={}\n",
        pki.keystore.display()
    )
}

/// The worker keys that turn on basic auth (with users `admin` and `reader`) and the bearer token.
fn auth_keys(dir: &Path) -> String {
    std::fs::write(
        dir.join("users.properties"),
        "# PropertyFileLoginModule: user: password\nadmin: adm1n-pw\nreader=r3ad\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("jaas.conf"),
        format!(
            "KafkaConnect {{\n  org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule required\n  file=\"{}\";\n}};\n",
            dir.join("users.properties").display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    format!(
        "rest.extension.classes=org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension\n\
         java.security.auth.login.config={}\nrest.auth.bearer.token.file={}\n",
        dir.join("jaas.conf").display(),
        dir.join("token").display()
    )
}

fn file_source(dir: &Path) -> Value {
    let file = dir.join("in.txt");
    std::fs::write(&file, "").unwrap();
    json!({"name": "guarded", "config": {
        "connector.class": "FileStreamSource",
        "file": file.display().to_string(),
        "topic": "guarded",
        "tasks.max": "1",
    }})
}

fn status_of(reply: &Value) -> u64 {
    reply["status"]
        .as_u64()
        .unwrap_or_else(|| panic!("no answer: {reply}"))
}

/// Asserts every reply is a 401 with Kafka Connect's message and a Basic challenge.
fn assert_refused(replies: &[Value], context: &str) {
    for reply in replies {
        assert_eq!(status_of(reply), 401, "{context}: {reply}");
        assert_eq!(
            reply["json"],
            json!({"error_code": 401, "message": "User cannot access the resource."}),
            "{context}"
        );
        let challenge = reply["www_authenticate"].as_str().unwrap_or_default();
        assert!(
            challenge.contains("Basic realm=\"pipewright\""),
            "{context}: {reply}"
        );
    }
}

fn curl(args: &[&str]) -> support::process::RunOutput {
    run(
        Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .args(args),
        None,
        PROCESS_TIMEOUT,
    )
}

#[test]
fn https_with_basic_auth_and_a_bearer_token_answers_only_trusted_authenticated_callers() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(dir.path());
    let extra = https_keys(&pki) + &auth_keys(dir.path());
    let mut worker =
        StandaloneEngine::start_protected(dir.path(), NO_BROKER, "https", true, &extra);
    let url = worker.url();
    let ca = pki.ca.display().to_string();
    let connector = file_source(dir.path());
    let writes = || {
        [
            Call::post("/connectors").json(connector.clone()),
            Call::put("/connectors/guarded/config").json(connector["config"].clone()),
            Call::delete("/connectors/guarded"),
        ]
    };

    // No credentials, wrong ones, an unknown user: reads and writes refused alike.
    let mut calls = vec![Call::get("/connectors"), Call::get("/connector-plugins")];
    calls.extend(writes());
    assert_refused(
        &requests_with(&url, &["--ca", &ca], &calls),
        "no credentials",
    );
    for wrong in ["admin:adm1n", "nobody:adm1n-pw", "reader:adm1n-pw"] {
        assert_refused(
            &requests_with(&url, &["--ca", &ca, "--auth", wrong], &calls),
            wrong,
        );
    }
    assert_refused(
        &requests_with(
            &url,
            &["--ca", &ca],
            &[Call::get("/connectors").bearer("tok3n")],
        ),
        "a wrong token",
    );

    // The right credentials: the writes go through, the reads see them.
    let replies = requests_with(
        &url,
        &["--ca", &ca, "--auth", ADMIN],
        &[
            Call::get("/connectors"),
            Call::post("/connectors").json(connector.clone()),
            Call::get("/connectors"),
        ],
    );
    assert_eq!(
        replies.iter().map(status_of).collect::<Vec<_>>(),
        [200, 201, 200],
        "{replies:?}"
    );
    assert_eq!(replies[0]["json"], json!([]));
    assert_eq!(replies[2]["json"], json!(["guarded"]));
    let replies = requests_with(
        &url,
        &["--ca", &ca],
        &[
            Call::get("/connectors").bearer(TOKEN),
            Call::get("/connectors/guarded").bearer(TOKEN),
        ],
    );
    assert_eq!(replies[0]["json"], json!(["guarded"]), "{replies:?}");
    assert_eq!(status_of(&replies[1]), 200, "{replies:?}");
    let reader = requests_with(
        &url,
        &["--ca", &ca, "--auth", "reader:r3ad"],
        &[Call::get("/connectors")],
    );
    assert_eq!(status_of(&reader[0]), 200, "{reader:?}");

    // A client that does not trust the worker's CA gets no answer at all.
    let untrusted = requests_with(&url, &["--auth", ADMIN], &[Call::get("/connectors")]);
    assert_eq!(untrusted[0]["error"], "SSLError", "{untrusted:?}");

    // kc (kafka-connect-py) with --auth, trusting the CA through its requests' REQUESTS_CA_BUNDLE.
    let ca_env = [("REQUESTS_CA_BUNDLE", pki.ca.as_path())];
    let listed = kc_with(&url, &["--auth", ADMIN], &ca_env, &["list"]).stdout_str();
    assert!(listed.contains("guarded"), "kc list: {listed}");
    let refused = kc_with(&url, &["--auth", "admin:wrong"], &ca_env, &["list"]);
    let refused = format!("{}{}", refused.stdout_str(), refused.stderr);
    assert!(
        !refused.contains("guarded") && refused.contains("401"),
        "kc list with a wrong password: {refused}"
    );

    // curl: the CA and -u, or the bearer token; nothing without the CA.
    let answer = curl(&["--cacert", &ca, "-u", ADMIN, &format!("{url}/connectors")]);
    answer.assert_success("curl with the CA and credentials");
    assert_eq!(answer.stdout_str(), r#"["guarded"]"#);
    let answer = curl(&[
        "--cacert",
        &ca,
        "-H",
        &format!("Authorization: Bearer {TOKEN}"),
        &format!("{url}/connectors"),
    ]);
    assert_eq!(answer.stdout_str(), r#"["guarded"]"#);
    let answer = curl(&[
        "--cacert",
        &ca,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{url}/connectors"),
    ]);
    assert_eq!(answer.stdout_str(), "401");
    let answer = curl(&["-u", ADMIN, &format!("{url}/connectors")]);
    assert_eq!(
        answer.status.code(),
        Some(60),
        "curl without the CA: {}",
        answer.stderr
    );

    // engine status: the CA and the credentials (flags or environment), or an error naming what is missing.
    let status = run_engine(&[
        "status",
        "--url",
        &url,
        "--ca-cert",
        &ca,
        "--basic-auth",
        ADMIN,
    ]);
    status.assert_success("engine status over https with basic auth");
    assert!(
        status.stdout_str().contains("CONNECTOR"),
        "{}",
        status.stdout_str()
    );
    let status = run(
        Command::new(engine())
            .args(["status", "--url", &url])
            .env("PIPEWRIGHT_REST_CA_CERT", &pki.ca)
            .env(
                "PIPEWRIGHT_REST_BEARER_TOKEN_FILE",
                dir.path().join("token"),
            ),
        None,
        PROCESS_TIMEOUT,
    );
    status.assert_success("engine status with a bearer token from the environment");
    let status = run_engine(&["status", "--url", &url, "--ca-cert", &ca]);
    assert!(!status.status.success());
    assert!(
        status.stderr.contains("401 Unauthorized"),
        "{}",
        status.stderr
    );
    let status = run_engine(&["status", "--url", &url, "--basic-auth", ADMIN]);
    assert!(!status.status.success());
    assert!(status.stderr.contains("TLS handshake"), "{}", status.stderr);
    worker.stop();
}

#[test]
fn client_certificates_are_checked_when_ssl_client_auth_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(dir.path());
    let extra = format!(
        "{}listeners.https.ssl.truststore.type=PEM\nlisteners.https.ssl.truststore.location={}\n\
         listeners.https.ssl.client.auth=required\n",
        https_keys(&pki),
        pki.ca.display()
    );
    let mut worker =
        StandaloneEngine::start_protected(dir.path(), NO_BROKER, "https", true, &extra);
    let url = worker.url();
    let ca = pki.ca.display().to_string();
    let (cert, key) = (
        pki.client_cert.display().to_string(),
        pki.client_key.display().to_string(),
    );
    let (stranger_cert, stranger_key) = (
        pki.stranger_cert.display().to_string(),
        pki.stranger_key.display().to_string(),
    );

    let without = requests_with(&url, &["--ca", &ca], &[Call::get("/connectors")]);
    assert!(
        without[0]["error"].is_string(),
        "no client certificate: {without:?}"
    );
    let stranger = requests_with(
        &url,
        &[
            "--ca",
            &ca,
            "--cert",
            &stranger_cert,
            "--key",
            &stranger_key,
        ],
        &[Call::get("/connectors")],
    );
    assert!(
        stranger[0]["error"].is_string(),
        "an untrusted client certificate: {stranger:?}"
    );
    let with = requests_with(
        &url,
        &["--ca", &ca, "--cert", &cert, "--key", &key],
        &[
            Call::get("/connectors"),
            Call::post("/connectors").json(file_source(dir.path())),
        ],
    );
    assert_eq!(
        with.iter().map(status_of).collect::<Vec<_>>(),
        [200, 201],
        "{with:?}"
    );

    let answer = curl(&[
        "--cacert",
        &ca,
        "--cert",
        &cert,
        "--key",
        &key,
        &format!("{url}/connectors"),
    ]);
    answer.assert_success("curl with a client certificate");
    assert_eq!(answer.stdout_str(), r#"["guarded"]"#);
    let answer = curl(&["--cacert", &ca, &format!("{url}/connectors")]);
    assert!(
        !answer.status.success(),
        "curl without a client certificate: {}",
        answer.stdout_str()
    );

    let status = run_engine(&[
        "status",
        "--url",
        &url,
        "--ca-cert",
        &ca,
        "--client-cert",
        &cert,
        "--client-key",
        &key,
    ]);
    status.assert_success("engine status with a client certificate");
    let status = run_engine(&["status", "--url", &url, "--ca-cert", &ca]);
    assert!(
        !status.status.success(),
        "engine status without a client certificate"
    );
    worker.stop();
}

#[test]
fn a_keystore_whose_key_does_not_match_stops_the_engine_before_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(dir.path());
    // The server's certificate with the client's key.
    let keystore = dir.path().join("mismatched.pem");
    let certificate = std::fs::read_to_string(&pki.keystore).unwrap();
    let certificate = &certificate[..certificate.find("-----BEGIN PRIVATE KEY").unwrap()];
    std::fs::write(
        &keystore,
        format!(
            "{certificate}{}",
            std::fs::read_to_string(&pki.client_key).unwrap()
        ),
    )
    .unwrap();
    let port = free_port();
    let worker = dir.path().join("worker.properties");
    std::fs::write(
        &worker,
        format!(
            "bootstrap.servers={NO_BROKER}\nlisteners=https://127.0.0.1:{port}\n\
             listeners.https.ssl.keystore.location={}\n",
            keystore.display()
        ),
    )
    .unwrap();
    let output = run(
        Command::new(engine())
            .arg("standalone")
            .arg(&worker)
            .args(["--cores", "1", "--state-dir"])
            .arg(dir.path().join("state")),
        None,
        PROCESS_TIMEOUT,
    );
    assert!(!output.status.success(), "the engine ran on a bad keystore");
    let expected = format!(
        "{}:3: key \"listeners.https.ssl.keystore.location\": the keystore's key and certificate cannot serve TLS",
        worker.display()
    );
    assert!(output.stderr.contains(&expected), "{}", output.stderr);
    assert!(
        output.elapsed < std::time::Duration::from_secs(10),
        "refused at once, not after a timeout"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens"
    );
}

#[test]
fn http_and_https_listeners_serve_one_api_with_basic_auth_from_kafka_opts() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(dir.path());
    // The JAAS file comes from KAFKA_OPTS, as a Kafka Connect deployment passes it to the JVM.
    let auth = auth_keys(dir.path());
    let jaas = dir.path().join("jaas.conf");
    let auth: String = auth
        .lines()
        .filter(|l| !l.starts_with("java.security") && !l.starts_with("rest.auth"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (http_port, https_port) = (free_port(), free_port());
    let worker = dir.path().join("worker.properties");
    std::fs::write(
        &worker,
        format!(
            "bootstrap.servers={NO_BROKER}\noffset.storage.file.filename={}\n\
             listeners=http://127.0.0.1:{http_port}, https://127.0.0.1:{https_port}\n\
             ssl.keystore.type=PEM\nssl.keystore.location={}\n{auth}",
            dir.path().join("offsets").display(),
            pki.keystore.display()
        ),
    )
    .unwrap();
    let mut process = support::engine_process::EngineProcess(
        Command::new(engine())
            .arg("standalone")
            .arg(&worker)
            .args(["--cores", "1", "--state-dir"])
            .arg(dir.path().join("state"))
            .env(
                "KAFKA_OPTS",
                format!(
                    "-Xmx256m -Djava.security.auth.login.config={}",
                    jaas.display()
                ),
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start engine standalone"),
        http_port,
    );
    process.wait_while_running("both listeners", std::time::Duration::from_secs(30), || {
        [http_port, https_port]
            .iter()
            .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
    });
    let ca = pki.ca.display().to_string();
    let http = format!("http://127.0.0.1:{http_port}");
    let https = format!("https://127.0.0.1:{https_port}");
    let created = requests_with(
        &http,
        &["--auth", ADMIN],
        &[Call::post("/connectors").json(file_source(dir.path()))],
    );
    assert_eq!(status_of(&created[0]), 201, "{created:?}");
    let listed = requests_with(
        &https,
        &["--ca", &ca, "--auth", "reader:r3ad"],
        &[Call::get("/connectors")],
    );
    assert_eq!(
        listed[0]["json"],
        json!(["guarded"]),
        "the same worker on both: {listed:?}"
    );
    assert_refused(
        &requests_with(&http, &[], &[Call::get("/connectors")]),
        "http without credentials",
    );
    assert_refused(
        &requests_with(
            &https,
            &["--ca", &ca],
            &[Call::delete("/connectors/guarded")],
        ),
        "https without credentials",
    );
    // Plain HTTP to the https port is no way in either.
    let plain = requests_with(
        &format!("http://127.0.0.1:{https_port}"),
        &["--auth", ADMIN],
        &[Call::get("/connectors")],
    );
    assert!(plain[0]["status"].as_u64() != Some(200), "{plain:?}");
    let status =
        support::engine_process::terminate(&mut process, std::time::Duration::from_secs(30));
    assert!(status.success(), "{status}");
}
