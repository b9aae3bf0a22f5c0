//! The `http` sink's keys.

use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType};

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
