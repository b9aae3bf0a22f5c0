//! I/O backends: how a connection to a broker is opened. The rest of the runtime sees only this trait.
//!
//! Today: plain tokio (epoll) sockets, tuned with socket2. The io_uring backend of the engine plugs in here.

use std::future::Future;
use std::io;
use std::time::Duration;

use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Opens byte streams to brokers.
pub trait IoBackend: Clone + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + 'static;

    /// Connects to `address` (`host:port`) within `timeout`.
    fn connect(
        &self,
        address: &str,
        timeout: Duration,
    ) -> impl Future<Output = io::Result<Self::Stream>>;

    /// A short name for logs (`epoll`, `uring`).
    fn name(&self) -> &'static str;
}

/// Tokio's portable reactor (epoll on Linux).
#[derive(Debug, Clone, Default)]
pub struct TokioBackend {
    /// SO_SNDBUF / SO_RCVBUF; `None` keeps the kernel's autotuning.
    pub socket_buffer_bytes: Option<usize>,
}

impl IoBackend for TokioBackend {
    type Stream = TcpStream;

    async fn connect(&self, address: &str, timeout: Duration) -> io::Result<TcpStream> {
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
        if let Some(bytes) = self.socket_buffer_bytes {
            socket.set_send_buffer_size(bytes)?;
            socket.set_recv_buffer_size(bytes)?;
        }
        Ok(stream)
    }

    fn name(&self) -> &'static str {
        "epoll"
    }
}
