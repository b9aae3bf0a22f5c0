//! `http`: a sink that POSTs batches of record values as JSON arrays, retrying server errors and connection
//! failures with capped exponential backoff. Speaks plain HTTP/1.1 over a tokio `TcpStream` itself (one
//! connection per request, no TLS); must not block the core's executor.

pub(crate) mod client;
mod config;
mod sink;

pub(crate) use client::host_and_port;
pub use client::Endpoint;
pub use config::{HttpSinkConfig, CONFIG, SINK};
pub use sink::HttpSink;

#[cfg(test)]
mod tests;
