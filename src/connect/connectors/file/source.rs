//! The `file` source: tails a file line by line.
//!
//! The position handed out with each line is the byte offset just after it, so a restart at a committed
//! position neither re-sends nor skips a line. A last line without its newline is held back until it is
//! completed. When the file shrinks below the position (truncated) the source starts again from byte 0; when
//! the path names another file (rotated: moved away and recreated, or replaced), the rest of the old file is
//! read first — its unterminated tail, if any, becomes a last line, as that file will not grow any more — then
//! the new file from byte 0.
//!
//! A truncation the source does not see before the file grows past the position again (copytruncate racing
//! a fast writer) cannot be told from appends while it runs, as for any tailer.
//!
//! A position also names its file ([`identity`](super::identity): device, inode, checksum of the first bytes
//! handed out), so a restart tells whether the file at the path is still the one the position is in: if it was
//! replaced, rotated, truncated, or truncated and written again past the position while the engine was
//! stopped, the file is read from byte 0 (logged). An offset stored without a file (older versions) resumes
//! whichever file is at the path at that offset, or from 0 if it is shorter.

use std::io::{ErrorKind, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::config::FileSourceConfig;
use super::identity::{self, file_id, HEAD_BYTES};
use crate::connect::connector::{ConnectorError, PollLimit, SourcePoll, SourceTask, TaskId};
use crate::connect::connectors::line_value;
use crate::connect::data::Str;
use crate::connect::record::{ConnectRecord, Data, FileHead, FileId, SourcePosition};

/// How long a poll that found nothing new waits before returning `Idle`: for a change the file's directory
/// reports (inotify), or, where it cannot be watched, this long before looking again.
pub(crate) const IDLE_WAIT: Duration = Duration::from_millis(50);
/// How long a poll waits for a reported change before returning `Idle` (so the engine commits on time).
const WATCHED_IDLE_WAIT: Duration = Duration::from_millis(100);
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// What the source found at the end of the open file.
enum AtEnd {
    Unchanged,
    Truncated,
    Replaced,
}

pub struct FileSource {
    path: PathBuf,
    topic: Str,
    batch_size: usize,
    idle_wait: Duration,
    /// Changes in the file's directory (appends, creation, renames), so new lines are read as soon as they are
    /// written instead of at the next fixed look; `None` where the directory cannot be watched yet.
    changes: Option<DirectoryChanges>,
    file: Option<tokio::fs::File>,
    /// The file `position` is an offset in: the open one, or the last one opened.
    file_id: FileId,
    /// Byte offset, in that file, just after the last line handed out.
    position: u64,
    /// Checksum of that file's first `min(position, HEAD_BYTES)` bytes: the ones handed out.
    head: FileHead,
    /// The file the start position was stored in, checked against the file found at the path when it is
    /// first opened; `None` once checked, or for an offset stored without its file.
    stored_file: Option<(FileId, FileHead)>,
    /// Bytes read past `position` that do not end a line yet.
    pending: BytesMut,
    /// The path names another file; the open one is read to its end, then left.
    replaced: bool,
    waiting_logged: bool,
}

impl FileSource {
    /// Tails `config.file`, from the position `start` committed earlier (a `SourcePosition::FileOffset`, or
    /// the `Offset` of older versions) if the file at the path is still the one it is in, else from the
    /// beginning. A missing file is waited for.
    pub async fn open(
        config: &FileSourceConfig,
        task: TaskId,
        start: Option<SourcePosition>,
    ) -> Result<Self, ConnectorError> {
        let _ = task;
        let (position, stored_file) = match start {
            None => (0, None),
            Some(SourcePosition::FileOffset { offset, file, head }) => (offset, Some((file, head))),
            Some(SourcePosition::Offset(offset)) => u64::try_from(offset)
                .map(|offset| (offset, None))
                .map_err(|_| {
                ConnectorError::fatal(format!(
                    "file source: stored position {offset} is negative; delete the pipeline's stored offsets"
                ))
                })?,
            Some(other) => {
                return Err(ConnectorError::fatal(format!(
                    "file source: stored position {other:?} is not a byte offset; delete the pipeline's stored \
                     offsets"
                )))
            }
        };
        let mut source = FileSource {
            path: config.file.clone(),
            topic: config.topic.clone(),
            batch_size: config.batch_size,
            idle_wait: IDLE_WAIT,
            changes: None,
            file: None,
            file_id: FileId {
                device: 0,
                inode: 0,
            },
            position,
            head: FileHead::default(),
            stored_file,
            pending: BytesMut::new(),
            replaced: false,
            waiting_logged: false,
        };
        source.open_file().await?;
        Ok(source)
    }

    /// Byte offset just after the last line handed out.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Opens the file at the path and seeks to `position` (or 0 if the file is shorter, or not the one the
    /// stored position is in). `false`: no file yet.
    async fn open_file(&mut self) -> Result<bool, ConnectorError> {
        let mut file = match tokio::fs::File::open(&self.path).await {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if !self.waiting_logged {
                    tracing::info!(file = %self.path.display(), "file source: waiting for the file to appear");
                    self.waiting_logged = true;
                }
                return Ok(false);
            }
            Err(e) => return Err(self.io_error("open", &e)),
        };
        let meta = file
            .metadata()
            .await
            .map_err(|e| self.io_error("stat", &e))?;
        if let Some((stored_id, stored_head)) = self.stored_file {
            let changed =
                identity::changed_since(&mut file, &meta, self.position, stored_id, stored_head)
                    .await
                    .map_err(|e| self.io_error("read", &e))?;
            if let Some(changed) = changed {
                let now = file_id(&meta);
                tracing::warn!(
                    file = %self.path.display(),
                    position = self.position,
                    length = meta.len(),
                    stored_inode = stored_id.inode,
                    inode = now.inode,
                    "{}",
                    changed.while_stopped()
                );
                self.position = 0;
            }
            // Checked once: later openings follow the file as it changes while the source runs.
            self.stored_file = None;
        }
        if meta.len() < self.position {
            tracing::warn!(
                file = %self.path.display(),
                position = self.position,
                length = meta.len(),
                "file source: file is shorter than the stored position (truncated); reading from the start"
            );
            self.position = 0;
        }
        let head_bytes = self.position.min(u64::from(HEAD_BYTES)) as u32;
        let head = identity::read_head(&mut file, head_bytes)
            .await
            .map_err(|e| self.io_error("read", &e))?;
        if head.bytes < head_bytes {
            // Shrank since the metadata was read: truncated just now.
            tracing::warn!(
                file = %self.path.display(),
                position = self.position,
                "file source: file was truncated; reading from the start"
            );
            self.position = 0;
            self.head = FileHead::default();
        } else {
            self.head = head;
        }
        file.seek(SeekFrom::Start(self.position))
            .await
            .map_err(|e| self.io_error("seek", &e))?;
        self.pending.clear();
        self.file = Some(file);
        self.file_id = file_id(&meta);
        self.waiting_logged = false;
        Ok(true)
    }

    fn io_error(&self, what: &str, e: &std::io::Error) -> ConnectorError {
        ConnectorError::retriable(format!(
            "file source: cannot {what} `{}`: {e}",
            self.path.display()
        ))
    }

    fn record(&self, line: Bytes) -> ConnectRecord {
        let mut record = ConnectRecord::new(self.topic.clone(), Data::Raw(None), line_value(line));
        record.source_offset = Some(SourcePosition::FileOffset {
            offset: self.position,
            file: self.file_id,
            head: self.head,
        });
        record
    }

    /// Hands out the next `bytes` of the file (a line with its newline): the position moves past them and
    /// the first of them join the checksum of the file's first bytes.
    fn advance(&mut self, bytes: &[u8]) {
        if self.position < u64::from(HEAD_BYTES) {
            identity::extend(&mut self.head, bytes);
        }
        self.position += bytes.len() as u64;
    }

    /// Moves up to `max` complete lines from `pending` into `out`.
    fn take_lines(&mut self, limit: PollLimit, out: &mut Vec<ConnectRecord>) {
        let mut bytes: usize = out.iter().map(ConnectRecord::byte_len).sum();
        while !limit.is_reached(out.len(), bytes) {
            let Some(newline) = self.pending.iter().position(|b| *b == b'\n') else {
                return;
            };
            let end = newline + 1;
            let mut line = self.pending.split_to(end).freeze();
            self.advance(&line);
            line.truncate(end - 1);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 2);
            }
            bytes += line.len();
            out.push(self.record(line));
        }
    }

    /// Reads one chunk of the open file into `pending`; 0 at the end of the file.
    async fn read_chunk(&mut self) -> Result<usize, ConnectorError> {
        let Some(open) = self.file.as_mut() else {
            return Ok(0);
        };
        self.pending.reserve(READ_CHUNK_BYTES);
        match open.read_buf(&mut self.pending).await {
            Ok(n) => Ok(n),
            Err(e) => Err(self.io_error("read", &e)),
        }
    }

    /// At the end of the open file: was it truncated, or does the path now name another file?
    async fn check_at_end(&mut self) -> Result<AtEnd, ConnectorError> {
        let Some(open) = self.file.as_mut() else {
            return Ok(AtEnd::Unchanged);
        };
        let length = match open.metadata().await {
            Ok(meta) => meta.len(),
            Err(e) => return Err(self.io_error("stat", &e)),
        };
        let read_position = self.position + self.pending.len() as u64;
        if length < read_position {
            tracing::warn!(
                file = %self.path.display(),
                position = read_position,
                length,
                "file source: file was truncated; reading from the start"
            );
            // Reopened (and so sought) by the next read: nothing here is left half-done if the poll is
            // cancelled.
            self.position = 0;
            self.head = FileHead::default();
            self.pending.clear();
            self.file = None;
            return Ok(AtEnd::Truncated);
        }
        match tokio::fs::metadata(&self.path).await {
            Ok(meta) if file_id(&meta) != self.file_id => Ok(AtEnd::Replaced),
            // Same file, or moved away and not recreated yet: keep following the open one.
            Ok(_) => Ok(AtEnd::Unchanged),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(AtEnd::Unchanged),
            Err(e) => Err(self.io_error("stat", &e)),
        }
    }
}

impl FileSource {
    /// Waits until the file's directory reports a change (or [`WATCHED_IDLE_WAIT`] passes); where it cannot be
    /// watched, [`IDLE_WAIT`]. A change made between the last read and this wait is already queued in the
    /// kernel, so it ends the wait at once: no line waits for a timer.
    async fn wait_for_change(&mut self) {
        if self.changes.is_none() {
            self.changes = DirectoryChanges::watch(&self.path);
        }
        match &mut self.changes {
            Some(changes) => {
                if changes.next(WATCHED_IDLE_WAIT).await == Woken::WatchEnded {
                    // The watch broke (its directory went away): look again the plain way until it is back.
                    self.changes = None;
                }
            }
            None => tokio::time::sleep(self.idle_wait).await,
        }
    }
}

/// inotify events of one directory: writes, creations, renames and deletions in it.
#[cfg(target_os = "linux")]
struct DirectoryChanges {
    events: inotify::EventStream<Vec<u8>>,
}

#[cfg(target_os = "linux")]
impl DirectoryChanges {
    /// Watches the directory `path` is in; `None` if it cannot (no such directory yet, no inotify).
    fn watch(path: &std::path::Path) -> Option<Self> {
        use inotify::{Inotify, WatchMask};
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => std::path::Path::new("."),
        };
        let inotify = Inotify::init().ok()?;
        inotify
            .watches()
            .add(
                directory,
                WatchMask::MODIFY
                    | WatchMask::CLOSE_WRITE
                    | WatchMask::CREATE
                    | WatchMask::MOVED_TO
                    | WatchMask::MOVED_FROM
                    | WatchMask::DELETE
                    | WatchMask::ATTRIB,
            )
            .ok()?;
        // Room for a few dozen events a read; more wait in the kernel for the next one.
        let events = inotify.into_event_stream(vec![0u8; 4096]).ok()?;
        Some(Self { events })
    }

    /// Waits for the next change, at most `timeout`.
    async fn next(&mut self, timeout: Duration) -> Woken {
        use futures_util::StreamExt;
        match tokio::time::timeout(timeout, self.events.next()).await {
            Err(_elapsed) => Woken::TimedOut,
            Ok(Some(Ok(event))) if !event.mask.contains(inotify::EventMask::IGNORED) => {
                Woken::Changed
            }
            Ok(_) => Woken::WatchEnded,
        }
    }
}

/// Without inotify the source looks again every [`IDLE_WAIT`].
#[cfg(not(target_os = "linux"))]
struct DirectoryChanges;

#[cfg(not(target_os = "linux"))]
impl DirectoryChanges {
    fn watch(_path: &std::path::Path) -> Option<Self> {
        None
    }

    async fn next(&mut self, _timeout: Duration) -> Woken {
        Woken::WatchEnded
    }
}

/// Why a wait for a change ended.
#[derive(Debug, PartialEq, Eq)]
enum Woken {
    Changed,
    TimedOut,
    /// The watch is gone (its directory was removed, or reading it failed).
    WatchEnded,
}

impl SourceTask for FileSource {
    async fn poll(&mut self, limit: PollLimit) -> Result<SourcePoll, ConnectorError> {
        let limit = PollLimit {
            records: limit.records.clamp(1, self.batch_size),
            ..limit
        };
        let mut records = Vec::new();
        loop {
            self.take_lines(limit, &mut records);
            if !records.is_empty() {
                return Ok(SourcePoll::Records(records));
            }
            if self.file.is_none() && !self.open_file().await? {
                self.wait_for_change().await;
                return Ok(SourcePoll::Idle);
            }
            if self.read_chunk().await? > 0 {
                continue;
            }
            if self.replaced {
                // The old file was read to its end after the path changed: it is finished.
                self.replaced = false;
                if !self.pending.is_empty() {
                    let mut tail = self.pending.split().freeze();
                    self.advance(&tail);
                    if tail.last() == Some(&b'\r') {
                        tail.truncate(tail.len() - 1);
                    }
                    records.push(self.record(tail));
                }
                tracing::info!(file = %self.path.display(), "file source: file was rotated; reading the new one");
                self.file = None;
                self.position = 0;
                self.head = FileHead::default();
                if !records.is_empty() {
                    return Ok(SourcePoll::Records(records));
                }
                continue;
            }
            match self.check_at_end().await? {
                AtEnd::Truncated => continue,
                // Read the old file once more: lines may have been appended just before it was replaced.
                AtEnd::Replaced => self.replaced = true,
                AtEnd::Unchanged => {
                    self.wait_for_change().await;
                    return Ok(SourcePoll::Idle);
                }
            }
        }
    }

    async fn commit(&mut self, position: &SourcePosition) -> Result<(), ConnectorError> {
        // The engine stores positions; nothing to do here.
        let _ = position;
        Ok(())
    }

    async fn close(&mut self) {
        self.file = None;
        self.pending.clear();
    }
}

#[cfg(all(test, target_os = "linux"))]
mod directory_changes_tests {
    use super::*;

    #[tokio::test]
    async fn an_append_ends_the_wait_before_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        std::fs::write(&path, "first\n").unwrap();
        let mut changes = DirectoryChanges::watch(&path).expect("a watch on a temp directory");
        // Written before the wait starts: the event waits in the kernel, so the wait still ends at once.
        {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            file.write_all(b"second\n").unwrap();
        }
        // Ten minutes: only the event, not the timeout, can end this wait in a passing run.
        assert_eq!(changes.next(Duration::from_secs(600)).await, Woken::Changed);
    }

    #[tokio::test]
    async fn a_file_created_in_the_directory_ends_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later.txt");
        let mut changes = DirectoryChanges::watch(&path).expect("a watch on a temp directory");
        std::fs::write(&path, "hello\n").unwrap();
        assert_eq!(changes.next(Duration::from_secs(600)).await, Woken::Changed);
    }

    #[tokio::test]
    async fn nothing_written_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut changes = DirectoryChanges::watch(&dir.path().join("x")).unwrap();
        assert_eq!(
            changes.next(Duration::from_millis(20)).await,
            Woken::TimedOut
        );
    }
}
