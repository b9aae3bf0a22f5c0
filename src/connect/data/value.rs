//! Kafka Connect values and structs: reading and building them, and their Java `toString` text.

use super::model::{SchemaRef, Struct, Type, Value};
use super::str::Str;
use std::fmt;
use std::fmt::Write as _;

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

/// Writes `v` as Java's `Double.toString` does (`1.0`, `1.0E10`, `1.5E-5`, `NaN`, `Infinity`).
pub fn write_java_double(v: f64, out: &mut impl fmt::Write) -> fmt::Result {
    java_float_text(
        v.is_finite(),
        v == 0.0 || (1e-3..1e7).contains(&v.abs()),
        out,
        |o, sci| {
            if !sci {
                return write!(o, "{v}");
            }
            write!(o, "{v:e}")?;
            two_digits_if_one(
                o,
                |t| {
                    let _ = write!(t, "{v:.1e}");
                },
                |t| t.parse::<f64>().ok() == Some(v),
            );
            Ok(())
        },
        v,
    )
}

/// Writes `v` as Java's `Float.toString` does.
pub fn write_java_float(v: f32, out: &mut impl fmt::Write) -> fmt::Result {
    java_float_text(
        v.is_finite(),
        v == 0.0 || (1e-3..1e7).contains(&v.abs()),
        out,
        |o, sci| {
            if !sci {
                return write!(o, "{v}");
            }
            write!(o, "{v:e}")?;
            two_digits_if_one(
                o,
                |t| {
                    let _ = write!(t, "{v:.1e}");
                },
                |t| t.parse::<f32>().ok() == Some(v),
            );
            Ok(())
        },
        f64::from(v),
    )
}

/// Java prints at least two significant digits (`d.dE±n`), and since JDK 19 the two-digit decimal nearest the
/// exact value when the shortest has one: that differs from `d.0` only for subnormals (`4.9E-324`, where the
/// shortest is `5e-324`). `text` is the shortest scientific form; replaced by the nearest two-digit form when
/// it has one digit and the two-digit form reads back as the same number.
fn two_digits_if_one(
    text: &mut String,
    nearest_two: impl Fn(&mut String),
    round_trips: impl Fn(&str) -> bool,
) {
    let mantissa = text.split('e').next().unwrap_or("");
    if mantissa.contains('.') {
        return;
    }
    let mut two = String::with_capacity(text.len() + 2);
    nearest_two(&mut two);
    if round_trips(&two) {
        *text = two;
    }
}

fn java_float_text(
    finite: bool,
    plain: bool,
    out: &mut impl fmt::Write,
    render: impl Fn(&mut String, bool) -> fmt::Result,
    as_f64: f64,
) -> fmt::Result {
    if !finite {
        return out.write_str(if as_f64.is_nan() {
            "NaN"
        } else if as_f64 > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        });
    }
    let mut text = String::with_capacity(24);
    render(&mut text, !plain)?;
    if plain {
        out.write_str(&text)?;
        if !text.contains('.') {
            out.write_str(".0")?;
        }
        return Ok(());
    }
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    out.write_str(mantissa)?;
    if !mantissa.contains('.') {
        out.write_str(".0")?;
    }
    write!(out, "E{exponent}")
}

/// Java's `toString` rendering (what `StringConverter` and `Cast` to string produce) of a value without its
/// schema: `super::java_text` with no schema, so structs print their fields by the fields' schemas (a Timestamp
/// field as a `java.util.Date`) and maps in `HashMap` order; a top-level logical value prints as its physical
/// type, since nothing here says it is one. Bytes print as base64.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        super::java_text::write_java_text(None, self, &mut text);
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: f64) -> String {
        let mut s = String::new();
        write_java_double(v, &mut s).unwrap();
        s
    }

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(d(1.0), "1.0");
        assert_eq!(d(0.0), "0.0");
        assert_eq!(d(-2.5), "-2.5");
        assert_eq!(d(1e10), "1.0E10");
        assert_eq!(d(1.5e-5), "1.5E-5");
        assert_eq!(d(1234567.0), "1234567.0");
        assert_eq!(d(f64::NAN), "NaN");
    }

    #[test]
    fn display_is_java_to_string_without_a_schema() {
        use crate::connect::data::Schema;
        let schema = Schema::structure()
            .field("at", Schema::timestamp().build())
            .field("n", Schema::new(Type::Int32).optional().build())
            .build();
        let mut s = Struct::new(schema).unwrap();
        s.put("at", Value::Int64(0)).unwrap();
        assert_eq!(
            Value::Struct(s).to_string(),
            "Struct{at=Thu Jan 01 00:00:00 UTC 1970}"
        );
        // HashMap order, as Java prints a map JsonConverter built.
        let m = Value::Map(vec![
            (Value::string("b"), Value::Int64(1)),
            (Value::string("a"), Value::Int64(2)),
        ]);
        assert_eq!(m.to_string(), "{a=2, b=1}");
        assert_eq!(Value::Int64(0).to_string(), "0");
    }
}
