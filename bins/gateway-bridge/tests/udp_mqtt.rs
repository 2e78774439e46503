//! The bridge between a fake Semtech UDP packet forwarder and the real
//! Mosquitto on 127.0.0.1:1883 (started by `scripts/ensure-services`): what a
//! network server reads and writes on MQTT, checked field by field.
//!
//! Every test uses its own topic prefix, so tests run in parallel and leave
//! nothing behind (retained states are cleared at the end).

use std::net::SocketAddr;

use gateway_bridge::Bridge;
use gateway_bridge::config::Config;
use packet_forwarder::gw::{self, Encoding};
use serde_json::{Value, json};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

#[path = "support/network_server.rs"]
mod network_server;

use network_server::{BROKER, NetworkServer, WAIT};

const GATEWAY_ID: &str = "0102030405060708";
const EUI: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

/// A Semtech UDP packet forwarder: PUSH_DATA from one socket, PULL_DATA from
/// another, as the reference forwarder does.
struct Forwarder {
    push: UdpSocket,
    pull: UdpSocket,
    bridge: SocketAddr,
}

impl Forwarder {
    async fn new(bridge: SocketAddr) -> Self {
        Self {
            push: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            pull: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            bridge,
        }
    }

    fn datagram(token: u16, identifier: u8, json: Option<&Value>) -> Vec<u8> {
        let mut d = vec![2];
        d.extend_from_slice(&token.to_be_bytes());
        d.push(identifier);
        d.extend_from_slice(&EUI);
        if let Some(json) = json {
            d.extend_from_slice(json.to_string().as_bytes());
        }
        d
    }

    async fn recv(socket: &UdpSocket, what: &str) -> Vec<u8> {
        let mut buf = vec![0; 65_536];
        let (len, _) = timeout(WAIT, socket.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
            .unwrap();
        buf.truncate(len);
        buf
    }

    async fn pull_data(&self, token: u16) {
        let d = Self::datagram(token, 2, None);
        self.pull.send_to(&d, self.bridge).await.unwrap();
        let ack = Self::recv(&self.pull, "PULL_ACK").await;
        let [hi, lo] = token.to_be_bytes();
        assert_eq!(ack, [2, hi, lo, 4], "PULL_ACK");
    }

    async fn push_data(&self, token: u16, json: &Value) {
        let d = Self::datagram(token, 0, Some(json));
        self.push.send_to(&d, self.bridge).await.unwrap();
        let ack = Self::recv(&self.push, "PUSH_ACK").await;
        let [hi, lo] = token.to_be_bytes();
        assert_eq!(ack, [2, hi, lo, 1], "PUSH_ACK");
    }

    /// The next PULL_RESP on the pull socket: its token and `txpk`.
    async fn pull_resp(&self) -> (u16, Value) {
        let d = Self::recv(&self.pull, "PULL_RESP").await;
        assert!(
            d.len() > 4 && d[0] == 2 && d[3] == 3,
            "not a PULL_RESP: {d:?}"
        );
        let json: Value = serde_json::from_slice(&d[4..]).expect("PULL_RESP JSON");
        (u16::from_be_bytes([d[1], d[2]]), json["txpk"].clone())
    }

    async fn tx_ack(&self, token: u16, error: Option<&str>) {
        let json = error.map(|e| json!({"txpk_ack": {"error": e}}));
        let d = Self::datagram(token, 5, json.as_ref());
        self.pull.send_to(&d, self.bridge).await.unwrap();
    }
}

struct Setup {
    ns: NetworkServer,
    fwd: Forwarder,
    prefix: String,
    encoding: Encoding,
    shutdown: Option<oneshot::Sender<()>>,
    bridge: JoinHandle<anyhow::Result<()>>,
}

impl Setup {
    async fn start(marshaler: &str) -> Self {
        let prefix = format!("gwb-test-{:016x}", rand::random::<u64>());
        let ns = NetworkServer::connect(&[
            format!("{prefix}/gateway/+/event/+"),
            format!("{prefix}/gateway/+/state/+"),
        ])
        .await;
        let config = Config::from_toml_strs(&[&format!(
            r#"
            [backend.semtech_udp]
            udp_bind = "127.0.0.1:0"
            [integration]
            marshaler = "{marshaler}"
            [integration.mqtt]
            event_topic_template = "{prefix}/gateway/{{{{ .GatewayID }}}}/event/{{{{ .EventType }}}}"
            state_topic_template = "{prefix}/gateway/{{{{ .GatewayID }}}}/state/{{{{ .StateType }}}}"
            command_topic_template = "{prefix}/gateway/{{{{ .GatewayID }}}}/command/#"
            [integration.mqtt.auth.generic]
            servers = ["tcp://{}:{}"]
            "#,
            BROKER.0, BROKER.1
        )])
        .unwrap();
        let bridge = Bridge::bind(config).await.unwrap();
        let fwd = Forwarder::new(bridge.local_addr()).await;
        let (tx, rx) = oneshot::channel();
        let bridge = tokio::spawn(bridge.run(async {
            let _ = rx.await;
        }));
        Self {
            ns,
            fwd,
            prefix,
            encoding: if marshaler == "json" {
                Encoding::Json
            } else {
                Encoding::Protobuf
            },
            shutdown: Some(tx),
            bridge,
        }
    }

    fn topic(&self, rest: &str) -> String {
        format!("{}/gateway/{GATEWAY_ID}/{rest}", self.prefix)
    }

    fn decode<M: gw::GwMessage>(&self, p: &rumqttc::Publish) -> M {
        assert_eq!(
            gw::Encoding::detect(&p.payload),
            self.encoding,
            "payload on {} is not in the configured encoding",
            p.topic
        );
        gw::decode(&p.payload, self.encoding).unwrap()
    }

    async fn expect_state(&mut self, state: gw::conn_state::State) {
        let p = self.ns.expect(&self.topic("state/conn")).await;
        let conn: gw::ConnState = self.decode(&p);
        assert_eq!(conn.gateway_id, GATEWAY_ID);
        assert_eq!(conn.state(), state);
    }

    /// The retained `state/conn`, as a client subscribing now sees it.
    async fn retained_state(&self) -> gw::ConnState {
        let mut late = NetworkServer::connect(&[self.topic("state/conn")]).await;
        let p = late.expect(&self.topic("state/conn")).await;
        assert!(p.retain, "state/conn is not retained");
        self.decode(&p)
    }

    async fn send_downlink(&self, frame: &gw::DownlinkFrame) {
        self.ns
            .publish(
                &self.topic("command/down"),
                gw::encode(frame, self.encoding),
                false,
            )
            .await;
    }

    async fn expect_ack(&mut self, downlink_id: u32, statuses: &[gw::TxAckStatus]) {
        let p = self.ns.expect(&self.topic("event/ack")).await;
        let ack: gw::DownlinkTxAck = self.decode(&p);
        assert_eq!(ack.gateway_id, GATEWAY_ID);
        assert_eq!(ack.downlink_id, downlink_id);
        let got: Vec<_> = ack.items.iter().map(|i| i.status()).collect();
        assert_eq!(got, statuses);
    }

    /// Stops the bridge, checks it marks the gateway OFFLINE, and clears the
    /// retained state.
    async fn stop(mut self) {
        self.shutdown.take().unwrap().send(()).unwrap();
        timeout(WAIT, &mut self.bridge)
            .await
            .expect("bridge did not stop")
            .unwrap()
            .unwrap();
        self.expect_state(gw::conn_state::State::Offline).await;
        self.ns
            .publish(&self.topic("state/conn"), Vec::new(), true)
            .await;
    }
}

fn rxpk_datagram() -> Value {
    json!({"rxpk": [
        {"tmst": 3_512_348_611u32, "chan": 2, "rfch": 0, "freq": 866.349812, "stat": 1,
         "modu": "LORA", "datr": "SF7BW125", "codr": "4/6", "rssi": -35, "lsnr": 5.1,
         "size": 4, "data": "AQIDBA=="},
        {"tmst": 1000, "chan": 7, "rfch": 1, "freq": 868.8, "stat": 1,
         "modu": "FSK", "datr": 50000, "rssi": -70, "size": 2, "data": "/wA="},
        // A bad CRC: not forwarded (skip_crc_check = false).
        {"tmst": 5, "chan": 0, "rfch": 0, "freq": 868.1, "stat": -1,
         "modu": "LORA", "datr": "SF9BW125", "codr": "4/5", "rssi": -110, "lsnr": -15.0,
         "size": 1, "data": "AA=="},
        {"tmst": 42, "chan": 1, "rfch": 0, "freq": 868.3, "stat": 1,
         "modu": "LORA", "datr": "SF12BW125", "codr": "4/5", "rssi": -119, "lsnr": -12.5,
         "size": 3, "data": "QEFC"},
    ]})
}

fn lora(frame: &gw::UplinkFrame) -> gw::LoraModulationInfo {
    match frame
        .tx_info
        .as_ref()
        .unwrap()
        .modulation
        .as_ref()
        .unwrap()
        .parameters
    {
        Some(gw::modulation::Parameters::Lora(ref l)) => l.clone(),
        ref other => panic!("not LoRa: {other:?}"),
    }
}

async fn check_uplinks(s: &mut Setup) {
    s.fwd.push_data(0x0a0b, &rxpk_datagram()).await;
    let mut frames = Vec::new();
    for _ in 0..3 {
        let p = s.ns.expect(&s.topic("event/up")).await;
        frames.push(s.decode::<gw::UplinkFrame>(&p));
    }

    let rx: Vec<_> = frames.iter().map(|f| f.rx_info.clone().unwrap()).collect();
    let tx: Vec<_> = frames.iter().map(|f| f.tx_info.clone().unwrap()).collect();
    for r in &rx {
        assert_eq!(r.gateway_id, GATEWAY_ID);
        assert_eq!(r.crc_status(), gw::CrcStatus::CrcOk);
        assert_eq!(
            r.gw_time, None,
            "no time in the rxpk and fake_rx_time is off"
        );
    }
    let ids: std::collections::HashSet<_> = rx.iter().map(|r| r.uplink_id).collect();
    assert_eq!(ids.len(), 3, "uplink ids must differ: {ids:?}");

    assert_eq!(frames[0].phy_payload, [1, 2, 3, 4]);
    assert_eq!(tx[0].frequency, 866_349_812);
    let l = lora(&frames[0]);
    assert_eq!((l.bandwidth, l.spreading_factor), (125_000, 7));
    assert_eq!(l.code_rate(), gw::CodeRate::Cr46);
    assert_eq!((rx[0].rssi, rx[0].snr), (-35, 5.1));
    assert_eq!((rx[0].channel, rx[0].rf_chain), (2, 0));
    assert_eq!(rx[0].context, 3_512_348_611u32.to_be_bytes());

    assert_eq!(frames[1].phy_payload, [0xff, 0x00]);
    assert_eq!(tx[1].frequency, 868_800_000);
    match tx[1].modulation.as_ref().unwrap().parameters {
        Some(gw::modulation::Parameters::Fsk(ref f)) => assert_eq!(f.datarate, 50_000),
        ref other => panic!("not FSK: {other:?}"),
    }
    assert_eq!((rx[1].rssi, rx[1].channel, rx[1].rf_chain), (-70, 7, 1));
    assert_eq!(rx[1].context, 1000u32.to_be_bytes());

    assert_eq!(frames[2].phy_payload, [0x40, 0x41, 0x42]);
    assert_eq!(tx[2].frequency, 868_300_000);
    let l = lora(&frames[2]);
    assert_eq!((l.bandwidth, l.spreading_factor), (125_000, 12));
    assert_eq!(l.code_rate(), gw::CodeRate::Cr45);
    assert_eq!((rx[2].rssi, rx[2].snr, rx[2].channel), (-119, -12.5, 1));
    assert_eq!(rx[2].context, 42u32.to_be_bytes());
}

fn downlink_item(frequency: u32, sf: u32, delay_s: i64, payload: &[u8]) -> gw::DownlinkFrameItem {
    gw::DownlinkFrameItem {
        phy_payload: payload.to_vec(),
        tx_info: Some(gw::DownlinkTxInfo {
            frequency,
            power: 14,
            modulation: Some(gw::Modulation {
                parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
                    bandwidth: 125_000,
                    spreading_factor: sf,
                    code_rate: gw::CodeRate::Cr45.into(),
                    polarization_inversion: true,
                    ..Default::default()
                })),
            }),
            timing: Some(gw::Timing {
                parameters: Some(gw::timing::Parameters::Delay(gw::DelayTimingInfo {
                    delay: Some(gw::Duration {
                        seconds: delay_s,
                        nanos: 0,
                    }),
                })),
            }),
            context: 3_512_348_611u32.to_be_bytes().to_vec(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn check_txpk(txpk: &Value, freq_mhz: f64, datr: &str, tmst: u32, data: &str, size: u64) {
    assert!(!txpk["imme"].as_bool().unwrap_or(false), "{txpk}");
    assert_eq!(txpk["tmst"].as_u64(), Some(u64::from(tmst)), "{txpk}");
    assert_eq!(txpk["freq"].as_f64(), Some(freq_mhz), "{txpk}");
    assert_eq!(txpk["rfch"].as_u64(), Some(0), "{txpk}");
    assert_eq!(txpk["powe"].as_i64(), Some(14), "{txpk}");
    assert_eq!(txpk["modu"], "LORA", "{txpk}");
    assert_eq!(txpk["datr"], datr, "{txpk}");
    assert_eq!(txpk["codr"], "4/5", "{txpk}");
    assert_eq!(txpk["ipol"], true, "{txpk}");
    assert_eq!(txpk["size"].as_u64(), Some(size), "{txpk}");
    assert_eq!(txpk["data"], data, "{txpk}");
}

async fn check_downlinks(s: &mut Setup) {
    // One item, accepted.
    let frame = gw::DownlinkFrame {
        downlink_id: 0x1234_5678,
        gateway_id: GATEWAY_ID.into(),
        items: vec![downlink_item(868_100_000, 7, 1, &[0x60, 1, 2])],
        ..Default::default()
    };
    s.send_downlink(&frame).await;
    let (token, txpk) = s.fwd.pull_resp().await;
    assert_eq!(token, 0x5678, "PULL_RESP token = downlink_id as u16");
    check_txpk(&txpk, 868.1, "SF7BW125", 3_513_348_611, "YAEC", 3);
    s.fwd.tx_ack(token, None).await;
    s.expect_ack(0x1234_5678, &[gw::TxAckStatus::Ok]).await;

    // RX1 refused (TOO_LATE), RX2 accepted.
    let frame = gw::DownlinkFrame {
        downlink_id: 0x0000_9abc,
        gateway_id: GATEWAY_ID.into(),
        items: vec![
            downlink_item(868_300_000, 9, 1, &[0xa0]),
            downlink_item(869_525_000, 12, 2, &[0xa0]),
        ],
        ..Default::default()
    };
    s.send_downlink(&frame).await;
    let (token, txpk) = s.fwd.pull_resp().await;
    assert_eq!(token, 0x9abc);
    check_txpk(&txpk, 868.3, "SF9BW125", 3_513_348_611, "oA==", 1);
    s.fwd.tx_ack(token, Some("TOO_LATE")).await;
    let (token, txpk) = s.fwd.pull_resp().await;
    assert_eq!(token, 0x9abc);
    check_txpk(&txpk, 869.525, "SF12BW125", 3_514_348_611, "oA==", 1);
    s.fwd.tx_ack(token, None).await;
    s.expect_ack(0x9abc, &[gw::TxAckStatus::TooLate, gw::TxAckStatus::Ok])
        .await;

    // A frame for another gateway on this gateway's topic is dropped, as is
    // garbage: no PULL_RESP, no ack, the bridge keeps running.
    let mut wrong = frame.clone();
    wrong.gateway_id = "0807060504030201".into();
    s.send_downlink(&wrong).await;
    s.ns.publish(
        &s.topic("command/down"),
        b"\x0a\xff garbage".to_vec(),
        false,
    )
    .await;
    s.ns.expect_silence().await;
}

async fn full_exchange(marshaler: &str) {
    let mut s = Setup::start(marshaler).await;
    s.fwd.pull_data(0x0102).await;
    s.expect_state(gw::conn_state::State::Online).await;
    let retained = s.retained_state().await;
    assert_eq!(retained.gateway_id, GATEWAY_ID);
    assert_eq!(retained.state(), gw::conn_state::State::Online);

    check_uplinks(&mut s).await;
    check_downlinks(&mut s).await;

    // A malformed datagram is answered with nothing and changes nothing.
    s.fwd.push.send_to(b"\x02\x00", s.fwd.bridge).await.unwrap();
    s.fwd.pull_data(0x0103).await;

    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_gateway_reaches_mqtt_with_protobuf() {
    full_exchange("protobuf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_gateway_reaches_mqtt_with_json() {
    full_exchange("json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_is_published_as_gateway_stats() {
    let mut s = Setup::start("json").await;
    s.fwd.pull_data(1).await;
    s.expect_state(gw::conn_state::State::Online).await;
    s.fwd
        .push_data(
            2,
            &json!({"stat": {"time": "2014-01-12 08:59:28 GMT", "rxnb": 2, "rxok": 1,
                              "rxfw": 1, "ackr": 100.0, "dwnb": 3, "txnb": 4}}),
        )
        .await;
    let p = s.ns.expect(&s.topic("event/stats")).await;
    let stats: gw::GatewayStats = s.decode(&p);
    assert_eq!(stats.gateway_id, GATEWAY_ID);
    assert_eq!(stats.time.unwrap().seconds, 1_389_517_168);
    assert_eq!(
        (
            stats.rx_packets_received,
            stats.rx_packets_received_ok,
            stats.tx_packets_received,
            stats.tx_packets_emitted
        ),
        (2, 1, 3, 4)
    );
    s.stop().await;
}
