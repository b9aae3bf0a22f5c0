//! The `http` sink: record values gathered into JSON arrays and POSTed, batch by batch, in order.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use super::client::{post, Endpoint};
use super::config::HttpSinkConfig;
use crate::connect::connector::{ConnectorError, Converters, SinkTask, TaskId};
use crate::connect::converters::Converter;
use crate::connect::record::ConnectRecord;

/// How much of a refusing server's body goes into the error.
const MAX_ERROR_BODY_CHARS: usize = 2000;

pub struct HttpSink {
    endpoint: Endpoint,
    headers: Vec<(String, String)>,
    max_records: usize,
    max_bytes: usize,
    retry_max: u32,
    backoff: Duration,
    backoff_max: Duration,
    request_timeout: Duration,
    /// The batch being filled: `[` then comma-separated values, without the closing `]`.
    open: BytesMut,
    open_records: usize,
    /// Complete request bodies, oldest first, not yet accepted by the endpoint.
    sealed: VecDeque<Bytes>,
    scratch: BytesMut,
}

impl HttpSink {
    /// Takes the checked URL and headers of `config`; connects only when the first batch is sent.
    pub async fn open(config: &HttpSinkConfig, task: TaskId) -> Result<Self, ConnectorError> {
        let _ = task;
        Ok(HttpSink {
            endpoint: config.endpoint.clone(),
            headers: config.headers.clone(),
            max_records: config.max_records,
            max_bytes: config.max_bytes,
            retry_max: config.retry_max,
            backoff: config.backoff,
            backoff_max: config.backoff_max,
            request_timeout: config.request_timeout,
            open: BytesMut::new(),
            open_records: 0,
            sealed: VecDeque::new(),
            scratch: BytesMut::new(),
        })
    }

    /// Batches waiting to be accepted (sealed, plus the open one if it has records).
    pub fn pending_batches(&self) -> usize {
        self.sealed.len() + usize::from(self.open_records > 0)
    }

    /// Writes `record`'s value as one JSON value into `scratch`.
    fn write_value(
        &mut self,
        record: &ConnectRecord,
        value_converter: &mut Converter,
    ) -> Result<(), ConnectorError> {
        self.scratch.clear();
        let mut bytes = BytesMut::new();
        let written = record
            .value
            .write_to(value_converter, &record.topic, &mut bytes)
            .map_err(|e| ConnectorError {
                retriable: e.is_retriable(),
                ..ConnectorError::rejected(
                    "VALUE_CONVERTER",
                    format!(
                        "http sink: cannot convert a record value of topic `{}`: {e}",
                        record.topic
                    ),
                )
            })?;
        if !written {
            self.scratch.extend_from_slice(b"null");
            return Ok(());
        }
        // The json converter's output is JSON (raw input it could not read was refused above); any other
        // converter's goes in as a JSON string.
        if matches!(value_converter, Converter::Json(_)) {
            self.scratch = bytes;
        } else {
            let text = String::from_utf8_lossy(&bytes);
            serde_json::to_writer((&mut self.scratch).writer(), text.as_ref()).map_err(|e| {
                ConnectorError::fatal(format!("http sink: cannot write a JSON string: {e}"))
            })?;
        }
        Ok(())
    }

    fn append(&mut self) {
        // A value that would overflow a non-empty batch starts the next one.
        if self.open_records > 0 && self.open.len() + 1 + self.scratch.len() + 1 > self.max_bytes {
            self.seal();
        }
        self.open
            .extend_from_slice(if self.open_records == 0 { b"[" } else { b"," });
        self.open.extend_from_slice(&self.scratch);
        self.open_records += 1;
        if self.open_records >= self.max_records || self.open.len() + 1 >= self.max_bytes {
            self.seal();
        }
    }

    fn seal(&mut self) {
        if self.open_records == 0 {
            return;
        }
        self.open.extend_from_slice(b"]");
        self.sealed.push_back(self.open.split().freeze());
        self.open_records = 0;
    }

    async fn send_sealed(&mut self) -> Result<(), ConnectorError> {
        while let Some(body) = self.sealed.front().cloned() {
            self.send(&body).await?;
            self.sealed.pop_front();
        }
        Ok(())
    }

    /// Sends one body until it is accepted, a 4xx refuses it, or the retries run out.
    async fn send(&self, body: &[u8]) -> Result<(), ConnectorError> {
        let mut backoff = self.backoff;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let failure = match post(&self.endpoint, &self.headers, body, self.request_timeout)
                .await
            {
                Ok(response) if (200..300).contains(&response.status) => return Ok(()),
                Ok(response) => {
                    let text = body_text(&response.body);
                    let retriable = response.status >= 500 || matches!(response.status, 408 | 429);
                    if !retriable {
                        return Err(ConnectorError::fatal(format!(
                            "http sink: {} refused a batch with status {}: {text}",
                            self.endpoint, response.status
                        )));
                    }
                    format!("status {}: {text}", response.status)
                }
                Err(e) => e.to_string(),
            };
            if attempt > self.retry_max {
                return Err(ConnectorError::retriable(format!(
                    "http sink: POST to {} failed {attempt} times, last: {failure}",
                    self.endpoint
                )));
            }
            tracing::warn!(
                endpoint = %self.endpoint,
                attempt,
                retry_in_ms = backoff.as_millis() as u64,
                "http sink: request failed, retrying: {failure}"
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.backoff_max);
        }
    }
}

fn body_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    match text.char_indices().nth(MAX_ERROR_BODY_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

impl SinkTask for HttpSink {
    /// Adds the records to the open batch; full batches are sent before this returns (so a slow endpoint
    /// slows the pipeline). On an error the unsent batches are kept and sent first by the next call.
    async fn put(
        &mut self,
        records: &mut Vec<ConnectRecord>,
        converters: &mut Converters,
    ) -> Result<(), ConnectorError> {
        for index in 0..records.len() {
            if let Err(error) = self.write_value(&records[index], &mut converters.value) {
                // The records before it are in batches; it and the rest stay (see `rejected_at`).
                records.drain(..index);
                self.send_sealed().await?;
                return Err(error);
            }
            self.append();
        }
        records.clear();
        self.send_sealed().await
    }

    async fn flush(&mut self) -> Result<(), ConnectorError> {
        self.seal();
        self.send_sealed().await
    }

    async fn close(&mut self) {
        if let Err(e) = self.flush().await {
            tracing::warn!(endpoint = %self.endpoint, error = %e, "http sink: batches not sent at close");
        }
    }
}
