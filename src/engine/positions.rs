//! Where a task's source positions are kept between runs, as the engine sees it: a trait the worker implements
//! (a file per task in standalone mode; a topic in distributed mode), and the one text form a position is
//! written in.
//!
//! The engine calls [`PositionStore::store`] only after the sink acknowledged every record before the
//! positions (at-least-once). It must not know where the positions go.

use std::fmt;

use bytes::Bytes;

use crate::connect::data::Str;
use crate::connect::record::{FileHead, FileId, SourcePosition};

/// One task of one connector, as the engine, the worker and their stores name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskKey {
    pub connector: String,
    pub index: u32,
}

impl TaskKey {
    pub fn new(connector: impl Into<String>, index: u32) -> Self {
        Self {
            connector: connector.into(),
            index,
        }
    }
}

impl fmt::Display for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.connector, self.index)
    }
}

/// A store could not read or write positions; the message names the store's file or topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PositionStoreError(pub String);

/// Keeps the latest acknowledged positions of each task.
pub trait PositionStore: Send + Sync + fmt::Debug {
    /// The positions stored for `task`; none when nothing was ever stored. A damaged store is an error naming
    /// where (starting over silently would re-send or skip data).
    fn load(&self, task: &TaskKey) -> Result<Vec<SourcePosition>, PositionStoreError>;

    /// The positions stored for every task of `connector`, by task index: for a source whose streams may move
    /// from one task to another (the jdbc source's tables when `tasks` changes).
    fn load_connector(
        &self,
        connector: &str,
    ) -> Result<Vec<(u32, Vec<SourcePosition>)>, PositionStoreError>;

    /// Replaces the positions stored for `task`; durable when it returns.
    fn store(&self, task: &TaskKey, positions: &[SourcePosition])
        -> Result<(), PositionStoreError>;

    /// Tells the store which source `connector` reads, before its tasks start: a store in Kafka Connect's
    /// offsets topic keeps positions in the form of the Kafka Connect connector of the same kind
    /// (FileStreamSource's `{"filename": …}`). A store of our own form needs nothing.
    fn set_source(&self, _connector: &str, _source: &crate::connect::connectors::SourceConfig) {}
}

/// A position as one line of text (tab-separated fields; no newline).
pub fn format_line(position: &SourcePosition) -> String {
    match position {
        SourcePosition::Offset(offset) => format!("offset\t{offset}"),
        SourcePosition::FileOffset { offset, file, head } => format!(
            "file\t{offset}\t{}\t{}\t{}\t{:08x}",
            file.device, file.inode, head.bytes, head.crc32c
        ),
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

/// The position [`format_line`] wrote; `None` for a line it could not have written.
pub fn parse_line(line: &str) -> Option<SourcePosition> {
    let mut fields = line.splitn(4, '\t');
    match fields.next()? {
        "offset" => fields.next()?.parse().ok().map(SourcePosition::Offset),
        "file" => {
            // Numbers only, so every field is split (the kafka form keeps tabs in its last field, a topic).
            let mut fields = line.split('\t').skip(1);
            let offset = fields.next()?.parse().ok()?;
            let file = FileId {
                device: fields.next()?.parse().ok()?,
                inode: fields.next()?.parse().ok()?,
            };
            let head = FileHead {
                bytes: fields.next()?.parse().ok()?,
                crc32c: u32::from_str_radix(fields.next()?, 16).ok()?,
            };
            fields
                .next()
                .is_none()
                .then_some(SourcePosition::FileOffset { offset, file, head })
        }
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
    fn every_position_survives_its_line() {
        let positions = [
            SourcePosition::Offset(4096),
            SourcePosition::KafkaOffset {
                topic: Str::from("a\tb"),
                partition: 3,
                offset: 17,
            },
            SourcePosition::Opaque(Bytes::from_static(&[0, 255, 16])),
            SourcePosition::FileOffset {
                offset: 5_000_000_000,
                file: FileId {
                    device: 2049,
                    inode: u64::MAX,
                },
                head: FileHead {
                    bytes: 1024,
                    crc32c: 0x0000_beef,
                },
            },
        ];
        for position in positions {
            assert_eq!(parse_line(&format_line(&position)), Some(position));
        }
        assert_eq!(parse_line("nonsense"), None);
        assert_eq!(parse_line("opaque\tabc"), None);
        assert_eq!(parse_line("file\t10\t1\t2\t3"), None, "a field missing");
        assert_eq!(
            parse_line("file\t10\t1\t2\t3\tff\t9"),
            None,
            "a field too many"
        );
        assert_eq!(
            parse_line("file\t-1\t1\t2\t3\tff"),
            None,
            "a negative offset"
        );
        assert_eq!(TaskKey::new("orders", 2).to_string(), "orders#2");
    }
}
