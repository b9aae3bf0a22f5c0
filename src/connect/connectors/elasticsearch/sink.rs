//! The `elasticsearch` sink task: each `put` converts its records into bulk items, sends them in requests of
//! at most batch.size (up to max.in.flight.requests at once) and returns only once every item's reply is in,
//! so what the engine commits after `flush` was written. Retriable refusals (429, 5xx, connection failures)
//! are retried with exponential backoff and jitter; a malformed document is reported as the rejected record.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::bulk::{self, Action, ItemOutcome};
use super::client::{ClusterClient, RequestError, Response};
use super::config::{ElasticsearchSinkConfig, MalformedDocuments, NullValues, WriteMethod};
use super::mapping;
use crate::connect::connector::{ConnectorError, Converters, SinkTask, TaskId};
use crate::connect::converters::json::JsonOptions;
use crate::connect::converters::JsonConverter;
use crate::connect::data::SchemaRef;
use crate::connect::record::{ConnectRecord, Data};

/// How much of a refusing server's body goes into an error.
const MAX_ERROR_BODY_CHARS: usize = 2000;
/// Confluent's cap on one retry wait.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// One record's bulk lines.
struct Item {
    /// Its index in the put's vector.
    record: usize,
    lines: Bytes,
    versioned: bool,
}

/// The final word on one item.
enum Settled {
    Done,
    /// The record can never be written (behavior.on.malformed.documents=fail).
    Rejected(String),
    /// The request or item failed for good or ran out of retries.
    Failed(ConnectorError),
}

/// Why a request got no usable reply.
enum RequestFailure {
    /// Worth retrying: a connection failure, a timeout, 429 or 5xx.
    Retriable(String),
    Fatal(String),
}

pub struct ElasticsearchSink {
    config: ElasticsearchSinkConfig,
    client: ClusterClient,
    /// The URL requests go to; moves on to the next one after a connection failure.
    current: Cell<usize>,
    rng: RefCell<fastrand::Rng>,
    /// Writes document bodies: plain JSON; decimals as numbers when the schema is used (Confluent maps them to
    /// doubles).
    documents: JsonConverter,
    /// Indices this task made sure exist (and have a mapping, with schema.ignore=false).
    prepared: HashSet<String>,
    /// The last topic's index name, so a run of one topic computes it once.
    last_index: Option<(String, String)>,
}

impl ElasticsearchSink {
    /// Takes the checked config; connects only when the first request is sent.
    pub async fn open(
        config: &ElasticsearchSinkConfig,
        task: TaskId,
    ) -> Result<Self, ConnectorError> {
        // Tasks spread over the URLs from the start.
        let first = task.index as usize % config.endpoints.len().max(1);
        // The PEM files are read now, so a missing or bad one fails the task at once, naming it.
        let tls = match &config.tls {
            Some(settings) => Some(
                settings
                    .client_config()
                    .map_err(|e| ConnectorError::fatal(format!("elasticsearch sink: {e}")))?,
            ),
            None => None,
        };
        Ok(Self {
            client: ClusterClient::new(
                config.endpoints.clone(),
                config.authorization.clone(),
                config.connect_timeout,
                config.read_timeout,
                tls,
            ),
            current: Cell::new(first),
            rng: RefCell::new(fastrand::Rng::new()),
            documents: JsonConverter::new(JsonOptions {
                schemas_enable: false,
                decimal_numeric: !config.schema_ignore,
                ..JsonOptions::default()
            }),
            prepared: HashSet::new(),
            last_index: None,
            config: config.clone(),
        })
    }

    fn index_for(&mut self, topic: &str) -> String {
        match &self.last_index {
            Some((t, index)) if t == topic => index.clone(),
            _ => {
                let index = bulk::index_name(topic);
                self.last_index = Some((topic.to_owned(), index.clone()));
                index
            }
        }
    }

    /// The record's bulk item, or `None` for a record that writes nothing (a tombstone ignored, or one without
    /// a key to delete by). Errors reject the record.
    async fn encode(
        &mut self,
        position: usize,
        record: &ConnectRecord,
        converters: &mut Converters,
    ) -> Result<Option<Item>, ConnectorError> {
        let topic = record.topic.to_string();
        // Converted on a copy (raw bytes are shared, not copied): a rejected record goes to the dead-letter
        // topic as it arrived.
        let mut value_data = record.value.clone();
        let value = value_data
            .convert(&mut converters.value, &topic)
            .map_err(|e| ConnectorError {
                retriable: e.is_retriable(),
                ..ConnectorError::rejected(
                    "VALUE_CONVERTER",
                    format!(
                        "elasticsearch sink: cannot convert a record value of topic `{topic}`: {e}"
                    ),
                )
            })?;
        let is_tombstone = value.value.is_null();
        let schema: Option<SchemaRef> = value.schema.clone();
        let value = &*value;
        if is_tombstone {
            match self.config.null_values {
                NullValues::Ignore => return Ok(None),
                NullValues::Fail => {
                    return Err(ConnectorError::rejected(
                        "TASK_PUT",
                        format!(
                            "elasticsearch sink: a record of topic `{topic}` has a null value (set \
                             behavior.on.null.values=ignore to skip such records, or delete to delete their \
                             documents)"
                        ),
                    ))
                }
                NullValues::Delete => {
                    // Without a key there is no document to delete (Confluent skips these too).
                    let key_is_null = match &record.key {
                        Data::Raw(bytes) => bytes.is_none(),
                        Data::Converted(sv) => sv.value.is_null(),
                    };
                    if key_is_null {
                        return Ok(None);
                    }
                }
            }
        }
        let id = self.document_id(record, converters, &topic)?;
        let index = self.index_for(&topic);
        let version = if self.config.key_ignore {
            None
        } else {
            record.kafka_offset
        };
        let mut lines = BytesMut::new();
        if is_tombstone {
            bulk::write_item(&mut lines, Action::Delete, &index, &id, version, b"");
            return Ok(Some(Item {
                record: position,
                lines: lines.freeze(),
                versioned: version.is_some(),
            }));
        }
        self.prepare_index(&index, schema.as_ref()).await?;
        let mut document = BytesMut::new();
        self.documents
            .write_connect(value.schema.as_ref(), &value.value, &mut document)
            .map_err(|e| {
                ConnectorError::rejected(
                    "TASK_PUT",
                    format!(
                        "elasticsearch sink: cannot write a value of topic `{topic}` as JSON: {e}"
                    ),
                )
            })?;
        let (action, version) = match self.config.write_method {
            WriteMethod::Insert => (Action::Index, version),
            // An update cannot carry an external version.
            WriteMethod::Upsert => (
                Action::Upsert {
                    retry_on_conflict: self.config.max_in_flight.min(5),
                },
                None,
            ),
        };
        bulk::write_item(&mut lines, action, &index, &id, version, &document);
        Ok(Some(Item {
            record: position,
            lines: lines.freeze(),
            versioned: version.is_some(),
        }))
    }

    fn document_id(
        &self,
        record: &ConnectRecord,
        converters: &mut Converters,
        topic: &str,
    ) -> Result<String, ConnectorError> {
        if self.config.key_ignore {
            return match (record.partition, record.kafka_offset) {
                (Some(partition), Some(offset)) => Ok(bulk::offset_id(topic, partition, offset)),
                _ => Err(ConnectorError::rejected(
                    "TASK_PUT",
                    format!(
                        "elasticsearch sink: a record of topic `{topic}` has no Kafka partition and offset to form \
                         its document id (key.ignore=true needs records read from Kafka; set key.ignore=false to \
                         use the key)"
                    ),
                )),
            };
        }
        let mut key_data = record.key.clone();
        let key = key_data
            .convert(&mut converters.key, topic)
            .map_err(|e| ConnectorError {
                retriable: e.is_retriable(),
                ..ConnectorError::rejected(
                    "KEY_CONVERTER",
                    format!(
                        "elasticsearch sink: cannot convert a record key of topic `{topic}`: {e}"
                    ),
                )
            })?;
        bulk::key_id(&key.value).map_err(|e| {
            ConnectorError::rejected(
                "TASK_PUT",
                format!("elasticsearch sink: a record of topic `{topic}`: {e}"),
            )
        })
    }

    /// Creates `index` if it does not exist, and with schema.ignore=false gives an index without mapping the
    /// one derived from `schema`, once per index and task (as Confluent's task does before its first write).
    async fn prepare_index(
        &mut self,
        index: &str,
        schema: Option<&SchemaRef>,
    ) -> Result<(), ConnectorError> {
        if self.prepared.contains(index) {
            return Ok(());
        }
        let mapping = if self.config.schema_ignore {
            None
        } else {
            let schema = schema.ok_or_else(|| {
                ConnectorError::rejected(
                    "TASK_PUT",
                    format!(
                        "elasticsearch sink: a value without schema cannot give index `{index}` a mapping (set \
                         schema.ignore=true for schemaless data, or use a converter with schemas)"
                    ),
                )
            })?;
            Some(mapping::mapping_body(schema).map_err(|e| {
                ConnectorError::rejected(
                    "TASK_PUT",
                    format!("elasticsearch sink: index `{index}`: {e}"),
                )
            })?)
        };
        let path = format!("/{}", percent_encode_path(index));
        let exists = self
            .with_retries(&format!("check index `{index}`"), || async {
                let response = self.request("HEAD", &path, &[]).await?;
                match response.status {
                    200 => Ok(true),
                    404 => Ok(false),
                    _ => Err(refusal(&response, "HEAD", &path)),
                }
            })
            .await?;
        if !exists {
            self.with_retries(&format!("create index `{index}`"), || async {
                let response = self.request("PUT", &path, b"{}").await?;
                if (200..300).contains(&response.status)
                    || body_text(&response.body).contains("resource_already_exists_exception")
                {
                    Ok(())
                } else {
                    Err(refusal(&response, "PUT", &path))
                }
            })
            .await?;
        }
        if let Some(mapping) = mapping {
            let mapping_path = format!("{path}/_mapping");
            let has_mapping = self
                .with_retries(&format!("read the mapping of `{index}`"), || async {
                    let response = self.request("GET", &mapping_path, &[]).await?;
                    if !(200..300).contains(&response.status) {
                        return Err(refusal(&response, "GET", &mapping_path));
                    }
                    let json: serde_json::Value =
                        serde_json::from_slice(&response.body).map_err(|e| {
                            RequestFailure::Fatal(format!("GET {mapping_path}: not JSON: {e}"))
                        })?;
                    // `{index: {"mappings": {"properties": {...}}}}`
                    Ok(json
                        .as_object()
                        .and_then(|o| o.values().next())
                        .and_then(|i| i.pointer("/mappings/properties"))
                        .and_then(|p| p.as_object())
                        .is_some_and(|p| !p.is_empty()))
                })
                .await?;
            if !has_mapping {
                let body = mapping.to_string();
                self.with_retries(&format!("put the mapping of `{index}`"), || async {
                    let response = self.request("PUT", &mapping_path, body.as_bytes()).await?;
                    if (200..300).contains(&response.status) {
                        Ok(())
                    } else {
                        Err(refusal(&response, "PUT", &mapping_path))
                    }
                })
                .await?;
            }
        }
        self.prepared.insert(index.to_owned());
        Ok(())
    }

    /// One request to the current URL; a connection failure moves on to the next URL for the next attempt.
    async fn request(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Response, RequestFailure> {
        let index = self.current.get();
        let content_type = if path.ends_with("/_bulk") {
            "application/x-ndjson"
        } else {
            "application/json"
        };
        match self
            .client
            .request(index, method, path, content_type, body)
            .await
        {
            Ok(response) if response.status == 429 || response.status >= 500 => {
                Err(RequestFailure::Retriable(format!(
                    "{method} {path} on {}: status {}: {}",
                    self.client.endpoint(index),
                    response.status,
                    body_text(&response.body)
                )))
            }
            Ok(response) => Ok(response),
            Err(e) => {
                if matches!(
                    e,
                    RequestError::Connect { .. }
                        | RequestError::Io { .. }
                        | RequestError::Timeout { .. }
                ) {
                    self.current.set((index + 1) % self.client.endpoint_count());
                }
                Err(RequestFailure::Retriable(e.to_string()))
            }
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or max.retries retries failed.
    async fn with_retries<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, ConnectorError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, RequestFailure>>,
    {
        let mut retries = 0u32;
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(RequestFailure::Fatal(message)) => {
                    return Err(ConnectorError::fatal(format!(
                        "elasticsearch sink: cannot {what}: {message}"
                    )))
                }
                Err(RequestFailure::Retriable(message)) => {
                    if retries >= self.config.max_retries {
                        return Err(ConnectorError::retriable(format!(
                            "elasticsearch sink: cannot {what} after {} attempts (max.retries={}), last: {message}",
                            retries + 1,
                            self.config.max_retries
                        )));
                    }
                    retries += 1;
                    let wait = self.retry_wait(retries);
                    tracing::warn!(
                        retry = retries,
                        wait_ms = wait.as_millis() as u64,
                        "elasticsearch sink: cannot {what}, retrying: {message}"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Retry n waits a random time below retry.backoff.ms × 2^n (Confluent's exponential backoff with full
    /// jitter), so tasks refused together do not come back together.
    fn retry_wait(&self, retry: u32) -> Duration {
        let ceiling = self
            .config
            .retry_backoff
            .checked_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(MAX_RETRY_WAIT)
            .min(MAX_RETRY_WAIT);
        let ceiling_ms = ceiling.as_millis() as u64;
        if ceiling_ms == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(self.rng.borrow_mut().u64(0..ceiling_ms))
    }

    /// Sends `items` in one bulk request and retries the items refused with 429 or 5xx (and the whole request
    /// after a connection failure, 429 or 5xx), until each is settled.
    async fn send_batch(&self, items: &[Item]) -> Vec<(usize, Settled)> {
        let mut settled = Vec::with_capacity(items.len());
        let mut pending: Vec<&Item> = items.iter().collect();
        let mut retries = 0u32;
        let mut body = BytesMut::new();
        loop {
            body.clear();
            for item in &pending {
                body.extend_from_slice(&item.lines);
            }
            let versioned: Vec<bool> = pending.iter().map(|i| i.versioned).collect();
            let last = match self.request("POST", "/_bulk", &body).await {
                Ok(response) if (200..300).contains(&response.status) => {
                    match bulk::parse_reply(&response.body, &versioned) {
                        Err(e) => {
                            let error = ConnectorError::fatal(format!(
                                "elasticsearch sink: {}: {e}",
                                self.client.endpoint(self.current.get())
                            ));
                            settled.extend(
                                pending
                                    .iter()
                                    .map(|i| (i.record, Settled::Failed(error.clone()))),
                            );
                            return settled;
                        }
                        Ok(outcomes) => {
                            let mut again = Vec::new();
                            let mut last = String::new();
                            for (item, outcome) in pending.iter().zip(outcomes) {
                                match outcome {
                                    ItemOutcome::Done | ItemOutcome::AlreadyNewer => settled.push((item.record, Settled::Done)),
                                    ItemOutcome::Conflict(message) => {
                                        tracing::warn!("elasticsearch sink: version conflict, the document keeps the other write: {message}");
                                        settled.push((item.record, Settled::Done));
                                    }
                                    ItemOutcome::Retriable(message) => {
                                        last = message;
                                        again.push(*item);
                                    }
                                    ItemOutcome::Malformed(message) => settled.push((item.record, self.malformed(message))),
                                    ItemOutcome::Failed(message) => settled.push((
                                        item.record,
                                        Settled::Failed(ConnectorError::fatal(format!(
                                            "elasticsearch sink: the cluster refused a document: {message}"
                                        ))),
                                    )),
                                }
                            }
                            if again.is_empty() {
                                return settled;
                            }
                            pending = again;
                            format!("{} items refused, last: {last}", pending.len())
                        }
                    }
                }
                Ok(response) => {
                    let error = ConnectorError::fatal(format!(
                        "elasticsearch sink: {} refused a bulk request: {}",
                        self.client.endpoint(self.current.get()),
                        match refusal(&response, "POST", "/_bulk") {
                            RequestFailure::Fatal(m) | RequestFailure::Retriable(m) => m,
                        }
                    ));
                    settled.extend(
                        pending
                            .iter()
                            .map(|i| (i.record, Settled::Failed(error.clone()))),
                    );
                    return settled;
                }
                Err(RequestFailure::Fatal(message)) => {
                    let error = ConnectorError::fatal(format!("elasticsearch sink: {message}"));
                    settled.extend(
                        pending
                            .iter()
                            .map(|i| (i.record, Settled::Failed(error.clone()))),
                    );
                    return settled;
                }
                Err(RequestFailure::Retriable(message)) => message,
            };
            if retries >= self.config.max_retries {
                let error = ConnectorError::retriable(format!(
                    "elasticsearch sink: bulk request failed after {} attempts (max.retries={}), last: {last}",
                    retries + 1,
                    self.config.max_retries
                ));
                settled.extend(
                    pending
                        .iter()
                        .map(|i| (i.record, Settled::Failed(error.clone()))),
                );
                return settled;
            }
            retries += 1;
            let wait = self.retry_wait(retries);
            tracing::warn!(
                retry = retries,
                wait_ms = wait.as_millis() as u64,
                "elasticsearch sink: retrying a bulk request: {last}"
            );
            tokio::time::sleep(wait).await;
        }
    }

    fn malformed(&self, message: String) -> Settled {
        match self.config.malformed {
            MalformedDocuments::Ignore => {
                tracing::debug!("elasticsearch sink: ignoring a malformed document: {message}");
                Settled::Done
            }
            MalformedDocuments::Warn => {
                tracing::warn!("elasticsearch sink: skipping a malformed document: {message}");
                Settled::Done
            }
            MalformedDocuments::Fail => Settled::Rejected(format!(
                "elasticsearch sink: the cluster refused the document as malformed: {message} (set \
                 behavior.on.malformed.documents=warn or ignore to skip such documents)"
            )),
        }
    }

    /// Sends `items` in batches of batch.size, at most max.in.flight.requests at once; the outcomes sorted by
    /// record.
    async fn send_all(&self, items: &[Item]) -> Vec<(usize, Settled)> {
        let mut batches = items.chunks(self.config.batch_size);
        let mut in_flight = FuturesUnordered::new();
        let mut settled = Vec::with_capacity(items.len());
        for batch in batches.by_ref().take(self.config.max_in_flight) {
            in_flight.push(self.send_batch(batch));
        }
        while let Some(outcomes) = in_flight.next().await {
            settled.extend(outcomes);
            if let Some(batch) = batches.next() {
                in_flight.push(self.send_batch(batch));
            }
        }
        settled.sort_by_key(|(record, _)| *record);
        settled
    }
}

/// The error of a response that is neither success nor retriable.
fn refusal(response: &Response, method: &str, path: &str) -> RequestFailure {
    RequestFailure::Fatal(format!(
        "{method} {path}: status {}: {}",
        response.status,
        body_text(&response.body)
    ))
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

/// An index name as a path segment: lower-case names may still hold characters a URL path cannot.
fn percent_encode_path(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl SinkTask for ElasticsearchSink {
    /// Writes the records and waits for every item's reply, window by window of max.buffered.records. A
    /// record that can never be written (its conversion failed, or the cluster refused it as malformed with
    /// behavior.on.malformed.documents=fail) is rejected with the records after it left in the vector; those
    /// were possibly written already, which is harmless: a re-put writes the same documents with the same
    /// ids.
    async fn put(
        &mut self,
        records: &mut Vec<ConnectRecord>,
        converters: &mut Converters,
    ) -> Result<(), ConnectorError> {
        let mut start = 0;
        while start < records.len() {
            let end = records.len().min(start + self.config.max_buffered);
            let mut items = Vec::with_capacity(end - start);
            let mut conversion_failure = None;
            for (position, record) in records.iter().enumerate().take(end).skip(start) {
                match self.encode(position, record, converters).await {
                    Ok(Some(item)) => items.push(item),
                    Ok(None) => {}
                    Err(e) if e.rejected_at.is_some() => {
                        conversion_failure = Some((position, e));
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            let flush_timeout = self.config.flush_timeout;
            let settled = match tokio::time::timeout(flush_timeout, self.send_all(&items)).await {
                Ok(settled) => settled,
                Err(_) => {
                    return Err(ConnectorError::retriable(format!(
                    "elasticsearch sink: {} records were not written within flush.timeout.ms={}",
                    items.len(),
                    flush_timeout.as_millis()
                )))
                }
            };
            for (position, outcome) in settled {
                match outcome {
                    Settled::Done => {}
                    Settled::Rejected(message) => {
                        records.drain(..position);
                        return Err(ConnectorError::rejected("TASK_PUT", message));
                    }
                    Settled::Failed(error) => return Err(error),
                }
            }
            if let Some((position, error)) = conversion_failure {
                records.drain(..position);
                return Err(error);
            }
            start = end;
        }
        records.clear();
        Ok(())
    }

    /// Nothing is held between puts: each put returned only after its items were written.
    async fn flush(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }

    async fn close(&mut self) {}
}
