//! Kafka's variable-length integers: unsigned varints (protobuf style, 7 bits a byte, little end first) and
//! the zigzag-encoded signed varint (i32) and varlong (i64) used inside record batches.
//!
//! Owns the encoding only. Readers take a byte slice and return the value with the number of bytes it used;
//! they never read past the slice and reject encodings longer than the type allows (5 bytes for 32 bits,
//! 10 for 64), as the Java client does.

use bytes::BufMut;
use thiserror::Error;

/// Longest encoding of a 32-bit varint.
pub const MAX_VARINT_BYTES: usize = 5;
/// Longest encoding of a 64-bit varlong.
pub const MAX_VARLONG_BYTES: usize = 10;

#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum VarintError {
    #[error("varint is truncated: the input ends before its last byte")]
    Truncated,
    #[error("varint is longer than {max_bytes} bytes")]
    TooLong { max_bytes: usize },
}

#[inline]
pub fn zigzag_i32(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

#[inline]
pub fn unzigzag_i32(encoded: u32) -> i32 {
    ((encoded >> 1) as i32) ^ -((encoded & 1) as i32)
}

#[inline]
pub fn zigzag_i64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

#[inline]
pub fn unzigzag_i64(encoded: u64) -> i64 {
    ((encoded >> 1) as i64) ^ -((encoded & 1) as i64)
}

/// Bytes the unsigned varint encoding of `value` takes.
#[inline]
pub fn unsigned_varint_len(value: u32) -> usize {
    // Each byte carries 7 bits, so the length is ⌈significant bits / 7⌉. With h the index of the highest set
    // bit (`| 1` makes zero take one byte), (9h + 73) / 64 is that quotient for every h in 0..64 with a
    // multiply and a shift: the division by 7 was a third of the producer's record size computation.
    let highest_bit = 31 - (value | 1).leading_zeros() as usize;
    (highest_bit * 9 + 73) >> 6
}

/// Bytes the unsigned varlong encoding of `value` takes.
#[inline]
pub fn unsigned_varlong_len(value: u64) -> usize {
    // As in `unsigned_varint_len`.
    let highest_bit = 63 - (value | 1).leading_zeros() as usize;
    (highest_bit * 9 + 73) >> 6
}

/// Bytes the zigzag varint encoding of `value` takes.
#[inline]
pub fn varint_len(value: i32) -> usize {
    unsigned_varint_len(zigzag_i32(value))
}

/// Bytes the zigzag varlong encoding of `value` takes.
#[inline]
pub fn varlong_len(value: i64) -> usize {
    unsigned_varlong_len(zigzag_i64(value))
}

/// Writes `value` into the front of `out`, returning the bytes used.
#[inline]
pub fn encode_unsigned_varlong(mut value: u64, out: &mut [u8; MAX_VARLONG_BYTES]) -> usize {
    let mut used = 0;
    while value >= 0x80 {
        out[used] = (value as u8) | 0x80;
        value >>= 7;
        used += 1;
    }
    out[used] = value as u8;
    used + 1
}

#[inline]
pub fn put_unsigned_varint(out: &mut impl BufMut, value: u32) {
    put_unsigned_varlong(out, u64::from(value));
}

#[inline]
pub fn put_unsigned_varlong(out: &mut impl BufMut, value: u64) {
    if value < 0x80 {
        out.put_u8(value as u8);
        return;
    }
    let mut scratch = [0u8; MAX_VARLONG_BYTES];
    let used = encode_unsigned_varlong(value, &mut scratch);
    out.put_slice(&scratch[..used]);
}

#[inline]
pub fn put_varint(out: &mut impl BufMut, value: i32) {
    put_unsigned_varint(out, zigzag_i32(value));
}

#[inline]
pub fn put_varlong(out: &mut impl BufMut, value: i64) {
    put_unsigned_varlong(out, zigzag_i64(value));
}

/// Reads an unsigned varint from the front of `input`: `(value, bytes used)`.
///
/// Like the Java client, bits of a fifth byte beyond the 32nd are dropped rather than rejected.
#[inline]
pub fn read_unsigned_varint(input: &[u8]) -> Result<(u32, usize), VarintError> {
    match input.first() {
        Some(&byte) if byte < 0x80 => Ok((u32::from(byte), 1)),
        _ => read_unsigned_varint_slow(input),
    }
}

#[cold]
fn read_unsigned_varint_slow(input: &[u8]) -> Result<(u32, usize), VarintError> {
    let mut value = 0u32;
    for (index, &byte) in input.iter().take(MAX_VARINT_BYTES).enumerate() {
        value |= u32::from(byte & 0x7f) << (7 * index);
        if byte < 0x80 {
            return Ok((value, index + 1));
        }
    }
    if input.len() < MAX_VARINT_BYTES {
        Err(VarintError::Truncated)
    } else {
        Err(VarintError::TooLong {
            max_bytes: MAX_VARINT_BYTES,
        })
    }
}

/// Reads an unsigned varlong from the front of `input`: `(value, bytes used)`.
#[inline]
pub fn read_unsigned_varlong(input: &[u8]) -> Result<(u64, usize), VarintError> {
    match input.first() {
        Some(&byte) if byte < 0x80 => Ok((u64::from(byte), 1)),
        _ => read_unsigned_varlong_slow(input),
    }
}

#[cold]
fn read_unsigned_varlong_slow(input: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut value = 0u64;
    for (index, &byte) in input.iter().take(MAX_VARLONG_BYTES).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte < 0x80 {
            return Ok((value, index + 1));
        }
    }
    if input.len() < MAX_VARLONG_BYTES {
        Err(VarintError::Truncated)
    } else {
        Err(VarintError::TooLong {
            max_bytes: MAX_VARLONG_BYTES,
        })
    }
}

/// An unsigned varint at `at` of `input`: `(value, position after it)`; `None` if it is truncated or too long.
/// One- and two-byte encodings (record lengths and deltas, nearly always) are read inline: the record batch
/// decoder's hot path.
#[inline(always)]
pub fn read_unsigned_varint_at(input: &[u8], at: usize) -> Option<(u32, usize)> {
    let first = *input.get(at)?;
    if first < 0x80 {
        return Some((u32::from(first), at + 1));
    }
    let second = *input.get(at + 1)?;
    if second < 0x80 {
        return Some((u32::from(first & 0x7f) | u32::from(second) << 7, at + 2));
    }
    let (value, used) = read_unsigned_varint(&input[at..]).ok()?;
    Some((value, at + used))
}

/// As [`read_unsigned_varint_at`], for a varlong.
#[inline(always)]
pub fn read_unsigned_varlong_at(input: &[u8], at: usize) -> Option<(u64, usize)> {
    let first = *input.get(at)?;
    if first < 0x80 {
        return Some((u64::from(first), at + 1));
    }
    let second = *input.get(at + 1)?;
    if second < 0x80 {
        return Some((u64::from(first & 0x7f) | u64::from(second) << 7, at + 2));
    }
    let (value, used) = read_unsigned_varlong(&input[at..]).ok()?;
    Some((value, at + used))
}

/// Reads a zigzag varint (i32) from the front of `input`: `(value, bytes used)`.
#[inline]
pub fn read_varint(input: &[u8]) -> Result<(i32, usize), VarintError> {
    read_unsigned_varint(input).map(|(encoded, used)| (unzigzag_i32(encoded), used))
}

/// Reads a zigzag varlong (i64) from the front of `input`: `(value, bytes used)`.
#[inline]
pub fn read_varlong(input: &[u8]) -> Result<(i64, usize), VarintError> {
    read_unsigned_varlong(input).map(|(encoded, used)| (unzigzag_i64(encoded), used))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings_match_the_kafka_spec() {
        let cases: [(i32, &[u8]); 7] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for (value, bytes) in cases {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out, bytes, "{value}");
            assert_eq!(read_varint(bytes), Ok((value, bytes.len())));
            assert_eq!(varint_len(value), bytes.len());
        }
    }

    /// The lengths come from a formula, not from encoding: check it at every power-of-two boundary, where a
    /// varint gains a byte, against what the encoders write.
    #[test]
    fn lengths_match_the_encoders_at_every_bit_boundary() {
        for bit in 0..64u32 {
            let power = 1u64 << bit;
            for value in [power - 1, power, power + 1, u64::MAX >> (63 - bit)] {
                let mut out = Vec::new();
                put_unsigned_varlong(&mut out, value);
                assert_eq!(unsigned_varlong_len(value), out.len(), "varlong {value}");
                if let Ok(value) = u32::try_from(value) {
                    let mut out = Vec::new();
                    put_unsigned_varint(&mut out, value);
                    assert_eq!(unsigned_varint_len(value), out.len(), "varint {value}");
                }
            }
        }
    }

    #[test]
    fn truncated_and_overlong_encodings_are_errors() {
        assert_eq!(read_varint(&[]), Err(VarintError::Truncated));
        assert_eq!(read_varint(&[0x80, 0x80]), Err(VarintError::Truncated));
        assert_eq!(
            read_varint(&[0x80; 6]),
            Err(VarintError::TooLong { max_bytes: 5 })
        );
        assert_eq!(read_varlong(&[0x80; 9]), Err(VarintError::Truncated));
        assert_eq!(
            read_varlong(&[0xff; 11]),
            Err(VarintError::TooLong { max_bytes: 10 })
        );
    }

    proptest! {
        #[test]
        fn varint_round_trips(value: i32, trailing in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            prop_assert_eq!(out.len(), varint_len(value));
            out.extend_from_slice(&trailing);
            prop_assert_eq!(read_varint(&out), Ok((value, varint_len(value))));
        }

        #[test]
        fn varlong_round_trips(value: i64, trailing in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut out = Vec::new();
            put_varlong(&mut out, value);
            prop_assert_eq!(out.len(), varlong_len(value));
            out.extend_from_slice(&trailing);
            prop_assert_eq!(read_varlong(&out), Ok((value, varlong_len(value))));
        }

        #[test]
        fn unsigned_varint_round_trips(value: u32) {
            let mut out = Vec::new();
            put_unsigned_varint(&mut out, value);
            prop_assert_eq!(out.len(), unsigned_varint_len(value));
            prop_assert_eq!(read_unsigned_varint(&out), Ok((value, out.len())));
        }

        #[test]
        fn unsigned_varlong_round_trips(value: u64) {
            let mut out = Vec::new();
            put_unsigned_varlong(&mut out, value);
            prop_assert_eq!(out.len(), unsigned_varlong_len(value));
            prop_assert_eq!(read_unsigned_varlong(&out), Ok((value, out.len())));
        }

        #[test]
        fn reading_arbitrary_bytes_never_overruns(input in proptest::collection::vec(any::<u8>(), 0..12)) {
            if let Ok((_, used)) = read_varlong(&input) {
                prop_assert!(used <= input.len());
            }
            if let Ok((_, used)) = read_varint(&input) {
                prop_assert!(used <= input.len());
            }
        }
    }
}
