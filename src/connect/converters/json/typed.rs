//! JSON tree + schema → typed Connect value (Kafka Connect's `convertToConnect`). Moves strings out of the
//! tree, so shared input slices stay shared.

use super::path::Path;
use crate::connect::converters::ConvertError;
use crate::connect::data::base64;
use crate::connect::data::{logical, Schema, SchemaRef, Struct, Type, Value};
use bytes::Bytes;

fn mismatch(path: &Path<'_>, expected: &str, found: &Value) -> ConvertError {
    ConvertError::TypeMismatch {
        path: path.to_string(),
        expected: expected.to_owned(),
        found: found.type_name().to_owned(),
    }
}

fn int(json: &Value, path: &Path<'_>, ty: Type) -> Result<i64, ConvertError> {
    match json {
        Value::Int64(v) => Ok(*v),
        other => Err(mismatch(
            path,
            &format!("an integer for {}", ty.name()),
            other,
        )),
    }
}

pub fn to_typed(schema: &SchemaRef, json: Value, path: &Path<'_>) -> Result<Value, ConvertError> {
    if json.is_null() {
        if let Some(default) = &schema.default {
            return Ok(default.clone());
        }
        if schema.optional {
            return Ok(Value::Null);
        }
        return Err(ConvertError::NullForRequired {
            path: path.to_string(),
            ty: schema.ty.name(),
        });
    }
    Ok(match schema.ty {
        Type::Int8 => Value::Int8(int(&json, path, schema.ty)? as i8),
        Type::Int16 => Value::Int16(int(&json, path, schema.ty)? as i16),
        Type::Int32 => Value::Int32(int(&json, path, schema.ty)? as i32),
        Type::Int64 => Value::Int64(int(&json, path, schema.ty)?),
        Type::Float32 => match json.as_f64() {
            Some(v) => Value::Float32(v as f32),
            None => return Err(mismatch(path, "a number for float32", &json)),
        },
        Type::Float64 => match json.as_f64() {
            Some(v) => Value::Float64(v),
            None => return Err(mismatch(path, "a number for float64", &json)),
        },
        Type::Boolean => match json {
            Value::Boolean(b) => Value::Boolean(b),
            other => return Err(mismatch(path, "a boolean", &other)),
        },
        Type::String => match json {
            Value::String(s) => Value::String(s),
            other => return Err(mismatch(path, "a string", &other)),
        },
        Type::Bytes => match json {
            Value::String(s) => match base64::decode(s.as_bytes()) {
                Ok(bytes) => Value::Bytes(Bytes::from(bytes)),
                Err(at) => {
                    return Err(ConvertError::TypeMismatch {
                        path: path.to_string(),
                        expected: "base64 text for bytes".to_owned(),
                        found: format!("a string with an invalid character at {at}"),
                    })
                }
            },
            ref number @ (Value::Int64(_) | Value::Float64(_))
                if schema.name.as_deref() == Some(logical::DECIMAL) =>
            {
                Value::Bytes(decimal_from_number(schema, number, path)?)
            }
            other => return Err(mismatch(path, "a base64 string for bytes", &other)),
        },
        Type::Array => {
            let items_schema = child(schema, schema.value_schema.as_ref(), path)?;
            let Value::Array(items) = json else {
                return Err(mismatch(path, "an array", &json));
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                out.push(to_typed(items_schema, item, &path.index(i))?);
            }
            Value::Array(out)
        }
        Type::Map => {
            let key_schema = child(schema, schema.key_schema.as_ref(), path)?;
            let value_schema = child(schema, schema.value_schema.as_ref(), path)?;
            match json {
                Value::Map(entries) if key_schema.ty == Type::String => {
                    let mut out = Vec::with_capacity(entries.len());
                    for (k, v) in entries {
                        let field_path_name = k.as_str().unwrap_or("?").to_owned();
                        let value_path = path.field(&field_path_name);
                        out.push((
                            to_typed(key_schema, k, &value_path)?,
                            to_typed(value_schema, v, &value_path)?,
                        ));
                    }
                    Value::Map(out)
                }
                Value::Array(pairs) => {
                    let mut out = Vec::with_capacity(pairs.len());
                    for (i, pair) in pairs.into_iter().enumerate() {
                        let pair_path = path.index(i);
                        let Value::Array(kv) = pair else {
                            return Err(mismatch(&pair_path, "a [key, value] array", &pair));
                        };
                        let Ok::<[Value; 2], _>([k, v]) = kv.try_into() else {
                            return Err(ConvertError::TypeMismatch {
                                path: pair_path.to_string(),
                                expected: "a [key, value] array of two entries".to_owned(),
                                found: "an array of another length".to_owned(),
                            });
                        };
                        out.push((
                            to_typed(key_schema, k, &pair_path.index(0))?,
                            to_typed(value_schema, v, &pair_path.index(1))?,
                        ));
                    }
                    Value::Map(out)
                }
                other => {
                    return Err(mismatch(
                        path,
                        "an object (string keys) or an array of [key, value] pairs",
                        &other,
                    ))
                }
            }
        }
        Type::Struct => {
            let Value::Map(mut entries) = json else {
                return Err(mismatch(path, "an object for a struct", &json));
            };
            let mut values = Vec::with_capacity(schema.fields.len());
            for field in &schema.fields {
                let raw = entries
                    .iter_mut()
                    .find(|(k, _)| k.as_str() == Some(field.name.as_str()))
                    .map(|(_, v)| std::mem::take(v))
                    .unwrap_or(Value::Null);
                values.push(to_typed(&field.schema, raw, &path.field(&field.name))?);
            }
            Value::Struct(
                Struct::from_values(schema.clone(), values)
                    .map_err(|_| ConvertError::Internal("struct schema is not a struct"))?,
            )
        }
    })
}

fn child<'s>(
    schema: &Schema,
    child: Option<&'s SchemaRef>,
    path: &Path<'_>,
) -> Result<&'s SchemaRef, ConvertError> {
    child.ok_or_else(|| ConvertError::InvalidSchema {
        path: path.to_string(),
        message: format!("{} schema has no element schema", schema.ty.name()),
    })
}

/// The scale of a `Decimal` schema.
pub fn decimal_scale(schema: &Schema) -> i32 {
    schema
        .parameter(logical::DECIMAL_SCALE)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Java `BigInteger.toByteArray()`: minimal big-endian two's complement.
pub fn unscaled_to_bytes(unscaled: i128) -> Bytes {
    let all = unscaled.to_be_bytes();
    let mut start = 0;
    while start < all.len() - 1 {
        let (b, next) = (all[start], all[start + 1]);
        let redundant = (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    Bytes::copy_from_slice(&all[start..])
}

/// The unscaled value of decimal bytes, when it fits in an `i128`.
pub fn bytes_to_unscaled(bytes: &[u8]) -> Option<i128> {
    if bytes.is_empty() || bytes.len() > 16 {
        return None;
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut all = [fill; 16];
    all[16 - bytes.len()..].copy_from_slice(bytes);
    Some(i128::from_be_bytes(all))
}

fn decimal_from_number(
    schema: &Schema,
    number: &Value,
    path: &Path<'_>,
) -> Result<Bytes, ConvertError> {
    let scale = decimal_scale(schema);
    let factor = 10f64.powi(scale);
    let unscaled = match number {
        Value::Int64(v) => 10i128
            .checked_pow(scale.max(0) as u32)
            .and_then(|f| i128::from(*v).checked_mul(f)),
        Value::Float64(v) => {
            let scaled = (v * factor).round();
            (scaled.is_finite() && scaled.abs() < 1e38).then_some(scaled as i128)
        }
        _ => None,
    };
    unscaled
        .map(unscaled_to_bytes)
        .ok_or_else(|| ConvertError::TypeMismatch {
            path: path.to_string(),
            expected: format!("a decimal with scale {scale} that fits 128 bits"),
            found: number.to_string(),
        })
}
