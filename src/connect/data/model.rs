//! The data model's types — `Schema`, `Value`, `Struct` — declared together because they nest in a loop: a
//! struct value holds its schema, and a schema holds its default value. Their behaviour lives beside them
//! (`schema.rs`, `value.rs`); this file holds only the shapes and must import neither.

use super::str::Str;
use bytes::Bytes;
use std::sync::Arc;

/// Schemas are shared between records (and cached by transforms), so they travel behind an `Arc`.
pub type SchemaRef = Arc<Schema>;

/// Kafka Connect's schema types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    String,
    Bytes,
    Array,
    Map,
    Struct,
}

impl Type {
    /// The lower-case name used in schema JSON and in `Cast` specs.
    pub fn name(self) -> &'static str {
        match self {
            Type::Int8 => "int8",
            Type::Int16 => "int16",
            Type::Int32 => "int32",
            Type::Int64 => "int64",
            Type::Float32 => "float32",
            Type::Float64 => "float64",
            Type::Boolean => "boolean",
            Type::String => "string",
            Type::Bytes => "bytes",
            Type::Array => "array",
            Type::Map => "map",
            Type::Struct => "struct",
        }
    }

    pub fn from_name(name: &str) -> Option<Type> {
        Some(match name {
            "int8" => Type::Int8,
            "int16" => Type::Int16,
            "int32" => Type::Int32,
            "int64" => Type::Int64,
            "float32" => Type::Float32,
            "float64" => Type::Float64,
            "boolean" => Type::Boolean,
            "string" => Type::String,
            "bytes" => Type::Bytes,
            "array" => Type::Array,
            "map" => Type::Map,
            "struct" => Type::Struct,
            _ => return None,
        })
    }

    pub fn is_primitive(self) -> bool {
        !matches!(self, Type::Array | Type::Map | Type::Struct)
    }
}

/// A field of a struct schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub index: usize,
    pub schema: SchemaRef,
}

/// Kafka Connect's `Schema` (built immutable; the builder methods consume and return `self`).
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub ty: Type,
    pub optional: bool,
    pub default: Option<Value>,
    pub name: Option<String>,
    pub version: Option<i32>,
    pub doc: Option<String>,
    /// In insertion order, as Kafka Connect keeps them.
    pub parameters: Option<Vec<(String, String)>>,
    /// Struct fields, in order.
    pub fields: Vec<Field>,
    /// Map key schema.
    pub key_schema: Option<SchemaRef>,
    /// Array item or map value schema.
    pub value_schema: Option<SchemaRef>,
}

/// A Kafka Connect value. Schemaless JSON objects become `Map`s with `String` keys, in document order.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Boolean(bool),
    Int8(i8),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float32(f32),
    Float64(f64),
    String(Str),
    Bytes(Bytes),
    Array(Vec<Value>),
    /// Entries in insertion order; keys are usually strings but Kafka Connect allows any type.
    Map(Vec<(Value, Value)>),
    Struct(Struct),
}

/// A struct value: one slot per field of its schema (`Value::Null` when unset).
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    pub(super) schema: SchemaRef,
    pub(super) values: Vec<Value>,
}
