//! The worker against a task runner that records what it was asked, and real in-memory stores.

use std::sync::{Arc, Mutex};

use super::*;
use crate::config::{parse, Format, Registry};
use crate::worker::status::MemoryStatusStore;
use crate::worker::store::{MemoryConfigStore, PositionFile};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Asked {
    Start(TaskKey, u32),
    Stop(TaskKey),
    Pause(TaskKey),
    Resume(TaskKey),
}

#[derive(Clone, Default)]
struct RecordingRunner(Arc<Mutex<Vec<Asked>>>);

impl RecordingRunner {
    fn take(&self) -> Vec<Asked> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl TaskRunner for RecordingRunner {
    fn start_task(&mut self, spec: TaskSpec) {
        self.0
            .lock()
            .unwrap()
            .push(Asked::Start(spec.key(), spec.task.count));
    }
    fn stop_task(&mut self, key: &TaskKey) {
        self.0.lock().unwrap().push(Asked::Stop(key.clone()));
    }
    fn pause_task(&mut self, key: &TaskKey) {
        self.0.lock().unwrap().push(Asked::Pause(key.clone()));
    }
    fn resume_task(&mut self, key: &TaskKey) {
        self.0.lock().unwrap().push(Asked::Resume(key.clone()));
    }
    fn shutdown(self: Box<Self>) {}
}

fn pipeline(name: &str, tasks: u32) -> PipelineConfig {
    let text = format!(
        "[[pipeline]]\nname = \"{name}\"\ntasks = {tasks}\nsource = {{ type = \"datagen\" }}\nsink = {{ type = \"stdout\" }}\n"
    );
    parse(&text, "pipelines.toml", Format::Toml, &Registry)
        .unwrap()
        .pipelines
        .remove(0)
}

fn worker(runner: &RecordingRunner) -> (Worker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let worker = Worker::new(
        "host:8083",
        Box::new(runner.clone()),
        Arc::new(PositionFile::open(dir.path().join("offsets.json")).unwrap()),
        Box::new(MemoryConfigStore::default()),
        Box::new(MemoryStatusStore::default()),
    );
    (worker, dir)
}

fn key(connector: &str, index: u32) -> TaskKey {
    TaskKey::new(connector, index)
}

fn report(task: TaskKey, state: TaskState) -> TaskReport {
    TaskReport {
        core: 0,
        task,
        state,
    }
}

#[test]
fn a_connector_runs_as_its_tasks_and_reports_each_one() {
    let runner = RecordingRunner::default();
    let (mut worker, _dir) = worker(&runner);
    worker.put_connector(pipeline("orders", 2), TargetState::Running);
    assert_eq!(
        runner.take(),
        [
            Asked::Start(key("orders", 0), 2),
            Asked::Start(key("orders", 1), 2)
        ]
    );
    let status = &worker.statuses()["orders"];
    assert_eq!(status.state(), "UNASSIGNED");
    assert_eq!(status.kind, "sink");
    worker.handle_report(&report(key("orders", 0), TaskState::Running));
    worker.handle_report(&report(
        key("orders", 1),
        TaskState::Failed {
            error: "boom".into(),
            restarts: 1,
            retry_in: Some(std::time::Duration::from_secs(1)),
        },
    ));
    let status = &worker.statuses()["orders"];
    assert_eq!(status.state(), "RUNNING");
    assert_eq!(status.tasks[&1].state, "FAILED");
    assert_eq!(status.tasks[&1].trace.as_deref(), Some("boom"));
    assert_eq!(status.tasks[&1].worker_id, "host:8083");
    // A report of a task the connector does not have is dropped.
    worker.handle_report(&report(key("orders", 7), TaskState::Running));
    worker.handle_report(&report(key("other", 0), TaskState::Running));
    assert_eq!(worker.statuses()["orders"].tasks.len(), 2);
    assert_eq!(worker.connector_names(), ["orders"]);
}

#[test]
fn the_worker_is_done_when_every_task_finished() {
    let runner = RecordingRunner::default();
    let (mut worker, _dir) = worker(&runner);
    assert!(!worker.all_finished(), "no connectors is not done");
    worker.put_connector(pipeline("a", 2), TargetState::Running);
    worker.handle_report(&report(key("a", 0), TaskState::Finished));
    assert!(!worker.all_finished());
    worker.handle_report(&report(key("a", 1), TaskState::Finished));
    assert!(worker.all_finished());
    // A restarted task is running again.
    worker.handle_report(&report(key("a", 1), TaskState::Running));
    assert!(!worker.all_finished());
}

#[test]
fn pausing_stopping_and_resuming_move_the_tasks_and_are_stored() {
    let runner = RecordingRunner::default();
    let (mut worker, _dir) = worker(&runner);
    worker.put_connector(pipeline("a", 1), TargetState::Running);
    runner.take();
    worker.set_target_state("a", TargetState::Paused).unwrap();
    assert_eq!(runner.take(), [Asked::Pause(key("a", 0))]);
    assert_eq!(worker.statuses()["a"].state(), "PAUSED");
    assert_eq!(
        worker.stored_target_state("a").unwrap(),
        Some(TargetState::Paused)
    );
    worker.set_target_state("a", TargetState::Running).unwrap();
    assert_eq!(runner.take(), [Asked::Resume(key("a", 0))]);
    worker.set_target_state("a", TargetState::Stopped).unwrap();
    assert_eq!(runner.take(), [Asked::Stop(key("a", 0))]);
    assert_eq!(worker.statuses()["a"].state(), "STOPPED");
    worker.set_target_state("a", TargetState::Paused).unwrap();
    assert_eq!(
        runner.take(),
        [Asked::Start(key("a", 0), 1), Asked::Pause(key("a", 0))]
    );
    assert_eq!(
        worker.set_target_state("nope", TargetState::Paused),
        Err(WorkerError::UnknownConnector("nope".into()))
    );
}

#[test]
fn a_connector_starts_in_its_target_state() {
    let runner = RecordingRunner::default();
    let (mut worker, _dir) = worker(&runner);
    worker.put_connector(pipeline("stopped", 1), TargetState::Stopped);
    assert_eq!(runner.take(), []);
    worker.put_connector(pipeline("paused", 1), TargetState::Paused);
    assert_eq!(
        runner.take(),
        [
            Asked::Start(key("paused", 0), 1),
            Asked::Pause(key("paused", 0))
        ]
    );
    assert!(
        !worker.all_finished(),
        "paused and stopped connectors are not finished"
    );
}

#[test]
fn replacing_or_removing_a_connector_stops_its_old_tasks_first() {
    let runner = RecordingRunner::default();
    let (mut worker, _dir) = worker(&runner);
    worker.put_connector(pipeline("a", 2), TargetState::Running);
    worker.put_connector(pipeline("b", 1), TargetState::Running);
    runner.take();
    worker.put_connector(pipeline("a", 1), TargetState::Running);
    assert_eq!(
        runner.take(),
        [
            Asked::Stop(key("a", 0)),
            Asked::Stop(key("a", 1)),
            Asked::Start(key("a", 0), 1)
        ]
    );
    assert_eq!(worker.statuses()["a"].tasks.len(), 1);
    worker.remove_connector("a").unwrap();
    assert_eq!(runner.take(), [Asked::Stop(key("a", 0))]);
    assert_eq!(worker.connector_names(), ["b"]);
    assert!(worker.remove_connector("a").is_err());
}

#[test]
fn metrics_name_every_task_of_every_connector() {
    let runner = RecordingRunner::default();
    let (mut worker, _dir) = worker(&runner);
    worker.put_connector(pipeline("a", 2), TargetState::Running);
    let text = worker.metrics_text();
    assert!(
        text.contains("pipewright_records_polled_total{pipeline=\"a\",task=\"1\"} 0"),
        "{text}"
    );
}

fn pipeline_of(name: &str, source: &str, sink: &str, extra: &str) -> PipelineConfig {
    let text = format!(
        "[kafka]\n\"bootstrap.servers\" = \"127.0.0.1:1\"\n[[pipeline]]\nname = \"{name}\"\n{extra}source = {source}\nsink = {sink}\n"
    );
    parse(&text, "pipelines.toml", Format::Toml, &Registry)
        .unwrap_or_else(|e| panic!("{e}"))
        .pipelines
        .remove(0)
}

fn offset(partition: serde_json::Value, offset: serde_json::Value) -> offsets::ConnectorOffset {
    let object = |v: serde_json::Value| match v {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    };
    offsets::ConnectorOffset {
        partition: object(partition).unwrap(),
        offset: object(offset),
    }
}

/// The answer of a request that needs no Kafka.
fn local_answer(
    worker: &mut Worker,
    name: &str,
    request: offsets::OffsetsRequest,
) -> Result<offsets::OffsetsAnswer, WorkerError> {
    match worker.connector_offsets(name, request)? {
        offsets::OffsetsWork::Done(answer) => Ok(answer),
        offsets::OffsetsWork::Kafka(_) => panic!("{name}'s offsets are kept in the worker's store"),
    }
}

fn shown(answer: offsets::OffsetsAnswer) -> serde_json::Value {
    match answer {
        offsets::OffsetsAnswer::Offsets(offsets) => serde_json::Value::Array(
            offsets
                .into_iter()
                .map(|o| serde_json::json!({"partition": o.partition, "offset": o.offset}))
                .collect(),
        ),
        offsets::OffsetsAnswer::Message(m) => serde_json::json!(m),
    }
}

#[test]
fn datagen_offsets_are_per_task_and_change_only_while_the_connector_is_stopped() {
    use crate::connect::record::SourcePosition;
    use offsets::OffsetsRequest::{Alter, Read, Reset};
    use serde_json::json;
    let runner = RecordingRunner::default();
    let (mut worker, _dir) = worker(&runner);
    worker.put_connector(pipeline("gen", 2), TargetState::Running);
    worker
        .positions
        .store(&key("gen", 0), &[SourcePosition::Offset(5)])
        .unwrap();
    assert_eq!(
        shown(local_answer(&mut worker, "gen", Read).unwrap()),
        json!([{"partition": {"task.id": 0}, "offset": {"current.iteration": 5}}]),
        "read while running; task 1 has stored nothing"
    );
    let change = || {
        Alter(vec![offset(
            json!({"task.id": 1}),
            json!({"current.iteration": 9}),
        )])
    };
    let refused = local_answer(&mut worker, "gen", change()).unwrap_err();
    assert!(
        refused.to_string().starts_with(
            "Connectors must be in the STOPPED state before their offsets can be modified"
        ),
        "{refused}"
    );
    assert!(matches!(refused, WorkerError::BadRequest(_)));
    worker
        .set_target_state("gen", TargetState::Stopped)
        .unwrap();
    let bad = [
        (
            json!({"task": 1}),
            json!({"current.iteration": 9}),
            "'task.id'",
        ),
        (
            json!({"task.id": 2}),
            json!({"current.iteration": 9}),
            "0 to 1",
        ),
        (
            json!({"task.id": 1}),
            json!({"position": 9}),
            "'current.iteration'",
        ),
        (
            json!({"task.id": 1}),
            json!({"current.iteration": -1}),
            "non-negative",
        ),
        (
            json!({"task.id": 1}),
            json!({"current.iteration": "x"}),
            "Long",
        ),
    ];
    for (partition, at, says) in bad {
        // The bad offset comes after a good one: neither is stored.
        let request = Alter(vec![
            offset(json!({"task.id": 0}), json!({"current.iteration": 1})),
            offset(partition.clone(), at.clone()),
        ]);
        let error = local_answer(&mut worker, "gen", request).unwrap_err();
        assert!(
            matches!(&error, WorkerError::BadRequest(m) if m.contains(says)),
            "{partition} {at}: {error}"
        );
    }
    assert_eq!(
        worker.positions.load(&key("gen", 0)).unwrap(),
        [SourcePosition::Offset(5)]
    );
    assert!(
        matches!(local_answer(&mut worker, "gen", Alter(Vec::new())), Err(WorkerError::BadRequest(m)) if m.contains("need to be provided"))
    );

    let altered = Alter(vec![
        offset(json!({"task.id": 1}), json!({"current.iteration": 9})),
        offset(json!({"task.id": "0"}), json!(null)),
    ]);
    assert_eq!(
        shown(local_answer(&mut worker, "gen", altered).unwrap()),
        json!(offsets::ALTERED)
    );
    assert_eq!(worker.positions.load(&key("gen", 0)).unwrap(), []);
    assert_eq!(
        worker.positions.load(&key("gen", 1)).unwrap(),
        [SourcePosition::Offset(9)]
    );
    assert_eq!(
        shown(local_answer(&mut worker, "gen", Reset).unwrap()),
        json!(offsets::RESET)
    );
    assert_eq!(
        shown(local_answer(&mut worker, "gen", Read).unwrap()),
        json!([])
    );
    assert!(matches!(
        local_answer(&mut worker, "nope", Read),
        Err(WorkerError::UnknownConnector(_))
    ));
}

#[test]
fn file_source_offsets_are_filestreamsources_filename_and_position() {
    use crate::connect::record::{FileHead, FileId, SourcePosition};
    use offsets::OffsetsRequest::{Alter, Read};
    use serde_json::json;
    let runner = RecordingRunner::default();
    let (mut worker, _dir) = worker(&runner);
    let spec = pipeline_of(
        "lines",
        r#"{ type = "file", file = "/tmp/in.txt", topic = "lines" }"#,
        r#"{ type = "kafka" }"#,
        "",
    );
    worker.put_connector(spec, TargetState::Stopped);
    let stored = SourcePosition::FileOffset {
        offset: 120,
        file: FileId {
            device: 1,
            inode: 2,
        },
        head: FileHead {
            bytes: 10,
            crc32c: 3,
        },
    };
    worker.positions.store(&key("lines", 0), &[stored]).unwrap();
    assert_eq!(
        shown(local_answer(&mut worker, "lines", Read).unwrap()),
        json!([{"partition": {"filename": "/tmp/in.txt"}, "offset": {"position": 120}}])
    );
    let other = Alter(vec![offset(
        json!({"filename": "/tmp/other.txt"}),
        json!({"position": 1}),
    )]);
    assert!(
        matches!(local_answer(&mut worker, "lines", other), Err(WorkerError::BadRequest(m)) if m.contains("/tmp/in.txt"))
    );
    let moved = Alter(vec![offset(
        json!({"filename": "/tmp/in.txt"}),
        json!({"position": 6}),
    )]);
    local_answer(&mut worker, "lines", moved).unwrap();
    // A position without the file's identity: the task starts there in whatever file is at the path.
    assert_eq!(
        worker.positions.load(&key("lines", 0)).unwrap(),
        [SourcePosition::Offset(6)]
    );
}

#[test]
fn a_kafka_source_keeps_its_offsets_in_its_consumer_group() {
    use offsets::{
        GroupChange, KafkaOffsets,
        OffsetsRequest::{Alter, Read, Reset},
        OffsetsWork,
    };
    use serde_json::json;
    let runner = RecordingRunner::default();
    let (mut worker, _dir) = worker(&runner);
    let source = r#"{ type = "kafka", topics = "orders", "group.id" = "connect-copy" }"#;
    worker.put_connector(
        pipeline_of("copy", source, r#"{ type = "stdout" }"#, ""),
        TargetState::Stopped,
    );
    let group_of = |work: OffsetsWork| match work {
        OffsetsWork::Kafka(job) => match job.place {
            KafkaOffsets::Group {
                group,
                change,
                static_members,
                ..
            } => {
                assert_eq!(
                    static_members,
                    ["pipewright-copy-0"],
                    "the task's static membership"
                );
                (group, change)
            }
            KafkaOffsets::OffsetsTopic { .. } => panic!("not the offsets topic"),
        },
        OffsetsWork::Done(_) => panic!("a consumer group's offsets are read from Kafka"),
    };
    assert_eq!(
        group_of(worker.connector_offsets("copy", Read).unwrap()),
        ("connect-copy".into(), GroupChange::Read)
    );
    assert_eq!(
        group_of(worker.connector_offsets("copy", Reset).unwrap()).1,
        GroupChange::Reset
    );
    let alter = Alter(vec![
        offset(
            json!({"kafka_topic": "orders", "kafka_partition": 1}),
            json!({"kafka_offset": 7}),
        ),
        offset(
            json!({"kafka_topic": "orders", "kafka_partition": "2"}),
            json!(null),
        ),
    ]);
    assert_eq!(
        group_of(worker.connector_offsets("copy", alter).unwrap()).1,
        GroupChange::Alter(vec![
            (crate::protocol::TopicPartition::new("orders", 1), Some(7)),
            (crate::protocol::TopicPartition::new("orders", 2), None),
        ])
    );
    let bad = [
        (
            json!({"kafka_topic": "orders"}),
            json!({"kafka_offset": 7}),
            "must contain the keys 'kafka_topic' and 'kafka_partition'",
        ),
        (
            json!({"kafka_topic": "orders", "kafka_partition": "x"}),
            json!({"kafka_offset": 7}),
            "Partition values for sink connectors need to be integers",
        ),
        (
            json!({"kafka_topic": "orders", "kafka_partition": 0}),
            json!({"offset": 7}),
            "the key 'kafka_offset'",
        ),
        (
            json!({"kafka_topic": "orders", "kafka_partition": 0}),
            json!({"kafka_offset": -2}),
            "Offset values for sink connectors",
        ),
    ];
    for (partition, at, says) in bad {
        let error = worker
            .connector_offsets("copy", Alter(vec![offset(partition.clone(), at.clone())]))
            .err()
            .expect("refused");
        assert!(
            matches!(&error, WorkerError::BadRequest(m) if m.contains(says)),
            "{partition} {at}: {error}"
        );
    }
}

#[test]
fn active_topics_are_every_tasks_and_a_reset_clears_them() {
    use crate::connect::data::Str;
    use crate::engine::metrics::active_topics::TopicTracker;
    let runner = RecordingRunner::default();
    let (mut worker, _dir) = worker(&runner);
    worker.put_connector(pipeline("gen", 2), TargetState::Running);
    assert!(worker.connector_active_topics("gen").unwrap().is_empty());
    for (task, topic) in [(0, "a"), (1, "b"), (1, "a")] {
        let metrics = worker.connectors["gen"].metrics[task].clone();
        let mut tracker = TopicTracker::default();
        tracker.start_batch(&metrics.active_topics);
        tracker.saw(&Str::from(topic), &metrics.active_topics);
    }
    assert_eq!(
        worker.connector_active_topics("gen").unwrap(),
        ["a", "b"].map(String::from).into()
    );
    worker.reset_connector_active_topics("gen").unwrap();
    assert!(worker.connector_active_topics("gen").unwrap().is_empty());
    assert!(matches!(
        worker.connector_active_topics("nope"),
        Err(WorkerError::UnknownConnector(_))
    ));
}

#[test]
fn an_exactly_once_sources_offsets_are_its_records_in_the_offsets_topic() {
    use crate::connect::record::SourcePosition;
    use offsets::{
        KafkaOffsets,
        OffsetsRequest::{Alter, Read, Reset},
        OffsetsWork,
    };
    use serde_json::json;
    let runner = RecordingRunner::default();
    let (mut worker, _dir) = worker(&runner);
    let spec = pipeline_of(
        "once",
        r#"{ type = "file", file = "/tmp/in.txt", topic = "lines" }"#,
        r#"{ type = "kafka" }"#,
        "delivery = \"exactly-once\"\n",
    );
    worker.put_connector(spec, TargetState::Stopped);
    let writes_of = |work: OffsetsWork| match work {
        OffsetsWork::Kafka(job) => match job.place {
            KafkaOffsets::OffsetsTopic { writes, answer, .. } => (writes, answer),
            KafkaOffsets::Group { .. } => panic!("a file source has no group"),
        },
        OffsetsWork::Done(_) => {
            panic!("exactly-once positions are in the offsets topic, not the store")
        }
    };
    assert_eq!(
        writes_of(worker.connector_offsets("once", Read).unwrap()).0,
        None
    );
    let moved = Alter(vec![offset(
        json!({"filename": "/tmp/in.txt"}),
        json!({"position": 6}),
    )]);
    assert_eq!(
        writes_of(worker.connector_offsets("once", moved).unwrap()),
        (
            Some(vec![(0, Some(SourcePosition::Offset(6)))]),
            offsets::ALTERED
        )
    );
    assert_eq!(
        writes_of(worker.connector_offsets("once", Reset).unwrap()),
        (Some(vec![(0, None)]), offsets::RESET),
        "a tombstone under the task's key"
    );
    assert!(
        worker.positions.load(&key("once", 0)).unwrap().is_empty(),
        "the store is not used"
    );
}

// ---- distributed mode: only the assigned tasks run here ------------------------------------------------------

#[test]
fn with_an_assignment_only_the_assigned_tasks_start_and_a_new_assignment_moves_only_what_changed() {
    let runner = RecordingRunner::default();
    let (mut worker, _dir) = worker(&runner);
    worker.set_assignment(BTreeSet::new());
    worker.put_connector(pipeline("orders", 3), TargetState::Running);
    assert_eq!(runner.take(), [], "nothing is assigned yet");
    assert_eq!(
        worker.work_units(),
        BTreeMap::from([("orders".to_owned(), 3)])
    );

    worker.set_assignment(BTreeSet::from([key("orders", 0), key("orders", 2)]));
    assert_eq!(
        runner.take(),
        [
            Asked::Start(key("orders", 0), 3),
            Asked::Start(key("orders", 2), 3)
        ]
    );
    assert!(worker.runs_task("orders", 2) && !worker.runs_task("orders", 1));

    // Task 2 moves away, task 1 arrives; task 0 is left alone.
    worker.set_assignment(BTreeSet::from([key("orders", 0), key("orders", 1)]));
    assert_eq!(
        runner.take(),
        [
            Asked::Stop(key("orders", 2)),
            Asked::Start(key("orders", 1), 3)
        ]
    );

    // Pausing reaches only the tasks running here.
    worker
        .set_target_state("orders", TargetState::Paused)
        .unwrap();
    assert_eq!(
        runner.take(),
        [
            Asked::Pause(key("orders", 0)),
            Asked::Pause(key("orders", 1))
        ]
    );
}

#[test]
fn a_task_assigned_before_its_connector_config_arrived_starts_when_it_does() {
    let runner = RecordingRunner::default();
    let (mut worker, _dir) = worker(&runner);
    worker.set_assignment(BTreeSet::from([key("orders", 1)]));
    assert_eq!(runner.take(), []);
    worker.put_connector(pipeline("orders", 2), TargetState::Running);
    assert_eq!(runner.take(), [Asked::Start(key("orders", 1), 2)]);
}

#[test]
fn a_config_topic_change_restarts_only_that_connectors_tasks_and_its_own_write_coming_back_changes_nothing(
) {
    let runner = RecordingRunner::default();
    let (mut worker, _dir) = worker(&runner);
    worker.set_assignment(BTreeSet::from([key("a", 0), key("b", 0)]));
    let config = |file: &str| {
        BTreeMap::from([
            ("connector.class".to_owned(), "FileStreamSink".to_owned()),
            ("topics".to_owned(), "t".to_owned()),
            ("file".to_owned(), file.to_owned()),
        ])
    };
    let stored = |file: &str| {
        Some(StoredConnector {
            config: Some(config(file)),
            target: TargetState::Running,
        })
    };
    worker.apply_stored("a", stored("/tmp/a"));
    worker.apply_stored("b", stored("/tmp/b"));
    assert_eq!(
        runner.take(),
        [Asked::Start(key("a", 0), 1), Asked::Start(key("b", 0), 1)]
    );
    // The same record read again (this worker's own write) does nothing.
    worker.apply_stored("a", stored("/tmp/a"));
    assert_eq!(runner.take(), []);
    // A's config changes: A's task restarts, B's runs on.
    worker.apply_stored("a", stored("/tmp/a2"));
    assert_eq!(
        runner.take(),
        [Asked::Stop(key("a", 0)), Asked::Start(key("a", 0), 1)]
    );
    // Another worker paused B.
    worker.apply_stored(
        "b",
        Some(StoredConnector {
            config: Some(config("/tmp/b")),
            target: TargetState::Paused,
        }),
    );
    assert_eq!(runner.take(), [Asked::Pause(key("b", 0))]);
    // And deleted A.
    worker.apply_stored("a", None);
    assert_eq!(runner.take(), [Asked::Stop(key("a", 0))]);
    assert_eq!(worker.connector_names(), ["b"]);
}

#[test]
fn a_task_restart_for_a_task_running_elsewhere_names_the_worker_running_it() {
    let runner = RecordingRunner::default();
    let (mut worker, _dir) = worker(&runner);
    worker.set_assignment(BTreeSet::new());
    worker.put_connector(pipeline("orders", 1), TargetState::Running);
    worker.handle_report(&report(key("orders", 0), TaskState::Running));
    // A status written by the worker that runs it.
    worker.statuses.put(
        &key("orders", 0),
        TaskStatus {
            state: "RUNNING",
            worker_id: "other:8083".into(),
            trace: None,
        },
    );
    assert_eq!(
        worker.restart_task("orders", 0),
        Err(WorkerError::RunsElsewhere {
            owner_url: "http://other:8083/".into()
        })
    );
}
