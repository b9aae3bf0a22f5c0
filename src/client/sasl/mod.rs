//! SASL authentication to brokers, sans-IO: the mechanisms (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER) as state
//! machines fed the broker's challenges, the settings that choose them (`sasl.*`), and the JAAS config reader.
//!
//! The runtime sends SaslHandshake and SaslAuthenticate (`runtime/connection.rs`), reads token files and hands
//! in the random bytes of SCRAM's nonce; nothing here touches a socket, a file, a clock or the OS's randomness.

pub mod jaas;
pub mod scram;

use std::path::PathBuf;

use self::scram::{ScramClient, ScramError, ScramHash, ScramNonce};

/// What a secret prints as: in `Debug`, errors and logs.
pub const HIDDEN: &str = "[hidden]";

/// A password or token: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(HIDDEN)
    }
}

/// `sasl.mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
    OAuthBearer,
}

impl SaslMechanism {
    pub const NAMES: &'static str = "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER";

    /// The mechanism's IANA name, in any case.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Self::Plain),
            "SCRAM-SHA-256" => Some(Self::ScramSha256),
            "SCRAM-SHA-512" => Some(Self::ScramSha512),
            "OAUTHBEARER" => Some(Self::OAuthBearer),
            _ => None,
        }
    }

    /// The name SaslHandshake carries.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }

    pub fn takes_password(self) -> bool {
        self != Self::OAuthBearer
    }
}

/// Where an OAUTHBEARER token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `sasl.oauthbearer.token`: the same token on every authentication.
    Static(Secret),
    /// `sasl.oauthbearer.token.endpoint.url=file:…`: read again at every authentication (each connection and
    /// each re-authentication before the broker's session ends), so a token rotated in the file is picked up
    /// before the one in use expires.
    File(PathBuf),
}

/// What a client authenticates with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslCredentials {
    /// PLAIN and SCRAM.
    Password { username: String, password: Secret },
    /// OAUTHBEARER.
    Token(TokenSource),
}

/// The SASL settings of a client: the mechanism and credentials it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslConfig {
    pub mechanism: SaslMechanism,
    pub credentials: SaslCredentials,
}

/// Why authentication failed. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    #[error("the broker does not offer SASL mechanism {mechanism} (it offers: {}); set sasl.mechanism to one of those", offered.join(", "))]
    UnsupportedMechanism {
        mechanism: &'static str,
        offered: Vec<String>,
    },
    #[error("the broker refused the credentials: {}", message.as_deref().unwrap_or("it gave no reason"))]
    AuthenticationFailed { message: Option<String> },
    #[error("the broker says the SASL exchange is out of order (ILLEGAL_SASL_STATE): {}", message.as_deref().unwrap_or("no detail"))]
    IllegalState { message: Option<String> },
    #[error("the broker refused SASL mechanism {mechanism} though it lists it (UNSUPPORTED_SASL_MECHANISM): is SASL enabled on its listener?")]
    MechanismRefused { mechanism: &'static str },
    #[error("SaslHandshake failed with error code {code}")]
    HandshakeFailed { code: i16 },
    #[error("SaslAuthenticate failed with error code {code}: {}", message.as_deref().unwrap_or("no detail"))]
    AuthenticateFailed { code: i16, message: Option<String> },
    #[error("the broker offers no SaslHandshake v1 and SaslAuthenticate (Kafka 1.0 or later is needed): {0}")]
    NotOffered(String),
    #[error("SCRAM: {0}")]
    Scram(#[from] ScramError),
    #[error("the OAUTHBEARER token {0}")]
    BadToken(&'static str),
    #[error("the OAUTHBEARER token file {path} cannot be read: {reason}")]
    TokenFile { path: String, reason: String },
    #[error("the broker refused the OAUTHBEARER token: {0}")]
    TokenRefused(String),
    #[error("no random bytes for the SCRAM nonce from the OS: {0}")]
    NoRandomness(String),
    #[error("the credentials given do not suit sasl.mechanism {0}")]
    CredentialsMismatch(&'static str),
    #[error("the broker closed the connection during the SASL exchange (some brokers answer a refused password so; or the listener does not speak SASL)")]
    ClosedDuringExchange,
    #[error("the broker sent a SASL challenge after the exchange was over")]
    Unexpected,
}

/// What to do after a broker's answer.
#[derive(Debug, PartialEq, Eq)]
pub enum SaslStep {
    /// Send these bytes in the next SaslAuthenticate.
    Respond(Vec<u8>),
    /// Authenticated.
    Done,
}

/// One authentication exchange on one connection.
#[derive(Debug)]
pub struct SaslAuthenticator {
    state: AuthState,
}

#[derive(Debug)]
enum AuthState {
    /// PLAIN's one message, or OAUTHBEARER's initial response, is sent; the broker's answer ends it.
    OneMessage {
        mechanism: SaslMechanism,
    },
    /// OAUTHBEARER: the broker sent an error challenge and we answered it with %x01, as RFC 7628 wants; the
    /// broker's next answer fails the exchange.
    TokenRefused {
        status: String,
    },
    Scram(ScramClient),
    Done,
}

/// What the runtime hands in for one exchange.
pub struct SaslInputs<'a> {
    /// For OAUTHBEARER: the token, as read now (the static one, or the file's current content).
    pub token: Option<&'a Secret>,
    /// For SCRAM: bytes from the OS's random source, for the client nonce.
    pub random: [u8; 24],
}

impl SaslAuthenticator {
    /// Starts an exchange; returns it and the first SaslAuthenticate bytes.
    pub fn start(
        config: &SaslConfig,
        inputs: SaslInputs<'_>,
    ) -> Result<(Self, Vec<u8>), SaslError> {
        let mechanism = config.mechanism;
        let (state, first) = match (&config.credentials, mechanism) {
            (SaslCredentials::Password { username, password }, SaslMechanism::Plain) => (
                AuthState::OneMessage { mechanism },
                plain_message(username, password),
            ),
            (
                SaslCredentials::Password { username, password },
                SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512,
            ) => {
                let hash = if mechanism == SaslMechanism::ScramSha256 {
                    ScramHash::Sha256
                } else {
                    ScramHash::Sha512
                };
                let (client, first) = ScramClient::start(
                    hash,
                    username,
                    password,
                    ScramNonce::from_random(&inputs.random),
                );
                (AuthState::Scram(client), first)
            }
            (SaslCredentials::Token(_), SaslMechanism::OAuthBearer) => {
                let token = inputs.token.ok_or(SaslError::BadToken("was not read"))?;
                (
                    AuthState::OneMessage { mechanism },
                    oauthbearer_initial_response(token)?,
                )
            }
            // The config reader pairs them; a mismatch is a caller's bug, refused rather than sent.
            _ => return Err(SaslError::CredentialsMismatch(mechanism.name())),
        };
        Ok((Self { state }, first))
    }

    /// Feeds the bytes of a successful SaslAuthenticate response.
    pub fn handle_challenge(&mut self, challenge: &[u8]) -> Result<SaslStep, SaslError> {
        match std::mem::replace(&mut self.state, AuthState::Done) {
            AuthState::OneMessage {
                mechanism: SaslMechanism::OAuthBearer,
            } if !challenge.is_empty() => {
                // RFC 7628 §3.2.2: an error status in JSON, to be answered with a lone %x01.
                self.state = AuthState::TokenRefused {
                    status: String::from_utf8_lossy(challenge)
                        .chars()
                        .take(200)
                        .collect(),
                };
                Ok(SaslStep::Respond(vec![0x01]))
            }
            AuthState::OneMessage { .. } => Ok(SaslStep::Done),
            AuthState::TokenRefused { status } => Err(SaslError::TokenRefused(status)),
            AuthState::Scram(mut client) => match client.handle_server_message(challenge)? {
                Some(message) => {
                    self.state = AuthState::Scram(client);
                    Ok(SaslStep::Respond(message))
                }
                None => Ok(SaslStep::Done),
            },
            AuthState::Done => Err(SaslError::Unexpected),
        }
    }

    /// Why the broker's error answer came, when the exchange knows more than the broker said (the status an
    /// OAUTHBEARER error challenge carried).
    pub fn refusal_detail(&self) -> Option<&str> {
        match &self.state {
            AuthState::TokenRefused { status } => Some(status),
            _ => None,
        }
    }
}

/// RFC 4616: authzid (empty), authcid, password, NUL-separated.
fn plain_message(username: &str, password: &Secret) -> Vec<u8> {
    let mut message = Vec::with_capacity(username.len() + password.expose().len() + 2);
    message.push(0);
    message.extend_from_slice(username.as_bytes());
    message.push(0);
    message.extend_from_slice(password.expose().as_bytes());
    message
}

/// Whether `token` is an RFC 6750 `b64token` (what a Bearer credential may hold).
pub fn is_bearer_token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// RFC 7628 §3.1 client initial response: GS2 header without authzid, then `auth=Bearer <token>`, %x01-separated.
fn oauthbearer_initial_response(token: &Secret) -> Result<Vec<u8>, SaslError> {
    let token = token.expose().trim();
    if !is_bearer_token(token) {
        return Err(SaslError::BadToken(
            "is not a bearer token (letters, digits and -._~+/ only, e.g. a JWT)",
        ));
    }
    let mut message = b"n,,\x01auth=Bearer ".to_vec();
    message.extend_from_slice(token.as_bytes());
    message.extend_from_slice(b"\x01\x01");
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(token: Option<&Secret>) -> SaslInputs<'_> {
        SaslInputs {
            token,
            random: [7; 24],
        }
    }

    fn password(mechanism: SaslMechanism) -> SaslConfig {
        SaslConfig {
            mechanism,
            credentials: SaslCredentials::Password {
                username: "alice".into(),
                password: Secret::new("s3cret"),
            },
        }
    }

    #[test]
    fn plain_sends_one_message_and_is_done_on_the_answer() {
        let (mut auth, first) =
            SaslAuthenticator::start(&password(SaslMechanism::Plain), inputs(None)).unwrap();
        assert_eq!(first, b"\0alice\0s3cret");
        assert_eq!(auth.handle_challenge(b""), Ok(SaslStep::Done));
        assert_eq!(auth.handle_challenge(b""), Err(SaslError::Unexpected));
        assert!(!format!("{auth:?} {:?}", password(SaslMechanism::Plain)).contains("s3cret"));
    }

    #[test]
    fn oauthbearer_initial_response_follows_rfc_7628() {
        let config = SaslConfig {
            mechanism: SaslMechanism::OAuthBearer,
            credentials: SaslCredentials::Token(TokenSource::Static(Secret::new("x"))),
        };
        let token = Secret::new("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.\n");
        let (mut auth, first) = SaslAuthenticator::start(&config, inputs(Some(&token))).unwrap();
        assert_eq!(
            first,
            b"n,,\x01auth=Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.\x01\x01"
        );
        assert_eq!(auth.handle_challenge(b""), Ok(SaslStep::Done));
        // A refused token: the broker's JSON status, answered with %x01, then its error.
        let (mut auth, _) = SaslAuthenticator::start(&config, inputs(Some(&token))).unwrap();
        assert_eq!(
            auth.handle_challenge(br#"{"status":"invalid_token"}"#),
            Ok(SaslStep::Respond(vec![1]))
        );
        assert_eq!(auth.refusal_detail(), Some(r#"{"status":"invalid_token"}"#));
        let bad = Secret::new("two words");
        let error = SaslAuthenticator::start(&config, inputs(Some(&bad))).unwrap_err();
        assert!(!error.to_string().contains("words"), "{error}");
    }

    #[test]
    fn scram_starts_with_a_nonce_from_the_random_bytes() {
        let (_, first) =
            SaslAuthenticator::start(&password(SaslMechanism::ScramSha512), inputs(None)).unwrap();
        let first = String::from_utf8(first).unwrap();
        assert_eq!(first, "n,,n=alice,r=BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH");
    }

    #[test]
    fn mechanism_names_parse_in_any_case() {
        for m in [
            SaslMechanism::Plain,
            SaslMechanism::ScramSha256,
            SaslMechanism::ScramSha512,
            SaslMechanism::OAuthBearer,
        ] {
            assert_eq!(SaslMechanism::parse(&m.name().to_lowercase()), Some(m));
        }
        assert_eq!(SaslMechanism::parse("GSSAPI"), None);
    }
}
