//! The REST server's own worker keys, as Kafka Connect names them: `listeners` (`http://` and `https://`, several
//! at once), the TLS of the https ones (`listeners.https.ssl.*`, or when none of those is given the un-prefixed
//! `ssl.*` keys, as Kafka Connect falls back), client certificates (`ssl.client.auth`), HTTP basic auth
//! (`rest.extension.classes=…BasicAuthSecurityRestExtension`, its JAAS file and PropertyFileLoginModule
//! credentials) and our own bearer token (`rest.auth.bearer.token.file`).
//!
//! Every file named here (keystore, truststore, JAAS file, credentials, token) is read here, so a missing file, a
//! key that does not match its certificate or an empty credentials file is a problem at its file:line:key before
//! anything listens. Must not: start anything; keep a password or token in clear once it is read (they become
//! HMAC tags under a key drawn at start); put a secret's value in a problem.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ring::hmac;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::connect_form::parse_properties;
use super::problem::{did_you_mean, Location, Problem};
use super::raw::Entry;
use crate::client::config::SecurityProtocol;

/// The port Kafka Connect listens on when a listener names none.
pub const DEFAULT_REST_PORT: u16 = 8083;
/// The host a listener binds when it names none: loopback, so a worker is not open to the network unless its
/// config says so (Kafka Connect binds every interface instead).
pub const DEFAULT_REST_HOST: &str = "127.0.0.1";
/// The prefix of the https listeners' TLS keys (Kafka Connect's `listeners.https.`).
pub const HTTPS_PREFIX: &str = "listeners.https.";
/// The class that turns basic auth on, as in Kafka Connect.
pub const BASIC_AUTH_EXTENSION: &str =
    "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension";
/// The JAAS login module that names the credentials file.
const PROPERTY_FILE_LOGIN_MODULE: &str =
    "org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule";
/// The JAAS section Kafka Connect's basic auth reads.
const JAAS_SECTION: &str = "KafkaConnect";
/// The JVM property naming the JAAS file, taken as a worker key too and from `KAFKA_OPTS` (`-D…=`).
pub const JAAS_CONFIG_KEY: &str = "java.security.auth.login.config";
/// Our own key: a file holding the token `Authorization: Bearer …` must carry.
pub const BEARER_TOKEN_FILE_KEY: &str = "rest.auth.bearer.token.file";

/// The TLS keys an https listener reads, each under `listeners.https.` or bare.
pub const SERVER_SSL_KEYS: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.key.password",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.truststore.certificates",
    "ssl.client.auth",
    "ssl.enabled.protocols",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestScheme {
    Http,
    Https,
}

/// One address the REST API listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestListener {
    pub scheme: RestScheme,
    /// As bound: a name, an IPv4 address or an IPv6 address without brackets.
    pub host: String,
    pub port: u16,
}

impl RestListener {
    pub fn http(host: &str, port: u16) -> Self {
        Self {
            scheme: RestScheme::Http,
            host: host.to_owned(),
            port,
        }
    }

    /// `host:port`, an IPv6 host in brackets: what `bind` and `connect` take.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub fn scheme_name(&self) -> &'static str {
        match self.scheme {
            RestScheme::Http => "http",
            RestScheme::Https => "https",
        }
    }
}

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    #[default]
    None,
    /// A certificate is asked for; a client without one is let in, one with a bad one is not.
    Requested,
    /// No connection without a certificate the truststore vouches for.
    Required,
}

/// The TLS of every https listener, and of the requests this worker sends another's https listener (a request
/// forwarded to the leader), as Kafka Connect's REST client takes the same keys.
#[derive(Debug, Clone)]
pub struct RestTls {
    pub server: Arc<rustls::ServerConfig>,
    pub client_auth: ClientAuth,
    /// Trusts the truststore's CAs when one is read (with `ssl.client.auth` on), else the system's; presents
    /// the keystore's certificate when asked for one.
    pub client: Arc<rustls::ClientConfig>,
}

/// The users of basic auth, from a PropertyFileLoginModule credentials file (`user=password` or
/// `user: password`, Java properties; the whole value is the password, as Kafka's module compares it).
pub struct BasicUsers {
    /// The credentials file, for messages.
    pub file: PathBuf,
    key: hmac::Key,
    users: Vec<(String, hmac::Tag)>,
}

impl std::fmt::Debug for BasicUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicUsers")
            .field("file", &self.file)
            .field("users", &self.users.len())
            .finish()
    }
}

impl BasicUsers {
    pub(crate) fn new(file: PathBuf, users: Vec<(String, String)>) -> Self {
        let key = fresh_key();
        let users = users
            .into_iter()
            .map(|(user, password)| {
                let tag = hmac::sign(&key, password.as_bytes());
                (user, tag)
            })
            .collect();
        Self { file, key, users }
    }

    /// Whether `user` with `password` is in the file. Every user's tag is checked (in constant time each), so
    /// the answer takes as long for an unknown user as for a wrong password.
    pub fn accepts(&self, user: &str, password: &str) -> bool {
        let mut accepted = false;
        for (known, tag) in &self.users {
            let matches = hmac::verify(&self.key, password.as_bytes(), tag.as_ref()).is_ok();
            accepted |= matches && known == user;
        }
        accepted
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }
}

/// The bearer token, as an HMAC tag.
pub struct BearerToken {
    pub file: PathBuf,
    key: hmac::Key,
    tag: hmac::Tag,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerToken")
            .field("file", &self.file)
            .finish()
    }
}

impl BearerToken {
    pub(crate) fn new(file: PathBuf, token: &str) -> Self {
        let key = fresh_key();
        let tag = hmac::sign(&key, token.as_bytes());
        Self { file, key, tag }
    }

    /// Whether `token` is the token, compared in constant time.
    pub fn accepts(&self, token: &str) -> bool {
        hmac::verify(&self.key, token.as_bytes(), self.tag.as_ref()).is_ok()
    }
}

fn fresh_key() -> hmac::Key {
    // ring's system random source; a failure to draw (no getrandom) leaves a fixed key, which only weakens
    // the timing side channel the HMAC hides, not the check itself.
    let rng = ring::rand::SystemRandom::new();
    hmac::Key::generate(hmac::HMAC_SHA256, &rng)
        .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, b"pipewright-rest"))
}

/// Who may call the REST API: nothing set lets everyone in.
#[derive(Debug, Clone, Default)]
pub struct RestAuth {
    pub basic: Option<Arc<BasicUsers>>,
    pub bearer: Option<Arc<BearerToken>>,
}

impl RestAuth {
    pub fn is_required(&self) -> bool {
        self.basic.is_some() || self.bearer.is_some()
    }
}

/// The REST server's config, typed.
#[derive(Debug, Clone, Default)]
pub struct RestServerSpec {
    /// From `listeners` (or `rest.host.name` / `rest.port`); empty when the worker names none.
    pub listeners: Vec<RestListener>,
    /// The TLS of the https listeners; `Some` exactly when one is https.
    pub tls: Option<RestTls>,
    pub auth: RestAuth,
}

/// The REST keys of a worker file, gathered while the worker's keys are read.
#[derive(Debug, Default)]
pub(crate) struct RestServerKeys {
    pub(crate) listeners: Option<Entry>,
    /// `listeners.https.ssl.*`, keyed without the prefix.
    pub(crate) prefixed: Vec<(String, Entry)>,
    /// Bare `ssl.*` keys of [`SERVER_SSL_KEYS`], with whether the Kafka clients take them too.
    pub(crate) bare: Vec<(Entry, ClientUse)>,
    pub(crate) extension_classes: Option<Entry>,
    pub(crate) jaas_config: Option<Entry>,
    pub(crate) bearer_token_file: Option<Entry>,
}

/// Whether the worker's Kafka clients take a bare `ssl.*` key as well as the https listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientUse {
    /// No Kafka client knows the key (`ssl.client.auth`, `ssl.enabled.protocols`).
    Unknown,
    /// A client key, but the worker's `security.protocol` (this one) does not use TLS: the clients would
    /// refuse it, so it is the REST server's alone.
    NotUnder(SecurityProtocol),
    /// The clients take it too (`security.protocol` uses TLS).
    Takes,
}

impl RestServerKeys {
    /// Takes `entry` if it is a REST server key (`client_use`: whether the Kafka clients take it too, for
    /// the bare `ssl.*` keys). Returns whether it did.
    pub(crate) fn take(&mut self, entry: &Entry, client_use: ClientUse) -> bool {
        let key = entry.key.as_str();
        if let Some(short) = key.strip_prefix(HTTPS_PREFIX) {
            self.prefixed.push((short.to_owned(), entry.clone()));
        } else if SERVER_SSL_KEYS.contains(&key) {
            self.bare.push((entry.clone(), client_use));
        } else {
            let slot = match key {
                "listeners" => &mut self.listeners,
                "rest.extension.classes" => &mut self.extension_classes,
                JAAS_CONFIG_KEY => &mut self.jaas_config,
                BEARER_TOKEN_FILE_KEY => &mut self.bearer_token_file,
                _ => return false,
            };
            *slot = Some(entry.clone());
        }
        true
    }
}

fn problem(entry: &Entry, message: impl Into<String>) -> Problem {
    Problem {
        location: entry.location.clone(),
        pipeline: None,
        key: Some(entry.path.clone()),
        message: message.into(),
    }
}

fn value(entry: &Entry) -> String {
    entry.value.as_config_string().unwrap_or_default()
}

/// One listener of `listeners`: `scheme://host:port`, the scheme http or https (any case), an empty host
/// [`DEFAULT_REST_HOST`], no port [`DEFAULT_REST_PORT`].
fn parse_listener(written: &str) -> Result<RestListener, String> {
    let Some((scheme, rest)) = written.split_once("://") else {
        return Err(format!(
            "listener {written:?}: expected scheme://host:port, as http://127.0.0.1:8083"
        ));
    };
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => RestScheme::Http,
        "https" => RestScheme::Https,
        other => {
            return Err(format!(
                "listener {written:?}: the scheme must be http or https, not {other:?}"
            ))
        }
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(format!("listener {written:?}: no ] after the IPv6 host"));
        };
        (host, after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    let port = match port {
        None => DEFAULT_REST_PORT,
        Some(port) => port
            .parse::<u16>()
            .map_err(|_| format!("listener {written:?}: bad port {port:?}"))?,
    };
    if host.contains(['/', '?', '#', '@']) {
        return Err(format!("listener {written:?}: expected scheme://host:port"));
    }
    let host = if host.is_empty() {
        DEFAULT_REST_HOST
    } else {
        host
    };
    Ok(RestListener {
        scheme,
        host: host.to_owned(),
        port,
    })
}

fn parse_listeners(entry: &Entry, problems: &mut Vec<Problem>) -> Vec<RestListener> {
    let mut listeners: Vec<RestListener> = Vec::new();
    for written in value(entry)
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        match parse_listener(written) {
            Ok(listener) => {
                if listeners.iter().any(|l| l.address() == listener.address()) {
                    problems.push(problem(
                        entry,
                        format!("{} is listed twice", listener.address()),
                    ));
                } else {
                    listeners.push(listener);
                }
            }
            Err(message) => problems.push(problem(entry, message)),
        }
    }
    listeners
}

/// Reads the REST keys into a spec. `rest_host_port`: the listener `rest.host.name` / `rest.port` make when
/// `listeners` is not set.
pub(crate) fn build(
    keys: RestServerKeys,
    rest_host_port: Option<RestListener>,
    problems: &mut Vec<Problem>,
) -> RestServerSpec {
    let mut spec = RestServerSpec::default();
    match &keys.listeners {
        Some(entry) => spec.listeners = parse_listeners(entry, problems),
        None => spec.listeners.extend(rest_host_port),
    }
    let https = spec.listeners.iter().any(|l| l.scheme == RestScheme::Https);
    // Kafka Connect's valuesWithPrefixAllOrNothing: any listeners.https. key means only those count.
    let use_prefixed = !keys.prefixed.is_empty();
    let mut tls_keys: Vec<(String, Entry)> = Vec::new();
    for (short, entry) in &keys.prefixed {
        if SERVER_SSL_KEYS.contains(&short.as_str()) {
            tls_keys.push((short.clone(), entry.clone()));
        } else {
            let hint = did_you_mean(short, SERVER_SSL_KEYS)
                .map(|s| format!(" (did you mean \"{HTTPS_PREFIX}{s}\"?)"))
                .unwrap_or_default();
            problems.push(problem(
                entry,
                format!("unknown key{hint}: the https listeners read {HTTPS_PREFIX}ssl.keystore.*, ssl.truststore.*, ssl.key.password, ssl.client.auth and ssl.enabled.protocols"),
            ));
        }
    }
    if !use_prefixed {
        tls_keys.extend(
            keys.bare
                .iter()
                .map(|(entry, _)| (entry.key.clone(), entry.clone())),
        );
    }
    if https {
        let listener_entry = keys.listeners.as_ref();
        spec.tls = tls(&tls_keys, listener_entry, problems);
    } else if use_prefixed {
        for (_, entry) in &keys.prefixed {
            problems.push(problem(
                entry,
                "no listener is https (listeners=https://host:port), so nothing reads this key",
            ));
        }
    }
    // A bare ssl.* key the REST server does not read (no https listener, or listeners.https.* keys given)
    // must be one the Kafka clients take.
    let rest_reads_bare = https && !use_prefixed;
    for (entry, client_use) in &keys.bare {
        // The truststore is read only to check client certificates.
        let read_here = rest_reads_bare
            && (client_auth_on(&tls_keys) || !entry.key.starts_with("ssl.truststore"));
        if read_here || *client_use == ClientUse::Takes {
            continue;
        }
        let why = if !https {
            "read by https listeners only, and no listener is https (listeners=https://host:port)"
        } else if use_prefixed {
            "the https listeners read listeners.https.* keys instead (Kafka Connect takes either the prefixed keys or the bare ones, never both)"
        } else {
            "the truststore checks client certificates, and ssl.client.auth is none: set it to requested or required, or remove this key"
        };
        let clients = match client_use {
            ClientUse::Unknown if use_prefixed && https => {
                ", and the Kafka clients do not take this key".to_owned()
            }
            ClientUse::NotUnder(protocol) => {
                let with_tls = if protocol.uses_sasl() {
                    "SASL_SSL"
                } else {
                    "SSL (or SASL_SSL)"
                };
                format!(
                    "; nor do the Kafka clients, as security.protocol={} does not use TLS (set security.protocol={with_tls} for them)",
                    protocol.name()
                )
            }
            _ => String::new(),
        };
        problems.push(problem(entry, format!("{why}{clients}")));
    }
    spec.auth = auth(&keys, problems);
    spec
}

fn client_auth_on(tls_keys: &[(String, Entry)]) -> bool {
    tls_keys
        .iter()
        .find(|(k, _)| k == "ssl.client.auth")
        .is_some_and(|(_, e)| !value(e).trim().eq_ignore_ascii_case("none"))
}

fn read_file(entry: &Entry, what: &str, problems: &mut Vec<Problem>) -> Option<Vec<u8>> {
    let path = value(entry);
    if path.trim().is_empty() {
        problems.push(problem(entry, format!("must name the {what}")));
        return None;
    }
    match std::fs::read(path.trim()) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            problems.push(problem(
                entry,
                format!("cannot read the {what} {}: {e}", path.trim()),
            ));
            None
        }
    }
}

/// Whether `bytes` hold a PEM block.
fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

fn certificates(
    bytes: &[u8],
    entry: &Entry,
    what: &str,
    problems: &mut Vec<Problem>,
) -> Option<Vec<CertificateDer<'static>>> {
    let parsed: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(bytes).collect();
    match parsed {
        Ok(certs) if !certs.is_empty() => Some(certs),
        Ok(_) => {
            problems.push(problem(
                entry,
                format!("the {what} holds no PEM CERTIFICATE block"),
            ));
            None
        }
        Err(e) => {
            problems.push(problem(entry, format!("the {what}: bad PEM: {e}")));
            None
        }
    }
}

fn private_key(
    bytes: &[u8],
    entry: &Entry,
    what: &str,
    problems: &mut Vec<Problem>,
) -> Option<PrivateKeyDer<'static>> {
    if bytes.windows(21).any(|w| w == b"ENCRYPTED PRIVATE KEY") {
        problems.push(problem(
            entry,
            format!("the {what} holds an encrypted private key, which pipewright does not read: give the key unencrypted (`openssl pkey -in KEY -out PLAIN`) and protect the file's permissions"),
        ));
        return None;
    }
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(key) => Some(key),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            problems.push(problem(
                entry,
                format!("the {what} holds no PEM PRIVATE KEY block (a PEM keystore is the certificate chain and its key in one file)"),
            ));
            None
        }
        Err(e) => {
            problems.push(problem(entry, format!("the {what}: bad PEM: {e}")));
            None
        }
    }
}

fn store_type_is_pem(type_entry: Option<&Entry>, store: &str, problems: &mut Vec<Problem>) -> bool {
    let Some(entry) = type_entry else {
        return true;
    };
    let written = value(entry);
    if written.trim().eq_ignore_ascii_case("PEM") {
        return true;
    }
    problems.push(problem(
        entry,
        format!(
            "pipewright reads {store}s of type PEM only, not {:?}: convert it (`openssl pkcs12 -in STORE.p12 -nodes -out STORE.pem`; a JKS store first with `keytool -importkeystore -deststoretype PKCS12`) and set this key to PEM",
            written.trim()
        ),
    ));
    false
}

/// The TLS of the https listeners from `keys` (prefixed or bare, without the prefix).
fn tls(
    keys: &[(String, Entry)],
    listener: Option<&Entry>,
    problems: &mut Vec<Problem>,
) -> Option<RestTls> {
    let get = |key: &str| keys.iter().find(|(k, _)| k == key).map(|(_, e)| e);
    let before = problems.len();
    let keystore_pem = store_type_is_pem(get("ssl.keystore.type"), "keystore", problems);
    for (key, message) in [
        (
            "ssl.keystore.password",
            "a PEM keystore has no store password (Kafka refuses one too): remove this key",
        ),
        (
            "ssl.key.password",
            "encrypted private keys are not read: give the key unencrypted and remove this key",
        ),
        (
            "ssl.truststore.password",
            "a PEM truststore has no password (Kafka refuses one too): remove this key",
        ),
    ] {
        if let Some(entry) = get(key) {
            problems.push(problem(entry, message));
        }
    }
    let identity = keystore(
        get("ssl.keystore.location"),
        get("ssl.keystore.certificate.chain"),
        get("ssl.keystore.key"),
        keystore_pem,
        listener,
        problems,
    );
    let client_auth = match get("ssl.client.auth") {
        None => ClientAuth::None,
        Some(entry) => match value(entry).trim().to_ascii_lowercase().as_str() {
            "none" => ClientAuth::None,
            "requested" => ClientAuth::Requested,
            "required" => ClientAuth::Required,
            other => {
                problems.push(problem(
                    entry,
                    format!("expected none, requested or required, found {other:?}"),
                ));
                ClientAuth::None
            }
        },
    };
    let roots = match client_auth {
        ClientAuth::None => {
            // A truststore only serves to check client certificates; with none asked for it does nothing.
            for key in [
                "ssl.truststore.location",
                "ssl.truststore.certificates",
                "ssl.truststore.type",
            ] {
                if let (Some(entry), true) = (
                    get(key),
                    keys.iter().any(|(_, e)| e.key.starts_with(HTTPS_PREFIX)),
                ) {
                    problems.push(problem(
                        entry,
                        "the truststore checks client certificates, and ssl.client.auth is none: set it to requested or required, or remove this key",
                    ));
                }
            }
            None
        }
        ClientAuth::Requested | ClientAuth::Required => {
            truststore(keys, get("ssl.client.auth"), problems)
        }
    };
    let versions = match get("ssl.enabled.protocols") {
        None => vec![&rustls::version::TLS13, &rustls::version::TLS12],
        Some(entry) => {
            let mut versions = Vec::new();
            for protocol in value(entry)
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                match protocol {
                    "TLSv1.3" => versions.push(&rustls::version::TLS13),
                    "TLSv1.2" => versions.push(&rustls::version::TLS12),
                    other => problems.push(problem(
                        entry,
                        format!("{other:?}: the REST server speaks TLSv1.2 and TLSv1.3 only"),
                    )),
                }
            }
            if versions.is_empty() {
                problems.push(problem(
                    entry,
                    "names no protocol: give TLSv1.2, TLSv1.3 or both",
                ));
            }
            versions
        }
    };
    if problems.len() > before {
        return None;
    }
    let (chain, key, key_entry) = identity?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // The same identity, presented to other workers (checked as the server's first, for its message).
    let client_identity = (chain.clone(), key.clone_key());
    let client_roots = roots.clone();
    let builder = match rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
    {
        Ok(builder) => builder,
        Err(e) => {
            problems.push(problem(key_entry, format!("TLS setup: {e}")));
            return None;
        }
    };
    let builder = match roots {
        None => builder.with_no_client_auth(),
        Some(roots) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            );
            let verifier = if client_auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            match verifier.build() {
                Ok(verifier) => builder.with_client_cert_verifier(verifier),
                Err(e) => {
                    let entry = get("ssl.client.auth").unwrap_or(key_entry);
                    problems.push(problem(entry, format!("the truststore: {e}")));
                    return None;
                }
            }
        }
    };
    match builder.with_single_cert(chain, key) {
        Ok(mut server) => {
            server.alpn_protocols = vec![b"http/1.1".to_vec()];
            let client = client_config(
                provider,
                &versions,
                client_roots,
                client_identity,
                key_entry,
                problems,
            )?;
            Some(RestTls {
                server: Arc::new(server),
                client_auth,
                client: Arc::new(client),
            })
        }
        Err(e) => {
            problems.push(problem(
                key_entry,
                format!("the keystore's key and certificate cannot serve TLS: {e}"),
            ));
            None
        }
    }
}

/// The TLS a request to another worker's https listener goes with: `roots` (none: the system's CAs) vouch for
/// its certificate, and this worker's own certificate is presented when asked for.
fn client_config(
    provider: Arc<rustls::crypto::CryptoProvider>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    roots: Option<rustls::RootCertStore>,
    (chain, key): (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    key_entry: &Entry,
    problems: &mut Vec<Problem>,
) -> Option<rustls::ClientConfig> {
    let roots = roots.unwrap_or_else(|| {
        let mut system = rustls::RootCertStore::empty();
        // Certificates the system store holds but rustls cannot use are skipped; with none usable, a forwarded
        // request fails naming the leader and the certificate it could not check.
        system.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        system
    });
    let built = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map(|builder| builder.with_root_certificates(roots))
        .and_then(|builder| builder.with_client_auth_cert(chain, key));
    match built {
        Ok(mut client) => {
            client.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(client)
        }
        Err(e) => {
            problems.push(problem(
                key_entry,
                format!(
                    "the keystore's key and certificate cannot be presented to other workers: {e}"
                ),
            ));
            None
        }
    }
}

type Identity<'a> = (
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
    &'a Entry,
);

/// The certificate chain and key: from the PEM file `location`, or inline from `chain` and `key`.
fn keystore<'a>(
    location: Option<&'a Entry>,
    chain: Option<&'a Entry>,
    key: Option<&'a Entry>,
    pem: bool,
    listener: Option<&Entry>,
    problems: &mut Vec<Problem>,
) -> Option<Identity<'a>> {
    match (location, chain, key) {
        (Some(location), None, None) => {
            if !pem {
                return None;
            }
            let bytes = read_file(location, "keystore", problems)?;
            if !looks_like_pem(&bytes) {
                problems.push(problem(
                    location,
                    "the keystore is not PEM (a JKS or PKCS12 store?): pipewright reads PEM keystores only, the certificate chain and its key in one file (ssl.keystore.type=PEM)",
                ));
                return None;
            }
            let chain = certificates(&bytes, location, "keystore", problems);
            let key = private_key(&bytes, location, "keystore", problems);
            Some((chain?, key?, location))
        }
        (None, Some(chain), Some(key)) => {
            if !pem {
                return None;
            }
            let certs = certificates(
                value(chain).as_bytes(),
                chain,
                "certificate chain",
                problems,
            );
            let key_der = private_key(value(key).as_bytes(), key, "key", problems);
            Some((certs?, key_der?, key))
        }
        (None, None, None) => {
            let message = "an https listener needs a keystore: listeners.https.ssl.keystore.location (a PEM file with the certificate chain and its key), or ssl.keystore.location";
            problems.push(match listener {
                Some(entry) => problem(entry, message),
                None => Problem {
                    location: Location::new(&Arc::from("worker config"), 0),
                    pipeline: None,
                    key: Some("listeners".into()),
                    message: message.into(),
                },
            });
            None
        }
        (location, chain, key) => {
            if let Some(entry) = location.or(chain).or(key) {
                problems.push(problem(
                    entry,
                    "give either ssl.keystore.location, or ssl.keystore.certificate.chain with ssl.keystore.key",
                ));
            }
            None
        }
    }
}

/// The CAs client certificates must chain to.
fn truststore(
    keys: &[(String, Entry)],
    client_auth: Option<&Entry>,
    problems: &mut Vec<Problem>,
) -> Option<rustls::RootCertStore> {
    let get = |key: &str| keys.iter().find(|(k, _)| k == key).map(|(_, e)| e);
    if !store_type_is_pem(get("ssl.truststore.type"), "truststore", problems) {
        return None;
    }
    let (certs, entry) = match (
        get("ssl.truststore.location"),
        get("ssl.truststore.certificates"),
    ) {
        (Some(location), None) => {
            let bytes = read_file(location, "truststore", problems)?;
            (
                certificates(&bytes, location, "truststore", problems)?,
                location,
            )
        }
        (None, Some(inline)) => (
            certificates(value(inline).as_bytes(), inline, "truststore", problems)?,
            inline,
        ),
        (Some(location), Some(_)) => {
            problems.push(problem(
                location,
                "give either ssl.truststore.location or ssl.truststore.certificates, not both",
            ));
            return None;
        }
        (None, None) => {
            if let Some(entry) = client_auth {
                problems.push(problem(
                    entry,
                    "client certificates are checked against a truststore: set ssl.truststore.location (a PEM file of the CAs) beside this key",
                ));
            }
            return None;
        }
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        if let Err(e) = roots.add(cert) {
            problems.push(problem(
                entry,
                format!("the truststore: a certificate is unusable as a CA: {e}"),
            ));
            return None;
        }
    }
    Some(roots)
}

/// Basic auth and the bearer token.
fn auth(keys: &RestServerKeys, problems: &mut Vec<Problem>) -> RestAuth {
    let mut auth = RestAuth::default();
    let mut basic_wanted = false;
    if let Some(entry) = &keys.extension_classes {
        for class in value(entry)
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            if class == BASIC_AUTH_EXTENSION {
                basic_wanted = true;
            } else {
                problems.push(problem(
                    entry,
                    format!("{class:?}: pipewright runs no Java REST extension; it knows {BASIC_AUTH_EXTENSION} (HTTP basic auth) only"),
                ));
            }
        }
    }
    if basic_wanted {
        let entry = keys
            .extension_classes
            .as_ref()
            .expect("basic auth is named there");
        let jaas = match &keys.jaas_config {
            Some(jaas) => Some((PathBuf::from(value(jaas).trim()), jaas.path.clone())),
            None => std::env::var("KAFKA_OPTS")
                .ok()
                .and_then(|opts| jaas_path_in_java_options(&opts))
                .map(|path| (path, format!("KAFKA_OPTS -D{JAAS_CONFIG_KEY}"))),
        };
        match jaas {
            None => problems.push(problem(
                entry,
                format!("basic auth needs its JAAS file: set {JAAS_CONFIG_KEY}=FILE in the worker config (or -D{JAAS_CONFIG_KEY}=FILE in KAFKA_OPTS), the file naming the credentials as Kafka Connect's does"),
            )),
            Some((path, named_by)) => {
                let at = keys.jaas_config.as_ref().unwrap_or(entry);
                if let Some(users) = basic_users(&path, &named_by, at, problems) {
                    auth.basic = Some(Arc::new(users));
                }
            }
        }
    } else if let Some(entry) = &keys.jaas_config {
        problems.push(problem(
            entry,
            format!("read by basic auth only, and rest.extension.classes does not name {BASIC_AUTH_EXTENSION}"),
        ));
    }
    if let Some(entry) = &keys.bearer_token_file {
        let path = value(entry);
        if let Some(bytes) = read_file(entry, "bearer token file", problems) {
            match std::str::from_utf8(&bytes).map(str::trim) {
                Ok(token) if !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()) => {
                    auth.bearer = Some(Arc::new(BearerToken::new(
                        PathBuf::from(path.trim()),
                        token,
                    )));
                }
                Ok("") => problems.push(problem(
                    entry,
                    format!("the bearer token file {} is empty", path.trim()),
                )),
                _ => problems.push(problem(
                    entry,
                    format!(
                        "the bearer token file {} must hold one token of visible ASCII characters",
                        path.trim()
                    ),
                )),
            }
        }
    }
    auth
}

/// `-Djava.security.auth.login.config=PATH` among Java options (KAFKA_OPTS), as the JVM reads it.
fn jaas_path_in_java_options(options: &str) -> Option<PathBuf> {
    let flag = format!("-D{JAAS_CONFIG_KEY}=");
    options
        .split_whitespace()
        .filter_map(|word| word.strip_prefix(&flag))
        .next_back()
        .map(|path| PathBuf::from(path.trim_matches('"')))
}

/// The users of the credentials file the JAAS file at `path` names in its `KafkaConnect` section.
fn basic_users(
    path: &Path,
    named_by: &str,
    entry: &Entry,
    problems: &mut Vec<Problem>,
) -> Option<BasicUsers> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            problems.push(problem(
                entry,
                format!(
                    "cannot read the JAAS file {} (named by {named_by}): {e}",
                    path.display()
                ),
            ));
            return None;
        }
    };
    let jaas_file: Arc<str> = Arc::from(path.display().to_string());
    let at_line = |line: u32, message: String| Problem {
        location: Location::new(&jaas_file, line),
        pipeline: None,
        key: None,
        message,
    };
    let sections = match jaas::parse(&text) {
        Ok(sections) => sections,
        Err((line, message)) => {
            problems.push(at_line(line, message));
            return None;
        }
    };
    let Some(section) = sections.iter().find(|s| s.name == JAAS_SECTION) else {
        problems.push(at_line(
            0,
            format!("no {JAAS_SECTION} section: basic auth reads `{JAAS_SECTION} {{ {PROPERTY_FILE_LOGIN_MODULE} required file=\"CREDENTIALS\"; }};`"),
        ));
        return None;
    };
    let mut credentials = None;
    for module in &section.modules {
        if module.class != PROPERTY_FILE_LOGIN_MODULE {
            problems.push(at_line(
                module.line,
                format!(
                    "login module {}: pipewright knows {PROPERTY_FILE_LOGIN_MODULE} only",
                    module.class
                ),
            ));
            continue;
        }
        match module.options.iter().find(|(k, _)| k == "file") {
            Some((_, file)) if !file.trim().is_empty() => {
                credentials = Some((PathBuf::from(file), module.line))
            }
            _ => problems.push(at_line(
                module.line,
                format!("{PROPERTY_FILE_LOGIN_MODULE} needs file=\"CREDENTIALS\""),
            )),
        }
    }
    let (file, line) = match credentials {
        Some(found) => found,
        None => {
            if section.modules.is_empty() {
                problems.push(at_line(
                    section.line,
                    format!("the {JAAS_SECTION} section names no login module"),
                ));
            }
            return None;
        }
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) => {
            problems.push(at_line(
                line,
                format!("cannot read the credentials file {}: {e}", file.display()),
            ));
            return None;
        }
    };
    let users: Vec<(String, String)> = parse_properties(&text)
        .into_iter()
        .map(|(user, password, _)| (user, password))
        .collect();
    if users.is_empty() {
        // Kafka's PropertyFileLoginModule lets every request in then; an empty file is more likely a mistake.
        problems.push(Problem {
            location: Location::new(&Arc::from(file.display().to_string()), 0),
            pipeline: None,
            key: None,
            message: "no user: give user=password lines (an empty file would let every request in under Kafka Connect; pipewright refuses it)".into(),
        });
        return None;
    }
    Some(BasicUsers::new(file, users))
}

/// JAAS login configuration files: `Name { module.Class flag key="value" …; … };`, with `//` and `/* */`
/// comments, as the JVM's ConfigFile reads them.
mod jaas {
    pub(super) struct Section {
        pub(super) name: String,
        pub(super) line: u32,
        pub(super) modules: Vec<Module>,
    }

    pub(super) struct Module {
        pub(super) class: String,
        pub(super) line: u32,
        pub(super) options: Vec<(String, String)>,
    }

    #[derive(Debug, PartialEq)]
    enum Token {
        Word(String),
        Quoted(String),
        Open,
        Close,
        Semicolon,
        Equals,
    }

    impl Token {
        fn describe(&self) -> String {
            match self {
                // Never the text itself: an option's value may be a password.
                Token::Word(_) => "a word".into(),
                Token::Quoted(_) => "a quoted value".into(),
                Token::Open => "{".into(),
                Token::Close => "}".into(),
                Token::Semicolon => ";".into(),
                Token::Equals => "=".into(),
            }
        }
    }

    fn tokens(text: &str) -> Result<Vec<(Token, u32)>, (u32, String)> {
        let mut out = Vec::new();
        let mut line = 1u32;
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\n' => line += 1,
                c if c.is_whitespace() => {}
                '/' if chars.peek() == Some(&'/') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            line += 1;
                            break;
                        }
                    }
                }
                '/' if chars.peek() == Some(&'*') => {
                    chars.next();
                    let start = line;
                    let mut previous = ' ';
                    loop {
                        let Some(c) = chars.next() else {
                            return Err((start, "a /* comment is never closed".into()));
                        };
                        if c == '\n' {
                            line += 1;
                        }
                        if c == '/' && previous == '*' {
                            break;
                        }
                        previous = c;
                    }
                }
                '{' => out.push((Token::Open, line)),
                '}' => out.push((Token::Close, line)),
                ';' => out.push((Token::Semicolon, line)),
                '=' => out.push((Token::Equals, line)),
                '"' | '\'' => {
                    let start = line;
                    let mut quoted = String::new();
                    loop {
                        match chars.next() {
                            None => return Err((start, "a quoted value is never closed".into())),
                            Some(q) if q == c => break,
                            Some('\\') => match chars.next() {
                                Some(escaped) => quoted.push(escaped),
                                None => {
                                    return Err((start, "a quoted value is never closed".into()))
                                }
                            },
                            Some(other) => {
                                if other == '\n' {
                                    line += 1;
                                }
                                quoted.push(other);
                            }
                        }
                    }
                    out.push((Token::Quoted(quoted), start));
                }
                c => {
                    let mut word = String::from(c);
                    while let Some(&next) = chars.peek() {
                        if next.is_whitespace() || "{};=\"'".contains(next) {
                            break;
                        }
                        word.push(next);
                        chars.next();
                    }
                    out.push((Token::Word(word), line));
                }
            }
        }
        Ok(out)
    }

    pub(super) fn parse(text: &str) -> Result<Vec<Section>, (u32, String)> {
        let tokens = tokens(text)?;
        let mut at = 0;
        let mut sections = Vec::new();
        let last_line = tokens.last().map_or(1, |(_, l)| *l);
        let expected = |what: &str, found: Option<&(Token, u32)>| match found {
            Some((token, line)) => (
                *line,
                format!("expected {what}, found {}", token.describe()),
            ),
            None => (
                last_line,
                format!("expected {what}, found the end of the file"),
            ),
        };
        while at < tokens.len() {
            let (name, line) = match &tokens[at] {
                (Token::Word(name), line) => (name.clone(), *line),
                other => return Err(expected("a section name", Some(other))),
            };
            at += 1;
            if tokens.get(at).map(|(t, _)| t) != Some(&Token::Open) {
                return Err(expected("{", tokens.get(at)));
            }
            at += 1;
            let mut modules = Vec::new();
            loop {
                match tokens.get(at) {
                    Some((Token::Close, _)) => {
                        at += 1;
                        break;
                    }
                    Some((Token::Word(class), line)) => {
                        let (class, line) = (class.clone(), *line);
                        at += 1;
                        match tokens.get(at) {
                            Some((Token::Word(flag), _))
                                if ["required", "requisite", "sufficient", "optional"]
                                    .contains(&flag.to_ascii_lowercase().as_str()) => {}
                            other => {
                                return Err(expected(
                                    "a control flag (required, requisite, sufficient or optional)",
                                    other,
                                ))
                            }
                        }
                        at += 1;
                        let mut options = Vec::new();
                        loop {
                            match tokens.get(at) {
                                Some((Token::Semicolon, _)) => {
                                    at += 1;
                                    break;
                                }
                                Some((Token::Word(key), _)) => {
                                    let key = key.clone();
                                    at += 1;
                                    if tokens.get(at).map(|(t, _)| t) != Some(&Token::Equals) {
                                        return Err(expected("=", tokens.get(at)));
                                    }
                                    at += 1;
                                    let value = match tokens.get(at) {
                                        Some((Token::Quoted(v) | Token::Word(v), _)) => v.clone(),
                                        other => return Err(expected("a value", other)),
                                    };
                                    at += 1;
                                    options.push((key, value));
                                }
                                other => return Err(expected("an option or ;", other)),
                            }
                        }
                        modules.push(Module {
                            class,
                            line,
                            options,
                        });
                    }
                    other => return Err(expected("a login module or }", other)),
                }
            }
            if tokens.get(at).map(|(t, _)| t) == Some(&Token::Semicolon) {
                at += 1;
            } else {
                return Err(expected("; after }", tokens.get(at)));
            }
            sections.push(Section {
                name,
                line,
                modules,
            });
        }
        Ok(sections)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_standalone;

    /// A CA, a server certificate it signed (localhost, 127.0.0.1) and another key.
    struct Pki {
        ca_pem: String,
        server_pem: String,
        server_key_pem: String,
        other_key_pem: String,
    }

    fn pki() -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
        Pki {
            ca_pem: ca.pem(),
            server_pem: server.pem(),
            server_key_pem: server_key.serialize_pem(),
            other_key_pem: rcgen::KeyPair::generate().unwrap().serialize_pem(),
        }
    }

    /// Writes `worker.properties` with `lines` (paths as `DIR/`) and reads it as `engine standalone` does.
    fn load(dir: &Path, lines: &str) -> Result<crate::config::WorkerConfig, String> {
        let text = format!(
            "bootstrap.servers=127.0.0.1:1\n{}\n",
            lines.replace("DIR/", &format!("{}/", dir.display()))
        );
        let path = dir.join("worker.properties");
        std::fs::write(&path, text).unwrap();
        load_standalone(&path, &[])
            .map(|config| config.worker)
            .map_err(|e| e.to_string())
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn listeners_take_http_and_https_and_bind_loopback_when_no_host_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki();
        write(
            dir.path(),
            "ks.pem",
            &(pki.server_pem.clone() + &pki.server_key_pem),
        );
        let worker = load(
            dir.path(),
            "listeners=http://:8083, HTTPS://[::1]:8443\nlisteners.https.ssl.keystore.location=DIR/ks.pem\nlisteners.https.ssl.keystore.type=PEM",
        )
        .unwrap();
        assert_eq!(
            worker.rest.listeners[0],
            RestListener::http("127.0.0.1", 8083)
        );
        assert_eq!(worker.rest.listeners[1].scheme, RestScheme::Https);
        assert_eq!(worker.rest.listeners[1].address(), "[::1]:8443");
        let tls = worker.rest.tls.expect("the https listener's TLS");
        assert_eq!(tls.client_auth, ClientAuth::None);
        assert!(!worker.rest.auth.is_required());
        // Connectors created later are built from the entries again: the REST keys are not among them.
        assert!(worker
            .entries
            .iter()
            .all(|e| !e.key.starts_with("listeners")));

        let worker = load(dir.path(), "rest.port=9000").unwrap();
        assert_eq!(
            worker.rest.listeners,
            vec![RestListener::http("127.0.0.1", 9000)]
        );
        let worker = load(dir.path(), "").unwrap();
        assert!(
            worker.rest.listeners.is_empty(),
            "the CLI's default (127.0.0.1:8083) applies"
        );
    }

    #[test]
    fn keystore_problems_are_config_errors_at_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki();
        write(
            dir.path(),
            "mismatched.pem",
            &(pki.server_pem.clone() + &pki.other_key_pem),
        );
        write(dir.path(), "cert-only.pem", &pki.server_pem);
        write(dir.path(), "store.jks", "\u{fe}\u{ed}\u{fe}\u{ed} not pem");
        let key = "listeners.https.ssl.keystore.location";
        for (lines, expected) in [
            (
                format!("{key}=DIR/missing.pem"),
                format!("worker.properties:3: key \"{key}\": cannot read the keystore"),
            ),
            (
                format!("{key}=DIR/mismatched.pem"),
                format!("worker.properties:3: key \"{key}\": the keystore's key and certificate cannot serve TLS"),
            ),
            (
                format!("{key}=DIR/cert-only.pem"),
                format!("worker.properties:3: key \"{key}\": the keystore holds no PEM PRIVATE KEY block"),
            ),
            (
                format!("{key}=DIR/store.jks"),
                format!("worker.properties:3: key \"{key}\": the keystore is not PEM"),
            ),
            (
                format!("{key}=DIR/mismatched.pem\nlisteners.https.ssl.keystore.type=JKS"),
                "worker.properties:4: key \"listeners.https.ssl.keystore.type\": pipewright reads keystores of type PEM only, not \"JKS\"".to_owned(),
            ),
            (
                format!("{key}=DIR/cert-only.pem\nlisteners.https.ssl.keystore.password=secret-value"),
                "worker.properties:4: key \"listeners.https.ssl.keystore.password\": a PEM keystore has no store password".to_owned(),
            ),
            (
                "listeners.https.ssl.client.auth=required".to_owned(),
                "worker.properties:2: key \"listeners\": an https listener needs a keystore".to_owned(),
            ),
            (
                format!("{key}=DIR/cert-only.pem\nlisteners.https.ssl.keystore.locaton=x"),
                "key \"listeners.https.ssl.keystore.locaton\": unknown key (did you mean \"listeners.https.ssl.keystore.location\"?)".to_owned(),
            ),
        ] {
            let errors = load(dir.path(), &format!("listeners=https://127.0.0.1:8443\n{lines}")).unwrap_err();
            assert!(errors.contains(&expected), "{lines}:\n{errors}\n(expected {expected})");
            assert!(!errors.contains("secret-value"), "no secret in {errors}");
        }
        let errors = load(
            dir.path(),
            &format!("listeners=http://127.0.0.1:8083\n{key}=DIR/cert-only.pem"),
        )
        .unwrap_err();
        assert!(errors.contains("no listener is https"), "{errors}");
    }

    /// Runs a TLS handshake between `client` and `server` in memory; the error of the side that gave up.
    fn handshake(
        client: Arc<rustls::ClientConfig>,
        server: Arc<rustls::ServerConfig>,
    ) -> Result<(), rustls::Error> {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut client = rustls::ClientConnection::new(client, name)?;
        let mut server = rustls::ServerConnection::new(server)?;
        for _ in 0..20 {
            let mut bytes = Vec::new();
            client.write_tls(&mut bytes).unwrap();
            server.read_tls(&mut bytes.as_slice()).unwrap();
            server.process_new_packets()?;
            let mut bytes = Vec::new();
            server.write_tls(&mut bytes).unwrap();
            client.read_tls(&mut bytes.as_slice()).unwrap();
            client.process_new_packets()?;
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(());
            }
        }
        panic!("the handshake did not end");
    }

    #[test]
    fn the_client_side_trusts_the_truststore_and_presents_the_keystore_to_other_workers() {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki();
        write(
            dir.path(),
            "ks.pem",
            &(pki.server_pem.clone() + &pki.server_key_pem),
        );
        write(dir.path(), "ca.pem", &pki.ca_pem);
        // A worker asking for client certificates: another worker with the same keys is let in.
        let worker = load(
            dir.path(),
            "listeners=https://127.0.0.1:8443\nlisteners.https.ssl.keystore.location=DIR/ks.pem\nlisteners.https.ssl.truststore.location=DIR/ca.pem\nlisteners.https.ssl.client.auth=required",
        )
        .unwrap();
        let tls = worker.rest.tls.unwrap();
        handshake(tls.client.clone(), tls.server.clone()).unwrap();
        // A client without the keystore's certificate is not.
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let anonymous = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        assert!(handshake(Arc::new(anonymous), tls.server.clone()).is_err());
        // Without a truststore the system's CAs are trusted, which do not vouch for this CA's certificate.
        let worker = load(
            dir.path(),
            "listeners=https://127.0.0.1:8443\nlisteners.https.ssl.keystore.location=DIR/ks.pem",
        )
        .unwrap();
        let tls = worker.rest.tls.unwrap();
        assert!(handshake(tls.client.clone(), tls.server.clone()).is_err());
    }

    #[test]
    fn bare_ssl_keys_serve_the_https_listeners_only_when_no_prefixed_key_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki();
        write(
            dir.path(),
            "ks.pem",
            &(pki.server_pem.clone() + &pki.server_key_pem),
        );
        write(dir.path(), "ca.pem", &pki.ca_pem);
        let worker = load(
            dir.path(),
            "listeners=https://127.0.0.1:8443\nssl.keystore.location=DIR/ks.pem\nssl.truststore.location=DIR/ca.pem\nssl.client.auth=required",
        )
        .unwrap();
        assert_eq!(worker.rest.tls.unwrap().client_auth, ClientAuth::Required);
        // Kafka Connect's all-or-nothing: with a listeners.https. key, the bare ssl.client.auth (a server key
        // no Kafka client takes) is read by nothing.
        let errors = load(
            dir.path(),
            "listeners=https://127.0.0.1:8443\nlisteners.https.ssl.keystore.location=DIR/ks.pem\nssl.client.auth=required",
        )
        .unwrap_err();
        assert!(errors.contains("worker.properties:4: key \"ssl.client.auth\": the https listeners read listeners.https.* keys instead"), "{errors}");
        // A bare truststore with no client certificates asked for is the Kafka clients' (ssl.truststore.location
        // is a client key too) when they use TLS: the REST server does not check client certificates with it.
        let worker = load(
            dir.path(),
            "listeners=https://127.0.0.1:8443\nssl.keystore.location=DIR/ks.pem\nssl.truststore.location=DIR/ca.pem\nsecurity.protocol=SSL",
        )
        .unwrap();
        assert!(worker.rest.tls.unwrap().client_auth != ClientAuth::Required);
        assert!(worker.client.0.contains_key("ssl.truststore.location"));
        assert!(worker.client.0.contains_key("ssl.keystore.location"));
        // Under PLAINTEXT nothing reads it: an error, saying why for both.
        let errors = load(
            dir.path(),
            "listeners=https://127.0.0.1:8443\nssl.keystore.location=DIR/ks.pem\nssl.truststore.location=DIR/ca.pem",
        )
        .unwrap_err();
        assert!(
            errors.contains("worker.properties:4: key \"ssl.truststore.location\": the truststore checks client certificates, and ssl.client.auth is none")
                && errors.contains("nor do the Kafka clients, as security.protocol=PLAINTEXT does not use TLS"),
            "{errors}"
        );
        assert!(!errors.contains("ssl.keystore.location"), "{errors}");
    }

    /// Kafka Connect's https listeners fall back to the bare ssl.* keys, which its Kafka clients also take under
    /// SSL: under PLAINTEXT (or SASL_PLAINTEXT) they are the REST server's alone, never a client's (whose
    /// settings would refuse them as keys with no effect), in this worker or a connector made later.
    #[test]
    fn bare_ssl_keys_the_rest_server_reads_are_its_alone_when_the_clients_use_no_tls() {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki();
        write(
            dir.path(),
            "ks.pem",
            &(pki.server_pem.clone() + &pki.server_key_pem),
        );
        for protocol in ["", "security.protocol=PLAINTEXT\n", "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username=u\nsasl.password=p\n"] {
            let worker = load(
                dir.path(),
                &format!("{protocol}listeners=https://127.0.0.1:8443\nssl.keystore.type=PEM\nssl.keystore.location=DIR/ks.pem"),
            )
            .unwrap_or_else(|e| panic!("{protocol}: {e}"));
            assert!(worker.rest.tls.is_some(), "{protocol}");
            assert!(
                !worker.client.0.keys().any(|k| k.starts_with("ssl.")),
                "{protocol}: {:?}",
                worker.client.0.keys().collect::<Vec<_>>()
            );
            assert!(
                !worker.entries.iter().any(|e| e.key.starts_with("ssl.")),
                "connectors made later would get them: {protocol}"
            );
        }
        // Without an https listener, the same key under PLAINTEXT has no effect at all.
        let errors = load(dir.path(), "ssl.keystore.location=DIR/ks.pem").unwrap_err();
        assert!(
            errors.contains("key \"ssl.keystore.location\": read by https listeners only")
                && errors.contains("security.protocol=PLAINTEXT does not use TLS"),
            "{errors}"
        );
    }

    #[test]
    fn client_certificates_need_a_truststore_and_a_known_mode() {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki();
        write(
            dir.path(),
            "ks.pem",
            &(pki.server_pem.clone() + &pki.server_key_pem),
        );
        write(dir.path(), "ca.pem", &pki.ca_pem);
        let base =
            "listeners=https://127.0.0.1:8443\nlisteners.https.ssl.keystore.location=DIR/ks.pem";
        let worker = load(
            dir.path(),
            &format!("{base}\nlisteners.https.ssl.client.auth=requested\nlisteners.https.ssl.truststore.location=DIR/ca.pem"),
        )
        .unwrap();
        assert_eq!(worker.rest.tls.unwrap().client_auth, ClientAuth::Requested);
        let errors = load(
            dir.path(),
            &format!("{base}\nlisteners.https.ssl.client.auth=required"),
        )
        .unwrap_err();
        assert!(errors.contains("key \"listeners.https.ssl.client.auth\": client certificates are checked against a truststore"), "{errors}");
        let errors = load(
            dir.path(),
            &format!("{base}\nlisteners.https.ssl.client.auth=always"),
        )
        .unwrap_err();
        assert!(
            errors.contains("expected none, requested or required, found \"always\""),
            "{errors}"
        );
        let errors = load(
            dir.path(),
            &format!("{base}\nlisteners.https.ssl.truststore.location=DIR/ca.pem"),
        )
        .unwrap_err();
        assert!(errors.contains("ssl.client.auth is none"), "{errors}");
        let errors = load(
            dir.path(),
            &format!("{base}\nlisteners.https.ssl.enabled.protocols=TLSv1.1"),
        )
        .unwrap_err();
        assert!(errors.contains("TLSv1.2 and TLSv1.3 only"), "{errors}");
    }

    #[test]
    fn basic_auth_reads_the_jaas_file_and_its_credentials() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "users.properties",
            "# who may call\nadmin: s3cret\nreader=read,only\n",
        );
        write(
            dir.path(),
            "jaas.conf",
            &format!(
                "// other clients' sections are left alone\nKafkaClient {{ org.example.Other required user=\"x\"; }};\n/* the REST API */\nKafkaConnect {{\n  {PROPERTY_FILE_LOGIN_MODULE} required\n  file=\"{}/users.properties\";\n}};\n",
                dir.path().display()
            ),
        );
        let worker = load(
            dir.path(),
            &format!("rest.extension.classes={BASIC_AUTH_EXTENSION}\njava.security.auth.login.config=DIR/jaas.conf"),
        )
        .unwrap();
        let users = worker.rest.auth.basic.expect("basic auth");
        assert_eq!(users.user_count(), 2);
        assert!(users.accepts("admin", "s3cret"));
        assert!(
            users.accepts("reader", "read,only"),
            "the whole value is the password"
        );
        assert!(!users.accepts("admin", "s3cre"));
        assert!(!users.accepts("admin", "s3cret "));
        assert!(!users.accepts("nobody", "s3cret"));
        assert!(!format!("{users:?}").contains("s3cret"));

        write(dir.path(), "empty.properties", "# nobody\n");
        write(
            dir.path(),
            "empty.conf",
            &format!("KafkaConnect {{\n {PROPERTY_FILE_LOGIN_MODULE} required file=\"{}/empty.properties\";\n}};\n", dir.path().display()),
        );
        let errors = load(
            dir.path(),
            &format!("rest.extension.classes={BASIC_AUTH_EXTENSION}\njava.security.auth.login.config=DIR/empty.conf"),
        )
        .unwrap_err();
        assert!(errors.contains("empty.properties: no user"), "{errors}");

        write(
            dir.path(),
            "broken.conf",
            "KafkaConnect {\n  Some.Module required\n  file=x\n};\n",
        );
        let errors = load(
            dir.path(),
            &format!("rest.extension.classes={BASIC_AUTH_EXTENSION}\njava.security.auth.login.config=DIR/broken.conf"),
        )
        .unwrap_err();
        assert!(
            errors.contains("broken.conf:4: expected an option or ;, found }"),
            "{errors}"
        );

        let errors = load(
            dir.path(),
            &format!("rest.extension.classes={BASIC_AUTH_EXTENSION}"),
        )
        .unwrap_err();
        assert!(
            errors.contains("key \"rest.extension.classes\": basic auth needs its JAAS file"),
            "{errors}"
        );
        let errors =
            load(dir.path(), "rest.extension.classes=com.example.MyExtension").unwrap_err();
        assert!(
            errors.contains("pipewright runs no Java REST extension"),
            "{errors}"
        );
    }

    #[test]
    fn the_jaas_file_is_found_in_kafka_opts_as_the_jvm_reads_it() {
        assert_eq!(
            jaas_path_in_java_options(
                "-Xmx1g -Djava.security.auth.login.config=/etc/connect/jaas.conf -Dx=y"
            ),
            Some(PathBuf::from("/etc/connect/jaas.conf"))
        );
        assert_eq!(jaas_path_in_java_options("-Xmx1g"), None);
    }

    #[test]
    fn the_bearer_token_is_read_from_its_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "token", "abc.def-123\n");
        let worker = load(dir.path(), "rest.auth.bearer.token.file=DIR/token").unwrap();
        let token = worker.rest.auth.bearer.expect("the token");
        assert!(token.accepts("abc.def-123"));
        assert!(!token.accepts("abc.def-12"));
        write(dir.path(), "blank", "\n");
        let errors = load(dir.path(), "rest.auth.bearer.token.file=DIR/blank").unwrap_err();
        assert!(
            errors.contains(
                "worker.properties:2: key \"rest.auth.bearer.token.file\": the bearer token file"
            ),
            "{errors}"
        );
        assert!(errors.contains("is empty"), "{errors}");
    }
}
