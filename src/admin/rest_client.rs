//! One request to another worker's REST API: a fresh HTTP/1.1 connection per request (hyper's client
//! connection), over TLS for an https URL, the response body read up to a bound. Used to forward a request to
//! the leader and by `engine status`.
//!
//! Must not: retry (the caller decides), follow redirects, or wait without a bound (callers put a timeout around
//! [`exchange`]; a body larger than its bound is an error, not an allocation).

use axum::body::{Body, Bytes};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};

/// Where a worker's REST API is: scheme, `host:port` and a path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestUrl {
    pub https: bool,
    /// The host as written (an IPv6 address without brackets), for TLS's server name.
    pub host: String,
    pub authority: String,
    pub prefix: String,
}

/// A REST URL that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url}: {problem}")]
pub struct BadRestUrl {
    pub url: String,
    pub problem: String,
}

impl RestUrl {
    /// `http[s]://host[:port][/prefix]` or `host:port[/prefix]` (http).
    pub fn parse(url: &str) -> Result<Self, BadRestUrl> {
        let bad = |problem: String| BadRestUrl {
            url: url.to_owned(),
            problem,
        };
        let (https, rest) = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (true, rest),
            Some((scheme, _)) => {
                return Err(bad(format!(
                    "workers serve http:// and https:// REST URLs (not {scheme}://)"
                )))
            }
            None => (false, url),
        };
        let (authority, prefix) = match rest.find('/') {
            Some(slash) => (&rest[..slash], rest[slash..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(bad("no host:port".to_owned()));
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed
                    .split_once(']')
                    .ok_or_else(|| bad("no ] after the IPv6 host".to_owned()))?;
                (host, after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let port: u16 = match port {
            Some(port) => port
                .parse()
                .map_err(|_| bad(format!("bad port {port:?}")))?,
            None if https => 443,
            None => 80,
        };
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(Self {
            https,
            host: host.to_owned(),
            authority,
            prefix: prefix.to_owned(),
        })
    }

    /// The absolute URL of `path_and_query` (which starts with `/`) under this one, for messages.
    pub fn target(&self, path_and_query: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!(
            "{scheme}://{}{}{path_and_query}",
            self.authority, self.prefix
        )
    }
}

/// Why an exchange got no complete answer.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("{0:?} is no request target (the URL's path prefix?)")]
    Target(String),
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("an https URL, and this worker has no TLS settings to reach it with (give it an https listener and its ssl.* keys, as the other workers have)")]
    NoTls,
    #[error("{0:?} is no TLS server name")]
    ServerName(String),
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("reading the body (at most {max_bytes} bytes): {cause}")]
    Body { max_bytes: usize, cause: String },
}

/// A complete answer.
#[derive(Debug)]
pub struct Answer {
    pub head: axum::http::response::Parts,
    pub body: Bytes,
}

/// Sends `request` to `url` and reads the answer, at most `max_body_bytes` of body. `request`'s URI is the path
/// and query under `url`'s prefix (the prefix is put in front here), and `Host` is set to `url`'s authority;
/// `tls` is what an https URL is reached with.
pub async fn exchange(
    url: &RestUrl,
    tls: Option<&tokio_rustls::TlsConnector>,
    mut request: hyper::Request<Body>,
    max_body_bytes: usize,
) -> Result<Answer, ExchangeError> {
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let uri = format!("{}{path_and_query}", url.prefix);
    *request.uri_mut() = uri
        .parse()
        .map_err(|_| ExchangeError::Target(uri.clone()))?;
    if let Ok(host) = hyper::header::HeaderValue::from_str(&url.authority) {
        request.headers_mut().insert(hyper::header::HOST, host);
    }
    let stream = tokio::net::TcpStream::connect(&url.authority)
        .await
        .map_err(ExchangeError::Connect)?;
    let _ = stream.set_nodelay(true);
    if !url.https {
        return send_on(stream, request, max_body_bytes).await;
    }
    let connector = tls.ok_or(ExchangeError::NoTls)?;
    let name = ServerName::try_from(url.host.clone())
        .map_err(|_| ExchangeError::ServerName(url.host.clone()))?;
    let stream = connector
        .connect(name, stream)
        .await
        .map_err(ExchangeError::Tls)?;
    send_on(stream, request, max_body_bytes).await
}

async fn send_on<S>(
    stream: S,
    request: hyper::Request<Body>,
    max_body_bytes: usize,
) -> Result<Answer, ExchangeError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let answer = async {
        let response = sender.send_request(request).await?;
        let (head, body) = response.into_parts();
        let body = axum::body::to_bytes(Body::new(body), max_body_bytes)
            .await
            .map_err(|e| ExchangeError::Body {
                max_bytes: max_body_bytes,
                cause: e.to_string(),
            })?;
        Ok(Answer { head, body })
    }
    .await;
    // One request per connection: whatever the driver still holds is dropped with it.
    driver.abort();
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_take_a_scheme_a_port_and_a_prefix() {
        let url = RestUrl::parse("http://127.0.0.1:8083/").unwrap();
        assert_eq!(
            (url.authority.as_str(), url.prefix.as_str()),
            ("127.0.0.1:8083", "")
        );
        let url = RestUrl::parse("worker:9000/connect").unwrap();
        assert_eq!(
            (url.authority.as_str(), url.prefix.as_str()),
            ("worker:9000", "/connect")
        );
        assert_eq!(
            RestUrl::parse("http://worker").unwrap().authority,
            "worker:80"
        );
        let url = RestUrl::parse("https://worker:8443/").unwrap();
        assert!(url.https);
        assert_eq!(
            (url.host.as_str(), url.authority.as_str()),
            ("worker", "worker:8443")
        );
        assert_eq!(
            RestUrl::parse("HTTPS://worker").unwrap().authority,
            "worker:443"
        );
        assert_eq!(
            RestUrl::parse("http://[::1]:8083").unwrap().authority,
            "[::1]:8083"
        );
        assert!(RestUrl::parse("ftp://worker:21").is_err());
        assert!(RestUrl::parse("http:///x").is_err());
        assert_eq!(
            RestUrl::parse("worker:9000/connect")
                .unwrap()
                .target("/connectors?forward=true"),
            "http://worker:9000/connect/connectors?forward=true"
        );
    }
}
