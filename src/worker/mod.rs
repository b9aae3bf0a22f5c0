//! The worker: owns connectors — their specs and target states (running, paused, stopped) — turns them into
//! tasks that the engine places on cores, and keeps their statuses (Kafka Connect's Herder over its Worker).
//!
//! It runs on the control thread. The REST API and the command line talk to it through a [`WorkerHandle`];
//! it talks to the engine through [`TaskRunner`]. Its stores sit behind traits ([`store`]): files for one
//! process; Kafka topics come with distributed mode. It never touches a record.

pub mod distributed;
pub mod handle;
pub mod offsets;
pub mod requests;
pub mod standalone;
pub mod status;
pub mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::config::PipelineConfig;
use crate::connect::connector::TaskId;
use crate::engine::control::{TaskReport, TaskState};
use crate::engine::metrics::{CoreMetrics, TaskMetrics, TaskMetricsRow};
use crate::engine::positions::{PositionStore, TaskKey};
use crate::engine::task::TaskSpec;
use crate::engine::Engine;

pub use handle::WorkerHandle;
use status::{ConnectorStatus, StatusStore, TargetState, TaskStatus};
use store::{ConfigStore, StoreError, StoredConnector};

/// What runs the worker's tasks: the engine, or a recording double in tests.
pub trait TaskRunner: Send {
    fn start_task(&mut self, spec: TaskSpec);
    fn stop_task(&mut self, key: &TaskKey);
    fn pause_task(&mut self, key: &TaskKey);
    fn resume_task(&mut self, key: &TaskKey);
    /// Stops every task (sinks drain, positions commit) and waits until they have stopped.
    fn shutdown(self: Box<Self>);
    /// Each core's counters, by core index (none for a runner without cores).
    fn core_metrics(&self) -> Vec<Arc<CoreMetrics>> {
        Vec::new()
    }
}

impl TaskRunner for Engine {
    fn start_task(&mut self, spec: TaskSpec) {
        let label = spec.label();
        let core = Engine::start_task(self, spec);
        tracing::info!(task = %label, core, "task placed");
    }

    fn stop_task(&mut self, key: &TaskKey) {
        Engine::stop_task(self, key);
    }

    fn pause_task(&mut self, key: &TaskKey) {
        Engine::pause_task(self, key);
    }

    fn resume_task(&mut self, key: &TaskKey) {
        Engine::resume_task(self, key);
    }

    fn shutdown(self: Box<Self>) {
        self.stop_and_join();
    }

    fn core_metrics(&self) -> Vec<Arc<CoreMetrics>> {
        Engine::core_metrics(self).to_vec()
    }
}

/// One connector the worker runs.
struct Connector {
    spec: Arc<PipelineConfig>,
    target: TargetState,
    /// Each task's counters, by index; a new config gets new counters.
    metrics: Vec<Arc<TaskMetrics>>,
}

impl Connector {
    fn task_count(&self) -> u32 {
        self.spec.tasks.max(1)
    }

    fn task_keys(&self) -> impl Iterator<Item = TaskKey> + '_ {
        (0..self.task_count()).map(|index| TaskKey::new(self.spec.name.clone(), index))
    }

    /// The tasks the REST API shows: none while the connector is stopped (Kafka Connect empties a stopped
    /// connector's task configs, KIP-875), else every one.
    fn shown_task_count(&self) -> u32 {
        if self.target == TargetState::Stopped {
            0
        } else {
            self.task_count()
        }
    }
}

/// A request the worker could not carry out; each says what to do instead where there is something to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    #[error("Connector {0} not found")]
    UnknownConnector(String),
    #[error("Task {1} of connector {0} not found")]
    UnknownTask(String, u32),
    #[error("Connector {0} already exists")]
    AlreadyExists(String),
    /// The config has problems (each with its key); Kafka Connect answers 400 with all of them.
    #[error("Connector configuration is invalid and contains the following {count} error(s):\n{problems}", count = .0.problems.len(), problems = .0)]
    InvalidConfig(crate::config::ConfigErrors),
    #[error("{0}")]
    BadRequest(String),
    /// Distributed mode: the task runs on another worker, at `owner_url`, which carries the request out.
    #[error("the task runs on the worker at {owner_url}")]
    RunsElsewhere { owner_url: String },
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Reading or changing what a connector keeps in Kafka failed (the broker refused, or did not answer).
    #[error("{0}")]
    Kafka(String),
}

/// Where a worker stands in its cluster: what the REST API does with a request that changes something.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClusterRole {
    /// One worker alone (standalone mode): it carries out every request itself.
    #[default]
    Standalone,
    /// The leader of a distributed cluster: it carries out every request.
    Leader,
    /// Another worker of a distributed cluster: requests that change something go to the leader, at its REST
    /// address (Kafka Connect forwards them the same way).
    Follower { leader_url: String },
    /// The cluster is rebalancing and no leader is known: a change is refused with 409, as Kafka Connect
    /// refuses it, and the caller tries again.
    Rebalancing,
}

/// The connectors of one worker and their tasks.
pub struct Worker {
    /// How REST names this worker in statuses (its advertised REST address, as Kafka Connect's worker_id).
    worker_id: String,
    runner: Box<dyn TaskRunner>,
    positions: Arc<dyn PositionStore>,
    configs: Box<dyn ConfigStore>,
    statuses: Box<dyn StatusStore>,
    connectors: BTreeMap<String, Connector>,
    finished: BTreeSet<TaskKey>,
    /// The `[kafka]` settings and worker keys every connector starts from.
    defaults: crate::config::ConnectorDefaults,
    role: ClusterRole,
    /// The scheme of other workers' REST URLs (distributed mode).
    rest_scheme: String,
    /// Distributed mode: the tasks the group assigned to this worker; `None` (standalone): every task runs
    /// here.
    assigned: Option<BTreeSet<TaskKey>>,
    /// Tasks started here and not stopped since: what a stop, pause or resume reaches.
    running: BTreeSet<TaskKey>,
}

impl Worker {
    pub fn new(
        worker_id: impl Into<String>,
        runner: Box<dyn TaskRunner>,
        positions: Arc<dyn PositionStore>,
        configs: Box<dyn ConfigStore>,
        statuses: Box<dyn StatusStore>,
    ) -> Self {
        Self {
            worker_id: worker_id.into(),
            runner,
            positions,
            configs,
            statuses,
            connectors: BTreeMap::new(),
            finished: BTreeSet::new(),
            defaults: crate::config::ConnectorDefaults::default(),
            role: ClusterRole::Standalone,
            rest_scheme: "http".to_owned(),
            assigned: None,
            running: BTreeSet::new(),
        }
    }

    /// Where this worker stands in its cluster (set by the distributed worker's loop as rebalances go).
    pub fn cluster_role(&self) -> &ClusterRole {
        &self.role
    }

    pub fn set_cluster_role(&mut self, role: ClusterRole) {
        self.role = role;
    }

    /// Sets what every connector created through the API starts from.
    pub fn set_defaults(&mut self, defaults: crate::config::ConnectorDefaults) {
        self.defaults = defaults;
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// The target state stored for `name`, if any (a connector paused or stopped before a restart stays so).
    pub fn stored_target_state(&self, name: &str) -> Result<Option<TargetState>, WorkerError> {
        Ok(self.configs.load()?.get(name).map(|c| c.target))
    }

    /// Runs `spec` as connector `spec.name` in `target` state; a connector of that name is replaced (its tasks
    /// stop, committing their positions, and the new ones start from them).
    pub fn put_connector(&mut self, spec: PipelineConfig, target: TargetState) {
        let name = spec.name.clone();
        if let Some(old) = self.connectors.remove(&name) {
            self.stop_tasks(&old);
        }
        if spec.requested_tasks > spec.tasks {
            // As Kafka's FileStreamSource: a second task would read the same file again.
            tracing::info!(
                "connector {name:?}: {} task(s) of the {} tasks.max asks: its connectors use no more",
                spec.tasks.max(1),
                spec.requested_tasks
            );
        }
        self.positions.set_source(&name, &spec.run.source);
        let connector = Connector {
            metrics: (0..spec.tasks.max(1))
                .map(|_| Arc::new(TaskMetrics::default()))
                .collect(),
            spec: Arc::new(spec),
            target,
        };
        for key in connector.task_keys() {
            // Only this worker's own tasks: in a cluster another worker may be running the rest, and its
            // status must not be overwritten.
            if self.is_assigned(&key) {
                self.statuses
                    .put(&key, TaskStatus::unassigned(&self.worker_id));
            }
            self.finished.remove(&key);
        }
        if target != TargetState::Stopped {
            self.start_tasks(&connector);
        }
        self.connectors.insert(name, connector);
    }

    /// Runs every connector the config store holds a config for that `file_connectors` does not name (those
    /// created through the API before a restart), in its stored target state. A stored config that no longer
    /// validates is skipped with an error in the log; the others still run.
    pub fn restore_stored_connectors(
        &mut self,
        file_connectors: &BTreeSet<String>,
    ) -> Result<(), WorkerError> {
        for (name, stored) in self.configs.load()? {
            let Some(config) = stored.config else {
                continue;
            };
            if file_connectors.contains(&name) {
                tracing::warn!(
                    connector = %name,
                    "the config file names this connector too: its config there replaces the one set through the REST API"
                );
                continue;
            }
            let source = format!("stored connector {name:?}");
            match crate::config::parse_connector(
                &name,
                &config,
                &self.defaults,
                &source,
                &crate::config::Registry,
            ) {
                Ok(spec) => self.put_connector(spec, stored.target),
                Err(errors) => {
                    tracing::error!(connector = %name, %errors, "stored connector config no longer validates; not started")
                }
            }
        }
        Ok(())
    }

    /// Moves a connector to `target`: pausing keeps its tasks but stops their polling, stopping ends them,
    /// running starts or resumes them. The target state is stored, so it survives a restart.
    pub fn set_target_state(&mut self, name: &str, target: TargetState) -> Result<(), WorkerError> {
        let mut stored = self.configs.load()?.remove(name).unwrap_or_default();
        if !self.connectors.contains_key(name) {
            return Err(WorkerError::UnknownConnector(name.to_owned()));
        }
        self.apply_target_state(name, target);
        stored.target = target;
        self.configs.put(name, &stored)?;
        Ok(())
    }

    /// Moves the tasks of connector `name` running here to `target`, without storing it.
    fn apply_target_state(&mut self, name: &str, target: TargetState) {
        let Some(mut connector) = self.connectors.remove(name) else {
            return;
        };
        match (connector.target, target) {
            (from, to) if from == to => {}
            (TargetState::Stopped, _) => {
                connector.target = target;
                self.start_tasks(&connector);
            }
            (_, TargetState::Stopped) => {
                for key in self.running_keys(&connector) {
                    self.statuses
                        .put(&key, TaskStatus::unassigned(&self.worker_id));
                }
                self.stop_tasks(&connector);
            }
            (_, TargetState::Paused) => {
                for key in self.running_keys(&connector) {
                    self.runner.pause_task(&key);
                }
            }
            (_, TargetState::Running) => {
                for key in self.running_keys(&connector) {
                    self.runner.resume_task(&key);
                }
            }
        }
        connector.target = target;
        self.connectors.insert(name.to_owned(), connector);
    }

    /// Stops a connector's tasks and forgets it.
    pub fn remove_connector(&mut self, name: &str) -> Result<(), WorkerError> {
        let connector = self
            .connectors
            .remove(name)
            .ok_or_else(|| WorkerError::UnknownConnector(name.to_owned()))?;
        self.stop_tasks(&connector);
        self.statuses.remove_connector(name);
        self.finished.retain(|key| key.connector != name);
        self.configs.remove(name)?;
        Ok(())
    }

    fn new_task_spec(&self, connector: &Connector, index: u32) -> TaskSpec {
        TaskSpec {
            pipeline: connector.spec.clone(),
            task: TaskId {
                index,
                count: connector.task_count(),
            },
            positions: self.positions.clone(),
            metrics: connector.metrics[index as usize].clone(),
            start_paused: connector.target == TargetState::Paused,
        }
    }

    /// The spec of one task of a connector the worker has.
    fn task_spec(&self, name: &str, index: u32) -> Result<TaskSpec, WorkerError> {
        let connector = self
            .connectors
            .get(name)
            .ok_or_else(|| WorkerError::UnknownConnector(name.to_owned()))?;
        Ok(self.new_task_spec(connector, index))
    }

    fn start_tasks(&mut self, connector: &Connector) {
        for index in 0..connector.task_count() {
            let key = TaskKey::new(connector.spec.name.clone(), index);
            if !self.is_assigned(&key) {
                continue;
            }
            let spec = self.new_task_spec(connector, index);
            self.runner.start_task(spec);
            if connector.target == TargetState::Paused {
                self.runner.pause_task(&key);
            }
            self.running.insert(key);
        }
    }

    fn stop_tasks(&mut self, connector: &Connector) {
        for key in connector.task_keys() {
            if self.running.remove(&key) {
                self.runner.stop_task(&key);
            }
        }
    }

    /// Whether `key` is this worker's to run.
    fn is_assigned(&self, key: &TaskKey) -> bool {
        self.assigned.as_ref().is_none_or(|a| a.contains(key))
    }

    /// The tasks of `connector` running here.
    fn running_keys(&self, connector: &Connector) -> Vec<TaskKey> {
        connector
            .task_keys()
            .filter(|key| self.running.contains(key))
            .collect()
    }

    /// Distributed mode: from now on only `tasks` run here. Tasks no longer among them stop (committing their
    /// positions); assigned ones of known, not stopped connectors start. A task of a connector whose config
    /// has not arrived yet starts when it does ([`Worker::apply_stored`]).
    pub fn set_assignment(&mut self, tasks: BTreeSet<TaskKey>) {
        for key in self.running.clone() {
            if !tasks.contains(&key) {
                self.running.remove(&key);
                self.runner.stop_task(&key);
            }
        }
        self.assigned = Some(tasks.clone());
        for key in tasks {
            if self.running.contains(&key) {
                continue;
            }
            let Some(connector) = self.connectors.get(&key.connector) else {
                continue;
            };
            if key.index >= connector.task_count() || connector.target == TargetState::Stopped {
                continue;
            }
            let spec = self.new_task_spec(connector, key.index);
            let paused = connector.target == TargetState::Paused;
            self.runner.start_task(spec);
            if paused {
                self.runner.pause_task(&key);
            }
            self.statuses
                .put(&key, TaskStatus::unassigned(&self.worker_id));
            self.running.insert(key);
        }
    }

    /// Distributed mode: the group assigned connector `name` itself to this worker; its status says so.
    pub fn connector_owned_here(&mut self, name: &str) {
        let state = match self.connectors.get(name).map(|c| c.target) {
            Some(TargetState::Paused) => "PAUSED",
            Some(TargetState::Stopped) => "STOPPED",
            _ => "RUNNING",
        };
        self.statuses.put_connector_status(
            name,
            TaskStatus {
                state,
                worker_id: self.worker_id.clone(),
                trace: None,
            },
        );
    }

    /// The group generation this worker's statuses are written in (distributed mode).
    pub fn set_generation(&mut self, generation: i32) {
        self.statuses.set_generation(generation);
    }

    /// What the config store holds for connector `name` (`None`: nothing, or deleted).
    pub fn stored_connector(&self, name: &str) -> Result<Option<StoredConnector>, WorkerError> {
        Ok(self.configs.load()?.remove(name))
    }

    /// How far the config store has read (the config topic's offset in distributed mode; -1 otherwise).
    pub fn config_offset(&self) -> i64 {
        self.configs.offset()
    }

    /// Whether task `index` of connector `name` runs on this worker.
    pub fn runs_task(&self, name: &str, index: u32) -> bool {
        self.running.contains(&TaskKey::new(name, index))
    }

    /// The REST URL of the worker named `worker_id` (`host:port`), in this cluster's scheme.
    pub fn rest_url_of(&self, worker_id: &str) -> String {
        format!("{}://{worker_id}/", self.rest_scheme)
    }

    /// The scheme of this cluster's REST listeners, for the URLs of other workers (distributed mode).
    pub fn set_rest_scheme(&mut self, scheme: &str) {
        self.rest_scheme = scheme.to_owned();
    }

    /// Distributed mode: a restart of connector `name` asked for through the config topic (KIP-745) restarts
    /// its tasks that run here (only the failed ones with `only_failed`); without `include_tasks` there is
    /// nothing to restart (the connector has no instance apart from its tasks).
    pub fn restart_local_tasks(&mut self, name: &str, include_tasks: bool, only_failed: bool) {
        if !include_tasks {
            return;
        }
        let Some(connector) = self.connectors.get(name) else {
            return;
        };
        let chosen: Vec<u32> = self
            .running_keys(connector)
            .into_iter()
            .filter(|key| {
                !only_failed
                    || self
                        .statuses
                        .get(key)
                        .is_some_and(|status| status.state == "FAILED")
            })
            .map(|key| key.index)
            .collect();
        for index in chosen {
            if let Err(error) = self.restart_task(name, index) {
                tracing::warn!(connector = name, task = index, %error, "task not restarted");
            }
        }
    }

    /// The tasks running here.
    pub fn running_tasks(&self) -> &BTreeSet<TaskKey> {
        &self.running
    }

    /// What there is to run, as the group's leader assigns it: every connector with the number of tasks it
    /// runs now (none while stopped).
    pub fn work_units(&self) -> BTreeMap<String, u32> {
        self.connectors
            .iter()
            .map(|(name, c)| (name.clone(), c.shown_task_count()))
            .collect()
    }

    /// Distributed mode: brings connector `name` in line with what the config topic holds for it (`None`: it
    /// was deleted), after another worker changed it or this one's own write came back. Nothing happens when
    /// it already is.
    pub fn apply_stored(&mut self, name: &str, stored: Option<StoredConnector>) {
        let Some(stored) = stored else {
            if let Some(connector) = self.connectors.remove(name) {
                self.stop_tasks(&connector);
                self.statuses.remove_connector(name);
                self.finished.retain(|key| key.connector != name);
                tracing::info!(connector = name, "connector deleted");
            }
            return;
        };
        let Some(config) = stored.config else {
            return;
        };
        // The flat form the REST API shows carries the name; a stored config may not.
        let without_name = |c: &BTreeMap<String, String>| {
            c.iter()
                .filter(|(k, _)| k.as_str() != "name")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        let unchanged_config = self
            .connectors
            .get(name)
            .is_some_and(|c| without_name(&c.spec.connector_config) == without_name(&config));
        if !unchanged_config {
            let source = format!("connector {name:?} of the config topic");
            match crate::config::parse_connector(
                name,
                &config,
                &self.defaults,
                &source,
                &crate::config::Registry,
            ) {
                Ok(spec) => {
                    tracing::info!(connector = name, "connector configured");
                    self.put_connector(spec, stored.target);
                }
                Err(errors) => {
                    tracing::error!(connector = %name, %errors, "connector config of the config topic does not validate; not started")
                }
            }
            return;
        }
        let current = self.connectors.get(name).map(|c| c.target);
        if current != Some(stored.target) {
            self.apply_target_state(name, stored.target);
        }
    }

    /// Records a task's state change (reports of tasks no longer the worker's are dropped).
    pub fn handle_report(&mut self, report: &TaskReport) {
        let Some(connector) = self.connectors.get(&report.task.connector) else {
            return;
        };
        if report.task.index >= connector.task_count() {
            return;
        }
        match report.state {
            TaskState::Finished => {
                self.finished.insert(report.task.clone());
            }
            TaskState::Running => {
                self.finished.remove(&report.task);
            }
            _ => {}
        }
        // A task this worker gave up (revoked, or lost with its session) may already run on another worker,
        // whose status its last report here must not overwrite.
        if !self.is_assigned(&report.task) {
            return;
        }
        self.statuses.put(
            &report.task,
            TaskStatus::from_report(&report.state, &self.worker_id),
        );
    }

    /// Whether there is nothing left to run: every task of every running connector finished on its own (its
    /// input ended). False while there are no connectors.
    pub fn all_finished(&self) -> bool {
        let mut running = self
            .connectors
            .values()
            .filter(|c| c.target == TargetState::Running)
            .peekable();
        running.peek().is_some()
            && running.all(|c| c.task_keys().all(|key| self.finished.contains(&key)))
    }

    /// The connectors' names, in order.
    pub fn connector_names(&self) -> Vec<String> {
        self.connectors.keys().cloned().collect()
    }

    /// The spec a connector runs.
    pub fn connector_spec(&self, name: &str) -> Option<Arc<PipelineConfig>> {
        self.connectors.get(name).map(|c| c.spec.clone())
    }

    /// Every connector with its tasks' statuses, as the REST API shows them.
    pub fn statuses(&self) -> BTreeMap<String, ConnectorStatus> {
        self.connectors
            .iter()
            .map(|(name, connector)| {
                let spec = &connector.spec;
                let mut config = BTreeMap::new();
                config.insert("source".to_owned(), spec.source.type_name.clone());
                config.insert("sink".to_owned(), spec.sink.type_name.clone());
                config.insert("tasks.max".to_owned(), connector.task_count().to_string());
                let tasks = connector
                    .task_keys()
                    .take(connector.shown_task_count() as usize)
                    .map(|key| {
                        let mut status = self
                            .statuses
                            .get(&key)
                            .unwrap_or_else(|| TaskStatus::unassigned(&self.worker_id));
                        // A running task that cannot reach a broker says why while it lasts (it fails only
                        // when a timeout runs out).
                        if status.state == "RUNNING" && status.trace.is_none() {
                            let problems = connector
                                .metrics
                                .get(key.index as usize)
                                .map(|m| m.connection_problems())
                                .unwrap_or_default();
                            if !problems.is_empty() {
                                status.trace = Some(
                                    crate::config::redact_url_credentials(&problems.join("\n"))
                                        .into_owned(),
                                );
                            }
                        }
                        (key.index, status)
                    })
                    .collect();
                let status = ConnectorStatus {
                    kind: connector_type(spec),
                    worker_id: self
                        .statuses
                        .connector_status(name)
                        .map_or_else(|| self.worker_id.clone(), |s| s.worker_id),
                    config,
                    target: connector.target,
                    tasks,
                };
                (name.clone(), status)
            })
            .collect()
    }

    /// Every task's and core's metrics, and the process's, in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let rows: Vec<TaskMetricsRow> = self
            .connectors
            .values()
            .flat_map(|c| {
                c.metrics
                    .iter()
                    .enumerate()
                    .map(|(index, m)| (c.spec.name.clone(), index as u32, m.clone()))
            })
            .collect();
        crate::engine::metrics::render::render(&rows, &self.runner.core_metrics())
    }

    /// Stops every task and waits until they have stopped (see [`TaskRunner::shutdown`]).
    pub fn shutdown(self) {
        self.runner.shutdown();
    }
}

/// Kafka Connect's connector type: a pipeline into Kafka is a `source` connector, one out of Kafka a `sink`.
fn connector_type(spec: &PipelineConfig) -> &'static str {
    if spec.sink.info.capabilities.writes_to_kafka() {
        "source"
    } else {
        "sink"
    }
}

#[cfg(test)]
mod tests;
