//! https to the cluster: the rustls client settings of `elastic.security.protocol` and the
//! `elastic.https.ssl.*` keys (PEM files only), and the stream the client speaks HTTP over, plain or TLS.
//! Reads the PEM files when the sink opens; owns no socket of its own.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Where the trust and key material of https come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    /// `elastic.https.ssl.truststore.location`: PEM CA certificates; the system's when `None`.
    pub truststore: Option<PathBuf>,
    /// `elastic.https.ssl.keystore.location`: PEM certificate chain and private key shown to the cluster
    /// (mutual TLS); none when `None`.
    pub keystore: Option<PathBuf>,
}

impl TlsSettings {
    /// The rustls client config, on the ring provider; an error names the key and the file.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.truststore {
            Some(path) => {
                let key = "elastic.https.ssl.truststore.location";
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("{key} `{}`: {e}", path.display()))?;
                if certs.is_empty() {
                    return Err(format!(
                        "{key} `{}` holds no PEM certificate",
                        path.display()
                    ));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| {
                        format!(
                            "{key} `{}`: a certificate rustls refuses: {e}",
                            path.display()
                        )
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(format!(
                        "no CA certificate found on this system ({} errors); set elastic.security.protocol=SSL \
                         and elastic.https.ssl.truststore.location to a PEM file",
                        found.errors.len()
                    ));
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots);
        let config = match &self.keystore {
            Some(path) => {
                let key = "elastic.https.ssl.keystore.location";
                let chain = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("{key} `{}`: {e}", path.display()))?;
                if chain.is_empty() {
                    return Err(format!(
                        "{key} `{}` holds no PEM certificate",
                        path.display()
                    ));
                }
                let private = PrivateKeyDer::from_pem_file(path).map_err(|e| {
                    format!(
                        "{key} `{}`: no unencrypted PEM private key ({e})",
                        path.display()
                    )
                })?;
                builder
                    .with_client_auth_cert(chain, private)
                    .map_err(|e| format!("{key} `{}`: {e}", path.display()))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

/// A connection to one URL: plain for `http://`, TLS for `https://`.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
