//! The record that flows source → converter → transforms → converter → sink (Kafka Connect's
//! `ConnectRecord`, covering both `SourceRecord` and `SinkRecord`).
//!
//! Key and value stay raw `Bytes` (`Data::Raw`) until a transform needs them: a record no transform touches is
//! never decoded and its bytes go out as they came in. Must not know a wire format; converters do.

use super::converters::{ConvertError, Converter};
use super::data::{SchemaAndValue, SchemaRef, Str, Value};
use bytes::Bytes;

/// Where a record came from, in the source's own terms; opaque to everything but the source and the engine
/// (the file source's byte position, a Kafka source's partition offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourcePosition {
    /// A byte or record offset.
    Offset(i64),
    /// A byte offset in one file, with what tells that file from another one later found at its path (replaced,
    /// rotated, or truncated and written again).
    FileOffset {
        offset: u64,
        file: FileId,
        head: FileHead,
    },
    /// A Kafka partition offset.
    KafkaOffset {
        topic: Str,
        partition: i32,
        offset: i64,
    },
    /// Anything else a source wants back, serialised by the source.
    Opaque(Bytes),
}

/// Where a file lives: its device and inode (both 0 where the platform has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub device: u64,
    pub inode: u64,
}

/// A checksum of a file's first bytes, as log shippers fingerprint files: a file truncated in place, or a new
/// one given a freed inode, keeps its inode but not its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileHead {
    /// How many of the file's first bytes `crc32c` covers.
    pub bytes: u32,
    /// CRC-32C (Castagnoli) of those bytes.
    pub crc32c: u32,
}

/// A record header. `schema` is absent when the header came off the wire as raw bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub key: Str,
    pub value: Value,
    pub schema: Option<SchemaRef>,
}

impl Header {
    pub fn new(key: impl Into<Str>, value: Value, schema: Option<SchemaRef>) -> Self {
        Header {
            key: key.into(),
            value,
            schema,
        }
    }
}

/// A key or value: raw bytes not yet converted, or converted Connect data.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// As it arrived; `None` is a null (for a value: a tombstone).
    Raw(Option<Bytes>),
    Converted(SchemaAndValue),
}

impl Default for Data {
    fn default() -> Self {
        Data::Raw(None)
    }
}

impl Data {
    /// Converted data.
    pub fn new(schema: Option<SchemaRef>, value: Value) -> Self {
        Data::Converted(SchemaAndValue { schema, value })
    }

    pub fn is_null(&self) -> bool {
        match self {
            Data::Raw(bytes) => bytes.is_none(),
            Data::Converted(sv) => sv.value.is_null(),
        }
    }

    /// The converted data, if already converted.
    pub fn converted(&self) -> Option<&SchemaAndValue> {
        match self {
            Data::Converted(sv) => Some(sv),
            Data::Raw(_) => None,
        }
    }

    pub fn converted_mut(&mut self) -> Option<&mut SchemaAndValue> {
        match self {
            Data::Converted(sv) => Some(sv),
            Data::Raw(_) => None,
        }
    }

    /// Converts raw bytes with `converter` (once; later calls are free).
    pub fn convert(
        &mut self,
        converter: &mut Converter,
        topic: &str,
    ) -> Result<&mut SchemaAndValue, ConvertError> {
        if let Data::Raw(bytes) = self {
            let sv = converter.to_connect(topic, bytes.as_ref())?;
            *self = Data::Converted(sv);
        }
        match self {
            Data::Converted(sv) => Ok(sv),
            Data::Raw(_) => Err(ConvertError::Internal("conversion left raw data")),
        }
    }
}

impl Data {
    /// Appends this data's bytes for the sink to `out`; `false` means null (nothing written). Raw data goes out
    /// exactly as it came in — it was never decoded — so this is only right when the output format is the
    /// input's (the same converter config both sides); otherwise convert with the input converter first.
    pub fn write_to(
        &self,
        converter: &mut Converter,
        topic: &str,
        out: &mut bytes::BytesMut,
    ) -> Result<bool, ConvertError> {
        match self {
            Data::Raw(None) => Ok(false),
            Data::Raw(Some(bytes)) => {
                out.extend_from_slice(bytes);
                Ok(true)
            }
            Data::Converted(sv) => {
                converter.write_connect(topic, sv.schema.as_ref(), &sv.value, out)
            }
        }
    }
}

/// One record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnectRecord {
    pub topic: Str,
    pub partition: Option<i32>,
    pub key: Data,
    pub value: Data,
    /// Epoch millis.
    pub timestamp: Option<i64>,
    pub headers: Vec<Header>,
    /// The Kafka offset of a record read from Kafka (`SinkRecord.kafkaOffset`), for `InsertField`'s
    /// `offset.field`.
    pub kafka_offset: Option<i64>,
    /// Filled by the source; handed back to it on commit.
    pub source_offset: Option<SourcePosition>,
}

impl ConnectRecord {
    /// A record with converted data and nothing else set.
    pub fn new(topic: impl Into<Str>, key: Data, value: Data) -> Self {
        ConnectRecord {
            topic: topic.into(),
            key,
            value,
            ..ConnectRecord::default()
        }
    }

    /// A record with raw key and value bytes (as read from Kafka or a file).
    pub fn raw(topic: impl Into<Str>, key: Option<Bytes>, value: Option<Bytes>) -> Self {
        Self::new(topic, Data::Raw(key), Data::Raw(value))
    }

    /// Bytes of the raw key and value (converted data counts 0): what a source's poll counts against
    /// `queue.max.bytes`.
    pub fn raw_len(&self) -> usize {
        let len = |data: &Data| match data {
            Data::Raw(Some(bytes)) => bytes.len(),
            Data::Raw(None) | Data::Converted(_) => 0,
        };
        len(&self.key) + len(&self.value)
    }

    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    pub fn with_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }

    pub fn with_header(mut self, header: Header) -> Self {
        self.headers.push(header);
        self
    }

    pub fn header(&self, key: &str) -> Option<&Header> {
        self.headers.iter().rev().find(|h| h.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::converters::JsonConverter;
    use bytes::BytesMut;

    #[test]
    fn untouched_raw_data_is_written_back_unchanged_without_decoding() {
        let mut json = Converter::Json(JsonConverter::schemaless());
        // Not valid JSON: writing it proves it was never parsed.
        let raw = Data::Raw(Some(Bytes::from_static(b"{not json")));
        let mut out = BytesMut::new();
        assert!(raw.write_to(&mut json, "t", &mut out).unwrap());
        assert_eq!(&out[..], b"{not json");
        assert!(!Data::Raw(None).write_to(&mut json, "t", &mut out).unwrap());
    }

    #[test]
    fn converting_happens_once() {
        let mut json = Converter::Json(JsonConverter::schemaless());
        let mut data = Data::Raw(Some(Bytes::from_static(br#"{"a":1}"#)));
        data.convert(&mut json, "t").unwrap();
        assert!(data.converted().is_some());
        let mut out = BytesMut::new();
        data.write_to(&mut json, "t", &mut out).unwrap();
        assert_eq!(&out[..], br#"{"a":1}"#);
        assert!(Data::Raw(None).is_null());
    }
}
