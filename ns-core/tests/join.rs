//! The built-in join server from the outside: known-answer join-accepts,
//! device-side round trips for LoRaWAN 1.0.3 and 1.1, CFLists, the downlink,
//! DevAddr allocation, every refusal, and arbitrary bytes.
//!
//! The known answers (join-accept bytes and session keys) were computed
//! independently with Python's `cryptography` (AES-ECB and AES-CMAC) from the
//! formulas of the LoRaWAN 1.0.4 and 1.1 specifications; the same script
//! reproduces the crate's 1.0 vector `2023cf33…` (AppKey `0102…10`) and the
//! join-request MIC `09b97b32`.

use std::collections::BTreeSet;

use lorawan::crypto;
use lorawan::keys::{AppKey, NwkKey};
use lorawan::phy::{EncryptedJoinAccept, Frame, JoinRequestRepr, JoinType};
use lorawan::region::{
    Channel, ChannelSet, DeviceChannels, ExtraChannel, Network, NetworkConfig, Region,
    RegionConfig, Revision,
};
use lorawan::{DevAddr, DevNonce, Eui64, JoinNonce, NetId};
use ns_core::downlink_timing::TxInfoError;
use ns_core::join::{
    self, AcceptParams, DevAddrError, DevAddrPrefix, Fault, JoinAccept, JoinError, JoinOptions,
    RxWindowSelection, ValidJoinRequest,
};
use ns_core::model::{Device, DeviceKeys, DeviceProfile, MacVersion};
use packet_forwarder::gw;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

#[path = "support/fixtures.rs"]
mod fixtures;

use fixtures::lora_tx_info;

fn hex<const N: usize>(s: &str) -> [u8; N] {
    let v = hexv(s);
    v.try_into().expect("hex length")
}

fn hexv(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// A device, its profile and keys, as storage would load them.
struct Fixture {
    device: Device,
    profile: DeviceProfile,
    keys: DeviceKeys,
    join_eui: Eui64,
}

fn fixture(
    region: Region,
    mac_version: MacVersion,
    dev_eui: u64,
    join_eui: u64,
    nwk_key: [u8; 16],
    app_key: [u8; 16],
) -> Fixture {
    let dev_eui = Eui64::from_u64(dev_eui);
    let join_eui = Eui64::from_u64(join_eui);
    let profile = fixtures::profile(region, mac_version, Revision::Rp002_1_0_4);
    let mut device = Device::new(dev_eui, Uuid::nil(), profile.id, "device");
    device.join_eui = join_eui;
    let keys = DeviceKeys::new(
        dev_eui,
        NwkKey::from_be_bytes(nwk_key),
        AppKey::from_be_bytes(app_key),
    );
    Fixture {
        device,
        profile,
        keys,
        join_eui,
    }
}

impl Fixture {
    /// The join-request the device sends, signed with its NwkKey.
    fn join_request(&self, dev_nonce: u16) -> Vec<u8> {
        let mut buf = [0u8; 23];
        JoinRequestRepr {
            join_eui: self.join_eui,
            dev_eui: self.device.dev_eui,
            dev_nonce: DevNonce(dev_nonce),
        }
        .build(&self.keys.nwk_key.keyed(), &mut buf)
        .unwrap();
        buf.to_vec()
    }

    fn validate(&self, phy: &[u8]) -> Result<ValidJoinRequest, JoinError> {
        join::validate_join_request(phy, &self.device, &self.profile, &self.keys)
    }

    fn accept(
        &self,
        valid: &ValidJoinRequest,
        p: &AcceptParams<'_>,
    ) -> Result<JoinAccept, JoinError> {
        join::accept(
            valid,
            &self.device,
            &self.profile,
            &self.keys,
            p,
            &mut StdRng::seed_from_u64(42),
        )
    }
}

/// Vector A: LoRaWAN 1.0.3 in EU868.
fn fixture_a() -> Fixture {
    fixture(
        Region::Eu868,
        MacVersion::V1_0_3,
        0x0004_a30b_001c_0530,
        0x70b3_d57e_d000_0001,
        hex("2b7e151628aed2a6abf7158809cf4f3c"),
        [0; 16],
    )
}

/// Vector B: LoRaWAN 1.1 in US915.
fn fixture_b() -> Fixture {
    fixture(
        Region::Us915,
        MacVersion::V1_1_0,
        0x0102_0304_0506_0708,
        0x1112_1314_1516_1718,
        hex("000102030405060708090a0b0c0d0e0f"),
        hex("101112131415161718191a1b1c1d1e1f"),
    )
}

fn network(region: Region, configure: impl FnOnce(&mut NetworkConfig)) -> Network {
    let mut config = RegionConfig {
        id: format!("{}_test", region.common_name().to_ascii_lowercase()),
        common_name: Some(region),
        ..Default::default()
    };
    configure(&mut config.network);
    config.resolve().unwrap()
}

/// EU868 with the five usual extra channels 867.1–867.9 MHz.
fn eu868_five_extra() -> Network {
    network(Region::Eu868, |n| {
        for i in 0..5 {
            n.extra_channels.push(ExtraChannel {
                frequency: 867_100_000 + i * 200_000,
                min_dr: 0,
                max_dr: 5,
            });
        }
    })
}

/// US915 on sub-band 2 (channels 8–15 and 65).
fn us915_sub_band_2() -> Network {
    network(Region::Us915, |n| n.enabled_sub_bands = vec![2])
}

fn rx_info() -> gw::UplinkRxInfo {
    gw::UplinkRxInfo {
        gateway_id: "0016c001ff10a235".into(),
        uplink_id: 17,
        board: 1,
        antenna: 0,
        context: vec![0x12, 0x34, 0x56, 0x78],
        rssi: -80,
        snr: 7.5,
        ..Default::default()
    }
}

fn params<'a>(
    network: &'a Network,
    tx_info: &'a gw::UplinkTxInfo,
    rx_info: &'a gw::UplinkRxInfo,
    join_nonce: u32,
    dev_addr: u32,
) -> AcceptParams<'a> {
    AcceptParams {
        join_nonce,
        dev_addr: DevAddr::from_u32(dev_addr),
        net_id: NetId::from_u32(0x000013).unwrap(),
        network,
        tx_info,
        rx_info,
        options: JoinOptions::default(),
    }
}

fn lora_of(item: &gw::DownlinkFrameItem) -> (u32, u32, gw::LoraModulationInfo, i32, u64) {
    let tx = item.tx_info.as_ref().expect("tx_info");
    let Some(gw::modulation::Parameters::Lora(lora)) =
        tx.modulation.as_ref().and_then(|m| m.parameters.clone())
    else {
        panic!("LoRa modulation expected: {tx:?}");
    };
    let Some(gw::timing::Parameters::Delay(delay)) = tx.timing.as_ref().and_then(|t| t.parameters)
    else {
        panic!("delay timing expected: {tx:?}");
    };
    let delay = delay.delay.expect("delay");
    assert_eq!(delay.nanos, 0);
    (
        tx.frequency,
        lora.spreading_factor,
        lora.clone(),
        tx.power,
        u64::try_from(delay.seconds).unwrap(),
    )
}

// ---------------------------------------------------------------------------
// Known answers

#[test]
fn specification_join_request_vector_validates() {
    // JoinEUI 01…01, DevEUI 02…02, DevNonce 0x0303, AppKey 0102…10: MIC 09b97b32.
    let f = fixture(
        Region::Eu868,
        MacVersion::V1_0_2,
        0x0202_0202_0202_0202,
        0x0101_0101_0101_0101,
        hex("0102030405060708090a0b0c0d0e0f10"),
        [0; 16],
    );
    let phy = hexv(
        "00010101010101010102020202020202020303_09b97b32"
            .replace('_', "")
            .as_str(),
    );
    assert_eq!(phy.len(), 23);
    let valid = f.validate(&phy).unwrap();
    assert_eq!(valid.dev_nonce(), DevNonce(0x0303));
    assert_eq!(valid.join_eui(), f.join_eui);
    assert!(!valid.dev_nonce_must_increase());
}

#[test]
fn lorawan_1_0_3_eu868_join_accept_matches_independent_vector() {
    let f = fixture_a();
    let phy = f.join_request(0x1234);
    assert_eq!(phy, hexv("00010000d07ed5b37030051c000ba3040034124f5ca349"));
    let valid = f.validate(&phy).unwrap();
    let net = eu868_five_extra();
    let (tx, rx) = (lora_tx_info(868_100_000, 12, 125_000), rx_info());
    let answer = f
        .accept(&valid, &params(&net, &tx, &rx, 0x2a, 0x2601_1bda))
        .unwrap();
    let expected = hexv("20ea7ff7e4dd7aa640ccf6b551831cd7b2bc23b0629f8c79b31d6c949199af7a2a");
    for item in &answer.downlink.items {
        assert_eq!(item.phy_payload, expected);
    }
    let s = &answer.session;
    assert_eq!(
        s.f_nwk_s_int_key.to_string(),
        "3ceebcfb2cf10f1377a1c1109852933b"
    );
    assert_eq!(
        s.s_nwk_s_int_key.to_string(),
        "3ceebcfb2cf10f1377a1c1109852933b"
    );
    assert_eq!(
        s.nwk_s_enc_key.to_string(),
        "3ceebcfb2cf10f1377a1c1109852933b"
    );
    assert_eq!(s.app_s_key.to_string(), "090619fa57c1bfab752d15f6182edfbe");
}

#[test]
fn lorawan_1_1_us915_join_accept_matches_independent_vector() {
    let f = fixture_b();
    let phy = f.join_request(5);
    assert_eq!(phy, hexv("00181716151413121108070605040302010500b315bc3f"));
    let valid = f.validate(&phy).unwrap();
    assert!(valid.dev_nonce_must_increase());
    let net = us915_sub_band_2();
    // Channel 8 (903.9 MHz) at DR0 (SF10/125 kHz).
    let (tx, rx) = (lora_tx_info(903_900_000, 10, 125_000), rx_info());
    let answer = f
        .accept(&valid, &params(&net, &tx, &rx, 7, 0x2601_2345))
        .unwrap();
    let expected = hexv("2096023480395b284c4611a97098c3c09a86b458914fca1f33c1c253479645ec49");
    assert_eq!(answer.downlink.items[0].phy_payload, expected);
    let s = &answer.session;
    assert_eq!(
        s.f_nwk_s_int_key.to_string(),
        "fa3f7d2f2ec32eb1eaf3012fc6cd2db8"
    );
    assert_eq!(
        s.s_nwk_s_int_key.to_string(),
        "b54530f8588789e4bca1acdb5569a31e"
    );
    assert_eq!(
        s.nwk_s_enc_key.to_string(),
        "a06b5fab2d9fc5d0780eba27981907d9"
    );
    assert_eq!(s.app_s_key.to_string(), "e7e68ba3c54b11139d04283f4ad77432");
}

// ---------------------------------------------------------------------------
// Round trips: what the device reads and derives

#[test]
fn lorawan_1_0_3_round_trip_device_reads_the_join_accept_and_derives_the_same_keys() {
    let f = fixture_a();
    let dev_nonce = 0x0102;
    let valid = f.validate(&f.join_request(dev_nonce)).unwrap();
    let net = eu868_five_extra();
    let (tx, rx) = (lora_tx_info(868_300_000, 9, 125_000), rx_info());
    let answer = f
        .accept(&valid, &params(&net, &tx, &rx, 0x00_0100, 0x2601_0001))
        .unwrap();

    // The device: decrypt with its AppKey (our NwkKey), check the MIC.
    let root = f.keys.nwk_key.keyed();
    let phy = &answer.downlink.items[0].phy_payload;
    let Ok(Frame::JoinAccept(enc)) = Frame::parse(phy) else {
        panic!("not a join-accept");
    };
    let ja = enc.decrypt(&root);
    ja.verify_mic_10(&root).unwrap();
    assert_eq!(ja.join_nonce().to_u32(), 0x100);
    assert_eq!(ja.home_net_id().to_u32(), 0x13);
    assert_eq!(ja.dev_addr(), DevAddr::from_u32(0x2601_0001));
    assert!(!ja.dl_settings().opt_neg());
    assert_eq!(ja.dl_settings().rx1_dr_offset(), 0);
    assert_eq!(ja.dl_settings().rx2_data_rate(), 0);
    assert_eq!(ja.rx_delay().seconds(), 1);

    // Its session keys.
    let keys = crypto::derive_session_keys_10(
        &root,
        ja.join_nonce(),
        ja.home_net_id(),
        DevNonce(dev_nonce),
    );
    let s = &answer.session;
    assert_eq!(s.f_nwk_s_int_key, keys.nwk_s_key.as_f_nwk_s_int_key());
    assert_eq!(s.s_nwk_s_int_key, keys.nwk_s_key.as_s_nwk_s_int_key());
    assert_eq!(s.nwk_s_enc_key, keys.nwk_s_key.as_nwk_s_enc_key());
    assert_eq!(s.app_s_key, keys.app_s_key);

    // Its channels: the defaults, then the CFList's in order.
    let cf = ja.cf_list().expect("CFList");
    let freqs = cf.frequencies().expect("type 0");
    assert_eq!(
        freqs,
        [
            867_100_000,
            867_300_000,
            867_500_000,
            867_700_000,
            867_900_000
        ]
    );
    let extra: Vec<Channel> = freqs
        .iter()
        .map(|&frequency| Channel {
            frequency,
            min_dr: 0,
            max_dr: 5,
        })
        .collect();
    let device = DeviceChannels::with_extra_channels(net.params, &extra).unwrap();
    let device_enabled: Vec<u8> = device.enabled().iter().map(|i| i as u8).collect();
    assert_eq!(s.enabled_uplink_channel_indices, device_enabled);
    assert_eq!(s.enabled_uplink_channel_indices, [0, 1, 2, 3, 4, 5, 6, 7]);
    let session_extra: Vec<u32> = s
        .extra_uplink_channels
        .iter()
        .map(|c| c.frequency)
        .collect();
    assert_eq!(session_extra, freqs);
}

#[test]
fn lorawan_1_1_round_trip_device_checks_the_js_int_key_mic_and_derives_the_same_keys() {
    let f = fixture_b();
    let dev_nonce = 9;
    let valid = f.validate(&f.join_request(dev_nonce)).unwrap();
    let net = us915_sub_band_2();
    let (tx, rx) = (lora_tx_info(904_100_000, 9, 125_000), rx_info());
    let answer = f
        .accept(&valid, &params(&net, &tx, &rx, 3, 0x2601_0002))
        .unwrap();

    let nwk_key = f.keys.nwk_key.keyed();
    let enc = EncryptedJoinAccept::new_checked(&answer.downlink.items[0].phy_payload).unwrap();
    let ja = enc.decrypt(&nwk_key);
    assert!(ja.dl_settings().opt_neg(), "a 1.1 network sets OptNeg");
    // The 1.0 MIC must fail: the device would know the network is 1.1.
    assert!(ja.verify_mic_10(&nwk_key).is_err());
    let js_int_key = crypto::derive_js_int_key(&nwk_key, f.device.dev_eui).keyed();
    ja.verify_mic_11(
        &js_int_key,
        JoinType::JoinRequest,
        f.join_eui,
        DevNonce(dev_nonce),
    )
    .unwrap();
    assert_eq!(ja.dl_settings().rx2_data_rate(), 8);

    let keys = crypto::derive_session_keys_11(
        &nwk_key,
        &f.keys.app_key.keyed(),
        ja.join_nonce(),
        f.join_eui,
        DevNonce(dev_nonce),
    );
    let s = &answer.session;
    assert_eq!(s.f_nwk_s_int_key, keys.f_nwk_s_int_key);
    assert_eq!(s.s_nwk_s_int_key, keys.s_nwk_s_int_key);
    assert_eq!(s.nwk_s_enc_key, keys.nwk_s_enc_key);
    assert_eq!(s.app_s_key, keys.app_s_key);
    assert_ne!(
        s.f_nwk_s_int_key.to_be_bytes(),
        s.s_nwk_s_int_key.to_be_bytes()
    );

    // The CFList's channel mask, applied by the device, gives the session's
    // channels: sub-band 2 and its 500 kHz channel.
    let masks = ja
        .cf_list()
        .and_then(|c| c.channel_masks())
        .expect("type 1");
    assert_eq!(masks, [0xff00, 0, 0, 0, 0x0002]);
    let mut set = ChannelSet::EMPTY;
    for (b, m) in masks.iter().enumerate() {
        for bit in 0..16 {
            if m & (1 << bit) != 0 {
                set.insert(b * 16 + bit);
            }
        }
    }
    let mut device = DeviceChannels::new(net.params);
    assert!(device.set_enabled(set));
    let device_enabled: Vec<u8> = device.enabled().iter().map(|i| i as u8).collect();
    assert_eq!(s.enabled_uplink_channel_indices, device_enabled);
    assert!(s.extra_uplink_channels.is_empty());
}

#[test]
fn lorawan_1_0_2_us915_gets_no_cf_list_and_keeps_every_channel() {
    let mut f = fixture_b();
    f.profile.mac_version = MacVersion::V1_0_2;
    let valid = f.validate(&f.join_request(1)).unwrap();
    let net = us915_sub_band_2();
    let (tx, rx) = (lora_tx_info(903_900_000, 10, 125_000), rx_info());
    let answer = f.accept(&valid, &params(&net, &tx, &rx, 1, 1)).unwrap();
    assert_eq!(answer.downlink.items[0].phy_payload.len(), 17);
    assert_eq!(answer.session.enabled_uplink_channel_indices.len(), 72);
    let ja = EncryptedJoinAccept::new_checked(&answer.downlink.items[0].phy_payload)
        .unwrap()
        .decrypt(&f.keys.nwk_key.keyed());
    ja.verify_mic_10(&f.keys.nwk_key.keyed()).unwrap();
    assert!(!ja.dl_settings().opt_neg());
}

// ---------------------------------------------------------------------------
// The session and the downlink

#[test]
fn session_starts_at_zero_with_the_network_rx_settings_and_the_default_rx2_frequency() {
    let f = fixture_a();
    let valid = f.validate(&f.join_request(3)).unwrap();
    let net = network(Region::Eu868, |n| {
        n.rx1_delay = Some(3);
        n.rx1_dr_offset = Some(2);
        n.rx2_dr = Some(3);
        n.rx2_frequency = Some(869_400_000);
    });
    let (tx, rx) = (lora_tx_info(868_500_000, 8, 125_000), rx_info());
    let answer = f
        .accept(&valid, &params(&net, &tx, &rx, 9, 0x2601_0003))
        .unwrap();
    let s = &answer.session;
    assert_eq!(s.dev_addr, DevAddr::from_u32(0x2601_0003));
    assert_eq!(s.mac_version, MacVersion::V1_0_3);
    assert_eq!(
        (s.f_cnt_up, s.n_f_cnt_down, s.a_f_cnt_down, s.conf_f_cnt),
        (0, 0, 0, 0)
    );
    assert_eq!((s.rx1_delay, s.rx1_dr_offset, s.rx2_dr), (3, 2, 3));
    // DLSettings cannot move RX2: the device stays on the region's default
    // until an RXParamSetupReq.
    assert_eq!(s.rx2_frequency, 869_525_000);
    assert_eq!(s.region_config_id, "eu868_test");
    assert_eq!(s.dr, 4, "the join-request's data rate (SF8)");
    assert_eq!(s.nb_trans, 1);
    assert!(s.mac_command_pending.is_empty() && s.uplink_adr_history.is_empty());
    assert_eq!(s.enabled_uplink_channel_indices, [0, 1, 2]);

    let ja = EncryptedJoinAccept::new_checked(&answer.downlink.items[0].phy_payload)
        .unwrap()
        .decrypt(&f.keys.nwk_key.keyed());
    assert_eq!(ja.rx_delay().seconds(), 3);
    assert_eq!(
        (
            ja.dl_settings().rx1_dr_offset(),
            ja.dl_settings().rx2_data_rate()
        ),
        (2, 3)
    );
    assert_eq!(ja.cf_list(), None);

    // The join-accept itself still goes out with the defaults: RX1DROffset 0
    // (SF8 answered at SF8) and RX2 at 869.525 MHz DR0.
    let (f1, sf1, _, _, _) = lora_of(&answer.downlink.items[0]);
    let (f2, sf2, _, _, _) = lora_of(&answer.downlink.items[1]);
    assert_eq!((f1, sf1), (868_500_000, 8));
    assert_eq!((f2, sf2), (869_525_000, 12));
}

#[test]
fn eu868_downlink_is_rx1_at_5_s_then_rx2_at_6_s_from_the_chosen_gateway() {
    let f = fixture_a();
    let valid = f.validate(&f.join_request(4)).unwrap();
    let net = eu868_five_extra();
    let (tx, rx) = (lora_tx_info(868_100_000, 12, 125_000), rx_info());
    let answer = f.accept(&valid, &params(&net, &tx, &rx, 1, 1)).unwrap();
    let d = &answer.downlink;
    assert_eq!(d.gateway_id, "0016c001ff10a235");
    assert_eq!(d.items.len(), 2);
    let (f1, sf1, lora1, p1, delay1) = lora_of(&d.items[0]);
    let (f2, sf2, lora2, p2, delay2) = lora_of(&d.items[1]);
    assert_eq!(
        (f1, sf1, lora1.bandwidth, p1, delay1),
        (868_100_000, 12, 125_000, 16, 5)
    );
    assert_eq!(
        (f2, sf2, lora2.bandwidth, p2, delay2),
        (869_525_000, 12, 125_000, 29, 6)
    );
    for lora in [&lora1, &lora2] {
        assert!(lora.polarization_inversion);
        assert_eq!(lora.code_rate, gw::CodeRate::Cr45 as i32);
    }
    for item in &d.items {
        let tx = item.tx_info.as_ref().unwrap();
        assert_eq!(tx.context, [0x12, 0x34, 0x56, 0x78]);
        assert_eq!((tx.board, tx.antenna), (1, 0));
    }
    // A seeded generator gives the same downlink_id: the core is deterministic.
    let again = f.accept(&valid, &params(&net, &tx, &rx, 1, 1)).unwrap();
    assert_eq!(again.downlink, answer.downlink);
    let other = join::accept(
        &valid,
        &f.device,
        &f.profile,
        &f.keys,
        &params(&net, &tx, &rx, 1, 1),
        &mut StdRng::seed_from_u64(43),
    )
    .unwrap();
    assert_ne!(other.downlink.downlink_id, answer.downlink.downlink_id);
}

#[test]
fn us915_rx1_uses_the_downlink_channel_and_500_khz() {
    let f = fixture_b();
    let valid = f.validate(&f.join_request(6)).unwrap();
    let net = us915_sub_band_2();
    // Channel 9 (904.1 MHz) → RX1 channel 9 mod 8 = 1 (923.9 MHz); DR0 → DR10.
    let (tx, rx) = (lora_tx_info(904_100_000, 10, 125_000), rx_info());
    let answer = f.accept(&valid, &params(&net, &tx, &rx, 1, 1)).unwrap();
    let (f1, sf1, lora1, p1, _) = lora_of(&answer.downlink.items[0]);
    let (f2, sf2, lora2, p2, _) = lora_of(&answer.downlink.items[1]);
    assert_eq!(
        (f1, sf1, lora1.bandwidth, p1),
        (923_900_000, 10, 500_000, 21)
    );
    assert_eq!(
        (f2, sf2, lora2.bandwidth, p2),
        (923_300_000, 12, 500_000, 21)
    );
}

#[test]
fn as923_rx1_respects_the_default_downlink_dwell_time() {
    let f = fixture(Region::As923_1, MacVersion::V1_0_3, 1, 2, [3; 16], [0; 16]);
    let valid = f.validate(&f.join_request(1)).unwrap();
    let net = network(Region::As923_1, |_| {});
    // DR0 (SF12): with the 400 ms downlink dwell time RX1 never goes below DR2.
    let (tx, rx) = (lora_tx_info(923_200_000, 12, 125_000), rx_info());
    let answer = f.accept(&valid, &params(&net, &tx, &rx, 1, 1)).unwrap();
    let (_, sf1, _, _, _) = lora_of(&answer.downlink.items[0]);
    assert_eq!(sf1, 10);
    assert!(answer.session.downlink_dwell_time_400ms);
    assert!(answer.session.uplink_dwell_time_400ms);
}

#[test]
fn rx_window_and_power_options_shape_the_downlink() {
    let f = fixture_a();
    let valid = f.validate(&f.join_request(5)).unwrap();
    let net = eu868_five_extra();
    let (tx, rx) = (lora_tx_info(868_100_000, 7, 125_000), rx_info());
    for (choice, expected) in [
        (RxWindowSelection::Rx1, 868_100_000),
        (RxWindowSelection::Rx2, 869_525_000),
    ] {
        let mut p = params(&net, &tx, &rx, 1, 1);
        p.options = JoinOptions::default()
            .with_rx_window(choice)
            .with_downlink_tx_power(Some(14));
        let answer = f.accept(&valid, &p).unwrap();
        assert_eq!(answer.downlink.items.len(), 1, "{choice:?}");
        let (freq, _, _, power, _) = lora_of(&answer.downlink.items[0]);
        assert_eq!((freq, power), (expected, 14));
    }
}

#[test]
fn downlink_frame_encodes_as_chirpstack_json() {
    let f = fixture_a();
    let valid = f.validate(&f.join_request(6)).unwrap();
    let net = eu868_five_extra();
    let (tx, rx) = (lora_tx_info(868_100_000, 12, 125_000), rx_info());
    let answer = f.accept(&valid, &params(&net, &tx, &rx, 1, 1)).unwrap();
    let json = gw::encode(&answer.downlink, gw::Encoding::Json);
    let text = String::from_utf8(json.clone()).unwrap();
    assert!(text.contains("\"delay\":\"5s\""), "{text}");
    assert!(text.contains("\"polarizationInversion\":true"), "{text}");
    let back: gw::DownlinkFrame = gw::decode_detect(&json).unwrap();
    assert_eq!(back, answer.downlink);
}

// ---------------------------------------------------------------------------
// DevNonce rules by version

#[test]
fn dev_nonce_must_increase_for_1_0_4_and_1_1_only() {
    for (version, increases) in [
        (MacVersion::V1_0_0, false),
        (MacVersion::V1_0_2, false),
        (MacVersion::V1_0_3, false),
        (MacVersion::V1_0_4, true),
        (MacVersion::V1_1_0, true),
    ] {
        let mut f = fixture_a();
        f.profile.mac_version = version;
        let valid = f.validate(&f.join_request(1)).unwrap();
        assert_eq!(valid.dev_nonce_must_increase(), increases, "{version:?}");
        assert_eq!(valid.mac_version(), version);
    }
}

// ---------------------------------------------------------------------------
// DevAddr allocation

#[test]
fn dev_addrs_stay_inside_the_tenant_prefixes_over_many_draws() {
    let mut rng = StdRng::seed_from_u64(1);
    let net_id = NetId::from_u32(0x000013).unwrap();
    let tenant = ["26011000/20".to_string(), "fc00ac00/24".to_string()];
    let network_prefixes = ["26000000/7"];
    let p: Vec<DevAddrPrefix> = tenant.iter().map(|t| t.parse().unwrap()).collect();
    let mut hits = [0usize; 2];
    let mut seen = BTreeSet::new();
    for _ in 0..10_000 {
        let a = join::allocate_dev_addr(net_id, &tenant, &network_prefixes, &mut rng).unwrap();
        let which = p
            .iter()
            .position(|p| p.contains(a))
            .expect("inside a tenant prefix");
        hits[which] += 1;
        seen.insert(a);
    }
    assert!(
        hits.iter().all(|&h| h > 4_000),
        "both prefixes drawn: {hits:?}"
    );
    // The /24 holds 256 addresses, all drawn; the /20 4096, most of them.
    let in_24 = seen.iter().filter(|&&a| p[1].contains(a)).count();
    assert_eq!(in_24, 256);
    assert!(seen.len() - in_24 > 2_500, "addresses vary: {}", seen.len());
}

#[test]
fn dev_addrs_fall_back_to_the_network_prefixes_then_the_net_id() {
    let mut rng = StdRng::seed_from_u64(2);
    let net_id = NetId::from_u32(0x600013).unwrap();
    let none: [&str; 0] = [];
    let network_prefix: DevAddrPrefix = "e0010000/16".parse().unwrap();
    for _ in 0..2_000 {
        let a = join::allocate_dev_addr(net_id, &none, &["e0010000/16"], &mut rng).unwrap();
        assert!(network_prefix.contains(a), "{a}");
        let a = join::allocate_dev_addr(net_id, &none, &none, &mut rng).unwrap();
        assert!(a.is_net_id(net_id), "{a}");
        assert!(DevAddrPrefix::from_net_id(net_id).contains(a));
    }
}

#[test]
fn malformed_prefixes_are_errors() {
    let mut rng = StdRng::seed_from_u64(3);
    let net_id = NetId::from_u32(1).unwrap();
    let none: [&str; 0] = [];
    for bad in ["26000000", "26000000/33", "2600/7", "26000000/seven"] {
        assert!(matches!(
            join::allocate_dev_addr(net_id, &[bad], &none, &mut rng),
            Err(DevAddrError::MalformedPrefix { .. })
        ));
        assert!(matches!(
            join::allocate_dev_addr(net_id, &none, &[bad], &mut rng),
            Err(DevAddrError::MalformedPrefix { .. })
        ));
    }
}

// ---------------------------------------------------------------------------
// Every refusal

#[test]
fn malformed_frames_are_refused() {
    let f = fixture_a();
    let good = f.join_request(1);
    let mut major = good.clone();
    major[0] |= 0x01;
    let mut rejoin = vec![0xc0u8, 0];
    rejoin.resize(19, 0);
    let data_up = hexv("40040302018001000001a69464261515d6c3b582");
    for bad in [
        &[][..],
        &good[..22],
        &[good.clone(), vec![0]].concat()[..],
        &major,
        &rejoin,
        &data_up,
    ] {
        let e = f.validate(bad).unwrap_err();
        assert!(matches!(e, JoinError::MalformedFrame(_)), "{e}");
        assert_eq!(e.fault(), Fault::Device);
        assert!(join::parse_join_request(bad).is_err());
    }
    let repr = join::parse_join_request(&good).unwrap();
    assert_eq!(
        (repr.dev_eui, repr.join_eui, repr.dev_nonce),
        (f.device.dev_eui, f.join_eui, DevNonce(1))
    );
}

#[test]
fn a_frame_for_another_device_or_keys_of_another_device_are_caller_errors() {
    let f = fixture_a();
    let other = fixture_b();
    let e = f.validate(&other.join_request(1)).unwrap_err();
    assert!(matches!(e, JoinError::DevEuiMismatch { .. }), "{e}");
    assert_eq!(e.fault(), Fault::Internal);

    let e = join::validate_join_request(&f.join_request(1), &f.device, &f.profile, &other.keys)
        .unwrap_err();
    assert!(matches!(e, JoinError::KeysMismatch { .. }), "{e}");

    // accept() with the records of another device.
    let valid = f.validate(&f.join_request(1)).unwrap();
    let net = eu868_five_extra();
    let (tx, rx) = (lora_tx_info(868_100_000, 12, 125_000), rx_info());
    let p = params(&net, &tx, &rx, 1, 1);
    let mut rng = StdRng::seed_from_u64(0);
    assert!(matches!(
        join::accept(&valid, &other.device, &f.profile, &f.keys, &p, &mut rng),
        Err(JoinError::DevEuiMismatch { .. })
    ));
    assert!(matches!(
        join::accept(&valid, &f.device, &f.profile, &other.keys, &p, &mut rng),
        Err(JoinError::KeysMismatch { .. })
    ));
}

#[test]
fn disabled_devices_and_abp_profiles_are_refused() {
    let mut f = fixture_a();
    f.device.is_disabled = true;
    let e = f.validate(&f.join_request(1)).unwrap_err();
    assert_eq!(
        e,
        JoinError::DeviceDisabled {
            dev_eui: f.device.dev_eui
        }
    );
    assert_eq!(e.fault(), Fault::Configuration);

    let mut f = fixture_a();
    f.profile.supports_otaa = false;
    let e = f.validate(&f.join_request(1)).unwrap_err();
    assert_eq!(
        e,
        JoinError::OtaaNotSupported {
            dev_eui: f.device.dev_eui
        }
    );
    assert!(e.to_string().contains("OTAA"), "{e}");
}

#[test]
fn join_eui_must_match_unless_the_device_has_none() {
    let mut f = fixture_a();
    let phy = f.join_request(1);
    f.device.join_eui = Eui64::from_u64(0x99);
    let e = f.validate(&phy).unwrap_err();
    assert_eq!(
        e,
        JoinError::JoinEuiMismatch {
            dev_eui: f.device.dev_eui,
            expected: Eui64::from_u64(0x99),
            received: f.join_eui,
        }
    );
    f.device.join_eui = Eui64::from_u64(0);
    assert_eq!(f.validate(&phy).unwrap().join_eui(), f.join_eui);
}

#[test]
fn a_wrong_mic_is_refused() {
    let f = fixture_a();
    let mut phy = f.join_request(1);
    phy[22] ^= 0x01;
    let e = f.validate(&phy).unwrap_err();
    let JoinError::InvalidMic {
        received, computed, ..
    } = e
    else {
        panic!("{e}");
    };
    assert_ne!(received, computed);
    // A device provisioned with another key.
    let mut g = fixture_a();
    g.keys.nwk_key = NwkKey::from_be_bytes([0xee; 16]);
    assert!(matches!(
        g.validate(&f.join_request(1)),
        Err(JoinError::InvalidMic { .. })
    ));
    // A 1.0 join-request signed with the AppKey of a 1.1 device is refused too.
    let b = fixture_b();
    let mut buf = [0u8; 23];
    JoinRequestRepr {
        join_eui: b.join_eui,
        dev_eui: b.device.dev_eui,
        dev_nonce: DevNonce(1),
    }
    .build(&b.keys.app_key.keyed(), &mut buf)
    .unwrap();
    assert!(matches!(
        b.validate(&buf),
        Err(JoinError::InvalidMic { .. })
    ));
}

#[test]
fn join_nonce_past_24_bits_is_refused_and_the_last_value_accepted() {
    let f = fixture_a();
    let valid = f.validate(&f.join_request(1)).unwrap();
    let net = eu868_five_extra();
    let (tx, rx) = (lora_tx_info(868_100_000, 12, 125_000), rx_info());
    let e = f
        .accept(&valid, &params(&net, &tx, &rx, 0x100_0000, 1))
        .unwrap_err();
    assert_eq!(
        e,
        JoinError::JoinNonceOverflow {
            dev_eui: f.device.dev_eui,
            join_nonce: 0x100_0000
        }
    );
    assert_eq!(e.fault(), Fault::Configuration);
    let answer = f
        .accept(&valid, &params(&net, &tx, &rx, 0xff_ffff, 1))
        .unwrap();
    let ja = EncryptedJoinAccept::new_checked(&answer.downlink.items[0].phy_payload)
        .unwrap()
        .decrypt(&f.keys.nwk_key.keyed());
    assert_eq!(ja.join_nonce(), JoinNonce::from_u32(0xff_ffff).unwrap());
}

#[test]
fn a_profile_of_another_region_is_refused() {
    let f = fixture_b(); // US915 profile
    let valid = f.validate(&f.join_request(1)).unwrap();
    let net = eu868_five_extra();
    let (tx, rx) = (lora_tx_info(868_100_000, 12, 125_000), rx_info());
    let e = f.accept(&valid, &params(&net, &tx, &rx, 1, 1)).unwrap_err();
    assert!(matches!(
        e,
        JoinError::RegionMismatch {
            profile: Region::Us915,
            network: Region::Eu868,
            ..
        }
    ));
}

#[test]
fn settings_a_join_accept_cannot_carry_are_configuration_errors() {
    let f = fixture_a();
    let valid = f.validate(&f.join_request(1)).unwrap();
    let (tx, rx) = (lora_tx_info(868_100_000, 12, 125_000), rx_info());
    let mut bad_networks = Vec::new();
    for change in [
        (|n: &mut Network| n.rx1_delay = 0) as fn(&mut Network),
        |n| n.rx1_delay = 16,
        |n| n.rx1_dr_offset = 8,
        |n| n.rx2_dr = 16,
        |n| {
            n.extra_channels[0].frequency = 867_100_050;
            n.uplink_channels[3].1.frequency = 867_100_050;
        },
    ] {
        let mut net = eu868_five_extra();
        change(&mut net);
        bad_networks.push(net);
    }
    for net in &bad_networks {
        let e = f.accept(&valid, &params(net, &tx, &rx, 1, 1)).unwrap_err();
        assert!(matches!(e, JoinError::InvalidSettings { .. }), "{e}");
        assert_eq!(e.fault(), Fault::Configuration);
    }
}

#[test]
fn uplink_metadata_that_does_not_fit_the_region_is_a_gateway_error() {
    let f = fixture_b();
    let valid = f.validate(&f.join_request(1)).unwrap();
    let net = us915_sub_band_2();
    let rx = rx_info();
    let cases = [
        (gw::UplinkTxInfo::default(), TxInfoError::MissingModulation),
        (
            lora_tx_info(903_950_000, 10, 125_000),
            TxInfoError::NoRx1Frequency {
                region: Region::Us915,
                frequency: 903_950_000,
            },
        ),
    ];
    for (tx, expected) in cases {
        let e = f.accept(&valid, &params(&net, &tx, &rx, 1, 1)).unwrap_err();
        assert_eq!(e, JoinError::Downlink(expected));
        assert_eq!(e.fault(), Fault::Gateway);
    }
    let tx = lora_tx_info(903_900_000, 12, 125_000); // SF12 is no US915 uplink rate
    let e = f.accept(&valid, &params(&net, &tx, &rx, 1, 1)).unwrap_err();
    assert!(matches!(
        e,
        JoinError::Downlink(TxInfoError::UnknownUplinkDataRate { .. })
    ));
}

#[test]
fn driver_side_refusals_read_well_and_blame_the_device() {
    let dev_eui = Eui64::from_u64(0x0102);
    for e in [
        JoinError::UnknownDevice { dev_eui },
        JoinError::DevNonceReused {
            dev_eui,
            dev_nonce: 7,
        },
        JoinError::DevNonceNotIncreasing {
            dev_eui,
            dev_nonce: 7,
        },
    ] {
        assert_eq!(e.fault(), Fault::Device);
        assert!(e.to_string().contains("0000000000000102"), "{e}");
    }
}

// ---------------------------------------------------------------------------
// No input panics

#[test]
fn arbitrary_bytes_and_metadata_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let f = fixture_a();
    let good = f.join_request(1);
    let net = eu868_five_extra();
    let us = us915_sub_band_2();
    let rx = rx_info();
    let mut accepted = 0;
    for round in 0..20_000 {
        let phy: Vec<u8> = if round % 2 == 0 {
            let len = (rng.next_u32() % 40) as usize;
            (0..len).map(|_| rng.next_u32() as u8).collect()
        } else {
            // Mutations of a valid join-request: a few flipped bits.
            let mut p = good.clone();
            for _ in 0..=(rng.next_u32() % 3) {
                let bit = (rng.next_u32() as usize) % (p.len() * 8);
                p[bit / 8] ^= 1 << (bit % 8);
            }
            p
        };
        let _ = join::parse_join_request(&phy);
        // (Two flips of the same bit give the valid frame back.)
        if f.validate(&phy).is_ok() && phy != good {
            accepted += 1;
        }
        // Garbage uplink metadata into accept().
        let valid = f.validate(&good).unwrap();
        let tx = lora_tx_info(
            rng.next_u32(),
            rng.next_u32() % 16,
            [125_000, 250_000, 500_000, rng.next_u32()][(rng.next_u32() % 4) as usize],
        );
        let network = if round % 3 == 0 { &us } else { &net };
        let mut p = params(network, &tx, &rx, rng.next_u32(), rng.next_u32());
        p.options = JoinOptions::default().with_downlink_tx_power(Some(rng.next_u32() as i32));
        let _ = f.accept(&valid, &p);
    }
    assert_eq!(accepted, 0, "no corrupted join-request passes the MIC");
}
