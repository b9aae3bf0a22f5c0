//! Kafka Connect's schema JSON (`type`, `optional`, `fields`/`field`, `items`, `keys`, `values`, `name`,
//! `version`, `doc`, `parameters`, `default`) ↔ `Schema`.

use super::parse::MAX_DEPTH;
use super::path::Path;
use super::typed::{to_typed, Reading};
use crate::connect::converters::ConvertError;
use crate::connect::data::{Schema, SchemaRef, Type, Value};

fn invalid(path: &Path<'_>, message: impl Into<String>) -> ConvertError {
    ConvertError::InvalidSchema {
        path: path.to_string(),
        message: message.into(),
    }
}

/// The type name Kafka Connect's JSON schema uses (`float` and `double` where the Java enum says FLOAT32/FLOAT64).
pub fn json_type_name(ty: Type) -> &'static str {
    match ty {
        Type::Float32 => "float",
        Type::Float64 => "double",
        other => other.name(),
    }
}

fn type_from_json_name(name: &str) -> Option<Type> {
    match name {
        "float" => Some(Type::Float32),
        "double" => Some(Type::Float64),
        // `float32`/`float64` are the Java enum's names, not schema JSON's: Kafka rejects them too.
        "float32" | "float64" => None,
        other => Type::from_name(other),
    }
}

/// Parses one schema object as Kafka's `JsonConverter.asConnectSchema` does: `type` (and the children its type
/// needs) must be right, with Kafka's error messages; `optional`, `name`, `version` and `doc` of the wrong JSON
/// type are ignored (`optional` then means required), as Kafka ignores them.
pub fn parse_schema(
    json: &Value,
    path: &Path<'_>,
    depth: usize,
    reading: Reading,
) -> Result<SchemaRef, ConvertError> {
    if depth > MAX_DEPTH {
        return Err(invalid(
            path,
            format!("nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let entries: &[(Value, Value)] = match json {
        Value::Map(entries) => entries,
        // Kafka looks fields up on any node; on a non-object every lookup misses.
        _ => &[],
    };
    let type_name = match last_get(entries, "type") {
        Some(Value::String(t)) => t,
        _ => return Err(invalid(path, "Schema must contain 'type' field")),
    };
    let ty = type_from_json_name(type_name).ok_or_else(|| {
        invalid(
            &path.field("type"),
            format!("Unknown schema type: {type_name}"),
        )
    })?;
    let mut schema = Schema::new(ty);
    match ty {
        Type::Array => {
            let items = match last_get(entries, "items") {
                Some(items) if !items.is_null() => items,
                _ => {
                    return Err(invalid(
                        path,
                        "Array schema did not specify the element type",
                    ))
                }
            };
            let items_path = path.field("items");
            schema.value_schema = Some(parse_schema(items, &items_path, depth + 1, reading)?);
        }
        Type::Map => {
            let keys = match last_get(entries, "keys") {
                Some(keys) if !keys.is_null() => keys,
                _ => return Err(invalid(path, "Map schema did not specify the key type")),
            };
            let values = match last_get(entries, "values") {
                Some(values) if !values.is_null() => values,
                _ => return Err(invalid(path, "Map schema did not specify the value type")),
            };
            let keys_path = path.field("keys");
            let values_path = path.field("values");
            schema.key_schema = Some(parse_schema(keys, &keys_path, depth + 1, reading)?);
            schema.value_schema = Some(parse_schema(values, &values_path, depth + 1, reading)?);
        }
        Type::Struct => {
            let fields_path = path.field("fields");
            let fields = match last_get(entries, "fields") {
                Some(Value::Array(fields)) => fields,
                _ => {
                    return Err(invalid(
                        path,
                        "Struct schema's \"fields\" argument is not an array.",
                    ))
                }
            };
            for (i, field) in fields.iter().enumerate() {
                let field_path = fields_path.index(i);
                let name = match field_entries(field).and_then(|e| last_get(e, "field")) {
                    Some(Value::String(name)) => name,
                    _ => {
                        return Err(invalid(
                            &field_path,
                            "Struct schema's field name not specified properly",
                        ))
                    }
                };
                if schema.field_named(name).is_some() {
                    return Err(invalid(
                        &field_path,
                        format!("Cannot create field because of field name duplication {name}"),
                    ));
                }
                let field_schema = parse_schema(field, &field_path, depth + 1, reading)?;
                schema = schema.field(name, field_schema);
            }
        }
        _ => {}
    }
    schema.optional = matches!(last_get(entries, "optional"), Some(Value::Boolean(true)));
    if let Some(Value::String(n)) = last_get(entries, "name") {
        schema.name = Some(n.to_string());
    }
    // Jackson's `intValue()` of an integral number: the low 32 bits.
    if let Some(Value::Int64(v)) = last_get(entries, "version") {
        schema.version = Some(*v as i32);
    }
    if let Some(Value::String(d)) = last_get(entries, "doc") {
        schema.doc = Some(d.to_string());
    }
    if let Some(Value::Map(params)) = last_get(entries, "parameters") {
        let mut out: Vec<(String, String)> = Vec::with_capacity(params.len());
        for (k, v) in params {
            let (Some(k), Some(v)) = (k.as_str(), v.as_str()) else {
                return Err(invalid(
                    &path.field("parameters"),
                    "Schema parameters must have string values.",
                ));
            };
            // A repeated key keeps its first position and its last value, as Jackson's object node does.
            match out.iter_mut().find(|(existing, _)| existing == k) {
                Some(slot) => slot.1 = v.to_owned(),
                None => out.push((k.to_owned(), v.to_owned())),
            }
        }
        schema.parameters = Some(out);
    }
    if let Some(default) = last_get(entries, "default") {
        if !default.is_null() {
            let for_default = schema.clone().build();
            let value = to_typed(
                &for_default,
                default.clone(),
                &path.field("default"),
                reading,
            )?;
            schema.default = Some(value);
        }
    }
    Ok(schema.build())
}

/// The value of the last entry named `key`: Jackson keeps the last of repeated keys.
fn last_get<'a>(entries: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    entries
        .iter()
        .rev()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// A schema node's entries (none for a non-object, where every Jackson lookup misses).
fn field_entries(json: &Value) -> Option<&[(Value, Value)]> {
    match json {
        Value::Map(entries) => Some(entries),
        _ => None,
    }
}
