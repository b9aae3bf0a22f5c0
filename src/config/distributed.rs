//! The keys of a distributed worker (`engine distributed connect-distributed.properties`), as Kafka Connect's
//! DistributedConfig names them: the worker group, its three internal topics, and how rebalances go. Read only
//! in distributed mode; a standalone worker file that carries one is told so.

use std::time::Duration;

use super::problem::Problem;
use super::raw::Entry;

/// Kafka Connect's `exactly.once.source.support` (KIP-618).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExactlyOnceSourceSupport {
    #[default]
    Disabled,
    /// Kafka Connect's first step of a rolling upgrade to exactly-once sources: its leader fences zombies,
    /// its tasks still write without transactions. pipewright's source tasks fence their zombies themselves
    /// (each task's transactional id), so there is no upgrade step: preparing runs sources as disabled does.
    Preparing,
    /// Every source connector writing to Kafka runs exactly-once unless its config sets `delivery`.
    Enabled,
}

/// The distributed worker's own settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DistributedSpec {
    pub group_id: String,
    /// `group.instance.id`: static membership (KIP-345) of the worker group, so a worker restarted within
    /// session.timeout.ms gets its own work back without a rebalance of the others. Off unless set (Kafka
    /// Connect has no such key): a broker must answer a static leader's rejoin with a new generation, as
    /// Apache Kafka does; the tansu the tests run against does not.
    pub group_instance_id: Option<String>,
    pub config_topic: String,
    pub offset_topic: String,
    pub status_topic: String,
    /// `-1`: the broker's default (KIP-464).
    pub config_replication_factor: i16,
    pub offset_replication_factor: i16,
    pub status_replication_factor: i16,
    pub offset_partitions: i32,
    pub status_partitions: i32,
    pub heartbeat_interval: Duration,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    /// How long a vanished worker's tasks wait for it before they move; zero (pipewright's default, where
    /// Kafka Connect waits 5 minutes): they move as soon as its session ends.
    pub scheduled_rebalance_max_delay: Duration,
    pub exactly_once_source_support: ExactlyOnceSourceSupport,
}

/// Every key of [`DistributedSpec`], with what it means.
pub const DISTRIBUTED_KEYS: &[(&str, &str)] = &[
    ("group.id", "The worker group (the Connect cluster) to join"),
    (
        "group.instance.id",
        "Static membership of the worker group (KIP-345); unset: dynamic",
    ),
    (
        "config.storage.topic",
        "Topic of connector configs (1 partition, compacted)",
    ),
    (
        "offset.storage.topic",
        "Topic of source offsets (compacted)",
    ),
    (
        "status.storage.topic",
        "Topic of connector and task statuses (compacted)",
    ),
    (
        "config.storage.replication.factor",
        "Replication factor of the config topic (3; -1: broker default)",
    ),
    (
        "offset.storage.replication.factor",
        "Replication factor of the offsets topic (3)",
    ),
    (
        "status.storage.replication.factor",
        "Replication factor of the status topic (3)",
    ),
    (
        "offset.storage.partitions",
        "Partitions of the offsets topic (25)",
    ),
    (
        "status.storage.partitions",
        "Partitions of the status topic (5)",
    ),
    (
        "heartbeat.interval.ms",
        "Heartbeats to the group coordinator, ms (3000)",
    ),
    (
        "session.timeout.ms",
        "A silent worker leaves the group after, ms (10000)",
    ),
    (
        "rebalance.timeout.ms",
        "How long a rebalance waits for every worker, ms (60000)",
    ),
    (
        "scheduled.rebalance.max.delay.ms",
        "How long a vanished worker's tasks wait for it, ms (0)",
    ),
    (
        "exactly.once.source.support",
        "disabled, preparing or enabled (KIP-618)",
    ),
    (
        "connect.protocol",
        "compatible: incremental cooperative rebalancing (the only one)",
    ),
];

/// What [`read`] gathers from a worker file's entries.
#[derive(Debug, Default)]
pub(crate) struct DistributedKeys {
    entries: Vec<(Entry, String)>,
}

impl DistributedKeys {
    /// Takes `entry` if it is a distributed key.
    pub(crate) fn take(&mut self, entry: &Entry, value: &str) -> bool {
        if DISTRIBUTED_KEYS.iter().any(|(k, _)| *k == entry.key) {
            self.entries.push((entry.clone(), value.to_owned()));
            true
        } else {
            false
        }
    }

    /// The problems of a standalone worker's file that carries distributed keys.
    pub(crate) fn standalone_problems(&self) -> Vec<Problem> {
        self.entries
            .iter()
            .map(|(entry, _)| {
                problem(
                    entry,
                    "a key of distributed mode (`engine distributed`); a standalone worker has no group, \
                     internal topics or rebalances: remove it, or run `engine distributed` with this file",
                )
            })
            .collect()
    }

    /// The distributed worker's settings, or the problems: each names its key; missing required keys are named
    /// with the file.
    pub(crate) fn build(
        &self,
        file: &std::sync::Arc<str>,
        problems: &mut Vec<Problem>,
    ) -> Option<DistributedSpec> {
        let get = |key: &str| self.entries.iter().rev().find(|(e, _)| e.key == key);
        let before = problems.len();
        let required = |key: &str, problems: &mut Vec<Problem>| -> String {
            match get(key) {
                Some((entry, value)) if !value.trim().is_empty() => value.trim().to_owned(),
                Some((entry, _)) => {
                    problems.push(problem(entry, "must not be empty"));
                    String::new()
                }
                None => {
                    problems.push(Problem {
                        location: super::Location::new(file, 0),
                        pipeline: None,
                        key: Some(key.to_owned()),
                        message: format!(
                            "missing: a distributed worker needs `{key}` (it has no default, as in Kafka Connect)"
                        ),
                    });
                    String::new()
                }
            }
        };
        let group_id = required("group.id", problems);
        let config_topic = required("config.storage.topic", problems);
        let offset_topic = required("offset.storage.topic", problems);
        let status_topic = required("status.storage.topic", problems);
        let replication = |key: &str, problems: &mut Vec<Problem>| -> i16 {
            match get(key) {
                None => 3,
                Some((entry, value)) => match value.trim().parse::<i16>() {
                    Ok(n) if n == -1 || n >= 1 => n,
                    _ => {
                        problems.push(problem(
                            entry,
                            format!("expected a replication factor of at least 1, or -1 for the broker's default; found {value:?}"),
                        ));
                        3
                    }
                },
            }
        };
        let partitions = |key: &str, default: i32, problems: &mut Vec<Problem>| -> i32 {
            match get(key) {
                None => default,
                Some((entry, value)) => match value.trim().parse::<i32>() {
                    Ok(n) if n == -1 || n >= 1 => n,
                    _ => {
                        problems.push(problem(
                            entry,
                            format!("expected a partition count of at least 1, or -1 for the broker's default; found {value:?}"),
                        ));
                        default
                    }
                },
            }
        };
        let millis = |key: &str, default: u64, problems: &mut Vec<Problem>| -> Duration {
            match get(key) {
                None => Duration::from_millis(default),
                Some((entry, value)) => match value.trim().parse::<u64>() {
                    Ok(ms) => Duration::from_millis(ms),
                    Err(_) => {
                        problems.push(problem(
                            entry,
                            format!("expected a whole number of milliseconds, found {value:?}"),
                        ));
                        Duration::from_millis(default)
                    }
                },
            }
        };
        let spec = DistributedSpec {
            group_id,
            group_instance_id: get("group.instance.id")
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
            config_topic,
            offset_topic,
            status_topic,
            config_replication_factor: replication("config.storage.replication.factor", problems),
            offset_replication_factor: replication("offset.storage.replication.factor", problems),
            status_replication_factor: replication("status.storage.replication.factor", problems),
            offset_partitions: partitions("offset.storage.partitions", 25, problems),
            status_partitions: partitions("status.storage.partitions", 5, problems),
            heartbeat_interval: millis("heartbeat.interval.ms", 3_000, problems),
            session_timeout: millis("session.timeout.ms", 10_000, problems),
            rebalance_timeout: millis("rebalance.timeout.ms", 60_000, problems),
            scheduled_rebalance_max_delay: millis("scheduled.rebalance.max.delay.ms", 0, problems),
            exactly_once_source_support: match get("exactly.once.source.support") {
                None => ExactlyOnceSourceSupport::Disabled,
                Some((entry, value)) => match value.trim().to_ascii_lowercase().as_str() {
                    "disabled" => ExactlyOnceSourceSupport::Disabled,
                    "preparing" => ExactlyOnceSourceSupport::Preparing,
                    "enabled" => ExactlyOnceSourceSupport::Enabled,
                    _ => {
                        problems.push(problem(
                            entry,
                            format!("expected disabled, preparing or enabled, found {value:?}"),
                        ));
                        ExactlyOnceSourceSupport::Disabled
                    }
                },
            },
        };
        if let Some((entry, value)) = get("connect.protocol") {
            match value.trim().to_ascii_lowercase().as_str() {
                "compatible" => {}
                "sessioned" => problems.push(problem(
                    entry,
                    "sessioned (KIP-507) signs requests between workers with session keys, which pipewright's \
                     workers do not send: use compatible (incremental cooperative rebalancing, the same \
                     assignments) or leave the key out",
                )),
                "eager" => problems.push(problem(
                    entry,
                    "eager rebalancing stops every task at every rebalance; pipewright's workers rebalance \
                     incrementally only: use compatible or leave the key out",
                )),
                _ => problems.push(problem(
                    entry,
                    format!("expected compatible, found {value:?}"),
                )),
            }
        }
        if spec.heartbeat_interval >= spec.session_timeout {
            if let Some((entry, _)) = get("heartbeat.interval.ms").or(get("session.timeout.ms")) {
                problems.push(problem(
                    entry,
                    format!(
                        "heartbeat.interval.ms ({} ms) must be below session.timeout.ms ({} ms)",
                        spec.heartbeat_interval.as_millis(),
                        spec.session_timeout.as_millis()
                    ),
                ));
            }
        }
        let topics = [
            ("config.storage.topic", &spec.config_topic),
            ("offset.storage.topic", &spec.offset_topic),
            ("status.storage.topic", &spec.status_topic),
        ];
        for (i, (key, topic)) in topics.iter().enumerate() {
            if topic.is_empty() {
                continue;
            }
            if let Some((other, _)) = topics[..i].iter().find(|(_, t)| t == topic) {
                if let Some((entry, _)) = get(key) {
                    problems.push(problem(
                        entry,
                        format!("names the same topic as {other} ({topic:?}); the three internal topics must differ"),
                    ));
                }
            }
        }
        (problems.len() == before).then_some(spec)
    }
}

/// Distributed keys Kafka's clients take too (`group.id`, `session.timeout.ms`, `heartbeat.interval.ms`): in a
/// standalone worker's file they stay client keys, the defaults of every connector's clients.
pub(crate) fn is_client_key_too(key: &str) -> bool {
    matches!(
        key,
        "group.id" | "session.timeout.ms" | "heartbeat.interval.ms"
    )
}

fn problem(entry: &Entry, message: impl Into<String>) -> Problem {
    Problem {
        location: entry.location.clone(),
        pipeline: None,
        key: Some(entry.path.clone()),
        message: message.into(),
    }
}
