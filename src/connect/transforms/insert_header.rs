//! `InsertHeader`: add header `header` with `value.literal`, typed as Kafka Connect's `Values.parseString`
//! would (boolean, the smallest integer type, float64, or string).

use super::shared::{TransformBuildError, NEGATE_KEY, PREDICATE_KEY};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::{Schema, SchemaRef, Str, Type, Value};
use crate::connect::record::{ConnectRecord, Header};

const NAME: &str = "InsertHeader";

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::required("header", ConfigType::String, "Name of the header"),
    ConfigKey::required(
        "value.literal",
        ConfigType::String,
        "Literal value of the header",
    ),
    PREDICATE_KEY,
    NEGATE_KEY,
]);

#[derive(Debug, Clone)]
pub struct InsertHeader {
    header: Str,
    value: Value,
    schema: SchemaRef,
}

/// A literal typed the way `Values.parseString` types it.
pub fn parse_literal(text: &str) -> (SchemaRef, Value) {
    let t = text.trim();
    let (ty, value) = if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false") {
        (
            Type::Boolean,
            Value::Boolean(t.eq_ignore_ascii_case("true")),
        )
    } else if let Ok(i) = t.parse::<i64>() {
        if let Ok(v) = i8::try_from(i) {
            (Type::Int8, Value::Int8(v))
        } else if let Ok(v) = i16::try_from(i) {
            (Type::Int16, Value::Int16(v))
        } else if let Ok(v) = i32::try_from(i) {
            (Type::Int32, Value::Int32(v))
        } else {
            (Type::Int64, Value::Int64(i))
        }
    } else if let (true, Ok(f)) = (
        t.contains(['.', 'e', 'E']) && !t.is_empty(),
        t.parse::<f64>(),
    ) {
        (Type::Float64, Value::Float64(f))
    } else {
        (Type::String, Value::String(Str::from(text)))
    };
    (Schema::new(ty).build(), value)
}

impl InsertHeader {
    pub fn build(config: &ParsedConfig) -> Result<Self, TransformBuildError> {
        let header = super::util::required_string(config, "header", NAME)?;
        let (schema, value) = parse_literal(config.get("value.literal").unwrap_or_default());
        Ok(InsertHeader {
            header: Str::from(header),
            value,
            schema,
        })
    }

    pub fn apply(&self, record: &mut ConnectRecord) {
        record.headers.push(Header {
            key: self.header.clone(),
            value: self.value.clone(),
            schema: Some(self.schema.clone()),
        });
    }
}
