//! `jdbc`: Confluent's JDBC source (tables or a query into records, by bulk, incrementing id, timestamp or
//! both, resuming at stored positions) and JDBC sink (records into tables: insert, upsert, update, delete) for
//! PostgreSQL and MySQL/MariaDB. Owns only database I/O: SQL text per database in `dialect`, the mapping
//! between column types and Connect schemas in `schema`, the connections in `connection`.

mod config;
mod connection;
mod dialect;
mod position;
mod schema;
mod sink;
mod source;

pub use config::{
    ConnectionSpec, JdbcSinkConfig, JdbcSourceConfig, SINK, SINK_CONFIG, SOURCE, SOURCE_CONFIG,
};
pub use dialect::Dialect;
pub use sink::JdbcSink;
pub use source::{task_of, JdbcSource};

#[cfg(test)]
mod tests;
