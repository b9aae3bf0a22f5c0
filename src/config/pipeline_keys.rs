//! The keys a `[[pipeline]]` accepts: name, type, default (as documented) and meaning.

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

pub(super) const fn key(
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
        "queue.max.bytes",
        KeyType::Integer { min: 1 },
        "16777216",
        "Most bytes of keys and values a source hands on at a time (one record larger than this goes alone).",
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

pub(super) const CONVERTER_SLOTS: &[&str] =
    &["key.converter", "value.converter", "header.converter"];

pub(super) fn pipeline_key(name: &str) -> Option<&'static PipelineKey> {
    PIPELINE_KEYS.iter().find(|k| k.name == name)
}

pub(super) fn hint(suggestion: Option<String>) -> String {
    suggestion
        .map(|s| format!(" (did you mean \"{s}\"?)"))
        .unwrap_or_default()
}
