//! The bridge's MQTT transports and protocol versions, end to end with a
//! fake Semtech UDP gateway: TLS with a client certificate against a private
//! Mosquitto (one per test, see `tls-files/tests/support/mosquitto.rs`), and MQTT 5 against
//! the Mosquitto on 127.0.0.1:1883 (started by `scripts/ensure-services`).
//!
//! The network server's client always reads the private broker on its plain
//! listener, so what it sees is what the bridge published over TLS.

#[path = "support/bridge.rs"]
mod bridge;
#[path = "support/forwarder.rs"]
mod forwarder;
#[path = "support/harness.rs"]
mod harness;
#[path = "../../../tls-files/tests/support/mosquitto.rs"]
mod mosquitto;
#[path = "support/network_server.rs"]
mod network_server;
#[path = "../../../tls-files/tests/support/pki.rs"]
mod pki;
#[path = "../../../tls-files/tests/support/temp_dir.rs"]
mod temp_dir;

use std::path::Path;
use std::time::Duration;

use bridge::WAIT;
use gateway_bridge::Bridge;
use gateway_bridge::config::Config;
use harness::Harness;
use mosquitto::{Mosquitto, TlsListener};
use network_server::SYSTEM_BROKER_PORT;
use pki::Pki;
use temp_dir::TempDir;

/// How long a bridge that must not connect is watched.
const QUIET: Duration = Duration::from_secs(3);

/// `[integration.mqtt]` for a TLS broker on `port`: the version, the CA and,
/// when given, the client certificate and key.
fn tls_mqtt(version: &str, port: u16, ca: &Path, client: Option<(&Path, &Path)>) -> String {
    let mut mqtt = format!(
        "[integration.mqtt]\nprotocol_version = \"{version}\"\n\
         [integration.mqtt.auth.generic]\nservers = [\"ssl://127.0.0.1:{port}\"]\n\
         ca_cert = \"{}\"\n",
        ca.display()
    );
    if let Some((cert, key)) = client {
        mqtt += &format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert.display(),
            key.display()
        );
    }
    mqtt
}

/// A TLS listener with `pki`'s server certificate that refuses clients
/// without a certificate from `pki`'s CA.
fn requiring_client_certificates(pki: &Pki) -> TlsListener {
    TlsListener {
        cafile: pki.ca.clone(),
        certfile: pki.server_cert.clone(),
        keyfile: pki.server_key.clone(),
        require_certificate: true,
    }
}

async fn uplink_and_downlink_cross_tls_with_a_client_certificate(version: &str) {
    let dir = TempDir::new("tls");
    let pki = Pki::generate(&dir, "pki");
    let broker = Mosquitto::start(&dir, Some(requiring_client_certificates(&pki))).await;
    let (cert, key) = pki.client_files("gateway-bridge");
    let client = (cert.as_path(), key.as_path());
    let mqtt = tls_mqtt(version, broker.tls_port(), &pki.ca, Some(client));
    let mut h = Harness::start(broker.port, &mqtt).await;
    h.connect_gateway().await;
    h.check_uplink().await;
    h.check_downlink(0x0102_0304, true).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uplink_and_downlink_cross_tls_with_a_client_certificate_v311() {
    uplink_and_downlink_cross_tls_with_a_client_certificate("3.1.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uplink_and_downlink_cross_tls_with_a_client_certificate_v5() {
    uplink_and_downlink_cross_tls_with_a_client_certificate("5").await;
}

/// The bridge keeps running and retrying, but no ConnAck means no
/// `state/conn` for a gateway that connects.
async fn bridge_never_connects(broker: &Mosquitto, mqtt: &str) {
    let mut h = Harness::start(broker.port, mqtt).await;
    h.fwd.pull_data(1).await;
    h.ns.expect_silence(QUIET).await;
    assert!(h.running(), "a TLS failure must not stop the bridge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_certificate_from_another_ca_is_refused() {
    let dir = TempDir::new("tls-other-ca");
    let pki = Pki::generate(&dir, "pki");
    let other = Pki::generate(&dir, "other");
    let broker = Mosquitto::start(&dir, Some(requiring_client_certificates(&pki))).await;
    let (cert, key) = pki.client_files("gateway-bridge");
    let client = (cert.as_path(), key.as_path());
    let mqtt = tls_mqtt("3.1.1", broker.tls_port(), &other.ca, Some(client));
    bridge_never_connects(&broker, &mqtt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_requiring_a_client_certificate_refuses_a_bridge_without_one() {
    let dir = TempDir::new("tls-no-client-cert");
    let pki = Pki::generate(&dir, "pki");
    let broker = Mosquitto::start(&dir, Some(requiring_client_certificates(&pki))).await;
    let mqtt = tls_mqtt("3.1.1", broker.tls_port(), &pki.ca, None);
    bridge_never_connects(&broker, &mqtt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_ca_file_stops_the_bridge_naming_key_and_file() {
    let dir = TempDir::new("tls-missing-ca");
    let missing = dir.join("missing-ca.pem");
    let config = Config::from_toml_strs(&[
        "[backend.semtech_udp]\nudp_bind = \"127.0.0.1:0\"",
        &tls_mqtt("3.1.1", 8883, &missing, None),
    ])
    .unwrap();
    let bridge = Bridge::bind(config).await.unwrap();
    let result = tokio::time::timeout(WAIT, bridge.run(std::future::pending())).await;
    let e = format!("{:#}", result.expect("the bridge must stop").unwrap_err());
    assert!(e.contains("integration.mqtt.auth.generic.ca_cert"), "{e}");
    assert!(e.contains("missing-ca.pem"), "{e}");
}

/// MQTT 5 on the shared broker: the same exchange as with 3.1.1 in
/// `udp_mqtt.rs`, reduced to one message of each kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uplink_and_downlink_cross_mqtt5() {
    let mqtt = "[integration.mqtt]\nprotocol_version = \"5\"";
    let mut h = Harness::start(SYSTEM_BROKER_PORT, mqtt).await;
    h.connect_gateway().await;
    h.check_uplink().await;
    h.check_downlink(0x0506_0708, true).await;
    h.stop().await;
}
