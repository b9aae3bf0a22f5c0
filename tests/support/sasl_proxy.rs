//! A SASL-checking front for a broker that cannot check SASL itself for these tests (tansu implements only
//! SCRAM, and its users cannot be created on an in-memory store that already demands authentication).
//!
//! It performs the broker side of SaslHandshake and SaslAuthenticate as Kafka does — PLAIN, SCRAM-SHA-256/512
//! against verifiers computed here from the users' passwords (RFC 5802: only StoredKey and ServerKey are kept),
//! OAUTHBEARER against a set of accepted tokens — announces a session lifetime when asked to (KIP-368), and
//! closes a connection that sends anything else before authenticating or after its session ended, as a Kafka
//! broker does. Then it forwards requests to the broker one at a time (so responses stay in order), adding
//! the SASL APIs to ApiVersions and rewriting Metadata and FindCoordinator to name itself (one-broker clusters).
//!
//! Its SCRAM server shares no code with the client under test; confluent-kafka authenticating through it is
//! the check that it is right.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use hmac::{Hmac, Mac};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, FindCoordinatorResponse, MetadataResponse, ProduceRequest,
    RequestHeader, ResponseHeader, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use sha2::{Digest, Sha256, Sha512};

/// Larger frames are refused rather than allocated.
const MAX_FRAME_BYTES: usize = 64 << 20;
const SCRAM_ITERATIONS: u32 = 4096;

/// What the proxy accepts.
#[derive(Clone)]
pub struct SaslRules {
    /// Mechanisms offered in SaslHandshake, e.g. `["PLAIN", "SCRAM-SHA-256"]`.
    pub mechanisms: Vec<&'static str>,
    /// (user, password) pairs, valid for every password mechanism offered.
    pub users: Vec<(String, String)>,
    /// `session_lifetime_ms` of SaslAuthenticate v1+ responses; 0 for none.
    pub session_lifetime_ms: i64,
}

/// What the proxy saw.
#[derive(Debug, Default, Clone)]
pub struct SaslStats {
    /// (mechanism, principal) of each successful first authentication.
    pub authenticated: Vec<(String, String)>,
    /// Successful re-authentications on an authenticated connection.
    pub reauthenticated: usize,
    /// Refused authentications.
    pub refused: usize,
    /// Connections closed for a request after the session ended.
    pub expired: usize,
    /// Connections closed for a request before authenticating.
    pub unauthenticated: usize,
}

struct ScramVerifier {
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

struct Shared {
    rules: SaslRules,
    upstream: String,
    port: u16,
    /// The address Metadata and FindCoordinator name: the proxy's own, or that of a front of it (a TLS proxy).
    advertised: (String, u16),
    /// (mechanism, user) → verifier.
    scram: HashMap<(&'static str, String), ScramVerifier>,
    tokens: Mutex<Vec<String>>,
    stats: Mutex<SaslStats>,
    stopped: AtomicBool,
    nonce_counter: Mutex<u64>,
}

pub struct SaslProxy {
    shared: Arc<Shared>,
}

impl SaslProxy {
    /// Listens on a free 127.0.0.1 port in front of `upstream` ("host:port").
    pub fn start(upstream: &str, rules: SaslRules) -> SaslProxy {
        Self::start_advertising(upstream, rules, None)
    }

    /// Like [`SaslProxy::start`], naming `advertised` ("host", port) as the broker's address instead of
    /// itself: for a TLS proxy in front of this one (SASL_SSL).
    pub fn start_advertising(
        upstream: &str,
        rules: SaslRules,
        advertised: Option<(&str, u16)>,
    ) -> SaslProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let mut scram = HashMap::new();
        for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
            for (user, password) in &rules.users {
                let salt = format!("salt-of-{user}-{mechanism}").into_bytes();
                let salted = hi(mechanism, password.as_bytes(), &salt, SCRAM_ITERATIONS);
                let client_key = mac(mechanism, &salted, b"Client Key");
                scram.insert(
                    (mechanism, user.clone()),
                    ScramVerifier {
                        stored_key: digest(mechanism, &client_key),
                        server_key: mac(mechanism, &salted, b"Server Key"),
                        salt,
                    },
                );
            }
        }
        let shared = Arc::new(Shared {
            rules,
            upstream: upstream.to_owned(),
            port,
            advertised: advertised.map_or(("127.0.0.1".to_owned(), port), |(host, port)| {
                (host.to_owned(), port)
            }),
            scram,
            tokens: Mutex::new(Vec::new()),
            stats: Mutex::new(SaslStats::default()),
            stopped: AtomicBool::new(false),
            nonce_counter: Mutex::new(0),
        });
        let accepting = shared.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = accepting.clone();
                thread::spawn(move || {
                    let _ = serve(&shared, stream);
                });
            }
        });
        SaslProxy { shared }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.shared.port)
    }

    /// OAUTHBEARER tokens accepted from now on (replacing the earlier ones).
    pub fn accept_tokens(&self, tokens: &[&str]) {
        *self.shared.tokens.lock().unwrap() = tokens.iter().map(|t| t.to_string()).collect();
    }

    pub fn stats(&self) -> SaslStats {
        self.shared.stats.lock().unwrap().clone()
    }
}

impl Drop for SaslProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees `stopped`.
        let _ = TcpStream::connect(("127.0.0.1", self.shared.port));
    }
}

fn mac(mechanism: &str, key: &[u8], data: &[u8]) -> Vec<u8> {
    if mechanism == "SCRAM-SHA-256" {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    } else {
        let mut m = <Hmac<Sha512> as Mac>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }
}

fn digest(mechanism: &str, data: &[u8]) -> Vec<u8> {
    if mechanism == "SCRAM-SHA-256" {
        Sha256::digest(data).to_vec()
    } else {
        Sha512::digest(data).to_vec()
    }
}

fn hi(mechanism: &str, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut block = salt.to_vec();
    block.extend_from_slice(&[0, 0, 0, 1]);
    let mut u = mac(mechanism, password, &block);
    let mut out = u.clone();
    for _ in 1..iterations {
        u = mac(mechanism, password, &u);
        out.iter_mut().zip(&u).for_each(|(o, x)| *o ^= x);
    }
    out
}

fn read_frame(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let size = i32::from_be_bytes(size);
    if size < 0 || size as usize > MAX_FRAME_BYTES {
        return Err(std::io::Error::other(format!("frame of {size} bytes")));
    }
    let mut frame = vec![0u8; size as usize];
    stream.read_exact(&mut frame)?;
    Ok(frame)
}

fn write_frame(stream: &mut TcpStream, body: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as i32).to_be_bytes());
    out.extend_from_slice(body);
    stream.write_all(&out)
}

fn respond<M: Encodable>(
    client: &mut TcpStream,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
) -> std::io::Result<()> {
    let mut out = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, api.response_header_version(version))
        .map_err(std::io::Error::other)?;
    body.encode(&mut out, version)
        .map_err(std::io::Error::other)?;
    write_frame(client, &out)
}

/// Where one connection's SASL exchange stands.
enum Exchange {
    /// Nothing yet, or a finished exchange (then `principal` is set).
    Idle,
    /// SaslHandshake chose this mechanism.
    Handshaken(&'static str),
    /// SCRAM: server-first sent; the client-final must prove this.
    ScramFinal {
        mechanism: &'static str,
        user: String,
        nonce: String,
        auth_prefix: String,
    },
    /// OAUTHBEARER: the token was refused with an error challenge; the client's %x01 ends it.
    TokenRefused,
}

struct Connection {
    exchange: Exchange,
    principal: Option<String>,
    session_ends: Option<Instant>,
    upstream: Option<TcpStream>,
}

fn serve(shared: &Shared, mut client: TcpStream) -> std::io::Result<()> {
    let mut conn = Connection {
        exchange: Exchange::Idle,
        principal: None,
        session_ends: None,
        upstream: None,
    };
    loop {
        let frame = read_frame(&mut client)?;
        if frame.len() < 8 {
            return Ok(());
        }
        let api_key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let Ok(api) = ApiKey::try_from(api_key) else {
            return Ok(());
        };
        let mut body = Bytes::from(frame.clone());
        let header = RequestHeader::decode(&mut body, api.request_header_version(version))
            .map_err(std::io::Error::other)?;
        let correlation_id = header.correlation_id;
        match api {
            ApiKey::SaslHandshake => {
                let request = SaslHandshakeRequest::decode(&mut body, version)
                    .map_err(std::io::Error::other)?;
                let offered = shared
                    .rules
                    .mechanisms
                    .iter()
                    .find(|m| **m == request.mechanism.as_str());
                let mut response = SaslHandshakeResponse::default().with_mechanisms(
                    shared
                        .rules
                        .mechanisms
                        .iter()
                        .map(|m| StrBytes::from_static_str(m))
                        .collect(),
                );
                match offered {
                    Some(mechanism) => conn.exchange = Exchange::Handshaken(mechanism),
                    None => response.error_code = 33,
                }
                respond(&mut client, api, version, correlation_id, &response)?;
            }
            ApiKey::SaslAuthenticate => {
                let request = SaslAuthenticateRequest::decode(&mut body, version)
                    .map_err(std::io::Error::other)?;
                let response = authenticate(shared, &mut conn, &request.auth_bytes, version);
                let failed = response.error_code != 0;
                respond(&mut client, api, version, correlation_id, &response)?;
                if failed {
                    // Kafka closes the connection after a failed authentication.
                    return Ok(());
                }
            }
            _ if api != ApiKey::ApiVersions && conn.principal.is_none() => {
                shared.stats.lock().unwrap().unauthenticated += 1;
                return Ok(());
            }
            _ if conn.session_ends.is_some_and(|end| Instant::now() > end) => {
                shared.stats.lock().unwrap().expired += 1;
                return Ok(());
            }
            _ => {
                let expects_response = api != ApiKey::Produce
                    || ProduceRequest::decode(&mut body.clone(), version)
                        .map(|p| p.acks != 0)
                        .unwrap_or(true);
                if conn.upstream.is_none() {
                    conn.upstream = Some(TcpStream::connect(&shared.upstream)?);
                }
                let upstream = conn.upstream.as_mut().unwrap();
                write_frame(upstream, &frame)?;
                if !expects_response {
                    continue;
                }
                let answer = read_frame(upstream)?;
                let answer =
                    rewrite(shared, api, version, answer).unwrap_or_else(|original| original);
                write_frame(&mut client, &answer)?;
            }
        }
    }
}

/// The response with the SASL APIs added (ApiVersions) or the broker's address replaced by ours (Metadata,
/// FindCoordinator); `Err(original)` when left as it is.
fn rewrite(
    shared: &Shared,
    api: ApiKey,
    version: i16,
    answer: Vec<u8>,
) -> Result<Vec<u8>, Vec<u8>> {
    let header_version = api.response_header_version(version);
    let mut body = Bytes::from(answer.clone());
    let Ok(header) = ResponseHeader::decode(&mut body, header_version) else {
        return Err(answer);
    };
    let host = StrBytes::from_string(shared.advertised.0.clone());
    let port = i32::from(shared.advertised.1);
    let mut out = BytesMut::new();
    let encoded = header.encode(&mut out, header_version).is_ok()
        && match api {
            ApiKey::ApiVersions => match ApiVersionsResponse::decode(&mut body, version) {
                Ok(mut response) if response.error_code == 0 => {
                    response.api_keys.retain(|k| {
                        k.api_key != ApiKey::SaslHandshake as i16
                            && k.api_key != ApiKey::SaslAuthenticate as i16
                    });
                    for (key, max) in [(ApiKey::SaslHandshake, 1), (ApiKey::SaslAuthenticate, 2)] {
                        response.api_keys.push(
                            ApiVersion::default()
                                .with_api_key(key as i16)
                                .with_min_version(0)
                                .with_max_version(max),
                        );
                    }
                    response.encode(&mut out, version).is_ok()
                }
                _ => false,
            },
            ApiKey::Metadata => match MetadataResponse::decode(&mut body, version) {
                Ok(mut response) => {
                    for broker in &mut response.brokers {
                        broker.host = host.clone();
                        broker.port = port;
                    }
                    response.encode(&mut out, version).is_ok()
                }
                Err(_) => false,
            },
            ApiKey::FindCoordinator => match FindCoordinatorResponse::decode(&mut body, version) {
                Ok(mut response) => {
                    if version < 4 {
                        response.host = host.clone();
                        response.port = port;
                    }
                    for coordinator in &mut response.coordinators {
                        coordinator.host = host.clone();
                        coordinator.port = port;
                    }
                    response.encode(&mut out, version).is_ok()
                }
                Err(_) => false,
            },
            _ => false,
        };
    if encoded {
        Ok(out.to_vec())
    } else {
        Err(answer)
    }
}

fn refused(message: &str) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(58)
        .with_error_message(Some(StrBytes::from_string(message.to_owned())))
}

/// What one SaslAuthenticate led to: the (mechanism, principal) authenticated, if it ended the exchange, and
/// the bytes to answer with.
type Step = (Option<(&'static str, String)>, Vec<u8>);

/// The broker side of one SaslAuthenticate.
fn authenticate(
    shared: &Shared,
    conn: &mut Connection,
    auth_bytes: &[u8],
    version: i16,
) -> SaslAuthenticateResponse {
    let exchange = std::mem::replace(&mut conn.exchange, Exchange::Idle);
    let outcome: Result<Step, String> = match exchange {
        Exchange::Idle => {
            return SaslAuthenticateResponse::default()
                .with_error_code(34)
                .with_error_message(Some(StrBytes::from_static_str(
                    "SaslAuthenticate without SaslHandshake",
                )))
        }
        Exchange::Handshaken("PLAIN") => {
            let parts: Vec<&[u8]> = auth_bytes.split(|b| *b == 0).collect();
            let valid = parts.len() == 3
                && shared
                    .rules
                    .users
                    .iter()
                    .any(|(u, p)| u.as_bytes() == parts[1] && p.as_bytes() == parts[2]);
            if valid {
                let user = String::from_utf8_lossy(parts[1]).into_owned();
                Ok((Some(("PLAIN", user)), Vec::new()))
            } else {
                Err("Authentication failed: Invalid username or password".to_owned())
            }
        }
        Exchange::Handshaken("OAUTHBEARER") => {
            let text = String::from_utf8_lossy(auth_bytes).into_owned();
            let token = text
                .strip_prefix("n,,\u{1}auth=Bearer ")
                .and_then(|rest| rest.strip_suffix("\u{1}\u{1}"));
            match token {
                Some(token) if shared.tokens.lock().unwrap().iter().any(|t| t == token) => {
                    Ok((Some(("OAUTHBEARER", "token-holder".to_owned())), Vec::new()))
                }
                _ => {
                    conn.exchange = Exchange::TokenRefused;
                    Ok((None, br#"{"status":"invalid_token"}"#.to_vec()))
                }
            }
        }
        Exchange::TokenRefused => Err("Authentication failed: invalid_token".to_owned()),
        Exchange::Handshaken(mechanism) => {
            // SCRAM client-first: gs2 header "n,," then n=user,r=nonce.
            let text = String::from_utf8_lossy(auth_bytes).into_owned();
            let bare = text.strip_prefix("n,,").unwrap_or_default().to_owned();
            let mut user = None;
            let mut nonce = None;
            for part in bare.split(',') {
                if let Some(v) = part.strip_prefix("n=") {
                    user = Some(v.replace("=2C", ",").replace("=3D", "="));
                } else if let Some(v) = part.strip_prefix("r=") {
                    nonce = Some(v.to_owned());
                }
            }
            match (user, nonce) {
                (Some(user), Some(client_nonce)) => {
                    let verifier = shared.scram.get(&(mechanism, user.clone()));
                    let salt = verifier.map_or(b"unknown".to_vec(), |v| v.salt.clone());
                    let mut counter = shared.nonce_counter.lock().unwrap();
                    *counter += 1;
                    let nonce = format!("{client_nonce}srv{}x{}", *counter, std::process::id());
                    let server_first =
                        format!("r={nonce},s={},i={SCRAM_ITERATIONS}", BASE64.encode(salt));
                    conn.exchange = Exchange::ScramFinal {
                        mechanism,
                        user,
                        nonce,
                        auth_prefix: format!("{bare},{server_first}"),
                    };
                    Ok((None, server_first.into_bytes()))
                }
                _ => Err("Authentication failed: malformed client-first message".to_owned()),
            }
        }
        Exchange::ScramFinal {
            mechanism,
            user,
            nonce,
            auth_prefix,
        } => {
            let text = String::from_utf8_lossy(auth_bytes).into_owned();
            let invalid = format!(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
            );
            let (without_proof, proof) = text.rsplit_once(",p=").unwrap_or_default();
            let proof = BASE64.decode(proof).unwrap_or_default();
            match shared.scram.get(&(mechanism, user.clone())) {
                Some(verifier) if without_proof == format!("c=biws,r={nonce}") => {
                    let auth_message = format!("{auth_prefix},{without_proof}");
                    let signature = mac(mechanism, &verifier.stored_key, auth_message.as_bytes());
                    let client_key: Vec<u8> =
                        proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
                    if proof.len() == signature.len()
                        && digest(mechanism, &client_key) == verifier.stored_key
                    {
                        let server_signature =
                            mac(mechanism, &verifier.server_key, auth_message.as_bytes());
                        let server_final = format!("v={}", BASE64.encode(server_signature));
                        Ok((Some((mechanism, user)), server_final.into_bytes()))
                    } else {
                        Err(invalid)
                    }
                }
                _ => Err(invalid),
            }
        }
    };
    let mut stats = shared.stats.lock().unwrap();
    match outcome {
        Err(message) => {
            stats.refused += 1;
            refused(&message)
        }
        Ok((None, challenge)) => {
            SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(challenge))
        }
        Ok((Some((mechanism, principal)), last)) => {
            if let Some(earlier) = &conn.principal {
                if *earlier != principal {
                    stats.refused += 1;
                    return refused(
                        "Authentication failed: re-authentication changed the principal",
                    );
                }
                stats.reauthenticated += 1;
            } else {
                stats
                    .authenticated
                    .push((mechanism.to_owned(), principal.clone()));
            }
            conn.principal = Some(principal);
            let mut response =
                SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(last));
            if version >= 1 && shared.rules.session_lifetime_ms > 0 {
                response.session_lifetime_ms = shared.rules.session_lifetime_ms;
                conn.session_ends = Some(
                    Instant::now() + Duration::from_millis(shared.rules.session_lifetime_ms as u64),
                );
            }
            response
        }
    }
}
