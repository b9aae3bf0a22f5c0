//! Cluster metadata: which brokers exist, where they are, and who leads each partition of the topics we use.
//!
//! Refreshes when asked (a produce or fetch saw NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, …), when a
//! wanted topic is new, and when the metadata is older than `metadata.max.age.ms`. Requests rotate over known
//! brokers (bootstrap servers first), so one dead broker does not stop refreshes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::errors::{response_error, ResponseError};
use super::{
    bootstrap_broker_id, BrokerId, RequestToken, ResponseResult, TokenSource, Transmit,
    TransportError,
};
use crate::protocol::{Request, Response};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: i32,
    /// `None` while the partition has no leader (LEADER_NOT_AVAILABLE, election under way).
    pub leader: Option<BrokerId>,
    pub leader_epoch: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Partitions sorted by partition id.
    pub partitions: Vec<PartitionMetadata>,
}

impl TopicMetadata {
    pub fn partition(&self, partition: i32) -> Option<&PartitionMetadata> {
        self.partitions
            .get(partition as usize)
            .filter(|p| p.partition == partition)
    }
}

/// A topic-level error from the last refresh that callers should surface (e.g. authorization, invalid name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicError(pub ResponseError);

/// What a refresh this state sent came back with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// False when the request failed (the refresh is asked again after backoff).
    pub succeeded: bool,
    /// Topics whose partition count changed.
    pub changed: Vec<String>,
}

#[derive(Debug)]
pub struct MetadataState {
    bootstrap: Vec<String>,
    brokers: BTreeMap<BrokerId, String>,
    topics: HashMap<String, TopicMetadata>,
    topic_errors: HashMap<String, ResponseError>,
    wanted: BTreeSet<String>,
    all_topics: bool,
    allow_auto_create: bool,
    refresh_requested: bool,
    in_flight: Option<RequestToken>,
    last_refresh: Option<Instant>,
    not_before: Option<Instant>,
    max_age: Duration,
    retry_backoff: Duration,
    rotation: usize,
    cluster_id: Option<String>,
    controller: Option<BrokerId>,
    /// Why the last refresh failed, while no refresh has succeeded since: the cause records waiting for
    /// metadata are failed with (an unreachable broker, say).
    last_failure: Option<TransportError>,
}

impl MetadataState {
    pub fn new(
        bootstrap: Vec<String>,
        max_age: Duration,
        retry_backoff: Duration,
        allow_auto_create: bool,
    ) -> Self {
        Self {
            bootstrap,
            brokers: BTreeMap::new(),
            topics: HashMap::new(),
            topic_errors: HashMap::new(),
            wanted: BTreeSet::new(),
            all_topics: false,
            allow_auto_create,
            refresh_requested: true,
            in_flight: None,
            last_refresh: None,
            not_before: None,
            max_age,
            retry_backoff,
            rotation: 0,
            cluster_id: None,
            controller: None,
            last_failure: None,
        }
    }

    /// Ask for metadata of `topic` too; a topic not seen before triggers a refresh.
    pub fn want_topic(&mut self, topic: &str) {
        if self.wanted.insert(topic.to_owned()) && !self.topics.contains_key(topic) {
            self.refresh_requested = true;
        }
    }

    /// Ask for every topic of the cluster (for `engine metadata`).
    pub fn want_all_topics(&mut self) {
        self.all_topics = true;
        self.refresh_requested = true;
    }

    /// Something pointed at stale metadata; refresh as soon as backoff allows.
    pub fn request_refresh(&mut self) {
        self.refresh_requested = true;
    }

    pub fn is_refresh_pending(&self) -> bool {
        self.refresh_requested || self.in_flight.is_some()
    }

    pub fn has_refreshed(&self) -> bool {
        self.last_refresh.is_some()
    }

    pub fn owns(&self, token: RequestToken) -> bool {
        self.in_flight == Some(token)
    }

    pub fn topic(&self, topic: &str) -> Option<&TopicMetadata> {
        self.topics.get(topic)
    }

    pub fn topics(&self) -> impl Iterator<Item = (&String, &TopicMetadata)> {
        self.topics.iter()
    }

    /// Why metadata could not be refreshed, if the last attempt failed.
    pub fn last_failure(&self) -> Option<&TransportError> {
        self.last_failure.as_ref()
    }

    pub fn topic_error(&self, topic: &str) -> Option<ResponseError> {
        self.topic_errors.get(topic).copied()
    }

    pub fn brokers(&self) -> impl Iterator<Item = (BrokerId, &str)> {
        self.brokers.iter().map(|(id, addr)| (*id, addr.as_str()))
    }

    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    pub fn controller(&self) -> Option<BrokerId> {
        self.controller
    }

    pub fn leader(&self, topic: &str, partition: i32) -> Option<BrokerId> {
        self.topics.get(topic)?.partition(partition)?.leader
    }

    /// Where to connect for `broker`: a node from metadata, or a bootstrap server for negative ids.
    pub fn broker_address(&self, broker: BrokerId) -> Option<&str> {
        if broker < 0 {
            let index = (-1 - broker) as usize;
            return self.bootstrap.get(index).map(String::as_str);
        }
        self.brokers.get(&broker).map(String::as_str)
    }

    /// Any broker to send a cluster-wide request (metadata, CreateTopics) to, rotating on each call.
    pub fn any_broker(&mut self) -> BrokerId {
        self.rotation = self.rotation.wrapping_add(1);
        if self.brokers.is_empty() || (self.rotation % 4 == 0 && !self.bootstrap.is_empty()) {
            // Fall back to bootstrap servers now and then, in case every known broker address went stale.
            return bootstrap_broker_id(self.rotation % self.bootstrap.len().max(1));
        }
        let ids: Vec<BrokerId> = self.brokers.keys().copied().collect();
        ids[self.rotation % ids.len()]
    }

    fn refresh_due(&self, now: Instant) -> bool {
        if self.in_flight.is_some() {
            return false;
        }
        if self.not_before.is_some_and(|t| now < t) {
            return false;
        }
        let stale = self
            .last_refresh
            .is_none_or(|t| now.duration_since(t) >= self.max_age);
        self.refresh_requested || (stale && (!self.wanted.is_empty() || self.all_topics))
    }

    pub fn poll_transmit(&mut self, now: Instant, tokens: &mut TokenSource) -> Option<Transmit> {
        if !self.refresh_due(now) {
            return None;
        }
        let token = tokens.next_token();
        self.in_flight = Some(token);
        self.refresh_requested = false;
        let topics = if self.all_topics {
            None
        } else {
            Some(
                self.wanted
                    .iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                    })
                    .collect(),
            )
        };
        let request = MetadataRequest::default()
            .with_topics(topics)
            .with_allow_auto_topic_creation(self.allow_auto_create);
        Some(Transmit {
            broker: self.any_broker(),
            token,
            request: Request::Metadata(request),
            expects_response: true,
        })
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.in_flight.is_some() {
            return None;
        }
        if self.refresh_requested {
            // Without a backoff the refresh goes out on the next poll_transmit; no timer needed.
            return self.not_before;
        }
        if self.wanted.is_empty() && !self.all_topics {
            return None;
        }
        self.last_refresh.map(|t| t + self.max_age)
    }

    /// Routes the answer to a request: `None` if `token` is not a refresh of this state (the caller's own
    /// request), else the refresh applied. Every state machine hands each answer here first.
    pub fn take_response(
        &mut self,
        broker: BrokerId,
        token: RequestToken,
        result: &ResponseResult,
        now: Instant,
    ) -> Option<Refreshed> {
        if !self.owns(token) {
            return None;
        }
        let unexpected;
        let outcome = match result {
            Ok(Response::Metadata(response)) => Ok(response),
            Ok(other) => {
                unexpected = TransportError::unexpected_response(broker, other);
                Err(&unexpected)
            }
            Err(error) => Err(error),
        };
        let succeeded = outcome.is_ok();
        let changed = self.handle_response(token, outcome, now);
        Some(Refreshed { succeeded, changed })
    }

    /// Applies a metadata response (or its failure). Returns the topics whose partition count changed.
    pub fn handle_response(
        &mut self,
        token: RequestToken,
        result: Result<&MetadataResponse, &TransportError>,
        now: Instant,
    ) -> Vec<String> {
        if self.in_flight != Some(token) {
            return Vec::new();
        }
        self.in_flight = None;
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                self.refresh_requested = true;
                self.not_before = Some(now + self.retry_backoff);
                self.last_failure = Some(error.clone());
                return Vec::new();
            }
        };
        self.last_failure = None;
        self.last_refresh = Some(now);
        self.not_before = Some(now + self.retry_backoff);
        self.cluster_id = response.cluster_id.as_ref().map(|c| c.to_string());
        self.controller = (response.controller_id.0 >= 0).then_some(response.controller_id.0);
        if !response.brokers.is_empty() {
            self.brokers = response
                .brokers
                .iter()
                .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
                .collect();
        }
        let mut changed = Vec::new();
        for topic in &response.topics {
            let Some(name) = topic.name.as_ref().map(|n| n.0.to_string()) else {
                continue;
            };
            match response_error(topic.error_code) {
                None => {
                    self.topic_errors.remove(&name);
                }
                Some(error) => {
                    // LEADER_NOT_AVAILABLE right after auto-creation is normal: keep asking.
                    if error.is_retriable() {
                        self.refresh_requested = true;
                    }
                    self.topic_errors.insert(name.clone(), error);
                    continue;
                }
            }
            let mut partitions: Vec<PartitionMetadata> = topic
                .partitions
                .iter()
                .map(|p| PartitionMetadata {
                    partition: p.partition_index,
                    leader: (p.leader_id.0 >= 0
                        && p.error_code != ResponseError::LeaderNotAvailable.code())
                    .then_some(p.leader_id.0),
                    leader_epoch: p.leader_epoch,
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            // A broker that lists partitions 0,1,3 is malformed; keep only the dense prefix so indexing stays valid.
            let dense = partitions
                .iter()
                .enumerate()
                .take_while(|(i, p)| p.partition == *i as i32)
                .count();
            partitions.truncate(dense);
            if partitions.iter().any(|p| p.leader.is_none()) {
                self.refresh_requested = true;
            }
            let old_count = self.topics.get(&name).map(|t| t.partitions.len());
            if old_count != Some(partitions.len()) {
                changed.push(name.clone());
            }
            self.topics.insert(name, TopicMetadata { partitions });
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::testing::metadata;

    /// Brokers 1 (`h1:9092`) and 2 (`h2:9093`) and `topic` with the given partition leaders.
    fn response(topic: &str, leaders: &[i32]) -> MetadataResponse {
        metadata(&[(1, "h1", 9092), (2, "h2", 9093)], &[(topic, leaders)])
    }

    fn state() -> MetadataState {
        MetadataState::new(
            vec!["boot:9092".into()],
            Duration::from_secs(300),
            Duration::from_millis(100),
            true,
        )
    }

    #[test]
    fn first_refresh_goes_to_bootstrap_and_learns_leaders() {
        let mut md = state();
        let mut tokens = TokenSource::default();
        let now = Instant::now();
        md.want_topic("t");
        let tx = md.poll_transmit(now, &mut tokens).expect("refresh");
        assert_eq!(md.broker_address(tx.broker), Some("boot:9092"));
        assert!(
            md.poll_transmit(now, &mut tokens).is_none(),
            "one refresh at a time"
        );
        let changed = md.handle_response(tx.token, Ok(&response("t", &[1, 2])), now);
        assert_eq!(changed, vec!["t".to_string()]);
        assert_eq!(md.leader("t", 1), Some(2));
        assert_eq!(md.broker_address(2), Some("h2:9093"));
    }

    #[test]
    fn leader_missing_or_failure_asks_again_after_backoff() {
        let mut md = state();
        let mut tokens = TokenSource::default();
        let now = Instant::now();
        md.want_topic("t");
        let tx = md.poll_transmit(now, &mut tokens).unwrap();
        md.handle_response(tx.token, Ok(&response("t", &[1, -1])), now);
        assert_eq!(md.leader("t", 1), None);
        assert!(
            md.poll_transmit(now, &mut tokens).is_none(),
            "backoff holds the next refresh"
        );
        let later = now + Duration::from_millis(100);
        let tx = md
            .poll_transmit(later, &mut tokens)
            .expect("refresh after backoff");
        let err = TransportError::Disconnected { broker: tx.broker };
        md.handle_response(tx.token, Err(&err), later);
        assert!(md
            .poll_transmit(later + Duration::from_millis(100), &mut tokens)
            .is_some());
    }

    #[test]
    fn old_metadata_is_refreshed_after_max_age() {
        let mut md = state();
        let mut tokens = TokenSource::default();
        let now = Instant::now();
        md.want_topic("t");
        let tx = md.poll_transmit(now, &mut tokens).unwrap();
        md.handle_response(tx.token, Ok(&response("t", &[1])), now);
        assert!(md
            .poll_transmit(now + Duration::from_secs(299), &mut tokens)
            .is_none());
        assert!(md
            .poll_transmit(now + Duration::from_secs(300), &mut tokens)
            .is_some());
    }
}
