//! JSON tree + schema → typed Connect value (Kafka Connect's `convertToConnect`). Moves strings out of the
//! tree, so shared input slices stay shared.
//!
//! What is accepted follows Kafka's converter, which reads each node with Jackson's `intValue()`,
//! `doubleValue()`, `binaryValue()`…: any JSON number for any numeric type (a fraction truncated toward zero and
//! narrowed to the type's bits, as Java's casts do: `300` as int8 is `44`), base64 text for bytes, a number or
//! base64 text for a Decimal, a JSON integer that fits 32 bits for Date and Time, any JSON integer for
//! Timestamp. Where Jackson would silently answer a default for a node of the wrong kind (`0` for the text
//! `"12"` as an int, `false` for `1` as a boolean, `[]` for an object as an array) this converter rejects the
//! record instead: those are data loss, not conversions. The strings `"NaN"`, `"Infinity"`, `"-Infinity"`
//! read as those floats, because that is how Jackson writes them (Kafka itself reads them back as `0.0`).

use super::path::Path;
use crate::connect::converters::ConvertError;
use crate::connect::data::decimal::{self, MAX_DIGITS};
use crate::connect::data::{base64, logical, Schema, SchemaRef, Struct, Type, Value};
use bytes::Bytes;

/// How a conversion reads numbers and nulls.
#[derive(Clone, Copy)]
pub struct Reading {
    pub replace_null_with_default: bool,
    /// Whether non-integer numbers in the tree are their literal text (`Value::Bytes`, see `parse`), as the
    /// exact path for numeric Decimals builds them. When false a Decimal given a fraction asks for that path.
    pub literals: bool,
}

/// Returned (and caught by the converter) when a numeric Decimal needs the number's literal text, which the
/// fast tree does not keep.
pub const NEEDS_LITERALS: ConvertError =
    ConvertError::Internal("numeric decimal needs the number's text");

/// Jackson's node type names, which Kafka's messages use.
fn node_type(json: &Value) -> &'static str {
    match json {
        Value::Null => "NULL",
        Value::Boolean(_) => "BOOLEAN",
        Value::Int8(_)
        | Value::Int16(_)
        | Value::Int32(_)
        | Value::Int64(_)
        | Value::Float32(_)
        | Value::Float64(_)
        | Value::Bytes(_) => "NUMBER",
        Value::String(_) => "STRING",
        Value::Array(_) => "ARRAY",
        Value::Map(_) | Value::Struct(_) => "OBJECT",
    }
}

fn mismatch(path: &Path<'_>, expected: &str, found: &Value) -> ConvertError {
    ConvertError::TypeMismatch {
        path: path.to_string(),
        expected: expected.to_owned(),
        found: node_type(found).to_owned(),
    }
}

/// A number literal (as `parse` keeps it in literal mode) as `f64`.
fn literal_f64(literal: &[u8]) -> Option<f64> {
    std::str::from_utf8(literal).ok()?.parse().ok()
}

/// Java's narrowing of a JSON number to a `long` (Jackson's `longValue()`: a fraction truncated toward zero,
/// then the low 64 bits).
fn integer_bits(json: &Value, path: &Path<'_>, ty: Type) -> Result<i64, ConvertError> {
    let truncate = |v: f64| (v.trunc() as i128) as i64;
    match json {
        Value::Int64(v) => Ok(*v),
        Value::Float64(v) => Ok(truncate(*v)),
        // An integer literal beyond 64 bits keeps its low 64 bits exactly, as `BigInteger.longValue()`.
        Value::Bytes(literal) => std::str::from_utf8(literal)
            .ok()
            .and_then(|t| t.parse::<i128>().ok())
            .map(|v| v as i64)
            .or_else(|| literal_f64(literal).map(truncate))
            .ok_or_else(|| mismatch(path, "a number", json)),
        other => Err(mismatch(
            path,
            &format!("a number for {}", ty.name()),
            other,
        )),
    }
}

fn float(json: &Value, path: &Path<'_>, ty: Type) -> Result<f64, ConvertError> {
    match json {
        Value::Int64(v) => Ok(*v as f64),
        Value::Float64(v) => Ok(*v),
        Value::Bytes(literal) => {
            literal_f64(literal).ok_or_else(|| mismatch(path, "a number", json))
        }
        // Jackson writes non-finite doubles as these strings.
        Value::String(s) if s.as_str() == "NaN" => Ok(f64::NAN),
        Value::String(s) if s.as_str() == "Infinity" => Ok(f64::INFINITY),
        Value::String(s) if s.as_str() == "-Infinity" => Ok(f64::NEG_INFINITY),
        other => Err(mismatch(
            path,
            &format!("a number for {}", ty.name()),
            other,
        )),
    }
}

pub fn to_typed(
    schema: &SchemaRef,
    json: Value,
    path: &Path<'_>,
    reading: Reading,
) -> Result<Value, ConvertError> {
    if json.is_null() {
        if reading.replace_null_with_default {
            if let Some(default) = &schema.default {
                return Ok(default.clone());
            }
        }
        if schema.optional {
            return Ok(Value::Null);
        }
        return Err(ConvertError::NullForRequired {
            path: path.to_string(),
            ty: schema.ty.name(),
        });
    }
    if let Some(name) = schema.logical_name() {
        if let Some(value) = to_logical(schema, name, &json, path, reading)? {
            return Ok(value);
        }
    }
    Ok(match schema.ty {
        Type::Int8 => Value::Int8(integer_bits(&json, path, schema.ty)? as i32 as i8),
        Type::Int16 => Value::Int16(integer_bits(&json, path, schema.ty)? as i32 as i16),
        Type::Int32 => Value::Int32(integer_bits(&json, path, schema.ty)? as i32),
        Type::Int64 => Value::Int64(integer_bits(&json, path, schema.ty)?),
        Type::Float32 => Value::Float32(float(&json, path, schema.ty)? as f32),
        Type::Float64 => Value::Float64(float(&json, path, schema.ty)?),
        Type::Boolean => match json {
            Value::Boolean(b) => Value::Boolean(b),
            other => return Err(mismatch(path, "a boolean", &other)),
        },
        Type::String => match json {
            Value::String(s) => Value::String(s),
            other => return Err(mismatch(path, "a string", &other)),
        },
        Type::Bytes => match json {
            Value::String(s) => Value::Bytes(decode_base64(s.as_bytes(), path)?),
            other => return Err(mismatch(path, "a base64 string for bytes", &other)),
        },
        Type::Array => {
            let items_schema = child(schema, schema.value_schema.as_ref(), path)?;
            let Value::Array(items) = json else {
                return Err(mismatch(path, "a JSON array", &json));
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                out.push(to_typed(items_schema, item, &path.index(i), reading)?);
            }
            Value::Array(out)
        }
        Type::Map => {
            let key_schema = child(schema, schema.key_schema.as_ref(), path)?;
            let value_schema = child(schema, schema.value_schema.as_ref(), path)?;
            if key_schema.ty == Type::String {
                let Value::Map(entries) = json else {
                    return Err(mismatch(
                        path,
                        "a JSON object (maps with string keys are encoded as objects)",
                        &json,
                    ));
                };
                let mut out = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let value = {
                        let value_path = path.field(k.as_str().unwrap_or("?"));
                        to_typed(value_schema, v, &value_path, reading)?
                    };
                    // Keys are JSON object keys: strings already, whatever the key schema's details.
                    out.push((k, value));
                }
                Value::Map(out)
            } else {
                let Value::Array(pairs) = json else {
                    return Err(mismatch(
                        path,
                        "a JSON array of [key, value] pairs (maps with non-string keys are encoded so)",
                        &json,
                    ));
                };
                let mut out = Vec::with_capacity(pairs.len());
                for (i, pair) in pairs.into_iter().enumerate() {
                    let pair_path = path.index(i);
                    let Value::Array(kv) = pair else {
                        return Err(mismatch(&pair_path, "a [key, value] array", &pair));
                    };
                    let len = kv.len();
                    let Ok::<[Value; 2], _>([k, v]) = kv.try_into() else {
                        return Err(ConvertError::TypeMismatch {
                            path: pair_path.to_string(),
                            expected: "a map entry of length 2".to_owned(),
                            found: format!("length {len}"),
                        });
                    };
                    out.push((
                        to_typed(key_schema, k, &pair_path.index(0), reading)?,
                        to_typed(value_schema, v, &pair_path.index(1), reading)?,
                    ));
                }
                Value::Map(out)
            }
        }
        Type::Struct => {
            let Value::Map(mut entries) = json else {
                return Err(mismatch(path, "a JSON object for a struct", &json));
            };
            let mut values = Vec::with_capacity(schema.fields.len());
            for field in &schema.fields {
                // The last of repeated keys, as Jackson keeps it.
                let raw = entries
                    .iter_mut()
                    .rev()
                    .find(|(k, _)| k.as_str() == Some(field.name.as_str()))
                    .map(|(_, v)| std::mem::take(v))
                    .unwrap_or(Value::Null);
                values.push(to_typed(
                    &field.schema,
                    raw,
                    &path.field(&field.name),
                    reading,
                )?);
            }
            Value::Struct(
                Struct::from_values(schema.clone(), values)
                    .map_err(|_| ConvertError::Internal("struct schema is not a struct"))?,
            )
        }
    })
}

/// A logical type's value, checked as Kafka's logical converters check it; `None` when the schema's physical
/// type is not the logical type's (then it is read by its physical type).
fn to_logical(
    schema: &Schema,
    name: &str,
    json: &Value,
    path: &Path<'_>,
    reading: Reading,
) -> Result<Option<Value>, ConvertError> {
    let is_int32 = |json: &Value| matches!(json, Value::Int64(v) if i32::try_from(*v).is_ok());
    Ok(Some(match (name, schema.ty) {
        (logical::DATE, Type::Int32) | (logical::TIME, Type::Int32) => {
            if !is_int32(json) {
                let what = if name == logical::DATE {
                    "Date"
                } else {
                    "Time"
                };
                return Err(mismatch(
                    path,
                    &format!("an integer for {what} (a JSON integer that fits 32 bits)"),
                    json,
                ));
            }
            Value::Int32(integer_bits(json, path, Type::Int32)? as i32)
        }
        (logical::TIMESTAMP, Type::Int64) => match json {
            Value::Int64(v) => Value::Int64(*v),
            other => return Err(mismatch(path, "an integral number for Timestamp", other)),
        },
        (logical::DECIMAL, Type::Bytes) => {
            Value::Bytes(decimal_from_json(schema, json, path, reading)?)
        }
        _ => return Ok(None),
    }))
}

fn decode_base64(text: &[u8], path: &Path<'_>) -> Result<Bytes, ConvertError> {
    base64::decode(text)
        .map(Bytes::from)
        .map_err(|at| ConvertError::TypeMismatch {
            path: path.to_string(),
            expected: "base64 text for bytes".to_owned(),
            found: format!("a string with an invalid character at {at}"),
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

/// The scale of a `Decimal` schema (Kafka: `Integer.parseInt` of the `scale` parameter).
pub fn decimal_scale(schema: &Schema) -> Result<i32, String> {
    match schema.parameter(logical::DECIMAL_SCALE) {
        None => Err("Invalid Decimal schema: scale parameter not found.".to_owned()),
        Some(text) => text
            .parse()
            .map_err(|_| format!("Invalid Decimal schema: scale `{text}` is not an int")),
    }
}

/// Java `BigInteger.toByteArray()` of an `i128`: minimal big-endian two's complement.
pub fn unscaled_to_bytes(unscaled: i128) -> Bytes {
    Bytes::copy_from_slice(decimal::minimal(&unscaled.to_be_bytes()))
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

/// A Decimal from base64 text (the unscaled bytes) or a JSON number, at the schema's scale.
fn decimal_from_json(
    schema: &Schema,
    json: &Value,
    path: &Path<'_>,
    reading: Reading,
) -> Result<Bytes, ConvertError> {
    let scale = decimal_scale(schema).map_err(|message| ConvertError::InvalidSchema {
        path: path.to_string(),
        message,
    })?;
    let literal: std::borrow::Cow<'_, [u8]> = match json {
        Value::String(s) => {
            let bytes = decode_base64(s.as_bytes(), path)?;
            if bytes.is_empty() {
                return Err(ConvertError::TypeMismatch {
                    path: path.to_string(),
                    expected: "bytes for a Decimal".to_owned(),
                    found: "an empty byte array (a zero-length BigInteger)".to_owned(),
                });
            }
            return Ok(Bytes::copy_from_slice(decimal::minimal(&bytes)));
        }
        Value::Int64(v) => v.to_string().into_bytes().into(),
        Value::Bytes(literal) => literal[..].into(),
        Value::Float64(_) if !reading.literals => return Err(NEEDS_LITERALS),
        // Only from a tree built without the input (`json_to_connect`): the shortest text of the double.
        Value::Float64(v) => ryu::Buffer::new().format(*v).as_bytes().to_vec().into(),
        other => {
            return Err(mismatch(
                path,
                "a number or base64 bytes for a Decimal",
                other,
            ))
        }
    };
    decimal_from_literal(&literal, scale).map_err(|why| ConvertError::TypeMismatch {
        path: path.to_string(),
        expected: format!("a decimal at scale {scale}"),
        found: format!("{} ({why})", String::from_utf8_lossy(&literal)),
    })
}

/// The unscaled bytes at `scale` of a JSON number literal (`-12.50e3`), exactly. Digits beyond the scale must
/// be zeros: Kafka would carry the literal's own scale, which a value at the schema's scale cannot hold, and
/// rounding would change the number.
pub fn decimal_from_literal(literal: &[u8], scale: i32) -> Result<Bytes, &'static str> {
    let text = std::str::from_utf8(literal).map_err(|_| "not a number")?;
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => {
            let exp: i64 = unsigned[at + 1..]
                .trim_start_matches('+')
                .parse()
                .map_err(|_| "bad exponent")?;
            (&unsigned[..at], exp)
        }
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err("not a number");
    }
    // value = digits × 10^(exponent - frac_len); wanted: unscaled = value × 10^scale.
    let mut digits = String::with_capacity(int_part.len() + frac_part.len());
    digits.push_str(int_part);
    digits.push_str(frac_part);
    let shift = exponent
        .checked_sub(frac_part.len() as i64)
        .and_then(|e| e.checked_add(i64::from(scale)))
        .ok_or("exponent out of range")?;
    let significant = digits.trim_start_matches('0');
    if shift >= 0 {
        if significant.is_empty() {
            return Ok(Bytes::from_static(&[0]));
        }
        let total = (significant.len() as u64).saturating_add(shift as u64);
        if total > MAX_DIGITS as u64 {
            return Err("too many digits");
        }
        let mut scaled = significant.to_owned();
        scaled.extend(std::iter::repeat_n('0', shift as usize));
        Ok(decimal::unscaled_from_digits(negative, &scaled))
    } else {
        let drop = usize::try_from(-shift).unwrap_or(usize::MAX);
        let kept_len = digits.len().saturating_sub(drop);
        let (kept, dropped) = digits.split_at(kept_len);
        let dropped_nonzero = dropped.bytes().any(|b| b != b'0');
        if dropped_nonzero {
            return Err("more decimal places than the schema's scale");
        }
        if kept.trim_start_matches('0').len() > MAX_DIGITS {
            return Err("too many digits");
        }
        Ok(decimal::unscaled_from_digits(negative, kept))
    }
}
