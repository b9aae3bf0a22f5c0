//! A distributed worker's file (`engine distributed connect-distributed.properties`).

use std::time::Duration;

use super::super::distributed::ExactlyOnceSourceSupport;
use super::super::{load_distributed, load_standalone, parse_connector, Registry};

const QUICKSTART: &str = "bootstrap.servers=localhost:9092
group.id=connect-cluster
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
offset.storage.topic=connect-offsets
offset.storage.replication.factor=1
config.storage.topic=connect-configs
config.storage.replication.factor=1
status.storage.topic=connect-status
status.storage.replication.factor=1
offset.flush.interval.ms=10000
";

fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connect-distributed.properties");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn kafkas_quickstart_file_reads_with_kafkas_defaults_where_it_is_silent() {
    let (_dir, path) = write(QUICKSTART);
    let config = load_distributed(&path).unwrap();
    let spec = config.worker.distributed.expect("distributed keys");
    assert_eq!(spec.group_id, "connect-cluster");
    assert_eq!(
        (
            spec.config_topic.as_str(),
            spec.offset_topic.as_str(),
            spec.status_topic.as_str()
        ),
        ("connect-configs", "connect-offsets", "connect-status")
    );
    assert_eq!(spec.config_replication_factor, 1);
    assert_eq!((spec.offset_partitions, spec.status_partitions), (25, 5));
    assert_eq!(spec.heartbeat_interval, Duration::from_millis(3_000));
    assert_eq!(spec.session_timeout, Duration::from_millis(10_000));
    assert_eq!(spec.rebalance_timeout, Duration::from_millis(60_000));
    // Where Kafka Connect waits five minutes for a vanished worker, pipewright moves its tasks at once.
    assert_eq!(spec.scheduled_rebalance_max_delay, Duration::ZERO);
    assert_eq!(spec.group_instance_id, None);
    assert_eq!(
        spec.exactly_once_source_support,
        ExactlyOnceSourceSupport::Disabled
    );
    // group.id is the worker group's, not a default of every connector's consumers.
    assert!(config.worker.client.get("group.id").is_none());
}

#[test]
fn a_missing_internal_topic_is_an_error_naming_the_file_and_key() {
    let text = QUICKSTART.replace("config.storage.topic=connect-configs\n", "");
    let (_dir, path) = write(&text);
    let errors = load_distributed(&path).unwrap_err().to_string();
    assert!(
        errors.contains("connect-distributed.properties"),
        "{errors}"
    );
    assert!(errors.contains("config.storage.topic"), "{errors}");
}

#[test]
fn standalone_and_distributed_keys_are_each_refused_in_the_other_mode() {
    let (_dir, path) = write(&format!(
        "{QUICKSTART}offset.storage.file.filename=/tmp/o\n"
    ));
    let errors = load_distributed(&path).unwrap_err().to_string();
    assert!(
        errors.contains("offset.storage.file.filename") && errors.contains("standalone"),
        "{errors}"
    );
    let (_dir, path) = write("bootstrap.servers=x\nconfig.storage.topic=c\n");
    let errors = load_standalone(&path, &[]).unwrap_err().to_string();
    assert!(
        errors.contains("config.storage.topic") && errors.contains("distributed"),
        "{errors}"
    );
    // In a standalone file, group.id stays a default of the connectors' clients, as before.
    let (_dir, path) = write("bootstrap.servers=x\ngroup.id=g\n");
    let config = load_standalone(&path, &[]).unwrap();
    assert_eq!(config.worker.client.get("group.id"), Some("g"));
}

#[test]
fn values_out_of_range_and_protocols_the_workers_do_not_speak_are_errors() {
    for (line, says) in [
        ("connect.protocol=sessioned", "session keys"),
        ("connect.protocol=eager", "incrementally"),
        ("offset.storage.partitions=0", "partition count"),
        ("config.storage.replication.factor=0", "replication factor"),
        ("heartbeat.interval.ms=20000", "below session.timeout.ms"),
        (
            "exactly.once.source.support=always",
            "disabled, preparing or enabled",
        ),
        ("status.storage.topic=connect-configs", "the same topic"),
    ] {
        let (_dir, path) = write(&format!("{QUICKSTART}{line}\n"));
        let errors = load_distributed(&path).unwrap_err().to_string();
        let key = line.split('=').next().unwrap();
        assert!(
            errors.contains(key) && errors.contains(says),
            "{line}: {errors}"
        );
    }
    let (_dir, path) = write(&format!("{QUICKSTART}connect.protocol=compatible\n"));
    assert!(load_distributed(&path).is_ok());
}

#[test]
fn exactly_once_source_support_enabled_runs_source_connectors_exactly_once_and_leaves_sinks_alone()
{
    let (_dir, path) = write(&format!(
        "{QUICKSTART}exactly.once.source.support=enabled\n"
    ));
    let defaults = load_distributed(&path).unwrap().defaults();
    let connector = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let source = parse_connector(
        "gen",
        &connector(&[("connector.class", "datagen"), ("topic", "t")]),
        &defaults,
        "request",
        &Registry,
    );
    let sink = parse_connector(
        "out",
        &connector(&[
            ("connector.class", "FileStreamSink"),
            ("topics", "t"),
            ("file", "/tmp/out"),
        ]),
        &defaults,
        "request",
        &Registry,
    )
    .unwrap();
    let source = source.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(source.delivery, crate::config::Delivery::ExactlyOnce);
    // The config REST shows is the one submitted.
    assert!(!source.connector_config.contains_key("delivery"));
    assert_eq!(sink.delivery, crate::config::Delivery::AtLeastOnce);
}
