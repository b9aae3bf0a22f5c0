//! Java `SimpleDateFormat` patterns, in UTC, for `TimestampConverter` and `TimestampRouter`.
//!
//! Supported letters: `y` (year), `M` (month: number, `MMM` short name, `MMMM` full name), `d` (day),
//! `D` (day of year), `H` (hour 0-23), `h` (hour 1-12), `a` (AM/PM), `m`, `s`, `S` (millis), `E` (day name),
//! `Z` (`+0000`), `X` (`Z` / `+00` / `+0000` / `+00:00`), `z` (`UTC`), and `'quoted'` text.

use std::fmt::Write as _;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Field(char, usize),
    Literal(String),
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    pattern: String,
    items: Vec<Item>,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month 1-12, day 1-31) of days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

const MILLIS_PER_DAY: i64 = 86_400_000;

impl DateFormat {
    pub fn new(pattern: &str) -> Result<DateFormat, String> {
        let mut items = Vec::new();
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                let mut text = String::new();
                i += 1;
                if chars.get(i) == Some(&'\'') {
                    items.push(Item::Literal("'".to_owned()));
                    i += 1;
                    continue;
                }
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(format!("unterminated quote in date pattern `{pattern}`"))
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            text.push(ch);
                            i += 1;
                        }
                    }
                }
                items.push(Item::Literal(text));
            } else if c.is_ascii_alphabetic() {
                if !"yMdDHhamsSEZXzuk".contains(c) {
                    return Err(format!(
                        "unsupported letter `{c}` in date pattern `{pattern}`"
                    ));
                }
                let mut n = 1;
                while chars.get(i + n) == Some(&c) {
                    n += 1;
                }
                items.push(Item::Field(c, n));
                i += n;
            } else {
                items.push(Item::Literal(c.to_string()));
                i += 1;
            }
        }
        Ok(DateFormat {
            pattern: pattern.to_owned(),
            items,
        })
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Formats epoch millis (UTC).
    pub fn format(&self, epoch_ms: i64) -> String {
        let mut out = String::with_capacity(self.pattern.len() + 8);
        self.format_into(epoch_ms, &mut out);
        out
    }

    pub fn format_into(&self, epoch_ms: i64, out: &mut String) {
        let days = epoch_ms.div_euclid(MILLIS_PER_DAY);
        let ms_of_day = epoch_ms.rem_euclid(MILLIS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let hour = ms_of_day / 3_600_000;
        let minute = ms_of_day / 60_000 % 60;
        let second = ms_of_day / 1000 % 60;
        let milli = ms_of_day % 1000;
        for item in &self.items {
            match item {
                Item::Literal(text) => out.push_str(text),
                Item::Field(c, n) => {
                    let n = *n;
                    let _ = match c {
                        'y' | 'u' if n == 2 => write!(out, "{:02}", year.rem_euclid(100)),
                        'y' | 'u' => write!(out, "{year:0n$}"),
                        'M' if n >= 4 => write!(out, "{}", MONTHS[(month - 1) as usize]),
                        'M' if n == 3 => write!(out, "{}", &MONTHS[(month - 1) as usize][..3]),
                        'M' => write!(out, "{month:0n$}"),
                        'd' => write!(out, "{day:0n$}"),
                        'D' => write!(out, "{:0n$}", days - days_from_civil(year, 1, 1) + 1),
                        'H' => write!(out, "{hour:0n$}"),
                        'k' => write!(out, "{:0n$}", if hour == 0 { 24 } else { hour }),
                        'h' => write!(out, "{:0n$}", if hour % 12 == 0 { 12 } else { hour % 12 }),
                        'a' => write!(out, "{}", if hour < 12 { "AM" } else { "PM" }),
                        'm' => write!(out, "{minute:0n$}"),
                        's' => write!(out, "{second:0n$}"),
                        'S' => write!(out, "{milli:0n$}"),
                        'E' => {
                            let name = DAYS[days.rem_euclid(7) as usize];
                            write!(out, "{}", if n >= 4 { name } else { &name[..3] })
                        }
                        'Z' => write!(out, "+0000"),
                        'X' => write!(out, "Z"),
                        'z' => write!(out, "UTC"),
                        _ => Ok(()),
                    };
                }
            }
        }
    }

    /// Parses text into epoch millis (UTC unless the text carries an offset).
    pub fn parse(&self, text: &str) -> Result<i64, String> {
        let bytes = text.as_bytes();
        let mut pos = 0;
        let (mut year, mut month, mut day) = (1970i64, 1u32, 1u32);
        let (mut hour, mut minute, mut second, mut milli) = (0i64, 0i64, 0i64, 0i64);
        let mut pm: Option<bool> = None;
        let mut offset_minutes = 0i64;
        let err = |what: &str, at: usize| {
            format!(
                "`{text}` does not match date pattern `{}`: expected {what} at character {at}",
                self.pattern
            )
        };
        let number = |pos: &mut usize, max_digits: usize, what: &str| -> Result<i64, String> {
            let start = *pos;
            let neg = bytes.get(*pos) == Some(&b'-');
            if neg {
                *pos += 1;
            }
            let digits_start = *pos;
            while *pos < bytes.len()
                && *pos - digits_start < max_digits
                && bytes[*pos].is_ascii_digit()
            {
                *pos += 1;
            }
            if *pos == digits_start {
                return Err(err(what, start));
            }
            let v: i64 = text[digits_start..*pos]
                .parse()
                .map_err(|_| err(what, start))?;
            Ok(if neg { -v } else { v })
        };
        for (idx, item) in self.items.iter().enumerate() {
            // Adjacent numeric fields (`yyyyMMdd`) take exactly their width.
            let next_is_number = matches!(self.items.get(idx + 1), Some(Item::Field(c, _)) if "yMdDHhmsSku".contains(*c));
            match item {
                Item::Literal(lit) => {
                    if text[pos..].starts_with(lit.as_str()) {
                        pos += lit.len();
                    } else {
                        return Err(err(&format!("`{lit}`"), pos));
                    }
                }
                Item::Field(c, n) => {
                    let width = if next_is_number { *n } else { usize::MAX };
                    match c {
                        'y' | 'u' => {
                            year = number(&mut pos, width, "a year")?;
                            if *n == 2 && year < 100 {
                                year += 2000;
                            }
                        }
                        'M' if *n >= 3 => {
                            let rest = &text[pos..];
                            let found = MONTHS.iter().enumerate().find_map(|(i, m)| {
                                if rest.starts_with(m) {
                                    Some((i, m.len()))
                                } else if rest.starts_with(&m[..3]) {
                                    Some((i, 3))
                                } else {
                                    None
                                }
                            });
                            let (i, len) = found.ok_or_else(|| err("a month name", pos))?;
                            month = i as u32 + 1;
                            pos += len;
                        }
                        'M' => month = number(&mut pos, width.min(2), "a month")? as u32,
                        'd' => day = number(&mut pos, width.min(2), "a day")? as u32,
                        'D' => {
                            let doy = number(&mut pos, width.min(3), "a day of year")?;
                            month = 1;
                            day = 1;
                            milli += (doy - 1) * MILLIS_PER_DAY;
                        }
                        'H' | 'k' | 'h' => hour = number(&mut pos, width.min(2), "an hour")? % 24,
                        'm' => minute = number(&mut pos, width.min(2), "minutes")?,
                        's' => second = number(&mut pos, width.min(2), "seconds")?,
                        'S' => milli += number(&mut pos, width.min(3), "milliseconds")?,
                        'a' => {
                            let rest = &text[pos..];
                            if rest.starts_with("AM") || rest.starts_with("am") {
                                pm = Some(false);
                            } else if rest.starts_with("PM") || rest.starts_with("pm") {
                                pm = Some(true);
                            } else {
                                return Err(err("AM or PM", pos));
                            }
                            pos += 2;
                        }
                        'E' => {
                            let rest = &text[pos..];
                            let len = DAYS
                                .iter()
                                .find_map(|d| {
                                    if rest.starts_with(d) {
                                        Some(d.len())
                                    } else if rest.starts_with(&d[..3]) {
                                        Some(3)
                                    } else {
                                        None
                                    }
                                })
                                .ok_or_else(|| err("a day name", pos))?;
                            pos += len;
                        }
                        'Z' | 'X' | 'z' => {
                            let rest = &text[pos..];
                            if rest.starts_with('Z') {
                                pos += 1;
                            } else if rest.starts_with("UTC") || rest.starts_with("GMT") {
                                pos += 3;
                            } else {
                                let sign = match rest.as_bytes().first() {
                                    Some(b'+') => 1,
                                    Some(b'-') => -1,
                                    _ => return Err(err("a zone offset", pos)),
                                };
                                pos += 1;
                                let hh = number(&mut pos, 2, "offset hours")?;
                                if bytes.get(pos) == Some(&b':') {
                                    pos += 1;
                                }
                                let mm = if pos < bytes.len() && bytes[pos].is_ascii_digit() {
                                    number(&mut pos, 2, "offset minutes")?
                                } else {
                                    0
                                };
                                offset_minutes = sign * (hh * 60 + mm);
                            }
                        }
                        _ => return Err(err("a supported field", pos)),
                    }
                }
            }
        }
        if pos != text.len() {
            return Err(err("the end of the text", pos));
        }
        if let Some(pm) = pm {
            hour = hour % 12 + if pm { 12 } else { 0 };
        }
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || !(-1_000_000..=1_000_000).contains(&year)
        {
            return Err(format!(
                "`{text}` is not a valid date for pattern `{}`",
                self.pattern
            ));
        }
        let days = days_from_civil(year, month, day);
        Ok(
            days * MILLIS_PER_DAY + hour * 3_600_000 + minute * 60_000 + second * 1000 + milli
                - offset_minutes * 60_000,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_round_trip() {
        for days in [-1_000_000, -1, 0, 1, 17_269, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn formats_and_parses_like_simple_date_format() {
        let f = DateFormat::new("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").unwrap();
        // 2017-04-13T10:20:30.456Z
        let ms = 1_492_078_830_456;
        assert_eq!(f.format(ms), "2017-04-13T10:20:30.456Z");
        assert_eq!(f.parse("2017-04-13T10:20:30.456Z").unwrap(), ms);
        let compact = DateFormat::new("yyyyMMdd").unwrap();
        assert_eq!(compact.format(ms), "20170413");
        assert_eq!(compact.parse("20170413").unwrap(), 1_492_041_600_000);
        let named = DateFormat::new("EEE, d MMM yyyy hh:mm a").unwrap();
        assert_eq!(named.format(ms), "Thu, 13 Apr 2017 10:20 AM");
    }

    #[test]
    fn mismatched_text_says_where() {
        let f = DateFormat::new("yyyy-MM-dd").unwrap();
        assert!(f.parse("99999999999999-01-01").is_err());
        let e = f.parse("2017/04/13").unwrap_err();
        assert!(e.contains("character 4"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_text_never_panics(text in "\\PC{0,30}", ms in proptest::num::i64::ANY) {
            for pattern in ["yyyy-MM-dd'T'HH:mm:ss.SSSZ", "yyyyMMdd", "EEE, d MMM yyyy hh:mm a", "D yy X"] {
                let f = DateFormat::new(pattern).unwrap();
                let _ = f.parse(&text);
                let formatted = f.format(ms / 4);
                let _ = f.parse(&formatted);
            }
        }

        #[test]
        fn iso_format_round_trips(ms in -62_135_596_800_000i64..253_402_300_799_999) {
            let f = DateFormat::new("yyyy-MM-dd'T'HH:mm:ss.SSSZ").unwrap();
            proptest::prop_assert_eq!(f.parse(&f.format(ms)).unwrap(), ms);
        }
    }
}
