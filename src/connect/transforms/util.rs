//! Shared pieces of the transforms: reaching the key or value, type checks with Kafka Connect's messages,
//! a small per-transform schema cache, and config helpers.

use super::shared::{TransformBuildError, TransformError, Which};
use crate::connect::config_def::ParsedConfig;
use crate::connect::data::{SchemaAndValue, SchemaRef, Struct, Value};
use crate::connect::record::ConnectRecord;
use std::cell::RefCell;
use std::sync::Arc;

/// The converted key or value a transform works on.
pub fn operating<'r>(
    record: &'r mut ConnectRecord,
    which: Which,
    transform: &'static str,
) -> Result<&'r mut SchemaAndValue, TransformError> {
    let data = match which {
        Which::Key => &mut record.key,
        Which::Value => &mut record.value,
    };
    data.converted_mut()
        .ok_or(TransformError::NotConverted { transform, which })
}

pub fn invalid(transform: &'static str, message: impl Into<String>) -> TransformError {
    TransformError::Invalid {
        transform,
        message: message.into(),
    }
}

pub fn require_map<'v>(
    value: &'v mut Value,
    transform: &'static str,
    purpose: &str,
) -> Result<&'v mut Vec<(Value, Value)>, TransformError> {
    match value {
        Value::Map(entries) => Ok(entries),
        other => Err(invalid(
            transform,
            format!(
                "only maps are supported in absence of schema for [{purpose}], found: {}",
                other.type_name()
            ),
        )),
    }
}

pub fn require_struct<'v>(
    value: &'v mut Value,
    transform: &'static str,
    purpose: &str,
) -> Result<&'v mut Struct, TransformError> {
    match value {
        Value::Struct(s) => Ok(s),
        other => Err(invalid(
            transform,
            format!(
                "only structs are supported for [{purpose}], found: {}",
                other.type_name()
            ),
        )),
    }
}

/// Sets string key `key` in map entries (replacing an existing entry, as `Map.put` does).
pub fn map_put(entries: &mut Vec<(Value, Value)>, key: &crate::connect::data::Str, value: Value) {
    match entries
        .iter_mut()
        .find(|(k, _)| k.as_str() == Some(key.as_str()))
    {
        Some((_, v)) => *v = value,
        None => entries.push((Value::String(key.clone()), value)),
    }
}

/// Removes and returns the entry under string key `key`.
pub fn map_remove(entries: &mut Vec<(Value, Value)>, key: &str) -> Option<Value> {
    let at = entries.iter().position(|(k, _)| k.as_str() == Some(key))?;
    Some(entries.remove(at).1)
}

/// Remembers what a transform derived from recently seen input schemas (Kafka Connect's `schemaUpdateCache`).
/// Records of one stream usually share a schema, so a handful of entries suffices.
#[derive(Debug)]
pub struct SchemaCache<T> {
    entries: RefCell<Vec<(SchemaRef, T)>>,
}

/// A clone starts empty: the cache is what one task derived from the schemas it saw, and each task fills its
/// own (a transform cloned from the one built during validation has seen no records). Its entries are cheap to
/// derive again and a shared one would need a lock.
impl<T> Clone for SchemaCache<T> {
    fn clone(&self) -> Self {
        SchemaCache::default()
    }
}

impl<T> Default for SchemaCache<T> {
    fn default() -> Self {
        SchemaCache {
            entries: RefCell::new(Vec::new()),
        }
    }
}

const SCHEMA_CACHE_ENTRIES: usize = 16;

impl<T: Clone> SchemaCache<T> {
    pub fn get_or_try_insert(
        &self,
        input: &SchemaRef,
        derive: impl FnOnce() -> Result<T, TransformError>,
    ) -> Result<T, TransformError> {
        if let Some((_, t)) = self
            .entries
            .borrow()
            .iter()
            .find(|(s, _)| Arc::ptr_eq(s, input) || **s == **input)
        {
            return Ok(t.clone());
        }
        let derived = derive()?;
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= SCHEMA_CACHE_ENTRIES {
            entries.remove(0);
        }
        entries.push((input.clone(), derived.clone()));
        Ok(derived)
    }
}

/// A required, non-empty string key.
pub fn required_string(
    config: &ParsedConfig,
    key: &'static str,
    transform: &'static str,
) -> Result<String, TransformBuildError> {
    match config.get(key) {
        Some(v) if !v.trim().is_empty() => Ok(v.to_owned()),
        _ => Err(TransformBuildError::Config {
            transform,
            key: key.to_owned(),
            message: "must be set (non-empty)".to_owned(),
        }),
    }
}

pub fn config_error(
    transform: &'static str,
    key: &str,
    message: impl Into<String>,
) -> TransformBuildError {
    TransformBuildError::Config {
        transform,
        key: key.to_owned(),
        message: message.into(),
    }
}

/// Takes the struct out of `value` (leaving null), or fails without touching it.
pub fn take_struct(
    value: &mut Value,
    transform: &'static str,
    purpose: &str,
) -> Result<Struct, TransformError> {
    require_struct(value, transform, purpose)?;
    match std::mem::take(value) {
        Value::Struct(s) => Ok(s),
        _ => Err(invalid(transform, "struct vanished")),
    }
}

/// Takes the map entries out of `value` (leaving null), or fails without touching it.
pub fn take_map(
    value: &mut Value,
    transform: &'static str,
    purpose: &str,
) -> Result<Vec<(Value, Value)>, TransformError> {
    require_map(value, transform, purpose)?;
    match std::mem::take(value) {
        Value::Map(m) => Ok(m),
        _ => Err(invalid(transform, "map vanished")),
    }
}
