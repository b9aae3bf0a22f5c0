//! Avro schemas as a tree we can walk per record: parsed from the JSON a registry holds (keeping every custom
//! property, which `apache-avro`'s `Schema` drops on primitives — and `connect.type`, `connect.name` and
//! `connect.parameters` live exactly there), and written back as JSON.
//!
//! Named types (records, enums, fixed) may be referenced by full name after their first definition; the tree
//! holds a copy at each use. Recursive schemas cannot be copied and are refused with a clear error.

use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Custom properties of a schema (everything but its structural keys), sorted by key.
pub type Props = Map<String, Json>;

/// Deeper schemas are refused: parsing and every walk over values recurse once per level.
pub const MAX_SCHEMA_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub enum AvroType {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Record(Box<Record>),
    Enum(Box<Enum>),
    Array(Box<AvroNode>),
    Map(Box<AvroNode>),
    Union(Vec<AvroNode>),
    Fixed(Box<Fixed>),
}

/// One Avro schema with its custom properties (`logicalType`, `precision`, `connect.*`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct AvroNode {
    pub ty: AvroType,
    pub props: Props,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Full name (`namespace.name`).
    pub name: String,
    pub doc: Option<String>,
    pub fields: Vec<AvroField>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AvroField {
    pub name: String,
    pub doc: Option<String>,
    pub default: Option<Json>,
    pub node: AvroNode,
    pub props: Props,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Enum {
    pub name: String,
    pub doc: Option<String>,
    pub symbols: Vec<String>,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fixed {
    pub name: String,
    pub size: usize,
}

impl AvroNode {
    pub fn new(ty: AvroType) -> Self {
        AvroNode {
            ty,
            props: Props::new(),
        }
    }

    pub fn prop_str(&self, key: &str) -> Option<&str> {
        self.props.get(key).and_then(Json::as_str)
    }

    /// The full name of a named type.
    pub fn full_name(&self) -> Option<&str> {
        match &self.ty {
            AvroType::Record(r) => Some(&r.name),
            AvroType::Enum(e) => Some(&e.name),
            AvroType::Fixed(f) => Some(&f.name),
            _ => None,
        }
    }

    /// The Avro type name (`record`, `int`, …).
    pub fn type_name(&self) -> &'static str {
        match &self.ty {
            AvroType::Null => "null",
            AvroType::Boolean => "boolean",
            AvroType::Int => "int",
            AvroType::Long => "long",
            AvroType::Float => "float",
            AvroType::Double => "double",
            AvroType::Bytes => "bytes",
            AvroType::String => "string",
            AvroType::Record(_) => "record",
            AvroType::Enum(_) => "enum",
            AvroType::Array(_) => "array",
            AvroType::Map(_) => "map",
            AvroType::Union(_) => "union",
            AvroType::Fixed(_) => "fixed",
        }
    }

    /// Whether a value of this schema can encode to zero bytes (so a block count cannot be bounded by the
    /// bytes left).
    pub fn can_be_empty(&self) -> bool {
        match &self.ty {
            AvroType::Null => true,
            AvroType::Record(r) => r.fields.iter().all(|f| f.node.can_be_empty()),
            _ => false,
        }
    }
}

/// Parses Avro schema JSON text.
pub fn parse(text: &str) -> Result<AvroNode, String> {
    let json: Json = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let mut names = HashMap::new();
    parse_node(&json, None, &mut names, &mut Vec::new(), 0)
}

const STRUCTURAL_KEYS: &[&str] = &[
    "type",
    "name",
    "namespace",
    "doc",
    "fields",
    "symbols",
    "items",
    "values",
    "size",
    "aliases",
    "default",
];

fn props_of(obj: &Map<String, Json>) -> Props {
    obj.iter()
        .filter(|(k, _)| !STRUCTURAL_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn primitive(name: &str) -> Option<AvroType> {
    Some(match name {
        "null" => AvroType::Null,
        "boolean" => AvroType::Boolean,
        "int" => AvroType::Int,
        "long" => AvroType::Long,
        "float" => AvroType::Float,
        "double" => AvroType::Double,
        "bytes" => AvroType::Bytes,
        "string" => AvroType::String,
        _ => return None,
    })
}

fn full_name(
    obj: &Map<String, Json>,
    enclosing: Option<&str>,
) -> Result<(String, Option<String>), String> {
    let name = obj
        .get("name")
        .and_then(Json::as_str)
        .ok_or("a named type needs a string `name`")?;
    if name.contains('.') {
        let namespace = name.rsplit_once('.').map(|(ns, _)| ns.to_owned());
        return Ok((name.to_owned(), namespace));
    }
    let namespace = match obj.get("namespace") {
        Some(Json::String(ns)) => Some(ns.clone()).filter(|ns| !ns.is_empty()),
        Some(Json::Null) | None => enclosing.map(str::to_owned),
        Some(other) => return Err(format!("`namespace` must be a string, found {other}")),
    };
    let full = match &namespace {
        Some(ns) => format!("{ns}.{name}"),
        None => name.to_owned(),
    };
    Ok((full, namespace))
}

fn resolve_name(name: &str, enclosing: Option<&str>) -> String {
    match enclosing {
        Some(ns) if !name.contains('.') => format!("{ns}.{name}"),
        _ => name.to_owned(),
    }
}

fn parse_node(
    json: &Json,
    namespace: Option<&str>,
    names: &mut HashMap<String, AvroNode>,
    defining: &mut Vec<String>,
    depth: usize,
) -> Result<AvroNode, String> {
    if depth > MAX_SCHEMA_DEPTH {
        return Err(format!("nested deeper than {MAX_SCHEMA_DEPTH} levels"));
    }
    match json {
        Json::String(name) => {
            if let Some(ty) = primitive(name) {
                return Ok(AvroNode::new(ty));
            }
            let full = resolve_name(name, namespace);
            for candidate in [&full, name] {
                if let Some(node) = names.get(candidate.as_str()) {
                    return Ok(node.clone());
                }
                if defining.iter().any(|d| d == candidate) {
                    return Err(format!(
                        "`{candidate}` refers to itself; recursive schemas are not supported"
                    ));
                }
            }
            Err(format!("unknown type `{name}`"))
        }
        Json::Array(branches) => {
            let mut nodes = Vec::with_capacity(branches.len());
            for branch in branches {
                let node = parse_node(branch, namespace, names, defining, depth + 1)?;
                if matches!(node.ty, AvroType::Union(_)) {
                    return Err("a union may not directly contain a union".into());
                }
                nodes.push(node);
            }
            Ok(AvroNode::new(AvroType::Union(nodes)))
        }
        Json::Object(obj) => parse_object(obj, namespace, names, defining, depth),
        other => Err(format!(
            "a schema is a string, array or object, found {other}"
        )),
    }
}

fn parse_object(
    obj: &Map<String, Json>,
    namespace: Option<&str>,
    names: &mut HashMap<String, AvroNode>,
    defining: &mut Vec<String>,
    depth: usize,
) -> Result<AvroNode, String> {
    let props = props_of(obj);
    let doc = obj.get("doc").and_then(Json::as_str).map(str::to_owned);
    let ty = match obj.get("type") {
        Some(Json::String(t)) => t.as_str(),
        // {"type": {...}} or {"type": [...]}: a wrapped schema.
        Some(inner @ (Json::Object(_) | Json::Array(_))) => {
            return parse_node(inner, namespace, names, defining, depth + 1);
        }
        _ => return Err("an object schema needs a `type`".into()),
    };
    if let Some(primitive) = primitive(ty) {
        return Ok(AvroNode {
            ty: primitive,
            props,
        });
    }
    let node_ty = match ty {
        "record" | "error" => {
            let (name, own_namespace) = full_name(obj, namespace)?;
            defining.push(name.clone());
            let Some(Json::Array(fields_json)) = obj.get("fields") else {
                return Err(format!("record `{name}` needs a `fields` array"));
            };
            let mut fields = Vec::with_capacity(fields_json.len());
            for field in fields_json {
                let Json::Object(field) = field else {
                    return Err(format!("a field of `{name}` is not an object"));
                };
                let field_name = field
                    .get("name")
                    .and_then(Json::as_str)
                    .ok_or_else(|| format!("a field of `{name}` has no name"))?;
                let field_type = field
                    .get("type")
                    .ok_or_else(|| format!("field `{name}.{field_name}` has no type"))?;
                let node = parse_node(
                    field_type,
                    own_namespace.as_deref(),
                    names,
                    defining,
                    depth + 1,
                )
                .map_err(|e| format!("field `{field_name}`: {e}"))?;
                fields.push(AvroField {
                    name: field_name.to_owned(),
                    doc: field.get("doc").and_then(Json::as_str).map(str::to_owned),
                    default: field.get("default").cloned(),
                    node,
                    props: props_of(field),
                });
            }
            defining.pop();
            AvroType::Record(Box::new(Record { name, doc, fields }))
        }
        "enum" => {
            let (name, _) = full_name(obj, namespace)?;
            let Some(Json::Array(symbols)) = obj.get("symbols") else {
                return Err(format!("enum `{name}` needs a `symbols` array"));
            };
            let symbols = symbols
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("enum `{name}` has a symbol that is not a string"))?;
            let default = obj.get("default").and_then(Json::as_str).map(str::to_owned);
            AvroType::Enum(Box::new(Enum {
                name,
                doc,
                symbols,
                default,
            }))
        }
        "fixed" => {
            let (name, _) = full_name(obj, namespace)?;
            let size = obj
                .get("size")
                .and_then(Json::as_u64)
                .and_then(|s| usize::try_from(s).ok())
                .ok_or_else(|| format!("fixed `{name}` needs a non-negative `size`"))?;
            AvroType::Fixed(Box::new(Fixed { name, size }))
        }
        "array" => {
            let items = obj.get("items").ok_or("an array needs `items`")?;
            AvroType::Array(Box::new(parse_node(
                items,
                namespace,
                names,
                defining,
                depth + 1,
            )?))
        }
        "map" => {
            let values = obj.get("values").ok_or("a map needs `values`")?;
            AvroType::Map(Box::new(parse_node(
                values,
                namespace,
                names,
                defining,
                depth + 1,
            )?))
        }
        other => match names.get(&resolve_name(other, namespace)) {
            Some(named) => return Ok(named.clone()),
            None => return Err(format!("unknown type `{other}`")),
        },
    };
    let node = AvroNode { ty: node_ty, props };
    if let Some(name) = node.full_name() {
        names.insert(name.to_owned(), node.clone());
    }
    Ok(node)
}

/// Writes `node` as schema JSON; a named type is written in full once and by full name after that, as the
/// Avro specification requires.
pub fn to_json(node: &AvroNode) -> String {
    let mut out = String::with_capacity(256);
    let mut seen = Vec::new();
    write_node(node, &mut out, &mut seen);
    out
}

fn write_str(out: &mut String, s: &str) {
    // serde_json's escaping of a string cannot fail.
    out.push_str(&Json::String(s.to_owned()).to_string());
}

fn write_props(props: &Props, out: &mut String) {
    for (k, v) in props {
        out.push(',');
        write_str(out, k);
        out.push(':');
        let _ = write!(out, "{v}");
    }
}

fn write_name(full: &str, out: &mut String) {
    match full.rsplit_once('.') {
        Some((namespace, name)) => {
            out.push_str(",\"name\":");
            write_str(out, name);
            out.push_str(",\"namespace\":");
            write_str(out, namespace);
        }
        None => {
            out.push_str(",\"name\":");
            write_str(out, full);
        }
    }
}

fn write_node(node: &AvroNode, out: &mut String, seen: &mut Vec<String>) {
    if let Some(name) = node.full_name() {
        if seen.iter().any(|s| s == name) {
            write_str(out, name);
            return;
        }
        seen.push(name.to_owned());
    }
    let simple = |out: &mut String, name: &str| {
        if node.props.is_empty() {
            write_str(out, name);
        } else {
            out.push_str("{\"type\":");
            write_str(out, name);
            write_props(&node.props, out);
            out.push('}');
        }
    };
    match &node.ty {
        AvroType::Null => simple(out, "null"),
        AvroType::Boolean => simple(out, "boolean"),
        AvroType::Int => simple(out, "int"),
        AvroType::Long => simple(out, "long"),
        AvroType::Float => simple(out, "float"),
        AvroType::Double => simple(out, "double"),
        AvroType::Bytes => simple(out, "bytes"),
        AvroType::String => simple(out, "string"),
        AvroType::Union(branches) => {
            out.push('[');
            for (i, b) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_node(b, out, seen);
            }
            out.push(']');
        }
        AvroType::Array(items) => {
            out.push_str("{\"type\":\"array\",\"items\":");
            write_node(items, out, seen);
            write_props(&node.props, out);
            out.push('}');
        }
        AvroType::Map(values) => {
            out.push_str("{\"type\":\"map\",\"values\":");
            write_node(values, out, seen);
            write_props(&node.props, out);
            out.push('}');
        }
        AvroType::Record(r) => {
            out.push_str("{\"type\":\"record\"");
            write_name(&r.name, out);
            if let Some(doc) = &r.doc {
                out.push_str(",\"doc\":");
                write_str(out, doc);
            }
            out.push_str(",\"fields\":[");
            for (i, f) in r.fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"name\":");
                write_str(out, &f.name);
                out.push_str(",\"type\":");
                write_node(&f.node, out, seen);
                if let Some(doc) = &f.doc {
                    out.push_str(",\"doc\":");
                    write_str(out, doc);
                }
                if let Some(default) = &f.default {
                    let _ = write!(out, ",\"default\":{default}");
                }
                write_props(&f.props, out);
                out.push('}');
            }
            out.push(']');
            write_props(&node.props, out);
            out.push('}');
        }
        AvroType::Enum(e) => {
            out.push_str("{\"type\":\"enum\"");
            write_name(&e.name, out);
            if let Some(doc) = &e.doc {
                out.push_str(",\"doc\":");
                write_str(out, doc);
            }
            out.push_str(",\"symbols\":[");
            for (i, s) in e.symbols.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, s);
            }
            out.push(']');
            if let Some(default) = &e.default {
                out.push_str(",\"default\":");
                write_str(out, default);
            }
            write_props(&node.props, out);
            out.push('}');
        }
        AvroType::Fixed(f) => {
            out.push_str("{\"type\":\"fixed\"");
            write_name(&f.name, out);
            let _ = write!(out, ",\"size\":{}", f.size);
            write_props(&node.props, out);
            out.push('}');
        }
    }
}
