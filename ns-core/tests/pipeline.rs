//! The network server end to end: simulated devices and gateways around the
//! pipeline driver, in one process — OTAA joins and data for LoRaWAN 1.0.3
//! and 1.1 devices, ABP, confirmed frames both ways, ADR, MAC answers,
//! replays, DevNonce reuse, the 16-bit FCnt rollover and bad input.
//!
//! Time is simulated (`support/harness.rs`): the windows have their default
//! lengths (200 ms de-duplication, 100 ms for the application to enqueue,
//! a minute for a TX ack), cost no real time, and the tests at the end
//! check when things happen.

#[path = "support/device.rs"]
mod device;
#[path = "support/fixtures.rs"]
mod fixtures;
#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use lorawan::mac::{LinkCheckAns, MacCommand};
use lorawan::phy::DataFrame;
use lorawan::{DevAddr, Eui64};
use ns_core::integration::{Event, EventKind, LogCode};
use ns_core::model::{DeviceSession, ExtraChannel, MacVersion};
use ns_core::pipeline::PipelineCounters;
use packet_forwarder::gw;

use device::{Device, Up, keys_10};
use fixtures::{GW1, GW2, GW3};
use harness::{Harness, Heard, heard};

const JOIN_EUI: u64 = 0x70b3_d57e_d000_0001;
const NWK_KEY: [u8; 16] = [0x2b; 16];
const APP_KEY: [u8; 16] = [0x3c; 16];

/// The network's EU868 extra channels (ChirpStack's region file).
const EXTRA: [u32; 5] = [
    867_100_000,
    867_300_000,
    867_500_000,
    867_700_000,
    867_900_000,
];

fn otaa_device(version: MacVersion, dev_eui: u64) -> Device {
    Device::otaa(
        version,
        Eui64::from_u64(dev_eui),
        Eui64::from_u64(JOIN_EUI),
        NWK_KEY,
        APP_KEY,
    )
}

/// An ABP device and its stored session: LoRaWAN 1.0.3, the network's
/// eight channels on both sides (no NewChannelReq to come), at `dr` with
/// ADR on.
fn abp_device(dev_eui: u64, dev_addr: u32, dr: u8) -> (Device, DeviceSession) {
    let keys = keys_10([0x11; 16], [0x22; 16]);
    let dev_addr = DevAddr::from_u32(dev_addr);
    let mut device = Device::abp(MacVersion::V1_0_3, Eui64::from_u64(dev_eui), dev_addr, keys);
    let mut session =
        DeviceSession::new(dev_addr, MacVersion::V1_0_3, keys, "eu868", device::eu868());
    for f in EXTRA {
        device.channels.push(Some(device::Channel {
            frequency: f,
            min_dr: 0,
            max_dr: 5,
            enabled: true,
        }));
        session.extra_uplink_channels.push(ExtraChannel {
            frequency: f,
            min_dr: 0,
            max_dr: 5,
        });
    }
    session.enabled_uplink_channel_indices = (0..8).collect();
    session.adr = true;
    session.dr = dr;
    device.dr = dr;
    (device, session)
}

fn dev_eui_of(event: &Event) -> String {
    let info = match event {
        Event::Up(e) => e.device_info.as_ref(),
        Event::Join(e) => e.device_info.as_ref(),
        Event::Ack(e) => e.device_info.as_ref(),
        Event::TxAck(e) => e.device_info.as_ref(),
        Event::Log(e) => e.device_info.as_ref(),
        Event::Status(e) => e.device_info.as_ref(),
        other => panic!("unexpected event {other:?}"),
    };
    info.expect("device_info").dev_eui.clone()
}

fn get(counter: &std::sync::atomic::AtomicU64) -> u64 {
    PipelineCounters::get(counter)
}

// ---------------------------------------------------------------------------
// OTAA, LoRaWAN 1.0.3

#[tokio::test]
async fn lorawan_1_0_3_otaa_join_uplink_and_downlink_in_rx1() {
    let mut h = Harness::start().await;
    let mut dev = otaa_device(MacVersion::V1_0_3, 0x0101);
    h.provision_otaa(&dev, NWK_KEY, APP_KEY).await;

    let info = h.join(&mut dev, 0x0102).await;
    assert!(!info.opt_neg, "a 1.0.3 device gets no OptNeg");
    assert_eq!(info.home_net_id.to_u32(), 0x13);
    assert_eq!(
        info.join_nonce.to_u32(),
        1,
        "the first join gets JoinNonce 1"
    );
    assert_eq!((info.rx_delay, info.rx1_dr_offset, info.rx2_dr), (1, 0, 0));
    assert_eq!(info.cf_list, Some(EXTRA), "the network's extra channels");
    let stored = h.session(dev.dev_eui).await;
    let keys = dev.session().keys;
    assert_eq!(stored.dev_addr, info.dev_addr);
    assert_eq!(stored.mac_version, MacVersion::V1_0_3);
    assert_eq!(stored.f_nwk_s_int_key, keys.f_nwk_s_int_key);
    assert_eq!(stored.app_s_key, keys.app_s_key);
    assert_eq!((stored.f_cnt_up, stored.n_f_cnt_down), (0, 0));

    // An unconfirmed uplink: the `up` event carries the decrypted data.
    let (sent, up) = h
        .uplink(&mut dev, &Up::data(10, b"hello"), &[heard(GW1)])
        .await;
    assert_eq!(dev_eui_of(&Event::Up(up.clone())), dev.dev_eui.to_string());
    assert_eq!((up.f_cnt, up.f_port, up.confirmed), (0, 10, false));
    assert_eq!(up.data, b"hello");
    assert_eq!(up.dev_addr, info.dev_addr.to_string());
    assert_eq!(up.dr, 0);
    assert_eq!(up.rx_info.len(), 1);
    assert_eq!(up.rx_info[0].gateway_id, GW1);
    assert_eq!(
        up.tx_info.as_ref().map(|t| t.frequency),
        Some(sent.radio.frequency)
    );

    // The application answers within get_downlink_data_delay.
    let item = h.enqueue(dev.dev_eui, 20, false, b"ping").await;
    let (frame, down) = h.receive(&mut dev).await;
    assert_eq!(frame.gateway_id, GW1);
    assert_eq!(
        down.delay,
        Duration::from_secs(1),
        "RX1, one second after the uplink"
    );
    assert_eq!(
        down.frequency, sent.radio.frequency,
        "EU868 RX1: the uplink's channel"
    );
    assert_eq!(
        (down.f_port, down.data.as_slice()),
        (Some(20), &b"ping"[..])
    );
    assert_eq!(down.f_cnt, 0, "NFCntDown 0");
    assert!(!down.confirmed && !down.ack && !down.f_pending);
    assert_eq!(frame.items.len(), 2, "RX1 and RX2 alternatives");

    // The gateway's TX ack: `txack`, the queue emptied, NFCntDown advanced.
    let Event::TxAck(tx_ack) = h.event(EventKind::TxAck).await else {
        unreachable!()
    };
    assert_eq!(tx_ack.queue_item_id, item.id.to_string());
    assert_eq!(tx_ack.downlink_id, frame.downlink_id);
    assert_eq!((tx_ack.f_cnt_down, tx_ack.gateway_id.as_str()), (0, GW1));
    assert!(
        h.storage
            .list_queue_items(dev.dev_eui)
            .await
            .unwrap()
            .is_empty()
    );
    let stored = h.session(dev.dev_eui).await;
    assert_eq!((stored.f_cnt_up, stored.n_f_cnt_down), (1, 1));

    // The next uplink and downlink continue both counters.
    let item = h.enqueue(dev.dev_eui, 21, false, b"again").await;
    let (_, up) = h
        .uplink(&mut dev, &Up::data(10, b"two"), &[heard(GW1)])
        .await;
    assert_eq!((up.f_cnt, up.data.as_slice()), (1, &b"two"[..]));
    let (_, down) = h.receive(&mut dev).await;
    assert_eq!((down.f_cnt, down.data.as_slice()), (1, &b"again"[..]));
    let Event::TxAck(tx_ack) = h.event(EventKind::TxAck).await else {
        unreachable!()
    };
    assert_eq!(
        (tx_ack.queue_item_id, tx_ack.f_cnt_down),
        (item.id.to_string(), 1)
    );
    assert_eq!(h.session(dev.dev_eui).await.n_f_cnt_down, 2);
    assert_eq!(get(&h.handle.counters().joins_accepted), 1);
    assert_eq!(get(&h.handle.counters().uplinks_accepted), 2);
}

// ---------------------------------------------------------------------------
// OTAA, LoRaWAN 1.1

#[tokio::test]
async fn lorawan_1_1_otaa_join_opt_neg_separate_downlink_counters_and_encrypted_f_opts() {
    let mut h = Harness::start().await;
    let mut dev = otaa_device(MacVersion::V1_1_0, 0x0202);
    h.provision_otaa(&dev, NWK_KEY, APP_KEY).await;

    let info = h.join(&mut dev, 1).await;
    assert!(info.opt_neg, "a 1.1 network sets OptNeg");
    let stored = h.session(dev.dev_eui).await;
    let keys = dev.session().keys;
    assert_eq!(stored.mac_version, MacVersion::V1_1_0);
    assert_eq!(
        (
            stored.f_nwk_s_int_key,
            stored.s_nwk_s_int_key,
            stored.nwk_s_enc_key,
            stored.app_s_key
        ),
        (
            keys.f_nwk_s_int_key,
            keys.s_nwk_s_int_key,
            keys.nwk_s_enc_key,
            keys.app_s_key
        )
    );
    assert_ne!(
        keys.f_nwk_s_int_key.to_be_bytes(),
        keys.s_nwk_s_int_key.to_be_bytes()
    );

    // The first uplink carries RekeyInd (encrypted FOpts); the answer is a
    // MAC-only downlink on NFCntDown with RekeyConf in encrypted FOpts.
    assert!(dev.rekey_pending);
    let (_, up) = h
        .uplink(&mut dev, &Up::data(1, b"v1.1"), &[heard(GW1)])
        .await;
    assert_eq!((up.f_cnt, up.data.as_slice()), (0, &b"v1.1"[..]));
    let (frame, down) = h.receive(&mut dev).await;
    assert_eq!((down.f_port, down.f_cnt), (None, 0), "MAC only: NFCntDown");
    assert!(
        down.mac_commands
            .iter()
            .any(|c| matches!(c, MacCommand::RekeyConf(r) if r.minor == 1)),
        "{:?}",
        down.mac_commands
    );
    assert!(!dev.rekey_pending);
    let raw = DataFrame::new_checked(&frame.items[0].phy_payload).unwrap();
    let mut plain = Vec::new();
    for c in &down.mac_commands {
        let mut buf = [0u8; lorawan::mac::MAX_ENCODED_LEN];
        let n = c.emit(&mut buf).unwrap();
        plain.extend_from_slice(&buf[..n]);
    }
    assert_eq!(raw.fopts().len(), plain.len());
    assert_ne!(raw.fopts(), plain.as_slice(), "FOpts travel encrypted");
    let stored = h.session_where(dev.dev_eui, |s| s.n_f_cnt_down == 1).await;
    assert_eq!(stored.a_f_cnt_down, 0);

    // Application data: AFCntDown, FOpts answers still NFCnt-free.
    let item = h.enqueue(dev.dev_eui, 5, false, b"app data").await;
    let (_, up) = h
        .uplink(&mut dev, &Up::data(1, b"second"), &[heard(GW1)])
        .await;
    assert_eq!(up.f_cnt, 1);
    let (_, down) = h.receive(&mut dev).await;
    assert_eq!((down.f_port, down.f_cnt), (Some(5), 0), "AFCntDown 0");
    assert_eq!(down.data, b"app data");
    let Event::TxAck(tx_ack) = h.event(EventKind::TxAck).await else {
        unreachable!()
    };
    assert_eq!(
        (tx_ack.queue_item_id, tx_ack.f_cnt_down),
        (item.id.to_string(), 0)
    );
    let stored = h.session(dev.dev_eui).await;
    assert_eq!((stored.n_f_cnt_down, stored.a_f_cnt_down), (1, 1));
    assert_eq!(dev.session().n_f_cnt_down, 1);
    assert_eq!(dev.session().a_f_cnt_down, 1);
}

// ---------------------------------------------------------------------------
// ABP

#[tokio::test]
async fn abp_device_sends_and_receives_without_a_join() {
    let mut h = Harness::start().await;
    let keys = keys_10([0x44; 16], [0x55; 16]);
    let dev_addr = DevAddr::from_u32(0x2601_0abc);
    let mut dev = Device::abp(MacVersion::V1_0_3, Eui64::from_u64(0x0303), dev_addr, keys);
    // As activation leaves it: the three default channels only.
    let session = DeviceSession::new(dev_addr, MacVersion::V1_0_3, keys, "eu868", device::eu868());
    h.provision_abp(&dev, &session).await;

    let item = h.enqueue(dev.dev_eui, 3, false, b"abp down").await;
    let (_, up) = h
        .uplink(&mut dev, &Up::data(2, b"abp up"), &[heard(GW2)])
        .await;
    assert_eq!(
        (up.f_cnt, up.f_port, up.data.as_slice()),
        (0, 2, &b"abp up"[..])
    );
    assert_eq!(up.dev_addr, "26010abc");
    let (frame, down) = h.receive(&mut dev).await;
    assert_eq!(
        frame.gateway_id, GW2,
        "answered through the gateway that heard it"
    );
    assert_eq!(
        (down.f_port, down.data.as_slice()),
        (Some(3), &b"abp down"[..])
    );
    // The network hands the device its extra channels (NewChannelReq).
    let new_channels: Vec<u32> = down
        .mac_commands
        .iter()
        .filter_map(|c| match c {
            MacCommand::NewChannelReq(r) => Some(r.frequency),
            _ => None,
        })
        .collect();
    assert!(!new_channels.is_empty(), "{:?}", down.mac_commands);
    assert!(new_channels.iter().all(|f| EXTRA.contains(f)));
    let Event::TxAck(tx_ack) = h.event(EventKind::TxAck).await else {
        unreachable!()
    };
    assert_eq!(tx_ack.queue_item_id, item.id.to_string());

    // The device's NewChannelAns add the channels to the session.
    let (_, up) = h
        .uplink(&mut dev, &Up::data(2, b"next"), &[heard(GW2)])
        .await;
    assert_eq!(up.f_cnt, 1);
    let stored = h
        .session_where(dev.dev_eui, |s| {
            s.extra_uplink_channels.len() >= new_channels.len()
        })
        .await;
    let stored_extra: Vec<u32> = stored
        .extra_uplink_channels
        .iter()
        .map(|c| c.frequency)
        .collect();
    assert_eq!(stored_extra[..new_channels.len()], new_channels[..]);
    assert_eq!(stored.f_cnt_up, 2);
}

// ---------------------------------------------------------------------------
// Confirmed frames

#[tokio::test]
async fn confirmed_uplink_is_acked_and_confirmed_downlink_is_acknowledged_by_the_next_uplink() {
    // LoRaWAN 1.1: both ACKs are in the MICs (ConfFCnt), so a wrong
    // counter on either side fails the frame.
    let mut h = Harness::start().await;
    let mut dev = otaa_device(MacVersion::V1_1_0, 0x0404);
    h.provision_otaa(&dev, NWK_KEY, APP_KEY).await;
    h.join(&mut dev, 1).await;

    let (_, up) = h
        .uplink(&mut dev, &Up::confirmed(7, b"confirm me"), &[heard(GW1)])
        .await;
    assert!(up.confirmed);
    let (_, down) = h.receive(&mut dev).await;
    assert!(down.ack, "the downlink acknowledges the confirmed uplink");

    // One unconfirmed item first, so the confirmed one has AFCntDown 1.
    h.enqueue(dev.dev_eui, 8, false, b"first").await;
    h.uplink(&mut dev, &Up::data(7, b"u2"), &[heard(GW1)]).await;
    let (_, down) = h.receive(&mut dev).await;
    assert_eq!((down.f_cnt, down.confirmed), (0, false));
    h.event(EventKind::TxAck).await;

    let item = h.enqueue(dev.dev_eui, 8, true, b"confirmed down").await;
    h.uplink(&mut dev, &Up::data(7, b"u3"), &[heard(GW1)]).await;
    let (_, down) = h.receive(&mut dev).await;
    assert!(down.confirmed);
    assert_eq!(
        (down.f_cnt, down.data.as_slice()),
        (1, &b"confirmed down"[..])
    );
    h.event(EventKind::TxAck).await;
    let pending = h.storage.get_queue_item(item.id).await.unwrap();
    assert!(pending.is_pending, "sent, waiting for the device's ACK");
    assert_eq!(pending.f_cnt_down, Some(1));
    assert_eq!(h.session(dev.dev_eui).await.conf_f_cnt, 1);

    // The device's next uplink has FCtrl.ACK (and ConfFCnt 1 in its MIC).
    assert_eq!(dev.ack_pending, Some(1));
    let (_, up) = h.uplink(&mut dev, &Up::data(7, b"u4"), &[heard(GW1)]).await;
    assert_eq!(up.f_cnt, 3);
    let Event::Ack(ack) = h.event(EventKind::Ack).await else {
        unreachable!()
    };
    assert!(ack.acknowledged);
    assert_eq!(
        (ack.queue_item_id, ack.f_cnt_down),
        (item.id.to_string(), 1)
    );
    assert!(
        h.storage
            .list_queue_items(dev.dev_eui)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------
// ADR

#[tokio::test]
async fn adr_converges_a_dr0_device_with_a_good_link_to_dr5() {
    let mut h = Harness::start().await;
    let (mut dev, session) = abp_device(0x0505, 0x2601_0505, 0);
    h.provision_abp(&dev, &session).await;

    let mut drs = Vec::new();
    let mut link_adr_reqs = Vec::new();
    for n in 0..24u32 {
        // The gateway hears the device 2 dB worse per TX power step.
        let snr = 10.0 - 2.0 * f32::from(dev.tx_power);
        let reception = Heard {
            gateway_id: GW1,
            snr,
            rssi: -80,
        };
        let (_, up) = h
            .uplink(&mut dev, &Up::data(1, &n.to_be_bytes()), &[reception])
            .await;
        assert_eq!(up.f_cnt, n);
        assert!(up.adr);
        drs.push(up.dr);
        if let Some(frame) = h.maybe_downlink().await {
            let down = dev.receive(&frame).expect("the device reads the downlink");
            h.ack(&frame).await;
            link_adr_reqs.extend(down.mac_commands.iter().filter_map(|c| match c {
                MacCommand::LinkAdrReq(r) => Some((n, *r)),
                _ => None,
            }));
        }
    }
    assert!(!link_adr_reqs.is_empty(), "no LinkADRReq at all");
    assert!(
        drs.windows(2).all(|w| w[0] <= w[1]),
        "the data rate only rises: {drs:?}"
    );
    assert_eq!(drs.first(), Some(&0));
    assert_eq!(drs.last(), Some(&5), "{drs:?}");
    assert_eq!(dev.dr, 5);
    // Converged: the last LinkADRReq is well before the end.
    let (last, _) = link_adr_reqs.last().copied().unwrap();
    assert!(
        last < 18,
        "still adjusting at uplink {last}: {link_adr_reqs:?}"
    );
    let stored = h.session(dev.dev_eui).await;
    assert_eq!(stored.dr, 5);
    assert_eq!(stored.tx_power_index, dev.tx_power);
    assert!(
        stored.tx_power_index > 0,
        "a good link also lowers the power"
    );
    assert!(stored.mac_command_pending.iter().all(|p| p.cid != 0x03));
    assert_eq!(stored.f_cnt_up, 24);
}

// ---------------------------------------------------------------------------
// MAC commands

#[tokio::test]
async fn link_check_req_gets_margin_and_gateway_count_and_dev_status_ans_a_status_event() {
    let mut h = Harness::start().await;
    let (mut dev, session) = abp_device(0x0606, 0x2601_0606, 5);
    h.provision_abp(&dev, &session).await;

    // DR5 is SF7 (needs −7.5 dB): the best of 5 and 2 dB is 12.5 dB above.
    let up = Up {
        mac_commands: vec![MacCommand::LinkCheckReq],
        ..Up::data(1, b"check")
    };
    let receptions = [
        Heard {
            gateway_id: GW1,
            snr: 5.0,
            rssi: -90,
        },
        Heard {
            gateway_id: GW2,
            snr: 2.0,
            rssi: -100,
        },
    ];
    h.uplink(&mut dev, &up, &receptions).await;
    // What the device will report when asked.
    dev.battery = 127;
    dev.margin = -3;
    let (_, down) = h.receive(&mut dev).await;
    assert_eq!(
        dev.link_check,
        Some(LinkCheckAns {
            margin: 12,
            gw_cnt: 2
        })
    );
    assert!(
        down.mac_commands.contains(&MacCommand::DevStatusReq),
        "{:?}",
        down.mac_commands
    );

    // DevStatusAns in the next uplink: a `status` event.
    let (_, up) = h
        .uplink(&mut dev, &Up::data(1, b"status"), &[heard(GW1)])
        .await;
    let Event::Status(status) = h.event(EventKind::Status).await else {
        unreachable!()
    };
    assert_eq!(status.deduplication_id, up.deduplication_id);
    assert_eq!(status.margin, -3);
    assert!(!status.external_power_source && !status.battery_level_unavailable);
    assert!(
        (status.battery_level - 50.0).abs() < 0.1,
        "{}",
        status.battery_level
    );
    let stored = h.session(dev.dev_eui).await;
    assert!(stored.mac_command_pending.iter().all(|p| p.cid != 0x06));
}

// ---------------------------------------------------------------------------
// De-duplication and replays

#[tokio::test]
async fn one_frame_heard_by_three_gateways_is_one_up_event_and_its_replay_is_rejected() {
    let mut h = Harness::start().await;
    let (mut dev, session) = abp_device(0x0707, 0x2601_0707, 5);
    h.provision_abp(&dev, &session).await;

    let (sent, up) = h
        .uplink(
            &mut dev,
            &Up::data(1, b"x3"),
            &[heard(GW1), heard(GW2), heard(GW3)],
        )
        .await;
    let mut gateways: Vec<&str> = up.rx_info.iter().map(|r| r.gateway_id.as_str()).collect();
    gateways.sort_unstable();
    assert_eq!(gateways, [GW1, GW2, GW3]);
    // Whatever answer the uplink gets, then the lock of its set expires.
    h.maybe_downlink().await;
    tokio::time::sleep(harness::DEDUPLICATION_DELAY * 3).await;
    let events = h.quiet_events().await;
    assert!(
        events.iter().all(|e| e.kind() != EventKind::Up),
        "one up event only: {events:?}"
    );

    // The same frame again: a retransmission of FCnt 0, rejected.
    h.send(&sent, &[heard(GW1)]).await;
    let Event::Log(log) = h.event(EventKind::Log).await else {
        unreachable!()
    };
    assert_eq!(log.code(), LogCode::UplinkFCntRetransmission);
    let events = h.quiet_events().await;
    assert!(
        events.iter().all(|e| e.kind() != EventKind::Up),
        "{events:?}"
    );
    let rejections = h.handle.counters().uplink_rejections();
    assert_eq!(
        rejections.get("f_cnt_retransmission"),
        Some(&1),
        "{rejections:?}"
    );
    assert_eq!(get(&h.handle.counters().uplinks_accepted), 1);
    assert_eq!(h.session(dev.dev_eui).await.f_cnt_up, 1);
    h.no_downlink().await;
}

// ---------------------------------------------------------------------------
// DevNonce

#[tokio::test]
async fn dev_nonce_reuse_by_a_1_0_3_device_is_rejected() {
    let mut h = Harness::start().await;
    let mut dev = otaa_device(MacVersion::V1_0_3, 0x0808);
    h.provision_otaa(&dev, NWK_KEY, APP_KEY).await;
    let info = h.join(&mut dev, 7).await;

    let replay = dev.join_request(7);
    h.send(&replay, &[heard(GW1)]).await;
    let Event::Log(log) = h.event(EventKind::Log).await else {
        unreachable!()
    };
    assert_eq!(log.code(), LogCode::Otaa);
    h.no_downlink().await;
    let rejections = h.handle.counters().join_rejections();
    assert_eq!(
        rejections.get("dev_nonce_reused"),
        Some(&1),
        "{rejections:?}"
    );
    assert_eq!(h.session(dev.dev_eui).await.dev_addr, info.dev_addr);
    assert_eq!(get(&h.handle.counters().joins_accepted), 1);

    // LoRaWAN 1.0.3 only forbids repeats: a lower, unused DevNonce joins.
    let info = h.join(&mut dev, 3).await;
    assert_eq!(info.join_nonce.to_u32(), 2);
    assert_eq!(h.session(dev.dev_eui).await.dev_addr, info.dev_addr);
}

#[tokio::test]
async fn a_lower_dev_nonce_from_a_1_1_device_is_rejected() {
    let mut h = Harness::start().await;
    let mut dev = otaa_device(MacVersion::V1_1_0, 0x0909);
    h.provision_otaa(&dev, NWK_KEY, APP_KEY).await;
    let info = h.join(&mut dev, 10).await;

    let lower = dev.join_request(9);
    h.send(&lower, &[heard(GW1)]).await;
    let Event::Log(log) = h.event(EventKind::Log).await else {
        unreachable!()
    };
    assert_eq!(log.code(), LogCode::Otaa);
    h.no_downlink().await;
    let rejections = h.handle.counters().join_rejections();
    assert_eq!(
        rejections.get("dev_nonce_not_increasing"),
        Some(&1),
        "{rejections:?}"
    );
    assert_eq!(h.session(dev.dev_eui).await.dev_addr, info.dev_addr);

    // The same DevNonce again is not an increase either.
    let same = dev.join_request(10);
    h.send(&same, &[heard(GW1)]).await;
    h.event(EventKind::Log).await;
    h.no_downlink().await;
    let rejections = h.handle.counters().join_rejections();
    let refused: u64 = rejections.values().sum();
    assert_eq!(refused, 2, "{rejections:?}");
    assert_eq!(get(&h.handle.counters().joins_accepted), 1);
}

// ---------------------------------------------------------------------------
// FCnt rollover

#[tokio::test]
async fn fcnt_rollover_past_16_bits_is_accepted() {
    let mut h = Harness::start().await;
    let (mut dev, mut session) = abp_device(0x0a0a, 0x2601_0a0a, 5);
    session.f_cnt_up = 65_535;
    dev.session_mut().f_cnt_up = 65_535;
    h.provision_abp(&dev, &session).await;

    for expected in [65_535u32, 65_536, 65_537] {
        let (sent, up) = h
            .uplink(&mut dev, &Up::data(4, b"roll"), &[heard(GW1)])
            .await;
        assert_eq!(sent.f_cnt, expected);
        assert_eq!(up.f_cnt, expected, "the full 32-bit FCnt");
        assert_eq!(up.data, b"roll");
        // Answer whatever the network asks, like a device would.
        if let Some(frame) = h.maybe_downlink().await {
            dev.receive(&frame).expect("the device reads the downlink");
            h.ack(&frame).await;
        }
    }
    assert_eq!(h.session(dev.dev_eui).await.f_cnt_up, 65_538);
    assert!(h.handle.counters().uplink_rejections().is_empty());
}

// ---------------------------------------------------------------------------
// Bad input

#[tokio::test]
async fn bad_mic_unknown_dev_addr_and_garbage_are_counted_and_change_nothing() {
    let mut h = Harness::start().await;
    let (mut dev, session) = abp_device(0x0b0b, 0x2601_0b0b, 5);
    h.provision_abp(&dev, &session).await;
    let before = h.session(dev.dev_eui).await;

    // A bad MIC.
    let mut forged = dev.uplink(&Up::data(1, b"forged"));
    let last = forged.phy_payload.len() - 1;
    forged.phy_payload[last] ^= 0xff;
    h.send(&forged, &[heard(GW1)]).await;

    // A DevAddr no session has.
    let (mut stranger, _) = abp_device(0x0c0c, 0x2601_0c0c, 5);
    let unknown = stranger.uplink(&Up::data(1, b"who"));
    h.send(&unknown, &[heard(GW1)]).await;

    // Garbage: a truncated data frame, a proprietary frame, a truncated
    // join-request.
    let tx_info = forged.tx_info();
    for (i, garbage) in [&[0x40, 1, 2][..], &[0xe0, 9, 9, 9], &[0x00, 1, 2, 3]]
        .into_iter()
        .enumerate()
    {
        let gateway = [GW1, GW2, GW3][i];
        h.send_raw(garbage, tx_info.clone(), heard(gateway)).await;
    }

    let events = h.quiet_events().await;
    assert!(events.is_empty(), "no event: {events:?}");
    h.no_downlink().await;
    let c = h.handle.counters();
    let rejections = c.uplink_rejections();
    assert_eq!(rejections.get("invalid_mic"), Some(&1), "{rejections:?}");
    assert_eq!(
        rejections.get("unknown_dev_addr"),
        Some(&1),
        "{rejections:?}"
    );
    assert_eq!(rejections.get("malformed"), Some(&1), "{rejections:?}");
    assert_eq!(get(&c.uplinks_unsupported), 1);
    assert_eq!(c.join_rejections().get("malformed"), Some(&1));
    assert_eq!(get(&c.uplinks_accepted), 0);
    assert_eq!(
        h.session(dev.dev_eui).await,
        before,
        "the session is unchanged"
    );

    // The device's next genuine frame still goes through.
    dev.session_mut().f_cnt_up = 0;
    let (_, up) = h
        .uplink(&mut dev, &Up::data(1, b"genuine"), &[heard(GW1)])
        .await;
    assert_eq!((up.f_cnt, up.data.as_slice()), (0, &b"genuine"[..]));
}

// ---------------------------------------------------------------------------
// TX acks

#[tokio::test]
async fn a_tx_ack_arriving_after_the_next_uplink_still_advances_fcnt_down() {
    let mut h = Harness::start().await;
    let (mut dev, session) = abp_device(0x0d0d, 0x2601_0d0d, 5);
    h.provision_abp(&dev, &session).await;

    h.enqueue(dev.dev_eui, 9, false, b"one").await;
    h.uplink(&mut dev, &Up::data(1, b"u0"), &[heard(GW1)]).await;
    let first = h.downlink().await;
    let down = dev
        .receive(&first)
        .expect("the device reads the first downlink");
    assert_eq!((down.f_cnt, down.data.as_slice()), (0, &b"one"[..]));

    // The device's next uplink comes before the gateway's ack of the first
    // downlink, which lands while the application may still enqueue.
    h.enqueue(dev.dev_eui, 9, false, b"two").await;
    h.uplink(&mut dev, &Up::data(1, b"u1"), &[heard(GW1)]).await;
    h.ack(&first).await;
    let Event::TxAck(tx_ack) = h.event(EventKind::TxAck).await else {
        unreachable!()
    };
    assert_eq!(tx_ack.f_cnt_down, 0);
    assert_eq!(h.session(dev.dev_eui).await.n_f_cnt_down, 1);

    // The answer to the second uplink must not reuse NFCntDown 0.
    let second = h.downlink().await;
    let down = dev
        .receive(&second)
        .unwrap_or_else(|e| panic!("FCntDown reused: {e}"));
    assert_eq!((down.f_cnt, down.data.as_slice()), (1, &b"two"[..]));
    h.ack(&second).await;
    h.event(EventKind::TxAck).await;
    assert_eq!(h.session(dev.dev_eui).await.n_f_cnt_down, 2);
}

#[tokio::test]
async fn a_tx_ack_after_another_writer_advances_fcnt_down_on_the_stored_session() {
    let mut h = Harness::start().await;
    let (mut dev, session) = abp_device(0x0d1d, 0x2601_0d1d, 5);
    h.provision_abp(&dev, &session).await;

    h.enqueue(dev.dev_eui, 9, false, b"one").await;
    h.uplink(&mut dev, &Up::data(1, b"u0"), &[heard(GW1)]).await;
    let frame = h.downlink().await;

    // Before the gateway's ack, another instance takes an uplink of the
    // device and stores its session. The ack must advance NFCntDown on that
    // session, not write back the one the downlink was planned with (which
    // would take FCntUp back and reopen the frames in between to replay).
    let mut elsewhere = h.session(dev.dev_eui).await;
    elsewhere.f_cnt_up += 7;
    assert!(
        h.storage
            .update_session_if_fcnt(dev.dev_eui, elsewhere.f_cnt_up - 7, &elsewhere)
            .await
            .unwrap()
    );

    h.ack(&frame).await;
    let Event::TxAck(tx_ack) = h.event(EventKind::TxAck).await else {
        unreachable!()
    };
    assert_eq!(tx_ack.f_cnt_down, 0);
    let stored = h.session_where(dev.dev_eui, |s| s.n_f_cnt_down == 1).await;
    assert_eq!(
        stored.f_cnt_up, elsewhere.f_cnt_up,
        "the other writer's FCntUp is kept"
    );
}

#[tokio::test]
async fn rx1_refused_and_rx2_sent_advances_the_counter_of_the_rx2_frame() {
    let mut h = Harness::start().await;
    let (mut dev, session) = abp_device(0x0e0e, 0x2601_0e0e, 5);
    h.provision_abp(&dev, &session).await;

    let item = h.enqueue(dev.dev_eui, 9, false, b"late").await;
    h.uplink(&mut dev, &Up::data(1, b"u0"), &[heard(GW1)]).await;
    let frame = h.downlink().await;
    h.ack_with(&frame, &[gw::TxAckStatus::TooLate, gw::TxAckStatus::Ok])
        .await;
    let Event::TxAck(tx_ack) = h.event(EventKind::TxAck).await else {
        unreachable!()
    };
    assert_eq!(
        (tx_ack.queue_item_id, tx_ack.f_cnt_down),
        (item.id.to_string(), 0)
    );
    let rx2 = frame.items[1].tx_info.clone();
    assert_eq!(tx_ack.tx_info, rx2, "the RX2 alternative was sent");
    assert_eq!(rx2.map(|t| t.frequency), Some(869_525_000));
    assert_eq!(h.session(dev.dev_eui).await.n_f_cnt_down, 1);
    assert!(
        h.storage
            .list_queue_items(dev.dev_eui)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(get(&h.handle.counters().tx_acks_ok), 1);
}

#[tokio::test]
async fn a_confirmed_downlink_the_next_uplink_does_not_acknowledge_gives_a_negative_ack_event() {
    let mut h = Harness::start().await;
    let (mut dev, session) = abp_device(0x0f0f, 0x2601_0f0f, 5);
    h.provision_abp(&dev, &session).await;

    let item = h.enqueue(dev.dev_eui, 9, true, b"please ack").await;
    h.uplink(&mut dev, &Up::data(1, b"u0"), &[heard(GW1)]).await;
    let (_, down) = h.receive(&mut dev).await;
    assert!(down.confirmed);
    h.event(EventKind::TxAck).await;
    h.session_where(dev.dev_eui, |s| s.n_f_cnt_down == 1).await;

    // The device lost it: its next uplink has no ACK bit.
    dev.ack_pending = None;
    h.uplink(&mut dev, &Up::data(1, b"u1"), &[heard(GW1)]).await;
    let Event::Ack(ack) = h.event(EventKind::Ack).await else {
        unreachable!()
    };
    assert!(!ack.acknowledged);
    assert_eq!(
        (ack.queue_item_id, ack.f_cnt_down),
        (item.id.to_string(), 0)
    );
    assert!(
        h.storage
            .list_queue_items(dev.dev_eui)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------
// When things happen (simulated time)

#[tokio::test]
async fn the_up_event_comes_as_the_window_closes_and_the_answer_after_get_downlink_data_delay() {
    let mut h = Harness::start().await;
    let (mut dev, session) = abp_device(0x1010, 0x2601_1010, 5);
    h.provision_abp(&dev, &session).await;
    h.enqueue(dev.dev_eui, 3, false, b"on time").await;
    // Each wait ends on the next whole millisecond of the timer wheel.
    let tick = Duration::from_millis(3);

    let start = tokio::time::Instant::now();
    let sent = dev.uplink(&Up::data(1, b"t"));
    h.send(&sent, &[heard(GW1)]).await;
    // A second gateway's copy 150 ms later is still in the window.
    tokio::time::sleep(Duration::from_millis(150)).await;
    h.send(&sent, &[heard(GW2)]).await;
    let up = h.up().await;
    let at = start.elapsed();
    let window = harness::DEDUPLICATION_DELAY;
    assert!(
        (window..window + tick).contains(&at),
        "the up event came {at:?} after the first copy"
    );
    assert_eq!(up.rx_info.len(), 2);

    let frame = h.downlink().await;
    let at = start.elapsed();
    let answer = window + harness::GET_DOWNLINK_DATA_DELAY;
    assert!(
        (answer..answer + tick).contains(&at),
        "the answer went to the gateway {at:?} after the first copy"
    );
    let down = dev.receive(&frame).expect("the device reads the answer");
    assert_eq!(down.data, b"on time");
    h.ack(&frame).await;
    h.event(EventKind::TxAck).await;

    // A third copy after the window closed, while the set's lock lives
    // (2 × the window): late, dropped, counted; no second `up`.
    h.send(&sent, &[heard(GW3)]).await;
    let events = h.quiet_events().await;
    assert!(
        events.iter().all(|e| e.kind() != EventKind::Up),
        "{events:?}"
    );
    let late = h
        .handle
        .counters()
        .snapshot()
        .into_iter()
        .find(|(name, _, _)| *name == "ns_dedup_frames_late_total")
        .map(|(_, _, n)| n);
    assert_eq!(late, Some(1));
}

#[tokio::test]
async fn a_downlink_whose_tx_ack_never_comes_is_forgotten_after_a_minute() {
    let mut h = Harness::start().await;
    let (mut dev, session) = abp_device(0x1111, 0x2601_1111, 5);
    h.provision_abp(&dev, &session).await;
    h.enqueue(dev.dev_eui, 3, false, b"lost").await;
    h.uplink(&mut dev, &Up::data(1, b"u0"), &[heard(GW1)]).await;
    let frame = h.downlink().await;
    let sent_at = tokio::time::Instant::now();

    tokio::time::sleep_until(sent_at + Duration::from_secs(59)).await;
    assert_eq!(get(&h.handle.counters().tx_ack_timeouts), 0);
    tokio::time::sleep_until(sent_at + Duration::from_millis(61_500)).await;
    assert_eq!(get(&h.handle.counters().tx_ack_timeouts), 1);
    // Nothing was confirmed sent: the counter and the queue are as before.
    assert_eq!(h.session(dev.dev_eui).await.n_f_cnt_down, 0);
    assert_eq!(
        h.storage.list_queue_items(dev.dev_eui).await.unwrap().len(),
        1
    );

    // The ack, a minute late, is of a downlink the server forgot.
    h.ack(&frame).await;
    let events = h.quiet_events().await;
    assert!(
        events.iter().all(|e| e.kind() != EventKind::TxAck),
        "{events:?}"
    );
    assert_eq!(get(&h.handle.counters().tx_acks_unknown), 1);
    assert_eq!(h.session(dev.dev_eui).await.n_f_cnt_down, 0);
}

// ---------------------------------------------------------------------------
// Gateway statistics

#[tokio::test]
async fn gateway_stats_are_kept_as_last_seen_metadata_position_and_metrics() {
    use ns_core::metrics::{self, Aggregation};
    let mut h = Harness::start().await;
    let lora = |spreading_factor| {
        Some(gw::Modulation {
            parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
                bandwidth: 125_000,
                spreading_factor,
                ..Default::default()
            })),
        })
    };
    let stats = gw::GatewayStats {
        gateway_id: GW1.into(),
        location: Some(gw::common::Location {
            latitude: 52.5,
            longitude: 13.4,
            altitude: 34.0,
            ..Default::default()
        }),
        rx_packets_received: 11,
        rx_packets_received_ok: 10,
        tx_packets_emitted: 2,
        metadata: [("concentratord_version".to_owned(), "4.4.0".to_owned())].into(),
        rx_packets_per_frequency: [(868_100_000, 10)].into(),
        rx_packets_per_modulation: vec![gw::PerModulationCount {
            modulation: lora(7),
            count: 10,
        }],
        tx_packets_per_status: [("OK".to_owned(), 2)].into(),
        ..Default::default()
    };
    let start = std::time::SystemTime::now();
    h.stats(GW1, stats.clone()).await;
    h.stats(GW1, stats).await;
    // From a gateway nobody registered: counted, nothing stored.
    h.stats("00000000000000ff", gw::GatewayStats::default())
        .await;
    assert!(h.quiet_events().await.is_empty());

    let gateway = h.storage.get_gateway(GW1.parse().unwrap()).await.unwrap();
    assert!(gateway.last_seen_at.is_some());
    assert_eq!(gateway.metadata["concentratord_version"], "4.4.0");
    assert_eq!((gateway.latitude, gateway.longitude), (52.5, 13.4));
    let end = std::time::SystemTime::now() + Duration::from_secs(3600);
    let series = h
        .storage
        .metrics(
            &metrics::gateway_key(GW1.parse().unwrap()),
            Aggregation::Hour,
            start,
            end,
        )
        .await
        .unwrap();
    let points = series.values().next().expect("an hour bucket");
    let sum = |name: &str| points[name].sum;
    assert_eq!(sum("rx_count"), 20.0);
    assert_eq!(sum("tx_count"), 4.0);
    assert_eq!(sum("rx_freq_868100000"), 20.0);
    assert_eq!(sum("rx_dr_5"), 20.0);
    assert_eq!(sum("tx_status_OK"), 4.0);
    let c = h.handle.counters();
    assert_eq!(get(&c.gateway_stats), 3);
    assert_eq!(get(&c.unknown_gateway_stats), 1);
    assert_eq!(get(&c.storage_errors), 0);
}
