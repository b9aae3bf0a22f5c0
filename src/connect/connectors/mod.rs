//! The connectors, one folder each: `config.rs`-style key declarations (registered in `COMPONENTS`) and the
//! task loop.

pub mod datagen;
pub mod file;
pub mod http;
pub mod kafka;
pub mod stdio;

use super::component::{Capabilities, ComponentInfo, ComponentKind};

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
        capabilities: Capabilities::NONE,
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
        capabilities: Capabilities::NONE,
        doc: "Appends one line per record value (written with the value converter); flush fsyncs",
    },
    ComponentInfo {
        kind: ComponentKind::Source,
        name: "stdin",
        aliases: &[],
        config: stdio::SOURCE_CONFIG,
        capabilities: Capabilities::NONE,
        doc: "One record per line of standard input; finishes at the end of the input",
    },
    ComponentInfo {
        kind: ComponentKind::Sink,
        name: "stdout",
        aliases: &[],
        config: stdio::SINK_CONFIG,
        capabilities: Capabilities::NONE,
        doc: "One line per record value on standard output, like the file sink",
    },
    ComponentInfo {
        kind: ComponentKind::Source,
        name: "datagen",
        aliases: &[],
        config: datagen::CONFIG,
        capabilities: Capabilities::NONE,
        doc: "Synthetic JSON records (orders, users, pageviews) at a given rate; deterministic for a seed",
    },
    ComponentInfo {
        kind: ComponentKind::Sink,
        name: "http",
        aliases: &[],
        config: http::CONFIG,
        capabilities: Capabilities::NONE,
        doc: "Batched JSON POST (an array of record values) with retries and capped exponential backoff",
    },
];

#[cfg(test)]
mod tests {
    use super::COMPONENTS;
    use crate::connect::registry::{find, ComponentKind};

    #[test]
    fn connectors_are_found_by_short_and_kafka_connect_names() {
        use ComponentKind::{Sink, Source};
        for (kind, name) in [
            (Source, "file"),
            (Source, "FileStreamSource"),
            (
                Source,
                "org.apache.kafka.connect.file.FileStreamSourceConnector",
            ),
            (Sink, "file"),
            (Sink, "FileStreamSink"),
            (
                Sink,
                "org.apache.kafka.connect.file.FileStreamSinkConnector",
            ),
            (Source, "stdin"),
            (Sink, "stdout"),
            (Source, "datagen"),
            (Sink, "http"),
        ] {
            let found =
                find(kind, name).unwrap_or_else(|| panic!("{kind:?} {name} not registered"));
            assert_eq!(found.kind, kind);
        }
        let batch_size = find(Source, "FileStreamSource")
            .and_then(|c| c.config.keys.iter().find(|k| k.name == "batch.size"))
            .and_then(|k| k.default);
        assert_eq!(batch_size, Some("2000"));
        assert!(find(Source, "http").is_none() && find(Sink, "datagen").is_none());
    }

    #[test]
    fn every_connector_key_is_documented() {
        let doc = include_str!("../../../docs/pipelines.md");
        for component in COMPONENTS {
            assert!(
                doc.contains(&format!("`{}`", component.name)),
                "{}",
                component.name
            );
            for key in component.config.keys {
                assert!(
                    doc.contains(&format!("| `{}` |", key.name))
                        || doc.contains(&format!("`{}` (", key.name)),
                    "{} key `{}` is not in docs/pipelines.md",
                    component.name,
                    key.name
                );
            }
        }
    }
}
