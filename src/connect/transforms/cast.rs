//! `Cast$Key` / `Cast$Value`: `spec` is either one type (cast the whole key/value) or `field:type,…`; types
//! are int8, int16, int32, int64, float32, float64, boolean, string.

use super::shared::{TransformBuildError, TransformError, Which, NEGATE_KEY, PREDICATE_KEY};
use super::timefmt::DateFormat;
use super::util::{config_error, invalid, operating, require_map, take_struct, SchemaCache};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::base64;
use crate::connect::data::{logical, Schema, SchemaRef, Str, Struct, Type, Value};
use crate::connect::record::ConnectRecord;

const NAME: &str = "Cast";
const PURPOSE: &str = "cast types";

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::required(
        "spec",
        ConfigType::List,
        "`field:type,…`, or a single type to cast the whole key or value",
    ),
    ConfigKey::optional(
        "replace.null.with.default",
        ConfigType::Boolean,
        Some("true"),
        "Accepted for compatibility",
    ),
    PREDICATE_KEY,
    NEGATE_KEY,
]);

const TARGETS: [Type; 8] = [
    Type::Int8,
    Type::Int16,
    Type::Int32,
    Type::Int64,
    Type::Float32,
    Type::Float64,
    Type::Boolean,
    Type::String,
];

#[derive(Debug, Clone)]
pub struct Cast {
    pub which: Which,
    /// `None` field = the whole key/value.
    casts: Vec<(Option<String>, Type)>,
    cache: SchemaCache<SchemaRef>,
}

fn target(name: &str) -> Option<Type> {
    Type::from_name(name.trim()).filter(|t| TARGETS.contains(t))
}

impl Cast {
    pub fn build(config: &ParsedConfig, which: Which) -> Result<Self, TransformBuildError> {
        let spec = config.list("spec");
        let mut casts = Vec::new();
        for entry in &spec {
            let (field, ty) = match entry.split_once(':') {
                Some((f, t)) => (Some(f.trim().to_owned()), t),
                None => (None, entry.as_str()),
            };
            let ty = target(ty).ok_or_else(|| {
                config_error(
                    NAME,
                    "spec",
                    format!("`{ty}` is not a type to cast to; use int8, int16, int32, int64, float32, float64, boolean or string"),
                )
            })?;
            if field.is_none() && spec.len() > 1 {
                return Err(config_error(
                    NAME,
                    "spec",
                    "a whole-value cast must be the only entry",
                ));
            }
            casts.push((field, ty));
        }
        if casts.is_empty() {
            return Err(config_error(NAME, "spec", "must name at least one cast"));
        }
        Ok(Cast {
            which,
            casts,
            cache: SchemaCache::default(),
        })
    }

    fn whole(&self) -> Option<Type> {
        match self.casts.as_slice() {
            [(None, ty)] => Some(*ty),
            _ => None,
        }
    }

    fn field_target(&self, name: &str) -> Option<Type> {
        self.casts
            .iter()
            .find(|(f, _)| f.as_deref() == Some(name))
            .map(|(_, t)| *t)
    }

    fn cast_schema(&self, from: &Schema, to: Type) -> Result<Schema, TransformError> {
        let castable = from.ty.is_primitive()
            && (from.ty != Type::Bytes
                || to == Type::String
                || from.name.as_deref() == Some(logical::DECIMAL));
        if !castable {
            return Err(invalid(
                NAME,
                format!("cannot cast a {} to {}", from.ty.name(), to.name()),
            ));
        }
        let mut s = Schema::new(to).with_optional(from.optional);
        if let Some(d) = &from.default {
            s.default = Some(cast_value(d, to, Some(from))?);
        }
        Ok(s)
    }

    pub fn apply(&self, record: &mut ConnectRecord) -> Result<(), TransformError> {
        let sv = operating(record, self.which, NAME)?;
        if sv.value.is_null() && sv.schema.is_none() {
            return Ok(());
        }
        if let Some(to) = self.whole() {
            let from = sv.schema.clone();
            if let Some(schema) = &from {
                let updated = self
                    .cache
                    .get_or_try_insert(schema, || Ok(self.cast_schema(schema, to)?.build()))?;
                sv.schema = Some(updated);
            }
            sv.value = cast_value(&sv.value, to, from.as_deref())?;
            return Ok(());
        }
        match &sv.schema {
            None => {
                let map = require_map(&mut sv.value, NAME, PURPOSE)?;
                for (k, v) in map.iter_mut() {
                    if let Some(to) = k.as_str().and_then(|n| self.field_target(n)) {
                        *v = cast_value(v, to, None)?;
                    }
                }
            }
            Some(schema) => {
                let updated = self.cache.get_or_try_insert(schema, || {
                    let mut builder = schema.copy_basics();
                    builder.optional = false;
                    for field in &schema.fields {
                        let fs = match self.field_target(&field.name) {
                            Some(to) => self.cast_schema(&field.schema, to)?.build(),
                            None => field.schema.clone(),
                        };
                        builder = builder.field(&field.name, fs);
                    }
                    Ok(builder.build())
                })?;
                let old = take_struct(&mut sv.value, NAME, PURPOSE)?;
                let mut values = Vec::with_capacity(old.values().len());
                for (field, v) in schema.fields.iter().zip(old.values()) {
                    values.push(match self.field_target(&field.name) {
                        Some(to) => cast_value(v, to, Some(&field.schema))?,
                        None => v.clone(),
                    });
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

fn decimal_as_f64(bytes: &[u8], schema: &Schema) -> Option<f64> {
    let unscaled = crate::connect::converters::json::decimal_unscaled(bytes)?;
    let scale = schema
        .parameter(logical::DECIMAL_SCALE)
        .and_then(|s| s.parse::<i32>().ok())
        .unwrap_or(0);
    Some(unscaled as f64 / 10f64.powi(scale))
}

/// Casts one value as Kafka Connect's `Cast` does (numbers truncate, booleans are 1/0, strings parse).
pub fn cast_value(
    value: &Value,
    to: Type,
    schema: Option<&Schema>,
) -> Result<Value, TransformError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let fail = || {
        invalid(
            NAME,
            format!(
                "cannot cast {} `{value}` to {}",
                value.type_name(),
                to.name()
            ),
        )
    };
    let decimal = match (value, schema) {
        (Value::Bytes(b), Some(s)) if s.name.as_deref() == Some(logical::DECIMAL) => {
            decimal_as_f64(b, s)
        }
        _ => None,
    };
    // As a number: integers exactly, floats as f64.
    enum Num {
        I(i64),
        F(f64),
    }
    let num = || -> Result<Num, TransformError> {
        if let Some(d) = decimal {
            return Ok(Num::F(d));
        }
        match value {
            Value::Boolean(b) => Ok(Num::I(i64::from(*b))),
            Value::Float32(f) => Ok(Num::F(f64::from(*f))),
            Value::Float64(f) => Ok(Num::F(*f)),
            Value::String(s) => {
                let t = s.trim();
                if to == Type::Float32 || to == Type::Float64 {
                    t.parse::<f64>().map(Num::F).map_err(|_| fail())
                } else {
                    t.parse::<i64>().map(Num::I).map_err(|_| fail())
                }
            }
            other => other.as_i64().map(Num::I).ok_or_else(fail),
        }
    };
    let as_i64 = |n: Num| match n {
        Num::I(i) => i,
        Num::F(f) => f as i64,
    };
    Ok(match to {
        Type::Int8 => Value::Int8(as_i64(num()?) as i8),
        Type::Int16 => Value::Int16(as_i64(num()?) as i16),
        Type::Int32 => Value::Int32(as_i64(num()?) as i32),
        Type::Int64 => Value::Int64(as_i64(num()?)),
        Type::Float32 => Value::Float32(match num()? {
            Num::I(i) => i as f32,
            Num::F(f) => f as f32,
        }),
        Type::Float64 => Value::Float64(match num()? {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }),
        Type::Boolean => Value::Boolean(match value {
            Value::String(s) => s.trim().eq_ignore_ascii_case("true"),
            Value::Boolean(b) => *b,
            _ => match num()? {
                Num::I(i) => i != 0,
                Num::F(f) => f as i64 != 0,
            },
        }),
        Type::String => Value::String(match (value, schema.and_then(|s| s.logical_name())) {
            (Value::String(s), _) => s.clone(),
            (Value::Bytes(b), Some(logical::DECIMAL)) => {
                Str::from(decimal.map_or_else(|| base64::encode(b), |d| d.to_string()))
            }
            (Value::Bytes(b), _) => Str::from(base64::encode(b)),
            (v, Some(logical::TIMESTAMP)) => {
                Str::from(iso(v.as_i64().unwrap_or(0), "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"))
            }
            (v, Some(logical::DATE)) => {
                Str::from(iso(v.as_i64().unwrap_or(0) * 86_400_000, "yyyy-MM-dd"))
            }
            (v, Some(logical::TIME)) => Str::from(iso(v.as_i64().unwrap_or(0), "HH:mm:ss.SSS")),
            (v, _) => Str::from(v.to_string()),
        }),
        _ => return Err(fail()),
    })
}

fn iso(epoch_ms: i64, pattern: &str) -> String {
    DateFormat::new(pattern)
        .map(|f| f.format(epoch_ms))
        .unwrap_or_default()
}
