//! The Kafka source's and sink's keys, their registry entries with what they can do, and their typed configs.
//!
//! The typed configs are built from the validated keys plus the pipeline's Kafka client settings, already
//! resolved (`[kafka]`, profile, delivery, the connector's client keys, overrides); building one does nothing
//! else, so config validation can call it.

use crate::client::config::{ConfigError, ConfigMap, ConsumerConfig, ProducerConfig};
use crate::client::topic_name::topic_name_problem;
use crate::connect::component::{Capabilities, ComponentInfo, ComponentKind, KafkaClientRole};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigProblem, ConfigType, ParsedConfig};

pub const SOURCE_CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::optional(
        "topics",
        ConfigType::List,
        None,
        "Topics to read, comma-separated (required unless topics.regex… is given)",
    ),
    ConfigKey::optional(
        "group.id",
        ConfigType::String,
        None,
        "Consumer group; default connect-<pipeline name>",
    ),
]);

pub const SINK_CONFIG: ConfigDef = ConfigDef::new(&[ConfigKey::optional(
    "topic",
    ConfigType::String,
    None,
    "Topic to write; records keep the topic a routing transform (RegexRouter, TimestampRouter) gave them",
)]);

/// The Kafka source: a consumer group member that keeps its positions as the group's committed offsets.
pub const SOURCE: ComponentInfo = ComponentInfo {
    kind: ComponentKind::Source,
    name: "kafka",
    aliases: &[],
    config: SOURCE_CONFIG,
    capabilities: Capabilities {
        keeps_own_positions: true,
        kafka_client: Some(KafkaClientRole::Consumer),
        ..Capabilities::NONE
    },
    doc: "Reads topics as a consumer group member; offsets are committed after the sink has the records",
};

/// The Kafka sink: a producer that can write inside a transaction with the consumed offsets.
pub const SINK: ComponentInfo = ComponentInfo {
    kind: ComponentKind::Sink,
    name: "kafka",
    aliases: &[],
    config: SINK_CONFIG,
    capabilities: Capabilities {
        joins_kafka_transaction: true,
        kafka_client: Some(KafkaClientRole::Producer),
        ..Capabilities::NONE
    },
    doc: "Writes records with an idempotent producer; each record goes to its (possibly routed) topic",
};

/// What a Kafka source task reads, and as which consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSourceConfig {
    /// `topics`: never empty.
    pub topics: Vec<String>,
    /// The pipeline's consumer settings (the source turns auto-commit off: the engine commits).
    pub consumer: ConsumerConfig,
}

impl KafkaSourceConfig {
    /// From the source's validated keys and the pipeline's consumer settings.
    pub fn new(
        config: &ParsedConfig,
        consumer: ConsumerConfig,
    ) -> Result<Self, Vec<ConfigProblem>> {
        let topics = config.list("topics");
        if topics.is_empty() {
            return Err(vec![ConfigProblem {
                key: "topics".into(),
                message: "names no topic; list the topics to read, comma-separated".into(),
            }]);
        }
        let problems: Vec<ConfigProblem> = topics
            .iter()
            .filter_map(|topic| topic_name_problem(topic))
            .map(|message| ConfigProblem {
                key: "topics".into(),
                message,
            })
            .collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self { topics, consumer })
    }
}

/// Exactly-once: the id a Kafka sink task's transactional producer registers. It is stable across restarts,
/// so a restarted task fences its zombie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionalId {
    /// `transactional.id` as set in the producer settings, the same for every task.
    Configured,
    /// None set: `pipewright-<pipeline>-<task index>`.
    PerTask { pipeline: String },
}

impl TransactionalId {
    /// The id task `index` registers instead of the configured one, if any.
    pub fn of_task(&self, index: u32) -> Option<String> {
        match self {
            TransactionalId::Configured => None,
            TransactionalId::PerTask { pipeline } => Some(format!("pipewright-{pipeline}-{index}")),
        }
    }
}

/// The producer a Kafka sink writes with: resolved settings and, for exactly-once, its transactions' id.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkProducer {
    pub config: ProducerConfig,
    /// `Some`: records go out in transactions that also commit the consumed offsets or source positions.
    pub transactions: Option<TransactionalId>,
}

impl SinkProducer {
    /// From the pipeline's producer settings. Exactly-once makes the producer transactional: with the
    /// configured `transactional.id`, or else one per task (`TransactionalId::PerTask`).
    pub fn from_settings(
        mut settings: ConfigMap,
        exactly_once: bool,
        pipeline: &str,
    ) -> Result<Self, ConfigError> {
        let transactions = match (exactly_once, settings.get("transactional.id")) {
            (false, _) => None,
            (true, Some(_)) => Some(TransactionalId::Configured),
            (true, None) => {
                let per_task = TransactionalId::PerTask {
                    pipeline: pipeline.to_owned(),
                };
                // Checked with task 0's id as a transactional producer's settings (idempotence and its
                // conflicts); each task registers its own id when it opens.
                if let Some(id) = per_task.of_task(0) {
                    settings.set("transactional.id", id);
                }
                Some(per_task)
            }
        };
        Ok(Self {
            config: ProducerConfig::from_map(settings)?,
            transactions,
        })
    }

    /// The settings task `index` produces with: its own transactional id where ids are per task.
    pub fn for_task(&self, index: u32) -> ProducerConfig {
        let mut config = self.config.clone();
        if let Some(id) = self.transactions.as_ref().and_then(|t| t.of_task(index)) {
            config.transactional_id = Some(id);
        }
        config
    }
}

/// Where a Kafka sink task writes, and with which producer.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSinkConfig {
    /// `topic`: replaces the topic of records no routing transform renamed.
    pub topic: Option<String>,
    pub producer: SinkProducer,
}

impl KafkaSinkConfig {
    /// From the sink's validated keys and its producer.
    pub fn new(config: &ParsedConfig, producer: SinkProducer) -> Result<Self, Vec<ConfigProblem>> {
        let topic = config.string("topic").filter(|t| !t.is_empty());
        if let Some(message) = topic.as_deref().and_then(topic_name_problem) {
            return Err(vec![ConfigProblem {
                key: "topic".into(),
                message,
            }]);
        }
        Ok(Self { topic, producer })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ConfigMap {
        ConfigMap::from_pairs([("bootstrap.servers", "localhost:9092")])
    }

    #[test]
    fn exactly_once_gives_each_task_its_own_transactional_id_unless_one_is_set() {
        let at_least_once = SinkProducer::from_settings(settings(), false, "copy").unwrap();
        assert_eq!(at_least_once.transactions, None);
        assert_eq!(at_least_once.for_task(1).transactional_id, None);

        let per_task = SinkProducer::from_settings(settings(), true, "copy").unwrap();
        assert_eq!(
            per_task.for_task(3).transactional_id.as_deref(),
            Some("pipewright-copy-3")
        );
        assert!(per_task.for_task(3).enable_idempotence);

        let mut configured = settings();
        configured.set("transactional.id", "mine");
        let configured = SinkProducer::from_settings(configured, true, "copy").unwrap();
        assert_eq!(configured.transactions, Some(TransactionalId::Configured));
        assert_eq!(
            configured.for_task(3).transactional_id.as_deref(),
            Some("mine")
        );
    }

    #[test]
    fn a_source_without_topics_is_a_problem_of_its_topics_key() {
        let consumer = ConsumerConfig::from_map(settings()).unwrap();
        let problems = KafkaSourceConfig::new(&ParsedConfig::default(), consumer).unwrap_err();
        assert_eq!(problems[0].key, "topics");
    }
}
