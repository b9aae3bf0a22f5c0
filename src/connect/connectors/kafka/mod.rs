//! The Kafka source (a consumer group member) and the Kafka sink (an idempotent producer).
//!
//! They reach Kafka through `client` + `runtime` like any user would. Records stay raw bytes end to end
//! unless a transform needs their content: a Kafka → Kafka pipeline without value transforms never parses a
//! value. Positions: the source commits offsets to its group only when the engine says the sink has
//! everything before them (at-least-once); auto-commit is off.

use bytes::{Bytes, BytesMut};

use crate::client::config::{ConsumerConfig, ProducerConfig};
use crate::client::consumer::TopicPartition;
use crate::client::producer::{RecordRef, TIMESTAMP_ON_SEND};
use crate::client::txn::{ConsumerGroupMetadata, TxnOffset};
use crate::connect::component::{Capabilities, ComponentInfo, ComponentKind};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType};
use crate::connect::connector::{ConnectorError, Converters, SinkTask, SourcePoll, SourceTask};
use crate::connect::data::{Str, Value};
use crate::connect::record::{ConnectRecord, Data, Header, SourcePosition};
use crate::protocol::record_batch::HeaderRef;
use crate::runtime::group_consumer::{GroupConsumer, GroupConsumerEvent};
use crate::runtime::Producer;

const SOURCE_KEYS: ConfigDef = ConfigDef::new(&[
    ConfigKey::optional(
        "topics",
        ConfigType::List,
        None,
        "Topics to read, comma-separated (required unless topics.regex… is given)",
    ),
    ConfigKey::optional(
        "group.id",
        ConfigType::String,
        None,
        "Consumer group; default connect-<pipeline name>",
    ),
]);

const SINK_KEYS: ConfigDef = ConfigDef::new(&[ConfigKey::optional(
    "topic",
    ConfigType::String,
    None,
    "Topic to write; records keep the topic a routing transform (RegexRouter, TimestampRouter) gave them",
)]);

/// The Kafka connectors in the registry.
pub const COMPONENTS: &[ComponentInfo] = &[
    ComponentInfo {
        kind: ComponentKind::Source,
        name: "kafka",
        aliases: &[],
        config: SOURCE_KEYS,
        capabilities: Capabilities::NONE,
        doc: "Reads topics as a consumer group member; offsets are committed after the sink has the records",
    },
    ComponentInfo {
        kind: ComponentKind::Sink,
        name: "kafka",
        aliases: &[],
        config: SINK_KEYS,
        capabilities: Capabilities::NONE,
        doc: "Writes records with an idempotent producer; each record goes to its (possibly routed) topic",
    },
];

/// Reads topics as a group member.
pub struct KafkaSource {
    consumer: Option<GroupConsumer>,
    /// Records of the last event not yet handed out (an event may carry more than `max_records`).
    leftover: Vec<ConnectRecord>,
}

impl KafkaSource {
    /// Joins the group of `config` (auto-commit must be off: the engine commits) for `topics`.
    pub fn open(mut config: ConsumerConfig, topics: Vec<String>) -> Result<Self, ConnectorError> {
        if topics.is_empty() {
            return Err(ConnectorError::fatal(
                "kafka source: `topics` names no topic",
            ));
        }
        config.enable_auto_commit = false;
        let consumer = GroupConsumer::new(config, topics)
            .map_err(|e| ConnectorError::fatal(format!("kafka source: {e}")))?;
        Ok(Self {
            consumer: Some(consumer),
            leftover: Vec::new(),
        })
    }

    fn consumer(&self) -> Result<&GroupConsumer, ConnectorError> {
        self.consumer
            .as_ref()
            .ok_or_else(|| ConnectorError::fatal("kafka source is closed"))
    }

    /// The group's id, generation and member id, for offsets committed inside a transaction (KIP-447: the
    /// coordinator refuses them from a member of an older generation, so a zombie cannot commit).
    pub fn group_metadata(&self, group_id: &str) -> Option<ConsumerGroupMetadata> {
        let consumer = self.consumer.as_ref()?;
        Some(consumer.with_member(|m| ConsumerGroupMetadata {
            group_id: group_id.to_owned(),
            generation_id: m.generation(),
            member_id: m.member_id().to_owned(),
            group_instance_id: None,
        }))
    }
}

fn record_from_kafka(
    topic: &Str,
    partition: i32,
    record: crate::protocol::record_batch::Record,
) -> ConnectRecord {
    let headers = record
        .headers
        .iter()
        .filter_map(Result::ok)
        .map(|h| {
            let key = Str::from_utf8(h.key.clone())
                .unwrap_or_else(|_| Str::from(String::from_utf8_lossy(&h.key).as_ref()));
            let value = h.value.map_or(Value::Null, Value::Bytes);
            Header::new(key, value, None)
        })
        .collect();
    ConnectRecord {
        topic: topic.clone(),
        partition: Some(partition),
        key: Data::Raw(record.key),
        value: Data::Raw(record.value),
        timestamp: Some(record.timestamp),
        headers,
        kafka_offset: Some(record.offset),
        source_offset: Some(SourcePosition::KafkaOffset {
            topic: topic.clone(),
            partition,
            offset: record.offset + 1,
        }),
    }
}

impl SourceTask for KafkaSource {
    async fn poll(&mut self, max_records: usize) -> Result<SourcePoll, ConnectorError> {
        if !self.leftover.is_empty() {
            let take = self.leftover.len().min(max_records.max(1));
            let rest = self.leftover.split_off(take);
            return Ok(SourcePoll::Records(std::mem::replace(
                &mut self.leftover,
                rest,
            )));
        }
        let consumer = self.consumer()?;
        let event = tokio::select! {
            event = consumer.recv() => event,
            // Come back to the engine now and then so it can flush, commit and notice a stop.
            _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => return Ok(SourcePoll::Idle),
        };
        match event {
            GroupConsumerEvent::Records {
                topic,
                partition,
                records,
            } => {
                let topic = Str::from(topic.as_str());
                let mut converted: Vec<ConnectRecord> = records
                    .into_iter()
                    .map(|r| record_from_kafka(&topic, partition, r))
                    .collect();
                if converted.len() > max_records.max(1) {
                    self.leftover = converted.split_off(max_records.max(1));
                }
                Ok(SourcePoll::Records(converted))
            }
            GroupConsumerEvent::Fatal(error) => {
                Err(ConnectorError::fatal(format!("kafka source: {error}")))
            }
            GroupConsumerEvent::PartitionError {
                topic,
                partition,
                error,
            } => Err(ConnectorError::fatal(format!(
                "kafka source: {topic}{}: {error}",
                partition.map(|p| format!("-{p}")).unwrap_or_default()
            ))),
            GroupConsumerEvent::Revoked(partitions) => {
                // The records of these partitions already handed out are still committed by the engine after
                // the sink flushes; a commit for a partition we no longer own is refused and they are read
                // again by the new owner (at-least-once).
                tracing::info!(?partitions, "kafka source: partitions revoked");
                Ok(SourcePoll::Idle)
            }
            other => {
                tracing::debug!(?other, "kafka source: group event");
                Ok(SourcePoll::Idle)
            }
        }
    }

    async fn commit(&mut self, position: &SourcePosition) -> Result<(), ConnectorError> {
        let SourcePosition::KafkaOffset {
            topic,
            partition,
            offset,
        } = position
        else {
            return Ok(());
        };
        let consumer = self.consumer()?;
        consumer
            .commit_offsets(vec![(
                TopicPartition::new(topic.as_str(), *partition),
                *offset,
            )])
            .await
            .map_err(|e| ConnectorError::retriable(format!("kafka source: commit failed: {e}")))
    }

    async fn close(&mut self) {
        if let Some(consumer) = self.consumer.take() {
            consumer.close().await;
        }
    }
}

/// Writes records with the (idempotent by default) producer.
pub struct KafkaSink {
    producer: Option<Producer>,
    /// The configured `topic`; when set, every record goes there unless a routing transform renamed it.
    topic: Option<String>,
    key_buf: BytesMut,
    value_buf: BytesMut,
    /// Failures counted by the producer at the last flush: a new one fails the flush.
    failed_at_last_flush: u64,
    /// Exactly-once: records go out in transactions that also carry the consumed offsets.
    transactional: bool,
    in_transaction: bool,
}

impl KafkaSink {
    pub fn open(config: ProducerConfig, topic: Option<String>) -> Self {
        Self {
            producer: Some(Producer::new(config)),
            topic,
            key_buf: BytesMut::new(),
            value_buf: BytesMut::new(),
            failed_at_last_flush: 0,
            transactional: false,
            in_transaction: false,
        }
    }

    /// A sink whose records go out in transactions (`transactional.id` set in `config`): registers the id,
    /// fencing any older producer with it.
    pub async fn open_transactional(
        config: ProducerConfig,
        topic: Option<String>,
    ) -> Result<Self, ConnectorError> {
        let mut sink = Self::open(config, topic);
        sink.transactional = true;
        sink.producer()?
            .init_transactions()
            .await
            .map_err(|e| ConnectorError::fatal(format!("kafka sink: init_transactions: {e}")))?;
        Ok(sink)
    }

    async fn begin_if_needed(&mut self) -> Result<(), ConnectorError> {
        if self.transactional && !self.in_transaction {
            self.producer()?.begin_transaction().await.map_err(|e| {
                ConnectorError::fatal(format!("kafka sink: begin_transaction: {e}"))
            })?;
            self.in_transaction = true;
        }
        Ok(())
    }

    /// Exactly-once: adds the consumed `offsets` of `group` to the open transaction and commits it, so the
    /// records and the offsets become visible together or not at all. On failure the transaction is aborted
    /// and the error fails the task (which restarts from the last committed offsets).
    pub async fn commit_transaction(
        &mut self,
        offsets: Vec<TxnOffset>,
        group: Option<ConsumerGroupMetadata>,
    ) -> Result<(), ConnectorError> {
        self.commit_transaction_with(offsets, group, None).await
    }

    /// Like [`KafkaSink::commit_transaction`], and also writes `position` (topic, key, value) inside the
    /// transaction: how a non-Kafka source's positions commit atomically with its records (KIP-618).
    pub async fn commit_transaction_with(
        &mut self,
        offsets: Vec<TxnOffset>,
        group: Option<ConsumerGroupMetadata>,
        position: Option<(&str, &[u8], &[u8])>,
    ) -> Result<(), ConnectorError> {
        self.begin_if_needed().await?;
        let producer = self
            .producer
            .as_ref()
            .ok_or_else(|| ConnectorError::fatal("kafka sink is closed"))?;
        if let Some((topic, key, value)) = position {
            producer
                .send_counted(RecordRef {
                    topic,
                    partition: None,
                    key: Some(key),
                    value: Some(value),
                    headers: &[],
                    timestamp_ms: TIMESTAMP_ON_SEND,
                })
                .await
                .map_err(|e| ConnectorError::fatal(format!("kafka sink: offsets record: {e}")))?;
        }
        let result = async {
            if let (false, Some(group)) = (offsets.is_empty(), group) {
                producer.send_offsets_to_transaction(offsets, group).await?;
            }
            producer.commit_transaction().await
        }
        .await;
        self.in_transaction = false;
        if let Err(error) = result {
            if !error.is_fenced() {
                let _ = producer.abort_transaction().await;
            }
            return Err(ConnectorError::fatal(format!(
                "kafka sink: transaction failed: {error}"
            )));
        }
        Ok(())
    }
}

impl KafkaSink {
    fn producer(&self) -> Result<&Producer, ConnectorError> {
        self.producer
            .as_ref()
            .ok_or_else(|| ConnectorError::fatal("kafka sink is closed"))
    }
}

/// Header values go out as bytes: raw bytes as they came, strings as UTF-8, other values as text.
fn header_bytes(value: &Value) -> Option<Bytes> {
    match value {
        Value::Null => None,
        Value::Bytes(b) => Some(b.clone()),
        Value::String(s) => Some(Bytes::copy_from_slice(s.as_bytes())),
        other => Some(Bytes::from(other.to_string())),
    }
}

impl SinkTask for KafkaSink {
    async fn put(
        &mut self,
        records: &mut Vec<ConnectRecord>,
        converters: &mut Converters,
    ) -> Result<(), ConnectorError> {
        self.begin_if_needed().await?;
        let producer = self
            .producer
            .as_ref()
            .ok_or_else(|| ConnectorError::fatal("kafka sink is closed"))?;
        for record in records.drain(..) {
            self.key_buf.clear();
            self.value_buf.clear();
            let topic: &str = if record.topic.as_str().is_empty() {
                self.topic.as_deref().unwrap_or_default()
            } else {
                record.topic.as_str()
            };
            if topic.is_empty() {
                return Err(ConnectorError::fatal(
                    "kafka sink: no `topic` configured and the record names none",
                ));
            }
            let has_key = record
                .key
                .write_to(&mut converters.key, topic, &mut self.key_buf)
                .map_err(|e| ConnectorError::fatal(format!("kafka sink: key conversion: {e}")))?;
            let has_value = record
                .value
                .write_to(&mut converters.value, topic, &mut self.value_buf)
                .map_err(|e| ConnectorError::fatal(format!("kafka sink: value conversion: {e}")))?;
            let header_values: Vec<(Str, Option<Bytes>)> = record
                .headers
                .iter()
                .map(|h| (h.key.clone(), header_bytes(&h.value)))
                .collect();
            let headers: Vec<HeaderRef<'_>> = header_values
                .iter()
                .map(|(k, v)| HeaderRef {
                    key: k.as_bytes(),
                    value: v.as_deref(),
                })
                .collect();
            producer
                .send_counted(RecordRef {
                    topic,
                    partition: None,
                    key: has_key.then_some(&self.key_buf[..]),
                    value: has_value.then_some(&self.value_buf[..]),
                    headers: &headers,
                    timestamp_ms: record.timestamp.unwrap_or(TIMESTAMP_ON_SEND),
                })
                .await
                .map_err(|e| ConnectorError::fatal(format!("kafka sink: {e}")))?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ConnectorError> {
        let stats = self.producer()?.flush().await;
        if stats.failed > self.failed_at_last_flush {
            self.failed_at_last_flush = stats.failed;
            let error = stats
                .first_error
                .map(|e| e.to_string())
                .unwrap_or_else(|| "records were not delivered".into());
            return Err(ConnectorError::fatal(format!("kafka sink: {error}")));
        }
        Ok(())
    }

    async fn close(&mut self) {
        if let Some(producer) = self.producer.take() {
            producer.close().await;
        }
    }
}
