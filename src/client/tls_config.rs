//! The TLS settings of broker connections (`security.protocol=SSL`), under Java's and librdkafka's key names:
//! which keys name the CA certificates, the client certificate and its key (inline PEM or a path), and what the
//! PEM text they name holds.
//!
//! Sans-IO like the rest of `client`: a path is data here, never opened. Whoever reads the files (the config
//! layer, to check them at config time; the runtime, to build its rustls config) hands their bytes to
//! [`roots_from_pem`] and [`identity_from_pem`], so a file without certificates, a key that does not match its
//! certificate or a wrong `ssl.key.password` is told the same way, naming its key, wherever it is found. Only
//! PEM is read (Java's `ssl.*.type=PEM`); JKS and PKCS12 stores are refused by name. A secret (the key password,
//! an inline key) never appears in an error or in `Debug`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;

use super::sasl::Secret;

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

/// A bad TLS setting: the key, the value as it may be shown, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsKeyError {
    pub key: &'static str,
    /// The value, or a placeholder for a secret or inline PEM.
    pub shown_value: String,
    pub reason: String,
}

/// Where one setting's PEM text is.
#[derive(Clone, PartialEq, Eq)]
pub enum PemSource {
    /// The text itself, given as the key's value.
    Inline(String),
    /// A file holding it.
    File(PathBuf),
    /// `ssl.ca.location`: a file, or a directory whose every file is read (as OpenSSL's CApath, without
    /// needing its hash names).
    FileOrDirectory(PathBuf),
}

impl std::fmt::Debug for PemSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // It may be a private key.
            Self::Inline(_) => f.write_str("Inline(..)"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::FileOrDirectory(path) => f.debug_tuple("FileOrDirectory").field(path).finish(),
        }
    }
}

/// One `ssl.*` key naming PEM text, and where the text is.
#[derive(Clone, PartialEq, Eq)]
pub struct PemSetting {
    pub key: &'static str,
    pub source: PemSource,
}

impl PemSetting {
    /// The value as it may be shown in an error: the path, or a placeholder for inline PEM.
    pub fn shown_value(&self) -> String {
        match &self.source {
            PemSource::Inline(text) => shown_value(self.key, text),
            PemSource::File(path) | PemSource::FileOrDirectory(path) => path.display().to_string(),
        }
    }

    /// An error about this setting.
    pub fn error(&self, reason: impl Into<String>) -> TlsKeyError {
        TlsKeyError {
            key: self.key,
            shown_value: self.shown_value(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Debug for PemSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never an inline key.
        write!(f, "{}={}", self.key, self.shown_value())
    }
}

/// The client certificate chain and its key, for brokers that require one (mutual TLS).
#[derive(Clone, PartialEq, Eq)]
pub struct IdentitySetting {
    pub certificate: PemSetting,
    /// The same file as `certificate` for Java's PEM keystore (`ssl.keystore.location`).
    pub key: PemSetting,
    /// `ssl.key.password`, for an encrypted PKCS#8 key.
    pub password: Option<Secret>,
}

impl std::fmt::Debug for IdentitySetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentitySetting")
            .field("certificate", &self.certificate)
            .field("key", &self.key)
            .field("password", &self.password.is_some())
            .finish()
    }
}

/// What a TLS connection to a broker trusts and presents, as the `ssl.*` keys say: which PEM text, not yet read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The CAs a broker's certificate must chain to; `None`: the system's (as librdkafka and Java without a
    /// truststore, and librdkafka's `ssl.ca.location=probe`).
    pub roots: Option<PemSetting>,
    /// The client certificate and key, for brokers that require one (mutual TLS).
    pub identity: Option<IdentitySetting>,
    /// `ssl.endpoint.identification.algorithm=https` (the default): the broker's certificate must name the host
    /// we connected to. Off (empty), the chain is still verified.
    pub verify_hostname: bool,
}

/// The PEM text of one setting, as its reader found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemText {
    /// Inline text, or one file's bytes.
    One(Vec<u8>),
    /// The bytes of each file of an `ssl.ca.location` directory, in the order of their names.
    Directory(Vec<Vec<u8>>),
}

/// What the PEM text of a [`TlsConfig`] holds: what a TLS connection trusts and presents.
#[derive(Clone)]
pub struct TlsMaterial {
    /// `None`: the system's CAs.
    pub roots: Option<Arc<RootCertStore>>,
    pub identity: Option<Arc<CertifiedKey>>,
    pub verify_hostname: bool,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("TlsMaterial")
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

/// How the value of `key` (one of [`TLS_KEYS`]) may be shown in an error: a placeholder for a secret or
/// inline PEM.
pub fn shown_value(key: &str, value: &str) -> String {
    if SECRET_KEYS.contains(&key) {
        "(hidden)".into()
    } else if INLINE_KEYS.contains(&key) {
        "(inline PEM)".into()
    } else {
        value.into()
    }
}

/// The `ssl.*` settings given (`given`: key → value, keys from [`TLS_KEYS`]), read into a [`TlsConfig`], and
/// every problem found; a part with a problem is left out (`None`), so the files the other parts name can still
/// be checked in the same pass. Reads no file: a path is checked only for being given with the keys it needs.
pub fn read_tls_config(given: &BTreeMap<&'static str, String>) -> (TlsConfig, Vec<TlsKeyError>) {
    let mut problems = Vec::new();
    let mut problem = |key: &'static str, reason: String| {
        problems.push(error(given, key, reason));
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
    let roots = match roots_setting(given) {
        Ok(roots) => roots,
        Err(e) => {
            problems.push(e);
            None
        }
    };
    let identity = match identity_setting(given) {
        Ok(identity) => identity,
        Err(e) => {
            problems.push(e);
            None
        }
    };
    let tls = TlsConfig {
        roots,
        identity,
        verify_hostname,
    };
    (tls, problems)
}

fn error(given: &BTreeMap<&'static str, String>, key: &'static str, reason: String) -> TlsKeyError {
    TlsKeyError {
        key,
        shown_value: shown_value(key, given.get(key).map_or("", String::as_str)),
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

/// `key`=`value` as a [`PemSetting`]: inline text for the keys that hold PEM, else a path.
fn pem_setting(key: &'static str, value: &str) -> PemSetting {
    let source = if INLINE_KEYS.contains(&key) || key == "ssl.key.pem" || key == "ssl.keystore.key"
    {
        PemSource::Inline(value.to_owned())
    } else if key == "ssl.ca.location" {
        PemSource::FileOrDirectory(PathBuf::from(value.trim()))
    } else {
        PemSource::File(PathBuf::from(value.trim()))
    };
    PemSetting { key, source }
}

fn roots_setting(
    given: &BTreeMap<&'static str, String>,
) -> Result<Option<PemSetting>, TlsKeyError> {
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
    // librdkafka's "probe": look for the system's CAs, as when nothing is set.
    if key == "ssl.ca.location" && value.trim() == "probe" {
        return Ok(None);
    }
    Ok(Some(pem_setting(key, value)))
}

/// Where the client certificate and key come from: librdkafka's pair of keys, Java's PEM keystore file, or
/// Java's inline pair.
fn identity_setting(
    given: &BTreeMap<&'static str, String>,
) -> Result<Option<IdentitySetting>, TlsKeyError> {
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
    match (cert_source, key_source) {
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
            Ok(None)
        }
        (Some((cert_key, _)), None) => Err(error(
            given,
            cert_key,
            "a client certificate needs its private key: set ssl.key.location (or ssl.keystore.key) too"
                .into(),
        )),
        (None, Some((key_key, _))) => Err(error(
            given,
            key_key,
            "a private key needs its certificate: set ssl.certificate.location (or \
             ssl.keystore.certificate.chain) too"
                .into(),
        )),
        (Some((cert_key, cert_value)), Some((key_key, key_value))) => Ok(Some(IdentitySetting {
            certificate: pem_setting(cert_key, cert_value),
            key: pem_setting(key_key, key_value),
            password: given.get("ssl.key.password").map(Secret::new),
        })),
    }
}

/// The certificates of PEM text (other sections skipped).
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not valid PEM: {e}"))
}

/// The CA store of the PEM text `setting` names. In a directory, files that hold no certificate (a README, a
/// hash index) are passed over; a file named on its own must hold certificates.
pub fn roots_from_pem(
    setting: &PemSetting,
    pem: &PemText,
) -> Result<Arc<RootCertStore>, TlsKeyError> {
    let certs = match pem {
        PemText::One(text) => certificates(text).map_err(|e| setting.error(e))?,
        PemText::Directory(files) => {
            let certs: Vec<_> = files
                .iter()
                .filter_map(|text| certificates(text).ok())
                .flatten()
                .collect();
            if certs.is_empty() {
                return Err(setting.error("no file in the directory holds a PEM certificate"));
            }
            certs
        }
    };
    if certs.is_empty() {
        return Err(setting.error("holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    let mut roots = RootCertStore::empty();
    for (index, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            setting.error(format!(
                "certificate {} is not a usable CA certificate: {e}",
                index + 1
            ))
        })?;
    }
    Ok(Arc::new(roots))
}

/// The client certificate chain and key of the PEM text `identity` names (the same text twice for a PEM
/// keystore), the key decrypted with `ssl.key.password` when it is encrypted.
pub fn identity_from_pem(
    identity: &IdentitySetting,
    certificate_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<CertifiedKey>, TlsKeyError> {
    let chain = certificates(certificate_pem).map_err(|e| identity.certificate.error(e))?;
    if chain.is_empty() {
        return Err(identity
            .certificate
            .error("holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    let password = identity.password.as_ref().map(Secret::expose);
    let key = private_key(key_pem, password).map_err(|reason| identity.key.error(reason))?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
        identity.key.error(match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "the key does not belong to the certificate of {}",
                identity.certificate.key
            ),
            e => format!("not a usable private key: {e}"),
        })
    })?;
    Ok(Arc::new(certified))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A CA, and a client certificate it signed with its key, all in PEM.
    fn pki() -> (String, String, String) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        (ca.pem(), cert.pem(), key.serialize_pem())
    }

    fn file(key: &'static str, path: &str) -> PemSetting {
        PemSetting {
            key,
            source: PemSource::File(path.into()),
        }
    }

    fn identity(key: PemSetting) -> IdentitySetting {
        IdentitySetting {
            certificate: file("ssl.certificate.location", "/client.pem"),
            key,
            password: None,
        }
    }

    #[test]
    fn roots_are_the_certificates_of_the_pem_given() {
        let (ca, _, key) = pki();
        let setting = file("ssl.ca.location", "/ca.pem");
        let roots = roots_from_pem(&setting, &PemText::One(ca.clone().into_bytes())).unwrap();
        assert_eq!(roots.len(), 1);
        let err = roots_from_pem(&setting, &PemText::One(key.clone().into_bytes())).unwrap_err();
        assert_eq!(
            (err.key, err.shown_value.as_str()),
            ("ssl.ca.location", "/ca.pem")
        );
        assert!(err.reason.contains("no PEM certificate"), "{err:?}");
        // In a directory, a file that is no PEM is passed over; a directory of such files is refused.
        let directory = PemText::Directory(vec![b"a README".to_vec(), ca.into_bytes()]);
        assert_eq!(roots_from_pem(&setting, &directory).unwrap().len(), 1);
        let err =
            roots_from_pem(&setting, &PemText::Directory(vec![key.into_bytes()])).unwrap_err();
        assert!(err.reason.contains("no file in the directory"), "{err:?}");
    }

    #[test]
    fn the_identity_is_the_certificate_with_its_own_key() {
        let (_, cert, key) = pki();
        let (_, _, other_key) = pki();
        let setting = identity(file("ssl.key.location", "/client.key"));
        assert!(identity_from_pem(&setting, cert.as_bytes(), key.as_bytes()).is_ok());
        let err = identity_from_pem(&setting, cert.as_bytes(), other_key.as_bytes()).unwrap_err();
        assert_eq!(err.key, "ssl.key.location");
        assert!(err.reason.contains("does not belong"), "{err:?}");
        let err = identity_from_pem(&setting, key.as_bytes(), key.as_bytes()).unwrap_err();
        assert_eq!(err.key, "ssl.certificate.location");
        assert!(err.reason.contains("no PEM certificate"), "{err:?}");
    }

    #[test]
    fn a_bad_inline_key_is_named_and_never_shown() {
        let (_, cert, _) = pki();
        let text =
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";
        let setting = identity(PemSetting {
            key: "ssl.keystore.key",
            source: PemSource::Inline(text.into()),
        });
        let err = identity_from_pem(&setting, cert.as_bytes(), text.as_bytes()).unwrap_err();
        assert_eq!(
            (err.key, err.shown_value.as_str()),
            ("ssl.keystore.key", "(hidden)")
        );
        assert!(
            !format!("{err:?}{setting:?}").contains("c2VjcmV0"),
            "{err:?}"
        );
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = identity_from_pem(&setting, cert.as_bytes(), encrypted.as_bytes()).unwrap_err();
        assert!(err.reason.contains("set ssl.key.password"), "{err:?}");
    }
}
