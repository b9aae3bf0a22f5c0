//! `TimestampConverter$Key` / `$Value`: convert a timestamp (the whole key/value, or `field`) between
//! `string` (with `format`), `unix` (in `unix.precision`), `Date`, `Time` and `Timestamp`. All in UTC.
//! Schemaless inputs: a string is parsed with `format`, an integer is unix time.

use super::shared::{TransformBuildError, TransformError, Which, NEGATE_KEY, PREDICATE_KEY};
use super::timefmt::DateFormat;
use super::util::{config_error, invalid, operating, require_map, take_struct, SchemaCache};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::{logical, Schema, SchemaRef, Str, Struct, Type, Value};
use crate::connect::record::ConnectRecord;

const NAME: &str = "TimestampConverter";
const PURPOSE: &str = "converting timestamp formats";
const MILLIS_PER_DAY: i64 = 86_400_000;

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::required(
        "target.type",
        ConfigType::String,
        "string, unix, Date, Time or Timestamp",
    )
    .one_of(&["string", "unix", "Date", "Time", "Timestamp"]),
    ConfigKey::optional(
        "field",
        ConfigType::String,
        Some(""),
        "The field holding the timestamp; empty for the whole key or value",
    ),
    ConfigKey::optional(
        "format",
        ConfigType::String,
        Some(""),
        "SimpleDateFormat pattern, for string input or output",
    ),
    ConfigKey::optional(
        "unix.precision",
        ConfigType::String,
        Some("milliseconds"),
        "Precision of unix times",
    )
    .one_of(&["seconds", "milliseconds", "microseconds", "nanoseconds"]),
    ConfigKey::optional(
        "replace.null.with.default",
        ConfigType::Boolean,
        Some("true"),
        "Accepted for compatibility",
    ),
    PREDICATE_KEY,
    NEGATE_KEY,
]);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeType {
    String,
    Unix,
    Date,
    Time,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnixPrecision {
    Seconds,
    Milliseconds,
    Microseconds,
    Nanoseconds,
}

#[derive(Debug, Clone)]
pub struct TimestampConverter {
    pub which: Which,
    field: Option<String>,
    target: TimeType,
    format: Option<DateFormat>,
    precision: UnixPrecision,
    cache: SchemaCache<SchemaRef>,
}

impl TimestampConverter {
    pub fn build(config: &ParsedConfig, which: Which) -> Result<Self, TransformBuildError> {
        let target = match config
            .get("target.type")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "string" => TimeType::String,
            "unix" => TimeType::Unix,
            "date" => TimeType::Date,
            "time" => TimeType::Time,
            "timestamp" => TimeType::Timestamp,
            other => {
                return Err(config_error(
                    NAME,
                    "target.type",
                    format!("unknown type `{other}`"),
                ))
            }
        };
        let format = match config.get("format").filter(|f| !f.is_empty()) {
            Some(p) => Some(DateFormat::new(p).map_err(|e| config_error(NAME, "format", e))?),
            None => None,
        };
        if target == TimeType::String && format.is_none() {
            return Err(config_error(
                NAME,
                "format",
                "a format is required when target.type is string",
            ));
        }
        let precision = match config.get("unix.precision").unwrap_or("milliseconds") {
            "seconds" => UnixPrecision::Seconds,
            "microseconds" => UnixPrecision::Microseconds,
            "nanoseconds" => UnixPrecision::Nanoseconds,
            _ => UnixPrecision::Milliseconds,
        };
        Ok(TimestampConverter {
            which,
            field: config
                .get("field")
                .filter(|f| !f.is_empty())
                .map(str::to_owned),
            target,
            format,
            precision,
            cache: SchemaCache::default(),
        })
    }

    fn target_schema(&self, optional: bool) -> Schema {
        match self.target {
            TimeType::String => Schema::new(Type::String),
            TimeType::Unix => Schema::new(Type::Int64),
            TimeType::Date => Schema::date(),
            TimeType::Time => Schema::time(),
            TimeType::Timestamp => Schema::timestamp(),
        }
        .with_optional(optional)
    }

    fn input_type(
        &self,
        value: &Value,
        schema: Option<&Schema>,
    ) -> Result<TimeType, TransformError> {
        if let Some(s) = schema {
            return match (s.logical_name(), s.ty) {
                (Some(logical::TIMESTAMP), _) => Ok(TimeType::Timestamp),
                (Some(logical::DATE), _) => Ok(TimeType::Date),
                (Some(logical::TIME), _) => Ok(TimeType::Time),
                (_, Type::String) => Ok(TimeType::String),
                (_, Type::Int64) => Ok(TimeType::Unix),
                _ => Err(invalid(
                    NAME,
                    format!("schema of type {} is not a timestamp type", s.ty.name()),
                )),
            };
        }
        match value {
            Value::String(_) => Ok(TimeType::String),
            v if v.as_i64().is_some() => Ok(TimeType::Unix),
            other => Err(invalid(
                NAME,
                format!(
                    "{} is not a timestamp (expected a string or an integer)",
                    other.type_name()
                ),
            )),
        }
    }

    /// Converts one value; null stays null.
    fn convert(&self, value: &Value, schema: Option<&Schema>) -> Result<Value, TransformError> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        let from = self.input_type(value, schema)?;
        let millis = match from {
            TimeType::String => {
                let format = self
                    .format
                    .as_ref()
                    .ok_or_else(|| invalid(NAME, "string input needs `format`"))?;
                let text = value.as_str().unwrap_or_default();
                format.parse(text).map_err(|e| invalid(NAME, e))?
            }
            TimeType::Unix => {
                let v = value
                    .as_i64()
                    .ok_or_else(|| invalid(NAME, "unix time must be an integer"))?;
                match self.precision {
                    UnixPrecision::Seconds => v.saturating_mul(1000),
                    UnixPrecision::Milliseconds => v,
                    UnixPrecision::Microseconds => v / 1000,
                    UnixPrecision::Nanoseconds => v / 1_000_000,
                }
            }
            TimeType::Timestamp | TimeType::Time => value.as_i64().unwrap_or_default(),
            TimeType::Date => value
                .as_i64()
                .unwrap_or_default()
                .saturating_mul(MILLIS_PER_DAY),
        };
        Ok(match self.target {
            TimeType::String => {
                let format = self
                    .format
                    .as_ref()
                    .ok_or_else(|| invalid(NAME, "string output needs `format`"))?;
                Value::String(Str::from(format.format(millis)))
            }
            TimeType::Unix => Value::Int64(match self.precision {
                UnixPrecision::Seconds => millis / 1000,
                UnixPrecision::Milliseconds => millis,
                UnixPrecision::Microseconds => millis.saturating_mul(1000),
                UnixPrecision::Nanoseconds => millis.saturating_mul(1_000_000),
            }),
            TimeType::Timestamp => Value::Int64(millis),
            TimeType::Date => Value::Int32(millis.div_euclid(MILLIS_PER_DAY) as i32),
            TimeType::Time => Value::Int32(millis.rem_euclid(MILLIS_PER_DAY) as i32),
        })
    }

    pub fn apply(&self, record: &mut ConnectRecord) -> Result<(), TransformError> {
        let sv = operating(record, self.which, NAME)?;
        let Some(field) = &self.field else {
            if let Some(schema) = &sv.schema {
                let updated = self.cache.get_or_try_insert(schema, || {
                    self.input_type(&sv.value, Some(schema))?;
                    Ok(self.target_schema(schema.optional).build())
                })?;
                sv.value = self.convert(&sv.value, Some(schema))?;
                sv.schema = Some(updated);
            } else {
                sv.value = self.convert(&sv.value, None)?;
            }
            return Ok(());
        };
        if sv.value.is_null() {
            return Ok(());
        }
        match &sv.schema {
            None => {
                let map = require_map(&mut sv.value, NAME, PURPOSE)?;
                if let Some((_, v)) = map
                    .iter_mut()
                    .find(|(k, _)| k.as_str() == Some(field.as_str()))
                {
                    *v = self.convert(v, None)?;
                }
            }
            Some(schema) => {
                let updated = self.cache.get_or_try_insert(schema, || {
                    let mut builder = schema.copy_basics();
                    builder.optional = false;
                    for f in &schema.fields {
                        let fs = if f.name == *field {
                            self.input_type(&Value::Null, Some(&f.schema))?;
                            self.target_schema(f.schema.optional).build()
                        } else {
                            f.schema.clone()
                        };
                        builder = builder.field(&f.name, fs);
                    }
                    Ok(builder.build())
                })?;
                let mut values = take_struct(&mut sv.value, NAME, PURPOSE)?.into_values();
                if let Some(f) = schema.field_named(field) {
                    if let Some(v) = values.get_mut(f.index) {
                        *v = self.convert(v, Some(&f.schema))?;
                    }
                }
                sv.value = Value::Struct(
                    Struct::from_values(updated.clone(), values)
                        .map_err(|e| invalid(NAME, e.to_string()))?,
                );
                sv.schema = Some(updated);
            }
        }
        Ok(())
    }
}
