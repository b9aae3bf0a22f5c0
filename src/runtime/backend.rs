//! I/O backends: how bytes move to and from a broker. The rest of the runtime sees only these traits.
//!
//! Reads and writes take and give back owned buffers (the io_uring model: the kernel owns a buffer while an
//! operation is in flight), which the epoll backend serves just as well. Two backends:
//! - [`TokioBackend`]: tokio's reactor (epoll), portable, the fallback.
//! - [`UringBackend`] (Linux): reads and writes submitted to io_uring through tokio-uring; must run inside a
//!   `tokio_uring` runtime.
//!
//! Both connect the same way (tokio, with a timeout) and set TCP_NODELAY through socket2.

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::BytesMut;
use socket2::SockRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// The read side of a broker connection.
pub trait BrokerRead: 'static {
    /// Appends what arrives to `buf` (into its spare capacity) and gives the buffer back; 0 bytes = closed.
    fn read_into(&mut self, buf: BytesMut) -> impl Future<Output = (io::Result<usize>, BytesMut)>;
}

/// The write side of a broker connection.
pub trait BrokerWrite: 'static {
    /// Writes all of `buf` and gives the buffer back for reuse.
    fn write_all_from(&mut self, buf: BytesMut)
        -> impl Future<Output = (io::Result<()>, BytesMut)>;

    /// Ends the stream in order before the connection is dropped: TLS sends its close_notify. A plain socket
    /// needs nothing (closing it is the end).
    fn close(&mut self) -> impl Future<Output = ()> {
        std::future::ready(())
    }
}

/// Opens connections to brokers.
pub trait IoBackend: Clone + 'static {
    type Reader: BrokerRead;
    type Writer: BrokerWrite;

    /// Connects to `address` (`host:port`) within `timeout`.
    fn connect(
        &self,
        address: &str,
        timeout: Duration,
    ) -> impl Future<Output = io::Result<(Self::Reader, Self::Writer)>>;

    /// A short name for logs (`epoll`, `uring`).
    fn name(&self) -> &'static str;
}

/// Resolves and connects with a timeout, then tunes the socket.
async fn connect_tcp(
    address: &str,
    timeout: Duration,
    socket_buffer_bytes: Option<usize>,
) -> io::Result<TcpStream> {
    let connect = async {
        let mut last_error = io::Error::new(
            io::ErrorKind::NotFound,
            format!("{address} resolved to no address"),
        );
        for addr in tokio::net::lookup_host(address).await? {
            match TcpStream::connect(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    };
    let stream = tokio::time::timeout(timeout, connect).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connect timed out after {timeout:?}"),
        )
    })??;
    let socket = SockRef::from(&stream);
    // Requests are written whole; Nagle would only add latency to small produce and fetch requests.
    socket.set_nodelay(true)?;
    if let Some(bytes) = socket_buffer_bytes {
        socket.set_send_buffer_size(bytes)?;
        socket.set_recv_buffer_size(bytes)?;
    }
    Ok(stream)
}

/// Tokio's portable reactor (epoll on Linux).
#[derive(Debug, Clone, Default)]
pub struct TokioBackend {
    /// SO_SNDBUF / SO_RCVBUF; `None` keeps the kernel's autotuning.
    pub socket_buffer_bytes: Option<usize>,
}

impl BrokerRead for OwnedReadHalf {
    async fn read_into(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        let result = self.read_buf(&mut buf).await;
        (result, buf)
    }
}

impl BrokerWrite for OwnedWriteHalf {
    async fn write_all_from(&mut self, buf: BytesMut) -> (io::Result<()>, BytesMut) {
        let result = self.write_all(&buf).await;
        (result, buf)
    }
}

impl IoBackend for TokioBackend {
    type Reader = OwnedReadHalf;
    type Writer = OwnedWriteHalf;

    async fn connect(
        &self,
        address: &str,
        timeout: Duration,
    ) -> io::Result<(OwnedReadHalf, OwnedWriteHalf)> {
        Ok(connect_tcp(address, timeout, self.socket_buffer_bytes)
            .await?
            .into_split())
    }

    fn name(&self) -> &'static str {
        "epoll"
    }
}

#[cfg(target_os = "linux")]
pub use uring::{uring_available, UringBackend};

#[cfg(target_os = "linux")]
mod uring {
    use std::rc::Rc;

    use tokio_uring::buf::BoundedBuf;

    use super::*;

    /// io_uring through tokio-uring. Only usable inside `tokio_uring::start`.
    #[derive(Debug, Clone, Default)]
    pub struct UringBackend {
        pub socket_buffer_bytes: Option<usize>,
    }

    /// One io_uring socket shared by the read and write sides (its operations take `&self`).
    pub struct UringStream(Rc<tokio_uring::net::TcpStream>);

    impl BrokerRead for UringStream {
        async fn read_into(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
            if buf.capacity() == buf.len() {
                buf.reserve(8 * 1024);
            }
            let start = buf.len();
            // Read into the spare capacity only: the slice starts where the data ends.
            let (result, slice) = self.0.read(buf.slice(start..)).await;
            (result, slice.into_inner())
        }
    }

    impl BrokerWrite for UringStream {
        async fn write_all_from(&mut self, buf: BytesMut) -> (io::Result<()>, BytesMut) {
            let (result, buf) = self.0.write_all(buf).await;
            (result, buf)
        }
    }

    impl IoBackend for UringBackend {
        type Reader = UringStream;
        type Writer = UringStream;

        async fn connect(
            &self,
            address: &str,
            timeout: Duration,
        ) -> io::Result<(UringStream, UringStream)> {
            // Connect through tokio (resolution, timeout), then hand the socket to io_uring.
            let stream = connect_tcp(address, timeout, self.socket_buffer_bytes)
                .await?
                .into_std()?;
            stream.set_nonblocking(false)?;
            let stream = Rc::new(tokio_uring::net::TcpStream::from_std(stream));
            Ok((UringStream(stream.clone()), UringStream(stream)))
        }

        fn name(&self) -> &'static str {
            "uring"
        }
    }

    /// Whether this kernel (and any seccomp policy around us) lets us create an io_uring.
    pub fn uring_available() -> bool {
        io_uring::IoUring::new(8).is_ok()
    }
}

/// Which backend to run: `--io auto|uring|epoll`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoChoice {
    /// io_uring where the kernel allows it, epoll otherwise.
    #[default]
    Auto,
    Uring,
    Epoll,
}

impl std::str::FromStr for IoChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(IoChoice::Auto),
            "uring" | "io_uring" => Ok(IoChoice::Uring),
            "epoll" | "tokio" => Ok(IoChoice::Epoll),
            other => Err(format!("--io takes auto, uring or epoll, not `{other}`")),
        }
    }
}

/// The backend chosen at start: one enum, so state machines and drivers stay non-generic.
#[derive(Debug, Clone)]
pub enum AnyBackend {
    Tokio(TokioBackend),
    #[cfg(target_os = "linux")]
    Uring(UringBackend),
}

pub enum AnyReader {
    Tokio(OwnedReadHalf),
    #[cfg(target_os = "linux")]
    Uring(uring::UringStream),
}

pub enum AnyWriter {
    Tokio(OwnedWriteHalf),
    #[cfg(target_os = "linux")]
    Uring(uring::UringStream),
}

impl BrokerRead for AnyReader {
    async fn read_into(&mut self, buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        match self {
            AnyReader::Tokio(r) => r.read_into(buf).await,
            #[cfg(target_os = "linux")]
            AnyReader::Uring(r) => r.read_into(buf).await,
        }
    }
}

impl BrokerWrite for AnyWriter {
    async fn write_all_from(&mut self, buf: BytesMut) -> (io::Result<()>, BytesMut) {
        match self {
            AnyWriter::Tokio(w) => w.write_all_from(buf).await,
            #[cfg(target_os = "linux")]
            AnyWriter::Uring(w) => w.write_all_from(buf).await,
        }
    }
}

impl IoBackend for AnyBackend {
    type Reader = AnyReader;
    type Writer = AnyWriter;

    async fn connect(
        &self,
        address: &str,
        timeout: Duration,
    ) -> io::Result<(AnyReader, AnyWriter)> {
        match self {
            AnyBackend::Tokio(b) => b
                .connect(address, timeout)
                .await
                .map(|(r, w)| (AnyReader::Tokio(r), AnyWriter::Tokio(w))),
            #[cfg(target_os = "linux")]
            AnyBackend::Uring(b) => b
                .connect(address, timeout)
                .await
                .map(|(r, w)| (AnyReader::Uring(r), AnyWriter::Uring(w))),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            AnyBackend::Tokio(b) => b.name(),
            #[cfg(target_os = "linux")]
            AnyBackend::Uring(b) => b.name(),
        }
    }
}

impl AnyBackend {
    /// Resolves `--io`: `auto` picks io_uring when the kernel allows it. Fails if `uring` was asked for and
    /// cannot be had.
    pub fn choose(choice: IoChoice) -> Result<Self, String> {
        #[cfg(target_os = "linux")]
        {
            match choice {
                IoChoice::Epoll => Ok(AnyBackend::Tokio(TokioBackend::default())),
                IoChoice::Uring if uring_available() => Ok(AnyBackend::Uring(UringBackend::default())),
                IoChoice::Uring => Err("--io uring: this kernel (or a seccomp policy) does not allow io_uring; use --io epoll".into()),
                IoChoice::Auto if uring_available() => Ok(AnyBackend::Uring(UringBackend::default())),
                IoChoice::Auto => Ok(AnyBackend::Tokio(TokioBackend::default())),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            match choice {
                IoChoice::Uring => Err("--io uring is only available on Linux".into()),
                _ => Ok(AnyBackend::Tokio(TokioBackend::default())),
            }
        }
    }

    /// Runs `future` to completion on a single-threaded executor suited to this backend (with a `LocalSet`, so
    /// `spawn_local` works).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> io::Result<F::Output> {
        CURRENT_BACKEND.with(|b| *b.borrow_mut() = Some(self.clone()));
        match self {
            AnyBackend::Tokio(_) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                Ok(tokio::task::LocalSet::new().block_on(&runtime, future))
            }
            #[cfg(target_os = "linux")]
            AnyBackend::Uring(_) => Ok(tokio_uring::start(future)),
        }
    }
}

/// Runs the future `make` builds to completion on a thread of its own, on the epoll backend's executor (so the
/// async client handles work there): for a short piece of Kafka work asked for from another runtime (the control
/// thread's REST API), which must not wait for a broker. Its output arrives on the returned channel.
pub fn spawn_on_own_thread<T, Fut, F>(
    name: &str,
    make: F,
) -> io::Result<tokio::sync::oneshot::Receiver<io::Result<T>>>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let (reply, answer) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let _ = reply.send(AnyBackend::Tokio(TokioBackend::default()).block_on(make()));
        })?;
    Ok(answer)
}

thread_local! {
    /// The backend of the executor running on this thread, set by [`AnyBackend::block_on`]: in thread-per-core
    /// mode each core's thread has its own.
    static CURRENT_BACKEND: std::cell::RefCell<Option<AnyBackend>> = const { std::cell::RefCell::new(None) };
}

/// The backend of this thread's executor (epoll when none was chosen).
pub fn current_backend() -> AnyBackend {
    CURRENT_BACKEND
        .with(|b| b.borrow().clone())
        .unwrap_or(AnyBackend::Tokio(TokioBackend::default()))
}
