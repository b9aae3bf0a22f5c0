//! The async producer: `send` a record, await its delivery (partition and offset), `flush`.
//!
//! A handle and its driver task share the sans-IO [`client::producer::Producer`] on one thread, so `send`
//! writes the record into its batch directly: no channel and no copy between the caller and the batch.
//!
//! With `transactional.id`, `init_transactions`, `begin_transaction`, `send_offsets_to_transaction`,
//! `commit_transaction` and `abort_transaction` start the operation in the state machine and wait for the
//! event that ends it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::backend::{current_backend, IoBackend};
use super::broker_health::ConnectionProblems;
use super::connection::ConnectionConfig;
use super::driver::{drive, Shared};
use crate::client::config::{CommonConfig, ProducerConfig};
use crate::client::producer::{
    self as sm, ProduceError, ProducerEvent, RecordId, RecordRef, RefusedRecord, TIMESTAMP_ON_SEND,
};
use crate::client::txn::{
    ConsumerGroupMetadata, TxnError, TxnEvent, TxnOffset, TxnOperation, TxnState,
};

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub topic: Arc<str>,
    pub partition: i32,
    /// -1 when the broker did not say (acks=0).
    pub offset: i64,
}

/// Counts of outcomes so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    pub delivered: u64,
    pub failed: u64,
    /// Of `failed`: records not sent because an earlier one of their partition was refused (see
    /// [`Producer::stop_partitions_after_refusal`]).
    pub not_sent_after_refusal: u64,
    pub first_error: Option<ProduceError>,
}

#[derive(Default)]
struct Deliveries {
    waiting: HashMap<RecordId, oneshot::Sender<Result<Delivery, ProduceError>>>,
    stats: DeliveryStats,
    /// How the last transactional operation ended, until its caller takes it.
    txn_outcome: Option<(TxnOperation, Result<(), TxnError>)>,
    /// The latest failure of the open transaction outside any operation (e.g. a rejected batch).
    txn_error: Option<TxnError>,
    /// Whether records the broker refused as they are are kept for [`Producer::take_refused`].
    keep_refused: bool,
    refused: Vec<RefusedRecord>,
}

impl Deliveries {
    fn apply(&mut self, event: ProducerEvent) {
        match event {
            ProducerEvent::Delivered {
                record_ids,
                topic,
                partition,
                base_offset,
                ..
            } => {
                self.stats.delivered += record_ids.len() as u64;
                if self.waiting.is_empty() {
                    return;
                }
                for (i, id) in record_ids.into_iter().enumerate() {
                    if let Some(tx) = self.waiting.remove(&id) {
                        let offset = if base_offset < 0 {
                            -1
                        } else {
                            base_offset + i as i64
                        };
                        let _ = tx.send(Ok(Delivery {
                            topic: topic.clone(),
                            partition,
                            offset,
                        }));
                    }
                }
            }
            ProducerEvent::Transaction(event) => {
                self.txn_outcome = match event {
                    TxnEvent::Initialized { .. } => Some((TxnOperation::InitTransactions, Ok(()))),
                    TxnEvent::OffsetsSent { .. } => Some((TxnOperation::SendOffsets, Ok(()))),
                    TxnEvent::TransactionCommitted => Some((TxnOperation::Commit, Ok(()))),
                    TxnEvent::TransactionAborted => Some((TxnOperation::Abort, Ok(()))),
                    TxnEvent::TransactionFailed {
                        operation: Some(operation),
                        error,
                        ..
                    } => Some((operation, Err(error))),
                    TxnEvent::TransactionFailed {
                        operation: None,
                        error,
                        ..
                    } => {
                        self.txn_error = Some(error);
                        return;
                    }
                };
            }
            ProducerEvent::Refused(record) => {
                if self.keep_refused {
                    self.refused.push(record);
                }
            }
            ProducerEvent::Failed { record_ids, error } => {
                self.stats.failed += record_ids.len() as u64;
                if matches!(error, ProduceError::NotSentAfterRefusal { .. }) {
                    self.stats.not_sent_after_refusal += record_ids.len() as u64;
                }
                if self.stats.first_error.is_none() {
                    self.stats.first_error = Some(error.clone());
                }
                for id in record_ids {
                    if let Some(tx) = self.waiting.remove(&id) {
                        let _ = tx.send(Err(error.clone()));
                    }
                }
            }
        }
    }
}

/// Resolves to where the record was written, or why it was not.
pub struct DeliveryFuture(oneshot::Receiver<Result<Delivery, ProduceError>>);

impl std::future::Future for DeliveryFuture {
    type Output = Result<Delivery, ProduceError>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|r| {
            r.unwrap_or_else(|_| {
                Err(ProduceError::Fatal {
                    reason: "the producer was closed before delivery".into(),
                })
            })
        })
    }
}

/// Milliseconds since the Unix epoch, for record timestamps.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Wall-clock milliseconds derived from the monotonic instant `send` reads for each record anyway: the wall
/// clock read at an anchor plus the monotonic time since. Reading both clocks per record was 17 % of a 100 B
/// record's CPU in the perf profile. Re-anchored every second, so a step of the wall clock (NTP) shows within
/// a second, and the result never runs backwards between anchors.
struct RecordClock {
    anchor: Cell<Option<(Instant, i64)>>,
}

impl RecordClock {
    const REANCHOR_AFTER: Duration = Duration::from_secs(1);

    fn new() -> Self {
        Self {
            anchor: Cell::new(None),
        }
    }

    fn wall_ms(&self, now: Instant) -> i64 {
        if let Some((at, wall_ms)) = self.anchor.get() {
            let since = now.saturating_duration_since(at);
            if since < Self::REANCHOR_AFTER {
                return wall_ms + since.as_millis() as i64;
            }
        }
        let wall_ms = now_ms();
        self.anchor.set(Some((now, wall_ms)));
        wall_ms
    }

    /// `record`, with the time `now` as its timestamp if it asked for one.
    fn stamp<'a>(&self, record: RecordRef<'a>, now: Instant) -> RecordRef<'a> {
        if record.timestamp_ms == TIMESTAMP_ON_SEND {
            RecordRef {
                timestamp_ms: self.wall_ms(now),
                ..record
            }
        } else {
            record
        }
    }
}

pub(crate) fn connection_config(common: &CommonConfig) -> ConnectionConfig {
    ConnectionConfig {
        client_id: common.client_id.clone(),
        request_timeout: common.request_timeout,
        join_group_timeout: None,
        connect_timeout: common.socket_connection_setup_timeout,
        max_frame_bytes: common.max_frame_bytes,
        reconnect_backoff: common.reconnect_backoff,
        reconnect_backoff_max: common.reconnect_backoff_max,
        tls: common
            .security_protocol
            .uses_tls()
            .then(|| super::tls::TlsConnector::new(common.tls.as_deref())),
        sasl: common.sasl.clone(),
    }
}

/// An async producer bound to the current thread's `LocalSet`.
pub struct Producer {
    shared: Rc<Shared<sm::Producer>>,
    deliveries: Rc<RefCell<Deliveries>>,
    buffer_limit_bytes: usize,
    clock: RecordClock,
    driver: JoinHandle<()>,
}

impl Producer {
    /// Starts a producer; must be called inside a `tokio::task::LocalSet`.
    pub fn new(config: ProducerConfig) -> Self {
        Self::with_backend(config, current_backend())
    }

    pub fn with_backend<B: IoBackend>(config: ProducerConfig, backend: B) -> Self {
        let connection = connection_config(&config.common);
        let buffer_limit_bytes = config.buffer_memory_bytes;
        let shared = Shared::new(sm::Producer::new(config));
        let deliveries = Rc::new(RefCell::new(Deliveries::default()));
        let driver = {
            let deliveries = deliveries.clone();
            tokio::task::spawn_local(drive(
                shared.clone(),
                backend,
                connection,
                move |state: &mut sm::Producer| {
                    let mut deliveries = deliveries.borrow_mut();
                    while let Some(event) = state.poll_event() {
                        deliveries.apply(event);
                    }
                },
            ))
        };
        Self {
            shared,
            deliveries,
            buffer_limit_bytes,
            clock: RecordClock::new(),
            driver,
        }
    }

    /// The connection failures this producer's driver is telling of now.
    pub fn connection_problems(&self) -> ConnectionProblems {
        self.shared.problems.clone()
    }

    /// Waits until `buffer.memory` has room: a slow broker slows the sender instead of growing memory.
    async fn wait_for_buffer_space(&self) {
        if self.shared.state.borrow().buffered_bytes() < self.buffer_limit_bytes {
            return;
        }
        // Wake the driver once so it sends what is buffered; waking it on every wake-up of ours would make the
        // two tasks ping-pong without ever parking the thread.
        self.shared.wake_driver.notify_one();
        loop {
            let notified = pin!(self.shared.wake_user.notified());
            let mut notified = notified;
            notified.as_mut().enable();
            if self.shared.state.borrow().buffered_bytes() < self.buffer_limit_bytes {
                return;
            }
            notified.await;
        }
    }

    /// Accepts a record and returns a future of its delivery. A `timestamp_ms` of [`TIMESTAMP_ON_SEND`] is
    /// replaced by the current time.
    pub async fn send(&self, record: RecordRef<'_>) -> Result<DeliveryFuture, ProduceError> {
        self.wait_for_buffer_space().await;
        let now = Instant::now();
        let id = self
            .shared
            .state
            .borrow_mut()
            .send(self.clock.stamp(record, now), now)?;
        let (tx, rx) = oneshot::channel();
        self.deliveries.borrow_mut().waiting.insert(id, tx);
        self.shared.wake_driver_coalesced();
        Ok(DeliveryFuture(rx))
    }

    /// Accepts a record whose outcome only counts in [`Producer::stats`] (no per-record future); timestamps as
    /// in [`Producer::send`].
    pub async fn send_counted(&self, record: RecordRef<'_>) -> Result<(), ProduceError> {
        self.wait_for_buffer_space().await;
        let now = Instant::now();
        self.shared
            .state
            .borrow_mut()
            .send(self.clock.stamp(record, now), now)?;
        self.shared.wake_driver_coalesced();
        Ok(())
    }

    /// Like [`Producer::send_counted`], and returns the record's id, which [`Producer::take_refused`] names it
    /// by.
    pub async fn send_tracked(&self, record: RecordRef<'_>) -> Result<RecordId, ProduceError> {
        self.wait_for_buffer_space().await;
        let now = Instant::now();
        let id = self
            .shared
            .state
            .borrow_mut()
            .send(self.clock.stamp(record, now), now)?;
        self.shared.wake_driver_coalesced();
        Ok(id)
    }

    /// From now on, records the broker refuses as they are (larger than the topic takes) are kept, with their
    /// content, until [`Producer::take_refused`]. Off by default: a producer whose caller never takes them
    /// would hold each refused record for good.
    pub fn keep_refused_records(&self) {
        self.deliveries.borrow_mut().keep_refused = true;
    }

    /// Once the broker refuses a record as it is, nothing more is written to its partition; see
    /// [`sm::Producer::stop_partitions_after_refusal`].
    pub fn stop_partitions_after_refusal(&self) {
        self.shared
            .state
            .borrow_mut()
            .stop_partitions_after_refusal();
    }

    /// The records refused as they are since the last call (see [`Producer::keep_refused_records`]); each is
    /// also counted as failed in [`Producer::stats`].
    pub fn take_refused(&self) -> Vec<RefusedRecord> {
        std::mem::take(&mut self.deliveries.borrow_mut().refused)
    }

    /// Sends everything accepted so far and waits until each record is delivered or failed.
    pub async fn flush(&self) -> DeliveryStats {
        self.shared.state.borrow_mut().flush();
        // Once: the driver then runs on broker responses and timers until everything has an outcome.
        self.shared.wake_driver.notify_one();
        loop {
            let notified = pin!(self.shared.wake_user.notified());
            let mut notified = notified;
            notified.as_mut().enable();
            if self.shared.state.borrow().outstanding_records() == 0 {
                break;
            }
            notified.await;
        }
        self.stats()
    }

    /// Starts a transactional operation and waits for the event that ends it.
    async fn transaction_operation(
        &self,
        operation: TxnOperation,
        start: impl FnOnce(&mut sm::Producer) -> Result<(), TxnError>,
    ) -> Result<(), TxnError> {
        self.deliveries.borrow_mut().txn_outcome = None;
        start(&mut self.shared.state.borrow_mut())?;
        // Wake the driver once; waking it on each of our wake-ups would ping-pong the two tasks and keep the
        // thread from parking (io_uring submits only when it parks).
        self.shared.wake_driver.notify_one();
        loop {
            let notified = pin!(self.shared.wake_user.notified());
            let mut notified = notified;
            notified.as_mut().enable();
            {
                let mut state = self.shared.state.borrow_mut();
                let mut deliveries = self.deliveries.borrow_mut();
                while let Some(event) = state.poll_event() {
                    deliveries.apply(event);
                }
                if let Some((done, result)) = deliveries.txn_outcome.take() {
                    if done == operation {
                        return result;
                    }
                }
            }
            notified.await;
        }
    }

    /// Finds the transaction coordinator and registers `transactional.id`, fencing older producers with it.
    pub async fn init_transactions(&self) -> Result<(), TxnError> {
        self.transaction_operation(
            TxnOperation::InitTransactions,
            sm::Producer::init_transactions,
        )
        .await
    }

    /// Opens a transaction; records sent from now on belong to it.
    pub async fn begin_transaction(&self) -> Result<(), TxnError> {
        self.shared.state.borrow_mut().begin_transaction()
    }

    /// Commits a consumer's positions inside the transaction (exactly-once Kafka to Kafka).
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: Vec<TxnOffset>,
        group: ConsumerGroupMetadata,
    ) -> Result<(), TxnError> {
        self.transaction_operation(TxnOperation::SendOffsets, |p| {
            p.send_offsets_to_transaction(offsets, group)
        })
        .await
    }

    /// Sends every record of the transaction and commits it.
    pub async fn commit_transaction(&self) -> Result<(), TxnError> {
        self.transaction_operation(TxnOperation::Commit, sm::Producer::commit_transaction)
            .await
    }

    /// Drops records not sent yet, waits for those in flight, and aborts the transaction.
    pub async fn abort_transaction(&self) -> Result<(), TxnError> {
        self.transaction_operation(TxnOperation::Abort, sm::Producer::abort_transaction)
            .await
    }

    /// Where the transactional producer is (`None` without `transactional.id`).
    pub fn transaction_state(&self) -> Option<TxnState> {
        self.shared.state.borrow().transaction_state().cloned()
    }

    /// The latest failure of the open transaction that no operation reported yet.
    pub fn take_transaction_error(&self) -> Option<TxnError> {
        self.deliveries.borrow_mut().txn_error.take()
    }

    pub fn stats(&self) -> DeliveryStats {
        self.deliveries.borrow().stats.clone()
    }

    /// Flushes, then stops the driver and closes connections.
    pub async fn close(self) -> DeliveryStats {
        let stats = self.flush().await;
        self.shared.stopped.set(true);
        self.shared.wake_driver.notify_one();
        let _ = (&mut { self.driver }).await;
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(timestamp_ms: i64) -> RecordRef<'static> {
        RecordRef {
            topic: "t",
            partition: None,
            key: None,
            value: Some(b"v"),
            headers: &[],
            timestamp_ms,
        }
    }

    #[test]
    fn records_asking_for_a_timestamp_get_the_wall_clock_time_and_others_keep_theirs() {
        let clock = RecordClock::new();
        let before = now_ms();
        let stamped = clock.stamp(record(TIMESTAMP_ON_SEND), Instant::now());
        let after = now_ms();
        assert!(
            (before..=after).contains(&stamped.timestamp_ms),
            "{before} ≤ {} ≤ {after}",
            stamped.timestamp_ms
        );
        assert_eq!(clock.stamp(record(42), Instant::now()).timestamp_ms, 42);
    }

    #[test]
    fn between_anchors_the_wall_time_follows_the_monotonic_instant() {
        let clock = RecordClock::new();
        let start = Instant::now();
        let anchored = clock.wall_ms(start);
        assert_eq!(
            clock.wall_ms(start + Duration::from_millis(250)),
            anchored + 250
        );
        assert_eq!(
            clock.wall_ms(start + Duration::from_millis(999)),
            anchored + 999
        );
        // An instant before the anchor (another task read the clock first) does not go back in time.
        assert_eq!(clock.wall_ms(start - Duration::from_millis(5)), anchored);
    }

    #[test]
    fn after_a_second_the_wall_clock_is_read_again() {
        let clock = RecordClock::new();
        let start = Instant::now();
        clock.wall_ms(start);
        // An anchor a second old whose wall time is 0: only a fresh read of the wall clock gives a real time.
        clock.anchor.set(Some((start, 0)));
        let later = start + RecordClock::REANCHOR_AFTER;
        let before = now_ms();
        let reread = clock.wall_ms(later);
        assert!(
            reread >= before,
            "{reread} was not read from the wall clock"
        );
        assert_eq!(clock.anchor.get(), Some((later, reread)));
    }
}
