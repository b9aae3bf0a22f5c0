//! Every connector's source positions in one file (standalone mode; Kafka Connect's
//! `offset.storage.file.filename`), keyed by the connector's exact name and the task's index, so no two
//! connectors can ever share positions:
//! `{"connectors": {"NAME": {"0": ["offset\t4096"], "1": [...]}}}` (each position in its one-line text form).
//!
//! Read once when opened; every store rewrites the file atomically (temporary file, fsync, rename, fsync of the
//! directory), so a crash leaves the old or the new positions, never a torn file.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value};

use crate::connect::record::SourcePosition;
use crate::engine::positions::{
    format_line, parse_line, PositionStore, PositionStoreError, TaskKey,
};

/// The most bytes of the file read back (a bound for a damaged or hostile file).
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

type Positions = BTreeMap<String, BTreeMap<u32, Vec<SourcePosition>>>;

#[derive(Debug)]
pub struct PositionFile {
    path: PathBuf,
    positions: Mutex<Positions>,
}

impl PositionFile {
    /// Opens (reads) `path`; a missing file holds no positions. A damaged file is an error naming it: starting
    /// over would re-send or skip data.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, PositionStoreError> {
        let path = path.into();
        let positions = read(&path)?;
        Ok(Self {
            path,
            positions: Mutex::new(positions),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, what: impl std::fmt::Display) -> PositionStoreError {
        PositionStoreError(format!("{}: {what}", self.path.display()))
    }

    /// Whether any position of `connector` is stored.
    pub fn has_connector(&self, connector: &str) -> bool {
        self.positions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(connector)
    }

    /// Every stored task of `connector` with its positions.
    pub fn connector(&self, connector: &str) -> BTreeMap<u32, Vec<SourcePosition>> {
        self.positions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(connector)
            .cloned()
            .unwrap_or_default()
    }

    /// Forgets every position of `connector`.
    pub fn remove_connector(&self, connector: &str) -> Result<(), PositionStoreError> {
        let mut positions = self.positions.lock().unwrap_or_else(|e| e.into_inner());
        if positions.remove(connector).is_some() {
            write(&self.path, &positions).map_err(|e| self.error(e))?;
        }
        Ok(())
    }
}

fn read(path: &Path) -> Result<Positions, PositionStoreError> {
    let error = |what: String| PositionStoreError(format!("{}: {what}", path.display()));
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Positions::new()),
        Err(e) => return Err(error(e.to_string())),
    };
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| error(e.to_string()))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(error(format!("larger than {MAX_FILE_BYTES} bytes")));
    }
    let document: Value =
        serde_json::from_str(&text).map_err(|e| error(format!("not a positions file: {e}")))?;
    let Some(Value::Object(connectors)) = document.get("connectors") else {
        return Err(error(
            "not a positions file: no \"connectors\" object".into(),
        ));
    };
    let mut positions = Positions::new();
    for (connector, tasks) in connectors {
        let Value::Object(tasks) = tasks else {
            return Err(error(format!(
                "connector {connector:?}: expected an object of tasks"
            )));
        };
        let mut by_task = BTreeMap::new();
        for (task, lines) in tasks {
            let index: u32 = task.parse().map_err(|_| {
                error(format!(
                    "connector {connector:?}: task {task:?} is not a number"
                ))
            })?;
            let Value::Array(lines) = lines else {
                return Err(error(format!(
                    "connector {connector:?} task {task}: expected a list of positions"
                )));
            };
            let parsed = lines
                .iter()
                .map(|line| {
                    line.as_str().and_then(parse_line).ok_or_else(|| {
                        error(format!(
                            "connector {connector:?} task {task}: not a source position: {line}"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            by_task.insert(index, parsed);
        }
        positions.insert(connector.clone(), by_task);
    }
    Ok(positions)
}

fn write(path: &Path, positions: &Positions) -> io::Result<()> {
    let mut connectors = Map::new();
    for (connector, tasks) in positions {
        let tasks: Map<String, Value> = tasks
            .iter()
            .map(|(task, lines)| {
                let lines = lines
                    .iter()
                    .map(|p| Value::String(format_line(p)))
                    .collect();
                (task.to_string(), Value::Array(lines))
            })
            .collect();
        connectors.insert(connector.clone(), Value::Object(tasks));
    }
    let mut document = Map::new();
    document.insert("connectors".into(), Value::Object(connectors));
    let text = Value::Object(document).to_string();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        fs::create_dir_all(dir)?;
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut file = fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = dir {
        // The rename itself must survive a crash too.
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl PositionStore for PositionFile {
    fn load(&self, task: &TaskKey) -> Result<Vec<SourcePosition>, PositionStoreError> {
        let positions = self.positions.lock().unwrap_or_else(|e| e.into_inner());
        Ok(positions
            .get(&task.connector)
            .and_then(|tasks| tasks.get(&task.index))
            .cloned()
            .unwrap_or_default())
    }

    fn load_connector(
        &self,
        connector: &str,
    ) -> Result<Vec<(u32, Vec<SourcePosition>)>, PositionStoreError> {
        let positions = self.positions.lock().unwrap_or_else(|e| e.into_inner());
        Ok(positions
            .get(connector)
            .map(|tasks| {
                tasks
                    .iter()
                    .map(|(index, positions)| (*index, positions.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn store(&self, task: &TaskKey, new: &[SourcePosition]) -> Result<(), PositionStoreError> {
        let mut positions = self.positions.lock().unwrap_or_else(|e| e.into_inner());
        positions
            .entry(task.connector.clone())
            .or_default()
            .insert(task.index, new.to_vec());
        write(&self.path, &positions).map_err(|e| self.error(format!("writing: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::data::Str;
    use bytes::Bytes;

    #[test]
    fn positions_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsets.json");
        let store = PositionFile::open(&path).unwrap();
        let task = TaskKey::new("orders to kafka", 1);
        assert_eq!(store.load(&task).unwrap(), vec![]);
        let positions = vec![
            SourcePosition::Offset(4096),
            SourcePosition::KafkaOffset {
                topic: Str::from("a\tb"),
                partition: 3,
                offset: 17,
            },
            SourcePosition::Opaque(Bytes::from_static(&[0, 255, 16])),
        ];
        store.store(&task, &positions).unwrap();
        store
            .store(&TaskKey::new("orders to kafka", 0), &positions[..1])
            .unwrap();
        let reopened = PositionFile::open(&path).unwrap();
        assert_eq!(reopened.load(&task).unwrap(), positions);
        assert_eq!(
            reopened.load_connector("orders to kafka").unwrap(),
            vec![(0, positions[..1].to_vec()), (1, positions.clone())]
        );
        assert!(reopened.has_connector("orders to kafka"));
        reopened.remove_connector("orders to kafka").unwrap();
        assert!(!PositionFile::open(&path)
            .unwrap()
            .has_connector("orders to kafka"));
    }

    #[test]
    fn names_that_differ_only_in_punctuation_keep_their_own_positions() {
        let dir = tempfile::tempdir().unwrap();
        let store = PositionFile::open(dir.path().join("offsets.json")).unwrap();
        store
            .store(&TaskKey::new("orders.v1", 0), &[SourcePosition::Offset(10)])
            .unwrap();
        store
            .store(&TaskKey::new("orders_v1", 0), &[SourcePosition::Offset(99)])
            .unwrap();
        assert_eq!(
            store.load(&TaskKey::new("orders.v1", 0)).unwrap(),
            [SourcePosition::Offset(10)]
        );
        assert_eq!(
            store.load(&TaskKey::new("orders_v1", 0)).unwrap(),
            [SourcePosition::Offset(99)]
        );
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsets.json");
        fs::write(
            &path,
            r#"{"connectors": {"p": {"0": ["offset\t12", "nonsense"]}}}"#,
        )
        .unwrap();
        let error = PositionFile::open(&path).unwrap_err().to_string();
        assert!(
            error.contains("offsets.json") && error.contains("nonsense"),
            "{error}"
        );
        fs::write(&path, "garbage").unwrap();
        assert!(PositionFile::open(&path).is_err());
    }
}
