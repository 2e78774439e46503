//! The world around a bridge with the Semtech UDP backend: a fake packet
//! forwarder, a network server's MQTT client, and the bridge itself running
//! in a task, on a broker given by port.
//!
//! Every [`Harness`] has its own topic prefix, so tests share a broker
//! safely.
//!
//! Needs `bridge.rs`, `forwarder.rs` and `network_server.rs` beside it in
//! the test crate.
// Each test file uses a part of it.
#![allow(dead_code, unreachable_pub)]

use gateway_bridge::Bridge;
use gateway_bridge::config::Config;
use packet_forwarder::gw::{self, Encoding};
use serde_json::{Value, json};

use crate::bridge::{GATEWAY_ID, RunningBridge, Topics};
use crate::forwarder::Forwarder;
use crate::network_server::{NetworkServer, downlink_item};

/// The `tmst` of the uplink of [`Harness::check_uplink`], which the bridge
/// gives as the uplink's context, and which the downlink of
/// [`Harness::check_downlink`] answers.
pub const UPLINK_TMST: u32 = 3_512_348_611;

/// A bridge running in a task, a forwarder talking to it, and a network
/// server subscribed to its events and states, on one topic prefix.
pub struct Harness {
    /// The forwarder.
    pub fwd: Forwarder,
    /// The network server's client.
    pub ns: NetworkServer,
    ns_port: u16,
    topics: Topics,
    encoding: Encoding,
    bridge: RunningBridge,
}

impl Harness {
    /// [`start_with`](Self::start_with) the protobuf marshaler.
    pub async fn start(ns_port: u16, mqtt: &str) -> Self {
        Self::start_with(ns_port, Encoding::Protobuf, mqtt).await
    }

    /// Subscribes a network server on 127.0.0.1:`ns_port`, then starts a
    /// bridge (marshaler `encoding`, topics under a fresh prefix) on the
    /// same broker, with `mqtt` merged over: TOML for `[integration.mqtt]`
    /// and its subtables, which may name other `servers`.
    pub async fn start_with(ns_port: u16, encoding: Encoding, mqtt: &str) -> Self {
        let topics = Topics::new("gwb-test");
        let ns = NetworkServer::connect(ns_port, &topics.filters()).await;
        let marshaler = match encoding {
            Encoding::Json => "json",
            Encoding::Protobuf => "protobuf",
        };
        let config = Config::from_toml_strs(&[
            &format!(
                "[backend.semtech_udp]\nudp_bind = \"127.0.0.1:0\"\n\
                 [integration]\nmarshaler = \"{marshaler}\"\n"
            ),
            &topics.config(),
            &format!("[integration.mqtt.auth.generic]\nservers = [\"tcp://127.0.0.1:{ns_port}\"]"),
            mqtt,
        ])
        .unwrap();
        let bridge = Bridge::bind(config).await.unwrap();
        let fwd = Forwarder::new(bridge.local_addr()).await;
        Self {
            fwd,
            ns,
            ns_port,
            topics,
            encoding,
            bridge: RunningBridge::spawn(bridge),
        }
    }

    /// Replaces the network server's client with a new one on the same port
    /// (after a broker restart, say).
    pub async fn reconnect_network_server(&mut self) {
        self.ns = NetworkServer::connect(self.ns_port, &self.topics.filters()).await;
    }

    /// The topic `rest` of the fake gateway.
    pub fn topic(&self, rest: &str) -> String {
        self.topics.gateway(rest)
    }

    /// The message in `p`, which must be in the configured encoding.
    pub fn decode<M: gw::GwMessage>(&self, p: &rumqttc::Publish) -> M {
        assert_eq!(
            Encoding::detect(&p.payload),
            self.encoding,
            "payload on {} is not in the configured encoding",
            p.topic
        );
        gw::decode(&p.payload, self.encoding).unwrap()
    }

    /// The next message is the gateway's `state/conn`, with `state`.
    pub async fn expect_state(&mut self, state: gw::conn_state::State) {
        let p = self.ns.expect(&self.topic("state/conn")).await;
        let conn: gw::ConnState = self.decode(&p);
        assert_eq!(conn.gateway_id, GATEWAY_ID);
        assert_eq!(conn.state(), state);
    }

    /// The retained `state/conn`, as a client subscribing now sees it.
    pub async fn retained_state(&self) -> gw::ConnState {
        let topic = self.topic("state/conn");
        let mut late = NetworkServer::connect(self.ns_port, std::slice::from_ref(&topic)).await;
        let p = late.expect(&topic).await;
        assert!(p.retain, "state/conn is not retained");
        self.decode(&p)
    }

    /// Publishes `frame` on the gateway's `command/down`.
    pub async fn send_downlink(&self, frame: &gw::DownlinkFrame) {
        self.ns
            .publish(
                &self.topic("command/down"),
                gw::encode(frame, self.encoding),
                false,
            )
            .await;
    }

    /// The next message is the gateway's `event/ack` for `downlink_id`, its
    /// items with `statuses`.
    pub async fn expect_ack(&mut self, downlink_id: u32, statuses: &[gw::TxAckStatus]) {
        let p = self.ns.expect(&self.topic("event/ack")).await;
        let ack: gw::DownlinkTxAck = self.decode(&p);
        assert_eq!(ack.gateway_id, GATEWAY_ID);
        assert_eq!(ack.downlink_id, downlink_id);
        let got: Vec<_> = ack.items.iter().map(|i| i.status()).collect();
        assert_eq!(got, statuses);
    }

    /// PULL_DATA: the gateway comes ONLINE.
    pub async fn connect_gateway(&mut self) {
        self.fwd.pull_data(0x0102).await;
        self.expect_state(gw::conn_state::State::Online).await;
    }

    /// PUSH_DATA with one `rxpk`; its `event/up` arrives.
    pub async fn check_uplink(&mut self) {
        let rxpk = json!({"rxpk": [
            {"tmst": UPLINK_TMST, "chan": 2, "rfch": 0, "freq": 868.1, "stat": 1,
             "modu": "LORA", "datr": "SF7BW125", "codr": "4/5", "rssi": -35, "lsnr": 5.1,
             "size": 4, "data": "AQIDBA=="}]});
        self.fwd.push_data(0x0a0b, &rxpk).await;
        let p = self.ns.expect(&self.topic("event/up")).await;
        let frame: gw::UplinkFrame = self.decode(&p);
        assert_eq!(frame.phy_payload, [1, 2, 3, 4]);
        assert_eq!(frame.rx_info.unwrap().gateway_id, GATEWAY_ID);
    }

    /// A `command/down` with one item (RX1 one second after an uplink with
    /// `tmst` [`UPLINK_TMST`], 868.1 MHz SF7, PHYPayload `60 01 02`) is sent
    /// as PULL_RESP, whose `txpk` is returned; with `ack`, the TX_ACK comes
    /// back as `event/ack`.
    pub async fn check_downlink(&mut self, downlink_id: u32, ack: bool) -> Value {
        let frame = gw::DownlinkFrame {
            downlink_id,
            gateway_id: GATEWAY_ID.into(),
            items: vec![downlink_item(
                868_100_000,
                7,
                1,
                &UPLINK_TMST.to_be_bytes(),
                &[0x60, 1, 2],
            )],
            ..Default::default()
        };
        self.send_downlink(&frame).await;
        let (token, txpk) = self.fwd.pull_resp().await;
        assert_eq!(
            token, downlink_id as u16,
            "PULL_RESP token = downlink_id as u16"
        );
        assert_eq!(txpk["data"], "YAEC", "{txpk}");
        if ack {
            self.fwd.tx_ack(token, None).await;
            self.expect_ack(downlink_id, &[gw::TxAckStatus::Ok]).await;
        }
        txpk
    }

    /// Whether the bridge still runs.
    pub fn running(&self) -> bool {
        self.bridge.is_running()
    }

    /// Stops the bridge, checks it marks the gateway OFFLINE, and clears the
    /// retained state (the broker may be shared).
    pub async fn stop(mut self) {
        self.bridge.stop().await;
        self.expect_state(gw::conn_state::State::Offline).await;
        self.ns
            .publish(&self.topic("state/conn"), Vec::new(), true)
            .await;
    }
}
