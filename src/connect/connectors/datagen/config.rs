//! The `datagen` source's keys, its registry entry, and its typed config.

use super::schemas::DatagenSchema;
use crate::connect::component::{Capabilities, ComponentInfo, ComponentKind};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigProblem, ConfigType, ParsedConfig};
use crate::connect::data::Str;

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

/// The datagen source: each task generates its own sequence, so any number of tasks do useful work.
pub const SOURCE: ComponentInfo = ComponentInfo {
    kind: ComponentKind::Source,
    name: "datagen",
    aliases: &[],
    config: CONFIG,
    capabilities: Capabilities::NONE,
    doc: "Synthetic JSON records (orders, users, pageviews) at a given rate; deterministic for a seed",
};

/// What a datagen task generates, and how fast.
#[derive(Debug, Clone, PartialEq)]
pub struct DatagenConfig {
    pub schema: DatagenSchema,
    /// The configured seed; task `i` of a pipeline derives its own from it.
    pub seed: u64,
    /// The topic the records are given.
    pub topic: Str,
    /// Records per second; `None`: as fast as the pipeline takes them.
    pub rate: Option<f64>,
    /// How many records to generate before finishing; `None`: forever.
    pub count: Option<u64>,
}

impl DatagenConfig {
    pub fn new(config: &ParsedConfig) -> Result<Self, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let schema_name = config.get("schema").unwrap_or("orders");
        let schema = DatagenSchema::from_name(schema_name);
        if schema.is_none() {
            problems.push(ConfigProblem {
                key: "schema".into(),
                message: format!("unknown schema `{schema_name}`; use orders, users or pageviews"),
            });
        }
        let rate = config.double("rate").unwrap_or(100.0);
        if !rate.is_finite() || rate < 0.0 {
            problems.push(ConfigProblem {
                key: "rate".into(),
                message: format!(
                    "must be 0 (as fast as possible) or a positive number of records per second, not {rate}"
                ),
            });
        }
        let count = config.int("count").unwrap_or(0);
        if count < 0 {
            problems.push(ConfigProblem {
                key: "count".into(),
                message: format!(
                    "must be 0 (forever) or a positive number of records, not {count}"
                ),
            });
        }
        match schema {
            Some(schema) if problems.is_empty() => Ok(Self {
                schema,
                seed: config.int("seed").unwrap_or(0) as u64,
                topic: Str::from(config.get("topic").unwrap_or("")),
                rate: (rate > 0.0).then_some(rate),
                count: u64::try_from(count).ok().filter(|n| *n > 0),
            }),
            _ => Err(problems),
        }
    }
}
