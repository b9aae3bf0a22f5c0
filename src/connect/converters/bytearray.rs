//! `bytearray` (Kafka Connect's `ByteArrayConverter`): bytes pass through untouched, as optional `bytes`.

use super::ConvertError;
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType};
use crate::connect::data::{Schema, SchemaAndValue, SchemaRef, Type, Value};
use bytes::{Bytes, BytesMut};
use std::sync::{Arc, OnceLock};

pub const CONFIG: ConfigDef = ConfigDef::new(&[ConfigKey::optional(
    "converter.type",
    ConfigType::String,
    None,
    "Whether this converter converts keys, values or headers (set by the engine)",
)
.one_of(&["key", "value", "header"])]);

/// Optional bytes; the value shares the input buffer.
#[derive(Debug, Default, Clone, Copy)]
pub struct ByteArrayConverter;

fn optional_bytes_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| Schema::new(Type::Bytes).optional().build()))
}

impl ByteArrayConverter {
    pub fn to_connect(&self, bytes: Option<&Bytes>) -> SchemaAndValue {
        SchemaAndValue::new(
            Some(optional_bytes_schema()),
            bytes.map_or(Value::Null, |b| Value::Bytes(b.clone())),
        )
    }

    pub fn write_connect(
        &self,
        schema: Option<&SchemaRef>,
        value: &Value,
        out: &mut BytesMut,
    ) -> Result<bool, ConvertError> {
        if let Some(s) = schema {
            if s.ty != Type::Bytes {
                return Err(ConvertError::Unsupported {
                    converter: "ByteArrayConverter",
                    message: format!(
                        "invalid schema type {}: only bytes can be written",
                        s.ty.name()
                    ),
                });
            }
        }
        match value {
            Value::Null => Ok(false),
            Value::Bytes(b) => {
                out.extend_from_slice(b);
                Ok(true)
            }
            other => Err(ConvertError::Unsupported {
                converter: "ByteArrayConverter",
                message: format!(
                    "{} value given; use the string or json converter for it",
                    other.type_name()
                ),
            }),
        }
    }
}
