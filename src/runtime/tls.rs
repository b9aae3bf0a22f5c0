//! TLS to brokers over any I/O backend (epoll or io_uring): rustls's sans-IO `ClientConnection`, fed the
//! ciphertext the backend reads and drained of the ciphertext the backend writes, with the same owned-buffer
//! reads and writes as a plaintext connection.
//!
//! The handshake runs first, both directions in turn ([`TlsConnector::handshake`]); then the read and write
//! halves share the session (`Rc<RefCell<…>>`, borrowed only between awaits, on the connection's thread).
//! Records the read side makes rustls answer (a TLS 1.3 key update) go out with the next write.
//!
//! Copies: plaintext is copied once out of rustls into the caller's read buffer, and ciphertext once out of
//! rustls into the buffer the backend writes from (io_uring needs a buffer it owns); rustls itself copies what
//! it is fed into its record buffer. Buffers are bounded: rustls holds at most its 64 KiB of ciphertext to
//! send and 16 KiB of plaintext received; ours, [`CIPHERTEXT_READ_BYTES`] and what one write produces.
//!
//! The PEM files the `ssl.*` keys name are read here ([`load_tls`]), as the connector is made, and handed to
//! `client::tls_config` to interpret; the config layer calls the same function to check them at config time.
//!
//! Must not: know Kafka; log or return a secret.

use std::cell::RefCell;
use std::io::{self, BufRead, Read, Write};
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{
    AlertDescription, CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct,
    RootCertStore, SignatureScheme,
};

use super::backend::{BrokerRead, BrokerWrite};
use crate::client::tls_config::{
    identity_from_pem, roots_from_pem, PemSetting, PemSource, PemText, TlsConfig, TlsKeyError,
    TlsMaterial,
};

/// How much ciphertext one read from the socket may bring: four full TLS records.
const CIPHERTEXT_READ_BYTES: usize = 4 * (16 * 1024 + 256);

/// The largest PEM file read: CA bundles are a few hundred KiB; this only stops a mistaken path (a device, a
/// huge log) from being read whole.
const MAX_PEM_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The bytes of the file `setting` names, at most [`MAX_PEM_FILE_BYTES`] of them.
fn read_pem_file(setting: &PemSetting, path: &Path) -> Result<Vec<u8>, TlsKeyError> {
    let fail = |e: io::Error| setting.error(format!("cannot read it: {e}"));
    let file = std::fs::File::open(path).map_err(fail)?;
    let mut bytes = Vec::new();
    // One byte more than allowed tells a file that is too long, whatever its metadata says (a pipe, /proc).
    file.take(MAX_PEM_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(fail)?;
    if bytes.len() as u64 > MAX_PEM_FILE_BYTES {
        return Err(setting.error(format!(
            "is more than {MAX_PEM_FILE_BYTES} bytes, more than any PEM file should be"
        )));
    }
    Ok(bytes)
}

/// The PEM text `setting` names: inline, one file's, or each file's of a directory (sorted by name).
pub fn read_pem(setting: &PemSetting) -> Result<PemText, TlsKeyError> {
    match &setting.source {
        PemSource::Inline(text) => Ok(PemText::One(text.as_bytes().to_vec())),
        PemSource::File(path) => read_pem_file(setting, path).map(PemText::One),
        PemSource::FileOrDirectory(path) if path.is_dir() => {
            let mut paths: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| setting.error(format!("cannot list the directory: {e}")))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.is_file())
                .collect();
            paths.sort();
            paths
                .iter()
                .map(|path| read_pem_file(setting, path))
                .collect::<Result<_, _>>()
                .map(PemText::Directory)
        }
        PemSource::FileOrDirectory(path) => read_pem_file(setting, path).map(PemText::One),
    }
}

/// Reads the PEM files `tls` names and what they hold: the CA store and the client certificate and key, or
/// every problem (at most one per part), each naming its key.
pub fn load_tls(tls: &TlsConfig) -> Result<TlsMaterial, Vec<TlsKeyError>> {
    let mut problems = Vec::new();
    let roots = tls.roots.as_ref().and_then(|setting| {
        read_pem(setting)
            .and_then(|pem| roots_from_pem(setting, &pem))
            .map_err(|e| problems.push(e))
            .ok()
    });
    let identity = tls.identity.as_ref().and_then(|identity| {
        let one = |setting: &PemSetting| match read_pem(setting)? {
            PemText::One(bytes) => Ok(bytes),
            PemText::Directory(_) => Err(setting.error("is a directory, not a PEM file")),
        };
        let certificate = one(&identity.certificate);
        // A PEM keystore names one file for both: it is read once.
        let key = if identity.key == identity.certificate {
            certificate.clone()
        } else {
            one(&identity.key)
        };
        certificate
            .and_then(|certificate| Ok((certificate, key?)))
            .and_then(|(certificate, key)| identity_from_pem(identity, &certificate, &key))
            .map_err(|e| problems.push(e))
            .ok()
    });
    if problems.is_empty() {
        Ok(TlsMaterial {
            roots,
            identity,
            verify_hostname: tls.verify_hostname,
        })
    } else {
        Err(problems)
    }
}

/// Builds TLS sessions to brokers from one rustls config (shared by every connection of a client, so
/// reconnections resume sessions).
#[derive(Clone)]
pub struct TlsConnector {
    /// The config, or why none could be made (no system CA certificates): each connection fails with it.
    config: Result<Arc<ClientConfig>, String>,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("ready", &self.config.is_ok())
            .finish()
    }
}

/// The system's CA certificates, read once per process.
fn system_roots() -> Result<Arc<RootCertStore>, String> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, _unusable) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default();
                return Err(format!(
                    "no system CA certificates found{why}: set ssl.ca.location to the broker's CA"
                ));
            }
            Ok(Arc::new(roots))
        })
        .clone()
}

impl TlsConnector {
    /// A connector for `tls` (`None`: the config was not valid, which validation reports first).
    pub fn new(tls: Option<&TlsConfig>) -> Self {
        let Some(tls) = tls else {
            return Self {
                config: Err(
                    "security.protocol uses TLS but the ssl.* settings are not valid".into(),
                ),
            };
        };
        // A file that went missing or changed since the config was checked fails every connection, saying
        // which key names it.
        let config = load_tls(tls)
            .map_err(|problems| {
                problems
                    .iter()
                    .map(|p| format!("{}={}: {}", p.key, p.shown_value, p.reason))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .and_then(|material| client_config(&material));
        Self { config }
    }

    /// Runs the TLS handshake with `host` over a connected socket's halves, within `timeout`.
    pub async fn handshake<R: BrokerRead, W: BrokerWrite>(
        &self,
        host: &str,
        mut reader: R,
        mut writer: W,
        timeout: Duration,
    ) -> io::Result<(TlsReader<R>, TlsWriter<W>, TlsSession)> {
        let config = self.config.clone().map_err(io::Error::other)?;
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| io::Error::other(format!("`{host}` is not a host name TLS can verify")))?;
        let mut conn = ClientConnection::new(config, name)
            .map_err(|e| io::Error::other(format!("TLS: {e}")))?;
        let mut incoming = BytesMut::with_capacity(CIPHERTEXT_READ_BYTES);
        let exchange = handshake_exchange(&mut conn, &mut reader, &mut writer, &mut incoming);
        match tokio::time::timeout(timeout, exchange).await {
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no TLS handshake within {timeout:?} (socket.connection.setup.timeout.ms): is this \
                         port plaintext (security.protocol=PLAINTEXT)?"
                    ),
                ))
            }
            Ok(result) => result?,
        }
        let session = Rc::new(RefCell::new(SessionState {
            conn,
            plaintext_received: false,
            fatal: None,
        }));
        Ok((
            TlsReader {
                io: reader,
                session: session.clone(),
                ciphertext: incoming,
            },
            TlsWriter {
                io: writer,
                session: session.clone(),
                ciphertext: BytesMut::with_capacity(16 * 1024),
            },
            TlsSession(session),
        ))
    }
}

/// The handshake's messages, each way in turn, until rustls has what it needs; ciphertext read past the
/// handshake stays in `incoming`.
async fn handshake_exchange<R: BrokerRead, W: BrokerWrite>(
    conn: &mut ClientConnection,
    reader: &mut R,
    writer: &mut W,
    incoming: &mut BytesMut,
) -> io::Result<()> {
    let mut outgoing = BytesMut::with_capacity(16 * 1024);
    while conn.is_handshaking() {
        if conn.wants_write() {
            outgoing = flush(conn, writer, outgoing).await?;
            continue;
        }
        incoming.reserve(CIPHERTEXT_READ_BYTES);
        let (read, buf) = reader.read_into(std::mem::take(incoming)).await;
        *incoming = buf;
        if read? == 0 {
            return Err(io::Error::other(
                "the broker closed the connection during the TLS handshake: is this port plaintext \
                 (security.protocol=PLAINTEXT), or did it refuse our certificate?",
            ));
        }
        while !incoming.is_empty() {
            let fed = conn.read_tls(&mut &incoming[..])?;
            incoming.advance(fed);
            if let Err(e) = conn.process_new_packets() {
                // Tell the broker why (an alert), if it still listens.
                let _ = flush(conn, writer, outgoing).await;
                return Err(io::Error::other(describe(&e)));
            }
            if fed == 0 {
                break;
            }
        }
    }
    // Our last flight (TLS 1.3: the client's Finished) is queued once the handshake is done.
    if conn.wants_write() {
        flush(conn, writer, outgoing).await?;
    }
    Ok(())
}

/// Writes everything rustls has queued to send; gives the buffer back.
async fn flush<W: BrokerWrite>(
    conn: &mut ClientConnection,
    writer: &mut W,
    mut out: BytesMut,
) -> io::Result<BytesMut> {
    out.clear();
    while conn.wants_write() {
        conn.write_tls(&mut (&mut out).writer())?;
    }
    let (result, out) = writer.write_all_from(out).await;
    result.map(|()| out)
}

fn client_config(tls: &TlsMaterial) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match &tls.roots {
        Some(roots) => roots.clone(),
        None => system_roots()?,
    };
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = if tls.verify_hostname {
        builder.with_webpki_verifier(verifier)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnlyVerifier(verifier)))
    };
    let config = match &tls.identity {
        Some(identity) => {
            builder.with_client_cert_resolver(Arc::new(ClientCertificate(identity.clone())))
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// `ssl.endpoint.identification.algorithm=` (empty): the chain, dates and signatures are verified as ever;
/// only a certificate that does not name the host is let through (Java's and librdkafka's meaning).
#[derive(Debug)]
struct ChainOnlyVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the name last, after the chain: a name error means everything else held.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The one client certificate, offered whenever a broker asks for one.
struct ClientCertificate(Arc<CertifiedKey>);

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.write_str("ClientCertificate(..)")
    }
}

impl ResolvesClientCert for ClientCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A TLS failure in words a user can act on.
fn describe(error: &rustls::Error) -> String {
    use rustls::Error as E;
    match error {
        E::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "TLS: the broker's certificate is not signed by a trusted CA (unknown issuer): set \
             ssl.ca.location to the CA that signed it"
                .into()
        }
        E::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => format!("TLS: the broker's certificate has expired ({error})"),
        E::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "TLS: the broker's certificate is not for the host we connected to ({error}); \
             ssl.endpoint.identification.algorithm= (empty) turns the host name check off"
        ),
        E::AlertReceived(AlertDescription::CertificateRequired) => {
            "TLS: the broker requires a client certificate: set ssl.certificate.location and \
             ssl.key.location"
                .into()
        }
        E::AlertReceived(
            alert @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::HandshakeFailure),
        ) => format!(
            "TLS: the broker refused the handshake ({alert:?}): it may require a client certificate \
             (ssl.certificate.location, ssl.key.location) it trusts"
        ),
        E::InvalidMessage(_) => format!(
            "TLS: the broker did not answer in TLS ({error}): is this port plaintext \
             (security.protocol=PLAINTEXT)?"
        ),
        _ => format!("TLS: {error}"),
    }
}

struct SessionState {
    conn: ClientConnection,
    /// Whether any application data arrived: a failure before it is a failure to connect.
    plaintext_received: bool,
    /// The TLS failure that ended the session, in words.
    fatal: Option<String>,
}

/// What the connection learns of its TLS session once it ends.
pub struct TlsSession(Rc<RefCell<SessionState>>);

impl TlsSession {
    /// A TLS failure that came before any answer from the broker (a broker that checks client certificates
    /// refuses ours only after the handshake, in TLS 1.3): the reason the connection could not be made.
    pub fn refusal(&self) -> Option<String> {
        let state = self.0.borrow();
        if state.plaintext_received {
            None
        } else {
            state.fatal.clone()
        }
    }

    /// The TLS failure that ended the session, if one did.
    pub fn failure(&self) -> Option<String> {
        self.0.borrow().fatal.clone()
    }
}

/// The read half of a TLS connection.
pub struct TlsReader<R> {
    io: R,
    session: Rc<RefCell<SessionState>>,
    /// Ciphertext read but not yet taken by rustls.
    ciphertext: BytesMut,
}

impl<R: BrokerRead> TlsReader<R> {
    async fn read_plaintext(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        loop {
            {
                let mut state = self.session.borrow_mut();
                if let Some(result) = take_plaintext(&mut state, buf) {
                    return result;
                }
                if !self.ciphertext.is_empty() {
                    let fed = state.conn.read_tls(&mut &self.ciphertext[..])?;
                    self.ciphertext.advance(fed);
                    if let Err(e) = state.conn.process_new_packets() {
                        let reason = describe(&e);
                        state.fatal = Some(reason.clone());
                        return Err(io::Error::other(reason));
                    }
                    if fed > 0 {
                        continue;
                    }
                    // rustls took nothing and gave nothing: its buffer is full of an unfinished record.
                    return Err(io::Error::other("TLS: a record larger than rustls accepts"));
                }
            }
            if self.ciphertext.capacity() < CIPHERTEXT_READ_BYTES {
                self.ciphertext.reserve(CIPHERTEXT_READ_BYTES);
            }
            let (read, ciphertext) = self
                .io
                .read_into(std::mem::take(&mut self.ciphertext))
                .await;
            self.ciphertext = ciphertext;
            if read? == 0 {
                // The peer closed: rustls tells a clean close (close_notify first) from a cut one.
                let mut state = self.session.borrow_mut();
                state.conn.read_tls(&mut &[][..])?;
                if let Err(e) = state.conn.process_new_packets() {
                    let reason = describe(&e);
                    state.fatal = Some(reason.clone());
                    return Err(io::Error::other(reason));
                }
                return match take_plaintext(&mut state, buf) {
                    Some(result) => result,
                    None => Ok(0),
                };
            }
        }
    }
}

/// Moves the plaintext rustls holds into `buf`'s spare room (at least one chunk, growing `buf` if it has no
/// room). `None`: nothing yet, feed more ciphertext.
fn take_plaintext(state: &mut SessionState, buf: &mut BytesMut) -> Option<io::Result<usize>> {
    let mut taken = 0;
    let mut reader = state.conn.reader();
    loop {
        match reader.fill_buf() {
            // The peer closed cleanly (close_notify).
            Ok([]) if taken == 0 => return Some(Ok(0)),
            Ok([]) => break,
            Ok(chunk) => {
                let room = buf.capacity() - buf.len();
                if room == 0 && taken > 0 {
                    break;
                }
                let n = if room == 0 {
                    chunk.len()
                } else {
                    chunk.len().min(room)
                };
                buf.extend_from_slice(&chunk[..n]);
                reader.consume(n);
                taken += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if taken == 0 => return Some(Err(e)),
            Err(_) => break,
        }
    }
    if taken > 0 {
        state.plaintext_received = true;
        Some(Ok(taken))
    } else {
        None
    }
}

impl<R: BrokerRead> BrokerRead for TlsReader<R> {
    async fn read_into(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        let result = self.read_plaintext(&mut buf).await;
        (result, buf)
    }
}

/// The write half of a TLS connection.
pub struct TlsWriter<W> {
    io: W,
    session: Rc<RefCell<SessionState>>,
    /// Ciphertext on its way to the socket; reused.
    ciphertext: BytesMut,
}

impl<W: BrokerWrite> TlsWriter<W> {
    async fn write_plaintext(&mut self, plaintext: &[u8]) -> io::Result<()> {
        let mut offset = 0;
        loop {
            let mut out = std::mem::take(&mut self.ciphertext);
            out.clear();
            {
                let mut state = self.session.borrow_mut();
                // rustls takes what fits its bounded send buffer; the rest goes in the next round.
                if offset < plaintext.len() {
                    offset += state.conn.writer().write(&plaintext[offset..])?;
                }
                while state.conn.wants_write() {
                    state.conn.write_tls(&mut (&mut out).writer())?;
                }
            }
            if out.is_empty() {
                self.ciphertext = out;
                if offset == plaintext.len() {
                    return Ok(());
                }
                return Err(io::Error::other("TLS: the session takes no more data"));
            }
            let (result, out) = self.io.write_all_from(out).await;
            self.ciphertext = out;
            result?;
            if offset == plaintext.len() && !self.session.borrow().conn.wants_write() {
                return Ok(());
            }
        }
    }
}

impl<W: BrokerWrite> BrokerWrite for TlsWriter<W> {
    async fn write_all_from(&mut self, buf: BytesMut) -> (io::Result<()>, BytesMut) {
        let result = self.write_plaintext(&buf).await;
        (result, buf)
    }

    async fn close(&mut self) {
        // Without it the broker cannot tell our close from a cut connection (and logs an unexpected EOF).
        self.session.borrow_mut().conn.send_close_notify();
        let _ = self.write_plaintext(&[]).await;
    }
}

/// The read half of a plaintext connection, which tells a broker answering in TLS (a TLS listener reading
/// our request as a broken record sends an alert) from one sending garbage: only the first read is looked at.
pub struct PlaintextReader<R> {
    io: R,
    first_read_done: bool,
    answered_in_tls: Rc<std::cell::Cell<bool>>,
}

impl<R> PlaintextReader<R> {
    pub fn new(io: R) -> (Self, Rc<std::cell::Cell<bool>>) {
        let answered_in_tls = Rc::new(std::cell::Cell::new(false));
        (
            Self {
                io,
                first_read_done: false,
                answered_in_tls: answered_in_tls.clone(),
            },
            answered_in_tls,
        )
    }
}

/// Whether `bytes` start like a TLS record (alert or handshake, TLS 1.0 to 1.3). Read as a Kafka frame size,
/// those bytes claim more than 350 MB, beyond any frame we accept.
fn looks_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [0x15 | 0x16, 0x03, 0x00..=0x04, ..])
}

impl<R: BrokerRead> BrokerRead for PlaintextReader<R> {
    async fn read_into(&mut self, buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        let start = buf.len();
        let (result, buf) = self.io.read_into(buf).await;
        if !self.first_read_done {
            if let Ok(n) = result {
                if n > 0 {
                    self.first_read_done = true;
                    if looks_like_tls(&buf[start..]) {
                        self.answered_in_tls.set(true);
                        return (Err(io::Error::other("the broker answered in TLS")), buf);
                    }
                }
            }
        }
        (result, buf)
    }
}

/// The host of `host:port` (an IPv6 address without its brackets), for SNI and the name check.
pub fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TLS echo server on 127.0.0.1 with a certificate for `localhost`; returns its port and the CA's
    /// certificate in PEM.
    async fn echo_server() -> (u16, String) {
        use rustls::pki_types::PrivateKeyDer;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::task::spawn_local(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let tls = acceptor.accept(stream).await.unwrap();
            let (mut read, mut write) = tokio::io::split(tls);
            let _ = tokio::io::copy(&mut read, &mut write).await;
        });
        (port, ca.pem())
    }

    /// A megabyte each way, through many TLS records and several of rustls's bounded send buffers, read back
    /// into a small buffer as the connection's read loop does: every byte arrives, in order.
    #[test]
    fn large_writes_and_reads_cross_many_records_intact() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&runtime, async {
            let (port, ca_pem) = echo_server().await;
            let tls = TlsConfig {
                roots: Some(PemSetting {
                    key: "ssl.ca.pem",
                    source: PemSource::Inline(ca_pem),
                }),
                identity: None,
                verify_hostname: true,
            };
            let backend = super::super::backend::TokioBackend::default();
            let (reader, writer) = super::super::backend::IoBackend::connect(
                &backend,
                &format!("localhost:{port}"),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
            let (mut reader, mut writer, session) = TlsConnector::new(Some(&tls))
                .handshake("localhost", reader, writer, Duration::from_secs(5))
                .await
                .unwrap();
            let sent: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
            // Written while read, as the connection does: the echo must not wait on a full socket.
            let write = async {
                let (written, _) = writer.write_all_from(BytesMut::from(&sent[..])).await;
                written.unwrap();
            };
            let read = async {
                let mut received = BytesMut::with_capacity(4096);
                while received.len() < sent.len() {
                    received.reserve(4096);
                    let (read, buf) = reader.read_into(received).await;
                    received = buf;
                    assert!(read.unwrap() > 0, "closed after {} bytes", received.len());
                }
                received
            };
            let ((), received) = tokio::join!(write, read);
            assert!(received[..] == sent[..], "the bytes came back changed");
            assert!(session.failure().is_none());
            writer.close().await;
        });
    }

    #[test]
    fn a_tls_alert_is_told_from_a_kafka_frame() {
        assert!(looks_like_tls(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x0a]));
        assert!(looks_like_tls(&[0x16, 0x03, 0x01]));
        // A frame of 1 KiB, and the largest we accept by default (100 MiB).
        assert!(!looks_like_tls(&[0x00, 0x00, 0x04, 0x00]));
        assert!(!looks_like_tls(&[0x06, 0x40, 0x00, 0x00]));
        assert!(!looks_like_tls(&[0x15]));
    }

    /// The files the `ssl.*` keys name are read here: a CA file or directory, a client certificate and key
    /// (one keystore file for both); a missing file is named by its key.
    #[test]
    fn load_tls_reads_the_files_the_keys_name() {
        use crate::client::tls_config::IdentitySetting;
        let dir = tempfile::tempdir().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let cas = dir.path().join("cas");
        std::fs::create_dir(&cas).unwrap();
        std::fs::write(cas.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(cas.join("README"), "not PEM").unwrap();
        let keystore = dir.path().join("keystore.pem");
        std::fs::write(&keystore, key.serialize_pem() + &cert.pem()).unwrap();
        let setting = |key: &'static str, path: &Path| PemSetting {
            key,
            source: PemSource::FileOrDirectory(path.to_owned()),
        };
        let store = PemSetting {
            key: "ssl.keystore.location",
            source: PemSource::File(keystore.clone()),
        };
        let tls = TlsConfig {
            roots: Some(setting("ssl.ca.location", &cas)),
            identity: Some(IdentitySetting {
                certificate: store.clone(),
                key: store,
                password: None,
            }),
            verify_hostname: true,
        };
        let material = load_tls(&tls).expect("the CA directory and the keystore");
        assert_eq!(material.roots.map(|r| r.len()), Some(1));
        assert!(material.identity.is_some());
        // A path that is not there: named with its key, the client part checked all the same.
        let missing = dir.path().join("missing.pem");
        let tls = TlsConfig {
            roots: Some(setting("ssl.ca.location", &missing)),
            ..tls
        };
        let problems = load_tls(&tls).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "ssl.ca.location");
        assert_eq!(problems[0].shown_value, missing.display().to_string());
        assert!(
            problems[0].reason.contains("cannot read it"),
            "{problems:?}"
        );
        // The connector fails each connection with it, rather than connecting without the CA.
        let connector = TlsConnector::new(Some(&tls));
        let why = connector.config.unwrap_err();
        assert!(
            why.contains("ssl.ca.location") && why.contains("cannot read it"),
            "{why}"
        );
    }

    #[test]
    fn the_host_is_what_precedes_the_port() {
        assert_eq!(host_of("broker-1.example:9093"), "broker-1.example");
        assert_eq!(host_of("[::1]:9093"), "::1");
        assert_eq!(host_of("127.0.0.1:9093"), "127.0.0.1");
    }
}
