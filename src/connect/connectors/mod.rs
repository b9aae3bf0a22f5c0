//! The connectors, one folder each: `config.rs`-style key declarations (registered in `COMPONENTS`) and the
//! task loop.

pub mod datagen;
pub mod file;
pub mod http;
pub mod kafka;
pub mod stdio;

use super::registry::{ComponentInfo, ComponentKind};

/// The non-Kafka sources and sinks, for the registry.
pub const COMPONENTS: &[ComponentInfo] = &[
    ComponentInfo {
        kind: ComponentKind::Source,
        name: "file",
        aliases: &[
            "FileStreamSource",
            "org.apache.kafka.connect.file.FileStreamSourceConnector",
        ],
        config: file::SOURCE_CONFIG,
        doc: "Tails a file line by line; remembers its byte position; follows truncation and rotation",
    },
    ComponentInfo {
        kind: ComponentKind::Sink,
        name: "file",
        aliases: &[
            "FileStreamSink",
            "org.apache.kafka.connect.file.FileStreamSinkConnector",
        ],
        config: file::SINK_CONFIG,
        doc: "Appends one line per record value (written with the value converter); flush fsyncs",
    },
    ComponentInfo {
        kind: ComponentKind::Source,
        name: "stdin",
        aliases: &[],
        config: stdio::SOURCE_CONFIG,
        doc: "One record per line of standard input; finishes at the end of the input",
    },
    ComponentInfo {
        kind: ComponentKind::Sink,
        name: "stdout",
        aliases: &[],
        config: stdio::SINK_CONFIG,
        doc: "One line per record value on standard output, like the file sink",
    },
    ComponentInfo {
        kind: ComponentKind::Source,
        name: "datagen",
        aliases: &[],
        config: datagen::CONFIG,
        doc: "Synthetic JSON records (orders, users, pageviews) at a given rate; deterministic for a seed",
    },
    ComponentInfo {
        kind: ComponentKind::Sink,
        name: "http",
        aliases: &[],
        config: http::CONFIG,
        doc: "Batched JSON POST (an array of record values) with retries and capped exponential backoff",
    },
];
