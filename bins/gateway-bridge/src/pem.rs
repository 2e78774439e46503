//! PEM files named by configuration keys: certificates and private keys,
//! with errors that name the key and the file.

use anyhow::{Context as _, anyhow, bail};
use rustls_pki_types::pem::{self, PemObject as _};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Every certificate of the PEM file `path`, set by configuration key `key`
/// (`integration.mqtt.auth.generic.ca_cert`, …); an error when there is
/// none.
pub(crate) fn certificates(key: &str, path: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let text = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{key} file {path:?} is not valid PEM"))?;
    if certs.is_empty() {
        bail!("{key} file {path:?} holds no PEM certificate");
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of the PEM file `path`,
/// set by configuration key `key`.
pub(crate) fn private_key(key: &str, path: &str) -> anyhow::Result<PrivateKeyDer<'static>> {
    let text = read(key, path)?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| match e {
        pem::Error::NoItemsFound => {
            anyhow!("{key} file {path:?} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")
        }
        e => anyhow!(e).context(format!("{key} file {path:?} is not valid PEM")),
    })
}

fn read(key: &str, path: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {key} file {path:?}"))
}
