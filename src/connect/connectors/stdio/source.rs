//! The `stdin` source: one record per line of standard input (or of any buffered reader, for tests);
//! `Finished` at the end of the input.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader, Stdin};

use super::config::StdinSourceConfig;
use crate::connect::connector::{ConnectorError, PollLimit, SourcePoll, SourceTask, TaskId};
use crate::connect::connectors::line_value;
use crate::connect::data::Str;
use crate::connect::record::{ConnectRecord, Data, SourcePosition};

/// How long a poll waits for a line before returning `Idle`.
const IDLE_WAIT: Duration = Duration::from_millis(100);

pub struct StdinSource<R = Stdin> {
    reader: BufReader<R>,
    topic: Str,
    batch_size: usize,
    /// Lines handed out, counting from the start position.
    lines: i64,
    /// The line being read; kept across polls because a poll may stop waiting in the middle of a line.
    line: Vec<u8>,
    at_end: bool,
}

impl StdinSource {
    /// Reads standard input. Standard input cannot be rewound: `start` (a line count) only makes positions
    /// continue from where the previous run stopped.
    pub async fn open(
        config: &StdinSourceConfig,
        task: TaskId,
        start: Option<SourcePosition>,
    ) -> Result<Self, ConnectorError> {
        let _ = task;
        Self::from_reader(tokio::io::stdin(), config, start)
    }
}

impl<R: AsyncRead + Unpin> StdinSource<R> {
    /// Reads lines from `reader` instead of standard input.
    pub fn from_reader(
        reader: R,
        config: &StdinSourceConfig,
        start: Option<SourcePosition>,
    ) -> Result<Self, ConnectorError> {
        let lines = match start {
            None => 0,
            Some(SourcePosition::Offset(n)) => n.max(0),
            Some(other) => {
                return Err(ConnectorError::fatal(format!(
                    "stdin source: stored position {other:?} is not a line count; delete the pipeline's stored \
                     offsets"
                )))
            }
        };
        Ok(StdinSource {
            reader: BufReader::new(reader),
            topic: config.topic.clone(),
            batch_size: config.batch_size,
            lines,
            line: Vec::new(),
            at_end: false,
        })
    }

    /// Reads into `self.line` until a newline or the end; `false` at the end with nothing read.
    async fn read_line(&mut self) -> Result<bool, ConnectorError> {
        let n = self
            .reader
            .read_until(b'\n', &mut self.line)
            .await
            .map_err(|e| ConnectorError::retriable(format!("stdin source: cannot read: {e}")))?;
        if n == 0 {
            self.at_end = true;
        }
        Ok(!self.line.is_empty())
    }

    fn take_record(&mut self) -> ConnectRecord {
        let mut line = std::mem::take(&mut self.line);
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        self.lines += 1;
        let mut record = ConnectRecord::new(
            self.topic.clone(),
            Data::Raw(None),
            line_value(Bytes::from(line)),
        );
        record.source_offset = Some(SourcePosition::Offset(self.lines));
        record
    }
}

impl<R: AsyncRead + Unpin> SourceTask for StdinSource<R> {
    async fn poll(&mut self, limit: PollLimit) -> Result<SourcePoll, ConnectorError> {
        if self.at_end {
            return Ok(SourcePoll::Finished);
        }
        let limit = PollLimit {
            records: limit.records.clamp(1, self.batch_size),
            ..limit
        };
        // `read_until` is cancel safe: bytes read before the timeout stay in `self.line`.
        let got_line = match tokio::time::timeout(IDLE_WAIT, self.read_line()).await {
            Ok(result) => result?,
            Err(_) => return Ok(SourcePoll::Idle),
        };
        if !got_line {
            return Ok(SourcePoll::Finished);
        }
        let mut records = vec![self.take_record()];
        let mut bytes = records[0].byte_len();
        // More lines only while they are already buffered: never wait with records in hand.
        while !limit.is_reached(records.len(), bytes)
            && !self.at_end
            && self.reader.buffer().contains(&b'\n')
        {
            if self.read_line().await? {
                let record = self.take_record();
                bytes += record.byte_len();
                records.push(record);
            }
        }
        Ok(SourcePoll::Records(records))
    }

    async fn commit(&mut self, position: &SourcePosition) -> Result<(), ConnectorError> {
        let _ = position;
        Ok(())
    }

    async fn close(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(poll: SourcePoll) -> Vec<(String, i64)> {
        let SourcePoll::Records(records) = poll else {
            panic!("records expected, got {poll:?}")
        };
        records
            .into_iter()
            .map(|r| {
                let Some(crate::connect::data::Value::String(v)) =
                    r.value.converted().map(|sv| &sv.value)
                else {
                    panic!("a string value")
                };
                let Some(SourcePosition::Offset(p)) = r.source_offset else {
                    panic!("offset")
                };
                (v.to_string(), p)
            })
            .collect()
    }

    #[tokio::test]
    async fn lines_then_finished_at_the_end_positions_count_lines() {
        let input: &[u8] = b"a\nb\r\nlast without newline";
        let mut source =
            StdinSource::from_reader(input, &StdinSourceConfig::default(), None).unwrap();
        let mut all = Vec::new();
        loop {
            match source.poll(PollLimit::records(10)).await.unwrap() {
                SourcePoll::Finished => break,
                SourcePoll::Idle => {}
                poll => all.extend(lines_of(poll)),
            }
        }
        assert_eq!(
            all,
            vec![
                ("a".into(), 1),
                ("b".into(), 2),
                ("last without newline".into(), 3)
            ]
        );
        assert!(matches!(
            source.poll(PollLimit::records(10)).await.unwrap(),
            SourcePoll::Finished
        ));
    }

    #[tokio::test]
    async fn positions_continue_from_the_start_position() {
        let input: &[u8] = b"x\n";
        let mut source = StdinSource::from_reader(
            input,
            &StdinSourceConfig::default(),
            Some(SourcePosition::Offset(41)),
        )
        .unwrap();
        assert_eq!(
            lines_of(source.poll(PollLimit::records(10)).await.unwrap()),
            vec![("x".into(), 42)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_input_gives_idle_and_keeps_the_partial_line() {
        let (reader, mut writer) = tokio::io::duplex(64);
        let mut source =
            StdinSource::from_reader(reader, &StdinSourceConfig::default(), None).unwrap();
        use tokio::io::AsyncWriteExt;
        writer.write_all(b"hel").await.unwrap();
        assert!(matches!(
            source.poll(PollLimit::records(10)).await.unwrap(),
            SourcePoll::Idle
        ));
        writer.write_all(b"lo\n").await.unwrap();
        assert_eq!(
            lines_of(source.poll(PollLimit::records(10)).await.unwrap()),
            vec![("hello".into(), 1)]
        );
        drop(writer);
        assert!(matches!(
            source.poll(PollLimit::records(10)).await.unwrap(),
            SourcePoll::Finished
        ));
    }
}
