//! The Kafka client settings of a pipeline: `[kafka]` + profile presets + the Kafka source/sink's client keys +
//! `producer.override.*` / `consumer.override.*`, resolved in that order (later wins), each remembering where it
//! came from, and checked by the clients' own readers (`ProducerConfig::read`, `ConsumerConfig::read`) in one pass,
//! with the PEM files their `ssl.*` keys name.

use crate::client::config::{
    admin_keys, closest, java_name, CommonConfig, ConfigError, ConfigMap, ConsumerConfig,
    ProducerConfig,
};
use crate::runtime::tls::load_tls;

use super::problem::Location;
use super::Profile;

/// Which client a setting is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRole {
    Producer,
    Consumer,
}

impl ClientRole {
    pub(crate) fn override_prefix(self) -> &'static str {
        match self {
            ClientRole::Producer => "producer.override.",
            ClientRole::Consumer => "consumer.override.",
        }
    }

    /// Every problem the `role` client finds in `map`, in one pass, and those of the PEM files its `ssl.*`
    /// keys name.
    fn problems(self, map: ConfigMap) -> Vec<ConfigError> {
        let (common, mut problems) = match self {
            ClientRole::Producer => {
                let (config, problems) = ProducerConfig::read(map);
                (config.common, problems)
            }
            ClientRole::Consumer => {
                let (config, problems) = ConsumerConfig::read(map);
                (config.common, problems)
            }
        };
        problems.extend(tls_file_problems(&common));
        problems
    }

    fn known_keys(self) -> Vec<&'static str> {
        match self {
            ClientRole::Producer => ProducerConfig::known_keys(),
            ClientRole::Consumer => ConsumerConfig::known_keys(),
        }
    }
}

/// The problems of the PEM files `common`'s `ssl.*` keys name, read now so that a missing file, one without
/// certificates or a key that does not fit is reported at its key before anything connects. The runtime reads
/// them again when it connects (`runtime::tls::load_tls`, the one reader of both).
pub fn tls_file_problems(common: &CommonConfig) -> Vec<ConfigError> {
    let Some(tls) = &common.tls else {
        return Vec::new();
    };
    match load_tls(tls) {
        Ok(_) => Vec::new(),
        Err(problems) => problems
            .into_iter()
            .map(|problem| ConfigError::InvalidValue {
                key: problem.key.into(),
                value: problem.shown_value,
                reason: problem.reason,
            })
            .collect(),
    }
}

/// [`tls_file_problems`]' first problem, for settings given on a command line (`-X`).
pub fn check_tls_files(common: &CommonConfig) -> Result<(), ConfigError> {
    match tls_file_problems(common).into_iter().next() {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

/// A placeholder broker list for checking maps whose own list is missing (the engine's default applies).
const PROBE_BOOTSTRAP: &str = "localhost:9092";

/// Whether `key` (its Java name or a librdkafka alias) is one of `known`; if not, the closest known key, if any.
fn accepts(known: &[&str], key: &str) -> Result<(), Option<String>> {
    if known.contains(&java_name(key)) {
        Ok(())
    } else {
        Err(closest(key, known))
    }
}

/// Whether the `role` client knows `key` (under its Java name or a librdkafka alias); if not, the closest key
/// it knows, if any.
pub(crate) fn client_accepts(role: ClientRole, key: &str) -> Result<(), Option<String>> {
    accepts(&role.known_keys(), key)
}

/// Whether a client key's value is a secret, never to be shown: passwords, JAAS configs (which hold them),
/// inline private keys, credentials of the form `user:password`.
pub(crate) fn is_secret_key(key: &str) -> bool {
    key.ends_with("password")
        || key.ends_with(".jaas.config")
        || key.ends_with("user.info")
        || key == "ssl.key.pem"
        || key == "ssl.keystore.key"
        || key == "sasl.oauthbearer.config"
        || key.ends_with("sasl.oauthbearer.token")
        || crate::client::config::is_secret_client_key(key)
}

/// Whether the admin client knows `key`; if not, the closest key it knows, if any.
pub(crate) fn admin_accepts(key: &str) -> Result<(), Option<String>> {
    accepts(&admin_keys(), key)
}

/// Whether `a` and `b` name the same client setting (equal, or one a librdkafka alias of the other).
pub(crate) fn same_key(a: &str, b: &str) -> bool {
    java_name(a) == java_name(b)
}

fn error_key(error: &ConfigError) -> &str {
    match error {
        ConfigError::UnknownKey { key, .. }
        | ConfigError::InvalidValue { key, .. }
        | ConfigError::Missing { key }
        | ConfigError::NoEffect { key, .. }
        | ConfigError::IdempotenceConflict { key, .. } => key,
    }
}

/// Where a resolved client setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The engine's default (`bootstrap.servers=localhost:9092`, like a Kafka Connect worker).
    Default,
    /// The `[kafka]` table (or a Kafka Connect config's worker keys).
    Kafka(Location),
    /// The pipeline's `profile`.
    Profile(Profile, Location),
    /// What the pipeline's `delivery` needs (exactly-once: idempotence, read_committed).
    Delivery(Location),
    /// A key of the pipeline's Kafka source or sink (`group.id`, …).
    Component(Location),
    /// `producer.override.*` / `consumer.override.*`.
    Override(Location),
}

impl Origin {
    pub fn location(&self) -> Option<&Location> {
        match self {
            Origin::Default => None,
            Origin::Kafka(l)
            | Origin::Profile(_, l)
            | Origin::Delivery(l)
            | Origin::Component(l)
            | Origin::Override(l) => Some(l),
        }
    }
}

/// One resolved client setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSetting {
    /// The key under the client's name (`linger.ms`).
    pub key: String,
    pub value: String,
    /// The key as written (`producer.override.linger.ms`), for messages.
    pub path: String,
    pub origin: Origin,
}

/// The resolved settings of one client of one pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSettings {
    settings: Vec<ClientSetting>,
}

impl ClientSettings {
    /// Sets a key, replacing any earlier setting of the same key (or an alias of it).
    pub(crate) fn set(&mut self, setting: ClientSetting) {
        self.settings.retain(|s| !same_key(&s.key, &setting.key));
        self.settings.push(setting);
    }

    /// The value of `key` (Java name or alias).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.setting(key).map(|s| s.value.as_str())
    }

    pub fn setting(&self, key: &str) -> Option<&ClientSetting> {
        self.settings.iter().find(|s| same_key(&s.key, key))
    }

    pub fn iter(&self) -> impl Iterator<Item = &ClientSetting> {
        self.settings.iter()
    }

    /// The settings as the client takes them.
    pub fn config_map(&self) -> ConfigMap {
        ConfigMap::from_pairs(
            self.settings
                .iter()
                .map(|s| (s.key.clone(), s.value.clone())),
        )
    }

    /// Every problem the `role` client finds, each with the setting it blames (`None` when no setting is to
    /// blame, e.g. a missing key): the client reads the map once, key by key, noting each problem.
    pub(crate) fn problems(&self, role: ClientRole) -> Vec<(ConfigError, Option<ClientSetting>)> {
        let mut map = self.config_map();
        if map.get("bootstrap.servers").is_none() {
            map.set("bootstrap.servers", PROBE_BOOTSTRAP);
        }
        role.problems(map)
            .into_iter()
            .map(|error| {
                let key = error_key(&error);
                let blamed = self
                    .settings
                    .iter()
                    .rfind(|s| same_key(&s.key, key))
                    .cloned();
                (error, blamed)
            })
            .collect()
    }
}

/// What a profile sets; every key can still be set explicitly.
pub(crate) fn presets(
    profile: Profile,
    role: ClientRole,
) -> &'static [(&'static str, &'static str)] {
    match (profile, role) {
        (Profile::Latency, ClientRole::Producer) => &[
            ("linger.ms", "0"),
            ("batch.size", "16384"),
            ("max.in.flight.requests.per.connection", "5"),
        ],
        (Profile::Latency, ClientRole::Consumer) => {
            &[("fetch.min.bytes", "1"), ("fetch.max.wait.ms", "10")]
        }
        (Profile::Throughput, ClientRole::Producer) => &[
            ("linger.ms", "20"),
            ("batch.size", "1048576"),
            ("compression.type", "lz4"),
            ("max.in.flight.requests.per.connection", "5"),
        ],
        (Profile::Throughput, ClientRole::Consumer) => &[
            ("fetch.min.bytes", "65536"),
            ("fetch.max.wait.ms", "100"),
            ("max.partition.fetch.bytes", "4194304"),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probing_tells_producer_keys_from_consumer_keys() {
        assert!(client_accepts(ClientRole::Producer, "linger.ms").is_ok());
        assert!(client_accepts(ClientRole::Producer, "queue.buffering.max.ms").is_ok());
        assert!(client_accepts(ClientRole::Consumer, "linger.ms").is_err());
        assert_eq!(
            client_accepts(ClientRole::Consumer, "fetch.min.byte"),
            Err(Some("fetch.min.bytes".into()))
        );
        assert!(same_key(
            "max.in.flight",
            "max.in.flight.requests.per.connection"
        ));
        assert!(!same_key("linger.ms", "batch.size"));
    }

    #[test]
    fn every_client_problem_is_found() {
        let mut settings = ClientSettings::default();
        for (key, value) in [
            ("linger.ms", "soon"),
            ("batch.size", "big"),
            ("acks", "all"),
        ] {
            settings.set(ClientSetting {
                key: key.into(),
                value: value.into(),
                path: key.into(),
                origin: Origin::Default,
            });
        }
        let problems = settings.problems(ClientRole::Producer);
        let keys: Vec<&str> = problems
            .iter()
            .filter_map(|(_, s)| s.as_ref().map(|s| s.key.as_str()))
            .collect();
        assert_eq!(keys.len(), 2, "{problems:?}");
        assert!(keys.contains(&"linger.ms") && keys.contains(&"batch.size"));
    }
}
