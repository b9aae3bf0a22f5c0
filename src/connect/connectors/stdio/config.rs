//! The `stdin` source's and `stdout` sink's keys.

use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType};

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
