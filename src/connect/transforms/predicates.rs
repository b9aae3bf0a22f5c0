//! Predicates that gate a transform (`predicate` + `negate`): `TopicNameMatches`, `HasHeaderKey`,
//! `RecordIsTombstone`.

use super::regex_router::full_match_regex;
use super::shared::TransformBuildError;
use super::util::config_error;
use crate::connect::component::{Capabilities, ComponentInfo, ComponentKind};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::record::ConnectRecord;
use regex::Regex;

pub const TOPIC_NAME_MATCHES_CONFIG: ConfigDef = ConfigDef::new(&[ConfigKey::required(
    "pattern",
    ConfigType::String,
    "Regular expression the whole topic name must match",
)]);
pub const HAS_HEADER_KEY_CONFIG: ConfigDef = ConfigDef::new(&[ConfigKey::required(
    "name",
    ConfigType::String,
    "Header name",
)]);
pub const RECORD_IS_TOMBSTONE_CONFIG: ConfigDef = ConfigDef::new(&[]);

/// A predicate, statically dispatched.
#[derive(Debug, Clone)]
pub enum Predicate {
    TopicNameMatches(Regex),
    HasHeaderKey(String),
    RecordIsTombstone,
}

impl Predicate {
    /// Builds predicate `name` (short or Kafka Connect class name) from its parsed config.
    pub fn build(name: &str, config: &ParsedConfig) -> Result<Predicate, TransformBuildError> {
        let info = COMPONENTS
            .iter()
            .find(|c| c.name == name || c.aliases.contains(&name))
            .ok_or_else(|| TransformBuildError::Unknown {
                name: name.to_owned(),
                hint: " (known predicates: TopicNameMatches, HasHeaderKey, RecordIsTombstone)"
                    .to_owned(),
            })?;
        Ok(match info.name {
            "TopicNameMatches" => {
                let pattern = config
                    .get("pattern")
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| config_error("TopicNameMatches", "pattern", "must be set"))?;
                Predicate::TopicNameMatches(full_match_regex(
                    pattern,
                    "TopicNameMatches",
                    "pattern",
                )?)
            }
            "HasHeaderKey" => Predicate::HasHeaderKey(
                config
                    .get("name")
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| config_error("HasHeaderKey", "name", "must be set"))?
                    .to_owned(),
            ),
            _ => Predicate::RecordIsTombstone,
        })
    }

    pub fn test(&self, record: &ConnectRecord) -> bool {
        match self {
            Predicate::TopicNameMatches(re) => re.is_match(&record.topic),
            Predicate::HasHeaderKey(name) => record.headers.iter().any(|h| h.key == name.as_str()),
            Predicate::RecordIsTombstone => record.value.is_null(),
        }
    }
}

/// The predicates, for the registry.
pub static COMPONENTS: &[ComponentInfo] = &[
    ComponentInfo {
        kind: ComponentKind::Predicate,
        name: "TopicNameMatches",
        aliases: &["org.apache.kafka.connect.transforms.predicates.TopicNameMatches"],
        config: TOPIC_NAME_MATCHES_CONFIG,
        capabilities: Capabilities::NONE,
        doc: "True for records whose topic name matches `pattern`",
    },
    ComponentInfo {
        kind: ComponentKind::Predicate,
        name: "HasHeaderKey",
        aliases: &["org.apache.kafka.connect.transforms.predicates.HasHeaderKey"],
        config: HAS_HEADER_KEY_CONFIG,
        capabilities: Capabilities::NONE,
        doc: "True for records with at least one header named `name`",
    },
    ComponentInfo {
        kind: ComponentKind::Predicate,
        name: "RecordIsTombstone",
        aliases: &["org.apache.kafka.connect.transforms.predicates.RecordIsTombstone"],
        config: RECORD_IS_TOMBSTONE_CONFIG,
        capabilities: Capabilities::NONE,
        doc: "True for tombstones (records with a null value)",
    },
];
