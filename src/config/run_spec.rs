//! The typed parts the engine runs, built from a validated pipeline once, during validation: the source's and
//! sink's configs, the converters, the transform chain and the clients' configs. Whatever cannot be built is a
//! problem at its file, line and key, like any other — so `engine validate` catches it and the engine never
//! parses a string.

use crate::client::config::{CommonConfig, ConsumerConfig, ProducerConfig};
use crate::client::topic_name::topic_name_problem;
use crate::connect::config_def::{ConfigProblem, ParsedConfig};
use crate::connect::connector::Converters;
use crate::connect::connectors::kafka::SinkProducer;
use crate::connect::connectors::{SinkConfig, SourceConfig};
use crate::connect::converters::{Converter, ConverterBuildError};
use crate::connect::transforms::predicates::Predicate;
use crate::connect::transforms::{Transform, TransformChain};

use super::clients::ClientSettings;
use super::problem::{Location, Problem};
use super::{ComponentConfig, Delivery, PredicateConfig, Settings, TransformConfig};

/// A part built once that each task takes its own copy of: converters and transforms keep per-task scratch
/// (caches in `RefCell`s), so the original is never used, only cloned, behind a lock that makes the spec
/// shareable with the cores.
#[derive(Debug)]
pub struct Prototype<T>(std::sync::Mutex<T>);

impl<T: Clone> Prototype<T> {
    pub fn new(part: T) -> Self {
        Self(std::sync::Mutex::new(part))
    }

    /// A copy for one task.
    pub fn instance(&self) -> T {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl<T: Clone> Clone for Prototype<T> {
    fn clone(&self) -> Self {
        Self::new(self.instance())
    }
}

/// What the engine runs for one pipeline.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub source: SourceConfig,
    pub sink: SinkConfig,
    /// The key and value converters.
    pub converters: Prototype<Converters>,
    /// The transforms in order, each with its predicate.
    pub chain: Prototype<TransformChain>,
    /// The producer settings (the dead-letter producer; the Kafka sink has its own in `sink`).
    pub producer: ProducerConfig,
    /// The consumer settings (reading the offsets topic back; the Kafka source has its own in `source`).
    pub consumer: ConsumerConfig,
    /// The admin client settings (creating the offsets topic): the producer's common keys, then `admin.*`.
    pub admin: CommonConfig,
}

/// What a pipeline's parts are, for [`build`].
pub(crate) struct Parts<'a> {
    pub name: &'a str,
    pub location: &'a Location,
    pub delivery: Delivery,
    pub source: &'a ComponentConfig,
    pub sink: &'a ComponentConfig,
    pub key_converter: Option<&'a ComponentConfig>,
    pub value_converter: Option<&'a ComponentConfig>,
    pub header_converter: Option<&'a ComponentConfig>,
    pub transforms: &'a [TransformConfig],
    pub predicates: &'a [PredicateConfig],
    pub producer: &'a ClientSettings,
    pub consumer: &'a ClientSettings,
    pub admin_overrides: &'a Settings,
}

/// Problems of component `component`, each at the line of its key.
fn component_problems(
    parts: &Parts<'_>,
    component: &ComponentConfig,
    problems: Vec<ConfigProblem>,
) -> Vec<Problem> {
    problems
        .into_iter()
        .map(|p| Problem {
            location: component
                .settings
                .location(&p.key)
                .cloned()
                .unwrap_or_else(|| component.location.clone()),
            pipeline: Some(parts.name.to_owned()),
            key: Some(format!("{}{}", component.path_prefix, p.key)),
            message: p.message,
        })
        .collect()
}

fn problem(parts: &Parts<'_>, location: &Location, key: &str, message: String) -> Problem {
    Problem {
        location: location.clone(),
        pipeline: Some(parts.name.to_owned()),
        key: Some(key.to_owned()),
        message,
    }
}

fn converter(
    parts: &Parts<'_>,
    component: Option<&ComponentConfig>,
    slot: &str,
    is_key: bool,
    problems: &mut Vec<Problem>,
) -> Option<Converter> {
    let default_config = ParsedConfig::default();
    let (name, config, location) = match component {
        Some(c) => (c.name, &c.config, &c.location),
        // Kafka Connect's worker default.
        None => ("json", &default_config, parts.location),
    };
    match Converter::build(name, config, is_key) {
        Ok(converter) => Some(converter),
        // A problem with one of the converter's keys is reported at that key's line when it is set.
        Err(ConverterBuildError::InvalidConfig { key, message, .. }) => {
            let at = component
                .and_then(|c| c.settings.location(key))
                .unwrap_or(location);
            problems.push(problem(parts, at, &format!("{slot}.{key}"), message));
            None
        }
        Err(e) => {
            problems.push(problem(parts, location, slot, e.to_string()));
            None
        }
    }
}

/// The header converter: `Some(None)` for Kafka's default `SimpleHeaderConverter` (set or not), `None` when it
/// cannot be built (a problem is recorded).
fn header_converter(parts: &Parts<'_>, problems: &mut Vec<Problem>) -> Option<Option<Converter>> {
    let Some(component) = parts.header_converter else {
        return Some(None);
    };
    if crate::connect::converters::canonical_name(component.name) == Some("simple") {
        return Some(None);
    }
    converter(parts, Some(component), "header.converter", false, problems).map(Some)
}

fn chain(parts: &Parts<'_>, problems: &mut Vec<Problem>) -> Option<TransformChain> {
    let mut transforms = Vec::with_capacity(parts.transforms.len());
    let mut ok = true;
    for t in parts.transforms {
        let key = format!("{}type", t.component.path_prefix);
        let mut transform = match Transform::build(&t.component.type_name, &t.component.config) {
            Ok(transform) => transform,
            Err(e) => {
                problems.push(problem(parts, &t.component.location, &key, e.to_string()));
                ok = false;
                continue;
            }
        };
        if let Some(name) = &t.predicate {
            let Some(p) = parts.predicates.iter().find(|p| &p.alias == name) else {
                problems.push(problem(
                    parts,
                    &t.component.location,
                    &format!("{}predicate", t.component.path_prefix),
                    format!("unknown predicate `{name}`"),
                ));
                ok = false;
                continue;
            };
            match Predicate::build(&p.component.type_name, &p.component.config) {
                Ok(predicate) => transform = transform.with_predicate(predicate, t.negate),
                Err(e) => {
                    let key = format!("{}type", p.component.path_prefix);
                    problems.push(problem(parts, &p.component.location, &key, e.to_string()));
                    ok = false;
                    continue;
                }
            }
        }
        transforms.push(transform);
    }
    ok.then(|| TransformChain::new(transforms))
}

/// The topics records will be written to can exist: a source's `topic` is a valid name, and a sink that
/// writes to Kafka knows where each record goes (its own `topic`, a routing transform, or the source's topic).
fn check_topics(
    parts: &Parts<'_>,
    source: &SourceConfig,
    sink: &SinkConfig,
    chain: &TransformChain,
    problems: &mut Vec<Problem>,
) {
    if let Some(message) = source.records_topic().and_then(topic_name_problem) {
        let topic = ConfigProblem {
            key: "topic".into(),
            message,
        };
        problems.extend(component_problems(parts, parts.source, vec![topic]));
    }
    if !sink.capabilities().writes_to_kafka()
        || sink.fixed_topic().is_some()
        || chain.renames_topics()
    {
        return;
    }
    let source_name = parts.source.name;
    let message = if source.capabilities().kafka_client.is_some() {
        Some(
            "names no topic, so every record would be written back to the topic it was read from; set `topic`, \
             or rename records with a RegexRouter or TimestampRouter transform"
                .to_owned(),
        )
    } else if source.records_topic().is_none() && !source.names_record_topics() {
        Some(format!(
            "names no topic, and the {source_name} source gives its records none; set `topic` here (or the \
             source's `topic`), or name records with a RegexRouter or TimestampRouter transform"
        ))
    } else {
        None
    };
    if let Some(message) = message {
        let topic = ConfigProblem {
            key: "topic".into(),
            message,
        };
        problems.extend(component_problems(parts, parts.sink, vec![topic]));
    }
}

/// Builds everything the engine runs, or says at which key it cannot be built.
pub(crate) fn build(parts: &Parts<'_>) -> Result<RunSpec, Vec<Problem>> {
    let mut problems = Vec::new();
    // The client settings were checked key by key during validation; this only types them.
    let producer_map = parts.producer.config_map();
    let producer = ProducerConfig::from_map(producer_map.clone())
        .map_err(|e| problems.push(problem(parts, parts.location, "producer", e.to_string())))
        .ok();
    let consumer = ConsumerConfig::from_map(parts.consumer.config_map())
        .map_err(|e| problems.push(problem(parts, parts.location, "consumer", e.to_string())))
        .ok();
    // The admin client (offsets topic) takes every setting all clients share (timeouts, backoffs, frame limit)
    // as the producer has it, so a `[kafka]` key such as reconnect.backoff.ms applies to it too.
    let mut admin_map = crate::client::config::ConfigMap::new();
    for key in crate::client::config::admin_keys() {
        if let Some(value) = producer_map.get(key) {
            admin_map.set(key, value);
        }
    }
    for (key, value) in parts.admin_overrides.iter() {
        admin_map.set(key, value);
    }
    let admin = crate::client::config::admin_config(admin_map)
        .map_err(|e| problems.push(problem(parts, parts.location, "admin", e.to_string())))
        .ok();
    let capabilities = parts.source.info.capabilities;
    // A Kafka source's tasks are static group members (KIP-345) under `group.instance.id` + task index, by
    // default `pipewright-<pipeline>`: stable across restarts, and independent of the worker, so a task that
    // moves keeps its identity.
    let source_consumer = consumer.clone().map(|mut c| {
        c.group_instance_id
            .get_or_insert_with(|| format!("pipewright-{}", parts.name));
        c
    });
    let source = SourceConfig::new(
        parts.source.name,
        &parts.source.config,
        capabilities.kafka_client.and(source_consumer),
    )
    .map_err(|p| problems.extend(component_problems(parts, parts.source, p)))
    .ok();
    let exactly_once = parts.delivery == Delivery::ExactlyOnce;
    let sink_capabilities = parts.sink.info.capabilities;
    // Exactly-once: records and consumed offsets (or source positions) commit together, in a Kafka
    // transaction, or in the sink's own database transaction when the sink keeps the offsets of what a Kafka
    // source consumed.
    let sink_keeps_offsets =
        sink_capabilities.keeps_consumed_offsets && capabilities.reads_from_kafka();
    if exactly_once && !sink_capabilities.joins_kafka_transaction && !sink_keeps_offsets {
        let message = if sink_capabilities.keeps_consumed_offsets {
            format!(
                "\"exactly-once\" into a {} sink keeps the consumed Kafka offsets in the sink's own transaction, so \
                 it needs a Kafka source; for a {} source use \"at-least-once\"",
                parts.sink.name, parts.source.name
            )
        } else {
            format!(
                "\"exactly-once\" needs a Kafka sink (records, and consumed offsets or source positions, commit in \
                 one Kafka transaction) or a sink that keeps the consumed offsets with its writes (jdbc); for a {} \
                 sink use \"at-least-once\"",
                parts.sink.name
            )
        };
        problems.push(problem(parts, parts.location, "delivery", message));
    }
    let sink_producer = match sink_capabilities.kafka_client {
        Some(_) => SinkProducer::from_settings(producer_map, exactly_once, parts.name)
            .map_err(|e| problems.push(problem(parts, parts.location, "producer", e.to_string())))
            .ok(),
        None => None,
    };
    let sink = if sink_capabilities.kafka_client.is_some() && sink_producer.is_none() {
        None
    } else {
        SinkConfig::new(parts.sink.name, &parts.sink.config, sink_producer)
            .map_err(|p| problems.extend(component_problems(parts, parts.sink, p)))
            .ok()
    };
    let key = converter(
        parts,
        parts.key_converter,
        "key.converter",
        true,
        &mut problems,
    );
    let value = converter(
        parts,
        parts.value_converter,
        "value.converter",
        false,
        &mut problems,
    );
    let header = header_converter(parts, &mut problems);
    let chain = chain(parts, &mut problems);
    if let (Some(source), Some(sink), Some(chain)) = (&source, &sink, &chain) {
        check_topics(parts, source, sink, chain, &mut problems);
    }
    match (
        source, sink, key, value, header, chain, producer, consumer, admin,
    ) {
        (
            Some(source),
            Some(sink),
            Some(key),
            Some(value),
            Some(header),
            Some(chain),
            Some(producer),
            Some(consumer),
            Some(admin),
        ) if problems.is_empty() => Ok(RunSpec {
            source,
            sink,
            converters: Prototype::new(Converters { key, value, header }),
            chain: Prototype::new(chain),
            producer,
            consumer,
            admin,
        }),
        _ => Err(problems),
    }
}
