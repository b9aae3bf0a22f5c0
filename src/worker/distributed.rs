//! One worker of a Kafka Connect cluster (distributed mode, `engine distributed`): the engine's cores, stores
//! in the cluster's three internal topics, and a member of the worker group (protocol type `connect`) through
//! which the leader hands out connectors and tasks. Kafka is the only thing the workers share: the group decides
//! who leads, the config topic says what there is to run, the status topic who runs what.
//!
//! The control loop reacts to four things: the group (a rebalance starts; this worker leads and assigns; an
//! assignment arrives; the worker fell out of the group), the config topic (a connector was created, changed
//! or deleted, by this worker or another), the engine's task reports, and calls from the REST API. Rebalances
//! are incremental and cooperative (KIP-415): a worker keeps running what it has, gives up only what the leader
//! revokes, and rejoins once it has stopped those, so the leader can hand them on in the next round.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::handle::{WorkerCall, WorkerHandle};
use super::store::{client_configs, InternalTopic, InternalTopics, KafkaStores, StoreTimeouts};
use super::{ClusterRole, Worker};
use crate::client::config::CommonConfig;
use crate::client::worker_group::assignor::{self, LeaderMemory};
use crate::client::worker_group::member::{WorkerGroupConfig, WorkerGroupEvent};
use crate::config::distributed::DistributedSpec;
use crate::config::ConnectorDefaults;
use crate::engine::control::{TaskReport, TaskState};
use crate::engine::positions::TaskKey;
use crate::engine::Engine;
use crate::protocol::connect_protocol::{
    ConnectProtocolVersion, ConnectorTaskId, WorkUnits, WorkerAssignment, WorkerMetadata,
};
use crate::runtime::backend::IoChoice;
use crate::runtime::worker_group::WorkerGroup;

/// How a distributed worker runs.
#[derive(Debug, Clone)]
pub struct DistributedOptions {
    pub cores: usize,
    pub io: IoChoice,
    /// How long a stop may take before the process exits anyway.
    pub shutdown_timeout: Duration,
    /// How statuses name this worker: its advertised REST `host:port` (Kafka Connect's worker_id).
    pub worker_id: String,
    /// The REST URL other workers forward requests to (`http://host:port/`).
    pub rest_url: String,
    pub spec: DistributedSpec,
    /// The worker's Kafka client settings (`bootstrap.servers`, security), for the group and the stores.
    pub client: CommonConfig,
}

/// A started distributed worker, before its loop runs.
pub struct Distributed {
    runtime: tokio::runtime::Runtime,
    worker: Worker,
    handle: WorkerHandle,
    calls: mpsc::UnboundedReceiver<WorkerCall>,
    reports: mpsc::UnboundedReceiver<TaskReport>,
    config_changes: mpsc::UnboundedReceiver<super::store::ConfigChange>,
    options: DistributedOptions,
    backend_name: &'static str,
    core_count: usize,
}

impl Distributed {
    /// Starts the cores, creates the internal topics where missing and reads them to their ends; no task runs
    /// before the group assigns some.
    pub fn start(options: DistributedOptions, defaults: ConnectorDefaults) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("could not start the control thread's runtime: {e}"))?;
        let spec = &options.spec;
        let (producer, consumer) = client_configs(&defaults.worker).map_err(|e| e.to_string())?;
        let topic = |name: &str, partitions: i32, replication_factor: i16| InternalTopic {
            name: name.to_owned(),
            partitions,
            replication_factor,
        };
        let topics = InternalTopics {
            config: topic(&spec.config_topic, 1, spec.config_replication_factor),
            status: topic(
                &spec.status_topic,
                spec.status_partitions,
                spec.status_replication_factor,
            ),
            offsets: topic(
                &spec.offset_topic,
                spec.offset_partitions,
                spec.offset_replication_factor,
            ),
        };
        let KafkaStores {
            config: mut configs,
            status: statuses,
            positions,
        } = KafkaStores::start(&producer, &consumer, &topics, StoreTimeouts::default())
            .map_err(|e| e.to_string())?;
        let config_changes = configs.changes();
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let engine = Engine::start(options.cores, options.io, reports_tx)?;
        let backend_name = engine.backend_name();
        let core_count = engine.core_count();
        let (handle, calls) = WorkerHandle::channel();
        let mut worker = Worker::new(
            options.worker_id.clone(),
            Box::new(engine),
            positions,
            Box::new(configs),
            Box::new(statuses),
        );
        worker.set_defaults(defaults);
        worker.set_cluster_role(ClusterRole::Rebalancing);
        worker.set_rest_scheme(
            options
                .rest_url
                .split_once("://")
                .map_or("http", |(scheme, _)| scheme),
        );
        worker.set_assignment(BTreeSet::new());
        worker
            .restore_stored_connectors(&BTreeSet::new())
            .map_err(|e| e.to_string())?;
        Ok(Self {
            runtime,
            worker,
            handle,
            calls,
            reports,
            config_changes,
            options,
            backend_name,
            core_count,
        })
    }

    pub fn handle(&self) -> WorkerHandle {
        self.handle.clone()
    }

    /// The control thread's runtime, for what runs beside the worker (the REST API).
    pub fn runtime(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend_name
    }

    pub fn core_count(&self) -> usize {
        self.core_count
    }

    /// Runs until SIGINT / SIGTERM or a fatal group error, then leaves the group and stops the cores. Returns
    /// the exit code.
    pub fn run(self) -> i32 {
        let Distributed {
            runtime,
            worker,
            handle,
            mut calls,
            mut reports,
            mut config_changes,
            options,
            ..
        } = self;
        drop(handle);
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async move {
            let mut signals = match super::standalone::Signals::new() {
                Ok(signals) => signals,
                Err(e) => {
                    eprintln!("% engine: cannot watch for signals: {e}");
                    return 1;
                }
            };
            let group_config = WorkerGroupConfig {
                group_id: options.spec.group_id.clone(),
                group_instance_id: options.spec.group_instance_id.clone(),
                bootstrap_servers: options.client.bootstrap_servers.clone(),
                session_timeout: options.spec.session_timeout,
                heartbeat_interval: options.spec.heartbeat_interval,
                rebalance_timeout: options.spec.rebalance_timeout,
                retry_backoff: options.client.retry_backoff,
                metadata_max_age: options.client.metadata_max_age,
            };
            let group = match WorkerGroup::new(group_config, &options.client) {
                Ok(group) => group,
                Err(e) => {
                    eprintln!(
                        "% engine: cannot join worker group {:?}: {e}",
                        options.spec.group_id
                    );
                    return 1;
                }
            };
            let mut cluster = Cluster {
                worker,
                group,
                options,
                owned: WorkUnits::default(),
                leader: None,
                memory: LeaderMemory::default(),
                units_assigned_from: None,
                revoking: BTreeSet::new(),
                revoke_deadline: None,
            };
            cluster.offer();
            let code = cluster
                .run(&mut calls, &mut reports, &mut config_changes, &mut signals)
                .await;
            // Calls still queued get no answer; their callers see the worker gone.
            drop(calls);
            cluster.stop(&mut reports, &mut signals).await.max(code)
        })
    }
}

/// The state of the control loop.
struct Cluster {
    worker: Worker,
    group: WorkerGroup,
    options: DistributedOptions,
    /// What the group assigned to this worker and it has not given up.
    owned: WorkUnits,
    /// The leader of the current generation: its member id and REST URL.
    leader: Option<(String, String)>,
    /// What the leader remembers between rounds (who had what; lost work and since when).
    memory: LeaderMemory,
    /// The leader: the work there was when it last assigned; a change since needs a new round.
    units_assigned_from: Option<BTreeMap<String, u32>>,
    /// Tasks told to stop by a revocation; the worker rejoins when they have stopped.
    revoking: BTreeSet<TaskKey>,
    revoke_deadline: Option<tokio::time::Instant>,
}

/// The group protocol this worker speaks: Connect's incremental cooperative protocol, v1 ("compatible"). The
/// "sessioned" v2 adds session keys that sign requests between workers, which pipewright's workers do not
/// send; "default" (v0) is eager, stopping everything at every rebalance.
const PROTOCOL: ConnectProtocolVersion = ConnectProtocolVersion::Compatible;

impl Cluster {
    async fn run(
        &mut self,
        calls: &mut mpsc::UnboundedReceiver<WorkerCall>,
        reports: &mut mpsc::UnboundedReceiver<TaskReport>,
        config_changes: &mut mpsc::UnboundedReceiver<super::store::ConfigChange>,
        signals: &mut super::standalone::Signals,
    ) -> i32 {
        loop {
            let revoke_deadline = self.revoke_deadline;
            tokio::select! {
                event = self.group.recv() => {
                    if let Some(code) = self.on_group_event(event) {
                        return code;
                    }
                }
                change = config_changes.recv() => {
                    let Some(change) = change else {
                        eprintln!("% engine: the config topic reader stopped; exiting");
                        return 1;
                    };
                    if let super::store::ConfigChangeKind::Restart { include_tasks, only_failed } = change.kind {
                        self.worker.restart_local_tasks(&change.connector, include_tasks, only_failed);
                        continue;
                    }
                    match self.worker.stored_connector(&change.connector) {
                        Ok(stored) => self.worker.apply_stored(&change.connector, stored),
                        Err(error) => tracing::error!(connector = %change.connector, %error, "cannot read the config store"),
                    }
                    self.after_change();
                }
                report = reports.recv() => {
                    let Some(report) = report else { return 1 };
                    super::standalone::log_report(&report);
                    self.worker.handle_report(&report);
                    if matches!(report.state, TaskState::Stopped | TaskState::Finished | TaskState::Failed { retry_in: None, .. }) {
                        self.revoking.remove(&report.task);
                        self.rejoin_if_revoked();
                    }
                }
                Some(call) = calls.recv() => {
                    call(&mut self.worker);
                    self.after_change();
                }
                () = sleep_until(revoke_deadline) => {
                    tracing::warn!(tasks = ?self.revoking, "revoked tasks did not stop in time; rejoining anyway");
                    self.revoking.clear();
                    self.rejoin_if_revoked();
                }
                () = signals.next() => {
                    eprintln!("% engine: stopping (leaving the group, draining sinks, committing positions)");
                    return 0;
                }
            }
        }
    }

    /// The metadata the next JoinGroup offers: this worker's URL, how far it read the config topic, and what it
    /// runs.
    fn offer(&self) {
        let metadata = WorkerMetadata {
            url: self.options.rest_url.clone(),
            config_offset: self.worker.config_offset(),
            owned: Some(self.owned.clone()),
        };
        match metadata.encode(PROTOCOL.version()) {
            Ok(bytes) => self
                .group
                .set_protocols(vec![(PROTOCOL.name().to_owned(), Bytes::from(bytes))]),
            Err(error) => tracing::error!(%error, "cannot encode this worker's group metadata"),
        }
    }

    fn on_group_event(&mut self, event: WorkerGroupEvent) -> Option<i32> {
        match event {
            WorkerGroupEvent::RebalanceStarted => {
                self.worker.set_cluster_role(ClusterRole::Rebalancing);
                self.offer();
            }
            WorkerGroupEvent::Lead {
                generation,
                members,
                ..
            } => {
                let assignments = self.lead(&members);
                self.group.assign(generation, assignments);
            }
            WorkerGroupEvent::Assigned {
                generation,
                member_id,
                assignment,
                ..
            } => self.on_assigned(generation, &member_id, &assignment),
            WorkerGroupEvent::Lost => {
                tracing::warn!(
                    "this worker fell out of its group: stopping every task it ran, rejoining"
                );
                self.owned = WorkUnits::default();
                self.leader = None;
                self.worker.set_cluster_role(ClusterRole::Rebalancing);
                self.worker.set_assignment(BTreeSet::new());
                self.offer();
            }
            WorkerGroupEvent::Fatal { error } => {
                eprintln!(
                    "% engine: worker group {:?} failed: {error}",
                    self.options.spec.group_id
                );
                return Some(1);
            }
            WorkerGroupEvent::Closed => return Some(0),
        }
        None
    }

    /// The leader's round: every member's assignment, from what they say they run and what the config topic
    /// says there is.
    fn lead(
        &mut self,
        members: &[crate::client::worker_group::member::JoinedMember],
    ) -> Vec<(String, Bytes)> {
        let units = self.worker.work_units();
        let mut states = BTreeMap::new();
        for member in members {
            let metadata = WorkerMetadata::decode(&member.metadata).unwrap_or_else(|error| {
                // A member whose metadata cannot be read gets work as one that runs nothing; the rest of the
                // group goes on.
                tracing::warn!(member = %member.member_id, %error, "unreadable worker metadata");
                WorkerMetadata {
                    url: String::new(),
                    config_offset: -1,
                    owned: None,
                }
            });
            states.insert(member.member_id.clone(), metadata);
        }
        let round = assignor::assign(
            &states,
            &units_of(&units),
            &self.memory,
            Instant::now(),
            self.options.spec.scheduled_rebalance_max_delay,
        );
        self.memory = round.memory;
        self.units_assigned_from = Some(units);
        let leader_url = self.options.rest_url.clone();
        let leader_id = self.group.member_id();
        let config_offset = self.worker.config_offset();
        let mut assignments = Vec::with_capacity(round.members.len());
        for (member_id, decided) in round.members {
            // Kafka Connect's workers send only what is new to a member; ours send all it is to run. The
            // coordinator hands a static member that restarts within its session the assignment of the last
            // round again, without a rebalance: a whole one is what the restarted worker needs.
            let assignment = WorkerAssignment {
                assigned: decided.assigned.clone(),
                ..decided.to_wire(PROTOCOL, &leader_id, &leader_url, config_offset)
            };
            match assignment.encode(PROTOCOL.version()) {
                Ok(bytes) => assignments.push((member_id, Bytes::from(bytes))),
                Err(error) => {
                    tracing::error!(%error, member = %member_id, "cannot encode an assignment")
                }
            }
        }
        assignments
    }

    fn on_assigned(&mut self, generation: i32, member_id: &str, bytes: &[u8]) {
        let assignment = match WorkerAssignment::decode(bytes) {
            Ok(assignment) => assignment,
            Err(error) => {
                tracing::error!(%error, "unreadable assignment from the leader; rejoining");
                self.group.rejoin();
                return;
            }
        };
        let is_leader = assignment.leader == member_id;
        self.leader = Some((assignment.leader.clone(), assignment.leader_url.clone()));
        self.worker.set_cluster_role(if is_leader {
            ClusterRole::Leader
        } else {
            ClusterRole::Follower {
                leader_url: assignment.leader_url.clone(),
            }
        });
        self.owned = assignment.assigned.clone();
        let tasks: BTreeSet<TaskKey> = self
            .owned
            .tasks
            .iter()
            .map(|id| TaskKey::new(id.connector.clone(), id.task))
            .collect();
        self.worker.set_generation(generation);
        let before: BTreeSet<TaskKey> = self.worker.running_tasks().clone();
        self.worker.set_assignment(tasks.clone());
        for connector in &self.owned.connectors {
            self.worker.connector_owned_here(connector);
        }
        tracing::info!(
            generation,
            leader = %assignment.leader_url,
            connectors = ?self.owned.connectors,
            tasks = ?self.owned.tasks,
            revoked = ?assignment.revoked.tasks.iter().map(|t| format!("{}-{}", t.connector, t.task)).collect::<Vec<_>>(),
            "assignment received"
        );
        self.revoking = before
            .difference(self.worker.running_tasks())
            .cloned()
            .collect();
        if !assignment.revoked.is_empty() {
            // The next round hands the revoked work on; rejoin once it has stopped here.
            self.revoke_deadline = Some(
                tokio::time::Instant::now()
                    + self.options.shutdown_timeout.min(Duration::from_secs(10)),
            );
            self.rejoin_if_revoked();
        } else if assignment.delay_ms > 0 {
            let at = Instant::now() + Duration::from_millis(assignment.delay_ms as u64);
            self.group.rejoin_at(at);
        }
        self.offer();
        self.after_change();
    }

    /// Rejoins once every revoked task has stopped (or the deadline passed).
    fn rejoin_if_revoked(&mut self) {
        if self.revoke_deadline.is_some() && self.revoking.is_empty() {
            self.revoke_deadline = None;
            self.offer();
            self.group.rejoin();
        }
    }

    /// After the config changed: the leader starts a new round when what there is to run changed since it last
    /// assigned (a connector added or deleted, its task count changed, stopped or resumed).
    fn after_change(&mut self) {
        if self.worker.cluster_role() != &ClusterRole::Leader {
            return;
        }
        let units = self.worker.work_units();
        if self.units_assigned_from.as_ref() != Some(&units) {
            tracing::info!("the connectors' tasks changed; rebalancing");
            self.offer();
            self.group.rejoin();
        }
    }

    /// Stops every task (sinks drain, positions commit) within the shutdown timeout, then leaves the group.
    async fn stop(
        self,
        reports: &mut mpsc::UnboundedReceiver<TaskReport>,
        signals: &mut super::standalone::Signals,
    ) -> i32 {
        let Cluster {
            worker,
            group,
            options,
            ..
        } = self;
        // Tasks first, while the session lives on: another worker must not start them before they have
        // committed here.
        let code =
            super::standalone::shut_down(worker, reports, options.shutdown_timeout, signals).await;
        group.close(Duration::from_secs(5)).await;
        code
    }
}

/// Every connector and task there is to run.
fn units_of(units: &BTreeMap<String, u32>) -> WorkUnits {
    let mut all = WorkUnits::default();
    for (name, tasks) in units {
        all.connectors.insert(name.clone());
        for index in 0..*tasks {
            all.tasks.insert(ConnectorTaskId::new(name.clone(), index));
        }
    }
    all
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
