//! The text Java's `String.valueOf(value)` gives for Connect data, schema-aware: what Kafka's FileStreamSink
//! writes with `println(record.value())`.
//!
//! Each value prints as the Java class Kafka Connect uses for it would print:
//! - `Date`, `Time` and `Timestamp` values are `java.util.Date`s: `Thu Jan 01 00:00:00 UTC 1970`
//!   (`EEE MMM dd HH:mm:ss zzz yyyy`, milliseconds not shown). We print UTC, as a JVM run with `TZ=UTC`
//!   does; Java uses the JVM's default time zone, so a worker elsewhere prints its local time instead. Like
//!   `java.util.Date`, instants before 1582-10-15 are shown in the Julian calendar, and years before 1 AD
//!   without a sign or era (`1` for 1 BC).
//! - `Decimal` values are `BigDecimal`s: `toString()`, scientific when the scale is negative or the number
//!   small (`1.56`, `1E-7`, `1.2E+4`).
//! - `float32`/`float64` are `Float`/`Double`: `1.0`, `1.0E10`, `1.5E-5`, `NaN`, `Infinity` — the shortest
//!   digits that read back as the same number, as JDK 19 and later print them (JDK 17 sometimes prints one
//!   more digit, e.g. `2.0E23` as `1.9999999999999998E23`).
//! - Structs are `Struct{a=1,b=x}` (null fields left out), lists `[1, 2]`, maps `{k=v, k2=w}`.
//! - Maps iterate in `java.util.HashMap` order, as the maps Kafka's JsonConverter builds do (a default
//!   `HashMap` filled entry by entry): by bucket of the key's Java `hashCode`, for keys whose hash Java
//!   defines by value (strings, numbers, booleans, dates, null). Maps with other keys (bytes, structs,
//!   lists, maps, decimals) print in insertion order. A map a Kafka transform rebuilt with another initial
//!   capacity may iterate in another order in Java; no one order fits every source.
//! - Bytes: Java prints a `byte[]` as `[B@1b6d3586` (type and identity hash), which nobody can use. Nested
//!   bytes print as base64 (what `Display` of `Value` prints, and what JsonConverter writes); a sink that
//!   wants raw bytes for a top-level `Value::Bytes` writes them itself before calling this.

use super::base64;
use super::decimal::write_big_decimal;
use super::model::{Schema, Value};
use super::schema::logical;
use std::fmt;
use std::fmt::Write as _;

/// Java's `String.valueOf(value)` of `value` under `schema` (absent when schemaless), appended to `out`.
pub fn write_java_text(schema: Option<&Schema>, value: &Value, out: &mut String) {
    if value.is_null() {
        out.push_str("null");
        return;
    }
    let logical_name = schema.and_then(Schema::logical_name);
    match (logical_name, value) {
        (Some(logical::DATE), Value::Int32(days)) => {
            return write_java_date(i64::from(*days) * MILLIS_PER_DAY, out)
        }
        (Some(logical::TIME), Value::Int32(millis)) => {
            return write_java_date(i64::from(*millis), out)
        }
        (Some(logical::TIMESTAMP), Value::Int64(millis)) => return write_java_date(*millis, out),
        (Some(logical::DECIMAL), Value::Bytes(unscaled)) => {
            let scale = schema
                .and_then(|s| s.parameter(logical::DECIMAL_SCALE))
                .and_then(|s| s.trim().parse::<i32>().ok());
            if let Some(scale) = scale {
                return write_big_decimal(unscaled, scale, out);
            }
        }
        _ => {}
    }
    match value {
        Value::Null => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int8(v) => push_int(out, i64::from(*v)),
        Value::Int16(v) => push_int(out, i64::from(*v)),
        Value::Int32(v) => push_int(out, i64::from(*v)),
        Value::Int64(v) => push_int(out, *v),
        Value::Float32(v) => {
            let _ = write_java_float(*v, out);
        }
        Value::Float64(v) => {
            let _ = write_java_double(*v, out);
        }
        Value::String(s) => out.push_str(s),
        Value::Bytes(b) => out.push_str(&base64::encode(b)),
        Value::Array(items) => {
            let items_schema = schema.and_then(|s| s.value_schema.as_deref());
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_java_text(items_schema, item, out);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            let key_schema = schema.and_then(|s| s.key_schema.as_deref());
            let value_schema = schema.and_then(|s| s.value_schema.as_deref());
            out.push('{');
            for (i, at) in hash_map_order(key_schema, entries).into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let (k, v) = &entries[at];
                write_java_text(key_schema, k, out);
                out.push('=');
                write_java_text(value_schema, v, out);
            }
            out.push('}');
        }
        Value::Struct(s) => {
            out.push_str("Struct{");
            let mut first = true;
            for (field, v) in s.schema().fields.iter().zip(s.values()) {
                if v.is_null() {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&field.name);
                out.push('=');
                write_java_text(Some(&field.schema), v, out);
            }
            out.push('}');
        }
    }
}

/// `write_java_text` into a new string.
pub fn java_text(schema: Option<&Schema>, value: &Value) -> String {
    let mut out = String::new();
    write_java_text(schema, value, &mut out);
    out
}

fn push_int(out: &mut String, v: i64) {
    out.push_str(itoa::Buffer::new().format(v));
}

const MILLIS_PER_DAY: i64 = 86_400_000;
/// 1582-10-15T00:00Z, where `java.util.Date` switches from the Julian to the Gregorian calendar.
const GREGORIAN_CUTOVER_MILLIS: i64 = -12_219_292_800_000;

/// `java.util.Date.toString()` of epoch milliseconds, in UTC.
fn write_java_date(millis: i64, out: &mut String) {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = millis.div_euclid(MILLIS_PER_DAY);
    let seconds_of_day = millis.rem_euclid(MILLIS_PER_DAY) / 1000;
    let (year, month, day) = if millis >= GREGORIAN_CUTOVER_MILLIS {
        gregorian_from_days(days)
    } else {
        julian_from_days(days)
    };
    // Years before 1 AD as Java shows them: the era's year, without the era.
    let shown_year = if year <= 0 { 1 - year } else { year };
    let _ = write!(
        out,
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        seconds_of_day / 3600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60,
        shown_year
    );
}

/// Proleptic Gregorian (year, month, day) of days since 1970-01-01 (astronomical years: 0 is 1 BC).
fn gregorian_from_days(days: i64) -> (i64, i64, i64) {
    // Howard Hinnant's `civil_from_days`, in 400-year eras starting 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Julian calendar (year, month, day) of days since 1970-01-01 (astronomical years).
fn julian_from_days(days: i64) -> (i64, i64, i64) {
    // Days since 0000-03-01 (Julian), in 4-year cycles of 1461 days.
    let z = days + 719_470;
    let cycle = z.div_euclid(1461);
    let doc = z.rem_euclid(1461);
    let yoc = (doc - doc / 1460) / 365;
    let doy = doc - 365 * yoc;
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoc + cycle * 4 + i64::from(month <= 2);
    (year, month, day)
}

/// Java's `hashCode()` of a map key, for the classes whose hash is defined by value.
fn java_hash(schema: Option<&Schema>, key: &Value) -> Option<i32> {
    let long_hash = |v: i64| (v ^ ((v as u64) >> 32) as i64) as i32;
    match (schema.and_then(Schema::logical_name), key) {
        (Some(logical::DATE), Value::Int32(days)) => {
            return Some(long_hash(i64::from(*days) * MILLIS_PER_DAY))
        }
        (Some(logical::TIME), Value::Int32(millis)) => return Some(long_hash(i64::from(*millis))),
        (Some(logical::TIMESTAMP), Value::Int64(millis)) => return Some(long_hash(*millis)),
        (Some(logical::DECIMAL), _) => return None,
        _ => {}
    }
    Some(match key {
        Value::Null => 0,
        Value::Boolean(b) => {
            if *b {
                1231
            } else {
                1237
            }
        }
        Value::Int8(v) => i32::from(*v),
        Value::Int16(v) => i32::from(*v),
        Value::Int32(v) => *v,
        Value::Int64(v) => long_hash(*v),
        // `floatToIntBits`/`doubleToLongBits`: one NaN.
        Value::Float32(v) => {
            if v.is_nan() {
                0x7fc0_0000
            } else {
                v.to_bits() as i32
            }
        }
        Value::Float64(v) => {
            let bits = if v.is_nan() {
                0x7ff8_0000_0000_0000
            } else {
                v.to_bits() as i64
            };
            long_hash(bits)
        }
        // `String.hashCode()`: over UTF-16 code units.
        Value::String(s) => s.encode_utf16().fold(0i32, |h, unit| {
            h.wrapping_mul(31).wrapping_add(i32::from(unit))
        }),
        Value::Bytes(_) | Value::Array(_) | Value::Map(_) | Value::Struct(_) => return None,
    })
}

/// The order a default `java.util.HashMap` filled with `entries` in order iterates them: by bucket, and in
/// insertion order within a bucket (resizes keep that order). Insertion order when a key has no
/// value-defined Java hash.
fn hash_map_order(key_schema: Option<&Schema>, entries: &[(Value, Value)]) -> Vec<usize> {
    let spread = |h: i32| (h ^ ((h as u32) >> 16) as i32) as u32;
    let Some(hashes) = entries
        .iter()
        .map(|(k, _)| java_hash(key_schema, k).map(spread))
        .collect::<Option<Vec<u32>>>()
    else {
        return (0..entries.len()).collect();
    };
    let capacity = hash_map_capacity(&hashes);
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| hashes[i] & (capacity - 1));
    order
}

/// The table size of a default `HashMap` after inserting keys with these spread hashes, one by one: 16,
/// doubled whenever the size passes three quarters of it, or when a bucket of a table smaller than 64 reaches
/// nine entries (where a larger table would make the bucket a tree, whose order this does not follow).
fn hash_map_capacity(hashes: &[u32]) -> u32 {
    const TREEIFY_THRESHOLD: u32 = 8;
    const MIN_TREEIFY_CAPACITY: u32 = 64;
    let mut capacity: u32 = 16;
    let mut bucket_lens = vec![0u32; capacity as usize];
    let recount = |capacity: u32, inserted: &[u32], lens: &mut Vec<u32>| {
        lens.clear();
        lens.resize(capacity as usize, 0);
        for h in inserted {
            lens[(h & (capacity - 1)) as usize] += 1;
        }
    };
    for (size, &hash) in hashes.iter().enumerate() {
        let bucket = (hash & (capacity - 1)) as usize;
        bucket_lens[bucket] += 1;
        if bucket_lens[bucket] > TREEIFY_THRESHOLD && capacity < MIN_TREEIFY_CAPACITY {
            capacity *= 2;
            recount(capacity, &hashes[..=size], &mut bucket_lens);
        }
        if (size + 1) as u64 > u64::from(capacity) * 3 / 4 && capacity < 1 << 30 {
            capacity *= 2;
            recount(capacity, &hashes[..=size], &mut bucket_lens);
        }
    }
    capacity
}

/// Writes `v` as Java's `Double.toString` does (`1.0`, `1.0E10`, `1.5E-5`, `NaN`, `Infinity`).
pub fn write_java_double(v: f64, out: &mut impl fmt::Write) -> fmt::Result {
    java_float_text(
        v.is_finite(),
        v == 0.0 || (1e-3..1e7).contains(&v.abs()),
        out,
        |o, sci| {
            if !sci {
                // ryu, as for floats (and as the JSON writer already did for doubles).
                o.push_str(ryu::Buffer::new().format_finite(v));
                return Ok(());
            }
            shortest_scientific(ryu::Buffer::new().format_finite(v), o);
            two_digits_if_one(
                o,
                |t| {
                    let _ = write!(t, "{v:.1e}");
                },
                |t| t.parse::<f64>().ok() == Some(v),
            );
            Ok(())
        },
        v,
    )
}

/// Writes `v` as Java's `Float.toString` does.
pub fn write_java_float(v: f32, out: &mut impl fmt::Write) -> fmt::Result {
    java_float_text(
        v.is_finite(),
        v == 0.0 || (1e-3..1e7).contains(&v.abs()),
        out,
        |o, sci| {
            if !sci {
                // ryu, not Rust's `Display`: where two shortest decimals are equally near, Java and ryu take
                // the even one (315514.625f prints 315514.62), Rust's `Display` the one above.
                o.push_str(ryu::Buffer::new().format_finite(v));
                return Ok(());
            }
            shortest_scientific(ryu::Buffer::new().format_finite(v), o);
            two_digits_if_one(
                o,
                |t| {
                    let _ = write!(t, "{v:.1e}");
                },
                |t| t.parse::<f32>().ok() == Some(v),
            );
            Ok(())
        },
        f64::from(v),
    )
}

/// ryu's shortest digits (`text`, plain `1398105485813294.2` or scientific `1e-7`) in Rust's `{:e}` form
/// (`1.3981054858132942e15`, `1e-7`). Not Rust's own `{:e}`: where two shortest decimals are equally near, it
/// takes the one above, Java and ryu the even one.
fn shortest_scientific(text: &str, out: &mut String) {
    let (number, exponent) = match text.split_once('e') {
        Some((n, e)) => (n, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (sign, number) = match number.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", number),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits: String = whole.chars().chain(fraction.chars()).collect();
    let leading_zeros = digits.len() - digits.trim_start_matches('0').len();
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    if significant.is_empty() {
        out.push_str(sign);
        out.push_str("0e0");
        return;
    }
    // The value is 0.<digits> × 10^(whole digits + exponent); in d.ddd form one less.
    let scientific_exponent = whole.len() as i32 - leading_zeros as i32 - 1 + exponent;
    out.push_str(sign);
    out.push_str(&significant[..1]);
    if significant.len() > 1 {
        out.push('.');
        out.push_str(&significant[1..]);
    }
    let _ = write!(out, "e{scientific_exponent}");
}

/// Java prints at least two significant digits (`d.dE±n`), and since JDK 19 the two-digit decimal nearest the
/// exact value when the shortest has one: that differs from `d.0` only for subnormals (`4.9E-324`, where the
/// shortest is `5e-324`). `text` is the shortest scientific form; replaced by the nearest two-digit form when
/// it has one digit and the two-digit form reads back as the same number.
fn two_digits_if_one(
    text: &mut String,
    nearest_two: impl Fn(&mut String),
    round_trips: impl Fn(&str) -> bool,
) {
    let mantissa = text.split('e').next().unwrap_or("");
    if mantissa.contains('.') {
        return;
    }
    let mut two = String::with_capacity(text.len() + 2);
    nearest_two(&mut two);
    if round_trips(&two) {
        *text = two;
    }
}

fn java_float_text(
    finite: bool,
    plain: bool,
    out: &mut impl fmt::Write,
    render: impl Fn(&mut String, bool) -> fmt::Result,
    as_f64: f64,
) -> fmt::Result {
    if !finite {
        return out.write_str(if as_f64.is_nan() {
            "NaN"
        } else if as_f64 > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        });
    }
    let mut text = String::with_capacity(24);
    render(&mut text, !plain)?;
    if plain {
        out.write_str(&text)?;
        if !text.contains('.') {
            out.write_str(".0")?;
        }
        return Ok(());
    }
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    out.write_str(mantissa)?;
    if !mantissa.contains('.') {
        out.write_str(".0")?;
    }
    write!(out, "E{exponent}")
}

/// Java's `toString` rendering (what `StringConverter` and `Cast` to string produce) of a value without its
/// schema: `super::java_text` with no schema, so structs print their fields by the fields' schemas (a Timestamp
/// field as a `java.util.Date`) and maps in `HashMap` order; a top-level logical value prints as its physical
/// type, since nothing here says it is one. Bytes print as base64.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        write_java_text(None, self, &mut text);
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::data::decimal::unscaled_from_digits;
    use crate::connect::data::{Struct, Type, Value};

    fn text(schema: Option<&Schema>, value: &Value) -> String {
        java_text(schema, value)
    }

    /// Expected strings from `new java.util.Date(ms).toString()` on JDK 17 with `TZ=UTC`.
    #[test]
    fn timestamps_print_as_java_util_date() {
        let schema = Schema::timestamp();
        for (millis, java) in [
            (0, "Thu Jan 01 00:00:00 UTC 1970"),
            (42, "Thu Jan 01 00:00:00 UTC 1970"),
            (4_000_000_000, "Mon Feb 16 07:06:40 UTC 1970"),
            (-1, "Wed Dec 31 23:59:59 UTC 1969"),
            (864_000_000_000, "Mon May 19 00:00:00 UTC 1997"),
            (253_402_300_800_000, "Sat Jan 01 00:00:00 UTC 10000"),
            (-62_135_596_800_000, "Mon Jan 03 00:00:00 UTC 1"),
            (-12_219_292_800_000, "Fri Oct 15 00:00:00 UTC 1582"),
            (-12_219_292_800_001, "Thu Oct 04 23:59:59 UTC 1582"),
            (-62_167_219_200_000, "Sat Jan 03 00:00:00 UTC 1"),
            (-62_198_755_200_000, "Fri Jan 03 00:00:00 UTC 2"),
            (951_782_400_000, "Tue Feb 29 00:00:00 UTC 2000"),
            (1_709_251_199_000, "Thu Feb 29 23:59:59 UTC 2024"),
            (-30_610_224_000_000, "Wed Dec 27 00:00:00 UTC 999"),
            (-100_000_000_000_000, "Thu Feb 26 14:13:20 UTC 1200"),
            (8_640_000_000_000_000, "Sat Sep 13 00:00:00 UTC 275760"),
            (-8_640_000_000_000_000, "Tue Nov 20 00:00:00 UTC 271817"),
        ] {
            assert_eq!(text(Some(&schema), &Value::Int64(millis)), java, "{millis}");
        }
    }

    #[test]
    fn dates_and_times_are_java_util_dates_too() {
        // 10000 days and 4 hours, as in Kafka's converter tests.
        assert_eq!(
            text(Some(&Schema::date()), &Value::Int32(10_000)),
            "Mon May 19 00:00:00 UTC 1997"
        );
        assert_eq!(
            text(Some(&Schema::time()), &Value::Int32(14_400_000)),
            "Thu Jan 01 04:00:00 UTC 1970"
        );
        assert_eq!(
            text(Some(&Schema::time()), &Value::Int32(86_399_999)),
            "Thu Jan 01 23:59:59 UTC 1970"
        );
        // Without the logical schema it is just an int.
        assert_eq!(text(None, &Value::Int32(10_000)), "10000");
    }

    #[test]
    fn decimals_are_big_decimals() {
        let d = |digits: &str, negative: bool, scale: i32| {
            text(
                Some(&Schema::decimal(scale)),
                &Value::Bytes(unscaled_from_digits(negative, digits)),
            )
        };
        assert_eq!(d("156", false, 2), "1.56");
        assert_eq!(d("15600", false, 4), "1.5600");
        assert_eq!(d("1", false, 10), "1E-10");
        assert_eq!(d("12", false, -3), "1.2E+4");
        assert_eq!(d("5", true, 2), "-0.05");
    }

    /// From `Double.toString`/`Float.toString` (JDK 17; these values print the same on every JDK).
    #[test]
    fn floats_print_as_java() {
        for (v, java) in [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e10, "1.0E10"),
            (1.5e-5, "1.5E-5"),
            (0.001, "0.001"),
            (9.999e-4, "9.999E-4"),
            (1e7, "1.0E7"),
            (9_999_999.0, "9999999.0"),
            (12.34, "12.34"),
            (1e21, "1.0E21"),
            (1e-300, "1.0E-300"),
            (4.9e-324, "4.9E-324"),
            (f64::MAX, "1.7976931348623157E308"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123_456_789.125, "1.23456789125E8"),
        ] {
            assert_eq!(text(None, &Value::Float64(v)), java, "{v}");
        }
        for (v, java) in [
            (12.34f32, "12.34"),
            (1e10, "1.0E10"),
            (1.1, "1.1"),
            (3.4e38, "3.4E38"),
            (1e-5, "1.0E-5"),
            (0.1, "0.1"),
            (1_234_567.0, "1234567.0"),
            (1.0e7, "1.0E7"),
            (f32::from_bits(1), "1.4E-45"),
            (33_554_432.0, "3.3554432E7"),
        ] {
            assert_eq!(text(None, &Value::Float32(v)), java, "{v}");
        }
    }

    fn string_map(keys: &[&str]) -> Value {
        Value::Map(
            keys.iter()
                .map(|k| (Value::string(k), Value::string(&format!("v{k}"))))
                .collect(),
        )
    }

    /// Orders from `HashMap.toString()` (JDK 17) after putting the keys in this order.
    #[test]
    fn maps_iterate_in_java_hash_map_order() {
        let m = Value::Map(vec![
            (Value::string("b"), Value::Int64(1)),
            (Value::string("a"), Value::Int64(2)),
            (Value::string("key1"), Value::Int32(12)),
            (Value::string("zz"), Value::Null),
            (Value::string("é"), Value::string("x")),
            (Value::string("Aa"), Value::string("1")),
            (Value::string("BB"), Value::string("2")),
        ]);
        assert_eq!(
            text(None, &m),
            "{key1=12, zz=null, Aa=1, BB=2, a=2, b=1, é=x}"
        );
        let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let expected = "{k0=vk0, k1=vk1, k2=vk2, k3=vk3, k4=vk4, k5=vk5, k11=vk11, k6=vk6, k10=vk10, \
             k7=vk7, k13=vk13, k8=vk8, k12=vk12, k9=vk9, k15=vk15, k14=vk14, k17=vk17, k16=vk16, k19=vk19, \
             k18=vk18}";
        assert_eq!(text(None, &string_map(&keys)), expected);
        let mixed = Value::Map(vec![
            (Value::Int32(52), Value::string("s")),
            (Value::Boolean(false), Value::Boolean(true)),
            (Value::Int64(-7), Value::Int32(1)),
            (Value::Float64(3.5), Value::Int32(2)),
            (Value::Int8(5), Value::Int32(3)),
            (Value::Int16(300), Value::Int32(4)),
            (Value::string("string"), Value::Int32(12)),
            (Value::Float32(1.5), Value::Int32(0)),
        ]);
        assert_eq!(
            text(None, &mixed),
            "{1.5=0, 52=s, string=12, false=true, 5=3, -7=1, 3.5=2, 300=4}"
        );
        assert_eq!(text(None, &Value::Map(vec![])), "{}");
    }

    #[test]
    fn maps_with_unhashable_keys_keep_insertion_order() {
        let m = Value::Map(vec![
            (Value::Array(vec![Value::Int32(2)]), Value::Int32(1)),
            (Value::Array(vec![Value::Int32(1)]), Value::Int32(2)),
        ]);
        assert_eq!(text(None, &m), "{[2]=1, [1]=2}");
    }

    #[test]
    fn structs_lists_and_nesting() {
        let inner = Schema::structure()
            .field("when", Schema::timestamp().optional().build())
            .field("price", Schema::decimal(2).build())
            .build();
        let outer = Schema::structure()
            .field("a", Schema::new(Type::Int32).build())
            .field("b", Schema::new(Type::String).optional().build())
            .field("gone", Schema::new(Type::String).optional().build())
            .field(
                "list",
                Schema::array(Schema::new(Type::Float64).optional().build()).build(),
            )
            .field("inner", inner.clone())
            .field("raw", Schema::new(Type::Bytes).build())
            .build();
        let mut i = Struct::new(inner).unwrap();
        i.put("when", Value::Int64(0)).unwrap();
        i.put("price", Value::Bytes(unscaled_from_digits(false, "156")))
            .unwrap();
        let mut s = Struct::new(outer.clone()).unwrap();
        s.put("a", Value::Int32(1)).unwrap();
        s.put("b", Value::string("x")).unwrap();
        s.put(
            "list",
            Value::Array(vec![Value::Float64(1.0), Value::Null, Value::Float64(2.5)]),
        )
        .unwrap();
        s.put("inner", Value::Struct(i)).unwrap();
        s.put("raw", Value::Bytes(bytes::Bytes::from_static(b"hi")))
            .unwrap();
        assert_eq!(
            text(Some(&*outer), &Value::Struct(s)),
            "Struct{a=1,b=x,list=[1.0, null, 2.5],inner=Struct{when=Thu Jan 01 00:00:00 UTC 1970,price=1.56},raw=aGk=}"
        );
        assert_eq!(text(None, &Value::Null), "null");
        assert_eq!(
            text(None, &Value::Array(vec![])),
            "[]",
            "an empty list is []"
        );
    }
}

#[cfg(test)]
mod number_tests {
    use super::*;
    use crate::connect::data::{Struct, Type};

    fn d(v: f64) -> String {
        let mut s = String::new();
        write_java_double(v, &mut s).unwrap();
        s
    }

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(d(1.0), "1.0");
        assert_eq!(d(0.0), "0.0");
        assert_eq!(d(-2.5), "-2.5");
        assert_eq!(d(1e10), "1.0E10");
        assert_eq!(d(1.5e-5), "1.5E-5");
        assert_eq!(d(1234567.0), "1234567.0");
        assert_eq!(d(f64::NAN), "NaN");
    }

    #[test]
    fn display_is_java_to_string_without_a_schema() {
        use crate::connect::data::Schema;
        let schema = Schema::structure()
            .field("at", Schema::timestamp().build())
            .field("n", Schema::new(Type::Int32).optional().build())
            .build();
        let mut s = Struct::new(schema).unwrap();
        s.put("at", Value::Int64(0)).unwrap();
        assert_eq!(
            Value::Struct(s).to_string(),
            "Struct{at=Thu Jan 01 00:00:00 UTC 1970}"
        );
        // HashMap order, as Java prints a map JsonConverter built.
        let m = Value::Map(vec![
            (Value::string("b"), Value::Int64(1)),
            (Value::string("a"), Value::Int64(2)),
        ]);
        assert_eq!(m.to_string(), "{a=2, b=1}");
        assert_eq!(Value::Int64(0).to_string(), "0");
    }
}
