//! Connector and task statuses in Kafka Connect's status topic (`KafkaStatusBackingStore`): every worker
//! writes the statuses of what it runs and reads everyone's.
//!
//! A put updates the local view at once and is sent without waiting (statuses are advisory; a write that
//! fails is logged); the records are written in the order of the puts. The view also takes every record read,
//! except the read-back of this worker's own older writes (see [`super::own_writes`]).
//!
//! Must not: block the control thread on a broker.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::connect_records::{
    connector_status_key, decode_status_record, status_value, task_status_key, topic_status_key,
    topic_status_value, StatusRecord, StatusValue, TopicStatusValue,
};
use super::kafka_log::{KafkaLog, KafkaLogSettings, LogRecord};
use super::own_writes::OwnWrites;
use super::StoreError;
use crate::engine::positions::TaskKey;
use crate::worker::status::{StatusStore, TaskStatus};

#[derive(Default)]
struct StatusView {
    connectors: BTreeMap<String, StatusValue>,
    tasks: BTreeMap<TaskKey, StatusValue>,
    /// Per connector, its active topics (KIP-558).
    topics: BTreeMap<String, BTreeMap<String, TopicStatusValue>>,
    own: OwnWrites,
}

impl StatusView {
    fn apply(&mut self, topic: &str, record: &LogRecord) {
        let Some(key) = record.key.as_deref() else {
            tracing::warn!(
                topic,
                offset = record.offset,
                "status record without a key skipped"
            );
            return;
        };
        if !self.own.read_back(key) {
            return;
        }
        match decode_status_record(key, record.value.as_deref()) {
            Ok(StatusRecord::Connector { name, status }) => match status {
                Some(status) => {
                    self.connectors.insert(name, status);
                }
                None => {
                    self.connectors.remove(&name);
                }
            },
            Ok(StatusRecord::Task { task, status }) => match status {
                Some(status) => {
                    self.tasks.insert(task, status);
                }
                None => {
                    self.tasks.remove(&task);
                }
            },
            Ok(StatusRecord::Topic {
                topic: name,
                connector,
                status,
            }) => {
                let topics = self.topics.entry(connector.clone()).or_default();
                match status {
                    Some(status) => {
                        topics.insert(name, status);
                    }
                    None => {
                        topics.remove(&name);
                        if topics.is_empty() {
                            self.topics.remove(&connector);
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(topic, offset = record.offset, error = %e, "status record skipped")
            }
        }
    }
}

/// Kafka Connect's status topic as a [`StatusStore`].
pub struct KafkaStatusStore {
    log: KafkaLog,
    view: Arc<Mutex<StatusView>>,
    /// Written with the statuses [`StatusStore::put`] takes: the worker's group generation.
    generation: i32,
}

impl std::fmt::Debug for KafkaStatusStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaStatusStore")
            .field("log", &self.log)
            .field("generation", &self.generation)
            .finish()
    }
}

fn lock(view: &Mutex<StatusView>) -> MutexGuard<'_, StatusView> {
    // Each record is applied whole under the lock, so a view left by a panic elsewhere is still whole.
    view.lock().unwrap_or_else(|e| e.into_inner())
}

impl KafkaStatusStore {
    /// Starts the status topic's log (created compacted with the settings' partitions if missing) and reads
    /// it to its end.
    pub fn start(settings: KafkaLogSettings) -> Result<KafkaStatusStore, StoreError> {
        let topic = settings.topic.clone();
        let view = Arc::new(Mutex::new(StatusView::default()));
        let reader = view.clone();
        let log = KafkaLog::start(settings, move |record| lock(&reader).apply(&topic, record))?;
        Ok(KafkaStatusStore {
            log,
            view,
            generation: -1,
        })
    }

    /// The group generation written with later statuses.
    pub fn set_generation(&mut self, generation: i32) {
        self.generation = generation;
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// Waits until every status put so far is written (or failed).
    pub fn flush(&self, timeout: Duration) -> Result<(), StoreError> {
        self.log.flush(timeout)
    }

    /// Reads what other workers wrote up to now.
    pub fn refresh(&self, timeout: Duration) -> Result<(), StoreError> {
        self.log.read_to_end(timeout)
    }

    /// Writes a task's status as given (its own generation).
    pub fn put_task(&mut self, task: &TaskKey, status: StatusValue) {
        let key = task_status_key(task);
        let value = status_value(&status);
        lock(&self.view).tasks.insert(task.clone(), status);
        self.send(key, Some(value));
    }

    /// Writes a connector's own status (`status-connector-NAME`).
    pub fn put_connector(&mut self, connector: &str, status: StatusValue) {
        let key = connector_status_key(connector);
        let value = status_value(&status);
        lock(&self.view)
            .connectors
            .insert(connector.to_owned(), status);
        self.send(key, Some(value));
    }

    pub fn connector(&self, connector: &str) -> Option<StatusValue> {
        lock(&self.view).connectors.get(connector).cloned()
    }

    pub fn task(&self, task: &TaskKey) -> Option<StatusValue> {
        lock(&self.view).tasks.get(task).cloned()
    }

    /// Every task status of `connector`, by index.
    pub fn tasks(&self, connector: &str) -> BTreeMap<u32, StatusValue> {
        lock(&self.view)
            .tasks
            .iter()
            .filter(|(key, _)| key.connector == connector)
            .map(|(key, status)| (key.index, status.clone()))
            .collect()
    }

    /// The connectors with a status of their own.
    pub fn connectors(&self) -> BTreeSet<String> {
        lock(&self.view).connectors.keys().cloned().collect()
    }

    /// Records that a task of a connector used a topic (KIP-558).
    pub fn put_topic(&mut self, status: TopicStatusValue) {
        let key = topic_status_key(&status.topic, &status.connector);
        let value = topic_status_value(&status);
        lock(&self.view)
            .topics
            .entry(status.connector.clone())
            .or_default()
            .insert(status.topic.clone(), status);
        self.send(key, Some(value));
    }

    /// The topics `connector` used, by name.
    pub fn active_topics(&self, connector: &str) -> BTreeMap<String, TopicStatusValue> {
        lock(&self.view)
            .topics
            .get(connector)
            .cloned()
            .unwrap_or_default()
    }

    /// Forgets that `connector` used `topic` (a tombstone).
    pub fn delete_topic(&mut self, connector: &str, topic: &str) {
        {
            let mut view = lock(&self.view);
            if let Some(topics) = view.topics.get_mut(connector) {
                topics.remove(topic);
                if topics.is_empty() {
                    view.topics.remove(connector);
                }
            }
        }
        self.send(topic_status_key(topic, connector), None);
    }

    fn send(&self, key: String, value: Option<Vec<u8>>) {
        let key = key.into_bytes();
        lock(&self.view).own.sent(&key);
        let view = self.view.clone();
        let topic = self.log.topic().to_owned();
        let failed_key = key.clone();
        self.log.send(
            key,
            value,
            Box::new(move |outcome| {
                if let Err(e) = outcome {
                    lock(&view).own.failed(&failed_key);
                    tracing::warn!(topic, key = %String::from_utf8_lossy(&failed_key), error = %e,
                        "status not written");
                }
            }),
        );
    }
}

impl StatusStore for KafkaStatusStore {
    fn put_connector_status(&mut self, connector: &str, status: TaskStatus) {
        let generation = self.generation;
        self.put_connector(
            connector,
            StatusValue {
                state: status.state,
                trace: status.trace,
                worker_id: status.worker_id,
                generation,
            },
        );
    }

    fn connector_status(&self, connector: &str) -> Option<TaskStatus> {
        self.connector(connector).map(|status| TaskStatus {
            state: status.state,
            worker_id: status.worker_id,
            trace: status.trace,
        })
    }

    fn set_generation(&mut self, generation: i32) {
        KafkaStatusStore::set_generation(self, generation);
    }

    fn put(&mut self, task: &TaskKey, status: TaskStatus) {
        let generation = self.generation;
        self.put_task(
            task,
            StatusValue {
                state: status.state,
                trace: status.trace,
                worker_id: status.worker_id,
                generation,
            },
        );
    }

    fn get(&self, task: &TaskKey) -> Option<TaskStatus> {
        self.task(task).map(|status| TaskStatus {
            state: status.state,
            worker_id: status.worker_id,
            trace: status.trace,
        })
    }

    /// Tombstones for the connector's status and each of its tasks' (what Kafka Connect writes for a
    /// destroyed connector).
    fn remove_connector(&mut self, connector: &str) {
        let tasks: Vec<TaskKey> = {
            let mut view = lock(&self.view);
            let tasks = view
                .tasks
                .keys()
                .filter(|key| key.connector == connector)
                .cloned()
                .collect();
            view.tasks.retain(|key, _| key.connector != connector);
            view.connectors.remove(connector);
            tasks
        };
        self.send(connector_status_key(connector), None);
        for task in tasks {
            self.send(task_status_key(&task), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn record(key: &str, value: Option<Vec<u8>>) -> LogRecord {
        LogRecord {
            partition: 0,
            offset: 0,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: value.map(Bytes::from),
            caught_up: true,
        }
    }

    fn status(state: &'static str, generation: i32) -> StatusValue {
        StatusValue {
            state,
            trace: None,
            worker_id: "w:8083".into(),
            generation,
        }
    }

    #[test]
    fn the_read_back_of_an_older_own_write_does_not_undo_a_newer_one() {
        let mut view = StatusView::default();
        let key = "status-task-a-0";
        view.own.sent(key.as_bytes());
        view.own.sent(key.as_bytes());
        view.tasks.insert(TaskKey::new("a", 0), status("FAILED", 2));
        view.apply("s", &record(key, Some(status_value(&status("RUNNING", 1)))));
        assert_eq!(view.tasks[&TaskKey::new("a", 0)].state, "FAILED");
        view.apply("s", &record(key, Some(status_value(&status("FAILED", 2)))));
        view.apply("s", &record(key, Some(status_value(&status("RUNNING", 3)))));
        assert_eq!(
            view.tasks[&TaskKey::new("a", 0)],
            status("RUNNING", 3),
            "another worker's later record"
        );
        view.apply("s", &record(key, None));
        assert!(view.tasks.is_empty());
        view.apply("s", &record("status-task-a-0", Some(b"{junk".to_vec())));
        assert!(view.tasks.is_empty(), "skipped");
    }
}
