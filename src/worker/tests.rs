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
