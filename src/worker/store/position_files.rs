//! Source positions on local disk, one file per connector task (standalone mode): what the task's source handed
//! out and the sink acknowledged. Written atomically (temporary file, fsync, rename, fsync of the directory), so
//! a crash leaves the old or the new positions, never a torn file.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::connect::record::SourcePosition;
use crate::engine::positions::{
    format_line, parse_line, PositionStore, PositionStoreError, TaskKey,
};

/// Every task's positions file under one state directory.
#[derive(Debug, Clone)]
pub struct PositionFiles {
    state_dir: PathBuf,
}

impl PositionFiles {
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
        }
    }

    /// `<state_dir>/<connector>/task-<index>.offsets`.
    pub fn path(&self, task: &TaskKey) -> PathBuf {
        let safe: String = task
            .connector
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.state_dir
            .join(safe)
            .join(format!("task-{}.offsets", task.index))
    }

    fn create_dir(&self, path: &Path) -> Result<(), PositionStoreError> {
        let dir = path.parent().unwrap_or(&self.state_dir);
        fs::create_dir_all(dir).map_err(|e| {
            PositionStoreError(format!("state directory {}: {e}", self.state_dir.display()))
        })
    }
}

impl PositionStore for PositionFiles {
    fn load(&self, task: &TaskKey) -> Result<Vec<SourcePosition>, PositionStoreError> {
        let path = self.path(task);
        self.create_dir(&path)?;
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(PositionStoreError(format!("{}: {e}", path.display()))),
        };
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                parse_line(line).ok_or_else(|| {
                    PositionStoreError(format!(
                        "{}:{}: not a source position: {line:?}",
                        path.display(),
                        i + 1
                    ))
                })
            })
            .collect()
    }

    fn store(
        &self,
        task: &TaskKey,
        positions: &[SourcePosition],
    ) -> Result<(), PositionStoreError> {
        let path = self.path(task);
        self.create_dir(&path)?;
        write_atomically(&path, positions)
            .map_err(|e| PositionStoreError(format!("writing {}: {e}", path.display())))
    }
}

fn write_atomically(path: &Path, positions: &[SourcePosition]) -> io::Result<()> {
    let mut text = String::new();
    for position in positions {
        text.push_str(&format_line(position));
        text.push('\n');
    }
    let tmp = path.with_extension("offsets.tmp");
    let mut file = fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // The rename itself must survive a crash too.
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::data::Str;
    use bytes::Bytes;

    #[test]
    fn positions_survive_a_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = PositionFiles::new(dir.path());
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
        assert_eq!(store.load(&task).unwrap(), positions);
        assert!(store
            .path(&task)
            .ends_with("orders_to_kafka/task-1.offsets"));
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = PositionFiles::new(dir.path());
        let task = TaskKey::new("p", 0);
        store.store(&task, &[]).unwrap();
        fs::write(store.path(&task), "offset\t12\nnonsense\n").unwrap();
        let err = store.load(&task).unwrap_err().to_string();
        assert!(err.contains("task-0.offsets:2"), "{err}");
    }
}
