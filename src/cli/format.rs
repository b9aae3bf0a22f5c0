//! The kcat-style `-f` output format of `engine consume`: parsed once into tokens, rendered per record into a
//! caller-owned buffer.
//!
//! Pure: no IO. Rendering appends to a `Vec<u8>` and allocates nothing per record beyond that buffer's growth.
//!
//! | token | prints |
//! |-------|--------|
//! | `%k` / `%s` | key / value bytes as they are; a null key or value prints nothing (as kcat does without `-Z`) |
//! | `%K` / `%S` | key / value length in bytes, `-1` for null (as kcat) |
//! | `%t` `%p` `%o` `%T` | topic, partition, offset, timestamp in ms since the epoch |
//! | `%h` | headers as `name=value`, comma-separated; a null header value prints as `name=` |
//! | `%%` | a literal `%` |
//! | `\n` `\t` `\r` `\\` | newline, tab, carriage return, backslash |

use std::io::Write as _;

/// A format string that could not be parsed; each variant names the offending token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error(
        "unknown format token `%{token}` at byte {position} (known: %k %s %K %S %t %p %o %T %h %%)"
    )]
    UnknownToken { token: char, position: usize },
    #[error("format string ends with a lone `%` (write `%%` for a literal percent sign)")]
    DanglingPercent,
    #[error("unknown escape `\\{escape}` at byte {position} (known: \\n \\t \\r \\\\)")]
    UnknownEscape { escape: char, position: usize },
    #[error("format string ends with a lone `\\` (write `\\\\` for a literal backslash)")]
    DanglingBackslash,
}

/// One piece of a parsed format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatToken {
    /// Bytes copied as they are (text between tokens, `%%`, escapes).
    Literal(Vec<u8>),
    Key,
    Value,
    KeyLength,
    ValueLength,
    Topic,
    Partition,
    Offset,
    Timestamp,
    Headers,
}

/// The fields of one record that a format can print; key, value and headers borrow from the fetched buffer.
#[derive(Debug, Clone)]
pub struct FormatRecord<'a, H> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// Header names and values, in record order; cloned once per `%h` in the format.
    pub headers: H,
}

/// A parsed `-f` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFormat {
    tokens: Vec<FormatToken>,
}

impl OutputFormat {
    /// Parses `format` into tokens; adjacent literal text is merged into one token.
    pub fn parse(format: &str) -> Result<Self, FormatError> {
        let mut tokens = Vec::new();
        let mut literal = Vec::new();
        let mut chars = format.char_indices();
        while let Some((position, c)) = chars.next() {
            match c {
                '%' => {
                    let (_, next) = chars.next().ok_or(FormatError::DanglingPercent)?;
                    let token = match next {
                        '%' => {
                            literal.push(b'%');
                            continue;
                        }
                        'k' => FormatToken::Key,
                        's' => FormatToken::Value,
                        'K' => FormatToken::KeyLength,
                        'S' => FormatToken::ValueLength,
                        't' => FormatToken::Topic,
                        'p' => FormatToken::Partition,
                        'o' => FormatToken::Offset,
                        'T' => FormatToken::Timestamp,
                        'h' => FormatToken::Headers,
                        other => {
                            return Err(FormatError::UnknownToken {
                                token: other,
                                position,
                            })
                        }
                    };
                    if !literal.is_empty() {
                        tokens.push(FormatToken::Literal(std::mem::take(&mut literal)));
                    }
                    tokens.push(token);
                }
                '\\' => {
                    let (_, next) = chars.next().ok_or(FormatError::DanglingBackslash)?;
                    literal.push(match next {
                        'n' => b'\n',
                        't' => b'\t',
                        'r' => b'\r',
                        '\\' => b'\\',
                        other => {
                            return Err(FormatError::UnknownEscape {
                                escape: other,
                                position,
                            })
                        }
                    });
                }
                other => {
                    let mut utf8 = [0u8; 4];
                    literal.extend_from_slice(other.encode_utf8(&mut utf8).as_bytes());
                }
            }
        }
        if !literal.is_empty() {
            tokens.push(FormatToken::Literal(literal));
        }
        Ok(Self { tokens })
    }

    pub fn tokens(&self) -> &[FormatToken] {
        &self.tokens
    }

    /// Whether the format prints headers (so the caller can skip decoding them otherwise).
    pub fn uses_headers(&self) -> bool {
        self.tokens.contains(&FormatToken::Headers)
    }

    /// Appends `record` rendered by this format to `out`.
    pub fn render<'a, H>(&self, record: &FormatRecord<'a, H>, out: &mut Vec<u8>)
    where
        H: Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + Clone,
    {
        for token in &self.tokens {
            match token {
                FormatToken::Literal(bytes) => out.extend_from_slice(bytes),
                FormatToken::Key => out.extend_from_slice(record.key.unwrap_or_default()),
                FormatToken::Value => out.extend_from_slice(record.value.unwrap_or_default()),
                FormatToken::KeyLength => write_length(out, record.key),
                FormatToken::ValueLength => write_length(out, record.value),
                FormatToken::Topic => out.extend_from_slice(record.topic.as_bytes()),
                FormatToken::Partition => write_number(out, i64::from(record.partition)),
                FormatToken::Offset => write_number(out, record.offset),
                FormatToken::Timestamp => write_number(out, record.timestamp_ms),
                FormatToken::Headers => {
                    for (index, (name, value)) in record.headers.clone().enumerate() {
                        if index > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(name);
                        out.push(b'=');
                        out.extend_from_slice(value.unwrap_or_default());
                    }
                }
            }
        }
    }
}

fn write_length(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => write_number(out, bytes.len() as i64),
        None => out.extend_from_slice(b"-1"),
    }
}

fn write_number(out: &mut Vec<u8>, n: i64) {
    // Writing into a Vec cannot fail; the digits go straight into the buffer.
    let _ = write!(out, "{n}");
}

#[cfg(test)]
mod tests {
    use super::*;

    type Headers<'a> = std::iter::Copied<std::slice::Iter<'a, (&'a [u8], Option<&'a [u8]>)>>;

    fn record<'a>(
        key: Option<&'a [u8]>,
        value: Option<&'a [u8]>,
        headers: &'a [(&'a [u8], Option<&'a [u8]>)],
    ) -> FormatRecord<'a, Headers<'a>> {
        FormatRecord {
            topic: "orders",
            partition: 3,
            offset: 42,
            timestamp_ms: 1_700_000_000_123,
            key,
            value,
            headers: headers.iter().copied(),
        }
    }

    fn render(format: &str, record: &FormatRecord<'_, Headers<'_>>) -> String {
        let mut out = Vec::new();
        OutputFormat::parse(format)
            .unwrap()
            .render(record, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_token_prints_its_field() {
        let r = record(Some(b"k1"), Some(b"hello"), &[]);
        assert_eq!(
            render("%t/%p@%o %T %k=%s (%K,%S)\n", &r),
            "orders/3@42 1700000000123 k1=hello (2,5)\n"
        );
    }

    #[test]
    fn null_key_and_value_print_empty_and_length_minus_one() {
        let r = record(None, None, &[]);
        assert_eq!(render("[%k][%s][%K][%S]", &r), "[][][-1][-1]");
        let empty = record(Some(b""), Some(b""), &[]);
        assert_eq!(render("[%k][%s][%K][%S]", &empty), "[][][0][0]");
    }

    #[test]
    fn headers_print_as_comma_separated_name_value_pairs() {
        let headers: [(&[u8], Option<&[u8]>); 3] =
            [(b"a", Some(b"1")), (b"b", None), (b"c", Some(b"x=y"))];
        let r = record(None, Some(b"v"), &headers);
        assert_eq!(render("%h|%h", &r), "a=1,b=,c=x=y|a=1,b=,c=x=y");
        assert_eq!(render("<%h>", &record(None, None, &[])), "<>");
    }

    #[test]
    fn escapes_and_percent_are_literals() {
        let r = record(Some(b"k"), Some(b"v"), &[]);
        assert_eq!(render("%%%k\\t%s\\r\\n\\\\", &r), "%k\tv\r\n\\");
    }

    #[test]
    fn literal_text_is_merged_and_utf8_kept() {
        let format = OutputFormat::parse("é%%x%s\\n").unwrap();
        assert_eq!(
            format.tokens(),
            &[
                FormatToken::Literal("é%x".as_bytes().to_vec()),
                FormatToken::Value,
                FormatToken::Literal(b"\n".to_vec()),
            ]
        );
        assert!(!format.uses_headers());
        assert!(OutputFormat::parse("%h").unwrap().uses_headers());
    }

    #[test]
    fn unknown_token_is_an_error_naming_it() {
        let err = OutputFormat::parse("%k %x").unwrap_err();
        assert_eq!(
            err,
            FormatError::UnknownToken {
                token: 'x',
                position: 3
            }
        );
        assert!(err.to_string().contains("`%x`"), "{err}");
    }

    #[test]
    fn dangling_percent_or_backslash_and_unknown_escapes_are_errors() {
        assert_eq!(
            OutputFormat::parse("%s%"),
            Err(FormatError::DanglingPercent)
        );
        assert_eq!(
            OutputFormat::parse("%s\\"),
            Err(FormatError::DanglingBackslash)
        );
        assert_eq!(
            OutputFormat::parse("\\q"),
            Err(FormatError::UnknownEscape {
                escape: 'q',
                position: 0
            })
        );
    }

    #[test]
    fn rendering_appends_to_the_buffer() {
        let format = OutputFormat::parse("%o\n").unwrap();
        let mut out = Vec::with_capacity(64);
        let r = record(None, None, &[]);
        format.render(&r, &mut out);
        format.render(&r, &mut out);
        assert_eq!(out, b"42\n42\n");
    }
}
