//! Framing: the 4-byte size prefix, request headers (v1/v2) and response headers (v0/v1).
//!
//! The decoder never allocates the size a peer claims: a frame larger than `max_frame_bytes` is an error before
//! any buffer grows for it.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::error::ProtocolError;
use super::messages::{Request, Response};
use super::varint;

/// Default upper bound on a frame, like the broker's `message.max.bytes` plus headroom.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 100 * 1024 * 1024;

/// Splits a byte stream into frames.
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    max_frame_bytes: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl FrameDecoder {
    pub fn new(max_frame_bytes: usize) -> Self {
        Self { max_frame_bytes }
    }

    /// Takes one whole frame (without its size prefix) off the front of `buf`, if one is there.
    ///
    /// Returns `Ok(None)` when more bytes are needed; `additional_needed` tells how many the caller should be
    /// ready to read, so it can reserve once instead of growing the buffer piecemeal.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, ProtocolError> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let claimed = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if claimed < 0 {
            return Err(ProtocolError::NegativeFrameSize {
                claimed_bytes: claimed,
            });
        }
        let len = claimed as usize;
        if len > self.max_frame_bytes {
            return Err(ProtocolError::FrameTooLarge {
                claimed_bytes: len as u64,
                max_bytes: self.max_frame_bytes,
            });
        }
        if buf.len() < 4 + len {
            return Ok(None);
        }
        buf.advance(4);
        Ok(Some(buf.split_to(len).freeze()))
    }

    /// How many more bytes the frame at the front of `buf` needs (bounded by the maximum frame size).
    pub fn additional_needed(&self, buf: &[u8]) -> usize {
        if buf.len() < 4 {
            return 4 - buf.len();
        }
        let claimed = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]).max(0) as usize;
        (4 + claimed.min(self.max_frame_bytes)).saturating_sub(buf.len())
    }
}

/// Appends one size-prefixed request frame to `out`.
pub fn encode_request(
    out: &mut BytesMut,
    request: &Request,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<(), ProtocolError> {
    let api = request.api_key();
    let start = out.len();
    out.put_i32(0); // size, patched below
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_owned())));
    header
        .encode(out, api.request_header_version(version))
        .map_err(|e| ProtocolError::Encode {
            api,
            version,
            reason: format!("request header: {e}"),
        })?;
    request.encode_body(out, version)?;
    let size = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

/// Reads the correlation id at the front of a response frame.
pub fn response_correlation_id(frame: &[u8]) -> Result<i32, ProtocolError> {
    if frame.len() < 4 {
        return Err(ProtocolError::ShortResponseHeader { len: frame.len() });
    }
    Ok(i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]))
}

/// Decodes a response frame of `api` at `version`: header (v0 or v1, per API and version) then body.
pub fn decode_response(
    api: ApiKey,
    version: i16,
    mut frame: Bytes,
) -> Result<(i32, Response), ProtocolError> {
    let correlation_id = response_correlation_id(&frame)?;
    frame.advance(4);
    if api.response_header_version(version) >= 1 {
        skip_tagged_fields(&mut frame).map_err(|reason| ProtocolError::Decode {
            api,
            version,
            reason,
        })?;
    }
    let response = Response::decode_body(api, &mut frame, version)?;
    Ok((correlation_id, response))
}

/// Skips a tagged-field section (unsigned varint count, then tag/size/bytes each).
fn skip_tagged_fields(buf: &mut Bytes) -> Result<(), String> {
    let count = read_unsigned_varint(buf)?;
    for _ in 0..count {
        let _tag = read_unsigned_varint(buf)?;
        let size = read_unsigned_varint(buf)? as usize;
        if buf.remaining() < size {
            return Err(format!("tagged field of {size} bytes overruns the header"));
        }
        buf.advance(size);
    }
    Ok(())
}

/// An unsigned varint from the front of `buf`, consumed.
fn read_unsigned_varint(buf: &mut Bytes) -> Result<u32, String> {
    let (value, used) =
        varint::read_unsigned_varint(buf.chunk()).map_err(|e| format!("{e} in response header"))?;
    buf.advance(used);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataResponse, ResponseHeader};

    #[test]
    fn oversized_frame_is_rejected_before_allocation() {
        let decoder = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&i32::MAX.to_be_bytes()[..]);
        assert_eq!(
            decoder.decode(&mut buf),
            Err(ProtocolError::FrameTooLarge {
                claimed_bytes: i32::MAX as u64,
                max_bytes: 1024
            })
        );
        assert!(decoder.additional_needed(&buf) <= 1024 + 4);
    }

    #[test]
    fn negative_frame_size_is_an_error() {
        let mut buf = BytesMut::from(&(-5i32).to_be_bytes()[..]);
        assert!(matches!(
            FrameDecoder::default().decode(&mut buf),
            Err(ProtocolError::NegativeFrameSize { .. })
        ));
    }

    #[test]
    fn frames_split_across_reads_are_reassembled() {
        let mut stream = BytesMut::new();
        for payload in [&b"abc"[..], b"", b"hello world"] {
            stream.put_i32(payload.len() as i32);
            stream.put_slice(payload);
        }
        let decoder = FrameDecoder::default();
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for byte in stream {
            buf.put_u8(byte);
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(
            frames,
            vec![
                Bytes::from_static(b"abc"),
                Bytes::new(),
                Bytes::from_static(b"hello world")
            ]
        );
    }

    #[test]
    fn request_frame_has_size_prefix_and_flexible_header() {
        let mut out = BytesMut::new();
        let request = Request::ApiVersions(ApiVersionsRequest::default());
        encode_request(&mut out, &request, 3, 7, "pw").unwrap();
        let size = i32::from_be_bytes(out[0..4].try_into().unwrap()) as usize;
        assert_eq!(size, out.len() - 4);
        assert_eq!(&out[4..6], &18i16.to_be_bytes()); // ApiVersions
        assert_eq!(&out[6..8], &3i16.to_be_bytes());
        assert_eq!(&out[8..12], &7i32.to_be_bytes());
        assert_eq!(&out[12..14], &2i16.to_be_bytes()); // client id length
        assert_eq!(&out[14..16], b"pw");
        assert_eq!(
            out[16], 0,
            "request header v2 ends with an empty tagged-field section"
        );
    }

    #[test]
    fn response_with_unknown_header_tags_decodes() {
        // Metadata v12 uses response header v1: correlation id + tagged fields. A broker may add tags we do not know.
        let mut frame = BytesMut::new();
        frame.put_i32(42);
        frame.put_u8(1); // one tagged field
        frame.put_u8(9); // tag 9
        frame.put_u8(2); // 2 bytes
        frame.put_slice(b"zz");
        MetadataResponse::default().encode(&mut frame, 12).unwrap();
        let (cid, response) = decode_response(ApiKey::Metadata, 12, frame.freeze()).unwrap();
        assert_eq!(cid, 42);
        assert!(matches!(response, Response::Metadata(_)));
        let _ = ResponseHeader::default();
    }

    use crate::allocation_probe::largest_allocation_bytes;

    /// Decodes `frame` as `api` v`version`, expecting an error, and returns the largest allocation made.
    fn largest_allocation_decoding(api: ApiKey, version: i16, frame: &'static [u8]) -> usize {
        largest_allocation_bytes(|| {
            let result = decode_response(api, version, Bytes::from_static(frame));
            assert!(result.is_err(), "{api:?} v{version}: {result:?}");
        })
    }

    #[test]
    fn claimed_array_length_in_a_tiny_frame_does_not_allocate_for_it() {
        // Found by fuzz/fuzz_targets/response_decoders.rs: an 11-byte OffsetCommit v2 frame whose topic array
        // claims 0x5e002a24 entries made kafka-protocol reserve 151 GB up front and abort the process.
        let frame = &[0x00, 0x00, 0x2a, 0x24, 0x5e, 0x00, 0x2a, 0x24, 0x7e];
        assert!(largest_allocation_decoding(ApiKey::OffsetCommit, 2, frame) < 4096);
    }

    #[test]
    fn claimed_compact_array_length_in_a_tiny_frame_does_not_allocate_for_it() {
        // Metadata v12 (flexible): correlation id, no header tags, throttle time, then a brokers array claiming
        // u32::MAX - 1 entries.
        let frame = &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(largest_allocation_decoding(ApiKey::Metadata, 12, frame) < 4096);
    }

    #[test]
    fn claimed_array_length_within_a_large_frame_allocates_about_the_frame() {
        // A count the frame could almost hold (one byte per entry) reserves at most a bounded number of entries:
        // each Fetch topic is far larger in memory than one byte, so reserving the count would be ~100x the frame.
        let mut frame = BytesMut::new();
        frame.put_i32(1); // correlation id
        frame.put_i32(0); // throttle time
        frame.put_i16(0); // error code
        frame.put_i32(0); // session id
        frame.put_i32(1 << 20); // topics: claims 1 Mi entries
        frame.put_bytes(0xff, 1 << 20);
        let frame: &'static [u8] = frame.to_vec().leak();
        let frame_bytes = frame.len();
        assert!(largest_allocation_decoding(ApiKey::Fetch, 7, frame) <= 2 * frame_bytes);
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        let mut frame = BytesMut::new();
        frame.put_i32(1);
        frame.put_u8(0);
        frame.put_slice(&[0, 0, 0]);
        assert!(decode_response(ApiKey::Metadata, 12, frame.freeze()).is_err());
        assert!(decode_response(ApiKey::Produce, 3, Bytes::from_static(&[0, 0])).is_err());
    }
}
