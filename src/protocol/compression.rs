//! Compression codecs of Kafka record batches: none, gzip, snappy, lz4 and zstd.
//!
//! Owns the byte formats each codec has on the Kafka wire and the attribute code (bits 0-2 of a batch's
//! attributes) that names it. Decompression is always bounded by a caller-given `max_output_bytes`, so a
//! decompression bomb is an error, never an unbounded allocation. Must not know about record batches: it
//! turns bytes into bytes.
//!
//! Wire formats, chosen so that what we write is what the Java client writes and what we read is anything a
//! Kafka client writes:
//! - gzip: a gzip stream (several concatenated members are accepted, as Java's `GZIPInputStream` does).
//! - snappy: the xerial framing written by the Java client (`\x82SNAPPY\0`, version 1, compatible version 1,
//!   then `[block length: u32 big endian][raw snappy block]` for every 32 KiB of input). librdkafka writes a
//!   single raw snappy block instead, so decompression accepts both.
//! - lz4: the LZ4 frame format (not Kafka 0.8's broken legacy framing, which magic 2 batches never use).
//! - zstd: one zstd frame.

use std::io::{self, Read, Write};

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

/// A codec a record batch's records section can be compressed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

/// Every codec, in attribute-code order.
pub const ALL_COMPRESSIONS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

const VALID_NAMES: &str = "none, gzip, snappy, lz4, zstd";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CompressionError {
    #[error("unknown compression type {name:?}: use one of {VALID_NAMES}")]
    UnknownName { name: String },
    #[error("unknown compression attribute code {code}: valid codes are 0 (none) to 4 (zstd)")]
    UnknownCode { code: u8 },
    #[error("{codec} data decompresses to more than {max_output_bytes} bytes (possible decompression bomb)")]
    OutputTooLarge {
        codec: &'static str,
        max_output_bytes: usize,
    },
    #[error("{codec} data is corrupt: {reason}")]
    Corrupt { codec: &'static str, reason: String },
    #[error("{codec} compression failed: {reason}")]
    CompressFailed { codec: &'static str, reason: String },
}

/// xerial snappy-java stream header: magic, then version 1 and minimum compatible version 1 (big endian).
const XERIAL_SNAPPY_HEADER: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
const XERIAL_SNAPPY_MAGIC_LEN: usize = 8;
/// snappy-java's `SnappyOutputStream` default block size; the Java client uses it.
const XERIAL_SNAPPY_BLOCK_BYTES: usize = 32 * 1024;

/// Default levels. gzip 6 and zstd 3 are those of the `kafka-protocol` crate, our test oracle (so those
/// batches are byte-identical to its output), and of the Java client. lz4 defaults to the fast compressor
/// with no content checksum, like librdkafka and the Java client before 3.8: the oracle's level 4 is LZ4HC,
/// which with the content checksum took three quarters of the producer's CPU on 1 KiB records (perf/README.md).
const GZIP_DEFAULT_LEVEL: u32 = 6;
const LZ4_DEFAULT_LEVEL: u32 = 0;
const ZSTD_DEFAULT_LEVEL: i32 = 3;

/// zstd's own default limit (128 MiB windows). A frame that asks for a larger window is refused rather than
/// allocated.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

impl Compression {
    /// The codec for attribute bits 0-2 of a record batch.
    pub fn from_attribute_code(code: u8) -> Result<Self, CompressionError> {
        match code {
            0 => Ok(Self::None),
            1 => Ok(Self::Gzip),
            2 => Ok(Self::Snappy),
            3 => Ok(Self::Lz4),
            4 => Ok(Self::Zstd),
            _ => Err(CompressionError::UnknownCode { code }),
        }
    }

    /// The value of attribute bits 0-2 of a record batch compressed with this codec.
    pub fn attribute_code(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }

    /// Parses a `compression.type` value as Kafka spells it, ignoring ASCII case.
    pub fn from_name(name: &str) -> Result<Self, CompressionError> {
        ALL_COMPRESSIONS
            .into_iter()
            .find(|codec| codec.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| CompressionError::UnknownName {
                name: name.to_owned(),
            })
    }

    /// The `compression.type` name of this codec.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }

    /// Appends `input`, compressed in this codec's Kafka wire format at its default level, to `out`.
    pub fn compress(self, input: &[u8], out: &mut BytesMut) -> Result<(), CompressionError> {
        self.compress_with_level(input, None, out)
    }

    /// Like [`Compression::compress`], at `level` (`compression.level`; `None` = the default). Levels are
    /// clamped to what the codec accepts: gzip 0-9, lz4 0-12 (≥ 3 is the slower high-compression mode),
    /// zstd 1-22 (negative levels are zstd's fast modes); snappy has no levels.
    pub fn compress_with_level(
        self,
        input: &[u8],
        level: Option<i32>,
        out: &mut BytesMut,
    ) -> Result<(), CompressionError> {
        let failed = |err: io::Error| CompressionError::CompressFailed {
            codec: self.name(),
            reason: err.to_string(),
        };
        match self {
            Self::None => {
                out.extend_from_slice(input);
                Ok(())
            }
            Self::Gzip => {
                let mut encoder = flate2::write::GzEncoder::new(
                    out.writer(),
                    flate2::Compression::new(
                        level.map_or(GZIP_DEFAULT_LEVEL, |level| level.clamp(0, 9) as u32),
                    ),
                );
                encoder.write_all(input).map_err(failed)?;
                encoder.finish().map_err(failed)?;
                Ok(())
            }
            Self::Snappy => compress_xerial_snappy(input, out),
            Self::Lz4 => {
                let mut encoder = lz4::EncoderBuilder::new()
                    .level(level.map_or(LZ4_DEFAULT_LEVEL, |level| level.clamp(0, 12) as u32))
                    .block_mode(lz4::BlockMode::Independent)
                    // Each batch already has a CRC over the compressed bytes; xxhash over the plain bytes again
                    // costs as much as fast compression itself. Nor a checksum per block (the lz4 crate's
                    // default), which librdkafka does not write either: ~1 % of an engine pipeline's CPU.
                    .checksum(lz4::ContentChecksum::NoChecksum)
                    .block_checksum(lz4::liblz4::BlockChecksum::NoBlockChecksum)
                    .build(out.writer())
                    .map_err(failed)?;
                encoder.write_all(input).map_err(failed)?;
                let (_, result) = encoder.finish();
                result.map_err(failed)
            }
            Self::Zstd => {
                // Streaming (no pledged content size), like the Java client, so the frame header is the same.
                let level = level.map_or(ZSTD_DEFAULT_LEVEL, |level| level.clamp(-7, 22));
                zstd::stream::copy_encode(input, out.writer(), level).map_err(failed)
            }
        }
    }

    /// Decompresses `input`, failing once the output would exceed `max_output_bytes`.
    ///
    /// `Compression::None` returns a copy of `input` (subject to the same bound); callers on the hot path do
    /// not call this for uncompressed data.
    pub fn decompress(
        self,
        input: &[u8],
        max_output_bytes: usize,
    ) -> Result<Bytes, CompressionError> {
        let codec = self.name();
        let corrupt = |err: io::Error| CompressionError::Corrupt {
            codec,
            reason: err.to_string(),
        };
        // Compressed data rarely expands more than ~4x for Kafka records; start there and let `Vec` grow.
        let initial_capacity = input.len().saturating_mul(4).min(max_output_bytes);
        let output = match self {
            Self::None => {
                if input.len() > max_output_bytes {
                    return Err(CompressionError::OutputTooLarge {
                        codec,
                        max_output_bytes,
                    });
                }
                input.to_vec()
            }
            Self::Gzip => read_bounded(
                flate2::read::MultiGzDecoder::new(input),
                codec,
                initial_capacity,
                max_output_bytes,
            )?,
            Self::Snappy => return decompress_snappy(input, max_output_bytes),
            Self::Lz4 => read_bounded(
                lz4::Decoder::new(input).map_err(corrupt)?,
                codec,
                initial_capacity,
                max_output_bytes,
            )?,
            Self::Zstd => {
                let mut decoder =
                    zstd::stream::read::Decoder::with_buffer(input).map_err(corrupt)?;
                decoder
                    .window_log_max(ZSTD_WINDOW_LOG_MAX)
                    .map_err(corrupt)?;
                read_bounded(decoder, codec, initial_capacity, max_output_bytes)?
            }
        };
        Ok(Bytes::from(output))
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Compression {
    type Err = CompressionError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::from_name(name)
    }
}

/// Reads `reader` to its end, but never more than `max_output_bytes` (+1 to tell "exactly at the limit"
/// from "over it").
fn read_bounded(
    reader: impl Read,
    codec: &'static str,
    initial_capacity: usize,
    max_output_bytes: usize,
) -> Result<Vec<u8>, CompressionError> {
    let mut output = Vec::with_capacity(initial_capacity);
    let limit = u64::try_from(max_output_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut output)
        .map_err(|err| CompressionError::Corrupt {
            codec,
            reason: err.to_string(),
        })?;
    if output.len() > max_output_bytes {
        return Err(CompressionError::OutputTooLarge {
            codec,
            max_output_bytes,
        });
    }
    Ok(output)
}

fn compress_xerial_snappy(input: &[u8], out: &mut BytesMut) -> Result<(), CompressionError> {
    out.extend_from_slice(XERIAL_SNAPPY_HEADER);
    let mut encoder = snap::raw::Encoder::new();
    for block in input.chunks(XERIAL_SNAPPY_BLOCK_BYTES) {
        let length_at = out.len();
        let max_block_bytes = snap::raw::max_compress_len(block.len());
        out.resize(length_at + 4 + max_block_bytes, 0);
        let written = encoder
            .compress(block, &mut out[length_at + 4..])
            .map_err(|err| CompressionError::CompressFailed {
                codec: "snappy",
                reason: err.to_string(),
            })?;
        // A block is at most 32 KiB of input, so its compressed length always fits in a u32.
        let written_u32 = u32::try_from(written).unwrap_or(u32::MAX);
        out[length_at..length_at + 4].copy_from_slice(&written_u32.to_be_bytes());
        out.truncate(length_at + 4 + written);
    }
    Ok(())
}

fn decompress_snappy(input: &[u8], max_output_bytes: usize) -> Result<Bytes, CompressionError> {
    let corrupt = |reason: String| CompressionError::Corrupt {
        codec: "snappy",
        reason,
    };
    let too_large = CompressionError::OutputTooLarge {
        codec: "snappy",
        max_output_bytes,
    };
    let mut decoder = snap::raw::Decoder::new();
    let is_xerial = input.len() >= XERIAL_SNAPPY_MAGIC_LEN
        && input[..XERIAL_SNAPPY_MAGIC_LEN] == XERIAL_SNAPPY_HEADER[..XERIAL_SNAPPY_MAGIC_LEN];
    if !is_xerial {
        // librdkafka (and the Java client before the xerial framing) write one raw snappy block.
        let output_len =
            snap::raw::decompress_len(input).map_err(|err| corrupt(err.to_string()))?;
        if output_len > max_output_bytes {
            return Err(too_large);
        }
        let mut output = vec![0; output_len];
        let written = decoder
            .decompress(input, &mut output)
            .map_err(|err| corrupt(err.to_string()))?;
        output.truncate(written);
        return Ok(Bytes::from(output));
    }

    let mut rest = input
        .get(XERIAL_SNAPPY_HEADER.len()..)
        .ok_or_else(|| corrupt("xerial header is shorter than 16 bytes".to_owned()))?;
    let mut output: Vec<u8> = Vec::new();
    while !rest.is_empty() {
        let (length_bytes, after_length) = rest.split_first_chunk::<4>().ok_or_else(|| {
            corrupt(format!(
                "{} trailing bytes are too few for a block length",
                rest.len()
            ))
        })?;
        let block_len = u32::from_be_bytes(*length_bytes) as usize;
        let block = after_length.get(..block_len).ok_or_else(|| {
            corrupt(format!(
                "block claims {block_len} bytes but only {} remain",
                after_length.len()
            ))
        })?;
        rest = &after_length[block_len..];
        let block_output_len =
            snap::raw::decompress_len(block).map_err(|err| corrupt(err.to_string()))?;
        let start = output.len();
        let end = start
            .checked_add(block_output_len)
            .filter(|end| *end <= max_output_bytes)
            .ok_or(CompressionError::OutputTooLarge {
                codec: "snappy",
                max_output_bytes,
            })?;
        output.resize(end, 0);
        let written = decoder
            .decompress(block, &mut output[start..])
            .map_err(|err| corrupt(err.to_string()))?;
        output.truncate(start + written);
    }
    Ok(Bytes::from(output))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GENEROUS_LIMIT_BYTES: usize = 16 << 20;

    fn round_trip(codec: Compression, input: &[u8]) -> Bytes {
        let mut compressed = BytesMut::new();
        codec.compress(input, &mut compressed).expect("compress");
        codec
            .decompress(&compressed, GENEROUS_LIMIT_BYTES)
            .expect("decompress")
    }

    #[test]
    fn names_parse_ignoring_case_and_round_trip() {
        for codec in ALL_COMPRESSIONS {
            assert_eq!(Compression::from_name(codec.name()), Ok(codec));
            assert_eq!(
                Compression::from_name(&codec.name().to_uppercase()),
                Ok(codec)
            );
            assert_eq!(
                Compression::from_attribute_code(codec.attribute_code()),
                Ok(codec)
            );
        }
        assert_eq!(Compression::from_name("GZip"), Ok(Compression::Gzip));
    }

    #[test]
    fn unknown_name_error_names_the_value_and_the_valid_ones() {
        let err = Compression::from_name("brotli").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("\"brotli\""), "{message}");
        assert!(
            message.contains("none, gzip, snappy, lz4, zstd"),
            "{message}"
        );
        assert!(Compression::from_attribute_code(5).is_err());
    }

    #[test]
    fn every_codec_round_trips_empty_and_large_inputs() {
        let large: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        for codec in ALL_COMPRESSIONS {
            assert_eq!(round_trip(codec, b"").as_ref(), b"");
            assert_eq!(round_trip(codec, &large).as_ref(), &large[..]);
        }
    }

    #[test]
    fn snappy_writes_xerial_framing_like_the_java_client() {
        let mut compressed = BytesMut::new();
        Compression::Snappy
            .compress(&[7u8; 70_000], &mut compressed)
            .unwrap();
        assert_eq!(&compressed[..16], XERIAL_SNAPPY_HEADER);
        // 70 000 bytes make three 32 KiB blocks.
        let mut rest = &compressed[16..];
        let mut blocks = 0;
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            rest = &rest[4 + len..];
            blocks += 1;
        }
        assert_eq!(blocks, 3);
    }

    #[test]
    fn lz4_frames_carry_no_checksum_but_the_batch_crc_as_librdkafka_writes_them() {
        let mut out = BytesMut::new();
        Compression::Lz4
            .compress_with_level(&b"a record value ".repeat(100), None, &mut out)
            .expect("compresses");
        assert_eq!(&out[..4], &[0x04, 0x22, 0x4d, 0x18], "lz4 frame magic");
        // FLG: version 01, independent blocks; no block checksum, content size or content checksum.
        assert_eq!(out[4], 0b0110_0000, "frame descriptor flags {:08b}", out[4]);
    }

    #[test]
    fn snappy_reads_raw_blocks_as_librdkafka_writes_them() {
        let input =
            b"librdkafka writes one raw snappy block, without the xerial framing".repeat(10);
        let raw = snap::raw::Encoder::new().compress_vec(&input).unwrap();
        let output = Compression::Snappy
            .decompress(&raw, GENEROUS_LIMIT_BYTES)
            .unwrap();
        assert_eq!(output.as_ref(), &input[..]);
    }

    #[test]
    fn snappy_matches_the_upstream_java_bytes() {
        // Bytes written by the Java client for one record with value "sdfdsf" (from the kafka-protocol crate).
        let java = b"\x82\x53\x4e\x41\x50\x50\x59\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x0f\x0d\x30\x18\x00\x00\x00\x01\x0csdfdsf\x00";
        let records = Compression::Snappy.decompress(java, 1024).unwrap();
        let mut ours = BytesMut::new();
        Compression::Snappy.compress(&records, &mut ours).unwrap();
        assert_eq!(ours.as_ref(), java);
    }

    #[test]
    fn decompression_bombs_are_refused_for_every_codec() {
        let zeros = vec![0u8; 4 << 20];
        for codec in ALL_COMPRESSIONS {
            let mut compressed = BytesMut::new();
            codec.compress(&zeros, &mut compressed).unwrap();
            let err = codec.decompress(&compressed, 1 << 20).unwrap_err();
            assert!(
                matches!(err, CompressionError::OutputTooLarge { max_output_bytes, .. } if max_output_bytes == 1 << 20),
                "{codec}: {err}"
            );
            // Exactly at the limit is fine.
            let exact = codec.decompress(&compressed, 4 << 20).unwrap();
            assert_eq!(exact.len(), 4 << 20);
        }
    }

    #[test]
    fn snappy_bomb_is_refused_before_allocating() {
        // A raw snappy block whose preamble claims 2^32-1 output bytes.
        let claims_4_gib = [0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(matches!(
            Compression::Snappy.decompress(&claims_4_gib, 1 << 20),
            Err(CompressionError::OutputTooLarge { .. })
        ));
        let mut framed = XERIAL_SNAPPY_HEADER.to_vec();
        framed.extend_from_slice(&5u32.to_be_bytes());
        framed.extend_from_slice(&claims_4_gib);
        assert!(matches!(
            Compression::Snappy.decompress(&framed, 1 << 20),
            Err(CompressionError::OutputTooLarge { .. })
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in ALL_COMPRESSIONS {
            for garbage in [
                &b""[..],
                b"\x00",
                b"\x82SNAPPY\x00",
                b"\x1f\x8b\x08",
                b"\x04\x22\x4d\x18garbage",
            ] {
                let _ = codec.decompress(garbage, 1 << 16);
            }
        }
    }

    #[test]
    fn every_level_round_trips() {
        let input = b"levels trade speed for size, never compatibility ".repeat(50);
        for codec in ALL_COMPRESSIONS {
            for level in [-100, -1, 0, 1, 3, 9, 12, 22, 100] {
                let mut compressed = BytesMut::new();
                codec
                    .compress_with_level(&input, Some(level), &mut compressed)
                    .unwrap();
                let output = codec.decompress(&compressed, 1 << 20).unwrap();
                assert_eq!(output.as_ref(), &input[..], "{codec} level {level}");
            }
        }
    }

    proptest! {
        #[test]
        fn every_codec_round_trips(input in proptest::collection::vec(any::<u8>(), 0..5000), code in 0u8..5) {
            let codec = Compression::from_attribute_code(code).unwrap();
            let output = round_trip(codec, &input);
            prop_assert_eq!(output.as_ref(), &input[..]);
        }
    }
}
