//! Test certificates: a CA of the test's own, a server certificate it signs
//! for `localhost` and `127.0.0.1`, and client certificates with a given
//! Common Name, as PEM files for the clients and Mosquitto, or in memory for
//! a rustls client.
//!
//! ```ignore
//! let dir = TempDir::new("tls");
//! let pki = Pki::generate(&dir, "pki");
//! let (cert, key) = pki.client_files("gateway-bridge"); // for an MQTT client
//! let connector = pki.connector(Some(GATEWAY_ID)); // for a Basics Station
//! ```
//!
//! Needs `temp_dir.rs` beside it in the test crate.
// Each test file uses a part of it.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::PrivateKeyDer;

use crate::temp_dir::TempDir;

/// A CA and the server certificate it signs, as PEM files; the CA signs
/// client certificates on demand.
pub struct Pki {
    /// The CA certificate.
    pub ca: PathBuf,
    /// The server's certificate, for `127.0.0.1` and `localhost`.
    pub server_cert: PathBuf,
    /// The server's private key (PKCS#8).
    pub server_key: PathBuf,
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
    name: String,
}

impl Pki {
    /// Generates a fresh CA and the server certificate it signs into `dir`,
    /// the file names starting with `name`.
    pub fn generate(dir: &TempDir, name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(DnType::CommonName, format!("test CA {name}"));
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let write = |file: &str, pem: String| write_pem(dir.path(), name, file, pem);
        let (cert, key) = issue(
            &issuer,
            "localhost",
            vec!["127.0.0.1".into(), "localhost".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        Self {
            ca: write("ca.pem", issuer.pem()),
            server_cert: write("localhost.pem", cert.pem()),
            server_key: write("localhost.key", key.serialize_pem()),
            issuer,
            dir: dir.path().to_owned(),
            name: name.to_owned(),
        }
    }

    /// A client certificate with `common_name`, and its private key
    /// (PKCS#8), written as PEM files.
    pub fn client_files(&self, common_name: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = self.client(common_name);
        let write = |file: &str, pem: String| write_pem(&self.dir, &self.name, file, pem);
        (
            write(&format!("{common_name}.pem"), cert.pem()),
            write(&format!("{common_name}.key"), key.serialize_pem()),
        )
    }

    /// A rustls client trusting this CA and presenting a client certificate
    /// with `common_name`, or none.
    pub fn client_config(&self, common_name: Option<&str>) -> rustls::ClientConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        match common_name {
            Some(common_name) => {
                let (cert, key) = self.client(common_name);
                let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
                builder
                    .with_client_auth_cert(vec![cert.der().clone()], key)
                    .unwrap()
            }
            None => builder.with_no_client_auth(),
        }
    }

    /// A TLS connector for [`client_config`](Self::client_config).
    pub fn connector(&self, common_name: Option<&str>) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(Arc::new(self.client_config(common_name)))
    }

    fn client(&self, common_name: &str) -> (Certificate, KeyPair) {
        issue(
            &self.issuer,
            common_name,
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }
}

/// A certificate with `common_name`, valid for `names` and `usage`, signed
/// by `issuer`, and its key.
fn issue(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    common_name: &str,
    names: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
) -> (Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![usage];
    (params.signed_by(&key, issuer).unwrap(), key)
}

/// Writes `pem` to `<dir>/<name>-<file>`.
fn write_pem(dir: &Path, name: &str, file: &str, pem: String) -> PathBuf {
    let path = dir.join(format!("{name}-{file}"));
    std::fs::write(&path, pem).unwrap();
    path
}
