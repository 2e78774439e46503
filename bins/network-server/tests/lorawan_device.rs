//! The network server against a device it did not write: lora-rs's
//! `lorawan-device` 0.12 (LoRaWAN 1.0.3, EU868) joins and exchanges data
//! through the server over the real Mosquitto at 127.0.0.1:1883, once with
//! SQLite and once with PostgreSQL (127.0.0.1:5432, database `test`), and
//! once over TLS with a client certificate: the server's gateway backend
//! and integration on the TLS listener of a private Mosquitto, the gateway
//! and the application on its plain one.
//!
//! device (`lorawan-device` on [`support::radio`]) ⇄ simulated MQTT gateway
//! ([`support::mqtt_gateway`], protobuf `gw` messages) ⇄ Mosquitto ⇄
//! [`Server`] in this process ⇄ Mosquitto ⇄ the test as the application
//! (JSON events, a JSON downlink command).
//!
//! Each test has its own topic prefix (`t-<uuid>/…`), device, gateway and
//! database (a temporary directory or a PostgreSQL schema), so the tests
//! run in parallel.

mod support;

#[path = "../../../tls-files/tests/support/mosquitto.rs"]
mod mosquitto;
#[path = "../../../tls-files/tests/support/pki.rs"]
mod pki;
#[path = "../../../tls-files/tests/support/temp_dir.rs"]
mod temp_dir;

use std::time::Duration;

use base64::Engine as _;
use lorawan_device::async_device::{JoinResponse, SendResponse};
use lorawan_device::{AppEui, AppKey, DevEui, JoinMode};
use network_server::Server;
use ns_core::config::Config;
use ns_core::pipeline::PipelineCounters;
use serde_json::{Value, json};
use temp_dir::TempDir;

use support::mqtt::Events;
use support::mqtt_gateway::{MqttGateway, item_delay};
use support::{JOIN_EUI, PgSchema, provision, radio, random_eui, random_key, until, within};

const MOSQUITTO_HOST: &str = "127.0.0.1";
const MOSQUITTO_PORT: u16 = 1883;

/// Where the server's MQTT clients connect: `server` and its TLS keys, the
/// same for the gateway backend and the integration.
struct ServerMqtt {
    server: String,
    tls_keys: String,
}

impl ServerMqtt {
    fn shared_mosquitto() -> Self {
        Self {
            server: format!("tcp://{MOSQUITTO_HOST}:{MOSQUITTO_PORT}"),
            tls_keys: String::new(),
        }
    }
}

/// The server's configuration: no broker, UDP bridge or metrics of its
/// own; gateways and integration on `mqtt` under `root`; quick windows.
fn config(root: &str, postgresql_dsn: Option<&str>, mqtt: &ServerMqtt) -> Config {
    let mut toml = r#"
[network]
enabled_regions = ["eu868"]
deduplication_delay = "50ms"
get_downlink_data_delay = "20ms"

[monitoring]
bind = ""

[api]
bind = ""

[mqtt_broker]
bind = ""

[backend.semtech_udp]
bind = ""

[integration.mqtt]
event_topic = "ROOT/application/{{application_id}}/device/{{dev_eui}}/event/{{event}}"
command_topic = "ROOT/application/{{application_id}}/device/{{dev_eui}}/command/{{command}}"
server = "SERVER"
TLS_KEYS

[[regions]]
id = "eu868"

[regions.gateway.backend.mqtt]
topic_prefix = "ROOT/eu868"
server = "SERVER"
TLS_KEYS
"#
    .replace("ROOT", root)
    .replace("SERVER", &mqtt.server)
    .replace("TLS_KEYS", &mqtt.tls_keys);
    if let Some(dsn) = postgresql_dsn {
        toml.push_str(&format!("\n[postgresql]\ndsn = \"{dsn}\"\n"));
    }
    Config::from_toml_strs(&[&toml]).expect("the test configuration loads")
}

fn base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn u64_of(v: &Value) -> Option<u64> {
    v.as_u64()
}

/// How the server reaches the broker in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// The shared Mosquitto at 127.0.0.1:1883.
    Clear,
    /// A private Mosquitto's TLS listener that requires a client
    /// certificate.
    Tls,
}

/// Join, an uplink, a downlink command from the application delivered
/// after the next uplink: the whole class A cycle with `lorawan-device`.
async fn join_and_exchange_data(postgresql: bool, transport: Transport) {
    support::init_tracing();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let root = format!("t-{id}");
    let data_dir = TempDir::new(&format!("ns-e2e-{id}"));
    // The test's own clients (gateway, application) use a plain listener.
    let (broker, mqtt) = match transport {
        Transport::Clear => (None, ServerMqtt::shared_mosquitto()),
        Transport::Tls => {
            let (broker, mqtt) = private_tls_mosquitto(&data_dir).await;
            (Some(broker), mqtt)
        }
    };
    let plain_port = broker.as_ref().map_or(MOSQUITTO_PORT, |b| b.port);
    // Declared before the server so that it is dropped after it.
    let schema = if postgresql {
        Some(PgSchema::create().await)
    } else {
        None
    };
    let server = within(
        "Server::start",
        Server::start(
            config(&root, schema.as_ref().map(|s| s.dsn.as_str()), &mqtt),
            data_dir.path(),
        ),
    )
    .await
    .expect("the server starts");
    let storage = server.pipeline().storage().clone();
    let counters = std::sync::Arc::clone(server.pipeline().counters());

    let gateway_id = random_eui();
    let dev_eui = random_eui();
    let app_key = random_key();
    let provisioned = provision(&storage, gateway_id, dev_eui, app_key).await;

    let mut events = Events::subscribe(
        MOSQUITTO_HOST,
        plain_port,
        &format!("{root}/application/+/device/+/event/+"),
    )
    .await;
    let (air, gateway_side) = radio::air();
    let gateway = MqttGateway::start(
        MOSQUITTO_HOST,
        plain_port,
        &format!("{root}/eu868"),
        &gateway_id.to_string(),
        gateway_side,
    )
    .await;
    // The server's gateway backend subscribes on its own time: a stats
    // message it has counted says it hears the gateway.
    {
        let (gateway, counters) = (&gateway, &counters);
        until("the server hears the gateway's stats", || async move {
            gateway.publish_stats().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            PipelineCounters::get(&counters.gateway_stats) > 0
        })
        .await;
    }

    let mut device = radio::eu868_device(
        air,
        u64::from_be_bytes(random_key()[..8].try_into().unwrap()),
    );
    let join_mode = JoinMode::OTAA {
        deveui: DevEui::from(dev_eui.to_u64().to_le_bytes()),
        appeui: AppEui::from(JOIN_EUI.to_le_bytes()),
        appkey: AppKey::from(app_key),
    };

    // Join: the join-accept in RX1, JOIN_ACCEPT_DELAY1 = 5 s after the
    // join-request.
    let joined = within("lorawan-device join", device.join(&join_mode))
        .await
        .expect("the radio works");
    assert!(
        matches!(joined, JoinResponse::JoinSuccess),
        "lorawan-device did not join: {joined:?}; missed: {:?}; gateway: {:?}",
        device.get_radio().missed,
        gateway.log.lock().unwrap()
    );
    let dev_addr = {
        let session = device.get_session().expect("a session after the join");
        let bytes: [u8; 4] = session.devaddr().as_ref().try_into().unwrap();
        format!("{:08x}", u32::from_le_bytes(bytes))
    };
    let join = events.next("join").await;
    assert_eq!(join["deviceInfo"]["devEui"], dev_eui.to_string());
    assert_eq!(
        join["deviceInfo"]["applicationId"],
        provisioned.application.id.to_string()
    );
    assert_eq!(
        join["devAddr"], dev_addr,
        "the DevAddr lorawan-device derived"
    );
    {
        let log = gateway.log.lock().unwrap();
        let join_accept = log.downlinks.first().expect("the join-accept frame");
        assert_eq!(
            item_delay(&join_accept.items[0]),
            Some(Duration::from_secs(5)),
            "the join-accept's RX1 item is JOIN_ACCEPT_DELAY1 after the request"
        );
    }
    assert_eq!(device.get_radio().received.len(), 1, "the join-accept");
    assert_eq!(device.get_radio().received[0].delay, Duration::from_secs(5));

    // An unconfirmed uplink: the `up` event carries the decrypted data.
    let sent = within("lorawan-device send #1", device.send(b"hello", 10, false))
        .await
        .expect("the radio works");
    assert!(
        matches!(
            sent,
            SendResponse::RxComplete | SendResponse::DownlinkReceived(_)
        ),
        "first uplink: {sent:?}"
    );
    // A MAC-only answer (the server's settings) carries no application data.
    assert!(
        device.take_downlink().is_none(),
        "no application downlink was queued"
    );
    let up = events.next("up").await;
    assert_eq!(up["deviceInfo"]["devEui"], dev_eui.to_string());
    assert_eq!(up["devAddr"], dev_addr);
    assert_eq!(u64_of(&up["fCnt"]), Some(0));
    assert_eq!(u64_of(&up["fPort"]), Some(10));
    assert_eq!(up["data"], base64(b"hello"));
    assert_eq!(up["confirmed"], false);
    assert_eq!(up["rxInfo"][0]["gatewayId"], gateway_id.to_string());

    // The application enqueues a downlink over MQTT.
    let command_topic = format!(
        "{root}/application/{}/device/{dev_eui}/command/down",
        provisioned.application.id
    );
    let command = json!({
        "devEui": dev_eui.to_string(),
        "confirmed": false,
        "fPort": 10,
        "data": base64(b"ping"),
    });
    events
        .publish(&command_topic, serde_json::to_vec(&command).unwrap())
        .await;
    {
        let storage = &storage;
        until("the command is enqueued", || async move {
            !storage
                .list_queue_items(dev_eui)
                .await
                .expect("queue")
                .is_empty()
        })
        .await;
    }

    // The next uplink brings it down, in RX1, with the next NFCntDown
    // (the server may have answered the first uplink with MAC commands).
    let f_cnt_down = u32::try_from(device.get_radio().received.len() - 1).unwrap();
    let sent = within("lorawan-device send #2", device.send(b"two", 10, false))
        .await
        .expect("the radio works");
    assert!(
        matches!(sent, SendResponse::DownlinkReceived(n) if n == f_cnt_down),
        "second uplink: {sent:?}; missed: {:?}; gateway: {:?}",
        device.get_radio().missed,
        gateway.log.lock().unwrap()
    );
    let downlink = device.take_downlink().expect("the application's downlink");
    assert_eq!((downlink.fport, &downlink.data[..]), (10, &b"ping"[..]));
    let last = device.get_radio().received.last().unwrap();
    assert_eq!(last.delay, Duration::from_secs(1), "RX1, RECEIVE_DELAY1");

    let up = events.next("up").await;
    assert_eq!(u64_of(&up["fCnt"]), Some(1));
    assert_eq!(up["data"], base64(b"two"));
    let tx_ack = events.next("txack").await;
    assert_eq!(tx_ack["deviceInfo"]["devEui"], dev_eui.to_string());
    assert_eq!(tx_ack["gatewayId"], gateway_id.to_string());
    assert_eq!(u64_of(&tx_ack["fCntDown"]), Some(u64::from(f_cnt_down)));
    {
        let storage = &storage;
        until("the queue is emptied", || async move {
            storage
                .list_queue_items(dev_eui)
                .await
                .expect("queue")
                .is_empty()
        })
        .await;
    }

    assert!(
        device.get_radio().missed.is_empty(),
        "{:?}",
        device.get_radio().missed
    );
    assert!(
        gateway.log.lock().unwrap().problems.is_empty(),
        "{:?}",
        gateway.log.lock().unwrap().problems
    );
    assert_eq!(PipelineCounters::get(&counters.joins_accepted), 1);
    assert_eq!(PipelineCounters::get(&counters.uplinks_accepted), 2);

    drop(gateway);
    within("server shutdown", server.run(async {})).await;
    storage.close().await;
    drop(broker);
}

/// A Mosquitto of the test's own whose TLS listener requires a client
/// certificate, with its files in `dir`, and the server's settings for it.
async fn private_tls_mosquitto(dir: &TempDir) -> (mosquitto::Mosquitto, ServerMqtt) {
    let pki = pki::Pki::generate(dir, "pki");
    let tls = mosquitto::TlsListener {
        cafile: pki.ca.clone(),
        certfile: pki.server_cert.clone(),
        keyfile: pki.server_key.clone(),
        require_certificate: true,
    };
    let broker = mosquitto::Mosquitto::start(dir, Some(tls)).await;
    let (cert, key) = pki.client_files("network-server");
    let mqtt = ServerMqtt {
        server: format!("ssl://127.0.0.1:{}", broker.tls_port()),
        tls_keys: format!(
            "ca_cert = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
            pki.ca.display(),
            cert.display(),
            key.display()
        ),
    };
    (broker, mqtt)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lorawan_device_joins_and_exchanges_data_over_mosquitto_with_sqlite() {
    join_and_exchange_data(false, Transport::Clear).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lorawan_device_joins_and_exchanges_data_over_mosquitto_with_postgresql() {
    join_and_exchange_data(true, Transport::Clear).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lorawan_device_joins_and_exchanges_data_over_mqtt_tls_with_a_client_certificate() {
    join_and_exchange_data(false, Transport::Tls).await;
}
