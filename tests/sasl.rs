//! SASL to brokers: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER through `engine produce` / `consume` /
//! `metadata` and a pipeline's `[kafka]` table, against the SASL front of `support/sasl_proxy.rs` (in front
//! of tansu, or of `PIPEWRIGHT_TEST_BROKER`), with confluent-kafka given the same settings as the reference:
//! it must succeed where we do and fail where we fail.

mod support;

use std::time::{Duration, Instant};

use support::broker::{create_topic, unique_topic, TestBroker};
use support::engine_cli::{assert_delivered, engine_produce, run_engine, spawn_engine_produce};
use support::engine_process::{start_engine, try_rest_get, write_config};
use support::peers::{ck_consume_with, peer_command};
use support::process::run;
use support::sasl_proxy::{SaslProxy, SaslRules};
use support::tls::{write_pem, ProxyTls, TestCa, TlsProxy};
use support::waiting::wait_for;

const USER: &str = "alice";
const PASSWORD: &str = "pässwörd=1,\"x\"";
const WRONG: &str = "not-her-password";

fn proxy(broker: &TestBroker, mechanisms: &[&'static str], session_lifetime_ms: i64) -> SaslProxy {
    SaslProxy::start(
        &broker.bootstrap(),
        SaslRules {
            mechanisms: mechanisms.to_vec(),
            users: vec![(USER.to_owned(), PASSWORD.to_owned())],
            session_lifetime_ms,
        },
    )
}

/// `-X` arguments: SASL_PLAINTEXT with `mechanism` and the librdkafka credential keys.
fn password_args(mechanism: &str, password: &str) -> Vec<String> {
    [
        "security.protocol=SASL_PLAINTEXT".to_owned(),
        format!("sasl.mechanism={mechanism}"),
        format!("sasl.username={USER}"),
        format!("sasl.password={password}"),
    ]
    .into_iter()
    .flat_map(|setting| ["-X".to_owned(), setting])
    .collect()
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn lines(count: usize) -> Vec<u8> {
    (0..count)
        .map(|i| format!("record-{i}\n"))
        .collect::<String>()
        .into_bytes()
}

/// `engine consume` of `topic` from the beginning to its end; the values.
fn engine_values(bootstrap: &str, topic: &str, args: &[&str]) -> Vec<String> {
    let output = run_engine(
        &[
            &[
                "consume",
                "-b",
                bootstrap,
                "-t",
                topic,
                "-o",
                "beginning",
                "-e",
            ],
            args,
        ]
        .concat(),
    );
    output.assert_success("engine consume");
    output.stdout_str().lines().map(str::to_owned).collect()
}

/// confluent-kafka reading `topic` through the proxy with `settings` (librdkafka names); its exit status and
/// stderr. `timeout_s` bounds a read that cannot authenticate.
fn ck_read(bootstrap: &str, topic: &str, settings: &[String], timeout_s: u32) -> (bool, String) {
    let mut command = peer_command("ck_consume.py");
    command.args([
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--timeout",
        &timeout_s.to_string(),
    ]);
    for setting in settings {
        command.args(["-X", setting]);
    }
    let output = run(&mut command, None, Duration::from_secs(60));
    (output.status.success(), output.stderr)
}

fn ck_settings(mechanism: &str, password: &str) -> Vec<String> {
    vec![
        "security.protocol=SASL_PLAINTEXT".to_owned(),
        format!("sasl.mechanism={mechanism}"),
        format!("sasl.username={USER}"),
        format!("sasl.password={password}"),
    ]
}

#[test]
fn plain_scram_sha_256_and_scram_sha_512_carry_records_through_the_cli_as_for_confluent_kafka() {
    let broker = TestBroker::start();
    let proxy = proxy(&broker, &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"], 0);
    let bootstrap = proxy.bootstrap();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let topic = unique_topic(&format!("sasl-{}", mechanism.to_lowercase()));
        create_topic(&broker.bootstrap(), &topic, 2);
        // SCRAM-SHA-512 takes the Java spelling: a JAAS config with the password quoted and escaped.
        let args = if mechanism == "SCRAM-SHA-512" {
            let jaas = format!(
                r#"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required password="{}" username="{USER}";"#,
                PASSWORD.replace('\\', "\\\\").replace('"', "\\\"")
            );
            vec![
                "-X".into(),
                "security.protocol=SASL_PLAINTEXT".into(),
                "-X".into(),
                "sasl.mechanism=SCRAM-SHA-512".into(),
                "-X".into(),
                jaas,
            ]
        } else {
            password_args(mechanism, PASSWORD)
        };
        let output = engine_produce(&bootstrap, &topic, &refs(&args), &lines(20));
        assert_delivered(&output, &topic, 20);
        let mut values = engine_values(&bootstrap, &topic, &refs(&args));
        values.sort();
        let mut expected: Vec<String> = (0..20).map(|i| format!("record-{i}")).collect();
        expected.sort();
        assert_eq!(values, expected, "{mechanism}");
        let theirs = ck_consume_with(
            &bootstrap,
            &topic,
            Some(20),
            &refs(
                &ck_settings(mechanism, PASSWORD)
                    .into_iter()
                    .flat_map(|s| ["-X".to_owned(), s])
                    .collect::<Vec<_>>(),
            ),
        );
        assert_eq!(theirs.len(), 20, "confluent-kafka with {mechanism}");
    }
    let stats = proxy.stats();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        assert!(
            stats
                .authenticated
                .iter()
                .any(|(m, user)| m == mechanism && user == USER),
            "{mechanism}: {stats:?}"
        );
    }
    assert_eq!(stats.refused, 0, "{stats:?}");
    assert_eq!(stats.unauthenticated, 0, "{stats:?}");
}

#[test]
fn a_wrong_password_fails_within_seconds_in_one_line_naming_the_broker_and_the_cause() {
    let broker = TestBroker::start();
    let proxy = proxy(&broker, &["PLAIN", "SCRAM-SHA-256"], 0);
    let bootstrap = proxy.bootstrap();
    let topic = unique_topic("sasl-wrong");
    create_topic(&broker.bootstrap(), &topic, 1);
    for mechanism in ["PLAIN", "SCRAM-SHA-256"] {
        let args = password_args(mechanism, WRONG);
        let consume = [
            &[
                "consume",
                "-b",
                &bootstrap,
                "-t",
                &topic,
                "-o",
                "beginning",
                "-e",
            ][..],
            &refs(&args),
        ]
        .concat();
        let metadata = [&["metadata", "-b", &bootstrap][..], &refs(&args)].concat();
        let group = [
            &[
                "consume",
                "-b",
                &bootstrap,
                "-t",
                &topic,
                "-G",
                "sasl-group",
                "-e",
            ][..],
            &refs(&args),
        ]
        .concat();
        let produced = engine_produce(&bootstrap, &topic, &refs(&args), b"one\ntwo\n");
        for output in [
            produced,
            run_engine(&consume),
            run_engine(&metadata),
            run_engine(&group),
        ] {
            assert!(
                !output.status.success(),
                "{}: {}",
                output.what,
                output.stderr
            );
            assert!(
                output.elapsed < Duration::from_secs(10),
                "{}: {:?}",
                output.what,
                output.elapsed
            );
            let cause = output
                .stderr
                .lines()
                .find(|l| l.contains(&format!("authentication to broker -1 ({bootstrap}) failed")))
                .unwrap_or_else(|| {
                    panic!(
                        "{}: no authentication failure in\n{}",
                        output.what, output.stderr
                    )
                });
            assert!(
                cause.contains("Invalid username or password")
                    || cause.contains("invalid credentials"),
                "the broker's reason: {cause}"
            );
            assert!(
                !output.stderr.contains(WRONG),
                "the password is shown:\n{}",
                output.stderr
            );
        }
        let (ok, stderr) = ck_read(&bootstrap, &topic, &ck_settings(mechanism, WRONG), 5);
        assert!(
            !ok,
            "confluent-kafka authenticated with a wrong password: {stderr}"
        );
    }
    assert!(proxy.stats().refused >= 8, "{:?}", proxy.stats());
}

#[test]
fn a_mechanism_the_broker_does_not_offer_is_refused_naming_those_it_offers() {
    let broker = TestBroker::start();
    let proxy = proxy(&broker, &["SCRAM-SHA-512"], 0);
    let bootstrap = proxy.bootstrap();
    let args = password_args("PLAIN", PASSWORD);
    let output = run_engine(&[&["metadata", "-b", &bootstrap][..], &refs(&args)].concat());
    assert!(!output.status.success(), "{}", output.stderr);
    assert!(
        output
            .stderr
            .contains("the broker does not offer SASL mechanism PLAIN (it offers: SCRAM-SHA-512)"),
        "{}",
        output.stderr
    );
    let topic = unique_topic("sasl-mechanism");
    create_topic(&broker.bootstrap(), &topic, 1);
    let (ok, stderr) = ck_read(&bootstrap, &topic, &ck_settings("PLAIN", PASSWORD), 5);
    assert!(
        !ok,
        "confluent-kafka authenticated with a mechanism not offered: {stderr}"
    );
    // The one offered works, for both.
    let args = password_args("SCRAM-SHA-512", PASSWORD);
    run_engine(&[&["metadata", "-b", &bootstrap][..], &refs(&args)].concat())
        .assert_success("engine metadata with SCRAM-SHA-512");
}

/// Feeds `engine produce` a line every 100 ms for `duration`, then ends its input; returns the lines fed.
fn produce_paced(
    bootstrap: &str,
    topic: &str,
    args: &[&str],
    duration: Duration,
    mut midway: impl FnMut(),
) -> usize {
    let mut producer = spawn_engine_produce(bootstrap, topic, args);
    let started = Instant::now();
    let mut fed = 0;
    let mut midway_done = false;
    while started.elapsed() < duration {
        producer.feed(format!("paced-{fed}\n").as_bytes());
        fed += 1;
        if !midway_done && started.elapsed() > duration / 2 {
            midway();
            midway_done = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = producer.finish(Duration::from_secs(30));
    assert_delivered(&output, topic, fed);
    fed
}

#[test]
fn sessions_are_reauthenticated_on_the_same_connection_before_the_broker_ends_them() {
    let broker = TestBroker::start();
    // Sessions of 1.2 s: a producer running 3.5 s re-authenticates twice or more, or its requests after the
    // end of a session close the connection (counted as `expired`).
    let proxy = proxy(&broker, &["SCRAM-SHA-256"], 1200);
    let bootstrap = proxy.bootstrap();
    let topic = unique_topic("sasl-reauth");
    create_topic(&broker.bootstrap(), &topic, 1);
    let args = password_args("SCRAM-SHA-256", PASSWORD);
    let fed = produce_paced(
        &bootstrap,
        &topic,
        &refs(&args),
        Duration::from_millis(3500),
        || {},
    );
    let stats = proxy.stats();
    assert!(stats.reauthenticated >= 2, "{stats:?}");
    assert_eq!(
        stats.expired, 0,
        "a request came after its session ended: {stats:?}"
    );
    assert_eq!(engine_values(&bootstrap, &topic, &refs(&args)).len(), fed);
}

#[test]
fn oauthbearer_takes_a_static_token_and_a_token_file_read_again_before_the_session_ends() {
    let broker = TestBroker::start();
    let proxy = proxy(&broker, &["OAUTHBEARER"], 1200);
    let bootstrap = proxy.bootstrap();
    proxy.accept_tokens(&["eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.first"]);
    let oauth = |token_setting: String| -> Vec<String> {
        [
            "security.protocol=SASL_PLAINTEXT".to_owned(),
            "sasl.mechanism=OAUTHBEARER".to_owned(),
            token_setting,
        ]
        .into_iter()
        .flat_map(|s| ["-X".to_owned(), s])
        .collect()
    };
    let metadata =
        |args: &[String]| run_engine(&[&["metadata", "-b", &bootstrap][..], &refs(args)].concat());
    metadata(&oauth(
        "sasl.oauthbearer.token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.first".into(),
    ))
    .assert_success("engine metadata with the accepted token");
    let refused = metadata(&oauth("sasl.oauthbearer.token=eyJ.revoked.token".into()));
    assert!(!refused.status.success());
    assert!(
        refused
            .stderr
            .contains("the broker refused the OAUTHBEARER token")
            && !refused.stderr.contains("eyJ.revoked.token"),
        "{}",
        refused.stderr
    );
    // A token file, rotated midway: the re-authentication before the session ends reads the new token.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.first\n").unwrap();
    let topic = unique_topic("sasl-oauth");
    create_topic(&broker.bootstrap(), &topic, 1);
    let args = oauth(format!(
        "sasl.oauthbearer.token.endpoint.url=file://{}",
        file.display()
    ));
    let before = proxy.stats().reauthenticated;
    produce_paced(
        &bootstrap,
        &topic,
        &refs(&args),
        Duration::from_millis(3000),
        || {
            std::fs::write(&file, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.second\n").unwrap();
            proxy.accept_tokens(&["eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.second"]);
        },
    );
    let stats = proxy.stats();
    assert!(stats.reauthenticated >= before + 2, "{stats:?}");
    assert_eq!(stats.expired, 0, "{stats:?}");
}

#[test]
fn a_pipeline_authenticates_from_its_kafka_table_and_a_refused_one_says_why_in_its_status() {
    let broker = TestBroker::start();
    let proxy = proxy(&broker, &["SCRAM-SHA-512"], 0);
    let bootstrap = proxy.bootstrap();
    let topic = unique_topic("sasl-pipeline");
    create_topic(&broker.bootstrap(), &topic, 1);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, String::from_utf8(lines(10)).unwrap()).unwrap();
    let jaas = format!(
        r#"org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{USER}\" password=\"{}\";"#,
        PASSWORD.replace('\\', "\\\\\\\\").replace('"', "\\\\\\\"")
    );
    let config = write_config(
        dir.path(),
        &format!(
            r#"[kafka]
"bootstrap.servers" = "{bootstrap}"
"security.protocol" = "SASL_PLAINTEXT"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.jaas.config" = "{jaas}"

[[pipeline]]
name = "good"
source = {{ type = "file", file = "{input}" }}
sink = {{ type = "kafka", topic = "{topic}" }}

[[pipeline]]
name = "refused"
source = {{ type = "file", file = "{input}" }}
sink = {{ type = "kafka", topic = "{topic}" }}
"producer.override.sasl.jaas.config" = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{USER}\" password=\"{WRONG}\";"
"#,
            input = input.display()
        ),
    );
    let mut engine = start_engine(&config, &dir.path().join("state"), 1);
    let args = password_args("SCRAM-SHA-512", PASSWORD);
    wait_for(
        "the good pipeline's records",
        Duration::from_secs(20),
        || engine_values(&bootstrap, &topic, &refs(&args)).len() >= 10,
    );
    let mut status = String::new();
    wait_for(
        "the refused pipeline's status to say why",
        Duration::from_secs(10),
        || {
            status = try_rest_get(engine.1, "/connectors/refused/status").unwrap_or_default();
            status.contains("authentication to broker")
        },
    );
    assert!(
        status.contains(r#""state":"RUNNING""#),
        "it backs off and retries: {status}"
    );
    assert!(status.contains("invalid credentials"), "{status}");
    let shown = try_rest_get(engine.1, "/connectors/refused/config").unwrap_or_default();
    assert!(
        !status.contains(WRONG) && !shown.contains(WRONG),
        "{status}\n{shown}"
    );
    assert!(!shown.contains("pässwörd"), "{shown}");
    assert!(engine.try_wait().unwrap().is_none(), "the engine runs on");
    // Only the good pipeline wrote: the refused one's records never arrived.
    assert_eq!(engine_values(&bootstrap, &topic, &refs(&args)).len(), 10);
}

#[test]
fn validate_names_file_line_and_key_of_a_sasl_mistake_and_never_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        r#"[kafka]
"bootstrap.servers" = "127.0.0.1:9092"
"security.protocol" = "SASL_PLAINTEXT"
"sasl.mechanism" = "SCRAM-SHA-256"
"sasl.jaas.config" = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"hunter2"

[[pipeline]]
name = "p"
source = { type = "file", file = "/tmp/in" }
sink = { type = "kafka", topic = "t" }
"producer.override.sasl.password" = "hunter3"
"producer.override.sasl.username" = "u"
"#,
    );
    let output = run_engine(&["validate", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success(), "{}", output.stderr);
    assert!(
        output.stderr.contains("pipelines.toml:5") && output.stderr.contains("sasl.jaas.config"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("never closed"), "{}", output.stderr);
    assert!(
        !output.stderr.contains("hunter2") && !output.stderr.contains("hunter3"),
        "{}",
        output.stderr
    );
}

#[test]
fn sasl_ssl_authenticates_inside_tls_as_for_confluent_kafka() {
    // Client → TLS proxy (localhost:P, certificate from a test CA) → SASL front → broker; the SASL front names
    // the TLS proxy in Metadata, so every connection goes through both.
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("pipewright sasl_ssl CA");
    let ca_file = write_pem(dir.path(), "ca.pem", &ca.pem());
    let (listener, tls_port) = TlsProxy::bind();
    let sasl = SaslProxy::start_advertising(
        &broker.bootstrap(),
        SaslRules {
            mechanisms: vec!["SCRAM-SHA-512"],
            users: vec![(USER.to_owned(), PASSWORD.to_owned())],
            session_lifetime_ms: 0,
        },
        Some(("localhost", tls_port)),
    );
    let _tls = TlsProxy::start(
        listener,
        sasl.bootstrap(),
        ProxyTls {
            identity: ca.issue(&["localhost"]),
            client_ca_pem: None,
            tls12_only: false,
        },
    );
    let bootstrap = format!("localhost:{tls_port}");
    let topic = unique_topic("sasl-ssl");
    create_topic(&broker.bootstrap(), &topic, 2);
    let settings = |password: &str| {
        vec![
            "security.protocol=SASL_SSL".to_owned(),
            format!("ssl.ca.location={}", ca_file.display()),
            "sasl.mechanism=SCRAM-SHA-512".to_owned(),
            format!("sasl.username={USER}"),
            format!("sasl.password={password}"),
        ]
    };
    let args = |password: &str| -> Vec<String> {
        settings(password)
            .into_iter()
            .flat_map(|s| ["-X".to_owned(), s])
            .collect()
    };
    let output = engine_produce(&bootstrap, &topic, &refs(&args(PASSWORD)), &lines(10));
    assert_delivered(&output, &topic, 10);
    assert_eq!(
        engine_values(&bootstrap, &topic, &refs(&args(PASSWORD))).len(),
        10
    );
    let theirs = ck_consume_with(&bootstrap, &topic, Some(10), &refs(&args(PASSWORD)));
    assert_eq!(theirs.len(), 10, "confluent-kafka over SASL_SSL");
    // A wrong password inside TLS: both refuse, ours at once with the broker's reason.
    let started = Instant::now();
    let refused = engine_produce(&bootstrap, &topic, &refs(&args(WRONG)), &lines(1));
    assert!(!refused.status.success(), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("authentication") && !refused.stderr.contains(WRONG),
        "{}",
        refused.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    let (ok, _) = ck_read(&bootstrap, &topic, &settings(WRONG), 10);
    assert!(!ok, "confluent-kafka must fail with the wrong password too");
    assert!(
        sasl.stats()
            .authenticated
            .iter()
            .any(|(m, user)| m == "SCRAM-SHA-512" && user == USER),
        "{:?}",
        sasl.stats()
    );
}
