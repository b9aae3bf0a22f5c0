//! `ValueToKey`: replace the key with a struct (with schema) or map (schemaless) of `fields` taken from the
//! value.

use super::shared::{TransformBuildError, TransformError, Which, NEGATE_KEY, PREDICATE_KEY};
use super::util::{invalid, operating, require_map, require_struct, SchemaCache};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::{Schema, SchemaAndValue, SchemaRef, Str, Struct, Value};
use crate::connect::record::{ConnectRecord, Data};
use std::sync::Arc;

const NAME: &str = "ValueToKey";
const PURPOSE: &str = "copying fields from value to key";

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::required(
        "fields",
        ConfigType::List,
        "Field names on the value to put in the key",
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
pub struct ValueToKey {
    fields: Vec<Str>,
    /// Key schema and, per key field, the value field index.
    cache: SchemaCache<(SchemaRef, Arc<[usize]>)>,
}

impl ValueToKey {
    pub fn build(config: &ParsedConfig) -> Result<Self, TransformBuildError> {
        let fields: Vec<Str> = config.list("fields").into_iter().map(Str::from).collect();
        if fields.is_empty() {
            return Err(super::util::config_error(
                NAME,
                "fields",
                "must name at least one field",
            ));
        }
        Ok(ValueToKey {
            fields,
            cache: SchemaCache::default(),
        })
    }

    pub fn apply(&self, record: &mut ConnectRecord) -> Result<(), TransformError> {
        let sv = operating(record, Which::Value, NAME)?;
        let key = match &sv.schema {
            None => {
                let map = require_map(&mut sv.value, NAME, PURPOSE)?;
                let entries = self
                    .fields
                    .iter()
                    .map(|f| {
                        let v = crate::connect::data::map_get(map, f)
                            .cloned()
                            .unwrap_or_default();
                        (Value::String(f.clone()), v)
                    })
                    .collect();
                SchemaAndValue::schemaless(Value::Map(entries))
            }
            Some(schema) => {
                let (key_schema, sources) = self.cache.get_or_try_insert(schema, || {
                    let mut builder = Schema::structure();
                    let mut sources = Vec::new();
                    for f in &self.fields {
                        let field = schema
                            .field_named(f)
                            .ok_or_else(|| invalid(NAME, format!("field does not exist: {f}")))?;
                        builder = builder.field(f, field.schema.clone());
                        sources.push(field.index);
                    }
                    let out: (SchemaRef, Arc<[usize]>) = (builder.build(), sources.into());
                    Ok(out)
                })?;
                let value = require_struct(&mut sv.value, NAME, PURPOSE)?;
                let values = sources
                    .iter()
                    .map(|&i| value.get_index(i).cloned().unwrap_or_default())
                    .collect();
                let key = Struct::from_values(key_schema.clone(), values)
                    .map_err(|e| invalid(NAME, e.to_string()))?;
                SchemaAndValue::new(Some(key_schema), Value::Struct(key))
            }
        };
        record.key = Data::Converted(key);
        Ok(())
    }
}
