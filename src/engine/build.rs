//! Turns a validated pipeline config into running parts: source, sink, converters, transform chain.

use crate::client::config::ProducerConfig;
use crate::config::{ComponentConfig, Delivery, PipelineConfig};
use crate::connect::config_def::ParsedConfig;
use crate::connect::connector::{
    ConnectorError, Converters, SinkTask, SourcePoll, SourceTask, TaskId,
};
use crate::connect::connectors::datagen::DatagenSource;
use crate::connect::connectors::file::{FileSink, FileSource};
use crate::connect::connectors::http::HttpSink;
use crate::connect::connectors::kafka::{KafkaSink, KafkaSource};
use crate::connect::connectors::stdio::{StdinSource, StdoutSink};
use crate::connect::converters::Converter;
use crate::connect::record::{ConnectRecord, SourcePosition};
use crate::connect::transforms::predicates::Predicate;
use crate::connect::transforms::{Transform, TransformChain};

/// Every source the engine can run (static dispatch: one match per poll, not per record).
pub enum AnySource {
    Kafka(KafkaSource),
    File(FileSource),
    Stdin(StdinSource),
    Datagen(DatagenSource),
}

/// Every sink the engine can run.
pub enum AnySink {
    Kafka(KafkaSink),
    File(FileSink),
    Stdout(StdoutSink),
    Http(HttpSink),
}

impl SourceTask for AnySource {
    async fn poll(&mut self, max_records: usize) -> Result<SourcePoll, ConnectorError> {
        match self {
            AnySource::Kafka(s) => s.poll(max_records).await,
            AnySource::File(s) => s.poll(max_records).await,
            AnySource::Stdin(s) => s.poll(max_records).await,
            AnySource::Datagen(s) => s.poll(max_records).await,
        }
    }
    async fn commit(&mut self, position: &SourcePosition) -> Result<(), ConnectorError> {
        match self {
            AnySource::Kafka(s) => s.commit(position).await,
            AnySource::File(s) => s.commit(position).await,
            AnySource::Stdin(s) => s.commit(position).await,
            AnySource::Datagen(s) => s.commit(position).await,
        }
    }
    async fn close(&mut self) {
        match self {
            AnySource::Kafka(s) => s.close().await,
            AnySource::File(s) => s.close().await,
            AnySource::Stdin(s) => s.close().await,
            AnySource::Datagen(s) => s.close().await,
        }
    }
}

impl SinkTask for AnySink {
    async fn put(
        &mut self,
        records: &mut Vec<ConnectRecord>,
        converters: &mut Converters,
    ) -> Result<(), ConnectorError> {
        match self {
            AnySink::Kafka(s) => s.put(records, converters).await,
            AnySink::File(s) => s.put(records, converters).await,
            AnySink::Stdout(s) => s.put(records, converters).await,
            AnySink::Http(s) => s.put(records, converters).await,
        }
    }
    async fn flush(&mut self) -> Result<(), ConnectorError> {
        match self {
            AnySink::Kafka(s) => s.flush().await,
            AnySink::File(s) => s.flush().await,
            AnySink::Stdout(s) => s.flush().await,
            AnySink::Http(s) => s.flush().await,
        }
    }
    async fn close(&mut self) {
        match self {
            AnySink::Kafka(s) => s.close().await,
            AnySink::File(s) => s.close().await,
            AnySink::Stdout(s) => s.close().await,
            AnySink::Http(s) => s.close().await,
        }
    }
}

/// Whether the engine keeps this source's positions on disk (the Kafka source keeps them in its group).
pub fn source_keeps_own_positions(pipeline: &PipelineConfig) -> bool {
    pipeline.source.name == "kafka"
}

/// Opens the pipeline's source for task `task`, resuming at `start`.
pub async fn build_source(
    pipeline: &PipelineConfig,
    task: TaskId,
    start: &[SourcePosition],
) -> Result<AnySource, ConnectorError> {
    let component = &pipeline.source;
    // File-like sources keep one stream: their single stored position.
    let start = start
        .iter()
        .find(|p| matches!(p, SourcePosition::Offset(_)))
        .cloned();
    match component.name {
        "file" => Ok(AnySource::File(
            FileSource::open(&component.config, task, start).await?,
        )),
        "stdin" => Ok(AnySource::Stdin(
            StdinSource::open(&component.config, task, start).await?,
        )),
        "datagen" => Ok(AnySource::Datagen(
            DatagenSource::open(&component.config, task, start).await?,
        )),
        "kafka" => {
            let config = pipeline.consumer_config().map_err(|e| {
                ConnectorError::fatal(format!(
                    "pipeline {:?}: consumer settings: {e}",
                    pipeline.name
                ))
            })?;
            Ok(AnySource::Kafka(KafkaSource::open(
                config,
                component.config.list("topics"),
            )?))
        }
        other => Err(ConnectorError::fatal(format!(
            "pipeline {:?}: no runnable source `{other}`",
            pipeline.name
        ))),
    }
}

/// Opens the pipeline's sink for task `task`.
pub async fn build_sink(
    pipeline: &PipelineConfig,
    task: TaskId,
) -> Result<AnySink, ConnectorError> {
    let component = &pipeline.sink;
    if pipeline.delivery == Delivery::ExactlyOnce && component.name != "kafka" {
        return Err(ConnectorError::fatal(format!(
            "pipeline {:?}: delivery = \"exactly-once\" needs a Kafka sink (records, and consumed offsets or \
             source positions, commit in one Kafka transaction); for a {} sink use \"at-least-once\"",
            pipeline.name, component.name
        )));
    }
    match component.name {
        "file" => Ok(AnySink::File(
            FileSink::open(&component.config, task).await?,
        )),
        "stdout" => Ok(AnySink::Stdout(
            StdoutSink::open(&component.config, task).await?,
        )),
        "http" => Ok(AnySink::Http(
            HttpSink::open(&component.config, task).await?,
        )),
        "kafka" => {
            let topic = component.config.string("topic");
            if pipeline.delivery == Delivery::ExactlyOnce {
                // A transactional id stable across restarts: the restarted task fences its zombie.
                let mut map = pipeline.producer_config_map();
                if map.get("transactional.id").is_none() {
                    map.set(
                        "transactional.id",
                        format!("pipewright-{}-{}", pipeline.name, task.index),
                    );
                }
                let config = ProducerConfig::from_map(map).map_err(|e| {
                    ConnectorError::fatal(format!(
                        "pipeline {:?}: producer settings: {e}",
                        pipeline.name
                    ))
                })?;
                return Ok(AnySink::Kafka(
                    KafkaSink::open_transactional(config, topic).await?,
                ));
            }
            let config = pipeline.producer_config().map_err(|e| {
                ConnectorError::fatal(format!(
                    "pipeline {:?}: producer settings: {e}",
                    pipeline.name
                ))
            })?;
            Ok(AnySink::Kafka(KafkaSink::open(config, topic)))
        }
        other => Err(ConnectorError::fatal(format!(
            "pipeline {:?}: no runnable sink `{other}`",
            pipeline.name
        ))),
    }
}

fn build_converter(component: Option<&ComponentConfig>, is_key: bool) -> Result<Converter, String> {
    let default_config = ParsedConfig::default();
    let (name, config) = match component {
        Some(c) => (c.name, &c.config),
        // Kafka Connect's worker default.
        None => ("json", &default_config),
    };
    Converter::build(name, config, is_key).map_err(|e| e.to_string())
}

/// The pipeline's key and value converters.
pub fn build_converters(pipeline: &PipelineConfig) -> Result<Converters, ConnectorError> {
    let fail = |e: String| ConnectorError::fatal(format!("pipeline {:?}: {e}", pipeline.name));
    Ok(Converters {
        key: build_converter(pipeline.key_converter.as_ref(), true).map_err(fail)?,
        value: build_converter(pipeline.value_converter.as_ref(), false).map_err(fail)?,
    })
}

/// The transforms in order, each with its predicate resolved by name.
pub fn build_chain(pipeline: &PipelineConfig) -> Result<TransformChain, ConnectorError> {
    let fail = |e: String| ConnectorError::fatal(format!("pipeline {:?}: {e}", pipeline.name));
    let mut transforms = Vec::with_capacity(pipeline.transforms.len());
    for t in &pipeline.transforms {
        let mut transform = Transform::build(&t.component.type_name, &t.component.config)
            .map_err(|e| fail(format!("transform {}: {e}", t.alias)))?;
        if let Some(name) = &t.predicate {
            let p = pipeline
                .predicates
                .iter()
                .find(|p| &p.alias == name)
                .ok_or_else(|| {
                    fail(format!("transform {}: unknown predicate `{name}`", t.alias))
                })?;
            let predicate = Predicate::build(&p.component.type_name, &p.component.config)
                .map_err(|e| fail(format!("predicate {}: {e}", p.alias)))?;
            transform = transform.with_predicate(predicate, t.negate);
        }
        transforms.push(transform);
    }
    Ok(TransformChain::new(transforms))
}

/// Exactly-once: commits the open transaction with the consumed `positions` — as group offsets for a Kafka
/// source, as a record in the offsets topic (under `position_key`) for any other source.
pub async fn commit_exactly_once(
    source: &AnySource,
    sink: &mut AnySink,
    group_id: &str,
    position_key: &str,
    positions: &[SourcePosition],
) -> Result<(), ConnectorError> {
    let AnySink::Kafka(sink) = sink else {
        return Err(ConnectorError::fatal("exactly-once needs a Kafka sink"));
    };
    let AnySource::Kafka(source) = source else {
        if positions.is_empty() {
            return sink.commit_transaction(Vec::new(), None).await;
        }
        let value = crate::engine::offsets_topic::position_value(positions);
        let topic = crate::engine::offsets_topic::DEFAULT_OFFSETS_TOPIC;
        return sink
            .commit_transaction_with(
                Vec::new(),
                None,
                Some((topic, position_key.as_bytes(), value.as_bytes())),
            )
            .await;
    };
    let offsets = positions
        .iter()
        .filter_map(|p| match p {
            SourcePosition::KafkaOffset {
                topic,
                partition,
                offset,
            } => Some(crate::client::txn::TxnOffset {
                topic: topic.as_str().to_owned(),
                partition: *partition,
                offset: *offset,
                leader_epoch: None,
                metadata: None,
            }),
            _ => None,
        })
        .collect();
    sink.commit_transaction(offsets, source.group_metadata(group_id))
        .await
}
