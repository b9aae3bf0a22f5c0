//! Kafka Connect's `Schema`: building one (type, optionality, default, name/version/doc/parameters,
//! children), reading it, and the names of the logical types.

use super::model::{Field, Schema, SchemaRef, Type, Value};
use std::sync::Arc;

/// Names of Kafka Connect's logical types.
pub mod logical {
    pub const DATE: &str = "org.apache.kafka.connect.data.Date";
    pub const TIME: &str = "org.apache.kafka.connect.data.Time";
    pub const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";
    pub const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
    /// The `Decimal` schema parameter holding the scale.
    pub const DECIMAL_SCALE: &str = "scale";
}

impl Schema {
    pub fn new(ty: Type) -> Self {
        Schema {
            ty,
            optional: false,
            default: None,
            name: None,
            version: None,
            doc: None,
            parameters: None,
            fields: Vec::new(),
            key_schema: None,
            value_schema: None,
        }
    }

    pub fn array(items: SchemaRef) -> Self {
        Schema {
            value_schema: Some(items),
            ..Schema::new(Type::Array)
        }
    }

    pub fn map(keys: SchemaRef, values: SchemaRef) -> Self {
        Schema {
            key_schema: Some(keys),
            value_schema: Some(values),
            ..Schema::new(Type::Map)
        }
    }

    pub fn structure() -> Self {
        Schema::new(Type::Struct)
    }

    /// `Timestamp` logical schema (`int64` epoch millis).
    pub fn timestamp() -> Self {
        Schema::new(Type::Int64)
            .with_name(logical::TIMESTAMP)
            .with_version(1)
    }

    /// `Date` logical schema (`int32` days since epoch).
    pub fn date() -> Self {
        Schema::new(Type::Int32)
            .with_name(logical::DATE)
            .with_version(1)
    }

    /// `Time` logical schema (`int32` millis of day).
    pub fn time() -> Self {
        Schema::new(Type::Int32)
            .with_name(logical::TIME)
            .with_version(1)
    }

    /// `Decimal` logical schema (`bytes` unscaled big-endian two's complement).
    pub fn decimal(scale: i32) -> Self {
        Schema::new(Type::Bytes)
            .with_name(logical::DECIMAL)
            .with_version(1)
            .with_parameter(logical::DECIMAL_SCALE, &scale.to_string())
    }

    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    pub fn with_optional(mut self, optional: bool) -> Self {
        self.optional = optional;
        self
    }

    pub fn with_default(mut self, default: Value) -> Self {
        self.default = Some(default);
        self
    }

    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    pub fn with_version(mut self, version: i32) -> Self {
        self.version = Some(version);
        self
    }

    pub fn with_doc(mut self, doc: &str) -> Self {
        self.doc = Some(doc.to_owned());
        self
    }

    pub fn with_parameter(mut self, key: &str, value: &str) -> Self {
        self.parameters
            .get_or_insert_with(Vec::new)
            .push((key.to_owned(), value.to_owned()));
        self
    }

    /// Appends a struct field.
    pub fn field(mut self, name: &str, schema: impl Into<SchemaRef>) -> Self {
        let index = self.fields.len();
        self.fields.push(Field {
            name: name.to_owned(),
            index,
            schema: schema.into(),
        });
        self
    }

    pub fn build(self) -> SchemaRef {
        Arc::new(self)
    }

    /// The struct field called `name`.
    pub fn field_named(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn parameter(&self, key: &str) -> Option<&str> {
        self.parameters
            .as_ref()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The logical type name, when this schema has one of Kafka Connect's logical types.
    pub fn logical_name(&self) -> Option<&'static str> {
        let name = self.name.as_deref()?;
        [
            logical::DATE,
            logical::TIME,
            logical::TIMESTAMP,
            logical::DECIMAL,
        ]
        .into_iter()
        .find(|l| *l == name)
    }

    /// A copy of this schema's type, name, version, doc and parameters (Kafka Connect's `SchemaUtil.copySchemaBasics`),
    /// with no fields and the given optionality.
    pub fn copy_basics(&self) -> Schema {
        Schema {
            ty: self.ty,
            optional: self.optional,
            default: None,
            name: self.name.clone(),
            version: self.version,
            doc: self.doc.clone(),
            parameters: self.parameters.clone(),
            fields: Vec::new(),
            key_schema: self.key_schema.clone(),
            value_schema: self.value_schema.clone(),
        }
    }
}
