//! The Kafka sink: an idempotent (by default) producer; exactly-once, a transactional one whose transactions
//! also carry the consumed offsets or the source's positions.
//!
//! Records stay raw bytes end to end unless a transform needed their content: a Kafka → Kafka pipeline
//! without value transforms never parses a value. Reaches Kafka through `client` + `runtime` only.

use bytes::{Bytes, BytesMut};

use super::config::KafkaSinkConfig;
use crate::client::config::ProducerConfig;
use crate::client::errors::ResponseError;
use crate::client::producer::{
    ProduceError, RecordId, RecordRef, RefusedRecord, TIMESTAMP_ON_SEND,
};
use crate::client::records::HeaderRef;
use crate::client::txn::{ConsumerGroupMetadata, TxnOffset};
use crate::connect::connector::{ConnectorError, Converters, SinkTask, TaskId};
use crate::connect::converters::ConvertError;
use crate::connect::data::{Str, Value};
use crate::connect::record::{ConnectRecord, Header};
use crate::runtime::{ConnectionProblems, Producer};

/// The Kafka sink's configured `topic`: it replaces the topic of every record no routing transform
/// (RegexRouter, TimestampRouter) renamed. A Kafka source's records arrive named after the topic they were read
/// from; a pipeline that copies them elsewhere names the target here.
///
/// Only the engine sees a record both before and after the transforms, so it asks the sink for this rule once
/// and applies it to each record.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfiguredTopic(Str);

impl ConfiguredTopic {
    /// After the transforms: a record still under the topic it `arrived` with goes to the configured topic.
    pub fn route(&self, record: &mut ConnectRecord, arrived: &Str) {
        if record.topic == *arrived {
            record.topic = self.0.clone();
        }
    }
}

/// Writes records with the (idempotent by default) producer.
pub struct KafkaSink {
    producer: Option<Producer>,
    /// The configured `topic`, for records that name none.
    topic: Option<String>,
    /// The configured `topic` as the rule the engine applies after the transforms.
    configured_topic: Option<ConfiguredTopic>,
    key_buf: BytesMut,
    value_buf: BytesMut,
    /// Failures counted by the producer at the last flush: a new one fails the flush.
    failed_at_last_flush: u64,
    /// Exactly-once: records go out in transactions that also carry the consumed offsets.
    transactional: bool,
    in_transaction: bool,
    /// The records handed to `put` since the last flush, by producer record id.
    window: SentWindow,
    /// Records the broker refused as they are at the last flush, for [`KafkaSink::take_refused`].
    refused: Vec<SinkRefusal>,
}

/// A record the broker refused as it is (larger than the topic's `max.message.bytes`): which record of the flush
/// window it was, and the record as it was sent.
#[derive(Debug)]
pub struct SinkRefusal {
    /// Its place among the records handed to `put` since the previous flush (counting every record handed,
    /// the ones a `put` rejected too).
    pub index: usize,
    /// Its topic, key, value, headers and timestamp as they were sent.
    pub record: ConnectRecord,
    pub message: String,
}

/// Which producer record id each record handed to `put` since the last flush got, as runs of consecutive ids
/// at consecutive places: one run per window unless a `put` rejected a record.
#[derive(Debug, Default)]
struct SentWindow {
    /// Records handed to `put` so far in this window.
    handed: usize,
    /// (first record id, its place in the window, records in the run).
    runs: Vec<(RecordId, usize, usize)>,
}

impl SentWindow {
    fn sent(&mut self, id: RecordId, index: usize) {
        if let Some((first_id, first_index, count)) = self.runs.last_mut() {
            if *first_id + *count as u64 == id && *first_index + *count == index {
                *count += 1;
                return;
            }
        }
        self.runs.push((id, index, 1));
    }

    /// The place of the record sent as `id`, if it was sent in this window.
    fn index_of(&self, id: RecordId) -> Option<usize> {
        self.runs
            .iter()
            .find_map(|&(first_id, first_index, count)| {
                (id >= first_id && id - first_id < count as u64)
                    .then(|| first_index + (id - first_id) as usize)
            })
    }
}

/// A refused record as the dead-letter topic takes it: raw key, value and headers, under the topic it was for.
fn refused_connect_record(refused: &RefusedRecord) -> ConnectRecord {
    let record = &refused.record;
    let headers = record
        .headers
        .iter()
        .filter_map(Result::ok)
        .map(|h| {
            let key = Str::from(String::from_utf8_lossy(&h.key).as_ref());
            Header::new(key, h.value.map_or(Value::Null, Value::Bytes), None)
        })
        .collect();
    ConnectRecord {
        timestamp: Some(record.timestamp),
        headers,
        ..ConnectRecord::raw(&*refused.topic, record.key.clone(), record.value.clone())
    }
}

impl KafkaSink {
    /// Opens the producer of task `task`; exactly-once (`config.producer.transactions`): a transactional one,
    /// registered under the task's transactional id, which fences any older producer with that id.
    pub async fn open(config: &KafkaSinkConfig, task: TaskId) -> Result<Self, ConnectorError> {
        let producer = config.producer.for_task(task.index);
        let topic = config.topic.clone();
        match config.producer.transactions {
            None => Ok(Self::new(producer, topic)),
            Some(_) => Self::open_transactional(producer, topic).await,
        }
    }

    fn new(config: ProducerConfig, topic: Option<String>) -> Self {
        let producer = Producer::new(config);
        producer.keep_refused_records();
        Self {
            producer: Some(producer),
            configured_topic: topic.as_deref().map(|t| ConfiguredTopic(Str::from(t))),
            topic,
            key_buf: BytesMut::new(),
            value_buf: BytesMut::new(),
            failed_at_last_flush: 0,
            transactional: false,
            in_transaction: false,
            window: SentWindow::default(),
            refused: Vec::new(),
        }
    }

    /// A sink whose records go out in transactions (`transactional.id` set in `config`): registers the id,
    /// fencing any older producer with it.
    async fn open_transactional(
        config: ProducerConfig,
        topic: Option<String>,
    ) -> Result<Self, ConnectorError> {
        let mut sink = Self::new(config, topic);
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
        // The transaction's records are settled by its end: no flush window to map refusals to (see `flush`).
        self.window = SentWindow::default();
        let producer = self
            .producer
            .as_ref()
            .ok_or_else(|| ConnectorError::fatal("kafka sink is closed"))?;
        if let Some((topic, key, value)) = position {
            let sent = producer
                .send_counted(RecordRef {
                    topic,
                    partition: None,
                    key: Some(key),
                    value: Some(value),
                    headers: &[],
                    timestamp_ms: TIMESTAMP_ON_SEND,
                })
                .await;
            if let Err(error) = sent {
                self.in_transaction = false;
                return Err(abort_failed_transaction(
                    producer,
                    false,
                    format!("kafka sink: offsets record: {error}"),
                )
                .await);
            }
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
            return Err(abort_failed_transaction(
                producer,
                error.is_fenced(),
                format!("kafka sink: transaction failed: {error}"),
            )
            .await);
        }
        // A transaction with a refused record does not commit, so none should be left; none may pile up either.
        producer.take_refused();
        Ok(())
    }
}

impl KafkaSink {
    /// The connection failures the producer is telling of now.
    pub fn connection_problems(&self) -> Vec<ConnectionProblems> {
        self.producer
            .iter()
            .map(Producer::connection_problems)
            .collect()
    }

    /// The configured `topic` rule, when a `topic` is configured.
    pub fn configured_topic(&self) -> Option<&ConfiguredTopic> {
        self.configured_topic.as_ref()
    }

    /// For `errors.tolerance=none`: once the broker refuses a record as it is, nothing after it is written to
    /// its partition, so the restart that follows the task's failure sends none of them twice.
    pub fn stop_after_refused_record(&self) {
        if let Some(producer) = &self.producer {
            producer.stop_partitions_after_refusal();
        }
    }

    /// The records the broker refused as they are at the last `flush`, which otherwise succeeded: the engine
    /// dead-letters them (`errors.tolerance=all`) or fails the task after committing the positions of the
    /// records before the first of them.
    pub fn take_refused(&mut self) -> Vec<SinkRefusal> {
        std::mem::take(&mut self.refused)
    }

    fn producer(&self) -> Result<&Producer, ConnectorError> {
        self.producer
            .as_ref()
            .ok_or_else(|| ConnectorError::fatal("kafka sink is closed"))
    }
}

/// Aborts the open transaction after `message` failed it (unless the producer is `fenced`, when there is nothing
/// it may do), and says why it failed. A record the broker refused as it is fails the task for good: the
/// transaction cannot commit without it, and every retry would meet it again.
async fn abort_failed_transaction(
    producer: &Producer,
    fenced: bool,
    message: String,
) -> ConnectorError {
    if !fenced {
        let _ = producer.abort_transaction().await;
    }
    match producer.take_refused().first() {
        Some(refused) => ConnectorError::permanent(format!(
            "kafka sink: transaction aborted: {}; the record is larger than the broker or topic accepts \
             (message.max.bytes, max.message.bytes), and exactly-once cannot skip it: raise the topic's \
             max.message.bytes or lower max.request.size, then restart the task",
            refused.error
        )),
        None => ConnectorError::fatal(message),
    }
}

/// What `put` writes one record with: the configured topic and the sink's reused conversion buffers.
struct Outgoing<'a> {
    default_topic: Option<&'a str>,
    key_buf: &'a mut BytesMut,
    value_buf: &'a mut BytesMut,
}

impl Outgoing<'_> {
    /// Converts one record and hands it to the producer. A record that can never be written fails with
    /// [`ConnectorError::rejected`]; a producer that can no longer send, with a plain failure.
    async fn send(
        &mut self,
        producer: &Producer,
        record: &ConnectRecord,
        converters: &mut Converters,
    ) -> Result<RecordId, ConnectorError> {
        self.key_buf.clear();
        self.value_buf.clear();
        let topic: &str = if record.topic.as_str().is_empty() {
            self.default_topic.unwrap_or_default()
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
            .write_to(&mut converters.key, topic, self.key_buf)
            .map_err(|e| conversion_error("KEY_CONVERTER", "key", &e))?;
        let has_value = record
            .value
            .write_to(&mut converters.value, topic, self.value_buf)
            .map_err(|e| conversion_error("VALUE_CONVERTER", "value", &e))?;
        let mut header_values: Vec<(Str, Option<Bytes>)> = Vec::with_capacity(record.headers.len());
        for header in &record.headers {
            let bytes = match (&mut converters.header, &header.schema, &header.value) {
                // Read from Kafka and never converted: as it came.
                (_, None, Value::Bytes(b)) => Some(b.clone()),
                (_, None, Value::Null) => None,
                (Some(converter), schema, value) => converter
                    .from_connect(topic, schema.as_ref(), value)
                    .map_err(|e| conversion_error("HEADER_CONVERTER", "header", &e))?,
                (None, _, value) => header_bytes(value),
            };
            header_values.push((header.key.clone(), bytes));
        }
        let headers: Vec<HeaderRef<'_>> = header_values
            .iter()
            .map(|(k, v)| HeaderRef {
                key: k.as_bytes(),
                value: v.as_deref(),
            })
            .collect();
        producer
            .send_tracked(RecordRef {
                topic,
                partition: None,
                key: has_key.then_some(&self.key_buf[..]),
                value: has_value.then_some(&self.value_buf[..]),
                headers: &headers,
                timestamp_ms: record.timestamp.unwrap_or(TIMESTAMP_ON_SEND),
            })
            .await
            .map_err(|e| match e {
                // Only this record is refused: the producer goes on with the others.
                ProduceError::RecordTooLarge { .. } | ProduceError::Encode { .. } => {
                    ConnectorError::rejected("KAFKA_PRODUCE", format!("kafka sink: {topic}: {e}"))
                }
                other => ConnectorError::fatal(format!("kafka sink: {other}")),
            })
    }
}

/// A key or value its converter cannot write: rejected at `stage`, retriable where the converter says trying
/// again may succeed.
fn conversion_error(stage: &'static str, what: &str, e: &ConvertError) -> ConnectorError {
    ConnectorError {
        retriable: e.is_retriable(),
        ..ConnectorError::rejected(stage, format!("kafka sink: {what} conversion: {e}"))
    }
}

/// What Kafka's `SimpleHeaderConverter` writes of a header value: strings as UTF-8, bytes as they are, other
/// values as text.
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
        let mut out = Outgoing {
            default_topic: self.topic.as_deref(),
            key_buf: &mut self.key_buf,
            value_buf: &mut self.value_buf,
        };
        let window = &mut self.window;
        for index in 0..records.len() {
            match out.send(producer, &records[index], converters).await {
                Ok(id) => window.sent(id, window.handed + index),
                Err(error) => {
                    // The records before it are accepted; it and the rest stay for the engine (see
                    // `rejected_at`), which takes it out: it counts as handed.
                    window.handed += index + 1;
                    records.drain(..index);
                    return Err(error);
                }
            }
        }
        window.handed += records.len();
        records.clear();
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ConnectorError> {
        let producer = self
            .producer
            .as_ref()
            .ok_or_else(|| ConnectorError::fatal("kafka sink is closed"))?;
        let stats = producer.flush().await;
        // Records refused as they are are the engine's to handle, by their place in the window; any other
        // failure fails the flush.
        let window = std::mem::take(&mut self.window);
        for refused in producer.take_refused() {
            if let Some(index) = window.index_of(refused.id) {
                self.failed_at_last_flush += 1;
                self.refused.push(SinkRefusal {
                    index,
                    record: refused_connect_record(&refused),
                    message: format!(
                        "kafka sink: {}; the record is larger than the broker or topic accepts \
                         (message.max.bytes, max.message.bytes)",
                        refused.error
                    ),
                });
            }
        }
        self.refused.sort_by_key(|r| r.index);
        // Records held back after a refused one (errors.tolerance=none) are the engine's too: it commits
        // nothing from the first refused record on.
        let failed = stats.failed - stats.not_sent_after_refusal;
        if failed > self.failed_at_last_flush {
            self.failed_at_last_flush = failed;
            self.refused.clear();
            return Err(match stats.first_error {
                // The broker refuses the batch as it is (a record larger than the topic's max.message.bytes):
                // sent again after a restart, it would be refused again, after the records before it.
                Some(
                    error @ ProduceError::Broker {
                        error:
                            ResponseError::MessageTooLarge
                            | ResponseError::RecordListTooLarge
                            | ResponseError::InvalidRecord,
                        ..
                    },
                ) => ConnectorError::permanent(format!(
                    "kafka sink: {error}; a record is larger than the broker or topic accepts \
                     (message.max.bytes, max.message.bytes): lower max.request.size to what the topic takes"
                )),
                Some(error) => ConnectorError::fatal(format!("kafka sink: {error}")),
                None => ConnectorError::fatal("kafka sink: records were not delivered"),
            });
        }
        Ok(())
    }

    async fn close(&mut self) {
        if let Some(producer) = self.producer.take() {
            producer.close().await;
        }
    }
}
