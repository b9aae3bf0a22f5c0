//! `HeaderFrom$Key` / `HeaderFrom$Value`: copy or move `fields` of the key or value into headers named by
//! the matching entries of `headers`.

use super::shared::{TransformBuildError, TransformError, Which, NEGATE_KEY, PREDICATE_KEY};
use super::util::{
    config_error, invalid, map_remove, operating, require_map, take_struct, SchemaCache,
};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::{map_get, SchemaRef, Str, Struct, Value};
use crate::connect::record::{ConnectRecord, Header};
use std::sync::Arc;

const NAME: &str = "HeaderFrom";
const PURPOSE: &str = "header extraction";

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::required(
        "fields",
        ConfigType::List,
        "Field names in the record whose values are copied or moved to headers",
    ),
    ConfigKey::required(
        "headers",
        ConfigType::List,
        "Header names, in the same order as `fields`",
    ),
    ConfigKey::required("operation", ConfigType::String, "copy or move").one_of(&["copy", "move"]),
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
pub struct HeaderFrom {
    pub which: Which,
    fields: Vec<String>,
    headers: Vec<Str>,
    move_fields: bool,
    /// For `move`: the schema without the moved fields, and the kept field indexes.
    cache: SchemaCache<(SchemaRef, Arc<[usize]>)>,
}

impl HeaderFrom {
    pub fn build(config: &ParsedConfig, which: Which) -> Result<Self, TransformBuildError> {
        let fields = config.list("fields");
        let headers: Vec<Str> = config.list("headers").into_iter().map(Str::from).collect();
        if fields.is_empty() || fields.len() != headers.len() {
            return Err(config_error(
                NAME,
                "headers",
                format!(
                    "`fields` and `headers` must be non-empty lists of the same length ({} vs {})",
                    fields.len(),
                    headers.len()
                ),
            ));
        }
        let move_fields = match config
            .get("operation")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("move") => true,
            Some("copy") => false,
            _ => return Err(config_error(NAME, "operation", "must be copy or move")),
        };
        Ok(HeaderFrom {
            which,
            fields,
            headers,
            move_fields,
            cache: SchemaCache::default(),
        })
    }

    pub fn apply(&self, record: &mut ConnectRecord) -> Result<(), TransformError> {
        let mut new_headers = Vec::with_capacity(self.fields.len());
        let sv = operating(record, self.which, NAME)?;
        if sv.value.is_null() {
            return Ok(());
        }
        match &sv.schema {
            None => {
                let map = require_map(&mut sv.value, NAME, PURPOSE)?;
                for (field, header) in self.fields.iter().zip(&self.headers) {
                    let value = if self.move_fields {
                        map_remove(map, field)
                    } else {
                        map_get(map, field).cloned()
                    };
                    new_headers.push(Header {
                        key: header.clone(),
                        value: value.unwrap_or_default(),
                        schema: None,
                    });
                }
            }
            Some(schema) => {
                let s = take_struct(&mut sv.value, NAME, PURPOSE)?;
                for (field, header) in self.fields.iter().zip(&self.headers) {
                    let f = schema.field_named(field).ok_or_else(|| {
                        invalid(
                            NAME,
                            format!("field `{field}` is not in the {} schema", self.which),
                        )
                    })?;
                    new_headers.push(Header {
                        key: header.clone(),
                        value: s.get_index(f.index).cloned().unwrap_or_default(),
                        schema: Some(f.schema.clone()),
                    });
                }
                if self.move_fields {
                    let (updated, kept) = self.cache.get_or_try_insert(schema, || {
                        let mut builder = schema.copy_basics();
                        builder.optional = false;
                        let mut kept = Vec::new();
                        for f in &schema.fields {
                            if !self.fields.contains(&f.name) {
                                builder = builder.field(&f.name, f.schema.clone());
                                kept.push(f.index);
                            }
                        }
                        let out: (SchemaRef, Arc<[usize]>) = (builder.build(), kept.into());
                        Ok(out)
                    })?;
                    let mut old = s.into_values();
                    let values = kept
                        .iter()
                        .map(|&i| old.get_mut(i).map(std::mem::take).unwrap_or_default())
                        .collect();
                    sv.value = Value::Struct(
                        Struct::from_values(updated.clone(), values)
                            .map_err(|e| invalid(NAME, e.to_string()))?,
                    );
                    sv.schema = Some(updated);
                } else {
                    sv.value = Value::Struct(s);
                }
            }
        }
        record.headers.extend(new_headers);
        Ok(())
    }
}
