//! One configured transform: the `Transform` enum over every transform kind, built once from
//! `(name, ParsedConfig)` and applied per record by a `match` (no `dyn` call), with its optional predicate.

use super::components::COMPONENTS;
use super::predicates::Predicate;
use super::shared::{TransformBuildError, TransformError, Which};
use super::{
    cast, drop_headers, extract_field, flatten, header_from, hoist_field, insert_field,
    insert_header, mask_field, regex_router, replace_field, set_schema_metadata,
    timestamp_converter, timestamp_router, value_to_key,
};
use crate::connect::config_def::ParsedConfig;
use crate::connect::record::ConnectRecord;
use std::collections::BTreeMap;

/// The transform kinds, statically dispatched.
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone)]
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
    /// Whether the transform may give a record another topic (RegexRouter, TimestampRouter).
    pub fn renames_topic(&self) -> bool {
        matches!(
            self.kind,
            TransformKind::RegexRouter(_) | TransformKind::TimestampRouter(_)
        )
    }

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
