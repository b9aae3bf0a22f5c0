//! Avro binary ↔ Connect values, walking the Avro schema and the Connect schema built from it side by side.
//!
//! Decoding hands out strings and bytes as slices of the input `Bytes` (no copy). Every length and block
//! count comes from the network, so each is checked against the bytes left before anything is allocated;
//! block counts of items that can encode to zero bytes are capped instead.

use super::mapping::{is_map_entry_array, UNION_NAME};
use super::node::{AvroNode, AvroType};
use crate::connect::converters::ConvertError;
use crate::connect::data::{Schema, SchemaRef, Str, Struct, Type, Value};
use bytes::{BufMut, Bytes, BytesMut};

/// Most items one array or map of zero-byte items (nulls, empty records) may hold.
const MAX_EMPTY_ITEMS: usize = 1 << 16;

/// Confluent's `Anything` record: the Avro schema AvroData gives schemaless Connect data. One optional field
/// per kind of value, at most one of them set (none: null); arrays hold `Anything`s, and maps are arrays of
/// key/value entries of `Anything`s, whatever their keys. It refers to itself, so it has no `AvroNode` (which
/// refuses recursive schemas) and is read and written by `AvroReader::anything` / `AvroWriter::anything`.
pub const ANYTHING_SCHEMA: &str = concat!(
    r#"{"type":"record","name":"Anything","namespace":"io.confluent.connect.avro","fields":["#,
    r#"{"name":"boolean","type":["null","boolean"],"default":null},"#,
    r#"{"name":"bytes","type":["null","bytes"],"default":null},"#,
    r#"{"name":"double","type":["null","double"],"default":null},"#,
    r#"{"name":"float","type":["null","float"],"default":null},"#,
    r#"{"name":"int","type":["null","int"],"default":null},"#,
    r#"{"name":"long","type":["null","long"],"default":null},"#,
    r#"{"name":"string","type":["null","string"],"default":null},"#,
    r#"{"name":"array","type":["null",{"type":"array","items":"Anything"}],"default":null},"#,
    r#"{"name":"map","type":["null",{"type":"array","items":{"type":"record","name":"MapEntry","#,
    r#""fields":[{"name":"key","type":"Anything"},{"name":"value","type":"Anything"}]}}],"default":null}]}"#
);
/// Its full name, for the record name strategies.
pub const ANYTHING_NAME: &str = "io.confluent.connect.avro.Anything";
/// The fields of `Anything`, in order: boolean, bytes, double, float, int, long, string, array, map.
const ANYTHING_FIELDS: usize = 9;
/// The least an `Anything` takes: one union index byte per field.
const ANYTHING_MIN_BYTES: usize = ANYTHING_FIELDS;
/// Deepest schemaless nesting read or written (each level recurses, with a large frame): the depth allowed to
/// Avro schemas.
const MAX_ANYTHING_DEPTH: usize = super::node::MAX_SCHEMA_DEPTH;

fn corrupt(offset: usize, reason: impl Into<String>) -> ConvertError {
    ConvertError::InvalidAvro {
        offset,
        reason: reason.into(),
    }
}

/// `count` items of a block read at `start`, when at most `bound`.
fn checked_count(start: usize, count: u64, bound: usize) -> Result<usize, ConvertError> {
    usize::try_from(count)
        .ok()
        .filter(|c| *c <= bound)
        .ok_or_else(|| corrupt(start, format!("block of {count} items cannot fit the data")))
}

/// Reads Avro binary from one record's bytes.
pub struct AvroReader<'a> {
    input: &'a Bytes,
    at: usize,
}

impl<'a> AvroReader<'a> {
    pub fn new(input: &'a Bytes, at: usize) -> Self {
        AvroReader { input, at }
    }

    pub fn position(&self) -> usize {
        self.at
    }

    fn remaining(&self) -> usize {
        self.input.len() - self.at
    }

    fn byte(&mut self) -> Result<u8, ConvertError> {
        let b = *self
            .input
            .get(self.at)
            .ok_or_else(|| corrupt(self.at, "unexpected end of data"))?;
        self.at += 1;
        Ok(b)
    }

    pub fn long(&mut self) -> Result<i64, ConvertError> {
        let start = self.at;
        let mut value: u64 = 0;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err(corrupt(start, "varint longer than 10 bytes"));
            }
        }
        Ok((value >> 1) as i64 ^ -((value & 1) as i64))
    }

    fn int(&mut self) -> Result<i32, ConvertError> {
        let start = self.at;
        let v = self.long()?;
        i32::try_from(v).map_err(|_| corrupt(start, format!("int out of range: {v}")))
    }

    /// The range of the next `len` bytes, checked against the bytes left.
    fn advance(&mut self, len: usize) -> Result<std::ops::Range<usize>, ConvertError> {
        if len > self.remaining() {
            return Err(corrupt(
                self.at,
                format!(
                    "length {len} is more than the {} bytes left",
                    self.remaining()
                ),
            ));
        }
        let range = self.at..self.at + len;
        self.at += len;
        Ok(range)
    }

    fn take(&mut self, len: usize) -> Result<Bytes, ConvertError> {
        let range = self.advance(len)?;
        Ok(self.input.slice(range))
    }

    /// A length-prefixed UTF-8 string: short ones copied inline (cheaper than sharing the buffer, which
    /// costs an atomic count each way), longer ones a slice of the input.
    fn string(&mut self, what: &str) -> Result<Str, ConvertError> {
        let start = self.at;
        let len = self.length()?;
        let range = self.advance(len)?;
        if let Some(ascii) = Str::inline_ascii(&self.input[range.clone()]) {
            return Ok(ascii);
        }
        let not_utf8 = || corrupt(start, format!("{what} is not UTF-8"));
        let text = std::str::from_utf8(&self.input[range.clone()]).map_err(|_| not_utf8())?;
        if len <= crate::connect::data::STR_INLINE_CAPACITY {
            Ok(Str::from(text))
        } else {
            Str::from_utf8(self.input.slice(range)).map_err(|_| not_utf8())
        }
    }

    fn length(&mut self) -> Result<usize, ConvertError> {
        let start = self.at;
        let len = self.long()?;
        usize::try_from(len).map_err(|_| corrupt(start, format!("negative length {len}")))
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], ConvertError> {
        let range = self.advance(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.input[range]);
        Ok(out)
    }

    /// The item count of the next block (0 at the end), bounded by what the bytes left can hold.
    fn block_count(&mut self, item: &AvroNode) -> Result<usize, ConvertError> {
        let start = self.at;
        let count = self.long()?;
        let count = if count < 0 {
            // A negative count is followed by the block's size in bytes.
            let _size = self.long()?;
            count.unsigned_abs()
        } else {
            count as u64
        };
        let bound = if item.can_be_empty() {
            MAX_EMPTY_ITEMS
        } else {
            self.remaining()
        };
        checked_count(start, count, bound)
    }

    /// Decodes one value of Avro schema `node` as Connect data of `schema` (built from `node` by
    /// `mapping::to_connect`).
    pub fn value(&mut self, node: &AvroNode, schema: &SchemaRef) -> Result<Value, ConvertError> {
        Ok(match &node.ty {
            AvroType::Null => Value::Null,
            AvroType::Boolean => match self.byte()? {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                other => return Err(corrupt(self.at - 1, format!("boolean byte {other}"))),
            },
            AvroType::Int => {
                let start = self.at;
                let v = self.int()?;
                let range = || corrupt(start, format!("{v} out of range for {}", schema.ty.name()));
                match schema.ty {
                    Type::Int8 => Value::Int8(i8::try_from(v).map_err(|_| range())?),
                    Type::Int16 => Value::Int16(i16::try_from(v).map_err(|_| range())?),
                    _ => Value::Int32(v),
                }
            }
            AvroType::Long => Value::Int64(self.long()?),
            AvroType::Float => Value::Float32(f32::from_le_bytes(self.fixed::<4>()?)),
            AvroType::Double => Value::Float64(f64::from_le_bytes(self.fixed::<8>()?)),
            AvroType::Bytes => {
                let len = self.length()?;
                Value::Bytes(self.take(len)?)
            }
            AvroType::Fixed(f) => Value::Bytes(self.take(f.size)?),
            AvroType::String => Value::String(self.string("string")?),
            AvroType::Enum(e) => {
                let start = self.at;
                let index = self.int()?;
                let symbol = usize::try_from(index)
                    .ok()
                    .and_then(|i| e.symbols.get(i))
                    .ok_or_else(|| corrupt(start, format!("enum index {index} out of range")))?;
                Value::String(Str::from(symbol.as_str()))
            }
            AvroType::Array(items) if is_map_entry_array(items) => {
                let (AvroType::Record(entry), Some(ks), Some(vs)) =
                    (&items.ty, &schema.key_schema, &schema.value_schema)
                else {
                    return Err(ConvertError::Internal("map entry schema out of step"));
                };
                let mut entries = Vec::new();
                loop {
                    let count = self.block_count(items)?;
                    if count == 0 {
                        break;
                    }
                    entries.reserve(count);
                    for _ in 0..count {
                        let k = self.value(&entry.fields[0].node, ks)?;
                        let v = self.value(&entry.fields[1].node, vs)?;
                        entries.push((k, v));
                    }
                }
                Value::Map(entries)
            }
            AvroType::Array(items) => {
                let item_schema = schema
                    .value_schema
                    .as_ref()
                    .ok_or(ConvertError::Internal("array schema out of step"))?;
                let mut list = Vec::new();
                loop {
                    let count = self.block_count(items)?;
                    if count == 0 {
                        break;
                    }
                    list.reserve(count);
                    for _ in 0..count {
                        list.push(self.value(items, item_schema)?);
                    }
                }
                Value::Array(list)
            }
            AvroType::Map(values) => {
                let value_schema = schema
                    .value_schema
                    .as_ref()
                    .ok_or(ConvertError::Internal("map schema out of step"))?;
                let mut entries = Vec::new();
                loop {
                    // A map entry holds at least its key's length byte.
                    let count = self.block_count(&AvroNode::new(AvroType::String))?;
                    if count == 0 {
                        break;
                    }
                    entries.reserve(count);
                    for _ in 0..count {
                        let key = self.string("map key")?;
                        let v = self.value(values, value_schema)?;
                        entries.push((Value::String(key), v));
                    }
                }
                Value::Map(entries)
            }
            AvroType::Record(record) => {
                let mut values = Vec::with_capacity(record.fields.len());
                for (f, cf) in record.fields.iter().zip(&schema.fields) {
                    values.push(self.value(&f.node, &cf.schema)?);
                }
                Value::Struct(
                    Struct::from_values(schema.clone(), values)
                        .map_err(|_| ConvertError::Internal("record schema out of step"))?,
                )
            }
            AvroType::Union(branches) => {
                let start = self.at;
                let index = self.long()?;
                let branch = usize::try_from(index)
                    .ok()
                    .and_then(|i| branches.get(i).map(|b| (i, b)))
                    .ok_or_else(|| corrupt(start, format!("union index {index} out of range")));
                let (index, branch) = branch?;
                if matches!(branch.ty, AvroType::Null) {
                    return Ok(Value::Null);
                }
                if schema.name.as_deref() == Some(UNION_NAME) && schema.ty == Type::Struct {
                    let nulls_before = branches[..index]
                        .iter()
                        .filter(|b| matches!(b.ty, AvroType::Null))
                        .count();
                    let field_at = index - nulls_before;
                    let field = schema
                        .fields
                        .get(field_at)
                        .ok_or(ConvertError::Internal("union schema out of step"))?;
                    let v = self.value(branch, &field.schema)?;
                    let mut s = Struct::new(schema.clone())
                        .map_err(|_| ConvertError::Internal("union schema out of step"))?;
                    s.values_mut()[field_at] = v;
                    Value::Struct(s)
                } else {
                    self.value(branch, schema)?
                }
            }
        })
    }
}

impl AvroReader<'_> {
    /// A schemaless value from Confluent's `Anything` record, as AvroData reads it: the first field set, in
    /// field order (null when none is); arrays and maps of them, maps keeping their entries in order.
    pub fn anything(&mut self) -> Result<Value, ConvertError> {
        self.anything_at(0)
    }

    fn anything_at(&mut self, depth: usize) -> Result<Value, ConvertError> {
        if depth > MAX_ANYTHING_DEPTH {
            return Err(corrupt(
                self.at,
                format!("schemaless value nested deeper than {MAX_ANYTHING_DEPTH} levels"),
            ));
        }
        let mut found = Value::Null;
        for field in 0..ANYTHING_FIELDS {
            let start = self.at;
            match self.long()? {
                0 => continue,
                1 => {}
                other => {
                    return Err(corrupt(
                        start,
                        format!("union index {other} out of range for an Anything field"),
                    ))
                }
            }
            let value = match field {
                0 => match self.byte()? {
                    0 => Value::Boolean(false),
                    1 => Value::Boolean(true),
                    other => return Err(corrupt(self.at - 1, format!("boolean byte {other}"))),
                },
                1 => {
                    let len = self.length()?;
                    Value::Bytes(self.take(len)?)
                }
                2 => Value::Float64(f64::from_le_bytes(self.fixed::<8>()?)),
                3 => Value::Float32(f32::from_le_bytes(self.fixed::<4>()?)),
                4 => Value::Int32(self.int()?),
                5 => Value::Int64(self.long()?),
                6 => Value::String(self.string("string")?),
                7 => {
                    let mut items = Vec::new();
                    loop {
                        let count = self.anything_count(1)?;
                        if count == 0 {
                            break;
                        }
                        items.reserve(count);
                        for _ in 0..count {
                            items.push(self.anything_at(depth + 1)?);
                        }
                    }
                    Value::Array(items)
                }
                _ => {
                    let mut entries = Vec::new();
                    loop {
                        let count = self.anything_count(2)?;
                        if count == 0 {
                            break;
                        }
                        entries.reserve(count);
                        for _ in 0..count {
                            let key = self.anything_at(depth + 1)?;
                            let value = self.anything_at(depth + 1)?;
                            entries.push((key, value));
                        }
                    }
                    Value::Map(entries)
                }
            };
            if found.is_null() {
                found = value;
            }
        }
        Ok(found)
    }

    /// The count of the next block of items made of `per_item` `Anything`s, bounded by the bytes left.
    fn anything_count(&mut self, per_item: usize) -> Result<usize, ConvertError> {
        let start = self.at;
        let count = self.long()?;
        let count = if count < 0 {
            let _size = self.long()?;
            count.unsigned_abs()
        } else {
            count as u64
        };
        let bound = self.remaining() / (ANYTHING_MIN_BYTES * per_item);
        checked_count(start, count, bound)
    }
}

/// Writes Avro binary.
pub struct AvroWriter<'a> {
    pub out: &'a mut BytesMut,
}

fn mismatch(schema: &Schema, value: &Value) -> ConvertError {
    ConvertError::TypeMismatch {
        path: String::new(),
        expected: schema.ty.name().to_owned(),
        found: value.type_name().to_owned(),
    }
}

impl AvroWriter<'_> {
    pub fn long(&mut self, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            self.out.put_u8((z as u8) | 0x80);
            z >>= 7;
        }
        self.out.put_u8(z as u8);
    }

    fn bytes(&mut self, b: &[u8]) {
        self.long(b.len() as i64);
        self.out.put_slice(b);
    }

    /// Schemaless Connect data as Confluent's `Anything` record, as AvroData writes it: int8 and int16 in
    /// its `int`, every map as key/value entries. A struct has no place in it (AvroData refuses one too).
    pub fn anything(&mut self, value: &Value) -> Result<(), ConvertError> {
        self.anything_at(value, 0)
    }

    fn anything_at(&mut self, value: &Value, depth: usize) -> Result<(), ConvertError> {
        if depth > MAX_ANYTHING_DEPTH {
            return Err(ConvertError::Unsupported {
                converter: "avro",
                message: format!("schemaless value nested deeper than {MAX_ANYTHING_DEPTH} levels"),
            });
        }
        let field = match value {
            Value::Null => None,
            Value::Boolean(_) => Some(0),
            Value::Bytes(_) => Some(1),
            Value::Float64(_) => Some(2),
            Value::Float32(_) => Some(3),
            Value::Int8(_) | Value::Int16(_) | Value::Int32(_) => Some(4),
            Value::Int64(_) => Some(5),
            Value::String(_) => Some(6),
            Value::Array(_) => Some(7),
            Value::Map(_) => Some(8),
            Value::Struct(_) => {
                return Err(ConvertError::TypeMismatch {
                    path: String::new(),
                    expected:
                        "schemaless data (Confluent's Anything schema has no struct; give the \
                               record a schema)"
                            .to_owned(),
                    found: "a struct".to_owned(),
                })
            }
        };
        for i in 0..ANYTHING_FIELDS {
            if field != Some(i) {
                self.long(0);
                continue;
            }
            self.long(1);
            match value {
                Value::Boolean(b) => self.out.put_u8(u8::from(*b)),
                Value::Bytes(b) => self.bytes(b),
                Value::Float64(v) => self.out.put_slice(&v.to_le_bytes()),
                Value::Float32(v) => self.out.put_slice(&v.to_le_bytes()),
                Value::Int8(v) => self.long(i64::from(*v)),
                Value::Int16(v) => self.long(i64::from(*v)),
                Value::Int32(v) => self.long(i64::from(*v)),
                Value::Int64(v) => self.long(*v),
                Value::String(s) => self.bytes(s.as_bytes()),
                Value::Array(items) => {
                    if !items.is_empty() {
                        self.long(items.len() as i64);
                        for item in items {
                            self.anything_at(item, depth + 1)?;
                        }
                    }
                    self.long(0);
                }
                Value::Map(entries) => {
                    if !entries.is_empty() {
                        self.long(entries.len() as i64);
                        for (k, v) in entries {
                            self.anything_at(k, depth + 1)?;
                            self.anything_at(v, depth + 1)?;
                        }
                    }
                    self.long(0);
                }
                Value::Null | Value::Struct(_) => {}
            }
        }
        Ok(())
    }

    /// Encodes Connect `value` of `schema` as Avro schema `node` (built from `schema` by
    /// `mapping::from_connect`). Errors name the field path, built while unwinding.
    pub fn value(
        &mut self,
        node: &AvroNode,
        schema: &Schema,
        value: &Value,
    ) -> Result<(), ConvertError> {
        // A null in a field that has a default is written as the default, as Connect's validation
        // fills it in.
        let value = match (value, &schema.default) {
            (Value::Null, Some(default)) => default,
            _ => value,
        };
        match (&node.ty, value) {
            (AvroType::Union(branches), _) => self.union(branches, schema, value),
            (AvroType::Null, Value::Null) => Ok(()),
            (_, Value::Null) => Err(ConvertError::NullForRequired {
                path: String::new(),
                ty: schema.ty.name(),
            }),
            (AvroType::Boolean, Value::Boolean(b)) => {
                self.out.put_u8(u8::from(*b));
                Ok(())
            }
            (AvroType::Int, Value::Int8(v)) => {
                self.long((*v).into());
                Ok(())
            }
            (AvroType::Int, Value::Int16(v)) => {
                self.long((*v).into());
                Ok(())
            }
            (AvroType::Int, Value::Int32(v)) => {
                self.long((*v).into());
                Ok(())
            }
            (AvroType::Long, Value::Int64(v)) => {
                self.long(*v);
                Ok(())
            }
            (AvroType::Float, Value::Float32(v)) => {
                self.out.put_f32_le(*v);
                Ok(())
            }
            (AvroType::Double, Value::Float64(v)) => {
                self.out.put_f64_le(*v);
                Ok(())
            }
            (AvroType::String, Value::String(s)) => {
                self.bytes(s.as_bytes());
                Ok(())
            }
            (AvroType::Bytes, Value::Bytes(b)) => {
                self.bytes(b);
                Ok(())
            }
            (AvroType::Fixed(f), Value::Bytes(b)) => {
                if b.len() != f.size {
                    return Err(ConvertError::TypeMismatch {
                        path: String::new(),
                        expected: format!("{} bytes (fixed `{}`)", f.size, f.name),
                        found: format!("{} bytes", b.len()),
                    });
                }
                self.out.put_slice(b);
                Ok(())
            }
            (AvroType::Enum(e), Value::String(s)) => {
                let index = e
                    .symbols
                    .iter()
                    .position(|sym| sym == s.as_str())
                    .ok_or_else(|| ConvertError::TypeMismatch {
                        path: String::new(),
                        expected: format!("a symbol of enum `{}`", e.name),
                        found: format!("`{}`", s.as_str()),
                    })?;
                self.long(index as i64);
                Ok(())
            }
            (AvroType::Array(items), Value::Map(entries)) if is_map_entry_array(items) => {
                let (AvroType::Record(entry), Some(ks), Some(vs)) =
                    (&items.ty, &schema.key_schema, &schema.value_schema)
                else {
                    return Err(mismatch(schema, value));
                };
                if !entries.is_empty() {
                    self.long(entries.len() as i64);
                    for (k, v) in entries {
                        self.value(&entry.fields[0].node, ks, k)?;
                        self.value(&entry.fields[1].node, vs, v)?;
                    }
                }
                self.long(0);
                Ok(())
            }
            (AvroType::Array(items), Value::Array(list)) => {
                let item_schema = schema
                    .value_schema
                    .as_ref()
                    .ok_or_else(|| mismatch(schema, value))?;
                if !list.is_empty() {
                    self.long(list.len() as i64);
                    for item in list {
                        self.value(items, item_schema, item)?;
                    }
                }
                self.long(0);
                Ok(())
            }
            (AvroType::Map(values), Value::Map(entries)) => {
                let value_schema = schema
                    .value_schema
                    .as_ref()
                    .ok_or_else(|| mismatch(schema, value))?;
                if !entries.is_empty() {
                    self.long(entries.len() as i64);
                    for (k, v) in entries {
                        let key = k.as_str().ok_or_else(|| ConvertError::TypeMismatch {
                            path: String::new(),
                            expected: "a string map key".into(),
                            found: k.type_name().into(),
                        })?;
                        self.bytes(key.as_bytes());
                        self.value(values, value_schema, v)?;
                    }
                }
                self.long(0);
                Ok(())
            }
            (AvroType::Record(record), Value::Struct(s)) => {
                for ((f, cf), v) in record.fields.iter().zip(&schema.fields).zip(s.values()) {
                    self.value(&f.node, &cf.schema, v)
                        .map_err(|e| within_field(e, &cf.name))?;
                }
                Ok(())
            }
            _ => Err(mismatch(schema, value)),
        }
    }

    fn union(
        &mut self,
        branches: &[AvroNode],
        schema: &Schema,
        value: &Value,
    ) -> Result<(), ConvertError> {
        if value.is_null() {
            let index = branches
                .iter()
                .position(|b| matches!(b.ty, AvroType::Null))
                .ok_or_else(|| ConvertError::NullForRequired {
                    path: String::new(),
                    ty: schema.ty.name(),
                })?;
            self.long(index as i64);
            return Ok(());
        }
        if schema.name.as_deref() == Some(UNION_NAME) && schema.ty == Type::Struct {
            let Value::Struct(s) = value else {
                return Err(mismatch(schema, value));
            };
            let mut field_at = 0;
            for (index, branch) in branches.iter().enumerate() {
                if matches!(branch.ty, AvroType::Null) {
                    continue;
                }
                if let (Some(v), Some(f)) = (s.values().get(field_at), schema.fields.get(field_at))
                {
                    if !v.is_null() {
                        self.long(index as i64);
                        return self.value(branch, &f.schema, v);
                    }
                }
                field_at += 1;
            }
            return Err(ConvertError::TypeMismatch {
                path: String::new(),
                expected: "a union struct with one field set".into(),
                found: "none set".into(),
            });
        }
        // An optional schema: the one non-null branch.
        let (index, branch) = branches
            .iter()
            .enumerate()
            .find(|(_, b)| !matches!(b.ty, AvroType::Null))
            .ok_or_else(|| mismatch(schema, value))?;
        self.long(index as i64);
        self.value(branch, schema, value)
    }
}

/// `error` with the field name put in front of its path.
fn within_field(error: ConvertError, field: &str) -> ConvertError {
    let prefix = |path: String| {
        if path.is_empty() {
            field.to_owned()
        } else {
            format!("{field}.{path}")
        }
    };
    match error {
        ConvertError::TypeMismatch {
            path,
            expected,
            found,
        } => ConvertError::TypeMismatch {
            path: prefix(path),
            expected,
            found,
        },
        ConvertError::NullForRequired { path, ty } => ConvertError::NullForRequired {
            path: prefix(path),
            ty,
        },
        other => other,
    }
}
