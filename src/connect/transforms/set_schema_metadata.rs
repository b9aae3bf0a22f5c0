//! `SetSchemaMetadata$Key` / `$Value`: set the schema's `schema.name` and/or `schema.version`; a struct value
//! is re-pointed at the new schema.

use super::shared::{TransformBuildError, TransformError, Which, NEGATE_KEY, PREDICATE_KEY};
use super::util::{invalid, operating, SchemaCache};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::{SchemaRef, Value};
use crate::connect::record::ConnectRecord;

const NAME: &str = "SetSchemaMetadata";

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::optional(
        "schema.name",
        ConfigType::String,
        None,
        "Schema name to set",
    ),
    ConfigKey::optional(
        "schema.version",
        ConfigType::Int,
        None,
        "Schema version to set",
    ),
    ConfigKey::optional(
        "replace.null.with.default",
        ConfigType::Boolean,
        Some("true"),
        "Accepted for compatibility",
    ),
    PREDICATE_KEY,
    NEGATE_KEY,
]);

#[derive(Debug, Clone)]
pub struct SetSchemaMetadata {
    pub which: Which,
    name: Option<String>,
    version: Option<i32>,
    cache: SchemaCache<SchemaRef>,
}

impl SetSchemaMetadata {
    pub fn build(config: &ParsedConfig, which: Which) -> Result<Self, TransformBuildError> {
        let name = config
            .get("schema.name")
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        let version = config
            .int("schema.version")
            .and_then(|v| i32::try_from(v).ok());
        if name.is_none() && version.is_none() {
            return Err(super::util::config_error(
                NAME,
                "schema.name",
                "set schema.name and/or schema.version",
            ));
        }
        Ok(SetSchemaMetadata {
            which,
            name,
            version,
            cache: SchemaCache::default(),
        })
    }

    pub fn apply(&self, record: &mut ConnectRecord) -> Result<(), TransformError> {
        let sv = operating(record, self.which, NAME)?;
        let Some(schema) = &sv.schema else {
            return Err(invalid(
                NAME,
                format!("the {} has no schema to update", self.which),
            ));
        };
        let updated = self.cache.get_or_try_insert(schema, || {
            let mut s = (**schema).clone();
            if let Some(n) = &self.name {
                s.name = Some(n.clone());
            }
            if let Some(v) = self.version {
                s.version = Some(v);
            }
            Ok(s.build())
        })?;
        sv.value = match std::mem::take(&mut sv.value) {
            Value::Struct(s) => Value::Struct(s.with_schema(updated.clone())),
            other => other,
        };
        sv.schema = Some(updated);
        Ok(())
    }
}
