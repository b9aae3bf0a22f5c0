//! The topics a task has used (Kafka Connect's active topics, KIP-558): for a pipeline that reads Kafka the
//! topics it consumed, for one that writes Kafka the topics its records went to after the transforms.
//!
//! The task's loop sees every record; a set lookup per record would cost a hash each time, so the loop keeps
//! the last topic it saw ([`TopicTracker`]) and only when a record's topic differs from it looks further: in
//! the few topics already reported, then in the shared set, under its lock. The REST thread reads and clears
//! the shared set; a clear is seen by the loop once per polled batch (one relaxed load).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::connect::data::Str;

/// The topics reported since the task was created or the set was last reset.
#[derive(Debug, Default)]
pub struct ActiveTopics {
    topics: Mutex<BTreeSet<String>>,
    /// How many times the set was cleared: a tracker that saw fewer forgets what it reported.
    resets: AtomicU64,
}

impl ActiveTopics {
    /// The topics, in order.
    pub fn topics(&self) -> BTreeSet<String> {
        self.topics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forgets every topic (`PUT /connectors/{name}/topics/reset`); the task reports them again as it uses them.
    pub fn reset(&self) {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        topics.clear();
        self.resets.fetch_add(1, Ordering::Relaxed);
    }

    fn insert(&self, topic: &str) {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        if !topics.contains(topic) {
            topics.insert(topic.to_owned());
        }
    }
}

/// What a task's loop remembers of the topics it reported.
#[derive(Debug, Default)]
pub struct TopicTracker {
    /// The topic of the last record seen.
    last: Option<Str>,
    /// Every topic reported since the last reset seen (a task uses few, so a list is searched, not hashed).
    reported: Vec<Str>,
    resets_seen: u64,
}

impl TopicTracker {
    /// Call once per polled batch: after a reset of `active`, every topic is reported again.
    pub fn start_batch(&mut self, active: &ActiveTopics) {
        let resets = active.resets.load(Ordering::Relaxed);
        if resets != self.resets_seen {
            self.resets_seen = resets;
            self.last = None;
            self.reported.clear();
        }
    }

    /// A record of `topic` was used.
    #[inline]
    pub fn saw(&mut self, topic: &Str, active: &ActiveTopics) {
        if self.last.as_ref() == Some(topic) {
            return;
        }
        self.last = Some(topic.clone());
        if !self.reported.contains(topic) {
            self.reported.push(topic.clone());
            active.insert(topic.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_reported_once_and_again_after_a_reset() {
        let active = ActiveTopics::default();
        let mut tracker = TopicTracker::default();
        tracker.start_batch(&active);
        for topic in ["a", "a", "b", "a", "c", "c"] {
            tracker.saw(&Str::from(topic), &active);
        }
        assert_eq!(active.topics(), ["a", "b", "c"].map(String::from).into());
        active.reset();
        assert!(active.topics().is_empty());
        // Within the batch the reset is not seen yet; from the next one on it is.
        tracker.saw(&Str::from("c"), &active);
        assert!(active.topics().is_empty());
        tracker.start_batch(&active);
        tracker.saw(&Str::from("c"), &active);
        tracker.saw(&Str::from("b"), &active);
        assert_eq!(active.topics(), ["b", "c"].map(String::from).into());
    }
}
