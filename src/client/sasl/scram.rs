//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka speaks them: no channel binding (`n,,`), no
//! authorization id, the password used as its UTF-8 bytes (Kafka's Java client does no SASLprep either).
//!
//! A state machine fed the server's messages: client-first, then server-first → client-final (with the
//! proof), then server-final, whose signature is verified before the exchange counts as done. The client nonce
//! comes from the caller (the runtime reads the OS's random source); nothing here reads a clock or randomness.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::Secret;

/// Fewest iterations accepted: Kafka refuses SCRAM credentials with fewer (its `ScramMechanism` minimum), so a
/// server asking for fewer is not a Kafka broker honestly storing our password.
pub const MIN_ITERATIONS: u32 = 4096;
/// Most iterations accepted. Kafka stores at most 16384 (KIP-554); credentials set through ZooKeeper in older
/// clusters may have more, so a margin is left, but a server naming millions would make us burn seconds of CPU
/// per connection attempt.
pub const MAX_ITERATIONS: u32 = 65_536;

/// The hash of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            ScramHash::Sha256 => run::<Hmac<Sha256>>(key, parts),
            ScramHash::Sha512 => run::<Hmac<Sha512>>(key, parts),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// RFC 5802's Hi(): PBKDF2 with HMAC as the PRF and exactly one output block.
    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut u = self.hmac(password, &[salt, &1u32.to_be_bytes()]);
        let mut result = u.clone();
        for _ in 1..iterations {
            u = self.hmac(password, &[&u]);
            for (r, x) in result.iter_mut().zip(&u) {
                *r ^= x;
            }
        }
        result
    }
}

/// Why a SCRAM exchange failed on our side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("the server's SCRAM message is malformed: {0}")]
    Malformed(&'static str),
    #[error("the server's SCRAM nonce does not extend ours (not the server we talked to, or a broken one)")]
    NonceMismatch,
    #[error("the server asks for {iterations} SCRAM iterations; accepted are {MIN_ITERATIONS}..={MAX_ITERATIONS}")]
    Iterations { iterations: u64 },
    #[error("the server requires a SCRAM extension we do not know")]
    MandatoryExtension,
    #[error("the server refused: {0}")]
    ServerError(String),
    #[error("the server's signature is wrong: it does not know our password (a server impersonating the broker?)")]
    BadServerSignature,
    #[error("a SCRAM message arrived after the exchange was over")]
    Unexpected,
}

/// A client nonce: printable ASCII without commas (RFC 5802 `c-nonce`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramNonce(String);

impl ScramNonce {
    /// The nonce the runtime makes from bytes of the OS's random source: their base64 (no commas in it).
    pub fn from_random(bytes: &[u8; 24]) -> Self {
        Self(BASE64.encode(bytes))
    }

    /// A nonce as given (the RFC test vectors'); `None` unless printable ASCII without commas.
    pub fn from_printable(nonce: &str) -> Option<Self> {
        (!nonce.is_empty()
            && nonce
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b','))
        .then(|| Self(nonce.to_owned()))
    }
}

/// RFC 5802 `saslname`: `=` and `,` are written `=3D` and `=2C`.
pub fn escape_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// The client side of one SCRAM exchange.
#[derive(Debug)]
pub struct ScramClient {
    hash: ScramHash,
    password: Secret,
    client_first_bare: String,
    nonce: String,
    state: ScramState,
}

#[derive(Debug)]
enum ScramState {
    /// client-first sent; waiting for server-first.
    SentFirst,
    /// client-final sent; waiting for server-final, which must carry this signature.
    SentFinal {
        server_signature: Vec<u8>,
    },
    Done,
}

impl ScramClient {
    /// Starts an exchange; returns the client and the client-first message to send.
    pub fn start(
        hash: ScramHash,
        username: &str,
        password: &Secret,
        nonce: ScramNonce,
    ) -> (Self, Vec<u8>) {
        let client_first_bare = format!("n={},r={}", escape_saslname(username), nonce.0);
        let first = format!("n,,{client_first_bare}").into_bytes();
        (
            Self {
                hash,
                password: password.clone(),
                client_first_bare,
                nonce: nonce.0,
                state: ScramState::SentFirst,
            },
            first,
        )
    }

    /// Feeds the server's next message. Returns the client-final message to send after server-first, `None`
    /// once server-final verified.
    pub fn handle_server_message(&mut self, message: &[u8]) -> Result<Option<Vec<u8>>, ScramError> {
        let text = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        match std::mem::replace(&mut self.state, ScramState::Done) {
            ScramState::SentFirst => {
                let (final_message, server_signature) = self.client_final(text)?;
                self.state = ScramState::SentFinal { server_signature };
                Ok(Some(final_message))
            }
            ScramState::SentFinal { server_signature } => {
                if let Some(error) = text.strip_prefix("e=") {
                    return Err(ScramError::ServerError(error.to_owned()));
                }
                let verifier = attribute(text, 'v')
                    .ok_or(ScramError::Malformed("server-final has neither v= nor e="))?;
                let verifier = BASE64
                    .decode(verifier)
                    .map_err(|_| ScramError::Malformed("v= is not base64"))?;
                // Equal-length comparison that does not stop at the first difference.
                let same = verifier.len() == server_signature.len()
                    && verifier
                        .iter()
                        .zip(&server_signature)
                        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                        == 0;
                if !same {
                    return Err(ScramError::BadServerSignature);
                }
                Ok(None)
            }
            ScramState::Done => Err(ScramError::Unexpected),
        }
    }

    fn client_final(&self, server_first: &str) -> Result<(Vec<u8>, Vec<u8>), ScramError> {
        if server_first.starts_with("m=") {
            return Err(ScramError::MandatoryExtension);
        }
        if let Some(error) = server_first.strip_prefix("e=") {
            return Err(ScramError::ServerError(error.to_owned()));
        }
        let nonce = attribute(server_first, 'r').ok_or(ScramError::Malformed("no r= nonce"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(ScramError::NonceMismatch);
        }
        let salt = attribute(server_first, 's').ok_or(ScramError::Malformed("no s= salt"))?;
        let salt = BASE64
            .decode(salt)
            .map_err(|_| ScramError::Malformed("s= is not base64"))?;
        let iterations =
            attribute(server_first, 'i').ok_or(ScramError::Malformed("no i= count"))?;
        let iterations: u64 = iterations
            .parse()
            .map_err(|_| ScramError::Malformed("i= is not a number"))?;
        if !(MIN_ITERATIONS as u64..=MAX_ITERATIONS as u64).contains(&iterations) {
            return Err(ScramError::Iterations { iterations });
        }
        let hash = self.hash;
        let salted = hash.hi(self.password.expose().as_bytes(), &salt, iterations as u32);
        let client_key = hash.hmac(&salted, &[b"Client Key"]);
        let stored_key = hash.hash(&client_key);
        // c=biws is base64("n,,"): no channel binding, no authorization id.
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = hash.hmac(&stored_key, &[auth_message.as_bytes()]);
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hash.hmac(&salted, &[b"Server Key"]);
        let server_signature = hash.hmac(&server_key, &[auth_message.as_bytes()]);
        let message = format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes();
        Ok((message, server_signature))
    }
}

/// The value of attribute `name` (`name=value`) among a SCRAM message's comma-separated attributes.
fn attribute(message: &str, name: char) -> Option<&str> {
    message.split(',').find_map(|part| {
        let mut chars = part.chars();
        (chars.next() == Some(name) && chars.next() == Some('=')).then(|| &part[2..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret {
        Secret::new(s)
    }

    /// RFC 7677 §3: the SCRAM-SHA-256 exchange of user "user", password "pencil".
    #[test]
    fn rfc_7677_sha_256_vector() {
        let nonce = ScramNonce::from_printable("rOprNGfwEbeRWgbNEkqO").unwrap();
        let (mut client, first) =
            ScramClient::start(ScramHash::Sha256, "user", &secret("pencil"), nonce);
        assert_eq!(first, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first =
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let final_message = client.handle_server_message(server_first).unwrap().unwrap();
        assert_eq!(
            String::from_utf8(final_message).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            client
                .handle_server_message(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .unwrap(),
            None
        );
        assert_eq!(
            client.handle_server_message(b"v=x"),
            Err(ScramError::Unexpected)
        );
    }

    /// SCRAM-SHA-512, checked against an independent computation: the expected messages were computed with
    /// Python's hashlib/hmac by `src/client/sasl/testdata/scram_sha512.py` (committed beside this file).
    #[test]
    fn sha_512_matches_pythons_hashlib() {
        let nonce = ScramNonce::from_printable("clientnonce0123456789").unwrap();
        let (mut client, first) =
            ScramClient::start(ScramHash::Sha512, "al=ice,x", &secret("pässwörd,=1"), nonce);
        assert_eq!(first, b"n,,n=al=3Dice=2Cx,r=clientnonce0123456789");
        let server_first = include_str!("testdata/scram_sha512_server_first.txt").trim();
        let final_message = client
            .handle_server_message(server_first.as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8(final_message).unwrap(),
            include_str!("testdata/scram_sha512_client_final.txt").trim()
        );
        let server_final = include_str!("testdata/scram_sha512_server_final.txt").trim();
        assert_eq!(
            client.handle_server_message(server_final.as_bytes()),
            Ok(None)
        );
    }

    fn after_first(server_first: &str) -> Result<Option<Vec<u8>>, ScramError> {
        let nonce = ScramNonce::from_printable("abc").unwrap();
        let (mut client, _) = ScramClient::start(ScramHash::Sha256, "u", &secret("p"), nonce);
        client.handle_server_message(server_first.as_bytes())
    }

    #[test]
    fn a_server_that_does_not_extend_our_nonce_or_asks_absurd_iterations_is_refused() {
        assert_eq!(
            after_first("r=xyz123,s=c2FsdA==,i=4096"),
            Err(ScramError::NonceMismatch)
        );
        assert_eq!(
            after_first("r=abc,s=c2FsdA==,i=4096"),
            Err(ScramError::NonceMismatch)
        );
        assert_eq!(
            after_first("r=abcdef,s=c2FsdA==,i=4095"),
            Err(ScramError::Iterations { iterations: 4095 })
        );
        assert_eq!(
            after_first("r=abcdef,s=c2FsdA==,i=100000000000"),
            Err(ScramError::Iterations {
                iterations: 100_000_000_000
            })
        );
        assert_eq!(
            after_first("m=ext,r=abcdef,s=c2FsdA==,i=4096"),
            Err(ScramError::MandatoryExtension)
        );
        assert_eq!(
            after_first("e=unknown-user"),
            Err(ScramError::ServerError("unknown-user".into()))
        );
        assert!(matches!(
            after_first("r=abcdef,i=4096"),
            Err(ScramError::Malformed(_))
        ));
        assert!(after_first("r=abcdef,s=c2FsdA==,i=4096").unwrap().is_some());
    }

    #[test]
    fn a_wrong_server_signature_fails_the_exchange() {
        let nonce = ScramNonce::from_printable("rOprNGfwEbeRWgbNEkqO").unwrap();
        let (mut client, _) =
            ScramClient::start(ScramHash::Sha256, "user", &secret("pencil"), nonce);
        client
            .handle_server_message(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            )
            .unwrap();
        assert_eq!(
            client.handle_server_message(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Err(ScramError::BadServerSignature)
        );
    }

    #[test]
    fn saslnames_escape_equals_and_commas_and_nonces_are_printable() {
        assert_eq!(escape_saslname("a=b,c"), "a=3Db=2Cc");
        assert!(ScramNonce::from_printable("a,b").is_none());
        assert!(ScramNonce::from_printable("a b").is_none());
        let nonce = ScramNonce::from_random(&[0xfb; 24]);
        assert!(ScramNonce::from_printable(&nonce.0).is_some());
    }
}
