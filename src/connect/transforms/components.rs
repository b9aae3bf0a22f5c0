//! The transforms' entries in the registry: names, Kafka Connect class names, keys and docs.

use super::{
    cast, drop_headers, extract_field, filter, flatten, header_from, hoist_field, insert_field,
    insert_header, mask_field, regex_router, replace_field, set_schema_metadata,
    timestamp_converter, timestamp_router, value_to_key,
};
use crate::connect::component::{Capabilities, ComponentInfo, ComponentKind};
use crate::connect::config_def::ConfigDef;

const fn info(
    name: &'static str,
    aliases: &'static [&'static str],
    config: ConfigDef,
    doc: &'static str,
) -> ComponentInfo {
    ComponentInfo {
        kind: ComponentKind::Transform,
        name,
        aliases,
        config,
        capabilities: Capabilities::NONE,
        doc,
    }
}

/// The transforms, for the registry (`$Key` / `$Value` suffixes are matched by `Transform::build`).
pub static COMPONENTS: &[ComponentInfo] = &[
    info(
        "InsertField",
        &["org.apache.kafka.connect.transforms.InsertField"],
        insert_field::CONFIG,
        "Insert the topic, partition, offset, timestamp or a static value as a field",
    ),
    info(
        "ReplaceField",
        &["org.apache.kafka.connect.transforms.ReplaceField"],
        replace_field::CONFIG,
        "Keep (include), drop (exclude) or rename fields",
    ),
    info(
        "MaskField",
        &["org.apache.kafka.connect.transforms.MaskField"],
        mask_field::CONFIG,
        "Replace fields with their type's empty value or a given replacement",
    ),
    info(
        "Cast",
        &["org.apache.kafka.connect.transforms.Cast"],
        cast::CONFIG,
        "Cast fields, or the whole key or value, to another primitive type",
    ),
    info(
        "TimestampConverter",
        &["org.apache.kafka.connect.transforms.TimestampConverter"],
        timestamp_converter::CONFIG,
        "Convert timestamps between string, unix, Date, Time and Timestamp",
    ),
    info(
        "ExtractField",
        &["org.apache.kafka.connect.transforms.ExtractField"],
        extract_field::CONFIG,
        "Replace the key or value with one of its fields",
    ),
    info(
        "HoistField",
        &["org.apache.kafka.connect.transforms.HoistField"],
        hoist_field::CONFIG,
        "Wrap the key or value in a struct or map with one field",
    ),
    info(
        "Flatten",
        &["org.apache.kafka.connect.transforms.Flatten"],
        flatten::CONFIG,
        "Flatten nested structs or maps, joining names with a delimiter",
    ),
    info(
        "ValueToKey",
        &["org.apache.kafka.connect.transforms.ValueToKey"],
        value_to_key::CONFIG,
        "Replace the key with fields taken from the value",
    ),
    info(
        "RegexRouter",
        &["org.apache.kafka.connect.transforms.RegexRouter"],
        regex_router::CONFIG,
        "Rename the topic with a regular expression and replacement",
    ),
    info(
        "TimestampRouter",
        &["org.apache.kafka.connect.transforms.TimestampRouter"],
        timestamp_router::CONFIG,
        "Rename the topic from the topic and the record's timestamp",
    ),
    info(
        "Filter",
        &["org.apache.kafka.connect.transforms.Filter"],
        filter::CONFIG,
        "Drop records (those its predicate matches)",
    ),
    info(
        "InsertHeader",
        &["org.apache.kafka.connect.transforms.InsertHeader"],
        insert_header::CONFIG,
        "Add a header with a literal value",
    ),
    info(
        "DropHeaders",
        &["org.apache.kafka.connect.transforms.DropHeaders"],
        drop_headers::CONFIG,
        "Remove headers by name",
    ),
    info(
        "HeaderFrom",
        &["org.apache.kafka.connect.transforms.HeaderFrom"],
        header_from::CONFIG,
        "Copy or move fields of the key or value into headers",
    ),
    info(
        "SetSchemaMetadata",
        &["org.apache.kafka.connect.transforms.SetSchemaMetadata"],
        set_schema_metadata::CONFIG,
        "Set the schema name and/or version of the key or value",
    ),
];
