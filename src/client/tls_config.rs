//! The TLS settings of broker connections (`security.protocol=SSL`), under Java's and librdkafka's key names,
//! read into the CA certificates, client certificate and key they name.
//!
//! The PEM files and directories the keys name are read here, when the config is read, so a missing file, a
//! file without certificates, a key that does not match its certificate or a wrong `ssl.key.password` is a
//! config error naming its key before anything connects. Only PEM is read (Java's `ssl.*.type=PEM`); JKS and
//! PKCS12 stores are refused by name. Nothing here opens a connection; the runtime wraps its connections in
//! TLS with what this builds. A secret (the key password, an inline key) never appears in an error.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;

/// The `ssl.*` keys of every client. Java's: `ssl.truststore.*`, `ssl.keystore.*`, `ssl.key.password`,
/// `ssl.endpoint.identification.algorithm`; librdkafka's: `ssl.ca.*`, `ssl.certificate.*`, `ssl.key.*`.
pub const TLS_KEYS: &[&str] = &[
    "ssl.ca.location",
    "ssl.ca.pem",
    "ssl.certificate.location",
    "ssl.certificate.pem",
    "ssl.key.location",
    "ssl.key.pem",
    "ssl.key.password",
    "ssl.truststore.location",
    "ssl.truststore.type",
    "ssl.truststore.certificates",
    "ssl.keystore.location",
    "ssl.keystore.type",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.endpoint.identification.algorithm",
    // Known so a Kafka Connect worker file's JKS settings are refused in words, not as unknown keys.
    "ssl.truststore.password",
    "ssl.keystore.password",
];

/// Keys whose values are secrets: never shown.
const SECRET_KEYS: &[&str] = &[
    "ssl.key.password",
    "ssl.key.pem",
    "ssl.keystore.key",
    "ssl.truststore.password",
    "ssl.keystore.password",
];

/// Keys whose values are PEM text rather than paths: shown as a placeholder.
const INLINE_KEYS: &[&str] = &[
    "ssl.ca.pem",
    "ssl.certificate.pem",
    "ssl.truststore.certificates",
    "ssl.keystore.certificate.chain",
];

/// The largest PEM file read: CA bundles are a few hundred KiB; this only stops a mistaken path (a device, a
/// huge log) from being read whole.
const MAX_PEM_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A bad TLS setting: the key, the value as it may be shown, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsKeyError {
    pub key: &'static str,
    /// The value, or a placeholder for a secret or inline PEM.
    pub shown_value: String,
    pub reason: String,
}

/// What a TLS connection to a broker trusts and presents.
#[derive(Clone)]
pub struct TlsConfig {
    /// The CAs a broker's certificate must chain to; `None`: the system's (as librdkafka and Java without a
    /// truststore).
    pub roots: Option<Arc<RootCertStore>>,
    /// The client certificate chain and key, for brokers that require one (mutual TLS).
    pub identity: Option<Arc<CertifiedKey>>,
    /// `ssl.endpoint.identification.algorithm=https` (the default): the broker's certificate must name the host
    /// we connected to. Off (empty), the chain is still verified.
    pub verify_hostname: bool,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("TlsConfig")
            .field(
                "roots",
                &self.roots.as_ref().map_or("system".to_owned(), |roots| {
                    format!("{} CA certificates", roots.len())
                }),
            )
            .field("client_certificate", &self.identity.is_some())
            .field("verify_hostname", &self.verify_hostname)
            .finish()
    }
}

impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        fn same<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
            match (a, b) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
        }
        same(&self.roots, &other.roots)
            && same(&self.identity, &other.identity)
            && self.verify_hostname == other.verify_hostname
    }
}

/// How a value may be shown in an error.
fn shown(key: &'static str, value: &str) -> String {
    if SECRET_KEYS.contains(&key) {
        "(hidden)".into()
    } else if INLINE_KEYS.contains(&key) {
        "(inline PEM)".into()
    } else {
        value.into()
    }
}

/// The `ssl.*` settings given (`given`: key → value, keys from [`TLS_KEYS`]), read into a [`TlsConfig`], or
/// every problem found.
pub fn read_tls_config(
    given: &BTreeMap<&'static str, String>,
) -> Result<TlsConfig, Vec<TlsKeyError>> {
    let mut problems = Vec::new();
    let mut problem = |key: &'static str, reason: String| {
        problems.push(TlsKeyError {
            key,
            shown_value: shown(key, given.get(key).map_or("", String::as_str)),
            reason,
        });
    };
    let verify_hostname = match given
        .get("ssl.endpoint.identification.algorithm")
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => true,
        Some(v) if v == "https" => true,
        Some(v) if v.is_empty() || v == "none" => false,
        Some(_) => {
            problem(
                "ssl.endpoint.identification.algorithm",
                "expected https (verify the broker's host name) or empty (do not)".into(),
            );
            true
        }
    };
    for key in ["ssl.truststore.type", "ssl.keystore.type"] {
        if let Some(kind) = given.get(key) {
            if !kind.trim().eq_ignore_ascii_case("PEM") {
                problem(
                    key,
                    "only PEM is supported (not JKS or PKCS12): convert the store to PEM (keytool \
                     -importkeystore to PKCS12, then openssl pkcs12 -nodes) and set it to PEM"
                        .into(),
                );
            }
        }
    }
    for key in ["ssl.truststore.password", "ssl.keystore.password"] {
        if given.contains_key(key) {
            problem(
                key,
                "PEM stores have no store password, and JKS / PKCS12 stores are not supported: convert \
                 the store to PEM, and give an encrypted key's password as ssl.key.password"
                    .into(),
            );
        }
    }
    let roots = match read_roots(given) {
        Ok(roots) => roots,
        Err(e) => {
            problems.push(e);
            None
        }
    };
    let identity = match read_identity(given) {
        Ok(identity) => identity,
        Err(e) => {
            problems.push(e);
            None
        }
    };
    if problems.is_empty() {
        Ok(TlsConfig {
            roots,
            identity,
            verify_hostname,
        })
    } else {
        Err(problems)
    }
}

fn error(given: &BTreeMap<&'static str, String>, key: &'static str, reason: String) -> TlsKeyError {
    TlsKeyError {
        key,
        shown_value: shown(key, given.get(key).map_or("", String::as_str)),
        reason,
    }
}

/// The one key of `keys` that is given; a second is a conflict.
fn only_one<'a>(
    given: &'a BTreeMap<&'static str, String>,
    keys: &[&'static str],
) -> Result<Option<(&'static str, &'a str)>, TlsKeyError> {
    let mut found: Option<(&'static str, &'a str)> = None;
    for key in keys {
        if let Some(value) = given.get(key) {
            if let Some((first, _)) = found {
                return Err(error(
                    given,
                    key,
                    format!(
                        "conflicts with {first}: set only one of {}",
                        keys.join(", ")
                    ),
                ));
            }
            found = Some((key, value.as_str()));
        }
    }
    Ok(found)
}

fn read_file(
    given: &BTreeMap<&'static str, String>,
    key: &'static str,
    path: &Path,
) -> Result<Vec<u8>, TlsKeyError> {
    let fail = |reason: String| error(given, key, reason);
    let metadata = std::fs::metadata(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    if metadata.len() > MAX_PEM_FILE_BYTES {
        return Err(fail(format!(
            "is {} bytes, more than any PEM file should be ({MAX_PEM_FILE_BYTES})",
            metadata.len()
        )));
    }
    std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))
}

/// The certificates of PEM text (other sections skipped).
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not valid PEM: {e}"))
}

fn read_roots(
    given: &BTreeMap<&'static str, String>,
) -> Result<Option<Arc<RootCertStore>>, TlsKeyError> {
    let Some((key, value)) = only_one(
        given,
        &[
            "ssl.ca.location",
            "ssl.ca.pem",
            "ssl.truststore.location",
            "ssl.truststore.certificates",
        ],
    )?
    else {
        return Ok(None);
    };
    let fail = |reason: String| error(given, key, reason);
    // librdkafka's "probe": look for the system's CAs, as when nothing is set.
    if key == "ssl.ca.location" && value.trim() == "probe" {
        return Ok(None);
    }
    let certs = if INLINE_KEYS.contains(&key) {
        certificates(value.as_bytes()).map_err(fail)?
    } else {
        let path = Path::new(value.trim());
        if key == "ssl.ca.location" && path.is_dir() {
            directory_certificates(given, key, path)?
        } else {
            let pem = read_file(given, key, path)?;
            certificates(&pem).map_err(fail)?
        }
    };
    if certs.is_empty() {
        return Err(fail(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let mut roots = RootCertStore::empty();
    for (index, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            fail(format!(
                "certificate {} is not a usable CA certificate: {e}",
                index + 1
            ))
        })?;
    }
    Ok(Some(Arc::new(roots)))
}

/// The certificates of every PEM file in a directory (as OpenSSL's CApath, without needing its hash names);
/// files that hold no certificate are passed over.
fn directory_certificates(
    given: &BTreeMap<&'static str, String>,
    key: &'static str,
    dir: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsKeyError> {
    let fail = |reason: String| error(given, key, reason);
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| fail(format!("cannot list the directory: {e}")))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    let mut certs = Vec::new();
    for path in paths {
        let pem = read_file(given, key, &path)?;
        // A file that is not PEM at all (a README, a hash index) is no CA.
        if let Ok(found) = certificates(&pem) {
            certs.extend(found);
        }
    }
    if certs.is_empty() {
        return Err(fail(
            "no file in the directory holds a PEM certificate".into(),
        ));
    }
    Ok(certs)
}

/// Where the client certificate and key come from: librdkafka's pair of keys, Java's PEM keystore file, or
/// Java's inline pair.
fn read_identity(
    given: &BTreeMap<&'static str, String>,
) -> Result<Option<Arc<CertifiedKey>>, TlsKeyError> {
    let cert_source = only_one(
        given,
        &[
            "ssl.certificate.location",
            "ssl.certificate.pem",
            "ssl.keystore.location",
            "ssl.keystore.certificate.chain",
        ],
    )?;
    let key_source = only_one(
        given,
        &[
            "ssl.key.location",
            "ssl.key.pem",
            "ssl.keystore.location",
            "ssl.keystore.key",
        ],
    );
    // ssl.keystore.location is both the certificate and the key: it may appear in both lists.
    let key_source = match (cert_source, key_source) {
        (Some(("ssl.keystore.location", _)), Err(e)) => return Err(e),
        (_, key_source) => key_source?,
    };
    let (cert_key, cert_value, key_key, key_value) = match (cert_source, key_source) {
        (None, None) => {
            if given.contains_key("ssl.key.password") {
                return Err(error(
                    given,
                    "ssl.key.password",
                    "there is no key to decrypt: set ssl.key.location, ssl.keystore.location or \
                     ssl.keystore.key too"
                        .into(),
                ));
            }
            return Ok(None);
        }
        (Some((cert_key, _)), None) => {
            return Err(error(
                given,
                cert_key,
                "a client certificate needs its private key: set ssl.key.location (or ssl.keystore.key) too"
                    .into(),
            ))
        }
        (None, Some((key_key, _))) => {
            return Err(error(
                given,
                key_key,
                "a private key needs its certificate: set ssl.certificate.location (or \
                 ssl.keystore.certificate.chain) too"
                    .into(),
            ))
        }
        (Some((ck, cv)), Some((kk, kv))) => (ck, cv, kk, kv),
    };
    let cert_pem = if INLINE_KEYS.contains(&cert_key) {
        cert_value.as_bytes().to_vec()
    } else {
        read_file(given, cert_key, Path::new(cert_value.trim()))?
    };
    let chain = certificates(&cert_pem).map_err(|e| error(given, cert_key, e))?;
    if chain.is_empty() {
        return Err(error(
            given,
            cert_key,
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let key_pem = if key_key == cert_key {
        cert_pem
    } else if key_key == "ssl.key.pem" || key_key == "ssl.keystore.key" {
        key_value.as_bytes().to_vec()
    } else {
        read_file(given, key_key, Path::new(key_value.trim()))?
    };
    let password = given.get("ssl.key.password").map(String::as_str);
    let key = private_key(&key_pem, password).map_err(|reason| error(given, key_key, reason))?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
        error(
            given,
            key_key,
            match e {
                rustls::Error::InconsistentKeys(_) => {
                    format!("the key does not belong to the certificate of {cert_key}")
                }
                e => format!("not a usable private key: {e}"),
            },
        )
    })?;
    Ok(Some(Arc::new(certified)))
}

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// The private key of PEM text: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), or an encrypted PKCS#8 key decrypted with
/// `password`. Errors never hold the password or the key.
fn private_key(pem: &[u8], password: Option<&str>) -> Result<PrivateKeyDer<'static>, String> {
    let text = String::from_utf8_lossy(pem);
    if let Some(start) = text.find(ENCRYPTED_BEGIN) {
        let end = text[start..]
            .find(ENCRYPTED_END)
            .map(|at| start + at + ENCRYPTED_END.len())
            .ok_or("the encrypted private key has no END line")?;
        let Some(password) = password else {
            return Err("the private key is encrypted: set ssl.key.password".into());
        };
        let (_, der) = pkcs8::der::pem::decode_vec(text[start..end].as_bytes())
            .map_err(|e| format!("the encrypted private key is not valid PEM: {e}"))?;
        let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
            .map_err(|e| format!("not an encrypted PKCS#8 key: {e}"))?;
        let decrypted = encrypted.decrypt(password).map_err(|_| {
            "cannot decrypt the private key with ssl.key.password (a wrong password, or a cipher other \
             than PBES2 with AES)"
                .to_owned()
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            decrypted.as_bytes().to_vec(),
        )));
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(
            "the private key is encrypted the legacy OpenSSL way, which is not supported: convert \
                    it to encrypted PKCS#8 (openssl pkcs8 -topk8 -v2 aes-256-cbc)"
                .into(),
        );
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            "holds no PEM private key (-----BEGIN PRIVATE KEY-----)".to_owned()
        }
        // Not the parser's message: it may quote what it could not decode, and that is the key.
        _ => "not a valid PEM private key".to_owned(),
    })
}
