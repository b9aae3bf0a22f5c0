//! A compacted topic read from its beginning and then followed, with a producer beside it (Kafka Connect's
//! `KafkaBasedLog`): what the Kafka-backed config, status and position stores are built on.
//!
//! The log runs on a thread of its own with its own single-threaded runtime (the client handles are bound to
//! one thread), so the worker's control thread never waits for a broker except where a store says it does.
//! Every record read is handed to the store's callback on that thread, in offset order per partition.
//!
//! "Read to the end" does not trust ListOffsets alone: tansu answers the base offset of the last batch + 1, so
//! after a batch of several records it names an offset inside that batch. The end asked for is the ListOffsets
//! answer; it is reached once a record at or past it was read (the consumer hands out whole batches, so the
//! batch holding the answer's offset is read to its last record), or once the consumer reported the end of the
//! partition there (Fetch's high watermark, which is right on every broker).
//!
//! Must not: know what the records mean; panic on what a broker sends.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::StoreError;
use crate::client::admin::{
    AdminError, CreateTopics, DescribeCluster, ListOffsets, NewTopic, OffsetSpec,
};
use crate::client::config::{
    Acks, AutoOffsetReset, ConsumerConfig, IsolationLevel, ProducerConfig,
};
use crate::client::consumer::{ConsumerEvent, StartPosition, TopicPartition};
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

enum Command {
    Send {
        key: Vec<u8>,
        value: Option<Vec<u8>>,
        on_ack: OnAck,
    },
    ReadToEnd {
        done: mpsc::Sender<Result<(), StoreError>>,
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
        let ends = end_offsets(&admin, &place, &partitions).await?;
        while !positions.reached(&ends) {
            if let Applied::Failed { cause, .. } =
                apply(consumer.recv().await, &mut positions, &mut on_record, false)
            {
                return Err(place.error(format!("reading it failed: {cause}")));
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
            let _ = ready.send(Err(place.error(format!(
                "not created, found or read to its end within {:?} (is the broker reachable?)",
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
    let producer = Producer::new(producer_config);
    let mut waiting: Vec<(BTreeMap<i32, i64>, mpsc::Sender<Result<(), StoreError>>)> = Vec::new();
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
                Some(Command::ReadToEnd { done }) => {
                    match end_offsets(&admin, &place, &partitions).await {
                        Ok(ends) if positions.reached(&ends) => {
                            let _ = done.send(Ok(()));
                        }
                        Ok(ends) => waiting.push((ends, done)),
                        Err(error) => {
                            let _ = done.send(Err(error));
                        }
                    }
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
                waiting.retain(|(ends, done)| {
                    if positions.reached(ends) {
                        let _ = done.send(Ok(()));
                        false
                    } else {
                        true
                    }
                });
            }
        }
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, producer.close()).await;
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
                configs: vec![("cleanup.policy".into(), "compact".into())],
            }],
            timeout_ms: i32::try_from(settings.start_timeout.as_millis()).unwrap_or(i32::MAX),
        })
        .await
        .map_err(|e| place.error(format!("could not be created or found: {e}")))?;
    for outcome in created {
        match outcome.result {
            Ok(()) => tracing::info!(topic = %place.topic, partitions = settings.partitions,
                replication_factor = settings.replication_factor, "internal topic created (compacted)"),
            Err(e) if e.response_error() == Some(ResponseError::TopicAlreadyExists) => {}
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

/// Each partition's end by ListOffsets (see the module's comment for what it may get wrong).
async fn end_offsets(
    admin: &Admin,
    place: &Place,
    partitions: &[i32],
) -> Result<BTreeMap<i32, i64>, StoreError> {
    let failed = |e: AdminError| place.error(format!("its end offsets could not be read: {e}"));
    let cluster = admin
        .run(DescribeCluster {
            topics: Some(vec![place.topic.clone()]),
        })
        .await
        .map_err(failed)?;
    let mut ends = BTreeMap::new();
    let requests = ListOffsets::by_leader(
        &cluster,
        partitions.iter().map(|p| {
            (
                TopicPartition::new(place.topic.as_str(), *p),
                OffsetSpec::Latest,
            )
        }),
    );
    for request in requests {
        for (tp, offset) in admin.run(request).await.map_err(failed)? {
            ends.insert(tp.partition, offset.map_err(failed)?);
        }
    }
    if let Some(missing) = partitions.iter().find(|p| !ends.contains_key(p)) {
        return Err(place.error(format!(
            "partition {missing} has no leader to ask for its end offset"
        )));
    }
    Ok(ends)
}
