//! Connect data → JSON bytes, written straight into the output buffer, byte-compatible with what Kafka
//! Connect's JsonConverter (Jackson, compact) writes.

use super::path::Path;
use super::schema_json::json_type_name;
use super::typed::decimal_scale;
use super::JsonOptions;
use crate::connect::converters::ConvertError;
use crate::connect::data::base64;
use crate::connect::data::decimal;
use crate::connect::data::{
    logical, write_java_double, write_java_float, Schema, SchemaRef, Type, Value,
};
use bytes::{BufMut, BytesMut};

pub struct JsonWriter<'a> {
    out: &'a mut BytesMut,
    options: JsonOptions,
}

fn mismatch(path: &Path<'_>, schema: &Schema, value: &Value) -> ConvertError {
    ConvertError::TypeMismatch {
        path: path.to_string(),
        expected: format!("a {} value for its schema", schema.ty.name()),
        found: value.type_name().to_owned(),
    }
}

impl<'a> JsonWriter<'a> {
    pub fn new(out: &'a mut BytesMut, options: JsonOptions) -> Self {
        JsonWriter { out, options }
    }

    pub fn write_record(
        &mut self,
        schema: Option<&SchemaRef>,
        value: &Value,
    ) -> Result<(), ConvertError> {
        if self.options.schemas_enable {
            self.out.put_slice(b"{\"schema\":");
            match schema {
                Some(s) => self.write_schema(s)?,
                None => self.out.put_slice(b"null"),
            }
            self.out.put_slice(b",\"payload\":");
            self.write_value(schema, value, &Path::root("payload"))?;
            self.out.put_u8(b'}');
            Ok(())
        } else {
            self.write_value(schema, value, &Path::root("value"))
        }
    }

    fn write_value(
        &mut self,
        schema: Option<&SchemaRef>,
        value: &Value,
        path: &Path<'_>,
    ) -> Result<(), ConvertError> {
        match schema {
            Some(s) => self.write_typed(s, value, path),
            None => self.write_schemaless(value, path),
        }
    }

    /// Kafka Connect's `asJsonSchema` field order: type, children, optional, name, version, doc, parameters,
    /// default.
    pub fn write_schema(&mut self, schema: &Schema) -> Result<(), ConvertError> {
        self.write_schema_open(schema)?;
        self.out.put_u8(b'}');
        Ok(())
    }

    fn write_schema_open(&mut self, schema: &Schema) -> Result<(), ConvertError> {
        self.out.put_slice(b"{\"type\":\"");
        self.out.put_slice(json_type_name(schema.ty).as_bytes());
        self.out.put_u8(b'"');
        match schema.ty {
            Type::Array => {
                self.out.put_slice(b",\"items\":");
                if let Some(items) = &schema.value_schema {
                    self.write_schema(items)?;
                } else {
                    self.out.put_slice(b"null");
                }
            }
            Type::Map => {
                self.out.put_slice(b",\"keys\":");
                match &schema.key_schema {
                    Some(k) => self.write_schema(k)?,
                    None => self.out.put_slice(b"null"),
                }
                self.out.put_slice(b",\"values\":");
                match &schema.value_schema {
                    Some(v) => self.write_schema(v)?,
                    None => self.out.put_slice(b"null"),
                }
            }
            Type::Struct => {
                self.out.put_slice(b",\"fields\":[");
                for (i, field) in schema.fields.iter().enumerate() {
                    if i > 0 {
                        self.out.put_u8(b',');
                    }
                    self.write_schema_open(&field.schema)?;
                    self.out.put_slice(b",\"field\":");
                    self.write_str(&field.name);
                    self.out.put_u8(b'}');
                }
                self.out.put_u8(b']');
            }
            _ => {}
        }
        self.out.put_slice(if schema.optional {
            b",\"optional\":true"
        } else {
            b",\"optional\":false"
        });
        if let Some(name) = &schema.name {
            self.out.put_slice(b",\"name\":");
            self.write_str(name);
        }
        if let Some(version) = schema.version {
            self.out.put_slice(b",\"version\":");
            self.write_int(version.into());
        }
        if let Some(doc) = &schema.doc {
            self.out.put_slice(b",\"doc\":");
            self.write_str(doc);
        }
        if let Some(params) = &schema.parameters {
            self.out.put_slice(b",\"parameters\":{");
            for (i, (k, v)) in params.iter().enumerate() {
                if i > 0 {
                    self.out.put_u8(b',');
                }
                self.write_str(k);
                self.out.put_u8(b':');
                self.write_str(v);
            }
            self.out.put_u8(b'}');
        }
        if let Some(default) = &schema.default {
            self.out.put_slice(b",\"default\":");
            self.write_typed(schema, default, &Path::root("default"))?;
        }
        Ok(())
    }

    fn write_typed(
        &mut self,
        schema: &Schema,
        value: &Value,
        path: &Path<'_>,
    ) -> Result<(), ConvertError> {
        if value.is_null() {
            if self.options.replace_null_with_default {
                if let Some(default) = &schema.default {
                    return self.write_typed(schema, default, path);
                }
            }
            if schema.optional {
                self.out.put_slice(b"null");
                return Ok(());
            }
            return Err(ConvertError::NullForRequired {
                path: path.to_string(),
                ty: schema.ty.name(),
            });
        }
        match (schema.ty, value) {
            (Type::Int8, Value::Int8(v)) => self.write_int((*v).into()),
            (Type::Int16, Value::Int16(v)) => self.write_int((*v).into()),
            (Type::Int32, Value::Int32(v)) => self.write_int((*v).into()),
            (Type::Int64, Value::Int64(v)) => self.write_int(*v),
            (Type::Float32, Value::Float32(v)) => self.write_f32(*v, path)?,
            (Type::Float64, Value::Float64(v)) => self.write_f64(*v, path)?,
            (Type::Boolean, Value::Boolean(b)) => self.write_bool(*b),
            (Type::String, Value::String(s)) => self.write_str(s),
            (Type::Bytes, Value::Bytes(b)) if schema.name.as_deref() == Some(logical::DECIMAL) => {
                // Kafka's `Decimal.fromLogical` needs the scale parameter, and writes the BigInteger's
                // minimal bytes.
                let scale =
                    decimal_scale(schema).map_err(|message| ConvertError::InvalidSchema {
                        path: path.to_string(),
                        message,
                    })?;
                if self.options.decimal_numeric {
                    let mut text = String::with_capacity(b.len() * 3 + 8);
                    decimal::write_big_decimal(b, scale, &mut text);
                    self.out.put_slice(text.as_bytes());
                } else {
                    self.write_base64(decimal::minimal(b));
                }
            }
            (Type::Bytes, Value::Bytes(b)) => self.write_base64(b),
            (Type::Array, Value::Array(items)) => {
                let items_schema = schema.value_schema.as_deref();
                self.out.put_u8(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.put_u8(b',');
                    }
                    match items_schema {
                        Some(s) => self.write_typed(s, item, &path.index(i))?,
                        None => self.write_schemaless(item, &path.index(i))?,
                    }
                }
                self.out.put_u8(b']');
            }
            (Type::Map, Value::Map(entries)) => {
                let (Some(ks), Some(vs)) =
                    (schema.key_schema.as_deref(), schema.value_schema.as_deref())
                else {
                    return Err(ConvertError::InvalidSchema {
                        path: path.to_string(),
                        message: "map schema without key or value schema".to_owned(),
                    });
                };
                if ks.ty == Type::String {
                    self.out.put_u8(b'{');
                    for (i, (k, v)) in entries.iter().enumerate() {
                        if i > 0 {
                            self.out.put_u8(b',');
                        }
                        let Some(key) = k.as_str() else {
                            return Err(mismatch(path, ks, k));
                        };
                        self.write_str(key);
                        self.out.put_u8(b':');
                        self.write_typed(vs, v, &path.field(key))?;
                    }
                    self.out.put_u8(b'}');
                } else {
                    self.out.put_u8(b'[');
                    for (i, (k, v)) in entries.iter().enumerate() {
                        if i > 0 {
                            self.out.put_u8(b',');
                        }
                        let entry_path = path.index(i);
                        self.out.put_u8(b'[');
                        self.write_typed(ks, k, &entry_path.index(0))?;
                        self.out.put_u8(b',');
                        self.write_typed(vs, v, &entry_path.index(1))?;
                        self.out.put_u8(b']');
                    }
                    self.out.put_u8(b']');
                }
            }
            (Type::Struct, Value::Struct(s)) => {
                // Kafka's "Mismatching schema.": the struct's own schema must equal the one it is written
                // under (the same `Arc` almost always, so the deep comparison rarely runs).
                if !std::ptr::eq(&**s.schema(), schema) && **s.schema() != *schema {
                    return Err(ConvertError::TypeMismatch {
                        path: path.to_string(),
                        expected: "a struct of the schema it is written with".to_owned(),
                        found: "a struct of another schema (Mismatching schema.)".to_owned(),
                    });
                }
                self.out.put_u8(b'{');
                for (i, (field, v)) in schema.fields.iter().zip(s.values()).enumerate() {
                    if i > 0 {
                        self.out.put_u8(b',');
                    }
                    self.write_str(&field.name);
                    self.out.put_u8(b':');
                    self.write_typed(&field.schema, v, &path.field(&field.name))?;
                }
                self.out.put_u8(b'}');
            }
            _ => return Err(mismatch(path, schema, value)),
        }
        Ok(())
    }

    fn write_schemaless(&mut self, value: &Value, path: &Path<'_>) -> Result<(), ConvertError> {
        match value {
            Value::Null => self.out.put_slice(b"null"),
            Value::Boolean(b) => self.write_bool(*b),
            Value::Int8(v) => self.write_int((*v).into()),
            Value::Int16(v) => self.write_int((*v).into()),
            Value::Int32(v) => self.write_int((*v).into()),
            Value::Int64(v) => self.write_int(*v),
            Value::Float32(v) => self.write_f32(*v, path)?,
            Value::Float64(v) => self.write_f64(*v, path)?,
            Value::String(s) => self.write_str(s),
            Value::Bytes(b) => self.write_base64(b),
            Value::Array(items) => {
                self.out.put_u8(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.put_u8(b',');
                    }
                    self.write_schemaless(item, &path.index(i))?;
                }
                self.out.put_u8(b']');
            }
            Value::Map(entries) => {
                if entries.iter().all(|(k, _)| matches!(k, Value::String(_))) {
                    self.out.put_u8(b'{');
                    for (i, (k, v)) in entries.iter().enumerate() {
                        if i > 0 {
                            self.out.put_u8(b',');
                        }
                        let key = k.as_str().unwrap_or_default();
                        self.write_str(key);
                        self.out.put_u8(b':');
                        self.write_schemaless(v, &path.field(key))?;
                    }
                    self.out.put_u8(b'}');
                } else {
                    self.out.put_u8(b'[');
                    for (i, (k, v)) in entries.iter().enumerate() {
                        if i > 0 {
                            self.out.put_u8(b',');
                        }
                        let entry_path = path.index(i);
                        self.out.put_u8(b'[');
                        self.write_schemaless(k, &entry_path.index(0))?;
                        self.out.put_u8(b',');
                        self.write_schemaless(v, &entry_path.index(1))?;
                        self.out.put_u8(b']');
                    }
                    self.out.put_u8(b']');
                }
            }
            // A struct carries its own schema.
            Value::Struct(s) => {
                let schema = s.schema().clone();
                self.write_typed(&schema, value, path)?;
            }
        }
        Ok(())
    }

    fn write_int(&mut self, v: i64) {
        let mut buf = itoa::Buffer::new();
        self.out.put_slice(buf.format(v).as_bytes());
    }

    fn write_bool(&mut self, b: bool) {
        self.out.put_slice(if b { b"true" } else { b"false" });
    }

    fn write_f64(&mut self, v: f64, _path: &Path<'_>) -> Result<(), ConvertError> {
        if !v.is_finite() {
            self.write_non_finite(v);
            return Ok(());
        }
        // In Java's plain range ryu prints the same shortest digits Java does (`4.25`, `1.0`), without allocating.
        if v == 0.0 || (1e-3..1e7).contains(&v.abs()) {
            let mut buf = ryu::Buffer::new();
            self.out.put_slice(buf.format_finite(v).as_bytes());
            return Ok(());
        }
        let mut text = String::with_capacity(24);
        let _ = write_java_double(v, &mut text);
        self.out.put_slice(text.as_bytes());
        Ok(())
    }

    fn write_f32(&mut self, v: f32, _path: &Path<'_>) -> Result<(), ConvertError> {
        if !v.is_finite() {
            self.write_non_finite(v.into());
            return Ok(());
        }
        let mut text = String::with_capacity(24);
        let _ = write_java_float(v, &mut text);
        self.out.put_slice(text.as_bytes());
        Ok(())
    }

    fn write_base64(&mut self, bytes: &[u8]) {
        self.out.put_u8(b'"');
        base64::encode_into(bytes, self.out);
        self.out.put_u8(b'"');
    }

    /// Jackson's default (`QUOTE_NON_NUMERIC_NUMBERS`): NaN and the infinities as JSON strings.
    fn write_non_finite(&mut self, v: f64) {
        self.out.put_slice(if v.is_nan() {
            b"\"NaN\""
        } else if v > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
    }

    /// A JSON string, escaped as Jackson does (quotes, backslash, control characters; nothing else).
    pub fn write_str(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let bytes = s.as_bytes();
        self.out.reserve(bytes.len() + 2);
        self.out.put_u8(b'"');
        // Most strings need no escaping: check eight bytes at a time and copy them whole.
        let clean_prefix = clean_prefix_len(bytes);
        if clean_prefix == bytes.len() {
            self.out.put_slice(bytes);
            self.out.put_u8(b'"');
            return;
        }
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate().skip(clean_prefix) {
            if !NEEDS_ESCAPE[usize::from(b)] {
                continue;
            }
            self.out.put_slice(&bytes[start..i]);
            match b {
                b'"' => self.out.put_slice(b"\\\""),
                b'\\' => self.out.put_slice(b"\\\\"),
                b'\n' => self.out.put_slice(b"\\n"),
                b'\r' => self.out.put_slice(b"\\r"),
                b'\t' => self.out.put_slice(b"\\t"),
                0x08 => self.out.put_slice(b"\\b"),
                0x0c => self.out.put_slice(b"\\f"),
                _ => self.out.put_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 15)],
                ]),
            }
            start = i + 1;
        }
        self.out.put_slice(&bytes[start..]);
        self.out.put_u8(b'"');
    }
}

/// Length of the longest prefix of whole 8-byte words (and then single bytes) needing no escape.
fn clean_prefix_len(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut i = 0;
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // Any byte < 0x20, or equal to '"' or '\\'.
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        if control
            | has_zero(x ^ (ONES * u64::from(b'"')))
            | has_zero(x ^ (ONES * u64::from(b'\\')))
            != 0
        {
            break;
        }
        i += 8;
    }
    while i < bytes.len() && !NEEDS_ESCAPE[usize::from(bytes[i])] {
        i += 1;
    }
    i
}

/// Bytes Jackson escapes in strings: control characters, `"` and `\\`.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};
