//! `string` (Kafka Connect's `StringConverter`): bytes ↔ optional string; other values are written with
//! their Java `toString` rendering.

use super::{ConvertError, ConverterBuildError};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::{Schema, SchemaAndValue, SchemaRef, Str, Type, Value};
use bytes::{BufMut, Bytes, BytesMut};
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::optional(
        "converter.encoding",
        ConfigType::String,
        Some("UTF-8"),
        "Character encoding of the bytes: UTF-8, US-ASCII or ISO-8859-1",
    ),
    ConfigKey::optional(
        "converter.type",
        ConfigType::String,
        None,
        "Whether this converter converts keys, values or headers (set by the engine)",
    )
    .one_of(&["key", "value", "header"]),
]);

/// The encodings supported (Java charset names, case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// ISO-8859-1: each byte is the code point.
    Latin1,
    UsAscii,
}

#[derive(Debug, Clone)]
pub struct StringConverter {
    pub encoding: Encoding,
}

impl Default for StringConverter {
    fn default() -> Self {
        StringConverter {
            encoding: Encoding::Utf8,
        }
    }
}

fn optional_string_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| Schema::new(Type::String).optional().build()))
}

impl StringConverter {
    pub fn from_config(config: &ParsedConfig) -> Result<Self, ConverterBuildError> {
        let name = config.get("converter.encoding").unwrap_or("UTF-8");
        let encoding = match name.to_ascii_uppercase().replace('_', "-").as_str() {
            "UTF-8" | "UTF8" => Encoding::Utf8,
            "ISO-8859-1" | "LATIN1" | "ISO8859-1" => Encoding::Latin1,
            "US-ASCII" | "ASCII" => Encoding::UsAscii,
            _ => {
                return Err(ConverterBuildError::InvalidConfig {
                    converter: "string",
                    key: "converter.encoding",
                    message: format!(
                        "unsupported encoding `{name}`; use UTF-8, US-ASCII or ISO-8859-1"
                    ),
                })
            }
        };
        Ok(StringConverter { encoding })
    }

    /// Whether `bytes` decode and encode back to themselves: valid UTF-8, ASCII only, or any Latin-1 bytes.
    pub fn passes_through(&self, bytes: &[u8]) -> bool {
        match self.encoding {
            Encoding::Utf8 => std::str::from_utf8(bytes).is_ok(),
            Encoding::UsAscii => bytes.is_ascii(),
            Encoding::Latin1 => true,
        }
    }

    pub fn to_connect(&self, bytes: Option<&Bytes>) -> Result<SchemaAndValue, ConvertError> {
        let Some(bytes) = bytes else {
            return Ok(SchemaAndValue::new(
                Some(optional_string_schema()),
                Value::Null,
            ));
        };
        let text = match self.encoding {
            Encoding::Utf8 | Encoding::UsAscii => match Str::from_utf8(bytes.clone()) {
                Ok(s) => s,
                // Java replaces malformed input with U+FFFD; so do we.
                Err(_) => Str::from(String::from_utf8_lossy(bytes).into_owned()),
            },
            Encoding::Latin1 => {
                if bytes.is_ascii() {
                    Str::from_utf8(bytes.clone()).unwrap_or_default()
                } else {
                    Str::from(bytes.iter().map(|&b| char::from(b)).collect::<String>())
                }
            }
        };
        Ok(SchemaAndValue::new(
            Some(optional_string_schema()),
            Value::String(text),
        ))
    }

    pub fn write_connect(&self, value: &Value, out: &mut BytesMut) -> Result<bool, ConvertError> {
        let rendered;
        let text: &str = match value {
            Value::Null => return Ok(false),
            Value::String(s) => s,
            other => {
                rendered = other.to_string();
                &rendered
            }
        };
        match self.encoding {
            Encoding::Utf8 => out.put_slice(text.as_bytes()),
            Encoding::UsAscii => {
                for c in text.chars() {
                    out.put_u8(if c.is_ascii() { c as u8 } else { b'?' });
                }
            }
            Encoding::Latin1 => {
                for c in text.chars() {
                    out.put_u8(u8::try_from(u32::from(c)).unwrap_or(b'?'));
                }
            }
        }
        Ok(true)
    }
}

/// Renders `value` as text (what `StringConverter` writes).
pub fn to_text(value: &Value) -> String {
    let mut s = String::new();
    let _ = write!(s, "{value}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_round_trip_shares_the_buffer() {
        let c = StringConverter::default();
        let input = Bytes::from_static(b"hello");
        let sv = c.to_connect(Some(&input)).unwrap();
        match &sv.value {
            Value::String(s) => assert_eq!(s.as_bytes().as_ptr(), input.as_ptr()),
            other => panic!("{other:?}"),
        }
        let mut out = BytesMut::new();
        assert!(c.write_connect(&sv.value, &mut out).unwrap());
        assert_eq!(&out[..], b"hello");
    }

    #[test]
    fn null_is_null_both_ways() {
        let c = StringConverter::default();
        assert!(c.to_connect(None).unwrap().value.is_null());
        assert!(!c.write_connect(&Value::Null, &mut BytesMut::new()).unwrap());
    }

    #[test]
    fn numbers_are_written_as_java_prints_them() {
        let c = StringConverter::default();
        let mut out = BytesMut::new();
        c.write_connect(&Value::Float64(3.0), &mut out).unwrap();
        assert_eq!(&out[..], b"3.0");
    }
}
