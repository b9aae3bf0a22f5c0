//! A Kafka-aware TCP fault proxy for integration tests.
//!
//! Owns: one local listener per upstream broker, the byte pumps between each client connection and its broker,
//! and the faults injected into them (drop all connections, drop each connection after a random number of frames
//! or bytes, per-frame latency, truncated frames, blackholing). Faults can be changed at any time from the test
//! thread through `&FaultProxy`; every connection reads them per frame.
//!
//! Clients connect to whatever addresses the cluster advertises, so in Kafka mode the proxy rewrites the
//! broker addresses in Metadata (api key 3) and FindCoordinator (api key 10) responses to its own listeners,
//! opening one listener per upstream broker as they appear. It remembers the api key and version of each such
//! request by correlation id, decodes the matching response with the `kafka-protocol` crate, rewrites and
//! re-encodes it. Every other frame is forwarded byte for byte. TCP mode forwards bytes without parsing.
//!
//! Must not: bind anything but 127.0.0.1, or block the test thread (it runs on its own runtime thread).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, FindCoordinatorResponse, MetadataResponse, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// Largest frame the proxy accepts; anything bigger means the stream is not Kafka (or is corrupt).
const MAX_FRAME_BYTES: usize = 256 * 1024 * 1024;
/// Read size in TCP pass-through mode.
const TCP_CHUNK_BYTES: usize = 64 * 1024;
/// Frames queued per direction before the reader waits for the (possibly delayed) writer.
const QUEUED_FRAMES: usize = 1024;
/// How long a connection whose client left keeps waiting for each answer the broker still owes.
const UNANSWERED_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    /// Parse frames, rewrite advertised broker addresses; faults apply per frame.
    Kafka,
    /// Forward bytes as read; no rewriting, faults apply per read chunk.
    Tcp,
}

/// When to cut a connection. The count is drawn per connection, uniformly from `min..=max`, with the proxy's
/// seeded RNG; frames (or bytes) in both directions count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropPolicy {
    Never,
    /// Close right after forwarding the n-th frame (TCP mode: read chunk).
    AfterFrames {
        min: u64,
        max: u64,
    },
    /// Close after forwarding n bytes; usually mid-frame, so the peer sees a truncated frame.
    AfterBytes {
        min: u64,
        max: u64,
    },
}

/// Counters a test can assert on, e.g. that faults really happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    pub connections_accepted: u64,
    /// Connections the proxy closed on purpose (drop-all, drop policy, truncation).
    pub connections_cut: u64,
    pub frames_forwarded: u64,
    pub bytes_forwarded: u64,
    pub frames_blackholed: u64,
    /// Kafka mode: requests passed on toward a broker (queued or written) and not answered yet. The proxy keeps
    /// reading a broker's answers after the client left, so this reaches 0 only once the brokers are done with
    /// every request they got (every request but acks=0 Produce is answered).
    pub requests_awaiting_answer: u64,
    pub responses_rewritten: u64,
    /// Metadata/FindCoordinator responses that could not be decoded or encoded (forwarded unchanged).
    pub rewrite_errors: u64,
}

/// The proxy. Dropping it stops the runtime thread and closes every listener and connection.
pub struct FaultProxy {
    shared: Arc<Shared>,
    bootstrap: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// A Kafka-mode proxy in front of `upstream_bootstrap` ("host:port"). The RNG seed comes from
    /// `PIPEWRIGHT_FAULT_SEED` if set, else from the clock; it is printed so a failure can be replayed.
    pub fn start(upstream_bootstrap: &str) -> FaultProxy {
        FaultProxy::start_with(
            upstream_bootstrap,
            ProxyMode::Kafka,
            seed_from_env_or_clock(),
        )
    }

    /// A TCP pass-through proxy in front of `upstream` ("host:port").
    pub fn start_tcp(upstream: &str) -> FaultProxy {
        FaultProxy::start_with(upstream, ProxyMode::Tcp, seed_from_env_or_clock())
    }

    pub fn start_with(upstream_bootstrap: &str, mode: ProxyMode, seed: u64) -> FaultProxy {
        eprintln!("fault proxy ({mode:?}) in front of {upstream_bootstrap}, seed {seed}");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("fault proxy: build tokio runtime");
        let (kill_tx, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            mode,
            handle: runtime.handle().clone(),
            listeners: Mutex::new(HashMap::new()),
            kill_tx,
            delay_micros: AtomicU64::new(0),
            drop_policy: Mutex::new(DropPolicy::Never),
            drop_policy_epoch: AtomicU64::new(0),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            truncate_pending: AtomicU64::new(0),
            blackhole: AtomicBool::new(false),
            stats: Counters::default(),
        });
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = shutdown_rx.await;
                });
                // Dropping the runtime cancels every task, which closes all sockets.
            })
            .expect("fault proxy: spawn runtime thread");
        let bootstrap = shared
            .listener_for(upstream_bootstrap)
            .expect("fault proxy: bind bootstrap listener on 127.0.0.1");
        FaultProxy {
            shared,
            bootstrap,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    /// The address clients should bootstrap from: "127.0.0.1:port".
    pub fn bootstrap(&self) -> String {
        self.bootstrap.to_string()
    }

    /// Upstream "host:port" → local listener, for every broker seen so far.
    pub fn listeners(&self) -> HashMap<String, SocketAddr> {
        self.shared.listeners.lock().unwrap().clone()
    }

    /// Closes every open connection now (new ones are still accepted).
    pub fn drop_all_connections(&self) {
        self.shared
            .kill_tx
            .send_modify(|generation| *generation += 1);
    }

    /// Applies to open connections too: each draws a fresh budget when the policy changes.
    pub fn set_drop_policy(&self, policy: DropPolicy) {
        *self.shared.drop_policy.lock().unwrap() = policy;
        self.shared.drop_policy_epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Every frame (both directions) is held for `delay` before it is forwarded. This is latency, not a
    /// throughput limit: frames read meanwhile queue up behind it, in order.
    pub fn set_delay(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.shared.delay_micros.store(micros, Ordering::SeqCst);
    }

    /// The next `frames` frames (any connection, any direction) are forwarded only half-way, then their
    /// connection is closed.
    pub fn truncate_next_frames(&self, frames: u64) {
        self.shared
            .truncate_pending
            .fetch_add(frames, Ordering::SeqCst);
    }

    /// While on, connections are accepted and read but nothing is forwarded in either direction.
    pub fn set_blackhole(&self, on: bool) {
        self.shared.blackhole.store(on, Ordering::SeqCst);
    }

    /// Blackholes for `duration`, then forwards again (timed on the proxy's runtime; returns at once).
    pub fn blackhole_for(&self, duration: Duration) {
        self.set_blackhole(true);
        let shared = Arc::clone(&self.shared);
        self.shared.handle.spawn(async move {
            tokio::time::sleep(duration).await;
            shared.blackhole.store(false, Ordering::SeqCst);
        });
    }

    /// Kafka mode: waits until the brokers have answered every request the proxy sent them, e.g. after
    /// `set_blackhole(true)`, so that a broker killed now is killed between requests, not inside one. Panics
    /// after `timeout`.
    pub fn wait_until_upstream_idle(&self, timeout: Duration) {
        assert_eq!(
            self.shared.mode,
            ProxyMode::Kafka,
            "only Kafka mode counts requests"
        );
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let stats = self.stats();
            if stats.requests_awaiting_answer == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "brokers still owe {} answers after {timeout:?}: {stats:?}",
                stats.requests_awaiting_answer
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn is_blackholed(&self) -> bool {
        self.shared.blackhole.load(Ordering::SeqCst)
    }

    /// Turns off every fault (open connections stay open).
    pub fn clear_faults(&self) {
        self.set_drop_policy(DropPolicy::Never);
        self.set_delay(Duration::ZERO);
        self.shared.truncate_pending.store(0, Ordering::SeqCst);
        self.set_blackhole(false);
    }

    pub fn stats(&self) -> ProxyStats {
        self.shared.stats.snapshot()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `PIPEWRIGHT_FAULT_SEED` if set (to replay a run), else the clock. Callers print it.
pub fn seed_from_env_or_clock() -> u64 {
    if let Ok(seed) = std::env::var("PIPEWRIGHT_FAULT_SEED") {
        return seed
            .parse()
            .expect("PIPEWRIGHT_FAULT_SEED must be an unsigned integer");
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_nanos() as u64)
        .unwrap_or(0)
}

#[derive(Default)]
struct Counters {
    connections_accepted: AtomicU64,
    connections_cut: AtomicU64,
    frames_forwarded: AtomicU64,
    bytes_forwarded: AtomicU64,
    frames_blackholed: AtomicU64,
    requests_awaiting_answer: AtomicU64,
    responses_rewritten: AtomicU64,
    rewrite_errors: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> ProxyStats {
        ProxyStats {
            connections_accepted: self.connections_accepted.load(Ordering::Relaxed),
            connections_cut: self.connections_cut.load(Ordering::Relaxed),
            frames_forwarded: self.frames_forwarded.load(Ordering::Relaxed),
            bytes_forwarded: self.bytes_forwarded.load(Ordering::Relaxed),
            frames_blackholed: self.frames_blackholed.load(Ordering::Relaxed),
            requests_awaiting_answer: self.requests_awaiting_answer.load(Ordering::SeqCst),
            responses_rewritten: self.responses_rewritten.load(Ordering::Relaxed),
            rewrite_errors: self.rewrite_errors.load(Ordering::Relaxed),
        }
    }
}

struct Shared {
    mode: ProxyMode,
    handle: Handle,
    /// Upstream "host:port" → our listener for it.
    listeners: Mutex<HashMap<String, SocketAddr>>,
    /// Generation counter; every change closes all open connections.
    kill_tx: watch::Sender<u64>,
    delay_micros: AtomicU64,
    drop_policy: Mutex<DropPolicy>,
    drop_policy_epoch: AtomicU64,
    rng: Mutex<StdRng>,
    truncate_pending: AtomicU64,
    blackhole: AtomicBool,
    stats: Counters,
}

impl Shared {
    /// Our listener for `upstream`, bound on first use.
    fn listener_for(self: &Arc<Self>, upstream: &str) -> io::Result<SocketAddr> {
        let mut listeners = self.listeners.lock().unwrap();
        if let Some(local) = listeners.get(upstream) {
            return Ok(*local);
        }
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let local = std_listener.local_addr()?;
        listeners.insert(upstream.to_string(), local);
        let shared = Arc::clone(self);
        let upstream = upstream.to_string();
        self.handle.spawn(async move {
            let listener = match TcpListener::from_std(std_listener) {
                Ok(listener) => listener,
                Err(err) => {
                    eprintln!("fault proxy: listener for {upstream}: {err}");
                    return;
                }
            };
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                Counters::bump(&shared.stats.connections_accepted);
                tokio::spawn(Arc::clone(&shared).serve(client, upstream.clone()));
            }
        });
        Ok(local)
    }

    fn delay(&self) -> Duration {
        Duration::from_micros(self.delay_micros.load(Ordering::SeqCst))
    }

    fn take_truncation(&self) -> bool {
        self.truncate_pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    async fn serve(self: Arc<Self>, client: TcpStream, upstream: String) {
        let mut kill_rx = self.kill_tx.subscribe();
        let Ok(server) = TcpStream::connect(&upstream).await else {
            eprintln!("fault proxy: cannot connect to upstream {upstream}");
            return;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        let connection = Connection {
            shared: &self,
            budget: Budget::new(),
            in_flight: Mutex::new(HashMap::new()),
            queued_requests: AtomicU64::new(0),
            unanswered_requests: AtomicU64::new(0),
        };
        let cut_on_purpose = tokio::select! {
            end = connection.pump(Direction::Request, &mut client_read, &mut server_write) => end == PumpEnd::Cut,
            end = connection.pump(Direction::Response, &mut server_read, &mut client_write) => end == PumpEnd::Cut,
            _ = kill_rx.changed() => true,
        };
        if cut_on_purpose {
            Counters::bump(&self.stats.connections_cut);
        }
        drop((client_read, client_write));
        connection.forget_queued_requests();
        // The broker works on what it got whether or not the client is still there: read its answers (and drop
        // them), so `requests_awaiting_answer` says when it is done. Our side to the broker stays open meanwhile:
        // Kafka closes a connection at the client's FIN (its Selector reads EOF and closes the channel), and the
        // answers it owes are then never sent.
        while connection.unanswered_requests.load(Ordering::SeqCst) > 0 {
            match tokio::time::timeout(UNANSWERED_DRAIN_TIMEOUT, read_frame(&mut server_read)).await
            {
                Ok(Ok(Some(_))) => connection.answered(),
                _ => break,
            }
        }
        connection.forget_unanswered_requests();
        // Dropping both halves closes the broker's socket.
        drop(server_write);
    }

    /// Rewrites broker addresses in a Metadata or FindCoordinator response to our listeners.
    fn rewrite_response(
        self: &Arc<Self>,
        frame: &Bytes,
        api_key: ApiKey,
        version: i16,
    ) -> Result<Bytes, String> {
        let header_version = api_key.response_header_version(version);
        let mut body = frame.clone();
        let header = ResponseHeader::decode(&mut body, header_version)
            .map_err(|err| format!("decode response header v{header_version}: {err}"))?;
        let mut out = BytesMut::with_capacity(frame.len() + 64);
        header
            .encode(&mut out, header_version)
            .map_err(|err| format!("encode response header v{header_version}: {err}"))?;
        match api_key {
            ApiKey::Metadata => {
                let mut response = MetadataResponse::decode(&mut body, version)
                    .map_err(|err| format!("decode Metadata v{version}: {err}"))?;
                for broker in &mut response.brokers {
                    (broker.host, broker.port) = self.local_address(&broker.host, broker.port)?;
                }
                response
                    .encode(&mut out, version)
                    .map_err(|err| format!("encode Metadata v{version}: {err}"))?;
            }
            ApiKey::FindCoordinator => {
                let mut response = FindCoordinatorResponse::decode(&mut body, version)
                    .map_err(|err| format!("decode FindCoordinator v{version}: {err}"))?;
                if has_address(&response.host, response.port) {
                    (response.host, response.port) =
                        self.local_address(&response.host, response.port)?;
                }
                for coordinator in &mut response.coordinators {
                    if has_address(&coordinator.host, coordinator.port) {
                        (coordinator.host, coordinator.port) =
                            self.local_address(&coordinator.host, coordinator.port)?;
                    }
                }
                response
                    .encode(&mut out, version)
                    .map_err(|err| format!("encode FindCoordinator v{version}: {err}"))?;
            }
            other => return Err(format!("no rewrite for {other:?}")),
        }
        Ok(out.freeze())
    }

    fn local_address(self: &Arc<Self>, host: &str, port: i32) -> Result<(StrBytes, i32), String> {
        let upstream = format!("{host}:{port}");
        let local = self
            .listener_for(&upstream)
            .map_err(|err| format!("listener for {upstream}: {err}"))?;
        Ok((
            StrBytes::from_string(local.ip().to_string()),
            i32::from(local.port()),
        ))
    }
}

/// Coordinator errors come back as node -1 with host "" and port -1: nothing to rewrite then.
fn has_address(host: &str, port: i32) -> bool {
    !host.is_empty() && port >= 0
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Request,
    Response,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PumpEnd {
    /// Peer closed or an I/O error: not our doing.
    Closed,
    /// A fault closed the connection.
    Cut,
}

/// What the writer does with a frame the reader queued.
enum Forward {
    All(Bytes),
    /// Write this prefix of the frame, then close the connection.
    PrefixThenCut(Bytes),
}

/// Per-connection remaining allowance under the current drop policy.
struct Budget {
    epoch: AtomicU64,
    /// u64::MAX = unlimited.
    remaining: AtomicU64,
}

impl Budget {
    fn new() -> Budget {
        Budget {
            epoch: AtomicU64::new(u64::MAX),
            remaining: AtomicU64::new(u64::MAX),
        }
    }
}

struct Connection<'a> {
    shared: &'a Arc<Shared>,
    budget: Budget,
    /// Correlation id → (api key, version) of requests whose responses we rewrite.
    in_flight: Mutex<HashMap<i32, (ApiKey, i16)>>,
    /// Kafka mode: requests queued for the broker, not written yet.
    queued_requests: AtomicU64,
    /// Kafka mode: requests written to the broker, not answered yet.
    unanswered_requests: AtomicU64,
}

impl Connection<'_> {
    fn request_queued(&self) {
        self.queued_requests.fetch_add(1, Ordering::SeqCst);
        self.shared
            .stats
            .requests_awaiting_answer
            .fetch_add(1, Ordering::SeqCst);
    }

    fn request_written(&self) {
        self.queued_requests.fetch_sub(1, Ordering::SeqCst);
        self.unanswered_requests.fetch_add(1, Ordering::SeqCst);
    }

    fn answered(&self) {
        let owed = self
            .unanswered_requests
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if owed.is_ok() {
            self.shared
                .stats
                .requests_awaiting_answer
                .fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The connection is gone: requests never written will never be answered.
    fn forget_queued_requests(&self) {
        let never_sent = self.queued_requests.swap(0, Ordering::SeqCst);
        self.shared
            .stats
            .requests_awaiting_answer
            .fetch_sub(never_sent, Ordering::SeqCst);
    }

    /// The broker closed the connection (or did not answer in time): its answers will not come through us.
    fn forget_unanswered_requests(&self) {
        let unanswered = self.unanswered_requests.swap(0, Ordering::SeqCst);
        self.shared
            .stats
            .requests_awaiting_answer
            .fetch_sub(unanswered, Ordering::SeqCst);
    }
}

impl Connection<'_> {
    /// Reads frames from `from`, queues them with their due time, and writes them to `to` when due.
    async fn pump<R, W>(&self, direction: Direction, from: &mut R, to: &mut W) -> PumpEnd
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let (queue_tx, mut queue_rx) = mpsc::channel::<(Instant, Forward)>(QUEUED_FRAMES);
        let reading = async move {
            loop {
                let frame = match self.shared.mode {
                    ProxyMode::Kafka => read_frame(from).await,
                    ProxyMode::Tcp => read_chunk(from).await,
                };
                let Ok(Some(frame)) = frame else { break };
                let kafka = self.shared.mode == ProxyMode::Kafka;
                if kafka && direction == Direction::Response {
                    self.answered();
                }
                if self.shared.blackhole.load(Ordering::SeqCst) {
                    Counters::bump(&self.shared.stats.frames_blackholed);
                    continue;
                }
                let frame = self.inspect(direction, frame);
                let forward = self.apply_faults(frame);
                let last = matches!(forward, Forward::PrefixThenCut(_));
                // Counted when queued, not when written, so a request about to be written already counts. A
                // request cut half-way is never answered.
                if kafka && direction == Direction::Request && !last {
                    self.request_queued();
                }
                let due = Instant::now() + self.shared.delay();
                if queue_tx.send((due, forward)).await.is_err() || last {
                    break;
                }
            }
            drop(queue_tx);
            // Let the writer drain what was queued; the select in `serve` ends the connection.
            std::future::pending::<()>().await;
        };
        let writing = async {
            while let Some((due, forward)) = queue_rx.recv().await {
                tokio::time::sleep_until(due).await;
                match forward {
                    Forward::All(bytes) => {
                        if to.write_all(&bytes).await.is_err() {
                            return PumpEnd::Closed;
                        }
                        if self.shared.mode == ProxyMode::Kafka && direction == Direction::Request {
                            self.request_written();
                        }
                        Counters::bump(&self.shared.stats.frames_forwarded);
                        self.shared
                            .stats
                            .bytes_forwarded
                            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    }
                    Forward::PrefixThenCut(bytes) => {
                        let _ = to.write_all(&bytes).await;
                        let _ = to.flush().await;
                        return PumpEnd::Cut;
                    }
                }
            }
            PumpEnd::Closed
        };
        tokio::select! {
            _ = reading => PumpEnd::Closed,
            end = writing => end,
        }
    }

    /// Remembers Metadata/FindCoordinator requests; rewrites their responses. `frame` includes the size prefix.
    fn inspect(&self, direction: Direction, frame: Bytes) -> Bytes {
        if self.shared.mode != ProxyMode::Kafka {
            return frame;
        }
        match direction {
            Direction::Request => {
                // Request header v0+ starts with api_key i16, api_version i16, correlation_id i32.
                if frame.len() >= 12 {
                    let api_key = i16::from_be_bytes([frame[4], frame[5]]);
                    let version = i16::from_be_bytes([frame[6], frame[7]]);
                    let correlation_id =
                        i32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]);
                    if let Ok(key @ (ApiKey::Metadata | ApiKey::FindCoordinator)) =
                        ApiKey::try_from(api_key)
                    {
                        self.in_flight
                            .lock()
                            .unwrap()
                            .insert(correlation_id, (key, version));
                    }
                }
                frame
            }
            Direction::Response => {
                if frame.len() < 8 {
                    return frame;
                }
                let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
                let Some((api_key, version)) =
                    self.in_flight.lock().unwrap().remove(&correlation_id)
                else {
                    return frame;
                };
                match self
                    .shared
                    .rewrite_response(&frame.slice(4..), api_key, version)
                {
                    Ok(body) => {
                        Counters::bump(&self.shared.stats.responses_rewritten);
                        let mut out = BytesMut::with_capacity(body.len() + 4);
                        out.put_u32(body.len() as u32);
                        out.put_slice(&body);
                        out.freeze()
                    }
                    Err(err) => {
                        eprintln!("fault proxy: forwarding {api_key:?} v{version} response unchanged: {err}");
                        Counters::bump(&self.shared.stats.rewrite_errors);
                        frame
                    }
                }
            }
        }
    }

    fn apply_faults(&self, frame: Bytes) -> Forward {
        if self.shared.take_truncation() {
            let keep = (frame.len() / 2).max(1);
            return Forward::PrefixThenCut(frame.slice(..keep));
        }
        let policy = self.refresh_budget();
        let cost = match policy {
            DropPolicy::Never => return Forward::All(frame),
            DropPolicy::AfterFrames { .. } => 1,
            DropPolicy::AfterBytes { .. } => frame.len() as u64,
        };
        let remaining = self.budget.remaining.load(Ordering::SeqCst);
        if remaining > cost {
            self.budget
                .remaining
                .store(remaining - cost, Ordering::SeqCst);
            return Forward::All(frame);
        }
        self.budget.remaining.store(0, Ordering::SeqCst);
        match policy {
            DropPolicy::AfterBytes { .. } => {
                Forward::PrefixThenCut(frame.slice(..remaining as usize))
            }
            _ => Forward::PrefixThenCut(frame),
        }
    }

    /// Draws a new budget when the policy changed since this connection last looked.
    fn refresh_budget(&self) -> DropPolicy {
        let policy = *self.shared.drop_policy.lock().unwrap();
        let epoch = self.shared.drop_policy_epoch.load(Ordering::SeqCst);
        if self.budget.epoch.swap(epoch, Ordering::SeqCst) != epoch {
            let remaining = match policy {
                DropPolicy::Never => u64::MAX,
                DropPolicy::AfterFrames { min, max } | DropPolicy::AfterBytes { min, max } => {
                    assert!(
                        1 <= min && min <= max,
                        "drop policy needs 1 <= min <= max: {policy:?}"
                    );
                    self.shared.rng.lock().unwrap().random_range(min..=max)
                }
            };
            self.budget.remaining.store(remaining, Ordering::SeqCst);
        }
        policy
    }
}

/// One Kafka frame including its 4-byte size prefix; Ok(None) on a clean end of stream.
async fn read_frame<R: AsyncRead + Unpin>(from: &mut R) -> io::Result<Option<Bytes>> {
    let mut size_prefix = [0u8; 4];
    match from.read_exact(&mut size_prefix).await {
        Ok(_) => {}
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(err),
    }
    let size = i32::from_be_bytes(size_prefix);
    let size = usize::try_from(size)
        .ok()
        .filter(|size| *size <= MAX_FRAME_BYTES)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("frame size {size} is not Kafka"),
            )
        })?;
    let mut frame = BytesMut::with_capacity(4 + size);
    frame.put_slice(&size_prefix);
    frame.resize(4 + size, 0);
    from.read_exact(&mut frame[4..]).await?;
    Ok(Some(frame.freeze()))
}

async fn read_chunk<R: AsyncRead + Unpin>(from: &mut R) -> io::Result<Option<Bytes>> {
    let mut chunk = BytesMut::with_capacity(TCP_CHUNK_BYTES);
    let read = from.read_buf(&mut chunk).await?;
    Ok((read > 0).then(|| chunk.freeze()))
}
