//! The shape every config form is read into before validation: keys as written, values with their TOML type (or
//! a string, for `.properties`), each with its line.
//!
//! The TOML reader and the Kafka Connect readers (`.properties`, REST JSON) both produce a [`RawDocument`]; one
//! validator turns it into the model, so every form gets the same checks and the same messages.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::problem::{did_you_mean, list_names, Location, Problem};

/// A value as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawValue {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    /// An array of scalars; a comma-separated list to Kafka Connect.
    List(Vec<String>),
    /// Something that is not a scalar (a table, a datetime, a nested array), by its TOML type name.
    Other(&'static str),
}

impl RawValue {
    /// The value as Kafka Connect's string-typed configs see it; `None` for tables and the like.
    pub(crate) fn as_config_string(&self) -> Option<String> {
        match self {
            RawValue::String(s) => Some(s.clone()),
            RawValue::Integer(n) => Some(n.to_string()),
            RawValue::Float(x) => Some(x.to_string()),
            RawValue::Boolean(b) => Some(b.to_string()),
            RawValue::List(items) => Some(items.join(",")),
            RawValue::Other(_) => None,
        }
    }

    /// How the value reads in an error message: `"two"`, `integer 2`, `boolean true`.
    pub(crate) fn describe(&self) -> String {
        match self {
            RawValue::String(s) => format!("{s:?}"),
            RawValue::Integer(n) => format!("integer {n}"),
            RawValue::Float(x) => format!("float {x}"),
            RawValue::Boolean(b) => format!("boolean {b}"),
            RawValue::List(items) => format!("array {items:?}"),
            RawValue::Other(kind) => (*kind).to_owned(),
        }
    }
}

/// One key with its value and line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// The key relative to its component (`file`, `schemas.enable`, `static.field`).
    pub(crate) key: String,
    /// The key as the user would find it in the file (`source.file`, `value.converter.schemas.enable`).
    pub(crate) path: String,
    pub(crate) value: RawValue,
    pub(crate) location: Location,
}

/// A source, sink, transform or predicate before validation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawComponent {
    /// Where the component starts (its `source = {…}` line, its `[[pipeline.transforms]]` header, the
    /// `transforms=` line of a `.properties` file).
    pub(crate) location: Location,
    /// The prefix of its keys' paths (`source.`, `transforms.mask.`).
    pub(crate) path_prefix: String,
    /// Its alias, for transforms and predicates given in Kafka Connect's flat form.
    pub(crate) alias: Option<String>,
    /// Every key including `type` (and, for transforms and predicates, `name`, `predicate`, `negate`).
    pub(crate) entries: Vec<Entry>,
}

impl RawComponent {
    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// One pipeline before validation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawPipeline {
    pub(crate) location: Location,
    /// Scalar keys of the pipeline itself (`name`, `delivery`, `value.converter.schemas.enable`, …).
    pub(crate) entries: Vec<Entry>,
    pub(crate) source: Option<RawComponent>,
    pub(crate) sink: Option<RawComponent>,
    pub(crate) transforms: Vec<RawComponent>,
    pub(crate) predicates: Vec<RawComponent>,
    /// Problems found while reading (keys that belong nowhere); reported with the pipeline's name.
    pub(crate) problems: Vec<Problem>,
    /// The connector's keys as submitted, for a Kafka Connect form (.properties, REST JSON); `None` for a
    /// pipelines.toml pipeline, whose flat form is [`RawPipeline::flat_form`].
    pub(crate) submitted: Option<BTreeMap<String, String>>,
}

impl RawPipeline {
    pub(crate) fn new(location: Location) -> Self {
        Self {
            location,
            entries: Vec::new(),
            source: None,
            sink: None,
            transforms: Vec::new(),
            predicates: Vec::new(),
            problems: Vec::new(),
            submitted: None,
        }
    }

    /// The pipeline as one flat map of Kafka Connect-style keys (`name`, `source.type`, `source.file`,
    /// `transforms=a,b`, `transforms.a.type`, …): what the REST API shows as its config and takes back.
    /// Transforms and predicates are listed under their names, so references between them survive.
    pub(crate) fn flat_form(&self) -> BTreeMap<String, String> {
        if let Some(submitted) = &self.submitted {
            return submitted.clone();
        }
        let mut flat = BTreeMap::new();
        let put = |flat: &mut BTreeMap<String, String>, key: String, value: &RawValue| {
            if let Some(value) = value.as_config_string() {
                flat.insert(key, value);
            }
        };
        for entry in &self.entries {
            put(&mut flat, entry.path.clone(), &entry.value);
        }
        for (prefix, component) in [("source", &self.source), ("sink", &self.sink)] {
            for entry in component.iter().flat_map(|c| &c.entries) {
                put(&mut flat, format!("{prefix}.{}", entry.key), &entry.value);
            }
        }
        for (list_key, components) in [
            ("transforms", &self.transforms),
            ("predicates", &self.predicates),
        ] {
            let mut labels = Vec::new();
            for (n, component) in components.iter().enumerate() {
                let label = component
                    .alias
                    .clone()
                    .or_else(|| {
                        component
                            .get("name")
                            .and_then(|e| e.value.as_config_string())
                    })
                    .unwrap_or_else(|| (n + 1).to_string());
                for entry in component.entries.iter().filter(|e| e.key != "name") {
                    put(
                        &mut flat,
                        format!("{list_key}.{label}.{}", entry.key),
                        &entry.value,
                    );
                }
                labels.push(label);
            }
            if !labels.is_empty() {
                flat.insert(list_key.to_owned(), labels.join(","));
            }
        }
        flat
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// A whole config file before validation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawDocument {
    pub(crate) file: Arc<str>,
    /// The `[kafka]` table (or the client keys of a Kafka Connect config).
    pub(crate) kafka: Vec<Entry>,
    /// The worker's keys: the `[engine]` table, or a worker `.properties` file.
    pub(crate) worker: Vec<Entry>,
    pub(crate) pipelines: Vec<RawPipeline>,
    /// Problems that belong to no pipeline (syntax errors, unknown top-level keys).
    pub(crate) problems: Vec<Problem>,
    /// A worker file on its own: no pipelines is no problem (connectors come later, through REST).
    pub(crate) worker_only: bool,
    /// A distributed worker's file (`engine distributed`): its group and internal-topic keys are read.
    pub(crate) distributed: bool,
}

impl RawDocument {
    pub(crate) fn new(file: Arc<str>) -> Self {
        Self {
            file,
            kafka: Vec::new(),
            worker: Vec::new(),
            pipelines: Vec::new(),
            problems: Vec::new(),
            worker_only: false,
            distributed: false,
        }
    }
}

/// Moves Kafka Connect's flat transform and predicate keys (`transforms=a,b`, `transforms.a.type=…`,
/// `predicates=p`, `predicates.p.type=…`) out of `pipeline.entries` into components, in the listed order.
pub(crate) fn take_flat_chains(pipeline: &mut RawPipeline) {
    for (list_key, into_transforms) in [("transforms", true), ("predicates", false)] {
        let prefix = format!("{list_key}.");
        let list_entry = pipeline
            .entries
            .iter()
            .position(|e| e.key == list_key)
            .map(|i| pipeline.entries.remove(i));
        let (aliases, list_location) = match &list_entry {
            Some(entry) => {
                let aliases: Vec<String> = match &entry.value {
                    RawValue::String(s) => s
                        .split(',')
                        .map(|a| a.trim().to_owned())
                        .filter(|a| !a.is_empty())
                        .collect(),
                    RawValue::List(items) => items.clone(),
                    other => {
                        pipeline.problems.push(Problem {
                            location: entry.location.clone(),
                            pipeline: None,
                            key: Some(entry.path.clone()),
                            message: format!(
                                "expected a comma-separated list of aliases, found {}",
                                other.describe()
                            ),
                        });
                        Vec::new()
                    }
                };
                (aliases, entry.location.clone())
            }
            None => (Vec::new(), pipeline.location.clone()),
        };
        let mut components: Vec<RawComponent> = aliases
            .iter()
            .map(|alias| RawComponent {
                location: list_location.clone(),
                path_prefix: format!("{prefix}{alias}."),
                alias: Some(alias.clone()),
                entries: Vec::new(),
            })
            .collect();
        let listed: Vec<&str> = aliases.iter().map(String::as_str).collect();
        let index = AliasIndex::new(&listed);
        let mut kept = Vec::with_capacity(pipeline.entries.len());
        for entry in std::mem::take(&mut pipeline.entries) {
            let Some(rest) = entry.key.strip_prefix(&prefix) else {
                kept.push(entry);
                continue;
            };
            match index.first_alias_of(rest) {
                Some(position) => {
                    let component = &mut components[position];
                    let key = rest[listed[position].len() + 1..].to_owned();
                    component.entries.push(Entry { key, ..entry });
                }
                None => {
                    let alias = rest.split('.').next().unwrap_or(rest);
                    let hint = match did_you_mean(alias, &listed) {
                        Some(s) => format!(" (did you mean \"{s}\"?)"),
                        None if listed.is_empty() => format!(" (set \"{list_key}\" to list it)"),
                        None => format!(" (listed: {})", list_names(&listed)),
                    };
                    pipeline.problems.push(Problem {
                        location: entry.location.clone(),
                        pipeline: None,
                        key: Some(entry.path.clone()),
                        message: format!("alias \"{alias}\" is not listed in \"{list_key}\"{hint}"),
                    });
                }
            }
        }
        pipeline.entries = kept;
        if into_transforms {
            pipeline.transforms.append(&mut components);
        } else {
            pipeline.predicates.append(&mut components);
        }
    }
}

/// The aliases a `transforms=` or `predicates=` list names, to find which one a key `<alias>.<key>` (after the
/// list's prefix) belongs to. An alias may itself hold dots, so any dot of the key may end it; when several
/// listed aliases fit, the first listed wins.
///
/// A trie of the aliases' bytes: finding a key's alias walks the key once, however many aliases are listed
/// (comparing each key with each alias was quadratic in a hostile config's size).
struct AliasIndex {
    nodes: Vec<AliasNode>,
}

#[derive(Default)]
struct AliasNode {
    /// The next byte of some alias, and the node after it.
    next: Vec<(u8, usize)>,
    /// The position in the list of the first alias ending here.
    alias: Option<usize>,
}

impl AliasIndex {
    fn new(aliases: &[&str]) -> Self {
        let mut nodes = vec![AliasNode::default()];
        for (position, alias) in aliases.iter().enumerate() {
            let mut node = 0;
            for &byte in alias.as_bytes() {
                node = match nodes[node].next.iter().find(|(b, _)| *b == byte) {
                    Some(&(_, next)) => next,
                    None => {
                        nodes.push(AliasNode::default());
                        let next = nodes.len() - 1;
                        nodes[node].next.push((byte, next));
                        next
                    }
                };
            }
            nodes[node].alias.get_or_insert(position);
        }
        Self { nodes }
    }

    /// The list position of the first listed alias that `key` starts with, followed by a dot and a non-empty
    /// rest.
    fn first_alias_of(&self, key: &str) -> Option<usize> {
        let bytes = key.as_bytes();
        let mut node = 0;
        let mut first = None;
        for (at, &byte) in bytes.iter().enumerate() {
            if byte == b'.' && at + 1 < bytes.len() {
                if let Some(position) = self.nodes[node].alias {
                    first = Some(first.map_or(position, |f: usize| f.min(position)));
                }
            }
            match self.nodes[node].next.iter().find(|(b, _)| *b == byte) {
                Some(&(_, next)) => node = next,
                None => break,
            }
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_belongs_to_the_first_listed_alias_it_starts_with() {
        let index = AliasIndex::new(&["mask", "a.b", "a", "mask", "ab"]);
        assert_eq!(index.first_alias_of("mask.field"), Some(0));
        assert_eq!(index.first_alias_of("a.b.type"), Some(1));
        assert_eq!(index.first_alias_of("a.type"), Some(2));
        assert_eq!(index.first_alias_of("ab.type"), Some(4));
        // The alias must be followed by a dot and a key.
        assert_eq!(index.first_alias_of("mask."), None);
        assert_eq!(index.first_alias_of("mask"), None);
        assert_eq!(index.first_alias_of("masks.type"), None);
        assert_eq!(index.first_alias_of("b.type"), None);
        assert_eq!(AliasIndex::new(&[]).first_alias_of("a.type"), None);
        // "a" is listed after "a.b" but matches too: the first listed of those that fit wins.
        let index = AliasIndex::new(&["a", "a.b"]);
        assert_eq!(index.first_alias_of("a.b.type"), Some(0));
    }
}
