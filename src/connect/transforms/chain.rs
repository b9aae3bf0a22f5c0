//! Transforms applied in order, converting a record's key or value lazily, the first time a transform needs
//! it, so a record nothing reads stays raw bytes.

use super::shared::{TransformError, Which};
use super::transform::{Needs, Transform};
use crate::connect::converters::{ConvertError, Converter};
use crate::connect::record::ConnectRecord;

/// Why a record failed in a chain.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChainError {
    #[error("converting the record's {which}: {source}")]
    Convert { which: Which, source: ConvertError },
    #[error(transparent)]
    Transform(#[from] TransformError),
}

impl ChainError {
    /// Kafka Connect's name of the stage that failed (`__connect.errors.stage`).
    pub fn stage(&self) -> &'static str {
        match self {
            ChainError::Convert {
                which: Which::Key, ..
            } => "KEY_CONVERTER",
            ChainError::Convert { .. } => "VALUE_CONVERTER",
            ChainError::Transform(_) => "TRANSFORMATION",
        }
    }
}

/// Transforms applied in order, converting key and value only when a transform first needs them.
#[derive(Debug, Clone, Default)]
pub struct TransformChain {
    pub transforms: Vec<Transform>,
}

impl TransformChain {
    pub fn new(transforms: Vec<Transform>) -> Self {
        TransformChain { transforms }
    }

    /// What any of the transforms reads: the key, the value.
    pub fn needs(&self) -> Needs {
        self.transforms.iter().fold(
            Needs {
                key: false,
                value: false,
            },
            |all, t| {
                let one = t.needs();
                Needs {
                    key: all.key || one.key,
                    value: all.value || one.value,
                }
            },
        )
    }

    /// Whether some transform may give a record another topic.
    pub fn renames_topics(&self) -> bool {
        self.transforms.iter().any(Transform::renames_topic)
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
