//! [`Checker`]: collects the problems of one pipeline, each located by file, line and key, while values are read.

use std::collections::{BTreeMap, BTreeSet};

use crate::connect::registry::ComponentKind;

use super::catalog::{kind_name, Catalog};
use super::clients::{client_accepts, ClientRole};
use super::pipeline_keys::{hint, KeyType, PipelineKey};
use super::problem::{did_you_mean, Location, Problem};
use super::raw::{Entry, RawComponent, RawValue};
use super::{ComponentConfig, Setting, Settings};

/// Collects problems for one pipeline.
pub(super) struct Checker<'a> {
    pub(super) catalog: &'a dyn Catalog,
    pub(super) pipeline: Option<String>,
    pub(super) problems: Vec<Problem>,
    /// The paths of password-type keys met so far.
    pub(super) secrets: BTreeSet<String>,
}

impl Checker<'_> {
    pub(super) fn report(
        &mut self,
        location: &Location,
        key: Option<&str>,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            location: location.clone(),
            pipeline: self.pipeline.clone(),
            key: key.map(str::to_owned),
            message: message.into(),
        });
    }

    pub(super) fn report_at(&mut self, entry: &Entry, message: impl Into<String>) {
        let location = entry.location.clone();
        let path = entry.path.clone();
        self.report(&location, Some(&path), message);
    }

    pub(super) fn string(&mut self, entry: &Entry) -> Option<String> {
        match &entry.value {
            RawValue::String(s) => Some(s.clone()),
            other => {
                self.report_at(
                    entry,
                    format!("expected a string, found {}", other.describe()),
                );
                None
            }
        }
    }

    pub(super) fn integer(&mut self, entry: &Entry, min: i64) -> Option<i64> {
        let value = match &entry.value {
            RawValue::Integer(n) => Some(*n),
            RawValue::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match value {
            Some(n) if n >= min => Some(n),
            Some(n) => {
                self.report_at(entry, format!("must be at least {min}, found {n}"));
                None
            }
            None => {
                let found = entry.value.describe();
                self.report_at(entry, format!("expected an integer, found {found}"));
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, entry: &Entry) -> Option<bool> {
        let value = match &entry.value {
            RawValue::Boolean(b) => Some(*b),
            RawValue::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
            RawValue::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        };
        if value.is_none() {
            let found = entry.value.describe();
            self.report_at(entry, format!("expected true or false, found {found}"));
        }
        value
    }

    pub(super) fn one_of(
        &mut self,
        entry: &Entry,
        allowed: &[&'static str],
    ) -> Option<&'static str> {
        let text = match &entry.value {
            RawValue::String(s) => s.trim().to_ascii_lowercase(),
            _ => String::new(),
        };
        let found = allowed.iter().copied().find(|a| *a == text);
        if found.is_none() {
            let list: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
            let describe = entry.value.describe();
            self.report_at(
                entry,
                format!("expected one of {}, found {describe}", list.join(", ")),
            );
        }
        found
    }

    /// Checks a key's value against its pipeline key type; `None` if it is wrong (and reported).
    pub(super) fn typed(&mut self, entry: &Entry, key: &PipelineKey) -> Option<String> {
        match key.ty {
            KeyType::String => self.string(entry),
            KeyType::Integer { min } => self.integer(entry, min).map(|n| n.to_string()),
            KeyType::Boolean => self.boolean(entry).map(|b| b.to_string()),
            KeyType::OneOf(allowed) => self.one_of(entry, allowed).map(str::to_owned),
            KeyType::Structure => {
                let found = entry.value.describe();
                self.report_at(entry, format!("expected a table, found {found}"));
                None
            }
        }
    }

    /// Validates a component: its `type` against the catalog, its keys against the type's `ConfigDef`.
    /// `structural` keys are the caller's (`name`, `predicate`, `negate`). Keys a Kafka source/sink does not
    /// declare but its client knows (`group.id`, …) go to `client_keys`.
    pub(super) fn component(
        &mut self,
        kind: ComponentKind,
        raw: &RawComponent,
        structural: &[&str],
        client: Option<(ClientRole, &mut Vec<Entry>)>,
    ) -> Option<ComponentConfig> {
        let what = kind_name(kind);
        let Some(type_entry) = raw.get("type") else {
            if !raw.path_prefix.is_empty() {
                let path = format!("{}type", raw.path_prefix);
                self.report(
                    &raw.location,
                    Some(&path),
                    format!("missing required key (the {what}'s type)"),
                );
            }
            return None;
        };
        let type_name = self.string(type_entry)?;
        let Some(info) = self.catalog.find(kind, &type_name) else {
            let components = self.catalog.components(kind);
            let known: Vec<&str> = components
                .iter()
                .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
                .collect();
            let short: Vec<&str> = components.iter().map(|c| c.name).collect();
            let suffix = match did_you_mean(&type_name, &known) {
                Some(s) => format!(" (did you mean \"{s}\"?)"),
                None if short.is_empty() => format!(" (no {what} types are registered)"),
                None => format!(" (known: {})", short.join(", ")),
            };
            self.report_at(
                type_entry,
                format!("unknown {what} type \"{type_name}\"{suffix}"),
            );
            return None;
        };
        let mut client = client.filter(|_| info.capabilities.kafka_client.is_some());
        let def = info.config;
        let declared: Vec<&str> = def.keys.iter().map(|k| k.name).collect();
        let mut values = BTreeMap::new();
        let mut settings = Settings::default();
        for entry in &raw.entries {
            if entry.key == "type" || structural.contains(&entry.key.as_str()) {
                continue;
            }
            let (client_took, client_suggestion) = match client.as_mut() {
                Some((role, client_keys)) => match client_accepts(*role, &entry.key) {
                    Ok(()) => {
                        client_keys.push(entry.clone());
                        (true, None)
                    }
                    Err(suggestion) => (false, suggestion),
                },
                None => (false, None),
            };
            if def.key(&entry.key).is_none() {
                if !client_took {
                    let suggestion = did_you_mean(&entry.key, &declared)
                        .or(client_suggestion)
                        .map(|s| format!("{}{s}", raw.path_prefix));
                    self.report_at(entry, format!("unknown key{}", hint(suggestion)));
                }
                continue;
            }
            let Some(value) = entry.value.as_config_string() else {
                let found = entry.value.describe();
                self.report_at(
                    entry,
                    format!("expected a string, number, boolean or list, found {found}"),
                );
                continue;
            };
            if def
                .key(&entry.key)
                .is_some_and(|k| k.ty == crate::connect::config_def::ConfigType::Password)
            {
                self.secrets.insert(entry.path.clone());
            }
            settings.0.insert(
                entry.key.clone(),
                Setting {
                    value: value.clone(),
                    location: entry.location.clone(),
                },
            );
            values.insert(entry.key.clone(), value);
        }
        let parsed = match def.parse(&values, &[]) {
            Ok(parsed) => Some(parsed),
            Err(problems) => {
                for problem in problems {
                    let path = format!("{}{}", raw.path_prefix, problem.key);
                    let location = settings
                        .location(&problem.key)
                        .cloned()
                        .unwrap_or_else(|| raw.location.clone());
                    let message = match problem.message.strip_prefix("required: ") {
                        Some(doc) => format!("missing required key ({doc})"),
                        None => problem.message,
                    };
                    self.report(&location, Some(&path), message);
                }
                None
            }
        };
        Some(ComponentConfig {
            kind,
            name: info.name,
            type_name,
            info,
            config: parsed?,
            settings,
            location: raw.location.clone(),
            path_prefix: raw.path_prefix.clone(),
        })
    }
}
