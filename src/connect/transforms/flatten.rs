//! `Flatten$Key` / `Flatten$Value`: nested structs (with schema) or maps (schemaless) become one level, their
//! field names joined with `delimiter`. Fields under an optional struct become optional.

use super::shared::{TransformBuildError, TransformError, Which, NEGATE_KEY, PREDICATE_KEY};
use super::util::{invalid, operating, take_map, take_struct, SchemaCache};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::{Schema, SchemaRef, Str, Struct, Type, Value};
use crate::connect::record::ConnectRecord;

const NAME: &str = "Flatten";
const PURPOSE: &str = "flattening";

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::optional(
        "delimiter",
        ConfigType::String,
        Some("."),
        "Delimiter between the names of nested fields",
    ),
    PREDICATE_KEY,
    NEGATE_KEY,
]);

#[derive(Debug, Clone)]
pub struct Flatten {
    pub which: Which,
    delimiter: String,
    cache: SchemaCache<SchemaRef>,
}

impl Flatten {
    pub fn build(config: &ParsedConfig, which: Which) -> Result<Self, TransformBuildError> {
        Ok(Flatten {
            which,
            delimiter: config.get("delimiter").unwrap_or(".").to_owned(),
            cache: SchemaCache::default(),
        })
    }

    fn join(&self, prefix: &str, name: &str) -> String {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}{}{name}", self.delimiter)
        }
    }

    fn flatten_map(
        &self,
        prefix: &str,
        entries: Vec<(Value, Value)>,
        out: &mut Vec<(Value, Value)>,
    ) -> Result<(), TransformError> {
        for (k, v) in entries {
            let Value::String(key) = k else {
                return Err(invalid(
                    NAME,
                    format!(
                        "map keys must be strings to flatten, found {}",
                        k.type_name()
                    ),
                ));
            };
            let name = if prefix.is_empty() {
                key
            } else {
                Str::from(self.join(prefix, &key))
            };
            match v {
                Value::Map(inner) => self.flatten_map(&name, inner, out)?,
                Value::Struct(_) => {
                    return Err(invalid(
                        NAME,
                        "a struct inside a schemaless map cannot be flattened",
                    ))
                }
                other => out.push((Value::String(name), other)),
            }
        }
        Ok(())
    }

    fn flatten_schema(&self, prefix: &str, schema: &Schema, optional: bool, builder: &mut Schema) {
        for f in &schema.fields {
            let name = self.join(prefix, &f.name);
            let field_optional = optional || f.schema.optional;
            if f.schema.ty == Type::Struct {
                self.flatten_schema(&name, &f.schema, field_optional, builder);
            } else {
                let fs = if field_optional && !f.schema.optional {
                    (*f.schema).clone().optional().build()
                } else {
                    f.schema.clone()
                };
                let taken = std::mem::replace(builder, Schema::structure());
                *builder = taken.field(&name, fs);
            }
        }
    }

    fn flatten_values(schema: &Schema, values: Option<Vec<Value>>, out: &mut Vec<Value>) {
        let mut values = values;
        for f in &schema.fields {
            let v = values
                .as_mut()
                .and_then(|vs| vs.get_mut(f.index))
                .map(std::mem::take)
                .unwrap_or_default();
            if f.schema.ty == Type::Struct {
                let inner = match v {
                    Value::Struct(s) => Some(s.into_values()),
                    _ => None,
                };
                Self::flatten_values(&f.schema, inner, out);
            } else {
                out.push(v);
            }
        }
    }

    pub fn apply(&self, record: &mut ConnectRecord) -> Result<(), TransformError> {
        let sv = operating(record, self.which, NAME)?;
        if sv.value.is_null() {
            return Ok(());
        }
        match &sv.schema {
            None => {
                let entries = take_map(&mut sv.value, NAME, PURPOSE)?;
                let mut out = Vec::with_capacity(entries.len());
                self.flatten_map("", entries, &mut out)?;
                sv.value = Value::Map(out);
            }
            Some(schema) => {
                let updated = self.cache.get_or_try_insert(schema, || {
                    let mut builder = schema.copy_basics();
                    builder.optional = false;
                    self.flatten_schema("", schema, false, &mut builder);
                    Ok(builder.build())
                })?;
                let values = take_struct(&mut sv.value, NAME, PURPOSE)?.into_values();
                let mut out = Vec::with_capacity(updated.fields.len());
                Self::flatten_values(schema, Some(values), &mut out);
                sv.value = Value::Struct(
                    Struct::from_values(updated.clone(), out)
                        .map_err(|e| invalid(NAME, e.to_string()))?,
                );
                sv.schema = Some(updated);
            }
        }
        Ok(())
    }
}
