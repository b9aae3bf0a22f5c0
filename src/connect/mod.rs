//! What a record is, and what connectors, converters and transforms are (Kafka Connect's model).
//!
//! Knows nothing of the Kafka wire format: the Kafka connectors reach Kafka through `client` + `runtime`
//! like any user would.

pub mod component;
pub mod config_def;
pub mod connector;
pub mod connectors;
pub mod converters;
pub mod data;
pub mod record;
pub mod registry;
pub mod transforms;
