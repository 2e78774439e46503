//! Basics Station gateways end to end: the gateway bridge in-process with
//! its Basics Station listener (UDP off) publishing to Mosquitto, the
//! network server on the same broker and PostgreSQL, provisioned through its
//! API, and OTAA devices heard by two simulated stations.
//!
//! It checks that every device joins (the join-accepts go down as `dnmsg`),
//! that at least 99 % of the uplinks become `up` events, that the confirmed
//! uplinks are acknowledged, and that no frame was lost between the
//! stations and the bridge.
//!
//! A scripted LNS then checks what the bridge does not show: that a station
//! reconnects when its websocket closes, falls back to RX2 when a `dnmsg`
//! comes too late for RX1, and drops one of another concentrator session.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use gateway_bridge::Bridge;
use gateway_bridge::config::Config;
use lorawan::crypto::SessionKeys10;
use lorawan::keys::{AppSKey, NwkSKey};
use lorawan::region::{ChannelSet, Region, Revision};
use lorawan::{DevAddr, Eui64};
use lorawan_sim::device::{Device, DeviceConfig, LorawanVersion};
use lorawan_sim::gateway::GatewayKind;
use lorawan_sim::provision::{self, ApiClient};
use lorawan_sim::radio::Position;
use lorawan_sim::sim::{self, Progress, Settings, SimDevice, SimGateway};
use packet_forwarder::basic_station::{LnsMessage, RouterConfig, RouterConfigOptions};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

mod support;
use support::Running;

const DEVICES: u64 = 16;

/// The bridge's configuration: Basics Station on a free port, no UDP, MQTT
/// to Mosquitto with the network server's gateway topics.
fn bridge_config(topic_prefix: &str) -> Config {
    Config::from_toml_strs(&[&format!(
        r#"
        [backend]
        type = "basic_station"

        [backend.basic_station]
        bind = "127.0.0.1:0"

        [integration.mqtt]
        event_topic_template = "{topic_prefix}/gateway/{{{{ .GatewayID }}}}/event/{{{{ .EventType }}}}"
        state_topic_template = "{topic_prefix}/gateway/{{{{ .GatewayID }}}}/state/{{{{ .StateType }}}}"
        command_topic_template = "{topic_prefix}/gateway/{{{{ .GatewayID }}}}/command/#"

        [integration.mqtt.auth.generic]
        servers = ["tcp://127.0.0.1:1883"]
        "#
    )])
    .expect("the bridge's configuration")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otaa_devices_through_two_basics_station_gateways() {
    let running = Running::start(true).await;
    let bridge = Bridge::bind(bridge_config(&running.gateway_mqtt.topic_prefix))
        .await
        .expect("the bridge binds");
    let station = bridge.station_addr().expect("the Basics Station listener");
    assert_eq!(bridge.udp_addr(), None);
    let (stop, stopped) = oneshot::channel::<()>();
    let bridge = tokio::spawn(bridge.run(async {
        let _ = stopped.await;
    }));

    let client = ApiClient::connect(&format!("http://{}", running.api), &running.token)
        .await
        .expect("the API answers");
    let origin = Position::new(52.37, 4.89, 0.0);
    let gateways = [
        (0x0016_c001_ff20_0001, -300.0),
        (0x0016_c001_ff20_0002, 300.0),
    ]
    .map(|(id, north)| SimGateway {
        kind: GatewayKind::BasicsStation,
        ..SimGateway::new(Eui64::from_u64(id), origin.offset(0.0, north))
    });
    let (plan, devices) = support::otaa_fleet(
        DEVICES,
        0x0102_0304_0005_0000,
        Eui64::from_u64(0x70b3_d57e_d000_0002),
        origin,
        &gateways,
    );
    let provisioned = provision::provision(&client, &plan)
        .await
        .expect("provisioning");
    assert_eq!(provisioned.devices_created, DEVICES as usize);

    let mut settings = Settings::new(running.udp, Duration::from_secs(16));
    settings.station_server = format!("ws://{station}");
    settings.keepalive = Duration::from_secs(1);
    settings.join_retry = Duration::from_secs(3);
    settings.start_spread = Duration::from_secs(2);
    let report = sim::run(devices, gateways.to_vec(), &settings, &running.progress)
        .await
        .expect("the simulation runs");
    // The last events.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let summary = report.summary();
    println!("{summary}");
    assert_eq!(report.joined, DEVICES as usize, "{summary}");
    assert_eq!(report.downlink_errors, 0, "{summary}");
    assert_eq!(report.forward_errors, 0, "{summary}");
    assert_eq!(report.uplinks_lost, 0, "{summary}");
    support::assert_delivered(&report, &running.progress, 3 * DEVICES as usize);

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), bridge)
        .await
        .expect("the bridge stops")
        .expect("the bridge task")
        .expect("the bridge ends without error");
    running.finish().await;
}

/// Every wait of the scripted LNS is bounded by this.
const WAIT: Duration = Duration::from_secs(10);

/// A scripted LNS: answers `/router-info` with its own `/gateway/…` URI and
/// `version` with EU868's `router_config`, then hands each station
/// connection to the test.
async fn scripted_lns(
    listener: TcpListener,
    stations: mpsc::UnboundedSender<WebSocketStream<TcpStream>>,
) {
    let addr = listener.local_addr().unwrap();
    let eu868 = lorawan::region::params(Region::Eu868, Revision::Rp002_1_0_3);
    let rc = RouterConfig::new(
        eu868,
        &ChannelSet::first(3),
        &RouterConfigOptions::default(),
    )
    .unwrap();
    let router_config = LnsMessage::RouterConfig(rc).to_json();
    while let Ok((tcp, _)) = listener.accept().await {
        let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
            continue;
        };
        let first = next_json(&mut ws).await;
        if let Some(router) = first.get("router") {
            let answer = json!({
                "router": router, "muxs": "0:0:0:0", "uri": format!("ws://{addr}/gateway/1")
            });
            ws.send(Message::text(answer.to_string())).await.unwrap();
        } else {
            assert_eq!(first["msgtype"], "version", "{first}");
            assert_eq!(first["protocol"], 2, "{first}");
            ws.send(Message::text(router_config.clone())).await.unwrap();
            let _ = stations.send(ws);
        }
    }
}

/// The next text message, as JSON.
async fn next_json(ws: &mut WebSocketStream<TcpStream>) -> Value {
    loop {
        match timeout(WAIT, ws.next())
            .await
            .expect("a message")
            .expect("open")
            .unwrap()
        {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected websocket message {other:?}"),
        }
    }
}

/// The next message of `msgtype`, skipping uplinks.
async fn next_of(ws: &mut WebSocketStream<TcpStream>, msgtype: &str) -> Value {
    loop {
        let message = next_json(ws).await;
        if message["msgtype"] == msgtype {
            return message;
        }
        assert_eq!(message["msgtype"], "updf", "{message}");
    }
}

fn class_a_dnmsg(diid: u32, xtime: i64) -> String {
    json!({
        "msgtype": "dnmsg", "DevEui": "01-01-01-01-01-01-01-01", "dC": 0, "diid": diid,
        "pdu": "60040302010000000a", "priority": 1, "RxDelay": 1,
        "RX1DR": 5, "RX1Freq": 868_100_000, "RX2DR": 0, "RX2Freq": 869_525_000,
        "xtime": xtime, "rctx": 0
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_reconnects_falls_back_to_rx2_and_drops_other_sessions() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut stations) = mpsc::unbounded_channel();
    let lns = tokio::spawn(scripted_lns(listener, tx));

    // One ABP device sending every second (DR5), near the gateway.
    let keys = SessionKeys10 {
        nwk_s_key: NwkSKey::from_be_bytes([1; 16]),
        app_s_key: AppSKey::from_be_bytes([2; 16]),
    };
    let device = DeviceConfig::abp(
        Eui64::from_u64(0x0102_0304_0506_0708),
        DevAddr::from_u32(0x2601_0001),
        keys.into(),
        LorawanVersion::V1_0_3,
        Region::Eu868,
        Revision::Rp002_1_0_3,
    );
    let origin = Position::new(52.37, 4.89, 0.0);
    let devices = vec![SimDevice {
        device: Device::new(device),
        position: origin.offset(100.0, 0.0),
        uplink_interval: Duration::from_secs(1),
        f_port: 10,
        payloads: Vec::new(),
        confirmed_every: 0,
        mac_requests_every: 0,
    }];
    let gateways = vec![SimGateway {
        kind: GatewayKind::BasicsStation,
        ..SimGateway::new(Eui64::from_u64(0x0016_c001_ff20_0003), origin)
    }];
    let mut settings = Settings::new("127.0.0.1:9".parse().unwrap(), Duration::from_secs(8));
    settings.station_server = format!("ws://{addr}");
    settings.start_spread = Duration::from_secs(1);
    let progress = Arc::new(Progress::new());
    let sim = tokio::spawn(async move { sim::run(devices, gateways, &settings, &progress).await });

    // The LNS closes the first connection: the station comes back.
    let mut first = timeout(WAIT, stations.recv()).await.unwrap().unwrap();
    first.close(None).await.unwrap();
    let mut station = timeout(WAIT, stations.recv()).await.unwrap().unwrap();

    let updf = next_of(&mut station, "updf").await;
    assert_eq!(updf["DR"], 5, "{updf}");
    assert_eq!(updf["upinfo"]["rctx"], 0, "{updf}");
    let xtime = updf["upinfo"]["xtime"].as_i64().unwrap();
    let session = xtime >> 48;
    assert!((1..=255).contains(&session), "{updf}");

    // Another concentrator session's xtime: dropped, no dntxed.
    let other = (session % 255 + 1) << 48 | (xtime & ((1 << 48) - 1));
    station
        .send(Message::text(class_a_dnmsg(1, other)))
        .await
        .unwrap();
    // Too late for RX1 (1 s after the uplink), in time for RX2 (2 s).
    tokio::time::sleep(Duration::from_millis(1300)).await;
    station
        .send(Message::text(class_a_dnmsg(2, xtime)))
        .await
        .unwrap();
    let dntxed = next_of(&mut station, "dntxed").await;
    assert_eq!(dntxed["diid"], 2, "{dntxed}");
    assert_eq!(dntxed["Freq"], 869_525_000, "{dntxed}");
    assert_eq!(dntxed["DR"], 0, "{dntxed}");
    assert_eq!(dntxed["DevEui"], "01-01-01-01-01-01-01-01", "{dntxed}");
    assert_eq!(
        dntxed["xtime"].as_i64(),
        Some(xtime + 2_000_000),
        "{dntxed}"
    );

    // Class C: at once, on the RX2 parameters.
    let class_c = json!({
        "msgtype": "dnmsg", "DevEui": "01-01-01-01-01-01-01-01", "dC": 2, "diid": 3,
        "pdu": "60040302010000000a", "priority": 1, "RX2DR": 0, "RX2Freq": 869_525_000
    });
    station
        .send(Message::text(class_c.to_string()))
        .await
        .unwrap();
    let dntxed = next_of(&mut station, "dntxed").await;
    assert_eq!(dntxed["diid"], 3, "{dntxed}");
    assert_eq!(dntxed["xtime"].as_i64().unwrap() >> 48, session, "{dntxed}");

    let report = timeout(Duration::from_secs(30), sim)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(report.uplinks.len() >= 5, "{}", report.summary());
    lns.abort();
}
