//! Class C over real sockets: the pipeline with the built-in Semtech UDP
//! backend on 127.0.0.1, an SQLite file in a temporary directory, and a
//! fake packet forwarder. The device's one uplink arrives as a PUSH_DATA;
//! an item enqueued afterwards leaves as a PULL_RESP with `imme` set, on
//! RX2, without another uplink; the forwarder's TX_ACK advances FCntDown
//! and produces the `txack` event.

#[path = "support/device.rs"]
mod device;
#[path = "support/fixtures.rs"]
mod fixtures;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lorawan::region::{Region, Revision};
use lorawan::{DevAddr, Eui64};
use ns_core::config::Config;
use ns_core::integration::{Event, EventKind};
use ns_core::model::{
    Application, Device as DeviceRecord, DeviceClass, DeviceProfile, DeviceSession, Gateway,
    MacVersion, QueueItem, Tenant,
};
use ns_core::pipeline::{ChannelSink, Pipeline, PipelineSettings};
use ns_core::storage::Storage;
use ns_core::udp_backend::{UdpBackend, UdpBackendConfig};
use packet_forwarder::gw;
use packet_forwarder::semtech_udp::{
    Packet, ProtocolVersion, PullData, PullResp, PushData, PushDataPayload, RxPk, TxAck,
};
use serde_json::json;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::timeout;

use device::{Device, Up, keys_10};
use fixtures::GW1;

const WAIT: Duration = Duration::from_secs(5);

/// A packet forwarder (protocol version 2) on its own socket.
struct Forwarder {
    socket: UdpSocket,
    gateway_eui: Eui64,
    server: SocketAddr,
    token: u16,
}

impl Forwarder {
    async fn recv(&self, within: Duration) -> Option<Packet> {
        let mut buf = vec![0u8; 65_536];
        let (len, _) = timeout(within, self.socket.recv_from(&mut buf))
            .await
            .ok()?
            .expect("recv");
        Some(Packet::parse(&buf[..len]).expect("well-formed datagram"))
    }

    async fn send(&mut self, datagram: Vec<u8>) {
        self.socket.send_to(&datagram, self.server).await.unwrap();
    }

    fn next_token(&mut self) -> u16 {
        self.token = self.token.wrapping_add(1);
        self.token
    }

    async fn pull_data(&mut self) {
        let pull = PullData {
            version: ProtocolVersion::V2,
            token: self.next_token(),
            gateway_eui: self.gateway_eui,
        };
        self.send(pull.to_vec()).await;
        assert!(matches!(self.recv(WAIT).await, Some(Packet::PullAck(_))));
    }

    /// The device's frame as this gateway reports it.
    async fn push(&mut self, sent: &device::Sent) {
        let sf = match sent.tx_info().modulation.and_then(|m| m.parameters) {
            Some(gw::modulation::Parameters::Lora(l)) => l.spreading_factor,
            other => panic!("LoRa expected, got {other:?}"),
        };
        let mut rxpk: RxPk = serde_json::from_value(json!({
            "tmst": 1_000_000, "freq": f64::from(sent.radio.frequency) / 1e6, "chan": 0,
            "rfch": 0, "stat": 1, "modu": "LORA", "datr": format!("SF{sf}BW125"),
            "codr": "4/5", "rssi": -60, "lsnr": 9.5, "size": 0, "data": "",
        }))
        .unwrap();
        rxpk.data = sent.phy_payload.clone();
        rxpk.size = u16::try_from(rxpk.data.len()).unwrap();
        let push = PushData {
            version: ProtocolVersion::V2,
            token: self.next_token(),
            gateway_eui: self.gateway_eui,
            payload: PushDataPayload {
                rxpk: vec![rxpk],
                stat: None,
            },
        };
        self.send(push.to_vec()).await;
        assert!(matches!(self.recv(WAIT).await, Some(Packet::PushAck(_))));
    }

    async fn tx_ack(&mut self, resp: &PullResp) {
        let ack = TxAck {
            version: ProtocolVersion::V2,
            token: resp.token,
            gateway_eui: self.gateway_eui,
            payload: None,
        };
        self.send(ack.to_vec()).await;
    }
}

/// The next event of `kind`, others skipped.
async fn event(events: &mut mpsc::Receiver<Event>, kind: EventKind) -> Event {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let e = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no {kind} event"))
            .unwrap();
        if e.kind() == kind {
            return e;
        }
    }
}

/// The stored NFCntDown once it is at least `at_least` (TX acks are
/// handled in the background).
async fn n_f_cnt_down_reaches(storage: &Storage, dev_eui: Eui64, at_least: u32) -> u32 {
    let deadline = Instant::now() + WAIT;
    loop {
        let n = storage
            .get_device(dev_eui)
            .await
            .unwrap()
            .session
            .unwrap()
            .n_f_cnt_down;
        if n >= at_least {
            return n;
        }
        assert!(Instant::now() < deadline, "NFCntDown stays at {n}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn class_c_item_goes_out_as_an_immediate_pull_resp_without_another_uplink() {
    let dir = std::env::temp_dir().join(format!("ns-core-class-c-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/ns.sqlite?mode=rwc", dir.display());
    let storage = Storage::connect(&url).await.unwrap();

    // A tenant's gateway and class C ABP device (LoRaWAN 1.0.3, SF7).
    let tenant = Tenant::new("t");
    storage.create_tenant(&tenant).await.unwrap();
    let app = Application::new(tenant.id, "a");
    storage.create_application(&app).await.unwrap();
    storage
        .create_gateway(&Gateway::new(GW1.parse().unwrap(), tenant.id, "gw"))
        .await
        .unwrap();
    let mut profile = DeviceProfile::new(
        tenant.id,
        "class C",
        Region::Eu868,
        MacVersion::V1_0_3,
        Revision::Rp002_1_0_3,
    );
    profile.supports_otaa = false;
    profile.supports_class_c = true;
    profile.region_config_id = "eu868".into();
    storage.create_device_profile(&profile).await.unwrap();
    let keys = keys_10([0x11; 16], [0x22; 16]);
    let dev_addr = DevAddr::from_u32(0x2601_0c10);
    let mut dev = Device::abp(MacVersion::V1_0_3, Eui64::from_u64(0x0c10), dev_addr, keys);
    dev.dr = 5;
    let mut record = DeviceRecord::new(dev.dev_eui, app.id, profile.id, "class C device");
    record.enabled_class = DeviceClass::C;
    storage.create_device(&record).await.unwrap();
    let session = DeviceSession::new(dev_addr, MacVersion::V1_0_3, keys, "eu868", device::eu868());
    storage
        .set_session(dev.dev_eui, Some(&session))
        .await
        .unwrap();

    // The pipeline behind the UDP backend, the scheduler at its default
    // 1 s interval, the class A lock shortened.
    let config = Config::from_toml_strs(&[
        "[network]\nenabled_regions = [\"eu868\"]\ndeduplication_delay = \"50ms\"\n\
         get_downlink_data_delay = \"50ms\"\n\
         [network.scheduler]\nclass_a_lock_duration = \"300ms\"\n",
    ])
    .unwrap();
    let (udp, gateway_events) = UdpBackend::start(UdpBackendConfig::new("127.0.0.1:0"))
        .await
        .unwrap();
    let udp = Arc::new(udp);
    let (sink, mut events) = ChannelSink::new(256);
    let mut pipeline = Pipeline::new(
        PipelineSettings::from_config(&config).unwrap(),
        storage.clone(),
    );
    pipeline.add_event_sink(Arc::new(sink));
    pipeline.add_downlink_sender("eu868", udp.clone());
    let handle = pipeline.start();
    handle.attach("eu868", gateway_events);

    let mut forwarder = Forwarder {
        socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        gateway_eui: GW1.parse().unwrap(),
        server: udp.local_addr(),
        token: 0,
    };
    forwarder.pull_data().await;

    // One uplink; its class A answer (MAC commands), if any, is sent.
    let sent = dev.uplink(&Up::data(2, b"hello"));
    forwarder.push(&sent).await;
    event(&mut events, EventKind::Up).await;
    if let Some(Packet::PullResp(resp)) = forwarder.recv(Duration::from_millis(500)).await {
        assert!(!resp.payload.txpk.imme, "the class A answer is timed");
        forwarder.tx_ack(&resp).await;
        n_f_cnt_down_reaches(&storage, dev.dev_eui, 1).await;
    }
    let before = n_f_cnt_down_reaches(&storage, dev.dev_eui, 0).await;
    let stored = storage
        .device_gateway_rx_info(dev.dev_eui)
        .await
        .unwrap()
        .expect("the uplink's gateways are stored");
    assert_eq!(stored.items[0].gateway_id, GW1);

    // The application enqueues: no uplink follows.
    let item = QueueItem::new(dev.dev_eui, 8, false, b"valve open".to_vec());
    storage.enqueue(&item).await.unwrap();
    let started = Instant::now();
    let resp = loop {
        match forwarder.recv(Duration::from_millis(2_500)).await {
            Some(Packet::PullResp(resp)) => break resp,
            Some(_) => continue,
            None => panic!("no class C downlink within 2.5 s"),
        }
    };
    assert!(started.elapsed() < Duration::from_millis(2_500));
    let txpk = &resp.payload.txpk;
    assert!(txpk.imme, "class C: sent at once");
    assert!((txpk.freq - 869.525).abs() < 1e-9, "RX2: {}", txpk.freq);
    assert_eq!(txpk.tmst, None);

    // The device, listening on RX2, reads it.
    let frame = gw::DownlinkFrame {
        items: vec![gw::DownlinkFrameItem {
            phy_payload: txpk.data.clone(),
            tx_info_legacy: None,
            tx_info: Some(gw::DownlinkTxInfo {
                frequency: (txpk.freq * 1e6).round() as u32,
                timing: Some(gw::Timing {
                    parameters: Some(gw::timing::Parameters::Immediately(
                        gw::ImmediatelyTimingInfo {},
                    )),
                }),
                ..Default::default()
            }),
        }],
        ..Default::default()
    };
    let down = dev.receive_class_c(&frame).unwrap();
    assert_eq!(
        (down.f_port, down.data.as_slice(), down.f_cnt),
        (Some(8), &b"valve open"[..], before)
    );

    // FCntDown advances with the TX ack, and the application hears of it.
    assert_eq!(
        storage
            .get_device(dev.dev_eui)
            .await
            .unwrap()
            .session
            .unwrap()
            .n_f_cnt_down,
        before
    );
    forwarder.tx_ack(&resp).await;
    let Event::TxAck(tx_ack) = event(&mut events, EventKind::TxAck).await else {
        unreachable!()
    };
    assert_eq!(tx_ack.queue_item_id, item.id.to_string());
    assert_eq!(tx_ack.f_cnt_down, before);
    assert_eq!(
        n_f_cnt_down_reaches(&storage, dev.dev_eui, before + 1).await,
        before + 1
    );
    assert!(
        storage
            .list_queue_items(dev.dev_eui)
            .await
            .unwrap()
            .is_empty()
    );

    handle.shutdown(Duration::from_secs(1)).await;
    storage.close().await;
    std::fs::remove_dir_all(dir).unwrap();
}
