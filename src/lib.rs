//! pipewright: a connector engine that speaks the Kafka wire protocol itself.
//!
//! Layers, dependencies pointing down only: `cli` → `runtime` → `client` → `protocol`.
//! `protocol` and `client` are sans-IO: no sockets, threads or clocks.

pub mod admin;
pub mod cli;
pub mod client;
pub mod config;
pub mod connect;
pub mod engine;
pub mod protocol;
pub mod runtime;

#[cfg(test)]
mod allocation_probe;
