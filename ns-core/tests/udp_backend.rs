//! The built-in Semtech UDP backend against a fake packet forwarder: real
//! UDP sockets on 127.0.0.1, datagrams built and read with the
//! `packet-forwarder` codec, every wait bounded.

use std::net::SocketAddr;
use std::time::Duration;

use lorawan::Eui64;
use ns_core::gateway_backend::GatewayEvent;
use ns_core::udp_backend::{UdpBackend, UdpBackendConfig, UdpSendError};
use packet_forwarder::gw::{self, Encoding};
use packet_forwarder::semtech_udp::{
    Packet, ProtocolVersion, PullData, PullResp, PushData, PushDataPayload, RxPk, Stat, TxAck,
    TxAckError, TxAckPayload, TxpkAck,
};
use serde_json::json;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::timeout;

/// The longest any single step may take before the test fails.
const WAIT: Duration = Duration::from_secs(5);
/// How long "nothing happens" is watched for.
const QUIET: Duration = Duration::from_millis(200);

const GW1: &str = "0102030405060708";
const GW2: &str = "1112131415161718";

fn eui(text: &str) -> Eui64 {
    text.parse().expect("test EUI")
}

async fn start(config: UdpBackendConfig) -> (UdpBackend, mpsc::Receiver<GatewayEvent>) {
    timeout(WAIT, UdpBackend::start(config))
        .await
        .expect("start timed out")
        .expect("bind 127.0.0.1:0")
}

async fn start_default() -> (UdpBackend, mpsc::Receiver<GatewayEvent>) {
    start(UdpBackendConfig::new("127.0.0.1:0")).await
}

async fn next_event(events: &mut mpsc::Receiver<GatewayEvent>) -> GatewayEvent {
    timeout(WAIT, events.recv())
        .await
        .expect("no gateway event in time")
        .expect("event channel closed")
}

async fn assert_no_event(events: &mut mpsc::Receiver<GatewayEvent>) {
    if let Ok(event) = timeout(QUIET, events.recv()).await {
        panic!("unexpected event {event:?}");
    }
}

/// Waits until `check` holds for the backend's counters.
async fn counters_reach(
    backend: &UdpBackend,
    check: impl Fn(&ns_core::udp_backend::UdpBackendCounters) -> bool,
) {
    let wait = async {
        while !check(&backend.counters()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    if timeout(WAIT, wait).await.is_err() {
        panic!("counters never matched: {:?}", backend.counters());
    }
}

/// An `rxpk` as a LoRa concentrator reports it.
fn rxpk(tmst: u32, freq: f64, data: &[u8]) -> RxPk {
    let mut rxpk = rxpk_json(json!({
        "tmst": tmst, "freq": freq, "chan": 2, "rfch": 0, "stat": 1,
        "modu": "LORA", "datr": "SF7BW125", "codr": "4/5",
        "rssi": -42, "lsnr": 7.5, "size": 0, "data": "",
    }));
    rxpk.data = data.to_vec();
    rxpk.size = u16::try_from(data.len()).unwrap();
    rxpk
}

fn rxpk_json(value: serde_json::Value) -> RxPk {
    serde_json::from_value(value).expect("test rxpk")
}

/// A downlink item as the network server schedules it: LoRa SF7 125 kHz,
/// CR 4/5, inverted polarity, 14 dBm, `delay_s` after the uplink whose
/// `context` the backend gave.
fn downlink_item(
    frequency: u32,
    delay_s: i64,
    context: &[u8],
    phy_payload: &[u8],
) -> gw::DownlinkFrameItem {
    gw::DownlinkFrameItem {
        phy_payload: phy_payload.to_vec(),
        tx_info: Some(gw::DownlinkTxInfo {
            frequency,
            power: 14,
            modulation: Some(gw::Modulation {
                parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
                    bandwidth: 125_000,
                    spreading_factor: 7,
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
            context: context.to_vec(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn downlink(
    gateway_id: &str,
    downlink_id: u32,
    items: Vec<gw::DownlinkFrameItem>,
) -> gw::DownlinkFrame {
    gw::DownlinkFrame {
        gateway_id: gateway_id.into(),
        downlink_id,
        items,
        ..Default::default()
    }
}

/// A packet forwarder (protocol version 2) on its own socket.
struct FakeForwarder {
    socket: UdpSocket,
    gateway_eui: Eui64,
    server: SocketAddr,
    token: u16,
}

impl FakeForwarder {
    async fn new(gateway_id: &str, server: SocketAddr) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind forwarder");
        Self {
            socket,
            gateway_eui: eui(gateway_id),
            server,
            token: 0x1000,
        }
    }

    fn next_token(&mut self) -> u16 {
        self.token = self.token.wrapping_add(1);
        self.token
    }

    async fn send(&self, datagram: &[u8]) {
        timeout(WAIT, self.socket.send_to(datagram, self.server))
            .await
            .expect("send timed out")
            .expect("send");
    }

    async fn recv(&self) -> Packet {
        let mut buf = vec![0u8; 65_536];
        let (len, from) = timeout(WAIT, self.socket.recv_from(&mut buf))
            .await
            .expect("no datagram from the backend in time")
            .expect("recv");
        assert_eq!(from, self.server);
        Packet::parse(&buf[..len]).expect("the backend sends well-formed datagrams")
    }

    async fn assert_nothing_received(&self) {
        let mut buf = vec![0u8; 65_536];
        if let Ok(r) = timeout(QUIET, self.socket.recv_from(&mut buf)).await {
            let (len, _) = r.expect("recv");
            panic!("unexpected datagram {:?}", Packet::parse(&buf[..len]));
        }
    }

    /// Sends a PUSH_DATA and checks its PUSH_ACK.
    async fn push_data(&mut self, payload: PushDataPayload) {
        let token = self.next_token();
        let push = PushData {
            version: ProtocolVersion::V2,
            token,
            gateway_eui: self.gateway_eui,
            payload,
        };
        self.send(&push.to_vec()).await;
        match self.recv().await {
            Packet::PushAck(ack) => assert_eq!(ack.token, token),
            other => panic!("expected PUSH_ACK, got {other:?}"),
        }
    }

    async fn push_rxpk(&mut self, rxpk: Vec<RxPk>) {
        self.push_data(PushDataPayload { rxpk, stat: None }).await;
    }

    /// Sends a PULL_DATA and checks its PULL_ACK.
    async fn pull_data(&mut self) {
        let token = self.next_token();
        let pull = PullData {
            version: ProtocolVersion::V2,
            token,
            gateway_eui: self.gateway_eui,
        };
        self.send(&pull.to_vec()).await;
        match self.recv().await {
            Packet::PullAck(ack) => assert_eq!(ack.token, token),
            other => panic!("expected PULL_ACK, got {other:?}"),
        }
    }

    async fn pull_resp(&self) -> PullResp {
        match self.recv().await {
            Packet::PullResp(resp) => resp,
            other => panic!("expected PULL_RESP, got {other:?}"),
        }
    }

    async fn tx_ack(&self, token: u16, error: Option<TxAckError>) {
        let ack = TxAck {
            version: ProtocolVersion::V2,
            token,
            gateway_eui: self.gateway_eui,
            payload: error.map(|error| TxAckPayload {
                txpk_ack: TxpkAck {
                    error: Some(error),
                    ..Default::default()
                },
            }),
        };
        self.send(&ack.to_vec()).await;
    }
}

fn statuses(ack: &gw::DownlinkTxAck) -> Vec<gw::TxAckStatus> {
    ack.items
        .iter()
        .map(gw::DownlinkTxAckItem::status)
        .collect()
}

#[tokio::test]
async fn push_data_is_acked_and_its_rxpk_becomes_an_up_event() {
    let (backend, mut events) = start_default().await;
    let mut gateway = FakeForwarder::new(GW1, backend.local_addr()).await;
    let phy_payload = [0x40, 4, 3, 2, 1, 0x80, 1, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd];
    gateway
        .push_rxpk(vec![rxpk(0x0102_0304, 868.1, &phy_payload)])
        .await;

    let GatewayEvent::Up {
        gateway_id,
        frame,
        encoding,
    } = next_event(&mut events).await
    else {
        panic!("expected an Up event");
    };
    assert_eq!(gateway_id, eui(GW1));
    assert_eq!(encoding, Encoding::Protobuf);
    assert_eq!(frame.phy_payload, phy_payload);
    assert_eq!(frame.tx_info.as_ref().unwrap().frequency, 868_100_000);
    let rx_info = frame.rx_info.as_ref().unwrap();
    assert_eq!(rx_info.gateway_id, GW1);
    assert_eq!(rx_info.context, [1, 2, 3, 4]);
    assert_eq!(rx_info.rssi, -42);
    assert_eq!(rx_info.channel, 2);
    assert_eq!(rx_info.crc_status(), gw::CrcStatus::CrcOk);
    assert_no_event(&mut events).await;

    let counters = backend.counters();
    assert_eq!(counters.datagrams_received, 1);
    assert_eq!(counters.uplinks, 1);
    assert_eq!(counters.gateways_connected, 1);
    // PUSH_DATA alone opens no downlink path.
    assert!(!backend.is_connected(eui(GW1)));
}

/// The socket is served on the backend's own thread: gateways get their
/// PUSH_ACKs while the caller's runtime is busy (here: blocked outright).
#[tokio::test(flavor = "current_thread")]
async fn push_data_is_acked_while_the_callers_runtime_is_blocked() {
    let (backend, _events) = start_default().await;
    let gateway = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind forwarder");
    gateway.set_read_timeout(Some(WAIT)).unwrap();
    let push = PushData {
        version: ProtocolVersion::V2,
        token: 0x4242,
        gateway_eui: eui(GW1),
        payload: PushDataPayload {
            rxpk: vec![rxpk(
                1,
                868.1,
                &[0x40, 4, 3, 2, 1, 0x80, 1, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd],
            )],
            stat: None,
        },
    };
    // Blocking calls, no `.await`: this runtime's only thread never yields.
    gateway
        .send_to(&push.to_vec(), backend.local_addr())
        .expect("send");
    let mut buf = [0u8; 1024];
    let (len, from) = gateway
        .recv_from(&mut buf)
        .expect("no PUSH_ACK while the caller's runtime was blocked");
    assert_eq!(from, backend.local_addr());
    match Packet::parse(&buf[..len]).expect("well-formed") {
        Packet::PushAck(ack) => assert_eq!(ack.token, 0x4242),
        other => panic!("expected PUSH_ACK, got {other:?}"),
    }
    backend.shutdown().await;
}

#[tokio::test]
async fn rxpk_with_rsig_becomes_one_up_event_per_antenna() {
    let (backend, mut events) = start_default().await;
    let mut gateway = FakeForwarder::new(GW1, backend.local_addr()).await;
    let rxpk = rxpk_json(json!({
        "tmst": 1000, "freq": 867.5, "stat": 1, "modu": "LORA", "datr": "SF9BW125",
        "codr": "4/5", "size": 4, "data": "AQIDBA==", "jver": 2,
        "rsig": [
            {"ant": 0, "chan": 5, "rssic": -80, "lsnr": 1.0},
            {"ant": 1, "chan": 5, "rssic": -90, "lsnr": -2.0},
        ],
    }));
    gateway.push_rxpk(vec![rxpk]).await;

    let mut antennas = Vec::new();
    let mut uplink_ids = Vec::new();
    for _ in 0..2 {
        let GatewayEvent::Up { frame, .. } = next_event(&mut events).await else {
            panic!("expected an Up event");
        };
        let rx_info = frame.rx_info.unwrap();
        antennas.push((rx_info.antenna, rx_info.rssi));
        uplink_ids.push(rx_info.uplink_id);
    }
    assert_eq!(antennas, [(0, -80), (1, -90)]);
    assert_ne!(uplink_ids[0], uplink_ids[1]);
    assert_eq!(backend.counters().uplinks, 2);
}

#[tokio::test]
async fn frames_with_a_bad_crc_are_dropped_unless_skip_crc_check() {
    let bad_crc = |tmst| {
        rxpk_json(json!({
            "tmst": tmst, "freq": 868.3, "stat": -1, "modu": "LORA", "datr": "SF7BW125",
            "codr": "4/5", "size": 2, "data": "CQk=",
        }))
    };

    let (backend, mut events) = start_default().await;
    let mut gateway = FakeForwarder::new(GW1, backend.local_addr()).await;
    gateway
        .push_rxpk(vec![bad_crc(1), rxpk(2, 868.1, &[0x40, 1])])
        .await;
    let GatewayEvent::Up { frame, .. } = next_event(&mut events).await else {
        panic!("expected an Up event");
    };
    assert_eq!(frame.phy_payload, [0x40, 1]);
    assert_no_event(&mut events).await;
    let counters = backend.counters();
    assert_eq!((counters.uplinks, counters.uplinks_crc_filtered), (1, 1));

    let mut config = UdpBackendConfig::new("127.0.0.1:0");
    config.skip_crc_check = true;
    let (backend, mut events) = start(config).await;
    let mut gateway = FakeForwarder::new(GW1, backend.local_addr()).await;
    gateway.push_rxpk(vec![bad_crc(1)]).await;
    let GatewayEvent::Up { frame, .. } = next_event(&mut events).await else {
        panic!("expected an Up event");
    };
    assert_eq!(frame.rx_info.unwrap().crc_status(), gw::CrcStatus::BadCrc);
}

#[tokio::test]
async fn stat_becomes_a_stats_event_with_the_backends_breakdowns() {
    let (backend, mut events) = start_default().await;
    let mut gateway = FakeForwarder::new(GW2, backend.local_addr()).await;
    gateway.push_rxpk(vec![rxpk(1, 868.5, &[0x40])]).await;
    assert!(matches!(
        next_event(&mut events).await,
        GatewayEvent::Up { .. }
    ));
    let stat: Stat = serde_json::from_value(json!({
        "time": "2014-01-12 08:59:28 GMT", "lati": 46.24, "long": 3.2523, "alti": 145,
        "rxnb": 2, "rxok": 2, "rxfw": 2, "ackr": 100.0, "dwnb": 2, "txnb": 1,
    }))
    .unwrap();
    gateway
        .push_data(PushDataPayload {
            rxpk: Vec::new(),
            stat: Some(stat),
        })
        .await;

    let GatewayEvent::Stats { gateway_id, stats } = next_event(&mut events).await else {
        panic!("expected a Stats event");
    };
    assert_eq!(gateway_id, eui(GW2));
    assert_eq!(stats.gateway_id, GW2);
    assert_eq!(stats.rx_packets_received, 2);
    assert_eq!(stats.rx_packets_received_ok, 2);
    assert_eq!(stats.tx_packets_received, 2);
    assert_eq!(stats.tx_packets_emitted, 1);
    assert_eq!(stats.time.unwrap().seconds, 1_389_517_168);
    assert_eq!(stats.location.unwrap().altitude, 145.0);
    // The gateway's totals, the backend's per-frequency count since the
    // previous stat.
    assert_eq!(
        stats
            .rx_packets_per_frequency
            .into_iter()
            .collect::<Vec<_>>(),
        [(868_500_000, 1)]
    );
    assert_eq!(backend.counters().stats, 1);
}

#[tokio::test]
async fn downlink_after_pull_data_is_sent_as_pull_resp_and_acked() {
    let (backend, mut events) = start_default().await;
    let mut gateway = FakeForwarder::new(GW1, backend.local_addr()).await;
    gateway.pull_data().await;
    assert!(backend.is_connected(eui(GW1)));

    let context = 0x0010_0000_u32.to_be_bytes();
    let frame = downlink(
        GW1,
        0x00AB_CDEF,
        vec![downlink_item(868_100_000, 1, &context, &[0x60, 1, 2, 3])],
    );
    backend.send_downlink(&frame).unwrap();

    let resp = gateway.pull_resp().await;
    assert_eq!(resp.token, 0xCDEF);
    let txpk = &resp.payload.txpk;
    assert!((txpk.freq - 868.1).abs() < 1e-9, "{}", txpk.freq);
    assert_eq!(txpk.data, [0x60, 1, 2, 3]);
    assert_eq!(txpk.tmst, Some(0x0010_0000 + 1_000_000));
    assert_eq!(txpk.powe, Some(14));
    assert!(txpk.ipol);

    gateway.tx_ack(resp.token, None).await;
    let GatewayEvent::Ack { gateway_id, ack } = next_event(&mut events).await else {
        panic!("expected an Ack event");
    };
    assert_eq!(gateway_id, eui(GW1));
    assert_eq!(ack.gateway_id, GW1);
    assert_eq!(ack.downlink_id, 0x00AB_CDEF);
    assert_eq!(statuses(&ack), [gw::TxAckStatus::Ok]);

    let counters = backend.counters();
    assert_eq!((counters.downlinks_sent, counters.acks), (1, 1));
    assert_eq!(counters.downlink_errors, 0);
}

#[tokio::test]
async fn tx_ack_error_on_the_first_item_sends_the_second() {
    let (backend, mut events) = start_default().await;
    let mut gateway = FakeForwarder::new(GW1, backend.local_addr()).await;
    gateway.pull_data().await;

    let context = 5000_u32.to_be_bytes();
    let frame = downlink(
        GW1,
        42,
        vec![
            downlink_item(868_300_000, 1, &context, &[0x60, 1]),
            downlink_item(869_525_000, 2, &context, &[0x60, 1]),
        ],
    );
    backend.send_downlink(&frame).unwrap();

    let rx1 = gateway.pull_resp().await;
    assert!((rx1.payload.txpk.freq - 868.3).abs() < 1e-9);
    assert_eq!(rx1.payload.txpk.tmst, Some(5000 + 1_000_000));
    gateway.tx_ack(rx1.token, Some(TxAckError::TooLate)).await;

    let rx2 = gateway.pull_resp().await;
    assert_eq!(rx2.token, 42);
    assert!((rx2.payload.txpk.freq - 869.525).abs() < 1e-9);
    assert_eq!(rx2.payload.txpk.tmst, Some(5000 + 2_000_000));
    gateway.tx_ack(rx2.token, None).await;

    let GatewayEvent::Ack { ack, .. } = next_event(&mut events).await else {
        panic!("expected an Ack event");
    };
    assert_eq!(ack.downlink_id, 42);
    assert_eq!(
        statuses(&ack),
        [gw::TxAckStatus::TooLate, gw::TxAckStatus::Ok]
    );
    assert_no_event(&mut events).await;
    assert_eq!(backend.counters().downlinks_sent, 2);
}

#[tokio::test]
async fn unanswered_pull_resp_is_acked_as_internal_error_after_the_tx_ack_timeout() {
    let mut config = UdpBackendConfig::new("127.0.0.1:0");
    config.tx_ack_timeout = Duration::from_millis(100);
    let (backend, mut events) = start(config).await;
    let mut gateway = FakeForwarder::new(GW1, backend.local_addr()).await;
    gateway.pull_data().await;

    let frame = downlink(
        GW1,
        7,
        vec![downlink_item(868_100_000, 1, &[0; 4], &[0x60])],
    );
    backend.send_downlink(&frame).unwrap();
    gateway.pull_resp().await;

    let GatewayEvent::Ack { ack, .. } = next_event(&mut events).await else {
        panic!("expected an Ack event");
    };
    assert_eq!(ack.downlink_id, 7);
    assert_eq!(statuses(&ack), [gw::TxAckStatus::InternalError]);
}

#[tokio::test]
async fn downlink_that_cannot_be_a_txpk_is_acked_as_internal_error() {
    let (backend, mut events) = start_default().await;
    let mut gateway = FakeForwarder::new(GW1, backend.local_addr()).await;
    gateway.pull_data().await;

    let no_tx_info = gw::DownlinkFrameItem {
        phy_payload: vec![0x60],
        ..Default::default()
    };
    backend
        .send_downlink(&downlink(GW1, 9, vec![no_tx_info]))
        .unwrap();

    let GatewayEvent::Ack { ack, .. } = next_event(&mut events).await else {
        panic!("expected an Ack event");
    };
    assert_eq!(ack.downlink_id, 9);
    assert_eq!(statuses(&ack), [gw::TxAckStatus::InternalError]);
    gateway.assert_nothing_received().await;
    assert_eq!(backend.counters().downlink_errors, 1);
}

#[tokio::test]
async fn downlink_to_an_unknown_or_push_only_gateway_is_refused() {
    let (backend, mut events) = start_default().await;
    let item = || vec![downlink_item(868_100_000, 1, &[0; 4], &[0x60])];

    assert_eq!(
        backend.send_downlink(&downlink(GW1, 1, item())),
        Err(UdpSendError::GatewayNotConnected(eui(GW1)))
    );
    assert_eq!(
        backend.send_downlink(&downlink("not-an-eui", 2, item())),
        Err(UdpSendError::GatewayId("not-an-eui".into()))
    );
    // Heard through PUSH_DATA, but no PULL_DATA: no address for downlinks.
    let mut gateway = FakeForwarder::new(GW2, backend.local_addr()).await;
    gateway.push_rxpk(vec![rxpk(1, 868.1, &[0x40])]).await;
    next_event(&mut events).await;
    assert_eq!(
        backend.send_downlink(&downlink(GW2, 3, item())),
        Err(UdpSendError::GatewayNotConnected(eui(GW2)))
    );

    gateway.assert_nothing_received().await;
    assert_no_event(&mut events).await;
    let counters = backend.counters();
    assert_eq!(counters.downlink_errors, 3);
    assert_eq!(counters.downlinks_sent, 0);
}

#[tokio::test]
async fn gateway_without_pull_data_in_time_goes_offline() {
    let mut config = UdpBackendConfig::new("127.0.0.1:0");
    config.connection_timeout = Duration::from_millis(150);
    let (backend, _events) = start(config).await;
    let mut gateway = FakeForwarder::new(GW1, backend.local_addr()).await;
    gateway.pull_data().await;
    assert!(backend.is_connected(eui(GW1)));

    counters_reach(&backend, |c| c.gateways_disconnected == 1).await;
    assert!(!backend.is_connected(eui(GW1)));
    let frame = downlink(
        GW1,
        1,
        vec![downlink_item(868_100_000, 1, &[0; 4], &[0x60])],
    );
    assert_eq!(
        backend.send_downlink(&frame),
        Err(UdpSendError::GatewayNotConnected(eui(GW1)))
    );

    // A new PULL_DATA brings it back. The downlink path is open before the
    // PULL_ACK goes out; the connection is counted after it, on the
    // backend's thread.
    gateway.pull_data().await;
    assert!(backend.is_connected(eui(GW1)));
    counters_reach(&backend, |c| c.gateways_connected == 2).await;
}

#[tokio::test]
async fn malformed_datagrams_are_counted_and_change_nothing() {
    let (backend, mut events) = start_default().await;
    let mut gateway = FakeForwarder::new(GW1, backend.local_addr()).await;
    let eui_bytes = eui(GW1).to_be_bytes();

    let pull_data_with_trailing_byte = [&[2, 0, 1, 2][..], &eui_bytes, &[0]].concat();
    let malformed: [&[u8]; 5] = [
        &[],                                   // truncated
        &[2, 0],                               // truncated
        &[7, 0, 1, 2, 1, 2, 3, 4, 5, 6, 7, 8], // unknown version
        &[2, 0, 1, 9, 1, 2, 3, 4, 5, 6, 7, 8], // unknown identifier
        &pull_data_with_trailing_byte,
    ];
    for datagram in malformed {
        gateway.send(datagram).await;
    }
    // Well-formed, but not for a server: PULL_ACK, and a TX_ACK for no
    // downlink.
    gateway.send(&[2, 0, 1, 4]).await;
    gateway.tx_ack(0x4242, None).await;
    // A PUSH_DATA whose JSON is broken is still acknowledged (its header
    // is fine), and nothing more: that PUSH_ACK is the first datagram back.
    let bad_json = [&[2, 0x77, 0x77, 0][..], &eui_bytes, b"{\"rxpk\":[{"].concat();
    gateway.send(&bad_json).await;
    match gateway.recv().await {
        Packet::PushAck(ack) => assert_eq!(ack.token, 0x7777),
        other => panic!("expected PUSH_ACK, got {other:?}"),
    }
    gateway.assert_nothing_received().await;
    assert_no_event(&mut events).await;

    let counters = backend.counters();
    assert_eq!(counters.datagrams_received, 8);
    assert_eq!(counters.malformed_datagrams, 6);
    assert_eq!(counters.rejected_datagrams, 2);
    assert_eq!(counters.gateways_connected, 0);
    assert_eq!(counters.uplinks + counters.stats + counters.acks, 0);
    assert!(!backend.is_connected(eui(GW1)));

    // The backend still serves the gateway.
    gateway.pull_data().await;
    assert!(backend.is_connected(eui(GW1)));
}

#[tokio::test]
async fn full_event_channel_drops_and_counts_events_without_stalling_acks() {
    let mut config = UdpBackendConfig::new("127.0.0.1:0");
    config.event_channel_capacity = 1;
    // The receiver is kept, never read.
    let (backend, _events) = start(config).await;
    let mut gateway = FakeForwarder::new(GW1, backend.local_addr()).await;

    let frames = (0..3).map(|i| rxpk(i, 868.1, &[0x40, i as u8])).collect();
    gateway.push_rxpk(frames).await;
    counters_reach(&backend, |c| c.uplinks == 3 && c.events_dropped == 2).await;

    // Still answering at once.
    gateway.push_rxpk(vec![rxpk(9, 868.1, &[0x40])]).await;
    gateway.pull_data().await;
    counters_reach(&backend, |c| c.uplinks == 4 && c.events_dropped == 3).await;
}

#[tokio::test]
async fn shutdown_closes_the_socket() {
    let (backend, mut events) = start_default().await;
    let addr = backend.local_addr();
    timeout(WAIT, backend.shutdown())
        .await
        .expect("shutdown timed out");
    // The task is gone: the event channel is closed…
    assert!(
        timeout(WAIT, events.recv())
            .await
            .expect("event channel still open")
            .is_none()
    );
    // …and the port is free again.
    let again = UdpSocket::bind(addr).await;
    assert!(again.is_ok(), "{again:?}");
}

#[tokio::test]
async fn downlink_reusing_a_pending_id_is_refused_and_the_first_completes() {
    let (backend, mut events) = start_default().await;
    let mut gateway = FakeForwarder::new(GW1, backend.local_addr()).await;
    gateway.pull_data().await;

    let first = downlink(
        GW1,
        77,
        vec![downlink_item(868_100_000, 1, &[0; 4], &[0x60, 1])],
    );
    backend.send_downlink(&first).unwrap();
    let resp = gateway.pull_resp().await;
    let second = downlink(
        GW1,
        77,
        vec![downlink_item(868_300_000, 1, &[0; 4], &[0x60, 2])],
    );
    backend.send_downlink(&second).unwrap();

    let GatewayEvent::Ack { ack, .. } = next_event(&mut events).await else {
        panic!("expected an Ack event");
    };
    assert_eq!(
        (ack.downlink_id, statuses(&ack)),
        (77, vec![gw::TxAckStatus::QueueFull])
    );
    gateway.tx_ack(resp.token, None).await;
    let GatewayEvent::Ack { ack, .. } = next_event(&mut events).await else {
        panic!("expected an Ack event");
    };
    assert_eq!(
        (ack.downlink_id, statuses(&ack)),
        (77, vec![gw::TxAckStatus::Ok])
    );
    gateway.assert_nothing_received().await;
    assert_eq!(backend.counters().downlink_errors, 1);
}
