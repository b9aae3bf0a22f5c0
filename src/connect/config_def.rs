//! Declared configuration keys of a connector, converter, transform or predicate (Kafka Connect's `ConfigDef`).
//!
//! A component lists its keys once — name, type, default, documentation, allowed values — and that list is
//! used to validate user config (unknown keys get a "did you mean"), to fill defaults, and to print docs.

use std::collections::BTreeMap;

/// The type of a config value, as Kafka Connect names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    String,
    Int,
    Long,
    Double,
    Boolean,
    /// Comma-separated list.
    List,
    Password,
}

/// One declared key.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    pub name: &'static str,
    pub ty: ConfigType,
    /// `None` with `required: false` means "absent unless given".
    pub default: Option<&'static str>,
    pub required: bool,
    pub doc: &'static str,
    /// When set, the value must be one of these (case-insensitive).
    pub valid_values: Option<&'static [&'static str]>,
}

impl ConfigKey {
    pub const fn optional(
        name: &'static str,
        ty: ConfigType,
        default: Option<&'static str>,
        doc: &'static str,
    ) -> Self {
        Self {
            name,
            ty,
            default,
            required: false,
            doc,
            valid_values: None,
        }
    }

    pub const fn required(name: &'static str, ty: ConfigType, doc: &'static str) -> Self {
        Self {
            name,
            ty,
            default: None,
            required: true,
            doc,
            valid_values: None,
        }
    }

    pub const fn one_of(mut self, values: &'static [&'static str]) -> Self {
        self.valid_values = Some(values);
        self
    }
}

/// One problem with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.key, self.message)
    }
}

/// Values after validation: every declared key with a value or default is present.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedConfig {
    values: BTreeMap<String, String>,
}

impl ParsedConfig {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn string(&self, key: &str) -> Option<String> {
        self.get(key).map(str::to_owned)
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.trim().parse().ok())
    }

    pub fn double(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(|v| v.trim().parse().ok())
    }

    pub fn boolean(&self, key: &str) -> Option<bool> {
        self.get(key).map(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// A comma-separated list, entries trimmed, empty entries dropped.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Keys under `prefix.` (e.g. `renames` entries), without the prefix.
    pub fn with_prefix(&self, prefix: &str) -> BTreeMap<String, String> {
        let dotted = format!("{prefix}.");
        self.values
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(&dotted)
                    .map(|rest| (rest.to_owned(), v.clone()))
            })
            .collect()
    }
}

/// The keys a component accepts.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    pub keys: &'static [ConfigKey],
}

impl ConfigDef {
    pub const fn new(keys: &'static [ConfigKey]) -> Self {
        Self { keys }
    }

    pub fn key(&self, name: &str) -> Option<&ConfigKey> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// Checks `values` against the declared keys; every problem is reported, not just the first.
    /// Keys starting with one of `passthrough_prefixes` (e.g. a converter's own `value.converter.` keys) are
    /// kept without checking.
    pub fn parse(
        &self,
        values: &BTreeMap<String, String>,
        passthrough_prefixes: &[&str],
    ) -> Result<ParsedConfig, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut parsed = BTreeMap::new();
        for (name, value) in values {
            if passthrough_prefixes.iter().any(|p| name.starts_with(p)) {
                parsed.insert(name.clone(), value.clone());
                continue;
            }
            let Some(key) = self.key(name) else {
                let names: Vec<&str> = self.keys.iter().map(|k| k.name).collect();
                let hint = crate::client::config::closest(name, &names)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_else(|| format!(" (known keys: {})", names.join(", ")));
                problems.push(ConfigProblem {
                    key: name.clone(),
                    message: format!("unknown key{hint}"),
                });
                continue;
            };
            if let Err(message) = check_value(key, value) {
                problems.push(ConfigProblem {
                    key: name.clone(),
                    message,
                });
                continue;
            }
            parsed.insert(name.clone(), value.clone());
        }
        for key in self.keys {
            if parsed.contains_key(key.name) {
                continue;
            }
            match key.default {
                Some(default) => {
                    parsed.insert(key.name.to_owned(), default.to_owned());
                }
                None if key.required => problems.push(ConfigProblem {
                    key: key.name.to_owned(),
                    message: format!("required: {}", key.doc),
                }),
                None => {}
            }
        }
        if problems.is_empty() {
            Ok(ParsedConfig { values: parsed })
        } else {
            Err(problems)
        }
    }
}

fn check_value(key: &ConfigKey, value: &str) -> Result<(), String> {
    let v = value.trim();
    let ok = match key.ty {
        ConfigType::Int => v.parse::<i32>().is_ok(),
        ConfigType::Long => v.parse::<i64>().is_ok(),
        ConfigType::Double => v.parse::<f64>().is_ok(),
        ConfigType::Boolean => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
        ConfigType::String | ConfigType::List | ConfigType::Password => true,
    };
    if !ok {
        return Err(format!("`{value}` is not a valid {:?}", key.ty).to_lowercase());
    }
    if let Some(valid) = key.valid_values {
        let entries: Vec<&str> = if key.ty == ConfigType::List {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        } else {
            vec![v]
        };
        for entry in entries {
            if !valid.iter().any(|x| x.eq_ignore_ascii_case(entry)) {
                return Err(format!("`{entry}` is not one of {}", valid.join(", ")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEF: ConfigDef = ConfigDef::new(&[
        ConfigKey::required("field", ConfigType::String, "Field name"),
        ConfigKey::optional(
            "batch.size",
            ConfigType::Int,
            Some("2000"),
            "Records per batch",
        ),
        ConfigKey::optional(
            "behavior.on.null",
            ConfigType::String,
            Some("fail"),
            "What to do",
        )
        .one_of(&["fail", "ignore"]),
    ]);

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_fill_in_and_values_parse() {
        let parsed = DEF.parse(&map(&[("field", "id")]), &[]).unwrap();
        assert_eq!(parsed.int("batch.size"), Some(2000));
        assert_eq!(parsed.get("field"), Some("id"));
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let problems = DEF
            .parse(
                &map(&[("batch.sise", "1"), ("behavior.on.null", "explode")]),
                &[],
            )
            .unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|p| p.contains("batch.sise") && p.contains("did you mean `batch.size`")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|p| p.contains("behavior.on.null") && p.contains("fail, ignore")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|p| p.starts_with("`field`: required")),
            "{text:?}"
        );
    }

    #[test]
    fn passthrough_prefixes_are_kept() {
        let parsed = DEF
            .parse(
                &map(&[("field", "x"), ("value.converter.schemas.enable", "false")]),
                &["value.converter."],
            )
            .unwrap();
        assert_eq!(
            parsed
                .with_prefix("value.converter")
                .get("schemas.enable")
                .map(String::as_str),
            Some("false")
        );
    }
}
