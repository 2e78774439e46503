//! The `network-server` binary as a process, driven over Semtech UDP by a
//! simulated packet forwarder whose device is lora-rs's `lorawan-device`,
//! and watched by an application over MQTT:
//!
//! - all-in-one: its own SQLite file, embedded MQTT broker, UDP bridge and
//!   metrics endpoint, every one on a port the OS picks (learnt from its
//!   log);
//! - with the real parts: Mosquitto at 127.0.0.1:1883, PostgreSQL at
//!   127.0.0.1:5432 (a schema of its own, topics under `t-<uuid>/`) and
//!   Redis at 127.0.0.1:6379 (keys under `t-<uuid>:`).
//!
//! The process is killed when the test ends, also when it fails (then its
//! log is printed).

mod support;

use base64::Engine as _;
use lorawan_device::async_device::{JoinResponse, SendResponse};
use lorawan_device::{AppEui, AppKey, DevEui, JoinMode};
use ns_core::storage::Storage;
use serde_json::json;

use support::mqtt::Events;
use support::process::{
    EMBEDDED_BROKER, PORTS, ServerProcess, addr_field, field, http_get, http_get_with, strip_ansi,
};
use support::udp_forwarder::UdpForwarder;
use support::{JOIN_EUI, PgSchema, provision, radio, random_eui, random_key, until, within};

/// A sample's value in Prometheus text (`name value`, no labels).
fn sample(metrics: &str, name: &str) -> Option<u64> {
    metrics.lines().find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Short delays, so that the test does not wait for the defaults.
const NETWORK: &str = r#"
[network]
enabled_regions = ["eu868"]
deduplication_delay = "50ms"
get_downlink_data_delay = "20ms"
"#;

/// The real parts: Mosquitto (the default MQTT server once no broker is
/// embedded), PostgreSQL and Redis; topics and keys under `ROOT` so that
/// parallel tests and other users of the broker do not meet.
const EXTERNAL: &str = r#"
[mqtt_broker]
bind = ""

[redis]
servers = ["redis://127.0.0.1:6379/"]
key_prefix = "ROOT:"

[postgresql]
dsn = "DSN"

[integration.mqtt]
event_topic = "ROOT/application/{{application_id}}/device/{{dev_eui}}/event/{{event}}"
command_topic = "ROOT/application/{{application_id}}/device/{{dev_eui}}/command/{{command}}"

[[regions]]
id = "eu868"

[regions.gateway.backend.mqtt]
topic_prefix = "ROOT/eu868"
"#;

/// The binary, a `lorawan-device` behind a Semtech UDP forwarder, an
/// application on MQTT: join, uplink, downlink command, metrics.
async fn join_and_exchange_data_over_udp(external: bool) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let dir = std::env::temp_dir().join(format!("ns-all-in-one-{id}"));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    // Dropped after the process.
    let schema = if external {
        Some(PgSchema::create().await)
    } else {
        None
    };
    let root = format!("t-{id}");
    let config = match &schema {
        Some(schema) => format!(
            "{NETWORK}{PORTS}{}",
            EXTERNAL.replace("ROOT", &root).replace("DSN", &schema.dsn)
        ),
        None => format!("{NETWORK}{PORTS}{EMBEDDED_BROKER}"),
    };
    let mut server = ServerProcess::start(&dir, &config);

    // Where everything listens, in the order the server starts it.
    let (mqtt_host, mqtt_port, topic_root) = if external {
        ("127.0.0.1".to_owned(), 1883, format!("{root}/"))
    } else {
        let line = server.line_with("embedded MQTT broker listening").await;
        let mqtt5 = addr_field(&line, "mqtt5");
        let _mqtt311 = addr_field(&line, "mqtt311");
        (mqtt5.ip().to_string(), mqtt5.port(), String::new())
    };
    let storage_line = if external {
        "storage: PostgreSQL"
    } else {
        "storage: SQLite"
    };
    server.line_with(storage_line).await;
    let line = server
        .line_with("Semtech UDP gateway backend listening")
        .await;
    let udp = addr_field(&line, "addr");
    let line = server.line_with("management API").await;
    let api = addr_field(&line, "addr");
    let line = server.line_with("metrics on /metrics").await;
    let metrics = addr_field(&line, "addr");

    let (status, body) = http_get(metrics, "/health").await;
    let healthy = if external { "OK\nredis: ok" } else { "OK" };
    assert_eq!((status, body.trim()), (200, healthy));

    // Provisioning through the server's own database (SQLite: WAL lets
    // both write).
    let url = match &schema {
        Some(schema) => schema.dsn.clone(),
        None => format!("sqlite://{}/network-server.sqlite?mode=rwc", dir.display()),
    };
    let storage = within("opening the server's database", Storage::connect(&url))
        .await
        .expect("the server's database");
    let gateway_id = random_eui();
    let dev_eui = random_eui();
    let app_key = random_key();
    let provisioned = provision(&storage, gateway_id, dev_eui, app_key).await;

    let mut events = Events::subscribe(
        &mqtt_host,
        mqtt_port,
        &format!("{topic_root}application/+/device/+/event/+"),
    )
    .await;
    let (air, gateway_side) = radio::air();
    let forwarder = UdpForwarder::start(udp, gateway_id, gateway_side).await;
    let mut device = radio::eu868_device(
        air,
        u64::from_be_bytes(random_key()[..8].try_into().unwrap()),
    );
    let join_mode = JoinMode::OTAA {
        deveui: DevEui::from(dev_eui.to_u64().to_le_bytes()),
        appeui: AppEui::from(JOIN_EUI.to_le_bytes()),
        appkey: AppKey::from(app_key),
    };

    // Join: the join-accept comes back as a PULL_RESP for tmst + 5 s.
    let joined = within("lorawan-device join", device.join(&join_mode))
        .await
        .expect("the radio works");
    assert!(
        matches!(joined, JoinResponse::JoinSuccess),
        "lorawan-device did not join: {joined:?}; missed: {:?}; forwarder: {:?}",
        device.get_radio().missed,
        forwarder.log.lock().unwrap()
    );
    {
        let log = forwarder.log.lock().unwrap();
        let join_accept = log.pull_resps.first().expect("the join-accept PULL_RESP");
        assert_eq!(
            join_accept.txpk.tmst,
            Some(join_accept.uplink_tmst.wrapping_add(5_000_000)),
            "JOIN_ACCEPT_DELAY1 after the join-request's tmst"
        );
        assert!(
            join_accept.txpk.ipol,
            "downlinks are sent with inverted polarity"
        );
    }
    let join = events.next("join").await;
    assert_eq!(join["deviceInfo"]["devEui"], dev_eui.to_string());

    // An uplink: the `up` event.
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
    let up = events.next("up").await;
    assert_eq!(up["deviceInfo"]["devEui"], dev_eui.to_string());
    assert_eq!(up["fCnt"].as_u64(), Some(0));
    assert_eq!(
        up["data"],
        base64::engine::general_purpose::STANDARD.encode(b"hello")
    );
    assert_eq!(up["rxInfo"][0]["gatewayId"], gateway_id.to_string());

    // A downlink command, sent after the next uplink, in RX1 (uplink tmst
    // + 1 s). The integration subscribed to the commands when it
    // connected, before it published the events seen so far, so the
    // broker routes this command to it.
    let command = json!({
        "devEui": dev_eui.to_string(),
        "confirmed": false,
        "fPort": 20,
        "data": base64::engine::general_purpose::STANDARD.encode(b"pong"),
    });
    events
        .publish(
            &format!(
                "{topic_root}application/{}/device/{dev_eui}/command/down",
                provisioned.application.id
            ),
            serde_json::to_vec(&command).unwrap(),
        )
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
    let sent = within("lorawan-device send #2", device.send(b"two", 10, false))
        .await
        .expect("the radio works");
    assert!(
        matches!(sent, SendResponse::DownlinkReceived(_)),
        "second uplink: {sent:?}; missed: {:?}; forwarder: {:?}",
        device.get_radio().missed,
        forwarder.log.lock().unwrap()
    );
    let downlink = device.take_downlink().expect("the application's downlink");
    assert_eq!((downlink.fport, &downlink.data[..]), (20, &b"pong"[..]));
    {
        let log = forwarder.log.lock().unwrap();
        let last = log.pull_resps.last().unwrap();
        assert_eq!(
            last.txpk.tmst,
            Some(last.uplink_tmst.wrapping_add(1_000_000)),
            "RX1, RECEIVE_DELAY1 after the uplink's tmst"
        );
    }
    events.next("txack").await;

    // The management API of the running process, with a key made by the
    // `create-api-key` subcommand (the secret is shared through the
    // database): the device as REST shows it.
    let output = server
        .command()
        .args(["create-api-key", "--name", "test"])
        .output()
        .expect("create-api-key runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .unwrap_or_else(|| panic!("no token in {stdout:?}"));
    let (status, body) = http_get_with(
        api,
        &format!("/api/devices/{dev_eui}"),
        &format!("Authorization: Bearer {token}\r\n"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let shown: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(shown["device"]["devEui"], dev_eui.to_string());
    assert!(shown["lastSeenAt"].is_string(), "{body}");
    let (status, _) = http_get(api, &format!("/api/devices/{dev_eui}")).await;
    assert_eq!(status, 401);

    // The metrics count what happened.
    let (status, body) = http_get(metrics, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        sample(&body, "ns_uplinks_accepted_total") >= Some(2),
        "ns_uplinks_accepted_total in:\n{body}"
    );
    assert_eq!(sample(&body, "ns_joins_accepted_total"), Some(1), "{body}");
    if external {
        // Every frame set went through Redis.
        assert!(
            sample(&body, "ns_dedup_redis_no_lock_total") >= Some(3),
            "{body}"
        );
        assert_eq!(sample(&body, "ns_redis_errors_total"), Some(0), "{body}");
    } else {
        assert_eq!(sample(&body, "ns_dedup_redis_no_lock_total"), Some(0));
    }
    // No application has an HTTP integration: its events are only counted.
    assert!(
        sample(&body, "ns_app_http_integration_no_integration_total") >= Some(2),
        "{body}"
    );
    assert_eq!(
        sample(&body, "ns_app_http_integration_queued_total"),
        Some(0),
        "{body}"
    );

    assert!(
        device.get_radio().missed.is_empty(),
        "{:?}",
        device.get_radio().missed
    );
    {
        let log = forwarder.log.lock().unwrap();
        assert!(log.problems.is_empty(), "{:?}", log.problems);
        assert!(log.push_acks >= 3, "every PUSH_DATA acknowledged: {log:?}");
    }
    storage.close().await;
    drop(forwarder);
    drop(server);
    drop(schema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_in_one_binary_with_embedded_broker_and_sqlite_serves_lorawan_device_over_udp() {
    join_and_exchange_data_over_udp(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_with_mosquitto_and_postgresql_serves_lorawan_device_over_udp() {
    join_and_exchange_data_over_udp(true).await;
}

#[test]
fn log_fields_are_read_with_and_without_colours() {
    let plain = "2025-01-01T00:00:00Z  INFO network_server: Semtech UDP gateway backend listening addr=127.0.0.1:40000 region=\"eu868\"";
    assert_eq!(field(plain, "addr"), Some("127.0.0.1:40000"));
    assert_eq!(field(plain, "region"), Some("eu868"));
    let coloured = "\u{1b}[2m2025\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \u{1b}[3mmqtt5\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:1 \u{1b}[3mmqtt311\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:2";
    let line = strip_ansi(coloured);
    assert_eq!(field(&line, "mqtt5"), Some("127.0.0.1:1"));
    assert_eq!(field(&line, "mqtt311"), Some("127.0.0.1:2"));
}
