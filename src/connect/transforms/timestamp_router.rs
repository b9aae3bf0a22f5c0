//! `TimestampRouter`: rename the topic from `topic.format`, where `${topic}` is the topic and `${timestamp}`
//! the record timestamp formatted with `timestamp.format` (UTC).

use super::shared::{TransformBuildError, TransformError, NEGATE_KEY, PREDICATE_KEY};
use super::timefmt::DateFormat;
use super::util::{config_error, invalid};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::Str;
use crate::connect::record::ConnectRecord;

const NAME: &str = "TimestampRouter";

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::optional(
        "topic.format",
        ConfigType::String,
        Some("${topic}-${timestamp}"),
        "Topic name format; ${topic} and ${timestamp} are replaced",
    ),
    ConfigKey::optional(
        "timestamp.format",
        ConfigType::String,
        Some("yyyyMMdd"),
        "SimpleDateFormat pattern of ${timestamp}",
    ),
    PREDICATE_KEY,
    NEGATE_KEY,
]);

#[derive(Debug, Clone)]
pub struct TimestampRouter {
    topic_format: String,
    timestamp_format: DateFormat,
}

impl TimestampRouter {
    pub fn build(config: &ParsedConfig) -> Result<Self, TransformBuildError> {
        let pattern = config.get("timestamp.format").unwrap_or("yyyyMMdd");
        Ok(TimestampRouter {
            topic_format: config
                .get("topic.format")
                .unwrap_or("${topic}-${timestamp}")
                .to_owned(),
            timestamp_format: DateFormat::new(pattern)
                .map_err(|e| config_error(NAME, "timestamp.format", e))?,
        })
    }

    pub fn apply(&self, record: &mut ConnectRecord) -> Result<(), TransformError> {
        let Some(ts) = record.timestamp else {
            return Err(invalid(
                NAME,
                format!("timestamp missing on record in topic `{}`", record.topic),
            ));
        };
        let formatted = self.timestamp_format.format(ts);
        let topic = self
            .topic_format
            .replace("${topic}", &record.topic)
            .replace("${timestamp}", &formatted);
        record.topic = Str::from(topic);
        Ok(())
    }
}
