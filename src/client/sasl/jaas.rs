//! `sasl.jaas.config`, the Java client's one-line JAAS configuration:
//! `<LoginModule class> <flag> [key=value ...];`, values bare words or double-quoted with backslash escapes,
//! `//` and `/* */` comments, exactly one login module (Kafka's rule), options in any order.
//!
//! Errors say where (a character position) and what was expected, never a value: the text holds passwords.

use std::collections::BTreeMap;

/// One login module of a JAAS config.
#[derive(Clone, PartialEq, Eq)]
pub struct JaasConfig {
    pub login_module: String,
    pub flag: String,
    pub options: BTreeMap<String, String>,
}

impl std::fmt::Debug for JaasConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Option values are credentials.
        f.debug_struct("JaasConfig")
            .field("login_module", &self.login_module)
            .field("flag", &self.flag)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a JAAS config could not be read; never quotes the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JaasError {
    #[error("expected {expected} at character {at}")]
    Expected { expected: &'static str, at: usize },
    #[error("the quoted value starting at character {at} is never closed")]
    UnterminatedQuote { at: usize },
    #[error("the comment starting at character {at} is never closed")]
    UnterminatedComment { at: usize },
    #[error("control flag must be required, requisite, sufficient or optional (character {at})")]
    BadFlag { at: usize },
    #[error("option `{key}` is given twice")]
    DuplicateOption { key: String },
    #[error("it holds {count} login modules; Kafka takes exactly one")]
    ModuleCount { count: usize },
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

fn is_word_char(c: char) -> bool {
    // As Kafka's JaasConfig tokenizer: `/` starts comments, so it is no word character.
    c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '$')
}

/// Splits `text` into tokens, each with the character position it starts at.
fn tokens(text: &str) -> Result<Vec<(usize, Token)>, JaasError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            c if c.is_whitespace() => i += 1,
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                loop {
                    if i + 1 >= chars.len() {
                        return Err(JaasError::UnterminatedComment { at: start });
                    }
                    if chars[i] == '*' && chars[i + 1] == '/' {
                        i += 2;
                        break;
                    }
                    i += 1;
                }
            }
            '=' => {
                out.push((start, Token::Equals));
                i += 1;
            }
            ';' => {
                out.push((start, Token::Semicolon));
                i += 1;
            }
            '"' | '\'' => {
                let quote = c;
                let mut value = String::new();
                i += 1;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(JaasError::UnterminatedQuote { at: start });
                    };
                    i += 1;
                    match c {
                        c if c == quote => break,
                        '\\' => {
                            let Some(&escaped) = chars.get(i) else {
                                return Err(JaasError::UnterminatedQuote { at: start });
                            };
                            i += 1;
                            value.push(match escaped {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                'b' => '\u{8}',
                                'f' => '\u{c}',
                                other => other,
                            });
                        }
                        c => value.push(c),
                    }
                }
                out.push((start, Token::Quoted(value)));
            }
            c if is_word_char(c) => {
                let mut word = String::new();
                while i < chars.len() && is_word_char(chars[i]) {
                    word.push(chars[i]);
                    i += 1;
                }
                out.push((start, Token::Word(word)));
            }
            _ => {
                return Err(JaasError::Expected {
                    expected: "a word, a quoted value, `=` or `;`",
                    at: start,
                })
            }
        }
    }
    Ok(out)
}

/// Reads a `sasl.jaas.config` value.
pub fn parse(text: &str) -> Result<JaasConfig, JaasError> {
    let tokens = tokens(text)?;
    let end = text.chars().count();
    let mut modules = Vec::new();
    let mut at = 0;
    while at < tokens.len() {
        let (pos, Token::Word(login_module)) = &tokens[at] else {
            return Err(JaasError::Expected {
                expected: "a login module class name",
                at: tokens[at].0,
            });
        };
        let _ = pos;
        at += 1;
        let (flag_pos, flag) = match tokens.get(at) {
            Some((p, Token::Word(flag))) => (*p, flag.clone()),
            Some((p, _)) => return Err(JaasError::BadFlag { at: *p }),
            None => return Err(JaasError::BadFlag { at: end }),
        };
        if !matches!(
            flag.to_ascii_lowercase().as_str(),
            "required" | "requisite" | "sufficient" | "optional"
        ) {
            return Err(JaasError::BadFlag { at: flag_pos });
        }
        at += 1;
        let mut options = BTreeMap::new();
        loop {
            match tokens.get(at) {
                Some((_, Token::Semicolon)) => {
                    at += 1;
                    break;
                }
                Some((_, Token::Word(key))) => {
                    let eq_at = tokens.get(at + 1).map_or(end, |t| t.0);
                    if !matches!(tokens.get(at + 1), Some((_, Token::Equals))) {
                        return Err(JaasError::Expected {
                            expected: "`=` after the option name",
                            at: eq_at,
                        });
                    }
                    let value = match tokens.get(at + 2) {
                        Some((_, Token::Word(v) | Token::Quoted(v))) => v.clone(),
                        other => {
                            return Err(JaasError::Expected {
                                expected: "a value after `=`",
                                at: other.map_or(end, |t| t.0),
                            })
                        }
                    };
                    if options.insert(key.clone(), value).is_some() {
                        return Err(JaasError::DuplicateOption { key: key.clone() });
                    }
                    at += 3;
                }
                Some((p, _)) => {
                    return Err(JaasError::Expected {
                        expected: "an option name or `;`",
                        at: *p,
                    })
                }
                None => {
                    return Err(JaasError::Expected {
                        expected: "`;` at the end",
                        at: end,
                    })
                }
            }
        }
        modules.push(JaasConfig {
            login_module: login_module.clone(),
            flag,
            options,
        });
    }
    if modules.len() != 1 {
        return Err(JaasError::ModuleCount {
            count: modules.len(),
        });
    }
    Ok(modules.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_in_any_order_quoted_with_escapes() {
        let config = parse(
            r#"org.apache.kafka.common.security.scram.ScramLoginModule required
               password="p\"a;ss=w\\ord"  /* a comment */ username=alice // to the end of the line
               ;"#,
        )
        .unwrap();
        assert_eq!(
            config.login_module,
            "org.apache.kafka.common.security.scram.ScramLoginModule"
        );
        assert_eq!(config.flag, "required");
        assert_eq!(config.options["username"], "alice");
        assert_eq!(config.options["password"], r#"p"a;ss=w\ord"#);
        assert!(
            !format!("{config:?}").contains("ss=w"),
            "Debug hides values"
        );
        let plain = parse(
            "org.apache.kafka.common.security.plain.PlainLoginModule required username='bob' password=\"x y\";",
        )
        .unwrap();
        assert_eq!(plain.options["username"], "bob");
        assert_eq!(plain.options["password"], "x y");
        assert!(parse(
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"
        )
        .unwrap()
        .options
        .is_empty());
    }

    #[test]
    fn mistakes_are_located_and_never_quote_the_text() {
        let secret = "hunter2";
        let cases = [
            (
                format!(r#"a.B required username="u" password="{secret}""#),
                JaasError::Expected {
                    expected: "`;` at the end",
                    at: 44,
                },
            ),
            (
                format!(r#"a.B required password="{secret};"#),
                JaasError::UnterminatedQuote { at: 22 },
            ),
            (
                format!("a.B mandatory password={secret};"),
                JaasError::BadFlag { at: 4 },
            ),
            (
                format!("a.B required password {secret};"),
                JaasError::Expected {
                    expected: "`=` after the option name",
                    at: 22,
                },
            ),
            (
                format!("a.B required password={secret} password=x;"),
                JaasError::DuplicateOption {
                    key: "password".into(),
                },
            ),
            (
                format!("a.B required password={secret}; c.D required;"),
                JaasError::ModuleCount { count: 2 },
            ),
            ("".to_owned(), JaasError::ModuleCount { count: 0 }),
            (
                format!("a.B required /* password={secret};"),
                JaasError::UnterminatedComment { at: 13 },
            ),
        ];
        for (text, expected) in cases {
            let error = parse(&text).unwrap_err();
            assert_eq!(error, expected, "{text}");
            assert!(!error.to_string().contains(secret), "{error}");
        }
    }
}
