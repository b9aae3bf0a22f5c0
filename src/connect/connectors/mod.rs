//! The connectors, one folder each: `config.rs` (keys, registry entry with what the connector can do, typed
//! config) and the task loop; `any` puts every runnable one behind one enum, so adding a connector edits only
//! this folder. A connector must not import the registry or the wire format (`protocol`).

mod any;
pub mod datagen;
pub mod elasticsearch;
pub mod file;
pub mod http;
pub mod jdbc;
pub mod kafka;
pub mod stdio;

pub use any::{AnySink, AnySource, SinkConfig, SourceConfig};
pub use kafka::SinkRefusal;

use super::component::ComponentInfo;
use super::data::{Schema, SchemaRef, Str, Type, Value};
use super::record::Data;
use bytes::Bytes;
use std::sync::{Arc, OnceLock};

/// Kafka's `Schema.STRING_SCHEMA` (a required string): the value schema of every line a file or stdin source
/// reads, as FileStreamSource gives it.
pub(crate) fn line_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| Schema::new(Type::String).build()))
}

/// One line read as text: a required string sharing `line`'s bytes. Bytes that are not UTF-8 become U+FFFD,
/// as Java's reader decodes them.
pub(crate) fn line_value(line: Bytes) -> Data {
    let text = Str::from_utf8_lossy(line);
    Data::new(Some(line_schema()), Value::String(text))
}

/// The non-Kafka sources and sinks, for the registry (the Kafka ones are `kafka::COMPONENTS`).
pub const COMPONENTS: &[ComponentInfo] = &[
    file::SOURCE,
    file::SINK,
    stdio::SOURCE,
    stdio::SINK,
    datagen::SOURCE,
    http::SINK,
    jdbc::SOURCE,
    jdbc::SINK,
    elasticsearch::SINK,
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
            (Source, "jdbc"),
            (Source, "io.confluent.connect.jdbc.JdbcSourceConnector"),
            (Sink, "jdbc"),
            (Sink, "io.confluent.connect.jdbc.JdbcSinkConnector"),
            (Sink, "elasticsearch"),
            (Sink, "ElasticsearchSinkConnector"),
            (
                Sink,
                "io.confluent.connect.elasticsearch.ElasticsearchSinkConnector",
            ),
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
