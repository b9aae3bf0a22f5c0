//! `ExtractField$Key` / `ExtractField$Value`: replace the key or value with one of its fields.

use super::shared::{TransformBuildError, TransformError, Which, NEGATE_KEY, PREDICATE_KEY};
use super::util::{invalid, operating, take_map, take_struct};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::record::ConnectRecord;

const NAME: &str = "ExtractField";
const PURPOSE: &str = "field extraction";

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::required("field", ConfigType::String, "Field name to extract"),
    PREDICATE_KEY,
    NEGATE_KEY,
]);

#[derive(Debug, Clone)]
pub struct ExtractField {
    pub which: Which,
    field: String,
}

impl ExtractField {
    pub fn build(config: &ParsedConfig, which: Which) -> Result<Self, TransformBuildError> {
        Ok(ExtractField {
            which,
            field: super::util::required_string(config, "field", NAME)?,
        })
    }

    pub fn apply(&self, record: &mut ConnectRecord) -> Result<(), TransformError> {
        let sv = operating(record, self.which, NAME)?;
        match sv.schema.take() {
            None => {
                if sv.value.is_null() {
                    return Ok(());
                }
                let entries = take_map(&mut sv.value, NAME, PURPOSE)?;
                sv.value = entries
                    .into_iter()
                    .find(|(k, _)| k.as_str() == Some(self.field.as_str()))
                    .map(|(_, v)| v)
                    .unwrap_or_default();
            }
            Some(schema) => {
                let field = schema
                    .field_named(&self.field)
                    .ok_or_else(|| invalid(NAME, format!("unknown field: {}", self.field)))?;
                sv.schema = Some(field.schema.clone());
                if !sv.value.is_null() {
                    let mut values = take_struct(&mut sv.value, NAME, PURPOSE)?.into_values();
                    sv.value = values
                        .get_mut(field.index)
                        .map(std::mem::take)
                        .unwrap_or_default();
                }
            }
        }
        Ok(())
    }
}
