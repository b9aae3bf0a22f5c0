//! Every runnable connector behind one enum each: its typed config (`SourceConfig`, `SinkConfig`) and its
//! running task (`AnySource`, `AnySink`).
//!
//! Static dispatch: one `match` per poll, put or flush, not per record. The engine opens and drives these and
//! asks their capabilities; it never names a connector. A new connector adds a variant here and nothing
//! outside `connectors/`.

use crate::client::config::ConsumerConfig;
use crate::client::consumer::TopicPartition;
use crate::client::txn::ConsumerGroupMetadata;
use crate::connect::component::{Capabilities, ComponentInfo};
use crate::connect::config_def::{ConfigProblem, ParsedConfig};
use crate::connect::connector::{
    ConnectorError, Converters, PollLimit, SinkTask, SourcePoll, SourceTask, TaskId,
};
use crate::connect::record::{ConnectRecord, SourcePosition};
use crate::runtime::ConnectionProblems;

use super::datagen::{self, DatagenConfig, DatagenSource};
use super::elasticsearch::{self, ElasticsearchSink, ElasticsearchSinkConfig};
use super::file::{self, FileSink, FileSinkConfig, FileSource, FileSourceConfig};
use super::http::{self, HttpSink, HttpSinkConfig};
use super::jdbc::{self, JdbcSink, JdbcSinkConfig, JdbcSource, JdbcSourceConfig};
use super::kafka::{
    self, ConfiguredTopic, KafkaSink, KafkaSinkConfig, KafkaSource, KafkaSourceConfig,
    SinkProducer, SinkRefusal,
};
use super::stdio::{self, StdinSource, StdinSourceConfig, StdoutSink, StdoutSinkConfig};

/// The typed config of any source.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    /// Boxed: the consumer settings are several times the size of any other source's config.
    Kafka(Box<KafkaSourceConfig>),
    File(FileSourceConfig),
    Stdin(StdinSourceConfig),
    Datagen(DatagenConfig),
    Jdbc(Box<JdbcSourceConfig>),
}

/// The typed config of any sink.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkConfig {
    Kafka(KafkaSinkConfig),
    File(FileSinkConfig),
    Stdout(StdoutSinkConfig),
    Http(HttpSinkConfig),
    Jdbc(Box<JdbcSinkConfig>),
    Elasticsearch(ElasticsearchSinkConfig),
}

/// The problem of a connector that is a Kafka client but was given no client settings.
fn no_client_settings(what: &str) -> Vec<ConfigProblem> {
    vec![ConfigProblem {
        key: "type".into(),
        message: format!("the {what} is a Kafka client and needs the pipeline's {what} settings"),
    }]
}

impl SourceConfig {
    /// The typed config of source `name` (its registry short name) from its validated keys. `consumer`: the
    /// pipeline's resolved consumer settings, for a source whose capabilities say it is a Kafka consumer.
    /// Every problem is returned, each with its key.
    pub fn new(
        name: &str,
        config: &ParsedConfig,
        consumer: Option<ConsumerConfig>,
    ) -> Result<Self, Vec<ConfigProblem>> {
        match name {
            n if n == kafka::SOURCE.name => {
                let consumer = consumer.ok_or_else(|| no_client_settings("consumer"))?;
                KafkaSourceConfig::new(config, consumer).map(|c| SourceConfig::Kafka(Box::new(c)))
            }
            n if n == file::SOURCE.name => FileSourceConfig::new(config).map(SourceConfig::File),
            n if n == stdio::SOURCE.name => StdinSourceConfig::new(config).map(SourceConfig::Stdin),
            n if n == datagen::SOURCE.name => DatagenConfig::new(config).map(SourceConfig::Datagen),
            n if n == jdbc::SOURCE.name => {
                JdbcSourceConfig::new(config).map(|c| SourceConfig::Jdbc(Box::new(c)))
            }
            other => Err(vec![ConfigProblem {
                key: "type".into(),
                message: format!("no runnable source `{other}`"),
            }]),
        }
    }

    /// The source's registry entry.
    pub fn info(&self) -> &'static ComponentInfo {
        match self {
            SourceConfig::Kafka(_) => &kafka::SOURCE,
            SourceConfig::File(_) => &file::SOURCE,
            SourceConfig::Stdin(_) => &stdio::SOURCE,
            SourceConfig::Datagen(_) => &datagen::SOURCE,
            SourceConfig::Jdbc(_) => &jdbc::SOURCE,
        }
    }

    pub fn capabilities(&self) -> Capabilities {
        self.info().capabilities
    }

    /// What `validate` should say about records the source may miss or send twice in its configured mode.
    pub fn exactness_notes(&self) -> Vec<String> {
        match self {
            SourceConfig::Jdbc(c) => c.exactness_warnings(),
            _ => Vec::new(),
        }
    }

    /// Whether the source gives each record a topic of its own choosing (the jdbc source: `topic.prefix` and
    /// the table), so a Kafka sink needs no `topic`.
    pub fn names_record_topics(&self) -> bool {
        matches!(self, SourceConfig::Jdbc(_))
    }

    /// The topic the source's records are given (its `topic` key), if one is set. A Kafka source has none of
    /// its own: its records keep the topic they were read from.
    pub fn records_topic(&self) -> Option<&str> {
        let topic = match self {
            SourceConfig::Kafka(_) => return None,
            SourceConfig::File(c) => c.topic.as_str(),
            SourceConfig::Stdin(c) => c.topic.as_str(),
            SourceConfig::Datagen(c) => c.topic.as_str(),
            // Each table's records go to topic.prefix + table.
            SourceConfig::Jdbc(_) => return None,
        };
        Some(topic).filter(|t| !t.is_empty())
    }
}

impl SinkConfig {
    /// The typed config of sink `name` (its registry short name) from its validated keys. `producer`: the
    /// producer a sink whose capabilities say it is a Kafka producer writes with. Every problem is returned,
    /// each with its key.
    pub fn new(
        name: &str,
        config: &ParsedConfig,
        producer: Option<SinkProducer>,
    ) -> Result<Self, Vec<ConfigProblem>> {
        match name {
            n if n == kafka::SINK.name => {
                let producer = producer.ok_or_else(|| no_client_settings("producer"))?;
                KafkaSinkConfig::new(config, producer).map(SinkConfig::Kafka)
            }
            n if n == file::SINK.name => FileSinkConfig::new(config).map(SinkConfig::File),
            n if n == stdio::SINK.name => StdoutSinkConfig::new(config).map(SinkConfig::Stdout),
            n if n == http::SINK.name => HttpSinkConfig::new(config).map(SinkConfig::Http),
            n if n == jdbc::SINK.name => {
                JdbcSinkConfig::new(config).map(|c| SinkConfig::Jdbc(Box::new(c)))
            }
            n if n == elasticsearch::SINK.name => {
                ElasticsearchSinkConfig::new(config).map(SinkConfig::Elasticsearch)
            }
            other => Err(vec![ConfigProblem {
                key: "type".into(),
                message: format!("no runnable sink `{other}`"),
            }]),
        }
    }

    /// The sink's registry entry.
    pub fn info(&self) -> &'static ComponentInfo {
        match self {
            SinkConfig::Kafka(_) => &kafka::SINK,
            SinkConfig::File(_) => &file::SINK,
            SinkConfig::Stdout(_) => &stdio::SINK,
            SinkConfig::Http(_) => &http::SINK,
            SinkConfig::Jdbc(_) => &jdbc::SINK,
            SinkConfig::Elasticsearch(_) => &elasticsearch::SINK,
        }
    }

    pub fn capabilities(&self) -> Capabilities {
        self.info().capabilities
    }

    /// The topic a sink that writes to Kafka sends records to when no routing transform renamed them (the
    /// Kafka sink's `topic`), if one is set.
    pub fn fixed_topic(&self) -> Option<&str> {
        match self {
            SinkConfig::Kafka(c) => c.topic.as_deref(),
            SinkConfig::File(_)
            | SinkConfig::Stdout(_)
            | SinkConfig::Http(_)
            | SinkConfig::Jdbc(_)
            | SinkConfig::Elasticsearch(_) => None,
        }
    }
}

/// Every source the engine can run.
pub enum AnySource {
    Kafka(KafkaSource),
    File(FileSource),
    Stdin(StdinSource),
    Datagen(DatagenSource),
    /// Boxed: its config and connection are several times the size of the file source.
    Jdbc(Box<JdbcSource>),
}

impl AnySource {
    /// Opens task `task` of the source `config` describes, resuming at `start`: the positions the engine
    /// stored (none for a source that keeps its own).
    pub async fn open(
        config: &SourceConfig,
        task: TaskId,
        start: &[SourcePosition],
    ) -> Result<Self, ConnectorError> {
        let all_positions = start;
        // File-like sources read one stream: their single stored position.
        let start = start
            .iter()
            .find(|p| {
                matches!(
                    p,
                    SourcePosition::Offset(_) | SourcePosition::FileOffset { .. }
                )
            })
            .cloned();
        Ok(match config {
            SourceConfig::Kafka(c) => AnySource::Kafka(KafkaSource::open(c, task)?),
            SourceConfig::File(c) => AnySource::File(FileSource::open(c, task, start).await?),
            SourceConfig::Stdin(c) => AnySource::Stdin(StdinSource::open(c, task, start).await?),
            SourceConfig::Datagen(c) => {
                AnySource::Datagen(DatagenSource::open(c, task, start).await?)
            }
            SourceConfig::Jdbc(c) => {
                AnySource::Jdbc(Box::new(JdbcSource::open(c, task, all_positions).await?))
            }
        })
    }

    /// What the running source's connector can do.
    pub fn capabilities(&self) -> Capabilities {
        let info = match self {
            AnySource::Kafka(_) => &kafka::SOURCE,
            AnySource::File(_) => &file::SOURCE,
            AnySource::Stdin(_) => &stdio::SOURCE,
            AnySource::Datagen(_) => &datagen::SOURCE,
            AnySource::Jdbc(_) => &jdbc::SOURCE,
        };
        info.capabilities
    }

    /// For a source that consumes Kafka partitions: each assigned partition's lag (high watermark minus the
    /// consumer's position, in records) where both are known; `None` for other sources.
    pub fn partition_lag(&self) -> Option<Vec<(TopicPartition, i64)>> {
        match self {
            AnySource::Kafka(s) => Some(s.partition_lag()),
            AnySource::File(_)
            | AnySource::Stdin(_)
            | AnySource::Datagen(_)
            | AnySource::Jdbc(_) => None,
        }
    }

    /// The connection failures of the source's Kafka clients, for a source that has them.
    pub fn connection_problems(&self) -> Vec<ConnectionProblems> {
        match self {
            AnySource::Kafka(s) => s.connection_problems(),
            AnySource::File(_)
            | AnySource::Stdin(_)
            | AnySource::Datagen(_)
            | AnySource::Jdbc(_) => Vec::new(),
        }
    }

    /// The consumer group's id, generation and member id, for offsets committed inside a transaction: only a
    /// source that keeps its positions in a group has them.
    pub fn group_metadata(&self, group_id: &str) -> Option<ConsumerGroupMetadata> {
        match self {
            AnySource::Kafka(s) => s.group_metadata(group_id),
            AnySource::File(_)
            | AnySource::Stdin(_)
            | AnySource::Datagen(_)
            | AnySource::Jdbc(_) => None,
        }
    }

    /// For a source that reads Kafka partitions: from now on assigned partitions wait for
    /// [`AnySource::start_at`] (the sink keeps the consumed offsets); see [`KafkaSource::start_where_told`].
    /// Whether the source does (others read no partitions).
    pub fn start_where_told(&mut self) -> bool {
        match self {
            AnySource::Kafka(s) => {
                s.start_where_told();
                true
            }
            AnySource::File(_)
            | AnySource::Stdin(_)
            | AnySource::Datagen(_)
            | AnySource::Jdbc(_) => false,
        }
    }

    /// The partitions assigned since the last call that wait for [`AnySource::start_at`].
    pub fn take_assigned(&mut self) -> Vec<TopicPartition> {
        match self {
            AnySource::Kafka(s) => s.take_assigned(),
            AnySource::File(_)
            | AnySource::Stdin(_)
            | AnySource::Datagen(_)
            | AnySource::Jdbc(_) => Vec::new(),
        }
    }

    /// Where the assigned partitions start: the next offset, or `None` for the group's committed one.
    pub fn start_at(&self, starts: Vec<(TopicPartition, Option<i64>)>) {
        if let AnySource::Kafka(s) = self {
            s.start_at(starts);
        }
    }

    /// Whether the source must have everything handed out so far committed before it is polled again (a Kafka
    /// source whose partitions are being revoked); asking clears it. See [`KafkaSource::take_commit_request`].
    pub fn take_commit_request(&mut self) -> bool {
        match self {
            AnySource::Kafka(s) => s.take_commit_request(),
            AnySource::File(_)
            | AnySource::Stdin(_)
            | AnySource::Datagen(_)
            | AnySource::Jdbc(_) => false,
        }
    }
}

impl SourceTask for AnySource {
    async fn poll(&mut self, limit: PollLimit) -> Result<SourcePoll, ConnectorError> {
        match self {
            AnySource::Kafka(s) => s.poll(limit).await,
            AnySource::File(s) => s.poll(limit).await,
            AnySource::Stdin(s) => s.poll(limit).await,
            AnySource::Datagen(s) => s.poll(limit).await,
            AnySource::Jdbc(s) => s.poll(limit).await,
        }
    }
    async fn commit(&mut self, position: &SourcePosition) -> Result<(), ConnectorError> {
        match self {
            AnySource::Kafka(s) => s.commit(position).await,
            AnySource::File(s) => s.commit(position).await,
            AnySource::Stdin(s) => s.commit(position).await,
            AnySource::Datagen(s) => s.commit(position).await,
            AnySource::Jdbc(s) => s.commit(position).await,
        }
    }
    async fn close(&mut self) {
        match self {
            AnySource::Kafka(s) => s.close().await,
            AnySource::File(s) => s.close().await,
            AnySource::Stdin(s) => s.close().await,
            AnySource::Datagen(s) => s.close().await,
            AnySource::Jdbc(s) => s.close().await,
        }
    }
}

/// Every sink the engine can run.
pub enum AnySink {
    Kafka(KafkaSink),
    File(FileSink),
    Stdout(StdoutSink),
    Http(HttpSink),
    Jdbc(JdbcSink),
    /// Boxed: its client and buffers are twice the size of any other sink.
    Elasticsearch(Box<ElasticsearchSink>),
}

impl AnySink {
    /// Opens task `task` of the sink `config` describes.
    pub async fn open(config: &SinkConfig, task: TaskId) -> Result<Self, ConnectorError> {
        Ok(match config {
            SinkConfig::Kafka(c) => AnySink::Kafka(KafkaSink::open(c, task).await?),
            SinkConfig::File(c) => AnySink::File(FileSink::open(c, task).await?),
            SinkConfig::Stdout(c) => AnySink::Stdout(StdoutSink::open(c, task).await?),
            SinkConfig::Http(c) => AnySink::Http(HttpSink::open(c, task).await?),
            SinkConfig::Jdbc(c) => AnySink::Jdbc(JdbcSink::open(c, task).await?),
            SinkConfig::Elasticsearch(c) => {
                AnySink::Elasticsearch(Box::new(ElasticsearchSink::open(c, task).await?))
            }
        })
    }

    /// The topic rule the sink wants applied to each record after the transforms, if any (the Kafka sink's
    /// configured `topic`).
    pub fn configured_topic(&self) -> Option<&ConfiguredTopic> {
        match self {
            AnySink::Kafka(s) => s.configured_topic(),
            AnySink::File(_)
            | AnySink::Stdout(_)
            | AnySink::Http(_)
            | AnySink::Jdbc(_)
            | AnySink::Elasticsearch(_) => None,
        }
    }

    /// The connection failures of the sink's Kafka producer, for a sink that has one.
    pub fn connection_problems(&self) -> Vec<ConnectionProblems> {
        match self {
            AnySink::Kafka(s) => s.connection_problems(),
            AnySink::File(_)
            | AnySink::Stdout(_)
            | AnySink::Http(_)
            | AnySink::Jdbc(_)
            | AnySink::Elasticsearch(_) => Vec::new(),
        }
    }

    /// See [`KafkaSink::stop_after_refused_record`]; other sinks hear of no refusal after `put`.
    pub fn stop_after_refused_record(&self) {
        if let AnySink::Kafka(s) = self {
            s.stop_after_refused_record();
        }
    }

    /// The records the broker refused as they are at the last `flush` (only the Kafka sink hears of such
    /// refusals after `put`); see [`KafkaSink::take_refused`].
    pub fn take_refused(&mut self) -> Vec<SinkRefusal> {
        match self {
            AnySink::Kafka(s) => s.take_refused(),
            AnySink::File(_)
            | AnySink::Stdout(_)
            | AnySink::Http(_)
            | AnySink::Jdbc(_)
            | AnySink::Elasticsearch(_) => Vec::new(),
        }
    }

    /// Makes the sink write the consumed Kafka offsets of the records it writes in the same transaction, under
    /// `connector`'s name, for a sink whose capabilities say `keeps_consumed_offsets` (the jdbc sink: its
    /// offsets table, created if missing).
    pub async fn keep_consumed_offsets(&mut self, connector: &str) -> Result<(), ConnectorError> {
        match self {
            AnySink::Jdbc(s) => s.keep_consumed_offsets(connector).await,
            AnySink::Kafka(_)
            | AnySink::File(_)
            | AnySink::Stdout(_)
            | AnySink::Http(_)
            | AnySink::Elasticsearch(_) => Err(ConnectorError::fatal(
                "this sink cannot keep the consumed offsets with its writes",
            )),
        }
    }

    /// The next offset to read of each of `partitions`, as the sink stored it with the records it wrote
    /// (`None`: nothing of that partition written yet). See [`AnySink::keep_consumed_offsets`].
    pub async fn consumed_offsets(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, Option<i64>)>, ConnectorError> {
        match self {
            AnySink::Jdbc(s) => s.consumed_offsets(partitions).await,
            AnySink::Kafka(_)
            | AnySink::File(_)
            | AnySink::Stdout(_)
            | AnySink::Http(_)
            | AnySink::Elasticsearch(_) => {
                Ok(partitions.iter().map(|tp| (tp.clone(), None)).collect())
            }
        }
    }

    /// The sink that writes inside Kafka transactions, if this is one (its capabilities say
    /// `joins_kafka_transaction`).
    pub fn transactional(&mut self) -> Option<&mut KafkaSink> {
        match self {
            AnySink::Kafka(s) => Some(s),
            AnySink::File(_)
            | AnySink::Stdout(_)
            | AnySink::Http(_)
            | AnySink::Jdbc(_)
            | AnySink::Elasticsearch(_) => None,
        }
    }
}

impl SinkTask for AnySink {
    async fn put(
        &mut self,
        records: &mut Vec<ConnectRecord>,
        converters: &mut Converters,
    ) -> Result<(), ConnectorError> {
        match self {
            AnySink::Kafka(s) => s.put(records, converters).await,
            AnySink::File(s) => s.put(records, converters).await,
            AnySink::Stdout(s) => s.put(records, converters).await,
            AnySink::Http(s) => s.put(records, converters).await,
            AnySink::Jdbc(s) => s.put(records, converters).await,
            AnySink::Elasticsearch(s) => s.put(records, converters).await,
        }
    }
    async fn flush(&mut self) -> Result<(), ConnectorError> {
        match self {
            AnySink::Kafka(s) => s.flush().await,
            AnySink::File(s) => s.flush().await,
            AnySink::Stdout(s) => s.flush().await,
            AnySink::Http(s) => s.flush().await,
            AnySink::Jdbc(s) => s.flush().await,
            AnySink::Elasticsearch(s) => s.flush().await,
        }
    }
    async fn close(&mut self) {
        match self {
            AnySink::Kafka(s) => s.close().await,
            AnySink::File(s) => s.close().await,
            AnySink::Stdout(s) => s.close().await,
            AnySink::Http(s) => s.close().await,
            AnySink::Jdbc(s) => s.close().await,
            AnySink::Elasticsearch(s) => s.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::config::ConfigMap;
    use crate::connect::component::ComponentKind;
    use crate::connect::connectors::COMPONENTS;

    /// Every registered source and sink has a typed config: none is refused as "no runnable" connector.
    #[test]
    fn every_registered_connector_is_runnable() {
        for info in COMPONENTS.iter().chain(kafka::COMPONENTS) {
            let problems = match info.kind {
                ComponentKind::Source => {
                    SourceConfig::new(info.name, &ParsedConfig::default(), None)
                        .err()
                        .unwrap_or_default()
                }
                _ => SinkConfig::new(info.name, &ParsedConfig::default(), None)
                    .err()
                    .unwrap_or_default(),
            };
            assert!(
                !problems.iter().any(|p| p.message.contains("no runnable")),
                "{:?} {}: {problems:?}",
                info.kind,
                info.name
            );
        }
    }

    /// A typed config knows the registry entry it was built for.
    #[test]
    fn a_typed_config_answers_with_its_connectors_capabilities() {
        let stdin = SourceConfig::new("stdin", &ParsedConfig::default(), None).unwrap();
        assert_eq!(stdin.info().name, "stdin");
        assert_eq!(stdin.capabilities().max_tasks, Some(1));
        let stdout = SinkConfig::new("stdout", &ParsedConfig::default(), None).unwrap();
        assert!(!stdout.capabilities().joins_kafka_transaction);

        let settings = || ConfigMap::from_pairs([("bootstrap.servers", "localhost:9092")]);
        let topics: ParsedConfig = kafka::SOURCE_CONFIG
            .parse(&[("topics".into(), "orders".into())].into(), &[])
            .unwrap();
        let consumer = ConsumerConfig::from_map(settings()).unwrap();
        let source = SourceConfig::new("kafka", &topics, Some(consumer)).unwrap();
        assert!(source.capabilities().keeps_own_positions);
        let producer = SinkProducer::from_settings(settings(), true, "copy").unwrap();
        let sink = SinkConfig::new("kafka", &ParsedConfig::default(), Some(producer)).unwrap();
        assert!(sink.capabilities().joins_kafka_transaction);
        assert!(sink.capabilities().writes_to_kafka());
    }
}
