//! `json` (Kafka Connect's `JsonConverter`): JSON bytes ↔ Connect data, with the
//! `{"schema":…,"payload":…}` envelope both ways when `schemas.enable` is true.
//!
//! Parsing is simd-json in place: the input is copied once into a reused scratch buffer, parsed to a reused
//! tape, and every string that needed no unescaping becomes a slice of the *input* `Bytes` (no copy, no
//! allocation). Writing goes straight into the caller's `BytesMut`.

mod parse;
mod path;
mod schema_json;
mod typed;
mod write;

#[cfg(test)]
mod tests;

use super::{ConvertError, ConverterBuildError};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::{SchemaAndValue, SchemaRef, Value};
use bytes::{Bytes, BytesMut};
use path::Path;

pub use parse::MAX_DEPTH;
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
        "Accepted for compatibility with Kafka Connect; schemas are not cached across records",
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
        Ok(Self::new(JsonOptions {
            schemas_enable: config.boolean("schemas.enable").unwrap_or(true),
            decimal_numeric,
            replace_null_with_default: config.boolean("replace.null.with.default").unwrap_or(true),
        }))
    }

    /// JSON bytes (`None` = null) → Connect data.
    pub fn to_connect(&mut self, bytes: Option<&Bytes>) -> Result<SchemaAndValue, ConvertError> {
        let Some(input) = bytes else {
            return Ok(SchemaAndValue::NULL);
        };
        let json = self.parser.parse(input)?;
        self.json_to_connect(json)
    }

    /// Connect data from an already parsed JSON tree (as `parse` builds it: objects as string-keyed maps,
    /// integers as `Int64`, other numbers as `Float64`). Used by the serde_json comparison path too.
    pub fn json_to_connect(&self, json: Value) -> Result<SchemaAndValue, ConvertError> {
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
        let schema = schema_json::parse_schema(&schema_json, &Path::root("schema"), 0)?;
        let value = typed::to_typed(&schema, payload, &Path::root("payload"))?;
        Ok(SchemaAndValue::new(Some(schema), value))
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
        let result = write::JsonWriter::new(out, self.options).write_record(schema, value);
        if result.is_err() {
            out.truncate(start);
        }
        result.map(|()| true)
    }
}
