//! `Filter`: drops every record it is applied to; give it a `predicate` to choose which.

use super::shared::{NEGATE_KEY, PREDICATE_KEY};
use crate::connect::config_def::ConfigDef;

pub const CONFIG: ConfigDef = ConfigDef::new(&[PREDICATE_KEY, NEGATE_KEY]);
