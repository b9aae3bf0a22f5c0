//! Requests to a worker's REST API, for `engine status`: one HTTP/1.1 connection per request (hyper's client
//! connection), over TLS for an https URL (the CA given, else the system's roots; a client certificate when
//! given), with basic auth or a bearer token when given, a timeout on the whole exchange, and a bound on the body
//! read.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use axum::body::Body;
use base64::Engine as _;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};

/// How long one request may take, connect to last byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest response body read (`/metrics` of many tasks is a few MB at most).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Where a worker's REST API is: scheme, `host:port` and a path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestUrl {
    pub https: bool,
    /// The host as written (an IPv6 address without brackets), for TLS's server name.
    pub host: String,
    pub authority: String,
    pub prefix: String,
}

impl RestUrl {
    /// `http[s]://host[:port][/prefix]` or `host:port[/prefix]` (http).
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let (https, rest) = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (true, rest),
            Some((scheme, _)) => {
                bail!("{url}: workers serve http:// and https:// REST URLs (not {scheme}://)")
            }
            None => (false, url),
        };
        let (authority, prefix) = match rest.find('/') {
            Some(slash) => (&rest[..slash], rest[slash..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            bail!("{url}: no host:port");
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed
                    .split_once(']')
                    .with_context(|| format!("{url}: no ] after the IPv6 host"))?;
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
                .with_context(|| format!("{url}: bad port {port:?}"))?,
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

    fn target(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{}{path}", self.authority, self.prefix)
    }
}

/// How to reach a worker whose REST API is protected (the flags of `engine status`).
#[derive(Debug, Clone, Default)]
pub struct RestAccess {
    /// PEM file of the CAs that vouch for the worker's certificate; none: the system's roots.
    pub ca_cert: Option<PathBuf>,
    /// PEM certificate chain and key to present when the worker asks for a client certificate.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// `USER:PASSWORD` for basic auth.
    pub basic_auth: Option<String>,
    /// A file holding the bearer token.
    pub bearer_token_file: Option<PathBuf>,
}

/// A worker's REST API, ready for requests.
pub struct RestClient {
    url: RestUrl,
    tls: Option<tokio_rustls::TlsConnector>,
    authorization: Option<String>,
}

fn read_pem(path: &PathBuf, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{what} {}: cannot read", path.display()))
}

fn certificates(path: &PathBuf, what: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let bytes = read_pem(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{what} {}: bad PEM", path.display()))?;
    if certs.is_empty() {
        bail!("{what} {}: no PEM CERTIFICATE block", path.display());
    }
    Ok(certs)
}

impl RestClient {
    pub fn new(url: RestUrl, access: &RestAccess) -> anyhow::Result<Self> {
        let authorization = match (&access.basic_auth, &access.bearer_token_file) {
            (Some(_), Some(_)) => bail!("give basic auth or a bearer token, not both"),
            (Some(user_password), None) => {
                if !user_password.contains(':') {
                    bail!("basic auth: expected USER:PASSWORD");
                }
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(user_password)
                ))
            }
            (None, Some(file)) => {
                let token = std::fs::read_to_string(file).with_context(|| {
                    format!("bearer token file {}: cannot read", file.display())
                })?;
                let token = token.trim();
                if token.is_empty() {
                    bail!("bearer token file {}: empty", file.display());
                }
                Some(format!("Bearer {token}"))
            }
            (None, None) => None,
        };
        let tls = if url.https {
            Some(Self::tls(access)?)
        } else {
            if access.ca_cert.is_some() || access.client_cert.is_some() {
                bail!(
                    "{}: a CA or client certificate is for https:// URLs",
                    url.target("")
                );
            }
            None
        };
        Ok(Self {
            url,
            tls,
            authorization,
        })
    }

    fn tls(access: &RestAccess) -> anyhow::Result<tokio_rustls::TlsConnector> {
        let mut roots = rustls::RootCertStore::empty();
        match &access.ca_cert {
            Some(path) => {
                for cert in certificates(path, "CA certificate")? {
                    roots
                        .add(cert)
                        .with_context(|| format!("CA certificate {}", path.display()))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    bail!(
                        "no CA certificate given and none found on the system: give --ca-cert FILE"
                    );
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS setup")?
            .with_root_certificates(roots);
        let mut config = match (&access.client_cert, &access.client_key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let chain = certificates(cert, "client certificate")?;
                let key_bytes = read_pem(key, "client key")?;
                let key_der = PrivateKeyDer::from_pem_slice(&key_bytes).with_context(|| {
                    format!("client key {}: no usable PEM private key", key.display())
                })?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .context("the client certificate and key")?
            }
            _ => bail!("a client certificate needs its key, and a key its certificate"),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }

    /// GETs `path` and returns the body of a 200 answer.
    pub async fn get(&self, path: &str) -> anyhow::Result<String> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.get_unbounded(path))
            .await
            .with_context(|| {
                format!(
                    "GET {}: no answer within {REQUEST_TIMEOUT:?}",
                    self.url.target(path)
                )
            })?
    }

    async fn get_unbounded(&self, path: &str) -> anyhow::Result<String> {
        let target = self.url.target(path);
        let stream = tokio::net::TcpStream::connect(&self.url.authority)
            .await
            .with_context(|| {
                format!("{target}: cannot connect (is the worker running, with its REST API on?)")
            })?;
        match &self.tls {
            None => self.exchange(stream, path, &target).await,
            Some(connector) => {
                let name = ServerName::try_from(self.url.host.clone()).with_context(|| {
                    format!("{target}: {:?} is no TLS server name", self.url.host)
                })?;
                let stream = connector
                    .connect(name, stream)
                    .await
                    .with_context(|| format!("{target}: TLS handshake"))?;
                self.exchange(stream, path, &target).await
            }
        }
    }

    async fn exchange<S>(&self, stream: S, path: &str, target: &str) -> anyhow::Result<String>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .with_context(|| format!("{target}: HTTP handshake"))?;
        let driver = tokio::spawn(connection);
        let mut request = hyper::Request::get(format!("{}{path}", self.url.prefix))
            .header(hyper::header::HOST, &self.url.authority);
        if let Some(authorization) = &self.authorization {
            request = request.header(hyper::header::AUTHORIZATION, authorization);
        }
        let request = request
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
        if status == hyper::StatusCode::UNAUTHORIZED {
            bail!(
                "GET {target}: 401 Unauthorized: {} (give --basic-auth USER:PASSWORD or --bearer-token-file FILE)",
                body.trim()
            );
        }
        if !status.is_success() {
            bail!("GET {target}: {status}: {}", body.trim());
        }
        Ok(body)
    }
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
    }
}
