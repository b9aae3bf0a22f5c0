//! The worker's own config: Kafka Connect's worker keys, from a `connect-standalone.properties` file or the
//! `[engine]` table of pipelines.toml, into a typed [`WorkerConfig`].
//!
//! Worker keys are the defaults of every connector the worker runs: its client settings (`bootstrap.servers`,
//! `producer.*`, `consumer.*`, `admin.*`), its converters (`key.converter`, `value.converter`,
//! `header.converter` and their sub-keys), and how the worker itself runs (offsets file, flush interval, REST
//! listener, shutdown timeout, config providers). Unknown keys are errors with a "did you mean".

use std::path::PathBuf;
use std::time::Duration;

use super::clients::{admin_accepts, client_accepts, ClientRole};
use super::distributed::{is_client_key_too, DistributedKeys};
use super::problem::{did_you_mean, Problem};
use super::providers::ConfigProviders;
use super::raw::Entry;
use super::rest_server::ClientUse;
use super::rest_server::{RestListener, RestServerKeys, RestServerSpec, DEFAULT_REST_HOST};
use super::{Setting, Settings};
use crate::client::config::SecurityProtocol;

/// Which worker reads the keys: a standalone one, or a distributed one (whose file names the group and the
/// internal topics; `file` names the file in errors about missing keys).
#[derive(Debug, Clone, Copy)]
pub(crate) enum WorkerMode<'a> {
    Standalone,
    Distributed { file: &'a std::sync::Arc<str> },
}

/// `connector.client.config.override.policy`: which client keys a connector may override
/// (`producer.override.*`, `consumer.override.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverridePolicy {
    /// None at all.
    None,
    /// Only the keys that name who connects (Kafka's `sasl.jaas.config`, `sasl.mechanism`,
    /// `security.protocol`, and librdkafka's spellings of the same: `sasl.mechanisms`, `sasl.username`,
    /// `sasl.password`).
    Principal,
    /// Any (Kafka's default since 3.0).
    #[default]
    All,
}

impl OverridePolicy {
    /// Whether a connector may override client key `key` under this policy.
    pub fn allows(self, key: &str) -> bool {
        match self {
            OverridePolicy::None => false,
            OverridePolicy::Principal => {
                matches!(
                    key,
                    "sasl.jaas.config"
                        | "sasl.mechanism"
                        | "security.protocol"
                        | "sasl.mechanisms"
                        | "sasl.username"
                        | "sasl.password"
                )
            }
            OverridePolicy::All => true,
        }
    }
}

/// The worker's config, typed.
#[derive(Debug, Clone, Default)]
pub struct WorkerConfig {
    /// Client settings every connector's clients start from (`bootstrap.servers`, and any other client key
    /// given at the top level).
    pub client: Settings,
    /// `producer.*`, `consumer.*`, `admin.*`, without the prefix: for those clients only.
    pub producer: Settings,
    pub consumer: Settings,
    pub admin: Settings,
    /// `key.converter`, `value.converter`, `header.converter` and their sub-keys, as written: the converters of
    /// a connector that sets none of its own.
    pub(crate) converters: Vec<Entry>,
    /// `offset.storage.file.filename`: where source positions are kept (standalone).
    pub offset_file: Option<PathBuf>,
    /// `offset.flush.interval.ms`: how often positions are committed while records flow.
    pub offset_flush_interval: Option<Duration>,
    /// The REST API: its listeners (`listeners`, or `rest.host.name` / `rest.port`), their TLS, who may call it.
    pub rest: RestServerSpec,
    /// `rest.advertised.host.name` / `rest.advertised.port`: how statuses name this worker.
    pub rest_advertised: Option<String>,
    /// `plugin.path`, as written (connectors are built in; nothing is loaded from it).
    pub plugin_path: Option<String>,
    /// `task.shutdown.graceful.timeout.ms`.
    pub task_shutdown_timeout: Option<Duration>,
    pub override_policy: OverridePolicy,
    /// `topic.tracking.enable` / `topic.tracking.allow.reset`.
    pub topic_tracking: TopicTracking,
    pub providers: ConfigProviders,
    /// The group and internal topics of a distributed worker (`engine distributed`); `None` in standalone mode.
    pub distributed: Option<super::distributed::DistributedSpec>,
    /// The keys as written (references resolved), to apply to connectors created later (REST).
    pub(crate) entries: Vec<Entry>,
}

/// Whether the REST API shows connectors' active topics (`topic.tracking.enable`) and lets them be reset
/// (`topic.tracking.allow.reset`), KIP-558; both default to true, as in Kafka Connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicTracking {
    pub enabled: bool,
    pub allow_reset: bool,
}

impl Default for TopicTracking {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_reset: true,
        }
    }
}

/// The worker keys besides client keys and converter keys: name and meaning (docs/pipelines.md lists them).
pub const WORKER_KEYS: &[(&str, &str)] = &[
    (
        "offset.storage.file.filename",
        "File the source positions are kept in",
    ),
    (
        "offset.flush.interval.ms",
        "How often positions are committed, ms",
    ),
    (
        "listeners",
        "REST listeners, http://host:port and/or https://host:port",
    ),
    (
        "listeners.https.ssl.keystore.location",
        "PEM keystore of the https listeners (else ssl.keystore.location)",
    ),
    (
        "listeners.https.ssl.client.auth",
        "none, requested or required: client certificates",
    ),
    (
        "listeners.https.ssl.truststore.location",
        "PEM CAs client certificates must chain to",
    ),
    (
        "rest.extension.classes",
        "BasicAuthSecurityRestExtension: HTTP basic auth",
    ),
    (
        "java.security.auth.login.config",
        "The JAAS file of basic auth (else KAFKA_OPTS -D...)",
    ),
    (
        "rest.auth.bearer.token.file",
        "File with the token Authorization: Bearer must carry",
    ),
    ("rest.host.name", "REST host (when listeners is not set)"),
    ("rest.port", "REST port (when listeners is not set)"),
    ("rest.advertised.host.name", "Host the worker is named by"),
    ("rest.advertised.port", "Port the worker is named by"),
    (
        "plugin.path",
        "Accepted; pipewright's connectors are built in",
    ),
    (
        "task.shutdown.graceful.timeout.ms",
        "How long stopping may take, ms",
    ),
    (
        "connector.client.config.override.policy",
        "None, Principal or All",
    ),
    ("config.providers", "Config providers: file, env, dir"),
    (
        "topic.tracking.enable",
        "Whether GET /connectors/NAME/topics answers (true)",
    ),
    (
        "topic.tracking.allow.reset",
        "Whether PUT /connectors/NAME/topics/reset answers (true)",
    ),
];

/// Keys Kafka removed or that name what pipewright has built in: accepted, with a warning that they do
/// nothing (old quickstart files carry them).
const OBSOLETE_PREFIXES: &[(&str, &str)] = &[
    (
        "internal.key.converter",
        "removed in Kafka 3.0: internal data is always JSON",
    ),
    (
        "internal.value.converter",
        "removed in Kafka 3.0: internal data is always JSON",
    ),
];

const CONVERTER_SLOTS: &[&str] = &["key.converter", "value.converter", "header.converter"];

fn problem(entry: &Entry, message: impl Into<String>) -> Problem {
    Problem {
        location: entry.location.clone(),
        pipeline: None,
        key: Some(entry.path.clone()),
        message: message.into(),
    }
}

fn setting(entry: &Entry, key: &str, value: String) -> (String, Setting) {
    (
        key.to_owned(),
        Setting {
            value,
            location: entry.location.clone(),
        },
    )
}

fn millis(entry: &Entry, value: &str, problems: &mut Vec<Problem>) -> Option<Duration> {
    match value.trim().parse::<u64>() {
        Ok(ms) => Some(Duration::from_millis(ms)),
        Err(_) => {
            problems.push(problem(
                entry,
                format!("expected a whole number of milliseconds, found {value:?}"),
            ));
            None
        }
    }
}

/// Reads the worker's keys. `entries` are the keys as written (after config providers resolved them).
pub(crate) fn build(
    entries: &[Entry],
    providers: ConfigProviders,
    mode: WorkerMode<'_>,
) -> (WorkerConfig, Vec<Problem>) {
    let mut config = WorkerConfig::default();
    let mut distributed_keys = DistributedKeys::default();
    let distributed = matches!(mode, WorkerMode::Distributed { .. });
    let mut rest_keys = RestServerKeys::default();
    let mut problems = Vec::new();
    let (mut rest_host, mut rest_port, mut advertised_host, mut advertised_port) =
        (None, None, None, None);
    // The worker's own security.protocol (its Kafka clients'), known before its ssl.* keys are placed; a value
    // the clients cannot read counts as TLS, so they get the keys and report the value.
    let clients_protocol = entries
        .iter()
        .rfind(|e| e.key == "security.protocol")
        .and_then(|e| e.value.as_config_string())
        .map_or(Some(SecurityProtocol::Plaintext), |v| {
            SecurityProtocol::parse(v.trim())
        });
    let clients_use_tls = clients_protocol.is_none_or(SecurityProtocol::uses_tls);
    let clients_protocol = clients_protocol.unwrap_or_default();
    for entry in entries {
        let key = entry.key.as_str();
        if key.starts_with("config.providers") {
            continue;
        }
        // The REST server's keys are read once, here: connectors created later are built from `entries`
        // again, and must not read the keystore or the credentials anew. A bare ssl.* key the Kafka clients
        // take stays for them as well, unless they do not use TLS: then it is the REST server's alone (as
        // Kafka Connect's https listeners fall back to the bare ssl.* keys), and a client given it would refuse
        // it as a key with no effect.
        let client_knows = client_accepts(ClientRole::Producer, key).is_ok()
            || client_accepts(ClientRole::Consumer, key).is_ok();
        let client_use = match (client_knows, key.starts_with("ssl.")) {
            (false, _) => ClientUse::Unknown,
            (true, true) if !clients_use_tls => ClientUse::NotUnder(clients_protocol),
            (true, _) => ClientUse::Takes,
        };
        if rest_keys.take(entry, client_use) && client_use != ClientUse::Takes {
            continue;
        }
        config.entries.push(entry.clone());
        let Some(value) = entry.value.as_config_string() else {
            problems.push(problem(
                entry,
                format!(
                    "expected a string, number or boolean, found {}",
                    entry.value.describe()
                ),
            ));
            continue;
        };
        if CONVERTER_SLOTS
            .iter()
            .any(|slot| key == *slot || key.strip_prefix(slot).is_some_and(|r| r.starts_with('.')))
        {
            config.converters.push(entry.clone());
            continue;
        }
        if (distributed || !is_client_key_too(key)) && distributed_keys.take(entry, &value) {
            continue;
        }
        if let Some((_, why)) = OBSOLETE_PREFIXES.iter().find(|(p, _)| key.starts_with(p)) {
            tracing::warn!(key, "worker key has no effect: {why}");
            continue;
        }
        let prefixed = [
            ("producer.", Some(ClientRole::Producer)),
            ("consumer.", Some(ClientRole::Consumer)),
            ("admin.", None),
        ]
        .into_iter()
        .find_map(|(prefix, role)| Some((prefix, role, key.strip_prefix(prefix)?)));
        if let Some((prefix, role, client_key)) = prefixed {
            let accepted = match role {
                Some(role) => client_accepts(role, client_key),
                None => admin_accepts(client_key),
            };
            match accepted {
                Ok(()) => {
                    let target = match role {
                        Some(ClientRole::Producer) => &mut config.producer,
                        Some(ClientRole::Consumer) => &mut config.consumer,
                        None => &mut config.admin,
                    };
                    let (k, s) = setting(entry, client_key, value);
                    target.0.insert(k, s);
                }
                Err(suggestion) => problems.push(problem(
                    entry,
                    format!(
                        "unknown key{}",
                        suggestion
                            .map(|s| format!(" (did you mean \"{prefix}{s}\"?)"))
                            .unwrap_or_default()
                    ),
                )),
            }
            continue;
        }
        match key {
            "offset.storage.file.filename" if distributed => problems.push(problem(
                entry,
                "a key of standalone mode: a distributed worker keeps source offsets in offset.storage.topic",
            )),
            "offset.storage.file.filename" => {
                if value.trim().is_empty() {
                    problems.push(problem(entry, "must name a file"));
                } else {
                    config.offset_file = Some(PathBuf::from(value));
                }
            }
            "offset.flush.interval.ms" => {
                config.offset_flush_interval = millis(entry, &value, &mut problems)
                    .filter(|d| !d.is_zero())
                    .or_else(|| {
                        if value.trim() == "0" {
                            problems.push(problem(entry, "must be at least 1"));
                        }
                        None
                    });
            }
            "task.shutdown.graceful.timeout.ms" => {
                config.task_shutdown_timeout = millis(entry, &value, &mut problems)
            }
            "rest.host.name" => rest_host = Some(value),
            "rest.port" => rest_port = Some((entry.clone(), value)),
            "rest.advertised.host.name" => advertised_host = Some(value),
            "rest.advertised.port" => advertised_port = Some((entry.clone(), value)),
            "plugin.path" => config.plugin_path = Some(value),
            "topic.tracking.enable" | "topic.tracking.allow.reset" => {
                let flag = match value.trim().to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        problems.push(problem(
                            entry,
                            format!("expected true or false, found {value:?}"),
                        ));
                        true
                    }
                };
                if key == "topic.tracking.enable" {
                    config.topic_tracking.enabled = flag;
                } else {
                    config.topic_tracking.allow_reset = flag;
                }
            }
            "connector.client.config.override.policy" => {
                config.override_policy = match value.trim().to_ascii_lowercase().as_str() {
                    "none" => OverridePolicy::None,
                    "principal" => OverridePolicy::Principal,
                    "all" => OverridePolicy::All,
                    _ => {
                        problems.push(problem(
                            entry,
                            format!("expected None, Principal or All, found {value:?}"),
                        ));
                        OverridePolicy::All
                    }
                }
            }
            _ => {
                let producer = client_accepts(ClientRole::Producer, key);
                let consumer = client_accepts(ClientRole::Consumer, key);
                if producer.is_ok() || consumer.is_ok() {
                    let (k, s) = setting(entry, key, value);
                    config.client.0.insert(k, s);
                    continue;
                }
                let known: Vec<&str> = WORKER_KEYS
                    .iter()
                    .chain(super::distributed::DISTRIBUTED_KEYS.iter().filter(|_| distributed))
                    .map(|(k, _)| *k)
                    .chain(CONVERTER_SLOTS.iter().copied())
                    .collect();
                let suggestion = did_you_mean(key, &known)
                    .or(producer.err().flatten())
                    .or(consumer.err().flatten());
                problems.push(problem(
                    entry,
                    format!(
                        "unknown key{}",
                        suggestion
                            .map(|s| format!(" (did you mean \"{s}\"?)"))
                            .unwrap_or_default()
                    ),
                ));
            }
        }
    }
    let port_of = |port: Option<(Entry, String)>, problems: &mut Vec<Problem>| -> Option<u16> {
        let (entry, value) = port?;
        match value.trim().parse::<u16>() {
            Ok(port) => Some(port),
            Err(_) => {
                problems.push(problem(
                    &entry,
                    format!("expected a port number, found {value:?}"),
                ));
                None
            }
        }
    };
    let rest_port = port_of(rest_port, &mut problems);
    let rest_host_port = (rest_host.is_some() || rest_port.is_some()).then(|| {
        RestListener::http(
            rest_host
                .as_deref()
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .unwrap_or(DEFAULT_REST_HOST),
            rest_port.unwrap_or(super::rest_server::DEFAULT_REST_PORT),
        )
    });
    config.rest = super::rest_server::build(rest_keys, rest_host_port, &mut problems);
    let advertised_port = port_of(advertised_port, &mut problems);
    if advertised_host.is_some() || advertised_port.is_some() {
        let first = config.rest.listeners.first();
        let listener_port = first.map_or(super::rest_server::DEFAULT_REST_PORT, |l| l.port);
        let host = advertised_host
            .unwrap_or_else(|| first.map_or_else(|| "localhost".to_owned(), |l| l.host.clone()));
        config.rest_advertised = Some(format!(
            "{host}:{}",
            advertised_port.unwrap_or(listener_port)
        ));
    }
    match mode {
        WorkerMode::Distributed { file } => {
            config.distributed = distributed_keys.build(file, &mut problems)
        }
        WorkerMode::Standalone => problems.extend(distributed_keys.standalone_problems()),
    }
    config.providers = providers;
    (config, problems)
}
