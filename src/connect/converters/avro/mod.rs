//! `avro` (Confluent's `io.confluent.connect.avro.AvroConverter`): Connect data ↔ Avro in Confluent's wire
//! format (magic byte 0, the 4-byte big-endian schema id, Avro binary), with schemas kept in a Schema
//! Registry.
//!
//! Per record the converter does no I/O: Connect schemas are mapped to Avro (`mapping`) and registered once,
//! and schema ids seen on the way in are fetched and mapped once; both are cached. Only a cache miss calls the
//! registry (`registry`, blocking with a bounded timeout). The per-record codec is our own (`codec`), walking
//! the Avro and Connect schemas together; `apache-avro` parses and checks schemas and does schema resolution
//! when the writer's schema differs from the one we read or write with (`use.latest.version`). Schemaless data
//! travels as Confluent's `Anything` record, as AvroData writes and reads it (`codec::ANYTHING_SCHEMA`).

mod codec;
mod mapping;
mod node;
mod registry;

#[cfg(test)]
mod tests;

use super::{ConvertError, ConverterBuildError};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::{SchemaAndValue, SchemaRef, Value};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::Arc;

pub use codec::{AvroReader, AvroWriter, ANYTHING_SCHEMA};
pub use mapping::{
    from_connect as avro_schema_for, to_connect as connect_schema_for, MappingOptions,
};
pub use node::{parse as parse_schema, to_json as schema_json, AvroNode};
pub use registry::{Credentials, RegistryClient, RegistryError};

const TOPIC_NAME_STRATEGY: &str = "io.confluent.kafka.serializers.subject.TopicNameStrategy";
const RECORD_NAME_STRATEGY: &str = "io.confluent.kafka.serializers.subject.RecordNameStrategy";
const TOPIC_RECORD_NAME_STRATEGY: &str =
    "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy";
const STRATEGIES: &[&str] = &[
    TOPIC_NAME_STRATEGY,
    RECORD_NAME_STRATEGY,
    TOPIC_RECORD_NAME_STRATEGY,
    "TopicNameStrategy",
    "RecordNameStrategy",
    "TopicRecordNameStrategy",
];

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::required(
        "schema.registry.url",
        ConfigType::List,
        "Comma-separated Schema Registry URLs, tried in turn (user info in a URL is used with \
         basic.auth.credentials.source=URL)",
    ),
    ConfigKey::optional(
        "basic.auth.credentials.source",
        ConfigType::String,
        Some("URL"),
        "Where HTTP Basic credentials for the registry come from: URL (the user info of each URL, if any) or \
         USER_INFO (basic.auth.user.info)",
    )
    .one_of(&["URL", "USER_INFO"]),
    ConfigKey::optional(
        "basic.auth.user.info",
        ConfigType::Password,
        None,
        "`user:password` for the registry with basic.auth.credentials.source=USER_INFO (shown as [hidden])",
    ),
    ConfigKey::optional(
        "auto.register.schemas",
        ConfigType::Boolean,
        Some("true"),
        "Register the Avro schema of written data under its subject; false: it must be registered already",
    ),
    ConfigKey::optional(
        "use.latest.version",
        ConfigType::Boolean,
        Some("false"),
        "With auto.register.schemas=false, write with the subject's latest schema; on read, resolve every \
         record to the subject's latest schema",
    ),
    ConfigKey::optional(
        "key.subject.name.strategy",
        ConfigType::String,
        Some(TOPIC_NAME_STRATEGY),
        "Subject of key schemas: TopicNameStrategy (<topic>-key), RecordNameStrategy (<record name>) or \
         TopicRecordNameStrategy (<topic>-<record name>), by short or Confluent class name",
    )
    .one_of(STRATEGIES),
    ConfigKey::optional(
        "value.subject.name.strategy",
        ConfigType::String,
        Some(TOPIC_NAME_STRATEGY),
        "Subject of value schemas: TopicNameStrategy (<topic>-value), RecordNameStrategy or \
         TopicRecordNameStrategy, by short or Confluent class name",
    )
    .one_of(STRATEGIES),
    ConfigKey::optional(
        "enhanced.avro.schema.support",
        ConfigType::Boolean,
        Some("false"),
        "Keep Avro enums as enums when writing (Connect strings with io.confluent.connect.avro.Enum \
         parameters) and name union branches by full name",
    ),
    ConfigKey::optional(
        "connect.meta.data",
        ConfigType::Boolean,
        Some("true"),
        "Keep Connect's schema name, version, doc, parameters and defaults in connect.* Avro properties, and \
         read them back",
    ),
    ConfigKey::optional(
        "converter.type",
        ConfigType::String,
        None,
        "Whether this converter converts keys, values or headers (set by the engine)",
    )
    .one_of(&["key", "value", "header"]),
]);

/// How the subject of a schema is named (`key.subject.name.strategy` / `value.subject.name.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectNameStrategy {
    /// `<topic>-key` / `<topic>-value`.
    TopicName,
    /// The record's full name.
    RecordName,
    /// `<topic>-<record full name>`.
    TopicRecordName,
}

impl SubjectNameStrategy {
    fn parse(name: &str) -> Option<Self> {
        let short = name.rsplit('.').next().unwrap_or(name);
        match short {
            "TopicNameStrategy" => Some(Self::TopicName),
            "RecordNameStrategy" => Some(Self::RecordName),
            "TopicRecordNameStrategy" => Some(Self::TopicRecordName),
            _ => None,
        }
    }

    /// The subject for `topic` and a schema whose (record) name is `record_name`.
    pub fn subject(self, topic: &str, is_key: bool, record_name: &str) -> String {
        match self {
            Self::TopicName => format!("{topic}-{}", if is_key { "key" } else { "value" }),
            Self::RecordName => record_name.to_owned(),
            Self::TopicRecordName => format!("{topic}-{record_name}"),
        }
    }
}

/// The options of an Avro converter, as the keys in `CONFIG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvroOptions {
    pub auto_register: bool,
    pub use_latest_version: bool,
    pub strategy: SubjectNameStrategy,
    pub mapping: MappingOptions,
    pub is_key: bool,
}

/// What reading one schema id needs.
enum ReadPlan {
    /// Records of a schema that maps to Connect's.
    // Boxed: the plan sits behind an `Arc` anyway, and `Anything` holds nothing.
    Schema(Box<SchemaReadPlan>),
    /// Records of Confluent's `Anything` schema: schemaless Connect data.
    Anything,
}

/// The schema the bytes are decoded with and its Connect schema.
struct SchemaReadPlan {
    /// The schema decoded with: the writer's, or the reader's when resolving.
    node: AvroNode,
    connect: SchemaRef,
    /// Writer and reader schemas when records are resolved to another schema first.
    resolution: Option<Resolution>,
    /// The writer's schema and its Connect schema, to check a record before `apache-avro` reads it.
    writer_check: Option<(AvroNode, SchemaRef)>,
}

struct Resolution {
    writer: apache_avro::Schema,
    reader: apache_avro::Schema,
}

/// What writing schemaless values to one topic needs: where Confluent's `Anything` schema is registered.
struct SchemalessPlan {
    topic: String,
    id: i32,
    resolution: Option<Resolution>,
}

/// What writing one Connect schema to one topic needs.
struct WritePlan {
    schema: SchemaRef,
    topic: String,
    node: AvroNode,
    id: i32,
    /// Set when records are written with another (the subject's latest) schema.
    resolution: Option<Resolution>,
}

/// Distinct (schema, topic) pairs remembered for writing; more are rare (a schema per record would defeat
/// any cache), and the oldest is dropped.
const MAX_WRITE_PLANS: usize = 64;
/// Distinct schema ids remembered for reading.
const MAX_READ_PLANS: usize = 1024;

/// The Avro converter: options, its registry client and its schema caches.
pub struct AvroConverter {
    pub options: AvroOptions,
    client: RegistryClient,
    read_plans: HashMap<i32, Arc<ReadPlan>>,
    write_plans: Vec<Arc<WritePlan>>,
    schemaless_plans: Vec<Arc<SchemalessPlan>>,
    scratch: BytesMut,
}

/// A clone shares the options and the registry client and starts with empty caches (a converter cloned from
/// the one built during validation has converted nothing).
impl Clone for AvroConverter {
    fn clone(&self) -> Self {
        AvroConverter::new(self.options, self.client.clone())
    }
}

impl std::fmt::Debug for AvroConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvroConverter")
            .field("options", &self.options)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

fn config_error(key: &'static str, message: String) -> ConverterBuildError {
    ConverterBuildError::InvalidConfig {
        converter: "avro",
        key,
        message,
    }
}

/// A registry that could not be reached (after the client's own retries) may come back: the engine's
/// `errors.retry.timeout` retries those; the other answers (unknown id, 409, 401) will not change.
fn registry_error(error: RegistryError) -> ConvertError {
    if error.may_pass() {
        ConvertError::Unavailable {
            converter: "avro",
            message: error.to_string(),
        }
    } else {
        ConvertError::Registry(error)
    }
}

impl AvroConverter {
    pub fn new(options: AvroOptions, client: RegistryClient) -> Self {
        AvroConverter {
            options,
            client,
            read_plans: HashMap::new(),
            write_plans: Vec::new(),
            schemaless_plans: Vec::new(),
            scratch: BytesMut::new(),
        }
    }

    pub fn from_config(config: &ParsedConfig, is_key: bool) -> Result<Self, ConverterBuildError> {
        let urls = config.list("schema.registry.url");
        if urls.is_empty() {
            return Err(config_error(
                "schema.registry.url",
                "must list at least one URL".into(),
            ));
        }
        for url in &urls {
            if !url.starts_with("http://") {
                let message = if url.starts_with("https://") {
                    format!("`{url}`: https registries are not supported yet (TLS); use http://")
                } else {
                    format!("`{url}` is not an http:// URL")
                };
                return Err(config_error("schema.registry.url", message));
            }
        }
        let source = config
            .get("basic.auth.credentials.source")
            .unwrap_or("URL")
            .to_ascii_uppercase();
        let user_info = config.get("basic.auth.user.info").filter(|s| !s.is_empty());
        let credentials = match (source.as_str(), user_info) {
            ("USER_INFO", Some(info)) => {
                if !info.contains(':') {
                    return Err(config_error(
                        "basic.auth.user.info",
                        "must be `user:password`".into(),
                    ));
                }
                Credentials::UserInfo(info.to_owned())
            }
            ("USER_INFO", None) => {
                return Err(config_error(
                    "basic.auth.user.info",
                    "required with basic.auth.credentials.source=USER_INFO".into(),
                ))
            }
            ("URL", _) => Credentials::Url,
            (other, _) => {
                return Err(config_error(
                    "basic.auth.credentials.source",
                    format!("`{other}` is not URL or USER_INFO"),
                ))
            }
        };
        let strategy_key = if is_key {
            "key.subject.name.strategy"
        } else {
            "value.subject.name.strategy"
        };
        let strategy_name = config.get(strategy_key).unwrap_or(TOPIC_NAME_STRATEGY);
        let strategy = SubjectNameStrategy::parse(strategy_name).ok_or_else(|| {
            config_error(
                strategy_key,
                format!("`{strategy_name}` is not TopicNameStrategy, RecordNameStrategy or TopicRecordNameStrategy"),
            )
        })?;
        let options = AvroOptions {
            auto_register: config.boolean("auto.register.schemas").unwrap_or(true),
            use_latest_version: config.boolean("use.latest.version").unwrap_or(false),
            strategy,
            mapping: MappingOptions {
                connect_meta_data: config.boolean("connect.meta.data").unwrap_or(true),
                enhanced_schema_support: config
                    .boolean("enhanced.avro.schema.support")
                    .unwrap_or(false),
            },
            is_key,
        };
        Ok(AvroConverter::new(
            options,
            RegistryClient::new(&urls, &credentials),
        ))
    }

    fn subject(&self, topic: &str, node: &AvroNode) -> String {
        let record_name = node.full_name().unwrap_or_else(|| node.type_name());
        self.options
            .strategy
            .subject(topic, self.options.is_key, record_name)
    }

    /// Confluent wire bytes (`None` = null) → Connect data.
    pub fn to_connect(
        &mut self,
        topic: &str,
        bytes: Option<&Bytes>,
    ) -> Result<SchemaAndValue, ConvertError> {
        let Some(bytes) = bytes else {
            return Ok(SchemaAndValue::NULL);
        };
        if bytes.len() < 5 || bytes[0] != 0 {
            return Err(ConvertError::InvalidAvro {
                offset: 0,
                reason: format!(
                    "unknown magic byte{} (not Confluent's wire format: 0, a 4-byte schema id, Avro)",
                    bytes.first().map(|b| format!(" {b}")).unwrap_or_default()
                ),
            });
        }
        let id = i32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        let plan = match self.read_plans.get(&id) {
            Some(plan) => Arc::clone(plan),
            None => self.read_plan(topic, id)?,
        };
        let plan = match &*plan {
            ReadPlan::Schema(plan) => plan,
            ReadPlan::Anything => {
                let mut reader = AvroReader::new(bytes, 5);
                let value = reader.anything()?;
                check_consumed(&reader, bytes.len())?;
                return Ok(SchemaAndValue::schemaless(value));
            }
        };
        let value = match &plan.resolution {
            None => {
                let mut reader = AvroReader::new(bytes, 5);
                let value = reader.value(&plan.node, &plan.connect)?;
                check_consumed(&reader, bytes.len())?;
                value
            }
            Some(resolution) => {
                // Our own decoder checks every length against the bytes first, so apache-avro never
                // allocates from an untrusted length.
                if let Some((writer, writer_connect)) = &plan.writer_check {
                    let mut check = AvroReader::new(bytes, 5);
                    check.value(writer, writer_connect)?;
                    check_consumed(&check, bytes.len())?;
                }
                let resolved = resolve(resolution, &bytes[5..])?;
                let resolved = Bytes::from(resolved);
                let mut reader = AvroReader::new(&resolved, 0);
                reader.value(&plan.node, &plan.connect)?
            }
        };
        Ok(SchemaAndValue::new(Some(plan.connect.clone()), value))
    }

    fn read_plan(&mut self, topic: &str, id: i32) -> Result<Arc<ReadPlan>, ConvertError> {
        let text = self.client.schema_by_id(id).map_err(registry_error)?;
        if is_anything(&text) {
            // AvroData reads Anything as schemaless data, whatever the subject's latest schema.
            return Ok(self.remember_read_plan(id, ReadPlan::Anything));
        }
        let writer = node::parse(&text).map_err(|message| ConvertError::InvalidSchema {
            path: format!("schema id {id}"),
            message,
        })?;
        let subject = self.subject(topic, &writer);
        let mapping = self.options.mapping;
        let plan = if self.options.use_latest_version {
            let latest = self.client.latest(&subject).map_err(registry_error)?;
            let latest_text = latest.schema.ok_or_else(|| {
                registry_error(RegistryError::InvalidResponse {
                    url: self.client.urls(),
                    reason: format!("the latest version of `{subject}` has no schema"),
                })
            })?;
            let reader =
                node::parse(&latest_text).map_err(|message| ConvertError::InvalidSchema {
                    path: format!("latest schema of `{subject}`"),
                    message,
                })?;
            let connect = mapping::to_connect(&reader, latest.version, mapping)?;
            let resolution = if latest.id == id {
                None
            } else {
                Some(Resolution {
                    writer: parse_for_resolution(&text, id)?,
                    reader: parse_for_resolution(&latest_text, latest.id)?,
                })
            };
            let writer_check = match resolution {
                Some(_) => Some((writer.clone(), mapping::to_connect(&writer, None, mapping)?)),
                None => None,
            };
            SchemaReadPlan {
                node: reader,
                connect,
                resolution,
                writer_check,
            }
        } else {
            let registered = self
                .client
                .lookup(&subject, &text)
                .map_err(registry_error)?;
            let connect = mapping::to_connect(&writer, registered.version, mapping)?;
            SchemaReadPlan {
                node: writer,
                connect,
                resolution: None,
                writer_check: None,
            }
        };
        Ok(self.remember_read_plan(id, ReadPlan::Schema(Box::new(plan))))
    }

    fn remember_read_plan(&mut self, id: i32, plan: ReadPlan) -> Arc<ReadPlan> {
        if self.read_plans.len() >= MAX_READ_PLANS {
            self.read_plans.clear();
        }
        let plan = Arc::new(plan);
        self.read_plans.insert(id, Arc::clone(&plan));
        plan
    }

    /// Connect data → Confluent wire bytes appended to `out`. Returns `false` for a null value (nothing
    /// written: a tombstone), as Confluent's converter does.
    pub fn write_connect(
        &mut self,
        topic: &str,
        schema: Option<&SchemaRef>,
        value: &Value,
        out: &mut BytesMut,
    ) -> Result<bool, ConvertError> {
        if value.is_null() {
            return Ok(false);
        }
        let start = out.len();
        let result = match schema {
            Some(schema) => {
                let plan = self.write_plan(topic, schema)?;
                out.put_u8(0);
                out.put_i32(plan.id);
                self.write_resolved(out, plan.resolution.as_ref(), |w| {
                    w.value(&plan.node, schema, value)
                })
            }
            // Schemaless data is written as Confluent's AvroData writes it: as its `Anything` record.
            None => {
                let plan = self.schemaless_plan(topic)?;
                out.put_u8(0);
                out.put_i32(plan.id);
                self.write_resolved(out, plan.resolution.as_ref(), |w| w.anything(value))
            }
        };
        match result {
            Ok(()) => Ok(true),
            Err(e) => {
                out.truncate(start);
                Err(name_root(e))
            }
        }
    }

    /// Writes with `write` into `out`, or, when the registered schema is another, into scratch and then
    /// resolved into `out`.
    fn write_resolved(
        &mut self,
        out: &mut BytesMut,
        resolution: Option<&Resolution>,
        write: impl FnOnce(&mut AvroWriter<'_>) -> Result<(), ConvertError>,
    ) -> Result<(), ConvertError> {
        match resolution {
            None => write(&mut AvroWriter { out }),
            Some(resolution) => {
                self.scratch.clear();
                write(&mut AvroWriter {
                    out: &mut self.scratch,
                })?;
                let resolved = resolve(resolution, &self.scratch)?;
                out.put_slice(&resolved);
                Ok(())
            }
        }
    }

    fn schemaless_plan(&mut self, topic: &str) -> Result<Arc<SchemalessPlan>, ConvertError> {
        if let Some(plan) = self.schemaless_plans.iter().find(|p| p.topic == topic) {
            return Ok(Arc::clone(plan));
        }
        let ours = apache_avro::Schema::parse_str(ANYTHING_SCHEMA)
            .map_err(|_| ConvertError::Internal("Confluent's Anything schema does not parse"))?;
        let subject =
            self.options
                .strategy
                .subject(topic, self.options.is_key, codec::ANYTHING_NAME);
        let (id, resolution) = self.schema_id_for_writing(&subject, ANYTHING_SCHEMA, ours)?;
        let plan = Arc::new(SchemalessPlan {
            topic: topic.to_owned(),
            id,
            resolution,
        });
        if self.schemaless_plans.len() >= MAX_WRITE_PLANS {
            self.schemaless_plans.remove(0);
        }
        self.schemaless_plans.push(Arc::clone(&plan));
        Ok(plan)
    }

    /// The id records of schema `text` (`ours`) are written under in `subject`: registered
    /// (`auto.register.schemas`), the subject's latest with the resolution to it (`use.latest.version`), or
    /// looked up.
    fn schema_id_for_writing(
        &mut self,
        subject: &str,
        text: &str,
        ours: apache_avro::Schema,
    ) -> Result<(i32, Option<Resolution>), ConvertError> {
        Ok(if self.options.auto_register {
            (
                self.client
                    .register(subject, text)
                    .map_err(registry_error)?,
                None,
            )
        } else if self.options.use_latest_version {
            let latest = self.client.latest(subject).map_err(registry_error)?;
            let latest_text = latest.schema.unwrap_or_default();
            let latest_schema = parse_for_resolution(&latest_text, latest.id)?;
            let resolution =
                (latest_schema.canonical_form() != ours.canonical_form()).then_some(Resolution {
                    writer: ours,
                    reader: latest_schema,
                });
            (latest.id, resolution)
        } else {
            (
                self.client
                    .lookup(subject, text)
                    .map_err(registry_error)?
                    .id,
                None,
            )
        })
    }

    fn write_plan(
        &mut self,
        topic: &str,
        schema: &SchemaRef,
    ) -> Result<Arc<WritePlan>, ConvertError> {
        if let Some(plan) = self
            .write_plans
            .iter()
            .rev()
            .find(|p| Arc::ptr_eq(&p.schema, schema) && p.topic == topic)
        {
            return Ok(Arc::clone(plan));
        }
        if let Some(at) = self
            .write_plans
            .iter()
            .position(|p| *p.schema == **schema && p.topic == topic)
        {
            let plan = self.write_plans.remove(at);
            self.write_plans.push(Arc::clone(&plan));
            return Ok(plan);
        }
        let node = mapping::from_connect(schema, self.options.mapping)?;
        let text = node::to_json(&node);
        // apache-avro checks what we built is a valid Avro schema before a registry sees it.
        let ours =
            apache_avro::Schema::parse_str(&text).map_err(|e| ConvertError::InvalidSchema {
                path: "value".into(),
                message: format!("the Avro schema built for this Connect schema is invalid: {e}"),
            })?;
        let subject = self.subject(topic, &node);
        let (id, resolution) = self.schema_id_for_writing(&subject, &text, ours)?;
        let plan = Arc::new(WritePlan {
            schema: Arc::clone(schema),
            topic: topic.to_owned(),
            node,
            id,
            resolution,
        });
        if self.write_plans.len() >= MAX_WRITE_PLANS {
            self.write_plans.remove(0);
        }
        self.write_plans.push(Arc::clone(&plan));
        Ok(plan)
    }
}

fn check_consumed(reader: &AvroReader<'_>, len: usize) -> Result<(), ConvertError> {
    if reader.position() == len {
        Ok(())
    } else {
        Err(ConvertError::InvalidAvro {
            offset: reader.position(),
            reason: format!("{} bytes left after the value", len - reader.position()),
        })
    }
}

/// Whether schema `text` is Confluent's `Anything` (by canonical form, which leaves out defaults and docs).
fn is_anything(text: &str) -> bool {
    let canonical = |t: &str| {
        apache_avro::Schema::parse_str(t)
            .ok()
            .map(|s| s.canonical_form())
    };
    match (canonical(text), canonical(ANYTHING_SCHEMA)) {
        (Some(theirs), Some(ours)) => theirs == ours,
        _ => false,
    }
}

fn parse_for_resolution(text: &str, id: i32) -> Result<apache_avro::Schema, ConvertError> {
    apache_avro::Schema::parse_str(text).map_err(|e| ConvertError::InvalidSchema {
        path: format!("schema id {id}"),
        message: e.to_string(),
    })
}

/// Avro binary of `resolution.writer` → Avro binary of `resolution.reader`, by Avro's resolution rules.
fn resolve(resolution: &Resolution, mut bytes: &[u8]) -> Result<Vec<u8>, ConvertError> {
    let failed = |e: apache_avro::Error| ConvertError::InvalidAvro {
        offset: 0,
        reason: format!("schema resolution failed: {e}"),
    };
    let value =
        apache_avro::from_avro_datum(&resolution.writer, &mut bytes, Some(&resolution.reader))
            .map_err(failed)?;
    apache_avro::to_avro_datum(&resolution.reader, value).map_err(failed)
}

/// An error at the root of the value says so.
fn name_root(error: ConvertError) -> ConvertError {
    match error {
        ConvertError::TypeMismatch {
            path,
            expected,
            found,
        } if path.is_empty() => ConvertError::TypeMismatch {
            path: "value".into(),
            expected,
            found,
        },
        ConvertError::NullForRequired { path, ty } if path.is_empty() => {
            ConvertError::NullForRequired {
                path: "value".into(),
                ty,
            }
        }
        other => other,
    }
}
