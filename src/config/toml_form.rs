//! Reads `pipelines.toml` into a [`RawDocument`]: the `[kafka]` and `[engine]` tables and the `[[pipeline]]` array, with the line
//! of every key. Checks only the shape (what is a table, what is a list); the validator checks the rest.

use std::sync::Arc;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::problem::{did_you_mean, LineIndex, Location, Problem};
use super::raw::{take_flat_chains, Entry, RawComponent, RawDocument, RawPipeline, RawValue};

const TOP_LEVEL_KEYS: &[&str] = &["kafka", "engine", "pipeline"];

struct Reader {
    file: Arc<str>,
    lines: LineIndex,
}

impl Reader {
    fn location(&self, span: std::ops::Range<usize>) -> Location {
        Location::new(&self.file, self.lines.line_of(span.start))
    }

    fn problem(&self, span: std::ops::Range<usize>, key: &str, message: String) -> Problem {
        Problem {
            location: self.location(span),
            pipeline: None,
            key: Some(key.to_owned()),
            message,
        }
    }

    /// Flattens nested tables into dotted keys, so `bootstrap.servers = …` written without quotes means the same
    /// as `"bootstrap.servers" = …`.
    fn flatten(&self, table: &DeTable<'_>, prefix: &str, path_prefix: &str, out: &mut Vec<Entry>) {
        for (key, value) in table {
            let key_text = format!("{prefix}{}", key.get_ref());
            if let DeValue::Table(inner) = value.get_ref() {
                self.flatten(inner, &format!("{key_text}."), path_prefix, out);
                continue;
            }
            out.push(Entry {
                path: format!("{path_prefix}{key_text}"),
                key: key_text,
                value: scalar(value.get_ref()),
                location: self.location(key.span()),
            });
        }
    }

    fn component(
        &self,
        table: &DeTable<'_>,
        location: Location,
        path_prefix: String,
        alias: Option<String>,
    ) -> RawComponent {
        let mut entries = Vec::new();
        self.flatten(table, "", &path_prefix, &mut entries);
        RawComponent {
            location,
            path_prefix,
            alias,
            entries,
        }
    }

    fn pipeline(&self, table: &Spanned<DeValue<'_>>) -> Result<RawPipeline, Problem> {
        let location = self.location(table.span());
        let DeValue::Table(table) = table.get_ref() else {
            return Err(Problem {
                location,
                pipeline: None,
                key: Some("pipeline".into()),
                message: format!(
                    "expected a table ([[pipeline]]), found {}",
                    table.get_ref().type_str()
                ),
            });
        };
        let mut pipeline = RawPipeline::new(location);
        for (key, value) in table {
            let name = key.get_ref().as_ref();
            let key_location = self.location(key.span());
            match (name, value.get_ref()) {
                ("source" | "sink", DeValue::Table(inner)) => {
                    let component = self.component(inner, key_location, format!("{name}."), None);
                    if name == "source" {
                        pipeline.source = Some(component);
                    } else {
                        pipeline.sink = Some(component);
                    }
                }
                ("source" | "sink", other) => pipeline.problems.push(self.problem(
                    key.span(),
                    name,
                    format!(
                        "expected a table like {{ type = \"file\", … }}, found {}",
                        scalar(other).describe()
                    ),
                )),
                ("transforms" | "predicates", DeValue::Array(items))
                    if items.iter().any(|i| i.get_ref().is_table()) =>
                {
                    for (n, item) in items.iter().enumerate() {
                        let DeValue::Table(inner) = item.get_ref() else {
                            pipeline.problems.push(self.problem(
                                item.span(),
                                name,
                                format!(
                                    "expected a table ([[pipeline.{name}]]), found {}",
                                    item.get_ref().type_str()
                                ),
                            ));
                            continue;
                        };
                        let label = ["name", "type"]
                            .iter()
                            .find_map(|k| inner.get(*k).and_then(|v| v.get_ref().as_str()))
                            .map(str::to_owned)
                            .unwrap_or_else(|| (n + 1).to_string());
                        let component = self.component(
                            inner,
                            self.location(item.span()),
                            format!("{name}.{label}."),
                            None,
                        );
                        if name == "transforms" {
                            pipeline.transforms.push(component);
                        } else {
                            pipeline.predicates.push(component);
                        }
                    }
                }
                (_, DeValue::Table(inner)) => {
                    self.flatten(inner, &format!("{name}."), "", &mut pipeline.entries);
                }
                (_, value) => pipeline.entries.push(Entry {
                    key: name.to_owned(),
                    path: name.to_owned(),
                    value: scalar(value),
                    location: key_location,
                }),
            }
        }
        take_flat_chains(&mut pipeline);
        Ok(pipeline)
    }
}

/// A TOML value as a raw value; tables and datetimes become [`RawValue::Other`].
fn scalar(value: &DeValue<'_>) -> RawValue {
    match value {
        DeValue::String(s) => RawValue::String(s.to_string()),
        DeValue::Integer(n) => i64::from_str_radix(n.as_str(), n.radix())
            .map(RawValue::Integer)
            .unwrap_or(RawValue::Other("an integer out of range")),
        DeValue::Float(x) => x
            .as_str()
            .parse()
            .map(RawValue::Float)
            .unwrap_or(RawValue::Other("float")),
        DeValue::Boolean(b) => RawValue::Boolean(*b),
        DeValue::Datetime(_) => RawValue::Other("datetime"),
        DeValue::Table(_) => RawValue::Other("table"),
        DeValue::Array(items) => {
            let strings: Option<Vec<String>> = items
                .iter()
                .map(|item| match scalar(item.get_ref()) {
                    RawValue::List(_) | RawValue::Other(_) => None,
                    other => other.as_config_string(),
                })
                .collect();
            strings
                .map(RawValue::List)
                .unwrap_or(RawValue::Other("nested array"))
        }
    }
}

/// Reads `text` (the contents of `file`).
pub(crate) fn read(text: &str, file: Arc<str>) -> RawDocument {
    let reader = Reader {
        lines: LineIndex::new(text),
        file: Arc::clone(&file),
    };
    let mut document = RawDocument::new(file);
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for error in errors {
            let line = error.span().map_or(0, |s| reader.lines.line_of(s.start));
            document.problems.push(Problem {
                location: Location::new(&document.file, line),
                pipeline: None,
                key: None,
                message: format!("invalid TOML: {}", error.message().trim()),
            });
        }
        return document;
    }
    for (key, value) in root.get_ref() {
        let name = key.get_ref().as_ref();
        match (name, value.get_ref()) {
            ("kafka", DeValue::Table(table)) => {
                reader.flatten(table, "", "", &mut document.kafka);
            }
            ("engine", DeValue::Table(table)) => {
                reader.flatten(table, "", "", &mut document.worker);
            }
            ("pipeline", DeValue::Array(items)) => {
                for item in items.iter() {
                    match reader.pipeline(item) {
                        Ok(pipeline) => document.pipelines.push(pipeline),
                        Err(problem) => document.problems.push(problem),
                    }
                }
            }
            ("pipeline", DeValue::Table(_)) => match reader.pipeline(value) {
                Ok(pipeline) => document.pipelines.push(pipeline),
                Err(problem) => document.problems.push(problem),
            },
            ("kafka" | "engine" | "pipeline", other) => document.problems.push(reader.problem(
                key.span(),
                name,
                format!(
                    "expected a table ([{name}]), found {}",
                    scalar(other).describe()
                ),
            )),
            _ => {
                let hint = did_you_mean(name, TOP_LEVEL_KEYS)
                    .map(|s| format!(" (did you mean \"{s}\"?)"))
                    .unwrap_or_else(|| " (expected [kafka], [engine] or [[pipeline]])".into());
                document.problems.push(reader.problem(
                    key.span(),
                    name,
                    format!("unknown key{hint}"),
                ));
            }
        }
    }
    document
}
