//! The `file` source's and sink's keys (Kafka Connect's names).

use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType};

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
