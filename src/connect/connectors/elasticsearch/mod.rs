//! `elasticsearch`: a sink that writes records as documents through the `_bulk` API of Elasticsearch or
//! OpenSearch, with Confluent's ElasticsearchSinkConnector keys. Speaks HTTP/1.1 over tokio itself (kept-open
//! connections; https through rustls in `tls`); must not block the core's executor.

mod bulk;
mod client;
mod config;
mod mapping;
mod sink;
mod tls;

pub use config::{ElasticsearchSinkConfig, CONFIG, SINK};
pub use sink::ElasticsearchSink;

#[cfg(test)]
mod tests;
