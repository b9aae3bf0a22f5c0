//! Connector configs, target states and task configs in Kafka Connect's config topic
//! (`KafkaConfigBackingStore`): one partition, read by every worker, written by the group's leader.
//!
//! The local view is what the topic said, record by record, as Kafka Connect reads it: task configs wait for
//! their connector's commit record, and a commit that does not find a config for each of its tasks (compaction
//! after a leader died mid-write) marks the connector inconsistent until the next complete one. Writes wait for
//! the broker's acknowledgement and then for the records to be read back, so the view has them on return.
//!
//! Must not: decide anything about the connectors (the herder does, from the snapshot and the changes).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::connect_records::{
    commit_key, commit_value, connector_key, decode_config_record, properties_value,
    target_state_key, target_state_value, task_key, ConfigRecord, SessionKey,
};
use super::kafka_log::{KafkaLog, KafkaLogSettings, LogRecord, Written};
use super::{ConfigStore, StoreError, StoredConnector};
use crate::engine::positions::TaskKey;
use crate::worker::status::TargetState;

/// What a record read after the store started changed (this worker's own writes included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    pub connector: String,
    /// The config topic's offset after the record (Kafka Connect's config offset).
    pub offset: i64,
    pub kind: ConfigChangeKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChangeKind {
    /// Its config was created or replaced.
    Config,
    /// Its config was deleted.
    Removed,
    TargetState,
    /// A task config was read; it applies at the commit record that follows.
    TaskConfig,
    /// Its task configs were committed (or found inconsistent: see the snapshot).
    TasksCommitted,
    /// A restart was asked for (KIP-745).
    Restart {
        include_tasks: bool,
        only_failed: bool,
    },
}

/// The config topic as read so far (Kafka Connect's `ClusterConfigState`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigSnapshot {
    /// The offset after the last record read; -1 before any (Kafka Connect's config offset, compared in the
    /// group protocol).
    pub offset: i64,
    pub connectors: BTreeMap<String, StoredConnector>,
    /// Per connector, the task count of its last commit record.
    pub task_counts: BTreeMap<String, u32>,
    /// Per connector, its committed task configs by index (0 to its task count - 1); absent while
    /// inconsistent.
    pub task_configs: BTreeMap<String, Vec<BTreeMap<String, String>>>,
    /// Connectors whose last commit did not find all its task configs: their tasks must be configured again.
    pub inconsistent: BTreeSet<String>,
    /// KIP-618 task count records (`tasks-fencing-NAME`), kept as read.
    pub fencing_task_counts: BTreeMap<String, u32>,
    /// The latest session key (KIP-507); this worker does not sign forwarded requests, it only keeps it.
    pub session_key: Option<SessionKey>,
}

#[derive(Default)]
struct ConfigView {
    snapshot: ConfigSnapshot,
    /// Task configs read since their connector's last commit.
    deferred: BTreeMap<String, BTreeMap<u32, BTreeMap<String, String>>>,
    /// Committed task configs by index (may hold more than the count after it shrank; the snapshot cuts).
    committed: BTreeMap<String, BTreeMap<u32, BTreeMap<String, String>>>,
    changes: Option<UnboundedSender<ConfigChange>>,
}

impl ConfigView {
    fn apply(&mut self, topic: &str, record: &LogRecord) {
        let offset = record.offset + 1;
        self.snapshot.offset = offset;
        let Some(key) = record.key.as_deref() else {
            tracing::warn!(
                topic,
                offset = record.offset,
                "config record without a key skipped"
            );
            return;
        };
        let decoded = match decode_config_record(key, record.value.as_deref()) {
            Ok(decoded) => decoded,
            Err(e) => {
                tracing::warn!(topic, offset = record.offset, error = %e, "config record skipped");
                return;
            }
        };
        let s = &mut self.snapshot;
        let change = match decoded {
            ConfigRecord::Connector {
                name,
                config: Some(config),
            } => {
                let entry = s.connectors.entry(name.clone()).or_default();
                entry.config = Some(config);
                Some((name, ConfigChangeKind::Config))
            }
            ConfigRecord::Connector { name, config: None } => {
                // Its target state has a tombstone of its own, written beside this one; the connector is gone
                // already (a later target state alone brings it back, without a config, as Kafka Connect does).
                s.connectors.remove(&name);
                s.task_counts.remove(&name);
                self.committed.remove(&name);
                self.deferred.remove(&name);
                s.inconsistent.remove(&name);
                Some((name, ConfigChangeKind::Removed))
            }
            ConfigRecord::TargetState { name, state } => {
                match state {
                    Some(state) => s.connectors.entry(name.clone()).or_default().target = state,
                    // A connector whose config is still there stays, in the default state.
                    None => match s.connectors.get_mut(&name) {
                        Some(entry) if entry.config.is_some() => {
                            entry.target = TargetState::Running
                        }
                        Some(_) => {
                            s.connectors.remove(&name);
                        }
                        None => {}
                    },
                }
                Some((name, ConfigChangeKind::TargetState))
            }
            ConfigRecord::Task { task, config } => {
                self.deferred
                    .entry(task.connector.clone())
                    .or_default()
                    .insert(task.index, config);
                Some((task.connector, ConfigChangeKind::TaskConfig))
            }
            ConfigRecord::Commit { connector, tasks } => {
                let deferred = self.deferred.remove(&connector).unwrap_or_default();
                if (0..tasks).all(|i| deferred.contains_key(&i)) {
                    self.committed
                        .entry(connector.clone())
                        .or_default()
                        .extend(deferred);
                    s.inconsistent.remove(&connector);
                } else {
                    tracing::warn!(topic, connector, tasks,
                        "task commit without a config for each task (compacted?): the connector's tasks must be configured again");
                    s.inconsistent.insert(connector.clone());
                }
                s.task_counts.insert(connector.clone(), tasks);
                Some((connector, ConfigChangeKind::TasksCommitted))
            }
            ConfigRecord::TaskCount { connector, tasks } => {
                s.fencing_task_counts.insert(connector, tasks);
                None
            }
            ConfigRecord::Restart {
                connector,
                include_tasks,
                only_failed,
            } => Some((
                connector,
                ConfigChangeKind::Restart {
                    include_tasks,
                    only_failed,
                },
            )),
            ConfigRecord::LoggerLevel { namespace, level } => {
                // Cluster-wide logger levels (KIP-976) are set through Kafka Connect's admin API, which this
                // worker does not serve; seen, and said so.
                tracing::debug!(topic, namespace, level, "logger level record not applied");
                None
            }
            ConfigRecord::SessionKey(key) => {
                s.session_key = Some(key);
                None
            }
        };
        if let (Some((connector, kind)), true) = (change, record.caught_up) {
            if let Some(changes) = &self.changes {
                let _ = changes.send(ConfigChange {
                    connector,
                    offset,
                    kind,
                });
            }
        }
    }

    fn snapshot(&self) -> ConfigSnapshot {
        let mut snapshot = self.snapshot.clone();
        snapshot.task_configs = snapshot
            .task_counts
            .iter()
            .filter(|(name, _)| !snapshot.inconsistent.contains(*name))
            .filter_map(|(name, count)| {
                let committed = self.committed.get(name);
                let tasks: Option<Vec<_>> = (0..*count)
                    .map(|i| committed.and_then(|c| c.get(&i)).cloned())
                    .collect();
                Some((name.clone(), tasks?))
            })
            .collect();
        snapshot
    }
}

/// Kafka Connect's config topic as a [`ConfigStore`].
pub struct KafkaConfigStore {
    log: KafkaLog,
    view: Arc<Mutex<ConfigView>>,
    /// How long a write may take: acknowledged and read back.
    write_timeout: Duration,
}

impl std::fmt::Debug for KafkaConfigStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfigStore")
            .field("log", &self.log)
            .finish()
    }
}

fn lock(view: &Mutex<ConfigView>) -> MutexGuard<'_, ConfigView> {
    // A panic elsewhere while holding the lock leaves a view that is still whole (each record is applied in
    // one go), so reading on is safe.
    view.lock().unwrap_or_else(|e| e.into_inner())
}

impl KafkaConfigStore {
    /// Starts the config topic's log (creating the topic with one partition if missing) and reads it to its
    /// end. A topic of more than one partition is refused, as Kafka Connect refuses it: configs would lose their
    /// order.
    pub fn start(
        mut settings: KafkaLogSettings,
        write_timeout: Duration,
    ) -> Result<KafkaConfigStore, StoreError> {
        settings.partitions = 1;
        let topic = settings.topic.clone();
        let view = Arc::new(Mutex::new(ConfigView::default()));
        lock(&view).snapshot.offset = -1;
        let reader = view.clone();
        let log = KafkaLog::start(settings, move |record| lock(&reader).apply(&topic, record))?;
        if log.partitions() != 1 {
            return Err(StoreError(format!(
                "config topic {} has {} partitions; it must have exactly one, so that connector configs keep \
                 their order (create it with one partition, or name another with config.storage.topic)",
                log.topic(),
                log.partitions()
            )));
        }
        Ok(KafkaConfigStore {
            log,
            view,
            write_timeout,
        })
    }

    /// The config topic as read so far.
    pub fn snapshot(&self) -> ConfigSnapshot {
        lock(&self.view).snapshot()
    }

    /// A receiver of a [`ConfigChange`] for each record read from now on; the receiver of an earlier call gets
    /// no more.
    pub fn changes(&mut self) -> UnboundedReceiver<ConfigChange> {
        let (sender, receiver) = unbounded_channel();
        lock(&self.view).changes = Some(sender);
        receiver
    }

    /// Reads what other workers wrote up to now.
    pub fn refresh(&self, timeout: Duration) -> Result<(), StoreError> {
        self.log.read_to_end(timeout)
    }

    /// Writes a connector's task configs (`task-NAME-i`, then `commit-NAME` once they are acknowledged and
    /// read back), as Kafka Connect's leader does.
    pub fn put_task_configs(
        &mut self,
        name: &str,
        tasks: &[BTreeMap<String, String>],
    ) -> Result<(), StoreError> {
        let deadline = Instant::now() + self.write_timeout;
        // Written after everything else read so far, as the leader must be.
        self.log.read_to_end(remaining(deadline))?;
        let count = u32::try_from(tasks.len())
            .map_err(|_| StoreError(format!("connector {name}: too many tasks")))?;
        let records: Vec<(String, Option<Vec<u8>>)> = tasks
            .iter()
            .enumerate()
            .map(|(i, config)| {
                (
                    task_key(&TaskKey::new(name, i as u32)),
                    Some(properties_value(config)),
                )
            })
            .collect();
        self.write(&records, deadline)?;
        self.write(&[(commit_key(name), Some(commit_value(count)))], deadline)
    }

    /// Asks the cluster to restart a connector (KIP-745's `restart-connector-NAME`).
    pub fn put_restart_request(
        &mut self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<(), StoreError> {
        let value = format!(r#"{{"include-tasks":{include_tasks},"only-failed":{only_failed}}}"#);
        let key = format!("{}{name}", super::connect_records::RESTART_PREFIX);
        self.write(
            &[(key, Some(value.into_bytes()))],
            Instant::now() + self.write_timeout,
        )
    }

    /// Sends the records in order, waits for every acknowledgement, then for them to be read back (so the
    /// view has them, and the changes told of them).
    fn write(
        &self,
        records: &[(String, Option<Vec<u8>>)],
        deadline: Instant,
    ) -> Result<(), StoreError> {
        let (acked, acks) = mpsc::channel::<Result<Written, StoreError>>();
        for (key, value) in records {
            let acked = acked.clone();
            self.log.send(
                key.clone().into_bytes(),
                value.clone(),
                Box::new(move |outcome| {
                    let _ = acked.send(outcome);
                }),
            );
        }
        drop(acked);
        let mut written = Vec::with_capacity(records.len());
        for _ in records {
            match acks.recv_timeout(remaining(deadline)) {
                Ok(Ok(at)) => written.push(at),
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(StoreError(format!(
                        "config topic {}: no acknowledgement within {:?}",
                        self.log.topic(),
                        self.write_timeout
                    )))
                }
            }
        }
        self.log.wait_read(&written, remaining(deadline))
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

impl ConfigStore for KafkaConfigStore {
    fn load(&self) -> Result<BTreeMap<String, StoredConnector>, StoreError> {
        Ok(lock(&self.view).snapshot.connectors.clone())
    }

    /// The target state first, then the config (Kafka Connect's order: a connector is never seen without the
    /// state it was created in). A target state already stored is not written again.
    fn put(&mut self, name: &str, connector: &StoredConnector) -> Result<(), StoreError> {
        let stored = lock(&self.view).snapshot.connectors.get(name).cloned();
        let mut records = Vec::new();
        if stored.as_ref().map(|s| s.target) != Some(connector.target) {
            records.push((
                target_state_key(name),
                Some(target_state_value(connector.target)),
            ));
        }
        if let Some(config) = &connector.config {
            records.push((connector_key(name), Some(properties_value(config))));
        }
        if records.is_empty() {
            return Ok(());
        }
        self.write(&records, Instant::now() + self.write_timeout)
    }

    fn remove(&mut self, name: &str) -> Result<(), StoreError> {
        self.write(
            &[(connector_key(name), None), (target_state_key(name), None)],
            Instant::now() + self.write_timeout,
        )
    }

    fn put_task_configs(
        &mut self,
        name: &str,
        tasks: &[BTreeMap<String, String>],
    ) -> Result<(), StoreError> {
        KafkaConfigStore::put_task_configs(self, name, tasks)
    }

    fn offset(&self) -> i64 {
        lock(&self.view).snapshot.offset
    }

    fn put_restart_request(
        &mut self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<(), StoreError> {
        KafkaConfigStore::put_restart_request(self, name, include_tasks, only_failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn record(offset: i64, key: &str, value: Option<&[u8]>) -> LogRecord {
        LogRecord {
            partition: 0,
            offset,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: value.map(Bytes::copy_from_slice),
            caught_up: true,
        }
    }

    fn props(n: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("n".to_string(), n.to_string())])
    }

    #[test]
    fn task_configs_apply_at_a_complete_commit_only() {
        let mut view = ConfigView::default();
        let (sender, mut changes) = unbounded_channel();
        view.changes = Some(sender);
        let v = |p: &BTreeMap<String, String>| properties_value(p);
        view.apply("c", &record(0, "connector-a", Some(&v(&props("c")))));
        view.apply("c", &record(1, "task-a-0", Some(&v(&props("t0")))));
        view.apply("c", &record(2, "task-a-1", Some(&v(&props("t1")))));
        assert!(view.snapshot().task_configs.is_empty(), "not committed yet");
        view.apply("c", &record(3, "commit-a", Some(br#"{"tasks":2}"#)));
        let snapshot = view.snapshot();
        assert_eq!(snapshot.offset, 4);
        assert_eq!(snapshot.task_counts["a"], 2);
        assert_eq!(snapshot.task_configs["a"], vec![props("t0"), props("t1")]);
        assert_eq!(snapshot.connectors["a"].target, TargetState::Running);
        // Task 0 compacted away: the commit finds task 1 only.
        view.apply("c", &record(4, "task-a-1", Some(&v(&props("t1b")))));
        view.apply("c", &record(5, "commit-a", Some(br#"{"tasks":2}"#)));
        let snapshot = view.snapshot();
        assert!(snapshot.inconsistent.contains("a"));
        assert!(!snapshot.task_configs.contains_key("a"));
        // Shrinking to one task: the next complete commit heals it and cuts the list.
        view.apply("c", &record(6, "task-a-0", Some(&v(&props("only")))));
        view.apply("c", &record(7, "commit-a", Some(br#"{"tasks":1}"#)));
        let snapshot = view.snapshot();
        assert!(snapshot.inconsistent.is_empty());
        assert_eq!(snapshot.task_configs["a"], vec![props("only")]);
        // An undecodable record is skipped, but its offset counts.
        view.apply("c", &record(8, "connector-a", Some(b"{broken")));
        assert_eq!(view.snapshot().offset, 9);
        assert_eq!(view.snapshot().connectors["a"].config, Some(props("c")));
        view.apply(
            "c",
            &record(
                9,
                "target-state-a",
                Some(br#"{"state":"PAUSED","state.v2":"STOPPED"}"#),
            ),
        );
        assert_eq!(view.snapshot().connectors["a"].target, TargetState::Stopped);
        view.apply("c", &record(10, "connector-a", None));
        view.apply("c", &record(11, "target-state-a", None));
        let snapshot = view.snapshot();
        assert!(snapshot.connectors.is_empty() && snapshot.task_counts.is_empty());
        let mut kinds = Vec::new();
        while let Ok(change) = changes.try_recv() {
            kinds.push((change.offset, change.kind));
        }
        assert_eq!(
            kinds.len(),
            11,
            "every connector record but the broken one: {kinds:?}"
        );
        assert_eq!(kinds[3], (4, ConfigChangeKind::TasksCommitted));
        assert_eq!(kinds[9], (11, ConfigChangeKind::Removed));
    }

    #[test]
    fn records_of_the_first_read_tell_no_change() {
        let mut view = ConfigView::default();
        let (sender, mut changes) = unbounded_channel();
        view.changes = Some(sender);
        let mut first = record(0, "connector-a", Some(br#"{"properties":{}}"#));
        first.caught_up = false;
        view.apply("c", &first);
        assert!(changes.try_recv().is_err());
        assert!(view.snapshot().connectors.contains_key("a"));
    }
}
