//! What a pipeline can name: a component's kind, its names, its keys and, for a connector, what it can do.
//!
//! A leaf: every component list (connectors, converters, transforms, predicates) declares its entries with
//! these types and `registry` gathers the lists. Must not import a component or the registry, so that no list
//! depends on another. The engine and config ask a connector's [`Capabilities`] instead of comparing its name.

use super::config_def::ConfigDef;

/// What role a component plays in a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentKind {
    Source,
    Sink,
    Transform,
    Predicate,
    Converter,
}

/// Which Kafka client a connector is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KafkaClientRole {
    /// A consumer group member (the Kafka source).
    Consumer,
    /// A producer (the Kafka sink).
    Producer,
}

/// What a connector can do, declared beside its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The source keeps its own positions (the Kafka source: its consumer group's committed offsets): the engine
    /// stores none for it and hands it each position to commit.
    pub keeps_own_positions: bool,
    /// The sink writes inside a Kafka transaction that also commits the consumed offsets or source positions:
    /// an exactly-once pipeline needs such a sink.
    pub joins_kafka_transaction: bool,
    /// The sink can write the consumed Kafka offsets in the same database transaction as the records (the jdbc
    /// sink, under `delivery = "exactly-once"`): with a Kafka source, an exactly-once pipeline needs no Kafka
    /// transaction, and the engine starts each assigned partition at the offset the sink has for it.
    pub keeps_consumed_offsets: bool,
    /// A stream of the source may move from one of its tasks to another (the jdbc source's tables, spread by
    /// name over `tasks`): a task starts from the positions every task of the connector stored, not only its own.
    pub resumes_any_tasks_streams: bool,
    /// The most tasks that do useful work (`None`: no limit). Only declared so far: more tasks are not refused.
    pub max_tasks: Option<u32>,
    /// The connector is a Kafka client of this role: keys it does not declare may be that client's settings
    /// (`group.id`, `linger.ms`, …).
    pub kafka_client: Option<KafkaClientRole>,
}

impl Capabilities {
    /// Nothing beyond reading or writing records (and what every non-connector component declares).
    pub const NONE: Capabilities = Capabilities {
        keeps_own_positions: false,
        joins_kafka_transaction: false,
        keeps_consumed_offsets: false,
        resumes_any_tasks_streams: false,
        max_tasks: None,
        kafka_client: None,
    };

    /// A connector that does useful work in at most `tasks` tasks.
    pub const fn with_max_tasks(mut self, tasks: u32) -> Self {
        self.max_tasks = Some(tasks);
        self
    }

    /// Whether the connector writes to Kafka: a pipeline whose sink does is what Kafka Connect calls a
    /// "source" connector (and one whose sink does not, a "sink" connector).
    pub fn writes_to_kafka(&self) -> bool {
        self.kafka_client == Some(KafkaClientRole::Producer)
    }

    /// The connector consumes Kafka topics (the Kafka source).
    pub fn reads_from_kafka(&self) -> bool {
        self.kafka_client == Some(KafkaClientRole::Consumer)
    }
}

/// A component's name, the other names users know it by (Kafka Connect class names), its keys and what it can do.
#[derive(Debug, Clone, Copy)]
pub struct ComponentInfo {
    pub kind: ComponentKind,
    /// The short name used in pipelines.toml (`file`, `InsertField`, `json`).
    pub name: &'static str,
    /// Kafka Connect names accepted too (`FileStreamSource`, `org.apache.kafka.connect.file.FileStreamSourceConnector`,
    /// `org.apache.kafka.connect.transforms.InsertField$Value`, …).
    pub aliases: &'static [&'static str],
    pub config: ConfigDef,
    /// What a connector can do; [`Capabilities::NONE`] for transforms, predicates and converters.
    pub capabilities: Capabilities,
    pub doc: &'static str,
}
