//! The `file` source's and sink's keys (Kafka Connect's names), their registry entries, and their typed
//! configs.

use std::path::PathBuf;

use crate::connect::component::{Capabilities, ComponentInfo, ComponentKind};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigProblem, ConfigType, ParsedConfig};
use crate::connect::data::Str;

pub const SOURCE_CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::required(
        "file",
        ConfigType::String,
        "Path of the file to tail (use the `stdin` source to read standard input)",
    ),
    ConfigKey::optional(
        "topic",
        ConfigType::String,
        None,
        "Topic the records are given; a Kafka sink writes to its own `topic` unless this is routed on",
    ),
    ConfigKey::optional(
        "batch.size",
        ConfigType::Int,
        Some("2000"),
        "Most lines handed out by one poll",
    ),
]);

pub const SINK_CONFIG: ConfigDef = ConfigDef::new(&[ConfigKey::required(
    "file",
    ConfigType::String,
    "Path of the file to append to, created if missing (use the `stdout` sink to write standard output)",
)]);

/// The file source. One file is one stream, so a second task would only read the same lines again (as Kafka
/// Connect's FileStreamSource, it does useful work in one task).
pub const SOURCE: ComponentInfo = ComponentInfo {
    kind: ComponentKind::Source,
    name: "file",
    aliases: &[
        "FileStreamSource",
        "org.apache.kafka.connect.file.FileStreamSourceConnector",
    ],
    config: SOURCE_CONFIG,
    capabilities: Capabilities::NONE.with_max_tasks(1),
    doc: "Tails a file line by line; remembers its byte position and which file it is in; follows truncation \
          and rotation, also while the engine is stopped",
};

pub const SINK: ComponentInfo = ComponentInfo {
    kind: ComponentKind::Sink,
    name: "file",
    aliases: &[
        "FileStreamSink",
        "org.apache.kafka.connect.file.FileStreamSinkConnector",
    ],
    config: SINK_CONFIG,
    capabilities: Capabilities::NONE,
    doc: "Appends one line per record value (written with the value converter); flush fsyncs",
};

/// Lines per poll when `batch.size` is missing or not a positive number.
const DEFAULT_BATCH_SIZE: usize = 2000;

/// `batch.size` as a positive count of lines, or the default.
pub(crate) fn batch_size(config: &ParsedConfig) -> usize {
    config
        .int("batch.size")
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_BATCH_SIZE)
}

/// The value of `key`, unless missing or blank.
fn path(config: &ParsedConfig, key: &str) -> Option<PathBuf> {
    config
        .get(key)
        .filter(|p| !p.trim().is_empty())
        .map(PathBuf::from)
}

/// What a file source task tails.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSourceConfig {
    pub file: PathBuf,
    /// The topic the records are given.
    pub topic: Str,
    /// Most lines handed out by one poll.
    pub batch_size: usize,
}

impl FileSourceConfig {
    pub fn new(config: &ParsedConfig) -> Result<Self, Vec<ConfigProblem>> {
        let file = path(config, "file").ok_or_else(|| {
            vec![ConfigProblem {
                key: "file".into(),
                message: "the file source needs `file` (the path to tail); to read standard input use the \
                          `stdin` source"
                    .into(),
            }]
        })?;
        Ok(Self {
            file,
            topic: Str::from(config.get("topic").unwrap_or("")),
            batch_size: batch_size(config),
        })
    }
}

/// What a file sink task appends to.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSinkConfig {
    pub file: PathBuf,
}

impl FileSinkConfig {
    pub fn new(config: &ParsedConfig) -> Result<Self, Vec<ConfigProblem>> {
        let file = path(config, "file").ok_or_else(|| {
            vec![ConfigProblem {
                key: "file".into(),
                message: "the file sink needs `file` (the path to append to); to write standard output use \
                          the `stdout` sink"
                    .into(),
            }]
        })?;
        Ok(Self { file })
    }
}
