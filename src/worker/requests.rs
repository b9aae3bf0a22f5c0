//! What operators ask of the worker through the REST API: create, reconfigure, restart, pause, stop and delete
//! connectors, read their configs and statuses, read and change their offsets (KIP-875) and their active topics
//! (KIP-558) (Kafka Connect's herder operations).
//!
//! Every change takes effect at once and touches only the connector named; a config reaches a task only after
//! it validated, and connectors created or changed here are stored so they come back after a restart.

use std::collections::{BTreeMap, BTreeSet};

use super::offsets::{
    parse_group_offset, store_request, GroupChange, KafkaOffsets, KafkaOffsetsJob, OffsetsRequest,
    OffsetsWork, PositionForm, ALTERED, RESET,
};
use super::status::{ConnectorStatus, TargetState, TaskStatus};
use super::store::StoredConnector;
use super::{Worker, WorkerError};
use crate::config::{parse_connector, Delivery, PipelineConfig, Registry};
use crate::connect::connectors::SourceConfig;
use crate::engine::positions::TaskKey;

/// A connector as `GET /connectors/{name}` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorInfo {
    pub name: String,
    /// Its config, secrets shown as `[hidden]`.
    pub config: BTreeMap<String, String>,
    pub tasks: Vec<u32>,
    /// `source` or `sink`.
    pub kind: &'static str,
}

/// A connector config as a flat map of keys to values.
pub type ConfigMap = BTreeMap<String, String>;

/// Kafka Connect's rule for connector names: not empty, no surrounding whitespace, no control characters.
fn check_name(name: &str) -> Result<(), WorkerError> {
    if name.trim().is_empty() {
        return Err(WorkerError::BadRequest(
            "Connector name cannot be empty".into(),
        ));
    }
    if name.trim() != name || name.chars().any(char::is_control) {
        return Err(WorkerError::BadRequest(format!(
            "Connector name {name:?} may not have leading or trailing whitespace or control characters"
        )));
    }
    Ok(())
}

impl Worker {
    fn connector(&self, name: &str) -> Result<&super::Connector, WorkerError> {
        self.connectors
            .get(name)
            .ok_or_else(|| WorkerError::UnknownConnector(name.to_owned()))
    }

    pub fn connector_info(&self, name: &str) -> Result<ConnectorInfo, WorkerError> {
        let connector = self.connector(name)?;
        Ok(ConnectorInfo {
            name: name.to_owned(),
            config: connector.spec.masked_connector_config(),
            tasks: (0..connector.shown_task_count()).collect(),
            kind: super::connector_type(&connector.spec),
        })
    }

    /// The config as submitted, secrets hidden.
    pub fn connector_config(&self, name: &str) -> Result<BTreeMap<String, String>, WorkerError> {
        Ok(self.connector(name)?.spec.masked_connector_config())
    }

    pub fn connector_status(&self, name: &str) -> Result<ConnectorStatus, WorkerError> {
        self.statuses()
            .remove(name)
            .ok_or_else(|| WorkerError::UnknownConnector(name.to_owned()))
    }

    pub fn task_status(&self, name: &str, task: u32) -> Result<TaskStatus, WorkerError> {
        self.connector_status(name)?
            .tasks
            .remove(&task)
            .ok_or_else(|| WorkerError::UnknownTask(name.to_owned(), task))
    }

    /// Each task's config: the connector's, with the task's id (tasks of one connector differ only in it);
    /// none while the connector is stopped.
    pub fn task_configs(&self, name: &str) -> Result<Vec<(u32, ConfigMap)>, WorkerError> {
        let connector = self.connector(name)?;
        let config = connector.spec.masked_connector_config();
        Ok((0..connector.shown_task_count())
            .map(|task| {
                let mut config = config.clone();
                config.insert("task.id".into(), task.to_string());
                (task, config)
            })
            .collect())
    }

    fn validate(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<PipelineConfig, WorkerError> {
        check_name(name)?;
        if let Some(named) = config.get("name").filter(|n| n.as_str() != name) {
            return Err(WorkerError::BadRequest(format!(
                "Connector name configuration ({named}) doesn't match connector name in the URL ({name})"
            )));
        }
        let source = "REST request";
        parse_connector(name, config, &self.defaults, source, &Registry)
            .map_err(WorkerError::InvalidConfig)
    }

    /// Validates `config` and runs it as `name` (replacing a connector of that name, which keeps its target
    /// state), storing it first so it survives a restart.
    fn apply_config(
        &mut self,
        name: &str,
        config: &BTreeMap<String, String>,
        target: TargetState,
    ) -> Result<ConnectorInfo, WorkerError> {
        let spec = self.validate(name, config)?;
        self.configs.put(
            name,
            &StoredConnector {
                config: Some(spec.connector_config.clone()),
                target,
            },
        )?;
        // Kafka Connect's leader writes each task's config after the connector's; a pipewright task runs
        // from the connector's config and its index, so each task's is the connector's.
        let tasks = vec![spec.connector_config.clone(); spec.tasks.max(1) as usize];
        self.configs.put_task_configs(name, &tasks)?;
        tracing::info!(
            connector = name,
            target = target.as_str(),
            "connector configured"
        );
        self.put_connector(spec, target);
        self.connector_info(name)
    }

    /// Every problem of `config` as connector `name` (`PUT /connector-plugins/{type}/config/validate`); nothing
    /// runs or is stored.
    pub fn validate_connector_config(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Vec<crate::config::Problem> {
        match self.validate(name, config) {
            Ok(_) => Vec::new(),
            Err(WorkerError::InvalidConfig(errors)) => errors.problems,
            Err(other) => vec![crate::config::Problem {
                location: crate::config::Location::new(&std::sync::Arc::from("request"), 0),
                pipeline: Some(name.to_owned()),
                key: Some("name".into()),
                message: other.to_string(),
            }],
        }
    }

    /// `POST /connectors`: a new connector, in `initial` state (KIP-980).
    pub fn create_connector(
        &mut self,
        name: &str,
        config: &BTreeMap<String, String>,
        initial: TargetState,
    ) -> Result<ConnectorInfo, WorkerError> {
        if self.connectors.contains_key(name) {
            return Err(WorkerError::AlreadyExists(name.to_owned()));
        }
        self.apply_config(name, config, initial)
    }

    /// `PUT /connectors/{name}/config`: creates or replaces; `true` when it created.
    pub fn put_connector_config(
        &mut self,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(bool, ConnectorInfo), WorkerError> {
        let (created, target) = match self.connectors.get(name) {
            Some(existing) => (false, existing.target),
            None => (true, TargetState::Running),
        };
        Ok((created, self.apply_config(name, config, target)?))
    }

    /// `PATCH /connectors/{name}/config` (KIP-477): keys given are set, keys given as null removed.
    pub fn patch_connector_config(
        &mut self,
        name: &str,
        patch: &BTreeMap<String, Option<String>>,
    ) -> Result<ConnectorInfo, WorkerError> {
        let existing = self.connector(name)?;
        let target = existing.target;
        let mut config = existing.spec.connector_config.clone();
        for (key, value) in patch {
            match value {
                Some(value) => config.insert(key.clone(), value.clone()),
                None => config.remove(key),
            };
        }
        self.apply_config(name, &config, target)
    }

    /// `DELETE /connectors/{name}`.
    pub fn delete_connector(&mut self, name: &str) -> Result<(), WorkerError> {
        self.remove_connector(name)?;
        tracing::info!(connector = name, "connector deleted");
        Ok(())
    }

    /// `POST /connectors/{name}/tasks/{task}/restart`: the task stops (committing) and starts again. A stopped
    /// connector has no tasks to restart.
    pub fn restart_task(&mut self, name: &str, task: u32) -> Result<(), WorkerError> {
        let connector = self.connector(name)?;
        if task >= connector.shown_task_count() {
            return Err(WorkerError::UnknownTask(name.to_owned(), task));
        }
        let key = TaskKey::new(name, task);
        if !self.is_assigned(&key) {
            let owner = self
                .statuses
                .get(&key)
                .filter(|s| s.state != "UNASSIGNED")
                .map(|s| s.worker_id)
                .filter(|w| !w.is_empty() && *w != self.worker_id);
            return match owner {
                Some(owner) => Err(WorkerError::RunsElsewhere {
                    owner_url: self.rest_url_of(&owner),
                }),
                None => Err(WorkerError::BadRequest(format!(
                    "task {task} of connector {name} runs on no worker now (the cluster is rebalancing, or \
                     the connector is stopped): try again"
                ))),
            };
        }
        let spec = self.task_spec(name, task)?;
        self.runner.start_task(spec);
        if self.connector(name)?.target == TargetState::Paused {
            self.runner.pause_task(&key);
        }
        self.running.insert(key);
        Ok(())
    }

    /// `POST /connectors/{name}/restart` (KIP-745). pipewright has no connector instance apart from its
    /// tasks, so restarting "the connector" alone restarts nothing; with `include_tasks` its tasks restart
    /// (only the failed ones with `only_failed`). Returns the status with the restarted tasks `RESTARTING`.
    pub fn restart_connector(
        &mut self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<ConnectorStatus, WorkerError> {
        let mut status = self.connector_status(name)?;
        if !include_tasks {
            return Ok(status);
        }
        if self.assigned.is_some() {
            // Distributed mode: the tasks run on several workers; each restarts its own when it reads the
            // request from the config topic (KIP-745).
            self.configs
                .put_restart_request(name, include_tasks, only_failed)?;
            for task in status.tasks.values_mut() {
                if !only_failed || task.state == "FAILED" {
                    task.state = "RESTARTING";
                    task.trace = None;
                }
            }
            return Ok(status);
        }
        let chosen: Vec<u32> = status
            .tasks
            .iter()
            .filter(|(_, t)| !only_failed || t.state == "FAILED")
            .map(|(id, _)| *id)
            .collect();
        for task in chosen {
            self.restart_task(name, task)?;
            if let Some(t) = status.tasks.get_mut(&task) {
                t.state = "RESTARTING";
                t.trace = None;
            }
        }
        Ok(status)
    }

    /// `PUT /connectors/{name}/pause`, `/resume`, `/stop`.
    pub fn change_target_state(
        &mut self,
        name: &str,
        target: TargetState,
    ) -> Result<(), WorkerError> {
        self.set_target_state(name, target)?;
        tracing::info!(
            connector = name,
            target = target.as_str(),
            "connector target state changed"
        );
        Ok(())
    }

    /// `GET|PATCH|DELETE /connectors/{name}/offsets` (KIP-875): reading works in any state; altering and
    /// resetting only on a stopped connector, whose tasks are not running to overwrite what is written. The
    /// work on positions kept in Kafka is handed back to be finished off the control thread.
    pub fn connector_offsets(
        &mut self,
        name: &str,
        request: OffsetsRequest,
    ) -> Result<OffsetsWork, WorkerError> {
        let connector = self.connector(name)?;
        if matches!(&request, OffsetsRequest::Alter(offsets) if offsets.is_empty()) {
            return Err(WorkerError::BadRequest(
                "Partitions / offsets need to be provided for an alter offsets request".into(),
            ));
        }
        if request != OffsetsRequest::Read && connector.target != TargetState::Stopped {
            return Err(WorkerError::BadRequest(format!(
                "Connectors must be in the STOPPED state before their offsets can be modified. This can be done \
                 for the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
            )));
        }
        let spec = &connector.spec;
        let tasks = connector.task_count();
        let form = match &spec.run.source {
            SourceConfig::Kafka(source) => {
                let group = source
                    .consumer
                    .group_id
                    .clone()
                    .unwrap_or_else(|| format!("connect-{name}"));
                let change = match &request {
                    OffsetsRequest::Read => GroupChange::Read,
                    OffsetsRequest::Alter(offsets) => GroupChange::Alter(
                        offsets
                            .iter()
                            .map(parse_group_offset)
                            .collect::<Result<_, _>>()?,
                    ),
                    OffsetsRequest::Reset => GroupChange::Reset,
                };
                // Each task is a static member under the instance id plus its index (see KafkaSource::open).
                let static_members = source
                    .consumer
                    .group_instance_id
                    .iter()
                    .flat_map(|base| (0..tasks).map(move |task| format!("{base}-{task}")))
                    .collect();
                return Ok(OffsetsWork::Kafka(Box::new(KafkaOffsetsJob {
                    connector: name.to_owned(),
                    place: KafkaOffsets::Group {
                        group,
                        client: source.consumer.common.clone(),
                        change,
                        static_members,
                    },
                })));
            }
            other => PositionForm::of(other).ok_or_else(|| {
                WorkerError::BadRequest(format!("connector {name} keeps no offsets"))
            })?,
        };
        if spec.delivery != Delivery::ExactlyOnce {
            return Ok(OffsetsWork::Done(store_request(
                self.positions.as_ref(),
                name,
                tasks,
                &form,
                &request,
            )?));
        }
        // Exactly-once: the positions committed with the records, in the offsets topic.
        let (writes, answer) = match &request {
            OffsetsRequest::Read => (None, ""),
            OffsetsRequest::Alter(offsets) => {
                let mut changes: BTreeMap<u32, Option<crate::connect::record::SourcePosition>> =
                    BTreeMap::new();
                for offset in offsets {
                    let (task, position) = form.parse(tasks, offset)?;
                    changes.insert(task, position);
                }
                (Some(changes.into_iter().collect()), ALTERED)
            }
            OffsetsRequest::Reset => (Some((0..tasks).map(|task| (task, None)).collect()), RESET),
        };
        Ok(OffsetsWork::Kafka(Box::new(KafkaOffsetsJob {
            connector: name.to_owned(),
            place: KafkaOffsets::OffsetsTopic {
                consumer: Box::new(spec.run.consumer.clone()),
                producer: Box::new(spec.run.producer.clone()),
                tasks,
                form,
                writes,
                answer,
            },
        })))
    }

    /// `GET /connectors/{name}/topics` (KIP-558): the topics its tasks consumed (a pipeline reading Kafka) or
    /// wrote to (one writing Kafka) since it was configured or the set was last reset.
    pub fn connector_active_topics(&self, name: &str) -> Result<BTreeSet<String>, WorkerError> {
        Ok(self
            .connector(name)?
            .metrics
            .iter()
            .flat_map(|m| m.active_topics.topics())
            .collect())
    }

    /// `PUT /connectors/{name}/topics/reset`: forgets them; its tasks report each again as they use it.
    pub fn reset_connector_active_topics(&mut self, name: &str) -> Result<(), WorkerError> {
        for metrics in &self.connector(name)?.metrics {
            metrics.active_topics.reset();
        }
        tracing::info!(connector = name, "active topics reset");
        Ok(())
    }
}
