//! The positions layout of earlier versions — one file per task under `<state-dir>/<name with [A-Za-z0-9_-]
//! only>/task-N.offsets` — taken over into the one positions file ([`PositionFile`]) at start.
//!
//! That layout let two connectors whose names differ only in other characters (`orders.v1`, `orders_v1`) share
//! files; such files are ambiguous and are left where they are, with a warning, rather than given to either.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::position_file::PositionFile;
use crate::engine::positions::{parse_line, PositionStore, PositionStoreError, TaskKey};

/// The directory the old layout used for `connector`.
fn legacy_dir(state_dir: &Path, connector: &str) -> PathBuf {
    let safe: String = connector
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    state_dir.join(safe)
}

/// Moves the old per-task files of each of `connectors` into `into` (unless `into` already holds positions of
/// that connector), then renames the old directory to `<dir>.migrated`. Returns the connectors taken over.
pub fn migrate_task_files(
    state_dir: &Path,
    connectors: &BTreeSet<String>,
    into: &PositionFile,
) -> Result<Vec<String>, PositionStoreError> {
    let mut by_dir: BTreeMap<PathBuf, Vec<&str>> = BTreeMap::new();
    for connector in connectors {
        by_dir
            .entry(legacy_dir(state_dir, connector))
            .or_default()
            .push(connector);
    }
    let mut migrated = Vec::new();
    for (dir, names) in by_dir {
        if !dir.is_dir() {
            continue;
        }
        let [connector] = names.as_slice() else {
            tracing::warn!(
                dir = %dir.display(),
                connectors = ?names,
                "old positions directory is shared by several connectors' names: not taken over; rename the connectors or remove it"
            );
            continue;
        };
        if into.has_connector(connector) {
            continue;
        }
        let entries = fs::read_dir(&dir)
            .map_err(|e| PositionStoreError(format!("{}: {e}", dir.display())))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(index) = name
                .to_str()
                .and_then(|n| n.strip_prefix("task-"))
                .and_then(|n| n.strip_suffix(".offsets"))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let path = entry.path();
            let text = fs::read_to_string(&path)
                .map_err(|e| PositionStoreError(format!("{}: {e}", path.display())))?;
            let positions = text
                .lines()
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
                .collect::<Result<Vec<_>, _>>()?;
            into.store(&TaskKey::new(*connector, index), &positions)?;
        }
        let mut done = dir.clone().into_os_string();
        done.push(".migrated");
        fs::rename(&dir, &done)
            .map_err(|e| PositionStoreError(format!("{}: {e}", dir.display())))?;
        tracing::warn!(
            connector,
            from = %dir.display(),
            into = %into.path().display(),
            "positions taken over from the old per-task files"
        );
        migrated.push((*connector).to_owned());
    }
    Ok(migrated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::record::SourcePosition;

    #[test]
    fn old_task_files_are_taken_over_unless_two_names_shared_them() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("orders")).unwrap();
        fs::write(dir.path().join("orders/task-0.offsets"), "offset\t12\n").unwrap();
        fs::write(dir.path().join("orders/task-1.offsets"), "offset\t34\n").unwrap();
        fs::create_dir_all(dir.path().join("a_b")).unwrap();
        fs::write(dir.path().join("a_b/task-0.offsets"), "offset\t56\n").unwrap();
        let store = PositionFile::open(dir.path().join("offsets.json")).unwrap();
        let names: BTreeSet<String> = ["orders", "a.b", "a_b"].map(String::from).into();
        let migrated = migrate_task_files(dir.path(), &names, &store).unwrap();
        assert_eq!(migrated, ["orders"]);
        assert_eq!(
            store.load(&TaskKey::new("orders", 1)).unwrap(),
            [SourcePosition::Offset(34)]
        );
        assert!(dir.path().join("orders.migrated").is_dir());
        assert!(store.load(&TaskKey::new("a.b", 0)).unwrap().is_empty());
        assert!(store.load(&TaskKey::new("a_b", 0)).unwrap().is_empty());
        assert!(
            dir.path().join("a_b").is_dir(),
            "the shared directory is left alone"
        );
    }
}
