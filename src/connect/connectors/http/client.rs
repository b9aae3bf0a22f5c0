//! A minimal HTTP/1.1 client for one POST per connection: enough for a JSON endpoint, nothing more (no TLS,
//! no redirects, no keep-alive).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Responses larger than this are cut: the sink needs the status and the start of an error body only.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Where requests go, parsed from an `http://host[:port][/path]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let url = url.trim();
        let rest = if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
            rest
        } else if strip_prefix_ignore_case(url, "https://").is_some() {
            return Err(format!(
                "`{url}`: https is not supported; use http:// (e.g. through a local TLS-terminating proxy)"
            ));
        } else {
            return Err(format!("`{url}` is not an http:// URL"));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        if authority.contains('@') {
            return Err(format!(
                "`{url}`: credentials in the URL are not supported; send an Authorization header with `headers`"
            ));
        }
        let (host, port) = host_and_port(url, authority, 80)?;
        if path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(format!(
                "`{url}`: the path contains spaces or control characters; percent-encode them"
            ));
        }
        Ok(Endpoint { host, port, path })
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.host_header(), self.path)
    }
}

/// The host and port of an `http://` URL's `authority` (`host`, `host:port`, `[v6]` or `[v6]:port`), with
/// `default_port` when it names none; errors quote `url`.
pub(crate) fn host_and_port(
    url: &str,
    authority: &str,
    default_port: u16,
) -> Result<(String, u16), String> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("`{url}`: unclosed `[` in the host"))?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(format!("`{url}`: unexpected `{after}` after the host")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("`{url}`: `{p}` is not a port number"))?,
    };
    Ok((host.to_owned(), port))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Bytes,
}

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("connection to {endpoint} failed: {source}")]
    Io {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("no response from {endpoint} within {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
    #[error("malformed response from {endpoint}: {reason}")]
    Malformed { endpoint: String, reason: String },
}

/// POSTs `body` with `headers` (already validated `Name`, `Value` pairs) and reads the response.
pub async fn post(
    endpoint: &Endpoint,
    headers: &[(String, String)],
    body: &[u8],
    timeout: Duration,
) -> Result<Response, RequestError> {
    match tokio::time::timeout(timeout, post_inner(endpoint, headers, body)).await {
        Ok(result) => result,
        Err(_) => Err(RequestError::Timeout {
            endpoint: endpoint.to_string(),
            timeout,
        }),
    }
}

async fn post_inner(
    endpoint: &Endpoint,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Response, RequestError> {
    let mut stream = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|source| RequestError::Connect {
            endpoint: endpoint.to_string(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    let io_error = |source| RequestError::Io {
        endpoint: endpoint.to_string(),
        source,
    };
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        endpoint.path,
        endpoint.host_header(),
        body.len()
    );
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
    {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.map_err(io_error)?;
    stream.write_all(body).await.map_err(io_error)?;
    stream.flush().await.map_err(io_error)?;

    let mut response = BytesMut::with_capacity(4096);
    let mut parsed: Option<ResponseHead> = None;
    loop {
        if let Some(ResponseHead {
            body_start,
            content_length: Some(length),
            ..
        }) = parsed
        {
            if response.len() >= body_start + length {
                break;
            }
        }
        if response.len() >= MAX_RESPONSE_BYTES {
            break;
        }
        let n = stream.read_buf(&mut response).await.map_err(io_error)?;
        if n == 0 {
            break;
        }
        if parsed.is_none() {
            parsed = parse_head(&response).map_err(|reason| RequestError::Malformed {
                endpoint: endpoint.to_string(),
                reason,
            })?;
        }
    }
    // One POST per connection: whether the server would keep it open does not matter.
    let Some(ResponseHead {
        status,
        body_start,
        content_length,
        chunked,
        close: _,
    }) = parsed
    else {
        return Err(RequestError::Malformed {
            endpoint: endpoint.to_string(),
            reason: "the connection closed before a complete status line and headers".to_owned(),
        });
    };
    let mut body = response.split_off(body_start.min(response.len())).freeze();
    if let Some(length) = content_length {
        body.truncate(length);
    } else if chunked {
        body = dechunk(&body);
    }
    Ok(Response { status, body })
}

/// What the status line and headers of a response say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResponseHead {
    pub(crate) status: u16,
    /// Offset of the body in the response bytes.
    pub(crate) body_start: usize,
    pub(crate) content_length: Option<usize>,
    pub(crate) chunked: bool,
    /// `Connection: close`, or HTTP/1.0.
    pub(crate) close: bool,
}

/// The head, once it is complete in `buf`.
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<ResponseHead>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("status line `{status_line}` is not HTTP/1.x"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..600).contains(s))
        .ok_or_else(|| format!("status line `{status_line}` has no status code"))?;
    let mut content_length = None;
    let mut chunked = false;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("Content-Length `{value}` is not a number"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    Ok(Some(ResponseHead {
        status,
        body_start: end + 4,
        content_length,
        chunked,
        close,
    }))
}

/// Decodes a chunked body as far as it is well-formed (the body only serves error messages).
fn dechunk(mut raw: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    while let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            break;
        };
        raw = &raw[line_end + 2..];
        if size == 0 {
            break;
        }
        let take = size.min(raw.len());
        out.extend_from_slice(&raw[..take]);
        raw = raw.get(take + 2..).unwrap_or_default();
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_host_port_and_path() {
        let e = Endpoint::parse("http://127.0.0.1:8080/ingest?x=1").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("127.0.0.1", 8080, "/ingest?x=1")
        );
        let e = Endpoint::parse("HTTP://example.com").unwrap();
        assert_eq!((e.port, e.path.as_str()), (80, "/"));
        let e = Endpoint::parse("http://[::1]:9000/a").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 9000));
        assert_eq!(e.to_string(), "http://[::1]:9000/a");
        let e = Endpoint::parse("http://h?q").unwrap();
        assert_eq!(e.path, "/?q");
    }

    #[test]
    fn unsupported_urls_say_why() {
        assert!(Endpoint::parse("https://example.com/")
            .unwrap_err()
            .contains("https is not supported"));
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://:80/").is_err());
        assert!(Endpoint::parse("http://h:99999/").is_err());
        assert!(Endpoint::parse("http://u:p@h/")
            .unwrap_err()
            .contains("Authorization"));
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        assert_eq!(
            &dechunk(b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n")[..],
            b"hello world"
        );
    }

    #[test]
    fn heads_parse() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap(), None);
        assert_eq!(
            parse_head(b"HTTP/1.1 503 Busy\r\ncontent-length: 4\r\n\r\nbusy").unwrap(),
            Some(ResponseHead {
                status: 503,
                body_start: 40,
                content_length: Some(4),
                chunked: false,
                close: false,
            })
        );
        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
    }
}
