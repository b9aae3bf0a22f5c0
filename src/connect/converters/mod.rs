//! Converters between a record's bytes and Connect data (Kafka Connect's `Converter`): `json`, `string`,
//! `bytearray`, and `avro` (Confluent's AvroConverter, with a Schema Registry).
//!
//! A converter is built once per task and owns its scratch buffers, so converting a record allocates nothing
//! it can avoid. Dispatch is a `match` on the `Converter` enum, not a `dyn` call. Must not know about topics'
//! storage or the Kafka wire format beyond the bytes of one key or value.

pub mod avro;
pub mod bytearray;
pub mod json;
pub mod string;

use super::component::{Capabilities, ComponentInfo, ComponentKind};
use super::config_def::ParsedConfig;
use super::data::{SchemaAndValue, SchemaRef, Value};
use bytes::{Bytes, BytesMut};

pub use avro::AvroConverter;
pub use bytearray::ByteArrayConverter;
pub use json::JsonConverter;
pub use string::StringConverter;

/// What went wrong converting one key or value. Each variant says where and what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    #[error("invalid JSON at byte {offset}: {reason}")]
    InvalidJson { offset: usize, reason: String },
    #[error(
        "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not contain \
         additional fields; if you are trying to deserialize plain JSON data, set schemas.enable=false in \
         your converter configuration"
    )]
    NotAnEnvelope,
    #[error("invalid schema at `{path}`: {message}")]
    InvalidSchema { path: String, message: String },
    #[error("at `{path}`: expected {expected}, found {found}")]
    TypeMismatch {
        path: String,
        expected: String,
        found: String,
    },
    #[error("at `{path}`: null value for a required {ty} field with no default")]
    NullForRequired { path: String, ty: &'static str },
    #[error("{converter}: {message}")]
    Unsupported {
        converter: &'static str,
        message: String,
    },
    #[error("invalid Avro data at byte {offset}: {reason}")]
    InvalidAvro { offset: usize, reason: String },
    #[error("{0}")]
    Registry(avro::RegistryError),
    /// A system the converter needs (a schema registry) did not answer: retrying may succeed, and the engine
    /// retries for `errors.retry.timeout` before `errors.tolerance` decides.
    #[error("{converter}: {message}")]
    Unavailable {
        converter: &'static str,
        message: String,
    },
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl ConvertError {
    /// Whether trying the same conversion again may succeed (Kafka's `RetriableException`).
    pub fn is_retriable(&self) -> bool {
        matches!(self, ConvertError::Unavailable { .. })
    }
}

/// A problem building a converter from its config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConverterBuildError {
    #[error("unknown converter `{name}` (known: json, string, bytearray, avro, or their Kafka Connect class names)")]
    Unknown { name: String },
    #[error("`{name}` converts header values only: set it as header.converter")]
    HeaderOnly { name: String },
    #[error("converter `{converter}`, key `{key}`: {message}")]
    InvalidConfig {
        converter: &'static str,
        key: &'static str,
        message: String,
    },
}

/// Every converter, statically dispatched.
#[derive(Debug, Clone)]
pub enum Converter {
    Json(JsonConverter),
    String(StringConverter),
    ByteArray(ByteArrayConverter),
    Avro(AvroConverter),
}

impl Converter {
    /// Builds the converter `name` (short name or Kafka Connect class name) from its parsed config (keys as in
    /// `json::KEYS` etc., without the `value.converter.` prefix). `is_key` says whether it converts keys.
    pub fn build(
        name: &str,
        config: &ParsedConfig,
        is_key: bool,
    ) -> Result<Converter, ConverterBuildError> {
        match canonical_name(name) {
            Some("json") => Ok(Converter::Json(JsonConverter::from_config(config, is_key)?)),
            Some("string") => Ok(Converter::String(StringConverter::from_config(config)?)),
            Some("bytearray") => Ok(Converter::ByteArray(ByteArrayConverter)),
            Some("avro") => Ok(Converter::Avro(AvroConverter::from_config(config, is_key)?)),
            Some("simple") => Err(ConverterBuildError::HeaderOnly {
                name: name.to_owned(),
            }),
            _ => Err(ConverterBuildError::Unknown {
                name: name.to_owned(),
            }),
        }
    }

    /// Bytes (`None` = null) → Connect data.
    pub fn to_connect(
        &mut self,
        topic: &str,
        bytes: Option<&Bytes>,
    ) -> Result<SchemaAndValue, ConvertError> {
        match self {
            Converter::Json(c) => c.to_connect(bytes),
            Converter::String(c) => c.to_connect(bytes),
            Converter::ByteArray(c) => Ok(c.to_connect(bytes)),
            Converter::Avro(c) => c.to_connect(topic, bytes),
        }
    }

    /// Connect data → bytes appended to `out`. Returns `false` when the result is null (nothing written).
    pub fn write_connect(
        &mut self,
        topic: &str,
        schema: Option<&SchemaRef>,
        value: &Value,
        out: &mut BytesMut,
    ) -> Result<bool, ConvertError> {
        match self {
            Converter::Json(c) => c.write_connect(schema, value, out),
            Converter::String(c) => c.write_connect(value, out),
            Converter::ByteArray(c) => c.write_connect(schema, value, out),
            Converter::Avro(c) => c.write_connect(topic, schema, value, out),
        }
    }

    /// Whether `bytes`, converted to Connect data and back by this converter, come out exactly as they are, so
    /// they may be written without decoding them (the zero-copy path). True for `bytearray`, and for `string`
    /// where the bytes are valid in its encoding; never for `json`, which writes its own spacing and number
    /// forms, nor for `avro`, whose schema id is the output subject's.
    pub fn passes_through(&self, bytes: &[u8]) -> bool {
        match self {
            Converter::ByteArray(_) => true,
            Converter::String(c) => c.passes_through(bytes),
            Converter::Json(_) | Converter::Avro(_) => false,
        }
    }

    /// Connect data → bytes (`None` = null).
    pub fn from_connect(
        &mut self,
        topic: &str,
        schema: Option<&SchemaRef>,
        value: &Value,
    ) -> Result<Option<Bytes>, ConvertError> {
        let mut out = BytesMut::new();
        let written = self.write_connect(topic, schema, value, &mut out)?;
        Ok(written.then(|| out.freeze()))
    }
}

/// Kafka's `SimpleHeaderConverter`, which pipewright applies where no other `header.converter` is set.
pub mod simple_header {
    use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType};

    pub const CONFIG: ConfigDef = ConfigDef::new(&[ConfigKey::optional(
        "converter.type",
        ConfigType::String,
        None,
        "Whether this converter converts keys, values or headers (set by the engine)",
    )
    .one_of(&["header"])]);
}

/// The short name of converter `name` given by short name or Kafka Connect class name.
pub fn canonical_name(name: &str) -> Option<&'static str> {
    COMPONENTS
        .iter()
        .find(|c| c.name == name || c.aliases.contains(&name))
        .map(|c| c.name)
}

/// The converters, for the registry.
pub static COMPONENTS: &[ComponentInfo] = &[
    ComponentInfo {
        kind: ComponentKind::Converter,
        name: "json",
        aliases: &["org.apache.kafka.connect.json.JsonConverter", "JsonConverter"],
        config: json::CONFIG,
        capabilities: Capabilities::NONE,
        doc: "JSON, with Kafka Connect's {\"schema\":…,\"payload\":…} envelope when schemas.enable is true",
    },
    ComponentInfo {
        kind: ComponentKind::Converter,
        name: "string",
        aliases: &[
            "org.apache.kafka.connect.storage.StringConverter",
            "StringConverter",
        ],
        config: string::CONFIG,
        capabilities: Capabilities::NONE,
        doc: "Text in the configured encoding, as an optional string",
    },
    ComponentInfo {
        kind: ComponentKind::Converter,
        name: "simple",
        aliases: &[
            "org.apache.kafka.connect.storage.SimpleHeaderConverter",
            "SimpleHeaderConverter",
        ],
        config: simple_header::CONFIG,
        capabilities: Capabilities::NONE,
        doc: "Header values only (the default header.converter): strings as UTF-8, bytes as they are, other values as text",
    },
    ComponentInfo {
        kind: ComponentKind::Converter,
        name: "bytearray",
        aliases: &[
            "org.apache.kafka.connect.converters.ByteArrayConverter",
            "ByteArrayConverter",
        ],
        config: bytearray::CONFIG,
        capabilities: Capabilities::NONE,
        doc: "Bytes passed through unchanged, as optional bytes",
    },
    ComponentInfo {
        kind: ComponentKind::Converter,
        name: "avro",
        aliases: &["io.confluent.connect.avro.AvroConverter", "AvroConverter"],
        config: avro::CONFIG,
        capabilities: Capabilities::NONE,
        doc: "Avro in Confluent's wire format (magic byte, schema id), schemas in a Schema Registry",
    },
];
