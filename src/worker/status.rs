//! What the worker tells about its connectors and tasks, in Kafka Connect's terms (`RUNNING`, `PAUSED`,
//! `FAILED`, `UNASSIGNED`, `STOPPED`), and the store those statuses live in.
//!
//! Statuses are written from task reports on the control thread and read by the REST API through the worker.

use std::collections::BTreeMap;

use crate::engine::control::TaskState;
use crate::engine::positions::TaskKey;

/// What a connector should be doing, as set by its config or by an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetState {
    #[default]
    Running,
    /// Tasks stay assigned but poll nothing; their positions are committed.
    Paused,
    /// No tasks at all (KIP-875): the state in which offsets may be changed.
    Stopped,
}

impl TargetState {
    /// Kafka Connect's name for the state (`RUNNING`, `PAUSED`, `STOPPED`).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Running => "RUNNING",
            TargetState::Paused => "PAUSED",
            TargetState::Stopped => "STOPPED",
        }
    }

    /// The state named `name` (Kafka Connect's names, any case).
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "RUNNING" => Some(TargetState::Running),
            "PAUSED" => Some(TargetState::Paused),
            "STOPPED" => Some(TargetState::Stopped),
            _ => None,
        }
    }
}

/// One task's state as the REST API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStatus {
    /// `RUNNING`, `PAUSED`, `FAILED`, `UNASSIGNED` (finished, stopped or not started), as Kafka Connect names
    /// them.
    pub state: &'static str,
    pub worker_id: String,
    /// The last error, for a failed task.
    pub trace: Option<String>,
}

impl TaskStatus {
    pub fn unassigned(worker_id: &str) -> Self {
        Self {
            state: "UNASSIGNED",
            worker_id: worker_id.to_owned(),
            trace: None,
        }
    }

    /// The status a task report means.
    pub fn from_report(state: &TaskState, worker_id: &str) -> Self {
        let (state, trace) = match state {
            TaskState::Running => ("RUNNING", None),
            TaskState::Paused => ("PAUSED", None),
            TaskState::Failed { error, .. } => (
                "FAILED",
                Some(crate::config::redact_url_credentials(error).into_owned()),
            ),
            TaskState::Finished | TaskState::Stopped => ("UNASSIGNED", None),
        };
        Self {
            state,
            worker_id: worker_id.to_owned(),
            trace,
        }
    }
}

/// One connector and its tasks, as the REST API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorStatus {
    /// `source` (it writes to Kafka) or `sink` (it reads from Kafka), as Kafka Connect types connectors.
    pub kind: &'static str,
    /// The worker that runs the connector (its REST address).
    pub worker_id: String,
    pub config: BTreeMap<String, String>,
    pub target: TargetState,
    pub tasks: BTreeMap<u32, TaskStatus>,
}

impl ConnectorStatus {
    /// The connector's own state: its target state when paused or stopped; otherwise `FAILED` when every task
    /// failed, `RUNNING` when any runs, else `UNASSIGNED`.
    pub fn state(&self) -> &'static str {
        match self.target {
            TargetState::Paused | TargetState::Stopped => self.target.as_str(),
            TargetState::Running => {
                if !self.tasks.is_empty() && self.tasks.values().all(|t| t.state == "FAILED") {
                    "FAILED"
                } else if self.tasks.values().any(|t| t.state == "RUNNING") {
                    "RUNNING"
                } else {
                    "UNASSIGNED"
                }
            }
        }
    }
}

/// Where task statuses are kept: in memory for one process; a status topic in distributed mode.
pub trait StatusStore: Send {
    fn put(&mut self, task: &TaskKey, status: TaskStatus);
    fn get(&self, task: &TaskKey) -> Option<TaskStatus>;
    /// Forgets every task of `connector`.
    fn remove_connector(&mut self, connector: &str);
    /// The status of a connector itself, where one worker of several runs it (distributed mode); a store of
    /// one process keeps none: the connector runs where its tasks do.
    fn put_connector_status(&mut self, _connector: &str, _status: TaskStatus) {}
    fn connector_status(&self, _connector: &str) -> Option<TaskStatus> {
        None
    }
    /// The group generation statuses written from now on carry (distributed mode).
    fn set_generation(&mut self, _generation: i32) {}
}

/// Statuses of one process (Kafka Connect standalone's MemoryStatusBackingStore).
#[derive(Debug, Default)]
pub struct MemoryStatusStore {
    tasks: BTreeMap<TaskKey, TaskStatus>,
}

impl StatusStore for MemoryStatusStore {
    fn put(&mut self, task: &TaskKey, status: TaskStatus) {
        self.tasks.insert(task.clone(), status);
    }

    fn get(&self, task: &TaskKey) -> Option<TaskStatus> {
        self.tasks.get(task).cloned()
    }

    fn remove_connector(&mut self, connector: &str) {
        self.tasks.retain(|key, _| key.connector != connector);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(states: &[&'static str], target: TargetState) -> ConnectorStatus {
        ConnectorStatus {
            kind: "source",
            worker_id: "w".into(),
            config: BTreeMap::new(),
            target,
            tasks: states
                .iter()
                .enumerate()
                .map(|(i, state)| {
                    (
                        i as u32,
                        TaskStatus {
                            state,
                            worker_id: "w".into(),
                            trace: None,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_connector_is_failed_only_when_every_task_failed() {
        use TargetState::*;
        assert_eq!(status(&["FAILED", "FAILED"], Running).state(), "FAILED");
        assert_eq!(status(&["FAILED", "RUNNING"], Running).state(), "RUNNING");
        assert_eq!(status(&["UNASSIGNED"], Running).state(), "UNASSIGNED");
        assert_eq!(status(&[], Running).state(), "UNASSIGNED");
        assert_eq!(status(&["RUNNING"], Paused).state(), "PAUSED");
        assert_eq!(status(&[], Stopped).state(), "STOPPED");
    }

    #[test]
    fn reports_map_to_kafka_connect_states() {
        let failed = TaskState::Failed {
            error: "boom".into(),
            restarts: 1,
            retry_in: Some(std::time::Duration::from_secs(1)),
        };
        let status = TaskStatus::from_report(&failed, "w");
        assert_eq!(
            (status.state, status.trace.as_deref()),
            ("FAILED", Some("boom"))
        );
        assert_eq!(
            TaskStatus::from_report(&TaskState::Finished, "w").state,
            "UNASSIGNED"
        );
        assert_eq!(
            TaskStatus::from_report(&TaskState::Paused, "w").state,
            "PAUSED"
        );
        assert_eq!(TargetState::parse("paused"), Some(TargetState::Paused));
        assert_eq!(TargetState::parse("gone"), None);
    }

    #[test]
    fn the_memory_store_forgets_a_removed_connector_only() {
        let mut store = MemoryStatusStore::default();
        store.put(&TaskKey::new("a", 0), TaskStatus::unassigned("w"));
        store.put(&TaskKey::new("b", 0), TaskStatus::unassigned("w"));
        store.remove_connector("a");
        assert!(store.get(&TaskKey::new("a", 0)).is_none());
        assert!(store.get(&TaskKey::new("b", 0)).is_some());
    }
}
