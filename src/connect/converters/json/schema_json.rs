//! Kafka Connect's schema JSON (`type`, `optional`, `fields`/`field`, `items`, `keys`, `values`, `name`,
//! `version`, `doc`, `parameters`, `default`) ↔ `Schema`.

use super::parse::MAX_DEPTH;
use super::path::Path;
use super::typed::to_typed;
use crate::connect::converters::ConvertError;
use crate::connect::data::{map_get, Schema, SchemaRef, Type, Value};

fn invalid(path: &Path<'_>, message: impl Into<String>) -> ConvertError {
    ConvertError::InvalidSchema {
        path: path.to_string(),
        message: message.into(),
    }
}

/// Parses one schema object.
pub fn parse_schema(
    json: &Value,
    path: &Path<'_>,
    depth: usize,
) -> Result<SchemaRef, ConvertError> {
    if depth > MAX_DEPTH {
        return Err(invalid(
            path,
            format!("nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let Value::Map(entries) = json else {
        return Err(invalid(
            path,
            format!("expected a schema object, found {}", json.type_name()),
        ));
    };
    let type_name = match map_get(entries, "type") {
        Some(Value::String(t)) => t,
        Some(other) => {
            return Err(invalid(
                &path.field("type"),
                format!("expected a string, found {}", other.type_name()),
            ))
        }
        None => return Err(invalid(path, "schema must contain a `type` field")),
    };
    let ty = Type::from_name(type_name).ok_or_else(|| {
        invalid(
            &path.field("type"),
            format!("unknown schema type `{type_name}`"),
        )
    })?;
    let mut schema = Schema::new(ty);
    match ty {
        Type::Array => {
            let items_path = path.field("items");
            let items = map_get(entries, "items")
                .ok_or_else(|| invalid(path, "array schema did not specify `items`"))?;
            schema.value_schema = Some(parse_schema(items, &items_path, depth + 1)?);
        }
        Type::Map => {
            let keys_path = path.field("keys");
            let values_path = path.field("values");
            let keys = map_get(entries, "keys")
                .ok_or_else(|| invalid(path, "map schema did not specify `keys`"))?;
            let values = map_get(entries, "values")
                .ok_or_else(|| invalid(path, "map schema did not specify `values`"))?;
            schema.key_schema = Some(parse_schema(keys, &keys_path, depth + 1)?);
            schema.value_schema = Some(parse_schema(values, &values_path, depth + 1)?);
        }
        Type::Struct => {
            let fields_path = path.field("fields");
            let fields = match map_get(entries, "fields") {
                Some(Value::Array(fields)) => fields,
                _ => return Err(invalid(path, "struct schema's `fields` must be an array")),
            };
            for (i, field) in fields.iter().enumerate() {
                let field_path = fields_path.index(i);
                let name = match field.map_get("field") {
                    Some(Value::String(name)) => name,
                    _ => {
                        return Err(invalid(
                            &field_path,
                            "struct field must have a string `field` name",
                        ))
                    }
                };
                let field_schema = parse_schema(field, &field_path, depth + 1)?;
                schema = schema.field(name, field_schema);
            }
        }
        _ => {}
    }
    match map_get(entries, "optional") {
        Some(Value::Boolean(b)) => schema.optional = *b,
        None | Some(Value::Null) => {}
        Some(other) => {
            return Err(invalid(
                &path.field("optional"),
                format!("expected a boolean, found {}", other.type_name()),
            ))
        }
    }
    match map_get(entries, "name") {
        Some(Value::String(n)) => schema.name = Some(n.to_string()),
        None | Some(Value::Null) => {}
        Some(other) => {
            return Err(invalid(
                &path.field("name"),
                format!("expected a string, found {}", other.type_name()),
            ))
        }
    }
    match map_get(entries, "version") {
        Some(Value::Int64(v)) => {
            schema.version = Some(i32::try_from(*v).map_err(|_| {
                invalid(&path.field("version"), format!("{v} does not fit an int32"))
            })?)
        }
        None | Some(Value::Null) => {}
        Some(other) => {
            return Err(invalid(
                &path.field("version"),
                format!("expected an integer, found {}", other.type_name()),
            ))
        }
    }
    match map_get(entries, "doc") {
        Some(Value::String(d)) => schema.doc = Some(d.to_string()),
        None | Some(Value::Null) => {}
        Some(other) => {
            return Err(invalid(
                &path.field("doc"),
                format!("expected a string, found {}", other.type_name()),
            ))
        }
    }
    match map_get(entries, "parameters") {
        Some(Value::Map(params)) => {
            let params_path = path.field("parameters");
            let mut out = Vec::with_capacity(params.len());
            for (k, v) in params {
                let (Some(k), Some(v)) = (k.as_str(), v.as_str()) else {
                    return Err(invalid(
                        &params_path,
                        "parameters must map strings to strings",
                    ));
                };
                out.push((k.to_owned(), v.to_owned()));
            }
            schema.parameters = Some(out);
        }
        None | Some(Value::Null) => {}
        Some(other) => {
            return Err(invalid(
                &path.field("parameters"),
                format!("expected an object, found {}", other.type_name()),
            ))
        }
    }
    if let Some(default) = map_get(entries, "default") {
        if !default.is_null() {
            let for_default = schema.clone().build();
            let value = to_typed(&for_default, default.clone(), &path.field("default"))?;
            schema.default = Some(value);
        }
    }
    Ok(schema.build())
}
