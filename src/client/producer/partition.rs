//! One partition's batches: the open batch records are appended to, then closed batches in sequence order,
//! some in flight, some waiting (for linger, a free request slot, or a retry backoff).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::{RecordId, RecordRef, RetryRefused};
use crate::client::config::ProducerConfig;
use crate::protocol::record_batch::{
    encoded_record_size, rewrite_producer_state, BatchOptions, HeaderRef, Record, RecordBatch,
    RecordBatchEncoder, RecordBatchError, RecordHeader, DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendState {
    Queued,
    InFlight,
}

/// A closed batch, from the moment it stops taking records until the broker acknowledges it or it fails.
#[derive(Debug)]
pub(crate) struct ProducerBatch {
    pub id: u64,
    pub record_ids: Vec<RecordId>,
    /// Bytes held for its records, as counted against `buffer.memory` (`held_bytes` of each).
    pub size_bytes: usize,
    pub created: Instant,
    /// Until the batch is first sent: finishing it fixes its producer id, epoch and sequence.
    pub encoder: Option<RecordBatchEncoder>,
    pub bytes: Option<Bytes>,
    /// (producer id, epoch, base sequence) written into `bytes`, once sent by an idempotent producer.
    pub sequence: Option<(i64, i16, i32)>,
    pub state: SendState,
    pub attempts: u32,
    pub retry_not_before: Option<Instant>,
    pub last_error: Option<String>,
    /// One of the one-record batches a refused batch was split into.
    pub split: bool,
}

impl ProducerBatch {
    fn encoded_len(&self) -> usize {
        match (&self.bytes, &self.encoder) {
            (Some(bytes), _) => bytes.len(),
            (None, Some(encoder)) => encoder.size_in_bytes(),
            (None, None) => 0,
        }
    }

    fn record_count(&self) -> i32 {
        self.record_ids.len() as i32
    }
}

#[derive(Debug)]
struct OpenBatch {
    encoder: RecordBatchEncoder,
    record_ids: Vec<RecordId>,
    size_bytes: usize,
    created: Instant,
}

#[derive(Debug)]
pub struct PartitionQueue {
    partition: i32,
    open: Option<OpenBatch>,
    batches: VecDeque<ProducerBatch>,
    /// Next base sequence to hand out under `identity`.
    next_sequence: i32,
    identity: Option<(i64, i16)>,
    /// A batch failed and waits to be resent: hold everything until in-flight batches have their outcome.
    retrying: bool,
    in_flight: usize,
    /// A record of it was refused as it is and the producer stops after such refusals: nothing more goes out.
    halted: bool,
    /// One-record batches of a split batch not yet acknowledged or failed: while there are any, one batch at a
    /// time is in flight, so a batch after a refused record is never written past it (a broker that has no
    /// sequence yet for the producer accepts a batch whatever its first sequence).
    split_outstanding: usize,
    /// Bytes of the batch closed last: the next open batch starts with about that much room, so a partition
    /// at a low rate does not hold `batch.size` of memory and one at a high rate does not grow its buffer
    /// step by step.
    last_batch_bytes: usize,
}

/// The least room an open batch starts with.
const MIN_BATCH_CAPACITY: usize = 4096;

impl PartitionQueue {
    pub fn new(partition: i32) -> Self {
        Self {
            partition,
            open: None,
            batches: VecDeque::new(),
            next_sequence: 0,
            identity: None,
            retrying: false,
            in_flight: 0,
            halted: false,
            split_outstanding: 0,
            last_batch_bytes: 0,
        }
    }

    pub(crate) fn halted(&self) -> bool {
        self.halted
    }

    /// Takes nothing more: returns the batches not in flight (the open one closed first), to fail. Batches in
    /// flight fail when their answer is an error.
    pub(crate) fn halt(&mut self) -> Vec<u64> {
        self.halted = true;
        self.unsent_batch_ids()
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    pub(crate) fn append(
        &mut self,
        config: &ProducerConfig,
        id: RecordId,
        record: &RecordRef<'_>,
        size_bytes: usize,
        now: Instant,
    ) -> Result<(), RecordBatchError> {
        let appended = match &mut self.open {
            Some(open) => open
                .encoder
                .append_unless_over(
                    config.batch_size_bytes,
                    record.timestamp_ms,
                    record.key,
                    record.value,
                    record.headers,
                )?
                .is_some(),
            None => false,
        };
        if !appended {
            // No open batch, or this record would take it past batch.size: the record starts the next one.
            self.close_open_batch();
            let open = self.open.insert(OpenBatch {
                encoder: RecordBatchEncoder::with_capacity(
                    BatchOptions {
                        compression: config.compression,
                        ..BatchOptions::default()
                    },
                    self.last_batch_bytes.next_power_of_two().clamp(
                        MIN_BATCH_CAPACITY.min(config.batch_size_bytes),
                        config.batch_size_bytes,
                    ),
                ),
                record_ids: Vec::new(),
                size_bytes: 0,
                created: now,
            });
            open.encoder.append(
                record.timestamp_ms,
                record.key,
                record.value,
                record.headers,
            )?;
        }
        let mut full = false;
        if let Some(open) = &mut self.open {
            open.record_ids.push(id);
            open.size_bytes += super::held_bytes(size_bytes);
            full = open.encoder.size_in_bytes() >= config.batch_size_bytes;
        }
        if full {
            self.close_open_batch();
        }
        Ok(())
    }

    /// Closes the open batch: it takes no more records. Its id is its first record's id, unique across the
    /// producer.
    pub(crate) fn close_open_batch(&mut self) {
        if let Some(open) = self.open.take() {
            self.last_batch_bytes = open.encoder.size_in_bytes();
            self.batches.push_back(ProducerBatch {
                id: open.record_ids.first().copied().unwrap_or_default(),
                record_ids: open.record_ids,
                size_bytes: open.size_bytes,
                created: open.created,
                encoder: Some(open.encoder),
                bytes: None,
                sequence: None,
                state: SendState::Queued,
                attempts: 0,
                retry_not_before: None,
                last_error: None,
                split: false,
            });
        }
    }

    fn first_queued(&self) -> Option<&ProducerBatch> {
        self.batches.iter().find(|b| b.state == SendState::Queued)
    }

    /// Whether a batch may go out now; closes the open batch when it has lingered long enough (or on flush).
    pub(crate) fn has_sendable(
        &mut self,
        config: &ProducerConfig,
        now: Instant,
        flushing: bool,
    ) -> bool {
        if self.retrying || self.split_outstanding > 0 {
            if self.in_flight > 0 {
                return false;
            }
            self.retrying = false;
        }
        if self.first_queued().is_none() {
            // Unless `linger.ms` was set, linger is a bound, not a wait: a partition with nothing in flight sends
            // what it has at once, and records batch up only while an earlier batch is on its way (or until
            // linger has passed). Low rates get one round trip of latency; high rates get batches as large as a
            // round trip fills.
            let idle = !config.linger_waits && self.in_flight == 0;
            let lingered = self.open.as_ref().is_some_and(|o| {
                flushing || idle || now.saturating_duration_since(o.created) >= config.linger
            });
            if lingered {
                self.close_open_batch();
            }
        }
        self.first_queued()
            .is_some_and(|b| b.retry_not_before.is_none_or(|t| now >= t))
    }

    pub(crate) fn next_sendable_size(&self) -> usize {
        self.first_queued().map_or(0, ProducerBatch::encoded_len)
    }

    /// Hands out the first waiting batch, finishing it (or renumbering it after an epoch bump) first.
    pub(crate) fn take_sendable(
        &mut self,
        _config: &ProducerConfig,
        producer: Option<(i64, i16)>,
        transactional: bool,
        now: Instant,
    ) -> Option<(u64, Bytes)> {
        let index = self
            .batches
            .iter()
            .position(|b| b.state == SendState::Queued)?;
        if self.batches[index]
            .retry_not_before
            .is_some_and(|t| now < t)
        {
            return None;
        }
        if let Some(identity) = producer {
            if self.identity != Some(identity) {
                self.identity = Some(identity);
                self.next_sequence = 0;
            }
        }
        let next_sequence = &mut self.next_sequence;
        let batch = &mut self.batches[index];
        let assign = |next_sequence: &mut i32, count: i32| {
            let base = *next_sequence;
            // Sequences wrap to 0 after i32::MAX, as the broker expects.
            *next_sequence =
                ((i64::from(base) + i64::from(count)) % (i64::from(i32::MAX) + 1)) as i32;
            base
        };
        match (batch.encoder.take(), producer) {
            (Some(mut encoder), Some((producer_id, epoch))) => {
                let base = assign(next_sequence, batch.record_count());
                encoder.set_producer_state(producer_id, epoch, base, transactional);
                batch.bytes = encoder.finish().ok();
                batch.sequence = Some((producer_id, epoch, base));
            }
            (Some(encoder), None) => batch.bytes = encoder.finish().ok(),
            (None, Some((producer_id, epoch))) => {
                let renumber = batch
                    .sequence
                    .is_none_or(|(p, e, _)| (p, e) != (producer_id, epoch));
                if renumber {
                    let base = assign(next_sequence, batch.record_count());
                    if let Some(bytes) = &batch.bytes {
                        let mut copy = BytesMut::from(&bytes[..]);
                        if rewrite_producer_state(
                            &mut copy,
                            producer_id,
                            epoch,
                            base,
                            transactional,
                        )
                        .is_ok()
                        {
                            batch.bytes = Some(copy.freeze());
                        }
                    }
                    batch.sequence = Some((producer_id, epoch, base));
                }
            }
            (None, None) => {}
        }
        let bytes = batch.bytes.clone()?;
        batch.state = SendState::InFlight;
        batch.attempts += 1;
        self.in_flight += 1;
        Some((batch.id, bytes))
    }

    /// Takes a batch out (acknowledged or failed).
    pub(crate) fn remove(&mut self, batch_id: u64) -> Option<ProducerBatch> {
        let index = self.batches.iter().position(|b| b.id == batch_id)?;
        let batch = self.batches.remove(index)?;
        if batch.state == SendState::InFlight {
            self.in_flight -= 1;
        }
        if batch.split {
            self.split_outstanding -= 1;
        }
        Some(batch)
    }

    /// Splits the batch `batch_id`, which the broker refused as too large (MESSAGE_TOO_LARGE), into batches of
    /// one record each, in its place and before everything after it, as the Java producer's
    /// `splitAndReenqueue` does: a batch of small records can exceed the topic's `max.message.bytes` as a whole,
    /// and only a record that does so alone is refused for good. The new batches keep the refused batch's
    /// sequence range (its base sequence, then one each), which the broker never wrote, so later batches stay in
    /// sequence; nothing of the partition is sent until the batches in flight have their answer.
    ///
    /// Returns false, changing nothing, when the batch has a single record (or cannot be read back): that
    /// record is refused as it is.
    pub(crate) fn split(
        &mut self,
        batch_id: u64,
        config: &ProducerConfig,
    ) -> Result<bool, RecordBatchError> {
        let Some(index) = self.batches.iter().position(|b| b.id == batch_id) else {
            return Ok(false);
        };
        let batch = &self.batches[index];
        let (Some(bytes), true) = (batch.bytes.clone(), batch.record_ids.len() > 1) else {
            return Ok(false);
        };
        let parsed = RecordBatch::parse(bytes, DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES)?;
        let transactional = parsed.is_transactional();
        let records: Vec<Record> = parsed.records()?.collect::<Result<_, _>>()?;
        if records.len() != batch.record_ids.len() {
            return Ok(false);
        }
        let mut parts = Vec::with_capacity(records.len());
        let mut held_so_far = 0usize;
        for (i, (record, &id)) in records.iter().zip(&batch.record_ids).enumerate() {
            let header_values: Vec<RecordHeader> =
                record.headers.iter().collect::<Result<_, _>>()?;
            let headers: Vec<HeaderRef<'_>> = header_values
                .iter()
                .map(|h| HeaderRef {
                    key: &h.key,
                    value: h.value.as_deref(),
                })
                .collect();
            let key = record.key.as_deref();
            let value = record.value.as_deref();
            let mut encoder = RecordBatchEncoder::new(BatchOptions {
                compression: config.compression,
                ..BatchOptions::default()
            });
            encoder.append(record.timestamp, key, value, &headers)?;
            // What `send` counted for it; the last part takes the rest, so the batch's total settles exactly.
            let size_bytes = if i + 1 == records.len() {
                batch.size_bytes.saturating_sub(held_so_far)
            } else {
                super::held_bytes(encoded_record_size(0, 0, key, value, &headers))
            };
            held_so_far += size_bytes;
            let sequence = batch.sequence.map(|(producer_id, epoch, base)| {
                let sequence = ((i64::from(base) + i as i64) % (i64::from(i32::MAX) + 1)) as i32;
                (producer_id, epoch, sequence)
            });
            let (encoder, bytes) = match sequence {
                Some((producer_id, epoch, sequence)) => {
                    encoder.set_producer_state(producer_id, epoch, sequence, transactional);
                    (None, Some(encoder.finish()?))
                }
                None => (Some(encoder), None),
            };
            parts.push(ProducerBatch {
                id,
                record_ids: vec![id],
                size_bytes,
                created: batch.created,
                encoder,
                bytes,
                sequence,
                state: SendState::Queued,
                attempts: 0,
                retry_not_before: None,
                last_error: batch.last_error.clone(),
                split: true,
            });
        }
        let Some(refused) = self.batches.remove(index) else {
            return Ok(false);
        };
        if refused.state == SendState::InFlight {
            self.in_flight -= 1;
        }
        if refused.split {
            self.split_outstanding -= 1;
        }
        self.split_outstanding += parts.len();
        for (offset, part) in parts.into_iter().enumerate() {
            self.batches.insert(index + offset, part);
        }
        self.retrying = true;
        Ok(true)
    }

    /// The one record of batch `batch_id`, read back from its encoded bytes (for a record the broker refused:
    /// the caller may keep it elsewhere).
    pub(crate) fn single_record(&self, batch_id: u64) -> Option<Record> {
        let batch = self.batches.iter().find(|b| b.id == batch_id)?;
        if batch.record_ids.len() != 1 {
            return None;
        }
        let parsed =
            RecordBatch::parse(batch.bytes.clone()?, DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES).ok()?;
        let mut records = parsed.records().ok()?;
        records.next()?.ok()
    }

    /// Whether an unacknowledged batch comes before `batch_id`.
    pub(crate) fn has_earlier_than(&self, batch_id: u64) -> bool {
        self.batches
            .iter()
            .position(|b| b.id == batch_id)
            .is_some_and(|i| i > 0)
    }

    /// Puts a batch whose attempt failed back in line, or says why it will not be retried.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn mark_for_retry(
        &mut self,
        batch_id: u64,
        last_error: String,
        now: Instant,
        retries: u32,
        delivery_timeout: Duration,
        backoff_base: Duration,
        backoff_max: Duration,
    ) -> Option<RetryRefused> {
        let batch = self.batches.iter_mut().find(|b| b.id == batch_id)?;
        if batch.state == SendState::InFlight {
            batch.state = SendState::Queued;
            self.in_flight -= 1;
        }
        self.retrying = true;
        if batch.attempts > retries
            || now.saturating_duration_since(batch.created) >= delivery_timeout
        {
            return Some(RetryRefused::Exhausted(last_error));
        }
        let factor = 1u32 << batch.attempts.saturating_sub(1).min(10);
        batch.retry_not_before =
            Some(now + (backoff_base * factor).min(backoff_max.max(backoff_base)));
        batch.last_error = Some(last_error);
        None
    }

    /// After a new producer id or epoch: every unacknowledged batch is renumbered from 0 when next sent.
    pub(crate) fn reset_sequences(&mut self) {
        self.identity = None;
        self.next_sequence = 0;
    }

    /// The identity sequences were last handed out under.
    pub(crate) fn last_identity(&self) -> Option<(i64, i16)> {
        self.identity
    }

    /// Batches not in flight (never sent, or waiting for a resend), after closing the open batch: what an
    /// aborted transaction drops.
    pub(crate) fn unsent_batch_ids(&mut self) -> Vec<u64> {
        self.close_open_batch();
        self.batches
            .iter()
            .filter(|b| b.state == SendState::Queued)
            .map(|b| b.id)
            .collect()
    }

    pub(crate) fn batch_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.batches.iter().map(|b| b.id)
    }

    /// Waiting batches older than `delivery.timeout.ms`, with the last error each saw.
    pub(crate) fn expired(
        &mut self,
        now: Instant,
        delivery_timeout: Duration,
    ) -> Vec<(u64, Option<String>)> {
        // The open batch only closes when its partition can send (a leader with a free request slot); without
        // a leader it would stay open, and its records unreported, forever.
        if self
            .open
            .as_ref()
            .is_some_and(|o| now.saturating_duration_since(o.created) >= delivery_timeout)
        {
            self.close_open_batch();
        }
        self.batches
            .iter()
            .filter(|b| {
                b.state == SendState::Queued
                    && now.saturating_duration_since(b.created) >= delivery_timeout
            })
            .map(|b| (b.id, b.last_error.clone()))
            .collect()
    }

    /// The earliest moment this partition has something to do without outside input.
    ///
    /// Only deadlines after `after` count: one already reached was acted on, and letting it win the minimum
    /// would hide a later one (an open batch's past linger deadline must not hide a retry backoff).
    pub(crate) fn next_deadline(
        &self,
        config: &ProducerConfig,
        after: Option<Instant>,
    ) -> Option<Instant> {
        let mut earliest: Option<Instant> = None;
        let mut consider = |t: Instant| {
            if after.is_none_or(|after| t > after) {
                earliest = Some(earliest.map_or(t, |e: Instant| e.min(t)));
            }
        };
        if let Some(open) = &self.open {
            consider(open.created + config.linger);
            // Once linger is past, the open batch may still wait for a leader: wake up when it expires.
            consider(open.created + config.delivery_timeout);
        }
        if let Some(batch) = self.first_queued() {
            if let Some(t) = batch.retry_not_before {
                consider(t);
            }
            consider(batch.created + config.delivery_timeout);
        }
        earliest
    }
}
