//! The engine: runs pipelines (source → converters → transforms → sink) on the cores.
//!
//! It takes validated specs from `config` and never reads config text itself.

pub mod build;
pub mod cores;
pub mod dead_letter;
pub mod metrics;
pub mod offsets;
pub mod offsets_topic;
pub mod run;
pub mod task;
