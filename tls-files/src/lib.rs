//! rustls configurations built from the PEM files a configuration file
//! names, for every binary of the workspace that connects to, or listens
//! for, TLS peers: the gateway bridge's and the network server's MQTT
//! clients, and the Basics Station listener.
//!
//! The crypto provider is always ring (no C toolchain needed, unlike
//! aws-lc-rs). Every error names the configuration key and the file at
//! fault, and says what is wrong with it (cannot be read, holds no
//! certificate, holds no usable key, key and certificate do not match), so
//! a misconfiguration stops a binary at start-up with a message an
//! operator can act on.
//!
//! ```no_run
//! use tls_files::ClientFiles;
//!
//! let files = ClientFiles {
//!     section: "integration.mqtt",
//!     ca_cert: "/etc/ns/ca.pem",
//!     tls_cert: "/etc/ns/client.pem",
//!     tls_key: "/etc/ns/client.key",
//! };
//! let config = files.client_config()?; // a rustls::ClientConfig
//! # let _ = config;
//! # Ok::<(), tls_files::Error>(())
//! ```
#![forbid(unsafe_code)]

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::{self, PemObject as _};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tracing::warn;

/// Why a TLS configuration cannot be built: always the operator's
/// configuration (or the machine's trust store), never a peer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file cannot be read (missing, no permission, …).
    #[error("cannot read {key} file {path:?}")]
    Read {
        /// The configuration key that names the file.
        key: String,
        /// The file.
        path: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not well-formed PEM.
    #[error("{key} file {path:?} is not valid PEM")]
    Pem {
        /// The configuration key that names the file.
        key: String,
        /// The file.
        path: String,
        /// What the PEM reader said.
        #[source]
        source: pem::Error,
    },
    /// The file holds no `CERTIFICATE` block.
    #[error("{key} file {path:?} holds no PEM certificate")]
    NoCertificate {
        /// The configuration key that names the file.
        key: String,
        /// The file.
        path: String,
    },
    /// The file holds no private key block.
    #[error("{key} file {path:?} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoPrivateKey {
        /// The configuration key that names the file.
        key: String,
        /// The file.
        path: String,
    },
    /// A certificate of a CA file cannot be used as a trust anchor.
    #[error("{key} file {path:?} holds a certificate that is not a valid CA")]
    NotCa {
        /// The configuration key that names the file.
        key: String,
        /// The file.
        path: String,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
    /// The private key cannot be used with the certificate (they do not
    /// match, or the key's algorithm is not supported).
    #[error("{key} file {path:?} cannot be used with {cert_key} file {cert_path:?}")]
    KeyMismatch {
        /// The configuration key that names the private key file.
        key: String,
        /// The private key file.
        path: String,
        /// The configuration key that names the certificate file.
        cert_key: String,
        /// The certificate file.
        cert_path: String,
        /// What rustls said (boxed: the variant would be the largest by
        /// far).
        #[source]
        source: Box<rustls::Error>,
    },
    /// A client certificate without its key, or a key without its
    /// certificate.
    #[error("{set} is set but {unset} is not: a client certificate needs both")]
    Incomplete {
        /// The key that is set.
        set: String,
        /// The key that is missing.
        unset: String,
    },
    /// No CA file is configured and the system's trust store is empty or
    /// unreadable.
    #[error("no CA certificate found in the system's trust store: set {key}")]
    NoSystemRoots {
        /// The configuration key of the CA file.
        key: String,
    },
    /// The crypto provider refused the protocol versions or the client
    /// verifier (not expected with ring).
    #[error("the TLS crypto provider cannot be used")]
    Provider(#[source] rustls::Error),
}

/// The crypto provider every configuration of this crate uses: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS keys of one client section of a configuration file, as
/// ChirpStack names them (`ca_cert`, `tls_cert`, `tls_key`); an empty
/// string is an unset key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientFiles<'a> {
    /// Where the keys sit, for errors: `integration.mqtt`,
    /// `regions[eu868].gateway.backend.mqtt`, …
    pub section: &'a str,
    /// PEM file of the CAs that sign the server's certificate; empty: the
    /// system's trust store.
    pub ca_cert: &'a str,
    /// PEM file of the client certificate chain, for servers that ask for
    /// one; empty: none.
    pub tls_cert: &'a str,
    /// PEM file of the private key of `tls_cert`.
    pub tls_key: &'a str,
}

impl ClientFiles<'_> {
    /// Whether none of the three keys is set.
    pub fn is_empty(&self) -> bool {
        self.ca_cert.is_empty() && self.tls_cert.is_empty() && self.tls_key.is_empty()
    }

    /// The client configuration: ring as the crypto provider, the server
    /// checked against `ca_cert` (else the system's trust store), and
    /// `tls_cert` with `tls_key` as the client certificate when set.
    ///
    /// # Errors
    /// [`Error`] naming the key and the file that cannot be used, or
    /// [`Error::Incomplete`] when only one of `tls_cert` and `tls_key` is
    /// set.
    pub fn client_config(&self) -> Result<ClientConfig, Error> {
        let key = |name: &str| format!("{}.{name}", self.section);
        let (cert_key, key_key) = (key("tls_cert"), key("tls_key"));
        match (self.tls_cert.is_empty(), self.tls_key.is_empty()) {
            (false, true) => {
                return Err(Error::Incomplete {
                    set: cert_key,
                    unset: key_key,
                });
            }
            (true, false) => {
                return Err(Error::Incomplete {
                    set: key_key,
                    unset: cert_key,
                });
            }
            _ => {}
        }
        let roots = if self.ca_cert.is_empty() {
            system_root_store(&key("ca_cert"))?
        } else {
            root_store(&key("ca_cert"), self.ca_cert)?
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(Error::Provider)?
            .with_root_certificates(roots);
        if self.tls_cert.is_empty() {
            return Ok(builder.with_no_client_auth());
        }
        let chain = certificates(&cert_key, self.tls_cert)?;
        let private_key = private_key(&key_key, self.tls_key)?;
        builder
            .with_client_auth_cert(chain, private_key)
            .map_err(|source| Error::KeyMismatch {
                key: key_key,
                path: self.tls_key.to_owned(),
                cert_key,
                cert_path: self.tls_cert.to_owned(),
                source: Box::new(source),
            })
    }
}

/// Every certificate of the PEM file `path`, named by configuration key
/// `key` (for errors).
///
/// # Errors
/// [`Error::Read`], [`Error::Pem`], or [`Error::NoCertificate`] when the
/// file holds none.
pub fn certificates(key: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let text = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| Error::Pem {
            key: key.to_owned(),
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(Error::NoCertificate {
            key: key.to_owned(),
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of the PEM file `path`,
/// named by configuration key `key`.
///
/// # Errors
/// [`Error::Read`], [`Error::Pem`], or [`Error::NoPrivateKey`] when the
/// file holds none.
pub fn private_key(key: &str, path: &str) -> Result<PrivateKeyDer<'static>, Error> {
    let text = read(key, path)?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| match e {
        pem::Error::NoItemsFound => Error::NoPrivateKey {
            key: key.to_owned(),
            path: path.to_owned(),
        },
        source => Error::Pem {
            key: key.to_owned(),
            path: path.to_owned(),
            source,
        },
    })
}

/// The CAs of the PEM file `path` (named by configuration key `key`) as
/// trust anchors.
///
/// # Errors
/// As [`certificates`], and [`Error::NotCa`] for a certificate that cannot
/// be a trust anchor.
pub fn root_store(key: &str, path: &str) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(key, path)? {
        roots.add(cert).map_err(|source| Error::NotCa {
            key: key.to_owned(),
            path: path.to_owned(),
            source,
        })?;
    }
    Ok(roots)
}

/// The system's trust store. Certificates that cannot be read or used are
/// logged and skipped; `key` is the configuration key to name when none is
/// left.
///
/// # Errors
/// [`Error::NoSystemRoots`] when no usable certificate is found.
pub fn system_root_store(key: &str) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        warn!(error = %e, "system CA certificates");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    if ignored > 0 {
        warn!(ignored, "system CA certificates that cannot be used");
    }
    if added == 0 {
        return Err(Error::NoSystemRoots {
            key: key.to_owned(),
        });
    }
    Ok(roots)
}

fn read(key: &str, path: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        key: key.to_owned(),
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    use super::*;

    /// A CA, a client certificate and key it signed, and a key of no
    /// certificate, in a fresh directory.
    struct Files {
        dir: PathBuf,
    }

    impl Files {
        fn new(name: &str) -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "tls-files-{name}-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let ca_key = KeyPair::generate().unwrap();
            let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
            ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let ca = ca_params.self_signed(&ca_key).unwrap();
            let issuer = Issuer::new(ca_params, ca_key);
            let client_key = KeyPair::generate().unwrap();
            let client = CertificateParams::new(vec!["client".to_owned()])
                .unwrap()
                .signed_by(&client_key, &issuer)
                .unwrap();
            let files = Self { dir };
            files.write("ca", &ca.pem());
            files.write("cert", &client.pem());
            files.write("key", &client_key.serialize_pem());
            files.write("other", &KeyPair::generate().unwrap().serialize_pem());
            files.write("empty", "");
            files.write(
                "garbage",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            );
            files
        }

        fn path(&self, name: &str) -> String {
            if name.is_empty() {
                return String::new();
            }
            self.dir.join(name).to_str().unwrap().to_owned()
        }

        fn write(&self, name: &str, text: &str) {
            std::fs::write(self.dir.join(name), text).unwrap();
        }

        fn client_config(&self, ca: &str, cert: &str, key: &str) -> Result<ClientConfig, Error> {
            let [ca_cert, tls_cert, tls_key] = [ca, cert, key].map(|f| self.path(f));
            ClientFiles {
                section: "integration.mqtt",
                ca_cert: &ca_cert,
                tls_cert: &tls_cert,
                tls_key: &tls_key,
            }
            .client_config()
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// The error and its sources, as a log line shows them.
    fn chain(e: &Error) -> String {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            text += &format!(": {s}");
            source = s.source();
        }
        text
    }

    #[test]
    fn files_that_cannot_be_used_are_errors_naming_key_and_file() {
        let files = Files::new("bad");
        // ca_cert, tls_cert, tls_key, and what the error says, `|`-separated.
        for (ca, cert, key, needles) in [
            (
                "absent",
                "cert",
                "key",
                "integration.mqtt.ca_cert|absent|No such file",
            ),
            ("empty", "cert", "key", "ca_cert|empty|no PEM certificate"),
            ("key", "cert", "key", "ca_cert|no PEM certificate"),
            ("ca", "absent", "key", "integration.mqtt.tls_cert|absent"),
            ("ca", "cert", "absent", "integration.mqtt.tls_key|absent"),
            ("ca", "cert", "cert", "tls_key|no PEM private key"),
            ("ca", "cert", "garbage", "tls_key|garbage"),
            (
                "ca",
                "cert",
                "other",
                "tls_key|other|tls_cert|cert|KeyMismatch",
            ),
            (
                "ca",
                "cert",
                "",
                "tls_cert is set but integration.mqtt.tls_key is not",
            ),
            (
                "ca",
                "",
                "key",
                "tls_key is set but integration.mqtt.tls_cert is not",
            ),
        ] {
            let e = chain(&files.client_config(ca, cert, key).unwrap_err());
            for needle in needles.split('|') {
                assert!(e.contains(needle), "{ca} {cert} {key}: {e}");
            }
        }
    }

    #[test]
    fn matching_files_make_a_client_config_with_a_client_certificate() {
        let files = Files::new("good");
        let config = files.client_config("ca", "cert", "key").unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());
        let config = files.client_config("ca", "", "").unwrap();
        assert!(!config.client_auth_cert_resolver.has_certs());
    }

    #[test]
    fn ca_file_with_several_certificates_trusts_them_all() {
        let files = Files::new("bundle");
        let mut bundle = std::fs::read_to_string(files.dir.join("ca")).unwrap();
        bundle += &std::fs::read_to_string(files.dir.join("cert")).unwrap();
        files.write("bundle", &bundle);
        let roots = root_store("ca_cert", &files.path("bundle")).unwrap();
        assert_eq!(roots.len(), 2);
    }

    #[test]
    fn unset_keys_are_empty() {
        let files = ClientFiles {
            section: "s",
            ca_cert: "",
            tls_cert: "",
            tls_key: "",
        };
        assert!(files.is_empty());
        assert!(
            !ClientFiles {
                ca_cert: "/ca.pem",
                ..files
            }
            .is_empty()
        );
    }
}
