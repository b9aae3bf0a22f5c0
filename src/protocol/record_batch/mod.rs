//! Record batch v2 (magic 2), the only record format Kafka ≥ 0.11 writes: our own zero-copy codec.
//!
//! Owns the batch header layout, the record layout inside it, the CRC, and control (transaction marker)
//! records. The encoder writes records straight into one `BytesMut` in wire format; the decoder hands out
//! records whose key and value are slices of the fetched (or the once-decompressed) buffer. Must not
//! allocate per record, nor allocate by a length read from the wire without checking it against the bytes
//! that are really there. Legacy message sets (magic 0 and 1) are not supported.
//!
//! Layout of a batch (big endian), offsets from its first byte:
//!
//! ```text
//!  0 baseOffset i64          8 batchLength i32 (bytes after this field)
//! 12 partitionLeaderEpoch i32  16 magic i8 = 2   17 crc u32 (crc32c of bytes 21..end)
//! 21 attributes i16 (bits 0-2 compression, 3 timestamp type, 4 transactional, 5 control, 6 delete horizon)
//! 23 lastOffsetDelta i32    27 baseTimestamp i64   35 maxTimestamp i64
//! 43 producerId i64         51 producerEpoch i16   53 baseSequence i32   57 recordCount i32
//! 61 records (compressed as a whole when the codec is not none)
//! ```
//!
//! A record: length varint, attributes i8, timestampDelta varlong, offsetDelta varint, key length varint
//! (-1 = null) and key, value length varint (-1 = null) and value, header count varint, and per header a key
//! length varint and key, a value length varint (-1 = null) and value.

mod decoder;
mod encoder;
#[cfg(test)]
mod tests;

pub use decoder::{
    Record, RecordBatch, RecordBatchIter, RecordHeader, RecordHeaderIter, RecordHeaderRef,
    RecordHeaders, RecordHeadersRef, RecordIter, RecordRef, RecordRefIter,
    DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES,
};
pub use encoder::{
    encode_control_batch, encoded_record_size, rewrite_producer_state, BatchOptions, ControlBatch,
    HeaderRef, RecordBatchEncoder,
};

use thiserror::Error;

use super::compression::{Compression, CompressionError};
use super::varint::VarintError;

/// The record batch format version this module reads and writes.
pub const MAGIC_V2: i8 = 2;

/// Producer id of a batch written without idempotence.
pub const NO_PRODUCER_ID: i64 = -1;
/// Producer epoch of a batch written without idempotence.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// Base sequence of a batch written without idempotence (and of control batches).
pub const NO_SEQUENCE: i32 = -1;
/// Partition leader epoch a producer writes; the broker fills in the real one.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

pub(crate) mod layout {
    //! Byte offsets of the batch header fields, from the start of the batch.
    pub const BASE_OFFSET: usize = 0;
    pub const BATCH_LENGTH: usize = 8;
    pub const PARTITION_LEADER_EPOCH: usize = 12;
    pub const MAGIC: usize = 16;
    pub const CRC: usize = 17;
    pub const ATTRIBUTES: usize = 21;
    pub const LAST_OFFSET_DELTA: usize = 23;
    pub const BASE_TIMESTAMP: usize = 27;
    pub const MAX_TIMESTAMP: usize = 35;
    pub const PRODUCER_ID: usize = 43;
    pub const PRODUCER_EPOCH: usize = 51;
    pub const BASE_SEQUENCE: usize = 53;
    pub const RECORD_COUNT: usize = 57;
    /// Size of the header; the records start here.
    pub const RECORDS: usize = 61;
    /// Bytes before the part that `batchLength` counts.
    pub const LOG_OVERHEAD: usize = 12;
    /// crc32c covers from here to the end of the batch.
    pub const CRC_START: usize = ATTRIBUTES;
}

pub(crate) mod attributes {
    pub const COMPRESSION_MASK: i16 = 0x07;
    pub const LOG_APPEND_TIME: i16 = 1 << 3;
    pub const TRANSACTIONAL: i16 = 1 << 4;
    pub const CONTROL: i16 = 1 << 5;
    pub const DELETE_HORIZON: i16 = 1 << 6;
}

/// What a record's timestamp means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Set by the producer when the record was created.
    #[default]
    Create,
    /// Set by the broker when it appended the batch; every record's timestamp is the batch's max timestamp.
    LogAppend,
}

/// The kind of a control record (the key's `type` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlRecordType {
    /// Transaction marker: the producer's transaction was aborted.
    Abort,
    /// Transaction marker: the producer's transaction was committed.
    Commit,
    /// Any other type (e.g. KRaft's leader change, snapshot markers), kept as the raw code.
    Other(i16),
}

impl ControlRecordType {
    pub fn code(self) -> i16 {
        match self {
            Self::Abort => 0,
            Self::Commit => 1,
            Self::Other(code) => code,
        }
    }

    pub fn from_code(code: i16) -> Self {
        match code {
            0 => Self::Abort,
            1 => Self::Commit,
            other => Self::Other(other),
        }
    }

    /// Parses a control record's key: version i16 (0) then type i16.
    pub fn from_control_record_key(key: &[u8]) -> Result<Self, RecordBatchError> {
        let (version_bytes, rest) = key
            .split_first_chunk::<2>()
            .ok_or(RecordBatchError::InvalidControlRecordKey { key_len: key.len() })?;
        let type_bytes = rest
            .first_chunk::<2>()
            .ok_or(RecordBatchError::InvalidControlRecordKey { key_len: key.len() })?;
        let version = i16::from_be_bytes(*version_bytes);
        if version != 0 {
            return Err(RecordBatchError::UnsupportedControlRecordVersion { version });
        }
        Ok(Self::from_code(i16::from_be_bytes(*type_bytes)))
    }
}

/// Everything that can be wrong with a record batch, naming the field and the batch (by base offset) or
/// record (by offset) it was found in.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordBatchError {
    #[error("record batch at offset {base_offset}: batchLength {batch_length} is smaller than the 49-byte header it must cover")]
    BatchLengthTooSmall { base_offset: i64, batch_length: i32 },
    #[error("record batch at offset {base_offset}: magic {magic} is not supported (only record batch v2, Kafka ≥ 0.11; legacy message sets are not read)")]
    UnsupportedMagic { base_offset: i64, magic: i8 },
    #[error("record batch at offset {base_offset}: CRC mismatch (stored {stored_crc:#010x}, computed {computed_crc:#010x}); the batch is corrupt")]
    CrcMismatch {
        base_offset: i64,
        stored_crc: u32,
        computed_crc: u32,
    },
    #[error("record batch at offset {base_offset}: unknown compression code {code} in attributes")]
    UnknownCompression { base_offset: i64, code: u8 },
    #[error("record batch at offset {base_offset}: negative record count {record_count}")]
    NegativeRecordCount { base_offset: i64, record_count: i32 },
    #[error("record batch at offset {base_offset}: {record_count} records cannot fit in {records_bytes} bytes")]
    RecordCountExceedsData {
        base_offset: i64,
        record_count: i32,
        records_bytes: usize,
    },
    #[error("record batch at offset {base_offset}: decompressing its records failed: {source}")]
    Decompression {
        base_offset: i64,
        #[source]
        source: CompressionError,
    },
    #[error("record at offset {offset}: field {field} is a bad varint: {source}")]
    BadVarint {
        offset: i64,
        field: &'static str,
        #[source]
        source: VarintError,
    },
    #[error("record at offset {offset}: field {field} has invalid length {length}")]
    InvalidLength {
        offset: i64,
        field: &'static str,
        length: i64,
    },
    #[error(
        "record at offset {offset}: field {field} needs {needed} bytes but only {available} remain"
    )]
    Truncated {
        offset: i64,
        field: &'static str,
        needed: usize,
        available: usize,
    },
    #[error("record at offset {offset}: {unread_bytes} bytes left over after the last header")]
    RecordSizeMismatch { offset: i64, unread_bytes: usize },
    #[error("record batch at offset {base_offset}: {unread_bytes} bytes left over after its {record_count} records")]
    TrailingRecordBytes {
        base_offset: i64,
        record_count: i32,
        unread_bytes: usize,
    },
    #[error("record batch at offset {base_offset}: batchLength {batch_length} does not match the {actual_len} bytes given (expected one whole batch)")]
    BatchLengthMismatch {
        base_offset: i64,
        batch_length: i32,
        actual_len: usize,
    },
    #[error("record batch has {batch_len} bytes, fewer than the 61-byte v2 header")]
    NotARecordBatch { batch_len: usize },
    #[error("control record key has {key_len} bytes; a control key is version i16 + type i16")]
    InvalidControlRecordKey { key_len: usize },
    #[error("control record key version {version} is not supported (only version 0)")]
    UnsupportedControlRecordVersion { version: i16 },
    #[error("{field} of {length} bytes is too large for a record batch (at most i32::MAX)")]
    TooLarge { field: &'static str, length: usize },
    #[error("compressing a record batch failed: {source}")]
    Compression {
        #[source]
        source: CompressionError,
    },
}

/// The batch-level attributes of a decoded batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchAttributes {
    pub compression: Compression,
    pub timestamp_type: TimestampType,
    pub is_transactional: bool,
    pub is_control: bool,
    pub has_delete_horizon: bool,
}
