//! What a source task and a sink task are. The engine drives them on one core's executor.
//!
//! Sources hand out records with their position (`ConnectRecord::source_offset`); the engine persists a
//! position only after the sink acknowledged every record before it (at-least-once), and gives it back to the
//! source at the next start. Sinks accept records with `put` and make them durable with `flush`. Both are
//! single-threaded: their futures need not be `Send`.

use std::future::Future;

use super::converters::Converter;
use super::record::{ConnectRecord, SourcePosition};

/// A connector failed; `retriable` errors make the engine retry the same call after a backoff, others fail
/// the task (which restarts with backoff), except a rejected record's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectorError {
    pub message: String,
    pub retriable: bool,
    /// Set by a sink's `put` that can never write `records[0]` (larger than the producer or broker accepts,
    /// a value its converter cannot write): Kafka Connect's stage name (`KAFKA_PRODUCE`, `VALUE_CONVERTER`, …).
    /// The records before it were accepted; it and the ones after it are left in the vector. Retrying or
    /// restarting would meet the same record again, so the engine skips or dead-letters it
    /// (`errors.tolerance=all`) or fails the task for good.
    pub rejected_at: Option<&'static str>,
    /// No restart would cure it (a record refused each time it is sent): the task stays failed until an
    /// operator restarts it.
    pub permanent: bool,
}

impl ConnectorError {
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retriable: false,
            rejected_at: None,
            permanent: false,
        }
    }

    pub fn retriable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retriable: true,
            rejected_at: None,
            permanent: false,
        }
    }

    /// The sink cannot write `records[0]` at `stage`; see [`ConnectorError::rejected_at`].
    pub fn rejected(stage: &'static str, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retriable: false,
            rejected_at: Some(stage),
            permanent: true,
        }
    }

    /// A failure no restart would cure; see [`ConnectorError::permanent`].
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retriable: false,
            rejected_at: None,
            permanent: true,
        }
    }
}

/// What one `poll` found.
#[derive(Debug)]
pub enum SourcePoll {
    /// Records, in order; each carries its position in `source_offset`.
    Records(Vec<ConnectRecord>),
    /// Nothing now; the source waited a little (it must not spin) and can be polled again.
    Idle,
    /// The input ended for good (stdin closed, a bounded datagen run); the pipeline drains and stops.
    Finished,
}

/// Which task of how many, for sources and sinks that split work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskId {
    pub index: u32,
    pub count: u32,
}

/// The key, value and header converters of a pipeline, for sinks that write bytes (Kafka, file, stdout,
/// HTTP).
#[derive(Debug, Clone)]
pub struct Converters {
    pub key: Converter,
    pub value: Converter,
    /// Writes the header values that transforms set (headers read from Kafka go out as they came); `None` is
    /// Kafka's default `SimpleHeaderConverter`: strings as UTF-8, bytes as they are, other values as text.
    pub header: Option<Converter>,
}

impl Converters {
    /// Key and value converters, and the default header converter.
    pub fn new(key: Converter, value: Converter) -> Self {
        Self {
            key,
            value,
            header: None,
        }
    }
}

/// How much one [`SourceTask::poll`] may return: the engine's bound on what is between source and sink
/// (`queue.max.records`, `queue.max.bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollLimit {
    /// Most records (a poll returns at least one when it returns records).
    pub records: usize,
    /// Most bytes of raw keys and values; a single larger record is returned alone.
    pub bytes: usize,
}

impl PollLimit {
    /// At most `records` records, whatever their size.
    pub fn records(records: usize) -> Self {
        Self {
            records,
            bytes: usize::MAX,
        }
    }

    /// Whether a poll holding `records` records of `bytes` bytes may take no more.
    pub fn is_reached(&self, records: usize, bytes: usize) -> bool {
        records >= self.records.max(1) || (records > 0 && bytes >= self.bytes)
    }
}

/// A running source task.
pub trait SourceTask {
    /// Records within `limit`, or `Idle` after waiting briefly, or `Finished`.
    fn poll(
        &mut self,
        limit: PollLimit,
    ) -> impl Future<Output = Result<SourcePoll, ConnectorError>>;

    /// Everything up to and including `position` reached the sink. Sources that keep their own positions
    /// (the Kafka source commits to its consumer group) act on it; others need do nothing, as the engine
    /// stores positions itself.
    fn commit(
        &mut self,
        position: &SourcePosition,
    ) -> impl Future<Output = Result<(), ConnectorError>>;

    /// Stop; release files and connections.
    fn close(&mut self) -> impl Future<Output = ()>;
}

/// A running sink task.
pub trait SinkTask {
    /// Accepts `records` (drained from the vector), writing them or buffering them for `flush`. A record it
    /// can never write fails the call with [`ConnectorError::rejected`], leaving it and the records after it in
    /// the vector.
    fn put(
        &mut self,
        records: &mut Vec<ConnectRecord>,
        converters: &mut Converters,
    ) -> impl Future<Output = Result<(), ConnectorError>>;

    /// Makes every record `put` so far durable (written and synced, acknowledged by the broker, accepted by
    /// the HTTP endpoint). Only after this does the engine commit the sources' positions.
    fn flush(&mut self) -> impl Future<Output = Result<(), ConnectorError>>;

    fn close(&mut self) -> impl Future<Output = ()>;
}
