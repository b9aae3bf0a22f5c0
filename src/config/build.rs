//! Turns a [`RawDocument`] into an [`EngineConfig`], collecting every problem on the way: the document-level
//! checks and the order of the steps; each step lives in its own file (pipeline_settings, components,
//! client_resolution, run_spec), all reporting through one [`Checker`](super::checker::Checker).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::connect::registry::ComponentKind;

use super::catalog::{kind_name, Catalog};
use super::checker::Checker;
use super::client_resolution::{check_client, client_key_of, resolve_client};
use super::clients::{client_accepts, ClientRole};
use super::components::{build_converter, build_predicates, build_transforms};
use super::pipeline_keys::{hint, CONVERTER_SLOTS};
use super::pipeline_settings::read_pipeline_keys;
use super::problem::{ConfigErrors, Location, Problem};
use super::raw::{Entry, RawComponent, RawDocument, RawPipeline, RawValue};
use super::worker::WorkerConfig;
use super::{
    EngineConfig, PipelineConfig, Setting, Settings, DEFAULT_QUEUE_MAX_BYTES,
    DEFAULT_QUEUE_MAX_RECORDS,
};

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
        header_converter: header_converter.as_ref(),
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
        // As Kafka Connect's connectors do with `tasks.max`: no more tasks than the connector can use (a
        // second file-source task would read the same file again).
        tasks: [
            source.info.capabilities.max_tasks,
            sink.info.capabilities.max_tasks,
        ]
        .into_iter()
        .flatten()
        .fold(keys.tasks, u32::min),
        requested_tasks: keys.tasks,
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
        queue_max_bytes: keys.queue_max_bytes.unwrap_or(DEFAULT_QUEUE_MAX_BYTES),
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
    let mode = if document.distributed {
        super::worker::WorkerMode::Distributed {
            file: &document.file,
        }
    } else {
        super::worker::WorkerMode::Standalone
    };
    let (mut worker, worker_problems) = super::worker::build(&worker_entries, providers, mode);
    // Connectors created later (through REST) are built from these entries again: the declarations of the
    // config providers go with them, or their references would name providers the worker "declares none" of.
    worker.entries.extend(
        document
            .worker
            .iter()
            .filter(|e| e.key.starts_with("config.providers"))
            .cloned(),
    );
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
