//! The engine: runs pipelines (source → converters → transforms → sink) on the cores.
//!
//! `config` turns `pipelines.toml`, Kafka Connect `.properties` and REST JSON connector configs into one validated
//! model; it reads files and nothing else (no sockets, no threads).

pub mod build;
pub mod config;
pub mod cores;
pub mod dead_letter;
pub mod metrics;
pub mod offsets;
pub mod offsets_topic;
pub mod run;
pub mod task;
