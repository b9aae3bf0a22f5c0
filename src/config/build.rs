//! Turns a [`RawDocument`] into an [`EngineConfig`], collecting every problem on the way.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use crate::connect::registry::ComponentKind;

use super::catalog::{kind_name, Catalog};
use super::clients::{client_accepts, presets, ClientRole, ClientSetting, ClientSettings, Origin};
use super::problem::{did_you_mean, list_names, ConfigErrors, Location, Problem};
use super::raw::{Entry, RawComponent, RawDocument, RawPipeline, RawValue};
use super::worker::WorkerConfig;
use super::{
    ComponentConfig, Delivery, EngineConfig, ErrorHandling, PipelineConfig, PredicateConfig,
    Profile, Setting, Settings, Tolerance, TransformConfig, DEFAULT_QUEUE_MAX_RECORDS,
};

/// The type of a pipeline-level key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    String,
    /// A whole number with a lower bound.
    Integer {
        min: i64,
    },
    Boolean,
    OneOf(&'static [&'static str]),
    /// A table (`source`, `sink`) or array of tables (`transforms`, `predicates`).
    Structure,
}

/// One key a pipeline accepts: name, type, default (as documented) and meaning.
#[derive(Debug, Clone, Copy)]
pub struct PipelineKey {
    pub name: &'static str,
    pub ty: KeyType,
    pub default: &'static str,
    pub doc: &'static str,
}

const fn key(
    name: &'static str,
    ty: KeyType,
    default: &'static str,
    doc: &'static str,
) -> PipelineKey {
    PipelineKey {
        name,
        ty,
        default,
        doc,
    }
}

/// Every key of a `[[pipeline]]` besides the converter sub-keys (`value.converter.*`) and client overrides
/// (`producer.override.*`, `consumer.override.*`). docs/pipelines.md documents each.
pub const PIPELINE_KEYS: &[PipelineKey] = &[
    key(
        "name",
        KeyType::String,
        "(required)",
        "Unique name of the pipeline.",
    ),
    key(
        "delivery",
        KeyType::OneOf(&["at-least-once", "exactly-once"]),
        "at-least-once",
        "Delivery guarantee.",
    ),
    key(
        "tasks",
        KeyType::Integer { min: 1 },
        "1",
        "Number of tasks the pipeline runs as.",
    ),
    key(
        "profile",
        KeyType::OneOf(&["latency", "throughput"]),
        "(none)",
        "Client and queue presets.",
    ),
    key(
        "queue.max.records",
        KeyType::Integer { min: 1 },
        "1024",
        "Depth of the queues between stages, in records.",
    ),
    key(
        "source",
        KeyType::Structure,
        "(required)",
        "The source: { type = \"…\", keys… }.",
    ),
    key(
        "sink",
        KeyType::Structure,
        "(required)",
        "The sink: { type = \"…\", keys… }.",
    ),
    key(
        "transforms",
        KeyType::Structure,
        "(none)",
        "Transforms, applied in order.",
    ),
    key(
        "predicates",
        KeyType::Structure,
        "(none)",
        "Named predicates transforms refer to.",
    ),
    key(
        "key.converter",
        KeyType::String,
        "(the sink's own)",
        "Converter for record keys.",
    ),
    key(
        "value.converter",
        KeyType::String,
        "(the sink's own)",
        "Converter for record values.",
    ),
    key(
        "header.converter",
        KeyType::String,
        "(the sink's own)",
        "Converter for header values.",
    ),
    key(
        "errors.tolerance",
        KeyType::OneOf(&["none", "all"]),
        "none",
        "none: a bad record fails the task; all: skip it.",
    ),
    key(
        "errors.deadletterqueue.topic.name",
        KeyType::String,
        "(none)",
        "Topic failing records go to.",
    ),
    key(
        "errors.deadletterqueue.topic.replication.factor",
        KeyType::Integer { min: -1 },
        "-1",
        "Replication factor when the engine creates the dead-letter topic.",
    ),
    key(
        "errors.deadletterqueue.context.headers.enable",
        KeyType::Boolean,
        "false",
        "Add __connect.errors.* headers to dead-letter records.",
    ),
    key(
        "errors.retry.timeout",
        KeyType::Integer { min: -1 },
        "0",
        "How long to retry a failed operation, ms; -1: forever.",
    ),
    key(
        "errors.retry.delay.max.ms",
        KeyType::Integer { min: 0 },
        "60000",
        "Longest wait between retries, ms.",
    ),
    key(
        "errors.log.enable",
        KeyType::Boolean,
        "false",
        "Log each failing record's error.",
    ),
    key(
        "errors.log.include.messages",
        KeyType::Boolean,
        "false",
        "Include the record in that log line.",
    ),
];

const CONVERTER_SLOTS: &[&str] = &["key.converter", "value.converter", "header.converter"];

fn pipeline_key(name: &str) -> Option<&'static PipelineKey> {
    PIPELINE_KEYS.iter().find(|k| k.name == name)
}

fn hint(suggestion: Option<String>) -> String {
    suggestion
        .map(|s| format!(" (did you mean \"{s}\"?)"))
        .unwrap_or_default()
}

/// Collects problems for one pipeline.
struct Checker<'a> {
    catalog: &'a dyn Catalog,
    pipeline: Option<String>,
    problems: Vec<Problem>,
    /// The paths of password-type keys met so far.
    secrets: BTreeSet<String>,
}

impl Checker<'_> {
    fn report(&mut self, location: &Location, key: Option<&str>, message: impl Into<String>) {
        self.problems.push(Problem {
            location: location.clone(),
            pipeline: self.pipeline.clone(),
            key: key.map(str::to_owned),
            message: message.into(),
        });
    }

    fn report_at(&mut self, entry: &Entry, message: impl Into<String>) {
        let location = entry.location.clone();
        let path = entry.path.clone();
        self.report(&location, Some(&path), message);
    }

    fn string(&mut self, entry: &Entry) -> Option<String> {
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

    fn integer(&mut self, entry: &Entry, min: i64) -> Option<i64> {
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

    fn boolean(&mut self, entry: &Entry) -> Option<bool> {
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

    fn one_of(&mut self, entry: &Entry, allowed: &[&'static str]) -> Option<&'static str> {
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
    fn typed(&mut self, entry: &Entry, key: &PipelineKey) -> Option<String> {
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
    fn component(
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

/// What the pipeline-level keys said.
#[derive(Default)]
struct PipelineKeys {
    delivery: Delivery,
    tasks: u32,
    profile: Option<(Profile, Location)>,
    queue_max_records: Option<usize>,
    errors: ErrorHandling,
    converters: BTreeMap<&'static str, Entry>,
    converter_keys: BTreeMap<&'static str, Vec<Entry>>,
    overrides: Vec<(ClientRole, Entry)>,
    keys: Settings,
}

fn read_pipeline_keys(checker: &mut Checker<'_>, raw: &RawPipeline) -> PipelineKeys {
    let mut out = PipelineKeys {
        tasks: 1,
        ..PipelineKeys::default()
    };
    for entry in &raw.entries {
        if let Some(value) = entry.value.as_config_string() {
            out.keys.0.insert(
                entry.path.clone(),
                Setting {
                    value,
                    location: entry.location.clone(),
                },
            );
        }
        let name = entry.key.as_str();
        if let Some(slot) = CONVERTER_SLOTS.iter().find(|s| **s == name) {
            if checker.string(entry).is_some() {
                out.converters.insert(slot, entry.clone());
            }
            continue;
        }
        if let Some(slot) = CONVERTER_SLOTS.iter().find(|s| {
            name.strip_prefix(**s)
                .is_some_and(|r| r.starts_with('.') && r.len() > 1)
        }) {
            let sub = Entry {
                key: name[slot.len() + 1..].to_owned(),
                ..entry.clone()
            };
            out.converter_keys.entry(slot).or_default().push(sub);
            continue;
        }
        if let Some(role) = [ClientRole::Producer, ClientRole::Consumer]
            .into_iter()
            .find(|r| name.starts_with(r.override_prefix()))
        {
            let client_key = &name[role.override_prefix().len()..];
            match client_accepts(role, client_key) {
                Ok(()) => out.overrides.push((
                    role,
                    Entry {
                        key: client_key.to_owned(),
                        ..entry.clone()
                    },
                )),
                Err(suggestion) => {
                    let suggestion = suggestion.map(|s| format!("{}{s}", role.override_prefix()));
                    checker.report_at(entry, format!("unknown key{}", hint(suggestion)));
                }
            }
            continue;
        }
        let Some(key) = pipeline_key(name) else {
            let known: Vec<&str> = PIPELINE_KEYS.iter().map(|k| k.name).collect();
            checker.report_at(
                entry,
                format!("unknown key{}", hint(did_you_mean(name, &known))),
            );
            continue;
        };
        if key.name == "name" {
            continue;
        }
        let Some(value) = checker.typed(entry, key) else {
            continue;
        };
        let number = || value.parse::<i64>().unwrap_or_default();
        let errors = &mut out.errors;
        match key.name {
            "delivery" => {
                out.delivery = if value == "exactly-once" {
                    Delivery::ExactlyOnce
                } else {
                    Delivery::AtLeastOnce
                }
            }
            "tasks" => match u32::try_from(number()) {
                Ok(n) => out.tasks = n,
                Err(_) => checker.report_at(entry, format!("{value} tasks is too many")),
            },
            "profile" => {
                let profile = if value == "latency" {
                    Profile::Latency
                } else {
                    Profile::Throughput
                };
                out.profile = Some((profile, entry.location.clone()));
            }
            "queue.max.records" => out.queue_max_records = usize::try_from(number()).ok(),
            "errors.tolerance" => {
                errors.tolerance = if value == "all" {
                    Tolerance::All
                } else {
                    Tolerance::None
                }
            }
            "errors.deadletterqueue.topic.name" => {
                errors.dead_letter_topic = Some(value).filter(|t| !t.trim().is_empty())
            }
            "errors.deadletterqueue.topic.replication.factor" => match i16::try_from(number()) {
                Ok(n) => errors.dead_letter_replication_factor = n,
                Err(_) => checker.report_at(entry, "must be at most 32767"),
            },
            "errors.deadletterqueue.context.headers.enable" => {
                errors.context_headers_enable = value == "true"
            }
            "errors.retry.timeout" => {
                errors.retry_timeout = u64::try_from(number()).ok().map(Duration::from_millis)
            }
            "errors.retry.delay.max.ms" => {
                errors.retry_delay_max = Duration::from_millis(number().unsigned_abs())
            }
            "errors.log.enable" => errors.log_enable = value == "true",
            "errors.log.include.messages" => errors.log_include_messages = value == "true",
            _ => {}
        }
    }
    out
}

fn build_converter(
    checker: &mut Checker<'_>,
    slot: &'static str,
    keys: &PipelineKeys,
) -> Option<ComponentConfig> {
    let sub_keys = keys.converter_keys.get(slot).cloned().unwrap_or_default();
    let Some(entry) = keys.converters.get(slot) else {
        for sub in &sub_keys {
            checker.report_at(sub, format!("set without \"{slot}\""));
        }
        return None;
    };
    let mut entries = vec![Entry {
        key: "type".into(),
        ..entry.clone()
    }];
    entries.extend(sub_keys);
    let component = RawComponent {
        location: entry.location.clone(),
        path_prefix: format!("{slot}."),
        alias: None,
        entries,
    };
    checker.component(ComponentKind::Converter, &component, &[], None)
}

/// The transform aliases given so far, to make each new one unique (`mask`, `mask-2`, `mask-3`, …).
#[derive(Default)]
struct Aliases {
    taken: HashSet<String>,
    /// For each alias taken more than once, the suffix to try next: n transforms of one type cost n tries, not
    /// n² (each starting again from `-2`).
    next_suffix: HashMap<String, u64>,
}

impl Aliases {
    fn contains(&self, alias: &str) -> bool {
        self.taken.contains(alias)
    }

    /// Takes `alias`, or `alias-N` with the lowest N ≥ 2 not taken yet.
    fn take_unique(&mut self, alias: String) -> String {
        if self.taken.insert(alias.clone()) {
            return alias;
        }
        let suffix = self.next_suffix.entry(alias.clone()).or_insert(2);
        loop {
            let candidate = format!("{alias}-{suffix}");
            *suffix += 1;
            if self.taken.insert(candidate.clone()) {
                return candidate;
            }
        }
    }
}

fn build_predicates(checker: &mut Checker<'_>, raw: &RawPipeline) -> Vec<PredicateConfig> {
    let mut predicates: Vec<PredicateConfig> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for component in &raw.predicates {
        let alias = match (&component.alias, component.get("name")) {
            (Some(alias), _) => Some(alias.clone()),
            (None, Some(entry)) => checker.string(entry),
            (None, None) => {
                let path = format!("{}name", component.path_prefix);
                checker.report(
                    &component.location,
                    Some(&path),
                    "missing required key (transforms refer to a predicate by name)",
                );
                None
            }
        };
        if let Some(alias) = &alias {
            if !seen.insert(alias.clone()) {
                checker.report(
                    &component.location,
                    Some(&format!("{}name", component.path_prefix)),
                    format!("duplicate predicate name \"{alias}\""),
                );
            }
        }
        let built = checker.component(ComponentKind::Predicate, component, &["name"], None);
        if let (Some(alias), Some(component)) = (alias, built) {
            predicates.push(PredicateConfig { alias, component });
        }
    }
    predicates
}

fn build_transforms(
    checker: &mut Checker<'_>,
    raw: &RawPipeline,
    predicate_names: &[String],
) -> Vec<TransformConfig> {
    let mut transforms: Vec<TransformConfig> = Vec::new();
    let mut aliases = Aliases::default();
    let known: Vec<&str> = predicate_names.iter().map(String::as_str).collect();
    let defined: HashSet<&str> = known.iter().copied().collect();
    for component in &raw.transforms {
        let named = match (&component.alias, component.get("name")) {
            (Some(alias), _) => Some(alias.clone()),
            (None, Some(entry)) => checker.string(entry),
            (None, None) => None,
        };
        if let Some(name) = &named {
            if aliases.contains(name) {
                checker.report(
                    &component.location,
                    Some(&format!("{}name", component.path_prefix)),
                    format!("duplicate transform name \"{name}\""),
                );
            }
        }
        let predicate = component.get("predicate").and_then(|entry| {
            let name = checker.string(entry)?;
            if defined.contains(name.as_str()) {
                return Some(name);
            }
            let suffix = match did_you_mean(&name, &known) {
                Some(s) => format!(" (did you mean \"{s}\"?)"),
                None if known.is_empty() => " (the pipeline defines no predicates)".into(),
                None => format!(" (defined: {})", list_names(&known)),
            };
            checker.report_at(entry, format!("unknown predicate \"{name}\"{suffix}"));
            None
        });
        let negate = match component.get("negate") {
            Some(entry) => {
                let negate = checker.boolean(entry).unwrap_or(false);
                if component.get("predicate").is_none() {
                    checker.report_at(entry, "negate needs a predicate");
                }
                negate
            }
            None => false,
        };
        let built = checker.component(
            ComponentKind::Transform,
            component,
            &["name", "predicate", "negate"],
            None,
        );
        let Some(built) = built else {
            continue;
        };
        let alias = aliases.take_unique(named.unwrap_or_else(|| built.type_name.clone()));
        transforms.push(TransformConfig {
            alias,
            component: built,
            predicate,
            negate,
        });
    }
    transforms
}

fn to_settings(entries: &[Entry]) -> Settings {
    let mut settings = Settings::default();
    for entry in entries {
        if let Some(value) = entry.value.as_config_string() {
            settings.0.insert(
                entry.key.clone(),
                Setting {
                    value,
                    location: entry.location.clone(),
                },
            );
        }
    }
    settings
}

/// The client settings of one pipeline, lowest precedence first.
fn resolve_client(
    role: ClientRole,
    kafka: &[(Entry, bool, bool)],
    keys: &PipelineKeys,
    component_keys: &[Entry],
) -> ClientSettings {
    let mut settings = ClientSettings::default();
    settings.set(ClientSetting {
        key: "bootstrap.servers".into(),
        value: "localhost:9092".into(),
        path: "bootstrap.servers".into(),
        origin: Origin::Default,
    });
    if role == ClientRole::Consumer {
        // As a Kafka Connect worker does for sink connectors: a new group reads a topic from its start.
        settings.set(ClientSetting {
            key: "auto.offset.reset".into(),
            value: "earliest".into(),
            path: "auto.offset.reset".into(),
            origin: Origin::Default,
        });
    }
    if let Some((profile, location)) = &keys.profile {
        for (key, value) in presets(*profile, role) {
            settings.set(ClientSetting {
                key: (*key).into(),
                value: (*value).into(),
                path: "profile".into(),
                origin: Origin::Profile(*profile, location.clone()),
            });
        }
    }
    if keys.delivery == Delivery::ExactlyOnce {
        let (key, value) = match role {
            ClientRole::Producer => ("enable.idempotence", "true"),
            ClientRole::Consumer => ("isolation.level", "read_committed"),
        };
        let location = keys.keys.location("delivery").cloned();
        if let Some(location) = location {
            settings.set(ClientSetting {
                key: key.into(),
                value: value.into(),
                path: "delivery".into(),
                origin: Origin::Delivery(location),
            });
        }
    }
    for (entry, producer, consumer) in kafka {
        let wanted = match role {
            ClientRole::Producer => *producer,
            ClientRole::Consumer => *consumer,
        };
        if let (true, Some(value)) = (wanted, entry.value.as_config_string()) {
            settings.set(ClientSetting {
                key: entry.key.clone(),
                value,
                path: entry.path.clone(),
                origin: Origin::Kafka(entry.location.clone()),
            });
        }
    }
    let overrides = keys
        .overrides
        .iter()
        .filter(|(r, _)| *r == role)
        .map(|(_, e)| (e, true));
    let component = component_keys.iter().map(|e| (e, false));
    for (entry, is_override) in component.chain(overrides) {
        if let Some(value) = entry.value.as_config_string() {
            settings.set(ClientSetting {
                key: entry.key.clone(),
                value,
                path: entry.path.clone(),
                origin: if is_override {
                    Origin::Override(entry.location.clone())
                } else {
                    Origin::Component(entry.location.clone())
                },
            });
        }
    }
    settings
}

fn check_client(
    checker: &mut Checker<'_>,
    role: ClientRole,
    settings: &ClientSettings,
    file_start: &Location,
) {
    for (error, setting) in settings.problems(role) {
        match setting {
            Some(setting) => {
                let pipeline = match setting.origin {
                    Origin::Kafka(_) | Origin::Default => None,
                    _ => checker.pipeline.clone(),
                };
                let location = setting
                    .origin
                    .location()
                    .cloned()
                    .unwrap_or_else(|| file_start.clone());
                let message = match &setting.origin {
                    Origin::Profile(profile, _) => {
                        format!(
                            "profile \"{}\" sets {}={}: {error}",
                            profile.as_str(),
                            setting.key,
                            setting.value
                        )
                    }
                    _ => error.to_string(),
                };
                checker.problems.push(Problem {
                    location,
                    pipeline,
                    key: Some(setting.path.clone()),
                    message,
                });
            }
            None => checker.report(file_start, None, error.to_string()),
        }
    }
}

/// The client key a flat connector key sets: `producer.override.X`, `consumer.override.X`, `producer.X`,
/// `consumer.X` and `admin.X` set `X`; any other key may be a client key itself.
pub(crate) fn client_key_of(key: &str) -> &str {
    [
        "producer.override.",
        "consumer.override.",
        "producer.",
        "consumer.",
        "admin.",
    ]
    .iter()
    .find_map(|prefix| key.strip_prefix(prefix))
    .unwrap_or(key)
}

fn build_pipeline(
    catalog: &dyn Catalog,
    raw: &RawPipeline,
    kafka: &[(Entry, bool, bool)],
    name: Option<String>,
    worker: &WorkerConfig,
) -> (Option<PipelineConfig>, Vec<Problem>) {
    let mut checker = Checker {
        catalog,
        pipeline: name.clone(),
        problems: Vec::new(),
        secrets: BTreeSet::new(),
    };
    for problem in &raw.problems {
        checker.problems.push(Problem {
            pipeline: name.clone(),
            ..problem.clone()
        });
    }
    let keys = read_pipeline_keys(&mut checker, raw);
    for (role, entry) in &keys.overrides {
        if !worker.override_policy.allows(&entry.key) {
            checker.report_at(
                entry,
                format!(
                    "the worker's connector.client.config.override.policy={:?} does not let a connector override {} settings' {}",
                    worker.override_policy,
                    match role {
                        ClientRole::Producer => "producer",
                        ClientRole::Consumer => "consumer",
                    },
                    entry.key
                ),
            );
        }
    }
    let mut consumer_keys = Vec::new();
    let mut producer_keys = Vec::new();
    let required = |checker: &mut Checker<'_>,
                    kind: ComponentKind,
                    component: &Option<RawComponent>,
                    client: (ClientRole, &mut Vec<Entry>)| {
        match component {
            Some(component) => checker.component(kind, component, &[], Some(client)),
            None => {
                let what = kind_name(kind);
                checker.report(&raw.location, Some(what), "missing required key");
                None
            }
        }
    };
    let source = required(
        &mut checker,
        ComponentKind::Source,
        &raw.source,
        (ClientRole::Consumer, &mut consumer_keys),
    );
    let sink = required(
        &mut checker,
        ComponentKind::Sink,
        &raw.sink,
        (ClientRole::Producer, &mut producer_keys),
    );
    let key_converter = build_converter(&mut checker, "key.converter", &keys);
    let value_converter = build_converter(&mut checker, "value.converter", &keys);
    let header_converter = build_converter(&mut checker, "header.converter", &keys);
    let predicates = build_predicates(&mut checker, raw);
    let mut predicate_names: Vec<String> = predicates.iter().map(|p| p.alias.clone()).collect();
    // A predicate that failed validation is still defined: don't also call references to it unknown.
    for component in &raw.predicates {
        if let Some(alias) = component.alias.clone().or_else(|| {
            component.get("name").and_then(|e| match &e.value {
                RawValue::String(s) => Some(s.clone()),
                _ => None,
            })
        }) {
            predicate_names.push(alias);
        }
    }
    let transforms = build_transforms(&mut checker, raw, &predicate_names);
    let producer = resolve_client(ClientRole::Producer, kafka, &keys, &producer_keys);
    let consumer = resolve_client(ClientRole::Consumer, kafka, &keys, &consumer_keys);
    let file_start = Location::new(&raw.location.file, 0);
    check_client(&mut checker, ClientRole::Producer, &producer, &file_start);
    check_client(&mut checker, ClientRole::Consumer, &consumer, &file_start);
    let overrides = |role: ClientRole| {
        let entries: Vec<Entry> = keys
            .overrides
            .iter()
            .filter(|(r, _)| *r == role)
            .map(|(_, e)| e.clone())
            .collect();
        to_settings(&entries)
    };
    let mut problems = std::mem::take(&mut checker.problems);
    let (Some(name), Some(source), Some(sink), true) = (name, source, sink, problems.is_empty())
    else {
        return (None, problems);
    };
    let admin_overrides = worker.admin.clone();
    let run = super::run_spec::build(&super::run_spec::Parts {
        name: &name,
        location: &raw.location,
        delivery: keys.delivery,
        source: &source,
        sink: &sink,
        key_converter: key_converter.as_ref(),
        value_converter: value_converter.as_ref(),
        transforms: &transforms,
        predicates: &predicates,
        producer: &producer,
        consumer: &consumer,
        admin_overrides: &admin_overrides,
    });
    let run = match run {
        Ok(run) => run,
        Err(found) => {
            problems.extend(found);
            return (None, problems);
        }
    };
    let pipeline = PipelineConfig {
        name,
        location: raw.location.clone(),
        delivery: keys.delivery,
        tasks: keys.tasks,
        profile: keys.profile.as_ref().map(|(p, _)| *p),
        source,
        sink,
        transforms,
        predicates,
        key_converter,
        value_converter,
        header_converter,
        errors: keys.errors.clone(),
        queue_max_records: keys
            .queue_max_records
            .or(keys.profile.as_ref().map(|(p, _)| p.queue_max_records()))
            .unwrap_or(DEFAULT_QUEUE_MAX_RECORDS),
        producer_overrides: overrides(ClientRole::Producer),
        consumer_overrides: overrides(ClientRole::Consumer),
        producer,
        consumer,
        keys: keys.keys,
        offset_flush_interval: worker
            .offset_flush_interval
            .unwrap_or(super::DEFAULT_OFFSET_FLUSH_INTERVAL),
        admin_overrides,
        resolved_keys: BTreeSet::new(),
        run,
        connector_config: raw.flat_form(),
        secret_keys: {
            let mut secrets = checker.secrets;
            secrets.extend(
                raw.flat_form()
                    .into_keys()
                    .filter(|key| super::clients::is_secret_key(client_key_of(key))),
            );
            secrets
        },
    };
    (Some(pipeline), problems)
}

/// Resolves config provider references in every entry of `pipeline`; returns the entries that held one by
/// path (and by flat key), with what they resolved to.
fn resolve_pipeline(
    providers: &super::providers::ConfigProviders,
    pipeline: &mut RawPipeline,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, String> {
    let mut resolved = providers.resolve(&mut pipeline.entries, problems);
    for (prefix, component) in [
        ("source", &mut pipeline.source),
        ("sink", &mut pipeline.sink),
    ] {
        if let Some(component) = component {
            let found = providers.resolve(&mut component.entries, problems);
            for entry in &component.entries {
                if let Some(value) = found.get(&entry.path) {
                    // The flat key too (a connector's `file` is its pipeline's `source.file`).
                    resolved.insert(format!("{prefix}.{}", entry.key), value.clone());
                }
            }
            resolved.extend(found);
        }
    }
    for component in pipeline
        .transforms
        .iter_mut()
        .chain(pipeline.predicates.iter_mut())
    {
        resolved.extend(providers.resolve(&mut component.entries, problems));
    }
    resolved
}

/// Problems never repeat what a config provider reference resolved to.
fn redact(problems: &mut [Problem], resolved: &BTreeMap<String, String>) {
    for value in resolved.values().filter(|v| v.len() >= 3) {
        for problem in problems.iter_mut() {
            if problem.message.contains(value.as_str()) {
                problem.message = problem.message.replace(value.as_str(), super::HIDDEN);
            }
        }
    }
}

/// Gives a pipeline that sets no converter of a slot the worker's converter of that slot (with its sub-keys).
fn apply_worker_converters(worker: &WorkerConfig, pipeline: &mut RawPipeline) {
    for slot in CONVERTER_SLOTS {
        if pipeline.entries.iter().any(|e| e.key == *slot) {
            continue;
        }
        let below = format!("{slot}.");
        pipeline.entries.extend(
            worker
                .converters
                .iter()
                .filter(|e| e.key == *slot || e.key.starts_with(&below))
                .cloned(),
        );
    }
}

/// Validates a whole document.
pub(crate) fn build(
    mut document: RawDocument,
    catalog: &dyn Catalog,
) -> Result<EngineConfig, ConfigErrors> {
    let mut problems = document.problems.clone();
    // The worker first: its config providers resolve references everywhere, its keys are every pipeline's
    // defaults.
    let providers = super::providers::read(&document.worker, &mut problems);
    let worker_entries: Vec<Entry> = document
        .worker
        .iter()
        .filter(|e| !e.key.starts_with("config.providers"))
        .cloned()
        .collect();
    let mut worker_entries = worker_entries;
    let mut every_resolved = providers.resolve(&mut worker_entries, &mut problems);
    let (worker, worker_problems) = super::worker::build(&worker_entries, providers);
    problems.extend(worker_problems);
    let mut pipeline_resolved = Vec::with_capacity(document.pipelines.len());
    for pipeline in &mut document.pipelines {
        // As written, before references resolve and worker defaults join in.
        pipeline.submitted = Some(pipeline.flat_form());
        let resolved = resolve_pipeline(&worker.providers, pipeline, &mut problems);
        every_resolved.extend(resolved.clone());
        pipeline_resolved.push(resolved);
        apply_worker_converters(&worker, pipeline);
    }
    every_resolved.extend(worker.providers.resolve(&mut document.kafka, &mut problems));
    // [kafka]: a key must be known to the producer or the consumer (or both). The worker's client keys come
    // first (the [kafka] table wins over them), each for the clients it names.
    let mut kafka = Vec::new();
    let worker_clients = [
        (&worker.client, true, true),
        (&worker.producer, true, false),
        (&worker.consumer, false, true),
    ];
    for (settings, producer, consumer) in worker_clients {
        for (key, setting) in &settings.0 {
            let entry = Entry {
                key: key.clone(),
                path: key.clone(),
                value: RawValue::String(setting.value.clone()),
                location: setting.location.clone(),
            };
            kafka.push((entry, producer, consumer));
        }
    }
    for entry in &document.kafka {
        let producer = client_accepts(ClientRole::Producer, &entry.key);
        let consumer = client_accepts(ClientRole::Consumer, &entry.key);
        if let (Err(a), Err(b)) = (&producer, &consumer) {
            problems.push(Problem {
                location: entry.location.clone(),
                pipeline: None,
                key: Some(entry.path.clone()),
                message: format!("unknown key{}", hint(a.clone().or(b.clone()))),
            });
            continue;
        }
        if entry.value.as_config_string().is_none() {
            problems.push(Problem {
                location: entry.location.clone(),
                pipeline: None,
                key: Some(entry.path.clone()),
                message: format!(
                    "expected a string, number or boolean, found {}",
                    entry.value.describe()
                ),
            });
            continue;
        }
        kafka.push((entry.clone(), producer.is_ok(), consumer.is_ok()));
    }
    let mut pipelines = Vec::new();
    let mut names: HashMap<String, Location> = HashMap::new();
    for (index, raw) in document.pipelines.iter().enumerate() {
        let name = match raw.get("name") {
            None => {
                problems.push(Problem {
                    location: raw.location.clone(),
                    pipeline: None,
                    key: Some("name".into()),
                    message: "missing required key".into(),
                });
                None
            }
            Some(entry) => match &entry.value {
                RawValue::String(s) if !s.trim().is_empty() => {
                    if let Some(first) = names.get(s) {
                        problems.push(Problem {
                            location: entry.location.clone(),
                            pipeline: None,
                            key: Some(entry.path.clone()),
                            message: format!(
                                "duplicate pipeline name \"{s}\" (first defined at line {})",
                                first.line
                            ),
                        });
                    }
                    names
                        .entry(s.clone())
                        .or_insert_with(|| entry.location.clone());
                    Some(s.clone())
                }
                other => {
                    problems.push(Problem {
                        location: entry.location.clone(),
                        pipeline: None,
                        key: Some(entry.path.clone()),
                        message: format!("expected a non-empty string, found {}", other.describe()),
                    });
                    None
                }
            },
        };
        let (pipeline, found) = build_pipeline(catalog, raw, &kafka, name, &worker);
        problems.extend(found);
        pipelines.extend(pipeline.map(|mut p| {
            p.resolved_keys = pipeline_resolved[index].keys().cloned().collect();
            p
        }));
    }
    if document.pipelines.is_empty() && problems.is_empty() && !document.worker_only {
        problems.push(Problem {
            location: Location::new(&document.file, 0),
            pipeline: None,
            key: None,
            message: "no pipelines: add a [[pipeline]] table".into(),
        });
    }
    // Problems of the [kafka] table show up once per pipeline: keep the first.
    let mut seen: HashSet<Problem> = HashSet::with_capacity(problems.len());
    let mut unique: Vec<Problem> = Vec::with_capacity(problems.len());
    for problem in problems {
        if seen.insert(problem.clone()) {
            unique.push(problem);
        }
    }
    unique.sort_by(|a, b| a.location.cmp(&b.location));
    redact(&mut unique, &every_resolved);
    if !unique.is_empty() {
        return Err(ConfigErrors { problems: unique });
    }
    Ok(EngineConfig {
        file: document.file,
        kafka: to_settings(&kafka.into_iter().map(|(e, _, _)| e).collect::<Vec<_>>()),
        worker,
        pipelines,
    })
}
