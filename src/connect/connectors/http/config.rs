//! The `http` sink's keys, its registry entry, and its typed config.

use std::time::Duration;

use base64::prelude::{Engine as _, BASE64_STANDARD};

use super::client::Endpoint;
use crate::connect::component::{Capabilities, ComponentInfo, ComponentKind};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigProblem, ConfigType, ParsedConfig};

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::required(
        "url",
        ConfigType::String,
        "Endpoint the batches are POSTed to: http://host[:port]/path (no TLS)",
    ),
    ConfigKey::optional(
        "batch.max.records",
        ConfigType::Int,
        Some("500"),
        "Most records in one request",
    ),
    ConfigKey::optional(
        "batch.max.bytes",
        ConfigType::Int,
        Some("1048576"),
        "Most bytes in one request body (a single larger record is sent alone)",
    ),
    ConfigKey::optional(
        "headers",
        ConfigType::List,
        None,
        "Extra request headers, comma-separated `Name:Value` pairs (Content-Type defaults to application/json)",
    ),
    ConfigKey::optional(
        "auth.type",
        ConfigType::String,
        Some("NONE"),
        "NONE, or BASIC: each request carries `Authorization: Basic` with connection.user and \
         connection.password (as Confluent's HTTP sink names them)",
    ),
    ConfigKey::optional(
        "connection.user",
        ConfigType::String,
        None,
        "The user of auth.type=BASIC",
    ),
    ConfigKey::optional(
        "connection.password",
        ConfigType::Password,
        None,
        "The password of auth.type=BASIC (shown as [hidden] by the REST API and validate)",
    ),
    ConfigKey::optional(
        "retry.max",
        ConfigType::Int,
        Some("10"),
        "Retries of a request after a 5xx, 408, 429, timeout or connection error before the sink reports a \
         retriable error",
    ),
    ConfigKey::optional(
        "retry.backoff.ms",
        ConfigType::Long,
        Some("100"),
        "Wait before the first retry; doubles with each retry up to retry.backoff.max.ms",
    ),
    ConfigKey::optional(
        "retry.backoff.max.ms",
        ConfigType::Long,
        Some("10000"),
        "Longest wait between retries",
    ),
    ConfigKey::optional(
        "request.timeout.ms",
        ConfigType::Long,
        Some("30000"),
        "Time allowed for one request: connect, send and read the response",
    ),
]);

pub const SINK: ComponentInfo = ComponentInfo {
    kind: ComponentKind::Sink,
    name: "http",
    aliases: &[],
    config: CONFIG,
    capabilities: Capabilities::NONE,
    doc:
        "Batched JSON POST (an array of record values) with retries and capped exponential backoff",
};

/// Where an HTTP sink task posts, in what batches, and how it retries.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpSinkConfig {
    pub endpoint: Endpoint,
    /// Extra request headers, in order (with `Authorization` from auth.type=BASIC).
    pub headers: Vec<(String, String)>,
    /// Most records in one request (at least 1).
    pub max_records: usize,
    /// Most bytes in one request body (at least 2, for `[]`).
    pub max_bytes: usize,
    pub retry_max: u32,
    /// Wait before the first retry.
    pub backoff: Duration,
    /// Longest wait between retries (never below `backoff`).
    pub backoff_max: Duration,
    /// Time allowed for one request.
    pub request_timeout: Duration,
}

/// Shows everything but credentials: the value of an `Authorization` header is `[hidden]`.
impl std::fmt::Debug for HttpSinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let shown = if name.eq_ignore_ascii_case("authorization") {
                    crate::config::HIDDEN
                } else {
                    value.as_str()
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("HttpSinkConfig")
            .field("endpoint", &self.endpoint)
            .field("headers", &headers)
            .field("max_records", &self.max_records)
            .field("max_bytes", &self.max_bytes)
            .field("retry_max", &self.retry_max)
            .field("backoff", &self.backoff)
            .field("backoff_max", &self.backoff_max)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// Headers the sink sets itself.
const RESERVED_HEADERS: &[&str] = &["host", "content-length", "connection", "transfer-encoding"];

/// Checks one `Name:Value` entry of `headers`.
fn header(entry: &str) -> Result<(String, String), String> {
    let Some((name, value)) = entry.split_once(':') else {
        return Err(format!("header `{entry}` is not `Name:Value`"));
    };
    let (name, value) = (name.trim(), value.trim());
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !name_ok || value.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(format!("header `{entry}` has an invalid name or value"));
    }
    if RESERVED_HEADERS
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
    {
        return Err(format!(
            "header `{name}` is set by the sink itself; remove it"
        ));
    }
    Ok((name.to_owned(), value.to_owned()))
}

impl HttpSinkConfig {
    /// Checks the URL and headers; the sink connects only when its first batch is sent.
    pub fn new(config: &ParsedConfig) -> Result<Self, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(ConfigProblem {
                key: key.to_owned(),
                message,
            })
        };
        let endpoint = match config.get("url") {
            None => {
                problem("url", "required (http://host:port/path)".into());
                None
            }
            Some(url) => Endpoint::parse(url).map_err(|e| problem("url", e)).ok(),
        };
        let mut headers = Vec::new();
        for entry in config.list("headers") {
            match header(&entry) {
                Ok(header) => headers.push(header),
                Err(message) => problem("headers", message),
            }
        }
        match config.get("auth.type").unwrap_or("NONE") {
            auth if auth.eq_ignore_ascii_case("NONE") => {
                for key in ["connection.user", "connection.password"] {
                    if config.get(key).is_some() {
                        problem(
                            key,
                            "is used only with auth.type=BASIC; set it or remove this key".into(),
                        );
                    }
                }
            }
            auth if auth.eq_ignore_ascii_case("BASIC") => {
                match (
                    config.get("connection.user"),
                    config.get("connection.password"),
                ) {
                    (Some(user), password) if !user.contains(':') => {
                        if headers
                            .iter()
                            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                        {
                            problem(
                                "headers",
                                "sets Authorization, which auth.type=BASIC sets too; remove one"
                                    .into(),
                            );
                        }
                        let credentials = format!("{user}:{}", password.unwrap_or_default());
                        headers.push((
                            "Authorization".to_owned(),
                            format!("Basic {}", BASE64_STANDARD.encode(credentials)),
                        ));
                    }
                    (Some(_), _) => problem(
                        "connection.user",
                        "must not contain `:` (HTTP basic authentication splits at the first one)"
                            .into(),
                    ),
                    (None, _) => problem("connection.user", "required with auth.type=BASIC".into()),
                }
            }
            other => problem("auth.type", format!("must be NONE or BASIC, not `{other}`")),
        }
        // Not negative; a key that is not a number was refused by validation and takes its default here.
        let mut not_negative = |key: &str, default: i64| {
            let value = config.int(key).unwrap_or(default);
            if value < 0 {
                problem(key, format!("must not be negative, not {value}"));
                return default;
            }
            value
        };
        let max_records = not_negative("batch.max.records", 500).max(1) as usize;
        let max_bytes = not_negative("batch.max.bytes", 1 << 20).max(2) as usize;
        let retry_max = u32::try_from(not_negative("retry.max", 10)).unwrap_or(u32::MAX);
        let backoff = Duration::from_millis(not_negative("retry.backoff.ms", 100) as u64);
        let backoff_max =
            Duration::from_millis(not_negative("retry.backoff.max.ms", 10_000) as u64);
        let request_timeout =
            Duration::from_millis(not_negative("request.timeout.ms", 30_000).max(1) as u64);
        match endpoint {
            Some(endpoint) if problems.is_empty() => Ok(Self {
                endpoint,
                headers,
                max_records,
                max_bytes,
                retry_max,
                backoff,
                backoff_max: backoff_max.max(backoff),
                request_timeout,
            }),
            _ => Err(problems),
        }
    }
}
