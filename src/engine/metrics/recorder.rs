//! What a task records on its own core while it runs: stage times, batch sizes, and each record's end-to-end
//! latency once the sink acknowledged it. Everything lands in histograms the task owns; [`TaskRecorder::publish`]
//! merges them into the task's shared [`TaskMetrics`] at most once per [`PUBLISH_INTERVAL`].

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{PartitionLag, Stage, TaskDistributions, TaskMetrics};

/// How often a task's distributions reach `/metrics`.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// Milliseconds since the Unix epoch now (0 if the clock is before it).
pub fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A task's own recording state.
#[derive(Debug)]
pub struct TaskRecorder {
    local: TaskDistributions,
    /// Timestamps (Unix ms) of the records handed to the sink and not yet acknowledged by it. Bounded by what
    /// the task holds between commits (`queue.max.records` × 16 plus one batch).
    awaiting_ack_ms: Vec<i64>,
    last_publish: Instant,
}

impl Default for TaskRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl TaskRecorder {
    pub fn new() -> Self {
        Self {
            local: TaskDistributions::default(),
            awaiting_ack_ms: Vec::new(),
            last_publish: Instant::now(),
        }
    }

    pub fn stage(&mut self, stage: Stage, took: Duration) {
        self.local.stage_mut(stage).record(took.as_micros() as u64);
    }

    pub fn batch(&mut self, records: usize) {
        self.local.batch_records.record(records as u64);
    }

    /// A record went to the sink: `timestamp_ms` is when it was made (its timestamp, or when it was polled).
    pub fn handed_to_sink(&mut self, timestamp_ms: i64) {
        self.awaiting_ack_ms.push(timestamp_ms);
    }

    /// The sink acknowledged everything handed to it, at `now_ms`.
    pub fn acknowledged(&mut self, now_ms: i64) {
        for timestamp_ms in self.awaiting_ack_ms.drain(..) {
            let latency_us = now_ms.saturating_sub(timestamp_ms).max(0) as u64 * 1000;
            self.local.end_to_end_us.record(latency_us);
        }
    }

    /// Whether [`PUBLISH_INTERVAL`] has passed since the last publish.
    pub fn publish_due(&self, now: Instant) -> bool {
        now.duration_since(self.last_publish) >= PUBLISH_INTERVAL
    }

    /// Merges what was recorded into `metrics` (and replaces its lag with `lag`, if given). If the REST thread
    /// holds the lock just now, the values stay here until the next publish. Returns whether it published.
    pub fn publish(
        &mut self,
        metrics: &TaskMetrics,
        lag: Option<Vec<PartitionLag>>,
        now: Instant,
    ) -> bool {
        let published = metrics.try_publish(&mut self.local, lag);
        if published {
            self.last_publish = now;
        }
        published
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_to_end_latency_counts_from_the_record_timestamp_to_the_acknowledgement() {
        let metrics = TaskMetrics::default();
        let mut recorder = TaskRecorder::new();
        recorder.handed_to_sink(1_000);
        recorder.handed_to_sink(1_990);
        // Not acknowledged yet: nothing to publish.
        recorder.publish(&metrics, None, Instant::now());
        assert_eq!(metrics.distributions().end_to_end_us.count(), 0);
        recorder.acknowledged(2_000);
        recorder.stage(Stage::Put, Duration::from_micros(250));
        recorder.batch(2);
        recorder.publish(
            &metrics,
            Some(vec![PartitionLag {
                topic: "t".into(),
                partition: 0,
                records: 3,
            }]),
            Instant::now(),
        );
        let shared = metrics.distributions();
        assert_eq!(shared.end_to_end_us.count(), 2);
        assert_eq!(shared.end_to_end_us.sum(), 1_010_000);
        assert_eq!(shared.stage(Stage::Put).value_at_quantile(1.0), 250);
        assert_eq!(shared.batch_records.sum(), 2);
        assert_eq!(shared.lag[0].records, 3);
    }

    #[test]
    fn a_busy_lock_keeps_the_values_for_the_next_publish() {
        let metrics = TaskMetrics::default();
        let mut recorder = TaskRecorder::new();
        recorder.batch(5);
        {
            let _held = metrics.distributions.lock().unwrap();
            recorder.publish(&metrics, None, Instant::now());
        }
        assert_eq!(metrics.distributions().batch_records.count(), 0);
        recorder.publish(&metrics, None, Instant::now());
        assert_eq!(metrics.distributions().batch_records.sum(), 5);
    }
}
