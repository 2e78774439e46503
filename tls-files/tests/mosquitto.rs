//! `ClientFiles` against a real TLS peer: a private Mosquitto (one per test,
//! see `support/mosquitto.rs`) that requires client certificates.

#[path = "support/mosquitto.rs"]
mod mosquitto;
#[path = "support/pki.rs"]
mod pki;
#[path = "support/temp_dir.rs"]
mod temp_dir;

use std::sync::Arc;
use std::time::Duration;

use mosquitto::{Mosquitto, TlsListener};
use pki::Pki;
use temp_dir::TempDir;
use tls_files::ClientFiles;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const WAIT: Duration = Duration::from_secs(10);

/// An MQTT 3.1.1 CONNECT with a clean session and client id `t`.
const CONNECT: [u8; 15] = [
    0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 30, 0, 1, b't',
];
/// The CONNACK accepting it.
const CONNACK: [u8; 4] = [0x20, 2, 0, 0];

async fn broker(dir: &TempDir, pki: &Pki) -> Mosquitto {
    let tls = TlsListener {
        cafile: pki.ca.clone(),
        certfile: pki.server_cert.clone(),
        keyfile: pki.server_key.clone(),
        require_certificate: true,
    };
    Mosquitto::start(dir, Some(tls)).await
}

/// Connects over TLS with `files` and sends CONNECT: the broker's answer,
/// or the error. With TLS 1.3 a refused client certificate only shows
/// after the handshake, hence the MQTT exchange.
async fn mqtt_connect(port: u16, files: ClientFiles<'_>) -> std::io::Result<[u8; 4]> {
    let config = files.client_config().expect("usable files");
    let connector = TlsConnector::from(Arc::new(config));
    let exchange = async {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        let name = "localhost".try_into().expect("a DNS name");
        let mut tls = connector.connect(name, tcp).await?;
        tls.write_all(&CONNECT).await?;
        let mut answer = [0; 4];
        tls.read_exact(&mut answer).await?;
        Ok(answer)
    };
    tokio::time::timeout(WAIT, exchange)
        .await
        .expect("no answer in time")
}

#[tokio::test]
async fn client_certificate_from_files_is_accepted_by_a_broker_requiring_one() {
    let dir = TempDir::new("tls-files-ok");
    let pki = Pki::generate(&dir, "pki");
    let broker = broker(&dir, &pki).await;
    let (cert, key) = pki.client_files("client");
    let [ca, cert, key] = [&pki.ca, &cert, &key].map(|p| p.to_str().unwrap().to_owned());
    let files = ClientFiles {
        section: "test",
        ca_cert: &ca,
        tls_cert: &cert,
        tls_key: &key,
    };
    assert_eq!(
        mqtt_connect(broker.tls_port(), files).await.unwrap(),
        CONNACK
    );
}

#[tokio::test]
async fn broker_certificate_from_another_ca_fails_the_handshake() {
    let dir = TempDir::new("tls-files-other-ca");
    let pki = Pki::generate(&dir, "pki");
    let other = Pki::generate(&dir, "other");
    let broker = broker(&dir, &pki).await;
    let (cert, key) = pki.client_files("client");
    let [ca, cert, key] = [&other.ca, &cert, &key].map(|p| p.to_str().unwrap().to_owned());
    let files = ClientFiles {
        section: "test",
        ca_cert: &ca,
        tls_cert: &cert,
        tls_key: &key,
    };
    let e = mqtt_connect(broker.tls_port(), files).await.unwrap_err();
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
}

#[tokio::test]
async fn broker_requiring_a_client_certificate_refuses_a_client_without_one() {
    let dir = TempDir::new("tls-files-no-cert");
    let pki = Pki::generate(&dir, "pki");
    let broker = broker(&dir, &pki).await;
    let ca = pki.ca.to_str().unwrap().to_owned();
    let files = ClientFiles {
        section: "test",
        ca_cert: &ca,
        tls_cert: "",
        tls_key: "",
    };
    let result = mqtt_connect(broker.tls_port(), files).await;
    assert!(result.is_err(), "{result:?}");
}
