//! Command-line arguments shared by the subcommands.

use crate::client::config::ConfigMap;

/// Parses one `-X key=value`.
pub fn parse_key_value(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected key=value, got `{arg}`")),
    }
}

/// Builds a client config from `-b` and `-X` pairs (later pairs win).
pub fn config_map(brokers: &str, settings: &[(String, String)]) -> ConfigMap {
    let mut map = ConfigMap::new();
    map.set("bootstrap.servers", brokers);
    for (k, v) in settings {
        map.set(k.clone(), v.clone());
    }
    map
}

/// Turns `\n`, `\t`, `\r`, `\\` and `\0` escapes into bytes (kcat accepts them in delimiters and formats).
pub fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.bytes().peekable();
    while let Some(c) = chars.next() {
        if c == b'\\' {
            match chars.peek().copied() {
                Some(b'n') => out.push(b'\n'),
                Some(b't') => out.push(b'\t'),
                Some(b'r') => out.push(b'\r'),
                Some(b'0') => out.push(0),
                Some(b'\\') => out.push(b'\\'),
                _ => {
                    out.push(c);
                    continue;
                }
            }
            chars.next();
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_splits_at_first_equals() {
        assert_eq!(parse_key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
    }

    #[test]
    fn escapes_become_bytes() {
        assert_eq!(unescape(r"a\tb\n"), b"a\tb\n");
        assert_eq!(unescape(r"\\"), b"\\");
        assert_eq!(unescape(r"\q"), b"\\q");
    }
}
