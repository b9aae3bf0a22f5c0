//! One connection to one broker: connect, ApiVersions handshake, then pipelined requests.
//!
//! A writer task encodes requests at the negotiated version and writes them as they come (several per write
//! when they queue up); a reader task splits the byte stream into frames and matches each to its request by
//! correlation id. Reading and writing are separate tasks so a broker that is slow to read cannot stop us from
//! reading its responses. When anything fails, every request that has no answer is failed back to the driver
//! with the reason, and the connection is gone; the driver opens a new one on the next request.
//!
//! With SASL, the handshake goes on with SaslHandshake and SaslAuthenticate (the mechanism's exchange is the
//! sans-IO `client::sasl`; this file sends it). When the broker names a session lifetime (KIP-368), the writer
//! authenticates again on the same connection before it ends, at 85-95 % of it as the Java client does: it
//! stops writing other requests meanwhile, and responses to requests already in flight are read and handed on
//! as usual (a broker answers a connection's requests in order, so they come before the re-authentication's).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::{mpsc, oneshot};

use super::backend::{BrokerRead, BrokerWrite, IoBackend};
use super::tls::{host_of, PlaintextReader, TlsConnector};
use crate::client::sasl::{
    SaslAuthenticator, SaslConfig, SaslCredentials, SaslError, SaslInputs, SaslStep, Secret,
    TokenSource,
};
use crate::client::{BrokerId, RequestToken, ResponseResult, TransportError};
use crate::protocol::frame::{
    decode_response, encode_request, response_correlation_id, FrameDecoder,
};
use crate::protocol::versions::{ApiVersionTable, API_VERSIONS_REQUEST_VERSION};
use crate::protocol::{ProtocolError, Request, Response};

/// Settings of every connection.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub client_id: String,
    pub request_timeout: Duration,
    /// How long a JoinGroup may wait instead: the coordinator answers it only when the rebalance completes
    /// (the Java client waits max.poll.interval.ms + 5 s for it, and request.timeout.ms for every other request).
    pub join_group_timeout: Option<Duration>,
    pub connect_timeout: Duration,
    pub max_frame_bytes: usize,
    pub reconnect_backoff: Duration,
    pub reconnect_backoff_max: Duration,
    /// `Some`: connections are wrapped in TLS (security.protocol=SSL) before anything is sent.
    pub tls: Option<TlsConnector>,
    /// SASL mechanism and credentials, when connections authenticate (`security.protocol=SASL_*`).
    pub sasl: Option<Arc<SaslConfig>>,
}

/// A request for the connection to send.
#[derive(Debug)]
pub struct Outbound {
    pub token: RequestToken,
    pub request: Request,
    pub expects_response: bool,
}

/// What a connection tells the driver.
#[derive(Debug)]
pub enum ConnectionEvent {
    Versions {
        broker: BrokerId,
        versions: ApiVersionTable,
    },
    Response {
        broker: BrokerId,
        token: RequestToken,
        result: ResponseResult,
    },
    /// The connection is gone (`failure` says why); requests sent to it after this are failed as they arrive.
    Closed {
        broker: BrokerId,
        generation: u64,
        address: String,
        failure: TransportError,
    },
}

/// How often a connection with nothing in flight looks again for requests that may time out.
const REQUEST_TIMEOUT_CHECK: Duration = Duration::from_millis(250);

struct Pending {
    correlation_id: i32,
    waiter: Waiter,
    api: ApiKey,
    version: i16,
    sent_at: Instant,
}

/// Who waits for a response.
enum Waiter {
    /// The driver, for a request it sent.
    Driver(RequestToken),
    /// The writer, re-authenticating.
    Reauthentication(oneshot::Sender<ResponseResult>),
}

/// How long the answer to a request of `api` may take.
fn timeout_of(config: &ConnectionConfig, api: ApiKey) -> Duration {
    match (api, config.join_group_timeout) {
        (ApiKey::JoinGroup, Some(timeout)) => timeout.max(config.request_timeout),
        _ => config.request_timeout,
    }
}

/// Runs one connection until it fails or the driver drops its sender. Spawned with `spawn_local`.
pub async fn run_connection<B: IoBackend>(
    backend: B,
    broker: BrokerId,
    generation: u64,
    address: String,
    config: ConnectionConfig,
    mut requests: mpsc::UnboundedReceiver<Outbound>,
    events: mpsc::UnboundedSender<ConnectionEvent>,
) {
    let connect_failed = |reason: String| TransportError::ConnectFailed {
        broker,
        address: address.clone(),
        reason,
    };
    let failure = match backend.connect(&address, config.connect_timeout).await {
        Err(e) => connect_failed(e.to_string()),
        Ok((reader, writer)) => match &config.tls {
            None => {
                tracing::debug!(broker, %address, backend = backend.name(), "connected");
                let (reader, answered_in_tls) = PlaintextReader::new(reader);
                let failure = serve(
                    reader,
                    writer,
                    broker,
                    &address,
                    &config,
                    &mut requests,
                    &events,
                )
                .await;
                if answered_in_tls.get() {
                    connect_failed(
                        "the broker answered in TLS: its listener is SSL; set security.protocol=SSL"
                            .into(),
                    )
                } else {
                    failure
                }
            }
            Some(tls) => {
                match tls
                    .handshake(host_of(&address), reader, writer, config.connect_timeout)
                    .await
                {
                    Err(e) => connect_failed(e.to_string()),
                    Ok((reader, writer, session)) => {
                        tracing::debug!(broker, %address, backend = backend.name(), "connected with TLS");
                        let failure = serve(
                            reader,
                            writer,
                            broker,
                            &address,
                            &config,
                            &mut requests,
                            &events,
                        )
                        .await;
                        match session.refusal() {
                            // A broker that checks client certificates refuses ours after the handshake.
                            Some(reason) => connect_failed(reason),
                            None => {
                                if let Some(reason) = session.failure() {
                                    tracing::warn!(broker, %address, "TLS session failed: {reason}");
                                }
                                failure
                            }
                        }
                    }
                }
            }
        },
    };
    let _ = events.send(ConnectionEvent::Closed {
        broker,
        generation,
        address: address.clone(),
        failure: failure.clone(),
    });
    // Requests the driver sent before it saw `Closed` still need an answer.
    while let Some(outbound) = requests.recv().await {
        if outbound.expects_response {
            let _ = events.send(ConnectionEvent::Response {
                broker,
                token: outbound.token,
                result: Err(failure.clone()),
            });
        }
    }
}

async fn serve<R: BrokerRead, W: BrokerWrite>(
    mut reader: R,
    mut writer: W,
    broker: BrokerId,
    address: &str,
    config: &ConnectionConfig,
    requests: &mut mpsc::UnboundedReceiver<Outbound>,
    events: &mpsc::UnboundedSender<ConnectionEvent>,
) -> TransportError {
    let decoder = FrameDecoder::new(config.max_frame_bytes);
    let mut read_buf = BytesMut::with_capacity(64 * 1024);
    let mut exchange = DirectExchange {
        reader: &mut reader,
        writer: &mut writer,
        decoder: &decoder,
        read_buf: &mut read_buf,
        broker,
        config,
    };
    let versions = match handshake(&mut exchange).await {
        Ok(v) => v,
        Err(e) => return e,
    };
    tracing::debug!(broker, "ApiVersions handshake done");
    let mut reauthenticate_at = None;
    if let Some(sasl) = &config.sasl {
        match authenticate(&mut exchange, broker, address, sasl, &versions).await {
            Ok(lifetime) => reauthenticate_at = reauthentication_deadline(lifetime),
            Err(e) => return e,
        }
        tracing::debug!(broker, mechanism = sasl.mechanism.name(), reauthenticate_in = ?reauthenticate_at.map(|at: Instant| at - Instant::now()), "authenticated");
    }
    // Only now does the connection count as working: a refused password is a failed attempt, backed off.
    let _ = events.send(ConnectionEvent::Versions {
        broker,
        versions: versions.clone(),
    });

    let pending: Rc<RefCell<VecDeque<Pending>>> = Rc::new(RefCell::new(VecDeque::new()));
    let failed: Rc<RefCell<Option<TransportError>>> = Rc::new(RefCell::new(None));

    let write_loop = {
        let pending = pending.clone();
        async move {
            let mut correlation_id: i32 = 1; // 0 was the handshake
            let mut out = BytesMut::with_capacity(64 * 1024);
            loop {
                let next = match reauthenticate_at {
                    // The deadline first: a steady stream of requests must not put re-authentication off.
                    Some(at) => tokio::select! {
                        biased;
                        _ = tokio::time::sleep_until(at.into()) => None,
                        next = requests.recv() => Some(next),
                    },
                    None => Some(requests.recv().await),
                };
                let first = match next {
                    Some(Some(first)) => first,
                    // The driver dropped us: an orderly close.
                    Some(None) => break,
                    None => {
                        let Some(sasl) = &config.sasl else { break };
                        let mut exchange = InFlightExchange {
                            writer: &mut writer,
                            pending: &pending,
                            correlation_id: &mut correlation_id,
                            broker,
                            config,
                        };
                        match authenticate(&mut exchange, broker, address, sasl, &versions).await {
                            Ok(lifetime) => {
                                reauthenticate_at = reauthentication_deadline(lifetime);
                                tracing::debug!(broker, "re-authenticated");
                            }
                            Err(e) => return e,
                        }
                        continue;
                    }
                };
                out.clear();
                let mut next = Some(first);
                // Coalesce whatever else is queued into the same write.
                while let Some(outbound) = next.take().or_else(|| requests.try_recv().ok()) {
                    let api = outbound.request.api_key();
                    let encoded = versions.negotiate(api).and_then(|version| {
                        encode_request(
                            &mut out,
                            &outbound.request,
                            version,
                            correlation_id,
                            &config.client_id,
                        )
                        .map(|()| version)
                    });
                    match encoded {
                        Ok(version) => {
                            if outbound.expects_response {
                                pending.borrow_mut().push_back(Pending {
                                    correlation_id,
                                    waiter: Waiter::Driver(outbound.token),
                                    api,
                                    version,
                                    sent_at: Instant::now(),
                                });
                            }
                            correlation_id = correlation_id.wrapping_add(1).max(1);
                        }
                        Err(error) => {
                            let result = Err(TransportError::Protocol { broker, error });
                            let _ = events.send(ConnectionEvent::Response {
                                broker,
                                token: outbound.token,
                                result,
                            });
                        }
                    }
                    if out.len() >= 1024 * 1024 {
                        break;
                    }
                }
                if !out.is_empty() {
                    tracing::trace!(broker, bytes = out.len(), "writing");
                    let (result, buf) = writer.write_all_from(out).await;
                    tracing::trace!(broker, ?result, "written");
                    out = buf;
                    if result.is_err() {
                        return TransportError::Disconnected { broker };
                    }
                }
            }
            // The driver dropped us: an orderly close (TLS says so to the broker first).
            writer.close().await;
            TransportError::Disconnected { broker }
        }
    };

    let read_loop = {
        let pending = pending.clone();
        let failed = failed.clone();
        let mut read_buffers = SpareReadBuffer::default();
        async move {
            loop {
                while let Some(frame) = match decoder.decode(&mut read_buf) {
                    Ok(frame) => frame,
                    Err(error) => return TransportError::Protocol { broker, error },
                } {
                    let Ok(correlation_id) = response_correlation_id(&frame) else {
                        return TransportError::Protocol {
                            broker,
                            error: ProtocolError::ShortResponseHeader { len: frame.len() },
                        };
                    };
                    let Some(request) = take_pending(&pending, correlation_id) else {
                        tracing::warn!(
                            broker,
                            correlation_id,
                            "response to no request we sent; closing"
                        );
                        return TransportError::Disconnected { broker };
                    };
                    let result = decode_response(request.api, request.version, frame)
                        .map(|(_, response)| response)
                        .map_err(|error| TransportError::Protocol { broker, error });
                    match request.waiter {
                        Waiter::Driver(token) => {
                            let _ = events.send(ConnectionEvent::Response {
                                broker,
                                token,
                                result,
                            });
                        }
                        Waiter::Reauthentication(reply) => {
                            let _ = reply.send(result);
                        }
                    }
                }
                let additional = decoder.additional_needed(&read_buf).max(8 * 1024);
                read_buffers.make_room(&mut read_buf, additional);
                let read = reader.read_into(std::mem::take(&mut read_buf));
                tokio::pin!(read);
                // The read stays in flight while we watch the clock: requests written after it started must
                // time out too, and an io_uring read cannot be abandoned without losing what it reads.
                let (result, buf) = loop {
                    // The earliest deadline of the requests waiting; a JoinGroup's is later than the others'.
                    let oldest_deadline = pending
                        .borrow()
                        .iter()
                        .map(|p| p.sent_at + timeout_of(config, p.api))
                        .min();
                    let check_at = oldest_deadline.unwrap_or_else(|| {
                        Instant::now() + config.request_timeout.min(REQUEST_TIMEOUT_CHECK)
                    });
                    tokio::select! {
                        outcome = &mut read => break outcome,
                        _ = tokio::time::sleep_until(check_at.into()) => {
                            if oldest_deadline.is_some_and(|d| Instant::now() >= d) {
                                return TransportError::TimedOut { broker };
                            }
                        }
                    }
                };
                read_buf = buf;
                tracing::trace!(broker, ?result, buffered = read_buf.len(), "read");
                match result {
                    Ok(0) | Err(_) => return TransportError::Disconnected { broker },
                    Ok(_) => {}
                }
                if failed.borrow().is_some() {
                    return TransportError::Disconnected { broker };
                }
            }
        }
    };

    let error = tokio::select! {
        e = write_loop => e,
        e = read_loop => e,
    };
    *failed.borrow_mut() = Some(error.clone());
    for request in pending.borrow_mut().drain(..) {
        if let Waiter::Driver(token) = request.waiter {
            let _ = events.send(ConnectionEvent::Response {
                broker,
                token,
                result: Err(error.clone()),
            });
        }
    }
    error
}

fn take_pending(pending: &Rc<RefCell<VecDeque<Pending>>>, correlation_id: i32) -> Option<Pending> {
    let mut pending = pending.borrow_mut();
    // Kafka answers in order, so this is almost always the front.
    let index = pending
        .iter()
        .position(|p| p.correlation_id == correlation_id)?;
    pending.remove(index)
}

/// The buffer responses were read into before the current one, kept so its memory can be read into again.
///
/// Frames are split off the read buffer and handed out as `Bytes` that share its allocation (a consumer's
/// records point into the fetch response they came in), so growing the read buffer for the next large frame
/// while those are alive needs a fresh allocation — several MiB per fetch, whose pages the kernel then maps
/// one fault at a time: 115 k page faults, two thirds of `engine consume`'s CPU, for 2 M records of 100 B.
/// Alternating between two buffers lets the next fetch land in the memory of the one before last, whose
/// records the application has usually dropped by then (`BytesMut::reserve` reuses an allocation nothing
/// else shares, and allocates a new one otherwise).
#[derive(Default)]
struct SpareReadBuffer {
    spare: BytesMut,
}

impl SpareReadBuffer {
    /// Makes room for `additional` more bytes in `buf`, in the spare buffer's memory when `buf` lacks it.
    fn make_room(&mut self, buf: &mut BytesMut, additional: usize) {
        if buf.capacity() - buf.len() >= additional {
            return;
        }
        let mut next = std::mem::take(&mut self.spare);
        next.clear();
        next.reserve(buf.len() + additional);
        // Usually only the first bytes of the next frame: the copy is small next to what it saves.
        next.extend_from_slice(buf);
        self.spare = std::mem::replace(buf, next);
    }
}

/// ApiVersions first: v3 (flexible), falling back to v0 when the broker is older than that.
async fn handshake<R: BrokerRead, W: BrokerWrite>(
    exchange: &mut DirectExchange<'_, R, W>,
) -> Result<ApiVersionTable, TransportError> {
    let broker = exchange.broker;
    let protocol = |error| TransportError::Protocol { broker, error };
    let mut version = API_VERSIONS_REQUEST_VERSION;
    for _attempt in 0..2 {
        let request = Request::ApiVersions(
            ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("pipewright"))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION"))),
        );
        let frame = exchange.frame_round_trip(&request, version).await?;
        // A broker that does not know our version answers in v0 with UNSUPPORTED_VERSION and its own ranges.
        let decoded = decode_response(ApiKey::ApiVersions, version, frame.clone())
            .or_else(|_| decode_response(ApiKey::ApiVersions, 0, frame))
            .map_err(protocol)?;
        let Response::ApiVersions(response) = decoded.1 else {
            return Err(protocol(ProtocolError::UnsupportedApi {
                api: ApiKey::ApiVersions,
            }));
        };
        if response.error_code == 35 && version != 0 {
            let broker_max = response
                .api_keys
                .iter()
                .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                .map_or(0, |k| k.max_version);
            version = broker_max.clamp(0, API_VERSIONS_REQUEST_VERSION);
            continue;
        }
        return ApiVersionTable::from_response(&response).map_err(protocol);
    }
    Err(protocol(ProtocolError::ApiVersionsFailed { code: 35 }))
}

/// One request and its response, as the SASL exchange needs them: before the loops start, or from the writer
/// while they run.
trait SaslExchange {
    async fn round_trip(&mut self, request: Request, version: i16) -> ResponseResult;
}

/// The exchange before the reader and writer loops start: straight on the socket.
struct DirectExchange<'a, R, W> {
    reader: &'a mut R,
    writer: &'a mut W,
    decoder: &'a FrameDecoder,
    read_buf: &'a mut BytesMut,
    broker: BrokerId,
    config: &'a ConnectionConfig,
}

impl<R: BrokerRead, W: BrokerWrite> DirectExchange<'_, R, W> {
    /// Writes `request` and reads the one frame that answers it.
    async fn frame_round_trip(
        &mut self,
        request: &Request,
        version: i16,
    ) -> Result<Bytes, TransportError> {
        let broker = self.broker;
        let mut out = BytesMut::new();
        encode_request(&mut out, request, version, 0, &self.config.client_id)
            .map_err(|error| TransportError::Protocol { broker, error })?;
        let (reader, writer, decoder, read_buf) = (
            &mut *self.reader,
            &mut *self.writer,
            self.decoder,
            &mut *self.read_buf,
        );
        let io = async {
            writer.write_all_from(out).await.0?;
            loop {
                if let Some(frame) = decoder
                    .decode(read_buf)
                    .map_err(|e| std::io::Error::other(e.to_string()))?
                {
                    return Ok::<_, std::io::Error>(frame);
                }
                read_buf.reserve(8 * 1024);
                let (result, buf) = reader.read_into(std::mem::take(read_buf)).await;
                *read_buf = buf;
                if result? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
            }
        };
        match tokio::time::timeout(self.config.request_timeout, io).await {
            Err(_) => Err(TransportError::TimedOut { broker }),
            Ok(Err(_)) => Err(TransportError::Disconnected { broker }),
            Ok(Ok(frame)) => Ok(frame),
        }
    }
}

impl<R: BrokerRead, W: BrokerWrite> SaslExchange for DirectExchange<'_, R, W> {
    async fn round_trip(&mut self, request: Request, version: i16) -> ResponseResult {
        let broker = self.broker;
        let frame = self.frame_round_trip(&request, version).await?;
        decode_response(request.api_key(), version, frame)
            .map(|(_, response)| response)
            .map_err(|error| TransportError::Protocol { broker, error })
    }
}

/// Re-authentication from the writer while the reader runs: the request is written like any other, and the
/// reader hands its response back here instead of to the driver (timeouts apply as to every request).
struct InFlightExchange<'a, W> {
    writer: &'a mut W,
    pending: &'a Rc<RefCell<VecDeque<Pending>>>,
    correlation_id: &'a mut i32,
    broker: BrokerId,
    config: &'a ConnectionConfig,
}

impl<W: BrokerWrite> SaslExchange for InFlightExchange<'_, W> {
    async fn round_trip(&mut self, request: Request, version: i16) -> ResponseResult {
        let broker = self.broker;
        let correlation_id = *self.correlation_id;
        *self.correlation_id = correlation_id.wrapping_add(1).max(1);
        let mut out = BytesMut::new();
        encode_request(
            &mut out,
            &request,
            version,
            correlation_id,
            &self.config.client_id,
        )
        .map_err(|error| TransportError::Protocol { broker, error })?;
        let (reply, answer) = oneshot::channel();
        // The broker answers a connection's requests in order, so ours waits behind those in flight (a JoinGroup
        // may be held for a whole rebalance): its request.timeout.ms counts from the latest of their deadlines.
        let now = Instant::now();
        let counted_from = {
            let pending = self.pending.borrow();
            pending
                .iter()
                .filter_map(|p| {
                    (p.sent_at + timeout_of(self.config, p.api))
                        .checked_sub(self.config.request_timeout)
                })
                .max()
                .map_or(now, |from| from.max(now))
        };
        self.pending.borrow_mut().push_back(Pending {
            correlation_id,
            waiter: Waiter::Reauthentication(reply),
            api: request.api_key(),
            version,
            sent_at: counted_from,
        });
        if self.writer.write_all_from(out).await.0.is_err() {
            return Err(TransportError::Disconnected { broker });
        }
        // The reader failing drops the sender; the connection's own error is reported by whoever ends it.
        answer
            .await
            .unwrap_or(Err(TransportError::Disconnected { broker }))
    }
}

/// When to authenticate again within a session of `lifetime`: at a random point of its last 15 to 5 %, as the
/// Java client does, so the connections of many clients do not all re-authenticate at once.
fn reauthentication_deadline(lifetime: Option<Duration>) -> Option<Instant> {
    let lifetime = lifetime?;
    Some(Instant::now() + lifetime.mul_f64(0.85 + 0.1 * fastrand::f64()))
}

/// The largest token file read: JWTs are a few KiB.
const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// Reads an OAUTHBEARER token file as it is now. A small local read, so it is done in place rather than on a
/// blocking pool (the io_uring executor has none).
fn read_token_file(path: &std::path::Path) -> Result<Secret, SaslError> {
    use std::io::Read;
    let failed = |reason: String| SaslError::TokenFile {
        path: path.display().to_string(),
        reason,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|file| {
            file.take(MAX_TOKEN_FILE_BYTES + 1)
                .read_to_string(&mut text)
        })
        .map_err(|e| failed(e.to_string()))?;
    if text.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(failed(format!("larger than {MAX_TOKEN_FILE_BYTES} bytes")));
    }
    Ok(Secret::new(text.trim()))
}

/// SaslHandshake v1, then SaslAuthenticate until the mechanism is done. Returns the session lifetime the broker
/// named (SaslAuthenticate v1+), if any.
async fn authenticate(
    exchange: &mut impl SaslExchange,
    broker: BrokerId,
    address: &str,
    sasl: &SaslConfig,
    versions: &ApiVersionTable,
) -> Result<Option<Duration>, TransportError> {
    let failed = |error: SaslError| TransportError::Authentication {
        broker,
        address: address.to_owned(),
        error,
    };
    let negotiate = |api| {
        versions
            .negotiate(api)
            .map_err(|e| failed(SaslError::NotOffered(e.to_string())))
    };
    let handshake_version = negotiate(ApiKey::SaslHandshake)?;
    let authenticate_version = negotiate(ApiKey::SaslAuthenticate)?;
    let mechanism = sasl.mechanism.name();
    let request =
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
    let response = exchange
        .round_trip(Request::SaslHandshake(request), handshake_version)
        .await?;
    let Response::SaslHandshake(handshake) = response else {
        return Err(TransportError::unexpected_response(broker, &response));
    };
    match handshake.error_code {
        0 => {}
        // UNSUPPORTED_SASL_MECHANISM
        33 => {
            let offered: Vec<String> = handshake.mechanisms.iter().map(|m| m.to_string()).collect();
            return Err(failed(if offered.iter().any(|m| m == mechanism) {
                SaslError::MechanismRefused { mechanism }
            } else {
                SaslError::UnsupportedMechanism { mechanism, offered }
            }));
        }
        code => return Err(failed(SaslError::HandshakeFailed { code })),
    }
    let token = match &sasl.credentials {
        SaslCredentials::Token(TokenSource::Static(token)) => Some(token.clone()),
        SaslCredentials::Token(TokenSource::File(path)) => {
            Some(read_token_file(path).map_err(failed)?)
        }
        SaslCredentials::Password { .. } => None,
    };
    let mut random = [0u8; 24];
    getrandom::fill(&mut random).map_err(|e| failed(SaslError::NoRandomness(e.to_string())))?;
    let (mut authenticator, mut message) = SaslAuthenticator::start(
        sasl,
        SaslInputs {
            token: token.as_ref(),
            random,
        },
    )
    .map_err(failed)?;
    loop {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(message));
        let response = exchange
            .round_trip(Request::SaslAuthenticate(request), authenticate_version)
            .await
            .map_err(|e| match e {
                // Some brokers close the connection instead of answering a refused exchange (kfake does).
                TransportError::Disconnected { .. } => failed(SaslError::ClosedDuringExchange),
                other => other,
            })?;
        let Response::SaslAuthenticate(answer) = response else {
            return Err(TransportError::unexpected_response(broker, &response));
        };
        if answer.error_code != 0 {
            let message = answer.error_message.map(|m| m.to_string());
            return Err(failed(match answer.error_code {
                // SASL_AUTHENTICATION_FAILED
                58 => match authenticator.refusal_detail() {
                    Some(status) => SaslError::TokenRefused(status.to_owned()),
                    None => SaslError::AuthenticationFailed { message },
                },
                // ILLEGAL_SASL_STATE
                34 => SaslError::IllegalState { message },
                code => SaslError::AuthenticateFailed { code, message },
            }));
        }
        match authenticator
            .handle_challenge(&answer.auth_bytes)
            .map_err(failed)?
        {
            SaslStep::Respond(next) => message = next,
            SaslStep::Done => {
                return Ok((answer.session_lifetime_ms > 0)
                    .then(|| Duration::from_millis(answer.session_lifetime_ms as u64)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocation_probe::largest_allocation_bytes;

    const FRAME: usize = 1 << 20;

    /// Reads one "frame" of `FRAME` bytes into `buf` (room made by `buffers`) and hands it out, as the read
    /// loop does; returns the frame and where its bytes live.
    fn read_frame(buffers: &mut SpareReadBuffer, buf: &mut BytesMut) -> (bytes::Bytes, *const u8) {
        buffers.make_room(buf, FRAME);
        buf.resize(buf.len() + FRAME, 7);
        let frame = buf.split_to(FRAME).freeze();
        let at = frame.as_ptr();
        (frame, at)
    }

    #[test]
    fn a_frame_lands_in_the_memory_of_the_one_before_last_once_that_was_dropped() {
        let mut buffers = SpareReadBuffer::default();
        let mut buf = BytesMut::new();
        let (first, first_at) = read_frame(&mut buffers, &mut buf);
        let (second, second_at) = read_frame(&mut buffers, &mut buf);
        assert_ne!(first_at, second_at, "the first frame is still alive");
        drop(first);
        let mut third = None;
        let largest = largest_allocation_bytes(|| third = Some(read_frame(&mut buffers, &mut buf)));
        let (third, third_at) = third.expect("read");
        assert!(
            largest < FRAME,
            "a new {largest}-byte buffer instead of the first frame's"
        );
        assert_eq!(
            third_at, first_at,
            "the first frame's memory was not reused"
        );
        drop(second);
        let (_fourth, fourth_at) = read_frame(&mut buffers, &mut buf);
        assert_eq!(fourth_at, second_at);
        assert!(third.iter().all(|&b| b == 7));
    }

    #[test]
    fn memory_still_shared_is_never_reused_and_unread_bytes_move_with_the_buffer() {
        let mut buffers = SpareReadBuffer::default();
        let mut buf = BytesMut::new();
        let (first, first_at) = read_frame(&mut buffers, &mut buf);
        let (second, _) = read_frame(&mut buffers, &mut buf);
        // The head of the next frame is already read when its length asks for more room.
        buf.extend_from_slice(b"head");
        let largest = largest_allocation_bytes(|| buffers.make_room(&mut buf, FRAME));
        assert!(
            largest >= FRAME,
            "no new buffer, yet both earlier frames are alive"
        );
        assert_eq!(&buf[..], b"head");
        assert_ne!(buf.as_ptr(), first_at, "the first frame is still alive");
        assert!(first.iter().chain(second.iter()).all(|&b| b == 7));
    }

    #[test]
    fn only_a_join_group_waits_longer_than_request_timeout_ms() {
        let config = ConnectionConfig {
            client_id: "t".into(),
            request_timeout: Duration::from_secs(30),
            join_group_timeout: Some(Duration::from_secs(305)),
            connect_timeout: Duration::from_secs(10),
            max_frame_bytes: 1 << 20,
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            tls: None,
            sasl: None,
        };
        assert_eq!(
            timeout_of(&config, ApiKey::JoinGroup),
            Duration::from_secs(305)
        );
        for api in [
            ApiKey::SyncGroup,
            ApiKey::Heartbeat,
            ApiKey::OffsetCommit,
            ApiKey::Fetch,
        ] {
            assert_eq!(timeout_of(&config, api), Duration::from_secs(30), "{api:?}");
        }
        let plain = ConnectionConfig {
            join_group_timeout: None,
            ..config
        };
        assert_eq!(
            timeout_of(&plain, ApiKey::JoinGroup),
            Duration::from_secs(30)
        );
    }
}
