//! The `file` sink: one line per record, appended; each put is written at once, `flush` fsyncs.

use std::path::PathBuf;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;

use super::config::FileSinkConfig;
use crate::connect::connector::{ConnectorError, Converters, SinkTask, TaskId};
use crate::connect::record::ConnectRecord;

/// Appends the text of `record`'s value, as Kafka's FileStreamSink prints `record.value()` (see
/// [`crate::connect::record::Data::write_text`]: a Struct as `Struct{a=1}`, null as `null`), then a newline.
/// A value its converter cannot read is rejected (stage `VALUE_CONVERTER`), for `errors.tolerance` to decide.
pub(crate) fn append_value_line(
    record: &ConnectRecord,
    converters: &mut Converters,
    out: &mut BytesMut,
) -> Result<(), ConnectorError> {
    let mark = out.len();
    record
        .value
        .write_text(&mut converters.value, &record.topic, out)
        .map_err(|e| {
            out.truncate(mark);
            ConnectorError {
                retriable: e.is_retriable(),
                ..ConnectorError::rejected(
                    "VALUE_CONVERTER",
                    format!(
                        "cannot convert a record value of topic `{}`: {e}",
                        record.topic
                    ),
                )
            }
        })?;
    out.extend_from_slice(b"\n");
    Ok(())
}

/// Appends the value line of each of `records`, draining them; on a value that cannot be converted, the ones
/// before it are drained and it and the rest stay (see [`ConnectorError::rejected`]).
pub(crate) fn append_value_lines(
    records: &mut Vec<ConnectRecord>,
    converters: &mut Converters,
    out: &mut BytesMut,
) -> Result<(), ConnectorError> {
    for index in 0..records.len() {
        if let Err(error) = append_value_line(&records[index], converters, out) {
            records.drain(..index);
            return Err(error);
        }
    }
    records.clear();
    Ok(())
}

pub struct FileSink {
    path: PathBuf,
    file: tokio::fs::File,
    buffer: BytesMut,
}

impl FileSink {
    /// Opens (creating if needed) `config.file` for appending.
    pub async fn open(config: &FileSinkConfig, task: TaskId) -> Result<Self, ConnectorError> {
        let _ = task;
        let path = config.file.clone();
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await
            .map_err(|e| {
                ConnectorError::fatal(format!(
                    "cannot open `{}` for appending: {e}; check the directory exists and is writable",
                    path.display()
                ))
            })?;
        Ok(FileSink {
            path,
            file,
            buffer: BytesMut::new(),
        })
    }

    async fn write_buffer(&mut self) -> Result<(), ConnectorError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let result = async {
            self.file.write_all(&self.buffer).await?;
            // A tokio file completes writes in the background; flush waits for them.
            self.file.flush().await
        }
        .await;
        result.map_err(|e| {
            ConnectorError::retriable(format!("cannot write `{}`: {e}", self.path.display()))
        })?;
        self.buffer.clear();
        Ok(())
    }
}

impl SinkTask for FileSink {
    async fn put(
        &mut self,
        records: &mut Vec<ConnectRecord>,
        converters: &mut Converters,
    ) -> Result<(), ConnectorError> {
        let appended = append_value_lines(records, converters, &mut self.buffer);
        // Written (not synced) once per put: a reader of the file sees each record as soon as the task had
        // it, not at the next commit; `flush` syncs.
        self.write_buffer().await?;
        appended
    }

    async fn flush(&mut self) -> Result<(), ConnectorError> {
        self.write_buffer().await?;
        match self.file.sync_data().await {
            Ok(()) => Ok(()),
            // A file that cannot be synced (a character device such as /dev/null, a pipe) holds nothing to
            // make durable: what was written is all there is, as Kafka's FileStreamSink, which only flushes.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
            Err(e) => Err(ConnectorError::retriable(format!(
                "cannot fsync `{}`: {e}",
                self.path.display()
            ))),
        }
    }

    async fn close(&mut self) {
        if let Err(e) = self.flush().await {
            tracing::warn!(file = %self.path.display(), error = %e, "file sink: flush on close failed");
        }
    }
}
