//! The gateway backend against the Mosquitto at 127.0.0.1:1883 (started by
//! `scripts/ensure-services`): a test client publishes what a gateway
//! bridge would, under a topic prefix of its own per test.

use std::time::Duration;

use ns_core::gateway_backend::{
    ConfigError, GatewayBackend, GatewayBackendConfig, GatewayBackendCounters, GatewayEvent,
    SendError,
};
use packet_forwarder::gw::{self, Encoding};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

const GW1: &str = "0101010101010101";
const GW2: &str = "0202020202020202";
const GW3: &str = "0303030303030303";
const WAIT: Duration = Duration::from_secs(10);

fn prefix() -> String {
    format!("nsgwb-{:016x}", rand::random::<u64>())
}

fn uplink(gateway_id: &str, phy_payload: &[u8]) -> gw::UplinkFrame {
    gw::UplinkFrame {
        phy_payload: phy_payload.to_vec(),
        tx_info: Some(gw::UplinkTxInfo {
            frequency: 868_100_000,
            ..Default::default()
        }),
        rx_info: Some(gw::UplinkRxInfo {
            gateway_id: gateway_id.into(),
            rssi: -42,
            snr: 7.5,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn stats(gateway_id: &str) -> gw::GatewayStats {
    gw::GatewayStats {
        gateway_id: gateway_id.into(),
        rx_packets_received: 3,
        ..Default::default()
    }
}

fn downlink(gateway_id: &str, downlink_id: u32) -> gw::DownlinkFrame {
    gw::DownlinkFrame {
        gateway_id: gateway_id.into(),
        downlink_id,
        items: vec![gw::DownlinkFrameItem {
            phy_payload: vec![0x60, 1, 2, 3, 4],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A backend on `prefix`, once its subscription is granted.
async fn backend(
    prefix: &str,
    tune: impl FnOnce(&mut GatewayBackendConfig),
) -> (GatewayBackend, mpsc::Receiver<GatewayEvent>) {
    let mut config = GatewayBackendConfig::new(prefix, "tcp://127.0.0.1:1883");
    tune(&mut config);
    let (backend, events) = GatewayBackend::start(config).unwrap();
    wait_for(&backend, |c| c.subscriptions >= 1).await;
    (backend, events)
}

/// Waits until the backend's counters satisfy `done`.
async fn wait_for(backend: &GatewayBackend, done: impl Fn(&GatewayBackendCounters) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let counters = backend.counters();
        if done(&counters) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "counters never got there (is Mosquitto running on 127.0.0.1:1883?): {counters:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A gateway bridge's side: publishes events, receives commands.
struct Bridge {
    client: AsyncClient,
    prefix: String,
    commands: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
}

impl Bridge {
    async fn connect(prefix: &str) -> Self {
        let options = MqttOptions::new(
            format!("nsgwb-bridge-{:016x}", rand::random::<u64>()),
            "127.0.0.1",
            1883,
        );
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        client
            .subscribe(format!("{prefix}/gateway/+/command/+"), QoS::AtLeastOnce)
            .await
            .unwrap();
        loop {
            if let Event::Incoming(Packet::SubAck(_)) = poll(&mut eventloop).await {
                break;
            }
        }
        let (tx, commands) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                if let Event::Incoming(Packet::Publish(p)) = poll(&mut eventloop).await {
                    let _ = tx.send((p.topic, p.payload.to_vec()));
                }
            }
        });
        Self {
            client,
            prefix: prefix.to_owned(),
            commands,
        }
    }

    /// Publishes `payload` on `{prefix}/{suffix}`.
    async fn publish(&self, suffix: &str, payload: Vec<u8>) {
        let topic = format!("{}/{suffix}", self.prefix);
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }

    /// Publishes `message` as gateway `gateway_id`'s `event` in `encoding`.
    async fn event<M: gw::GwMessage>(
        &self,
        gateway_id: &str,
        event: &str,
        message: &M,
        encoding: Encoding,
    ) {
        let suffix = format!("gateway/{gateway_id}/event/{event}");
        self.publish(&suffix, gw::encode(message, encoding)).await;
    }

    async fn command(&mut self) -> (String, Vec<u8>) {
        tokio::time::timeout(WAIT, self.commands.recv())
            .await
            .expect("no command in time")
            .unwrap()
    }
}

async fn poll(eventloop: &mut EventLoop) -> Event {
    tokio::time::timeout(WAIT, eventloop.poll())
        .await
        .expect("no MQTT event in time: is Mosquitto running on 127.0.0.1:1883?")
        .expect("test client connection")
}

async fn next(events: &mut mpsc::Receiver<GatewayEvent>) -> GatewayEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("no gateway event in time")
        .expect("event channel closed")
}

#[tokio::test]
async fn protobuf_and_json_events_arrive_decoded_with_their_gateway() {
    let prefix = prefix();
    let (backend, mut events) = backend(&prefix, |_| {}).await;
    let bridge = Bridge::connect(&prefix).await;

    let up1 = uplink(GW1, &[0x40, 1, 2, 3, 4]);
    let up2 = uplink(GW2, &[0x40, 5, 6, 7, 8]);
    let stats2 = stats(GW2);
    let ack1 = gw::tx_ack(GW1.into(), 42, 2, &[gw::TxAckStatus::Ok]);
    bridge.event(GW1, "up", &up1, Encoding::Protobuf).await;
    bridge.event(GW2, "up", &up2, Encoding::Json).await;
    bridge.event(GW2, "stats", &stats2, Encoding::Json).await;
    bridge.event(GW1, "ack", &ack1, Encoding::Protobuf).await;

    let expected = [
        GatewayEvent::Up {
            gateway_id: GW1.parse().unwrap(),
            frame: up1,
            encoding: Encoding::Protobuf,
        },
        GatewayEvent::Up {
            gateway_id: GW2.parse().unwrap(),
            frame: up2,
            encoding: Encoding::Json,
        },
        GatewayEvent::Stats {
            gateway_id: GW2.parse().unwrap(),
            stats: stats2,
        },
        GatewayEvent::Ack {
            gateway_id: GW1.parse().unwrap(),
            ack: ack1,
        },
    ];
    for expected in expected {
        assert_eq!(next(&mut events).await, expected);
    }
    let counters = backend.counters();
    assert_eq!(
        (
            counters.up_received,
            counters.stats_received,
            counters.ack_received
        ),
        (2, 1, 1)
    );
    assert_eq!(
        backend.encoding(GW1.parse().unwrap()),
        Some(Encoding::Protobuf)
    );
    assert_eq!(backend.encoding(GW2.parse().unwrap()), Some(Encoding::Json));
    assert_eq!(backend.encoding(GW3.parse().unwrap()), None);
    backend.shutdown(WAIT).await;
}

#[tokio::test]
async fn downlinks_go_back_in_the_encoding_the_gateway_used() {
    let prefix = prefix();
    let (backend, mut events) = backend(&prefix, |_| {}).await;
    let mut bridge = Bridge::connect(&prefix).await;
    bridge
        .event(GW1, "up", &uplink(GW1, &[0x40, 1]), Encoding::Json)
        .await;
    bridge
        .event(GW2, "up", &uplink(GW2, &[0x40, 2]), Encoding::Protobuf)
        .await;
    next(&mut events).await;
    next(&mut events).await;

    // GW3 was never heard: protobuf, ChirpStack's default.
    for (gateway_id, encoding) in [
        (GW1, Encoding::Json),
        (GW2, Encoding::Protobuf),
        (GW3, Encoding::Protobuf),
    ] {
        let frame = downlink(gateway_id, 7);
        assert_eq!(backend.send_downlink(&frame).unwrap(), encoding);
        let (topic, payload) = bridge.command().await;
        assert_eq!(topic, format!("{prefix}/gateway/{gateway_id}/command/down"));
        assert_eq!(Encoding::detect(&payload), encoding, "{gateway_id}");
        assert_eq!(
            gw::decode::<gw::DownlinkFrame>(&payload, encoding).unwrap(),
            frame
        );
    }

    let configuration = gw::GatewayConfiguration {
        gateway_id: GW1.into(),
        version: "v1".into(),
        ..Default::default()
    };
    assert_eq!(
        backend.send_configuration(&configuration).unwrap(),
        Encoding::Json
    );
    let (topic, payload) = bridge.command().await;
    assert_eq!(topic, format!("{prefix}/gateway/{GW1}/command/config"));
    assert_eq!(
        gw::decode::<gw::GatewayConfiguration>(&payload, Encoding::Json).unwrap(),
        configuration
    );

    // A gateway that switches encoding is answered in the new one.
    bridge
        .event(GW1, "stats", &stats(GW1), Encoding::Protobuf)
        .await;
    next(&mut events).await;
    assert_eq!(
        backend.send_downlink(&downlink(GW1, 8)).unwrap(),
        Encoding::Protobuf
    );
    assert_eq!(backend.counters().commands_sent, 5);
    backend.shutdown(WAIT).await;
}

#[tokio::test]
async fn without_tcp_nodelay_uplinks_come_in_and_downlinks_go_out() {
    let prefix = prefix();
    // On by default (every other test here); off is Nagle's algorithm.
    let (backend, mut events) = backend(&prefix, |config| config.tcp_nodelay = false).await;
    assert!(!backend.config().tcp_nodelay);
    let mut bridge = Bridge::connect(&prefix).await;

    let up = uplink(GW1, &[0x40, 1, 2, 3, 4]);
    bridge.event(GW1, "up", &up, Encoding::Protobuf).await;
    assert_eq!(
        next(&mut events).await,
        GatewayEvent::Up {
            gateway_id: GW1.parse().unwrap(),
            frame: up,
            encoding: Encoding::Protobuf,
        }
    );
    // Several small commands in a row: what Nagle's algorithm would hold.
    for downlink_id in 1..=3 {
        backend.send_downlink(&downlink(GW1, downlink_id)).unwrap();
    }
    for downlink_id in 1..=3 {
        let (topic, payload) = bridge.command().await;
        assert_eq!(topic, format!("{prefix}/gateway/{GW1}/command/down"));
        let frame: gw::DownlinkFrame = gw::decode(&payload, Encoding::Protobuf).unwrap();
        assert_eq!(frame, downlink(GW1, downlink_id));
    }
    let counters = backend.counters();
    assert_eq!((counters.connections, counters.commands_sent), (1, 3));
    backend.shutdown(WAIT).await;
}

#[tokio::test]
async fn malformed_messages_are_counted_and_the_backend_keeps_going() {
    let prefix = prefix();
    let (backend, mut events) = backend(&prefix, |_| {}).await;
    let bridge = Bridge::connect(&prefix).await;
    let good = uplink(GW1, &[0x40, 9]);
    let json = gw::encode(&good, Encoding::Json);

    // Not a gateway ID.
    bridge.publish("gateway/xyz/event/up", json.clone()).await;
    // Undecodable, in both encodings.
    bridge
        .publish(
            &format!("gateway/{GW1}/event/up"),
            b"{\"rxInfo\": 12".to_vec(),
        )
        .await;
    bridge
        .publish(&format!("gateway/{GW1}/event/up"), vec![0xff; 5])
        .await;
    // Well formed, from another gateway than the topic's.
    bridge
        .publish(&format!("gateway/{GW2}/event/up"), json)
        .await;
    // An event type the backend does not handle.
    bridge
        .publish(&format!("gateway/{GW1}/event/mesh"), vec![])
        .await;
    // Then a good one still arrives.
    bridge.event(GW1, "up", &good, Encoding::Protobuf).await;

    let GatewayEvent::Up { frame, .. } = next(&mut events).await else {
        panic!("not an uplink");
    };
    assert_eq!(frame, good);
    let counters = backend.counters();
    assert_eq!(counters.malformed_topic, 1);
    assert_eq!(counters.malformed_payload, 2);
    assert_eq!(counters.gateway_id_mismatch, 1);
    assert_eq!(counters.unknown_event, 1);
    assert_eq!(counters.up_received, 1);
    // Nothing malformed was remembered as a gateway's encoding.
    assert_eq!(backend.encoding(GW2.parse().unwrap()), None);
    assert_eq!(
        backend.encoding(GW1.parse().unwrap()),
        Some(Encoding::Protobuf)
    );
    backend.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_full_event_channel_drops_and_counts_instead_of_blocking() {
    let prefix = prefix();
    let (backend, mut events) = backend(&prefix, |c| c.event_channel_capacity = 1).await;
    let bridge = Bridge::connect(&prefix).await;
    for _ in 0..3 {
        bridge
            .event(GW1, "stats", &stats(GW1), Encoding::Protobuf)
            .await;
    }
    wait_for(&backend, |c| c.stats_received == 3).await;
    assert_eq!(backend.counters().events_dropped, 2);
    // The connection kept going: the channel takes events again once read.
    assert!(matches!(
        next(&mut events).await,
        GatewayEvent::Stats { .. }
    ));
    bridge
        .event(
            GW1,
            "ack",
            &gw::tx_ack(GW1.into(), 1, 1, &[]),
            Encoding::Json,
        )
        .await;
    assert!(matches!(next(&mut events).await, GatewayEvent::Ack { .. }));
    backend.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_shared_subscription_hands_each_event_to_one_backend() {
    let prefix = prefix();
    let (first, mut first_events) = backend(&prefix, |_| {}).await;
    let (second, mut second_events) = backend(&prefix, |_| {}).await;
    let (plain, mut plain_events) = backend(&prefix, |c| c.share_name = String::new()).await;
    let bridge = Bridge::connect(&prefix).await;
    const N: u64 = 10;
    for _ in 0..N {
        bridge
            .event(GW1, "stats", &stats(GW1), Encoding::Protobuf)
            .await;
    }
    // The plain subscriber sees every event; the group of two sees each once.
    wait_for(&plain, |c| c.stats_received == N).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while first.counters().stats_received + second.counters().stats_received < N {
        assert!(tokio::time::Instant::now() < deadline, "events lost");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (a, b) = (
        first.counters().stats_received,
        second.counters().stats_received,
    );
    assert_eq!(a + b, N, "{a} + {b}");
    for events in [&mut first_events, &mut second_events, &mut plain_events] {
        while events.try_recv().is_ok() {}
    }
}

#[tokio::test]
async fn commands_to_a_malformed_gateway_id_are_refused() {
    let prefix = prefix();
    let (backend, _events) = backend(&prefix, |_| {}).await;
    for bad in ["", "0102", "zz02030405060708"] {
        let e = backend.send_downlink(&downlink(bad, 1)).unwrap_err();
        assert!(matches!(&e, SendError::GatewayId(id) if id == bad), "{e:?}");
    }
    assert_eq!(backend.counters().commands_sent, 0);
}

#[tokio::test]
async fn unusable_settings_are_config_errors() {
    let start = |server: &str, qos| {
        let mut config = GatewayBackendConfig::new("eu868", server);
        config.qos = qos;
        GatewayBackend::start(config).map(|_| ()).unwrap_err()
    };
    assert!(matches!(
        start("ssl://127.0.0.1", 0),
        ConfigError::TlsMissing(_)
    ));
    assert!(matches!(
        start("ws://127.0.0.1", 0),
        ConfigError::Server { .. }
    ));
    assert!(matches!(start("tcp://127.0.0.1", 3), ConfigError::Qos(3)));
}
