//! The record that flows source → converter → transforms → converter → sink (Kafka Connect's
//! `ConnectRecord`, covering both `SourceRecord` and `SinkRecord`).
//!
//! Sources hand out Connect data (`Data::Converted`: the file source a required string), which the sink's
//! converters turn into bytes. Data read from Kafka stays raw `Bytes` (`Data::Raw`) until a transform or a sink
//! needs it converted; where the converter would give back the same bytes it is never decoded (see
//! [`Data::write_to`]). Must not know a wire format; converters do.

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
    /// Appends this data's bytes as `converter` writes them to `out`; `false` means null (nothing written).
    /// Converted data is written by the converter. Raw data came in through the same converter (a pipeline has
    /// one per slot): where converting it to Connect data and back would give the same bytes
    /// ([`Converter::passes_through`]) it goes out as it came, never decoded; otherwise it is converted both
    /// ways, as Kafka Connect converts every record on the way in and on the way out.
    pub fn write_to(
        &self,
        converter: &mut Converter,
        topic: &str,
        out: &mut bytes::BytesMut,
    ) -> Result<bool, ConvertError> {
        match self {
            Data::Raw(None) => Ok(false),
            Data::Raw(Some(bytes)) if converter.passes_through(bytes) => {
                out.extend_from_slice(bytes);
                Ok(true)
            }
            Data::Raw(Some(bytes)) => {
                let sv = converter.to_connect(topic, Some(bytes))?;
                converter.write_connect(topic, sv.schema.as_ref(), &sv.value, out)
            }
            Data::Converted(sv) => {
                converter.write_connect(topic, sv.schema.as_ref(), &sv.value, out)
            }
        }
    }

    /// Appends what Java's `String.valueOf` prints for this data once converted (Kafka's FileStreamSink
    /// prints `record.value()`): `null`, a string as it is, `Struct{a=1,b=x}`, `{k=v}`, `[1, 2]`. Bytes are
    /// written as they are, where Java would print the array's identity (`[B@1b6d3586`), which no one can use.
    /// Raw data is converted with `converter` first, except where its text is its bytes (a `string`
    /// converter's valid input, a `bytearray` converter's).
    pub fn write_text(
        &self,
        converter: &mut Converter,
        topic: &str,
        out: &mut bytes::BytesMut,
    ) -> Result<(), ConvertError> {
        match self {
            Data::Raw(None) => out.extend_from_slice(b"null"),
            Data::Raw(Some(bytes)) if text_is_bytes(converter, bytes) => {
                out.extend_from_slice(bytes)
            }
            Data::Raw(Some(bytes)) => {
                let sv = converter.to_connect(topic, Some(bytes))?;
                write_value_text(&sv, out);
            }
            Data::Converted(sv) => write_value_text(sv, out),
        }
        Ok(())
    }
}

/// Whether the text [`Data::write_text`] writes of raw `bytes` is the bytes themselves: `bytearray`'s, and a
/// `string` converter's whose text in UTF-8 (the file's encoding) is the input.
fn text_is_bytes(converter: &Converter, bytes: &[u8]) -> bool {
    use crate::connect::converters::string::Encoding;
    match converter {
        Converter::ByteArray(_) => true,
        Converter::String(c) => match c.encoding {
            Encoding::Utf8 => std::str::from_utf8(bytes).is_ok(),
            Encoding::UsAscii | Encoding::Latin1 => bytes.is_ascii(),
        },
        Converter::Json(_) | Converter::Avro(_) => false,
    }
}

/// Java's text of a converted value, with bytes written as they are (see [`Data::write_text`]).
fn write_value_text(sv: &SchemaAndValue, out: &mut bytes::BytesMut) {
    match &sv.value {
        Value::String(s) => out.extend_from_slice(s.as_bytes()),
        Value::Bytes(b) => out.extend_from_slice(b),
        other => {
            let mut text = String::new();
            crate::connect::data::write_java_text(sv.schema.as_deref(), other, &mut text);
            out.extend_from_slice(text.as_bytes());
        }
    }
}

/// About how many bytes `value` holds: its strings' and byte arrays' lengths, 8 for any other value. What a
/// converted key or value counts against `queue.max.bytes`.
fn value_len(value: &Value) -> usize {
    match value {
        Value::Null => 0,
        Value::String(s) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::Array(items) => items.iter().map(value_len).sum(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| value_len(k) + value_len(v))
            .sum(),
        Value::Struct(s) => s.values().iter().map(value_len).sum(),
        _ => 8,
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

    /// Bytes of the key and value: raw lengths, or for converted data about what its strings, byte arrays and
    /// other values hold ([`value_len`]). What a source's poll counts against `queue.max.bytes`.
    pub fn byte_len(&self) -> usize {
        let len = |data: &Data| match data {
            Data::Raw(Some(bytes)) => bytes.len(),
            Data::Raw(None) => 0,
            Data::Converted(sv) => value_len(&sv.value),
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
    fn raw_data_goes_out_undecoded_only_where_the_converter_would_write_it_back_unchanged() {
        let mut out = BytesMut::new();
        // Not valid JSON: a string converter passes it through, never parsing it.
        let raw = Data::Raw(Some(Bytes::from_static(b"{not json")));
        let mut string = Converter::String(crate::connect::converters::StringConverter::default());
        assert!(raw.write_to(&mut string, "t", &mut out).unwrap());
        assert_eq!(&out[..], b"{not json");
        // The json converter reads it first, as Kafka Connect does: it is refused...
        let mut json = Converter::Json(JsonConverter::schemaless());
        assert!(raw.write_to(&mut json, "t", &mut out).is_err());
        // ...and valid JSON is written in the converter's own form.
        out.clear();
        let spaced = Data::Raw(Some(Bytes::from_static(br#"{ "a" : 1.50 }"#)));
        assert!(spaced.write_to(&mut json, "t", &mut out).unwrap());
        assert_eq!(&out[..], br#"{"a":1.5}"#);
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

    /// The zero-copy paths give exactly the converter path's bytes (or text): raw bytes a converter passes
    /// through equal converting them to Connect data and writing that back.
    mod fast_path {
        use super::*;
        use crate::connect::connectors::line_value;
        use crate::connect::converters::string::Encoding;
        use crate::connect::converters::{ByteArrayConverter, StringConverter};
        use proptest::prelude::*;

        fn converters() -> Vec<Converter> {
            vec![
                Converter::String(StringConverter::default()),
                Converter::String(StringConverter {
                    encoding: Encoding::Latin1,
                }),
                Converter::String(StringConverter {
                    encoding: Encoding::UsAscii,
                }),
                Converter::ByteArray(ByteArrayConverter),
                Converter::Json(JsonConverter::schemaless()),
                Converter::Json(JsonConverter::new(Default::default())),
            ]
        }

        fn bytes_strategy() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                ".{0,40}".prop_map(String::into_bytes),
                "[ -~]{0,40}".prop_map(String::into_bytes),
            ]
        }

        proptest! {
            #[test]
            fn raw_bytes_passed_through_equal_the_converted_round_trip(bytes in bytes_strategy()) {
                for mut converter in converters() {
                    let raw = Data::Raw(Some(Bytes::from(bytes.clone())));
                    if !converter.passes_through(&bytes) {
                        continue;
                    }
                    let mut fast = BytesMut::new();
                    prop_assert!(raw.write_to(&mut converter, "t", &mut fast).unwrap());
                    let sv = converter.to_connect("t", Some(&Bytes::from(bytes.clone()))).unwrap();
                    let mut slow = BytesMut::new();
                    converter.write_connect("t", sv.schema.as_ref(), &sv.value, &mut slow).unwrap();
                    prop_assert_eq!(&fast[..], &slow[..], "{:?}", converter);
                }
            }

            #[test]
            fn raw_text_written_undecoded_equals_the_text_of_the_converted_value(bytes in bytes_strategy()) {
                for mut converter in converters() {
                    let raw = Data::Raw(Some(Bytes::from(bytes.clone())));
                    let mut fast = BytesMut::new();
                    let Ok(()) = raw.write_text(&mut converter, "t", &mut fast) else { continue };
                    let sv = converter.to_connect("t", Some(&Bytes::from(bytes.clone()))).unwrap();
                    let mut slow = BytesMut::new();
                    write_value_text(&sv, &mut slow);
                    prop_assert_eq!(&fast[..], &slow[..], "{:?}", converter);
                }
            }

            #[test]
            fn a_line_written_by_the_string_converter_is_the_line_itself(line in ".{0,60}") {
                let mut string = Converter::String(StringConverter::default());
                let mut out = BytesMut::new();
                prop_assert!(line_value(Bytes::from(line.clone())).write_to(&mut string, "t", &mut out).unwrap());
                prop_assert_eq!(&out[..], line.as_bytes());
            }
        }

        #[test]
        fn a_line_through_the_json_converter_is_kafkas_envelope_of_a_string() {
            let mut out = BytesMut::new();
            let mut json = Converter::Json(JsonConverter::new(Default::default()));
            line_value(Bytes::from_static(b"foo \"bar\""))
                .write_to(&mut json, "t", &mut out)
                .unwrap();
            assert_eq!(
                std::str::from_utf8(&out).unwrap(),
                r#"{"schema":{"type":"string","optional":false},"payload":"foo \"bar\""}"#
            );
            out.clear();
            let mut plain = Converter::Json(JsonConverter::schemaless());
            line_value(Bytes::from_static(b"foo"))
                .write_to(&mut plain, "t", &mut out)
                .unwrap();
            assert_eq!(&out[..], br#""foo""#);
        }
    }
}
