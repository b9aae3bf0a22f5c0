//! The Kafka-backed stores of a distributed worker against a real broker: what one store writes a fresh one
//! reads; reading to the end is right after multi-record batches (tansu's ListOffsets lags there); tombstones
//! delete; and, with confluent-kafka as the peer, records written as a Kafka Connect cluster writes them load,
//! and what we write has the exact bytes Kafka Connect writes.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pipewright::client::config::{ConfigMap, ConsumerConfig, ProducerConfig};
use pipewright::connect::connectors::file::FileSourceConfig;
use pipewright::connect::connectors::SourceConfig;
use pipewright::connect::data::Str;
use pipewright::connect::record::{FileHead, FileId, SourcePosition};
use pipewright::engine::positions::{PositionStore, TaskKey};
use pipewright::worker::status::{StatusStore, TargetState, TaskStatus};
use pipewright::worker::store::connect_records::{StatusValue, TopicStatusValue};
use pipewright::worker::store::{
    ConfigStore, InternalTopic, InternalTopics, KafkaLogSettings, KafkaStatusStore, KafkaStores,
    StoreTimeouts, StoredConnector,
};
use support::broker::{create_topic_with_config, unique_topic, TestBroker};
use support::peers::{ck_consume, ck_produce, PeerRecord};

fn clients(bootstrap: &str) -> (ProducerConfig, ConsumerConfig) {
    let map = || ConfigMap::from_pairs([("bootstrap.servers", bootstrap)]);
    (
        ProducerConfig::from_map(map()).expect("producer config"),
        ConsumerConfig::from_map(map()).expect("consumer config"),
    )
}

fn topics(name: &str) -> InternalTopics {
    let topic = |kind: &str, partitions| InternalTopic {
        name: unique_topic(&format!("{name}-{kind}")),
        partitions,
        replication_factor: -1,
    };
    InternalTopics {
        config: topic("configs", 1),
        status: topic("status", 2),
        offsets: topic("offsets", 3),
    }
}

const TIMEOUTS: StoreTimeouts = StoreTimeouts {
    start: Duration::from_secs(15),
    write: Duration::from_secs(10),
};

fn start(bootstrap: &str, topics: &InternalTopics) -> KafkaStores {
    let (producer, consumer) = clients(bootstrap);
    KafkaStores::start(&producer, &consumer, topics, TIMEOUTS).expect("stores start")
}

fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file_source(path: &str) -> SourceConfig {
    SourceConfig::File(FileSourceConfig {
        file: path.into(),
        topic: Str::from("lines"),
        batch_size: 100,
    })
}

fn file_position(offset: u64) -> SourcePosition {
    SourcePosition::FileOffset {
        offset,
        file: FileId {
            device: 2049,
            inode: 1234,
        },
        head: FileHead {
            bytes: 10,
            crc32c: 0xabcd,
        },
    }
}

fn running(worker: &str) -> TaskStatus {
    TaskStatus {
        state: "RUNNING",
        worker_id: worker.into(),
        trace: None,
    }
}

#[test]
fn a_fresh_store_reads_what_another_wrote_and_tombstones_delete() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topics = topics("fresh");
    let written = {
        let mut stores = start(&bootstrap, &topics);
        let mut changes = stores.config.changes();
        let source = props(&[("connector.class", "FileStreamSource"), ("file", "/in.txt")]);
        stores
            .config
            .put(
                "files",
                &StoredConnector {
                    config: Some(source.clone()),
                    target: TargetState::Paused,
                },
            )
            .unwrap();
        stores
            .config
            .put_task_configs("files", &[props(&[("task", "0")]), props(&[("task", "1")])])
            .unwrap();
        stores
            .config
            .put(
                "gone",
                &StoredConnector {
                    config: Some(props(&[("connector.class", "x")])),
                    target: TargetState::Running,
                },
            )
            .unwrap();
        stores.config.remove("gone").unwrap();
        // The change notifications of our own writes, each after its record was read back.
        let mut seen = Vec::new();
        while let Ok(change) = changes.try_recv() {
            seen.push((change.connector, change.offset));
        }
        let snapshot = stores.config.snapshot();
        assert_eq!(seen.last().map(|s| s.1), Some(snapshot.offset));
        assert_eq!(seen.len(), 9, "{seen:?}");
        assert_eq!(snapshot.task_counts["files"], 2);
        assert!(!snapshot.connectors.contains_key("gone"));

        stores
            .positions
            .set_source("files", &file_source("/in.txt"));
        stores
            .positions
            .store(&TaskKey::new("files", 0), &[file_position(42)])
            .unwrap();
        stores
            .positions
            .store(&TaskKey::new("other", 3), &[SourcePosition::Offset(9)])
            .unwrap();
        stores
            .positions
            .store(&TaskKey::new("other", 3), &[])
            .unwrap();
        assert!(stores
            .positions
            .load(&TaskKey::new("other", 3))
            .unwrap()
            .is_empty());

        stores.status.set_generation(4);
        stores
            .status
            .put(&TaskKey::new("files", 0), running("w1:8083"));
        stores
            .status
            .put(&TaskKey::new("files", 1), running("w1:8083"));
        stores
            .status
            .put(&TaskKey::new("gone", 0), running("w1:8083"));
        stores.status.remove_connector("gone");
        assert!(stores.status.get(&TaskKey::new("gone", 0)).is_none());
        // Statuses are sent without waiting; make sure they reached the topic.
        stores.status.flush(Duration::from_secs(10)).unwrap();
        stores.config.snapshot()
    };

    let stores = start(&bootstrap, &topics);
    assert_eq!(stores.config.snapshot(), written);
    let loaded = stores.config.load().unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded["files"].target, TargetState::Paused);
    assert_eq!(
        stores.config.snapshot().task_configs["files"],
        vec![props(&[("task", "0")]), props(&[("task", "1")])]
    );
    assert_eq!(
        stores.positions.load(&TaskKey::new("files", 0)).unwrap(),
        vec![file_position(42)]
    );
    assert!(stores.positions.load_connector("other").unwrap().is_empty());
    let status = stores.status.task(&TaskKey::new("files", 1)).unwrap();
    assert_eq!((status.state, status.generation), ("RUNNING", 4));
    assert!(stores.status.get(&TaskKey::new("gone", 0)).is_none());
    assert_eq!(stores.status.tasks("files").len(), 2);

    // Another worker's writes reach this one: a change for each record, statuses in the view.
    let mut stores = stores;
    let mut changes = stores.config.changes();
    let mut other = start(&bootstrap, &topics);
    other
        .config
        .put(
            "files",
            &StoredConnector {
                config: Some(props(&[("connector.class", "FileStreamSource")])),
                target: TargetState::Running,
            },
        )
        .unwrap();
    other
        .status
        .put(&TaskKey::new("files", 0), running("w2:8083"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while seen.len() < 2 && Instant::now() < deadline {
        match changes.try_recv() {
            Ok(change) => seen.push(change),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    assert_eq!(
        seen.iter()
            .map(|c| c.connector.as_str())
            .collect::<Vec<_>>(),
        ["files", "files"],
        "the target state and the config other wrote"
    );
    assert_eq!(seen[1].offset, other.config.snapshot().offset);
    assert_eq!(
        stores.config.load().unwrap()["files"].target,
        TargetState::Running
    );
    stores.status.refresh(Duration::from_secs(10)).unwrap();
    assert_eq!(
        stores
            .status
            .get(&TaskKey::new("files", 0))
            .unwrap()
            .worker_id,
        "w2:8083"
    );
}

/// Status records as a Kafka Connect worker writes them, numbered by task.
fn status_records(
    connector: &str,
    tasks: std::ops::Range<u32>,
    generation: i32,
) -> Vec<PeerRecord> {
    tasks
        .map(|i| {
            let key = format!("status-task-{connector}-{i}");
            let value = format!(
                r#"{{"state":"RUNNING","trace":null,"worker_id":"10.0.0.{i}:8083","generation":{generation}}}"#
            );
            PeerRecord::new(Some(key.as_bytes()), Some(value.as_bytes()))
        })
        .collect()
}

#[test]
fn reading_to_the_end_sees_every_record_of_multi_record_batches() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("status-batches");
    create_topic_with_config(&bootstrap, &topic, 1, &[("cleanup.policy", "compact")]);
    // confluent-kafka with linger.ms=5: the records go out in a few batches of many records each.
    ck_produce(
        &bootstrap,
        &topic,
        "none",
        &[],
        &status_records("a", 0..50, 1),
    );
    let (producer, consumer) = clients(&bootstrap);
    let settings = KafkaLogSettings {
        topic: topic.clone(),
        partitions: 1,
        replication_factor: -1,
        producer,
        consumer,
        start_timeout: Duration::from_secs(15),
    };
    let store = KafkaStatusStore::start(settings).unwrap();
    assert_eq!(
        store.tasks("a").len(),
        50,
        "every record, the last batch's too"
    );
    assert_eq!(
        store.task(&TaskKey::new("a", 49)).unwrap().worker_id,
        "10.0.0.49:8083"
    );

    ck_produce(
        &bootstrap,
        &topic,
        "none",
        &[],
        &status_records("a", 50..80, 2),
    );
    store.refresh(Duration::from_secs(10)).unwrap();
    let tasks = store.tasks("a");
    assert_eq!(
        tasks.len(),
        80,
        "refresh returned before the batch's last record"
    );
    assert_eq!(tasks[&79].generation, 2);
}

fn record(key: &str, value: Option<&str>) -> PeerRecord {
    PeerRecord::new(Some(key.as_bytes()), value.map(str::as_bytes))
}

#[test]
fn records_a_kafka_connect_cluster_wrote_load() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topics = topics("from-connect");
    for topic in [&topics.config, &topics.status, &topics.offsets] {
        create_topic_with_config(
            &bootstrap,
            &topic.name,
            topic.partitions as u32,
            &[("cleanup.policy", "compact")],
        );
    }
    let murmur2 = ["--partitioner", "murmur2_random"];
    ck_produce(
        &bootstrap,
        &topics.config.name,
        "none",
        &[],
        &[
            record(
                "session-key",
                Some(
                    r#"{"key":"c2VjcmV0a2V5","algorithm":"HmacSHA256","creation-timestamp":1700000000000}"#,
                ),
            ),
            record(
                "target-state-local-file-source",
                Some(r#"{"state":"PAUSED","state.v2":"STOPPED"}"#),
            ),
            record(
                "connector-local-file-source",
                Some(
                    r#"{"properties":{"connector.class":"FileStreamSource","file":"/tmp/test.txt","tasks.max":"1","topic":"connect-test","name":"local-file-source"}}"#,
                ),
            ),
            record(
                "task-local-file-source-0",
                Some(
                    r#"{"properties":{"connector.class":"FileStreamSource","file":"/tmp/test.txt","task.class":"org.apache.kafka.connect.file.FileStreamSourceTask","topic":"connect-test"}}"#,
                ),
            ),
            record("commit-local-file-source", Some(r#"{"tasks":1}"#)),
            record("connector-damaged", Some("{not json")),
            record(
                "connector-old",
                Some(r#"{"properties":{"connector.class":"x"}}"#),
            ),
            record("connector-old", None),
            record("target-state-old", None),
            record(
                "restart-connector-local-file-source",
                Some(r#"{"include-tasks":true,"only-failed":false}"#),
            ),
        ],
    );
    ck_produce(
        &bootstrap,
        &topics.status.name,
        "none",
        &murmur2,
        &[
            record(
                "status-connector-local-file-source",
                Some(
                    r#"{"state":"RUNNING","trace":null,"worker_id":"172.18.0.5:8083","generation":3}"#,
                ),
            ),
            record(
                "status-task-local-file-source-0",
                Some(
                    r#"{"state":"FAILED","trace":"org.apache.kafka.connect.errors.ConnectException: boom\n\tat Foo.bar(Foo.java:1)\n","worker_id":"172.18.0.5:8083","generation":3}"#,
                ),
            ),
            record(
                "status-topic-connect-test:connector-local-file-source",
                Some(
                    r#"{"topic":{"name":"connect-test","connector":"local-file-source","task":0,"discoverTimestamp":1700000000123}}"#,
                ),
            ),
            record(
                "status-task-old-0",
                Some(
                    r#"{"state":"RUNNING","trace":null,"worker_id":"172.18.0.5:8083","generation":1}"#,
                ),
            ),
            record("status-task-old-0", None),
        ],
    );
    ck_produce(
        &bootstrap,
        &topics.offsets.name,
        "none",
        &murmur2,
        &[
            record(
                r#"["local-file-source",{"filename":"/tmp/test.txt"}]"#,
                Some(r#"{"position":42}"#),
            ),
            record(
                r#"["datagen",{"task.id":1}]"#,
                Some(r#"{"current.iteration":7}"#),
            ),
            record(
                r#"["datagen",{"task.id":0}]"#,
                Some(r#"{"current.iteration":3}"#),
            ),
            record(r#"["datagen",{"task.id":0}]"#, None),
        ],
    );

    let stores = start(&bootstrap, &topics);
    let snapshot = stores.config.snapshot();
    assert_eq!(snapshot.offset, 10, "ten records read, the damaged one too");
    assert_eq!(
        snapshot.connectors.keys().collect::<Vec<_>>(),
        ["local-file-source"]
    );
    let connector = &snapshot.connectors["local-file-source"];
    assert_eq!(connector.target, TargetState::Stopped);
    assert_eq!(connector.config.as_ref().unwrap()["file"], "/tmp/test.txt");
    assert_eq!(snapshot.task_counts["local-file-source"], 1);
    assert_eq!(
        snapshot.task_configs["local-file-source"][0]["task.class"],
        "org.apache.kafka.connect.file.FileStreamSourceTask"
    );
    assert_eq!(snapshot.session_key.unwrap().algorithm, "HmacSHA256");

    let connector_status = stores.status.connector("local-file-source").unwrap();
    assert_eq!(
        (connector_status.state, connector_status.generation),
        ("RUNNING", 3)
    );
    let task = stores
        .status
        .get(&TaskKey::new("local-file-source", 0))
        .unwrap();
    assert_eq!(task.state, "FAILED");
    assert!(task
        .trace
        .unwrap()
        .contains("ConnectException: boom\n\tat Foo"));
    assert!(stores.status.get(&TaskKey::new("old", 0)).is_none());
    assert_eq!(
        stores.status.active_topics("local-file-source")["connect-test"],
        TopicStatusValue {
            topic: "connect-test".into(),
            connector: "local-file-source".into(),
            task: 0,
            discover_timestamp_ms: 1_700_000_000_123,
        }
    );

    assert_eq!(
        stores
            .positions
            .load(&TaskKey::new("local-file-source", 0))
            .unwrap(),
        vec![SourcePosition::Offset(42)]
    );
    assert_eq!(
        stores.positions.load_connector("datagen").unwrap(),
        vec![(1, vec![SourcePosition::Offset(7)])]
    );
}

fn text(bytes: &Option<Vec<u8>>) -> Option<String> {
    bytes
        .as_ref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

#[test]
fn what_we_write_is_byte_for_byte_what_kafka_connect_writes() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topics = topics("to-connect");
    {
        let mut stores = start(&bootstrap, &topics);
        stores
            .config
            .put(
                "local-file-source",
                &StoredConnector {
                    config: Some(props(&[
                        ("connector.class", "FileStreamSource"),
                        ("file", "/tmp/test.txt"),
                    ])),
                    target: TargetState::Stopped,
                },
            )
            .unwrap();
        stores
            .config
            .put_task_configs("local-file-source", &[props(&[("file", "/tmp/test.txt")])])
            .unwrap();
        stores.config.remove("local-file-source").unwrap();

        stores.status.set_generation(5);
        stores.status.put(
            &TaskKey::new("local-file-source", 0),
            TaskStatus {
                state: "FAILED",
                worker_id: "127.0.0.1:8083".into(),
                trace: Some("boom\n\tat x".into()),
            },
        );
        stores.status.put_connector(
            "local-file-source",
            StatusValue {
                state: "RUNNING",
                trace: None,
                worker_id: "127.0.0.1:8083".into(),
                generation: 5,
            },
        );
        stores.status.flush(Duration::from_secs(10)).unwrap();

        stores
            .positions
            .set_source("local-file-source", &file_source("/tmp/test.txt"));
        stores
            .positions
            .store(
                &TaskKey::new("local-file-source", 0),
                &[SourcePosition::Offset(42)],
            )
            .unwrap();
        stores
            .positions
            .store(&TaskKey::new("local-file-source", 0), &[])
            .unwrap();
    }

    let config: Vec<(Option<String>, Option<String>)> =
        ck_consume(&bootstrap, &topics.config.name, None)
            .iter()
            .map(|r| (text(&r.key), text(&r.value)))
            .collect();
    let pair = |k: &str, v: Option<&str>| (Some(k.to_string()), v.map(str::to_string));
    assert_eq!(
        config,
        [
            pair(
                "target-state-local-file-source",
                Some(r#"{"state":"PAUSED","state.v2":"STOPPED"}"#)
            ),
            pair(
                "connector-local-file-source",
                Some(
                    r#"{"properties":{"connector.class":"FileStreamSource","file":"/tmp/test.txt"}}"#
                )
            ),
            pair(
                "task-local-file-source-0",
                Some(r#"{"properties":{"file":"/tmp/test.txt"}}"#)
            ),
            pair("commit-local-file-source", Some(r#"{"tasks":1}"#)),
            pair("connector-local-file-source", None),
            pair("target-state-local-file-source", None),
        ]
    );

    let mut status: Vec<(Option<String>, Option<String>)> =
        ck_consume(&bootstrap, &topics.status.name, None)
            .iter()
            .map(|r| (text(&r.key), text(&r.value)))
            .collect();
    status.sort();
    assert_eq!(
        status,
        [
            pair(
                "status-connector-local-file-source",
                Some(
                    r#"{"state":"RUNNING","trace":null,"worker_id":"127.0.0.1:8083","generation":5}"#
                )
            ),
            pair(
                "status-task-local-file-source-0",
                Some(
                    r#"{"state":"FAILED","trace":"boom\n\tat x","worker_id":"127.0.0.1:8083","generation":5}"#
                )
            ),
        ]
    );

    let offsets: Vec<(Option<String>, Option<String>)> =
        ck_consume(&bootstrap, &topics.offsets.name, None)
            .iter()
            .map(|r| (text(&r.key), text(&r.value)))
            .collect();
    assert_eq!(
        offsets,
        [
            pair(
                r#"["local-file-source",{"filename":"/tmp/test.txt"}]"#,
                Some(r#"{"position":42}"#)
            ),
            pair(
                r#"["local-file-source",{"filename":"/tmp/test.txt"}]"#,
                None
            ),
        ]
    );
}

#[test]
fn an_unreachable_broker_is_an_error_naming_the_topic_and_broker() {
    let (producer, consumer) = clients("127.0.0.1:1");
    let settings = KafkaLogSettings {
        topic: "connect-status".into(),
        partitions: 1,
        replication_factor: -1,
        producer,
        consumer,
        start_timeout: Duration::from_secs(2),
    };
    let started = Instant::now();
    let error = KafkaStatusStore::start(settings).unwrap_err().to_string();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        error.contains("connect-status") && error.contains("127.0.0.1:1"),
        "{error}"
    );
}

#[test]
fn a_topic_that_deletes_records_is_refused() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("status-delete");
    create_topic_with_config(&bootstrap, &topic, 1, &[("cleanup.policy", "delete")]);
    let (producer, consumer) = clients(&bootstrap);
    let settings = KafkaLogSettings {
        topic: topic.clone(),
        partitions: 1,
        replication_factor: -1,
        producer,
        consumer,
        start_timeout: Duration::from_secs(15),
    };
    let error = KafkaStatusStore::start(settings).unwrap_err().to_string();
    assert!(
        error.contains(&topic) && error.contains("cleanup.policy") && error.contains("delete"),
        "{error}"
    );
}
