//! GET requests to a worker's REST API, for `engine status`: one HTTP/1.1 connection per request (hyper's
//! client connection), a timeout on the whole exchange, and a bound on the body read.

use std::time::Duration;

use anyhow::{bail, Context as _};
use axum::body::Body;
use hyper_util::rt::TokioIo;

/// How long one request may take, connect to last byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest response body read (`/metrics` of many tasks is a few MB at most).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Where a worker's REST API is: `host:port` and a path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestUrl {
    pub authority: String,
    pub prefix: String,
}

impl RestUrl {
    /// `http://host:port[/prefix]` or `host:port[/prefix]`; other schemes are refused (workers serve http).
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => {
                bail!("{url}: only http:// REST URLs are served by workers (not {scheme}://)")
            }
            None => url,
        };
        let (authority, prefix) = match rest.find('/') {
            Some(slash) => (&rest[..slash], rest[slash..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            bail!("{url}: no host:port");
        }
        let authority = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Self {
            authority,
            prefix: prefix.to_owned(),
        })
    }
}

/// GETs `path` and returns the body of a 200 answer.
pub async fn get(url: &RestUrl, path: &str) -> anyhow::Result<String> {
    tokio::time::timeout(REQUEST_TIMEOUT, get_unbounded(url, path))
        .await
        .with_context(|| {
            format!(
                "GET http://{}{}{path}: no answer within {REQUEST_TIMEOUT:?}",
                url.authority, url.prefix
            )
        })?
}

async fn get_unbounded(url: &RestUrl, path: &str) -> anyhow::Result<String> {
    let target = format!("http://{}{}{path}", url.authority, url.prefix);
    let stream = tokio::net::TcpStream::connect(&url.authority)
        .await
        .with_context(|| {
            format!("{target}: cannot connect (is the worker running, with its REST API on?)")
        })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .with_context(|| format!("{target}: HTTP handshake"))?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get(format!("{}{path}", url.prefix))
        .header(hyper::header::HOST, &url.authority)
        .body(Body::empty())
        .context("building the request")?;
    let response = sender
        .send_request(request)
        .await
        .with_context(|| format!("GET {target}"))?;
    let status = response.status();
    let body = axum::body::to_bytes(Body::new(response.into_body()), MAX_BODY_BYTES)
        .await
        .with_context(|| {
            format!("GET {target}: reading the body (at most {MAX_BODY_BYTES} bytes)")
        })?;
    driver.abort();
    let body = String::from_utf8_lossy(&body).into_owned();
    if !status.is_success() {
        bail!("GET {target}: {status}: {}", body.trim());
    }
    Ok(body)
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
        assert!(RestUrl::parse("https://worker:8443").is_err());
        assert!(RestUrl::parse("http:///x").is_err());
    }
}
