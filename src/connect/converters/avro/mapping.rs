//! Connect schema ↔ Avro schema, by the rules of Confluent's `AvroData`: int8/int16 as `int` with
//! `connect.type`, optional schemas as unions with null (null first, or second when the schema has a default),
//! Decimal/Date/Time/Timestamp as Avro logical types, maps with string keys as Avro maps and others as arrays
//! of `io.confluent.connect.avro.MapEntry` records, unnamed structs as `io.confluent.connect.avro.ConnectDefault`
//! (`ConnectDefault2`, … for the next ones), and, with `connect.meta.data`, the Connect name, version, doc,
//! parameters and default kept in `connect.*` properties. Defaults travel as Avro JSON defaults both ways.

use super::node::{AvroField, AvroNode, AvroType, Enum, Fixed, Props, Record, MAX_SCHEMA_DEPTH};
use crate::connect::converters::ConvertError;
use crate::connect::data::{logical, Schema, SchemaRef, Str, Struct, Type, Value};
use bytes::Bytes;
use serde_json::{Map, Value as Json};

pub const NAMESPACE: &str = "io.confluent.connect.avro";
pub const DEFAULT_SCHEMA_FULL_NAME: &str = "io.confluent.connect.avro.ConnectDefault";
pub const MAP_ENTRY_TYPE_NAME: &str = "MapEntry";
const CONNECT_NAME: &str = "connect.name";
const CONNECT_DOC: &str = "connect.doc";
const CONNECT_VERSION: &str = "connect.version";
const CONNECT_DEFAULT: &str = "connect.default";
const CONNECT_PARAMETERS: &str = "connect.parameters";
const CONNECT_TYPE: &str = "connect.type";
const CONNECT_INTERNAL_TYPE: &str = "connect.internal.type";
const CONNECT_DECIMAL_PRECISION: &str = "connect.decimal.precision";
const CONNECT_FIXED_SIZE: &str = "connect.fixed.size";
/// Connect parameters that carry Avro-only facts.
const RECORD_DOC_PARAM: &str = "io.confluent.connect.avro.record.doc";
const FIELD_DOC_PARAM_PREFIX: &str = "io.confluent.connect.avro.field.doc.";
const FIELD_DEFAULT_FLAG_PARAM: &str = "io.confluent.connect.avro.field.default";
const ENUM_PARAM: &str = "io.confluent.connect.avro.Enum";
const ENUM_DOC_PARAM_PREFIX: &str = "io.confluent.connect.avro.enum.doc.";
const ENUM_DEFAULT_PARAM_PREFIX: &str = "io.confluent.connect.avro.enum.default.";
/// The Connect struct name of a general Avro union (one optional field per branch).
pub const UNION_NAME: &str = "io.confluent.connect.avro.Union";
/// Confluent's precision when a Connect Decimal has none.
const DECIMAL_PRECISION_DEFAULT: i64 = 64;

/// The options of `AvroDataConfig` this mapping follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingOptions {
    pub connect_meta_data: bool,
    pub enhanced_schema_support: bool,
}

fn invalid(path: &str, message: impl Into<String>) -> ConvertError {
    ConvertError::InvalidSchema {
        path: path.to_owned(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Connect → Avro

/// Builds the Avro schema for a Connect schema.
pub fn from_connect(schema: &Schema, options: MappingOptions) -> Result<AvroNode, ConvertError> {
    let mut context = FromConnect {
        options,
        default_names_used: 0,
    };
    context.node(schema, "", 0)
}

struct FromConnect {
    options: MappingOptions,
    default_names_used: usize,
}

fn split_name(full: &str) -> (Option<&str>, &str) {
    match full.rsplit_once('.') {
        Some((namespace, name)) => (Some(namespace), name),
        None => (None, full),
    }
}

fn params_json(params: &[(String, String)]) -> Json {
    Json::Object(
        params
            .iter()
            .filter(|(k, _)| k != FIELD_DEFAULT_FLAG_PARAM)
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect(),
    )
}

impl FromConnect {
    fn default_name(&mut self) -> String {
        self.default_names_used += 1;
        if self.default_names_used > 1 {
            format!("{DEFAULT_SCHEMA_FULL_NAME}{}", self.default_names_used)
        } else {
            DEFAULT_SCHEMA_FULL_NAME.to_owned()
        }
    }

    fn name_or_default(&mut self, name: Option<&str>) -> String {
        match name {
            Some(n) => n.to_owned(),
            None => self.default_name(),
        }
    }

    fn node(
        &mut self,
        schema: &Schema,
        path: &str,
        depth: usize,
    ) -> Result<AvroNode, ConvertError> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(invalid(path, "nested too deeply"));
        }
        let is_union = schema.name.as_deref() == Some(UNION_NAME) && schema.ty == Type::Struct;
        if is_union {
            let mut branches = Vec::with_capacity(schema.fields.len() + 1);
            if schema.optional {
                branches.push(AvroNode::new(AvroType::Null));
            }
            for f in &schema.fields {
                let required = Schema {
                    optional: false,
                    ..(*f.schema).clone()
                };
                branches.push(self.node(&required, &format!("{path}.{}", f.name), depth + 1)?);
            }
            return Ok(AvroNode::new(AvroType::Union(branches)));
        }
        let mut connect_type = None;
        let base = match schema.ty {
            Type::Int8 => {
                connect_type = Some("int8");
                AvroType::Int
            }
            Type::Int16 => {
                connect_type = Some("int16");
                AvroType::Int
            }
            Type::Int32 => AvroType::Int,
            Type::Int64 => AvroType::Long,
            Type::Float32 => AvroType::Float,
            Type::Float64 => AvroType::Double,
            Type::Boolean => AvroType::Boolean,
            Type::String => match schema.parameter(ENUM_PARAM) {
                Some(enum_name) if self.options.enhanced_schema_support => {
                    let prefix = format!("{ENUM_PARAM}.");
                    let symbols = schema
                        .parameters
                        .iter()
                        .flatten()
                        .filter_map(|(k, _)| k.strip_prefix(&prefix).map(str::to_owned))
                        .collect();
                    let short = split_name(enum_name).1;
                    AvroType::Enum(Box::new(Enum {
                        name: enum_name.to_owned(),
                        doc: schema
                            .parameter(&format!("{ENUM_DOC_PARAM_PREFIX}{short}"))
                            .map(str::to_owned),
                        symbols,
                        default: schema
                            .parameter(&format!("{ENUM_DEFAULT_PARAM_PREFIX}{short}"))
                            .map(str::to_owned),
                    }))
                }
                _ => AvroType::String,
            },
            Type::Bytes => match schema.parameter(CONNECT_FIXED_SIZE) {
                Some(size) => {
                    let size = size.parse().map_err(|_| {
                        invalid(path, format!("{CONNECT_FIXED_SIZE} `{size}` is not a size"))
                    })?;
                    let name = self.name_or_default(schema.name.as_deref());
                    AvroType::Fixed(Box::new(Fixed { name, size }))
                }
                None => AvroType::Bytes,
            },
            Type::Array => {
                let items = schema
                    .value_schema
                    .as_ref()
                    .ok_or_else(|| invalid(path, "array schema without an item schema"))?;
                AvroType::Array(Box::new(self.node(items, path, depth + 1)?))
            }
            Type::Map => {
                let (Some(keys), Some(values)) = (&schema.key_schema, &schema.value_schema) else {
                    return Err(invalid(path, "map schema without key and value schemas"));
                };
                if keys.ty == Type::String && !keys.optional {
                    AvroType::Map(Box::new(self.node(values, path, depth + 1)?))
                } else {
                    let name = match &schema.name {
                        Some(n) => n.clone(),
                        None => format!("{NAMESPACE}.{MAP_ENTRY_TYPE_NAME}"),
                    };
                    let fields = vec![
                        self.field("key", keys, None, path, depth)?,
                        self.field("value", values, None, path, depth)?,
                    ];
                    let mut entry = AvroNode::new(AvroType::Record(Box::new(Record {
                        name,
                        doc: None,
                        fields,
                    })));
                    if schema.name.is_some() {
                        entry
                            .props
                            .insert(CONNECT_INTERNAL_TYPE.into(), MAP_ENTRY_TYPE_NAME.into());
                    }
                    AvroType::Array(Box::new(entry))
                }
            }
            Type::Struct => {
                let name = self.name_or_default(schema.name.as_deref());
                let doc = schema.parameter(RECORD_DOC_PARAM).map(str::to_owned);
                let mut fields = Vec::with_capacity(schema.fields.len());
                for f in &schema.fields {
                    let doc = schema
                        .parameter(&format!("{FIELD_DOC_PARAM_PREFIX}{}", f.name))
                        .map(str::to_owned);
                    fields.push(self.field(&f.name, &f.schema, doc, path, depth)?);
                }
                AvroType::Record(Box::new(Record { name, doc, fields }))
            }
        };
        let mut node = AvroNode::new(base);
        let props = &mut node.props;
        if self.options.connect_meta_data {
            if let Some(doc) = &schema.doc {
                props.insert(CONNECT_DOC.into(), doc.clone().into());
            }
            if let Some(version) = schema.version {
                props.insert(CONNECT_VERSION.into(), version.into());
            }
            if let Some(params) = &schema.parameters {
                let json = params_json(params);
                if json.as_object().is_some_and(|o| !o.is_empty()) {
                    props.insert(CONNECT_PARAMETERS.into(), json);
                }
            }
            if let Some(default) = &schema.default {
                if schema.parameter(FIELD_DEFAULT_FLAG_PARAM).is_none() {
                    props.insert(
                        CONNECT_DEFAULT.into(),
                        default_to_json(schema, default, path)?,
                    );
                }
            }
            if let Some(name) = &schema.name {
                props.insert(CONNECT_NAME.into(), name.clone().into());
            }
            if let Some(t) = connect_type {
                props.insert(CONNECT_TYPE.into(), t.into());
            }
        }
        match schema.logical_name() {
            Some(logical::DECIMAL) => {
                let precision = match schema.parameter(CONNECT_DECIMAL_PRECISION) {
                    Some(p) => p.parse::<i64>().map_err(|_| {
                        invalid(
                            path,
                            format!("{CONNECT_DECIMAL_PRECISION} `{p}` is not an integer"),
                        )
                    })?,
                    None => DECIMAL_PRECISION_DEFAULT,
                };
                let scale = match schema.parameter(logical::DECIMAL_SCALE) {
                    Some(s) => s.parse::<i64>().map_err(|_| {
                        invalid(path, format!("Decimal scale `{s}` is not an integer"))
                    })?,
                    None => 0,
                };
                props.insert("scale".into(), scale.into());
                props.insert("precision".into(), precision.into());
                props.insert("logicalType".into(), "decimal".into());
            }
            Some(logical::DATE) => {
                props.insert("logicalType".into(), "date".into());
            }
            Some(logical::TIME) => {
                props.insert("logicalType".into(), "time-millis".into());
            }
            Some(logical::TIMESTAMP) => {
                props.insert("logicalType".into(), "timestamp-millis".into());
            }
            _ => {}
        }
        for (k, v) in schema.parameters.iter().flatten() {
            if k.starts_with("avro") {
                props.insert(k.clone(), v.clone().into());
            }
        }
        if !schema.optional {
            return Ok(node);
        }
        let null = AvroNode::new(AvroType::Null);
        let branches = if schema.default.is_some() {
            vec![node, null]
        } else {
            vec![null, node]
        };
        Ok(AvroNode::new(AvroType::Union(branches)))
    }

    fn field(
        &mut self,
        name: &str,
        schema: &Schema,
        doc: Option<String>,
        path: &str,
        depth: usize,
    ) -> Result<AvroField, ConvertError> {
        let path = format!("{path}.{name}");
        let default = match &schema.default {
            Some(d) => Some(default_to_json(schema, d, &path)?),
            None if schema.optional => Some(Json::Null),
            None => None,
        };
        Ok(AvroField {
            name: name.to_owned(),
            doc,
            default,
            node: self.node(schema, &path, depth + 1)?,
            props: Props::new(),
        })
    }
}

/// A Connect value as an Avro JSON default (bytes as ISO-8859-1 text, maps with non-string keys as
/// `[[key, value], …]`).
fn default_to_json(schema: &Schema, value: &Value, path: &str) -> Result<Json, ConvertError> {
    let mismatch = || ConvertError::TypeMismatch {
        path: path.to_owned(),
        expected: format!("a {} default", schema.ty.name()),
        found: value.type_name().to_owned(),
    };
    Ok(match (schema.ty, value) {
        (_, Value::Null) => Json::Null,
        (Type::Int8 | Type::Int16 | Type::Int32 | Type::Int64, v) => {
            v.as_i64().ok_or_else(mismatch)?.into()
        }
        (Type::Float32, Value::Float32(f)) => serde_json::Number::from_f64(f64::from(*f))
            .map(Json::Number)
            .unwrap_or(Json::Null),
        (Type::Float64, Value::Float64(f)) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        (Type::Boolean, Value::Boolean(b)) => (*b).into(),
        (Type::String, Value::String(s)) => s.as_str().into(),
        (Type::Bytes, Value::Bytes(b)) => {
            b.iter().map(|&c| char::from(c)).collect::<String>().into()
        }
        (Type::Array, Value::Array(items)) => {
            let item_schema = schema.value_schema.as_ref().ok_or_else(mismatch)?;
            Json::Array(
                items
                    .iter()
                    .map(|i| default_to_json(item_schema, i, path))
                    .collect::<Result<_, _>>()?,
            )
        }
        (Type::Map, Value::Map(entries)) => {
            let (Some(ks), Some(vs)) = (&schema.key_schema, &schema.value_schema) else {
                return Err(mismatch());
            };
            if ks.ty == Type::String && !ks.optional {
                let mut object = Map::new();
                for (k, v) in entries {
                    let key = k.as_str().ok_or_else(mismatch)?;
                    object.insert(key.to_owned(), default_to_json(vs, v, path)?);
                }
                Json::Object(object)
            } else {
                Json::Array(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            Ok(Json::Array(vec![
                                default_to_json(ks, k, path)?,
                                default_to_json(vs, v, path)?,
                            ]))
                        })
                        .collect::<Result<_, ConvertError>>()?,
                )
            }
        }
        (Type::Struct, Value::Struct(s)) => {
            let is_union = schema.name.as_deref() == Some(UNION_NAME);
            let mut object = Map::new();
            for (f, v) in schema.fields.iter().zip(s.values()) {
                let json = default_to_json(&f.schema, v, path)?;
                if is_union {
                    return Ok(json);
                }
                object.insert(f.name.clone(), json);
            }
            Json::Object(object)
        }
        _ => return Err(mismatch()),
    })
}

// ---------------------------------------------------------------------------------------------------------
// Avro → Connect

/// Builds the Connect schema for an Avro schema. `version` (the registry's version of the schema) becomes the
/// schema's version when the Avro schema carries no `connect.version`.
pub fn to_connect(
    node: &AvroNode,
    version: Option<i32>,
    options: MappingOptions,
) -> Result<SchemaRef, ConvertError> {
    Ok(ToConnect { options }
        .schema(node, false, None, version, "", 0)?
        .build())
}

struct ToConnect {
    options: MappingOptions,
}

impl ToConnect {
    fn schema(
        &self,
        node: &AvroNode,
        force_optional: bool,
        field_default: Option<&Json>,
        version: Option<i32>,
        path: &str,
        depth: usize,
    ) -> Result<Schema, ConvertError> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(invalid(path, "nested too deeply"));
        }
        let connect_type = node.prop_str(CONNECT_TYPE);
        let logical_type = node.prop_str("logicalType");
        let mut schema = match &node.ty {
            AvroType::Boolean => Schema::new(Type::Boolean),
            AvroType::Bytes | AvroType::Fixed(_) => {
                let mut s = if logical_type.is_some_and(|l| l.eq_ignore_ascii_case("decimal")) {
                    let scale = node.props.get("scale").and_then(Json::as_i64).unwrap_or(0);
                    let mut s = Schema::decimal(i32::try_from(scale).unwrap_or(0));
                    if let Some(precision) = node.props.get("precision") {
                        let precision = precision.as_i64().ok_or_else(|| {
                            invalid(path, "precision property must be a JSON Integer")
                        })?;
                        if precision != DECIMAL_PRECISION_DEFAULT {
                            s = s.with_parameter(CONNECT_DECIMAL_PRECISION, &precision.to_string());
                        }
                    }
                    s
                } else {
                    Schema::new(Type::Bytes)
                };
                if let AvroType::Fixed(f) = &node.ty {
                    s = s.with_parameter(CONNECT_FIXED_SIZE, &f.size.to_string());
                }
                s
            }
            AvroType::Double => Schema::new(Type::Float64),
            AvroType::Float => Schema::new(Type::Float32),
            AvroType::Int => match (logical_type, connect_type) {
                (Some(l), _) if l.eq_ignore_ascii_case("date") => Schema::date(),
                (Some(l), _) if l.eq_ignore_ascii_case("time-millis") => Schema::time(),
                (Some(_), _) | (None, None) => Schema::new(Type::Int32),
                (None, Some("int8")) => Schema::new(Type::Int8),
                (None, Some("int16")) => Schema::new(Type::Int16),
                (None, Some(other)) => {
                    return Err(invalid(
                        path,
                        format!("unknown connect.type `{other}` on an Avro int"),
                    ))
                }
            },
            AvroType::Long => match logical_type {
                Some(l) if l.eq_ignore_ascii_case("timestamp-millis") => Schema::timestamp(),
                _ => Schema::new(Type::Int64),
            },
            AvroType::String => Schema::new(Type::String),
            AvroType::Array(items) => match &items.ty {
                AvroType::Record(entry) if is_map_entry(items, entry) => {
                    let key =
                        self.schema(&entry.fields[0].node, false, None, None, path, depth + 1)?;
                    let value =
                        self.schema(&entry.fields[1].node, false, None, None, path, depth + 1)?;
                    Schema::map(key.build(), value.build())
                }
                _ => Schema::array(
                    self.schema(items, false, None, None, path, depth + 1)?
                        .build(),
                ),
            },
            AvroType::Map(values) => Schema::map(
                Schema::new(Type::String).build(),
                self.schema(values, false, None, None, path, depth + 1)?
                    .build(),
            ),
            AvroType::Record(record) => {
                let mut s = Schema::structure();
                if self.options.connect_meta_data {
                    if let Some(doc) = &record.doc {
                        s = s.with_parameter(RECORD_DOC_PARAM, doc);
                    }
                }
                for f in &record.fields {
                    if self.options.connect_meta_data {
                        if let Some(doc) = &f.doc {
                            s = s.with_parameter(
                                &format!("{FIELD_DOC_PARAM_PREFIX}{}", f.name),
                                doc,
                            );
                        }
                    }
                    let field_path = format!("{path}.{}", f.name);
                    let mut field_schema = self.schema(
                        &f.node,
                        false,
                        f.default.as_ref(),
                        None,
                        &field_path,
                        depth + 1,
                    )?;
                    if self.options.connect_meta_data {
                        if let Some(Json::Object(params)) = f.props.get(CONNECT_PARAMETERS) {
                            for (k, v) in params {
                                if let Some(v) = v.as_str() {
                                    field_schema = with_parameter_replaced(field_schema, k, v);
                                }
                            }
                        }
                    }
                    s = s.field(&f.name, field_schema.build());
                }
                s
            }
            AvroType::Enum(e) => {
                let mut s = Schema::new(Type::String);
                let short = split_name(&e.name).1;
                if self.options.connect_meta_data {
                    if let Some(doc) = &e.doc {
                        s = s.with_parameter(&format!("{ENUM_DOC_PARAM_PREFIX}{short}"), doc);
                    }
                    if let Some(default) = &e.default {
                        s = s.with_parameter(
                            &format!("{ENUM_DEFAULT_PARAM_PREFIX}{short}"),
                            default,
                        );
                    }
                }
                s = s.with_parameter(ENUM_PARAM, &e.name);
                for symbol in &e.symbols {
                    s = s.with_parameter(&format!("{ENUM_PARAM}.{symbol}"), symbol);
                }
                s
            }
            AvroType::Union(branches) => {
                if let [only] = branches.as_slice() {
                    return self.schema(only, force_optional, None, None, path, depth + 1);
                }
                if let [a, b] = branches.as_slice() {
                    let null_a = matches!(a.ty, AvroType::Null);
                    let null_b = matches!(b.ty, AvroType::Null);
                    if null_a != null_b {
                        let member = if null_a { b } else { a };
                        return Ok(self
                            .schema(member, true, None, None, path, depth + 1)?
                            .optional());
                    }
                }
                let mut s = Schema::structure().with_name(UNION_NAME);
                let mut names: Vec<String> = Vec::new();
                for member in branches {
                    if matches!(member.ty, AvroType::Null) {
                        s = s.optional();
                        continue;
                    }
                    let name = self.union_member_name(member);
                    if names.contains(&name) {
                        return Err(invalid(
                            path,
                            "multiple union branches map to one Connect union field name",
                        ));
                    }
                    let member_schema = self
                        .schema(member, true, None, None, path, depth + 1)?
                        .optional();
                    s = s.field(&name, member_schema.build());
                    names.push(name);
                }
                s
            }
            AvroType::Null => {
                return Err(invalid(
                    path,
                    "standalone null schemas are not supported by this converter",
                ))
            }
        };
        if self.options.connect_meta_data {
            if let Some(doc) = node.prop_str(CONNECT_DOC) {
                schema = schema.with_doc(doc);
            }
        }
        let version = match node.props.get(CONNECT_VERSION) {
            Some(v) => Some(
                v.as_i64()
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(|| invalid(path, format!("invalid Connect version {v}")))?,
            ),
            None => version,
        };
        if let Some(v) = version.filter(|v| *v >= 0) {
            match schema.version {
                Some(existing) if existing != v => {
                    return Err(invalid(
                        path,
                        format!(
                        "mismatched versions: {existing} (logical type) and {v} (source schema)"
                    ),
                    ))
                }
                _ => schema.version = Some(v),
            }
        }
        if self.options.connect_meta_data {
            if let Some(params) = node.props.get(CONNECT_PARAMETERS) {
                let Json::Object(params) = params else {
                    return Err(invalid(
                        path,
                        format!("expected a JSON object for schema parameters, found {params}"),
                    ));
                };
                for (k, v) in params {
                    let v = v.as_str().ok_or_else(|| {
                        invalid(
                            path,
                            format!("expected schema parameter values to be strings, found {v}"),
                        )
                    })?;
                    schema = with_parameter_replaced(schema, k, v);
                }
            }
        }
        for (k, v) in &node.props {
            if k.starts_with("avro") {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                schema = with_parameter_replaced(schema, k, &text);
            }
        }
        let connect_default = node.props.get(CONNECT_DEFAULT);
        let default_json = match field_default {
            None => connect_default,
            Some(d) => {
                if self.options.connect_meta_data && connect_default.is_none() {
                    schema = schema.with_parameter(FIELD_DEFAULT_FLAG_PARAM, "true");
                }
                Some(d)
            }
        };
        if let Some(json) = default_json {
            // Confluent ignores a default it cannot read (with a warning); so do we.
            if let Ok(value) = default_from_json(&schema, node, json, path) {
                if !value.is_null() {
                    schema.default = Some(value);
                }
            }
        }
        let name = match (node.prop_str(CONNECT_NAME), &node.ty) {
            (Some(n), _) => Some(n.to_owned()),
            (None, AvroType::Record(r)) => Some(r.name.clone()),
            (None, AvroType::Enum(e)) => Some(e.name.clone()),
            (None, AvroType::Fixed(f)) if schema.name.as_deref() != Some(logical::DECIMAL) => {
                Some(f.name.clone())
            }
            _ => None,
        };
        if let Some(name) = name.filter(|n| !n.starts_with(DEFAULT_SCHEMA_FULL_NAME)) {
            match &schema.name {
                Some(existing) if *existing != name => {
                    return Err(invalid(
                        path,
                        format!("mismatched names: `{existing}` and `{name}` in the source schema"),
                    ))
                }
                _ => schema.name = Some(name),
            }
        }
        if force_optional {
            schema.optional = true;
        }
        Ok(schema)
    }

    fn union_member_name(&self, member: &AvroNode) -> String {
        match member.full_name() {
            Some(full) if self.options.enhanced_schema_support => full.to_owned(),
            Some(full) => split_name(full).1.to_owned(),
            None => member.type_name().to_owned(),
        }
    }
}

fn with_parameter_replaced(mut schema: Schema, key: &str, value: &str) -> Schema {
    let params = schema.parameters.get_or_insert_with(Vec::new);
    match params.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value.to_owned(),
        None => params.push((key.to_owned(), value.to_owned())),
    }
    schema
}

fn is_map_entry(node: &AvroNode, record: &Record) -> bool {
    let named = record.name == format!("{NAMESPACE}.{MAP_ENTRY_TYPE_NAME}")
        || node.prop_str(CONNECT_INTERNAL_TYPE) == Some(MAP_ENTRY_TYPE_NAME);
    named
        && record.fields.len() == 2
        && record.fields[0].name == "key"
        && record.fields[1].name == "value"
}

/// Whether an Avro array of this item schema is a Connect map.
pub fn is_map_entry_array(items: &AvroNode) -> bool {
    matches!(&items.ty, AvroType::Record(r) if is_map_entry(items, r))
}

/// An Avro JSON default as a Connect value of `schema`.
fn default_from_json(
    schema: &Schema,
    node: &AvroNode,
    json: &Json,
    path: &str,
) -> Result<Value, ConvertError> {
    let bad = || {
        invalid(
            path,
            format!("invalid default {json} for a {}", node.type_name()),
        )
    };
    if json.is_null() {
        return Ok(Value::Null);
    }
    Ok(match &node.ty {
        AvroType::Null => Value::Null,
        AvroType::Boolean => Value::Boolean(json.as_bool().ok_or_else(bad)?),
        AvroType::Int => {
            let v = json.as_i64().ok_or_else(bad)?;
            match schema.ty {
                Type::Int8 => Value::Int8(i8::try_from(v).map_err(|_| bad())?),
                Type::Int16 => Value::Int16(i16::try_from(v).map_err(|_| bad())?),
                _ => Value::Int32(i32::try_from(v).map_err(|_| bad())?),
            }
        }
        AvroType::Long => Value::Int64(json.as_i64().ok_or_else(bad)?),
        AvroType::Float => Value::Float32(json.as_f64().ok_or_else(bad)? as f32),
        AvroType::Double => Value::Float64(json.as_f64().ok_or_else(bad)?),
        AvroType::String | AvroType::Enum(_) => {
            Value::String(Str::from(json.as_str().ok_or_else(bad)?))
        }
        AvroType::Bytes | AvroType::Fixed(_) => {
            let text = json.as_str().ok_or_else(bad)?;
            let bytes = text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).map_err(|_| bad()))
                .collect::<Result<Vec<u8>, _>>()?;
            Value::Bytes(Bytes::from(bytes))
        }
        AvroType::Array(items) => {
            let list = json.as_array().ok_or_else(bad)?;
            if is_map_entry_array(items) {
                let (AvroType::Record(entry), Some(ks), Some(vs)) =
                    (&items.ty, &schema.key_schema, &schema.value_schema)
                else {
                    return Err(bad());
                };
                let mut entries = Vec::with_capacity(list.len());
                for pair in list {
                    let (k, v) = match pair {
                        Json::Array(kv) if kv.len() == 2 => (&kv[0], &kv[1]),
                        Json::Object(o) => (
                            o.get("key").ok_or_else(bad)?,
                            o.get("value").ok_or_else(bad)?,
                        ),
                        _ => return Err(bad()),
                    };
                    entries.push((
                        default_from_json(ks, &entry.fields[0].node, k, path)?,
                        default_from_json(vs, &entry.fields[1].node, v, path)?,
                    ));
                }
                Value::Map(entries)
            } else {
                let item_schema = schema.value_schema.as_ref().ok_or_else(bad)?;
                Value::Array(
                    list.iter()
                        .map(|i| default_from_json(item_schema, items, i, path))
                        .collect::<Result<_, _>>()?,
                )
            }
        }
        AvroType::Map(values) => {
            let object = json.as_object().ok_or_else(bad)?;
            let value_schema = schema.value_schema.as_ref().ok_or_else(bad)?;
            Value::Map(
                object
                    .iter()
                    .map(|(k, v)| {
                        Ok((
                            Value::string(k),
                            default_from_json(value_schema, values, v, path)?,
                        ))
                    })
                    .collect::<Result<_, ConvertError>>()?,
            )
        }
        AvroType::Record(record) => {
            let object = json.as_object().ok_or_else(bad)?;
            let built = schema.clone().build();
            let mut values = Vec::with_capacity(record.fields.len());
            for (f, cf) in record.fields.iter().zip(&schema.fields) {
                let v = match object.get(&f.name).or(f.default.as_ref()) {
                    Some(j) => default_from_json(&cf.schema, &f.node, j, path)?,
                    None => Value::Null,
                };
                values.push(v);
            }
            Value::Struct(Struct::from_values(built, values).map_err(|_| bad())?)
        }
        // A union's default is of its first branch.
        AvroType::Union(branches) => match branches.first() {
            Some(first) if schema.name.as_deref() == Some(UNION_NAME) => {
                let built = schema.clone().build();
                let field = schema.fields.first().ok_or_else(bad)?;
                let v = default_from_json(&field.schema, first, json, path)?;
                let mut s = Struct::new(built).map_err(|_| bad())?;
                s.values_mut()[0] = v;
                Value::Struct(s)
            }
            Some(first) => default_from_json(schema, first, json, path)?,
            None => return Err(bad()),
        },
    })
}
