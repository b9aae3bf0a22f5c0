//! The dead-letter topic of `errors.tolerance=all`: a record that fails a transform is written there as it
//! arrived, one the sink cannot write as it was handed to the sink (raw key, value and headers), with Kafka
//! Connect's `__connect.errors.*` headers saying where and why when
//! `errors.deadletterqueue.context.headers.enable=true`.

use bytes::Bytes;

use crate::client::config::ProducerConfig;
use crate::client::producer::{ProduceError, RecordRef, TIMESTAMP_ON_SEND};
use crate::connect::connector::ConnectorError;
use crate::connect::record::{ConnectRecord, Data};
use crate::protocol::record_batch::HeaderRef;
use crate::runtime::{ConnectionProblems, Producer};

/// Writes failed records to the dead-letter topic.
pub struct DeadLetterQueue {
    producer: Producer,
    topic: String,
    context_headers: bool,
    connector_name: String,
    task_index: u32,
    failed_at_last_flush: u64,
}

fn raw(data: &Data) -> Option<Bytes> {
    match data {
        Data::Raw(bytes) => bytes.clone(),
        // A source that hands out converted data: its text form is the best we can keep.
        Data::Converted(sv) => Some(Bytes::from(sv.value.to_string())),
    }
}

impl DeadLetterQueue {
    pub fn open(
        config: ProducerConfig,
        topic: String,
        context_headers: bool,
        connector_name: &str,
        task_index: u32,
    ) -> Self {
        Self {
            producer: Producer::new(config),
            topic,
            context_headers,
            connector_name: connector_name.to_owned(),
            task_index,
            failed_at_last_flush: 0,
        }
    }

    /// Queues `original` (the record before any transform) with the error context.
    pub async fn send(
        &self,
        original: &ConnectRecord,
        stage: &str,
        error: &str,
    ) -> Result<(), ConnectorError> {
        let key = raw(&original.key);
        let value = raw(&original.value);
        let mut headers: Vec<(Vec<u8>, Option<Vec<u8>>)> = original
            .headers
            .iter()
            .map(|h| {
                let value = match &h.value {
                    crate::connect::data::Value::Null => None,
                    crate::connect::data::Value::Bytes(b) => Some(b.to_vec()),
                    other => Some(other.to_string().into_bytes()),
                };
                (h.key.as_bytes().to_vec(), value)
            })
            .collect();
        if self.context_headers {
            let mut context = |name: &str, value: String| {
                headers.push((
                    format!("__connect.errors.{name}").into_bytes(),
                    Some(value.into_bytes()),
                ));
            };
            context("topic", original.topic.as_str().to_owned());
            if let Some(partition) = original.partition {
                context("partition", partition.to_string());
            }
            if let Some(offset) = original.kafka_offset {
                context("offset", offset.to_string());
            }
            context("connector.name", self.connector_name.clone());
            context("task.id", self.task_index.to_string());
            context("stage", stage.to_owned());
            context("class.name", "pipewright".to_owned());
            context(
                "exception.class.name",
                "org.apache.kafka.connect.errors.DataException".to_owned(),
            );
            context("exception.message", error.to_owned());
        }
        let header_refs: Vec<HeaderRef<'_>> = headers
            .iter()
            .map(|(k, v)| HeaderRef {
                key: k,
                value: v.as_deref(),
            })
            .collect();
        let mut record = RecordRef {
            topic: &self.topic,
            partition: None,
            key: key.as_deref(),
            value: value.as_deref(),
            headers: &header_refs,
            timestamp_ms: original.timestamp.unwrap_or(TIMESTAMP_ON_SEND),
        };
        match self.producer.send_counted(record).await {
            Err(error @ ProduceError::RecordTooLarge { .. }) => {
                // A record too large for the sink is often too large here too: the dead letter keeps its headers
                // (where it came from, why it failed) without the key and value, so it is still on record.
                tracing::warn!(
                    topic = %self.topic,
                    record_topic = original.topic.as_str(),
                    partition = ?original.partition,
                    offset = ?original.kafka_offset,
                    %error,
                    "dead letter written without its key and value"
                );
                record.key = None;
                record.value = None;
                self.producer.send_counted(record).await
            }
            other => other,
        }
        .map_err(|e| ConnectorError::fatal(format!("dead-letter topic {}: {e}", self.topic)))
    }

    /// Waits until every queued record is written; fails if one could not be.
    pub async fn flush(&mut self) -> Result<(), ConnectorError> {
        let stats = self.producer.flush().await;
        if stats.failed > self.failed_at_last_flush {
            self.failed_at_last_flush = stats.failed;
            let error = stats.first_error.map(|e| e.to_string()).unwrap_or_default();
            return Err(ConnectorError::fatal(format!(
                "dead-letter topic {}: {error}",
                self.topic
            )));
        }
        Ok(())
    }

    /// The connection failures the dead-letter producer is telling of now.
    pub fn connection_problems(&self) -> ConnectionProblems {
        self.producer.connection_problems()
    }

    pub async fn close(self) {
        self.producer.close().await;
    }
}
