//! What every transform shares: which part of the record it works on, its errors, and the `predicate` /
//! `negate` keys each one accepts. A leaf of the transforms: it must not import a transform.

use crate::connect::config_def::{ConfigKey, ConfigType};
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

pub const PREDICATE_KEY: ConfigKey = ConfigKey::optional(
    "predicate",
    ConfigType::String,
    None,
    "Alias of the predicate that gates this transform",
);
pub const NEGATE_KEY: ConfigKey = ConfigKey::optional(
    "negate",
    ConfigType::Boolean,
    Some("false"),
    "Apply the transform to records the predicate does not match",
);
