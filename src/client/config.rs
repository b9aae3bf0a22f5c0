//! Client settings under the names Java and librdkafka users already know (`bootstrap.servers`, `linger.ms`, …).
//!
//! Parsing takes `key=value` pairs, pulls out each key it knows, and reports whatever is left as an unknown key
//! with a "did you mean" suggestion. Values are checked here so a bad value is reported by key before anything
//! connects.

use std::collections::BTreeMap;
use std::time::Duration;

use super::sasl::{
    is_bearer_token, jaas, SaslConfig, SaslCredentials, SaslMechanism, Secret, TokenSource, HIDDEN,
};
use crate::protocol::compression::Compression;

use super::tls_config::{read_tls_config, shown_value, TlsConfig, TLS_KEYS};

pub use super::key_suggestion::closest;

/// A bad client setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown configuration key `{key}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownKey {
        key: String,
        suggestion: Option<String>,
    },
    #[error("invalid value `{value}` for `{key}`: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("`{key}` is required")]
    Missing { key: String },
    /// A key given that nothing reads under the other settings (an `ssl.*` key under PLAINTEXT).
    #[error("`{key}` has no effect: {reason}")]
    NoEffect { key: String, reason: String },
    #[error("`{key}`={value} conflicts with enable.idempotence=true: {reason}")]
    IdempotenceConflict {
        key: String,
        value: String,
        reason: String,
    },
}

/// Settings as given, before each typed config takes its keys.
#[derive(Clone, Default)]
pub struct ConfigMap {
    entries: BTreeMap<String, String>,
}

impl std::fmt::Debug for ConfigMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Passwords and tokens never reach a log line through a map printed whole.
        f.debug_map()
            .entries(self.entries.iter().map(|(key, value)| {
                let shown = if is_secret_client_key(key) {
                    HIDDEN
                } else {
                    value.as_str()
                };
                (key, shown)
            }))
            .finish()
    }
}

/// Spellings librdkafka accepts for keys that Java names differently.
const ALIASES: &[(&str, &str)] = &[
    ("metadata.broker.list", "bootstrap.servers"),
    ("queue.buffering.max.ms", "linger.ms"),
    ("compression.codec", "compression.type"),
    ("max.in.flight", "max.in.flight.requests.per.connection"),
    ("message.send.max.retries", "retries"),
    ("request.required.acks", "acks"),
    ("message.timeout.ms", "delivery.timeout.ms"),
    ("receive.message.max.bytes", "message.max.bytes"),
    ("sasl.mechanisms", "sasl.mechanism"),
];

/// The Java name of a client key: `key` itself, or the key a librdkafka alias of it stands for.
pub fn java_name(key: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key, |(_, java)| java)
}

impl ConfigMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut map = Self::new();
        for (k, v) in pairs {
            map.set(k, v);
        }
        map
    }

    /// Sets `key`, translating librdkafka aliases to the Java name.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let key = match java_name(&key) {
            java if java != key => java.to_owned(),
            _ => key,
        };
        self.entries.insert(key, value.into());
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }
}

/// Reads a [`ConfigMap`] key by key. A bad value is noted and its default used, so one pass over the map finds
/// every problem (validation reports them all at once) and the typed config is still built.
struct KeyReader {
    entries: BTreeMap<String, String>,
    problems: Vec<ConfigError>,
}

impl KeyReader {
    fn new(map: ConfigMap) -> Self {
        Self {
            entries: map.entries,
            problems: Vec::new(),
        }
    }

    fn take(&mut self, key: &str) -> Option<String> {
        self.entries.remove(key)
    }

    fn invalid(&mut self, key: &str, value: &str, reason: impl Into<String>) {
        self.problems.push(ConfigError::InvalidValue {
            key: key.into(),
            value: value.into(),
            reason: reason.into(),
        });
    }

    /// `key` read with `parse`, or `default` when it is absent or `parse` rejects it (noting why).
    fn read<T>(
        &mut self,
        key: &str,
        default: T,
        reason: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> T {
        match self.take(key) {
            None => default,
            Some(v) => parse(v.trim()).unwrap_or_else(|| {
                self.invalid(key, &v, reason);
                default
            }),
        }
    }

    /// Like [`Self::read`], for a key whose absence the caller tells from its presence.
    fn read_given<T>(
        &mut self,
        key: &str,
        reason: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let v = self.take(key)?;
        let parsed = parse(v.trim());
        if parsed.is_none() {
            self.invalid(key, &v, reason);
        }
        parsed
    }

    fn ms(&mut self, key: &str, default_ms: u64) -> Duration {
        Duration::from_millis(self.read(
            key,
            default_ms,
            "expected a whole number of milliseconds",
            |v| v.parse().ok(),
        ))
    }

    fn bytes(&mut self, key: &str, default: usize, min: usize) -> usize {
        let value = self.read(key, default, "expected a whole number of bytes", |v| {
            v.parse().ok()
        });
        if value < min {
            self.invalid(key, &value.to_string(), format!("must be at least {min}"));
            return default;
        }
        value
    }

    fn flag(&mut self, key: &str) -> Option<bool> {
        self.read_given(key, "expected true or false", |v| {
            match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(true),
                "false" | "0" | "no" => Some(false),
                _ => None,
            }
        })
    }

    fn common(&mut self) -> CommonConfig {
        let security_protocol = self.security_protocol();
        let bootstrap_servers = match self.take("bootstrap.servers") {
            None => {
                self.problems.push(ConfigError::Missing {
                    key: "bootstrap.servers".into(),
                });
                Vec::new()
            }
            Some(bootstrap) => self.bootstrap_servers(&bootstrap),
        };
        CommonConfig {
            bootstrap_servers,
            client_id: self
                .take("client.id")
                .unwrap_or_else(|| "pipewright".into()),
            request_timeout: self.ms("request.timeout.ms", 30_000),
            metadata_max_age: self.ms("metadata.max.age.ms", 300_000),
            retry_backoff: self.ms("retry.backoff.ms", 100),
            retry_backoff_max: self.ms("retry.backoff.max.ms", 1_000),
            max_frame_bytes: self.bytes(
                "message.max.bytes",
                crate::protocol::frame::DEFAULT_MAX_FRAME_BYTES,
                1024,
            ),
            socket_connection_setup_timeout: self.ms("socket.connection.setup.timeout.ms", 10_000),
            // The Java client's defaults.
            reconnect_backoff: self.ms("reconnect.backoff.ms", 50),
            reconnect_backoff_max: self.ms("reconnect.backoff.max.ms", 1_000),
            security_protocol,
            tls: self.tls(security_protocol),
            // The SASL keys are read as the protocol asked for says, so SASL_SSL's are checked too.
            sasl: self.sasl(security_protocol).map(std::sync::Arc::new),
        }
    }

    /// The `ssl.*` keys: taken whatever `security.protocol` says, so none is left unread; an error when they
    /// are given and `security.protocol` does not use TLS. (The Java client ignores them then; a key read and
    /// then ignored would hide the mistake of a protocol left at PLAINTEXT.)
    fn tls(&mut self, protocol: SecurityProtocol) -> Option<std::sync::Arc<TlsConfig>> {
        let given: BTreeMap<&'static str, String> = TLS_KEYS
            .iter()
            .filter_map(|key| Some((*key, self.take(key)?)))
            .collect();
        if !protocol.uses_tls() {
            let shown: Vec<(&str, String)> = given
                .iter()
                .map(|(key, value)| (*key, shown_value(key, value)))
                .collect();
            self.refuse_unused(protocol, SecurityLayer::Tls, &shown);
            return None;
        }
        let (tls, problems) = read_tls_config(&given);
        for problem in problems {
            self.invalid(problem.key, &problem.shown_value, problem.reason);
        }
        // Kept with its problems (the parts without any), as every bad value leaves its default: the config
        // layer still checks the files the good parts name.
        Some(std::sync::Arc::new(tls))
    }

    /// Notes each of `given` (key, value as it may be shown) as a key with no effect: `layer`'s keys given while
    /// `protocol` does not use it. Shared by the `ssl.*` and the `sasl.*` keys.
    fn refuse_unused(
        &mut self,
        protocol: SecurityProtocol,
        layer: SecurityLayer,
        given: &[(&str, String)],
    ) {
        let with_layer = layer.added_to(protocol);
        let or_both = if protocol == SecurityProtocol::Plaintext {
            " (or SASL_SSL)"
        } else {
            ""
        };
        // The value is not shown: it is not what is wrong.
        for (key, _) in given {
            self.problems.push(ConfigError::NoEffect {
                key: (*key).to_owned(),
                reason: format!(
                    "security.protocol={} does not use {}: set security.protocol={}{or_both}",
                    protocol.name(),
                    layer.name(),
                    with_layer.name()
                ),
            });
        }
    }

    /// The `sasl.*` keys: taken whatever `security.protocol` says, so none is left unread; an error when SASL
    /// is on without credentials, or when they are given and `security.protocol` would not use them.
    fn sasl(&mut self, protocol: SecurityProtocol) -> Option<SaslConfig> {
        let mechanism_text = self.take("sasl.mechanism");
        let username = self.take("sasl.username");
        let password = self.take("sasl.password").map(Secret::new);
        let jaas_text = self.take("sasl.jaas.config");
        let token = self.take("sasl.oauthbearer.token").map(Secret::new);
        let token_url = self.take("sasl.oauthbearer.token.endpoint.url");
        // Each key given, with its value as it may be shown.
        let given: Vec<(&str, String)> = [
            ("sasl.mechanism", mechanism_text.clone()),
            ("sasl.username", username.clone()),
            (
                "sasl.password",
                password.as_ref().map(|_| HIDDEN.to_owned()),
            ),
            (
                "sasl.jaas.config",
                jaas_text.as_ref().map(|_| HIDDEN.to_owned()),
            ),
            (
                "sasl.oauthbearer.token",
                token.as_ref().map(|_| HIDDEN.to_owned()),
            ),
            ("sasl.oauthbearer.token.endpoint.url", token_url.clone()),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|v| (key, v)))
        .collect();
        let given_keys: Vec<&str> = given.iter().map(|(key, _)| *key).collect();
        if !protocol.uses_sasl() {
            self.refuse_unused(protocol, SecurityLayer::Sasl, &given);
            return None;
        }
        let Some(mechanism_text) = mechanism_text else {
            // Java's and librdkafka's default, GSSAPI (Kerberos), is not implemented: say what is.
            self.invalid(
                "sasl.mechanism",
                "GSSAPI (the default)",
                format!(
                    "Kerberos is not supported; set sasl.mechanism to {}",
                    SaslMechanism::NAMES
                ),
            );
            return None;
        };
        let Some(mechanism) = SaslMechanism::parse(&mechanism_text) else {
            self.invalid(
                "sasl.mechanism",
                &mechanism_text,
                format!("expected {}", SaslMechanism::NAMES),
            );
            return None;
        };
        let jaas = match jaas_text.as_deref().map(jaas::parse) {
            None => None,
            Some(Ok(jaas)) => Some(jaas),
            Some(Err(error)) => {
                self.invalid("sasl.jaas.config", HIDDEN, error.to_string());
                return None;
            }
        };
        let credentials = if mechanism.takes_password() {
            self.password_credentials(mechanism, username, password, jaas, &given_keys)?
        } else {
            self.token_credentials(username, password, jaas, token, token_url)?
        };
        Some(SaslConfig {
            mechanism,
            credentials,
        })
    }

    fn password_credentials(
        &mut self,
        mechanism: SaslMechanism,
        username: Option<String>,
        password: Option<Secret>,
        jaas: Option<jaas::JaasConfig>,
        given: &[&str],
    ) -> Option<SaslCredentials> {
        if let Some(key) = given.iter().find(|k| k.starts_with("sasl.oauthbearer.")) {
            self.invalid(
                key,
                HIDDEN,
                format!(
                    "only OAUTHBEARER takes a token; sasl.mechanism is {}",
                    mechanism.name()
                ),
            );
            return None;
        }
        let expected_module = if mechanism == SaslMechanism::Plain {
            PLAIN_LOGIN_MODULE
        } else {
            SCRAM_LOGIN_MODULE
        };
        match (jaas, username, password) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                self.invalid(
                    "sasl.jaas.config",
                    HIDDEN,
                    "give the credentials once: either sasl.jaas.config or sasl.username/sasl.password",
                );
                None
            }
            (Some(mut jaas), None, None) => {
                if jaas.login_module != expected_module {
                    self.invalid(
                        "sasl.jaas.config",
                        HIDDEN,
                        format!(
                            "sasl.mechanism={} takes {expected_module}, not {}",
                            mechanism.name(),
                            jaas.login_module
                        ),
                    );
                    return None;
                }
                let username = jaas.options.remove("username");
                let password = jaas.options.remove("password");
                if let Some(other) = jaas.options.keys().next() {
                    let reason = match other.as_str() {
                        "tokenauth" => "delegation tokens (tokenauth) are not supported".to_owned(),
                        other => format!(
                            "option `{other}` is not one this client uses (username, password)"
                        ),
                    };
                    self.invalid("sasl.jaas.config", HIDDEN, reason);
                    return None;
                }
                match (username, password) {
                    (Some(username), Some(password)) => Some(SaslCredentials::Password {
                        username,
                        password: Secret::new(password),
                    }),
                    (None, _) => {
                        self.invalid("sasl.jaas.config", HIDDEN, "option `username` is missing");
                        None
                    }
                    (_, None) => {
                        self.invalid("sasl.jaas.config", HIDDEN, "option `password` is missing");
                        None
                    }
                }
            }
            (None, Some(username), Some(password)) => {
                Some(SaslCredentials::Password { username, password })
            }
            (None, username, _) => {
                let missing = if username.is_none() {
                    "sasl.username"
                } else {
                    "sasl.password"
                };
                self.invalid(
                    "sasl.mechanism",
                    mechanism.name(),
                    format!(
                        "{} needs credentials: {missing} is missing (set sasl.username and sasl.password, or sasl.jaas.config)",
                        mechanism.name()
                    ),
                );
                None
            }
        }
    }

    fn token_credentials(
        &mut self,
        username: Option<String>,
        password: Option<Secret>,
        jaas: Option<jaas::JaasConfig>,
        token: Option<Secret>,
        token_url: Option<String>,
    ) -> Option<SaslCredentials> {
        if let Some(key) = [
            ("sasl.username", username.is_some()),
            ("sasl.password", password.is_some()),
        ]
        .into_iter()
        .find_map(|(key, set)| set.then_some(key))
        {
            self.invalid(
                key,
                HIDDEN,
                "OAUTHBEARER takes a token, not a user name and password: set sasl.oauthbearer.token or sasl.oauthbearer.token.endpoint.url=file:…",
            );
            return None;
        }
        if let Some(jaas) = jaas {
            if jaas.login_module != OAUTHBEARER_LOGIN_MODULE {
                self.invalid(
                    "sasl.jaas.config",
                    HIDDEN,
                    format!(
                        "sasl.mechanism=OAUTHBEARER takes {OAUTHBEARER_LOGIN_MODULE}, not {}",
                        jaas.login_module
                    ),
                );
                return None;
            }
            if let Some(option) = jaas.options.keys().next() {
                self.invalid(
                    "sasl.jaas.config",
                    HIDDEN,
                    format!(
                        "option `{option}` is not supported (unsecured or OIDC-fetched tokens are not): give the token in sasl.oauthbearer.token or sasl.oauthbearer.token.endpoint.url=file:…"
                    ),
                );
                return None;
            }
        }
        match (token, token_url) {
            (Some(_), Some(_)) => {
                self.invalid(
                    "sasl.oauthbearer.token",
                    HIDDEN,
                    "give one of sasl.oauthbearer.token and sasl.oauthbearer.token.endpoint.url",
                );
                None
            }
            (Some(token), None) => {
                if !is_bearer_token(token.expose().trim()) {
                    self.invalid(
                        "sasl.oauthbearer.token",
                        HIDDEN,
                        "not a bearer token (letters, digits and -._~+/ only, e.g. a JWT)",
                    );
                    return None;
                }
                Some(SaslCredentials::Token(TokenSource::Static(token)))
            }
            (None, Some(url)) => match url.strip_prefix("file://") {
                Some(path) if path.starts_with('/') => Some(SaslCredentials::Token(
                    TokenSource::File(std::path::PathBuf::from(path)),
                )),
                _ => {
                    self.invalid(
                        "sasl.oauthbearer.token.endpoint.url",
                        &url,
                        "expected file:///absolute/path/of/the/token (fetching tokens over HTTP is not supported)",
                    );
                    None
                }
            },
            (None, None) => {
                self.invalid(
                    "sasl.mechanism",
                    "OAUTHBEARER",
                    "OAUTHBEARER needs a token: set sasl.oauthbearer.token or sasl.oauthbearer.token.endpoint.url=file:…",
                );
                None
            }
        }
    }

    fn security_protocol(&mut self) -> SecurityProtocol {
        self.read(
            "security.protocol",
            SecurityProtocol::Plaintext,
            "expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
            SecurityProtocol::parse,
        )
    }

    fn bootstrap_servers(&mut self, bootstrap: &str) -> Vec<String> {
        let servers: Vec<String> = bootstrap
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if servers.is_empty() {
            self.invalid(
                "bootstrap.servers",
                bootstrap,
                "expected host:port[,host:port…]",
            );
        }
        let bad = servers.iter().find(|server| {
            !server
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        });
        if let Some(server) = bad.cloned() {
            self.invalid("bootstrap.servers", &server, "expected host:port");
        }
        // `user:password@host:port` would pass as a host; a scheme would make the host `PLAINTEXT://host`.
        if let Some(server) = servers.iter().find(|s| s.contains('@') || s.contains('/')) {
            let shown = if server.contains('@') {
                "(credentials hidden)".to_owned()
            } else {
                server.clone()
            };
            self.invalid(
                "bootstrap.servers",
                &shown,
                "expected host:port, without a scheme or credentials; credentials go in the SASL settings",
            );
        }
        servers
    }

    /// Every problem found, the keys nobody took last (each with the closest known key).
    fn finish(mut self, known: &[&str]) -> Vec<ConfigError> {
        let unknown = std::mem::take(&mut self.entries);
        self.problems
            .extend(unknown.into_keys().map(|key| ConfigError::UnknownKey {
                suggestion: closest(&key, known),
                key,
            }));
        self.problems
    }
}

/// The config, or the first of its problems (in the order the keys are read).
fn first_problem<T>(config: T, problems: Vec<ConfigError>) -> Result<T, ConfigError> {
    match problems.into_iter().next() {
        Some(problem) => Err(problem),
        None => Ok(config),
    }
}

const COMMON_KEYS: &[&str] = &[
    "bootstrap.servers",
    "client.id",
    "request.timeout.ms",
    "metadata.max.age.ms",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "message.max.bytes",
    "socket.connection.setup.timeout.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "security.protocol",
    "sasl.mechanism",
    "sasl.username",
    "sasl.password",
    "sasl.jaas.config",
    "sasl.oauthbearer.token",
    "sasl.oauthbearer.token.endpoint.url",
];

/// The login modules `sasl.jaas.config` may name, as the Java client's classes are called.
pub const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
pub const SCRAM_LOGIN_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";
pub const OAUTHBEARER_LOGIN_MODULE: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

/// Whether a client key's value is a secret: its value is never shown, in errors or anywhere else.
pub fn is_secret_client_key(key: &str) -> bool {
    matches!(
        key,
        "sasl.password" | "sasl.jaas.config" | "sasl.oauthbearer.token"
    )
}

/// Settings every client role shares.
#[derive(Debug, Clone, PartialEq)]
pub struct CommonConfig {
    pub bootstrap_servers: Vec<String>,
    pub client_id: String,
    pub request_timeout: Duration,
    pub metadata_max_age: Duration,
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    /// Largest response frame accepted; larger claims are errors, never allocations.
    pub max_frame_bytes: usize,
    pub socket_connection_setup_timeout: Duration,
    /// After a failed connection attempt to a broker, the wait before the next one; doubled after each further
    /// failure (with ±20 % jitter) up to `reconnect_backoff_max`.
    pub reconnect_backoff: Duration,
    pub reconnect_backoff_max: Duration,
    /// `security.protocol`: whether connections to brokers use TLS and/or SASL.
    pub security_protocol: SecurityProtocol,
    /// What TLS connections trust and present (`ssl.*`: which PEM text, read by the runtime as it connects);
    /// `Some` exactly when `security_protocol` uses TLS.
    pub tls: Option<std::sync::Arc<TlsConfig>>,
    /// The SASL mechanism and credentials, when `security_protocol` uses SASL.
    pub sasl: Option<std::sync::Arc<SaslConfig>>,
}

/// `security.protocol`, as Java and librdkafka name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    /// Parses the Java/librdkafka spelling, in any case.
    pub fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(Self::Plaintext),
            "SSL" => Some(Self::Ssl),
            "SASL_PLAINTEXT" => Some(Self::SaslPlaintext),
            "SASL_SSL" => Some(Self::SaslSsl),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether connections are wrapped in TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether connections authenticate with SASL after connecting (and after TLS, if any).
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// What `security.protocol` turns on besides plaintext: the `ssl.*` keys configure one, the `sasl.*` keys the
/// other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecurityLayer {
    Tls,
    Sasl,
}

impl SecurityLayer {
    fn name(self) -> &'static str {
        match self {
            Self::Tls => "TLS",
            Self::Sasl => "SASL",
        }
    }

    /// The protocol that uses this layer besides what `protocol` uses.
    fn added_to(self, protocol: SecurityProtocol) -> SecurityProtocol {
        use SecurityProtocol::*;
        match (self, protocol) {
            (Self::Tls, Plaintext | Ssl) => Ssl,
            (Self::Tls, SaslPlaintext | SaslSsl) => SaslSsl,
            (Self::Sasl, Plaintext | SaslPlaintext) => SaslPlaintext,
            (Self::Sasl, Ssl | SaslSsl) => SaslSsl,
        }
    }
}

/// `acks`: how many replicas must have a batch before the broker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    None,
    Leader,
    All,
}

impl Acks {
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProducerConfig {
    pub common: CommonConfig,
    pub acks: Acks,
    /// How long an open batch may wait for more records (`linger.ms`; 5 ms when not set).
    pub linger: Duration,
    /// Whether every batch waits out `linger` (`linger.ms` set: Java's behaviour), or only while an earlier
    /// batch of its partition is in flight (`linger.ms` not set: a partition with nothing in flight sends at
    /// once, so latency is one round trip at low rates and batches grow with the rate).
    pub linger_waits: bool,
    pub batch_size_bytes: usize,
    pub max_in_flight_per_connection: usize,
    pub delivery_timeout: Duration,
    /// How long records wait for a topic that metadata says does not exist (it may be being created) before
    /// they fail with that error (librdkafka's `topic.metadata.propagation.max.ms`), rather than after
    /// `delivery.timeout.ms`.
    pub topic_metadata_propagation_max: Duration,
    pub retries: u32,
    pub compression: Compression,
    pub enable_idempotence: bool,
    pub max_request_size_bytes: usize,
    /// Upper bound on bytes of records accepted but not yet acknowledged; `send` waits beyond it.
    pub buffer_memory_bytes: usize,
    pub partitioner_ignore_keys: bool,
    pub allow_auto_create_topics: bool,
    /// `transactional.id`: makes the producer transactional (and implies idempotence).
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`: how long the coordinator lets a transaction stay open before aborting it.
    pub transaction_timeout: Duration,
}

const PRODUCER_KEYS: &[&str] = &[
    "acks",
    "linger.ms",
    "batch.size",
    "max.in.flight.requests.per.connection",
    "delivery.timeout.ms",
    "topic.metadata.propagation.max.ms",
    "retries",
    "compression.type",
    "enable.idempotence",
    "max.request.size",
    "buffer.memory",
    "partitioner.ignore.keys",
    "allow.auto.create.topics",
    "transactional.id",
    "transaction.timeout.ms",
];

impl ProducerConfig {
    pub fn from_map(map: ConfigMap) -> Result<Self, ConfigError> {
        let (config, problems) = Self::read(map);
        first_problem(config, problems)
    }

    /// Every problem of `map`, found in one pass.
    pub fn problems(map: ConfigMap) -> Vec<ConfigError> {
        Self::read(map).1
    }

    /// The keys a producer takes (besides librdkafka's aliases of them).
    pub fn known_keys() -> Vec<&'static str> {
        [COMMON_KEYS, TLS_KEYS, PRODUCER_KEYS].concat()
    }

    /// The config (a bad value replaced by its default) and every problem of `map`, found in one pass.
    pub fn read(map: ConfigMap) -> (Self, Vec<ConfigError>) {
        let mut r = KeyReader::new(map);
        let common = r.common();
        let acks = r.read_given("acks", "expected all, -1, 1 or 0", |v| {
            match v.to_ascii_lowercase().as_str() {
                "all" | "-1" => Some(Acks::All),
                "1" => Some(Acks::Leader),
                "0" => Some(Acks::None),
                _ => None,
            }
        });
        let max_in_flight: Option<usize> = r.read_given(
            "max.in.flight.requests.per.connection",
            "expected a whole number ≥ 1",
            |v| v.parse().ok().filter(|n| *n >= 1),
        );
        let retries: Option<u32> = r.read_given("retries", "expected a whole number ≥ 0", |v| {
            v.parse().ok()
        });
        let transactional_id = r.take("transactional.id").filter(|id| !id.is_empty());
        let explicit_idempotence = match (r.flag("enable.idempotence"), &transactional_id) {
            (Some(false), Some(id)) => {
                r.invalid(
                    "enable.idempotence",
                    "false",
                    format!(
                        "transactional.id={id} needs idempotence: remove enable.idempotence=false"
                    ),
                );
                Some(true)
            }
            // A transactional producer is idempotent as if the user had asked for it: conflicts are errors.
            (None, Some(_)) => Some(true),
            (explicit, _) => explicit,
        };
        // As in the Java client (≥ 3.0): idempotence is on unless turned off, and silently off when another
        // setting the user chose rules it out; if the user asked for it explicitly, such a setting is an error.
        let conflicts: Vec<(&str, String, &str)> = [
            (
                acks.is_some_and(|a| a != Acks::All),
                "acks",
                acks.map(|a| a.as_i16().to_string()),
                "idempotence needs acks=all",
            ),
            (
                max_in_flight.is_some_and(|n| n > 5),
                "max.in.flight.requests.per.connection",
                max_in_flight.map(|n| n.to_string()),
                "idempotence keeps order with at most 5 requests in flight",
            ),
            (
                retries == Some(0),
                "retries",
                retries.map(|n| n.to_string()),
                "idempotence needs retries > 0",
            ),
        ]
        .into_iter()
        .filter(|(conflict, ..)| *conflict)
        .map(|(_, key, value, reason)| (key, value.unwrap_or_default(), reason))
        .collect();
        let enable_idempotence = match explicit_idempotence {
            Some(true) => {
                r.problems
                    .extend(conflicts.into_iter().map(|(key, value, reason)| {
                        ConfigError::IdempotenceConflict {
                            key: key.into(),
                            value,
                            reason: reason.into(),
                        }
                    }));
                true
            }
            Some(false) => false,
            None => conflicts.is_empty(),
        };
        let compression = match r.take("compression.type") {
            None => Compression::None,
            Some(v) => Compression::from_name(&v).unwrap_or_else(|e| {
                r.invalid("compression.type", &v, e.to_string());
                Compression::None
            }),
        };
        let transaction_timeout = r.read(
            "transaction.timeout.ms",
            60_000,
            "expected 1 ..= 2147483647 milliseconds",
            |v| {
                v.parse()
                    .ok()
                    .filter(|ms| (1..=i32::MAX as u64).contains(ms))
            },
        );
        let config = Self {
            common,
            acks: acks.unwrap_or(Acks::All),
            linger_waits: r.entries.contains_key("linger.ms"),
            linger: r.ms("linger.ms", 5),
            // librdkafka's default rather than Java's 16384, which caps a partition at one 16 KiB batch per
            // request at high rates; a batch only grows this large when records arrive faster than requests
            // return (see `linger_waits`), and its buffer starts at the size of the partition's last batch.
            batch_size_bytes: r.bytes("batch.size", 1_000_000, 1),
            max_in_flight_per_connection: max_in_flight.unwrap_or(5),
            delivery_timeout: r.ms("delivery.timeout.ms", 120_000),
            topic_metadata_propagation_max: r.ms("topic.metadata.propagation.max.ms", 30_000),
            retries: retries.unwrap_or(i32::MAX as u32),
            compression,
            enable_idempotence,
            max_request_size_bytes: r.bytes("max.request.size", 1_048_576, 1024),
            buffer_memory_bytes: r.bytes("buffer.memory", 33_554_432, 1024),
            partitioner_ignore_keys: r.flag("partitioner.ignore.keys").unwrap_or(false),
            allow_auto_create_topics: r.flag("allow.auto.create.topics").unwrap_or(true),
            transactional_id,
            transaction_timeout: Duration::from_millis(transaction_timeout),
        };
        let problems = r.finish(&Self::known_keys());
        (config, problems)
    }
}

/// `auto.offset.reset`: where to start when there is no valid position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoOffsetReset {
    Earliest,
    Latest,
    /// Fail with OFFSET_OUT_OF_RANGE instead of jumping.
    None,
}

/// `isolation.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationLevel {
    ReadUncommitted,
    ReadCommitted,
}

impl IsolationLevel {
    pub fn as_i8(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerConfig {
    pub common: CommonConfig,
    pub auto_offset_reset: AutoOffsetReset,
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes`: the most one Fetch response may bring, and the most fetched data the consumer holds
    /// before the application takes it (queued, plus what the fetches in flight may bring): it stops fetching
    /// there, so an application that stops taking records stops the fetching.
    pub fetch_max_bytes: i32,
    pub fetch_max_wait: Duration,
    /// `max.partition.fetch.bytes`: the most one partition may bring in one response (at least one batch);
    /// a partition is fetched again only once its records are taken.
    pub max_partition_fetch_bytes: i32,
    pub isolation_level: IsolationLevel,
    pub check_crcs: bool,
    pub allow_auto_create_topics: bool,
    pub group_id: Option<String>,
    /// The coordinator drops a member it has not heard from (heartbeats) for this long.
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// A member whose application has not polled for this long leaves the group; also the rebalance timeout.
    pub max_poll_interval: Duration,
    /// Static membership (KIP-345): a restart under the same id gets its partitions back without a rebalance.
    pub group_instance_id: Option<String>,
    /// Assignors in order of preference; their protocol names are those of the Java client and librdkafka.
    pub partition_assignment_strategy: Vec<AssignmentStrategy>,
    pub enable_auto_commit: bool,
    pub auto_commit_interval: Duration,
}

/// A partition assignor, named on the wire as the Java client and librdkafka name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignmentStrategy {
    Range,
    RoundRobin,
    CooperativeSticky,
}

impl AssignmentStrategy {
    /// The JoinGroup protocol name.
    pub fn protocol_name(self) -> &'static str {
        match self {
            AssignmentStrategy::Range => "range",
            AssignmentStrategy::RoundRobin => "roundrobin",
            AssignmentStrategy::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// Accepts the protocol names and the Java class names.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim() {
            "range" | "org.apache.kafka.clients.consumer.RangeAssignor" => Some(Self::Range),
            "roundrobin" | "org.apache.kafka.clients.consumer.RoundRobinAssignor" => {
                Some(Self::RoundRobin)
            }
            "cooperative-sticky"
            | "org.apache.kafka.clients.consumer.CooperativeStickyAssignor" => {
                Some(Self::CooperativeSticky)
            }
            _ => None,
        }
    }

    /// Whether members keep their partitions across a rebalance (KIP-429) instead of revoking all first.
    pub fn is_cooperative(self) -> bool {
        self == AssignmentStrategy::CooperativeSticky
    }
}

const CONSUMER_KEYS: &[&str] = &[
    "auto.offset.reset",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "fetch.max.wait.ms",
    "max.partition.fetch.bytes",
    "isolation.level",
    "check.crcs",
    "allow.auto.create.topics",
    "group.id",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "group.instance.id",
    "partition.assignment.strategy",
    "enable.auto.commit",
    "auto.commit.interval.ms",
];

impl ConsumerConfig {
    pub fn from_map(map: ConfigMap) -> Result<Self, ConfigError> {
        let (config, problems) = Self::read(map);
        first_problem(config, problems)
    }

    /// Every problem of `map`, found in one pass.
    pub fn problems(map: ConfigMap) -> Vec<ConfigError> {
        Self::read(map).1
    }

    /// The keys a consumer takes (besides librdkafka's aliases of them).
    pub fn known_keys() -> Vec<&'static str> {
        [COMMON_KEYS, TLS_KEYS, CONSUMER_KEYS].concat()
    }

    /// The config (a bad value replaced by its default) and every problem of `map`, found in one pass.
    pub fn read(map: ConfigMap) -> (Self, Vec<ConfigError>) {
        let mut r = KeyReader::new(map);
        let common = r.common();
        let auto_offset_reset = r.read(
            "auto.offset.reset",
            AutoOffsetReset::Latest,
            "expected earliest, latest or none",
            |v| match v.to_ascii_lowercase().as_str() {
                "earliest" | "smallest" | "beginning" => Some(AutoOffsetReset::Earliest),
                "latest" | "largest" | "end" => Some(AutoOffsetReset::Latest),
                "none" | "error" => Some(AutoOffsetReset::None),
                _ => None,
            },
        );
        let isolation_level = r.read(
            "isolation.level",
            IsolationLevel::ReadUncommitted,
            "expected read_uncommitted or read_committed",
            |v| match v.to_ascii_lowercase().as_str() {
                "read_uncommitted" => Some(IsolationLevel::ReadUncommitted),
                "read_committed" => Some(IsolationLevel::ReadCommitted),
                _ => None,
            },
        );
        // Sizes go on the wire as INT32.
        let int32_bytes = |r: &mut KeyReader, key: &str, default: i32, min: usize| -> i32 {
            let value = r.bytes(key, default as usize, min);
            i32::try_from(value).unwrap_or_else(|_| {
                r.invalid(
                    key,
                    &value.to_string(),
                    "must fit in a signed 32-bit number",
                );
                default
            })
        };
        let fetch_min_bytes = int32_bytes(&mut r, "fetch.min.bytes", 1, 0);
        let fetch_max_bytes = int32_bytes(&mut r, "fetch.max.bytes", 52_428_800, 1);
        let max_partition_fetch_bytes =
            int32_bytes(&mut r, "max.partition.fetch.bytes", 1_048_576, 1);
        let partition_assignment_strategy = r.read(
            "partition.assignment.strategy",
            vec![
                AssignmentStrategy::Range,
                AssignmentStrategy::CooperativeSticky,
            ],
            "expected a comma-separated list of range, roundrobin, cooperative-sticky",
            |v| {
                v.split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(AssignmentStrategy::from_name)
                    .collect::<Option<Vec<_>>>()
                    .filter(|list| !list.is_empty())
            },
        );
        let session_timeout = r.ms("session.timeout.ms", 45_000);
        let heartbeat_interval = r.ms("heartbeat.interval.ms", 3_000);
        if heartbeat_interval >= session_timeout {
            r.invalid(
                "heartbeat.interval.ms",
                &heartbeat_interval.as_millis().to_string(),
                "must be lower than session.timeout.ms (a third of it is usual)",
            );
        }
        let config = Self {
            session_timeout,
            heartbeat_interval,
            max_poll_interval: r.ms("max.poll.interval.ms", 300_000),
            group_instance_id: r.take("group.instance.id").filter(|s| !s.is_empty()),
            partition_assignment_strategy,
            enable_auto_commit: r.flag("enable.auto.commit").unwrap_or(true),
            auto_commit_interval: r.ms("auto.commit.interval.ms", 5_000),
            auto_offset_reset,
            fetch_min_bytes,
            fetch_max_bytes,
            fetch_max_wait: r.ms("fetch.max.wait.ms", 500),
            max_partition_fetch_bytes,
            isolation_level,
            check_crcs: r.flag("check.crcs").unwrap_or(true),
            allow_auto_create_topics: r.flag("allow.auto.create.topics").unwrap_or(false),
            group_id: r.take("group.id"),
            common,
        };
        let problems = r.finish(&Self::known_keys());
        (config, problems)
    }
}

/// Settings for one-off cluster requests (`engine metadata`, `engine topic create`).
pub fn admin_config(map: ConfigMap) -> Result<CommonConfig, ConfigError> {
    let mut r = KeyReader::new(map);
    let common = r.common();
    first_problem(common, r.finish(&admin_keys()))
}

/// The keys an admin client takes (besides librdkafka's aliases of them).
pub fn admin_keys() -> Vec<&'static str> {
    [COMMON_KEYS, TLS_KEYS].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn producer(pairs: &[(&str, &str)]) -> Result<ProducerConfig, ConfigError> {
        let mut map = ConfigMap::from_pairs([("bootstrap.servers", "127.0.0.1:9092")]);
        for (k, v) in pairs {
            map.set(*k, *v);
        }
        ProducerConfig::from_map(map)
    }

    #[test]
    fn defaults_follow_the_java_client() {
        let config = producer(&[]).unwrap();
        assert!(config.enable_idempotence);
        assert_eq!(config.acks, Acks::All);
        // librdkafka's batch.size, not Java's: batches only grow with the rate.
        assert_eq!(config.batch_size_bytes, 1_000_000);
        assert!(!config.linger_waits);
        assert_eq!(config.max_in_flight_per_connection, 5);
        assert_eq!(config.delivery_timeout, Duration::from_secs(120));
    }

    #[test]
    fn acks_1_turns_default_idempotence_off_but_conflicts_with_explicit() {
        assert!(!producer(&[("acks", "1")]).unwrap().enable_idempotence);
        let err = producer(&[("acks", "1"), ("enable.idempotence", "true")]).unwrap_err();
        assert!(
            matches!(err, ConfigError::IdempotenceConflict { ref key, .. } if key == "acks"),
            "{err}"
        );
    }

    #[test]
    fn transactional_id_implies_idempotence_and_rejects_turning_it_off() {
        let config = producer(&[("transactional.id", "tx-1")]).unwrap();
        assert!(config.enable_idempotence);
        assert_eq!(config.transactional_id.as_deref(), Some("tx-1"));
        assert_eq!(config.transaction_timeout, Duration::from_secs(60));
        let err = producer(&[
            ("transactional.id", "tx-1"),
            ("enable.idempotence", "false"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("transactional.id=tx-1"), "{err}");
        let err = producer(&[("transactional.id", "tx-1"), ("acks", "1")]).unwrap_err();
        assert!(
            matches!(err, ConfigError::IdempotenceConflict { ref key, .. } if key == "acks"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_suggests_the_closest() {
        let err = producer(&[("linger.sm", "5")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown configuration key `linger.sm` (did you mean `linger.ms`?)"
        );
    }

    /// The plain dynamic-programming edit distance, every cell computed: what the banded one must agree with.
    #[test]
    fn librdkafka_aliases_are_accepted() {
        let config = producer(&[
            ("queue.buffering.max.ms", "7"),
            ("compression.codec", "lz4"),
        ])
        .unwrap();
        assert_eq!(config.linger, Duration::from_millis(7));
        assert_eq!(config.compression, Compression::Lz4);
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = producer(&[("linger.ms", "soon")]).unwrap_err();
        assert!(err.to_string().contains("linger.ms"), "{err}");
        assert!(producer(&[("bootstrap.servers", "nohost")]).is_err());
        let err = ConsumerConfig::from_map(ConfigMap::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("auto.offset.reset", "sometimes"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("auto.offset.reset"));
    }

    #[test]
    fn one_pass_finds_every_problem() {
        let problems = ProducerConfig::problems(ConfigMap::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("linger.ms", "soon"),
            ("acks", "several"),
            ("enable.idempotence", "true"),
            ("max.in.flight", "9"),
            ("lingr.ms", "5"),
            ("colour", "blue"),
        ]));
        let keys: Vec<String> = problems
            .iter()
            .map(|p| match p {
                ConfigError::UnknownKey { key, .. }
                | ConfigError::InvalidValue { key, .. }
                | ConfigError::Missing { key }
                | ConfigError::NoEffect { key, .. }
                | ConfigError::IdempotenceConflict { key, .. } => key.clone(),
            })
            .collect();
        assert_eq!(
            keys,
            [
                "acks",
                "max.in.flight.requests.per.connection",
                "linger.ms",
                "colour",
                "lingr.ms"
            ],
            "{problems:?}"
        );
        let consumer = ConsumerConfig::problems(ConfigMap::from_pairs([
            ("fetch.max.bytes", "4294967296"),
            ("session.timeout.ms", "1000"),
            ("heartbeat.interval.ms", "3000"),
        ]));
        assert_eq!(consumer.len(), 3, "{consumer:?}");
        assert!(matches!(&consumer[0], ConfigError::Missing { key } if key == "bootstrap.servers"));
    }

    mod tls {
        use super::*;

        fn admin(pairs: &[(&str, &str)]) -> Result<CommonConfig, ConfigError> {
            let mut map = ConfigMap::from_pairs([("bootstrap.servers", "broker:9093")]);
            for (k, v) in pairs {
                map.set(*k, *v);
            }
            admin_config(map)
        }

        fn problem_keys(result: Result<CommonConfig, ConfigError>) -> String {
            match result {
                Ok(_) => "ok".into(),
                Err(e) => e.to_string(),
            }
        }

        /// Every problem of an admin config of `pairs`, as text.
        fn all_problems(pairs: &[(&str, &str)]) -> Vec<String> {
            let mut r = KeyReader::new(ConfigMap::from_pairs(
                [("bootstrap.servers", "broker:9093")]
                    .into_iter()
                    .chain(pairs.iter().copied()),
            ));
            r.common();
            r.finish(&admin_keys())
                .iter()
                .map(ToString::to_string)
                .collect()
        }

        #[test]
        fn ssl_keys_under_a_protocol_without_tls_are_errors_naming_each_key() {
            for (protocol, instead) in [
                (None, "set security.protocol=SSL (or SASL_SSL)"),
                (Some("PLAINTEXT"), "set security.protocol=SSL (or SASL_SSL)"),
                (Some("SASL_PLAINTEXT"), "set security.protocol=SASL_SSL"),
            ] {
                let mut pairs = vec![
                    ("ssl.ca.location", "/etc/ca.pem"),
                    ("ssl.key.password", "hunter2"),
                ];
                if protocol == Some("SASL_PLAINTEXT") {
                    pairs.extend([
                        ("security.protocol", "SASL_PLAINTEXT"),
                        ("sasl.mechanism", "PLAIN"),
                        ("sasl.username", "u"),
                        ("sasl.password", "p"),
                    ]);
                } else if let Some(protocol) = protocol {
                    pairs.push(("security.protocol", protocol));
                }
                let problems = all_problems(&pairs);
                let name = protocol.unwrap_or("PLAINTEXT");
                assert_eq!(problems.len(), 2, "{problems:?}");
                for key in ["ssl.ca.location", "ssl.key.password"] {
                    assert!(
                        problems.iter().any(|p| p.contains(&format!("`{key}`"))
                            && p.contains(&format!(
                                "`{key}` has no effect: security.protocol={name} does not use TLS"
                            ))
                            && p.contains(instead)),
                        "{key} under {name}: {problems:?}"
                    );
                }
                assert!(
                    !problems.iter().any(|p| p.contains("hunter2")),
                    "{problems:?}"
                );
            }
            // Still known keys (so no "unknown key" and no suggestion of another key).
            assert!(ProducerConfig::known_keys().contains(&"ssl.truststore.certificates"));
            assert!(ConsumerConfig::known_keys().contains(&"ssl.endpoint.identification.algorithm"));
        }

        #[test]
        fn ssl_names_the_pem_it_reads_and_reads_no_file() {
            use crate::client::tls_config::{PemSetting, PemSource};
            let config = admin(&[
                ("security.protocol", "ssl"),
                ("ssl.ca.location", "/nonexistent/ca"),
                ("ssl.certificate.location", "/nonexistent/client.pem"),
                ("ssl.key.location", "/nonexistent/client.key"),
                ("ssl.key.password", "s3cret"),
            ])
            .expect("paths are data here: the config layer and the runtime read them");
            let tls = config.tls.expect("TLS settings");
            assert_eq!(
                tls.roots,
                Some(PemSetting {
                    key: "ssl.ca.location",
                    source: PemSource::FileOrDirectory("/nonexistent/ca".into()),
                })
            );
            let identity = tls.identity.as_ref().expect("a client certificate");
            assert_eq!(
                identity.key.source,
                PemSource::File("/nonexistent/client.key".into())
            );
            assert_eq!(
                identity.password.as_ref().map(|p| p.expose()),
                Some("s3cret")
            );
            assert!(tls.verify_hostname);
            assert!(!format!("{tls:?}").contains("s3cret"), "{tls:?}");
            // Java's PEM keystore is the certificate and the key.
            let config = admin(&[
                ("security.protocol", "SSL"),
                ("ssl.keystore.type", "PEM"),
                ("ssl.keystore.location", "/k.pem"),
            ])
            .unwrap();
            let identity = config.tls.unwrap().identity.clone().unwrap();
            assert_eq!(identity.certificate, identity.key);
            // Java's inline PEM keys; the host name check off.
            let config = admin(&[
                ("security.protocol", "SSL"),
                ("ssl.truststore.type", "PEM"),
                ("ssl.truststore.certificates", "-----BEGIN CERTIFICATE-----"),
                ("ssl.endpoint.identification.algorithm", ""),
            ])
            .unwrap();
            let tls = config.tls.expect("TLS settings");
            assert!(!tls.verify_hostname && tls.identity.is_none());
            assert!(matches!(
                tls.roots.as_ref().map(|r| &r.source),
                Some(PemSource::Inline(_))
            ));
            // No CA given, or librdkafka's probe: the system's.
            for pairs in [vec![], vec![("ssl.ca.location", "probe")]] {
                let all = [vec![("security.protocol", "SSL")], pairs].concat();
                assert!(admin(&all).unwrap().tls.expect("TLS").roots.is_none());
            }
        }

        #[test]
        fn bad_tls_settings_name_their_key_and_hide_secrets() {
            for (pairs, key, words) in [
                (
                    vec![("ssl.truststore.type", "JKS")],
                    "ssl.truststore.type",
                    "only PEM",
                ),
                (
                    vec![("ssl.keystore.type", "PKCS12")],
                    "ssl.keystore.type",
                    "only PEM",
                ),
                (
                    vec![("ssl.keystore.password", "hunter2")],
                    "ssl.keystore.password",
                    "no store password",
                ),
                (
                    vec![
                        ("ssl.ca.location", "/a.pem"),
                        ("ssl.truststore.location", "/b.pem"),
                    ],
                    "ssl.truststore.location",
                    "conflicts with ssl.ca.location",
                ),
                (
                    vec![("ssl.certificate.location", "/c.pem")],
                    "ssl.certificate.location",
                    "needs its private key",
                ),
                (
                    vec![("ssl.key.pem", "-----BEGIN PRIVATE KEY-----")],
                    "ssl.key.pem",
                    "needs its certificate",
                ),
                (
                    vec![("ssl.endpoint.identification.algorithm", "dns")],
                    "ssl.endpoint.identification.algorithm",
                    "expected https",
                ),
                (
                    vec![("ssl.key.password", "hunter2")],
                    "ssl.key.password",
                    "no key to decrypt",
                ),
            ] {
                let mut all = vec![("security.protocol", "SSL")];
                all.extend(pairs);
                let err = problem_keys(admin(&all));
                assert!(
                    err.contains(&format!("`{key}`")) && err.contains(words),
                    "{key}: {err}"
                );
                assert!(!err.contains("hunter2"), "{err}");
            }
        }

        #[test]
        fn sasl_ssl_takes_both_the_tls_and_the_sasl_keys() {
            let config = admin(&[
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "SCRAM-SHA-256"),
                ("sasl.username", "alice"),
                ("sasl.password", "hunter2"),
            ])
            .unwrap();
            assert_eq!(config.security_protocol, SecurityProtocol::SaslSsl);
            assert!(config.tls.is_some() && config.sasl.is_some());
        }
    }

    fn sasl(pairs: &[(&str, &str)]) -> Result<Option<SaslConfig>, ConfigError> {
        let mut map = ConfigMap::from_pairs([("bootstrap.servers", "127.0.0.1:9092")]);
        for (k, v) in pairs {
            map.set(*k, *v);
        }
        admin_config(map).map(|c| c.sasl.map(|s| (*s).clone()))
    }

    #[test]
    fn sasl_credentials_come_from_librdkafka_keys_or_a_jaas_config() {
        let expected = SaslConfig {
            mechanism: SaslMechanism::ScramSha512,
            credentials: SaslCredentials::Password {
                username: "alice".into(),
                password: Secret::new("p\"w"),
            },
        };
        let librdkafka = sasl(&[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "alice"),
            ("sasl.password", "p\"w"),
        ]);
        assert_eq!(librdkafka, Ok(Some(expected.clone())));
        let java = sasl(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            (
                "sasl.jaas.config",
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required password="p\"w" username="alice";"#,
            ),
        ]);
        assert_eq!(java, Ok(Some(expected)));
        let token = sasl(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "OAUTHBEARER"),
            ("sasl.oauthbearer.token.endpoint.url", "file:///run/token"),
        ]);
        assert_eq!(
            token.unwrap().unwrap().credentials,
            SaslCredentials::Token(TokenSource::File("/run/token".into()))
        );
        assert_eq!(sasl(&[]), Ok(None));
        let map = ConfigMap::from_pairs([("sasl.password", "hunter2"), ("sasl.username", "u")]);
        assert_eq!(
            format!("{map:?}"),
            r#"{"sasl.password": "[hidden]", "sasl.username": "u"}"#
        );
    }

    #[test]
    fn sasl_mistakes_name_the_key_and_never_show_a_secret() {
        let secret = "hunter2";
        let jaas_plain = format!(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="{secret}";"#
        );
        // (settings, the key blamed, what the reason says)
        type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
        let cases: Vec<Case> = vec![
            (
                vec![("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "PLAIN"), ("sasl.username", "u")],
                "sasl.mechanism",
                "sasl.password is missing",
            ),
            (
                vec![("security.protocol", "SASL_PLAINTEXT"), ("sasl.username", "u"), ("sasl.password", secret)],
                "sasl.mechanism",
                "Kerberos is not supported",
            ),
            (
                vec![("sasl.mechanism", "PLAIN"), ("sasl.password", secret)],
                "sasl.mechanism",
                "does not use SASL",
            ),
            (
                vec![("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "SCRAM-SHA-256"), ("sasl.jaas.config", &jaas_plain)],
                "sasl.jaas.config",
                "takes org.apache.kafka.common.security.scram.ScramLoginModule",
            ),
            (
                vec![
                    ("security.protocol", "SASL_PLAINTEXT"),
                    ("sasl.mechanism", "PLAIN"),
                    ("sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"hunter2;"),
                ],
                "sasl.jaas.config",
                "never closed",
            ),
            (
                vec![("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "OAUTHBEARER"), ("sasl.oauthbearer.token", "hunter2 x")],
                "sasl.oauthbearer.token",
                "not a bearer token",
            ),
            (
                vec![("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "OAUTHBEARER")],
                "sasl.mechanism",
                "needs a token",
            ),
        ];
        for (pairs, key, reason) in cases {
            let error = sasl(&pairs).unwrap_err();
            let text = error.to_string();
            assert!(
                matches!(&error, ConfigError::InvalidValue { key: k, .. } | ConfigError::NoEffect { key: k, .. } if k == key),
                "{pairs:?}: {text}"
            );
            assert!(text.contains(reason), "{pairs:?}: {text}");
            assert!(!text.contains(secret), "{text}");
        }
    }
}
