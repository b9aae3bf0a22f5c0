//! TLS to brokers (`security.protocol=SSL`, issue 16): `engine produce / consume / metadata` and a pipeline
//! through a TLS-terminating proxy in front of tansu (which advertises the proxy), with certificates made per
//! run; each failure a user meets (unknown CA, expired certificate, wrong host, a missing client certificate,
//! TLS to a plaintext port and plaintext to a TLS port) is one line naming the broker and the cause, within
//! seconds, and a non-zero exit. kcat and confluent-kafka, given the same settings against the same broker,
//! succeed and fail where we do.
//!
//! The proxy, not tansu's own `--cert`, serves TLS: it can require client certificates and serve TLS 1.2 only.
//! The broker is always a tansu of the test's own (the proxy's address must be what it advertises), also when
//! `PIPEWRIGHT_TEST_BROKER` is set. Both I/O backends: the engine's `--io` follows `PIPEWRIGHT_IO`, and the
//! tests that matter run once per backend explicitly.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::broker::{free_port, unique_topic, TestBroker};
use support::engine_cli::{assert_delivered, run_engine};
use support::engine_process::{start_engine, try_rest_get, write_config};
use support::peers::{kcat, peer_command};
use support::process::{run, RunOutput};
use support::tls::{write_pem, Identity, ProxyTls, TestCa, TlsProxy};

/// A broker behind a TLS proxy, the CA that signed the proxy's certificate, and a directory of PEM files.
struct Scene {
    dir: tempfile::TempDir,
    ca: TestCa,
    ca_file: PathBuf,
    proxy: TlsProxy,
    /// `None` where the test never gets past the handshake.
    broker: Option<TestBroker>,
}

struct SceneOptions {
    /// The proxy's certificate, from the scene's CA (or not).
    identity: fn(&TestCa) -> Identity,
    require_client_certificate: bool,
    tls12_only: bool,
    with_broker: bool,
}

impl Default for SceneOptions {
    fn default() -> Self {
        SceneOptions {
            identity: |ca| ca.issue(&["localhost"]),
            require_client_certificate: false,
            tls12_only: false,
            with_broker: true,
        }
    }
}

impl Scene {
    fn new(options: SceneOptions) -> Scene {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = TestCa::new("pipewright test CA");
        let ca_file = write_pem(dir.path(), "ca.pem", &ca.pem());
        let (listener, proxy_port) = TlsProxy::bind();
        let (broker, upstream) = if options.with_broker {
            let broker = start_tansu_advertising(proxy_port);
            let upstream = broker.bootstrap();
            (Some(broker), upstream)
        } else {
            (None, format!("127.0.0.1:{}", free_port()))
        };
        let proxy = TlsProxy::start(
            listener,
            upstream,
            ProxyTls {
                identity: (options.identity)(&ca),
                client_ca_pem: options.require_client_certificate.then(|| ca.pem()),
                tls12_only: options.tls12_only,
            },
        );
        Scene {
            dir,
            ca,
            ca_file,
            proxy,
            broker,
        }
    }

    fn bootstrap(&self) -> String {
        format!("localhost:{}", self.proxy.port())
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `-X security.protocol=SSL -X ssl.ca.location=<the CA>` and `more`, as engine arguments.
    fn ssl_args(&self, more: &[(&str, &str)]) -> Vec<String> {
        let mut pairs = vec![
            ("security.protocol".to_owned(), "SSL".to_owned()),
            (
                "ssl.ca.location".to_owned(),
                self.ca_file.display().to_string(),
            ),
        ];
        for (k, v) in more {
            pairs.retain(|(key, _)| key != k);
            pairs.push((k.to_string(), v.to_string()));
        }
        pairs
            .into_iter()
            .flat_map(|(k, v)| ["-X".to_owned(), format!("{k}={v}")])
            .collect()
    }
}

/// tansu on a free port, advertising `localhost:<proxy_port>`.
fn start_tansu_advertising(proxy_port: u16) -> TestBroker {
    let mut failures = Vec::new();
    for _ in 0..5 {
        let port = free_port();
        match TestBroker::start_tansu(port, &format!("localhost:{proxy_port}")) {
            Ok(broker) => return broker,
            Err(e) => failures.push(e),
        }
    }
    panic!("could not start tansu: {}", failures.join("\n---\n"));
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `engine <args>` on I/O backend `io`, with `input` on stdin.
fn engine_with_io(io: &str, args: &[&str], input: Option<&[u8]>) -> RunOutput {
    run(
        Command::new(support::tools::engine())
            .env("PIPEWRIGHT_IO", io)
            .args(args),
        input,
        Duration::from_secs(60),
    )
}

/// The I/O backends to run a test on: io_uring where the kernel allows it, and epoll.
fn backends() -> Vec<&'static str> {
    let mut backends = vec!["epoll"];
    if io_uring_usable() {
        backends.push("uring");
    }
    backends
}

fn io_uring_usable() -> bool {
    pipewright::runtime::backend::uring_available()
}

/// Produces `count` lines over TLS with `engine produce` and reads them back with `engine consume`, on `io`.
fn produce_and_consume(scene: &Scene, io: &str, extra: &[(&str, &str)], count: usize) {
    let topic = unique_topic("tls");
    let bootstrap = scene.bootstrap();
    let ssl = scene.ssl_args(extra);
    let input: String = (0..count).map(|i| format!("record-{i}\n")).collect();
    let mut produce = vec!["produce", "-b", &bootstrap, "-t", &topic];
    produce.extend(strs(&ssl));
    let output = engine_with_io(io, &produce, Some(input.as_bytes()));
    assert_delivered(&output, &topic, count);
    let mut consume = vec![
        "consume",
        "-b",
        &bootstrap,
        "-t",
        &topic,
        "-o",
        "beginning",
        "-e",
    ];
    consume.extend(strs(&ssl));
    let consumed = engine_with_io(io, &consume, None);
    consumed.assert_success("engine consume over TLS");
    assert_eq!(consumed.stdout_str(), input, "on {io}");
}

/// `engine metadata` over TLS: its output and how long it took.
fn metadata(bootstrap: &str, args: &[String]) -> (RunOutput, Duration) {
    let mut command = vec!["metadata", "-b", bootstrap];
    command.extend(strs(args));
    command.extend(["-X", "socket.connection.setup.timeout.ms=2000"]);
    let started = Instant::now();
    let output = run_engine(&command);
    (output, started.elapsed())
}

/// `engine metadata` fails within seconds, with one line naming the broker and containing `cause`.
fn assert_refused(bootstrap: &str, args: &[String], cause: &str) -> String {
    let (output, took) = metadata(bootstrap, args);
    assert!(
        !output.status.success(),
        "engine metadata should fail: {}",
        output.stdout_str()
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let line = output
        .stderr
        .lines()
        .find(|l| l.contains(cause))
        .unwrap_or_else(|| panic!("no line says `{cause}`:\n{}", output.stderr));
    assert!(
        line.contains(&format!("({bootstrap})")),
        "the line names the broker {bootstrap}: {line}"
    );
    line.to_owned()
}

/// kcat -L with librdkafka's TLS settings: whether it got metadata.
fn kcat_metadata(bootstrap: &str, settings: &[(&str, &str)]) -> RunOutput {
    let mut args = vec![
        "-b".to_owned(),
        bootstrap.to_owned(),
        "-L".to_owned(),
        "-m".to_owned(),
        "5".to_owned(),
    ];
    for (k, v) in settings {
        args.extend(["-X".to_owned(), format!("{k}={v}")]);
    }
    kcat(&strs(&args), None)
}

/// confluent-kafka producing one record with the same settings: whether it was delivered (within 6 s).
fn ck_produce_one(bootstrap: &str, topic: &str, settings: &[(&str, &str)]) -> RunOutput {
    let mut command = peer_command("ck_produce.py");
    command.args([
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--flush-timeout",
        "8",
        "-X",
        "message.timeout.ms=6000",
    ]);
    for (k, v) in settings {
        command.args(["-X", &format!("{k}={v}")]);
    }
    run(
        &mut command,
        Some(b"{\"key\": null, \"value\": \"6869\"}\n"),
        Duration::from_secs(30),
    )
}

#[test]
fn produce_consume_and_metadata_over_tls_with_a_ca_file_on_both_backends_and_as_peers_do() {
    let scene = Scene::new(SceneOptions::default());
    let bootstrap = scene.bootstrap();
    let ca = scene.ca_file.display().to_string();
    for io in backends() {
        produce_and_consume(&scene, io, &[], 300);
    }
    // Our clients end their TLS sessions with close_notify, so the broker's side sees no cut connection. The
    // proxy notes a cut one as soon as the client's process is gone; absence cannot be polled for.
    std::thread::sleep(Duration::from_millis(300));
    // (A response still on its way when a client closes may meet a closed socket: that is no cut session.)
    let errors = scene.proxy.errors();
    assert!(
        !errors.iter().any(|e| e.contains("close_notify")),
        "the TLS side saw: {errors:?}"
    );
    let (output, _) = metadata(&bootstrap, &scene.ssl_args(&[]));
    output.assert_success("engine metadata over TLS");
    assert!(
        output
            .stdout_str()
            .contains(&format!("localhost:{}", scene.proxy.port())),
        "{}",
        output.stdout_str()
    );
    // The admin commands take the same keys.
    let created = unique_topic("tls-created");
    let ssl = scene.ssl_args(&[]);
    let mut create = vec![
        "topic",
        "create",
        &created,
        "--partitions",
        "2",
        "-b",
        &bootstrap,
    ];
    create.extend(strs(&ssl));
    run_engine(&create).assert_success("engine topic create over TLS");
    let mut groups = vec!["group", "list", "-b", &bootstrap];
    groups.extend(strs(&ssl));
    run_engine(&groups).assert_success("engine group list over TLS");
    let settings = [
        ("security.protocol", "ssl"),
        ("ssl.ca.location", ca.as_str()),
    ];
    kcat_metadata(&bootstrap, &settings).assert_success("kcat -L over TLS");
    ck_produce_one(&bootstrap, &unique_topic("tls-ck"), &settings)
        .assert_success("confluent-kafka produce over TLS");
}

#[test]
fn a_ca_directory_is_read_whole_and_tls_1_2_serves_as_well() {
    let scene = Scene::new(SceneOptions {
        tls12_only: true,
        ..SceneOptions::default()
    });
    let cas = scene.path().join("cas");
    std::fs::create_dir(&cas).unwrap();
    write_pem(&cas, "README", "not a certificate\n");
    write_pem(&cas, "other.pem", &TestCa::new("another CA").pem());
    write_pem(&cas, "ours.crt", &scene.ca.pem());
    let dir = cas.display().to_string();
    for io in backends() {
        produce_and_consume(&scene, io, &[("ssl.ca.location", &dir)], 50);
    }
}

#[test]
fn client_certificates_for_a_broker_that_requires_them() {
    let scene = Scene::new(SceneOptions {
        require_client_certificate: true,
        ..SceneOptions::default()
    });
    let client = scene.ca.issue(&["pipewright-client"]);
    let cert = write_pem(scene.path(), "client.pem", &client.cert_pem);
    let key = write_pem(scene.path(), "client.key", &client.key_pem);
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    for io in backends() {
        produce_and_consume(
            &scene,
            io,
            &[
                ("ssl.certificate.location", &cert),
                ("ssl.key.location", &key),
            ],
            20,
        );
    }
    // Java's PEM keystore: key and chain in one file; the key encrypted (PKCS#8), with ssl.key.password.
    let encrypted = scene.path().join("client.enc.key");
    let openssl = run(
        Command::new("openssl").args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:s3cret-pass",
            "-in",
            &key,
            "-out",
            &encrypted.display().to_string(),
        ]),
        None,
        Duration::from_secs(20),
    );
    openssl.assert_success("openssl pkcs8 -topk8");
    let keystore = format!(
        "{}{}",
        std::fs::read_to_string(&encrypted).unwrap(),
        client.cert_pem
    );
    let keystore = write_pem(scene.path(), "keystore.pem", &keystore);
    let keystore = keystore.display().to_string();
    produce_and_consume(
        &scene,
        "epoll",
        &[
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", &keystore),
            ("ssl.key.password", "s3cret-pass"),
        ],
        5,
    );
    // A wrong password is a config error naming the key, never showing the password.
    let (output, _) = metadata(
        &scene.bootstrap(),
        &scene.ssl_args(&[
            ("ssl.keystore.location", &keystore),
            ("ssl.key.password", "wrong-pass"),
        ]),
    );
    assert!(!output.status.success());
    assert!(
        output.stderr.contains("ssl.keystore.location")
            && output.stderr.contains("cannot decrypt")
            && !output.stderr.contains("wrong-pass"),
        "{}",
        output.stderr
    );
    // Without a certificate: refused, in words, within seconds; kcat is refused as well.
    let line = assert_refused(
        &scene.bootstrap(),
        &scene.ssl_args(&[]),
        "requires a client certificate",
    );
    assert!(line.contains("could not connect to broker"), "{line}");
    let ca = scene.ca_file.display().to_string();
    let without = [
        ("security.protocol", "ssl"),
        ("ssl.ca.location", ca.as_str()),
    ];
    assert!(!kcat_metadata(&scene.bootstrap(), &without).status.success());
    let with = [
        ("security.protocol", "ssl"),
        ("ssl.ca.location", ca.as_str()),
        ("ssl.certificate.location", cert.as_str()),
        ("ssl.key.location", key.as_str()),
    ];
    kcat_metadata(&scene.bootstrap(), &with).assert_success("kcat -L with a client certificate");
}

#[test]
fn an_unknown_ca_is_refused_by_us_kcat_and_confluent_kafka() {
    let scene = Scene::new(SceneOptions {
        identity: |_| TestCa::new("a CA nobody trusts").issue(&["localhost"]),
        with_broker: false,
        ..SceneOptions::default()
    });
    let bootstrap = scene.bootstrap();
    assert_refused(
        &bootstrap,
        &scene.ssl_args(&[]),
        "not signed by a trusted CA",
    );
    // The same through the producer: non-zero, the cause named.
    let mut produce = vec!["produce", "-b", &bootstrap, "-t", "t"];
    let ssl = scene.ssl_args(&[("delivery.timeout.ms", "4000")]);
    produce.extend(strs(&ssl));
    let output = engine_with_io("epoll", &produce, Some(b"one\n"));
    assert!(!output.status.success());
    assert!(
        output.stderr.contains("not signed by a trusted CA"),
        "{}",
        output.stderr
    );
    let ca = scene.ca_file.display().to_string();
    let settings = [
        ("security.protocol", "ssl"),
        ("ssl.ca.location", ca.as_str()),
    ];
    assert!(
        !kcat_metadata(&bootstrap, &settings).status.success(),
        "kcat trusted it"
    );
    assert!(
        !ck_produce_one(&bootstrap, "t", &settings).status.success(),
        "confluent-kafka trusted it"
    );
}

#[test]
fn an_expired_certificate_is_refused() {
    let scene = Scene::new(SceneOptions {
        identity: |ca| ca.issue_expired(&["localhost"]),
        with_broker: false,
        ..SceneOptions::default()
    });
    assert_refused(&scene.bootstrap(), &scene.ssl_args(&[]), "has expired");
    let ca = scene.ca_file.display().to_string();
    let settings = [
        ("security.protocol", "ssl"),
        ("ssl.ca.location", ca.as_str()),
    ];
    assert!(!kcat_metadata(&scene.bootstrap(), &settings)
        .status
        .success());
}

#[test]
fn the_host_name_is_verified_unless_turned_off() {
    let scene = Scene::new(SceneOptions {
        identity: |ca| ca.issue(&["broker.invalid"]),
        ..SceneOptions::default()
    });
    assert_refused(
        &scene.bootstrap(),
        &scene.ssl_args(&[]),
        "not for the host we connected to",
    );
    produce_and_consume(
        &scene,
        "epoll",
        &[("ssl.endpoint.identification.algorithm", "")],
        10,
    );
    let ca = scene.ca_file.display().to_string();
    let mut settings = vec![
        ("security.protocol", "ssl"),
        ("ssl.ca.location", ca.as_str()),
    ];
    assert!(!kcat_metadata(&scene.bootstrap(), &settings)
        .status
        .success());
    settings.push(("ssl.endpoint.identification.algorithm", "none"));
    kcat_metadata(&scene.bootstrap(), &settings).assert_success("kcat without the name check");
}

#[test]
fn tls_to_a_plaintext_port_and_plaintext_to_a_tls_port_say_so() {
    let scene = Scene::new(SceneOptions::default());
    let plaintext = scene.broker.as_ref().expect("broker").bootstrap();
    assert_refused(&plaintext, &scene.ssl_args(&[]), "plaintext");
    // Plaintext to the TLS port: the client fails; the TLS side says it was not TLS.
    let (output, took) = metadata(&scene.bootstrap(), &[]);
    assert!(!output.status.success(), "{}", output.stdout_str());
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(
        output.stderr.contains(&format!("({})", scene.bootstrap()))
            && output.stderr.contains("answered in TLS"),
        "names the broker and the cause: {}",
        output.stderr
    );
    let errors = scene.proxy.errors();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("InvalidContentType") || e.contains("corrupt")),
        "the TLS side tells a plaintext client: {errors:?}"
    );
}

#[test]
fn a_pipeline_over_tls_delivers_and_one_with_an_unknown_ca_shows_why_in_its_status() {
    let scene = Scene::new(SceneOptions::default());
    let input = write_pem(scene.path(), "in.txt", "a\nb\nc\n");
    let topic = unique_topic("tls-pipeline");
    let config = write_config(
        scene.path(),
        &format!(
            r#"[kafka]
"bootstrap.servers" = "{bootstrap}"
"security.protocol" = "SSL"
"ssl.ca.location" = "{ca}"

[[pipeline]]
name = "over-tls"
source = {{ type = "file", file = "{input}" }}
sink = {{ type = "kafka", topic = "{topic}" }}
"value.converter" = "string"

[[pipeline]]
name = "untrusted"
source = {{ type = "file", file = "{input}" }}
sink = {{ type = "kafka", topic = "{topic}-untrusted" }}
"producer.override.ssl.ca.location" = "{other}"
"#,
            bootstrap = scene.bootstrap(),
            ca = scene.ca_file.display(),
            input = input.display(),
            other = write_pem(scene.path(), "other-ca.pem", &TestCa::new("other").pem()).display(),
        ),
    );
    let mut engine = start_engine(&config, &scene.path().join("state"), 1);
    let bootstrap = scene.bootstrap();
    let ssl = scene.ssl_args(&[]);
    let mut consume = vec![
        "consume",
        "-b",
        &bootstrap,
        "-t",
        &topic,
        "-o",
        "beginning",
        "-c",
        "3",
    ];
    consume.extend(strs(&ssl));
    let consumed = engine_with_io("epoll", &consume, None);
    consumed.assert_success("engine consume of the pipeline's topic");
    assert_eq!(consumed.stdout_str(), "a\nb\nc\n");
    let port = engine.1;
    let mut status = String::new();
    engine.wait_while_running(
        "the untrusted pipeline's status names the cause",
        Duration::from_secs(15),
        || {
            status = try_rest_get(port, "/connectors/untrusted/status").unwrap_or_default();
            status.contains("not signed by a trusted CA")
        },
    );
    assert!(status.contains(&format!("({bootstrap})")), "{status}");
}

#[test]
fn validate_names_file_line_and_key_of_a_bad_tls_setting_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        r#"[kafka]
"bootstrap.servers" = "localhost:9093"
"security.protocol" = "SSL"
"ssl.ca.location" = "/nonexistent/ca.pem"
"ssl.key.password" = "hunter2-secret"

[[pipeline]]
name = "p"
source = { type = "file", file = "/nonexistent/in.txt" }
sink = { type = "kafka", topic = "t" }
"#,
    );
    let output = run_engine(&["validate", "--config", &config.display().to_string()]);
    assert!(!output.status.success());
    let all = format!("{}{}", output.stdout_str(), output.stderr);
    assert!(
        all.contains("pipelines.toml:4: key \"ssl.ca.location\"") && all.contains("cannot read it"),
        "{all}"
    );
    assert!(
        all.contains("pipelines.toml:5: key \"ssl.key.password\""),
        "{all}"
    );
    assert!(!all.contains("hunter2-secret"), "{all}");
}
