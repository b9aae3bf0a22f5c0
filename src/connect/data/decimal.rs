//! `Decimal` values as Kafka Connect carries them: the unscaled value as big-endian two's complement bytes
//! (Java's `BigInteger.toByteArray()`), any width; converted to and from decimal digits, and printed as Java's
//! `BigDecimal.toString()` prints them.

use bytes::Bytes;

/// Most decimal digits an unscaled value may have when built from text: far beyond any Connect decimal (Java's
/// own JDBC drivers stop at 38–65), and a bound on what a hostile `1e999999999` can make us allocate.
pub const MAX_DIGITS: usize = 1000;

/// The sign and decimal digits (no leading zeros; `"0"` for zero) of an unscaled two's complement value. Empty
/// bytes read as zero.
pub fn unscaled_digits(bytes: &[u8]) -> (bool, String) {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    // The magnitude, big-endian: negate two's complement (invert, add one) when negative.
    let mut magnitude: Vec<u8> = if negative {
        let mut m: Vec<u8> = bytes.iter().map(|b| !b).collect();
        for b in m.iter_mut().rev() {
            let (sum, carry) = b.overflowing_add(1);
            *b = sum;
            if !carry {
                break;
            }
        }
        m
    } else {
        bytes.to_vec()
    };
    // Fast path: fits in a u128.
    let start = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    let significant = &magnitude[start..];
    if significant.len() <= 16 {
        let mut all = [0u8; 16];
        all[16 - significant.len()..].copy_from_slice(significant);
        return (negative, u128::from_be_bytes(all).to_string());
    }
    // Long division by 10^19 (the largest power of ten in a u64), collecting base-10^19 limbs.
    const CHUNK: u64 = 10_000_000_000_000_000_000;
    let mut limbs: Vec<u64> = Vec::new();
    let mut digits = magnitude.split_off(start);
    while digits.iter().any(|&b| b != 0) {
        let mut remainder: u128 = 0;
        for b in digits.iter_mut() {
            let acc = (remainder << 8) | u128::from(*b);
            *b = (acc / u128::from(CHUNK)) as u8;
            remainder = acc % u128::from(CHUNK);
        }
        limbs.push(remainder as u64);
        let first_nonzero = digits.iter().position(|&b| b != 0).unwrap_or(digits.len());
        digits.drain(..first_nonzero);
    }
    let mut text = String::with_capacity(limbs.len() * 19);
    for (i, limb) in limbs.iter().rev().enumerate() {
        if i == 0 {
            text.push_str(&limb.to_string());
        } else {
            text.push_str(&format!("{limb:019}"));
        }
    }
    (negative, text)
}

/// Minimal two's complement bytes (`BigInteger.toByteArray()`) of the integer with `negative` sign and decimal
/// `digits` (ASCII digits only; leading zeros allowed).
pub fn unscaled_from_digits(negative: bool, digits: &str) -> Bytes {
    // Magnitude in base 256, little-endian while building.
    let mut magnitude: Vec<u8> = Vec::with_capacity(digits.len() / 2 + 1);
    for chunk in digits.as_bytes().chunks(18) {
        let mut value: u64 = 0;
        for &d in chunk {
            value = value * 10 + u64::from(d.wrapping_sub(b'0') % 10);
        }
        let factor = 10u64.pow(chunk.len() as u32);
        let mut carry = u128::from(value);
        for b in magnitude.iter_mut() {
            let acc = u128::from(*b) * u128::from(factor) + carry;
            *b = acc as u8;
            carry = acc >> 8;
        }
        while carry > 0 {
            magnitude.push(carry as u8);
            carry >>= 8;
        }
    }
    while magnitude.last() == Some(&0) {
        magnitude.pop();
    }
    magnitude.reverse();
    if magnitude.is_empty() {
        return Bytes::from_static(&[0]);
    }
    let mut out = Vec::with_capacity(magnitude.len() + 1);
    if negative {
        // Two's complement of the magnitude, one byte wider, then trimmed to minimal.
        out.push(0);
        out.extend_from_slice(&magnitude);
        for b in out.iter_mut() {
            *b = !*b;
        }
        for b in out.iter_mut().rev() {
            let (sum, carry) = b.overflowing_add(1);
            *b = sum;
            if !carry {
                break;
            }
        }
    } else {
        out.push(0);
        out.extend_from_slice(&magnitude);
    }
    Bytes::copy_from_slice(minimal(&out))
}

/// `bytes` without redundant leading sign bytes (the form `BigInteger.toByteArray()` gives); zero is `[0]`.
pub fn minimal(bytes: &[u8]) -> &[u8] {
    if bytes.is_empty() {
        return &[0];
    }
    let mut start = 0;
    while start + 1 < bytes.len() {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    &bytes[start..]
}

/// Appends Java's `BigDecimal.toString()` of `unscaled × 10^-scale`: plain when the scale is not negative and
/// the adjusted exponent is at least -6 (`1.56`, `0.000001`, `0.000`), scientific otherwise (`1E-7`, `1.2E+4`,
/// `0E+2`).
pub fn write_big_decimal(unscaled: &[u8], scale: i32, out: &mut String) {
    let (negative, digits) = unscaled_digits(unscaled);
    write_big_decimal_digits(negative && digits != "0", &digits, scale, out);
}

/// As `write_big_decimal`, from sign and digits.
pub fn write_big_decimal_digits(negative: bool, digits: &str, scale: i32, out: &mut String) {
    if negative {
        out.push('-');
    }
    let len = digits.len() as i64;
    let adjusted = -i64::from(scale) + (len - 1);
    if scale >= 0 && adjusted >= -6 {
        let scale = scale as usize;
        if scale == 0 {
            out.push_str(digits);
        } else if digits.len() > scale {
            let (int_part, frac) = digits.split_at(digits.len() - scale);
            out.push_str(int_part);
            out.push('.');
            out.push_str(frac);
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', scale - digits.len()));
            out.push_str(digits);
        }
        return;
    }
    let (first, rest) = digits.split_at(1);
    out.push_str(first);
    if !rest.is_empty() {
        out.push('.');
        out.push_str(rest);
    }
    out.push('E');
    if adjusted >= 0 {
        out.push('+');
    }
    out.push_str(&adjusted.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big_decimal(unscaled: &str, scale: i32) -> String {
        let (negative, digits) = match unscaled.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, unscaled),
        };
        let bytes = unscaled_from_digits(negative, digits);
        let mut out = String::new();
        write_big_decimal(&bytes, scale, &mut out);
        out
    }

    /// Expected text from `new BigDecimal(new BigInteger(u), s).toString()` on JDK 17.
    #[test]
    fn big_decimal_prints_as_java() {
        for (unscaled, scale, java) in [
            ("156", 2, "1.56"),
            ("15600", 4, "1.5600"),
            ("12", -3, "1.2E+4"),
            ("1", 10, "1E-10"),
            ("-5", 2, "-0.05"),
            ("0", 3, "0.000"),
            ("0", -2, "0E+2"),
            ("123", -1, "1.23E+3"),
            ("1", 7, "1E-7"),
            ("1", 6, "0.000001"),
            ("-1", 7, "-1E-7"),
            (
                "123456789012345678901234567890",
                5,
                "1234567890123456789012345.67890",
            ),
            ("123", 0, "123"),
            ("-123456", 9, "-0.000123456"),
            ("5", -1, "5E+1"),
            ("0", 0, "0"),
            ("0", 8, "0E-8"),
        ] {
            assert_eq!(
                big_decimal(unscaled, scale),
                java,
                "{unscaled} scale {scale}"
            );
        }
    }

    /// `BigInteger.toByteArray()` of known values.
    #[test]
    fn unscaled_bytes_are_java_big_integer_bytes() {
        for (digits, negative, bytes) in [
            ("156", false, &[0x00, 0x9c][..]),
            ("0", false, &[0x00]),
            ("1", true, &[0xff]),
            ("128", true, &[0x80]),
            ("129", true, &[0xff, 0x7f]),
            ("127", false, &[0x7f]),
            ("128", false, &[0x00, 0x80]),
            ("65536", false, &[0x01, 0x00, 0x00]),
        ] {
            let got = unscaled_from_digits(negative, digits);
            assert_eq!(&got[..], bytes, "{negative} {digits}");
            let (n, d) = unscaled_digits(&got);
            assert_eq!((n, d.as_str()), (negative && digits != "0", digits));
        }
    }

    #[test]
    fn wide_values_round_trip() {
        let digits = "98765432109876543210987654321098765432109876543210";
        for negative in [false, true] {
            let bytes = unscaled_from_digits(negative, digits);
            assert!(bytes.len() > 16);
            assert_eq!(unscaled_digits(&bytes), (negative, digits.to_owned()));
        }
        // 2^128 exactly needs 17 bytes.
        let two_128 = "340282366920938463463374607431768211456";
        let bytes = unscaled_from_digits(false, two_128);
        assert_eq!(bytes.len(), 17);
        assert_eq!(unscaled_digits(&bytes).1, two_128);
    }

    #[test]
    fn redundant_sign_bytes_are_trimmed() {
        assert_eq!(minimal(&[0, 0, 0x7f]), &[0x7f]);
        assert_eq!(minimal(&[0xff, 0xff, 0x80]), &[0x80]);
        assert_eq!(minimal(&[0x00, 0x80]), &[0x00, 0x80]);
        assert_eq!(minimal(&[]), &[0]);
    }
}
