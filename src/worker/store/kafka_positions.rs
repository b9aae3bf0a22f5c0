//! Source positions in Kafka Connect's offsets topic (`KafkaOffsetBackingStore`, written as
//! `OffsetStorageWriter` writes): key `["CONNECTOR",{partition}]`, value `{offset}`, null for none.
//!
//! Partitions and offsets take the forms the REST API shows (`worker/offsets.rs`), so Kafka Connect's tools
//! and REST calls read and change them: FileStreamSource's `{"filename": path}` → `{"position": bytes}`,
//! datagen's `{"task.id": n}` → `{"current.iteration": records}`, the stdin source's `{"task.id": n}` →
//! `{"lines": count}`. What those forms have no room for goes in keys of the offset map Kafka Connect's
//! connectors ignore: a file's identity (`pipewright.file.device`, `.inode`, `.head.bytes`, `.head.crc32c`),
//! and, for positions with no Kafka Connect form (several per task, Kafka offsets, a source's own bytes), the
//! whole list in position lines under `pipewright.positions`, with the partition `{"task.id": n}`.
//!
//! A record an operator wrote without our keys (Kafka Connect's REST API, a tool) is read by its Kafka key:
//! `{"position": n}` is the byte offset `n`.
//!
//! Must not: return before a stored position is acknowledged by the broker.

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::connect_records::{decode_offset_record, offset_key, offset_value, OffsetRecord};
use super::kafka_log::{KafkaLog, KafkaLogSettings, LogRecord, Written};
use super::own_writes::OwnWrites;
use super::StoreError;
use crate::connect::connectors::SourceConfig;
use crate::connect::record::{FileHead, FileId, SourcePosition};
use crate::engine::positions::{
    format_line, parse_line, PositionStore, PositionStoreError, TaskKey,
};
use crate::worker::offsets::PositionForm;

const POSITIONS_KEY: &str = "pipewright.positions";
const DEVICE_KEY: &str = "pipewright.file.device";
const INODE_KEY: &str = "pipewright.file.inode";
const HEAD_BYTES_KEY: &str = "pipewright.file.head.bytes";
const HEAD_CRC_KEY: &str = "pipewright.file.head.crc32c";
/// The Kafka keys of the forms the REST API shows, for offsets written without ours.
const FORM_KEYS: [&str; 3] = ["position", "current.iteration", "lines"];

type OffsetMap = Map<String, Value>;

/// One stored partition of a connector.
#[derive(Debug, Clone)]
struct StoredOffset {
    partition: OffsetMap,
    offset: OffsetMap,
}

#[derive(Default)]
struct PositionView {
    /// By connector, then by record key.
    connectors: BTreeMap<String, BTreeMap<Vec<u8>, StoredOffset>>,
    own: OwnWrites,
}

impl PositionView {
    fn apply(&mut self, topic: &str, record: &LogRecord) {
        let Some(key) = record.key.as_deref() else {
            tracing::warn!(
                topic,
                offset = record.offset,
                "offsets record without a key skipped"
            );
            return;
        };
        if !self.own.read_back(key) {
            return;
        }
        match decode_offset_record(key, record.value.as_deref()) {
            Ok(decoded) => self.set(key, decoded),
            Err(e) => {
                tracing::warn!(topic, offset = record.offset, error = %e, "offsets record skipped")
            }
        }
    }

    fn set(&mut self, key: &[u8], record: OffsetRecord) {
        let stored = self.connectors.entry(record.connector.clone()).or_default();
        match record.offset {
            Some(offset) => {
                stored.insert(
                    key.to_vec(),
                    StoredOffset {
                        partition: record.partition,
                        offset,
                    },
                );
            }
            None => {
                stored.remove(key);
                if stored.is_empty() {
                    self.connectors.remove(&record.connector);
                }
            }
        }
    }
}

/// The task a partition is a task's: `{"task.id": n}`, or task 0 for FileStreamSource's one file.
fn task_of(partition: &OffsetMap) -> Option<u32> {
    if let Some(id) = partition.get("task.id") {
        return match id {
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
    }
    partition.contains_key("filename").then_some(0)
}

/// The partition and offset a task's positions are stored as; `None` for no positions.
fn encode(
    form: Option<&PositionForm>,
    task: u32,
    positions: &[SourcePosition],
) -> Option<(OffsetMap, OffsetMap)> {
    let object = |v: Value| match v {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    match (form, positions) {
        (_, []) => None,
        (Some(PositionForm::File { path }), [SourcePosition::Offset(n)]) => Some((
            object(json!({"filename": path})),
            object(json!({"position": n})),
        )),
        (
            Some(PositionForm::File { path }),
            [SourcePosition::FileOffset { offset, file, head }],
        ) => Some((
            object(json!({"filename": path})),
            object(json!({
                "position": offset,
                DEVICE_KEY: file.device,
                INODE_KEY: file.inode,
                HEAD_BYTES_KEY: head.bytes,
                HEAD_CRC_KEY: head.crc32c,
            })),
        )),
        (Some(PositionForm::PerTask { key }), [SourcePosition::Offset(n)]) => {
            Some((object(json!({"task.id": task})), object(json!({ *key: n }))))
        }
        _ => Some((
            object(json!({"task.id": task})),
            object(json!({
                POSITIONS_KEY: positions.iter().map(format_line).collect::<Vec<_>>()
            })),
        )),
    }
}

/// The positions an offset map holds; an error says what is wrong with it.
fn decode(offset: &OffsetMap) -> Result<Vec<SourcePosition>, String> {
    if let Some(lines) = offset.get(POSITIONS_KEY) {
        let Value::Array(lines) = lines else {
            return Err(format!("'{POSITIONS_KEY}' is not a list"));
        };
        return lines
            .iter()
            .map(|line| {
                line.as_str()
                    .and_then(parse_line)
                    .ok_or_else(|| format!("'{POSITIONS_KEY}' holds {line}, which is no position"))
            })
            .collect();
    }
    let Some((key, value)) = FORM_KEYS
        .iter()
        .find_map(|key| offset.get(*key).map(|value| (*key, value)))
    else {
        return Err(format!(
            "the offset has none of the keys {} or '{POSITIONS_KEY}'",
            FORM_KEYS.join(", ")
        ));
    };
    let number = value
        .as_i64()
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("'{key}' is {value}, not a non-negative number"))?;
    let file = (
        offset.get(DEVICE_KEY).and_then(Value::as_u64),
        offset.get(INODE_KEY).and_then(Value::as_u64),
        offset
            .get(HEAD_BYTES_KEY)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()),
        offset
            .get(HEAD_CRC_KEY)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()),
    );
    Ok(vec![match file {
        (Some(device), Some(inode), Some(bytes), Some(crc32c)) => SourcePosition::FileOffset {
            offset: number as u64,
            file: FileId { device, inode },
            head: FileHead { bytes, crc32c },
        },
        // Written by someone else (an alter through Kafka Connect's REST API): the offset alone.
        _ => SourcePosition::Offset(number),
    }])
}

/// Kafka Connect's offsets topic as the engine's [`PositionStore`].
pub struct KafkaPositionStore {
    log: KafkaLog,
    view: Arc<Mutex<PositionView>>,
    /// How each connector's positions are written, as its source's form says; connectors not named here get
    /// the `{"task.id": n}` form with position lines.
    forms: Mutex<BTreeMap<String, PositionForm>>,
    write_timeout: Duration,
}

impl std::fmt::Debug for KafkaPositionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaPositionStore")
            .field("log", &self.log)
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change under these locks is made whole, so one left by a panic elsewhere can be read on.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl KafkaPositionStore {
    /// Starts the offsets topic's log (created compacted with the settings' partitions if missing) and reads
    /// it to its end.
    pub fn start(
        settings: KafkaLogSettings,
        write_timeout: Duration,
    ) -> Result<KafkaPositionStore, StoreError> {
        let topic = settings.topic.clone();
        let view = Arc::new(Mutex::new(PositionView::default()));
        let reader = view.clone();
        let log = KafkaLog::start(settings, move |record| lock(&reader).apply(&topic, record))?;
        Ok(KafkaPositionStore {
            log,
            view,
            forms: Mutex::new(BTreeMap::new()),
            write_timeout,
        })
    }

    /// Tells how `connector`'s source keeps its positions, so they are written in the form Kafka Connect's
    /// counterpart connector uses. Call it before its tasks start.
    pub fn set_source(&self, connector: &str, source: &SourceConfig) {
        let mut forms = lock(&self.forms);
        match PositionForm::of(source) {
            Some(form) => forms.insert(connector.to_owned(), form),
            None => forms.remove(connector),
        };
    }

    /// Reads what other workers wrote up to now.
    pub fn refresh(&self, timeout: Duration) -> Result<(), StoreError> {
        self.log.read_to_end(timeout)
    }

    fn error(&self, cause: impl std::fmt::Display) -> PositionStoreError {
        PositionStoreError(format!("offsets topic {}: {cause}", self.log.topic()))
    }

    /// Every stored partition of `connector` that is one of its tasks', by task.
    fn by_task(
        &self,
        connector: &str,
    ) -> Result<BTreeMap<u32, Vec<SourcePosition>>, PositionStoreError> {
        let view = lock(&self.view);
        let mut tasks: BTreeMap<u32, Vec<SourcePosition>> = BTreeMap::new();
        for stored in view
            .connectors
            .get(connector)
            .into_iter()
            .flat_map(|s| s.values())
        {
            let Some(task) = task_of(&stored.partition) else {
                // A partition of another kind (written by another connector under this name): not a task's.
                continue;
            };
            let positions = decode(&stored.offset).map_err(|cause| {
                self.error(format!(
                    "the offset of connector {connector}'s partition {} cannot be read: {cause}",
                    Value::Object(stored.partition.clone())
                ))
            })?;
            tasks.entry(task).or_default().extend(positions);
        }
        Ok(tasks)
    }
}

impl PositionStore for KafkaPositionStore {
    fn set_source(&self, connector: &str, source: &SourceConfig) {
        KafkaPositionStore::set_source(self, connector, source);
    }

    fn load(&self, task: &TaskKey) -> Result<Vec<SourcePosition>, PositionStoreError> {
        Ok(self
            .by_task(&task.connector)?
            .remove(&task.index)
            .unwrap_or_default())
    }

    fn load_connector(
        &self,
        connector: &str,
    ) -> Result<Vec<(u32, Vec<SourcePosition>)>, PositionStoreError> {
        Ok(self.by_task(connector)?.into_iter().collect())
    }

    /// Writes the task's partition, and tombstones for any other partition of the task stored before; returns
    /// once the broker acknowledged all of them.
    fn store(
        &self,
        task: &TaskKey,
        positions: &[SourcePosition],
    ) -> Result<(), PositionStoreError> {
        let form = lock(&self.forms).get(&task.connector).cloned();
        let encoded = encode(form.as_ref(), task.index, positions);
        let mut records: Vec<(Vec<u8>, Option<OffsetRecord>)> = Vec::new();
        let new_key = encoded
            .as_ref()
            .map(|(partition, _)| offset_key(&task.connector, partition));
        {
            let view = lock(&self.view);
            for (key, stored) in view.connectors.get(&task.connector).into_iter().flatten() {
                if task_of(&stored.partition) == Some(task.index) && Some(key) != new_key.as_ref() {
                    records.push((
                        key.clone(),
                        Some(OffsetRecord {
                            connector: task.connector.clone(),
                            partition: stored.partition.clone(),
                            offset: None,
                        }),
                    ));
                }
            }
        }
        if let (Some(key), Some((partition, offset))) = (new_key, encoded) {
            records.push((
                key,
                Some(OffsetRecord {
                    connector: task.connector.clone(),
                    partition,
                    offset: Some(offset),
                }),
            ));
        }
        let deadline = Instant::now() + self.write_timeout;
        let (acked, acks) = mpsc::channel::<Result<Written, StoreError>>();
        for (key, record) in &records {
            let value = record
                .as_ref()
                .and_then(|r| r.offset.as_ref())
                .map(offset_value);
            lock(&self.view).own.sent(key);
            let acked = acked.clone();
            let view = self.view.clone();
            let failed_key = key.clone();
            self.log.send(
                key.clone(),
                value,
                Box::new(move |outcome| {
                    if outcome.is_err() {
                        lock(&view).own.failed(&failed_key);
                    }
                    let _ = acked.send(outcome);
                }),
            );
        }
        drop(acked);
        for _ in &records {
            let left = deadline.saturating_duration_since(Instant::now());
            match acks.recv_timeout(left) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(PositionStoreError(e.0)),
                Err(_) => {
                    return Err(self.error(format!(
                        "the positions of task {task} were not acknowledged within {:?}",
                        self.write_timeout
                    )))
                }
            }
        }
        let mut view = lock(&self.view);
        for (key, record) in records {
            if let Some(record) = record {
                view.set(&key, record);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_form() -> PositionForm {
        PositionForm::File {
            path: "/data/in.txt".into(),
        }
    }

    #[test]
    fn positions_take_the_rest_api_forms() {
        let file = SourcePosition::FileOffset {
            offset: 4096,
            file: FileId {
                device: 2049,
                inode: 77,
            },
            head: FileHead {
                bytes: 1024,
                crc32c: 0xdead_beef,
            },
        };
        let (partition, offset) =
            encode(Some(&file_form()), 0, std::slice::from_ref(&file)).unwrap();
        assert_eq!(
            offset_key("src", &partition),
            br#"["src",{"filename":"/data/in.txt"}]"#
        );
        assert_eq!(
            offset_value(&offset),
            br#"{"pipewright.file.device":2049,"pipewright.file.head.bytes":1024,"pipewright.file.head.crc32c":3735928559,"pipewright.file.inode":77,"position":4096}"#
        );
        assert_eq!(decode(&offset), Ok(vec![file]));
        assert_eq!(task_of(&partition), Some(0));

        let datagen = PositionForm::PerTask {
            key: "current.iteration",
        };
        let (partition, offset) = encode(Some(&datagen), 3, &[SourcePosition::Offset(12)]).unwrap();
        assert_eq!(offset_key("gen", &partition), br#"["gen",{"task.id":3}]"#);
        assert_eq!(offset_value(&offset), br#"{"current.iteration":12}"#);
        assert_eq!(task_of(&partition), Some(3));
        assert_eq!(decode(&offset), Ok(vec![SourcePosition::Offset(12)]));
        assert_eq!(encode(Some(&datagen), 3, &[]), None);
    }

    #[test]
    fn positions_without_a_kafka_connect_form_keep_their_lines() {
        let positions = vec![
            SourcePosition::Offset(5),
            SourcePosition::Opaque(bytes::Bytes::from_static(b"\x01\x02")),
        ];
        let (partition, offset) = encode(None, 1, &positions).unwrap();
        assert_eq!(offset_key("j", &partition), br#"["j",{"task.id":1}]"#);
        assert_eq!(
            offset_value(&offset),
            br#"{"pipewright.positions":["offset\t5","opaque\t0102"]}"#
        );
        assert_eq!(decode(&offset), Ok(positions));
    }

    #[test]
    fn offsets_written_by_kafka_connect_read_as_offsets() {
        let object = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            decode(&object(json!({"position": 300}))),
            Ok(vec![SourcePosition::Offset(300)])
        );
        assert!(decode(&object(json!({"position": -1}))).is_err());
        assert!(decode(&object(json!({"other": 1}))).is_err());
        assert!(decode(&object(json!({"pipewright.positions": ["nonsense"]}))).is_err());
        assert_eq!(task_of(&object(json!({"task.id": "2"}))), Some(2));
        assert_eq!(task_of(&object(json!({"table": "t"}))), None);
    }
}
