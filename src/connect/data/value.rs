//! Kafka Connect values and structs: reading and building them (their Java `toString` text is `java_text`'s).

use super::model::{SchemaRef, Struct, Type, Value};
use super::str::Str;

impl Value {
    pub fn string(s: &str) -> Value {
        Value::String(Str::from(s))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The name of this value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Boolean(_) => "boolean",
            Value::Int8(_) => "int8",
            Value::Int16(_) => "int16",
            Value::Int32(_) => "int32",
            Value::Int64(_) => "int64",
            Value::Float32(_) => "float32",
            Value::Float64(_) => "float64",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
            Value::Struct(_) => "struct",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The entry of a map whose key is the string `key`.
    pub fn map_get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => map_get(entries, key),
            _ => None,
        }
    }

    /// Any integer as `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int8(v) => Some(v.into()),
            Value::Int16(v) => Some(v.into()),
            Value::Int32(v) => Some(v.into()),
            Value::Int64(v) => Some(v),
            _ => None,
        }
    }

    /// Any number as `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float32(v) => Some(v.into()),
            Value::Float64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }
}

/// The value under string key `key` in map entries.
pub fn map_get<'a>(entries: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    entries
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// What went wrong putting a value into a struct.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StructError {
    #[error("struct schema has no field `{0}`")]
    NoSuchField(String),
    #[error("schema is a {0:?}, not a struct")]
    NotAStruct(Type),
}

impl Struct {
    /// An empty struct of `schema` (every field null).
    pub fn new(schema: SchemaRef) -> Result<Self, StructError> {
        if schema.ty != Type::Struct {
            return Err(StructError::NotAStruct(schema.ty));
        }
        let values = vec![Value::Null; schema.fields.len()];
        Ok(Struct { schema, values })
    }

    /// A struct from values in field order; missing trailing values are null, extra ones are dropped.
    pub fn from_values(schema: SchemaRef, mut values: Vec<Value>) -> Result<Self, StructError> {
        if schema.ty != Type::Struct {
            return Err(StructError::NotAStruct(schema.ty));
        }
        values.resize(schema.fields.len(), Value::Null);
        Ok(Struct { schema, values })
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub fn values(&self) -> &[Value] {
        &self.values
    }

    pub fn values_mut(&mut self) -> &mut [Value] {
        &mut self.values
    }

    pub fn into_values(self) -> Vec<Value> {
        self.values
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        let f = self.schema.field_named(field)?;
        self.values.get(f.index)
    }

    pub fn get_index(&self, index: usize) -> Option<&Value> {
        self.values.get(index)
    }

    pub fn put(&mut self, field: &str, value: Value) -> Result<(), StructError> {
        let index = self
            .schema
            .field_named(field)
            .map(|f| f.index)
            .ok_or_else(|| StructError::NoSuchField(field.to_owned()))?;
        self.values[index] = value;
        Ok(())
    }

    /// The same values under another (field-compatible) schema.
    pub fn with_schema(self, schema: SchemaRef) -> Struct {
        let mut values = self.values;
        values.resize(schema.fields.len(), Value::Null);
        Struct { schema, values }
    }
}
