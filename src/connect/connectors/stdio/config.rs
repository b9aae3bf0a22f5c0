//! The `stdin` source's and `stdout` sink's keys, their registry entries, and their typed configs.

use crate::connect::component::{Capabilities, ComponentInfo, ComponentKind};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigProblem, ConfigType, ParsedConfig};
use crate::connect::connectors::file::batch_size;
use crate::connect::data::Str;

pub const SOURCE_CONFIG: ConfigDef = ConfigDef::new(&[
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

pub const SINK_CONFIG: ConfigDef = ConfigDef::new(&[]);

/// The stdin source: the process has one standard input, so one task reads it.
pub const SOURCE: ComponentInfo = ComponentInfo {
    kind: ComponentKind::Source,
    name: "stdin",
    aliases: &[],
    config: SOURCE_CONFIG,
    capabilities: Capabilities::NONE.with_max_tasks(1),
    doc: "One record per line of standard input; finishes at the end of the input",
};

pub const SINK: ComponentInfo = ComponentInfo {
    kind: ComponentKind::Sink,
    name: "stdout",
    aliases: &[],
    config: SINK_CONFIG,
    capabilities: Capabilities::NONE,
    doc: "One line per record value on standard output, like the file sink",
};

/// How the stdin source hands out its lines.
#[derive(Debug, Clone, PartialEq)]
pub struct StdinSourceConfig {
    /// The topic the records are given.
    pub topic: Str,
    /// Most lines handed out by one poll.
    pub batch_size: usize,
}

impl StdinSourceConfig {
    pub fn new(config: &ParsedConfig) -> Result<Self, Vec<ConfigProblem>> {
        Ok(Self {
            topic: Str::from(config.get("topic").unwrap_or("")),
            batch_size: batch_size(config),
        })
    }
}

impl Default for StdinSourceConfig {
    /// As with no keys set.
    fn default() -> Self {
        Self {
            topic: Str::from(""),
            batch_size: batch_size(&ParsedConfig::default()),
        }
    }
}

/// The stdout sink has no keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StdoutSinkConfig;

impl StdoutSinkConfig {
    pub fn new(config: &ParsedConfig) -> Result<Self, Vec<ConfigProblem>> {
        let _ = config;
        Ok(Self)
    }
}
