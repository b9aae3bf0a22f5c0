//! `RegexRouter`: when the whole topic matches `regex`, replace it with `replacement` (Java syntax: `$1`
//! refers to a group, `\$` is a literal dollar).

use super::shared::{TransformBuildError, NEGATE_KEY, PREDICATE_KEY};
use super::util::config_error;
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::Str;
use crate::connect::record::ConnectRecord;
use regex::Regex;

const NAME: &str = "RegexRouter";

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::required(
        "regex",
        ConfigType::String,
        "Regular expression the whole topic must match",
    ),
    ConfigKey::required(
        "replacement",
        ConfigType::String,
        "Replacement string; `$1` etc. refer to groups",
    ),
    PREDICATE_KEY,
    NEGATE_KEY,
]);

#[derive(Debug, Clone)]
pub struct RegexRouter {
    regex: Regex,
    replacement: String,
}

/// Java's replacement syntax (`$1`, `${name}`, `\$`, `\\`) in the `regex` crate's (`${1}`, `${name}`, `$$`).
pub fn java_replacement(java: &str) -> String {
    let mut out = String::with_capacity(java.len() + 4);
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => {}
            },
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push_str("${");
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    out.push(d);
                    chars.next();
                }
                out.push('}');
            }
            '$' => out.push('$'),
            other => out.push(other),
        }
    }
    out
}

/// `pattern` anchored at both ends (Java's `Matcher.matches()`).
pub fn full_match_regex(
    pattern: &str,
    transform: &'static str,
    key: &str,
) -> Result<Regex, TransformBuildError> {
    Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| config_error(transform, key, format!("invalid regular expression: {e}")))
}

impl RegexRouter {
    pub fn build(config: &ParsedConfig) -> Result<Self, TransformBuildError> {
        let pattern = super::util::required_string(config, "regex", NAME)?;
        Ok(RegexRouter {
            regex: full_match_regex(&pattern, NAME, "regex")?,
            replacement: java_replacement(config.get("replacement").unwrap_or_default()),
        })
    }

    pub fn apply(&self, record: &mut ConnectRecord) {
        if self.regex.is_match(&record.topic) {
            let routed = self
                .regex
                .replace(&record.topic, self.replacement.as_str())
                .into_owned();
            record.topic = Str::from(routed);
        }
    }
}
