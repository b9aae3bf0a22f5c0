//! Kafka Connect's data model: `Schema`, `Value`, `Struct`.
//!
//! Owns the in-memory shape of keys, values and headers between converters and transforms. Strings and byte
//! arrays are `Bytes`-backed so a converter can hand out slices of the record's buffer without copying.
//! Logical types (Date, Time, Timestamp, Decimal) keep their physical representation (`Int32` days, `Int32`
//! millis of day, `Int64` epoch millis, `Bytes` unscaled big-endian) and are recognised by schema name, as
//! Kafka Connect does on the wire. Must not know any wire format.

pub mod base64;
pub mod decimal;
mod java_text;
mod model;
mod schema;
mod str;
mod value;

pub use java_text::{java_text, write_java_text};
pub use java_text::{write_java_double, write_java_float};
pub use model::{Field, Schema, SchemaRef, Struct, Type, Value};
pub use schema::logical;
pub use str::{Str, INLINE_CAPACITY as STR_INLINE_CAPACITY};
pub use value::{map_get, StructError};

/// A schema (absent when schemaless) and the value it describes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SchemaAndValue {
    pub schema: Option<SchemaRef>,
    pub value: Value,
}

impl SchemaAndValue {
    pub const NULL: SchemaAndValue = SchemaAndValue {
        schema: None,
        value: Value::Null,
    };

    pub fn new(schema: Option<SchemaRef>, value: Value) -> Self {
        Self { schema, value }
    }

    pub fn schemaless(value: Value) -> Self {
        Self {
            schema: None,
            value,
        }
    }
}
