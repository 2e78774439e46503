//! The uplink path without I/O: gateway frames through the de-duplicator,
//! then data uplinks of LoRaWAN 1.0.3 and 1.1 devices built with the
//! `lorawan` crate's builders and keys, under a fake clock.

use std::time::{Duration, Instant};

use lorawan::crypto::B1Fields;
use lorawan::keys::{AppSKey, FNwkSIntKey, NwkSEncKey, NwkSKey, SNwkSIntKey};
use lorawan::mac::{self, DevStatusAns, LinkAdrAns, MacCommand};
use lorawan::phy::{DataFrameMut, DataFrameRepr, FCtrl, FrameError, JoinRequestRepr, MType};
use lorawan::region::{self, Network, Region, Revision};
use lorawan::{DevAddr, DevNonce, Eui64, Mic};
use ns_core::dedup::{DedupConfig, Deduplicator, DropReason, Ingest, UplinkFrameSet};
use ns_core::model::{Device, DeviceProfile, DeviceSession};
use ns_core::uplink::{
    self, ADR_HISTORY_LEN, FCntCheck, RejectReason, Rejection, TxInfoError, TxParams,
};
use packet_forwarder::gw;
use uuid::Uuid;

#[path = "support/fixtures.rs"]
mod fixtures;

use fixtures::{GW1, GW2, GW3, Keys, rx};

// ---------------------------------------------------------------------------
// Gateway frames

const EU868_CH1: u32 = 868_300_000;
const EXTRA_CH: u32 = 867_100_000;

/// LoRa at 125 kHz.
fn lora(frequency: u32, spreading_factor: u32) -> gw::UplinkTxInfo {
    fixtures::lora_tx_info(frequency, spreading_factor, 125_000)
}

fn frame(
    phy_payload: &[u8],
    tx_info: gw::UplinkTxInfo,
    rx_info: gw::UplinkRxInfo,
) -> gw::UplinkFrame {
    gw::UplinkFrame {
        phy_payload: phy_payload.to_vec(),
        tx_info: Some(tx_info),
        rx_info: Some(rx_info),
        ..Default::default()
    }
}

const PHY: &[u8] = &[0x40, 4, 3, 2, 1, 0x80, 1, 0, 1, 0xa6, 0x94, 0x64, 0x26];

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------------------
// De-duplication

#[test]
fn copies_from_two_gateways_within_the_window_make_one_set() {
    let mut dedup = Deduplicator::new(DedupConfig::default());
    let t0 = Instant::now();
    let tx = lora(EU868_CH1, 7);
    assert_eq!(
        dedup.handle_frame(t0, "eu868", frame(PHY, tx.clone(), rx(GW1, 5.0, -80))),
        Ingest::Opened
    );
    assert_eq!(
        dedup.handle_frame(
            t0 + ms(150),
            "eu868",
            frame(PHY, tx.clone(), rx(GW2, -2.5, -110))
        ),
        Ingest::Merged
    );
    assert_eq!(dedup.open_sets(), 1);
    assert_eq!(dedup.poll_timeout(), Some(t0 + ms(200)));

    dedup.handle_timeout(t0 + ms(199));
    assert!(dedup.poll_set().is_none(), "the window is still open");
    dedup.handle_timeout(t0 + ms(200));
    let set = dedup.poll_set().expect("closed at the end of the window");
    assert!(dedup.poll_set().is_none());
    assert_eq!(set.phy_payload, PHY);
    assert_eq!(set.tx_info, tx);
    assert_eq!(set.region_config_id, "eu868");
    assert_eq!(set.received_at, t0);
    let gateways: Vec<&str> = set.rx_infos.iter().map(|r| r.gateway_id.as_str()).collect();
    assert_eq!(gateways, [GW1, GW2]);
    assert_eq!(dedup.open_sets(), 0);

    let c = dedup.counters();
    assert_eq!(
        (
            c.frames_received,
            c.sets_opened,
            c.frames_merged,
            c.sets_completed
        ),
        (2, 1, 1, 1)
    );
}

#[test]
fn a_copy_after_the_window_is_late_until_the_lock_expires() {
    let mut dedup = Deduplicator::new(DedupConfig::default());
    let t0 = Instant::now();
    let tx = lora(EU868_CH1, 7);
    dedup.handle_frame(t0, "eu868", frame(PHY, tx.clone(), rx(GW1, 5.0, -80)));
    // No handle_timeout: the frame itself fires the due timer first.
    assert_eq!(
        dedup.handle_frame(
            t0 + ms(250),
            "eu868",
            frame(PHY, tx.clone(), rx(GW2, 5.0, -80))
        ),
        Ingest::Dropped(DropReason::Late)
    );
    let set = dedup
        .poll_set()
        .expect("the set closed before the late copy");
    assert_eq!(set.rx_infos.len(), 1);
    // The lock lives max(2 × 200 ms, 200 ms) from the first copy.
    assert_eq!(dedup.poll_timeout(), Some(t0 + ms(400)));
    dedup.handle_timeout(t0 + ms(400));
    assert_eq!(dedup.poll_timeout(), None);
    assert_eq!(
        dedup.handle_frame(t0 + ms(401), "eu868", frame(PHY, tx, rx(GW2, 5.0, -80))),
        Ingest::Opened,
        "a later copy is a new frame (the FCnt rules reject a replay)"
    );
    assert_eq!(dedup.counters().frames_late, 1);
}

#[test]
fn the_same_frame_on_two_frequencies_or_regions_is_not_merged() {
    let mut dedup = Deduplicator::new(DedupConfig::default());
    let t0 = Instant::now();
    let a = dedup.handle_frame(
        t0,
        "eu868",
        frame(PHY, lora(EU868_CH1, 7), rx(GW1, 1.0, -90)),
    );
    let b = dedup.handle_frame(
        t0,
        "eu868",
        frame(PHY, lora(868_500_000, 7), rx(GW2, 1.0, -90)),
    );
    let c = dedup.handle_frame(
        t0,
        "eu868",
        frame(PHY, lora(EU868_CH1, 8), rx(GW2, 1.0, -90)),
    );
    let d = dedup.handle_frame(
        t0,
        "eu868_b",
        frame(PHY, lora(EU868_CH1, 7), rx(GW3, 1.0, -90)),
    );
    assert_eq!([a, b, c, d], [Ingest::Opened; 4]);
    dedup.handle_timeout(t0 + ms(200));
    let mut ids = Vec::new();
    while let Some(set) = dedup.poll_set() {
        assert_eq!(set.rx_infos.len(), 1);
        ids.push(set.deduplication_id);
    }
    assert_eq!(ids.len(), 4);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "every set has its own deduplication_id");
}

#[test]
fn a_gateway_reporting_twice_keeps_its_best_snr() {
    let mut dedup = Deduplicator::new(DedupConfig::default());
    let t0 = Instant::now();
    let tx = lora(EU868_CH1, 7);
    dedup.handle_frame(t0, "eu868", frame(PHY, tx.clone(), rx(GW1, 2.0, -100)));
    dedup.handle_frame(t0, "eu868", frame(PHY, tx.clone(), rx(GW2, 0.0, -100)));
    assert_eq!(
        dedup.handle_frame(
            t0 + ms(1),
            "eu868",
            frame(PHY, tx.clone(), rx(GW1, 7.5, -90))
        ),
        Ingest::SameGateway { replaced: true }
    );
    assert_eq!(
        dedup.handle_frame(
            t0 + ms(2),
            "eu868",
            frame(PHY, tx.clone(), rx(GW1, 3.0, -70))
        ),
        Ingest::SameGateway { replaced: false }
    );
    // Gateway IDs compare without regard to case.
    assert_eq!(
        dedup.handle_frame(
            t0 + ms(3),
            "eu868",
            frame(PHY, tx, rx("0A0A0A0A0A0A0A0A", 1.0, -1))
        ),
        Ingest::Merged
    );
    dedup.handle_timeout(t0 + ms(200));
    let set = dedup.poll_set().unwrap();
    let summary: Vec<(&str, f32, i32)> = set
        .rx_infos
        .iter()
        .map(|r| (r.gateway_id.as_str(), r.snr, r.rssi))
        .collect();
    assert_eq!(
        summary,
        [
            (GW1, 7.5, -90),
            (GW2, 0.0, -100),
            ("0A0A0A0A0A0A0A0A", 1.0, -1)
        ]
    );
    assert_eq!(dedup.counters().frames_same_gateway, 2);
}

#[test]
fn caps_drop_and_count_excess_frames() {
    let mut config = DedupConfig::default();
    config.max_open_sets = 2;
    config.max_rx_infos_per_set = 2;
    let mut dedup = Deduplicator::new(config);
    let t0 = Instant::now();
    let tx = lora(EU868_CH1, 7);
    let other = |b: u8| {
        let mut p = PHY.to_vec();
        p[9] = b;
        p
    };
    assert_eq!(
        dedup.handle_frame(t0, "eu868", frame(&other(1), tx.clone(), rx(GW1, 0.0, 0))),
        Ingest::Opened
    );
    assert_eq!(
        dedup.handle_frame(t0, "eu868", frame(&other(2), tx.clone(), rx(GW1, 0.0, 0))),
        Ingest::Opened
    );
    assert_eq!(
        dedup.handle_frame(t0, "eu868", frame(&other(3), tx.clone(), rx(GW1, 0.0, 0))),
        Ingest::Dropped(DropReason::TooManyOpenSets)
    );
    // An open set still takes copies while the cap holds.
    assert_eq!(
        dedup.handle_frame(t0, "eu868", frame(&other(1), tx.clone(), rx(GW2, 0.0, 0))),
        Ingest::Merged
    );
    assert_eq!(
        dedup.handle_frame(t0, "eu868", frame(&other(1), tx.clone(), rx(GW3, 0.0, 0))),
        Ingest::Dropped(DropReason::TooManyGateways)
    );
    // Closing frees room.
    dedup.handle_timeout(t0 + ms(200));
    assert_eq!(
        dedup.handle_frame(t0 + ms(200), "eu868", frame(&other(3), tx, rx(GW1, 0.0, 0))),
        Ingest::Opened
    );
    let c = *dedup.counters();
    assert_eq!(
        (c.dropped_too_many_sets, c.dropped_too_many_gateways),
        (1, 1)
    );
    assert_eq!(c.sets_opened, 3);
}

#[test]
fn locks_are_bounded_like_open_sets() {
    // A 10 ms window keeps locks for 200 ms: twenty times as many locks as
    // open sets unless they are bounded too.
    let mut config = DedupConfig::default();
    config.deduplication_delay = ms(10);
    config.max_open_sets = 1;
    let mut dedup = Deduplicator::new(config);
    let t0 = Instant::now();
    let tx = lora(EU868_CH1, 7);
    let (a, mut b) = (PHY.to_vec(), PHY.to_vec());
    b[9] = 0;
    dedup.handle_frame(t0, "eu868", frame(&a, tx.clone(), rx(GW1, 0.0, 0)));
    dedup.handle_timeout(t0 + ms(10));
    dedup.handle_frame(t0 + ms(20), "eu868", frame(&b, tx.clone(), rx(GW1, 0.0, 0)));
    dedup.handle_timeout(t0 + ms(30));
    assert_eq!(
        dedup.handle_frame(t0 + ms(40), "eu868", frame(&b, tx.clone(), rx(GW2, 0.0, 0))),
        Ingest::Dropped(DropReason::Late)
    );
    assert_eq!(
        dedup.handle_frame(t0 + ms(40), "eu868", frame(&a, tx, rx(GW2, 0.0, 0))),
        Ingest::Opened,
        "the oldest lock made room for the newer one"
    );
}

#[test]
fn unusable_gateway_frames_are_dropped() {
    let mut dedup = Deduplicator::new(DedupConfig::default());
    let t0 = Instant::now();
    let mut no_tx = frame(PHY, lora(EU868_CH1, 7), rx(GW1, 0.0, 0));
    no_tx.tx_info = None;
    let mut no_rx = frame(PHY, lora(EU868_CH1, 7), rx(GW1, 0.0, 0));
    no_rx.rx_info = None;
    assert_eq!(
        dedup.handle_frame(t0, "eu868", no_tx),
        Ingest::Dropped(DropReason::MissingTxInfo)
    );
    assert_eq!(
        dedup.handle_frame(t0, "eu868", no_rx),
        Ingest::Dropped(DropReason::MissingRxInfo)
    );
    assert_eq!(
        dedup.handle_frame(t0, "eu868", frame(&[], lora(EU868_CH1, 7), rx(GW1, 0.0, 0))),
        Ingest::Dropped(DropReason::PhyPayloadLength(0))
    );
    assert_eq!(
        dedup.handle_frame(
            t0,
            "eu868",
            frame(&[0x40; 256], lora(EU868_CH1, 7), rx(GW1, 0.0, 0))
        ),
        Ingest::Dropped(DropReason::PhyPayloadLength(256))
    );
    assert_eq!(dedup.counters().dropped_malformed, 4);
    assert_eq!(dedup.poll_timeout(), None);
}

// ---------------------------------------------------------------------------
// Devices and their frames

/// What one uplink carries.
#[derive(Clone)]
struct Up<'a> {
    mtype: MType,
    fctrl: FCtrl,
    f_cnt: u32,
    fopts: &'a [u8],
    f_port: Option<u8>,
    payload: &'a [u8],
    /// LoRaWAN 1.1 B1 fields.
    b1: B1Fields,
}

impl Default for Up<'_> {
    fn default() -> Self {
        Self {
            mtype: MType::UnconfirmedDataUp,
            fctrl: FCtrl::default(),
            f_cnt: 0,
            fopts: &[],
            f_port: Some(1),
            payload: b"hello",
            // EU868 868.3 MHz SF7: DR5, channel 1.
            b1: B1Fields {
                conf_f_cnt: 0,
                tx_dr: 5,
                tx_ch: 1,
            },
        }
    }
}

/// Encrypts and signs an uplink as the device would.
fn build(keys: &Keys, up: &Up<'_>) -> Vec<u8> {
    let repr = DataFrameRepr {
        mtype: up.mtype,
        dev_addr: keys.dev_addr,
        fctrl: up.fctrl,
        fcnt: up.f_cnt,
        fopts: up.fopts,
        fport: up.f_port,
        frm_payload: up.payload,
    };
    let mut buf = vec![0; repr.buffer_len()];
    let n = repr.emit(Mic::default(), &mut buf).unwrap();
    let mut f = DataFrameMut::new_checked(&mut buf[..n]).unwrap();
    let nwk_s_enc_key = NwkSEncKey::from_be_bytes(keys.nwk_s_enc_key).keyed();
    match up.f_port {
        Some(0) => f.crypt_frm_payload(&nwk_s_enc_key, up.f_cnt).unwrap(),
        Some(_) => f
            .crypt_frm_payload(&AppSKey::from_be_bytes(keys.app_s_key).keyed(), up.f_cnt)
            .unwrap(),
        None => {}
    }
    if keys.version.is_1_1() {
        f.crypt_fopts(&nwk_s_enc_key, up.f_cnt);
        f.set_uplink_mic_11(
            &FNwkSIntKey::from_be_bytes(keys.f_nwk_s_int_key).keyed(),
            &SNwkSIntKey::from_be_bytes(keys.s_nwk_s_int_key).keyed(),
            up.b1,
            up.f_cnt,
        )
        .unwrap();
    } else {
        f.set_uplink_mic_10(
            &NwkSKey::from_be_bytes(keys.f_nwk_s_int_key).keyed(),
            up.f_cnt,
        )
        .unwrap();
    }
    buf
}

/// The network side: a session for these keys expecting `f_cnt_up` next,
/// at DR5 with ADR off, on the three default channels and one extra.
fn session(keys: &Keys, f_cnt_up: u32) -> DeviceSession {
    fixtures::keyed_session(
        keys,
        serde_json::json!({
            "f_cnt_up": f_cnt_up,
            "enabled_uplink_channel_indices": [0, 1, 2, 3],
            "extra_uplink_channels": [{"frequency": EXTRA_CH, "min_dr": 0, "max_dr": 5}],
            "adr": false,
            "dr": 5,
            "tx_power_index": 2,
            "max_supported_tx_power_index": 7,
        }),
    )
}

fn device(eui: u64, keys: &Keys, f_cnt_up: u32) -> (Device, DeviceProfile) {
    let profile = fixtures::profile(Region::Eu868, keys.version, Revision::Rp002_1_0_3);
    let mut device = Device::new(Eui64::from_u64(eui), Uuid::new_v4(), profile.id, "device");
    device.session = Some(session(keys, f_cnt_up));
    (device, profile)
}

/// EU868 with one extra channel (867.1 MHz, index 3).
fn network() -> Network {
    fixtures::network(Region::Eu868, |c| {
        c.network.extra_channels = vec![region::ExtraChannel {
            frequency: EXTRA_CH,
            min_dr: 0,
            max_dr: 5,
        }];
    })
}

/// A frame set as the de-duplicator makes it, heard on 868.3 MHz SF7.
fn set_of(phy_payload: Vec<u8>, rx_infos: Vec<gw::UplinkRxInfo>) -> UplinkFrameSet {
    set_on(phy_payload, lora(EU868_CH1, 7), rx_infos)
}

fn set_on(
    phy_payload: Vec<u8>,
    tx_info: gw::UplinkTxInfo,
    rx_infos: Vec<gw::UplinkRxInfo>,
) -> UplinkFrameSet {
    UplinkFrameSet::new("eu868", phy_payload, tx_info, rx_infos, Instant::now())
}

fn one_gateway() -> Vec<gw::UplinkRxInfo> {
    vec![rx(GW1, 6.5, -70)]
}

fn reason(result: Result<uplink::DataUplink, Rejection>) -> RejectReason {
    result.expect_err("the uplink must be rejected").reason
}

// ---------------------------------------------------------------------------
// Data uplinks

#[test]
fn known_answer_frame_of_the_lorawan_crate_decrypts() {
    // The example frame of the `lorawan` crate: NwkSKey 02…, AppSKey 01…,
    // FCnt 1, FPort 1, "hello".
    let keys = Keys {
        app_s_key: [1; 16],
        ..Keys::v1_0(0x0102_0304, 2)
    };
    let phy = vec![
        0x40, 0x04, 0x03, 0x02, 0x01, 0x80, 0x01, 0x00, 0x01, 0xa6, 0x94, 0x64, 0x26, 0x15, 0xd6,
        0xc3, 0xb5, 0x82,
    ];
    let candidates = [device(1, &keys, 1)];
    let up =
        uplink::handle_data_uplink(&network(), &set_of(phy, one_gateway()), &candidates).unwrap();
    assert_eq!(up.data(), b"hello");
    assert_eq!((up.f_cnt, up.f_port, up.adr), (1, Some(1), true));
    assert_eq!(up.f_cnt_check, FCntCheck::Passed);
    assert_eq!(up.tx_params, TxParams { dr: 5, channel: 1 });
}

#[test]
fn the_mic_picks_the_device_among_candidates_sharing_a_dev_addr() {
    let addr = 0x2601_1234;
    let (a, b, c) = (
        Keys::v1_0(addr, 0x10),
        Keys::v1_1(addr, 0x20),
        Keys::v1_0(addr, 0x30),
    );
    let candidates = [device(0xa, &a, 0), device(0xb, &b, 0), device(0xc, &c, 7)];
    let phy = build(
        &c,
        &Up {
            f_cnt: 7,
            ..Up::default()
        },
    );
    let up =
        uplink::handle_data_uplink(&network(), &set_of(phy, one_gateway()), &candidates).unwrap();
    assert_eq!(up.device.dev_eui, Eui64::from_u64(0xc));
    assert_eq!(up.data(), b"hello");

    let phy = build(
        &b,
        &Up {
            f_cnt: 3,
            ..Up::default()
        },
    );
    let up =
        uplink::handle_data_uplink(&network(), &set_of(phy, one_gateway()), &candidates).unwrap();
    assert_eq!(up.device.dev_eui, Eui64::from_u64(0xb));

    // A device whose keys nobody holds.
    let stranger = Keys::v1_0(addr, 0x40);
    let phy = build(&stranger, &Up::default());
    let result = uplink::handle_data_uplink(&network(), &set_of(phy, one_gateway()), &candidates);
    let rejection = result.unwrap_err();
    assert_eq!(
        rejection.reason,
        RejectReason::InvalidMic(DevAddr::from_u32(addr))
    );
    assert!(rejection.device.is_none());
    assert_eq!(rejection.reason.log_code(), None);
}

#[test]
fn no_session_in_the_receiving_region_is_an_unknown_dev_addr() {
    let keys = Keys::v1_0(0x2601_0001, 0x10);
    let phy = build(&keys, &Up::default());
    let (mut dev, profile) = device(1, &keys, 0);
    if let Some(s) = dev.session.as_mut() {
        s.region_config_id = "us915_0".into();
    }
    let addr = keys.dev_addr;
    let set = set_of(phy.clone(), one_gateway());
    assert_eq!(
        reason(uplink::handle_data_uplink(
            &network(),
            &set,
            &[(dev.clone(), profile.clone())]
        )),
        RejectReason::UnknownDevAddr(addr)
    );
    // A session without a region configuration (an ABP device before its
    // first uplink) matches any.
    if let Some(s) = dev.session.as_mut() {
        s.region_config_id.clear();
    }
    let up = uplink::handle_data_uplink(&network(), &set, &[(dev, profile)]).unwrap();
    assert_eq!(up.session.region_config_id, "eu868");
    assert_eq!(uplink::data_uplink_dev_addr(&phy), Ok(addr));
}

#[test]
fn fcnt_rollover_past_16_bits_is_accepted() {
    let keys = Keys::v1_0(0x2601_0002, 0x11);
    // The device is at 65 539 and sends its 16 low bits, 3.
    let phy = build(
        &keys,
        &Up {
            f_cnt: 65_539,
            ..Up::default()
        },
    );
    assert_eq!(&phy[6..8], &[3, 0]);
    let candidates = [device(1, &keys, 65_530)];
    let up =
        uplink::handle_data_uplink(&network(), &set_of(phy, one_gateway()), &candidates).unwrap();
    assert_eq!(up.f_cnt, 65_539);
    assert_eq!(up.f_cnt_check, FCntCheck::Passed);
    assert_eq!(up.session.f_cnt_up, 65_540);
    assert_eq!(up.stored_f_cnt_up, 65_530, "the guard is the value read");
    assert_eq!(up.data(), b"hello");
}

#[test]
fn a_retransmission_is_rejected_with_its_log_code() {
    let keys = Keys::v1_0(0x2601_0003, 0x12);
    let phy = build(
        &keys,
        &Up {
            f_cnt: 10,
            ..Up::default()
        },
    );
    let candidates = [device(1, &keys, 11)];
    let rejection =
        uplink::handle_data_uplink(&network(), &set_of(phy, one_gateway()), &candidates)
            .unwrap_err();
    assert_eq!(
        rejection.reason,
        RejectReason::FCntRetransmission {
            f_cnt: 10,
            expected: 11
        }
    );
    assert_eq!(
        rejection.reason.log_code(),
        Some("UPLINK_F_CNT_RETRANSMISSION")
    );
    let (dev, _) = *rejection
        .device
        .expect("the device is known for the log event");
    assert_eq!(dev.dev_eui, Eui64::from_u64(1));
}

#[test]
fn a_counter_reset_is_rejected_with_its_log_code() {
    let keys = Keys::v1_0(0x2601_0004, 0x13);
    // The device restarted at 0 and is at 3; the server expects 500. The
    // rebuilt counter (65 539) fails the MIC; the raw 16 bits pass it.
    let phy = build(
        &keys,
        &Up {
            f_cnt: 3,
            ..Up::default()
        },
    );
    let candidates = [device(1, &keys, 500)];
    let rejection =
        uplink::handle_data_uplink(&network(), &set_of(phy, one_gateway()), &candidates)
            .unwrap_err();
    assert_eq!(
        rejection.reason,
        RejectReason::FCntReset {
            f_cnt: 3,
            expected: 500
        }
    );
    assert_eq!(rejection.reason.log_code(), Some("UPLINK_F_CNT_RESET"));
    assert!(rejection.device.is_some());
}

#[test]
fn skip_fcnt_check_accepts_resets_and_retransmissions() {
    let keys = Keys::v1_0(0x2601_0005, 0x14);
    let (mut dev, profile) = device(1, &keys, 500);
    dev.skip_fcnt_check = true;

    let phy = build(
        &keys,
        &Up {
            f_cnt: 3,
            ..Up::default()
        },
    );
    let up = uplink::handle_data_uplink(
        &network(),
        &set_of(phy.clone(), one_gateway()),
        &[(dev.clone(), profile.clone())],
    )
    .unwrap();
    assert_eq!(up.f_cnt_check, FCntCheck::SkippedReset);
    assert_eq!(up.f_cnt, 3);
    assert_eq!(
        up.session.f_cnt_up, 4,
        "the counter follows the device back"
    );
    assert_eq!(up.stored_f_cnt_up, 500);
    assert_eq!(up.session.uplink_adr_history.len(), 1);

    // The same frame again, against the stored session: a retransmission,
    // accepted, but not counted twice for ADR.
    dev.session = Some(up.session);
    let again =
        uplink::handle_data_uplink(&network(), &set_of(phy, one_gateway()), &[(dev, profile)])
            .unwrap();
    assert_eq!(again.f_cnt_check, FCntCheck::SkippedRetransmission);
    assert_eq!(again.session.f_cnt_up, 4);
    assert_eq!(again.session.uplink_adr_history.len(), 1);
}

#[test]
fn a_disabled_device_is_rejected_after_its_mic_matched() {
    let keys = Keys::v1_0(0x2601_0006, 0x15);
    let (mut dev, profile) = device(1, &keys, 0);
    dev.is_disabled = true;
    let phy = build(&keys, &Up::default());
    let rejection =
        uplink::handle_data_uplink(&network(), &set_of(phy, one_gateway()), &[(dev, profile)])
            .unwrap_err();
    assert_eq!(rejection.reason, RejectReason::Disabled);
    assert!(rejection.device.is_some());
}

#[test]
fn a_profile_of_another_region_is_rejected() {
    let keys = Keys::v1_0(0x2601_0007, 0x16);
    let (dev, mut profile) = device(1, &keys, 0);
    profile.region = Region::Us915;
    let phy = build(&keys, &Up::default());
    let result =
        uplink::handle_data_uplink(&network(), &set_of(phy, one_gateway()), &[(dev, profile)]);
    assert_eq!(
        reason(result),
        RejectReason::RegionMismatch {
            device_profile: "US915".into(),
            received: "EU868".into()
        }
    );
}

#[test]
fn lorawan_1_1_fopts_are_decrypted_and_parsed() {
    let keys = Keys::v1_1(0x2601_0008, 0x40);
    let commands = [
        MacCommand::LinkAdrAns(LinkAdrAns {
            power_ack: true,
            data_rate_ack: true,
            channel_mask_ack: false,
        }),
        MacCommand::DevStatusAns(DevStatusAns {
            battery: 200,
            margin: -5,
        }),
    ];
    let mut fopts = [0u8; 15];
    let n = mac::emit_all(&commands, &mut fopts).unwrap();
    let phy = build(
        &keys,
        &Up {
            f_cnt: 42,
            fopts: &fopts[..n],
            ..Up::default()
        },
    );
    assert_ne!(&phy[8..8 + n], &fopts[..n], "FOpts travel encrypted");
    let candidates = [device(1, &keys, 40)];
    let up =
        uplink::handle_data_uplink(&network(), &set_of(phy, one_gateway()), &candidates).unwrap();
    assert_eq!(up.mac_commands, commands);
    assert_eq!(up.mac_command_error, None);
    assert_eq!(up.data(), b"hello");
    assert_eq!(up.f_cnt, 42);
}

#[test]
fn lorawan_1_1_mic_binds_the_data_rate_and_channel() {
    let keys = Keys::v1_1(0x2601_0009, 0x50);
    let candidates = [device(1, &keys, 0)];
    // Signed for channel 3 (867.1 MHz, an extra channel) at DR5.
    let up = Up {
        b1: B1Fields {
            conf_f_cnt: 0,
            tx_dr: 5,
            tx_ch: 3,
        },
        ..Up::default()
    };
    let phy = build(&keys, &up);
    let on_extra = set_on(phy.clone(), lora(EXTRA_CH, 7), one_gateway());
    let ok = uplink::handle_data_uplink(&network(), &on_extra, &candidates).unwrap();
    assert_eq!(ok.tx_params, TxParams { dr: 5, channel: 3 });
    // The same bytes heard on channel 1: cmacS no longer matches.
    let on_ch1 = set_of(phy, one_gateway());
    assert_eq!(
        reason(uplink::handle_data_uplink(&network(), &on_ch1, &candidates)),
        RejectReason::InvalidMic(keys.dev_addr)
    );
}

#[test]
fn lorawan_1_1_ack_is_checked_with_conf_f_cnt() {
    let keys = Keys::v1_1(0x2601_000a, 0x60);
    let (mut dev, profile) = device(1, &keys, 9);
    if let Some(s) = dev.session.as_mut() {
        s.conf_f_cnt = 0x1_0005; // the confirmed downlink's NFCntDown; 16 bits count
    }
    let up = Up {
        f_cnt: 9,
        fctrl: FCtrl::default().with_ack(true),
        b1: B1Fields {
            conf_f_cnt: 5,
            ..Up::default().b1
        },
        ..Up::default()
    };
    let phy = build(&keys, &up);
    let candidates = [(dev, profile)];
    let accepted =
        uplink::handle_data_uplink(&network(), &set_of(phy, one_gateway()), &candidates).unwrap();
    assert!(accepted.ack);

    // Signed with a ConfFCnt other than the session's: not this device.
    let wrong = Up {
        b1: B1Fields {
            conf_f_cnt: 4,
            ..up.b1
        },
        ..up
    };
    let phy = build(&keys, &wrong);
    assert_eq!(
        reason(uplink::handle_data_uplink(
            &network(),
            &set_of(phy, one_gateway()),
            &candidates
        )),
        RejectReason::InvalidMic(keys.dev_addr)
    );
}

#[test]
fn fport_0_carries_mac_commands_under_the_network_key() {
    let keys = Keys::v1_0(0x2601_000b, 0x17);
    let commands = [
        MacCommand::LinkCheckReq,
        MacCommand::DevStatusAns(DevStatusAns {
            battery: 0,
            margin: 12,
        }),
    ];
    let mut payload = [0u8; 15];
    let n = mac::emit_all(&commands, &mut payload).unwrap();
    let phy = build(
        &keys,
        &Up {
            f_port: Some(0),
            payload: &payload[..n],
            ..Up::default()
        },
    );
    let candidates = [device(1, &keys, 0)];
    let up =
        uplink::handle_data_uplink(&network(), &set_of(phy, one_gateway()), &candidates).unwrap();
    assert_eq!(up.f_port, Some(0));
    assert_eq!(up.mac_commands, commands);
    assert_eq!(up.frm_payload, &payload[..n]);
    assert!(up.data().is_empty(), "no application data on FPort 0");
}

#[test]
fn an_unreadable_mac_command_ends_the_list_but_not_the_uplink() {
    let keys = Keys::v1_0(0x2601_000c, 0x18);
    // LinkCheckReq, then CID 0x7f, which no uplink command has.
    let phy = build(
        &keys,
        &Up {
            fopts: &[0x02, 0x7f, 0x00],
            ..Up::default()
        },
    );
    let candidates = [device(1, &keys, 0)];
    let up =
        uplink::handle_data_uplink(&network(), &set_of(phy, one_gateway()), &candidates).unwrap();
    assert_eq!(up.mac_commands, [MacCommand::LinkCheckReq]);
    assert!(matches!(
        up.mac_command_error,
        Some(mac::MacError::UnknownCid {
            cid: 0x7f,
            offset: 1,
            ..
        })
    ));
    assert_eq!(up.data(), b"hello");
}

#[test]
fn confirmed_uplink_flags_and_the_new_session() {
    let keys = Keys::v1_0(0x2601_000d, 0x19);
    let phy = build(
        &keys,
        &Up {
            mtype: MType::ConfirmedDataUp,
            fctrl: FCtrl::default()
                .with_adr(true)
                .with_adr_ack_req(true)
                .with_ack(true)
                .with_f_pending(true),
            f_cnt: 20,
            f_port: Some(10),
            payload: &[1, 2, 3],
            ..Up::default()
        },
    );
    let candidates = [device(1, &keys, 20)];
    let up =
        uplink::handle_data_uplink(&network(), &set_of(phy, one_gateway()), &candidates).unwrap();
    assert!(up.confirmed && up.adr && up.adr_ack_req && up.ack && up.class_b);
    assert_eq!((up.f_port, up.data()), (Some(10), &[1u8, 2, 3][..]));
    let s = &up.session;
    assert_eq!(s.f_cnt_up, 21);
    assert!(s.adr);
    assert_eq!(s.dr, 5);
    assert_eq!(s.tx_power_index, 2, "same data rate: TX power kept");
    // ADRACKReq: back to the plan's default channels, extra ones dropped.
    assert_eq!(s.enabled_uplink_channel_indices, [0, 1, 2]);
    assert!(s.extra_uplink_channels.is_empty());
    assert_eq!(up.rx_infos, one_gateway());
    assert_eq!(up.region_config_id, "eu868");
}

#[test]
fn adr_history_records_the_best_gateway_and_resets_on_a_new_data_rate() {
    let keys = Keys::v1_0(0x2601_000e, 0x1a);
    let (mut dev, profile) = device(1, &keys, 0);
    let gateways = vec![rx(GW1, -4.0, -115), rx(GW2, 3.25, -101), rx(GW3, 1.0, -99)];
    // 25 uplinks at DR5: the history keeps the last 20.
    for f_cnt in 0..25 {
        let phy = build(
            &keys,
            &Up {
                f_cnt,
                ..Up::default()
            },
        );
        let up = uplink::handle_data_uplink(
            &network(),
            &set_of(phy, gateways.clone()),
            &[(dev.clone(), profile.clone())],
        )
        .unwrap();
        dev.session = Some(up.session);
    }
    let s = dev.session.clone().unwrap();
    assert_eq!(s.uplink_adr_history.len(), ADR_HISTORY_LEN);
    let first = s.uplink_adr_history.first().unwrap();
    let last = s.uplink_adr_history.last().unwrap();
    assert_eq!((first.f_cnt, last.f_cnt), (5, 24));
    assert_eq!(
        (last.max_snr, last.max_rssi, last.gateway_count),
        (3.25, -99, 3)
    );
    assert_eq!(last.tx_power_index, 2);

    // The device moves to DR4 (SF8): TX power and history start over.
    let up_dr4 = Up {
        f_cnt: 25,
        b1: B1Fields {
            tx_dr: 4,
            ..Up::default().b1
        },
        ..Up::default()
    };
    let phy = build(&keys, &up_dr4);
    let set = set_on(phy, lora(EU868_CH1, 8), vec![rx(GW1, -10.0, -120)]);
    let up = uplink::handle_data_uplink(&network(), &set, &[(dev, profile)]).unwrap();
    assert_eq!(up.tx_params.dr, 4);
    assert_eq!(up.session.dr, 4);
    assert_eq!(up.session.tx_power_index, 0);
    assert_eq!(up.session.uplink_adr_history.len(), 1);
    let entry = up.session.uplink_adr_history[0];
    assert_eq!(
        (
            entry.f_cnt,
            entry.max_snr,
            entry.gateway_count,
            entry.tx_power_index
        ),
        (25, -10.0, 1, 0)
    );
}

#[test]
fn frames_that_are_not_data_uplinks_are_told_apart() {
    let keys = Keys::v1_0(0x2601_000f, 0x1b);
    let candidates = [device(1, &keys, 0)];
    let net = network();

    let join = JoinRequestRepr {
        join_eui: Eui64::from_u64(1),
        dev_eui: Eui64::from_u64(2),
        dev_nonce: DevNonce(3),
    };
    let mut buf = [0u8; 23];
    let n = join
        .build(
            &lorawan::keys::AppKey::from_be_bytes([0; 16]).keyed(),
            &mut buf,
        )
        .unwrap();
    let set = set_of(buf[..n].to_vec(), one_gateway());
    assert_eq!(
        reason(uplink::handle_data_uplink(&net, &set, &candidates)),
        RejectReason::NotData(MType::JoinRequest)
    );

    // A downlink (unsigned: only its MType matters here).
    let down_repr = DataFrameRepr {
        mtype: MType::UnconfirmedDataDown,
        dev_addr: keys.dev_addr,
        fctrl: FCtrl::default(),
        fcnt: 1,
        fopts: &[],
        fport: None,
        frm_payload: &[],
    };
    let mut down = [0u8; 12];
    down_repr.emit(Mic::default(), &mut down).unwrap();
    assert_eq!(
        uplink::data_uplink_dev_addr(&down),
        Err(RejectReason::NotData(MType::UnconfirmedDataDown))
    );
    assert!(matches!(
        uplink::data_uplink_dev_addr(&[0x40, 1, 2]),
        Err(RejectReason::Malformed(FrameError::Truncated { .. }))
    ));
}

#[test]
fn transmission_parameters_the_region_lacks_are_rejected() {
    let net = network();
    let keys = Keys::v1_0(0x2601_0010, 0x1c);
    let candidates = [device(1, &keys, 0)];
    let phy = build(&keys, &Up::default());

    let mut no_modulation = lora(EU868_CH1, 7);
    no_modulation.modulation = None;
    assert_eq!(
        uplink::tx_params(&net, &no_modulation),
        Err(TxInfoError::MissingModulation)
    );
    assert_eq!(
        uplink::tx_params(&net, &lora(868_900_000, 7)),
        Err(TxInfoError::UnknownChannel {
            frequency: 868_900_000,
            dr: 5
        })
    );
    assert!(matches!(
        uplink::tx_params(&net, &lora(EU868_CH1, 13)),
        Err(TxInfoError::UnknownDataRate(_))
    ));
    let set = set_on(phy, lora(868_900_000, 7), one_gateway());
    assert!(matches!(
        reason(uplink::handle_data_uplink(&net, &set, &candidates)),
        RejectReason::TxInfo(TxInfoError::UnknownChannel { .. })
    ));
}

// ---------------------------------------------------------------------------
// Robustness

/// xorshift64*: a fixed, dependency-free source of test bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn arbitrary_phy_payloads_never_panic() {
    let addr = 0x2601_0011;
    let v10 = Keys::v1_0(addr, 0x21);
    let v11 = Keys::v1_1(addr, 0x31);
    let candidates = [device(1, &v10, 65_530), device(2, &v11, 3)];
    let net = network();
    let valid = [
        build(
            &v10,
            &Up {
                f_cnt: 65_539,
                fopts: &[0x02],
                ..Up::default()
            },
        ),
        build(
            &v11,
            &Up {
                f_cnt: 3,
                fopts: &[0x03, 0x07],
                ..Up::default()
            },
        ),
        build(
            &v10,
            &Up {
                f_port: Some(0),
                payload: &[0x06, 0xff, 0x3f],
                ..Up::default()
            },
        ),
    ];
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut dedup = Deduplicator::new(DedupConfig::default());
    let mut now = Instant::now();
    let mut forged = 0;
    // Intact frames accepted, MIC checks failed, parse errors: proof that
    // the loop reaches past the parser.
    let mut reached = [0; 3];
    for i in 0..30_000 {
        let mut original = None;
        let phy = if i % 2 == 0 {
            // Random bytes, with data-uplink MHDRs and the candidates'
            // DevAddr often enough to reach the MIC and decryption code.
            let len = rng.below(270) as usize;
            let mut p = rng.bytes(len);
            if len >= 5 && rng.below(2) == 0 {
                p[0] = [0x40, 0x80][rng.below(2) as usize];
                p[1..5].copy_from_slice(&DevAddr::from_u32(addr).to_le_bytes());
            }
            p
        } else {
            // A valid frame with a few bytes flipped, cut or extended.
            let mut p = valid[rng.below(3) as usize].clone();
            original = Some(p.clone());
            for _ in 0..=rng.below(3) {
                let at = rng.below(p.len() as u64) as usize;
                p[at] ^= 1 << rng.below(8);
            }
            match rng.below(4) {
                0 => p.truncate(rng.below(p.len() as u64 + 1) as usize),
                1 => {
                    let n = rng.below(8) as usize;
                    p.extend(rng.bytes(n));
                }
                _ => {}
            }
            p
        };
        let _ = uplink::data_uplink_dev_addr(&phy);
        let tx = if rng.below(8) == 0 {
            lora(EXTRA_CH, rng.below(16) as u32)
        } else {
            lora(EU868_CH1, 7)
        };
        let set = set_on(phy.clone(), tx.clone(), one_gateway());
        let changed = original.is_none_or(|o| o != phy);
        match uplink::handle_data_uplink(&net, &set, &candidates) {
            Ok(_) if changed => forged += 1,
            Ok(_) => reached[0] += 1,
            Err(r) if matches!(r.reason, RejectReason::InvalidMic(_)) => reached[1] += 1,
            Err(r) if matches!(r.reason, RejectReason::Malformed(_)) => reached[2] += 1,
            Err(_) => {}
        }
        now += Duration::from_micros(rng.below(50_000));
        dedup.handle_frame(now, "eu868", frame(&phy, tx, rx(GW1, 0.0, 0)));
        while let Some(set) = dedup.poll_set() {
            let _ = uplink::handle_data_uplink(&net, &set, &candidates);
        }
    }
    // Any change to a frame breaks its MIC (2^-32 odds of a false match).
    assert_eq!(forged, 0, "a changed frame passed the MIC");
    assert!(reached.iter().all(|&n| n > 0), "{reached:?}");
    let c = dedup.counters();
    assert_eq!(c.frames_received, 30_000);
}
