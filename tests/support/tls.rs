//! TLS for the tests: certificates made per run with rcgen (a CA, brokers' certificates good, expired, for
//! another host or from an unknown CA, client certificates), written as PEM files; and a TLS-terminating
//! proxy (rustls) in front of a plaintext broker, which can require client certificates (tansu's own TLS
//! cannot) and serve TLS 1.2 only. The broker advertises the proxy, so every connection goes through it.
//! [`TestPki`] is the HTTPS tests' set: a CA, a server keystore for 127.0.0.1 and localhost, a client
//! certificate it signed, and one of a CA no one trusts.
//!
//! Must not: bind anything but 127.0.0.1.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

/// A CA that signs certificates.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM.
#[derive(Clone)]
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names` (DNS names or IP addresses), valid now.
    pub fn issue(&self, names: &[&str]) -> Identity {
        self.issue_with(names, |_| {})
    }

    /// A certificate for `names` that expired in 2021.
    pub fn issue_expired(&self, names: &[&str]) -> Identity {
        self.issue_with(names, |params| {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2021, 1, 1);
        })
    }

    fn issue_with(&self, names: &[&str], adjust: impl FnOnce(&mut CertificateParams)) -> Identity {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("certificate params");
        params
            .distinguished_name
            .push(DnType::CommonName, "pipewright test");
        adjust(&mut params);
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// Writes `text` to `dir/name`; returns the path.
pub fn write_pem(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// How the proxy serves TLS.
pub struct ProxyTls {
    pub identity: Identity,
    /// `Some`: clients must present a certificate signed by this CA (PEM).
    pub client_ca_pem: Option<String>,
    /// Only TLS 1.2 (else 1.2 and 1.3).
    pub tls12_only: bool,
}

/// A TLS-terminating proxy on 127.0.0.1 forwarding to a plaintext broker; stops when dropped.
pub struct TlsProxy {
    port: u16,
    errors: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl TlsProxy {
    /// Binds a port now (so the broker can advertise it), forwarding to `upstream` ("host:port") once
    /// [`TlsProxy::start`] runs.
    pub fn bind() -> (TcpListener, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        (listener, port)
    }

    pub fn start(listener: TcpListener, upstream: String, tls: ProxyTls) -> TlsProxy {
        let port = listener.local_addr().expect("local addr").port();
        let config = Arc::new(server_config(&tls));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let seen = errors.clone();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(serve(listener, upstream, config, seen, stopped));
        });
        TlsProxy {
            port,
            errors,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS failures the proxy saw on accepted connections, in rustls's words.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn server_config(tls: &ProxyTls) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = if tls.tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .expect("protocol versions");
    let builder = match &tls.client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(cert.expect("client CA PEM")).expect("client CA");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(tls.identity.cert_pem.as_bytes())
            .map(|c| c.expect("certificate PEM"))
            .collect();
    let key = PrivateKeyDer::from_pem_slice(tls.identity.key_pem.as_bytes()).expect("key PEM");
    builder
        .with_single_cert(chain, key)
        .expect("server certificate")
}

async fn serve(
    listener: TcpListener,
    upstream: String,
    config: Arc<rustls::ServerConfig>,
    errors: Arc<Mutex<Vec<String>>>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    listener.set_nonblocking(true).expect("nonblocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            loop {
                let (client, _) = tokio::select! {
                    _ = &mut stopped => return,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                };
                let acceptor = acceptor.clone();
                let upstream = upstream.clone();
                let errors = errors.clone();
                tokio::task::spawn_local(async move {
                    let mut tls = match acceptor.accept(client).await {
                        Ok(tls) => tls,
                        Err(e) => {
                            if let Ok(mut errors) = errors.lock() {
                                errors.push(e.to_string());
                            }
                            return;
                        }
                    };
                    let Ok(mut broker) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    if let Err(e) = tokio::io::copy_bidirectional(&mut tls, &mut broker).await {
                        // A client refused after the handshake (TLS 1.3 client certificates) ends here.
                        if let Ok(mut errors) = errors.lock() {
                            errors.push(e.to_string());
                        }
                    }
                });
            }
        })
        .await;
}

/// The PEM files of one test's certificates.
pub struct TestPki {
    /// The CA's certificate: what clients trust, and the worker's truststore.
    pub ca: PathBuf,
    /// The server's certificate chain and key in one file (a PEM keystore).
    pub keystore: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A client certificate and key from a CA the worker does not trust.
    pub stranger_cert: PathBuf,
    pub stranger_key: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("the CA")
}

fn client(name: &str, issuer: &CertifiedIssuer<'static, KeyPair>) -> (String, String) {
    let key = KeyPair::generate().expect("client key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, issuer).expect("client certificate");
    (cert.pem(), key.serialize_pem())
}

impl TestPki {
    pub fn create(dir: &Path) -> TestPki {
        let authority = ca("pipewright test CA");
        let server_key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("server params");
        params.distinguished_name.push(DnType::CommonName, "worker");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = params
            .signed_by(&server_key, &authority)
            .expect("server certificate");
        let (client_cert, client_key) = client("operator", &authority);
        let (stranger_cert, stranger_key) = client("stranger", &ca("someone else's CA"));
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write a PEM file");
            path
        };
        TestPki {
            ca: write("ca.pem", &authority.pem()),
            keystore: write(
                "keystore.pem",
                &format!("{}{}", server.pem(), server_key.serialize_pem()),
            ),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client.key", &client_key),
            stranger_cert: write("stranger.pem", &stranger_cert),
            stranger_key: write("stranger.key", &stranger_key),
        }
    }
}
