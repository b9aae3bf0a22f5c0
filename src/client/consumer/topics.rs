//! What metadata means for the assignment: partitions of an all-partitions topic, topics and partitions
//! that stay missing (an error after request.timeout.ms), and each partition's leader.

use std::time::Instant;

use super::{Consumer, ConsumerError, PartitionState, Phase, TopicPartition};
use crate::client::errors::ResponseError;
use crate::client::BrokerId;

impl Consumer {
    pub(super) fn after_metadata(&mut self, now: Instant) {
        let topics: Vec<String> = self.topics.keys().cloned().collect();
        for topic in &topics {
            self.expand_all_partitions(topic);
        }
        self.check_topics(now);
    }

    /// Adds the partitions metadata names for an all-partitions topic.
    pub(super) fn expand_all_partitions(&mut self, topic: &str) {
        let Some(start) = self.topics.get(topic).and_then(|t| t.all_partitions) else {
            return;
        };
        if self.topics.get(topic).is_some_and(|t| t.failed) {
            return;
        }
        let Some(metadata) = self.metadata.topic(topic) else {
            return;
        };
        for partition in &metadata.partitions {
            let tp = TopicPartition::new(topic, partition.partition);
            self.partitions
                .entry(tp)
                .or_insert_with(|| PartitionState::new(start));
        }
    }

    /// Reports topics with fatal metadata errors, and topics or partitions missing for too long.
    pub(super) fn check_topics(&mut self, now: Instant) {
        if !self.metadata.has_refreshed() {
            return;
        }
        let timeout = self.unknown_topic_timeout;
        let mut failed_topics = Vec::new();
        for (topic, wanted) in self.topics.iter_mut() {
            if wanted.failed {
                continue;
            }
            let error = self.metadata.topic_error(topic);
            if let Some(error) = error {
                if error != ResponseError::UnknownTopicOrPartition && !error.is_retriable() {
                    failed_topics.push((topic.clone(), ConsumerError::Topic { error }));
                    continue;
                }
            }
            // A topic deleted after it was seen keeps its old metadata but now answers UNKNOWN_TOPIC_OR_PARTITION.
            let known = self.metadata.topic(topic).is_some()
                && error != Some(ResponseError::UnknownTopicOrPartition);
            if known {
                wanted.unknown_since = None;
                continue;
            }
            let since = *wanted.unknown_since.get_or_insert(now);
            if now.duration_since(since) >= timeout {
                failed_topics.push((
                    topic.clone(),
                    ConsumerError::UnknownTopic { waited: timeout },
                ));
            }
        }
        for (topic, error) in failed_topics {
            self.fail_topic(&topic, error);
        }

        let mut failed_partitions = Vec::new();
        for (tp, state) in self.partitions.iter_mut() {
            if state.phase == Phase::Failed {
                continue;
            }
            let Some(topic) = self.metadata.topic(&tp.topic) else {
                continue;
            };
            if topic.partition(tp.partition).is_some() {
                state.missing_since = None;
                continue;
            }
            let since = *state.missing_since.get_or_insert(now);
            if now.duration_since(since) >= timeout {
                failed_partitions.push(tp.clone());
            } else {
                self.metadata.request_refresh();
            }
        }
        for tp in failed_partitions {
            self.fail_partition(&tp, ConsumerError::UnknownPartition { waited: timeout });
        }
    }

    /// The leader of `tp` and its epoch, asking for a refresh when it is not known.
    pub(super) fn leader(&mut self, tp: &TopicPartition) -> Option<(BrokerId, i32)> {
        let found = self
            .metadata
            .topic(&tp.topic)
            .and_then(|t| t.partition(tp.partition))
            .and_then(|p| p.leader.map(|leader| (leader, p.leader_epoch)));
        if found.is_none() && !self.metadata.is_refresh_pending() {
            self.metadata.request_refresh();
        }
        found
    }
}
