//! One pipeline task on one core: source → transforms → sink, in a loop, with at-least-once commits.
//!
//! The loop is the backpressure: a slow sink makes `put`/`flush` take longer, so the source is polled less;
//! at most `queue.max.records` records and `queue.max.bytes` bytes are between source and sink at any time.
//! Positions: after a sink `flush` succeeds, the latest position of each stream (a file, a Kafka partition)
//! among the records handed to the sink is committed — to the task's [`PositionStore`], and to the source (the
//! Kafka source commits to its group). A crash between flush and commit re-sends records (at-least-once), never loses them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Delivery, PipelineConfig, Tolerance};
use crate::connect::connector::{
    ConnectorError, PollLimit, SinkTask, SourcePoll, SourceTask, TaskId,
};
use crate::connect::connectors::{AnySink, AnySource};
use crate::connect::record::{ConnectRecord, SourcePosition};
use crate::engine::build::commit_exactly_once;
use crate::engine::control::{TaskControl, TaskState};
use crate::engine::dead_letter::DeadLetterQueue;
use crate::engine::metrics::active_topics::TopicTracker;
use crate::engine::metrics::recorder::{unix_now_ms, TaskRecorder};
use crate::engine::metrics::{raw_bytes, PartitionLag, Stage, TaskMetrics};
use crate::engine::positions::{PositionStore, TaskKey};
use crate::engine::record_errors::{self, RetryPolicy, StageFailure};

/// How long closing a source or sink may take once everything is committed.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a core needs to run one task.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub pipeline: Arc<PipelineConfig>,
    pub task: TaskId,
    /// Where the task's source positions are kept (unless its source keeps its own).
    pub positions: Arc<dyn PositionStore>,
    pub metrics: Arc<TaskMetrics>,
    /// Starts paused (a paused connector after a restart, or a task a rebalance moved): it polls nothing
    /// before it is resumed. Pausing it right after the start instead would let its first poll through.
    pub start_paused: bool,
}

impl TaskSpec {
    pub fn key(&self) -> TaskKey {
        TaskKey::new(self.pipeline.name.clone(), self.task.index)
    }

    pub fn label(&self) -> String {
        self.key().to_string()
    }
}

/// How a task run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    /// The source finished (stdin closed, bounded datagen) and everything was flushed and committed.
    Finished,
    /// Asked to stop; everything polled was flushed and committed.
    Stopped,
}

/// Identifies the stream a position belongs to, so only the latest per stream is kept.
fn stream_key(position: &SourcePosition) -> Option<(String, i32)> {
    match position {
        SourcePosition::KafkaOffset {
            topic, partition, ..
        } => Some((topic.as_str().to_owned(), *partition)),
        SourcePosition::Offset(_)
        | SourcePosition::FileOffset { .. }
        | SourcePosition::Opaque(_) => None,
    }
}

/// Whether two positions are of the same stream: what [`stream_key`] tells, without building the keys.
fn same_stream(a: &SourcePosition, b: &SourcePosition) -> bool {
    match (a, b) {
        (
            SourcePosition::KafkaOffset {
                topic: topic_a,
                partition: partition_a,
                ..
            },
            SourcePosition::KafkaOffset {
                topic: topic_b,
                partition: partition_b,
                ..
            },
        ) => partition_a == partition_b && topic_a == topic_b,
        (SourcePosition::KafkaOffset { .. }, _) | (_, SourcePosition::KafkaOffset { .. }) => false,
        _ => true,
    }
}

/// One polled record's position, and where the record stands among those kept for the sink.
struct PolledPosition {
    position: SourcePosition,
    /// How many records of the poll were kept for the sink before this one.
    kept_before: usize,
    /// Whether this record itself went on to the sink (was not filtered out or skipped).
    kept: bool,
}

/// How many of `positions` are of records before the kept record `index`: the ones that may commit when that
/// record fails.
fn positions_before_kept(positions: &[PolledPosition], index: usize) -> usize {
    positions
        .iter()
        .position(|p| p.kept_before > index || (p.kept_before == index && p.kept))
        .unwrap_or(positions.len())
}

/// Puts the latest of `positions` of each stream into `pending`. A source hands out runs of one stream, so a
/// key is built when the stream changes, not once per record.
fn merge_positions(
    pending: &mut HashMap<Option<(String, i32)>, SourcePosition>,
    positions: impl Iterator<Item = SourcePosition>,
) {
    let mut latest: Option<SourcePosition> = None;
    for position in positions {
        match &mut latest {
            Some(current) if same_stream(current, &position) => *current = position,
            _ => {
                if let Some(previous) = latest.replace(position) {
                    pending.insert(stream_key(&previous), previous);
                }
            }
        }
    }
    if let Some(position) = latest {
        pending.insert(stream_key(&position), position);
    }
}

/// A record as a log line names it: its topic, and where it was read from Kafka, its partition and offset.
fn describe_record(record: &ConnectRecord) -> String {
    let mut text = format!("a record for topic {:?}", record.topic.as_str());
    if let (Some(partition), Some(offset)) = (record.partition, record.kafka_offset) {
        text.push_str(&format!(
            " (read from partition {partition}, offset {offset})"
        ));
    }
    text
}

/// How a stage is named in a task's failure.
fn stage_text(stage: &str) -> &'static str {
    match stage {
        "KEY_CONVERTER" => "the key converter",
        "VALUE_CONVERTER" => "the value converter",
        "HEADER_CONVERTER" => "the header converter",
        _ => "a transform",
    }
}

/// Runs the task until its source finishes, `stop` is set, or an error fails it.
pub(crate) async fn run_task(
    spec: &TaskSpec,
    control: &TaskControl,
) -> Result<TaskOutcome, ConnectorError> {
    let pipeline = &spec.pipeline;
    let own_positions = pipeline.run.source.capabilities().keeps_own_positions;
    let exactly_once_positions = pipeline.delivery == Delivery::ExactlyOnce && !own_positions;
    let store = (!own_positions && !exactly_once_positions).then(|| TaskPositions {
        store: spec.positions.as_ref(),
        key: spec.key(),
    });
    let start = if exactly_once_positions {
        // The positions committed with the records, in the offsets topic (KIP-618 style).
        let topic = crate::engine::offsets_topic::DEFAULT_OFFSETS_TOPIC;
        crate::engine::offsets_topic::ensure_topic(pipeline.run.admin.clone(), topic).await?;
        let key = crate::engine::offsets_topic::position_key(&pipeline.name, spec.task.index);
        crate::engine::offsets_topic::read_positions(
            pipeline.run.consumer.clone(),
            topic,
            &key,
            Duration::from_secs(60),
        )
        .await?
    } else {
        match &store {
            Some(store) if pipeline.run.source.capabilities().resumes_any_tasks_streams => {
                // The task's own positions first, then the other tasks' (a stream may have moved here when
                // `tasks` changed); the source takes each stream's furthest.
                let mut all = store
                    .store
                    .load_connector(&store.key.connector)
                    .map_err(|e| ConnectorError::fatal(e.to_string()))?;
                all.sort_by_key(|(index, _)| *index != store.key.index);
                all.into_iter()
                    .flat_map(|(_, positions)| positions)
                    .collect()
            }
            Some(store) => store
                .store
                .load(&store.key)
                .map_err(|e| ConnectorError::fatal(e.to_string()))?,
            None => Vec::new(),
        }
    };
    let mut dead_letters = match (
        &pipeline.errors.tolerance,
        &pipeline.errors.dead_letter_topic,
    ) {
        (Tolerance::All, Some(topic)) => Some(DeadLetterQueue::open(
            pipeline.run.producer.clone(),
            topic.clone(),
            pipeline.errors.context_headers_enable,
            &pipeline.name,
            spec.task.index,
        )),
        _ => None,
    };
    let mut converters = pipeline.run.converters.instance();
    let chain = pipeline.run.chain.instance();
    let mut sink = AnySink::open(&pipeline.run.sink, spec.task).await?;
    if matches!(pipeline.errors.tolerance, Tolerance::None) {
        // The task fails at a record the broker refuses; what follows it must not be written, or the restart
        // would write it again.
        sink.stop_after_refused_record();
    }
    let mut source = match AnySource::open(&pipeline.run.source, spec.task, &start).await {
        Ok(source) => source,
        Err(e) => {
            sink.close().await;
            return Err(e);
        }
    };
    // Exactly-once into a sink that keeps the consumed offsets with its writes: the source's partitions start
    // where the sink's own transactions say, not at the group's committed offsets.
    let offsets_in_sink = pipeline.delivery == Delivery::ExactlyOnce
        && pipeline.run.sink.capabilities().keeps_consumed_offsets
        && !pipeline.run.sink.capabilities().joins_kafka_transaction;
    if offsets_in_sink {
        let kept = match sink.keep_consumed_offsets(&pipeline.name).await {
            Ok(()) if source.start_where_told() => Ok(()),
            Ok(()) => Err(ConnectorError::fatal(format!(
                "pipeline {:?}: exactly-once into this sink needs a Kafka source",
                pipeline.name
            ))),
            Err(e) => Err(e),
        };
        if let Err(e) = kept {
            source.close().await;
            sink.close().await;
            return Err(e);
        }
    }
    let mut watched = sink.connection_problems();
    watched.extend(source.connection_problems());
    watched.extend(
        dead_letters
            .iter()
            .map(DeadLetterQueue::connection_problems),
    );
    spec.metrics.watch_connections(watched);
    let result = pump(
        spec,
        &mut source,
        &mut sink,
        &mut converters,
        &chain,
        store.as_ref(),
        dead_letters.as_mut(),
        control,
        offsets_in_sink,
    )
    .await;
    if let Some(dlq) = dead_letters {
        if tokio::time::timeout(CLOSE_TIMEOUT, dlq.close())
            .await
            .is_err()
        {
            tracing::warn!(task = %spec.label(), "dead-letter producer close timed out");
        }
    }
    // Positions are committed by now; closing (leaving a group, closing connections) must not hold up a stop
    // for long.
    if tokio::time::timeout(CLOSE_TIMEOUT, source.close())
        .await
        .is_err()
    {
        tracing::warn!(task = %spec.label(), "source close timed out");
    }
    if tokio::time::timeout(CLOSE_TIMEOUT, sink.close())
        .await
        .is_err()
    {
        tracing::warn!(task = %spec.label(), "sink close timed out");
    }
    spec.metrics.watch_connections(Vec::new());
    result
}

#[allow(clippy::too_many_arguments)]
async fn pump(
    spec: &TaskSpec,
    source: &mut AnySource,
    sink: &mut AnySink,
    converters: &mut crate::connect::connector::Converters,
    chain: &crate::connect::transforms::TransformChain,
    store: Option<&TaskPositions<'_>>,
    mut dead_letters: Option<&mut DeadLetterQueue>,
    control: &TaskControl,
    offsets_in_sink: bool,
) -> Result<TaskOutcome, ConnectorError> {
    let pipeline = &spec.pipeline;
    let max_records = pipeline.queue_max_records.max(1);
    let poll_limit = PollLimit {
        records: max_records,
        bytes: pipeline.queue_max_bytes.max(1),
    };
    let mut commits = Commits {
        exactly_once_group: match pipeline.delivery {
            Delivery::ExactlyOnce if !offsets_in_sink => Some(
                pipeline
                    .run
                    .consumer
                    .group_id
                    .clone()
                    .unwrap_or_else(|| format!("connect-{}", pipeline.name)),
            ),
            Delivery::ExactlyOnce | Delivery::AtLeastOnce => None,
        },
        position_key: crate::engine::offsets_topic::position_key(&pipeline.name, spec.task.index),
        store,
        pending: HashMap::new(),
        stored: HashMap::new(),
        window: (pipeline.delivery == Delivery::AtLeastOnce
            && pipeline.run.sink.capabilities().writes_to_kafka())
        .then(FlushWindow::default),
        spec,
    };
    let mut last_commit = Instant::now();
    let mut unflushed = 0usize;
    // What the sink does to a record's topic after the transforms (the Kafka sink's configured topic goes to
    // the records no routing transform renamed): only here is a record seen both before and after them.
    let sink_topic = sink.configured_topic().cloned();
    // Active topics (KIP-558): the ones consumed, for a Kafka source; the ones written after the transforms, for
    // a Kafka sink.
    let active_topics = &spec.metrics.active_topics;
    let mut consumed_topics =
        (pipeline.run.source.capabilities().reads_from_kafka()).then(TopicTracker::default);
    let mut written_topics =
        (pipeline.run.sink.capabilities().writes_to_kafka()).then(TopicTracker::default);
    let mut recorder = TaskRecorder::new();
    let retry = RetryPolicy::new(&pipeline.errors);
    let chain_needs = chain.needs();
    let task_label = spec.label();
    // The positions of the records of one poll, in order (reused from poll to poll).
    let mut positions: Vec<PolledPosition> = Vec::new();
    let outcome = loop {
        let now = Instant::now();
        if recorder.publish_due(now) {
            recorder.publish(&spec.metrics, source_lag(source), now);
        }
        if control.stop_requested() {
            break TaskOutcome::Stopped;
        }
        if control.pause_requested() {
            // Everything polled so far reaches the sink and its positions commit before the pause takes hold.
            commits
                .commit(source, sink, dead_letters.as_deref_mut())
                .await?;
            recorder.acknowledged(unix_now_ms());
            recorder.publish(&spec.metrics, source_lag(source), Instant::now());
            last_commit = Instant::now();
            unflushed = 0;
            control.report(TaskState::Paused);
            control.wait_while_paused().await;
            if !control.stop_requested() {
                control.report(TaskState::Running);
            }
            continue;
        }
        let poll_started = Instant::now();
        let polled = source.poll(poll_limit).await?;
        if offsets_in_sink {
            // Newly assigned partitions are read from where the sink's committed writes end.
            let assigned = source.take_assigned();
            if !assigned.is_empty() {
                let starts = sink.consumed_offsets(&assigned).await?;
                tracing::info!(task = %task_label, ?starts, "partitions start at the offsets the sink keeps");
                source.start_at(starts);
            }
        }
        let finished = match polled {
            SourcePoll::Records(mut records) => {
                let transform_started = Instant::now();
                recorder.stage(Stage::Poll, transform_started - poll_started);
                recorder.batch(records.len());
                let polled_at_ms = unix_now_ms();
                spec.metrics.last_record_unix_ms.store(
                    polled_at_ms.max(1) as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                TaskMetrics::add(&spec.metrics.records_polled, records.len() as u64);
                let mut bytes_polled = 0u64;
                // Records are transformed where they lie and the ones kept are moved to the front, so the
                // polled vector itself goes to the sink: no record is copied between the stages.
                let mut kept = 0usize;
                positions.clear();
                // A record that failed with errors.tolerance=none: how many of `positions` are of records
                // before it, and the error. Those records still reach the sink and their positions commit, so
                // the restart an operator makes re-sends nothing; nothing after it is written.
                let mut failed: Option<(usize, ConnectorError)> = None;
                for tracker in [&mut consumed_topics, &mut written_topics]
                    .into_iter()
                    .flatten()
                {
                    tracker.start_batch(active_topics);
                }
                for index in 0..records.len() {
                    let record = &mut records[index];
                    if let Some(tracker) = &mut consumed_topics {
                        tracker.saw(&record.topic, active_topics);
                    }
                    bytes_polled += raw_bytes(record);
                    let positions_before = positions.len();
                    // A sink that keeps the consumed offsets reads each record's own.
                    let position = if offsets_in_sink {
                        record.source_offset.clone()
                    } else {
                        record.source_offset.take()
                    };
                    if let Some(position) = position {
                        positions.push(PolledPosition {
                            position,
                            kept_before: kept,
                            kept: false,
                        });
                    }
                    let original_topic = sink_topic.as_ref().map(|_| record.topic.clone());
                    // The record as it arrived, for the dead-letter topic (cheap: Bytes are shared).
                    let original = (dead_letters.is_some() || pipeline.errors.log_enable)
                        .then(|| record.clone());
                    let applied = match record_errors::convert_for_chain(
                        record,
                        chain_needs,
                        &mut converters.key,
                        &mut converters.value,
                        retry,
                    )
                    .await
                    {
                        Ok(()) => chain
                            .apply(record, &mut converters.key, &mut converters.value)
                            .map_err(|e| StageFailure {
                                stage: e.stage(),
                                message: e.to_string(),
                            }),
                        Err(failure) => Err(failure),
                    };
                    match applied {
                        Ok(true) => {
                            if let (Some(topic), Some(original)) = (&sink_topic, original_topic) {
                                topic.route(record, &original);
                            }
                            if positions.len() > positions_before {
                                if let Some(last) = positions.last_mut() {
                                    last.kept = true;
                                }
                            }
                            if kept != index {
                                records.swap(kept, index);
                            }
                            kept += 1;
                        }
                        Ok(false) => TaskMetrics::add(&spec.metrics.records_filtered, 1),
                        Err(failure) => {
                            record_errors::log_failure(
                                &pipeline.errors,
                                &task_label,
                                &failure,
                                original.as_ref().unwrap_or(record),
                            );
                            match pipeline.errors.tolerance {
                                Tolerance::None => {
                                    let message = format!(
                                        "pipeline {:?}: {} failed on {}: {}",
                                        pipeline.name,
                                        stage_text(failure.stage),
                                        describe_record(record),
                                        failure.message
                                    );
                                    failed = Some((
                                        positions_before,
                                        ConnectorError::rejected(failure.stage, message),
                                    ));
                                    break;
                                }
                                Tolerance::All => {
                                    TaskMetrics::add(&spec.metrics.records_failed, 1);
                                    if let (Some(dlq), Some(original)) =
                                        (dead_letters.as_deref(), &original)
                                    {
                                        dlq.send(original, failure.stage, &failure.message).await?;
                                        TaskMetrics::add(&spec.metrics.records_dead_lettered, 1);
                                    }
                                }
                            }
                        }
                    }
                }
                records.truncate(kept);
                TaskMetrics::add(&spec.metrics.bytes_polled, bytes_polled);
                let mut bytes_written = 0u64;
                for record in &records {
                    bytes_written += raw_bytes(record);
                    if let Some(tracker) = &mut written_topics {
                        tracker.saw(&record.topic, active_topics);
                    }
                    recorder.handed_to_sink(record.timestamp.unwrap_or(polled_at_ms));
                }
                let put_started = Instant::now();
                recorder.stage(Stage::Transform, put_started - transform_started);
                let mut written = records.len() as u64;
                // The kept index of `records[0]`: a sink that rejects a record leaves it and the rest in the
                // vector, and the put goes on after it.
                let mut kept_base = 0usize;
                // Retries of a retriable rejection of `records[0]` (its converter's registry did not answer).
                let mut put_retries: Option<record_errors::Retries> = None;
                while !records.is_empty() {
                    let handed = records.len();
                    match sink.put(&mut records, converters).await {
                        Ok(()) => break,
                        Err(error) if error.rejected_at.is_some() && !records.is_empty() => {
                            let stage = error.rejected_at.unwrap_or("TASK_PUT");
                            if error.retriable {
                                let now = Instant::now();
                                let wait = put_retries
                                    .get_or_insert_with(|| retry.start(now))
                                    .next_wait(now);
                                if let Some(wait) = wait {
                                    // The records before it were accepted; it leads the ones put again.
                                    kept_base += handed - records.len();
                                    tokio::time::sleep(wait).await;
                                    continue;
                                }
                            }
                            put_retries = None;
                            let rejected_index = kept_base + (handed - records.len());
                            let rejected = records.remove(0);
                            kept_base = rejected_index + 1;
                            written -= 1;
                            bytes_written = bytes_written.saturating_sub(raw_bytes(&rejected));
                            record_errors::log_failure(
                                &pipeline.errors,
                                &task_label,
                                &StageFailure {
                                    stage,
                                    message: error.message.clone(),
                                },
                                &rejected,
                            );
                            match pipeline.errors.tolerance {
                                Tolerance::None => {
                                    let message = format!(
                                        "pipeline {:?}: the sink cannot write {}: {}",
                                        pipeline.name,
                                        describe_record(&rejected),
                                        error.message
                                    );
                                    failed = Some((
                                        positions_before_kept(&positions, rejected_index),
                                        ConnectorError::rejected(stage, message),
                                    ));
                                    records.clear();
                                }
                                Tolerance::All => {
                                    TaskMetrics::add(&spec.metrics.records_failed, 1);
                                    if let Some(dlq) = dead_letters.as_deref() {
                                        dlq.send(&rejected, stage, &error.message).await?;
                                        TaskMetrics::add(&spec.metrics.records_dead_lettered, 1);
                                    }
                                }
                            }
                        }
                        Err(error) => return Err(error),
                    }
                }
                if written > 0 {
                    recorder.stage(Stage::Put, put_started.elapsed());
                }
                unflushed += written as usize;
                TaskMetrics::add(&spec.metrics.records_written, written);
                TaskMetrics::add(&spec.metrics.bytes_written, bytes_written);
                if let Some((cut, error)) = failed {
                    commits.add_poll(positions.drain(..cut), kept);
                    commits
                        .commit(source, sink, dead_letters.as_deref_mut())
                        .await?;
                    recorder.acknowledged(unix_now_ms());
                    recorder.publish(&spec.metrics, source_lag(source), Instant::now());
                    return Err(ConnectorError::rejected(
                        error.rejected_at.unwrap_or("TASK_PUT"),
                        format!(
                            "{} (errors.tolerance=none). The records before it were delivered and their positions \
                             committed; the task stays failed until it is restarted (set errors.tolerance=all to skip \
                             such records or send them to a dead-letter topic)",
                            error.message
                        ),
                    ));
                }
                commits.add_poll(positions.drain(..), kept);
                false
            }
            SourcePoll::Idle => false,
            SourcePoll::Finished => true,
        };
        // A source giving partitions up (a rebalance) has what it handed out committed before it rejoins, under
        // the generation that owned them: their next owner reads on from there.
        let due = source.take_commit_request()
            || last_commit.elapsed() >= pipeline.offset_flush_interval
            || unflushed >= max_records * 16;
        if finished || (due && (!commits.pending.is_empty() || unflushed > 0)) {
            let commit_started = Instant::now();
            commits
                .commit(source, sink, dead_letters.as_deref_mut())
                .await?;
            recorder.stage(Stage::Commit, commit_started.elapsed());
            recorder.acknowledged(unix_now_ms());
            last_commit = Instant::now();
            TaskMetrics::add(&spec.metrics.commits, 1);
            unflushed = 0;
        }
        if finished {
            break TaskOutcome::Finished;
        }
    };
    commits.commit(source, sink, dead_letters).await?;
    recorder.acknowledged(unix_now_ms());
    // The lock may be busy with a scrape just now; a few tries keep the run's last values from being lost.
    for _ in 0..100 {
        if recorder.publish(&spec.metrics, source_lag(source), Instant::now()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(outcome)
}

/// The source's consumer lag per partition, for `/metrics` (`None`: the source reads no Kafka partitions).
fn source_lag(source: &AnySource) -> Option<Vec<PartitionLag>> {
    source.partition_lag().map(|lags| {
        lags.into_iter()
            .map(|(tp, records)| PartitionLag {
                topic: tp.topic,
                partition: tp.partition,
                records,
            })
            .collect()
    })
}

/// A task's slot in its position store.
struct TaskPositions<'a> {
    store: &'a dyn PositionStore,
    key: TaskKey,
}

/// What a task commits, and where: the positions pending since the last commit, the positions file's content,
/// or the transaction they go into.
struct Commits<'a> {
    /// Exactly-once: the group whose offsets go into the sink's transactions.
    exactly_once_group: Option<String>,
    /// The task's key in the offsets topic (exactly-once positions of a non-Kafka source).
    position_key: String,
    store: Option<&'a TaskPositions<'a>>,
    /// Latest position per stream among records handed to the sink since the last commit.
    pending: HashMap<Option<(String, i32)>, SourcePosition>,
    /// What the positions file holds (file-like sources): positions of every stream, kept across commits.
    stored: HashMap<Option<(String, i32)>, SourcePosition>,
    /// At-least-once into Kafka: the positions of the records handed to the sink since the last flush.
    window: Option<FlushWindow>,
    spec: &'a TaskSpec,
}

/// At-least-once into a sink that hears only when it flushes that the broker refused a record as it is (the
/// Kafka sink: a record over the topic's `max.message.bytes`): the position of each record handed to it since
/// the last flush, so the positions before a refused record can commit without the ones after it.
#[derive(Default)]
struct FlushWindow {
    /// `kept_before` counts the records handed to the sink in the whole window.
    positions: Vec<PolledPosition>,
    /// Records handed to the sink in the window.
    handed: usize,
}

impl Commits<'_> {
    /// Takes the positions of one poll whose `handed` records went to the sink.
    fn add_poll(&mut self, positions: impl Iterator<Item = PolledPosition>, handed: usize) {
        match &mut self.window {
            Some(window) => {
                let base = window.handed;
                window.positions.extend(positions.map(|p| PolledPosition {
                    kept_before: p.kept_before + base,
                    ..p
                }));
                window.handed += handed;
            }
            None => merge_positions(&mut self.pending, positions.map(|p| p.position)),
        }
    }

    /// After a flush: the records the broker refused as they are go to the dead-letter topic
    /// (`errors.tolerance=all`, Kafka Connect's KAFKA_PRODUCE stage) and every position of the window commits;
    /// with `none`, only the positions before the first refused record commit, and the error to fail with is
    /// returned.
    async fn settle_window(
        &mut self,
        sink: &mut AnySink,
        dead_letters: Option<&DeadLetterQueue>,
    ) -> Result<Option<ConnectorError>, ConnectorError> {
        let Some(window) = &mut self.window else {
            return Ok(None);
        };
        let pipeline = &self.spec.pipeline;
        let metrics = &self.spec.metrics;
        let mut cut = window.positions.len();
        let mut failure = None;
        for refusal in sink.take_refused() {
            match pipeline.errors.tolerance {
                Tolerance::None => {
                    cut = positions_before_kept(&window.positions, refusal.index);
                    failure = Some(ConnectorError::rejected(
                        "KAFKA_PRODUCE",
                        format!(
                            "pipeline {:?}: the broker refused {}: {} (errors.tolerance=none). The records before \
                             it were delivered and their positions committed; the task stays failed until it is \
                             restarted (set errors.tolerance=all to send such records to a dead-letter topic)",
                            pipeline.name,
                            describe_record(&refusal.record),
                            refusal.message
                        ),
                    ));
                    break;
                }
                Tolerance::All => {
                    TaskMetrics::add(&metrics.records_failed, 1);
                    if pipeline.errors.log_enable {
                        tracing::warn!(pipeline = %pipeline.name, error = %refusal.message, "record skipped (errors.tolerance=all)");
                    }
                    if let Some(dlq) = dead_letters {
                        dlq.send(&refusal.record, "KAFKA_PRODUCE", &refusal.message)
                            .await?;
                        TaskMetrics::add(&metrics.records_dead_lettered, 1);
                    }
                }
            }
        }
        window.positions.truncate(cut);
        merge_positions(
            &mut self.pending,
            window.positions.drain(..).map(|p| p.position),
        );
        window.handed = 0;
        Ok(failure)
    }

    /// Writes the dead letters queued so far, flushes the sink, then commits the positions of everything it
    /// now has.
    async fn commit(
        &mut self,
        source: &mut AnySource,
        sink: &mut AnySink,
        mut dead_letters: Option<&mut DeadLetterQueue>,
    ) -> Result<(), ConnectorError> {
        if self.exactly_once_group.is_some() {
            if let Some(dlq) = dead_letters.as_deref_mut() {
                dlq.flush().await?;
            }
        }
        if let Some(group_id) = &self.exactly_once_group {
            // Records and consumed offsets in one transaction: visible together or not at all.
            let positions: Vec<SourcePosition> = self.pending.values().cloned().collect();
            commit_exactly_once(source, sink, group_id, &self.position_key, &positions).await?;
            self.pending.clear();
            return Ok(());
        }
        sink.flush().await?;
        let refused = self.settle_window(sink, dead_letters.as_deref()).await?;
        if let Some(dlq) = dead_letters {
            dlq.flush().await?;
        }
        self.commit_positions(source).await?;
        match refused {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Commits the pending positions: to the positions file (file-like sources) and to the source.
    async fn commit_positions(&mut self, source: &mut AnySource) -> Result<(), ConnectorError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Some(store) = self.store {
            self.stored
                .extend(self.pending.iter().map(|(k, v)| (k.clone(), v.clone())));
            let positions: Vec<SourcePosition> = self.stored.values().cloned().collect();
            store
                .store
                .store(&store.key, &positions)
                .map_err(|e| ConnectorError::fatal(e.to_string()))?;
        }
        for position in self.pending.values() {
            source.commit(position).await?;
        }
        self.pending.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::data::Str;

    fn kafka(topic: &str, partition: i32, offset: i64) -> SourcePosition {
        SourcePosition::KafkaOffset {
            topic: Str::from(topic),
            partition,
            offset,
        }
    }

    #[test]
    fn same_stream_agrees_with_stream_key() {
        let positions = [
            kafka("orders", 0, 5),
            kafka("orders", 0, 9),
            kafka("orders", 1, 5),
            kafka("payments", 0, 5),
            SourcePosition::Offset(3),
            SourcePosition::Offset(7),
            SourcePosition::Opaque(bytes::Bytes::from_static(b"x")),
        ];
        for a in &positions {
            for b in &positions {
                assert_eq!(
                    same_stream(a, b),
                    stream_key(a) == stream_key(b),
                    "{a:?} and {b:?}"
                );
            }
        }
    }
}
