//! `file`: Kafka Connect's FileStreamSource (tails a file line by line, remembering its byte position) and
//! FileStreamSink (appends one line per record). Owns only local file I/O; reading stdin or writing stdout is
//! the `stdin` / `stdout` connectors' job.

mod config;
mod identity;
mod sink;
mod source;

pub(crate) use config::batch_size;
pub use config::{FileSinkConfig, FileSourceConfig, SINK, SINK_CONFIG, SOURCE, SOURCE_CONFIG};
pub(crate) use sink::append_value_lines;
pub use sink::FileSink;
pub use source::FileSource;

#[cfg(test)]
mod tests;
