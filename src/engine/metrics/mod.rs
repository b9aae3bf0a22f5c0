//! What `/metrics` shows (Prometheus text format): per task, per core and for the process.
//!
//! Counters are written by their task's core only (relaxed atomics, no lock on the hot path) and read by the
//! REST thread. Distributions (latencies, batch sizes) are recorded into histograms the task owns
//! ([`recorder::TaskRecorder`]) and merged into the task's shared [`TaskDistributions`] at most once per second,
//! with a lock the core only tries (it never waits for the REST thread).

pub mod active_topics;
pub mod histogram;
pub mod process;
pub mod recorder;
pub mod render;

use crate::runtime::ConnectionProblems;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::connect::record::ConnectRecord;
use histogram::Distribution;

/// The longest end-to-end latency kept apart from longer ones: a day, in microseconds.
pub const END_TO_END_HIGHEST_US: u64 = 86_400_000_000;
/// The longest stage latency kept apart from longer ones: an hour, in microseconds.
pub const STAGE_HIGHEST_US: u64 = 3_600_000_000;
/// The largest batch size kept apart from larger ones, in records.
pub const BATCH_HIGHEST_RECORDS: u64 = 10_000_000;

/// The stages of a task's loop whose time is measured, each once per batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The source's `poll` that returned records (polls that found nothing are waiting, not work).
    Poll,
    /// Converters, transforms and predicates over one polled batch.
    Transform,
    /// The sink's `put` of one batch.
    Put,
    /// The sink's flush and the positions' commit.
    Commit,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Poll, Stage::Transform, Stage::Put, Stage::Commit];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Poll => "poll",
            Stage::Transform => "transform",
            Stage::Put => "put",
            Stage::Commit => "commit",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How far a task's consumer is behind one partition's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// High watermark minus the consumer's position, in records.
    pub records: i64,
}

/// A task's distributions since it was created, and its consumer lag as last seen.
#[derive(Debug, Clone)]
pub struct TaskDistributions {
    /// Record timestamp (or, for a record without one, the time it was polled) to the sink's acknowledgement.
    pub end_to_end_us: Distribution,
    /// By [`Stage`].
    pub stages_us: [Distribution; 4],
    /// Records per polled batch.
    pub batch_records: Distribution,
    pub lag: Vec<PartitionLag>,
}

impl Default for TaskDistributions {
    fn default() -> Self {
        Self {
            end_to_end_us: Distribution::new(END_TO_END_HIGHEST_US),
            stages_us: std::array::from_fn(|_| Distribution::new(STAGE_HIGHEST_US)),
            batch_records: Distribution::new(BATCH_HIGHEST_RECORDS),
            lag: Vec::new(),
        }
    }
}

impl TaskDistributions {
    pub fn stage(&self, stage: Stage) -> &Distribution {
        &self.stages_us[stage.index()]
    }

    fn stage_mut(&mut self, stage: Stage) -> &mut Distribution {
        &mut self.stages_us[stage.index()]
    }

    /// Moves everything `local` recorded into these (its lag, if it has one, replaces theirs).
    fn drain_from(&mut self, local: &mut TaskDistributions) {
        self.end_to_end_us.drain_from(&mut local.end_to_end_us);
        for (shared, local) in self.stages_us.iter_mut().zip(local.stages_us.iter_mut()) {
            shared.drain_from(local);
        }
        self.batch_records.drain_from(&mut local.batch_records);
    }
}

/// One task's counters and distributions.
#[derive(Debug, Default)]
pub struct TaskMetrics {
    pub records_polled: AtomicU64,
    pub records_written: AtomicU64,
    /// Key and value bytes of the records polled, while they are still raw bytes.
    pub bytes_polled: AtomicU64,
    /// Key and value bytes of the records handed to the sink, while they are still raw bytes.
    pub bytes_written: AtomicU64,
    pub records_filtered: AtomicU64,
    pub records_failed: AtomicU64,
    pub records_dead_lettered: AtomicU64,
    pub commits: AtomicU64,
    pub task_failures: AtomicU64,
    /// Unix time in ms of the last batch polled that held records; 0 before the first.
    pub last_record_unix_ms: AtomicU64,
    /// The core the task runs on, plus one; 0 while it was never placed.
    core_plus_one: AtomicU64,
    distributions: Mutex<TaskDistributions>,
    /// What the task's clients (sink producer, source consumer, dead-letter producer) are telling of their
    /// connections while the task runs.
    connections: Mutex<Vec<ConnectionProblems>>,
    /// The topics the task consumed or wrote to (KIP-558).
    pub active_topics: active_topics::ActiveTopics,
}

impl TaskMetrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The clients whose connection failures the task's status shows from now on (none once it stopped).
    pub fn watch_connections(&self, clients: Vec<ConnectionProblems>) {
        if let Ok(mut connections) = self.connections.lock() {
            *connections = clients;
        }
    }

    /// The connection failures the task's clients are telling of now, one line each.
    pub fn connection_problems(&self) -> Vec<String> {
        match self.connections.lock() {
            Ok(connections) => connections.iter().flat_map(|c| c.current()).collect(),
            Err(_) => Vec::new(),
        }
    }

    pub fn set_core(&self, core: usize) {
        self.core_plus_one.store(core as u64 + 1, Ordering::Relaxed);
    }

    /// The core the task runs (or last ran) on.
    pub fn core(&self) -> Option<usize> {
        match self.core_plus_one.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n as usize - 1),
        }
    }

    /// A copy of the shared distributions (for rendering; the REST thread holds the lock only to copy).
    pub fn distributions(&self) -> TaskDistributions {
        match self.distributions.lock() {
            Ok(d) => d.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Merges `local` into the shared distributions if the lock is free at once; `lag`, if given, replaces the
    /// last seen. Returns whether it did (if not, `local` keeps its values for the next try).
    fn try_publish(&self, local: &mut TaskDistributions, lag: Option<Vec<PartitionLag>>) -> bool {
        let Ok(mut shared) = self.distributions.try_lock() else {
            return false;
        };
        shared.drain_from(local);
        if let Some(lag) = lag {
            shared.lag = lag;
        }
        true
    }
}

/// Bytes of a record's key and value while they are raw (data a source or transform made into structs has no
/// byte size until a converter writes it).
pub fn raw_bytes(record: &ConnectRecord) -> u64 {
    record.byte_len() as u64
}

/// One core's counters, written by the core's thread and read by the REST thread.
#[derive(Debug, Default)]
pub struct CoreMetrics {
    /// Tasks running on the core now.
    pub tasks: AtomicU64,
    /// Nanoseconds the core's thread spent on a CPU (not waiting for I/O or timers) since it started.
    pub busy_ns: AtomicU64,
    /// The busy share of the last sampling interval (about a second), in millionths.
    pub busy_ratio_millionths: AtomicU64,
}

impl CoreMetrics {
    pub fn busy_ratio(&self) -> f64 {
        self.busy_ratio_millionths.load(Ordering::Relaxed) as f64 / 1e6
    }
}

/// One task's metrics, labelled by its connector (pipeline) and task index.
pub type TaskMetricsRow = (String, u32, Arc<TaskMetrics>);
