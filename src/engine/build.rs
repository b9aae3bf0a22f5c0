//! Turns a validated pipeline config into running parts: source, sink, converters, transform chain.

use crate::config::{ComponentConfig, Delivery, PipelineConfig};
use crate::connect::config_def::{ConfigProblem, ParsedConfig};
use crate::connect::connector::{ConnectorError, Converters, TaskId};
use crate::connect::connectors::kafka::SinkProducer;
use crate::connect::connectors::{AnySink, AnySource, SinkConfig, SourceConfig};
use crate::connect::converters::Converter;
use crate::connect::record::SourcePosition;
use crate::connect::transforms::predicates::Predicate;
use crate::connect::transforms::{Transform, TransformChain};

/// Whether the engine keeps this source's positions on disk (a source that keeps its own does not need it).
pub fn source_keeps_own_positions(pipeline: &PipelineConfig) -> bool {
    pipeline.source.info.capabilities.keeps_own_positions
}

/// The `problems` of the pipeline's `what` (source or sink) `component`, as the error that fails the task.
fn config_error(
    pipeline: &PipelineConfig,
    what: &str,
    component: &ComponentConfig,
    problems: &[ConfigProblem],
) -> ConnectorError {
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    ConnectorError::fatal(format!(
        "pipeline {:?}: {what} {}: {}",
        pipeline.name,
        component.name,
        problems.join("; ")
    ))
}

/// The typed config of the pipeline's source (to move into config's validation).
fn source_config(pipeline: &PipelineConfig) -> Result<SourceConfig, ConnectorError> {
    let component = &pipeline.source;
    let consumer = match component.info.capabilities.kafka_client {
        Some(_) => Some(pipeline.consumer_config().map_err(|e| {
            ConnectorError::fatal(format!(
                "pipeline {:?}: consumer settings: {e}",
                pipeline.name
            ))
        })?),
        None => None,
    };
    SourceConfig::new(component.name, &component.config, consumer)
        .map_err(|problems| config_error(pipeline, "source", component, &problems))
}

/// The typed config of the pipeline's sink (to move into config's validation).
fn sink_config(pipeline: &PipelineConfig) -> Result<SinkConfig, ConnectorError> {
    let component = &pipeline.sink;
    let producer = match component.info.capabilities.kafka_client {
        Some(_) => Some(
            SinkProducer::from_settings(
                pipeline.producer_config_map(),
                pipeline.delivery == Delivery::ExactlyOnce,
                &pipeline.name,
            )
            .map_err(|e| {
                ConnectorError::fatal(format!(
                    "pipeline {:?}: producer settings: {e}",
                    pipeline.name
                ))
            })?,
        ),
        None => None,
    };
    SinkConfig::new(component.name, &component.config, producer)
        .map_err(|problems| config_error(pipeline, "sink", component, &problems))
}

/// Opens the pipeline's source for task `task`, resuming at `start`.
pub async fn build_source(
    pipeline: &PipelineConfig,
    task: TaskId,
    start: &[SourcePosition],
) -> Result<AnySource, ConnectorError> {
    AnySource::open(&source_config(pipeline)?, task, start).await
}

/// Opens the pipeline's sink for task `task`.
pub async fn build_sink(
    pipeline: &PipelineConfig,
    task: TaskId,
) -> Result<AnySink, ConnectorError> {
    let component = &pipeline.sink;
    if pipeline.delivery == Delivery::ExactlyOnce
        && !component.info.capabilities.joins_kafka_transaction
    {
        return Err(ConnectorError::fatal(format!(
            "pipeline {:?}: delivery = \"exactly-once\" needs a Kafka sink (records, and consumed offsets or \
             source positions, commit in one Kafka transaction); for a {} sink use \"at-least-once\"",
            pipeline.name, component.name
        )));
    }
    AnySink::open(&sink_config(pipeline)?, task).await
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

/// Exactly-once: commits the open transaction with the consumed `positions` — as group offsets for a source
/// that keeps its positions in its consumer group, as a record in the offsets topic (under `position_key`) for
/// any other source.
pub async fn commit_exactly_once(
    source: &AnySource,
    sink: &mut AnySink,
    group_id: &str,
    position_key: &str,
    positions: &[SourcePosition],
) -> Result<(), ConnectorError> {
    let Some(sink) = sink.transactional() else {
        return Err(ConnectorError::fatal("exactly-once needs a Kafka sink"));
    };
    if !source.capabilities().keeps_own_positions {
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
    }
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
