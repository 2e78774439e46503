//! The world around a bridge under test: a fake Semtech UDP packet
//! forwarder, a network server's MQTT client, and the bridge itself running
//! in a task, all on a broker given by address.
//!
//! Every [`Harness`] has its own topic prefix, so tests share a broker
//! safely.
// Each test file uses a part of it.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use gateway_bridge::Bridge;
use gateway_bridge::config::Config;
use packet_forwarder::gw::{self, Encoding};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Every wait is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);
/// The fake gateway's EUI, as the bridge writes it.
pub const GATEWAY_ID: &str = "0102030405060708";
const EUI: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

/// A network server's view of a broker: an MQTT 3.1.1 client subscribed to
/// some filters, whatever version the bridge speaks.
pub struct NetworkServer {
    client: AsyncClient,
    messages: mpsc::UnboundedReceiver<rumqttc::Publish>,
    task: JoinHandle<()>,
}

impl NetworkServer {
    /// Connects to 127.0.0.1:`port` and subscribes to `filters` (QoS 1),
    /// once the broker acknowledged them all.
    pub async fn connect(port: u16, filters: &[String]) -> Self {
        let id = format!("gwb-ns-{:016x}", rand::random::<u64>());
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(10));
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        let (tx, messages) = mpsc::unbounded_channel();
        let (subacks_tx, mut subacks) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => drop(tx.send(p)),
                    Ok(Event::Incoming(Packet::SubAck(_))) => drop(subacks_tx.send(())),
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        for filter in filters {
            client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        }
        for filter in filters {
            timeout(WAIT, subacks.recv())
                .await
                .unwrap_or_else(|_| panic!("no SUBACK for {filter} from 127.0.0.1:{port}"))
                .unwrap();
        }
        Self {
            client,
            messages,
            task,
        }
    }

    /// The next message, which must be on `topic`.
    pub async fn expect(&mut self, topic: &str) -> rumqttc::Publish {
        let p = timeout(WAIT, self.messages.recv())
            .await
            .unwrap_or_else(|_| panic!("no MQTT message on {topic} within {WAIT:?}"))
            .expect("network server client ended");
        assert_eq!(p.topic, topic, "unexpected MQTT message: {p:?}");
        p
    }

    /// Nothing arrives for `quiet`.
    pub async fn expect_silence(&mut self, quiet: Duration) {
        if let Ok(Some(p)) = timeout(quiet, self.messages.recv()).await {
            panic!("unexpected MQTT message on {}: {:?}", p.topic, p.payload);
        }
    }

    /// Publishes with QoS 1.
    pub async fn publish(&self, topic: &str, payload: Vec<u8>, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .unwrap();
    }
}

impl Drop for NetworkServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A Semtech UDP packet forwarder: PUSH_DATA from one socket, PULL_DATA
/// (and so PULL_RESP) on another, as the reference forwarder does.
pub struct Forwarder {
    push: UdpSocket,
    pull: UdpSocket,
    bridge: SocketAddr,
}

impl Forwarder {
    /// Two sockets on loopback, talking to `bridge`.
    pub async fn new(bridge: SocketAddr) -> Self {
        Self {
            push: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            pull: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            bridge,
        }
    }

    async fn exchange(&self, socket: &UdpSocket, token: u16, id: u8, json: Option<&Value>) {
        let mut d = vec![2];
        d.extend_from_slice(&token.to_be_bytes());
        d.push(id);
        d.extend_from_slice(&EUI);
        if let Some(json) = json {
            d.extend_from_slice(json.to_string().as_bytes());
        }
        socket.send_to(&d, self.bridge).await.unwrap();
        if id == 5 {
            return; // TX_ACK is not acknowledged.
        }
        let ack = Self::recv(socket).await;
        let [hi, lo] = token.to_be_bytes();
        // PUSH_DATA (0) is answered by PUSH_ACK (1), PULL_DATA (2) by PULL_ACK (4).
        assert_eq!(ack, [2, hi, lo, if id == 0 { 1 } else { 4 }], "ack of {id}");
    }

    async fn recv(socket: &UdpSocket) -> Vec<u8> {
        let mut buf = vec![0; 65_536];
        let (len, _) = timeout(WAIT, socket.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no datagram from the bridge within {WAIT:?}"))
            .unwrap();
        buf.truncate(len);
        buf
    }

    /// PULL_DATA, and its PULL_ACK.
    pub async fn pull_data(&self, token: u16) {
        self.exchange(&self.pull, token, 2, None).await;
    }

    /// PUSH_DATA with `json`, and its PUSH_ACK.
    pub async fn push_data(&self, token: u16, json: &Value) {
        self.exchange(&self.push, token, 0, Some(json)).await;
    }

    /// TX_ACK for `token`, without error.
    pub async fn tx_ack(&self, token: u16) {
        self.exchange(&self.pull, token, 5, None).await;
    }

    /// The next PULL_RESP: its token and `txpk`.
    pub async fn pull_resp(&self) -> (u16, Value) {
        let d = Self::recv(&self.pull).await;
        assert!(
            d.len() > 4 && d[..4] == [2, d[1], d[2], 3],
            "not a PULL_RESP: {d:?}"
        );
        let json: Value = serde_json::from_slice(&d[4..]).expect("PULL_RESP JSON");
        (u16::from_be_bytes([d[1], d[2]]), json["txpk"].clone())
    }
}

/// A bridge running in a task, a forwarder talking to it, and a network
/// server subscribed to its events and states, on one topic prefix.
pub struct Harness {
    /// The forwarder.
    pub fwd: Forwarder,
    /// The network server's client.
    pub ns: NetworkServer,
    prefix: String,
    stop: Option<oneshot::Sender<()>>,
    bridge: JoinHandle<anyhow::Result<()>>,
}

impl Harness {
    /// Subscribes a network server on 127.0.0.1:`ns_port`, then starts a
    /// bridge (protobuf, topics under a fresh prefix) with `mqtt`, TOML for
    /// `[integration.mqtt]` and its subtables.
    pub async fn start(ns_port: u16, mqtt: &str) -> Self {
        let prefix = format!("gwb-test-{:016x}", rand::random::<u64>());
        let ns = NetworkServer::connect(ns_port, &Self::filters(&prefix)).await;
        let config = Config::from_toml_strs(&[
            &format!(
                r#"
                [backend.semtech_udp]
                udp_bind = "127.0.0.1:0"
                [integration]
                marshaler = "protobuf"
                [integration.mqtt]
                event_topic_template = "{prefix}/gateway/{{{{ .GatewayID }}}}/event/{{{{ .EventType }}}}"
                state_topic_template = "{prefix}/gateway/{{{{ .GatewayID }}}}/state/{{{{ .StateType }}}}"
                command_topic_template = "{prefix}/gateway/{{{{ .GatewayID }}}}/command/#"
                "#
            ),
            mqtt,
        ])
        .unwrap();
        let bridge = Bridge::bind(config).await.unwrap();
        let fwd = Forwarder::new(bridge.local_addr()).await;
        let (stop, stopped) = oneshot::channel();
        let bridge = tokio::spawn(bridge.run(async {
            let _ = stopped.await;
        }));
        Self {
            fwd,
            ns,
            prefix,
            stop: Some(stop),
            bridge,
        }
    }

    fn filters(prefix: &str) -> [String; 2] {
        [
            format!("{prefix}/gateway/+/event/+"),
            format!("{prefix}/gateway/+/state/+"),
        ]
    }

    /// Replaces the network server's client with a new one on
    /// 127.0.0.1:`ns_port` (after a broker restart, say).
    pub async fn reconnect_network_server(&mut self, ns_port: u16) {
        self.ns = NetworkServer::connect(ns_port, &Self::filters(&self.prefix)).await;
    }

    /// The topic `rest` of the fake gateway.
    pub fn topic(&self, rest: &str) -> String {
        format!("{}/gateway/{GATEWAY_ID}/{rest}", self.prefix)
    }

    /// The next message is the gateway's `state/conn`, with `state`.
    pub async fn expect_state(&mut self, state: gw::conn_state::State) {
        let p = self.ns.expect(&self.topic("state/conn")).await;
        let conn: gw::ConnState = gw::decode(&p.payload, Encoding::Protobuf).unwrap();
        assert_eq!(
            (conn.gateway_id.as_str(), conn.state()),
            (GATEWAY_ID, state)
        );
    }

    /// PULL_DATA: the gateway comes ONLINE.
    pub async fn connect_gateway(&mut self) {
        self.fwd.pull_data(0x0102).await;
        self.expect_state(gw::conn_state::State::Online).await;
    }

    /// PUSH_DATA with one `rxpk`; its `event/up` arrives.
    pub async fn check_uplink(&mut self) {
        let rxpk = json!({"rxpk": [
            {"tmst": 3_512_348_611u32, "chan": 2, "rfch": 0, "freq": 868.1, "stat": 1,
             "modu": "LORA", "datr": "SF7BW125", "codr": "4/5", "rssi": -35, "lsnr": 5.1,
             "size": 4, "data": "AQIDBA=="}]});
        self.fwd.push_data(0x0a0b, &rxpk).await;
        let p = self.ns.expect(&self.topic("event/up")).await;
        let frame: gw::UplinkFrame = gw::decode(&p.payload, Encoding::Protobuf).unwrap();
        assert_eq!(frame.phy_payload, [1, 2, 3, 4]);
        assert_eq!(frame.rx_info.unwrap().gateway_id, GATEWAY_ID);
    }

    /// A `command/down` is sent as PULL_RESP; with `ack`, the TX_ACK comes
    /// back as `event/ack`.
    pub async fn check_downlink(&mut self, downlink_id: u32, ack: bool) {
        let payload = gw::encode(&downlink_frame(downlink_id), Encoding::Protobuf);
        self.ns
            .publish(&self.topic("command/down"), payload, false)
            .await;
        let (token, txpk) = self.fwd.pull_resp().await;
        assert_eq!(
            token, downlink_id as u16,
            "PULL_RESP token = downlink_id as u16"
        );
        assert_eq!(txpk["data"], "YAEC", "{txpk}");
        if ack {
            self.fwd.tx_ack(token).await;
            let p = self.ns.expect(&self.topic("event/ack")).await;
            let ack: gw::DownlinkTxAck = gw::decode(&p.payload, Encoding::Protobuf).unwrap();
            assert_eq!(ack.downlink_id, downlink_id);
            let statuses: Vec<_> = ack.items.iter().map(|i| i.status()).collect();
            assert_eq!(statuses, [gw::TxAckStatus::Ok]);
        }
    }

    /// Whether the bridge still runs.
    pub fn running(&self) -> bool {
        !self.bridge.is_finished()
    }

    /// Stops the bridge, checks it marks the gateway OFFLINE, and clears the
    /// retained state (the broker may be shared).
    pub async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
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

/// A `gw.DownlinkFrame` with one item: RX1 one second after the uplink of
/// `check_uplink`, 868.1 MHz SF7, PHYPayload `60 01 02`.
fn downlink_frame(downlink_id: u32) -> gw::DownlinkFrame {
    // Written as ChirpStack's JSON, which reads closest to what it says.
    let json = json!({
        "downlinkId": downlink_id,
        "gatewayId": GATEWAY_ID,
        "items": [{
            "phyPayload": "YAEC",
            "txInfo": {
                "frequency": 868_100_000,
                "power": 14,
                "modulation": {"lora": {
                    "bandwidth": 125_000, "spreadingFactor": 7, "codeRate": "CR_4_5",
                    "polarizationInversion": true,
                }},
                "timing": {"delay": {"delay": "1s"}},
                "context": "0Vovww==",
            },
        }],
    });
    gw::decode(json.to_string().as_bytes(), Encoding::Json).unwrap()
}
