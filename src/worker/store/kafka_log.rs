//! A compacted topic read from its beginning and then followed, with a producer beside it (Kafka Connect's
//! `KafkaBasedLog`): what the Kafka-backed config, status and position stores are built on.
//!
//! The log runs on a thread of its own with its own single-threaded runtime (the client handles are bound to
//! one thread), so the worker's control thread never waits for a broker except where a store says it does.
//! Every record read is handed to the store's callback on that thread, in offset order per partition.
//!
//! "Read to the end" does not ask ListOffsets: tansu answers it with an offset inside the last batch, and
//! sometimes with one from before the last acknowledged write. The end is the high watermark of a Fetch
//! answered after the question (right on every broker): once two answers for a partition came after it (one
//! fetch of a partition is in flight at a time, so the second was sent after it), that answer's high
//! watermark is the end to read to. A store waiting for its own write waits for that record's offset instead.
//!
//! Must not: know what the records mean; panic on what a broker sends.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::StoreError;
use crate::client::admin::{CreateTopics, DescribeCluster, DescribeTopicConfigs, NewTopic};
use crate::client::config::{
    Acks, AutoOffsetReset, ConsumerConfig, IsolationLevel, ProducerConfig,
};
use crate::client::consumer::{ConsumerEvent, StartPosition};
use crate::client::errors::ResponseError;
use crate::client::producer::{RecordRef, TIMESTAMP_ON_SEND};
use crate::runtime::backend::{AnyBackend, TokioBackend};
use crate::runtime::{Admin, Consumer, Producer};

/// How long a producer's close may wait for records still unacknowledged when a log stops.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// The wait before a partition the consumer gave up on is assigned again.
const REASSIGN_BACKOFF: Duration = Duration::from_secs(1);

/// What a log is and how to reach it.
#[derive(Debug, Clone)]
pub struct KafkaLogSettings {
    pub topic: String,
    /// Partitions and replication factor the topic is created with, when it does not exist.
    pub partitions: i32,
    /// -1: the broker's default.
    pub replication_factor: i16,
    /// The producer's settings; acks=all and idempotence are set here whatever they say.
    pub producer: ProducerConfig,
    /// The consumer's settings; no group, from the earliest offset, read_uncommitted.
    pub consumer: ConsumerConfig,
    /// How long starting may take: creating or finding the topic, reading it to its end.
    pub start_timeout: Duration,
}

/// One record read from the log.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// Whether the log had read to its end at start before this record: false for the records of that first
    /// read.
    pub caught_up: bool,
}

/// Where a record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub partition: i32,
    pub offset: i64,
}

/// What to do with the outcome of one send.
pub type OnAck = Box<dyn FnOnce(Result<Written, StoreError>) + Send>;

type ReadToEndReply = mpsc::Sender<Result<(), StoreError>>;

enum Command {
    Send {
        key: Vec<u8>,
        value: Option<Vec<u8>>,
        on_ack: OnAck,
    },
    ReadToEnd {
        done: ReadToEndReply,
    },
    Flush {
        done: mpsc::Sender<()>,
    },
    /// Answers once these offsets (the offset after each record to wait for) are read.
    WaitRead {
        ends: BTreeMap<i32, i64>,
        done: ReadToEndReply,
    },
}

/// A running log; dropping it stops its thread (after the producer's last records, for at most a few
/// seconds).
pub struct KafkaLog {
    topic: String,
    brokers: String,
    partitions: i32,
    commands: Option<UnboundedSender<Command>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLog")
            .field("topic", &self.topic)
            .field("brokers", &self.brokers)
            .field("partitions", &self.partitions)
            .finish()
    }
}

/// The topic and brokers errors name.
#[derive(Debug, Clone)]
struct Place {
    topic: String,
    brokers: String,
}

impl Place {
    fn error(&self, cause: impl std::fmt::Display) -> StoreError {
        StoreError(format!("topic {} at {}: {cause}", self.topic, self.brokers))
    }
}

impl KafkaLog {
    /// Creates the topic unless it exists (compacted, with the settings' partitions and replication factor),
    /// reads it to its end, handing each record to `on_record`, and returns once it has; `on_record` then
    /// gets every record read after, on the log's thread.
    pub fn start(
        settings: KafkaLogSettings,
        on_record: impl FnMut(&LogRecord) + Send + 'static,
    ) -> Result<KafkaLog, StoreError> {
        let place = Place {
            topic: settings.topic.clone(),
            brokers: settings.producer.common.bootstrap_servers.join(","),
        };
        let start_timeout = settings.start_timeout;
        let (ready, started) = mpsc::channel();
        let (commands, receiver) = unbounded_channel();
        let thread_place = place.clone();
        let thread = std::thread::Builder::new()
            .name("pipewright-log".into())
            .spawn(move || {
                let failed = ready.clone();
                let run = run(settings, thread_place.clone(), on_record, receiver, ready);
                if let Err(e) = AnyBackend::Tokio(TokioBackend::default()).block_on(run) {
                    let _ = failed.send(Err(thread_place.error(format!("no runtime: {e}"))));
                }
            })
            .map_err(|e| place.error(format!("could not start a thread: {e}")))?;
        // The thread bounds its own start; the margin covers closing its clients after a failure.
        match started.recv_timeout(start_timeout + CLOSE_TIMEOUT * 2) {
            Ok(Ok(partitions)) => Ok(KafkaLog {
                topic: place.topic,
                brokers: place.brokers,
                partitions,
                commands: Some(commands),
                thread: Some(thread),
            }),
            Ok(Err(error)) => {
                drop(commands);
                let _ = thread.join();
                Err(error)
            }
            Err(_) => Err(place.error(format!("not read to its end within {start_timeout:?}"))),
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The topic's partition count when the log started.
    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    fn place(&self) -> Place {
        Place {
            topic: self.topic.clone(),
            brokers: self.brokers.clone(),
        }
    }

    /// Sends a record (`value` `None`: a tombstone) without waiting; records sent are written in the order
    /// of these calls. `on_ack` runs on the log's thread with the outcome.
    pub fn send(&self, key: Vec<u8>, value: Option<Vec<u8>>, on_ack: OnAck) {
        let stopped = self.place().error("the log has stopped");
        let Some(commands) = &self.commands else {
            return on_ack(Err(stopped));
        };
        if let Err(refused) = commands.send(Command::Send { key, value, on_ack }) {
            if let Command::Send { on_ack, .. } = refused.0 {
                on_ack(Err(stopped));
            }
        }
    }

    /// Sends a record and waits until the broker acknowledged it (or `timeout` passed).
    pub fn send_and_wait(
        &self,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Written, StoreError> {
        let (acked, ack) = mpsc::channel();
        self.send(
            key,
            value,
            Box::new(move |outcome| {
                let _ = acked.send(outcome);
            }),
        );
        match ack.recv_timeout(timeout) {
            Ok(outcome) => outcome,
            Err(_) => Err(self
                .place()
                .error(format!("no acknowledgement within {timeout:?}"))),
        }
    }

    /// Waits until every record sent before this call is acknowledged or failed.
    pub fn flush(&self, timeout: Duration) -> Result<(), StoreError> {
        let (done, flushed) = mpsc::channel();
        let stopped = || self.place().error("the log has stopped");
        let commands = self.commands.as_ref().ok_or_else(stopped)?;
        commands
            .send(Command::Flush { done })
            .map_err(|_| stopped())?;
        match flushed.recv_timeout(timeout) {
            Ok(()) => Ok(()),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(self
                .place()
                .error(format!("records not acknowledged within {timeout:?}"))),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(stopped()),
        }
    }

    /// Waits until the records written at `written` have been read (and handed to the callback).
    pub fn wait_read(&self, written: &[Written], timeout: Duration) -> Result<(), StoreError> {
        let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
        for w in written {
            let end = ends.entry(w.partition).or_insert(0);
            *end = (*end).max(w.offset + 1);
        }
        let (done, finished) = mpsc::channel();
        let stopped = || self.place().error("the log has stopped");
        let commands = self.commands.as_ref().ok_or_else(stopped)?;
        commands
            .send(Command::WaitRead { ends, done })
            .map_err(|_| stopped())?;
        match finished.recv_timeout(timeout) {
            Ok(outcome) => outcome,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(self
                .place()
                .error(format!("records written not read back within {timeout:?}"))),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(stopped()),
        }
    }

    /// Waits until every record written before this call has been read (and handed to the callback).
    pub fn read_to_end(&self, timeout: Duration) -> Result<(), StoreError> {
        let (done, finished) = mpsc::channel();
        let stopped = || self.place().error("the log has stopped");
        let commands = self.commands.as_ref().ok_or_else(stopped)?;
        commands
            .send(Command::ReadToEnd { done })
            .map_err(|_| stopped())?;
        match finished.recv_timeout(timeout) {
            Ok(outcome) => outcome,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(self
                .place()
                .error(format!("not read to its end within {timeout:?}"))),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(stopped()),
        }
    }
}

impl Drop for KafkaLog {
    fn drop(&mut self) {
        // A closed channel is the thread's signal to stop.
        self.commands = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How far each partition has been read: the offset after the last record handed on, or where the consumer
/// reported the partition's end.
struct ReadPositions {
    applied: BTreeMap<i32, i64>,
}

impl ReadPositions {
    fn reached(&self, ends: &BTreeMap<i32, i64>) -> bool {
        ends.iter()
            .all(|(partition, end)| self.applied.get(partition).copied().unwrap_or(0) >= *end)
    }
}

/// A wait for the end of the log, as it was when asked.
struct EndWait {
    /// Offsets each partition must be read to (a written record's, or a fetch's high watermark).
    ends: BTreeMap<i32, i64>,
    /// Until the fetches after the question are in: per partition, the fetch answers to wait for.
    answers: Option<BTreeMap<i32, u64>>,
}

impl EndWait {
    /// The end of every partition as a fetch answered after now will tell it; `after_assign` for partitions
    /// assigned just now, whose every fetch is sent after now.
    fn of_fetches(
        consumer: &Consumer,
        topic: &str,
        partitions: &[i32],
        after_assign: bool,
    ) -> Self {
        let more = if after_assign { 1 } else { 2 };
        let answers = consumer.with_state(|c| {
            partitions
                .iter()
                .map(|p| (*p, c.fetch_answers(topic, *p) + more))
                .collect()
        });
        EndWait {
            ends: BTreeMap::new(),
            answers: Some(answers),
        }
    }

    /// Whether the log was read to the end waited for.
    fn done(&mut self, consumer: &Consumer, topic: &str, positions: &ReadPositions) -> bool {
        if let Some(answers) = &self.answers {
            let ends = consumer.with_state(|c| {
                answers
                    .iter()
                    .map(|(p, wanted)| {
                        let answered = c.fetch_answers(topic, *p) >= *wanted;
                        answered.then(|| (*p, c.high_watermark(topic, *p).unwrap_or(0)))
                    })
                    .collect::<Option<BTreeMap<i32, i64>>>()
            });
            match ends {
                Some(ends) => {
                    self.ends = ends;
                    self.answers = None;
                }
                None => return false,
            }
        }
        positions.reached(&self.ends)
    }
}

/// How often a wait for the end looks at the consumer's fetch answers (an answer without records tells no
/// event).
const END_CHECK_INTERVAL: Duration = Duration::from_millis(10);
/// The longest a fetch of the log waits for records (`fetch.max.wait.ms`, at most): a wait for the end takes
/// up to two of them when nothing is written.
const LOG_FETCH_MAX_WAIT: Duration = Duration::from_millis(100);

/// What an event left to do: nothing, or a partition to assign again.
enum Applied {
    Done,
    Failed {
        partition: Option<i32>,
        cause: String,
    },
}

fn apply(
    event: ConsumerEvent,
    positions: &mut ReadPositions,
    on_record: &mut impl FnMut(&LogRecord),
    caught_up: bool,
) -> Applied {
    match event {
        ConsumerEvent::Records {
            partition, records, ..
        } => {
            for record in records {
                let offset = record.offset;
                on_record(&LogRecord {
                    partition,
                    offset,
                    key: record.key,
                    value: record.value,
                    caught_up,
                });
                let applied = positions.applied.entry(partition).or_insert(0);
                *applied = (*applied).max(offset + 1);
            }
            Applied::Done
        }
        ConsumerEvent::PartitionEof {
            partition, offset, ..
        } => {
            let applied = positions.applied.entry(partition).or_insert(0);
            *applied = (*applied).max(offset);
            Applied::Done
        }
        ConsumerEvent::Error {
            partition, error, ..
        } => Applied::Failed {
            partition,
            cause: error.to_string(),
        },
    }
}

async fn run(
    settings: KafkaLogSettings,
    place: Place,
    mut on_record: impl FnMut(&LogRecord),
    mut commands: UnboundedReceiver<Command>,
    ready: mpsc::Sender<Result<i32, StoreError>>,
) {
    let admin = Admin::new(settings.producer.common.clone());
    let mut consumer_config = settings.consumer.clone();
    consumer_config.group_id = None;
    consumer_config.enable_auto_commit = false;
    consumer_config.auto_offset_reset = AutoOffsetReset::Earliest;
    consumer_config.isolation_level = IsolationLevel::ReadUncommitted;
    consumer_config.fetch_max_wait = consumer_config.fetch_max_wait.min(LOG_FETCH_MAX_WAIT);
    let consumer = Consumer::new(consumer_config);
    let mut positions = ReadPositions {
        applied: BTreeMap::new(),
    };

    let start = async {
        let partitions = prepare_topic(&admin, &settings, &place).await?;
        consumer.assign(
            partitions
                .iter()
                .map(|p| (settings.topic.clone(), *p, StartPosition::Earliest))
                .collect(),
        );
        let mut end = EndWait::of_fetches(&consumer, &settings.topic, &partitions, true);
        while !end.done(&consumer, &settings.topic, &positions) {
            tokio::select! {
                event = consumer.recv() => {
                    if let Applied::Failed { cause, .. } =
                        apply(event, &mut positions, &mut on_record, false)
                    {
                        return Err(place.error(format!("reading it failed: {cause}")));
                    }
                }
                _ = tokio::time::sleep(END_CHECK_INTERVAL) => {}
            }
        }
        Ok(partitions)
    };
    let partitions = match tokio::time::timeout(settings.start_timeout, start).await {
        Ok(Ok(partitions)) => partitions,
        Ok(Err(error)) => {
            let _ = ready.send(Err(error));
            consumer.close().await;
            admin.close().await;
            return;
        }
        Err(_) => {
            // The consumer's connection failures say why, when a broker could not be reached.
            let problems = consumer.connection_problems().current();
            let cause = if problems.is_empty() {
                "is the broker reachable?".to_owned()
            } else {
                problems.join("; ")
            };
            let _ = ready.send(Err(place.error(format!(
                "not created, found or read to its end within {:?} ({cause})",
                settings.start_timeout
            ))));
            consumer.close().await;
            admin.close().await;
            return;
        }
    };
    let count = i32::try_from(partitions.len()).unwrap_or(i32::MAX);
    let _ = ready.send(Ok(count));
    tracing::info!(topic = %place.topic, partitions = count, "internal topic read to its end");

    let mut producer_config = settings.producer.clone();
    producer_config.acks = Acks::All;
    producer_config.enable_idempotence = true;
    producer_config.transactional_id = None;
    // Shared with the flushes under way.
    let producer = Rc::new(Producer::new(producer_config));
    // Waits for the end not answered yet, and where to answer.
    let mut waiting: Vec<(EndWait, ReadToEndReply)> = Vec::new();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                None => break,
                Some(Command::Send { key, value, on_ack }) => {
                    let record = RecordRef {
                        topic: &settings.topic,
                        partition: None,
                        key: Some(&key),
                        value: value.as_deref(),
                        headers: &[],
                        timestamp_ms: TIMESTAMP_ON_SEND,
                    };
                    match producer.send(record).await {
                        Ok(delivery) => {
                            let place = place.clone();
                            tokio::task::spawn_local(async move {
                                on_ack(delivery
                                    .await
                                    .map(|d| Written { partition: d.partition, offset: d.offset })
                                    .map_err(|e| place.error(format!("the write failed: {e}"))));
                            });
                        }
                        Err(e) => on_ack(Err(place.error(format!("the write failed: {e}")))),
                    }
                }
                Some(Command::Flush { done }) => {
                    let producer = producer.clone();
                    tokio::task::spawn_local(async move {
                        producer.flush().await;
                        let _ = done.send(());
                    });
                }
                Some(Command::ReadToEnd { done }) => {
                    waiting.push((EndWait::of_fetches(&consumer, &settings.topic, &partitions, false), done));
                }
                Some(Command::WaitRead { ends, done }) => {
                    waiting.push((EndWait { ends, answers: None }, done));
                }
            },
            event = consumer.recv() => {
                if let Applied::Failed { partition, cause } =
                    apply(event, &mut positions, &mut on_record, true)
                {
                    tracing::warn!(topic = %place.topic, brokers = %place.brokers, ?partition, %cause,
                        "reading an internal topic failed; reading it again from where it stopped");
                    tokio::time::sleep(REASSIGN_BACKOFF).await;
                    let again: Vec<i32> = match partition {
                        Some(p) => vec![p],
                        None => partitions.clone(),
                    };
                    consumer.assign(
                        again
                            .into_iter()
                            .map(|p| {
                                let at = positions.applied.get(&p).copied().unwrap_or(0);
                                (settings.topic.clone(), p, StartPosition::Offset(at))
                            })
                            .collect(),
                    );
                }
            }
            _ = tokio::time::sleep(END_CHECK_INTERVAL), if !waiting.is_empty() => {}
        }
        waiting.retain_mut(|(end, done)| {
            if end.done(&consumer, &settings.topic, &positions) {
                let _ = done.send(Ok(()));
                false
            } else {
                true
            }
        });
    }
    match Rc::try_unwrap(producer) {
        Ok(producer) => {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, producer.close()).await;
        }
        // A flush still waits: what it waits for is the close's too.
        Err(producer) => {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, producer.flush()).await;
        }
    }
    consumer.close().await;
    admin.close().await;
}

/// Creates the topic unless it exists; its partitions, once metadata names a leader for each.
async fn prepare_topic(
    admin: &Admin,
    settings: &KafkaLogSettings,
    place: &Place,
) -> Result<Vec<i32>, StoreError> {
    let created = admin
        .run(CreateTopics {
            topics: vec![NewTopic {
                name: settings.topic.clone(),
                partitions: settings.partitions,
                replication_factor: settings.replication_factor,
                configs: vec![(CLEANUP_POLICY.into(), "compact".into())],
            }],
            timeout_ms: i32::try_from(settings.start_timeout.as_millis()).unwrap_or(i32::MAX),
        })
        .await
        .map_err(|e| place.error(format!("could not be created or found: {e}")))?;
    for outcome in created {
        match outcome.result {
            Ok(()) => tracing::info!(topic = %place.topic, partitions = settings.partitions,
                replication_factor = settings.replication_factor, "internal topic created (compacted)"),
            Err(e) if e.response_error() == Some(ResponseError::TopicAlreadyExists) => {
                check_compacted(admin, place).await?
            }
            Err(e) => return Err(place.error(format!("could not be created: {e}"))),
        }
    }
    // A topic just created may take a moment to reach every broker's metadata.
    loop {
        let cluster = admin
            .run(DescribeCluster {
                topics: Some(vec![settings.topic.clone()]),
            })
            .await
            .map_err(|e| place.error(format!("could not be described: {e}")))?;
        if let Some(topic) = cluster.topic(&settings.topic) {
            let led =
                !topic.partitions.is_empty() && topic.partitions.iter().all(|p| p.leader >= 0);
            if topic.error.is_none() && led {
                return Ok(topic.partitions.iter().map(|p| p.partition).collect());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Refuses a topic that existed already unless its cleanup policy is `compact` alone, as Kafka Connect does:
/// under `delete` the broker would drop configs and positions after `retention.ms`. A broker that cannot say
/// (no DescribeConfigs, no permission) is taken at its word, with a warning, as Kafka Connect takes it.
async fn check_compacted(admin: &Admin, place: &Place) -> Result<(), StoreError> {
    let described = admin
        .run(DescribeTopicConfigs {
            topic: place.topic.clone(),
            // Every config, not just the one: tansu cannot read a request naming keys (seen with tansu 0.6).
            keys: Vec::new(),
        })
        .await;
    match described {
        Ok(configs) => match configs.get(CLEANUP_POLICY) {
            Some(policy) if compact_only(policy) => Ok(()),
            Some(policy) => Err(place.error(format!(
                "{CLEANUP_POLICY} is {policy:?}; an internal topic must have {CLEANUP_POLICY}=compact only, or the \
                 broker deletes its records (change it with `kafka-configs --alter`, or name another topic)"
            ))),
            None => {
                tracing::warn!(topic = %place.topic, brokers = %place.brokers,
                    "the broker did not say the topic's cleanup.policy; make sure it is compact");
                Ok(())
            }
        },
        Err(e) => {
            tracing::warn!(topic = %place.topic, brokers = %place.brokers, error = %e,
                "could not read the topic's cleanup.policy; make sure it is compact");
            Ok(())
        }
    }
}

const CLEANUP_POLICY: &str = "cleanup.policy";

/// Whether a `cleanup.policy` value is `compact` and nothing else.
fn compact_only(policy: &str) -> bool {
    let mut policies = policy.split(',').map(|p| p.trim().to_ascii_lowercase());
    policies.next().as_deref() == Some("compact") && policies.all(|p| p == "compact")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_compact_alone_is_a_compacted_topic() {
        assert!(compact_only("compact"));
        assert!(compact_only("COMPACT"));
        assert!(!compact_only("delete"));
        assert!(!compact_only("compact,delete"));
        assert!(!compact_only("delete, compact"));
        assert!(!compact_only(""));
    }
}
