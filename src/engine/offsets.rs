//! Source positions kept on local disk, one file per pipeline task: what the task's source handed out and the
//! sink acknowledged. Written atomically (temporary file, fsync, rename), so a crash leaves the old or the new
//! positions, never a torn file.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::connect::data::Str;
use crate::connect::record::SourcePosition;

/// The positions file of one task.
#[derive(Debug, Clone)]
pub struct OffsetStore {
    path: PathBuf,
}

impl OffsetStore {
    /// `<state_dir>/<pipeline>/task-<index>.offsets`; the directory is created.
    pub fn open(state_dir: &Path, pipeline: &str, task: u32) -> io::Result<Self> {
        let safe: String = pipeline
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = state_dir.join(safe);
        fs::create_dir_all(&dir)?;
        Ok(Self {
            path: dir.join(format!("task-{task}.offsets")),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored positions; none when the file does not exist. A line that does not parse is an error naming
    /// the file and line (starting over silently would re-send or skip data).
    pub fn load(&self) -> io::Result<Vec<SourcePosition>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                parse_line(line).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}:{}: not a source position: {line:?}",
                            self.path.display(),
                            i + 1
                        ),
                    )
                })
            })
            .collect()
    }

    /// Replaces the stored positions.
    pub fn store(&self, positions: &[SourcePosition]) -> io::Result<()> {
        let mut text = String::new();
        for position in positions {
            text.push_str(&format_line(position));
            text.push('\n');
        }
        let tmp = self.path.with_extension("offsets.tmp");
        let mut file = fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            // The rename itself must survive a crash too.
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

pub fn format_line(position: &SourcePosition) -> String {
    match position {
        SourcePosition::Offset(offset) => format!("offset\t{offset}"),
        SourcePosition::KafkaOffset {
            topic,
            partition,
            offset,
        } => format!("kafka\t{partition}\t{offset}\t{}", topic.as_str()),
        SourcePosition::Opaque(bytes) => {
            format!(
                "opaque\t{}",
                bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
            )
        }
    }
}

pub fn parse_line(line: &str) -> Option<SourcePosition> {
    let mut fields = line.splitn(4, '\t');
    match fields.next()? {
        "offset" => fields.next()?.parse().ok().map(SourcePosition::Offset),
        "kafka" => {
            let partition = fields.next()?.parse().ok()?;
            let offset = fields.next()?.parse().ok()?;
            let topic = fields.next()?;
            Some(SourcePosition::KafkaOffset {
                topic: Str::from(topic),
                partition,
                offset,
            })
        }
        "opaque" => {
            let hex = fields.next()?;
            if hex.len() % 2 != 0 {
                return None;
            }
            let bytes: Option<Vec<u8>> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect();
            bytes.map(|b| SourcePosition::Opaque(Bytes::from(b)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_survive_a_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = OffsetStore::open(dir.path(), "orders to kafka", 1).unwrap();
        assert_eq!(store.load().unwrap(), vec![]);
        let positions = vec![
            SourcePosition::Offset(4096),
            SourcePosition::KafkaOffset {
                topic: Str::from("a\tb"),
                partition: 3,
                offset: 17,
            },
            SourcePosition::Opaque(Bytes::from_static(&[0, 255, 16])),
        ];
        store.store(&positions).unwrap();
        assert_eq!(store.load().unwrap(), positions);
        assert!(store.path().ends_with("orders_to_kafka/task-1.offsets"));
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = OffsetStore::open(dir.path(), "p", 0).unwrap();
        fs::write(store.path(), "offset\t12\nnonsense\n").unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(err.contains("task-0.offsets:2"), "{err}");
    }
}
