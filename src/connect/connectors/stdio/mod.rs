//! `stdin` source and `stdout` sink: the file connectors' line formats on the process's standard streams.
//! Standard input cannot be re-read, so the stdin source's positions only count lines; the stdout sink cannot
//! fsync, so its `flush` only flushes.

mod config;
mod sink;
mod source;

pub use config::{StdinSourceConfig, StdoutSinkConfig, SINK, SINK_CONFIG, SOURCE, SOURCE_CONFIG};
pub use sink::StdoutSink;
pub use source::StdinSource;
