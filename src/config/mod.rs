//! Configuration: `pipelines.toml`, Kafka Connect `.properties` and REST JSON connector configs,
//! read into one validated model ([`EngineConfig`]).
//!
//! Owns reading and checking config text; it must not start anything (no sockets, threads or clients). Every
//! value remembers its file and line, and validation reports every problem at once ([`ConfigErrors`]), each
//! with file, line, pipeline and key, and a "did you mean" for unknown names. Components and their keys come
//! from a [`Catalog`] (the real one is [`Registry`], i.e. `connect::registry`).

mod build;
mod catalog;
mod checker;
mod client_resolution;
mod clients;
pub(crate) use clients::is_secret_key;
mod components;
mod connect_form;
pub mod distributed;
mod pipeline_keys;
mod pipeline_settings;
mod problem;
mod providers;
mod raw;
pub mod rest_server;
mod run_spec;
mod toml_form;
mod worker;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;

use crate::connect::config_def::ParsedConfig;
use crate::connect::registry::{ComponentInfo, ComponentKind};

pub use catalog::{Catalog, Registry, StaticCatalog};
pub use clients::{
    check_tls_files, tls_file_problems, ClientRole, ClientSetting, ClientSettings, Origin,
};
pub use pipeline_keys::PIPELINE_KEYS;
pub use problem::{ConfigErrors, Location, Problem};
pub use providers::ConfigProviders;
pub use run_spec::RunSpec;
pub use worker::{OverridePolicy, TopicTracking, WorkerConfig, WORKER_KEYS};

/// Which reader a config file needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `pipelines.toml`.
    Toml,
    /// A Kafka Connect connector `.properties` file.
    Properties,
    /// Kafka Connect's REST form `{"name": …, "config": {…}}` (or an array of them).
    Json,
}

impl Format {
    /// By extension: `.toml`, `.properties`, `.json`; `None` for anything else.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "toml" => Some(Format::Toml),
            "properties" => Some(Format::Properties),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// A key's value as written, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub location: Location,
}

/// Keys in file order, each with its value and location.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings(pub IndexMap<String, Setting>);

impl Settings {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|s| s.value.as_str())
    }

    pub fn location(&self, key: &str) -> Option<&Location> {
        self.0.get(key).map(|s| &s.location)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, s)| (k.as_str(), s.value.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The whole engine config.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub file: Arc<str>,
    /// Client settings shared by every pipeline, under their Java names (`[kafka]`).
    pub kafka: Settings,
    /// The worker's own keys (`[engine]`, or a worker .properties file).
    pub worker: WorkerConfig,
    pub pipelines: Vec<PipelineConfig>,
}

/// What every connector of a worker starts from: the `[kafka]` client settings and the worker's keys.
#[derive(Debug, Clone, Default)]
pub struct ConnectorDefaults {
    pub kafka: Settings,
    pub worker: WorkerConfig,
}

impl ConnectorDefaults {
    /// The settings of an admin client of the worker's cluster (`[kafka]` / the worker file's shared client
    /// keys), when they make one: what `GET /` asks for the cluster's id with.
    pub fn admin_client(&self) -> Option<crate::client::config::CommonConfig> {
        let mut map = crate::client::config::ConfigMap::new();
        for key in crate::client::config::admin_keys() {
            if let Some(value) = self.kafka.get(key) {
                map.set(key, value);
            }
        }
        crate::client::config::admin_config(map).ok()
    }
}

impl EngineConfig {
    /// What connectors created later (through REST) start from.
    pub fn defaults(&self) -> ConnectorDefaults {
        ConnectorDefaults {
            kafka: self.kafka.clone(),
            worker: self.worker.clone(),
        }
    }
}

/// `delivery`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// A source position is committed only after the sink acknowledged everything before it.
    #[default]
    AtLeastOnce,
    /// Transactions: consumed offsets / source positions are committed with the output.
    ExactlyOnce,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::AtLeastOnce => "at-least-once",
            Delivery::ExactlyOnce => "exactly-once",
        }
    }
}

/// `profile`: coherent presets for timeliness or throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Latency,
    Throughput,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Latency => "latency",
            Profile::Throughput => "throughput",
        }
    }

    /// The client keys this profile sets for `role`, under their Java names.
    pub fn presets(self, role: ClientRole) -> &'static [(&'static str, &'static str)] {
        clients::presets(self, role)
    }

    /// The depth of the queues between a pipeline's stages, in records.
    pub fn queue_max_records(self) -> usize {
        match self {
            Profile::Latency => 128,
            Profile::Throughput => 16_384,
        }
    }
}

/// How often positions are committed while records flow, when the worker's `offset.flush.interval.ms` does not
/// say: shorter than Kafka Connect's 60 s, so a restart re-sends at most this much.
pub const DEFAULT_OFFSET_FLUSH_INTERVAL: Duration = Duration::from_millis(1000);

/// Queue depth between stages when neither `queue.max.records` nor a profile sets it.
pub const DEFAULT_QUEUE_MAX_RECORDS: usize = 1024;

/// Bytes between stages when `queue.max.bytes` does not say: a sink that stalls holds at most this much of
/// what the source read (besides its client's own buffers), whatever the records' size.
pub const DEFAULT_QUEUE_MAX_BYTES: usize = 16 << 20;

/// A source, sink, transform, predicate or converter, validated against its declared keys.
#[derive(Debug, Clone)]
pub struct ComponentConfig {
    pub kind: ComponentKind,
    /// The registry's short name (`file`, `InsertField`, `json`).
    pub name: &'static str,
    /// The type as written (`file`, `FileStreamSource`, `org.apache.kafka.connect.transforms.InsertField$Value`).
    pub type_name: String,
    pub info: &'static ComponentInfo,
    /// The component's keys after validation, defaults filled in.
    pub config: ParsedConfig,
    /// The component's keys as written (without `type`), with their locations.
    pub settings: Settings,
    /// Where the component is declared.
    pub location: Location,
    /// What its keys' paths start with in the file (`source.`, `transforms.mask.`; empty for a Kafka Connect
    /// connector's own keys).
    pub path_prefix: String,
}

/// One transform of the chain, in order.
#[derive(Debug, Clone)]
pub struct TransformConfig {
    /// Its name (`name` key, the Kafka Connect alias, or else its type).
    pub alias: String,
    pub component: ComponentConfig,
    /// The alias of the predicate that decides whether it applies.
    pub predicate: Option<String>,
    /// Apply where the predicate does *not* match.
    pub negate: bool,
}

/// One named predicate.
#[derive(Debug, Clone)]
pub struct PredicateConfig {
    pub alias: String,
    pub component: ComponentConfig,
}

/// `errors.tolerance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tolerance {
    /// A failing record fails the task.
    #[default]
    None,
    /// Failing records are skipped (and sent to the dead-letter topic when one is set).
    All,
}

/// The `errors.*` keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorHandling {
    pub tolerance: Tolerance,
    pub dead_letter_topic: Option<String>,
    /// -1: the broker's default.
    pub dead_letter_replication_factor: i16,
    pub context_headers_enable: bool,
    /// How long a failing operation is retried; `None`: forever (`errors.retry.timeout=-1`).
    pub retry_timeout: Option<Duration>,
    pub retry_delay_max: Duration,
    pub log_enable: bool,
    pub log_include_messages: bool,
}

impl Default for ErrorHandling {
    fn default() -> Self {
        Self {
            tolerance: Tolerance::None,
            dead_letter_topic: None,
            dead_letter_replication_factor: -1,
            context_headers_enable: false,
            retry_timeout: Some(Duration::ZERO),
            retry_delay_max: Duration::from_millis(60_000),
            log_enable: false,
            log_include_messages: false,
        }
    }
}

/// One pipeline: source → converters → transforms → sink.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub name: String,
    /// Where the pipeline starts (`[[pipeline]]`, or the connector file).
    pub location: Location,
    pub delivery: Delivery,
    /// The tasks the pipeline runs: `tasks` (`tasks.max`), or fewer when the connectors can use no more.
    pub tasks: u32,
    /// `tasks` (`tasks.max`) as given.
    pub requested_tasks: u32,
    pub profile: Option<Profile>,
    pub source: ComponentConfig,
    pub sink: ComponentConfig,
    pub transforms: Vec<TransformConfig>,
    pub predicates: Vec<PredicateConfig>,
    pub key_converter: Option<ComponentConfig>,
    pub value_converter: Option<ComponentConfig>,
    pub header_converter: Option<ComponentConfig>,
    pub errors: ErrorHandling,
    /// Depth of the bounded queues between stages, in records.
    pub queue_max_records: usize,
    /// Most bytes of raw keys and values between stages: what one poll of the source may return.
    pub queue_max_bytes: usize,
    /// `producer.override.*`, without the prefix.
    pub producer_overrides: Settings,
    /// `consumer.override.*`, without the prefix.
    pub consumer_overrides: Settings,
    /// The producer settings: `[kafka]` + profile + delivery + Kafka sink keys + overrides.
    pub producer: ClientSettings,
    /// The consumer settings: `[kafka]` + profile + delivery + Kafka source keys + overrides.
    pub consumer: ClientSettings,
    /// Every scalar key of the pipeline as written, with its location.
    pub keys: Settings,
    /// How often positions are committed while records flow (the worker's `offset.flush.interval.ms`).
    pub offset_flush_interval: Duration,
    /// The worker's `admin.*` settings, for the admin clients the pipeline's tasks use.
    pub admin_overrides: Settings,
    /// The whole connector config as one flat map, as submitted (Kafka Connect's form) or flattened from
    /// pipelines.toml: what the REST API shows and takes back. Values are as written (secrets included).
    pub connector_config: BTreeMap<String, String>,
    /// The keys of [`PipelineConfig::connector_config`] whose values are secrets (password-type keys).
    pub secret_keys: BTreeSet<String>,
    /// The keys whose values came from config provider references (shown as written, never resolved).
    pub resolved_keys: BTreeSet<String>,
    /// What the engine runs: every part built and checked during validation, no text left to parse.
    pub run: RunSpec,
}

/// What a secret's value is shown as, as Kafka Connect shows password-type values.
pub const HIDDEN: &str = "[hidden]";

/// `text` with the password of every `scheme://user:password@host` in it shown as [`HIDDEN`]: for messages
/// that may quote a URL (a task's error, a log line).
pub fn redact_url_credentials(text: &str) -> std::borrow::Cow<'_, str> {
    static URL_CREDENTIALS: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let pattern = URL_CREDENTIALS.get_or_init(|| {
        regex::Regex::new(r"([A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*):[^/@\s]*@")
            .expect("a constant pattern")
    });
    pattern.replace_all(text, format!("${{1}}:{HIDDEN}@").as_str())
}

impl PipelineConfig {
    /// [`PipelineConfig::connector_config`] with every secret shown as [`HIDDEN`].
    pub fn masked_connector_config(&self) -> BTreeMap<String, String> {
        self.connector_config
            .iter()
            .map(|(key, value)| {
                let value = if self.secret_keys.contains(key) {
                    HIDDEN.to_owned()
                } else {
                    value.clone()
                };
                (key.clone(), value)
            })
            .collect()
    }
}

/// Reads and validates `path` against the engine's registry; the format follows the extension.
pub fn load(path: &Path) -> Result<EngineConfig, ConfigErrors> {
    load_with(path, &Registry)
}

/// Reads and validates `path` against `catalog`.
pub fn load_with(path: &Path, catalog: &dyn Catalog) -> Result<EngineConfig, ConfigErrors> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let whole_file = |message: String| ConfigErrors {
        problems: vec![Problem {
            location: Location::new(&file, 0),
            pipeline: None,
            key: None,
            message,
        }],
    };
    let Some(format) = Format::from_path(path) else {
        return Err(whole_file(
            "unknown config format: use a .toml, .properties or .json file".into(),
        ));
    };
    let bytes = std::fs::read(path).map_err(|e| whole_file(format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        whole_file(format!(
            "not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    parse(&text, &file, format, catalog)
}

/// Reads and validates config `text` named `file` (used in messages).
pub fn parse(
    text: &str,
    file: &str,
    format: Format,
    catalog: &dyn Catalog,
) -> Result<EngineConfig, ConfigErrors> {
    let file: Arc<str> = Arc::from(file);
    let document = match format {
        Format::Toml => toml_form::read(text, file),
        Format::Properties => connect_form::read_properties(text, file, catalog),
        Format::Json => connect_form::read_json(text, file, catalog),
    };
    build::build(document, catalog)
}

/// Validates one connector given as a map (a REST request's config, in Kafka Connect's form or pipewright's
/// flat form) named `name`, with the worker's client settings `worker` as the `[kafka]` table. `source` names the
/// request in messages.
pub fn parse_connector(
    name: &str,
    config: &BTreeMap<String, String>,
    defaults: &ConnectorDefaults,
    source: &str,
    catalog: &dyn Catalog,
) -> Result<PipelineConfig, ConfigErrors> {
    let kafka = defaults
        .kafka
        .0
        .iter()
        .map(|(key, setting)| raw::Entry {
            key: key.clone(),
            path: key.clone(),
            value: raw::RawValue::String(setting.value.clone()),
            location: setting.location.clone(),
        })
        .collect();
    // KIP-618: on a worker with exactly.once.source.support=enabled, every source connector writing to Kafka
    // runs exactly-once (its records and positions commit in one transaction per task, under a
    // transactional id per task that fences the task's zombie when it moves) unless it says otherwise.
    let exactly_once_sources = defaults.worker.distributed.as_ref().is_some_and(|d| {
        d.exactly_once_source_support == distributed::ExactlyOnceSourceSupport::Enabled
    });
    let is_source = config
        .get("connector.class")
        .is_some_and(|class| catalog.find(ComponentKind::Source, class).is_some());
    let mut document = connect_form::read_map(name, config, Arc::from(source), kafka, catalog);
    if exactly_once_sources && is_source && !config.contains_key("delivery") {
        // A pipeline key of the worker's making, not the submitted config's: REST shows the config as
        // submitted.
        if let Some(pipeline) = document.pipelines.first_mut() {
            pipeline.entries.push(raw::Entry {
                key: "delivery".into(),
                path: "delivery".into(),
                value: raw::RawValue::String("exactly-once".into()),
                location: Location::new(&document.file, 0),
            });
        }
    }
    document.worker = defaults.worker.entries.clone();
    // A distributed worker's keys are those of its mode: read as a standalone worker's, its group and topic
    // keys would be errors in every connector.
    document.distributed = defaults.worker.distributed.is_some();
    let mut parsed = build::build(document, catalog)?;
    Ok(parsed.pipelines.remove(0))
}

/// Reads a worker's config and its connectors as `connect-standalone.sh WORKER CONNECTOR…` takes them: the
/// worker `.properties` file and connector `.properties` or REST `.json` files (pipelines.toml files too).
pub fn load_standalone(
    worker: &Path,
    connectors: &[std::path::PathBuf],
) -> Result<EngineConfig, ConfigErrors> {
    let mut document = read_document(worker, |text, file| {
        let mut document = connect_form::read_worker_properties(text, file);
        document.worker_only = true;
        document
    })?;
    for path in connectors {
        let connector = read_document(path, |text, file| match Format::from_path(path) {
            Some(Format::Toml) => toml_form::read(text, file),
            Some(Format::Json) => connect_form::read_json(text, file, &Registry),
            _ => connect_form::read_properties(text, file, &Registry),
        })?;
        document.kafka.extend(connector.kafka);
        document.worker.extend(connector.worker);
        document.pipelines.extend(connector.pipelines);
        document.problems.extend(connector.problems);
    }
    build::build(document, &Registry)
}

/// Reads a distributed worker's config as `connect-distributed.sh WORKER` takes it: the worker `.properties`
/// file, with the group and internal topics it must name; connectors come through the REST API.
pub fn load_distributed(worker: &Path) -> Result<EngineConfig, ConfigErrors> {
    let document = read_document(worker, |text, file| {
        let mut document = connect_form::read_worker_properties(text, file);
        document.worker_only = true;
        document.distributed = true;
        document
    })?;
    build::build(document, &Registry)
}

/// Reads `path` as UTF-8 and hands it to `read`; an unreadable file is a problem naming it.
fn read_document(
    path: &Path,
    read: impl FnOnce(&str, Arc<str>) -> raw::RawDocument,
) -> Result<raw::RawDocument, ConfigErrors> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let whole_file = |message: String| ConfigErrors {
        problems: vec![Problem {
            location: Location::new(&file, 0),
            pipeline: None,
            key: None,
            message,
        }],
    };
    let bytes = std::fs::read(path).map_err(|e| whole_file(format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        whole_file(format!(
            "not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    Ok(read(&text, file))
}
