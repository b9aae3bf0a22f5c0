//! Single message transforms with Kafka Connect's names, options and `$Key`/`$Value` variants, plus the
//! predicates that gate them (`predicate` + `negate`).
//!
//! A transform is built once from `(name, ParsedConfig)` into the `Transform` enum and applied per record by
//! a `match` (no `dyn` call). Transforms touch only converted data; `TransformChain` converts a record's key
//! or value lazily, the first time a transform needs it, so a record nothing reads stays raw bytes.
//! Each transform lives in its own file with its `CONFIG` (declared keys) beside its code.

pub mod cast;
pub mod drop_headers;
pub mod extract_field;
pub mod filter;
pub mod flatten;
pub mod header_from;
pub mod hoist_field;
pub mod insert_field;
pub mod insert_header;
pub mod mask_field;
pub mod predicates;
pub mod regex_router;
pub mod replace_field;
pub mod set_schema_metadata;
pub mod timefmt;
pub mod timestamp_converter;
pub mod timestamp_router;
mod util;
pub mod value_to_key;

#[cfg(test)]
mod tests;

use super::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use super::converters::{ConvertError, Converter};
use super::record::ConnectRecord;
use super::registry::{ComponentInfo, ComponentKind};
use predicates::Predicate;
use std::collections::BTreeMap;
use std::fmt;

/// Which part of the record a `$Key` / `$Value` transform works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Key,
    Value,
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Which::Key => "key",
            Which::Value => "value",
        })
    }
}

/// A record a transform could not handle.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransformError {
    #[error("{transform}: the record's {which} has not been converted; convert it before this transform")]
    NotConverted {
        transform: &'static str,
        which: Which,
    },
    #[error("{transform}: {message}")]
    Invalid {
        transform: &'static str,
        message: String,
    },
}

/// A transform that could not be built from its config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformBuildError {
    #[error("unknown transform `{name}`{hint}")]
    Unknown { name: String, hint: String },
    #[error("{transform}: `{key}`: {message}")]
    Config {
        transform: &'static str,
        key: String,
        message: String,
    },
    #[error("{0}")]
    Problems(String),
}

/// The transform kinds, statically dispatched.
#[derive(Debug)]
pub enum TransformKind {
    InsertField(insert_field::InsertField),
    ReplaceField(replace_field::ReplaceField),
    MaskField(mask_field::MaskField),
    Cast(cast::Cast),
    TimestampConverter(timestamp_converter::TimestampConverter),
    ExtractField(extract_field::ExtractField),
    HoistField(hoist_field::HoistField),
    Flatten(flatten::Flatten),
    ValueToKey(value_to_key::ValueToKey),
    RegexRouter(regex_router::RegexRouter),
    TimestampRouter(timestamp_router::TimestampRouter),
    Filter,
    InsertHeader(insert_header::InsertHeader),
    DropHeaders(drop_headers::DropHeaders),
    HeaderFrom(header_from::HeaderFrom),
    SetSchemaMetadata(set_schema_metadata::SetSchemaMetadata),
}

/// What of a record a transform reads, so the chain converts only that.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub key: bool,
    pub value: bool,
}

/// One configured transform with its optional predicate.
#[derive(Debug)]
pub struct Transform {
    pub kind: TransformKind,
    predicate: Option<Predicate>,
    negate: bool,
    predicate_alias: Option<String>,
}

/// The `$Key` / `$Value` suffix of a Kafka Connect class name; the short name alone means `$Value`.
fn variant(name: &str) -> (&str, Result<Which, String>) {
    match name.split_once('$') {
        None => (name, Ok(Which::Value)),
        Some((base, "Key")) => (base, Ok(Which::Key)),
        Some((base, "Value")) => (base, Ok(Which::Value)),
        Some((base, other)) => (
            base,
            Err(format!("unknown variant `${other}`; use $Key or $Value")),
        ),
    }
}

impl Transform {
    /// Builds transform `name` (`InsertField`, `InsertField$Key`, `org.apache.kafka.connect.transforms.InsertField$Value`, …)
    /// from config parsed against its `ComponentInfo::config`.
    pub fn build(name: &str, config: &ParsedConfig) -> Result<Transform, TransformBuildError> {
        let (base, which) = variant(name);
        let info = COMPONENTS
            .iter()
            .find(|c| c.name == base || c.aliases.contains(&base))
            .ok_or_else(|| {
                let names: Vec<&str> = COMPONENTS.iter().map(|c| c.name).collect();
                let short = base.rsplit('.').next().unwrap_or(base);
                TransformBuildError::Unknown {
                    name: name.to_owned(),
                    hint: crate::client::config::closest(short, &names)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_else(|| format!(" (known: {})", names.join(", "))),
                }
            })?;
        let which = which.map_err(|message| TransformBuildError::Config {
            transform: info.name,
            key: "type".to_owned(),
            message,
        })?;
        let kind = match info.name {
            "InsertField" => {
                TransformKind::InsertField(insert_field::InsertField::build(config, which)?)
            }
            "ReplaceField" => {
                TransformKind::ReplaceField(replace_field::ReplaceField::build(config, which)?)
            }
            "MaskField" => TransformKind::MaskField(mask_field::MaskField::build(config, which)?),
            "Cast" => TransformKind::Cast(cast::Cast::build(config, which)?),
            "TimestampConverter" => TransformKind::TimestampConverter(
                timestamp_converter::TimestampConverter::build(config, which)?,
            ),
            "ExtractField" => {
                TransformKind::ExtractField(extract_field::ExtractField::build(config, which)?)
            }
            "HoistField" => {
                TransformKind::HoistField(hoist_field::HoistField::build(config, which)?)
            }
            "Flatten" => TransformKind::Flatten(flatten::Flatten::build(config, which)?),
            "ValueToKey" => TransformKind::ValueToKey(value_to_key::ValueToKey::build(config)?),
            "RegexRouter" => TransformKind::RegexRouter(regex_router::RegexRouter::build(config)?),
            "TimestampRouter" => {
                TransformKind::TimestampRouter(timestamp_router::TimestampRouter::build(config)?)
            }
            "Filter" => TransformKind::Filter,
            "InsertHeader" => {
                TransformKind::InsertHeader(insert_header::InsertHeader::build(config)?)
            }
            "DropHeaders" => TransformKind::DropHeaders(drop_headers::DropHeaders::build(config)?),
            "HeaderFrom" => {
                TransformKind::HeaderFrom(header_from::HeaderFrom::build(config, which)?)
            }
            "SetSchemaMetadata" => TransformKind::SetSchemaMetadata(
                set_schema_metadata::SetSchemaMetadata::build(config, which)?,
            ),
            other => {
                return Err(TransformBuildError::Unknown {
                    name: other.to_owned(),
                    hint: String::new(),
                })
            }
        };
        Ok(Transform {
            kind,
            predicate: None,
            negate: config.boolean("negate").unwrap_or(false),
            predicate_alias: config.string("predicate").filter(|p| !p.is_empty()),
        })
    }

    /// Validates `pairs` against the transform's declared keys, then builds it. For tests and simple callers.
    pub fn from_pairs(
        name: &str,
        pairs: &[(&str, &str)],
    ) -> Result<Transform, TransformBuildError> {
        let (base, _) = variant(name);
        let Some(info) = COMPONENTS
            .iter()
            .find(|c| c.name == base || c.aliases.contains(&base))
        else {
            // Reports the unknown name with its "did you mean".
            return Transform::build(name, &ParsedConfig::default());
        };
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let parsed = info.config.parse(&map, &[]).map_err(|problems| {
            TransformBuildError::Problems(
                problems
                    .iter()
                    .map(|p| format!("{}: {p}", info.name))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        Transform::build(name, &parsed)
    }

    /// Gates this transform: it applies only to records `predicate` matches (or does not, with `negate`).
    pub fn with_predicate(mut self, predicate: Predicate, negate: bool) -> Self {
        self.predicate = Some(predicate);
        self.negate = negate;
        self
    }

    /// The predicate alias named by the `predicate` key, for the engine to resolve and attach.
    pub fn predicate_alias(&self) -> Option<&str> {
        self.predicate_alias.as_deref()
    }

    pub fn negate(&self) -> bool {
        self.negate
    }

    /// What this transform reads.
    pub fn needs(&self) -> Needs {
        let which = |w: Which| Needs {
            key: w == Which::Key,
            value: w == Which::Value,
        };
        match &self.kind {
            TransformKind::InsertField(t) => which(t.which),
            TransformKind::ReplaceField(t) => which(t.which),
            TransformKind::MaskField(t) => which(t.which),
            TransformKind::Cast(t) => which(t.which),
            TransformKind::TimestampConverter(t) => which(t.which),
            TransformKind::ExtractField(t) => which(t.which),
            TransformKind::HoistField(t) => which(t.which),
            TransformKind::Flatten(t) => which(t.which),
            TransformKind::ValueToKey(_) => which(Which::Value),
            TransformKind::HeaderFrom(t) => which(t.which),
            TransformKind::SetSchemaMetadata(t) => which(t.which),
            TransformKind::RegexRouter(_)
            | TransformKind::TimestampRouter(_)
            | TransformKind::Filter
            | TransformKind::InsertHeader(_)
            | TransformKind::DropHeaders(_) => Needs::default(),
        }
    }

    /// Applies the transform in place (if its predicate allows). `Ok(false)` means the record was filtered
    /// out. Working in place keeps the record from being moved through every layer of every transform.
    pub fn apply(&self, record: &mut ConnectRecord) -> Result<bool, TransformError> {
        if let Some(predicate) = &self.predicate {
            if predicate.test(record) == self.negate {
                return Ok(true);
            }
        }
        match &self.kind {
            TransformKind::InsertField(t) => t.apply(record)?,
            TransformKind::ReplaceField(t) => t.apply(record)?,
            TransformKind::MaskField(t) => t.apply(record)?,
            TransformKind::Cast(t) => t.apply(record)?,
            TransformKind::TimestampConverter(t) => t.apply(record)?,
            TransformKind::ExtractField(t) => t.apply(record)?,
            TransformKind::HoistField(t) => t.apply(record)?,
            TransformKind::Flatten(t) => t.apply(record)?,
            TransformKind::ValueToKey(t) => t.apply(record)?,
            TransformKind::RegexRouter(t) => t.apply(record),
            TransformKind::TimestampRouter(t) => t.apply(record)?,
            TransformKind::Filter => return Ok(false),
            TransformKind::InsertHeader(t) => t.apply(record),
            TransformKind::DropHeaders(t) => t.apply(record),
            TransformKind::HeaderFrom(t) => t.apply(record)?,
            TransformKind::SetSchemaMetadata(t) => t.apply(record)?,
        }
        Ok(true)
    }

    /// `apply` by value: `Ok(None)` means the record was filtered out.
    pub fn transform(
        &self,
        mut record: ConnectRecord,
    ) -> Result<Option<ConnectRecord>, TransformError> {
        Ok(self.apply(&mut record)?.then_some(record))
    }
}

/// Why a record failed in a chain.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChainError {
    #[error("converting the record's {which}: {source}")]
    Convert { which: Which, source: ConvertError },
    #[error(transparent)]
    Transform(#[from] TransformError),
}

/// Transforms applied in order, converting key and value only when a transform first needs them.
#[derive(Debug, Default)]
pub struct TransformChain {
    pub transforms: Vec<Transform>,
}

impl TransformChain {
    pub fn new(transforms: Vec<Transform>) -> Self {
        TransformChain { transforms }
    }

    /// Applies every transform in place; `Ok(false)` means a transform filtered the record out.
    pub fn apply(
        &self,
        record: &mut ConnectRecord,
        key_converter: &mut Converter,
        value_converter: &mut Converter,
    ) -> Result<bool, ChainError> {
        for t in &self.transforms {
            let needs = t.needs();
            if needs.key {
                record
                    .key
                    .convert(key_converter, &record.topic)
                    .map_err(|source| ChainError::Convert {
                        which: Which::Key,
                        source,
                    })?;
            }
            if needs.value {
                record
                    .value
                    .convert(value_converter, &record.topic)
                    .map_err(|source| ChainError::Convert {
                        which: Which::Value,
                        source,
                    })?;
            }
            if !t.apply(record)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

pub(crate) const PREDICATE_KEY: ConfigKey = ConfigKey::optional(
    "predicate",
    ConfigType::String,
    None,
    "Alias of the predicate that gates this transform",
);
pub(crate) const NEGATE_KEY: ConfigKey = ConfigKey::optional(
    "negate",
    ConfigType::Boolean,
    Some("false"),
    "Apply the transform to records the predicate does not match",
);

const fn info(
    name: &'static str,
    aliases: &'static [&'static str],
    config: ConfigDef,
    doc: &'static str,
) -> ComponentInfo {
    ComponentInfo {
        kind: ComponentKind::Transform,
        name,
        aliases,
        config,
        doc,
    }
}

/// The transforms, for the registry (`$Key` / `$Value` suffixes are matched by `Transform::build`).
pub static COMPONENTS: &[ComponentInfo] = &[
    info(
        "InsertField",
        &["org.apache.kafka.connect.transforms.InsertField"],
        insert_field::CONFIG,
        "Insert the topic, partition, offset, timestamp or a static value as a field",
    ),
    info(
        "ReplaceField",
        &["org.apache.kafka.connect.transforms.ReplaceField"],
        replace_field::CONFIG,
        "Keep (include), drop (exclude) or rename fields",
    ),
    info(
        "MaskField",
        &["org.apache.kafka.connect.transforms.MaskField"],
        mask_field::CONFIG,
        "Replace fields with their type's empty value or a given replacement",
    ),
    info(
        "Cast",
        &["org.apache.kafka.connect.transforms.Cast"],
        cast::CONFIG,
        "Cast fields, or the whole key or value, to another primitive type",
    ),
    info(
        "TimestampConverter",
        &["org.apache.kafka.connect.transforms.TimestampConverter"],
        timestamp_converter::CONFIG,
        "Convert timestamps between string, unix, Date, Time and Timestamp",
    ),
    info(
        "ExtractField",
        &["org.apache.kafka.connect.transforms.ExtractField"],
        extract_field::CONFIG,
        "Replace the key or value with one of its fields",
    ),
    info(
        "HoistField",
        &["org.apache.kafka.connect.transforms.HoistField"],
        hoist_field::CONFIG,
        "Wrap the key or value in a struct or map with one field",
    ),
    info(
        "Flatten",
        &["org.apache.kafka.connect.transforms.Flatten"],
        flatten::CONFIG,
        "Flatten nested structs or maps, joining names with a delimiter",
    ),
    info(
        "ValueToKey",
        &["org.apache.kafka.connect.transforms.ValueToKey"],
        value_to_key::CONFIG,
        "Replace the key with fields taken from the value",
    ),
    info(
        "RegexRouter",
        &["org.apache.kafka.connect.transforms.RegexRouter"],
        regex_router::CONFIG,
        "Rename the topic with a regular expression and replacement",
    ),
    info(
        "TimestampRouter",
        &["org.apache.kafka.connect.transforms.TimestampRouter"],
        timestamp_router::CONFIG,
        "Rename the topic from the topic and the record's timestamp",
    ),
    info(
        "Filter",
        &["org.apache.kafka.connect.transforms.Filter"],
        filter::CONFIG,
        "Drop records (those its predicate matches)",
    ),
    info(
        "InsertHeader",
        &["org.apache.kafka.connect.transforms.InsertHeader"],
        insert_header::CONFIG,
        "Add a header with a literal value",
    ),
    info(
        "DropHeaders",
        &["org.apache.kafka.connect.transforms.DropHeaders"],
        drop_headers::CONFIG,
        "Remove headers by name",
    ),
    info(
        "HeaderFrom",
        &["org.apache.kafka.connect.transforms.HeaderFrom"],
        header_from::CONFIG,
        "Copy or move fields of the key or value into headers",
    ),
    info(
        "SetSchemaMetadata",
        &["org.apache.kafka.connect.transforms.SetSchemaMetadata"],
        set_schema_metadata::CONFIG,
        "Set the schema name and/or version of the key or value",
    ),
];
