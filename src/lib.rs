//! pipewright: a connector engine that speaks the Kafka wire protocol itself.
//!
//! Layers, dependencies pointing down only: `cli` → `admin` (REST) → `worker` → `engine` → `config` →
//! `connect` → `runtime` → `client` → `protocol`. `protocol` and `client` are sans-IO: no sockets, threads or
//! clocks. docs/architecture.md describes each layer and what it may not do.

pub mod admin;
pub mod cli;
pub mod client;
pub mod config;
pub mod connect;
pub mod engine;
pub mod protocol;
pub mod runtime;
pub mod worker;

#[cfg(test)]
mod allocation_probe;
