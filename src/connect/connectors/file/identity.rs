//! How the file source tells the file a stored position is in from another one at the same path: the device
//! and inode the file lives on, and a CRC-32C of its first bytes (up to [`HEAD_BYTES`]), as log shippers
//! fingerprint files (Filebeat hashes a file's first KiB, Vector checksums its first lines).
//!
//! The inode tells a replaced or rotated file; the checksum tells a file truncated in place and written
//! again, which keeps its inode, and a new file given an inode freed by a deleted one. The checksum covers the
//! bytes the source has handed out (never more than the position), so a short file is fingerprinted too.
//! Owns no file handle and makes no decision; the source does.

use std::io::SeekFrom;

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::connect::record::{FileHead, FileId};

/// The most first bytes of a file the checksum covers.
pub(super) const HEAD_BYTES: u32 = 1024;

#[cfg(unix)]
pub(super) fn file_id(meta: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    FileId {
        device: meta.dev(),
        inode: meta.ino(),
    }
}

#[cfg(not(unix))]
pub(super) fn file_id(_meta: &std::fs::Metadata) -> FileId {
    // No inode to compare: only the checksum of the first bytes tells files apart.
    FileId {
        device: 0,
        inode: 0,
    }
}

/// Adds `bytes`, the ones just after those `head` covers, to it, up to [`HEAD_BYTES`] in all.
pub(super) fn extend(head: &mut FileHead, bytes: &[u8]) {
    let room = HEAD_BYTES.saturating_sub(head.bytes) as usize;
    if room == 0 {
        return;
    }
    let covered = &bytes[..bytes.len().min(room)];
    head.crc32c = crc32c::crc32c_append(head.crc32c, covered);
    head.bytes += covered.len() as u32;
}

/// The checksum of the first `bytes` bytes of `file` (of all of it if it is shorter: `bytes` of the answer
/// says how many were there). Leaves the file's cursor anywhere; the caller seeks.
pub(super) async fn read_head(file: &mut tokio::fs::File, bytes: u32) -> std::io::Result<FileHead> {
    file.seek(SeekFrom::Start(0)).await?;
    let mut head = FileHead::default();
    let mut chunk = [0u8; HEAD_BYTES as usize];
    while head.bytes < bytes {
        let want = ((bytes - head.bytes) as usize).min(chunk.len());
        let n = file.read(&mut chunk[..want]).await?;
        if n == 0 {
            break;
        }
        head.crc32c = crc32c::crc32c_append(head.crc32c, &chunk[..n]);
        head.bytes += n as u32;
    }
    Ok(head)
}

/// Why the file at the path is not the one a stored position is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Changed {
    /// Another device or inode: the file was replaced or rotated.
    Replaced,
    /// Shorter than the position: truncated.
    Truncated,
    /// Same inode, long enough, other first bytes: truncated and written again past the position.
    Rewritten,
}

impl Changed {
    /// What the log says happened while the engine was stopped.
    pub(super) fn while_stopped(self) -> &'static str {
        match self {
            Changed::Replaced => {
                "file source: file was replaced while the engine was stopped (another inode at the path); \
                 reading from the start"
            }
            Changed::Truncated => {
                "file source: file was truncated while the engine was stopped (shorter than the stored \
                 position); reading from the start"
            }
            Changed::Rewritten => {
                "file source: file was truncated and written again while the engine was stopped (its first \
                 bytes differ from the ones read before); reading from the start"
            }
        }
    }
}

/// Whether the file `file` (metadata `meta`) is not the one the stored position (`offset` in the file
/// `stored_id` whose first bytes were `stored_head`) is in.
pub(super) async fn changed_since(
    file: &mut tokio::fs::File,
    meta: &std::fs::Metadata,
    offset: u64,
    stored_id: FileId,
    stored_head: FileHead,
) -> std::io::Result<Option<Changed>> {
    if file_id(meta) != stored_id {
        return Ok(Some(Changed::Replaced));
    }
    if meta.len() < offset {
        return Ok(Some(Changed::Truncated));
    }
    if read_head(file, stored_head.bytes).await? != stored_head {
        return Ok(Some(Changed::Rewritten));
    }
    Ok(None)
}
