//! Reading record batches from the `records` field of a fetch response: batches are `Bytes` slices of the
//! fetched buffer, records are parsed lazily, and keys and values are slices (no copy) of the fetched
//! buffer, or of the batch's one decompressed buffer.

use std::cell::OnceCell;

use bytes::Bytes;

use super::{attributes, layout, BatchAttributes, RecordBatchError, TimestampType, MAGIC_V2};
use crate::protocol::compression::Compression;
use crate::protocol::varint::{
    read_unsigned_varint_at, read_unsigned_varlong_at, read_varint, read_varlong, unzigzag_i32,
    unzigzag_i64, VarintError,
};

/// Default bound on one batch's decompressed records: generous for Kafka's `max.message.bytes` (1 MiB by
/// default) at realistic ratios, small enough that a decompression bomb cannot exhaust memory.
pub const DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES: usize = 64 << 20;

/// The fewest bytes a record can take: length, attributes, timestamp delta, offset delta, key length,
/// value length and header count, one byte each.
const MIN_RECORD_BYTES: usize = 7;
/// The fewest bytes a header can take: key length and value length.
const MIN_HEADER_BYTES: usize = 2;

/// Iterates the batches of a fetch response partition's `records`. A trailing partial batch (the broker
/// cuts the response at the fetch's max bytes) ends the iteration silently; after an error the iteration
/// ends, since the next batch boundary can no longer be trusted.
#[derive(Debug, Clone)]
pub struct RecordBatchIter {
    data: Bytes,
    position: usize,
    max_decompressed_batch_bytes: usize,
    verify_crc: bool,
    stopped: bool,
}

impl RecordBatchIter {
    pub fn new(records: Bytes) -> Self {
        Self {
            data: records,
            position: 0,
            max_decompressed_batch_bytes: DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES,
            verify_crc: true,
            stopped: false,
        }
    }

    /// Whether each batch's CRC32C is checked (the consumer's `check.crcs`, true by default as in the Java
    /// client; librdkafka's default is false). Off, a corrupted batch is caught only where its structure
    /// no longer parses.
    pub fn with_crc_check(mut self, verify_crc: bool) -> Self {
        self.verify_crc = verify_crc;
        self
    }

    /// Bounds how large one batch's records may decompress to; larger ones are an error.
    pub fn with_max_decompressed_batch_bytes(mut self, max_bytes: usize) -> Self {
        self.max_decompressed_batch_bytes = max_bytes;
        self
    }

    /// Bytes not yet returned as batches: after the iteration ends without error, the size of the trailing
    /// partial batch (0 when the response ended on a batch boundary).
    pub fn unread_bytes(&self) -> usize {
        self.data.len() - self.position
    }

    fn next_batch(&mut self) -> Option<Result<RecordBatch, RecordBatchError>> {
        let rest = &self.data[self.position..];
        if rest.len() < layout::LOG_OVERHEAD {
            return None;
        }
        let base_offset = read_i64(rest, layout::BASE_OFFSET);
        let batch_length = read_i32(rest, layout::BATCH_LENGTH);
        // Legacy message sets keep magic at the same position, so they get a clear error even when
        // their (shorter) header would fail the length check below.
        if let Some(&magic) = rest.get(layout::MAGIC) {
            if magic as i8 != MAGIC_V2 {
                return Some(Err(RecordBatchError::UnsupportedMagic {
                    base_offset,
                    magic: magic as i8,
                }));
            }
        }
        let batch_len = match usize::try_from(batch_length) {
            Ok(length) if length >= layout::RECORDS - layout::LOG_OVERHEAD => {
                layout::LOG_OVERHEAD + length
            }
            _ => {
                return Some(Err(RecordBatchError::BatchLengthTooSmall {
                    base_offset,
                    batch_length,
                }))
            }
        };
        if rest.len() < batch_len {
            return None;
        }
        let batch = self.data.slice(self.position..self.position + batch_len);
        self.position += batch_len;
        Some(RecordBatch::parse_with(
            batch,
            self.max_decompressed_batch_bytes,
            self.verify_crc,
        ))
    }
}

impl Iterator for RecordBatchIter {
    type Item = Result<RecordBatch, RecordBatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.stopped {
            return None;
        }
        let next = self.next_batch();
        if !matches!(next, Some(Ok(_))) {
            self.stopped = true;
        }
        next
    }
}

impl std::iter::FusedIterator for RecordBatchIter {}

/// One verified (CRC, magic, attributes) record batch. Its records are parsed when iterated; a compressed
/// batch is decompressed once, on the first call to [`RecordBatch::records`] or
/// [`RecordBatch::record_refs`].
#[derive(Debug)]
pub struct RecordBatch {
    batch: Bytes,
    base_offset: i64,
    partition_leader_epoch: i32,
    crc: u32,
    attributes: BatchAttributes,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    record_count: i32,
    max_decompressed_bytes: usize,
    records_data: OnceCell<Bytes>,
}

impl RecordBatch {
    /// Checks and parses one whole batch (exactly `batchLength + 12` bytes).
    pub fn parse(batch: Bytes, max_decompressed_bytes: usize) -> Result<Self, RecordBatchError> {
        Self::parse_with(batch, max_decompressed_bytes, true)
    }

    /// As [`RecordBatch::parse`], checking the CRC only with `verify_crc`.
    pub fn parse_with(
        batch: Bytes,
        max_decompressed_bytes: usize,
        verify_crc: bool,
    ) -> Result<Self, RecordBatchError> {
        if batch.len() < layout::RECORDS {
            return Err(RecordBatchError::NotARecordBatch {
                batch_len: batch.len(),
            });
        }
        let base_offset = read_i64(&batch, layout::BASE_OFFSET);
        let magic = batch[layout::MAGIC] as i8;
        if magic != MAGIC_V2 {
            return Err(RecordBatchError::UnsupportedMagic { base_offset, magic });
        }
        let batch_length = read_i32(&batch, layout::BATCH_LENGTH);
        if usize::try_from(batch_length).ok() != Some(batch.len() - layout::LOG_OVERHEAD) {
            return Err(RecordBatchError::BatchLengthMismatch {
                base_offset,
                batch_length,
                actual_len: batch.len(),
            });
        }
        let stored_crc = read_u32(&batch, layout::CRC);
        if verify_crc {
            let computed_crc = crc32c::crc32c(&batch[layout::CRC_START..]);
            if stored_crc != computed_crc {
                return Err(RecordBatchError::CrcMismatch {
                    base_offset,
                    stored_crc,
                    computed_crc,
                });
            }
        }
        let raw_attributes = read_i16(&batch, layout::ATTRIBUTES);
        let compression_code = (raw_attributes & attributes::COMPRESSION_MASK) as u8;
        let compression = Compression::from_attribute_code(compression_code).map_err(|_| {
            RecordBatchError::UnknownCompression {
                base_offset,
                code: compression_code,
            }
        })?;
        let attributes = BatchAttributes {
            compression,
            timestamp_type: if raw_attributes & attributes::LOG_APPEND_TIME != 0 {
                TimestampType::LogAppend
            } else {
                TimestampType::Create
            },
            is_transactional: raw_attributes & attributes::TRANSACTIONAL != 0,
            is_control: raw_attributes & attributes::CONTROL != 0,
            has_delete_horizon: raw_attributes & attributes::DELETE_HORIZON != 0,
        };
        let record_count = read_i32(&batch, layout::RECORD_COUNT);
        let records_bytes = batch.len() - layout::RECORDS;
        let Ok(record_count_usize) = usize::try_from(record_count) else {
            return Err(RecordBatchError::NegativeRecordCount {
                base_offset,
                record_count,
            });
        };
        if compression == Compression::None
            && record_count_usize.saturating_mul(MIN_RECORD_BYTES) > records_bytes
        {
            return Err(RecordBatchError::RecordCountExceedsData {
                base_offset,
                record_count,
                records_bytes,
            });
        }
        let records_data = OnceCell::new();
        if compression == Compression::None {
            let _ = records_data.set(batch.slice(layout::RECORDS..));
        }
        Ok(Self {
            base_offset,
            partition_leader_epoch: read_i32(&batch, layout::PARTITION_LEADER_EPOCH),
            crc: stored_crc,
            attributes,
            last_offset_delta: read_i32(&batch, layout::LAST_OFFSET_DELTA),
            base_timestamp: read_i64(&batch, layout::BASE_TIMESTAMP),
            max_timestamp: read_i64(&batch, layout::MAX_TIMESTAMP),
            producer_id: read_i64(&batch, layout::PRODUCER_ID),
            producer_epoch: read_i16(&batch, layout::PRODUCER_EPOCH),
            base_sequence: read_i32(&batch, layout::BASE_SEQUENCE),
            record_count,
            max_decompressed_bytes,
            records_data,
            batch,
        })
    }

    /// The whole batch as it was on the wire (e.g. to forward it unchanged).
    pub fn as_bytes(&self) -> &Bytes {
        &self.batch
    }
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    /// Offset of the last record the batch held when written (compaction may have removed records since).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }
    /// Offset to fetch from after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        self.partition_leader_epoch
    }
    pub fn crc(&self) -> u32 {
        self.crc
    }
    pub fn attributes(&self) -> BatchAttributes {
        self.attributes
    }
    pub fn compression(&self) -> Compression {
        self.attributes.compression
    }
    pub fn timestamp_type(&self) -> TimestampType {
        self.attributes.timestamp_type
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes.is_transactional
    }
    pub fn is_control(&self) -> bool {
        self.attributes.is_control
    }
    pub fn last_offset_delta(&self) -> i32 {
        self.last_offset_delta
    }
    pub fn base_timestamp(&self) -> i64 {
        self.base_timestamp
    }
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    pub fn producer_id(&self) -> i64 {
        self.producer_id
    }
    pub fn producer_epoch(&self) -> i16 {
        self.producer_epoch
    }
    pub fn base_sequence(&self) -> i32 {
        self.base_sequence
    }
    pub fn record_count(&self) -> i32 {
        self.record_count
    }

    /// Bytes this batch allocated for its decompressed records: 0 for an uncompressed batch (its records are
    /// slices of the batch itself) and for a compressed one not decompressed yet.
    pub fn decompressed_bytes(&self) -> usize {
        if self.attributes.compression == Compression::None {
            return 0;
        }
        self.records_data.get().map_or(0, Bytes::len)
    }

    /// The records section, decompressed (once) if the batch is compressed.
    fn records_data(&self) -> Result<&Bytes, RecordBatchError> {
        if let Some(data) = self.records_data.get() {
            return Ok(data);
        }
        let decompressed = self
            .attributes
            .compression
            .decompress(&self.batch[layout::RECORDS..], self.max_decompressed_bytes)
            .map_err(|source| RecordBatchError::Decompression {
                base_offset: self.base_offset,
                source,
            })?;
        let records_bytes = decompressed.len();
        if usize::try_from(self.record_count)
            .unwrap_or(usize::MAX)
            .saturating_mul(MIN_RECORD_BYTES)
            > records_bytes
        {
            return Err(RecordBatchError::RecordCountExceedsData {
                base_offset: self.base_offset,
                record_count: self.record_count,
                records_bytes,
            });
        }
        Ok(self.records_data.get_or_init(|| decompressed))
    }

    fn cursor(&self) -> Result<(RecordCursor<'_>, &Bytes), RecordBatchError> {
        let data = self.records_data()?;
        let log_append_timestamp = (self.attributes.timestamp_type == TimestampType::LogAppend)
            .then_some(self.max_timestamp);
        Ok((
            RecordCursor {
                data,
                position: 0,
                records_read: 0,
                record_count: self.record_count,
                base_offset: self.base_offset,
                base_timestamp: self.base_timestamp,
                log_append_timestamp,
                stopped: false,
            },
            data,
        ))
    }

    /// The records, with key, value and headers as `Bytes` slices of the fetched (or decompressed) buffer.
    pub fn records(&self) -> Result<RecordIter<'_>, RecordBatchError> {
        let (cursor, data) = self.cursor()?;
        Ok(RecordIter { cursor, data })
    }

    /// The records, borrowing key, value and headers from the batch: the fastest way to look at records
    /// without keeping them (no reference counting per record).
    pub fn record_refs(&self) -> Result<RecordRefIter<'_>, RecordBatchError> {
        let (cursor, _) = self.cursor()?;
        Ok(RecordRefIter { cursor })
    }
}

/// One record, borrowed from its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: RecordHeadersRef<'a>,
}

/// One record whose key, value and headers share the fetched buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: RecordHeaders,
}

/// A record's headers, borrowed and not yet parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeadersRef<'a> {
    data: &'a [u8],
    count: u32,
    record_offset: i64,
}

impl<'a> RecordHeadersRef<'a> {
    /// How many headers the record says it has.
    pub fn len(&self) -> usize {
        self.count as usize
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    pub fn iter(&self) -> RecordHeaderIter<'a> {
        RecordHeaderIter {
            reader: FieldReader {
                input: self.data,
                position: 0,
                record_offset: self.record_offset,
            },
            remaining: self.count,
            stopped: false,
        }
    }
}

impl<'a> IntoIterator for RecordHeadersRef<'a> {
    type Item = Result<RecordHeaderRef<'a>, RecordBatchError>;
    type IntoIter = RecordHeaderIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A record's headers as a `Bytes` slice, parsed when iterated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordHeaders {
    data: Bytes,
    count: u32,
    record_offset: i64,
}

impl RecordHeaders {
    pub fn len(&self) -> usize {
        self.count as usize
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    pub fn borrowed(&self) -> RecordHeadersRef<'_> {
        RecordHeadersRef {
            data: &self.data,
            count: self.count,
            record_offset: self.record_offset,
        }
    }
    /// Headers whose key and value are `Bytes` slices of the record's buffer.
    pub fn iter(&self) -> impl Iterator<Item = Result<RecordHeader, RecordBatchError>> + '_ {
        self.borrowed().iter().map(|header| {
            header.map(|header| RecordHeader {
                key: self.data.slice_ref(header.key),
                value: header.value.map(|value| self.data.slice_ref(value)),
            })
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeaderRef<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    pub key: Bytes,
    pub value: Option<Bytes>,
}

/// Parses headers one by one; a malformed header ends the iteration with an error.
#[derive(Debug, Clone)]
pub struct RecordHeaderIter<'a> {
    reader: FieldReader<'a>,
    remaining: u32,
    stopped: bool,
}

impl<'a> Iterator for RecordHeaderIter<'a> {
    type Item = Result<RecordHeaderRef<'a>, RecordBatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.stopped {
            return None;
        }
        if self.remaining == 0 {
            self.stopped = true;
            let unread_bytes = self.reader.input.len() - self.reader.position;
            return (unread_bytes != 0).then_some(Err(RecordBatchError::RecordSizeMismatch {
                offset: self.reader.record_offset,
                unread_bytes,
            }));
        }
        self.remaining -= 1;
        let header = (|| {
            let key = self.reader.nullable_bytes("header key")?.ok_or(
                RecordBatchError::InvalidLength {
                    offset: self.reader.record_offset,
                    field: "header key",
                    length: -1,
                },
            )?;
            let value = self.reader.nullable_bytes("header value")?;
            Ok(RecordHeaderRef { key, value })
        })();
        if header.is_err() {
            self.stopped = true;
        }
        Some(header)
    }
}

/// Iterates a batch's records as [`Record`]s.
#[derive(Debug)]
pub struct RecordIter<'a> {
    cursor: RecordCursor<'a>,
    data: &'a Bytes,
}

impl Iterator for RecordIter<'_> {
    type Item = Result<Record, RecordBatchError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let data = self.data;
        self.cursor.next_record().map(|record| {
            record.map(|record| Record {
                offset: record.offset,
                timestamp: record.timestamp,
                key: record.key.map(|key| data.slice_ref(key)),
                value: record.value.map(|value| data.slice_ref(value)),
                headers: if record.headers.count == 0 {
                    RecordHeaders {
                        data: Bytes::new(),
                        count: 0,
                        record_offset: record.offset,
                    }
                } else {
                    RecordHeaders {
                        data: data.slice_ref(record.headers.data),
                        count: record.headers.count,
                        record_offset: record.offset,
                    }
                },
            })
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.cursor.size_hint()
    }
}

/// Iterates a batch's records as [`RecordRef`]s.
#[derive(Debug)]
pub struct RecordRefIter<'a> {
    cursor: RecordCursor<'a>,
}

impl<'a> Iterator for RecordRefIter<'a> {
    type Item = Result<RecordRef<'a>, RecordBatchError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.cursor.next_record()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.cursor.size_hint()
    }
}

/// Walks the records section, checking every length against the bytes that are there.
#[derive(Debug)]
struct RecordCursor<'a> {
    data: &'a [u8],
    position: usize,
    records_read: i32,
    record_count: i32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_timestamp: Option<i64>,
    stopped: bool,
}

impl<'a> RecordCursor<'a> {
    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = usize::try_from(self.record_count - self.records_read).unwrap_or(0);
        (0, Some(remaining.saturating_add(1)))
    }

    // Inlined into the caller's loop so the record is kept in registers instead of returned through memory
    // (measured: decode/none/refs).
    #[inline(always)]
    fn next_record(&mut self) -> Option<Result<RecordRef<'a>, RecordBatchError>> {
        if self.stopped {
            return None;
        }
        if self.records_read == self.record_count {
            self.stopped = true;
            let unread_bytes = self.data.len() - self.position;
            return (unread_bytes != 0).then_some(Err(RecordBatchError::TrailingRecordBytes {
                base_offset: self.base_offset,
                record_count: self.record_count,
                unread_bytes,
            }));
        }
        if let Some((record, next_position)) = self.parse_record_fast() {
            self.position = next_position;
            self.records_read += 1;
            return Some(Ok(record));
        }
        self.next_record_slow()
    }

    /// Parses the record again with the careful reader, which names what is wrong; also handles the valid
    /// but rare shapes the fast path leaves out (varints of 3 bytes or more in the first positions).
    #[cold]
    #[inline(never)]
    fn next_record_slow(&mut self) -> Option<Result<RecordRef<'a>, RecordBatchError>> {
        let record = self.parse_record();
        match record {
            Ok(_) => self.records_read += 1,
            Err(_) => self.stopped = true,
        }
        Some(record)
    }

    /// The common case, with every check but no error detail: `None` sends the record to the slow path.
    #[inline(always)]
    fn parse_record_fast(&self) -> Option<(RecordRef<'a>, usize)> {
        let data = self.data;
        let (record_len, body_start) = read_unsigned_varint_at(data, self.position)?;
        let record_len = usize::try_from(unzigzag_i32(record_len)).ok()?;
        let body_end = body_start.checked_add(record_len)?;
        let body = data.get(body_start..body_end)?;
        // Byte 0: record attributes, unused.
        if body.is_empty() {
            return None;
        }
        let (timestamp_delta, at) = read_unsigned_varlong_at(body, 1)?;
        let (offset_delta, at) = read_unsigned_varint_at(body, at)?;
        let (key, at) = fast_nullable_bytes(body, at)?;
        let (value, at) = fast_nullable_bytes(body, at)?;
        let (header_count, at) = read_unsigned_varint_at(body, at)?;
        let headers_data = &body[at..];
        let count = u32::try_from(unzigzag_i32(header_count)).ok()?;
        if (count as usize) * MIN_HEADER_BYTES > headers_data.len()
            || (count == 0 && !headers_data.is_empty())
        {
            return None;
        }
        let offset = self
            .base_offset
            .wrapping_add(i64::from(unzigzag_i32(offset_delta)));
        let timestamp = match self.log_append_timestamp {
            Some(log_append_timestamp) => log_append_timestamp,
            None => self
                .base_timestamp
                .wrapping_add(unzigzag_i64(timestamp_delta)),
        };
        Some((
            RecordRef {
                offset,
                timestamp,
                key,
                value,
                headers: RecordHeadersRef {
                    data: headers_data,
                    count,
                    record_offset: offset,
                },
            },
            body_end,
        ))
    }

    #[inline]
    fn parse_record(&mut self) -> Result<RecordRef<'a>, RecordBatchError> {
        // Until the record's own offset delta is read, errors name the offset it should have.
        let expected_offset = self.base_offset.wrapping_add(i64::from(self.records_read));
        let mut outer = FieldReader {
            input: self.data,
            position: self.position,
            record_offset: expected_offset,
        };
        let body = outer.length_prefixed("record length")?;
        self.position = outer.position;

        let mut reader = FieldReader {
            input: body,
            position: 0,
            record_offset: expected_offset,
        };
        let _record_attributes = reader.byte("record attributes")?;
        let timestamp_delta = reader.varlong("timestamp delta")?;
        let offset_delta = reader.varint("offset delta")?;
        let offset = self.base_offset.wrapping_add(i64::from(offset_delta));
        reader.record_offset = offset;
        let key = reader.nullable_bytes("key")?;
        let value = reader.nullable_bytes("value")?;
        let header_count = reader.varint("header count")?;
        let headers_data = &body[reader.position..];
        let count = u32::try_from(header_count)
            .ok()
            .filter(|count| {
                (*count as usize).saturating_mul(MIN_HEADER_BYTES) <= headers_data.len()
            })
            .ok_or(RecordBatchError::InvalidLength {
                offset,
                field: "header count",
                length: i64::from(header_count),
            })?;
        if count == 0 && !headers_data.is_empty() {
            return Err(RecordBatchError::RecordSizeMismatch {
                offset,
                unread_bytes: headers_data.len(),
            });
        }
        let timestamp = match self.log_append_timestamp {
            Some(log_append_timestamp) => log_append_timestamp,
            None => self.base_timestamp.wrapping_add(timestamp_delta),
        };
        Ok(RecordRef {
            offset,
            timestamp,
            key,
            value,
            headers: RecordHeadersRef {
                data: headers_data,
                count,
                record_offset: offset,
            },
        })
    }
}

/// A varint length (-1 = null) and that many bytes.
#[inline(always)]
fn fast_nullable_bytes(input: &[u8], at: usize) -> Option<(Option<&[u8]>, usize)> {
    let (length, at) = read_unsigned_varint_at(input, at)?;
    match unzigzag_i32(length) {
        -1 => Some((None, at)),
        length => {
            let end = at.checked_add(usize::try_from(length).ok()?)?;
            Some((Some(input.get(at..end)?), end))
        }
    }
}

/// Reads record fields from a slice, turning every failure into an error naming the field and record.
#[derive(Debug, Clone)]
struct FieldReader<'a> {
    input: &'a [u8],
    position: usize,
    record_offset: i64,
}

impl<'a> FieldReader<'a> {
    #[inline]
    fn varint_error(&self, field: &'static str, source: VarintError) -> RecordBatchError {
        RecordBatchError::BadVarint {
            offset: self.record_offset,
            field,
            source,
        }
    }

    #[inline]
    fn byte(&mut self, field: &'static str) -> Result<u8, RecordBatchError> {
        let byte = *self
            .input
            .get(self.position)
            .ok_or(RecordBatchError::Truncated {
                offset: self.record_offset,
                field,
                needed: 1,
                available: 0,
            })?;
        self.position += 1;
        Ok(byte)
    }

    #[inline]
    fn varint(&mut self, field: &'static str) -> Result<i32, RecordBatchError> {
        let (value, used) = read_varint(&self.input[self.position..])
            .map_err(|source| self.varint_error(field, source))?;
        self.position += used;
        Ok(value)
    }

    #[inline]
    fn varlong(&mut self, field: &'static str) -> Result<i64, RecordBatchError> {
        let (value, used) = read_varlong(&self.input[self.position..])
            .map_err(|source| self.varint_error(field, source))?;
        self.position += used;
        Ok(value)
    }

    /// A varint length `n` ≥ 0 then `n` bytes.
    #[inline]
    fn length_prefixed(&mut self, field: &'static str) -> Result<&'a [u8], RecordBatchError> {
        match self.nullable_bytes(field)? {
            Some(bytes) => Ok(bytes),
            None => Err(RecordBatchError::InvalidLength {
                offset: self.record_offset,
                field,
                length: -1,
            }),
        }
    }

    /// A varint length (-1 = null) then that many bytes.
    #[inline]
    fn nullable_bytes(
        &mut self,
        field: &'static str,
    ) -> Result<Option<&'a [u8]>, RecordBatchError> {
        let length = self.varint(field)?;
        if length == -1 {
            return Ok(None);
        }
        let available = self.input.len() - self.position;
        let Ok(needed) = usize::try_from(length) else {
            return Err(RecordBatchError::InvalidLength {
                offset: self.record_offset,
                field,
                length: i64::from(length),
            });
        };
        let bytes = self
            .input
            .get(self.position..self.position + needed)
            .ok_or(RecordBatchError::Truncated {
                offset: self.record_offset,
                field,
                needed,
                available,
            })?;
        self.position += needed;
        Ok(Some(bytes))
    }
}

fn read_i64(bytes: &[u8], at: usize) -> i64 {
    let mut be = [0u8; 8];
    be.copy_from_slice(&bytes[at..at + 8]);
    i64::from_be_bytes(be)
}

fn read_i32(bytes: &[u8], at: usize) -> i32 {
    let mut be = [0u8; 4];
    be.copy_from_slice(&bytes[at..at + 4]);
    i32::from_be_bytes(be)
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut be = [0u8; 4];
    be.copy_from_slice(&bytes[at..at + 4]);
    u32::from_be_bytes(be)
}

fn read_i16(bytes: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([bytes[at], bytes[at + 1]])
}
