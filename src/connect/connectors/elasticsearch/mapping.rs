//! The index mapping derived from a record value's Connect schema (schema.ignore=false), as Confluent's
//! connector derives it: integers, floats, booleans and bytes to their Elasticsearch types, strings to `text`
//! with a `keyword` sub-field, Date/Time/Timestamp to `date`, Decimal to `double`, structs to `properties`,
//! arrays to their element's mapping. Maps are left to dynamic mapping (their keys are data, not fields).

use serde_json::{json, Map, Value as Json};

use crate::connect::data::{logical, Schema, Type};

/// The body of `PUT /{index}/_mapping` for documents of `schema`; `None` when the schema has no fields to map
/// (a value that is not a struct cannot be a document's root).
pub fn mapping_body(schema: &Schema) -> Result<Json, String> {
    if schema.ty != Type::Struct {
        return Err(format!(
            "a {} value cannot be a document (the root must be a struct); set schema.ignore=true to let the \
             cluster refuse or map it",
            schema.ty.name()
        ));
    }
    Ok(field_mapping(schema).unwrap_or_else(|| json!({ "properties": {} })))
}

fn field_mapping(schema: &Schema) -> Option<Json> {
    match schema.name.as_deref() {
        Some(logical::DATE) | Some(logical::TIME) | Some(logical::TIMESTAMP) => {
            return Some(json!({ "type": "date" }))
        }
        Some(logical::DECIMAL) => return Some(json!({ "type": "double" })),
        _ => {}
    }
    let primitive = match schema.ty {
        Type::Int8 => "byte",
        Type::Int16 => "short",
        Type::Int32 => "integer",
        Type::Int64 => "long",
        Type::Float32 => "float",
        Type::Float64 => "double",
        Type::Boolean => "boolean",
        Type::Bytes => "binary",
        Type::String => {
            return Some(json!({
                "type": "text",
                "fields": { "keyword": { "type": "keyword", "ignore_above": 256 } }
            }))
        }
        Type::Array => return schema.value_schema.as_deref().and_then(field_mapping),
        Type::Map => return None,
        Type::Struct => {
            let mut properties = Map::new();
            for field in &schema.fields {
                if let Some(mapping) = field_mapping(&field.schema) {
                    properties.insert(field.name.clone(), mapping);
                }
            }
            return Some(json!({ "properties": properties }));
        }
    };
    Some(json!({ "type": primitive }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_struct_schema_maps_field_by_field() {
        let address = Schema::structure()
            .field("city", Schema::new(Type::String).build())
            .build();
        let schema = Schema::structure()
            .field("id", Schema::new(Type::Int64).build())
            .field("price", Schema::decimal(2).build())
            .field("at", Schema::timestamp().optional().build())
            .field(
                "tags",
                Schema::array(Schema::new(Type::String).build()).build(),
            )
            .field(
                "attrs",
                Schema::map(
                    Schema::new(Type::String).build(),
                    Schema::new(Type::Int32).build(),
                )
                .build(),
            )
            .field("address", address)
            .field("ok", Schema::new(Type::Boolean).build());
        let body = mapping_body(&schema).unwrap();
        let keyword =
            json!({"type":"text","fields":{"keyword":{"type":"keyword","ignore_above":256}}});
        assert_eq!(
            body,
            json!({"properties":{
                "id":{"type":"long"},
                "price":{"type":"double"},
                "at":{"type":"date"},
                "tags":keyword.clone(),
                "address":{"properties":{"city":keyword}},
                "ok":{"type":"boolean"}
            }})
        );
    }

    #[test]
    fn a_value_that_is_not_a_struct_has_no_mapping() {
        assert!(mapping_body(&Schema::new(Type::String))
            .unwrap_err()
            .contains("schema.ignore=true"));
    }
}
