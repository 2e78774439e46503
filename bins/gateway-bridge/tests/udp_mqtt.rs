//! The bridge between a fake Semtech UDP packet forwarder and the real
//! Mosquitto on 127.0.0.1:1883 (started by `scripts/ensure-services`): what a
//! network server reads and writes on MQTT, checked field by field.
//!
//! Every test uses its own topic prefix, so tests run in parallel and leave
//! nothing behind (retained states are cleared at the end).

use std::time::Duration;

#[path = "support/bridge.rs"]
mod bridge;
#[path = "support/forwarder.rs"]
mod forwarder;
#[path = "support/harness.rs"]
mod harness;
#[path = "support/network_server.rs"]
mod network_server;

use bridge::GATEWAY_ID;
use harness::{Harness, UPLINK_TMST};
use network_server::{SYSTEM_BROKER_PORT, downlink_item};
use packet_forwarder::gw::{self, Encoding};
use serde_json::{Value, json};

/// A bridge with the marshaler `encoding` on the shared Mosquitto, a
/// forwarder and a network server.
async fn start(encoding: Encoding) -> Harness {
    Harness::start_with(SYSTEM_BROKER_PORT, encoding, "").await
}

/// PUSH_DATA with four uplinks: the first at `tmst` [`UPLINK_TMST`], which
/// the downlinks of [`check_downlinks`] answer, the third with a bad CRC.
fn rxpk_datagram() -> Value {
    json!({"rxpk": [
        {"tmst": UPLINK_TMST, "chan": 2, "rfch": 0, "freq": 866.349812, "stat": 1,
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

async fn check_uplinks(s: &mut Harness) {
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
    assert_eq!(rx[0].context, UPLINK_TMST.to_be_bytes());

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

async fn check_downlinks(s: &mut Harness) {
    // One item, RX1 of the first uplink, accepted.
    let txpk = s.check_downlink(0x1234_5678, true).await;
    check_txpk(&txpk, 868.1, "SF7BW125", 3_513_348_611, "YAEC", 3);

    // RX1 refused (TOO_LATE), RX2 accepted.
    let frame = gw::DownlinkFrame {
        downlink_id: 0x0000_9abc,
        gateway_id: GATEWAY_ID.into(),
        items: vec![
            downlink_item(868_300_000, 9, 1, &UPLINK_TMST.to_be_bytes(), &[0xa0]),
            downlink_item(869_525_000, 12, 2, &UPLINK_TMST.to_be_bytes(), &[0xa0]),
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
    s.ns.expect_silence(Duration::from_millis(300)).await;
}

async fn full_exchange(encoding: Encoding) {
    let mut s = start(encoding).await;
    s.connect_gateway().await;
    let retained = s.retained_state().await;
    assert_eq!(retained.gateway_id, GATEWAY_ID);
    assert_eq!(retained.state(), gw::conn_state::State::Online);

    check_uplinks(&mut s).await;
    check_downlinks(&mut s).await;

    // A malformed datagram is answered with nothing and changes nothing.
    s.fwd.push_raw(b"\x02\x00").await;
    s.fwd.pull_data(0x0103).await;

    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_gateway_reaches_mqtt_with_protobuf() {
    full_exchange(Encoding::Protobuf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_gateway_reaches_mqtt_with_json() {
    full_exchange(Encoding::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_is_published_as_gateway_stats() {
    let mut s = start(Encoding::Json).await;
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
