//! Writing record batches: records go straight into one `BytesMut` in wire format, the header is filled in
//! and the CRC computed once, at `finish`.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};

use super::{
    attributes, layout, ControlRecordType, RecordBatchError, TimestampType, MAGIC_V2,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};
use crate::protocol::compression::Compression;
use crate::protocol::varint::{varint_len, varlong_len, zigzag_i32, zigzag_i64};

/// Timestamp a batch with no records carries (Kafka's `NO_TIMESTAMP`).
const NO_TIMESTAMP: i64 = -1;

/// How a batch is written: its codec and its producer (idempotence / transaction) state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    pub compression: Compression,
    /// `compression.level`; `None` is the codec's default (see [`Compression::compress_with_level`]).
    pub compression_level: Option<i32>,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub is_transactional: bool,
    pub timestamp_type: TimestampType,
}

impl Default for BatchOptions {
    /// Uncompressed, non-idempotent, create-time timestamps.
    fn default() -> Self {
        Self {
            compression: Compression::None,
            compression_level: None,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            is_transactional: false,
            timestamp_type: TimestampType::Create,
        }
    }
}

/// A record header to write: a key (a string in Kafka, but written as bytes) and a nullable value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRef<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

impl<'a> HeaderRef<'a> {
    pub fn new(key: &'a (impl AsRef<[u8]> + ?Sized), value: Option<&'a [u8]>) -> Self {
        Self {
            key: key.as_ref(),
            value,
        }
    }
}

/// Builds one record batch in wire format. Offsets start at 0 (the broker assigns real ones); the base
/// timestamp is the first record's, as the Java client does, so later records may have negative deltas.
#[derive(Debug)]
pub struct RecordBatchEncoder {
    options: BatchOptions,
    is_control: bool,
    buf: BytesMut,
    record_count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl RecordBatchEncoder {
    pub fn new(options: BatchOptions) -> Self {
        Self::with_capacity(options, 0)
    }

    /// An encoder whose buffer has room for `records_capacity_bytes` of records before it grows (e.g. the
    /// producer's `batch.size`).
    pub fn with_capacity(options: BatchOptions, records_capacity_bytes: usize) -> Self {
        let mut buf = BytesMut::with_capacity(layout::RECORDS + records_capacity_bytes);
        buf.resize(layout::RECORDS, 0);
        Self {
            options,
            is_control: false,
            buf,
            record_count: 0,
            base_timestamp: NO_TIMESTAMP,
            max_timestamp: NO_TIMESTAMP,
        }
    }

    pub fn options(&self) -> &BatchOptions {
        &self.options
    }

    /// Sets the producer id, epoch, base sequence and transactional flag the batch will carry. The idempotent
    /// producer calls this when it first sends the batch, so sequences follow send order.
    pub fn set_producer_state(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        is_transactional: bool,
    ) {
        self.options.producer_id = producer_id;
        self.options.producer_epoch = producer_epoch;
        self.options.base_sequence = base_sequence;
        self.options.is_transactional = is_transactional;
    }

    pub fn record_count(&self) -> i32 {
        self.record_count
    }

    /// Bytes the batch takes so far, before compression: what `batch.size` is compared against (the Java
    /// client compares an estimate of the compressed size; uncompressed is the safe upper bound).
    pub fn size_in_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Bytes the batch would take, before compression, once this record is appended.
    pub fn size_with_record(
        &self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[HeaderRef<'_>],
    ) -> usize {
        let base_timestamp = if self.record_count == 0 {
            timestamp_ms
        } else {
            self.base_timestamp
        };
        self.buf.len()
            + encoded_record_size(
                timestamp_ms.wrapping_sub(base_timestamp),
                self.record_count,
                key,
                value,
                headers,
            )
    }

    /// Appends one record, returning its offset delta (its index in the batch).
    ///
    /// Fails only when a key, value or header is larger than the format can say (i32::MAX bytes), or the
    /// batch already holds i32::MAX records.
    #[inline]
    pub fn append(
        &mut self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[HeaderRef<'_>],
    ) -> Result<i32, RecordBatchError> {
        match self.append_unless_over(usize::MAX, timestamp_ms, key, value, headers)? {
            Some(offset_delta) => Ok(offset_delta),
            None => unreachable!("no batch size exceeds usize::MAX bytes"),
        }
    }

    /// Appends one record and returns its offset delta, unless the batch already holds a record and would
    /// then take more than `limit_bytes` before compression: `Ok(None)` then, and the batch is unchanged (the
    /// producer closes it and starts the next). The record's size is computed once for both the check and the
    /// write — this is the producer's per-record path, where `size_with_record` then `append` computed it twice.
    #[inline]
    pub fn append_unless_over(
        &mut self,
        limit_bytes: usize,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[HeaderRef<'_>],
    ) -> Result<Option<i32>, RecordBatchError> {
        let base_timestamp = if self.record_count == 0 {
            timestamp_ms
        } else {
            self.base_timestamp
        };
        let offset_delta = self.record_count;
        let next_count = offset_delta
            .checked_add(1)
            .ok_or(RecordBatchError::TooLarge {
                field: "record count",
                length: i32::MAX as usize,
            })?;
        let timestamp_delta = timestamp_ms.wrapping_sub(base_timestamp);
        let body_len = record_body_size(timestamp_delta, offset_delta, key, value, headers);
        let body_len_i32 = checked_i32_len("record", body_len)?;
        let record_len = varint_len(body_len_i32) + body_len;
        if offset_delta > 0 && self.buf.len().saturating_add(record_len) > limit_bytes {
            return Ok(None);
        }
        check_nullable_len("key", key)?;
        check_nullable_len("value", value)?;
        let header_count = checked_i32_len("header count", headers.len())?;
        for header in headers {
            checked_i32_len("header key", header.key.len())?;
            check_nullable_len("header value", header.value)?;
        }

        write_record(
            &mut self.buf,
            record_len,
            body_len_i32,
            timestamp_delta,
            offset_delta,
            key,
            value,
            header_count,
            headers,
        );

        if offset_delta == 0 {
            self.base_timestamp = timestamp_ms;
            self.max_timestamp = timestamp_ms;
        }
        self.record_count = next_count;
        self.max_timestamp = self.max_timestamp.max(timestamp_ms);
        Ok(Some(offset_delta))
    }

    /// Fills in the header, compresses the records if the codec says so, and computes the CRC.
    pub fn finish(self) -> Result<Bytes, RecordBatchError> {
        let Self {
            options,
            is_control,
            mut buf,
            record_count,
            base_timestamp,
            max_timestamp,
        } = self;
        if options.compression != Compression::None {
            let records = &buf[layout::RECORDS..];
            let mut compressed = BytesMut::with_capacity(layout::RECORDS + records.len() / 2 + 64);
            compressed.extend_from_slice(&buf[..layout::RECORDS]);
            options
                .compression
                .compress_with_level(records, options.compression_level, &mut compressed)
                .map_err(|source| RecordBatchError::Compression { source })?;
            buf = compressed;
        }
        let batch_length = checked_i32_len("record batch", buf.len() - layout::LOG_OVERHEAD)?;

        let mut attributes = i16::from(options.compression.attribute_code());
        if options.timestamp_type == TimestampType::LogAppend {
            attributes |= attributes::LOG_APPEND_TIME;
        }
        if options.is_transactional {
            attributes |= attributes::TRANSACTIONAL;
        }
        if is_control {
            attributes |= attributes::CONTROL;
        }

        let header = &mut buf[..layout::RECORDS];
        header[layout::BASE_OFFSET..layout::BATCH_LENGTH].copy_from_slice(&0i64.to_be_bytes());
        header[layout::BATCH_LENGTH..layout::PARTITION_LEADER_EPOCH]
            .copy_from_slice(&batch_length.to_be_bytes());
        header[layout::PARTITION_LEADER_EPOCH..layout::MAGIC]
            .copy_from_slice(&NO_PARTITION_LEADER_EPOCH.to_be_bytes());
        header[layout::MAGIC] = MAGIC_V2 as u8;
        header[layout::ATTRIBUTES..layout::LAST_OFFSET_DELTA]
            .copy_from_slice(&attributes.to_be_bytes());
        header[layout::LAST_OFFSET_DELTA..layout::BASE_TIMESTAMP]
            .copy_from_slice(&(record_count - 1).to_be_bytes());
        header[layout::BASE_TIMESTAMP..layout::MAX_TIMESTAMP]
            .copy_from_slice(&base_timestamp.to_be_bytes());
        header[layout::MAX_TIMESTAMP..layout::PRODUCER_ID]
            .copy_from_slice(&max_timestamp.to_be_bytes());
        header[layout::RECORD_COUNT..layout::RECORDS].copy_from_slice(&record_count.to_be_bytes());
        write_producer_state(
            header,
            options.producer_id,
            options.producer_epoch,
            options.base_sequence,
        );
        write_crc(&mut buf);
        Ok(buf.freeze())
    }
}

/// Bytes one record takes in a batch, its length prefix included.
#[inline]
pub fn encoded_record_size(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[HeaderRef<'_>],
) -> usize {
    let body = record_body_size(timestamp_delta, offset_delta, key, value, headers);
    body + varint_len(i32::try_from(body).unwrap_or(i32::MAX))
}

/// Bytes of a record after its length prefix.
#[inline]
fn record_body_size(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[HeaderRef<'_>],
) -> usize {
    let mut size = 1 // attributes
        + varlong_len(timestamp_delta)
        + varint_len(offset_delta)
        + nullable_bytes_size(key)
        + nullable_bytes_size(value)
        + varint_len(i32::try_from(headers.len()).unwrap_or(i32::MAX));
    for header in headers {
        size += nullable_bytes_size(Some(header.key)) + nullable_bytes_size(header.value);
    }
    size
}

#[inline]
fn nullable_bytes_size(bytes: Option<&[u8]>) -> usize {
    match bytes {
        None => 1,
        Some(bytes) => varint_len(i32::try_from(bytes.len()).unwrap_or(i32::MAX)) + bytes.len(),
    }
}

/// Writes one record of exactly `record_len` bytes at the end of `buf`.
///
/// Writes go straight into the buffer's spare capacity: the bench showed `BytesMut::put_*` per field
/// (a capacity check and often a `memmove` call for each 1-2 byte varint) took most of the encode time.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn write_record(
    buf: &mut BytesMut,
    record_len: usize,
    body_len: i32,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    header_count: i32,
    headers: &[HeaderRef<'_>],
) {
    buf.reserve(record_len);
    let spare = &mut buf.spare_capacity_mut()[..record_len];
    let mut at = write_unsigned_varint(spare, 0, u64::from(zigzag_i32(body_len)));
    // Record attributes: unused by Kafka, always 0.
    spare[at].write(0);
    at += 1;
    at = write_unsigned_varint(spare, at, zigzag_i64(timestamp_delta));
    at = write_unsigned_varint(spare, at, u64::from(zigzag_i32(offset_delta)));
    at = write_nullable_bytes(spare, at, key);
    at = write_nullable_bytes(spare, at, value);
    at = write_unsigned_varint(spare, at, u64::from(zigzag_i32(header_count)));
    for header in headers {
        at = write_nullable_bytes(spare, at, Some(header.key));
        at = write_nullable_bytes(spare, at, header.value);
    }
    // Guards the `set_len` below in release builds too: a size mismatch must never expose uninitialised
    // memory. Slicing `spare` to `record_len` already made any overrun panic.
    assert_eq!(
        at, record_len,
        "record size computation disagrees with the encoder"
    );
    let new_len = buf.len() + record_len;
    // SAFETY: `spare` is the first `record_len` bytes of the spare capacity (reserved above), and the
    // writes above initialised all of them (`at == record_len`, each write advancing `at` by exactly the
    // bytes it wrote).
    unsafe { buf.set_len(new_len) };
}

#[inline(always)]
fn write_unsigned_varint(out: &mut [MaybeUninit<u8>], mut at: usize, mut value: u64) -> usize {
    while value >= 0x80 {
        out[at].write((value as u8) | 0x80);
        value >>= 7;
        at += 1;
    }
    out[at].write(value as u8);
    at + 1
}

#[inline(always)]
fn write_nullable_bytes(out: &mut [MaybeUninit<u8>], at: usize, bytes: Option<&[u8]>) -> usize {
    match bytes {
        None => {
            out[at].write(0x01); // zigzag(-1)
            at + 1
        }
        Some(bytes) => {
            // Lengths were checked against i32::MAX before anything was written.
            let at = write_unsigned_varint(out, at, u64::from(zigzag_i32(bytes.len() as i32)));
            let destination = &mut out[at..at + bytes.len()];
            // SAFETY: `destination` is exactly `bytes.len()` writable bytes (the slice above is bounds
            // checked), `MaybeUninit<u8>` has the layout of `u8`, and a borrowed `&[u8]` cannot overlap
            // the encoder's exclusively borrowed buffer.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    bytes.as_ptr(),
                    destination.as_mut_ptr().cast::<u8>(),
                    bytes.len(),
                );
            }
            at + bytes.len()
        }
    }
}

#[inline]
fn checked_i32_len(field: &'static str, length: usize) -> Result<i32, RecordBatchError> {
    i32::try_from(length).map_err(|_| RecordBatchError::TooLarge { field, length })
}

#[inline]
fn check_nullable_len(field: &'static str, bytes: Option<&[u8]>) -> Result<(), RecordBatchError> {
    match bytes {
        Some(bytes) => checked_i32_len(field, bytes.len()).map(drop),
        None => Ok(()),
    }
}

fn write_producer_state(
    header: &mut [u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) {
    header[layout::PRODUCER_ID..layout::PRODUCER_EPOCH].copy_from_slice(&producer_id.to_be_bytes());
    header[layout::PRODUCER_EPOCH..layout::BASE_SEQUENCE]
        .copy_from_slice(&producer_epoch.to_be_bytes());
    header[layout::BASE_SEQUENCE..layout::RECORD_COUNT]
        .copy_from_slice(&base_sequence.to_be_bytes());
}

/// Computes the CRC of a whole batch (whose length was checked ≥ 61) and stores it.
fn write_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[layout::CRC_START..]);
    batch[layout::CRC..layout::ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
}

/// Rewrites the producer id, epoch, base sequence and transactional flag of one finished batch and
/// recomputes its CRC: on a retry after the idempotent producer bumped its epoch (KIP-360), or after it was
/// reassigned sequence numbers, the batch is re-sent without re-encoding its records.
pub fn rewrite_producer_state(
    batch: &mut [u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    is_transactional: bool,
) -> Result<(), RecordBatchError> {
    if batch.len() < layout::RECORDS {
        return Err(RecordBatchError::NotARecordBatch {
            batch_len: batch.len(),
        });
    }
    let base_offset = read_i64(batch, layout::BASE_OFFSET);
    let magic = batch[layout::MAGIC] as i8;
    if magic != MAGIC_V2 {
        return Err(RecordBatchError::UnsupportedMagic { base_offset, magic });
    }
    let batch_length = read_i32(batch, layout::BATCH_LENGTH);
    if usize::try_from(batch_length).ok() != Some(batch.len() - layout::LOG_OVERHEAD) {
        return Err(RecordBatchError::BatchLengthMismatch {
            base_offset,
            batch_length,
            actual_len: batch.len(),
        });
    }
    let mut attributes = read_i16(batch, layout::ATTRIBUTES);
    if is_transactional {
        attributes |= attributes::TRANSACTIONAL;
    } else {
        attributes &= !attributes::TRANSACTIONAL;
    }
    batch[layout::ATTRIBUTES..layout::LAST_OFFSET_DELTA].copy_from_slice(&attributes.to_be_bytes());
    write_producer_state(batch, producer_id, producer_epoch, base_sequence);
    write_crc(batch);
    Ok(())
}

fn read_i64(batch: &[u8], at: usize) -> i64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&batch[at..at + 8]);
    i64::from_be_bytes(bytes)
}

fn read_i32(batch: &[u8], at: usize) -> i32 {
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&batch[at..at + 4]);
    i32::from_be_bytes(bytes)
}

fn read_i16(batch: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([batch[at], batch[at + 1]])
}

/// A transaction marker batch, as the transaction coordinator writes it when a transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlBatch {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub marker: ControlRecordType,
    pub coordinator_epoch: i32,
    pub timestamp_ms: i64,
}

/// Encodes a control batch holding one transaction marker record (key: version 0 + type; value: version 0
/// + coordinator epoch), transactional and with the control bit set.
pub fn encode_control_batch(control: &ControlBatch) -> Result<Bytes, RecordBatchError> {
    let mut encoder = RecordBatchEncoder::with_capacity(
        BatchOptions {
            compression: Compression::None,
            compression_level: None,
            producer_id: control.producer_id,
            producer_epoch: control.producer_epoch,
            base_sequence: NO_SEQUENCE,
            is_transactional: true,
            timestamp_type: TimestampType::Create,
        },
        32,
    );
    encoder.is_control = true;
    let mut key = [0u8; 4];
    key[2..].copy_from_slice(&control.marker.code().to_be_bytes());
    let mut value = [0u8; 6];
    value[2..].copy_from_slice(&control.coordinator_epoch.to_be_bytes());
    encoder.append(control.timestamp_ms, Some(&key), Some(&value), &[])?;
    encoder.finish()
}
