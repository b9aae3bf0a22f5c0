//! The consumer without groups: fetches assigned partitions from their leaders and hands out records in order.
//!
//! Owns, per assigned partition, the position (the next offset to deliver), the start-position lookup
//! (ListOffsets), retries with backoff, offset-out-of-range resets, read_committed filtering and the
//! end-of-partition signal. Reuses [`MetadataState`] for leaders and refreshes. Sans-IO like the rest of
//! `client`: no sockets, threads or clocks; time is an argument. Must not know about groups: a partition assigned
//! with [`StartPosition::Committed`] waits until the caller (later, the group member) tells it the committed
//! offset through [`Consumer::set_committed_offset`].
//!
//! Fetching: one Fetch in flight per leader broker, carrying every ready partition led by it (no fetch
//! sessions). The partition order rotates from request to request, since a broker fills a response in request
//! order up to `fetch.max.bytes` and always returns the first batch of the first non-empty partition whole
//! (KIP-74): rotation lets every partition be first now and then. The position advances only past whole
//! records delivered; a partial batch at the end of a partition's data is normal and fetched again.
//!
//! Memory: fetched data waits in the event queue until the caller takes it. A partition whose records are
//! still queued is not fetched again (as in the Java client), and no fetch is sent while the queued data and
//! what the fetches in flight may bring reach `fetch.max.bytes` ([`fetch_budget`]): a caller that stops
//! taking events stops the fetching, whatever waits in the topic.

mod aborted_txn;
mod fetch;
mod fetch_budget;
mod list_offsets;
#[cfg(test)]
mod tests;
mod topics;

pub use crate::protocol::TopicPartition;
pub use aborted_txn::AbortedTxnFilter;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::config::{AutoOffsetReset, ConsumerConfig};
use super::errors::{classify, ErrorAction, ResponseError};
use super::metadata::MetadataState;
use super::{BrokerId, RequestToken, ResponseResult, TokenSource, Transmit};
use crate::protocol::record_batch::{Record, RecordBatchError};
use crate::protocol::Response;
use fetch_budget::{EventHold, FetchBudget};

/// ListOffsets timestamp asking for the log start offset.
const EARLIEST_TIMESTAMP: i64 = -2;
/// ListOffsets timestamp asking for the log end offset (the last stable offset under read_committed).
const LATEST_TIMESTAMP: i64 = -1;
/// How long a topic may stay unknown to the cluster before the consumer reports it: a topic just created
/// reaches every broker's metadata within a moment, and a longer wait (request.timeout.ms is 30 s) only hides
/// a misspelt name from the user.
const UNKNOWN_TOPIC_GRACE: Duration = Duration::from_secs(5);

/// Where an assigned partition starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    /// The log start offset.
    Earliest,
    /// The log end offset (the last stable offset under read_committed): only records produced from now on.
    Latest,
    /// This offset; an offset outside the log is handled by `auto.offset.reset`.
    Offset(i64),
    /// The first offset whose timestamp is at or after this many ms since the epoch; latest if there is none.
    Timestamp(i64),
    /// The group's committed offset, given later through [`Consumer::set_committed_offset`].
    Committed,
}

/// Something the consumer reports to its caller.
#[derive(Debug)]
pub enum ConsumerEvent {
    /// Records of one partition, in offset order, each after the previous event's last. Keys, values and
    /// headers are slices of the fetched (or decompressed) buffer, not copies.
    Records {
        topic: String,
        partition: i32,
        records: Vec<Record>,
    },
    /// The position caught up with the end of the partition (the high watermark; the last stable offset under
    /// read_committed). Reported once each time the position reaches the end anew.
    PartitionEof {
        topic: String,
        partition: i32,
        offset: i64,
    },
    /// A fatal error: the partition (or, with `partition: None`, every partition of the topic) is no longer
    /// fetched. Assigning it again starts over.
    Error {
        topic: String,
        partition: Option<i32>,
        error: ConsumerError,
    },
}

/// Why a partition or topic stopped being consumed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConsumerError {
    #[error("offset {offset} is out of range and auto.offset.reset=none; set auto.offset.reset=earliest or latest, or start from an offset inside the log")]
    OffsetOutOfRange { offset: i64 },
    #[error("no committed offset and auto.offset.reset=none; set auto.offset.reset=earliest or latest, or start from an explicit offset")]
    NoCommittedOffset,
    #[error("{api:?} failed with {error:?} ({error})")]
    Broker { api: ApiKey, error: ResponseError },
    #[error("metadata for the topic failed with {error:?} ({error})")]
    Topic { error: ResponseError },
    #[error("topic not found after waiting {waited:?}; create it or check its name")]
    UnknownTopic { waited: Duration },
    #[error("partition not found after waiting {waited:?} (request.timeout.ms); check the topic's partition count")]
    UnknownPartition { waited: Duration },
    #[error("fetch at offset {offset} returned {bytes} bytes but no complete record batch; the broker should return at least one whole batch (Kafka >= 0.10.1) — raise max.partition.fetch.bytes (now {max_partition_fetch_bytes}) and fetch.max.bytes")]
    NoCompleteBatch {
        offset: i64,
        bytes: usize,
        max_partition_fetch_bytes: i32,
    },
    #[error("the fetch response at offset {offset} is {bytes} bytes, more than message.max.bytes (receive.message.max.bytes) allows ({max_bytes}): a record batch there is larger than this consumer accepts; raise message.max.bytes")]
    ResponseTooLarge {
        offset: i64,
        bytes: u64,
        max_bytes: usize,
    },
    #[error("corrupt data at offset {offset}: {source}")]
    Corrupt {
        offset: i64,
        #[source]
        source: RecordBatchError,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Needs a ListOffsets for this timestamp (-2 earliest, -1 latest, or ms).
    NeedsOffset {
        timestamp: i64,
    },
    ListingOffsets {
        token: RequestToken,
        timestamp: i64,
    },
    /// Waits for [`Consumer::set_committed_offset`].
    AwaitingCommitted,
    Fetching,
    /// A fatal error was reported; nothing more happens until the partition is assigned again.
    Failed,
}

#[derive(Debug)]
struct PartitionState {
    phase: Phase,
    /// The next offset to deliver; meaningful while `Fetching`.
    position: i64,
    high_watermark: Option<i64>,
    last_stable_offset: Option<i64>,
    log_start_offset: Option<i64>,
    paused: bool,
    fetch_in_flight: Option<RequestToken>,
    /// No request for this partition before this instant.
    retry_at: Option<Instant>,
    /// Consecutive failures, for exponential backoff.
    attempts: u32,
    /// The position at which PartitionEof was last reported.
    eof_reported_at: Option<i64>,
    /// Since when metadata knows the topic but not this partition.
    missing_since: Option<Instant>,
    /// Records events of this partition in the queue; it is fetched again only once they are taken.
    queued_records: u32,
    /// Fetch answers for this partition without an error so far: a caller that saw this count grow by two
    /// knows a fetch sent after it looked was answered (one fetch of a partition is in flight at a time).
    fetch_answers: u64,
}

impl PartitionState {
    fn new(start: StartPosition) -> Self {
        let (phase, position) = match start {
            StartPosition::Earliest => (
                Phase::NeedsOffset {
                    timestamp: EARLIEST_TIMESTAMP,
                },
                -1,
            ),
            StartPosition::Latest => (
                Phase::NeedsOffset {
                    timestamp: LATEST_TIMESTAMP,
                },
                -1,
            ),
            StartPosition::Timestamp(ms) => (
                Phase::NeedsOffset {
                    timestamp: ms.max(0),
                },
                -1,
            ),
            StartPosition::Offset(offset) if offset >= 0 => (Phase::Fetching, offset),
            // A negative offset has no meaning but the librdkafka one of "the end": treat it as latest.
            StartPosition::Offset(_) => (
                Phase::NeedsOffset {
                    timestamp: LATEST_TIMESTAMP,
                },
                -1,
            ),
            StartPosition::Committed => (Phase::AwaitingCommitted, -1),
        };
        Self {
            phase,
            position,
            high_watermark: None,
            last_stable_offset: None,
            log_start_offset: None,
            paused: false,
            fetch_in_flight: None,
            retry_at: None,
            attempts: 0,
            eof_reported_at: None,
            missing_since: None,
            queued_records: 0,
            fetch_answers: 0,
        }
    }

    fn ready(&self, now: Instant) -> bool {
        !self.paused && self.retry_at.is_none_or(|t| now >= t)
    }
}

/// A topic the consumer needs metadata for.
#[derive(Debug, Default)]
struct WantedTopic {
    /// Set by [`Consumer::assign_topic_all_partitions`]: every partition, found from metadata, starts here.
    all_partitions: Option<StartPosition>,
    /// Since when metadata has answered without this topic.
    unknown_since: Option<Instant>,
    failed: bool,
}

#[derive(Debug)]
struct FetchInFlight {
    broker: BrokerId,
    /// Each partition with the offset it was fetched from.
    partitions: Vec<(TopicPartition, i64)>,
    /// What its response may bring, as reserved in the fetch budget.
    reserved_bytes: usize,
}

/// An event waiting for [`Consumer::poll_event`], with the fetched data it keeps alive.
#[derive(Debug)]
struct QueuedEvent {
    event: ConsumerEvent,
    hold: Option<(TopicPartition, EventHold)>,
}

#[derive(Debug)]
struct ListOffsetsInFlight {
    broker: BrokerId,
    partitions: Vec<TopicPartition>,
}

/// The sans-IO consumer. See the module documentation.
#[derive(Debug)]
pub struct Consumer {
    config: ConsumerConfig,
    metadata: MetadataState,
    tokens: TokenSource,
    topics: BTreeMap<String, WantedTopic>,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    fetches: BTreeMap<RequestToken, FetchInFlight>,
    list_offsets: BTreeMap<RequestToken, ListOffsetsInFlight>,
    /// Where the partition order of the next fetch starts.
    fetch_rotation: usize,
    /// Brokers that asked (throttle_time_ms, KIP-219) not to be fetched from before an instant.
    throttled_until: BTreeMap<BrokerId, Instant>,
    events: VecDeque<QueuedEvent>,
    /// Fetched data in `events` and expected from fetches in flight, against `fetch.max.bytes`.
    budget: FetchBudget,
    /// How long a topic or partition may be missing from metadata before it is an error.
    unknown_topic_timeout: Duration,
}

impl Consumer {
    pub fn new(config: ConsumerConfig) -> Self {
        let metadata = MetadataState::new(
            config.common.bootstrap_servers.clone(),
            config.common.metadata_max_age,
            config.common.retry_backoff,
            config.allow_auto_create_topics,
        );
        Self {
            unknown_topic_timeout: config.common.request_timeout.min(UNKNOWN_TOPIC_GRACE),
            budget: FetchBudget::new(usize::try_from(config.fetch_max_bytes).unwrap_or(1).max(1)),
            config,
            metadata,
            tokens: TokenSource::default(),
            topics: BTreeMap::new(),
            partitions: BTreeMap::new(),
            fetches: BTreeMap::new(),
            list_offsets: BTreeMap::new(),
            fetch_rotation: 0,
            throttled_until: BTreeMap::new(),
            events: VecDeque::new(),
        }
    }

    /// Adds partitions to the assignment. A partition already assigned starts over from its new position
    /// (a fetch in flight for it is ignored when it returns).
    pub fn assign(&mut self, assignments: Vec<(String, i32, StartPosition)>) {
        for (topic, partition, start) in assignments {
            self.want_topic(&topic);
            self.partitions.insert(
                TopicPartition { topic, partition },
                PartitionState::new(start),
            );
        }
    }

    /// Removes a partition from the assignment; a request in flight for it is ignored when it returns.
    pub fn unassign(&mut self, topic: &str, partition: i32) {
        self.partitions
            .remove(&TopicPartition::new(topic, partition));
    }

    /// Removes every partition and topic from the assignment.
    pub fn unassign_all(&mut self) {
        self.partitions.clear();
        self.topics.clear();
    }

    /// Assigns every partition of `topic`, once metadata says how many there are; partitions that appear later
    /// are added with the same start position.
    pub fn assign_topic_all_partitions(&mut self, topic: &str, start: StartPosition) {
        self.want_topic(topic);
        if let Some(wanted) = self.topics.get_mut(topic) {
            wanted.all_partitions = Some(start);
        }
        self.expand_all_partitions(topic);
    }

    fn want_topic(&mut self, topic: &str) {
        self.metadata.want_topic(topic);
        let wanted = self.topics.entry(topic.to_owned()).or_default();
        wanted.failed = false;
        wanted.unknown_since = None;
    }

    /// Resolves a partition assigned with [`StartPosition::Committed`]: `Some(offset)` starts there, `None`
    /// (nothing committed) applies `auto.offset.reset`. Ignored for partitions not waiting for it.
    pub fn set_committed_offset(&mut self, topic: &str, partition: i32, committed: Option<i64>) {
        let tp = TopicPartition::new(topic, partition);
        let Some(state) = self.partitions.get_mut(&tp) else {
            return;
        };
        if state.phase != Phase::AwaitingCommitted {
            return;
        }
        match committed {
            Some(offset) if offset >= 0 => {
                state.phase = Phase::Fetching;
                state.position = offset;
            }
            _ => self.reset_offset(&tp, ConsumerError::NoCommittedOffset),
        }
    }

    /// Partitions waiting for [`set_committed_offset`](Self::set_committed_offset).
    pub fn awaiting_committed(&self) -> impl Iterator<Item = &TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, s)| s.phase == Phase::AwaitingCommitted)
            .map(|(tp, _)| tp)
    }

    /// Stops fetching `partition` (backpressure). Data of a fetch in flight for it is dropped when it returns
    /// and fetched again after [`resume`](Self::resume).
    pub fn pause(&mut self, topic: &str, partition: i32) {
        if let Some(state) = self
            .partitions
            .get_mut(&TopicPartition::new(topic, partition))
        {
            state.paused = true;
        }
    }

    pub fn resume(&mut self, topic: &str, partition: i32) {
        if let Some(state) = self
            .partitions
            .get_mut(&TopicPartition::new(topic, partition))
        {
            state.paused = false;
        }
    }

    /// The next offset to deliver, once known.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.partitions
            .get(&TopicPartition::new(topic, partition))
            .filter(|s| s.phase == Phase::Fetching)
            .map(|s| s.position)
    }

    /// The high watermark from the last fetch of `partition`.
    pub fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.partitions
            .get(&TopicPartition::new(topic, partition))
            .and_then(|s| s.high_watermark)
    }

    /// How many fetches of `partition` were answered without an error (see `PartitionState::fetch_answers`).
    pub fn fetch_answers(&self, topic: &str, partition: i32) -> u64 {
        self.partitions
            .get(&TopicPartition::new(topic, partition))
            .map_or(0, |s| s.fetch_answers)
    }

    /// The last stable offset from the last fetch of `partition` (read_committed only).
    pub fn last_stable_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.partitions
            .get(&TopicPartition::new(topic, partition))
            .and_then(|s| s.last_stable_offset)
    }

    /// The partitions assigned so far (for an all-partitions topic, those metadata has named).
    pub fn assignment(&self) -> impl Iterator<Item = &TopicPartition> {
        self.partitions.keys()
    }

    /// Where to connect for `broker` (a node from metadata, or a bootstrap server for negative ids).
    pub fn broker_address(&self, broker: BrokerId) -> Option<&str> {
        self.metadata.broker_address(broker)
    }

    pub fn metadata(&self) -> &MetadataState {
        &self.metadata
    }

    /// The next event. Taking a `Records` event frees its share of `fetch.max.bytes` for more fetches.
    pub fn poll_event(&mut self) -> Option<ConsumerEvent> {
        let QueuedEvent { event, hold } = self.events.pop_front()?;
        if let Some((tp, hold)) = hold {
            if let Some(state) = self.partitions.get_mut(&tp) {
                state.queued_records = state.queued_records.saturating_sub(1);
            }
            self.budget.release(hold);
        }
        Some(event)
    }

    /// Bytes of fetched records waiting in the event queue (counted as [`fetch_budget`] explains).
    pub fn queued_bytes(&self) -> usize {
        self.budget.held_bytes()
    }

    fn queue_event(&mut self, event: ConsumerEvent) {
        self.events.push_back(QueuedEvent { event, hold: None });
    }

    /// The next request to send: a metadata refresh first, then start-offset lookups, then fetches.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        self.clear_expired_backoffs(now);
        if let Some(transmit) = self.metadata.poll_transmit(now, &mut self.tokens) {
            return Some(transmit);
        }
        if let Some(transmit) = self.next_list_offsets(now) {
            return Some(transmit);
        }
        self.next_fetch(now)
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout) or
    /// [`poll_transmit`](Self::poll_transmit) has something new to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let backoffs = self
            .partitions
            .values()
            .filter(|s| matches!(s.phase, Phase::NeedsOffset { .. } | Phase::Fetching))
            .filter_map(|s| s.retry_at);
        let unknown_topics = self
            .topics
            .values()
            .filter(|t| !t.failed)
            .filter_map(|t| t.unknown_since);
        let missing_partitions = self
            .partitions
            .values()
            .filter(|s| s.phase != Phase::Failed)
            .filter_map(|s| s.missing_since);
        let deadlines = unknown_topics
            .chain(missing_partitions)
            .map(|since| since + self.unknown_topic_timeout);
        let throttles = self.throttled_until.values().copied();
        backoffs
            .chain(throttles)
            .chain(deadlines)
            .chain(self.metadata.poll_timeout())
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.clear_expired_backoffs(now);
        self.check_topics(now);
    }

    /// Applies the outcome of a request this consumer handed out.
    pub fn handle_response(
        &mut self,
        broker: BrokerId,
        token: RequestToken,
        result: ResponseResult,
        now: Instant,
    ) {
        if self
            .metadata
            .take_response(broker, token, &result, now)
            .is_some()
        {
            self.after_metadata(now);
        } else if let Some(in_flight) = self.fetches.remove(&token) {
            self.budget.end_reservation(in_flight.reserved_bytes);
            match result {
                Ok(Response::Fetch(response)) => {
                    self.handle_fetch_response(token, in_flight, &response, now)
                }
                Ok(_) => self.fetch_failed(token, in_flight, None, now),
                Err(error) => self.fetch_failed(token, in_flight, Some(&error), now),
            }
        } else if let Some(in_flight) = self.list_offsets.remove(&token) {
            match result {
                Ok(Response::ListOffsets(response)) => {
                    self.handle_list_offsets_response(token, in_flight, &response, now)
                }
                Ok(_) | Err(_) => self.list_offsets_failed(token, in_flight, now),
            }
        }
    }

    fn clear_expired_backoffs(&mut self, now: Instant) {
        self.throttled_until.retain(|_, until| now < *until);
        for state in self.partitions.values_mut() {
            if state.retry_at.is_some_and(|t| now >= t) {
                state.retry_at = None;
            }
        }
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let base = self.config.common.retry_backoff;
        let max = self.config.common.retry_backoff_max.max(base);
        base.saturating_mul(1u32 << attempts.min(16)).min(max)
    }

    /// Holds `tp` back for a backoff, optionally asking for fresh metadata first.
    fn retry_later(&mut self, tp: &TopicPartition, refresh_metadata: bool, now: Instant) {
        if refresh_metadata {
            self.metadata.request_refresh();
        }
        let attempts = match self.partitions.get(tp) {
            Some(state) => state.attempts,
            None => return,
        };
        let delay = self.backoff(attempts);
        if let Some(state) = self.partitions.get_mut(tp) {
            state.attempts = attempts.saturating_add(1);
            state.retry_at = Some(now + delay);
        }
    }

    fn fail_partition(&mut self, tp: &TopicPartition, error: ConsumerError) {
        if let Some(state) = self.partitions.get_mut(tp) {
            state.phase = Phase::Failed;
            self.events.push_back(QueuedEvent {
                event: ConsumerEvent::Error {
                    topic: tp.topic.clone(),
                    partition: Some(tp.partition),
                    error,
                },
                hold: None,
            });
        }
    }

    fn fail_topic(&mut self, topic: &str, error: ConsumerError) {
        if let Some(wanted) = self.topics.get_mut(topic) {
            wanted.failed = true;
        }
        for (tp, state) in self.partitions.iter_mut() {
            if tp.topic == topic {
                state.phase = Phase::Failed;
            }
        }
        self.queue_event(ConsumerEvent::Error {
            topic: topic.to_owned(),
            partition: None,
            error,
        });
    }

    /// Applies `auto.offset.reset` to `tp`; with `none`, fails it with `error_if_none`.
    fn reset_offset(&mut self, tp: &TopicPartition, error_if_none: ConsumerError) {
        let timestamp = match self.config.auto_offset_reset {
            AutoOffsetReset::Earliest => EARLIEST_TIMESTAMP,
            AutoOffsetReset::Latest => LATEST_TIMESTAMP,
            AutoOffsetReset::None => return self.fail_partition(tp, error_if_none),
        };
        if let Some(state) = self.partitions.get_mut(tp) {
            state.phase = Phase::NeedsOffset { timestamp };
            state.retry_at = None;
        }
    }

    /// What a partition-level error code in a Fetch or ListOffsets response means for `tp`.
    fn partition_error(
        &mut self,
        tp: &TopicPartition,
        api: ApiKey,
        error: ResponseError,
        now: Instant,
    ) {
        if api == ApiKey::Fetch && error == ResponseError::OffsetOutOfRange {
            let offset = self.partitions.get(tp).map_or(-1, |s| s.position);
            return self.reset_offset(tp, ConsumerError::OffsetOutOfRange { offset });
        }
        match classify(error) {
            ErrorAction::RetryAfterMetadataRefresh => self.retry_later(tp, true, now),
            ErrorAction::Retry => self.retry_later(tp, false, now),
            ErrorAction::Fail => self.fail_partition(tp, ConsumerError::Broker { api, error }),
        }
    }
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}
