//! One connection to one broker: connect, ApiVersions handshake, then pipelined requests.
//!
//! A writer task encodes requests at the negotiated version and writes them as they come (several per write
//! when they queue up); a reader task splits the byte stream into frames and matches each to its request by
//! correlation id. Reading and writing are separate tasks so a broker that is slow to read cannot stop us from
//! reading its responses. When anything fails, every request that has no answer is failed back to the driver
//! with the reason, and the connection is gone; the driver opens a new one on the next request.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;

use super::backend::{BrokerRead, BrokerWrite, IoBackend};
use super::tls::{host_of, PlaintextReader, TlsConnector};
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
    token: RequestToken,
    api: ApiKey,
    version: i16,
    sent_at: Instant,
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
    let failure = match backend.connect(&address, config.connect_timeout).await {
        Err(e) => TransportError::ConnectFailed {
            broker,
            address: address.clone(),
            reason: e.to_string(),
        },
        Ok((reader, writer)) => match &config.tls {
            None => {
                tracing::debug!(broker, %address, backend = backend.name(), "connected");
                let (reader, answered_in_tls) = PlaintextReader::new(reader);
                let failure = serve(reader, writer, broker, &config, &mut requests, &events).await;
                if answered_in_tls.get() {
                    TransportError::ConnectFailed {
                        broker,
                        address: address.clone(),
                        reason: "the broker answered in TLS: its listener is SSL; set \
                                 security.protocol=SSL"
                            .into(),
                    }
                } else {
                    failure
                }
            }
            Some(tls) => {
                match tls
                    .handshake(host_of(&address), reader, writer, config.connect_timeout)
                    .await
                {
                    Err(e) => TransportError::ConnectFailed {
                        broker,
                        address: address.clone(),
                        reason: e.to_string(),
                    },
                    Ok((reader, writer, session)) => {
                        tracing::debug!(broker, %address, backend = backend.name(), "connected with TLS");
                        let failure =
                            serve(reader, writer, broker, &config, &mut requests, &events).await;
                        match session.refusal() {
                            // A broker that checks client certificates refuses ours after the handshake.
                            Some(reason) => TransportError::ConnectFailed {
                                broker,
                                address: address.clone(),
                                reason,
                            },
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
    config: &ConnectionConfig,
    requests: &mut mpsc::UnboundedReceiver<Outbound>,
    events: &mpsc::UnboundedSender<ConnectionEvent>,
) -> TransportError {
    let decoder = FrameDecoder::new(config.max_frame_bytes);
    let mut read_buf = BytesMut::with_capacity(64 * 1024);
    let versions = match handshake(
        &mut reader,
        &mut writer,
        broker,
        config,
        &decoder,
        &mut read_buf,
    )
    .await
    {
        Ok(v) => v,
        Err(e) => return e,
    };
    tracing::debug!(broker, "ApiVersions handshake done");
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
            while let Some(first) = requests.recv().await {
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
                                    token: outbound.token,
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
                    let _ = events.send(ConnectionEvent::Response {
                        broker,
                        token: request.token,
                        result,
                    });
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
        let _ = events.send(ConnectionEvent::Response {
            broker,
            token: request.token,
            result: Err(error.clone()),
        });
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
    reader: &mut R,
    writer: &mut W,
    broker: BrokerId,
    config: &ConnectionConfig,
    decoder: &FrameDecoder,
    read_buf: &mut BytesMut,
) -> Result<ApiVersionTable, TransportError> {
    let protocol = |error| TransportError::Protocol { broker, error };
    let mut version = API_VERSIONS_REQUEST_VERSION;
    for _attempt in 0..2 {
        let request = Request::ApiVersions(
            ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("pipewright"))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION"))),
        );
        let mut out = BytesMut::new();
        encode_request(&mut out, &request, version, 0, &config.client_id).map_err(protocol)?;
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
        let frame = match tokio::time::timeout(config.request_timeout, io).await {
            Err(_) => return Err(TransportError::TimedOut { broker }),
            Ok(Err(_)) => return Err(TransportError::Disconnected { broker }),
            Ok(Ok(frame)) => frame,
        };
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
