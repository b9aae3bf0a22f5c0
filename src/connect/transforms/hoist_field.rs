//! `HoistField$Key` / `HoistField$Value`: wrap the key or value in a struct (with schema) or a map
//! (schemaless) with the single field `field`.

use super::shared::{TransformBuildError, TransformError, Which, NEGATE_KEY, PREDICATE_KEY};
use super::util::{invalid, operating, SchemaCache};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::{Schema, SchemaRef, Str, Struct, Value};
use crate::connect::record::ConnectRecord;

const NAME: &str = "HoistField";

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::required(
        "field",
        ConfigType::String,
        "Field name for the single field of the wrapping struct or map",
    ),
    PREDICATE_KEY,
    NEGATE_KEY,
]);

#[derive(Debug, Clone)]
pub struct HoistField {
    pub which: Which,
    field: Str,
    cache: SchemaCache<SchemaRef>,
}

impl HoistField {
    pub fn build(config: &ParsedConfig, which: Which) -> Result<Self, TransformBuildError> {
        Ok(HoistField {
            which,
            field: Str::from(super::util::required_string(config, "field", NAME)?),
            cache: SchemaCache::default(),
        })
    }

    pub fn apply(&self, record: &mut ConnectRecord) -> Result<(), TransformError> {
        let sv = operating(record, self.which, NAME)?;
        let value = std::mem::take(&mut sv.value);
        match &sv.schema {
            None => sv.value = Value::Map(vec![(Value::String(self.field.clone()), value)]),
            Some(schema) => {
                let updated = self.cache.get_or_try_insert(schema, || {
                    Ok(Schema::structure()
                        .field(&self.field, schema.clone())
                        .build())
                })?;
                let s = Struct::from_values(updated.clone(), vec![value])
                    .map_err(|e| invalid(NAME, e.to_string()))?;
                sv.value = Value::Struct(s);
                sv.schema = Some(updated);
            }
        }
        Ok(())
    }
}
