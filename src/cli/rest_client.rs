//! Requests to a worker's REST API, for `engine status`: the access the flags give (over TLS for an https URL,
//! the CA given, else the system's roots; a client certificate when given; basic auth or a bearer token when
//! given), a timeout on the whole exchange, and a bound on the body read. The exchange itself is
//! [`crate::admin::rest_client`]'s, which forwarding to a leader uses too.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use axum::body::Body;
use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub use crate::admin::rest_client::RestUrl;
use crate::admin::rest_client::{exchange, ExchangeError};

/// How long one request may take, connect to last byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest response body read (`/metrics` of many tasks is a few MB at most).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

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
        let mut request = hyper::Request::get(path);
        if let Some(authorization) = &self.authorization {
            request = request.header(hyper::header::AUTHORIZATION, authorization);
        }
        let request = request
            .body(Body::empty())
            .context("building the request")?;
        let answer = match exchange(&self.url, self.tls.as_ref(), request, MAX_BODY_BYTES).await {
            Ok(answer) => answer,
            Err(ExchangeError::Connect(e)) => {
                return Err(e).with_context(|| {
                    format!(
                        "{target}: cannot connect (is the worker running, with its REST API on?)"
                    )
                })
            }
            Err(e) => bail!("GET {target}: {e}"),
        };
        let status = answer.head.status;
        let body = String::from_utf8_lossy(&answer.body).into_owned();
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
