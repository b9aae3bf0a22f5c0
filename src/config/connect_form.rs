//! Reads a Kafka Connect connector config — a `.properties` file or the REST JSON form
//! (`{"name": …, "config": {…}}`) — into a [`RawDocument`] holding one pipeline per connector.
//!
//! A source connector becomes `source → kafka sink` (writing the connector's `topic`); a sink connector becomes
//! `kafka source (topics, group connect-<name>) → sink`, as a Kafka Connect worker would run them. Worker-level
//! client keys found beside the connector keys (`bootstrap.servers`, …) go to the `[kafka]` settings.

use std::collections::HashMap;
use std::sync::Arc;

use crate::connect::registry::{ComponentKind, KafkaClientRole};

use super::catalog::Catalog;
use super::clients::{client_accepts, ClientRole};
use super::problem::{LineIndex, Location, Problem};
use super::raw::{take_flat_chains, Entry, RawComponent, RawDocument, RawPipeline, RawValue};

/// Keys of a connector config that belong to the pipeline rather than the connector.
const PIPELINE_EXACT: &[&str] = &[
    "name",
    "tasks.max",
    "tasks",
    "delivery",
    "profile",
    "queue.max.records",
    "queue.max.bytes",
    "key.converter",
    "value.converter",
    "header.converter",
    "transforms",
    "predicates",
];
const PIPELINE_PREFIXES: &[&str] = &[
    "key.converter.",
    "value.converter.",
    "header.converter.",
    "transforms.",
    "predicates.",
    "errors.",
    "producer.override.",
    "consumer.override.",
];

fn is_pipeline_key(key: &str) -> bool {
    PIPELINE_EXACT.contains(&key) || PIPELINE_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Parses Java `.properties` text into `(key, value, line)` triples: `#`/`!` comments, `=`, `:` or whitespace
/// separators, backslash line continuations and escapes (`\t`, `\n`, `\uXXXX`, …). Later keys win, as in Java
/// (and take the later place).
pub(crate) fn parse_properties(text: &str) -> Vec<(String, String, u32)> {
    // A key set again leaves a hole where it was, so each line costs the same however many keys came before.
    let mut out: Vec<Option<(String, String, u32)>> = Vec::new();
    let mut position_of: HashMap<String, usize> = HashMap::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let first_line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        let mut logical = String::from(trimmed);
        // The backslashes a continued line ends with are an even run once the last is dropped, so whether the
        // next line continues too depends only on its own trailing backslashes, not on the whole logical line.
        let mut piece = trimmed;
        while ends_with_continuation(piece) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => {
                    piece = next.trim_start();
                    logical.push_str(piece);
                }
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        if let Some(earlier) = position_of.insert(key.clone(), out.len()) {
            out[earlier] = None;
        }
        out.push(Some((key, value, first_line)));
    }
    out.into_iter().flatten().collect()
}

fn ends_with_continuation(line: &str) -> bool {
    line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

fn split_key_value(line: &str) -> (String, String) {
    let mut key_end = line.len();
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || c.is_whitespace() {
            key_end = i;
            break;
        }
    }
    let key = &line[..key_end];
    let mut rest = line[key_end..].trim_start();
    if let Some(stripped) = rest.strip_prefix(['=', ':']) {
        rest = stripped.trim_start();
    }
    (unescape(key), unescape(rest))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.clone().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) if hex.len() == 4 => {
                        out.push(ch);
                        for _ in 0..4 {
                            chars.next();
                        }
                    }
                    _ => out.push('u'),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Reads a `.properties` connector config.
pub(crate) fn read_properties(text: &str, file: Arc<str>, catalog: &dyn Catalog) -> RawDocument {
    let entries: Vec<Entry> = parse_properties(text)
        .into_iter()
        .map(|(key, value, line)| Entry {
            path: key.clone(),
            key,
            value: RawValue::String(value),
            location: Location::new(&file, line),
        })
        .collect();
    let mut document = RawDocument::new(Arc::clone(&file));
    let whole_file = Location::new(&file, if entries.is_empty() { 0 } else { 1 });
    add_connector(&mut document, entries, whole_file, catalog);
    document
}

/// Reads a Kafka Connect worker `.properties` file (`connect-standalone.properties`): worker keys only.
pub(crate) fn read_worker_properties(text: &str, file: Arc<str>) -> RawDocument {
    let mut document = RawDocument::new(Arc::clone(&file));
    document.worker = parse_properties(text)
        .into_iter()
        .map(|(key, value, line)| Entry {
            path: key.clone(),
            key,
            value: RawValue::String(value),
            location: Location::new(&file, line),
        })
        .collect();
    document
}

/// Reads the REST JSON form: `{"name": …, "config": {…}}`, a bare config object with `name` inside, or an array
/// of either.
pub(crate) fn read_json(text: &str, file: Arc<str>, catalog: &dyn Catalog) -> RawDocument {
    let mut document = RawDocument::new(Arc::clone(&file));
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => {
            document.problems.push(Problem {
                location: Location::new(&file, u32::try_from(e.line()).unwrap_or(0)),
                pipeline: None,
                key: None,
                message: format!("invalid JSON: {e}"),
            });
            return document;
        }
    };
    let lines = LineIndex::new(text);
    let keys = object_keys(text);
    let (objects, ranges): (Vec<&serde_json::Value>, Vec<std::ops::Range<usize>>) = match &value {
        serde_json::Value::Array(items) => {
            let ranges = top_level_element_ranges(text);
            items
                .iter()
                .enumerate()
                .map(|(i, item)| (item, ranges.get(i).cloned().unwrap_or(0..text.len())))
                .unzip()
        }
        other => (vec![other], std::iter::once(0..text.len()).collect()),
    };
    for (object, range) in objects.into_iter().zip(ranges) {
        let start = Location::new(&file, lines.line_of(range.start));
        let serde_json::Value::Object(map) = object else {
            document.problems.push(Problem {
                location: start,
                pipeline: None,
                key: None,
                message: "expected a connector object {\"name\": …, \"config\": {…}}".into(),
            });
            continue;
        };
        // The first place each key is written in this connector's text (looking each key up by scanning the
        // text was quadratic in a config of many keys).
        let mut first_offset: HashMap<&str, usize> = HashMap::new();
        let in_range = keys.partition_point(|(offset, _)| *offset < range.start)
            ..keys.partition_point(|(offset, _)| *offset < range.end);
        for &(offset, key) in &keys[in_range] {
            first_offset.entry(key).or_insert(offset);
        }
        let line_of_key = |key: &str| -> Location {
            match first_offset.get(key) {
                Some(offset) => Location::new(&file, lines.line_of(*offset)),
                None => start.clone(),
            }
        };
        let mut entries = Vec::new();
        let config = match map.get("config") {
            Some(serde_json::Value::Object(config)) => {
                if let Some(name) = map.get("name") {
                    entries.push(json_entry("name", name, line_of_key("name")));
                }
                config
            }
            Some(_) => {
                document.problems.push(Problem {
                    location: line_of_key("config"),
                    pipeline: None,
                    key: Some("config".into()),
                    message: "expected an object of connector keys".into(),
                });
                continue;
            }
            None => map,
        };
        for (key, value) in config {
            if key == "name" && entries.iter().any(|e: &Entry| e.key == "name") {
                let outer = entries
                    .iter()
                    .find(|e| e.key == "name")
                    .and_then(|e| e.value.as_config_string());
                if outer.as_deref() != value.as_str() {
                    document.problems.push(Problem {
                        location: line_of_key("config"),
                        pipeline: None,
                        key: Some("config.name".into()),
                        message: format!(
                            "{value} differs from the connector's name {:?}",
                            outer.unwrap_or_default()
                        ),
                    });
                }
                continue;
            }
            entries.push(json_entry(key, value, line_of_key(key)));
        }
        add_connector(&mut document, entries, start, catalog);
    }
    document
}

fn json_entry(key: &str, value: &serde_json::Value, location: Location) -> Entry {
    let value = match value {
        serde_json::Value::String(s) => RawValue::String(s.clone()),
        serde_json::Value::Bool(b) => RawValue::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => RawValue::Integer(i),
            None => n
                .as_f64()
                .map(RawValue::Float)
                .unwrap_or(RawValue::Other("number")),
        },
        serde_json::Value::Null => RawValue::Other("null"),
        serde_json::Value::Object(_) => RawValue::Other("object"),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
            .collect::<Option<Vec<String>>>()
            .map(RawValue::List)
            .unwrap_or(RawValue::Other("array")),
    };
    Entry {
        key: key.to_owned(),
        path: key.to_owned(),
        value,
        location,
    }
}

/// Every object key of a JSON text as written between its quotes, with the offset of its opening quote, in text
/// order; one pass (valid JSON assumed: serde_json parsed it already).
fn object_keys(text: &str) -> Vec<(usize, &str)> {
    let mut keys = Vec::new();
    let mut string_start = None;
    let mut escaped = false;
    // A string just closed: a key if the next character that is not whitespace is a colon.
    let mut after_string = None;
    for (i, c) in text.char_indices() {
        if let Some(open) = string_start {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    string_start = None;
                    after_string = Some((open, &text[open + 1..i]));
                }
                _ => {}
            }
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if let (':', Some(key)) = (c, after_string) {
            keys.push(key);
        }
        after_string = None;
        if c == '"' {
            string_start = Some(i);
        }
    }
    keys
}

/// Byte ranges of the elements of a top-level JSON array (valid JSON assumed: serde_json parsed it already).
fn top_level_element_ranges(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut start = None;
    for (i, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                if depth == 1 && start.is_none() {
                    start = Some(i);
                }
            }
            '[' | '{' => {
                if depth == 1 && start.is_none() {
                    start = Some(i);
                }
                depth += 1;
            }
            ']' | '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    if let Some(s) = start.take() {
                        ranges.push(s..i);
                    }
                }
            }
            ',' if depth == 1 => {
                if let Some(s) = start.take() {
                    ranges.push(s..i);
                }
            }
            c if depth == 1 && start.is_none() && !c.is_whitespace() => start = Some(i),
            _ => {}
        }
    }
    ranges
}

/// Whether `key` is a worker-level client key: one a client knows and the connector does not declare (with the
/// connector unknown, only `bootstrap.servers` is taken for sure).
fn worker_key(key: &str, declared: Option<crate::connect::config_def::ConfigDef>) -> bool {
    match declared {
        Some(def) => {
            def.key(key).is_none()
                && (client_accepts(ClientRole::Producer, key).is_ok()
                    || client_accepts(ClientRole::Consumer, key).is_ok())
        }
        None => key == "bootstrap.servers",
    }
}

/// The registered connector that runs the Kafka side of a connector of `role`: for a source connector the sink
/// that produces to Kafka, for a sink connector the source that consumes from it.
fn kafka_side(catalog: &dyn Catalog, role: ComponentKind) -> Result<&'static str, String> {
    let (kind, client, what) = match role {
        ComponentKind::Sink => (ComponentKind::Source, KafkaClientRole::Consumer, "source"),
        _ => (ComponentKind::Sink, KafkaClientRole::Producer, "sink"),
    };
    catalog
        .components(kind)
        .into_iter()
        .find(|c| c.capabilities.kafka_client == Some(client))
        .map(|c| c.name)
        .ok_or_else(|| format!("no Kafka {what} is registered to run this connector's Kafka side"))
}

/// Turns one connector's flat keys into a pipeline (and worker-level client keys into `[kafka]` settings).
fn add_connector(
    document: &mut RawDocument,
    entries: Vec<Entry>,
    start: Location,
    catalog: &dyn Catalog,
) {
    let mut pipeline = RawPipeline::new(start.clone());
    pipeline.submitted = Some(
        entries
            .iter()
            .filter_map(|e| Some((e.key.clone(), e.value.as_config_string()?)))
            .collect(),
    );
    let class_entry = entries.iter().find(|e| e.key == "connector.class").cloned();
    let class = class_entry
        .as_ref()
        .and_then(|e| e.value.as_config_string())
        .unwrap_or_default();
    let role = if catalog.find(ComponentKind::Source, &class).is_some() {
        ComponentKind::Source
    } else if catalog.find(ComponentKind::Sink, &class).is_some() || class.contains("Sink") {
        ComponentKind::Sink
    } else {
        ComponentKind::Source
    };
    let declared = catalog
        .find(role, &class)
        .map(|info| info.config)
        .filter(|_| !class.is_empty());
    let mut connector = RawComponent {
        location: class_entry
            .as_ref()
            .map_or_else(|| start.clone(), |e| e.location.clone()),
        path_prefix: String::new(),
        alias: None,
        entries: Vec::new(),
    };
    let mut kafka = RawComponent {
        location: connector.location.clone(),
        path_prefix: String::new(),
        alias: None,
        entries: Vec::new(),
    };
    match kafka_side(catalog, role) {
        Ok(name) => kafka.entries.push(Entry {
            key: "type".into(),
            path: "connector.class".into(),
            value: RawValue::String(name.into()),
            location: connector.location.clone(),
        }),
        Err(message) => pipeline.problems.push(Problem {
            location: connector.location.clone(),
            pipeline: None,
            key: Some("connector.class".into()),
            message,
        }),
    }
    // The connector's topic(s) belong to the Kafka side; a connector that declares them keeps a copy.
    let moved_keys: &[&str] = if role == ComponentKind::Source {
        &["topic"]
    } else {
        &["topics", "topics.regex"]
    };
    for entry in entries {
        let key = entry.key.as_str();
        if key == "connector.class" {
            connector.entries.push(Entry {
                key: "type".into(),
                ..entry
            });
        } else if key == "tasks.max" {
            pipeline.entries.push(Entry {
                key: "tasks".into(),
                ..entry
            });
        } else if is_pipeline_key(key) {
            pipeline.entries.push(entry);
        } else if moved_keys.contains(&key) {
            if declared.is_some_and(|def| def.key(key).is_some()) {
                connector.entries.push(entry.clone());
            }
            kafka.entries.push(entry);
        } else if worker_key(key, declared) {
            document.kafka.push(entry);
        } else {
            connector.entries.push(entry);
        }
    }
    if class_entry.is_none() {
        pipeline.problems.push(Problem {
            location: start,
            pipeline: None,
            key: Some("connector.class".into()),
            message: "missing required key".into(),
        });
    }
    if role == ComponentKind::Sink {
        let name = pipeline
            .get("name")
            .and_then(|e| e.value.as_config_string().map(|n| (n, e.location.clone())));
        if let Some((name, location)) = name {
            kafka.entries.push(Entry {
                key: "group.id".into(),
                path: "group.id".into(),
                value: RawValue::String(format!("connect-{name}")),
                location,
            });
        }
        pipeline.source = Some(kafka);
        pipeline.sink = Some(connector);
    } else {
        pipeline.source = Some(connector);
        pipeline.sink = Some(kafka);
    }
    take_flat_chains(&mut pipeline);
    document.pipelines.push(pipeline);
}

/// Reads one connector given as a map (a REST request's config): Kafka Connect's form when it names a
/// `connector.class`, else pipewright's flat form ([`RawPipeline::flat_form`]: `source.type`, `sink.type`, …).
/// `file` names where the map came from in messages; `worker` holds the worker's client settings.
pub(crate) fn read_map(
    name: &str,
    config: &std::collections::BTreeMap<String, String>,
    file: Arc<str>,
    worker: Vec<Entry>,
    catalog: &dyn Catalog,
) -> RawDocument {
    let mut document = RawDocument::new(Arc::clone(&file));
    document.kafka = worker;
    let start = Location::new(&file, 0);
    let mut entries = vec![Entry {
        key: "name".into(),
        path: "name".into(),
        value: RawValue::String(name.to_owned()),
        location: start.clone(),
    }];
    entries.extend(
        config
            .iter()
            .filter(|(key, _)| key.as_str() != "name")
            .map(|(key, value)| Entry {
                key: key.clone(),
                path: key.clone(),
                value: RawValue::String(value.clone()),
                location: start.clone(),
            }),
    );
    if config.contains_key("connector.class") {
        add_connector(&mut document, entries, start, catalog);
        return document;
    }
    let mut pipeline = RawPipeline::new(start.clone());
    pipeline.submitted = Some(
        entries
            .iter()
            .filter_map(|e| Some((e.key.clone(), e.value.as_config_string()?)))
            .collect(),
    );
    for (prefix, slot) in [("source.", 0), ("sink.", 1)] {
        let component_entries: Vec<Entry> = entries
            .iter()
            .filter_map(|e| {
                let key = e.key.strip_prefix(prefix)?;
                Some(Entry {
                    key: key.to_owned(),
                    ..e.clone()
                })
            })
            .collect();
        if component_entries.is_empty() {
            continue;
        }
        let component = RawComponent {
            location: start.clone(),
            path_prefix: prefix.to_owned(),
            alias: None,
            entries: component_entries,
        };
        if slot == 0 {
            pipeline.source = Some(component);
        } else {
            pipeline.sink = Some(component);
        }
    }
    pipeline.entries = entries
        .into_iter()
        .filter(|e| !e.key.starts_with("source.") && !e.key.starts_with("sink."))
        .collect();
    take_flat_chains(&mut pipeline);
    document.pipelines.push(pipeline);
    document
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_follow_java_rules() {
        let text = "# comment\n! also\n a = 1\nb:2\nc 3\nlong = x,\\\n    y\nesc\\=key = \\u0041\\t\nempty\n";
        let parsed = parse_properties(text);
        let find = |k: &str| parsed.iter().find(|(key, _, _)| key == k).cloned();
        assert_eq!(find("a"), Some(("a".into(), "1".into(), 3)));
        assert_eq!(find("b"), Some(("b".into(), "2".into(), 4)));
        assert_eq!(find("c"), Some(("c".into(), "3".into(), 5)));
        assert_eq!(find("long"), Some(("long".into(), "x,y".into(), 6)));
        assert_eq!(find("esc=key"), Some(("esc=key".into(), "A\t".into(), 8)));
        assert_eq!(find("empty"), Some(("empty".into(), String::new(), 9)));
    }

    #[test]
    fn a_key_set_again_wins_and_takes_the_later_place() {
        let parsed = parse_properties("a=1\nb=2\na=3\nc=4\nb=5\n");
        let keys: Vec<(&str, &str, u32)> = parsed
            .iter()
            .map(|(k, v, line)| (k.as_str(), v.as_str(), *line))
            .collect();
        assert_eq!(keys, [("a", "3", 3), ("c", "4", 4), ("b", "5", 5)]);
    }

    #[test]
    fn continuation_follows_the_parity_of_the_whole_backslash_run() {
        // Three backslashes: an escaped one and a continuation; the next line's run of three joins the two
        // left over into an odd run of five, so it continues again.
        let parsed = parse_properties("k=v\\\\\\\n\\\\\\\nend\nnext=1");
        assert_eq!(parsed[0], ("k".into(), "v\\\\end".into(), 1));
        assert_eq!(parsed[1], ("next".into(), "1".into(), 4));
        // A line of two after a continuation makes an even run: it ends the logical line.
        let parsed = parse_properties("k=\\\n\\\\\nnext=1");
        assert_eq!(parsed[0], ("k".into(), "\\".into(), 1));
        assert_eq!(parsed[1], ("next".into(), "1".into(), 3));
        // Thousands of continued lines of backslashes: the value is every run's escaped half.
        let text = format!("k=\\\n{}end", "\\\\\\\n".repeat(5_000));
        let parsed = parse_properties(&text);
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].1, format!("{}end", "\\".repeat(5_000)));
    }

    #[test]
    fn object_keys_are_found_in_one_pass() {
        let text = "{\"a\": \"b:\", \"c\" :\n {\"d\\\"\": [\"e\", \"f\"]}, \"g\": \"\\\\\"}";
        let keys: Vec<&str> = object_keys(text).into_iter().map(|(_, key)| key).collect();
        assert_eq!(keys, ["a", "c", "d\\\"", "g"]);
        let (offset, _) = object_keys(text)[1];
        assert_eq!(&text[offset..offset + 3], "\"c\"");
    }

    #[test]
    fn array_elements_are_located() {
        let text = "[ {\"a\": [1,2]},\n  {\"b\": \"}\"} ]";
        let ranges = top_level_element_ranges(text);
        assert_eq!(ranges.len(), 2);
        assert!(text[ranges[1].clone()].contains("\"b\""));
    }
}
