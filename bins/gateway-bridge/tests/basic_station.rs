//! The bridge between a LoRa Basics Station client speaking over a real
//! websocket (tokio-tungstenite) and the real Mosquitto on 127.0.0.1:1883:
//! discovery, `router_config`, uplinks, downlinks and their acks, stats,
//! time sync, raw messages, TLS with client certificates, reconnects and
//! read timeouts, checked the way a network server sees them on MQTT.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use gateway_bridge::Bridge;
use gateway_bridge::config::Config;
use packet_forwarder::gw::{self, Encoding};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

#[path = "support/bridge.rs"]
mod bridge;
#[path = "support/network_server.rs"]
mod network_server;
#[path = "../../../tls-files/tests/support/pki.rs"]
mod pki;
#[path = "../../../tls-files/tests/support/temp_dir.rs"]
mod temp_dir;

use bridge::{GATEWAY_ID, RunningBridge, Topics, WAIT};
use network_server::{NetworkServer, SYSTEM_BROKER_PORT, downlink_item};
use pki::Pki;
use temp_dir::TempDir;

/// A bridge with the Basics Station backend and a network server on MQTT.
struct Setup {
    ns: NetworkServer,
    topics: Topics,
    addr: SocketAddr,
    bridge: RunningBridge,
}

impl Setup {
    /// `extra` is TOML merged over the test defaults.
    async fn start(extra: &str) -> Self {
        let topics = Topics::new("gwb-bs-test");
        let ns = NetworkServer::connect_to_system_broker(&topics.filters()).await;
        let config = Config::from_toml_strs(&[
            "[backend]\ntype = \"basic_station\"\n\
             [backend.basic_station]\nbind = \"127.0.0.1:0\"\n",
            &topics.config(),
            &format!(
                "[integration.mqtt.auth.generic]\n\
                 servers = [\"tcp://127.0.0.1:{SYSTEM_BROKER_PORT}\"]"
            ),
            extra,
        ])
        .unwrap();
        let bridge = Bridge::bind(config).await.unwrap();
        let addr = bridge.station_addr().expect("Basics Station listener");
        assert_eq!(bridge.udp_addr(), None);
        Self {
            ns,
            topics,
            addr,
            bridge: RunningBridge::spawn(bridge),
        }
    }

    fn topic(&self, rest: &str) -> String {
        self.topics.gateway(rest)
    }

    async fn expect<M: gw::GwMessage>(&mut self, rest: &str) -> M {
        let p = self.ns.expect(&self.topic(rest)).await;
        gw::decode(&p.payload, Encoding::Protobuf).unwrap()
    }

    /// The next message on `rest`, skipping others on the way, which must
    /// be on `skippable` when it is given.
    async fn next_on<M: gw::GwMessage>(&mut self, rest: &str, skippable: Option<&str>) -> M {
        loop {
            let p = self.ns.next().await;
            if p.topic == self.topic(rest) {
                return gw::decode(&p.payload, Encoding::Protobuf).unwrap();
            }
            if let Some(skippable) = skippable {
                assert_eq!(p.topic, self.topic(skippable));
            }
        }
    }

    async fn expect_state(&mut self, state: gw::conn_state::State) {
        let conn: gw::ConnState = self.expect("state/conn").await;
        assert_eq!(conn.gateway_id, GATEWAY_ID);
        assert_eq!(conn.state(), state);
    }

    async fn command<M: gw::GwMessage>(&self, kind: &str, message: &M) {
        let topic = self.topic(&format!("command/{kind}"));
        self.ns
            .publish(&topic, gw::encode(message, Encoding::Protobuf), false)
            .await;
    }

    /// Stops the bridge and clears the retained state.
    async fn stop(mut self) {
        self.bridge.stop().await;
        self.ns
            .publish(&self.topic("state/conn"), Vec::new(), true)
            .await;
    }
}

/// A Basics Station: one websocket.
struct Station<S> {
    ws: WebSocketStream<S>,
}

impl Station<TcpStream> {
    async fn connect(addr: SocketAddr, path: &str) -> Self {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let url = format!("ws://{addr}{path}");
        let (ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
        Self { ws }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Station<S> {
    async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    /// The next text message, as JSON (pings are answered on the way).
    async fn recv(&mut self) -> Value {
        loop {
            let message = timeout(WAIT, self.ws.next())
                .await
                .expect("a message from the bridge")
                .expect("connection open")
                .unwrap();
            match message {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected websocket message {other:?}"),
            }
        }
    }

    /// Reads until the bridge closes the connection.
    async fn expect_closed(&mut self) {
        loop {
            match timeout(WAIT, self.ws.next())
                .await
                .expect("connection closed")
            {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    }
}

/// Discovery, then the station connection with its `version` and the
/// `router_config` answer.
async fn discover_and_connect(addr: SocketAddr) -> (Station<TcpStream>, Value) {
    let mut info = Station::connect(addr, "/router-info").await;
    info.send(json!({ "router": "102:304:506:708" })).await;
    let answer = info.recv().await;
    assert_eq!(answer["router"], "102:304:506:708", "{answer}");
    let uri = answer["uri"].as_str().unwrap().to_owned();
    assert_eq!(uri, format!("ws://{addr}/gateway/{GATEWAY_ID}"));
    assert!(answer["error"].is_null(), "{answer}");
    let path = uri.split_once(&addr.to_string()).unwrap().1.to_owned();
    let mut station = Station::connect(addr, &path).await;
    station
        .send(json!({
            "msgtype": "version", "station": "2.0.6(rpi/std)", "firmware": null,
            "package": null, "model": "rpi", "protocol": 2, "features": "rmtsh"
        }))
        .await;
    let router_config = station.recv().await;
    (station, router_config)
}

fn updf() -> Value {
    json!({
        "msgtype": "updf", "MHdr": 0x40, "DevAddr": 0x2601_1234, "FCtrl": 0x80,
        "FCnt": 7, "FOpts": "", "FPort": 1, "FRMPayload": "a1b2",
        "MIC": -559_038_737, "RefTime": 0.0, "DR": 5, "Freq": 868_100_000,
        "upinfo": {
            "rctx": 0, "xtime": 0x0123_0000_0001_0000_i64, "gpstime": 0,
            "fts": -1, "rssi": -45, "snr": 9.5, "rxtime": 1_700_000_000.25
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn station_uplinks_downlinks_acks_and_state() {
    let mut s = Setup::start("").await;
    let (mut station, rc) = discover_and_connect(s.addr).await;
    assert_eq!(rc["msgtype"], "router_config", "{rc}");
    assert_eq!(rc["region"], "EU863");
    assert_eq!(rc["hwspec"], "sx1301/1");
    assert_eq!(rc["freq_range"], json!([863_000_000, 870_000_000]));
    assert_eq!(rc["DRs"][0], json!([12, 125, 0]));
    assert_eq!(rc["DRs"][6], json!([7, 250, 0]));
    assert!(rc["sx1301_conf"][0]["radio_0"]["enable"].as_bool().unwrap());
    assert!(rc["MuxTime"].as_f64().unwrap() > 1.7e9);
    s.expect_state(gw::conn_state::State::Online).await;

    // Uplink: the PHYPayload reassembled byte for byte, the metadata mapped.
    station.send(updf()).await;
    let up: gw::UplinkFrame = s.expect("event/up").await;
    let mic = (-559_038_737_i32).to_le_bytes();
    let mut phy = vec![0x40, 0x34, 0x12, 0x01, 0x26, 0x80, 7, 0, 1, 0xa1, 0xb2];
    phy.extend_from_slice(&mic);
    assert_eq!(up.phy_payload, phy);
    let tx = up.tx_info.as_ref().unwrap();
    assert_eq!(tx.frequency, 868_100_000);
    let Some(gw::modulation::Parameters::Lora(lora)) =
        tx.modulation.as_ref().and_then(|m| m.parameters.clone())
    else {
        panic!("LoRa modulation expected: {tx:?}");
    };
    assert_eq!((lora.spreading_factor, lora.bandwidth), (7, 125_000));
    let rx = up.rx_info.as_ref().unwrap();
    assert_eq!(rx.gateway_id, GATEWAY_ID);
    assert_eq!(rx.rssi, -45);
    assert!((rx.snr - 9.5).abs() < 1e-6);
    assert_eq!(rx.crc_status(), gw::CrcStatus::CrcOk);
    let mut context = 0u64.to_be_bytes().to_vec();
    context.extend_from_slice(&0x0123_0000_0001_0000_u64.to_be_bytes());
    assert_eq!(rx.context, context);
    assert_ne!(rx.uplink_id, 0);

    // Downlink in RX1/RX2 → dnmsg → dntxed → ack OK.
    let frame = gw::DownlinkFrame {
        downlink_id: 0x0bad_cafe,
        gateway_id: GATEWAY_ID.into(),
        items: vec![
            downlink_item(868_100_000, 7, 1, &context, &[0x60, 1, 2, 3]),
            downlink_item(869_525_000, 12, 2, &context, &[0x60, 1, 2, 3]),
        ],
        ..Default::default()
    };
    s.command("down", &frame).await;
    let dnmsg = station.recv().await;
    assert_eq!(dnmsg["msgtype"], "dnmsg", "{dnmsg}");
    assert_eq!(dnmsg["diid"], 0x0bad_cafe_u32);
    assert_eq!(dnmsg["dC"], 0);
    assert_eq!(dnmsg["pdu"], "60010203");
    assert_eq!(dnmsg["RxDelay"], 1);
    assert_eq!(dnmsg["RX1DR"], 5);
    assert_eq!(dnmsg["RX1Freq"], 868_100_000);
    assert_eq!(dnmsg["RX2DR"], 0);
    assert_eq!(dnmsg["RX2Freq"], 869_525_000);
    assert_eq!(dnmsg["xtime"], 0x0123_0000_0001_0000_i64);
    assert_eq!(dnmsg["rctx"], 0);
    let dev_eui = dnmsg["DevEui"].as_str().unwrap().to_owned();
    assert_ne!(
        dev_eui, "00-00-00-00-00-00-00-00",
        "a zero DevEui suppresses dntxed"
    );
    station
        .send(json!({
            "msgtype": "dntxed", "diid": 0x0bad_cafe_u32, "seqno": 0x0bad_cafe_u32,
            "DR": 5, "Freq": 868_100_000, "DevEui": dev_eui, "rctx": 0,
            "xtime": 0x0123_0000_0101_0000_i64, "txtime": 1.0, "gpstime": 0
        }))
        .await;
    let ack: gw::DownlinkTxAck = s.expect("event/ack").await;
    assert_eq!(ack.downlink_id, 0x0bad_cafe);
    assert_eq!(ack.gateway_id, GATEWAY_ID);
    assert_eq!(ack.items[0].status(), gw::TxAckStatus::Ok);

    // A downlink the station cannot be given (no items) is acked at once.
    let empty = gw::DownlinkFrame {
        downlink_id: 77,
        gateway_id: GATEWAY_ID.into(),
        ..Default::default()
    };
    s.command("down", &empty).await;
    let ack: gw::DownlinkTxAck = s.expect("event/ack").await;
    assert_eq!(ack.downlink_id, 77);
    assert_ne!(ack.items[0].status(), gw::TxAckStatus::Ok);

    // timesync: answered with the echo and a GPS time.
    station
        .send(json!({ "msgtype": "timesync", "txtime": 123_456 }))
        .await;
    let ts = station.recv().await;
    assert_eq!(ts["msgtype"], "timesync");
    assert_eq!(ts["txtime"], 123_456);
    // µs since 1980-01-06: well past 2023.
    assert!(
        ts["gpstime"].as_i64().unwrap() > 1_370_000_000_000_000,
        "{ts}"
    );

    // An unknown msgtype is passed through on event/raw, a raw command is
    // passed to the station as is.
    let getxtime = json!({ "msgtype": "getxtime", "MuxTime": 1.5, "ustime": 42 });
    station.send(getxtime.clone()).await;
    let raw: gw::RawPacketForwarderEvent = s.expect("event/raw").await;
    assert_eq!(raw.gateway_id, GATEWAY_ID);
    assert_eq!(
        serde_json::from_slice::<Value>(&raw.payload).unwrap(),
        getxtime
    );
    let command = json!({ "msgtype": "runcmd", "command": "uptime", "arguments": [] });
    s.command(
        "raw",
        &gw::RawPacketForwarderCommand {
            gateway_id: GATEWAY_ID.into(),
            payload: command.to_string().into_bytes(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(station.recv().await, command);

    // Bad input is dropped without closing the connection.
    station.ws.send(Message::text("{not json")).await.unwrap();
    station.send(json!({ "msgtype": "updf", "DR": 99 })).await;
    station.send(updf()).await;
    let up: gw::UplinkFrame = s.expect("event/up").await;
    assert_eq!(up.phy_payload, phy);

    // Closing the websocket takes the gateway offline.
    station.ws.close(None).await.unwrap();
    s.expect_state(gw::conn_state::State::Offline).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_are_published_per_station() {
    let mut s = Setup::start("[backend.basic_station]\nstats_interval = \"1s\"\n").await;
    let (mut station, _) = discover_and_connect(s.addr).await;
    s.expect_state(gw::conn_state::State::Online).await;
    station.send(updf()).await;
    let _: gw::UplinkFrame = s.expect("event/up").await;
    let stats: gw::GatewayStats = s.expect("event/stats").await;
    assert_eq!(stats.gateway_id, GATEWAY_ID);
    assert_eq!(stats.rx_packets_received, 1);
    assert_eq!(stats.rx_packets_received_ok, 1);
    assert_eq!(stats.rx_packets_per_frequency.get(&868_100_000), Some(&1));
    // The counts restart with every interval.
    let stats: gw::GatewayStats = s.expect("event/stats").await;
    assert_eq!(stats.rx_packets_received, 0);
    station.ws.close(None).await.unwrap();
    s.expect_state(gw::conn_state::State::Offline).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_station_replaces_its_old_connection() {
    let mut s = Setup::start("").await;
    let (mut old, _) = discover_and_connect(s.addr).await;
    s.expect_state(gw::conn_state::State::Online).await;
    let (mut new, _) = discover_and_connect(s.addr).await;
    old.expect_closed().await;
    // Still online: no OFFLINE for the replaced connection, no second ONLINE.
    s.ns.expect_silence(Duration::from_millis(300)).await;
    new.send(updf()).await;
    let _: gw::UplinkFrame = s.expect("event/up").await;
    new.ws.close(None).await.unwrap();
    s.expect_state(gw::conn_state::State::Offline).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_station_is_disconnected_after_read_timeout() {
    let mut s =
        Setup::start("[backend.basic_station]\nread_timeout = \"1s\"\nping_interval = \"1h\"\n")
            .await;
    let (mut station, _) = discover_and_connect(s.addr).await;
    s.expect_state(gw::conn_state::State::Online).await;
    station.expect_closed().await;
    s.expect_state(gw::conn_state::State::Offline).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused() {
    let s = Setup::start("").await;
    // Not an EUI in the path: 400 before the upgrade.
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let url = format!("ws://{}/gateway/nope", s.addr);
    let err = tokio_tungstenite::client_async(url, tcp).await.unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
    // A router-info request without a router id: an error answer.
    let mut info = Station::connect(s.addr, "/router-info").await;
    info.send(json!({ "hello": 1 })).await;
    let answer = info.recv().await;
    assert!(answer["error"].is_string(), "{answer}");
    assert!(answer["uri"].is_null(), "{answer}");
    s.stop().await;
}

/// `[backend.basic_station]` for TLS with `pki`'s server certificate,
/// requiring client certificates from its CA.
fn station_tls(pki: &Pki) -> String {
    format!(
        "[backend.basic_station]\ntls_cert = \"{}\"\ntls_key = \"{}\"\nca_cert = \"{}\"\n",
        pki.server_cert.display(),
        pki.server_key.display(),
        pki.ca.display()
    )
}

async fn tls_connect(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
    path: &str,
) -> Result<Station<tokio_rustls::client::TlsStream<TcpStream>>, String> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let url = format!("wss://localhost:{}{path}", addr.port());
    let (ws, _) = tokio_tungstenite::client_async(url, tls)
        .await
        .map_err(|e| format!("websocket: {e}"))?;
    Ok(Station { ws })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_certificates_must_name_the_station() {
    let dir = TempDir::new("bs-tls");
    let pki = Pki::generate(&dir, "pki");
    let mut s = Setup::start(&station_tls(&pki)).await;
    let path = format!("/gateway/{GATEWAY_ID}");

    // The station's own certificate: accepted; router-info answers wss://.
    let own = pki.connector(Some(GATEWAY_ID));
    let mut info = tls_connect(&own, s.addr, "/router-info").await.unwrap();
    info.send(json!({ "router": GATEWAY_ID })).await;
    let answer = info.recv().await;
    assert!(
        answer["uri"].as_str().unwrap().starts_with("wss://"),
        "{answer}"
    );
    let mut station = tls_connect(&own, s.addr, &path).await.unwrap();
    station
        .send(json!({ "msgtype": "version", "station": "2.0.6", "protocol": 2 }))
        .await;
    assert_eq!(station.recv().await["msgtype"], "router_config");
    s.expect_state(gw::conn_state::State::Online).await;
    station.send(updf()).await;
    let up: gw::UplinkFrame = s.expect("event/up").await;
    assert_eq!(up.rx_info.unwrap().gateway_id, GATEWAY_ID);

    // Another gateway's certificate: 403, before any websocket.
    let other = pki.connector(Some("0102030405060709"));
    let err = tls_connect(&other, s.addr, &path).await.err().unwrap();
    assert!(err.contains("403"), "{err}");
    // ...and router-info refuses to point it anywhere.
    let mut info = tls_connect(&other, s.addr, "/router-info").await.unwrap();
    info.send(json!({ "router": GATEWAY_ID })).await;
    let answer = info.recv().await;
    assert!(
        answer["error"].is_string() && answer["uri"].is_null(),
        "{answer}"
    );

    // No certificate: the handshake fails (TLS 1.3 reports it on first use).
    let none = pki.connector(None);
    assert!(tls_connect(&none, s.addr, &path).await.is_err());

    station.ws.close(None).await.unwrap();
    s.expect_state(gw::conn_state::State::Offline).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_metadata_and_exec_commands() {
    let mut s = Setup::start(
        r#"
        [backend.basic_station]
        stats_interval = "1s"
        [filters]
        net_ids = ["000013"]
        dev_addr_prefixes = ["26000000/7"]
        [meta_data.static]
        serial = "A1"
        [commands.commands.echo]
        command = "cat"
        max_execution_duration = "2s"
        "#,
    )
    .await;
    let (mut station, rc) = discover_and_connect(s.addr).await;
    // The station filters by NetID itself; prefixes stay with the bridge.
    assert_eq!(rc["NetID"], json!([0x13]), "{rc}");
    s.expect_state(gw::conn_state::State::Online).await;

    // 0x01… is outside the prefix: dropped. 0x26… passes.
    let mut other = updf();
    other["DevAddr"] = json!(0x0102_0304);
    station.send(other).await;
    station.send(updf()).await;
    let up: gw::UplinkFrame = s.expect("event/up").await;
    assert_eq!(&up.phy_payload[1..5], &[0x34, 0x12, 0x01, 0x26]);

    // Stats carry the metadata; the filtered frame was received all the same.
    let stats: gw::GatewayStats = s.expect("event/stats").await;
    assert_eq!(stats.metadata.get("serial").map(String::as_str), Some("A1"));
    assert_eq!(stats.rx_packets_received, 2);

    // command/exec runs the configured command with the request's stdin.
    s.command(
        "exec",
        &gw::GatewayCommandExecRequest {
            gateway_id: GATEWAY_ID.into(),
            command: "echo".into(),
            exec_id: 9,
            stdin: b"hello".to_vec(),
            ..Default::default()
        },
    )
    .await;
    // Stats may come first: skip them.
    let exec: gw::GatewayCommandExecResponse = s.next_on("event/exec", Some("event/stats")).await;
    assert_eq!((exec.exec_id, exec.stdout.as_slice()), (9, &b"hello"[..]));
    assert_eq!(exec.gateway_id, GATEWAY_ID);
    assert!(exec.error.is_empty(), "{}", exec.error);
    // A command that is not configured is not run.
    s.command(
        "exec",
        &gw::GatewayCommandExecRequest {
            gateway_id: GATEWAY_ID.into(),
            command: "rm".into(),
            exec_id: 10,
            ..Default::default()
        },
    )
    .await;
    let exec: gw::GatewayCommandExecResponse = s.next_on("event/exec", None).await;
    assert_eq!(exec.exec_id, 10);
    assert!(!exec.error.is_empty());

    station.ws.close(None).await.unwrap();
    let conn: gw::ConnState = s.next_on("state/conn", None).await;
    assert_eq!(conn.state(), gw::conn_state::State::Offline);
    s.stop().await;
}
