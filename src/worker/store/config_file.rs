//! Connector configs and target states in one JSON file (standalone mode), replaced atomically on every change:
//! `{"connectors": {"NAME": {"config": {...} | null, "target_state": "RUNNING"}}}`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{ConfigStore, StoreError, StoredConnector};
use crate::worker::status::TargetState;

/// The most bytes of the file read back: far more than any set of connector configs a person writes, so a
/// damaged or hostile file cannot make the worker allocate without bound.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
}

impl ConfigFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, what: impl std::fmt::Display) -> StoreError {
        StoreError(format!("{}: {what}", self.path.display()))
    }

    fn write(&self, connectors: &BTreeMap<String, StoredConnector>) -> Result<(), StoreError> {
        let mut entries = Map::new();
        for (name, connector) in connectors {
            let mut entry = Map::new();
            entry.insert(
                "config".into(),
                match &connector.config {
                    Some(config) => Value::Object(
                        config
                            .iter()
                            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                            .collect(),
                    ),
                    None => Value::Null,
                },
            );
            entry.insert(
                "target_state".into(),
                Value::String(connector.target.as_str().into()),
            );
            entries.insert(name.clone(), Value::Object(entry));
        }
        let mut document = Map::new();
        document.insert("connectors".into(), Value::Object(entries));
        let text = Value::Object(document).to_string();
        write_atomically(&self.path, text.as_bytes()).map_err(|e| self.error(e))
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl ConfigStore for ConfigFile {
    fn load(&self) -> Result<BTreeMap<String, StoredConnector>, StoreError> {
        let file = match fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(self.error(e)),
        };
        let mut text = String::new();
        io::Read::read_to_string(&mut io::Read::take(file, MAX_FILE_BYTES + 1), &mut text)
            .map_err(|e| self.error(e))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(self.error(format!("larger than {MAX_FILE_BYTES} bytes")));
        }
        let document: Value = serde_json::from_str(&text).map_err(|e| self.error(e))?;
        let Some(Value::Object(entries)) = document.get("connectors") else {
            return Err(self.error("no \"connectors\" object"));
        };
        let mut connectors = BTreeMap::new();
        for (name, entry) in entries {
            let config = match entry.get("config") {
                None | Some(Value::Null) => None,
                Some(Value::Object(config)) => {
                    let mut map = BTreeMap::new();
                    for (key, value) in config {
                        let Value::String(value) = value else {
                            return Err(self.error(format!(
                                "connector {name:?}: config key {key:?} is not a string"
                            )));
                        };
                        map.insert(key.clone(), value.clone());
                    }
                    Some(map)
                }
                Some(_) => {
                    return Err(self.error(format!("connector {name:?}: config is not an object")))
                }
            };
            let target = match entry.get("target_state") {
                None => TargetState::Running,
                Some(Value::String(state)) => TargetState::parse(state).ok_or_else(|| {
                    self.error(format!(
                        "connector {name:?}: unknown target state {state:?}"
                    ))
                })?,
                Some(_) => {
                    return Err(
                        self.error(format!("connector {name:?}: target_state is not a string"))
                    )
                }
            };
            connectors.insert(name.clone(), StoredConnector { config, target });
        }
        Ok(connectors)
    }

    fn put(&mut self, name: &str, connector: &StoredConnector) -> Result<(), StoreError> {
        let mut connectors = self.load()?;
        connectors.insert(name.to_owned(), connector.clone());
        self.write(&connectors)
    }

    fn remove(&mut self, name: &str) -> Result<(), StoreError> {
        let mut connectors = self.load()?;
        if connectors.remove(name).is_some() {
            self.write(&connectors)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connectors_and_target_states_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connectors.json");
        let mut store = ConfigFile::new(&path);
        assert!(store.load().unwrap().is_empty());
        let config: BTreeMap<String, String> = [
            ("connector.class".to_owned(), "FileStreamSource".to_owned()),
            ("file".to_owned(), "/tmp/in \"quoted\"".to_owned()),
        ]
        .into();
        store
            .put(
                "a",
                &StoredConnector {
                    config: Some(config.clone()),
                    target: TargetState::Paused,
                },
            )
            .unwrap();
        store
            .put(
                "from-file",
                &StoredConnector {
                    config: None,
                    target: TargetState::Stopped,
                },
            )
            .unwrap();
        let reopened = ConfigFile::new(&path).load().unwrap();
        assert_eq!(reopened["a"].config.as_ref(), Some(&config));
        assert_eq!(reopened["a"].target, TargetState::Paused);
        assert_eq!(reopened["from-file"].config, None);
        assert_eq!(reopened["from-file"].target, TargetState::Stopped);
        store.remove("a").unwrap();
        assert_eq!(
            ConfigFile::new(&path)
                .load()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["from-file"]
        );
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connectors.json");
        fs::write(
            &path,
            "{\"connectors\": {\"a\": {\"target_state\": \"SLEEPING\"}}}",
        )
        .unwrap();
        let error = ConfigFile::new(&path).load().unwrap_err().to_string();
        assert!(
            error.contains("connectors.json") && error.contains("SLEEPING"),
            "{error}"
        );
        fs::write(&path, "not json").unwrap();
        assert!(ConfigFile::new(&path).load().is_err());
    }
}
