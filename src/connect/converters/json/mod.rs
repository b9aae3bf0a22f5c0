//! `json` (Kafka Connect's `JsonConverter`): JSON bytes ↔ Connect data, with the
//! `{"schema":…,"payload":…}` envelope both ways when `schemas.enable` is true.
//!
//! Parsing is simd-json in place: the input is copied once into a reused scratch buffer, parsed to a reused
//! tape, and every string that needed no unescaping becomes a slice of the *input* `Bytes` (no copy, no
//! allocation). Writing goes straight into the caller's `BytesMut`.

mod parse;
mod path;
mod schema_cache;
mod schema_json;
mod typed;
mod write;

#[cfg(test)]
mod kafka_fixtures;
#[cfg(test)]
mod tests;

use super::{ConvertError, ConverterBuildError};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::{SchemaAndValue, SchemaRef, Value};
use bytes::{Bytes, BytesMut};
use path::Path;
use schema_cache::SchemaCache;
use std::cell::Cell;

pub use parse::MAX_DEPTH;
pub use schema_json::json_type_name;
pub use typed::{bytes_to_unscaled as decimal_unscaled, unscaled_to_bytes as decimal_bytes};

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::optional(
        "schemas.enable",
        ConfigType::Boolean,
        Some("true"),
        "Read and write the {\"schema\":…,\"payload\":…} envelope; false for plain JSON",
    ),
    ConfigKey::optional(
        "schemas.cache.size",
        ConfigType::Int,
        Some("1000"),
        "How many distinct envelope schemas to remember, so records sharing a schema share one parsed `Schema`",
    ),
    ConfigKey::optional(
        "decimal.format",
        ConfigType::String,
        Some("BASE64"),
        "How Decimal values are written: BASE64 (the unscaled bytes) or NUMERIC (a JSON number)",
    )
    .one_of(&["BASE64", "NUMERIC"]),
    ConfigKey::optional(
        "replace.null.with.default",
        ConfigType::Boolean,
        Some("true"),
        "Write a field's default value in place of null",
    ),
    ConfigKey::optional(
        "converter.type",
        ConfigType::String,
        None,
        "Whether this converter converts keys, values or headers (set by the engine)",
    )
    .one_of(&["key", "value", "header"]),
]);

const DEFAULT_SCHEMA_CACHE_SIZE: usize = 1000;

/// JSON options, as the keys in `CONFIG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonOptions {
    pub schemas_enable: bool,
    pub decimal_numeric: bool,
    pub replace_null_with_default: bool,
}

impl Default for JsonOptions {
    fn default() -> Self {
        JsonOptions {
            schemas_enable: true,
            decimal_numeric: false,
            replace_null_with_default: true,
        }
    }
}

/// The JSON converter with its reusable parse buffers.
pub struct JsonConverter {
    pub options: JsonOptions,
    parser: parse::Parser,
    /// Envelope schemas seen recently (their JSON and the parsed schema), `schemas.cache.size` of them.
    // Boxed: it is cold next to the parser, and keeps `Converter` small.
    schema_cache: Box<SchemaCache>,
    /// Struct schemas' field names as rendered JSON keys; taken out for each write (`write_connect` takes
    /// `&self`, and a `Cell` needs no borrow flag that could panic).
    field_keys: Cell<write::FieldKeys>,
}

/// A clone has the same options and starts with empty parse buffers and schema cache: both are one task's
/// scratch, filled again by its first records (a converter cloned from the one built during validation has
/// converted nothing).
impl Clone for JsonConverter {
    fn clone(&self) -> Self {
        JsonConverter {
            options: self.options,
            parser: parse::Parser::default(),
            schema_cache: Box::new(SchemaCache::new(self.schema_cache.capacity())),
            field_keys: Cell::default(),
        }
    }
}

impl std::fmt::Debug for JsonConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonConverter")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl JsonConverter {
    pub fn new(options: JsonOptions) -> Self {
        JsonConverter {
            options,
            parser: parse::Parser::default(),
            schema_cache: Box::new(SchemaCache::new(DEFAULT_SCHEMA_CACHE_SIZE)),
            field_keys: Cell::default(),
        }
    }

    /// Plain JSON (`schemas.enable=false`).
    pub fn schemaless() -> Self {
        Self::new(JsonOptions {
            schemas_enable: false,
            ..JsonOptions::default()
        })
    }

    /// With the envelope (`schemas.enable=true`, Kafka Connect's default).
    pub fn with_schemas() -> Self {
        Self::new(JsonOptions::default())
    }

    pub fn from_config(config: &ParsedConfig, _is_key: bool) -> Result<Self, ConverterBuildError> {
        let decimal_numeric = match config.get("decimal.format") {
            None => false,
            Some(f) if f.eq_ignore_ascii_case("BASE64") => false,
            Some(f) if f.eq_ignore_ascii_case("NUMERIC") => true,
            Some(other) => {
                return Err(ConverterBuildError::InvalidConfig {
                    converter: "json",
                    key: "decimal.format",
                    message: format!("`{other}` is not BASE64 or NUMERIC"),
                })
            }
        };
        let mut converter = Self::new(JsonOptions {
            schemas_enable: config.boolean("schemas.enable").unwrap_or(true),
            decimal_numeric,
            replace_null_with_default: config.boolean("replace.null.with.default").unwrap_or(true),
        });
        let cache_size = match config.int("schemas.cache.size") {
            None => DEFAULT_SCHEMA_CACHE_SIZE,
            Some(n) => usize::try_from(n).map_err(|_| ConverterBuildError::InvalidConfig {
                converter: "json",
                key: "schemas.cache.size",
                message: format!("{n} is negative; it is how many schemas to cache"),
            })?,
        };
        converter.schema_cache = Box::new(SchemaCache::new(cache_size));
        Ok(converter)
    }

    /// How many envelope schemas are cached now.
    pub fn cached_schemas(&self) -> usize {
        self.schema_cache.len()
    }

    /// JSON bytes (`None` = null) → Connect data.
    pub fn to_connect(&mut self, bytes: Option<&Bytes>) -> Result<SchemaAndValue, ConvertError> {
        let Some(input) = bytes else {
            return Ok(SchemaAndValue::NULL);
        };
        // Kafka reads empty bytes as null when schemas are off (and fails to parse them when on).
        if input.is_empty() && !self.options.schemas_enable {
            return Ok(SchemaAndValue::NULL);
        }
        let json = self.parser.parse(input)?;
        match self.convert_tree(json, false) {
            // A numeric Decimal needs the number's digits, which the fast tree rounded to a double: parse
            // again keeping number literals (only records with numeric decimals take this path).
            Err(e) if e == typed::NEEDS_LITERALS => {
                let json = self.parser.parse_literals(input)?;
                self.convert_tree(json, true)
            }
            other => other,
        }
    }

    /// Connect data from an already parsed JSON tree (as `parse` builds it: objects as string-keyed maps,
    /// integers as `Int64`, other numbers as `Float64`). Used by the serde_json comparison path too. A numeric
    /// Decimal here is read from the double's shortest digits (exact up to 15 significant digits).
    pub fn json_to_connect(&mut self, json: Value) -> Result<SchemaAndValue, ConvertError> {
        self.convert_tree(json, true)
    }

    fn convert_tree(
        &mut self,
        json: Value,
        literals: bool,
    ) -> Result<SchemaAndValue, ConvertError> {
        if !self.options.schemas_enable {
            return Ok(SchemaAndValue::schemaless(json));
        }
        let Value::Map(mut entries) = json else {
            return Err(ConvertError::NotAnEnvelope);
        };
        if entries.len() != 2 {
            return Err(ConvertError::NotAnEnvelope);
        }
        let position = |entries: &[(Value, Value)], name: &str| {
            entries.iter().position(|(k, _)| k.as_str() == Some(name))
        };
        let (Some(schema_at), Some(payload_at)) =
            (position(&entries, "schema"), position(&entries, "payload"))
        else {
            return Err(ConvertError::NotAnEnvelope);
        };
        let payload = std::mem::take(&mut entries[payload_at].1);
        let schema_json = std::mem::take(&mut entries[schema_at].1);
        if schema_json.is_null() {
            return Ok(SchemaAndValue::schemaless(payload));
        }
        let reading = typed::Reading {
            replace_null_with_default: self.options.replace_null_with_default,
            literals,
        };
        let schema = self.schema_for(schema_json, reading)?;
        let value = typed::to_typed(&schema, payload, &Path::root("payload"), reading)?;
        Ok(SchemaAndValue::new(Some(schema), value))
    }

    /// The parsed schema for envelope schema JSON, from the cache when seen recently (comparing JSON trees is
    /// much cheaper than building a `Schema`, and sharing one `Arc` lets transforms' schema caches hit).
    fn schema_for(
        &mut self,
        schema_json: Value,
        reading: typed::Reading,
    ) -> Result<SchemaRef, ConvertError> {
        if let Some(schema) = self.schema_cache.get(&schema_json) {
            return Ok(schema);
        }
        // Copied out of the record's buffer first: a cached schema (or its default values) must not keep a
        // whole fetch response alive.
        let schema_json = detach(schema_json);
        let schema = schema_json::parse_schema(&schema_json, &Path::root("schema"), 0, reading)?;
        self.schema_cache.insert(schema_json, schema.clone());
        Ok(schema)
    }

    /// Connect data → JSON appended to `out`. Returns `false` (nothing written) for a null value with no
    /// schema, which Kafka Connect writes as a null record.
    pub fn write_connect(
        &self,
        schema: Option<&SchemaRef>,
        value: &Value,
        out: &mut BytesMut,
    ) -> Result<bool, ConvertError> {
        if schema.is_none() && value.is_null() {
            return Ok(false);
        }
        let start = out.len();
        let mut keys = self.field_keys.take();
        let result =
            write::JsonWriter::new(out, self.options, &mut keys).write_record(schema, value);
        self.field_keys.set(keys);
        if result.is_err() {
            out.truncate(start);
        }
        result.map(|()| true)
    }
}

/// `value` with every string that shares a buffer copied into its own.
fn detach(value: Value) -> Value {
    match value {
        Value::String(s) if s.is_shared() => {
            Value::String(crate::connect::data::Str::from(s.as_str()))
        }
        Value::Bytes(b) => Value::Bytes(Bytes::copy_from_slice(&b)),
        Value::Array(items) => Value::Array(items.into_iter().map(detach).collect()),
        Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (detach(k), detach(v)))
                .collect(),
        ),
        other => other,
    }
}
