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
use std::sync::Arc;

/// Most struct schemas whose field keys are kept rendered. A record's structs are all cached while there is
/// room; when the cache is full at the start of a record it is emptied, so a task whose schemas change keeps
/// caching its current ones.
const MAX_CACHED_STRUCT_SCHEMAS: usize = 16;

/// Struct field names rendered once per struct schema as the JSON they are written as (`"id":`, then
/// `,"name":` …), so a record's keys are one copy each instead of an escape scan per field per record.
#[derive(Default)]
pub struct FieldKeys {
    entries: Vec<RenderedKeys>,
}

struct RenderedKeys {
    /// Held, so the schema cannot be freed and its address reused by another while it is cached.
    schema: SchemaRef,
    text: BytesMut,
    /// Where each field's key ends in `text` (it starts where the previous one ends).
    ends: Vec<usize>,
}

impl FieldKeys {
    /// The slot of `schema`'s rendered keys, rendering them if there is room; `None` when the cache is full.
    fn slot(&mut self, schema: &SchemaRef) -> Option<usize> {
        if let Some(i) = self
            .entries
            .iter()
            .position(|e| Arc::ptr_eq(&e.schema, schema))
        {
            return Some(i);
        }
        if self.entries.len() >= MAX_CACHED_STRUCT_SCHEMAS {
            return None;
        }
        let mut text = BytesMut::new();
        let mut ends = Vec::with_capacity(schema.fields.len());
        for (i, field) in schema.fields.iter().enumerate() {
            if i > 0 {
                text.put_u8(b',');
            }
            write_json_str(&mut text, &field.name);
            text.put_u8(b':');
            ends.push(text.len());
        }
        self.entries.push(RenderedKeys {
            schema: schema.clone(),
            text,
            ends,
        });
        Some(self.entries.len() - 1)
    }

    fn key(&self, slot: usize, field: usize) -> &[u8] {
        let entry = &self.entries[slot];
        let start = if field == 0 { 0 } else { entry.ends[field - 1] };
        &entry.text[start..entry.ends[field]]
    }

    /// Called before each record: never evicts during one (slots stay valid while it is written).
    fn start_record(&mut self) {
        if self.entries.len() >= MAX_CACHED_STRUCT_SCHEMAS {
            self.entries.clear();
        }
    }
}

pub struct JsonWriter<'a> {
    out: &'a mut BytesMut,
    options: JsonOptions,
    keys: &'a mut FieldKeys,
}

fn mismatch(path: &Path<'_>, schema: &Schema, value: &Value) -> ConvertError {
    ConvertError::TypeMismatch {
        path: path.to_string(),
        expected: format!("a {} value for its schema", schema.ty.name()),
        found: value.type_name().to_owned(),
    }
}

impl<'a> JsonWriter<'a> {
    pub fn new(out: &'a mut BytesMut, options: JsonOptions, keys: &'a mut FieldKeys) -> Self {
        JsonWriter { out, options, keys }
    }

    pub fn write_record(
        &mut self,
        schema: Option<&SchemaRef>,
        value: &Value,
    ) -> Result<(), ConvertError> {
        self.keys.start_record();
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
                // The schemas are equal, so the struct's own (shared, usually cached) has the same names.
                let slot = self.keys.slot(s.schema());
                self.out.put_u8(b'{');
                for (i, (field, v)) in schema.fields.iter().zip(s.values()).enumerate() {
                    match slot {
                        Some(slot) => self.out.put_slice(self.keys.key(slot, i)),
                        None => {
                            if i > 0 {
                                self.out.put_u8(b',');
                            }
                            self.write_str(&field.name);
                            self.out.put_u8(b':');
                        }
                    }
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
        // As for doubles: in Java's plain range ryu's shortest digits are `Float.toString`'s, ties included
        // (both take the even digit; `java_floats.txt` holds JDK 25's answers).
        if v == 0.0 || (1e-3..1e7).contains(&v.abs()) {
            let mut buf = ryu::Buffer::new();
            self.out.put_slice(buf.format_finite(v).as_bytes());
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
        write_json_str(self.out, s);
    }
}

/// A JSON string, escaped as Jackson does (quotes, backslash, control characters; nothing else).
fn write_json_str(out: &mut BytesMut, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.put_u8(b'"');
    // Most strings need no escaping: check eight bytes at a time and copy them whole.
    let clean_prefix = clean_prefix_len(bytes);
    if clean_prefix == bytes.len() {
        out.put_slice(bytes);
        out.put_u8(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate().skip(clean_prefix) {
        if !NEEDS_ESCAPE[usize::from(b)] {
            continue;
        }
        out.put_slice(&bytes[start..i]);
        match b {
            b'"' => out.put_slice(b"\\\""),
            b'\\' => out.put_slice(b"\\\\"),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            b'\t' => out.put_slice(b"\\t"),
            0x08 => out.put_slice(b"\\b"),
            0x0c => out.put_slice(b"\\f"),
            _ => out.put_slice(&[
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
    out.put_slice(&bytes[start..]);
    out.put_u8(b'"');
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::data::{Struct, Value};

    fn written(schema: &SchemaRef, value: &Value, keys: &mut FieldKeys) -> String {
        let mut out = BytesMut::new();
        let options = JsonOptions {
            schemas_enable: false,
            ..JsonOptions::default()
        };
        JsonWriter::new(&mut out, options, keys)
            .write_record(Some(schema), value)
            .unwrap();
        String::from_utf8(out.to_vec()).unwrap()
    }

    /// What JDK 25's `Float.toString` / `Double.toString` print for 1,500 floats (random bits; fractions
    /// with few bits, where two shortest decimals are often equally near; powers of two times short
    /// mantissas) and 1,000 doubles. Generated once with `java`; one `f|d <bits in hex> <text>` a line.
    #[test]
    fn floats_print_as_jdk_25_prints_them() {
        let mut keys = FieldKeys::default();
        let float = Schema::new(Type::Float32).build();
        let double = Schema::new(Type::Float64).build();
        let mut checked = 0;
        for line in include_str!("java_floats.txt").lines() {
            let mut parts = line.split(' ');
            let (Some(kind), Some(bits), Some(java)) = (parts.next(), parts.next(), parts.next())
            else {
                panic!("bad fixture line {line:?}");
            };
            let ours = match kind {
                "f" => {
                    let v = f32::from_bits(u32::from_str_radix(bits, 16).unwrap());
                    written(&float, &Value::Float32(v), &mut keys)
                }
                _ => {
                    let v = f64::from_bits(u64::from_str_radix(bits, 16).unwrap());
                    written(&double, &Value::Float64(v), &mut keys)
                }
            };
            assert_eq!(ours, java, "{line}");
            checked += 1;
        }
        assert_eq!(checked, 2500);
    }

    #[test]
    fn a_float_between_two_shortest_candidates_takes_the_even_one_as_java_does() {
        // 315514.625f is as near to 315514.62 as to 315514.63; Java (17 and 25) prints the even one.
        let schema = Schema::new(Type::Float32).build();
        let mut keys = FieldKeys::default();
        assert_eq!(
            written(&schema, &Value::Float32(315_514.62), &mut keys),
            "315514.62"
        );
        assert_eq!(
            written(&schema, &Value::Float32(-1_372_566.2), &mut keys),
            "-1372566.2"
        );
    }

    #[test]
    fn field_keys_are_escaped_and_kept_for_more_schemas_than_the_cache_holds() {
        let mut keys = FieldKeys::default();
        let inner = Schema::structure()
            .field("in\"ner", Schema::new(Type::Int32))
            .build();
        let schemas: Vec<SchemaRef> = (0..3 * MAX_CACHED_STRUCT_SCHEMAS)
            .map(|i| {
                Schema::structure()
                    .field(&format!("a{i}"), Schema::new(Type::Int32))
                    .field("tab\there", inner.clone())
                    .field("", Schema::new(Type::Boolean))
                    .build()
            })
            .collect();
        for round in 0..2 {
            for (i, schema) in schemas.iter().enumerate() {
                let value = Value::Struct(
                    Struct::from_values(
                        schema.clone(),
                        vec![
                            Value::Int32(i as i32),
                            Value::Struct(
                                Struct::from_values(inner.clone(), vec![Value::Int32(round)])
                                    .unwrap(),
                            ),
                            Value::Boolean(true),
                        ],
                    )
                    .unwrap(),
                );
                assert_eq!(
                    written(schema, &value, &mut keys),
                    format!(r#"{{"a{i}":{i},"tab\there":{{"in\"ner":{round}}},"":true}}"#)
                );
                assert!(keys.entries.len() <= MAX_CACHED_STRUCT_SCHEMAS);
            }
        }
        let empty = Schema::structure().build();
        let value = Value::Struct(Struct::new(empty.clone()).unwrap());
        assert_eq!(written(&empty, &value, &mut keys), "{}");
    }

    #[test]
    fn strings_are_escaped_in_every_position_of_a_word() {
        let mut keys = FieldKeys::default();
        let schema = Schema::new(Type::String).build();
        for len in 0..20 {
            for at in 0..len {
                for (raw, escaped) in [('"', "\\\""), ('\\', "\\\\"), ('\u{1}', "\\u0001")] {
                    let mut text: Vec<char> = vec!['x'; len];
                    text[at] = raw;
                    let text: String = text.into_iter().collect();
                    let expected = format!("\"{}\"", text.replace(raw, escaped));
                    assert_eq!(written(&schema, &Value::string(&text), &mut keys), expected);
                }
            }
        }
    }
}
