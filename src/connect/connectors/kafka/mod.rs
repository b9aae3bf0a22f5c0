//! `kafka`: the Kafka source (a consumer group member) and the Kafka sink (an idempotent or transactional
//! producer). They reach Kafka through `client` + `runtime` like any user would, and must not import the wire
//! format (`protocol`): the record and header types come from `client::records`.

mod config;
mod sink;
mod source;

pub use config::{
    KafkaSinkConfig, KafkaSourceConfig, SinkProducer, TransactionalId, SINK, SINK_CONFIG, SOURCE,
    SOURCE_CONFIG,
};
pub use sink::{ConfiguredTopic, KafkaSink, SinkRefusal};
pub use source::KafkaSource;

use crate::connect::component::ComponentInfo;

/// The Kafka connectors in the registry.
pub const COMPONENTS: &[ComponentInfo] = &[SOURCE, SINK];
