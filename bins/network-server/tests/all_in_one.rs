//! The `network-server` binary as a process, driven over Semtech UDP by a
//! simulated packet forwarder whose device is lora-rs's `lorawan-device`,
//! and watched by an application over MQTT:
//!
//! - all-in-one: its own SQLite file, embedded MQTT broker, UDP bridge and
//!   metrics endpoint, every one on a port the OS picks (learnt from its
//!   log);
//! - with the real parts: Mosquitto at 127.0.0.1:1883 and PostgreSQL at
//!   127.0.0.1:5432 (a schema of its own, topics under `t-<uuid>/`).
//!
//! The process is killed when the test ends, also when it fails (then its
//! log is printed).

mod support;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use lorawan_device::async_device::{JoinResponse, SendResponse};
use lorawan_device::{AppEui, AppKey, DevEui, JoinMode};
use ns_core::storage::Storage;
use serde_json::json;
use tokio::sync::mpsc;

use support::mqtt::Events;
use support::udp_forwarder::UdpForwarder;
use support::{JOIN_EUI, PgSchema, WAIT, provision, radio, random_eui, random_key, until, within};

/// The binary under test, with its log read line by line.
struct ServerProcess {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    log: Arc<Mutex<Vec<String>>>,
    data_dir: PathBuf,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- network-server log ----");
            for line in self.log.lock().unwrap().iter() {
                eprintln!("{line}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// `line` without ANSI escape sequences (in case colours are on).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (@ to ~).
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value of field `key` in a tracing `fmt` line (`key=value`).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[start..];
    Some(
        rest.split_whitespace()
            .next()
            .unwrap_or(rest)
            .trim_matches('"'),
    )
}

impl ServerProcess {
    /// Starts the binary with `config` (TOML) written to `dir`, which is
    /// also its data directory.
    fn start(dir: &Path, config: &str) -> Self {
        let config_file = dir.join("network-server.toml");
        std::fs::write(&config_file, config).expect("configuration file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_network-server"))
            .arg("--config")
            .arg(&config_file)
            .arg("--data-dir")
            .arg(dir)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("network-server starts");
        let (tx, lines) = mpsc::unbounded_channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let readers: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for reader in readers {
            let (tx, log) = (tx.clone(), Arc::clone(&log));
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines() {
                    let Ok(line) = line else { return };
                    let line = strip_ansi(&line);
                    log.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        Self {
            child,
            lines,
            log,
            data_dir: dir.to_owned(),
        }
    }

    /// The first log line (from now) containing `text`.
    async fn line_with(&mut self, text: &str) -> String {
        within(&format!("a log line with {text:?}"), async {
            loop {
                match self.lines.recv().await {
                    Some(line) if line.contains(text) => return line,
                    Some(_) => {}
                    None => {
                        let status = self.child.try_wait();
                        panic!("network-server ended ({status:?}) before logging {text:?}");
                    }
                }
            }
        })
        .await
    }
}

fn addr_field(line: &str, key: &str) -> SocketAddr {
    field(line, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no address {key}= in {line:?}"))
}

/// A plain HTTP/1.1 GET; returns the status code and the body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_get_with(addr, path, "").await
}

/// The same with extra header lines (`"Name: value\r\n"` each).
async fn http_get_with(addr: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let path = path.to_owned();
    let headers = headers.to_owned();
    let response = within(
        &format!("GET {path}"),
        tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let mut stream = TcpStream::connect_timeout(&addr, WAIT)?;
            stream.set_read_timeout(Some(WAIT))?;
            write!(
                stream,
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n"
            )?;
            let mut response = String::new();
            stream.read_to_string(&mut response)?;
            Ok(response)
        }),
    )
    .await
    .expect("the GET task")
    .expect("the GET");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A sample's value in Prometheus text (`name value`, no labels).
fn sample(metrics: &str, name: &str) -> Option<u64> {
    metrics.lines().find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok()).flatten()
    })
}

const CONFIG: &str = r#"
[network]
enabled_regions = ["eu868"]
deduplication_delay = "50ms"
get_downlink_data_delay = "20ms"

[backend.semtech_udp]
bind = "127.0.0.1:0"

[monitoring]
bind = "127.0.0.1:0"

[api]
bind = "127.0.0.1:0"
"#;

/// The all-in-one parts: the embedded broker and SQLite in the data
/// directory.
const EMBEDDED: &str = r#"
[mqtt_broker]
bind = "127.0.0.1:0"
bind_v4 = "127.0.0.1:0"
"#;

/// The real parts: Mosquitto (the default MQTT server once no broker is
/// embedded) and PostgreSQL; topics under `ROOT` so that parallel tests
/// and other users of the broker do not meet.
const EXTERNAL: &str = r#"
[mqtt_broker]
bind = ""

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
            "{CONFIG}{}",
            EXTERNAL.replace("ROOT", &root).replace("DSN", &schema.dsn)
        ),
        None => format!("{CONFIG}{EMBEDDED}"),
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
    assert_eq!((status, body.trim()), (200, "OK"));

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
    let output = Command::new(env!("CARGO_BIN_EXE_network-server"))
        .arg("--config")
        .arg(dir.join("network-server.toml"))
        .arg("--data-dir")
        .arg(&dir)
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
