//! Certificates for the HTTPS tests, made in the test with rcgen and written as PEM files: a CA, a server
//! certificate it signed for 127.0.0.1 and localhost (with its key, as one PEM keystore), a client certificate
//! it signed, and a client certificate of another CA no one trusts.
//!
//! Must not: write outside the directory it is given.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

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
