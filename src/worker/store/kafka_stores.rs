//! The three Kafka-backed stores of a distributed worker, started from the worker's settings: the clients
//! take the worker's client keys (`bootstrap.servers`, security, timeouts) with `producer.*` / `consumer.*`
//! for their role, as Kafka Connect's internal topics' clients do.

use std::sync::Arc;
use std::time::Duration;

use super::kafka_config::KafkaConfigStore;
use super::kafka_log::KafkaLogSettings;
use super::kafka_positions::KafkaPositionStore;
use super::kafka_status::KafkaStatusStore;
use super::StoreError;
use crate::client::config::{java_name, ConfigMap, ConsumerConfig, ProducerConfig};
use crate::config::{Settings, WorkerConfig};

/// One internal topic: `config.storage.topic` / `status.storage.topic` / `offset.storage.topic` with their
/// `.partitions` and `.replication.factor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopic {
    pub name: String,
    /// Ignored for the config topic, which always has one.
    pub partitions: i32,
    /// -1: the broker's `default.replication.factor`.
    pub replication_factor: i16,
}

/// The internal topics of a distributed worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopics {
    pub config: InternalTopic,
    pub status: InternalTopic,
    pub offsets: InternalTopic,
}

/// How long starting a store (creating or finding its topic, reading it to its end) and one write may take;
/// Kafka Connect allows 30 s for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreTimeouts {
    pub start: Duration,
    pub write: Duration,
}

impl Default for StoreTimeouts {
    fn default() -> Self {
        Self {
            start: Duration::from_secs(30),
            write: Duration::from_secs(30),
        }
    }
}

/// The producer and consumer settings of the internal topics' clients, from the worker's keys.
pub fn client_configs(
    worker: &WorkerConfig,
) -> Result<(ProducerConfig, ConsumerConfig), StoreError> {
    let map = |role: &[&Settings], known: &[&str]| {
        let mut map = ConfigMap::new();
        for settings in role {
            for (key, value) in settings.iter() {
                // The worker's top-level keys are for both clients; each takes those it knows.
                if known.contains(&java_name(key)) {
                    map.set(key, value);
                }
            }
        }
        map
    };
    let producer = ProducerConfig::from_map(map(
        &[&worker.client, &worker.producer],
        &ProducerConfig::known_keys(),
    ))
    .map_err(|e| StoreError(format!("the internal topics' producer: {e}")))?;
    let consumer = ConsumerConfig::from_map(map(
        &[&worker.client, &worker.consumer],
        &ConsumerConfig::known_keys(),
    ))
    .map_err(|e| StoreError(format!("the internal topics' consumer: {e}")))?;
    Ok((producer, consumer))
}

/// A distributed worker's stores, each read to its end.
pub struct KafkaStores {
    pub config: KafkaConfigStore,
    pub status: KafkaStatusStore,
    pub positions: Arc<KafkaPositionStore>,
}

impl KafkaStores {
    /// Starts the three stores with the given clients (see [`client_configs`]), creating missing topics.
    pub fn start(
        producer: &ProducerConfig,
        consumer: &ConsumerConfig,
        topics: &InternalTopics,
        timeouts: StoreTimeouts,
    ) -> Result<KafkaStores, StoreError> {
        let settings = |topic: &InternalTopic, purpose: &str| {
            let mut producer = producer.clone();
            let mut consumer = consumer.clone();
            // Named as Kafka Connect names its internal clients, so broker logs tell them apart.
            producer.common.client_id = format!("{}-{purpose}", producer.common.client_id);
            consumer.common.client_id = format!("{}-{purpose}", consumer.common.client_id);
            KafkaLogSettings {
                topic: topic.name.clone(),
                partitions: topic.partitions,
                replication_factor: topic.replication_factor,
                producer,
                consumer,
                start_timeout: timeouts.start,
            }
        };
        let config = KafkaConfigStore::start(settings(&topics.config, "configs"), timeouts.write)?;
        let status = KafkaStatusStore::start(settings(&topics.status, "statuses"))?;
        let positions =
            KafkaPositionStore::start(settings(&topics.offsets, "offsets"), timeouts.write)?;
        Ok(KafkaStores {
            config,
            status,
            positions: Arc::new(positions),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::positions::PositionStore;
    use crate::worker::status::StatusStore;
    use crate::worker::store::ConfigStore;

    #[test]
    fn the_stores_are_what_the_worker_holds() {
        fn config<T: ConfigStore + 'static>() {}
        fn status<T: StatusStore + 'static>() {}
        fn positions<T: PositionStore + 'static>() {}
        config::<KafkaConfigStore>();
        status::<KafkaStatusStore>();
        positions::<KafkaPositionStore>();
    }

    #[test]
    fn each_client_takes_the_worker_keys_it_knows() {
        let file: std::sync::Arc<str> = "worker.properties".into();
        let mut worker = WorkerConfig::default();
        let set = |settings: &mut Settings, key: &str, value: &str| {
            settings.0.insert(
                key.to_owned(),
                crate::config::Setting {
                    value: value.to_owned(),
                    location: crate::config::Location::new(&file, 1),
                },
            );
        };
        set(&mut worker.client, "bootstrap.servers", "b1:9092,b2:9092");
        set(&mut worker.client, "client.id", "w1");
        // A consumer key at the top level: the producer leaves it.
        set(&mut worker.client, "fetch.max.wait.ms", "123");
        set(&mut worker.producer, "linger.ms", "7");
        let (producer, consumer) = client_configs(&worker).unwrap();
        assert_eq!(producer.common.bootstrap_servers, ["b1:9092", "b2:9092"]);
        assert_eq!(consumer.common.client_id, "w1");
        assert_eq!(producer.linger, Duration::from_millis(7));
        assert_eq!(consumer.fetch_max_wait, Duration::from_millis(123));
    }
}
