//! The `stdout` sink: the file sink's lines on standard output (or any writer, for tests).

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt, Stdout};

use super::config::StdoutSinkConfig;
use crate::connect::connector::{ConnectorError, Converters, SinkTask, TaskId};
use crate::connect::connectors::file::append_value_lines;
use crate::connect::record::ConnectRecord;

pub struct StdoutSink<W = Stdout> {
    out: W,
    buffer: BytesMut,
}

impl StdoutSink {
    pub async fn open(config: &StdoutSinkConfig, task: TaskId) -> Result<Self, ConnectorError> {
        let _ = (config, task);
        Ok(Self::to_writer(tokio::io::stdout()))
    }
}

impl<W: AsyncWrite + Unpin> StdoutSink<W> {
    /// Writes to `out` instead of standard output.
    pub fn to_writer(out: W) -> Self {
        StdoutSink {
            out,
            buffer: BytesMut::new(),
        }
    }

    /// The writer, e.g. to read back what a test wrote.
    pub fn writer(&self) -> &W {
        &self.out
    }

    async fn write_buffer(&mut self) -> Result<(), ConnectorError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.out
            .write_all(&self.buffer)
            .await
            .map_err(|e| ConnectorError::retriable(format!("stdout sink: cannot write: {e}")))?;
        self.buffer.clear();
        Ok(())
    }
}

impl<W: AsyncWrite + Unpin> SinkTask for StdoutSink<W> {
    async fn put(
        &mut self,
        records: &mut Vec<ConnectRecord>,
        converters: &mut Converters,
    ) -> Result<(), ConnectorError> {
        let appended = append_value_lines(records, converters, &mut self.buffer);
        // One write per put: a reader sees each record as soon as the task had it, with no wait for the next
        // commit, and a busy pipeline still writes whole polls at a time.
        self.write_buffer().await?;
        self.out
            .flush()
            .await
            .map_err(|e| ConnectorError::retriable(format!("stdout sink: cannot flush: {e}")))?;
        appended
    }

    async fn flush(&mut self) -> Result<(), ConnectorError> {
        self.write_buffer().await?;
        self.out
            .flush()
            .await
            .map_err(|e| ConnectorError::retriable(format!("stdout sink: cannot flush: {e}")))
    }

    async fn close(&mut self) {
        if let Err(e) = self.flush().await {
            tracing::warn!(error = %e, "stdout sink: flush on close failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::converters::{Converter, StringConverter};
    use bytes::Bytes;

    #[tokio::test]
    async fn each_put_is_written_at_once_without_waiting_for_a_flush() {
        let mut sink = StdoutSink::to_writer(Vec::new());
        let mut converters = Converters::new(
            Converter::String(StringConverter::default()),
            Converter::String(StringConverter::default()),
        );
        let mut records = vec![
            ConnectRecord::raw("t", None, Some(Bytes::from_static(b"one"))),
            ConnectRecord::raw("t", None, None),
        ];
        sink.put(&mut records, &mut converters).await.unwrap();
        // A reader sees the records before the next commit's flush: no bursts once per commit interval.
        assert_eq!(sink.writer().as_slice(), b"one\nnull\n");
        sink.flush().await.unwrap();
        assert_eq!(sink.writer().as_slice(), b"one\nnull\n");
    }
}
