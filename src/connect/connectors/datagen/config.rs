//! The `datagen` source's keys.

use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType};

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::optional(
        "rate",
        ConfigType::Double,
        Some("100"),
        "Records per second; 0 generates as fast as the pipeline takes them",
    ),
    ConfigKey::optional(
        "count",
        ConfigType::Long,
        Some("0"),
        "Stop (the pipeline drains and finishes) after this many records; 0 runs forever",
    ),
    ConfigKey::optional(
        "schema",
        ConfigType::String,
        Some("orders"),
        "Shape of the records: orders (~200-byte orders, 8 fields), users or pageviews",
    )
    .one_of(&["orders", "users", "pageviews"]),
    ConfigKey::optional(
        "seed",
        ConfigType::Long,
        Some("0"),
        "Seed of the generator: the same seed gives the same records",
    ),
    ConfigKey::optional(
        "topic",
        ConfigType::String,
        None,
        "Topic the records are given; a Kafka sink writes to its own `topic` unless this is routed on",
    ),
]);
