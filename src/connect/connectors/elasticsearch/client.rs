//! A small HTTP/1.1 client for the sink's requests to one cluster: keeps connections open between requests
//! (one idle pool per URL), bounds connect and response times separately (a TLS handshake counts as
//! connecting), and reads whole bodies up to a cap. Single-threaded: the pool is a `RefCell` borrowed only
//! between awaits.

use super::tls::Stream;
use crate::connect::connectors::http::client::parse_head;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A bulk reply holds one small object per item; this bounds memory against a broken or hostile server.
const MAX_RESPONSE_BYTES: usize = 64 << 20;
/// Idle connections kept per URL (more than max.in.flight.requests are closed after use).
const MAX_IDLE_PER_URL: usize = 16;

/// One `http[s]://host[:port][/prefix]` base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://`: spoken over TLS.
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// The path prefix without a trailing `/` (empty for the root).
    pub prefix: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let url = url.trim();
        let (tls, rest) = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (true, rest),
            _ => return Err(format!("`{url}` is not an http:// or https:// URL")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(format!(
                "`{url}`: credentials in the URL are not supported; set connection.username and connection.password"
            ));
        }
        if path.contains(['?', '#'])
            || path
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(format!(
                "`{url}`: the path must be a plain prefix (no query, spaces or control characters)"
            ));
        }
        let (host, port) = crate::connect::connectors::http::host_and_port(url, authority, 9200)?;
        Ok(Endpoint {
            tls,
            host,
            port,
            prefix: path.trim_end_matches('/').to_owned(),
        })
    }

    fn host_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.host_header(), self.prefix)
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Bytes,
}

/// Why a request got no response; each names the URL.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("cannot connect to {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("connection to {endpoint} failed: {source}")]
    Io {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("no response from {endpoint} within {timeout:?} (read.timeout.ms)")]
    Timeout { endpoint: String, timeout: Duration },
    #[error("malformed response from {endpoint}: {reason}")]
    Malformed { endpoint: String, reason: String },
}

/// The cluster's URLs, with their idle connections.
pub struct ClusterClient {
    endpoints: Vec<Endpoint>,
    authorization: Option<String>,
    connect_timeout: Duration,
    read_timeout: Duration,
    /// For the `https://` URLs.
    tls: Option<tokio_rustls::TlsConnector>,
    idle: RefCell<Vec<Vec<Stream>>>,
}

impl ClusterClient {
    pub fn new(
        endpoints: Vec<Endpoint>,
        authorization: Option<String>,
        connect_timeout: Duration,
        read_timeout: Duration,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Self {
        let idle = RefCell::new(endpoints.iter().map(|_| Vec::new()).collect());
        Self {
            endpoints,
            authorization,
            connect_timeout,
            read_timeout,
            tls: tls.map(tokio_rustls::TlsConnector::from),
            idle,
        }
    }

    pub fn endpoint_count(&self) -> usize {
        self.endpoints.len()
    }

    pub fn endpoint(&self, index: usize) -> &Endpoint {
        &self.endpoints[index % self.endpoints.len()]
    }

    /// Sends `method path` to URL `index` (modulo their count) and reads the whole response. A kept-open
    /// connection the server closed meanwhile is replaced once, transparently.
    pub async fn request(
        &self,
        index: usize,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Response, RequestError> {
        let index = index % self.endpoints.len();
        let endpoint = &self.endpoints[index];
        let pooled = self.idle.borrow_mut()[index].pop();
        if let Some(stream) = pooled {
            match self
                .exchange(stream, endpoint, method, path, content_type, body)
                .await
            {
                Ok((response, reusable)) => return Ok(self.keep(index, response, reusable)),
                // Nothing was read: the server closed the idle connection; a fresh one is tried below.
                Err(Exchange::BeforeResponse(_)) => {}
                Err(Exchange::Failed(e)) => return Err(e),
            }
        }
        let stream = self.connect(endpoint).await?;
        match self
            .exchange(stream, endpoint, method, path, content_type, body)
            .await
        {
            Ok((response, reusable)) => Ok(self.keep(index, response, reusable)),
            Err(Exchange::BeforeResponse(e) | Exchange::Failed(e)) => Err(e),
        }
    }

    fn keep(&self, index: usize, response: (Response, Stream), reusable: bool) -> Response {
        let (response, stream) = response;
        if reusable {
            let mut idle = self.idle.borrow_mut();
            if idle[index].len() < MAX_IDLE_PER_URL {
                idle[index].push(stream);
            }
        }
        response
    }

    async fn connect(&self, endpoint: &Endpoint) -> Result<Stream, RequestError> {
        let failed = |reason: String| RequestError::Connect {
            endpoint: endpoint.to_string(),
            reason,
        };
        let connecting = async {
            let stream = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
                .await
                .map_err(|e| failed(e.to_string()))?;
            let _ = stream.set_nodelay(true);
            if !endpoint.tls {
                return Ok(Stream::Plain(stream));
            }
            let Some(connector) = &self.tls else {
                return Err(failed("an https URL without TLS settings".into()));
            };
            let name = rustls::pki_types::ServerName::try_from(endpoint.host.clone())
                .map_err(|e| failed(format!("`{}` is no TLS server name: {e}", endpoint.host)))?;
            connector
                .connect(name, stream)
                .await
                .map(|tls| Stream::Tls(Box::new(tls)))
                .map_err(|e| failed(format!("TLS handshake: {e}")))
        };
        match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(result) => result,
            Err(_) => Err(RequestError::Connect {
                endpoint: endpoint.to_string(),
                reason: format!(
                    "no connection within {:?} (connection.timeout.ms)",
                    self.connect_timeout
                ),
            }),
        }
    }

    async fn exchange(
        &self,
        mut stream: Stream,
        endpoint: &Endpoint,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<((Response, Stream), bool), Exchange> {
        let io = |source| RequestError::Io {
            endpoint: endpoint.to_string(),
            source,
        };
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nContent-Type: {content_type}\r\n\
             Accept: application/json\r\n",
            endpoint.prefix,
            endpoint.host_header(),
            body.len()
        );
        if let Some(authorization) = &self.authorization {
            head.push_str("Authorization: ");
            head.push_str(authorization);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let sent = async {
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body).await?;
            stream.flush().await
        };
        if let Err(e) = sent.await {
            return Err(Exchange::BeforeResponse(io(e)));
        }
        let timeout = self.read_timeout;
        let read = read_response(&mut stream, endpoint, method == "HEAD");
        match tokio::time::timeout(timeout, read).await {
            Ok(Ok((response, reusable))) => Ok(((response, stream), reusable)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Exchange::Failed(RequestError::Timeout {
                endpoint: endpoint.to_string(),
                timeout,
            })),
        }
    }
}

/// How an exchange failed: before any response byte (a reused connection may simply have been closed), or later.
enum Exchange {
    BeforeResponse(RequestError),
    Failed(RequestError),
}

async fn read_response(
    stream: &mut Stream,
    endpoint: &Endpoint,
    no_body: bool,
) -> Result<(Response, bool), Exchange> {
    let malformed = |reason: String| {
        Exchange::Failed(RequestError::Malformed {
            endpoint: endpoint.to_string(),
            reason,
        })
    };
    let mut buf = BytesMut::with_capacity(8192);
    let head = loop {
        let n = match stream.read_buf(&mut buf).await {
            Ok(n) => n,
            Err(source) if buf.is_empty() => {
                return Err(Exchange::BeforeResponse(RequestError::Io {
                    endpoint: endpoint.to_string(),
                    source,
                }))
            }
            Err(source) => {
                return Err(Exchange::Failed(RequestError::Io {
                    endpoint: endpoint.to_string(),
                    source,
                }))
            }
        };
        if let Some(head) = parse_head(&buf).map_err(malformed)? {
            break head;
        }
        if n == 0 {
            let e = RequestError::Malformed {
                endpoint: endpoint.to_string(),
                reason: "the connection closed before a complete status line and headers".into(),
            };
            return Err(if buf.is_empty() {
                Exchange::BeforeResponse(e)
            } else {
                Exchange::Failed(e)
            });
        }
        if buf.len() > MAX_RESPONSE_BYTES {
            return Err(malformed("the response head is too large".into()));
        }
    };
    let mut body = buf.split_off(head.body_start);
    let io = |source| {
        Exchange::Failed(RequestError::Io {
            endpoint: endpoint.to_string(),
            source,
        })
    };
    let reusable;
    if no_body || head.status == 204 || head.status == 304 {
        reusable = !head.close;
        body.clear();
    } else if let Some(length) = head.content_length {
        if length > MAX_RESPONSE_BYTES {
            return Err(malformed(format!(
                "a {length}-byte body is larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        while body.len() < length {
            if stream.read_buf(&mut body).await.map_err(io)? == 0 {
                return Err(malformed("the connection closed inside the body".into()));
            }
        }
        body.truncate(length);
        reusable = !head.close;
    } else if head.chunked {
        let decoded = loop {
            if let Some(decoded) = dechunk(&body).map_err(malformed)? {
                break decoded;
            }
            if body.len() > MAX_RESPONSE_BYTES {
                return Err(malformed("the chunked body is too large".into()));
            }
            if stream.read_buf(&mut body).await.map_err(io)? == 0 {
                return Err(malformed(
                    "the connection closed inside the chunked body".into(),
                ));
            }
        };
        body = decoded;
        reusable = !head.close;
    } else {
        // Delimited by the end of the connection.
        while stream.read_buf(&mut body).await.map_err(io)? != 0 {
            if body.len() > MAX_RESPONSE_BYTES {
                return Err(malformed("the body is too large".into()));
            }
        }
        reusable = false;
    }
    Ok((
        Response {
            status: head.status,
            body: body.freeze(),
        },
        reusable,
    ))
}

/// The decoded body once `raw` holds the whole chunked body (through the last chunk and its trailer).
fn dechunk(mut raw: &[u8]) -> Result<Option<BytesMut>, String> {
    let mut out = BytesMut::new();
    loop {
        let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("chunk size `{size_hex}` is not hexadecimal"))?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            // Trailer fields end with an empty line.
            return Ok(raw.windows(2).position(|w| w == b"\r\n").map(|_| out));
        }
        if raw.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_elasticsearchs_default_port_and_a_prefix() {
        let e = Endpoint::parse("http://es1").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.prefix.as_str()),
            ("es1", 9200, "")
        );
        let e = Endpoint::parse("HTTP://127.0.0.1:9201/search/").unwrap();
        assert_eq!((e.port, e.prefix.as_str()), (9201, "/search"));
        assert_eq!(e.to_string(), "http://127.0.0.1:9201/search");
        let e = Endpoint::parse("http://[::1]:9200").unwrap();
        assert_eq!(e.host, "::1");
        let e = Endpoint::parse("https://es.example").unwrap();
        assert!(e.tls && e.port == 9200, "{e:?}");
        assert_eq!(e.to_string(), "https://es.example:9200");
        assert!(Endpoint::parse("ftp://es")
            .unwrap_err()
            .contains("https://"));
        assert!(Endpoint::parse("http://u:p@es")
            .unwrap_err()
            .contains("connection.username"));
        assert!(Endpoint::parse("es:9200").is_err());
        assert!(Endpoint::parse("http://es/?q").is_err());
    }

    #[test]
    fn chunked_bodies_are_complete_only_after_the_last_chunk() {
        let whole = b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n";
        assert_eq!(&dechunk(whole).unwrap().unwrap()[..], b"hello world");
        assert_eq!(dechunk(&whole[..20]).unwrap(), None);
        assert!(dechunk(b"zz\r\n").is_err());
    }

    #[test]
    fn heads_say_whether_the_connection_stays_open() {
        let head = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
            .unwrap()
            .unwrap();
        assert_eq!(
            (head.status, head.content_length, head.close),
            (200, Some(2), false)
        );
        let head = parse_head(b"HTTP/1.1 429 Too Many\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(head.close);
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap(), None);
        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
    }
}
