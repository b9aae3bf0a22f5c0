//! The records of Kafka Connect's three internal topics, byte for byte as a Kafka Connect worker writes them
//! (`KafkaConfigBackingStore`, `KafkaStatusBackingStore`, `OffsetStorageWriter`, each through the internal
//! `JsonConverter` with `schemas.enable=false`: compact JSON, struct fields in schema order), so the topics of an
//! existing Kafka Connect cluster can be taken over and read with the usual tools.
//!
//! Pure functions: keys and values in, typed records out, and back. Maps (connector and task properties) are
//! written in key order; Java writes a `HashMap`'s order, which no reader depends on.
//!
//! Must not: touch a topic, a clock or the worker's state.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::engine::positions::TaskKey;
use crate::worker::status::TargetState;

pub const CONNECTOR_PREFIX: &str = "connector-";
pub const TARGET_STATE_PREFIX: &str = "target-state-";
pub const TASK_PREFIX: &str = "task-";
pub const COMMIT_TASKS_PREFIX: &str = "commit-";
/// KIP-618's task count records (exactly-once source fencing).
pub const TASK_COUNT_PREFIX: &str = "tasks-fencing-";
pub const RESTART_PREFIX: &str = "restart-connector-";
/// KIP-976's cluster-wide logger levels.
pub const LOGGER_CLUSTER_PREFIX: &str = "logger-cluster-";
pub const SESSION_KEY_KEY: &str = "session-key";

pub const CONNECTOR_STATUS_PREFIX: &str = "status-connector-";
pub const TASK_STATUS_PREFIX: &str = "status-task-";
pub const TOPIC_STATUS_PREFIX: &str = "status-topic-";
/// Between the topic and the connector in a topic status key.
pub const TOPIC_STATUS_SEPARATOR: &str = ":connector-";

/// A record of an internal topic that cannot be read; says which key and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {key:?}: {cause}")]
pub struct RecordError {
    /// The record's key, lossily as text.
    pub key: String,
    pub cause: String,
}

fn bad(key: &[u8], cause: impl Into<String>) -> RecordError {
    RecordError {
        key: String::from_utf8_lossy(key).into_owned(),
        cause: cause.into(),
    }
}

/// Kafka Connect's session key (KIP-507), with which workers sign the requests they forward to each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    /// Base64, as stored.
    pub key: String,
    pub algorithm: String,
    pub creation_timestamp_ms: i64,
}

/// A record of the config topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigRecord {
    /// `connector-NAME`: its properties; `None` for the tombstone that deletes it.
    Connector {
        name: String,
        config: Option<BTreeMap<String, String>>,
    },
    /// `target-state-NAME`; `None` for a tombstone (written with a connector's deletion).
    TargetState {
        name: String,
        state: Option<TargetState>,
    },
    /// `task-NAME-N`: one task's properties, applied only by the commit record that follows.
    Task {
        task: TaskKey,
        config: BTreeMap<String, String>,
    },
    /// `commit-NAME`: the connector's task configs read since the last commit are its `tasks` tasks.
    Commit { connector: String, tasks: u32 },
    /// `tasks-fencing-NAME` (KIP-618).
    TaskCount { connector: String, tasks: u32 },
    /// `restart-connector-NAME` (KIP-745).
    Restart {
        connector: String,
        include_tasks: bool,
        only_failed: bool,
    },
    /// `logger-cluster-NAMESPACE` (KIP-976).
    LoggerLevel { namespace: String, level: String },
    /// `session-key`.
    SessionKey(SessionKey),
}

/// `{"properties":{...}}`: a connector's or a task's config.
pub fn properties_value(properties: &BTreeMap<String, String>) -> Vec<u8> {
    json_bytes(&json!({ "properties": properties }))
}

pub fn connector_key(name: &str) -> String {
    format!("{CONNECTOR_PREFIX}{name}")
}

pub fn target_state_key(name: &str) -> String {
    format!("{TARGET_STATE_PREFIX}{name}")
}

pub fn task_key(task: &TaskKey) -> String {
    format!("{TASK_PREFIX}{}-{}", task.connector, task.index)
}

pub fn commit_key(connector: &str) -> String {
    format!("{COMMIT_TASKS_PREFIX}{connector}")
}

/// Kafka Connect's name of a target state (`STARTED`, `PAUSED`, `STOPPED`; our `Running` is its `STARTED`).
fn connect_state_name(state: TargetState) -> &'static str {
    match state {
        TargetState::Running => "STARTED",
        TargetState::Paused => "PAUSED",
        TargetState::Stopped => "STOPPED",
    }
}

fn parse_connect_state(name: &str) -> Option<TargetState> {
    match name {
        "STARTED" => Some(TargetState::Running),
        "PAUSED" => Some(TargetState::Paused),
        "STOPPED" => Some(TargetState::Stopped),
        _ => None,
    }
}

/// `{"state":...,"state.v2":...}`. STOPPED goes in `state` as PAUSED: workers older than KIP-875 know only
/// `state`, and pausing is the nearest they can do.
pub fn target_state_value(state: TargetState) -> Vec<u8> {
    let old = match state {
        TargetState::Stopped => TargetState::Paused,
        other => other,
    };
    struct_bytes(&[
        ("state", json!(connect_state_name(old))),
        ("state.v2", json!(connect_state_name(state))),
    ])
}

/// `{"tasks":N}`.
pub fn commit_value(tasks: u32) -> Vec<u8> {
    json_bytes(&json!({ "tasks": tasks }))
}

/// Reads one record of the config topic. A key no Kafka Connect version writes is an error, as is a value
/// that is not what that key holds.
pub fn decode_config_record(key: &[u8], value: Option<&[u8]>) -> Result<ConfigRecord, RecordError> {
    let text = std::str::from_utf8(key).map_err(|_| bad(key, "the key is not UTF-8"))?;
    let value = value.map(|v| parse_object(key, v)).transpose()?;
    let need = |value: Option<Map<String, Value>>| {
        value.ok_or_else(|| bad(key, "the value is null, which this key never has"))
    };
    if let Some(name) = text.strip_prefix(TARGET_STATE_PREFIX) {
        let state = match value {
            None => None,
            Some(object) => {
                // `state.v2` where present (KIP-875); `state` from workers before it.
                let name = match object.get("state.v2") {
                    Some(Value::String(s)) => s.as_str(),
                    _ => match object.get("state") {
                        Some(Value::String(s)) => s.as_str(),
                        _ => return Err(bad(key, "neither 'state.v2' nor 'state' is a string")),
                    },
                };
                Some(
                    parse_connect_state(name)
                        .ok_or_else(|| bad(key, format!("unknown target state {name:?}")))?,
                )
            }
        };
        return Ok(ConfigRecord::TargetState {
            name: name.to_owned(),
            state,
        });
    }
    if let Some(name) = text.strip_prefix(CONNECTOR_PREFIX) {
        let config = value.map(|v| properties(key, &v)).transpose()?;
        return Ok(ConfigRecord::Connector {
            name: name.to_owned(),
            config,
        });
    }
    if let Some(rest) = text.strip_prefix(TASK_PREFIX) {
        let task = rest
            .rsplit_once('-')
            .and_then(|(connector, index)| Some(TaskKey::new(connector, index.parse().ok()?)))
            .filter(|task| !task.connector.is_empty())
            .ok_or_else(|| bad(key, "not of the form task-CONNECTOR-INDEX"))?;
        let config = properties(key, &need(value)?)?;
        return Ok(ConfigRecord::Task { task, config });
    }
    if let Some(connector) = text.strip_prefix(COMMIT_TASKS_PREFIX) {
        let tasks = count(key, &need(value)?, "tasks")?;
        return Ok(ConfigRecord::Commit {
            connector: connector.to_owned(),
            tasks,
        });
    }
    if let Some(connector) = text.strip_prefix(TASK_COUNT_PREFIX) {
        let tasks = count(key, &need(value)?, "task-count")?;
        return Ok(ConfigRecord::TaskCount {
            connector: connector.to_owned(),
            tasks,
        });
    }
    if let Some(connector) = text.strip_prefix(RESTART_PREFIX) {
        let object = need(value)?;
        // Kafka Connect reads a missing or malformed flag as false.
        let flag = |name: &str| object.get(name).and_then(Value::as_bool).unwrap_or(false);
        return Ok(ConfigRecord::Restart {
            connector: connector.to_owned(),
            include_tasks: flag("include-tasks"),
            only_failed: flag("only-failed"),
        });
    }
    if let Some(namespace) = text.strip_prefix(LOGGER_CLUSTER_PREFIX) {
        let object = need(value)?;
        let level = string_field(key, &object, "level")?;
        return Ok(ConfigRecord::LoggerLevel {
            namespace: namespace.to_owned(),
            level,
        });
    }
    if text == SESSION_KEY_KEY {
        let object = need(value)?;
        let creation_timestamp_ms = object
            .get("creation-timestamp")
            .and_then(Value::as_i64)
            .ok_or_else(|| bad(key, "'creation-timestamp' is not a number"))?;
        return Ok(ConfigRecord::SessionKey(SessionKey {
            key: string_field(key, &object, "key")?,
            algorithm: string_field(key, &object, "algorithm")?,
            creation_timestamp_ms,
        }));
    }
    Err(bad(key, "not a key of Kafka Connect's config topic"))
}

/// A connector's or task's status as the status topic holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusValue {
    /// `RUNNING`, `PAUSED`, `FAILED`, `UNASSIGNED`, `RESTARTING`, `STOPPED` or `DESTROYED`.
    pub state: &'static str,
    pub trace: Option<String>,
    /// The worker's REST address, `host:port`.
    pub worker_id: String,
    /// The group generation of the worker that wrote it.
    pub generation: i32,
}

/// One of the topics a connector used (KIP-558).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicStatusValue {
    pub topic: String,
    pub connector: String,
    pub task: u32,
    pub discover_timestamp_ms: i64,
}

/// A record of the status topic; `None` statuses are tombstones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusRecord {
    Connector {
        name: String,
        status: Option<StatusValue>,
    },
    Task {
        task: TaskKey,
        status: Option<StatusValue>,
    },
    Topic {
        topic: String,
        connector: String,
        status: Option<TopicStatusValue>,
    },
}

/// The states Kafka Connect writes (`AbstractStatus.State`).
const STATUS_STATES: [&str; 7] = [
    "UNASSIGNED",
    "RUNNING",
    "PAUSED",
    "FAILED",
    "DESTROYED",
    "RESTARTING",
    "STOPPED",
];

pub fn connector_status_key(name: &str) -> String {
    format!("{CONNECTOR_STATUS_PREFIX}{name}")
}

pub fn task_status_key(task: &TaskKey) -> String {
    format!("{TASK_STATUS_PREFIX}{}-{}", task.connector, task.index)
}

pub fn topic_status_key(topic: &str, connector: &str) -> String {
    format!("{TOPIC_STATUS_PREFIX}{topic}{TOPIC_STATUS_SEPARATOR}{connector}")
}

/// `{"state":...,"trace":...,"worker_id":...,"generation":N}`.
pub fn status_value(status: &StatusValue) -> Vec<u8> {
    struct_bytes(&[
        ("state", json!(status.state)),
        ("trace", json!(status.trace)),
        ("worker_id", json!(status.worker_id)),
        ("generation", json!(status.generation)),
    ])
}

/// `{"topic":{"name":...,"connector":...,"task":N,"discoverTimestamp":MS}}`.
pub fn topic_status_value(status: &TopicStatusValue) -> Vec<u8> {
    let inner = struct_bytes(&[
        ("name", json!(status.topic)),
        ("connector", json!(status.connector)),
        ("task", json!(status.task)),
        ("discoverTimestamp", json!(status.discover_timestamp_ms)),
    ]);
    let mut bytes = br#"{"topic":"#.to_vec();
    bytes.extend_from_slice(&inner);
    bytes.push(b'}');
    bytes
}

pub fn decode_status_record(key: &[u8], value: Option<&[u8]>) -> Result<StatusRecord, RecordError> {
    let text = std::str::from_utf8(key).map_err(|_| bad(key, "the key is not UTF-8"))?;
    let value = value.map(|v| parse_object(key, v)).transpose()?;
    if let Some(rest) = text.strip_prefix(TOPIC_STATUS_PREFIX) {
        let (topic, connector) = rest.split_once(TOPIC_STATUS_SEPARATOR).ok_or_else(|| {
            bad(
                key,
                "not of the form status-topic-TOPIC:connector-CONNECTOR",
            )
        })?;
        let status =
            value
                .map(|object| {
                    let Some(Value::Object(inner)) = object.get("topic") else {
                        return Err(bad(key, "'topic' is not an object"));
                    };
                    Ok(TopicStatusValue {
                        topic: string_field(key, inner, "name")?,
                        connector: string_field(key, inner, "connector")?,
                        task: count(key, inner, "task")?,
                        discover_timestamp_ms: inner
                            .get("discoverTimestamp")
                            .and_then(Value::as_i64)
                            .ok_or_else(|| bad(key, "'discoverTimestamp' is not a number"))?,
                    })
                })
                .transpose()?;
        return Ok(StatusRecord::Topic {
            topic: topic.to_owned(),
            connector: connector.to_owned(),
            status,
        });
    }
    let status = value.map(|object| status_of(key, &object)).transpose()?;
    if let Some(name) = text.strip_prefix(CONNECTOR_STATUS_PREFIX) {
        return Ok(StatusRecord::Connector {
            name: name.to_owned(),
            status,
        });
    }
    if let Some(rest) = text.strip_prefix(TASK_STATUS_PREFIX) {
        let task = rest
            .rsplit_once('-')
            .and_then(|(connector, index)| Some(TaskKey::new(connector, index.parse().ok()?)))
            .filter(|task| !task.connector.is_empty())
            .ok_or_else(|| bad(key, "not of the form status-task-CONNECTOR-INDEX"))?;
        return Ok(StatusRecord::Task { task, status });
    }
    Err(bad(key, "not a key of Kafka Connect's status topic"))
}

fn status_of(key: &[u8], object: &Map<String, Value>) -> Result<StatusValue, RecordError> {
    let state = string_field(key, object, "state")?;
    let state = STATUS_STATES
        .iter()
        .find(|s| **s == state)
        .ok_or_else(|| bad(key, format!("unknown state {state:?}")))?;
    let trace = match object.get("trace") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad(key, "'trace' is neither null nor a string")),
    };
    let generation = object
        .get("generation")
        .and_then(Value::as_i64)
        .and_then(|g| i32::try_from(g).ok())
        .ok_or_else(|| bad(key, "'generation' is not a 32-bit number"))?;
    Ok(StatusValue {
        state,
        trace,
        worker_id: string_field(key, object, "worker_id")?,
        generation,
    })
}

/// `["CONNECTOR",{partition}]`: the key a source partition's offset is kept under.
pub fn offset_key(connector: &str, partition: &Map<String, Value>) -> Vec<u8> {
    json_bytes(&json!([connector, partition]))
}

/// `{offset}`.
pub fn offset_value(offset: &Map<String, Value>) -> Vec<u8> {
    json_bytes(&Value::Object(offset.clone()))
}

/// An offsets topic record: the connector, its source partition and the offset (`None`: a tombstone).
#[derive(Debug, Clone, PartialEq)]
pub struct OffsetRecord {
    pub connector: String,
    pub partition: Map<String, Value>,
    pub offset: Option<Map<String, Value>>,
}

/// Reads an offsets topic record as Kafka Connect's `OffsetUtils` checks it: the key a two-element array of
/// the connector's name and a partition object, the value an object or null.
pub fn decode_offset_record(key: &[u8], value: Option<&[u8]>) -> Result<OffsetRecord, RecordError> {
    let parsed: Value =
        serde_json::from_slice(key).map_err(|e| bad(key, format!("the key is not JSON: {e}")))?;
    let Value::Array(parts) = parsed else {
        return Err(bad(key, "the key is not a JSON array"));
    };
    let [Value::String(connector), Value::Object(partition)] = parts.as_slice() else {
        return Err(bad(
            key,
            "the key is not [connector name, partition object]",
        ));
    };
    let offset = value.map(|v| parse_object(key, v)).transpose()?;
    Ok(OffsetRecord {
        connector: connector.clone(),
        partition: partition.clone(),
        offset,
    })
}

/// A struct as the JsonConverter writes it: its fields in schema order (a `Map` here would sort them).
fn struct_bytes(fields: &[(&str, Value)]) -> Vec<u8> {
    let mut bytes = vec![b'{'];
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            bytes.push(b',');
        }
        bytes.extend_from_slice(&json_bytes(&Value::String((*name).to_owned())));
        bytes.push(b':');
        bytes.extend_from_slice(&json_bytes(value));
    }
    bytes.push(b'}');
    bytes
}

fn json_bytes(value: &Value) -> Vec<u8> {
    // Serializing a `Value` cannot fail (its map keys are strings).
    serde_json::to_vec(value).unwrap_or_default()
}

fn parse_object(key: &[u8], value: &[u8]) -> Result<Map<String, Value>, RecordError> {
    match serde_json::from_slice(value) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(bad(key, "the value is not a JSON object")),
        Err(e) => Err(bad(key, format!("the value is not JSON: {e}"))),
    }
}

fn properties(
    key: &[u8],
    object: &Map<String, Value>,
) -> Result<BTreeMap<String, String>, RecordError> {
    let Some(Value::Object(properties)) = object.get("properties") else {
        return Err(bad(key, "'properties' is not an object"));
    };
    properties
        .iter()
        .filter_map(|(name, value)| match value {
            Value::String(s) => Some(Ok((name.clone(), s.clone()))),
            // The schema's values are optional strings: a null property is one not set.
            Value::Null => None,
            _ => Some(Err(bad(key, format!("property {name:?} is not a string")))),
        })
        .collect()
}

fn count(key: &[u8], object: &Map<String, Value>, field: &str) -> Result<u32, RecordError> {
    object
        .get(field)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| bad(key, format!("'{field}' is not a count")))
}

fn string_field(
    key: &[u8],
    object: &Map<String, Value>,
    field: &str,
) -> Result<String, RecordError> {
    match object.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(bad(key, format!("'{field}' is not a string"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn config_topic_values_are_written_as_kafka_connect_writes_them() {
        let props = config(&[("connector.class", "FileStreamSource"), ("tasks.max", "1")]);
        assert_eq!(
            properties_value(&props),
            br#"{"properties":{"connector.class":"FileStreamSource","tasks.max":"1"}}"#
        );
        assert_eq!(commit_value(3), br#"{"tasks":3}"#);
        assert_eq!(
            target_state_value(TargetState::Running),
            br#"{"state":"STARTED","state.v2":"STARTED"}"#
        );
        assert_eq!(
            target_state_value(TargetState::Paused),
            br#"{"state":"PAUSED","state.v2":"PAUSED"}"#
        );
        assert_eq!(
            target_state_value(TargetState::Stopped),
            br#"{"state":"PAUSED","state.v2":"STOPPED"}"#
        );
        assert_eq!(connector_key("a-b"), "connector-a-b");
        assert_eq!(target_state_key("a"), "target-state-a");
        assert_eq!(task_key(&TaskKey::new("a-b", 10)), "task-a-b-10");
        assert_eq!(commit_key("a"), "commit-a");
        // Escapes as Jackson writes them: quotes, backslashes and control characters; other text as UTF-8.
        assert_eq!(
            properties_value(&config(&[("k", "a\"b\\c\nd\u{1}é")])),
            "{\"properties\":{\"k\":\"a\\\"b\\\\c\\nd\\u0001é\"}}".as_bytes()
        );
    }

    #[test]
    fn config_topic_records_read_back() {
        let props = config(&[("a", "1")]);
        assert_eq!(
            decode_config_record(b"connector-x-y", Some(&properties_value(&props))),
            Ok(ConfigRecord::Connector {
                name: "x-y".into(),
                config: Some(props.clone())
            })
        );
        assert_eq!(
            decode_config_record(b"connector-x", None),
            Ok(ConfigRecord::Connector {
                name: "x".into(),
                config: None
            })
        );
        assert_eq!(
            decode_config_record(b"task-x-y-2", Some(&properties_value(&props))),
            Ok(ConfigRecord::Task {
                task: TaskKey::new("x-y", 2),
                config: props
            })
        );
        assert_eq!(
            decode_config_record(b"commit-x", Some(br#"{"tasks":2}"#)),
            Ok(ConfigRecord::Commit {
                connector: "x".into(),
                tasks: 2
            })
        );
        for state in [
            TargetState::Running,
            TargetState::Paused,
            TargetState::Stopped,
        ] {
            assert_eq!(
                decode_config_record(b"target-state-x", Some(&target_state_value(state))),
                Ok(ConfigRecord::TargetState {
                    name: "x".into(),
                    state: Some(state)
                })
            );
        }
        // Written by a worker before KIP-875: `state` only.
        assert_eq!(
            decode_config_record(b"target-state-x", Some(br#"{"state":"PAUSED"}"#)),
            Ok(ConfigRecord::TargetState {
                name: "x".into(),
                state: Some(TargetState::Paused)
            })
        );
        assert_eq!(
            decode_config_record(b"target-state-x", None),
            Ok(ConfigRecord::TargetState {
                name: "x".into(),
                state: None
            })
        );
        assert_eq!(
            decode_config_record(
                b"session-key",
                Some(br#"{"key":"c2VjcmV0","algorithm":"HmacSHA256","creation-timestamp":1700000000000}"#)
            ),
            Ok(ConfigRecord::SessionKey(SessionKey {
                key: "c2VjcmV0".into(),
                algorithm: "HmacSHA256".into(),
                creation_timestamp_ms: 1_700_000_000_000
            }))
        );
        assert_eq!(
            decode_config_record(
                b"restart-connector-x",
                Some(br#"{"include-tasks":true,"only-failed":false}"#)
            ),
            Ok(ConfigRecord::Restart {
                connector: "x".into(),
                include_tasks: true,
                only_failed: false
            })
        );
        assert_eq!(
            decode_config_record(b"tasks-fencing-x", Some(br#"{"task-count":4}"#)),
            Ok(ConfigRecord::TaskCount {
                connector: "x".into(),
                tasks: 4
            })
        );
        assert_eq!(
            decode_config_record(b"logger-cluster-org.apache", Some(br#"{"level":"DEBUG"}"#)),
            Ok(ConfigRecord::LoggerLevel {
                namespace: "org.apache".into(),
                level: "DEBUG".into()
            })
        );
    }

    #[test]
    fn damaged_config_records_are_errors_naming_the_key() {
        type Case<'a> = (&'a [u8], Option<&'a [u8]>, &'a str);
        let cases: [Case; 8] = [
            (b"connector-x", Some(b"{not json"), "not JSON"),
            (
                b"connector-x",
                Some(br#"{"properties":{"a":1}}"#),
                "property \"a\"",
            ),
            (b"connector-x", Some(b"[1]"), "not a JSON object"),
            (
                b"task-x",
                Some(br#"{"properties":{}}"#),
                "task-CONNECTOR-INDEX",
            ),
            (b"task-x-1", None, "null"),
            (b"commit-x", Some(br#"{"tasks":-1}"#), "'tasks'"),
            (b"target-state-x", Some(br#"{"state":"GONE"}"#), "GONE"),
            (b"whatever", Some(b"{}"), "not a key"),
        ];
        for (key, value, cause) in cases {
            let error = decode_config_record(key, value).unwrap_err();
            assert_eq!(error.key.as_bytes(), key);
            assert!(error.to_string().contains(cause), "{error}");
        }
        assert!(decode_config_record(&[0xff], None).is_err());
    }

    #[test]
    fn status_records_are_written_as_kafka_connect_writes_them() {
        let status = StatusValue {
            state: "RUNNING",
            trace: None,
            worker_id: "10.0.0.1:8083".into(),
            generation: 7,
        };
        assert_eq!(
            status_value(&status),
            br#"{"state":"RUNNING","trace":null,"worker_id":"10.0.0.1:8083","generation":7}"#
        );
        let failed = StatusValue {
            state: "FAILED",
            trace: Some("boom\n\tat x".into()),
            ..status.clone()
        };
        assert_eq!(
            status_value(&failed),
            br#"{"state":"FAILED","trace":"boom\n\tat x","worker_id":"10.0.0.1:8083","generation":7}"#
        );
        assert_eq!(connector_status_key("a-b"), "status-connector-a-b");
        assert_eq!(
            task_status_key(&TaskKey::new("a-b", 3)),
            "status-task-a-b-3"
        );
        assert_eq!(topic_status_key("t", "a"), "status-topic-t:connector-a");
        let topic = TopicStatusValue {
            topic: "t".into(),
            connector: "a".into(),
            task: 1,
            discover_timestamp_ms: 1_700_000_000_123,
        };
        assert_eq!(
            topic_status_value(&topic),
            br#"{"topic":{"name":"t","connector":"a","task":1,"discoverTimestamp":1700000000123}}"#
        );
        assert_eq!(
            decode_status_record(b"status-task-a-b-3", Some(&status_value(&failed))),
            Ok(StatusRecord::Task {
                task: TaskKey::new("a-b", 3),
                status: Some(failed)
            })
        );
        assert_eq!(
            decode_status_record(b"status-connector-a", Some(&status_value(&status))),
            Ok(StatusRecord::Connector {
                name: "a".into(),
                status: Some(status)
            })
        );
        assert_eq!(
            decode_status_record(
                b"status-topic-t:connector-a",
                Some(&topic_status_value(&topic))
            ),
            Ok(StatusRecord::Topic {
                topic: "t".into(),
                connector: "a".into(),
                status: Some(topic)
            })
        );
        assert_eq!(
            decode_status_record(b"status-task-a-0", None),
            Ok(StatusRecord::Task {
                task: TaskKey::new("a", 0),
                status: None
            })
        );
        assert!(decode_status_record(
            b"status-task-a-0",
            Some(br#"{"state":"ODD","trace":null,"worker_id":"w","generation":1}"#)
        )
        .is_err());
        assert!(decode_status_record(
            b"status-task-a-0",
            Some(br#"{"state":"RUNNING","worker_id":"w"}"#)
        )
        .is_err());
        assert!(decode_status_record(b"status-other", Some(b"{}")).is_err());
    }

    #[test]
    fn offset_records_are_written_as_kafka_connect_writes_them() {
        let partition = json!({"filename": "/tmp/in.txt"});
        let partition = partition.as_object().unwrap();
        let offset = json!({"position": 1234});
        let offset = offset.as_object().unwrap();
        assert_eq!(
            offset_key("file-source", partition),
            br#"["file-source",{"filename":"/tmp/in.txt"}]"#
        );
        assert_eq!(offset_value(offset), br#"{"position":1234}"#);
        assert_eq!(
            decode_offset_record(
                br#"["file-source",{"filename":"/tmp/in.txt"}]"#,
                Some(br#"{"position":1234}"#)
            ),
            Ok(OffsetRecord {
                connector: "file-source".into(),
                partition: partition.clone(),
                offset: Some(offset.clone())
            })
        );
        assert_eq!(
            decode_offset_record(br#"["d",{"task.id":0}]"#, None)
                .unwrap()
                .offset,
            None
        );
        for key in [
            &br#"{"a":1}"#[..],
            br#"["a"]"#,
            br#"[1,{}]"#,
            br#"["a",{},3]"#,
            b"nope",
        ] {
            assert!(decode_offset_record(key, None).is_err());
        }
        assert!(decode_offset_record(br#"["a",{}]"#, Some(b"5")).is_err());
    }
}
