//! The `elasticsearch` sink's keys (Confluent's `ElasticsearchSinkConnectorConfig` names and defaults), its
//! registry entry, and its typed config.

use std::time::Duration;

use base64::prelude::{Engine as _, BASE64_STANDARD};

use super::client::Endpoint;
use super::tls::TlsSettings;
use crate::connect::component::{Capabilities, ComponentInfo, ComponentKind};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigProblem, ConfigType, ParsedConfig};

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::required(
        "connection.url",
        ConfigType::List,
        "Elasticsearch or OpenSearch URLs, comma-separated (http://host:9200 or https://host:9200, not both \
         kinds); on a connection failure the next one is tried",
    ),
    ConfigKey::optional(
        "elastic.security.protocol",
        ConfigType::String,
        Some("PLAINTEXT"),
        "SSL: https with the elastic.https.ssl.* keys (every URL https://); PLAINTEXT: those keys do not apply, \
         and https:// URLs are checked against the system's CA certificates",
    )
    .one_of(&["PLAINTEXT", "SSL"]),
    ConfigKey::optional(
        "elastic.https.ssl.truststore.location",
        ConfigType::String,
        None,
        "With SSL: a PEM file of the CA certificates the cluster's certificate must chain to (default: the \
         system's)",
    ),
    ConfigKey::optional(
        "elastic.https.ssl.truststore.type",
        ConfigType::String,
        Some("PEM"),
        "The truststore's format: PEM only",
    )
    .one_of(&["PEM"]),
    ConfigKey::optional(
        "elastic.https.ssl.keystore.location",
        ConfigType::String,
        None,
        "With SSL: a PEM file of the certificate chain and unencrypted private key shown to the cluster (mutual \
         TLS)",
    ),
    ConfigKey::optional(
        "elastic.https.ssl.keystore.type",
        ConfigType::String,
        Some("PEM"),
        "The keystore's format: PEM only",
    )
    .one_of(&["PEM"]),
    ConfigKey::optional(
        "connection.username",
        ConfigType::String,
        None,
        "User for HTTP basic authentication; sent only when connection.password is set too",
    ),
    ConfigKey::optional(
        "connection.password",
        ConfigType::Password,
        None,
        "Password for HTTP basic authentication (shown as [hidden] by the REST API and validate)",
    ),
    ConfigKey::optional(
        "key.ignore",
        ConfigType::Boolean,
        Some("false"),
        "true: the document id is topic+partition+offset; false: the record key as text (a string or integer \
         key), with the Kafka offset as external version",
    ),
    ConfigKey::optional(
        "schema.ignore",
        ConfigType::Boolean,
        Some("false"),
        "false: before the first write to an index that does not exist, create it with a mapping derived from \
         the value's schema (a value without schema is refused); true: let the cluster map the documents",
    ),
    ConfigKey::optional(
        "write.method",
        ConfigType::String,
        Some("insert"),
        "insert: index (replace) the document; upsert: update it with doc_as_upsert",
    )
    .one_of(&["insert", "upsert"]),
    ConfigKey::optional(
        "behavior.on.null.values",
        ConfigType::String,
        Some("fail"),
        "What a record with a null value (a tombstone) does: ignore it, delete the document with its id, or fail",
    )
    .one_of(&["ignore", "delete", "fail"]),
    ConfigKey::optional(
        "behavior.on.malformed.documents",
        ConfigType::String,
        Some("fail"),
        "A document the cluster refuses as malformed (mapper_parsing_exception, …): ignore it, log a warning and \
         skip it, or fail the record (dead-lettered with errors.tolerance=all)",
    )
    .one_of(&["ignore", "warn", "fail"]),
    ConfigKey::optional(
        "batch.size",
        ConfigType::Int,
        Some("2000"),
        "Most records in one bulk request",
    ),
    ConfigKey::optional(
        "max.in.flight.requests",
        ConfigType::Int,
        Some("5"),
        "Most bulk requests awaiting their reply at once",
    ),
    ConfigKey::optional(
        "max.buffered.records",
        ConfigType::Int,
        Some("20000"),
        "Most records converted and in flight at once; a larger put is written in windows of this many",
    ),
    ConfigKey::optional(
        "max.retries",
        ConfigType::Int,
        Some("5"),
        "Retries of a bulk request (connection failure, timeout, 429, 5xx) or of its items refused with 429 or \
         5xx, before the task fails and is restarted",
    ),
    ConfigKey::optional(
        "retry.backoff.ms",
        ConfigType::Long,
        Some("100"),
        "Wait before the first retry; retry n waits a random time below retry.backoff.ms × 2^n",
    ),
    ConfigKey::optional(
        "flush.timeout.ms",
        ConfigType::Long,
        Some("180000"),
        "Longest wait for the bulk requests of one put (retries included) before the task fails",
    ),
    ConfigKey::optional(
        "connection.timeout.ms",
        ConfigType::Int,
        Some("1000"),
        "Longest wait to establish a connection",
    ),
    ConfigKey::optional(
        "read.timeout.ms",
        ConfigType::Int,
        Some("3000"),
        "Longest wait for a response once a request is sent",
    ),
]);

pub const SINK: ComponentInfo = ComponentInfo {
    kind: ComponentKind::Sink,
    name: "elasticsearch",
    aliases: &[
        "ElasticsearchSinkConnector",
        "io.confluent.connect.elasticsearch.ElasticsearchSinkConnector",
    ],
    config: CONFIG,
    capabilities: Capabilities::NONE,
    doc: "Bulk indexing into Elasticsearch or OpenSearch, read back per item: retriable items retried, \
          malformed documents rejected, nothing acknowledged before its items succeeded",
};

/// What a tombstone does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullValues {
    Ignore,
    Delete,
    Fail,
}

/// What a document the cluster refuses as malformed does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedDocuments {
    Ignore,
    Warn,
    Fail,
}

/// How a document is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMethod {
    Insert,
    Upsert,
}

/// A checked `elasticsearch` sink config.
#[derive(Clone, PartialEq, Eq)]
pub struct ElasticsearchSinkConfig {
    /// In the order given; the sink moves to the next one on a connection failure.
    pub endpoints: Vec<Endpoint>,
    /// https: where trust and client keys come from (`None`: every URL is http://).
    pub tls: Option<TlsSettings>,
    /// `Basic …`, from connection.username and connection.password.
    pub authorization: Option<String>,
    pub key_ignore: bool,
    pub schema_ignore: bool,
    pub write_method: WriteMethod,
    pub null_values: NullValues,
    pub malformed: MalformedDocuments,
    pub batch_size: usize,
    pub max_in_flight: usize,
    pub max_buffered: usize,
    pub max_retries: u32,
    pub retry_backoff: Duration,
    pub flush_timeout: Duration,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

/// Shows everything but the credentials.
impl std::fmt::Debug for ElasticsearchSinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElasticsearchSinkConfig")
            .field("endpoints", &self.endpoints)
            .field("tls", &self.tls)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| crate::config::HIDDEN),
            )
            .field("key_ignore", &self.key_ignore)
            .field("schema_ignore", &self.schema_ignore)
            .field("write_method", &self.write_method)
            .field("null_values", &self.null_values)
            .field("malformed", &self.malformed)
            .field("batch_size", &self.batch_size)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_buffered", &self.max_buffered)
            .field("max_retries", &self.max_retries)
            .field("retry_backoff", &self.retry_backoff)
            .field("flush_timeout", &self.flush_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

impl ElasticsearchSinkConfig {
    /// Checks the URLs and numbers; the sink connects only when its first request is sent.
    pub fn new(config: &ParsedConfig) -> Result<Self, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(ConfigProblem {
                key: key.to_owned(),
                message,
            })
        };
        let mut endpoints = Vec::new();
        let mut bad_url = false;
        for url in config.list("connection.url") {
            match Endpoint::parse(&url) {
                Ok(endpoint) => endpoints.push(endpoint),
                Err(e) => {
                    bad_url = true;
                    problem("connection.url", e)
                }
            }
        }
        if endpoints.is_empty() && !bad_url {
            problem(
                "connection.url",
                "required: one or more http://host:9200 URLs".into(),
            );
        }
        let https = endpoints.iter().filter(|e| e.tls).count();
        if https > 0 && https < endpoints.len() {
            problem(
                "connection.url",
                "mixes http:// and https:// URLs; give the cluster's URLs all in one scheme".into(),
            );
        }
        let ssl = config.get("elastic.security.protocol") == Some("SSL");
        let location = |key: &str| config.get(key).map(std::path::PathBuf::from);
        let settings = TlsSettings {
            truststore: location("elastic.https.ssl.truststore.location"),
            keystore: location("elastic.https.ssl.keystore.location"),
        };
        if ssl && https < endpoints.len() {
            problem(
                "elastic.security.protocol",
                "SSL needs https:// URLs in connection.url".into(),
            );
        }
        if !ssl {
            for (key, set) in [
                (
                    "elastic.https.ssl.truststore.location",
                    &settings.truststore,
                ),
                ("elastic.https.ssl.keystore.location", &settings.keystore),
            ] {
                if set.is_some() {
                    problem(
                        key,
                        "applies only with elastic.security.protocol=SSL".into(),
                    );
                }
            }
        }
        let tls = (https > 0).then_some(settings);
        // Confluent authenticates only when both are set; a user without a password is most likely a mistake.
        let authorization = match (
            config.get("connection.username"),
            config.get("connection.password"),
        ) {
            (Some(user), Some(password)) if !user.contains(':') => Some(format!(
                "Basic {}",
                BASE64_STANDARD.encode(format!("{user}:{password}"))
            )),
            (Some(_), Some(_)) => {
                problem(
                    "connection.username",
                    "must not contain `:` (HTTP basic authentication splits at the first one)"
                        .into(),
                );
                None
            }
            (Some(_), None) => {
                problem(
                    "connection.password",
                    "required with connection.username (no authentication is sent without both)"
                        .into(),
                );
                None
            }
            (None, Some(_)) => {
                problem(
                    "connection.username",
                    "required with connection.password (no authentication is sent without both)"
                        .into(),
                );
                None
            }
            (None, None) => None,
        };
        let lower =
            |key: &str, default: &str| config.get(key).unwrap_or(default).to_ascii_lowercase();
        let write_method = match lower("write.method", "insert").as_str() {
            "upsert" => WriteMethod::Upsert,
            _ => WriteMethod::Insert,
        };
        let null_values = match lower("behavior.on.null.values", "fail").as_str() {
            "ignore" => NullValues::Ignore,
            "delete" => NullValues::Delete,
            _ => NullValues::Fail,
        };
        let malformed = match lower("behavior.on.malformed.documents", "fail").as_str() {
            "ignore" => MalformedDocuments::Ignore,
            "warn" => MalformedDocuments::Warn,
            _ => MalformedDocuments::Fail,
        };
        // A key that is not a number was refused by validation and takes its default here.
        let mut at_least = |key: &str, default: i64, min: i64| {
            let value = config.int(key).unwrap_or(default);
            if value < min {
                problem(key, format!("must be at least {min}, not {value}"));
                return default;
            }
            value
        };
        let batch_size = at_least("batch.size", 2000, 1) as usize;
        let max_in_flight = at_least("max.in.flight.requests", 5, 1) as usize;
        let max_buffered = at_least("max.buffered.records", 20_000, 1) as usize;
        let max_retries = u32::try_from(at_least("max.retries", 5, 0)).unwrap_or(u32::MAX);
        let retry_backoff = Duration::from_millis(at_least("retry.backoff.ms", 100, 0) as u64);
        let flush_timeout = Duration::from_millis(at_least("flush.timeout.ms", 180_000, 1) as u64);
        let connect_timeout =
            Duration::from_millis(at_least("connection.timeout.ms", 1000, 1) as u64);
        let read_timeout = Duration::from_millis(at_least("read.timeout.ms", 3000, 1) as u64);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            endpoints,
            tls,
            authorization,
            key_ignore: config.boolean("key.ignore").unwrap_or(false),
            schema_ignore: config.boolean("schema.ignore").unwrap_or(false),
            write_method,
            null_values,
            malformed,
            batch_size,
            max_in_flight,
            max_buffered,
            max_retries,
            retry_backoff,
            flush_timeout,
            connect_timeout,
            read_timeout,
        })
    }
}
