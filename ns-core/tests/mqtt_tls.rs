//! MQTT over TLS as the network server's config file sets it up: the
//! gateway backend of a region and the MQTT integration, each against a
//! private Mosquitto with a TLS listener (one broker, temp dir and topic
//! prefix per test; see `tls-files/tests/support/mosquitto.rs`), with
//! certificates made by the test.
//!
//! The test's own MQTT client stands for a gateway bridge or an
//! application: it uses the broker's plain listener, so what it sees is
//! what the server sent over TLS, and what it publishes the server can
//! only have received over TLS.

#[path = "../../tls-files/tests/support/mosquitto.rs"]
mod mosquitto;
#[path = "../../tls-files/tests/support/pki.rs"]
mod pki;
#[path = "../../tls-files/tests/support/temp_dir.rs"]
mod temp_dir;

use std::path::Path;
use std::time::Duration;

use mosquitto::{Mosquitto, TlsListener};
use ns_core::config::{Config, ConfigError};
use ns_core::gateway_backend::{GatewayBackend, GatewayBackendCounters, GatewayEvent};
use ns_core::integration::publish::{MqttPublisher, PublishConfigError, PublisherCounters};
use ns_core::integration::{self, DeviceInfo, Encoding, Event, UplinkEvent};
use packet_forwarder::gw;
use pki::Pki;
use rumqttc::{AsyncClient, MqttOptions, Packet, QoS};
use temp_dir::TempDir;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);
const GATEWAY_ID: &str = "0102030405060708";
const APPLICATION_ID: &str = "00000000-0000-0000-0000-0000000000a1";
const DEV_EUI: &str = "0807060504030201";

fn prefix() -> String {
    format!("nstls-{:016x}", rand::random::<u64>())
}

/// A broker whose TLS listener has `pki`'s server certificate and, with
/// `require_certificate`, refuses clients without a certificate from
/// `pki`'s CA.
async fn broker(dir: &TempDir, pki: &Pki, require_certificate: bool) -> Mosquitto {
    let tls = TlsListener {
        cafile: pki.ca.clone(),
        certfile: pki.server_cert.clone(),
        keyfile: pki.server_key.clone(),
        require_certificate,
    };
    Mosquitto::start(dir, Some(tls)).await
}

/// The TLS keys of a section: `ca_cert`, and `tls_cert` / `tls_key` when
/// given.
fn tls_keys(ca: &Path, client: Option<(&Path, &Path)>) -> String {
    let mut keys = format!("ca_cert = \"{}\"\n", ca.display());
    if let Some((cert, key)) = client {
        keys += &format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert.display(),
            key.display()
        );
    }
    keys
}

/// A configuration whose eu868 gateway backend uses `server` under
/// `prefix`, with `keys` in its MQTT section.
fn region_config(prefix: &str, server: &str, keys: &str) -> Result<Config, ConfigError> {
    Config::from_toml_strs(&[&format!(
        "[network]\nenabled_regions = [\"eu868\"]\n\
         [[regions]]\nid = \"eu868\"\n\
         [regions.gateway.backend.mqtt]\ntopic_prefix = \"{prefix}\"\n\
         server = \"{server}\"\nclient_id = \"{prefix}-backend\"\n{keys}"
    )])
}

/// A configuration whose MQTT integration publishes to `server` under
/// `prefix`, with `keys` in `[integration.mqtt]`.
fn integration_config(prefix: &str, server: &str, keys: &str) -> Result<Config, ConfigError> {
    Config::from_toml_strs(&[&format!(
        "[integration.mqtt]\nserver = \"{server}\"\nclean_session = true\n\
         event_topic = \"{prefix}/application/{{{{application_id}}}}/device/{{{{dev_eui}}}}/event/{{{{event}}}}\"\n\
         {keys}"
    )])
}

/// Starts the eu868 gateway backend of `config`.
fn start_backend(config: &Config) -> (GatewayBackend, mpsc::Receiver<GatewayEvent>) {
    let entry = config.region("eu868").expect("the eu868 entry");
    let backend_config = entry.gateway_backend_config().expect("usable TLS files");
    GatewayBackend::start(backend_config).expect("a usable backend config")
}

/// Waits until `counters()` satisfies `done`, returning them.
async fn wait_for<C: std::fmt::Debug>(counters: impl Fn() -> C, done: impl Fn(&C) -> bool) -> C {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = counters();
        if done(&now) {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "counters never got there: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A client on the broker's plain listener, subscribed to `{prefix}/#`:
/// its handle and what arrives.
async fn plain_client(
    broker: &Mosquitto,
    prefix: &str,
) -> (AsyncClient, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let options = MqttOptions::new(format!("{prefix}-plain"), "127.0.0.1", broker.port);
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    client
        .subscribe(format!("{prefix}/#"), QoS::AtLeastOnce)
        .await
        .unwrap();
    let suback = async {
        loop {
            let event = eventloop.poll().await.expect("the plain listener");
            if let rumqttc::Event::Incoming(Packet::SubAck(_)) = event {
                break;
            }
        }
    };
    tokio::time::timeout(WAIT, suback).await.expect("no SUBACK");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            if let rumqttc::Event::Incoming(Packet::Publish(p)) = event {
                let _ = tx.send((p.topic, p.payload.to_vec()));
            }
        }
    });
    (client, rx)
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("nothing arrived in time")
        .expect("channel closed")
}

fn uplink() -> gw::UplinkFrame {
    gw::UplinkFrame {
        phy_payload: vec![0x40, 1, 2, 3, 4, 0, 1, 0, 1, 0xaa, 1, 2, 3, 4],
        rx_info: Some(gw::UplinkRxInfo {
            gateway_id: GATEWAY_ID.into(),
            rssi: -50,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn up_event() -> UplinkEvent {
    UplinkEvent {
        device_info: Some(DeviceInfo {
            application_id: APPLICATION_ID.into(),
            dev_eui: DEV_EUI.into(),
            ..Default::default()
        }),
        f_cnt: 9,
        f_port: 2,
        data: vec![0xca, 0xfe],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_backend_receives_an_uplink_and_sends_a_downlink_over_tls_with_a_client_certificate()
 {
    let dir = TempDir::new("ns-tls-gateway");
    let pki = Pki::generate(&dir, "pki");
    let broker = broker(&dir, &pki, true).await;
    let (cert, key) = pki.client_files("network-server");
    let prefix = prefix();
    let server = format!("ssl://127.0.0.1:{}", broker.tls_port());
    let keys = tls_keys(&pki.ca, Some((&cert, &key)));
    let config = region_config(&prefix, &server, &keys).unwrap();
    let (backend, mut events) = start_backend(&config);
    wait_for(|| backend.counters(), |c| c.subscriptions >= 1).await;
    let (bridge, mut commands) = plain_client(&broker, &prefix).await;

    let frame = uplink();
    bridge
        .publish(
            format!("{prefix}/gateway/{GATEWAY_ID}/event/up"),
            QoS::AtLeastOnce,
            false,
            gw::encode(&frame, gw::Encoding::Json),
        )
        .await
        .unwrap();
    let event = tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("no uplink over TLS in time")
        .unwrap();
    let GatewayEvent::Up {
        gateway_id,
        frame: received,
        encoding,
    } = event
    else {
        panic!("not an uplink: {event:?}");
    };
    assert_eq!(gateway_id.to_string(), GATEWAY_ID);
    assert_eq!(received, frame);
    assert_eq!(encoding, gw::Encoding::Json);

    let downlink = gw::DownlinkFrame {
        gateway_id: GATEWAY_ID.into(),
        downlink_id: 77,
        items: vec![gw::DownlinkFrameItem {
            phy_payload: vec![0x60, 1, 2, 3, 4],
            ..Default::default()
        }],
        ..Default::default()
    };
    backend.send_downlink(&downlink).unwrap();
    loop {
        let (topic, payload) = next(&mut commands).await;
        if topic.ends_with("/command/down") {
            assert_eq!(topic, format!("{prefix}/gateway/{GATEWAY_ID}/command/down"));
            let sent: gw::DownlinkFrame = gw::decode(&payload, gw::Encoding::Json).unwrap();
            assert_eq!(sent, downlink);
            break;
        }
    }
    let counters = backend.counters();
    assert_eq!((counters.connections, counters.up_received), (1, 1));
    assert_eq!(counters.connection_errors, 0);
}

/// The integration's `up` event reaches a plain subscriber after crossing
/// the TLS listener, with or without a client certificate, with or
/// without `tcp_nodelay`.
async fn integration_publishes_an_event_over_tls(client_certificate: bool, tcp_nodelay: bool) {
    let dir = TempDir::new("ns-tls-integration");
    let pki = Pki::generate(&dir, "pki");
    let broker = broker(&dir, &pki, client_certificate).await;
    let (cert, key) = pki.client_files("network-server");
    let prefix = prefix();
    let (_app, mut received) = plain_client(&broker, &prefix).await;
    let server = format!("tls://127.0.0.1:{}", broker.tls_port());
    let client = client_certificate.then_some((cert.as_path(), key.as_path()));
    let keys = format!("{}tcp_nodelay = {tcp_nodelay}\n", tls_keys(&pki.ca, client));
    let config = integration_config(&prefix, &server, &keys).unwrap();
    assert_eq!(config.integration.mqtt.tcp_nodelay, tcp_nodelay);
    let publisher = MqttPublisher::start(&config.integration.mqtt).unwrap();
    publisher.publish(&Event::from(up_event())).unwrap();

    let (topic, payload) = next(&mut received).await;
    assert_eq!(
        topic,
        format!("{prefix}/application/{APPLICATION_ID}/device/{DEV_EUI}/event/up")
    );
    let event: UplinkEvent = integration::decode(&payload, Encoding::Json).unwrap();
    assert_eq!(event, up_event());
    let counters = publisher.counters();
    assert_eq!((counters.connections, counters.published), (1, 1));
    assert_eq!(counters.connection_errors, 0);
    publisher.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integration_publishes_an_event_over_tls_with_a_client_certificate() {
    integration_publishes_an_event_over_tls(true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integration_publishes_an_event_over_tls_checking_only_the_broker() {
    integration_publishes_an_event_over_tls(false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integration_publishes_an_event_over_tls_with_tcp_nodelay() {
    integration_publishes_an_event_over_tls(true, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_certificate_from_another_ca_is_refused_and_counted() {
    let dir = TempDir::new("ns-tls-other-ca");
    let pki = Pki::generate(&dir, "pki");
    let other = Pki::generate(&dir, "other");
    let broker = broker(&dir, &pki, true).await;
    let (cert, key) = pki.client_files("network-server");
    let prefix = prefix();
    let server = format!("mqtts://127.0.0.1:{}", broker.tls_port());
    let keys = tls_keys(&other.ca, Some((&cert, &key)));

    let config = region_config(&prefix, &server, &keys).unwrap();
    let (backend, _events) = start_backend(&config);
    let config = integration_config(&prefix, &server, &keys).unwrap();
    let publisher = MqttPublisher::start(&config.integration.mqtt).unwrap();

    let refused = |c: &GatewayBackendCounters| c.connection_errors >= 1;
    let backend_counters = wait_for(|| backend.counters(), refused).await;
    let refused = |c: &PublisherCounters| c.connection_errors >= 1;
    let publisher_counters = wait_for(|| publisher.counters(), refused).await;
    assert_eq!(backend_counters.connections, 0, "{backend_counters:?}");
    assert_eq!(publisher_counters.connections, 0, "{publisher_counters:?}");
    // Refused, not ended: the clients keep queueing and retrying.
    publisher.publish(&Event::from(up_event())).unwrap();
}

#[test]
fn client_certificate_without_its_key_is_a_config_error() {
    let only_cert = "ca_cert = \"/ca.pem\"\ntls_cert = \"/client.pem\"\n";
    let server = "ssl://127.0.0.1:8883";
    for (section, result) in [
        (
            "gateway.backend.mqtt",
            region_config("p", server, only_cert),
        ),
        (
            "integration.mqtt",
            integration_config("p", server, only_cert),
        ),
    ] {
        let Err(ConfigError::Invalid { key, message }) = result else {
            panic!("{section}: {result:?}");
        };
        assert!(key.ends_with(&format!("{section}.tls_key")), "{key}");
        assert!(message.contains("tls_cert and tls_key"), "{message}");
    }
}

#[tokio::test]
async fn missing_client_key_file_stops_the_start_naming_key_and_file() {
    let dir = TempDir::new("ns-tls-missing-key");
    let pki = Pki::generate(&dir, "pki");
    let (cert, _) = pki.client_files("network-server");
    let missing = dir.join("missing.key");
    let keys = tls_keys(&pki.ca, Some((&cert, &missing)));
    let server = "ssl://127.0.0.1:8883";
    let missing = missing.display().to_string();

    let config = region_config("p", server, &keys).unwrap();
    let entry = config.region("eu868").unwrap();
    let e = entry.gateway_backend_config().unwrap_err();
    assert!(matches!(e, ConfigError::Tls(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("regions[eu868].gateway.backend.mqtt.tls_key"),
        "{text}"
    );
    assert!(text.contains(&missing), "{text}");

    let config = integration_config("p", server, &keys).unwrap();
    let e = MqttPublisher::start(&config.integration.mqtt).unwrap_err();
    assert!(matches!(e, PublishConfigError::Tls(_)), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("integration.mqtt.tls_key"), "{text}");
    assert!(text.contains(&missing), "{text}");
}
