//! A connector's offsets as Kafka Connect's REST API reads and changes them (KIP-875): where they are kept,
//! their JSON form, and the Kafka operations that read or change the ones kept in Kafka.
//!
//! - A pipeline reading Kafka (Kafka Connect's sink connector): its consumer group's committed offsets,
//!   `{"kafka_topic": t, "kafka_partition": p}` → `{"kafka_offset": o}`. Altering commits offsets from outside
//!   the group (or deletes them for a null offset); resetting deletes the group, as Kafka Connect does.
//! - Any other source (Kafka Connect's source connector): the positions the worker's [`PositionStore`] keeps
//!   per task, or with exactly-once delivery the offsets topic's record of each task. Their form follows the
//!   connector Kafka users know: FileStreamSource's `{"filename": path}` → `{"position": bytes}`; datagen's
//!   (Confluent's kafka-connect-datagen) `{"task.id": n}` → `{"current.iteration": records}`; the stdin source
//!   has no Kafka counterpart that tracks offsets (FileStreamSource on stdin keeps none), so it takes datagen's
//!   per-task form with `{"lines": count}` — the count its positions continue from (stdin is not rewound).
//!
//! Operations on Kafka run on a thread of their own with its own single-threaded runtime, so the control
//! thread keeps answering while they wait for the broker.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::WorkerError;
use crate::client::admin::{
    AdminError, AlterOffsets, DeleteGroup, DeleteOffsets, DescribeCluster, DescribeGroup,
    FetchOffsets, RemoveStaticMembers,
};
use crate::client::config::{CommonConfig, ConsumerConfig, ProducerConfig};
use crate::client::errors::ResponseError;
use crate::client::producer::{RecordRef, TIMESTAMP_ON_SEND};
use crate::connect::connectors::SourceConfig;
use crate::connect::record::SourcePosition;
use crate::engine::offsets_topic;
use crate::engine::positions::{PositionStore, TaskKey};
use crate::protocol::TopicPartition;
use crate::runtime::{Admin, Producer};

/// The answer to an alter (PATCH), as Kafka Connect words it.
pub const ALTERED: &str = "The offsets for this connector have been altered successfully";
/// The answer to a reset (DELETE), as Kafka Connect words it.
pub const RESET: &str = "The offsets for this connector have been reset successfully";
/// The longest a read or change of offsets kept in Kafka may take (the REST request itself times out later).
const KAFKA_TIMEOUT: Duration = Duration::from_secs(25);

/// A JSON object of a partition or an offset.
pub type OffsetMap = Map<String, Value>;

/// One source partition (or Kafka topic partition) and its offset; `None` in an alter request removes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorOffset {
    pub partition: OffsetMap,
    pub offset: Option<OffsetMap>,
}

/// What a request asks of a connector's offsets.
#[derive(Debug, Clone, PartialEq)]
pub enum OffsetsRequest {
    Read,
    Alter(Vec<ConnectorOffset>),
    Reset,
}

/// What an offsets request answers.
#[derive(Debug, Clone, PartialEq)]
pub enum OffsetsAnswer {
    Offsets(Vec<ConnectorOffset>),
    Message(&'static str),
}

/// An offsets request the worker took: done already, or waiting for Kafka.
pub enum OffsetsWork {
    Done(OffsetsAnswer),
    /// Boxed: the clients' settings are many times the size of an answer.
    Kafka(Box<KafkaOffsetsJob>),
}

impl OffsetsWork {
    /// The answer, once the work on Kafka (if any) is done; the caller's runtime is not blocked meanwhile.
    pub async fn finish(self) -> Result<OffsetsAnswer, WorkerError> {
        match self {
            OffsetsWork::Done(answer) => Ok(answer),
            OffsetsWork::Kafka(job) => job.run().await,
        }
    }
}

/// How a connector's source positions read as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PositionForm {
    /// FileStreamSource: one partition, the file.
    File { path: String },
    /// One partition per task, `{"task.id": n}`, its offset under `key`.
    PerTask { key: &'static str },
}

impl PositionForm {
    pub(super) fn of(source: &SourceConfig) -> Option<PositionForm> {
        match source {
            SourceConfig::Kafka(_) => None,
            SourceConfig::File(c) => Some(PositionForm::File {
                path: c.file.display().to_string(),
            }),
            SourceConfig::Datagen(_) => Some(PositionForm::PerTask {
                key: "current.iteration",
            }),
            SourceConfig::Stdin(_) => Some(PositionForm::PerTask { key: "lines" }),
            // Per-table positions in the source's own form; not shown through REST yet.
            SourceConfig::Jdbc(_) => None,
        }
    }

    /// Task `task`'s stored positions as Kafka Connect shows them.
    pub(super) fn offsets(&self, task: u32, positions: &[SourcePosition]) -> Vec<ConnectorOffset> {
        positions
            .iter()
            .filter_map(|position| {
                let at = match position {
                    SourcePosition::Offset(n) => *n,
                    SourcePosition::FileOffset { offset, .. } => i64::try_from(*offset).ok()?,
                    SourcePosition::KafkaOffset { .. } | SourcePosition::Opaque(_) => return None,
                };
                Some(match self {
                    PositionForm::File { path } => ConnectorOffset {
                        partition: object(json!({"filename": path})),
                        offset: Some(object(json!({"position": at}))),
                    },
                    PositionForm::PerTask { key } => ConnectorOffset {
                        partition: object(json!({"task.id": task})),
                        offset: Some(object(json!({ *key: at }))),
                    },
                })
            })
            .collect()
    }

    /// The task an offset of an alter request is for, and the position to store (`None`: none). Problems are
    /// worded as Kafka Connect's FileStreamSource words them.
    pub(super) fn parse(
        &self,
        tasks: u32,
        offset: &ConnectorOffset,
    ) -> Result<(u32, Option<SourcePosition>), WorkerError> {
        let bad = |m: String| Err(WorkerError::BadRequest(m));
        let task = match self {
            PositionForm::File { path } => match offset.partition.get("filename") {
                None => return bad("Partition objects should contain the key 'filename'".into()),
                Some(Value::String(named)) if named == path => 0,
                Some(other) => {
                    return bad(format!(
                        "This connector reads {path:?} and keeps offsets for that file only, not for {other}"
                    ))
                }
            },
            PositionForm::PerTask { .. } => match offset.partition.get("task.id") {
                None => return bad("Partition objects should contain the key 'task.id'".into()),
                Some(value) => match integer(value) {
                    Some(task) if (0..i64::from(tasks)).contains(&task) => task as u32,
                    _ => {
                        return bad(format!(
                            "The value for the 'task.id' key in the partition must be a task of this connector \
                             (0 to {}), not {value}",
                            tasks.saturating_sub(1)
                        ))
                    }
                },
            },
        };
        let key = match self {
            PositionForm::File { .. } => "position",
            PositionForm::PerTask { key } => key,
        };
        let Some(object) = &offset.offset else {
            return Ok((task, None));
        };
        let Some(value) = object.get(key) else {
            return bad(format!(
                "Offset objects should either be null or contain the key '{key}'"
            ));
        };
        match value.as_i64() {
            Some(n) if n >= 0 => Ok((task, Some(SourcePosition::Offset(n)))),
            Some(_) => bad(format!(
                "The value for the '{key}' key in the offset should be a non-negative value"
            )),
            None => bad(format!(
                "The value for the '{key}' key in the offset is expected to be a Long value"
            )),
        }
    }
}

/// A number, or a string of one (Kafka Connect takes both for partitions and offsets).
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn object(value: Value) -> OffsetMap {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Reads or changes a non-Kafka source's positions in the worker's store (synchronous: a local file).
pub(super) fn store_request(
    store: &dyn PositionStore,
    connector: &str,
    tasks: u32,
    form: &PositionForm,
    request: &OffsetsRequest,
) -> Result<OffsetsAnswer, WorkerError> {
    let failed = |e: crate::engine::positions::PositionStoreError| {
        WorkerError::Store(super::store::StoreError(e.to_string()))
    };
    match request {
        OffsetsRequest::Read => {
            let mut offsets = Vec::new();
            for task in 0..tasks {
                let positions = store.load(&TaskKey::new(connector, task)).map_err(failed)?;
                offsets.extend(form.offsets(task, &positions));
            }
            Ok(OffsetsAnswer::Offsets(offsets))
        }
        OffsetsRequest::Alter(offsets) => {
            // Every offset is checked before any is stored: a bad one changes nothing.
            let mut changes: BTreeMap<u32, Option<SourcePosition>> = BTreeMap::new();
            for offset in offsets {
                let (task, position) = form.parse(tasks, offset)?;
                changes.insert(task, position);
            }
            for (task, position) in changes {
                let positions: Vec<SourcePosition> = position.into_iter().collect();
                store
                    .store(&TaskKey::new(connector, task), &positions)
                    .map_err(failed)?;
            }
            Ok(OffsetsAnswer::Message(ALTERED))
        }
        OffsetsRequest::Reset => {
            for task in 0..tasks {
                store
                    .store(&TaskKey::new(connector, task), &[])
                    .map_err(failed)?;
            }
            Ok(OffsetsAnswer::Message(RESET))
        }
    }
}

/// The offsets a pipeline reading Kafka has in its consumer group, or an exactly-once source's in the offsets
/// topic: the work to do there.
pub struct KafkaOffsetsJob {
    pub(super) connector: String,
    pub(super) place: KafkaOffsets,
}

/// Where in Kafka, and what to do there.
pub(super) enum KafkaOffsets {
    Group {
        group: String,
        client: CommonConfig,
        change: GroupChange,
        /// The `group.instance.id`s of the connector's tasks: static members stay in the group after they
        /// closed, so they are removed before its offsets change (their tasks are stopped).
        static_members: Vec<String>,
    },
    /// Boxed settings: the variant would otherwise be several times the other's size.
    OffsetsTopic {
        consumer: Box<ConsumerConfig>,
        producer: Box<ProducerConfig>,
        tasks: u32,
        form: PositionForm,
        /// `None`: read them.
        writes: Option<Vec<(u32, Option<SourcePosition>)>>,
        answer: &'static str,
    },
}

/// What to do to a consumer group's offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum GroupChange {
    Read,
    /// Per partition, the next offset to read, or `None` to forget it.
    Alter(Vec<(TopicPartition, Option<i64>)>),
    Reset,
}

/// A sink connector's offset in an alter request, checked as Kafka Connect's `SinkUtils` checks it.
pub(super) fn parse_group_offset(
    offset: &ConnectorOffset,
) -> Result<(TopicPartition, Option<i64>), WorkerError> {
    let bad = |m: String| Err(WorkerError::BadRequest(m));
    let partition = &offset.partition;
    let (Some(topic), Some(index)) = (
        partition.get("kafka_topic"),
        partition.get("kafka_partition"),
    ) else {
        return bad(
            "The partition for a sink connector offset must contain the keys 'kafka_topic' and 'kafka_partition'"
                .into(),
        );
    };
    let topic = match topic {
        Value::String(topic) if !topic.is_empty() => topic.clone(),
        Value::Null => {
            return bad("Kafka topic names must be valid strings and may not be null".into())
        }
        other => {
            return bad(format!(
                "Kafka topic names must be valid strings, not {other}"
            ))
        }
    };
    let Some(index) = integer(index).and_then(|p| i32::try_from(p).ok()) else {
        return bad(format!(
            "Failed to parse the following Kafka partition value in the provided offsets: '{index}'. Partition \
             values for sink connectors need to be integers."
        ));
    };
    let tp = TopicPartition::new(topic.as_str(), index);
    let Some(object) = &offset.offset else {
        return Ok((tp, None));
    };
    let Some(value) = object.get("kafka_offset") else {
        return bad(
            "The offset for a sink connector should either be null or contain the key 'kafka_offset'".into(),
        );
    };
    match integer(value) {
        Some(o) if o >= 0 => Ok((tp, Some(o))),
        _ => bad(format!(
            "Failed to parse the following Kafka offset value in the provided offsets: '{value}'. Offset values \
             for sink connectors need to be non-negative integers."
        )),
    }
}

impl KafkaOffsetsJob {
    /// Runs the job on a thread of its own and waits for it without blocking the caller's runtime.
    pub async fn run(self) -> Result<OffsetsAnswer, WorkerError> {
        let name = self.connector.clone();
        let job = move || async move {
            match tokio::time::timeout(KAFKA_TIMEOUT, self.run_here()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(WorkerError::Kafka(format!(
                    "Timed out after {KAFKA_TIMEOUT:?} while reading or changing the offsets of connector {}",
                    self.connector
                ))),
            }
        };
        let answer = crate::runtime::backend::spawn_on_own_thread("pipewright-offsets", job)
            .map_err(|e| {
                WorkerError::Kafka(format!(
                    "could not start a thread for the offsets request of connector {name}: {e}"
                ))
            })?;
        match answer.await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => Err(WorkerError::Kafka(format!(
                "could not start a runtime for the offsets request of connector {name}: {e}"
            ))),
            Err(_) => Err(WorkerError::Kafka(format!(
                "the offsets request of connector {name} ended without an answer"
            ))),
        }
    }

    async fn run_here(&self) -> Result<OffsetsAnswer, WorkerError> {
        match &self.place {
            KafkaOffsets::Group {
                group,
                client,
                change,
                static_members,
            } => {
                let admin = Admin::new(client.clone());
                if *change != GroupChange::Read && !static_members.is_empty() {
                    remove_static_members(&admin, group, static_members).await;
                }
                let outcome = group_request(&admin, &self.connector, group, change).await;
                admin.close().await;
                outcome
            }
            KafkaOffsets::OffsetsTopic {
                consumer,
                producer,
                tasks,
                form,
                writes,
                answer,
            } => match writes {
                None => {
                    let mut offsets = Vec::new();
                    for task in 0..*tasks {
                        let key = offsets_topic::position_key(&self.connector, task);
                        let positions = offsets_topic::read_positions(
                            ConsumerConfig::clone(consumer),
                            offsets_topic::DEFAULT_OFFSETS_TOPIC,
                            &key,
                            KAFKA_TIMEOUT,
                        )
                        .await
                        .map_err(|e| WorkerError::Kafka(e.to_string()))?;
                        offsets.extend(form.offsets(task, &positions));
                    }
                    Ok(OffsetsAnswer::Offsets(offsets))
                }
                Some(writes) => {
                    write_positions(&self.connector, producer, writes).await?;
                    Ok(OffsetsAnswer::Message(answer))
                }
            },
        }
    }
}

/// Writes each task's new positions to the offsets topic under its key (a tombstone for none): what the task
/// reads back when it starts.
async fn write_positions(
    connector: &str,
    producer: &ProducerConfig,
    writes: &[(u32, Option<SourcePosition>)],
) -> Result<(), WorkerError> {
    let mut config = producer.clone();
    // Outside any transaction: a read_committed reader sees records written without one.
    config.transactional_id = None;
    let producer = Producer::new(config);
    let topic = offsets_topic::DEFAULT_OFFSETS_TOPIC;
    let mut outcome = Ok(());
    for (task, position) in writes {
        let key = offsets_topic::position_key(connector, *task);
        let value = position
            .as_ref()
            .map(|p| offsets_topic::position_value(std::slice::from_ref(p)));
        let record = RecordRef {
            topic,
            partition: None,
            key: Some(key.as_bytes()),
            value: value.as_deref().map(str::as_bytes),
            headers: &[],
            timestamp_ms: TIMESTAMP_ON_SEND,
        };
        if let Err(e) = producer.send_counted(record).await {
            outcome = Err(WorkerError::Kafka(format!(
                "Failed to modify offsets for source connector {connector}: offsets topic {topic}: {e}"
            )));
            break;
        }
    }
    let stats = producer.flush().await;
    producer.close().await;
    outcome?;
    if stats.failed > 0 {
        let error = stats.first_error.map(|e| e.to_string()).unwrap_or_default();
        return Err(WorkerError::Kafka(format!(
            "Failed to modify offsets for source connector {connector}: offsets topic {topic}: {error}"
        )));
    }
    Ok(())
}

/// Removes the stopped tasks' static memberships, so the group is empty and takes offsets from outside. What
/// fails here (a member that was none, a broker without KIP-345) shows in the change that follows, if at all.
async fn remove_static_members(admin: &Admin, group: &str, ids: &[String]) {
    // The member ids the coordinator knows them by, where it still has them.
    let described = admin
        .run(DescribeGroup {
            group: group.to_owned(),
        })
        .await;
    let members: Vec<(String, String)> = ids
        .iter()
        .map(|id| {
            let member_id = described
                .as_ref()
                .ok()
                .and_then(|d| {
                    d.members
                        .iter()
                        .find(|m| m.group_instance_id.as_deref() == Some(id.as_str()))
                })
                .map(|m| m.member_id.clone())
                .unwrap_or_default();
            (id.clone(), member_id)
        })
        .collect();
    let removed = admin
        .run(RemoveStaticMembers {
            group: group.to_owned(),
            members,
        })
        .await;
    match removed {
        Ok(outcomes) => {
            for (id, outcome) in outcomes {
                match outcome {
                    Ok(()) => {
                        tracing::info!(group, member = %id, "stopped task's static membership removed")
                    }
                    Err(e) => {
                        tracing::debug!(group, member = %id, error = %e, "static member not removed")
                    }
                }
            }
        }
        Err(e) => tracing::debug!(group, error = %e, "static members not removed"),
    }
}

/// Kafka Connect's message when the group still has members (tasks not stopped yet, or resumed meanwhile).
fn zombie_message(what: &str, connector: &str) -> String {
    format!(
        "Failed to {what} consumer group offsets for connector {connector} either because its tasks haven't stopped \
         completely yet or the connector was resumed before the request to {what} its offsets could be successfully \
         completed. If the connector is in a stopped state, this operation can be safely retried."
    )
}

fn group_failure(what: &str, connector: &str, error: &AdminError) -> WorkerError {
    match error.response_error() {
        Some(
            ResponseError::UnknownMemberId
            | ResponseError::GroupSubscribedToTopic
            | ResponseError::NonEmptyGroup
            | ResponseError::IllegalGeneration,
        ) => WorkerError::Kafka(format!("{}: {error}", zombie_message(what, connector))),
        _ => WorkerError::Kafka(format!(
            "Failed to {what} consumer group offsets for connector {connector}: {error}"
        )),
    }
}

async fn group_request(
    admin: &Admin,
    connector: &str,
    group: &str,
    change: &GroupChange,
) -> Result<OffsetsAnswer, WorkerError> {
    match change {
        GroupChange::Read => {
            // Every partition of every topic: the group may have committed for topics it no longer reads.
            let cluster = admin
                .run(DescribeCluster { topics: None })
                .await
                .map_err(|e| group_failure("read", connector, &e))?;
            let partitions = cluster.partitions();
            let committed = admin
                .run(FetchOffsets {
                    group: group.to_owned(),
                    partitions,
                })
                .await
                .map_err(|e| group_failure("read", connector, &e))?;
            Ok(OffsetsAnswer::Offsets(
                committed
                    .into_iter()
                    .map(|(tp, offset)| ConnectorOffset {
                        partition: object(
                            json!({"kafka_topic": tp.topic, "kafka_partition": tp.partition}),
                        ),
                        offset: Some(object(json!({ "kafka_offset": offset }))),
                    })
                    .collect(),
            ))
        }
        GroupChange::Alter(offsets) => {
            let set: Vec<(TopicPartition, i64)> = offsets
                .iter()
                .filter_map(|(tp, o)| o.map(|o| (tp.clone(), o)))
                .collect();
            let removed: Vec<TopicPartition> = offsets
                .iter()
                .filter(|(_, o)| o.is_none())
                .map(|(tp, _)| tp.clone())
                .collect();
            let mut outcomes = Vec::new();
            if !set.is_empty() {
                outcomes.extend(
                    admin
                        .run(AlterOffsets {
                            group: group.to_owned(),
                            offsets: set,
                        })
                        .await
                        .map_err(|e| group_failure("alter", connector, &e))?,
                );
            }
            if !removed.is_empty() {
                outcomes.extend(
                    admin
                        .run(DeleteOffsets {
                            group: group.to_owned(),
                            partitions: removed,
                        })
                        .await
                        .map_err(|e| group_failure("alter", connector, &e))?,
                );
            }
            for (tp, outcome) in outcomes {
                if let Err(e) = outcome {
                    return Err(match group_failure("alter", connector, &e) {
                        WorkerError::Kafka(m) => WorkerError::Kafka(format!("{m} ({tp})")),
                        other => other,
                    });
                }
            }
            Ok(OffsetsAnswer::Message(ALTERED))
        }
        GroupChange::Reset => {
            match admin
                .run(DeleteGroup {
                    group: group.to_owned(),
                })
                .await
            {
                // Resetting twice is no error: the group is gone already.
                Ok(()) => Ok(OffsetsAnswer::Message(RESET)),
                Err(e) if e.response_error() == Some(ResponseError::GroupIdNotFound) => {
                    Ok(OffsetsAnswer::Message(RESET))
                }
                Err(e) => Err(group_failure("reset", connector, &e)),
            }
        }
    }
}
