//! The worker's stores, behind small traits so one process keeps them in files and a cluster in Kafka topics:
//! connector configs and target states ([`ConfigStore`]), source positions
//! ([`crate::engine::positions::PositionStore`], which the engine calls), task statuses
//! ([`super::status::StatusStore`]). A distributed worker keeps them in Kafka Connect's three internal topics,
//! in its record formats (`connect_records`), each through a `kafka_log`.

mod config_file;
pub mod connect_records;
mod kafka_config;
pub mod kafka_log;
mod kafka_positions;
mod kafka_status;
mod kafka_stores;
mod own_writes;
mod position_file;
mod position_files;

use std::collections::BTreeMap;

pub use config_file::ConfigFile;
pub use kafka_config::{ConfigChange, ConfigChangeKind, ConfigSnapshot, KafkaConfigStore};
pub use kafka_log::{KafkaLog, KafkaLogSettings};
pub use kafka_positions::KafkaPositionStore;
pub use kafka_status::KafkaStatusStore;
pub use kafka_stores::{client_configs, InternalTopic, InternalTopics, KafkaStores, StoreTimeouts};
pub use position_file::PositionFile;
pub use position_files::migrate_task_files;

use super::status::TargetState;

/// A store could not be read or written; the message names the file or topic and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// What the config store holds for one connector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredConnector {
    /// The connector's config in Kafka Connect's flat form, as submitted; `None` for a connector whose config
    /// lives elsewhere (the config file the worker was started with), of which only the target state is kept.
    pub config: Option<BTreeMap<String, String>>,
    pub target: TargetState,
}

/// Connector configs and target states (Kafka Connect's ConfigBackingStore).
pub trait ConfigStore: Send {
    /// Every stored connector by name.
    fn load(&self) -> Result<BTreeMap<String, StoredConnector>, StoreError>;
    /// Creates or replaces a connector's entry.
    fn put(&mut self, name: &str, connector: &StoredConnector) -> Result<(), StoreError>;
    fn remove(&mut self, name: &str) -> Result<(), StoreError>;
    /// Each task's config of connector `name` (Kafka Connect's `task-NAME-N` and `commit-NAME` in the config
    /// topic); a store of one process keeps none: its tasks run from the connector's config.
    fn put_task_configs(
        &mut self,
        _name: &str,
        _tasks: &[BTreeMap<String, String>],
    ) -> Result<(), StoreError> {
        Ok(())
    }
    /// Asks every worker to restart connector `name`'s tasks that run on it (KIP-745's restart request in the
    /// config topic). Only a store shared by several workers keeps such requests.
    fn put_restart_request(
        &mut self,
        name: &str,
        _include_tasks: bool,
        _only_failed: bool,
    ) -> Result<(), StoreError> {
        Err(StoreError(format!(
            "connector {name}: restart requests are kept only in a distributed worker's config topic"
        )))
    }
    /// How far the store has read: the config topic's offset of its last record (-1: none, or no topic).
    fn offset(&self) -> i64 {
        -1
    }
}

/// A config store that keeps nothing between runs.
#[derive(Debug, Default)]
pub struct MemoryConfigStore {
    connectors: BTreeMap<String, StoredConnector>,
}

impl ConfigStore for MemoryConfigStore {
    fn load(&self) -> Result<BTreeMap<String, StoredConnector>, StoreError> {
        Ok(self.connectors.clone())
    }

    fn put(&mut self, name: &str, connector: &StoredConnector) -> Result<(), StoreError> {
        self.connectors.insert(name.to_owned(), connector.clone());
        Ok(())
    }

    fn remove(&mut self, name: &str) -> Result<(), StoreError> {
        self.connectors.remove(name);
        Ok(())
    }
}
