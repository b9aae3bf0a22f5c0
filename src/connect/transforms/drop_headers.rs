//! `DropHeaders`: remove every header whose name is in `headers`.

use super::shared::{TransformBuildError, NEGATE_KEY, PREDICATE_KEY};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::record::ConnectRecord;

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::required(
        "headers",
        ConfigType::List,
        "Names of the headers to remove",
    ),
    PREDICATE_KEY,
    NEGATE_KEY,
]);

#[derive(Debug, Clone)]
pub struct DropHeaders {
    headers: Vec<String>,
}

impl DropHeaders {
    pub fn build(config: &ParsedConfig) -> Result<Self, TransformBuildError> {
        let headers = config.list("headers");
        if headers.is_empty() {
            return Err(super::util::config_error(
                "DropHeaders",
                "headers",
                "must name at least one header",
            ));
        }
        Ok(DropHeaders { headers })
    }

    pub fn apply(&self, record: &mut ConnectRecord) {
        record
            .headers
            .retain(|h| !self.headers.iter().any(|n| h.key == n.as_str()));
    }
}
