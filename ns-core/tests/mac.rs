//! MAC commands and ADR without I/O: uplink answers read from their wire
//! bytes with the `lorawan` crate, requests checked as the bytes a device
//! would receive, and the session changes each exchange makes.

use std::time::{Duration, SystemTime};

use lorawan::Direction;
use lorawan::mac::{
    self as wire, AdrParamSetupReq, ChMask, DeviceClass as ModeClass, DeviceModeConf,
    DeviceTimeAns, DlChannelReq, DutyCycleReq, LinkAdrReq, LinkCheckAns, MacCommand, NewChannelReq,
    RejoinParamSetupReq, RekeyConf, ResetConf, RxParamSetupReq, RxTimingSetupReq, TxParamSetupReq,
};
use lorawan::region::{ExtraChannel, Network, Region, Revision};
use ns_core::adr::{AdrAlgorithm, AdrRegistry, AdrRequest, DefaultAdr};
use ns_core::mac::{
    self, DesiredSettings, IgnoreReason, MacConfig, MacEvent, MacOutcome, UplinkInfo,
};
use ns_core::model::{AdrHistoryEntry, DeviceClass, DeviceProfile, DeviceSession, MacVersion};
use packet_forwarder::gw;
use serde_json::{Value, json};

#[path = "support/fixtures.rs"]
mod fixtures;

use fixtures::{GW1, network, profile, session, t0};

// ---------------------------------------------------------------------------
// Fixtures

fn eu868() -> Network {
    network(Region::Eu868, |_| {})
}

fn eu868_with_extra_channels() -> Network {
    network(Region::Eu868, |c| {
        for frequency in [867_100_000, 867_300_000] {
            c.network.extra_channels.push(ExtraChannel {
                frequency,
                min_dr: 0,
                max_dr: 5,
            });
        }
    })
}

fn us915_sub_band_2() -> Network {
    network(Region::Us915, |c| c.network.enabled_sub_bands = vec![2])
}

fn eu_profile() -> DeviceProfile {
    profile(Region::Eu868, MacVersion::V1_0_3, Revision::Rp002_1_0_3)
}

/// An EU868 session whose last status request was just made, so that
/// DevStatusReq stays out of the way.
fn quiet_session(changes: Value) -> DeviceSession {
    let mut s = session(changes);
    s.last_device_status_request = Some(t0());
    s
}

fn rx(snr: f32) -> gw::UplinkRxInfo {
    fixtures::rx(GW1, snr, -100)
}

/// The uplink commands in `fopts`, read as a network server reads them.
fn uplink_commands(fopts: &[u8]) -> Vec<MacCommand> {
    wire::parse(Direction::Uplink, fopts)
        .collect::<Result<_, _>>()
        .expect("valid uplink MAC commands")
}

/// The bytes of downlink commands, as FOpts carries them.
fn downlink_bytes(commands: &[MacCommand]) -> Vec<u8> {
    let mut buf = [0u8; 242];
    let n = wire::emit_all(commands, &mut buf).expect("commands encode");
    buf[..n].to_vec()
}

fn handle(
    session: &mut DeviceSession,
    profile: &DeviceProfile,
    dr: u8,
    rx_infos: &[gw::UplinkRxInfo],
    fopts: &[u8],
) -> MacOutcome {
    mac::handle_uplink(
        t0(),
        session,
        profile,
        &UplinkInfo { dr, rx_infos },
        &uplink_commands(fopts),
        &MacConfig::default(),
    )
}

fn requests(
    session: &mut DeviceSession,
    profile: &DeviceProfile,
    desired: &DesiredSettings,
    max_bytes: usize,
) -> Vec<MacCommand> {
    mac::requests(
        t0(),
        session,
        profile,
        desired,
        &MacConfig::default(),
        &AdrRegistry::default(),
        max_bytes,
    )
}

fn history(
    snr: f32,
    tx_power_index: u8,
    f_cnts: impl IntoIterator<Item = u32>,
) -> Vec<AdrHistoryEntry> {
    f_cnts
        .into_iter()
        .map(|f_cnt| AdrHistoryEntry {
            f_cnt,
            max_snr: snr,
            max_rssi: -100,
            tx_power_index,
            gateway_count: 1,
        })
        .collect()
}

/// What `pick` takes from the events of `outcome`.
fn events<T>(outcome: &MacOutcome, pick: impl FnMut(&MacEvent) -> Option<T>) -> Vec<T> {
    outcome.events.iter().filter_map(pick).collect()
}

fn acknowledged(outcome: &MacOutcome) -> Vec<MacCommand> {
    events(outcome, |e| match e {
        MacEvent::Acknowledged { request, .. } => Some(*request),
        _ => None,
    })
}

fn rejected(outcome: &MacOutcome) -> Vec<(MacCommand, u32)> {
    events(outcome, |e| match e {
        MacEvent::Rejected {
            request,
            error_count,
            ..
        } => Some((*request, *error_count)),
        _ => None,
    })
}

fn ignored(outcome: &MacOutcome) -> Vec<IgnoreReason> {
    events(outcome, |e| match e {
        MacEvent::Ignored { reason, .. } => Some(*reason),
        _ => None,
    })
}

/// LinkADRAns with every bit set, as FOpts bytes.
const LINK_ADR_ANS_OK: [u8; 2] = [0x03, 0x07];

// ---------------------------------------------------------------------------
// Device requests

#[test]
fn link_check_req_answers_the_best_margin_and_the_gateway_count() {
    let mut s = session(json!({"dr": 2}));
    // DR2 is SF10, which needs −15 dB: margins 13 and 17.
    let out = handle(&mut s, &eu_profile(), 2, &[rx(-2.0), rx(2.0)], &[0x02]);
    assert_eq!(
        out.answers,
        [MacCommand::LinkCheckAns(LinkCheckAns {
            margin: 17,
            gw_cnt: 2
        })]
    );
    assert_eq!(downlink_bytes(&out.answers), [0x02, 17, 2]);
    assert!(out.needs_downlink());

    // Below the floor the margin is 0, not negative.
    let out = handle(&mut s, &eu_profile(), 2, &[rx(-20.0)], &[0x02]);
    assert_eq!(downlink_bytes(&out.answers), [0x02, 0, 1]);
}

#[test]
fn device_time_req_answers_the_gateway_gps_time() {
    let mut s = session(json!({}));
    let mut with_gps = rx(0.0);
    with_gps.time_since_gps_epoch = Some(gw::Duration {
        seconds: 1_400_000_000,
        nanos: 500_000_000,
    });
    let out = handle(&mut s, &eu_profile(), 0, &[rx(0.0), with_gps], &[0x0d]);
    let answer = DeviceTimeAns {
        seconds: 1_400_000_000,
        fractional_second: 128,
    };
    assert_eq!(out.answers, [MacCommand::DeviceTimeAns(answer)]);
    assert_eq!(
        downlink_bytes(&out.answers),
        [0x0d, 0x00, 0x4e, 0x72, 0x53, 0x80]
    );
}

#[test]
fn device_time_req_without_gateway_time_answers_now_in_gps_time() {
    let mut s = session(json!({}));
    let out = handle(&mut s, &eu_profile(), 0, &[rx(0.0)], &[0x0d]);
    // Unix 1 700 000 000 − 315 964 800 (the GPS epoch) + 18 leap seconds.
    assert_eq!(
        out.answers,
        [MacCommand::DeviceTimeAns(DeviceTimeAns {
            seconds: 1_384_035_218,
            fractional_second: 0
        })]
    );
}

#[test]
fn device_mode_ind_switches_the_class_and_is_confirmed() {
    let mut s = session(json!({"mac_version": "1.1.0"}));
    let p = profile(Region::Eu868, MacVersion::V1_1_0, Revision::Rp002_1_0_3);
    let out = handle(&mut s, &p, 0, &[rx(0.0)], &[0x20, 0x02]);
    assert_eq!(out.device_class, Some(DeviceClass::C));
    assert_eq!(
        out.answers,
        [MacCommand::DeviceModeConf(DeviceModeConf {
            class: ModeClass::C
        })]
    );
    assert_eq!(downlink_bytes(&out.answers), [0x20, 0x02]);
}

#[test]
fn rekey_ind_is_confirmed_for_1_1_sessions_only() {
    let p = profile(Region::Eu868, MacVersion::V1_1_0, Revision::Rp002_1_0_3);
    let mut s = session(json!({"mac_version": "1.1.0"}));
    // A device of a later minor version gets the server's.
    let out = handle(&mut s, &p, 0, &[rx(0.0)], &[0x0b, 0x02]);
    assert_eq!(out.answers, [MacCommand::RekeyConf(RekeyConf { minor: 1 })]);

    let mut old = session(json!({}));
    let out = handle(&mut old, &eu_profile(), 0, &[rx(0.0)], &[0x0b, 0x01]);
    assert!(out.answers.is_empty());
    assert_eq!(ignored(&out), [IgnoreReason::NotForThisDevice]);
}

#[test]
fn reset_ind_of_an_abp_1_1_device_resets_its_radio_settings() {
    let mut p = profile(Region::Eu868, MacVersion::V1_1_0, Revision::Rp002_1_0_3);
    p.supports_otaa = false;
    p.abp_rx1_delay = 2;
    p.abp_rx2_dr = 3;
    let mut s = session(json!({
        "mac_version": "1.1.0",
        "dr": 5,
        "tx_power_index": 4,
        "nb_trans": 3,
        "rx1_delay": 5,
        "rx2_frequency": 869_000_000,
        "enabled_uplink_channel_indices": [0, 3],
        "extra_uplink_channels": [{"frequency": 867_100_000, "min_dr": 0, "max_dr": 5}],
        "mac_command_pending": [{"cid": 5, "request": [5, 0, 0, 0, 0], "attempts": 1}],
        "mac_command_error_count": {"3": 2},
        "uplink_adr_history": [{"f_cnt": 1, "max_snr": 1.0, "max_rssi": -90, "tx_power_index": 4, "gateway_count": 1}],
    }));
    let out = handle(&mut s, &p, 5, &[rx(0.0)], &[0x01, 0x01]);
    assert_eq!(out.answers, [MacCommand::ResetConf(ResetConf { minor: 1 })]);
    assert_eq!(
        (s.rx1_delay, s.rx2_dr, s.rx2_frequency),
        (2, 3, 869_525_000)
    );
    assert_eq!((s.tx_power_index, s.nb_trans), (0, 1));
    assert_eq!(s.enabled_uplink_channel_indices, [0, 1, 2]);
    assert!(s.extra_uplink_channels.is_empty());
    assert!(s.mac_command_pending.is_empty() && s.mac_command_error_count.is_empty());
    assert!(s.uplink_adr_history.is_empty());
    assert_eq!(
        (s.dr, s.f_cnt_up),
        (5, 100),
        "the uplink's DR and the counters stay"
    );

    // An OTAA device never sends ResetInd: ignored, nothing reset.
    let mut otaa = session(json!({"mac_version": "1.1.0", "nb_trans": 3}));
    let out = handle(
        &mut otaa,
        &profile(Region::Eu868, MacVersion::V1_1_0, Revision::Rp002_1_0_3),
        0,
        &[],
        &[0x01, 0x01],
    );
    assert!(out.answers.is_empty());
    assert_eq!(otaa.nb_trans, 3);
}

#[test]
fn dev_status_ans_becomes_a_status_event() {
    let mut s = session(json!({}));
    let out = handle(&mut s, &eu_profile(), 0, &[], &[0x06, 127, 0x3e]);
    let status = out.status.expect("a status");
    assert_eq!(status.margin, -2);
    assert!((status.battery_level - 50.0).abs() < 0.01);
    assert!(!status.external_power_source && !status.battery_level_unavailable);

    let out = handle(&mut s, &eu_profile(), 0, &[], &[0x06, 0, 10]);
    let status = out.status.unwrap();
    assert!(status.external_power_source);
    assert_eq!((status.battery_level, status.margin), (0.0, 10));

    let out = handle(&mut s, &eu_profile(), 0, &[], &[0x06, 255, 0]);
    assert!(out.status.unwrap().battery_level_unavailable);
}

// ---------------------------------------------------------------------------
// Answers to the server's requests

#[test]
fn an_answer_without_a_pending_request_is_ignored_and_changes_nothing() {
    let mut s = session(json!({"dr": 3}));
    let before = s.clone();
    let out = handle(
        &mut s,
        &eu_profile(),
        3,
        &[],
        &[0x03, 0x07, 0x07, 0x03, 0x04],
    );
    assert_eq!(
        ignored(&out),
        [
            IgnoreReason::NoPendingRequest,
            IgnoreReason::NoPendingRequest,
            IgnoreReason::NoPendingRequest
        ]
    );
    assert_eq!(s, before);
    assert!(!out.needs_downlink());
}

#[test]
fn class_b_and_relay_commands_are_left_alone() {
    let mut s = session(json!({}));
    let before = s.clone();
    // PingSlotInfoReq and RelayConfAns.
    let out = handle(&mut s, &eu_profile(), 0, &[], &[0x10, 0x03, 0x40, 0x0f]);
    assert_eq!(
        ignored(&out),
        [IgnoreReason::NotHandled, IgnoreReason::NotHandled]
    );
    assert_eq!(s, before);
}

#[test]
fn rx_param_setup_is_applied_only_when_every_bit_is_acknowledged() {
    let net = eu868();
    let mut desired = DesiredSettings::from_network(&net);
    desired.rx2_dr = 3;
    desired.rx2_frequency = 869_525_000;
    desired.rx1_dr_offset = 1;
    let p = eu_profile();

    let mut s = quiet_session(json!({}));
    let sent = requests(&mut s, &p, &desired, 15);
    let req = RxParamSetupReq {
        rx1_dr_offset: 1,
        rx2_data_rate: 3,
        frequency: 869_525_000,
    };
    assert_eq!(sent, [MacCommand::RxParamSetupReq(req)]);
    assert_eq!(downlink_bytes(&sent), [0x05, 0x13, 0xd2, 0xad, 0x84]);

    // Channel ACK and RX2 DR ACK, but not the RX1 offset.
    let out = handle(&mut s, &p, 0, &[], &[0x05, 0x03]);
    assert_eq!((s.rx1_dr_offset, s.rx2_dr), (0, 0));
    assert_eq!(rejected(&out), [(MacCommand::RxParamSetupReq(req), 1)]);
    assert!(
        out.downlink_required,
        "the device repeats its answer until a downlink"
    );

    // Retried once (error count 1 is within the limit), then acknowledged.
    assert_eq!(
        requests(&mut s, &p, &desired, 15),
        [MacCommand::RxParamSetupReq(req)]
    );
    let out = handle(&mut s, &p, 0, &[], &[0x05, 0x07]);
    assert_eq!(acknowledged(&out), [MacCommand::RxParamSetupReq(req)]);
    assert_eq!(
        (s.rx1_dr_offset, s.rx2_dr, s.rx2_frequency),
        (1, 3, 869_525_000)
    );
    assert!(
        s.mac_command_error_count.is_empty(),
        "an ACK clears the count"
    );
    assert!(requests(&mut s, &p, &desired, 15).is_empty());

    // The repeated answer finds nothing pending and still wants a downlink.
    let out = handle(&mut s, &p, 0, &[], &[0x05, 0x07]);
    assert_eq!(ignored(&out), [IgnoreReason::NoPendingRequest]);
    assert!(out.needs_downlink());
}

#[test]
fn rx_timing_setup_is_requested_and_applied() {
    let net = network(Region::Eu868, |c| c.network.rx1_delay = Some(3));
    let desired = DesiredSettings::from_network(&net);
    let p = eu_profile();
    let mut s = quiet_session(json!({}));
    let sent = requests(&mut s, &p, &desired, 15);
    assert_eq!(
        sent,
        [MacCommand::RxTimingSetupReq(RxTimingSetupReq { delay: 3 })]
    );
    assert_eq!(downlink_bytes(&sent), [0x08, 0x03]);
    let out = handle(&mut s, &p, 0, &[], &[0x08]);
    assert_eq!(s.rx1_delay, 3);
    assert!(out.downlink_required);
    assert!(requests(&mut s, &p, &desired, 15).is_empty());
}

#[test]
fn tx_param_setup_is_requested_where_the_region_implements_it() {
    let net = network(Region::As923_1, |_| {});
    let desired = DesiredSettings::from_network(&net);
    let p = profile(Region::As923_1, MacVersion::V1_0_3, Revision::Rp002_1_0_3);
    let mut s = quiet_session(json!({
        "region_config_id": "as923-1",
        "rx2_dr": 2,
        "rx2_frequency": 923_200_000,
        "enabled_uplink_channel_indices": [0, 1],
        "uplink_dwell_time_400ms": true,
        "downlink_dwell_time_400ms": true,
    }));
    let sent = requests(&mut s, &p, &desired, 15);
    // Dwell times on both ways, MaxEIRP 16 dBm (index 5).
    let req = TxParamSetupReq {
        downlink_dwell_time: true,
        uplink_dwell_time: true,
        max_eirp: 5,
    };
    assert_eq!(sent, [MacCommand::TxParamSetupReq(req)]);
    assert_eq!(downlink_bytes(&sent), [0x09, 0x35]);
    handle(&mut s, &p, 2, &[], &[0x09]);
    assert_eq!(s.uplink_max_eirp_index, 5);
    assert!(requests(&mut s, &p, &desired, 15).is_empty());

    // EU868 devices do not implement it.
    let mut eu = quiet_session(json!({"uplink_max_eirp_index": 3}));
    assert!(
        requests(
            &mut eu,
            &eu_profile(),
            &DesiredSettings::from_network(&eu868()),
            15
        )
        .is_empty()
    );
}

#[test]
fn new_channel_req_adds_the_network_extra_channels_at_the_device_indices() {
    let net = eu868_with_extra_channels();
    let desired = DesiredSettings::from_network(&net);
    let p = eu_profile();
    let mut s = quiet_session(json!({}));

    let sent = requests(&mut s, &p, &desired, 15);
    let ch3 = NewChannelReq {
        ch_index: 3,
        frequency: 867_100_000,
        max_dr: 5,
        min_dr: 0,
    };
    let ch4 = NewChannelReq {
        ch_index: 4,
        frequency: 867_300_000,
        ..ch3
    };
    // No LinkADRReq beside NewChannelReq.
    assert_eq!(
        sent,
        [
            MacCommand::NewChannelReq(ch3),
            MacCommand::NewChannelReq(ch4)
        ]
    );
    assert_eq!(
        downlink_bytes(&sent),
        [
            0x07, 3, 0x18, 0x4f, 0x84, 0x50, 0x07, 4, 0xe8, 0x56, 0x84, 0x50
        ]
    );

    // Channel 3 accepted, channel 4 refused (frequency not OK).
    let out = handle(&mut s, &p, 0, &[], &[0x07, 0x03, 0x07, 0x02]);
    assert_eq!(acknowledged(&out), [MacCommand::NewChannelReq(ch3)]);
    assert_eq!(rejected(&out), [(MacCommand::NewChannelReq(ch4), 1)]);
    assert_eq!(s.enabled_uplink_channel_indices, [0, 1, 2, 3]);
    assert_eq!(s.extra_uplink_channels.len(), 1);
    assert_eq!(s.extra_uplink_channels[0].frequency, 867_100_000);

    // Retried; when accepted the channel is defined and enabled.
    assert_eq!(
        requests(&mut s, &p, &desired, 15),
        [MacCommand::NewChannelReq(ch4)]
    );
    handle(&mut s, &p, 0, &[], &[0x07, 0x03]);
    assert_eq!(s.enabled_uplink_channel_indices, [0, 1, 2, 3, 4]);
    assert!(requests(&mut s, &p, &desired, 15).is_empty());
}

#[test]
fn a_refused_new_channel_leaves_a_hole_that_the_next_request_fills() {
    let net = eu868_with_extra_channels();
    let desired = DesiredSettings::from_network(&net);
    let p = eu_profile();
    let mut s = quiet_session(json!({}));
    requests(&mut s, &p, &desired, 15);
    // Channel 3 refused, channel 4 accepted.
    handle(&mut s, &p, 0, &[], &[0x07, 0x02, 0x07, 0x03]);
    assert_eq!(s.extra_uplink_channels[0].frequency, 0, "slot 3 is a hole");
    assert_eq!(s.extra_uplink_channels[1].frequency, 867_300_000);
    assert_eq!(s.enabled_uplink_channel_indices, [0, 1, 2, 4]);
    // 867.1 MHz takes the hole at index 3.
    let sent = requests(&mut s, &p, &desired, 15);
    assert!(
        matches!(
            sent[..],
            [MacCommand::NewChannelReq(NewChannelReq {
                ch_index: 3,
                frequency: 867_100_000,
                ..
            })]
        ),
        "{sent:?}"
    );
}

#[test]
fn channels_the_network_no_longer_wants_are_masked_off() {
    let desired = DesiredSettings::from_network(&eu868());
    let p = eu_profile();
    let mut s = quiet_session(json!({
        "adr": false,
        "enabled_uplink_channel_indices": [0, 1, 2, 3],
        "extra_uplink_channels": [{"frequency": 867_900_000, "min_dr": 0, "max_dr": 5}],
    }));
    let sent = requests(&mut s, &p, &desired, 15);
    // ADR off, LoRaWAN 1.0.3: the current DR, power and NbTrans restated.
    let req = LinkAdrReq {
        data_rate: 0,
        tx_power: 0,
        ch_mask: ChMask(0x0007),
        ch_mask_cntl: 0,
        nb_trans: 1,
    };
    assert_eq!(sent, [MacCommand::LinkAdrReq(req)]);
    // A device with ADR off need only accept the mask.
    let out = handle(&mut s, &p, 0, &[], &[0x03, 0x01]);
    assert_eq!(acknowledged(&out).len(), 1);
    assert_eq!(s.enabled_uplink_channel_indices, [0, 1, 2]);
}

#[test]
fn a_1_0_4_device_with_adr_off_gets_keep_values() {
    let desired = DesiredSettings::from_network(&eu868());
    let p = profile(Region::Eu868, MacVersion::V1_0_4, Revision::Rp002_1_0_3);
    let mut s = quiet_session(json!({
        "mac_version": "1.0.4",
        "adr": false,
        "dr": 2,
        "enabled_uplink_channel_indices": [0, 1],
    }));
    let sent = requests(&mut s, &p, &desired, 15);
    assert_eq!(downlink_bytes(&sent), [0x03, 0xff, 0x07, 0x00, 0x00]);
    handle(&mut s, &p, 2, &[], &LINK_ADR_ANS_OK);
    assert_eq!((s.dr, s.tx_power_index, s.nb_trans), (2, 0, 1));
    assert_eq!(s.enabled_uplink_channel_indices, [0, 1, 2]);
}

#[test]
fn dl_channel_duty_cycle_and_adr_param_setup_are_sent_when_asked_for() {
    let net = eu868();
    let mut desired = DesiredSettings::from_network(&net);
    desired.duty_cycle = Some(DutyCycleReq { max_duty_cycle: 7 });
    desired.dl_channels = vec![DlChannelReq {
        ch_index: 1,
        frequency: 868_500_000,
    }];
    desired.adr_param_setup = Some(AdrParamSetupReq {
        limit_exp: 6,
        delay_exp: 5,
    });
    desired.rejoin_param_setup = Some(RejoinParamSetupReq {
        max_time_n: 10,
        max_count_n: 8,
    });

    // A 1.0.3 device gets the two that exist in LoRaWAN 1.0.
    let mut s = quiet_session(json!({}));
    let sent = requests(&mut s, &eu_profile(), &desired, 15);
    assert_eq!(
        downlink_bytes(&sent),
        [0x04, 0x07, 0x0a, 0x01, 0xc8, 0x85, 0x84]
    );

    let out = handle(&mut s, &eu_profile(), 0, &[], &[0x04, 0x0a, 0x03]);
    assert_eq!(
        acknowledged(&out),
        [
            MacCommand::DutyCycleReq(DutyCycleReq { max_duty_cycle: 7 }),
            MacCommand::DlChannelReq(desired.dl_channels[0])
        ]
    );
    assert!(
        out.downlink_required,
        "DlChannelAns is repeated until a downlink"
    );

    // A 1.1 device also gets RejoinParamSetupReq and ADRParamSetupReq.
    let p11 = profile(Region::Eu868, MacVersion::V1_1_0, Revision::Rp002_1_0_3);
    let mut s11 = quiet_session(json!({"mac_version": "1.1.0"}));
    let sent = requests(&mut s11, &p11, &desired, 15);
    let cids: Vec<u8> = sent.iter().map(MacCommand::cid).collect();
    assert_eq!(cids, [0x0f, 0x04, 0x0a, 0x0c]);
    // RejoinParamSetupAns without TimeOK still acknowledges (MaxCountN taken).
    let out = handle(&mut s11, &p11, 0, &[], &[0x0f, 0x00, 0x0c]);
    assert_eq!(acknowledged(&out).len(), 2);
    assert_eq!(
        s11.mac_command_pending.len(),
        2,
        "DutyCycleReq and DlChannelReq still pending"
    );
}

// ---------------------------------------------------------------------------
// LinkADRReq: ADR and channel masks

/// An EU868 session with ADR on at DR0 and 20 uplinks at +5 dB behind it.
fn adr_session() -> DeviceSession {
    let mut s = quiet_session(json!({}));
    s.uplink_adr_history = history(5.0, 0, 80..100);
    s
}

#[test]
fn link_adr_req_is_applied_when_acknowledged() {
    let desired = DesiredSettings::from_network(&eu868());
    let p = eu_profile();
    let mut s = adr_session();
    let sent = requests(&mut s, &p, &desired, 15);
    // Margin 5 − (−20) − 10 = 15 dB: five steps, DR0 → DR5.
    let req = LinkAdrReq {
        data_rate: 5,
        tx_power: 0,
        ch_mask: ChMask(0x0007),
        ch_mask_cntl: 0,
        nb_trans: 1,
    };
    assert_eq!(sent, [MacCommand::LinkAdrReq(req)]);
    assert_eq!(downlink_bytes(&sent), [0x03, 0x50, 0x07, 0x00, 0x01]);
    assert_eq!(
        s.mac_command_pending[0].request,
        [0x03, 0x50, 0x07, 0x00, 0x01]
    );

    let out = handle(&mut s, &p, 0, &[], &LINK_ADR_ANS_OK);
    assert_eq!(acknowledged(&out), [MacCommand::LinkAdrReq(req)]);
    assert_eq!((s.dr, s.tx_power_index, s.nb_trans), (5, 0, 1));
    assert!(s.uplink_adr_history.is_empty(), "new settings, new history");
    assert!(s.mac_command_pending.is_empty());
}

#[test]
fn a_refused_link_adr_req_changes_nothing_and_stops_after_the_limit() {
    let desired = DesiredSettings::from_network(&eu868());
    let p = eu_profile();
    let mut s = adr_session();

    // First refusal: data rate NACK.
    assert_eq!(requests(&mut s, &p, &desired, 15).len(), 1);
    let out = handle(&mut s, &p, 0, &[], &[0x03, 0x05]);
    assert_eq!(rejected(&out).len(), 1);
    assert_eq!((s.dr, s.tx_power_index), (0, 0));
    assert_eq!(s.uplink_adr_history.len(), 20);
    assert_eq!(s.mac_command_error_count.get(&0x03), Some(&1));

    // One retry is allowed; a second refusal is final for the session.
    assert_eq!(requests(&mut s, &p, &desired, 15).len(), 1);
    handle(&mut s, &p, 0, &[], &[0x03, 0x05]);
    assert_eq!(s.mac_command_error_count.get(&0x03), Some(&2));
    assert!(requests(&mut s, &p, &desired, 15).is_empty());

    // A higher limit keeps trying.
    let mut config = MacConfig::default();
    config.max_error_count = 3;
    let sent = mac::requests(
        t0(),
        &mut s,
        &p,
        &desired,
        &config,
        &AdrRegistry::default(),
        15,
    );
    assert_eq!(sent.len(), 1);
}

#[test]
fn a_refused_power_lowers_the_highest_power_index() {
    let desired = DesiredSettings::from_network(&eu868());
    let p = eu_profile();
    let mut s = quiet_session(json!({"dr": 5}));
    // +14 dB at DR5: (14 + 7.5 − 10) / 3 = 3 steps of power: index 3.
    s.uplink_adr_history = history(14.0, 0, 0..20);
    let sent = requests(&mut s, &p, &desired, 15);
    assert!(matches!(
        sent[..],
        [MacCommand::LinkAdrReq(LinkAdrReq {
            data_rate: 5,
            tx_power: 3,
            ..
        })]
    ));
    handle(&mut s, &p, 5, &[], &[0x03, 0x03]);
    assert_eq!(s.max_supported_tx_power_index, 2);
    let sent = requests(&mut s, &p, &desired, 15);
    assert!(
        matches!(
            sent[..],
            [MacCommand::LinkAdrReq(LinkAdrReq { tx_power: 2, .. })]
        ),
        "{sent:?}"
    );
}

/// A US915 session with all 72 channels enabled, as after a join of a
/// device that takes no channel-mask CFList.
fn us915_session(version: &str) -> DeviceSession {
    quiet_session(json!({
        "mac_version": version,
        "region_config_id": "us915",
        "rx2_dr": 8,
        "rx2_frequency": 923_300_000,
        "dr": 3,
        "adr": false,
        "enabled_uplink_channel_indices": (0..72).collect::<Vec<u8>>(),
    }))
}

#[test]
fn us915_sub_band_needs_a_block_of_link_adr_reqs_for_a_1_0_2_device() {
    let net = us915_sub_band_2();
    let desired = DesiredSettings::from_network(&net);
    // Regional parameters 1.0.2rB: ChMaskCntl 5 is RFU, so all 125 kHz
    // channels go off with 7 (leaving 500 kHz channel 65), then block 0.
    let p = profile(Region::Us915, MacVersion::V1_0_2, Revision::B);
    let mut s = us915_session("1.0.2");
    let sent = requests(&mut s, &p, &desired, 15);
    assert_eq!(
        downlink_bytes(&sent),
        [0x03, 0x30, 0x02, 0x00, 0x71, 0x03, 0x30, 0x00, 0xff, 0x01]
    );
    assert_eq!(s.mac_command_pending.len(), 1, "one pending block");
    assert_eq!(s.mac_command_pending[0].request.len(), 10);

    // One answer per command; all acknowledged.
    let out = handle(&mut s, &p, 3, &[], &[0x03, 0x07, 0x03, 0x07]);
    assert_eq!(acknowledged(&out).len(), 2);
    let wanted: Vec<u8> = (8..16).chain([65]).collect();
    assert_eq!(s.enabled_uplink_channel_indices, wanted);
    assert!(requests(&mut s, &p, &desired, 15).is_empty());
}

#[test]
fn us915_block_with_one_refusal_changes_nothing() {
    let desired = DesiredSettings::from_network(&us915_sub_band_2());
    let p = profile(Region::Us915, MacVersion::V1_0_2, Revision::B);
    let mut s = us915_session("1.0.2");
    s.adr = true; // a refusal counts even with ADR on
    requests(&mut s, &p, &desired, 15);
    let out = handle(&mut s, &p, 3, &[], &[0x03, 0x07, 0x03, 0x06]);
    assert_eq!(rejected(&out).len(), 2);
    assert_eq!(s.enabled_uplink_channel_indices.len(), 72);
}

#[test]
fn us915_rp002_device_takes_the_sub_band_in_one_command() {
    let desired = DesiredSettings::from_network(&us915_sub_band_2());
    let p = profile(Region::Us915, MacVersion::V1_0_3, Revision::Rp002_1_0_3);
    let mut s = us915_session("1.0.3");
    let sent = requests(&mut s, &p, &desired, 15);
    // ChMaskCntl 5, bank 1: channels 8–15 and 65.
    assert_eq!(downlink_bytes(&sent), [0x03, 0x30, 0x02, 0x00, 0x51]);
    handle(&mut s, &p, 3, &[], &LINK_ADR_ANS_OK);
    let wanted: Vec<u8> = (8..16).chain([65]).collect();
    assert_eq!(s.enabled_uplink_channel_indices, wanted);
}

#[test]
fn a_link_adr_block_is_sent_whole_or_not_at_all() {
    let desired = DesiredSettings::from_network(&us915_sub_band_2());
    let p = profile(Region::Us915, MacVersion::V1_0_2, Revision::B);
    let mut s = us915_session("1.0.2");
    s.last_device_status_request = None;
    // 10 bytes of LinkADRReq do not fit in 9: DevStatusReq (1 byte) goes.
    let sent = requests(&mut s, &p, &desired, 9);
    assert_eq!(sent, [MacCommand::DevStatusReq]);
    assert_eq!(s.mac_command_pending.len(), 1);
    assert_eq!(s.mac_command_pending[0].cid, 0x06);
    assert_eq!(s.last_device_status_request, Some(t0()));
}

// ---------------------------------------------------------------------------
// Selection, pending state, DevStatusReq

#[test]
fn selection_keeps_priority_order_within_the_room() {
    let net = eu868_with_extra_channels();
    let mut desired = DesiredSettings::from_network(&net);
    desired.rx1_delay = 2;
    let p = eu_profile();
    let mut s = session(json!({}));
    // 2 × NewChannelReq (12 bytes), DevStatusReq (1), RXTimingSetupReq (2).
    let all = requests(&mut s.clone(), &p, &desired, 242);
    let cids: Vec<u8> = all.iter().map(MacCommand::cid).collect();
    assert_eq!(cids, [0x07, 0x07, 0x06, 0x08]);
    // 8 bytes: one NewChannelReq (6), DevStatusReq (1); RXTimingSetupReq
    // (2) no longer fits.
    let sent = requests(&mut s, &p, &desired, 8);
    let cids: Vec<u8> = sent.iter().map(MacCommand::cid).collect();
    assert_eq!(cids, [0x07, 0x06]);
    let pending: Vec<u8> = s.mac_command_pending.iter().map(|p| p.cid).collect();
    assert_eq!(pending, [0x07, 0x06], "only what was sent is pending");
}

#[test]
fn an_unanswered_request_is_sent_again_and_counts_attempts() {
    let mut desired = DesiredSettings::from_network(&eu868());
    desired.rx1_delay = 2;
    let p = eu_profile();
    let mut s = quiet_session(json!({}));
    for attempt in 1..=3 {
        assert_eq!(requests(&mut s, &p, &desired, 15).len(), 1);
        // An uplink without the answer.
        handle(&mut s, &p, 0, &[], &[]);
        assert_eq!(s.mac_command_pending[0].attempts, attempt);
    }
    // A different request replaces the pending one.
    desired.rx1_delay = 3;
    requests(&mut s, &p, &desired, 15);
    assert_eq!(s.mac_command_pending[0].attempts, 1);
    assert_eq!(s.mac_command_pending[0].request, [0x08, 0x03]);
}

#[test]
fn dev_status_req_follows_the_profile_interval() {
    let desired = DesiredSettings::from_network(&eu868());
    let mut p = eu_profile();
    p.device_status_req_interval = 4; // every 6 hours
    let mut s = session(json!({}));
    let at = |h: u64| t0() + Duration::from_secs(h * 3600);
    let ask = |s: &mut DeviceSession, p: &DeviceProfile, t: SystemTime| {
        mac::requests(
            t,
            s,
            p,
            &desired,
            &MacConfig::default(),
            &AdrRegistry::default(),
            15,
        )
    };
    assert_eq!(ask(&mut s, &p, at(0)), [MacCommand::DevStatusReq]);
    assert!(ask(&mut s, &p, at(5)).is_empty());
    assert_eq!(ask(&mut s, &p, at(6)), [MacCommand::DevStatusReq]);
    assert_eq!(s.last_device_status_request, Some(at(6)));

    p.device_status_req_interval = 0;
    assert!(ask(&mut s, &p, at(100)).is_empty());
}

// ---------------------------------------------------------------------------
// ADR

/// One uplink heard at `link_snr` − 2 dB per TX power index (EU868's
/// steps), whatever the data rate.
fn uplink_snr(link_snr: f32, tx_power_index: u8) -> f32 {
    link_snr - 2.0 * f32::from(tx_power_index)
}

/// Runs ADR rounds: 20 uplinks at the session's settings, then a
/// LinkADRReq acknowledged; returns the (DR, TX power index) after each.
fn converge(s: &mut DeviceSession, link_snr: f32) -> Vec<(u8, u8)> {
    let desired = DesiredSettings::from_network(&eu868());
    let p = eu_profile();
    let mut steps = Vec::new();
    let mut f_cnt = 0;
    for _ in 0..10 {
        let snr = uplink_snr(link_snr, s.tx_power_index);
        s.uplink_adr_history = history(snr, s.tx_power_index, f_cnt..f_cnt + 20);
        f_cnt += 20;
        let sent = requests(s, &p, &desired, 15);
        if sent.is_empty() {
            break;
        }
        handle(s, &p, s.dr, &[], &LINK_ADR_ANS_OK);
        steps.push((s.dr, s.tx_power_index));
    }
    steps
}

#[test]
fn adr_with_a_good_link_raises_the_data_rate_then_lowers_the_power() {
    let mut s = quiet_session(json!({}));
    // 12 dB: at DR0 (−20 dB needed) 22 dB over the margin: 7 steps, five
    // of data rate and two of power; then 8 dB at DR5 (1 step), 6 dB (1
    // step), 4 dB (none).
    assert_eq!(converge(&mut s, 12.0), [(5, 2), (5, 3), (5, 4)]);
    assert_eq!((s.dr, s.tx_power_index), (5, 4));
}

#[test]
fn adr_with_a_poor_link_raises_the_power_once_the_history_is_full() {
    let desired = DesiredSettings::from_network(&eu868());
    let p = eu_profile();
    let mut s = quiet_session(json!({"dr": 5, "tx_power_index": 4}));
    // −5 dB at DR5: −5 + 7.5 − 10 = −7.5 dB, −2 steps.
    s.uplink_adr_history = history(-5.0, 4, 0..19);
    assert!(
        requests(&mut s, &p, &desired, 15).is_empty(),
        "19 uplinks are not enough"
    );
    s.uplink_adr_history = history(-5.0, 4, 0..20);
    let sent = requests(&mut s, &p, &desired, 15);
    assert!(
        matches!(
            sent[..],
            [MacCommand::LinkAdrReq(LinkAdrReq {
                data_rate: 5,
                tx_power: 2,
                ..
            })]
        ),
        "{sent:?}"
    );
    // The data rate is never lowered, even at full power.
    let mut s = quiet_session(json!({"dr": 5, "tx_power_index": 0}));
    s.uplink_adr_history = history(-30.0, 0, 0..20);
    assert!(requests(&mut s, &p, &desired, 15).is_empty());
}

#[test]
fn nb_trans_follows_packet_loss() {
    let desired = DesiredSettings::from_network(&eu868());
    let p = eu_profile();
    // DR5 at a margin of 0 dB: only NbTrans can change.
    let mut s = quiet_session(json!({"dr": 5}));
    // 20 uplinks with 4 lost: 20 %, NbTrans 1 → 2.
    let f_cnts: Vec<u32> = (0..24).filter(|f| f % 6 != 5).collect();
    s.uplink_adr_history = history(2.5, 0, f_cnts);
    let sent = requests(&mut s, &p, &desired, 15);
    assert!(
        matches!(
            sent[..],
            [MacCommand::LinkAdrReq(LinkAdrReq {
                data_rate: 5,
                tx_power: 0,
                nb_trans: 2,
                ..
            })]
        ),
        "{sent:?}"
    );
    // No loss brings it back down.
    handle(&mut s, &p, 5, &[], &LINK_ADR_ANS_OK);
    assert_eq!(s.nb_trans, 2);
    s.uplink_adr_history = history(2.5, 0, 100..120);
    let sent = requests(&mut s, &p, &desired, 15);
    assert!(
        matches!(
            sent[..],
            [MacCommand::LinkAdrReq(LinkAdrReq { nb_trans: 1, .. })]
        ),
        "{sent:?}"
    );
}

#[test]
fn adr_stays_off_when_the_device_or_the_region_disables_it() {
    let mut desired = DesiredSettings::from_network(&eu868());
    let p = eu_profile();
    let mut s = adr_session();
    s.adr = false;
    assert!(requests(&mut s, &p, &desired, 15).is_empty());
    let mut s = adr_session();
    desired.adr_disabled = true;
    assert!(requests(&mut s, &p, &desired, 15).is_empty());
}

#[test]
fn adr_respects_the_network_maximum_data_rate() {
    let net = network(Region::Eu868, |c| c.network.max_dr = Some(3));
    let desired = DesiredSettings::from_network(&net);
    let mut s = adr_session();
    let sent = requests(&mut s, &eu_profile(), &desired, 15);
    // 5 steps: three of data rate (to DR3), two of power.
    assert!(
        matches!(
            sent[..],
            [MacCommand::LinkAdrReq(LinkAdrReq {
                data_rate: 3,
                tx_power: 2,
                ..
            })]
        ),
        "{sent:?}"
    );
}

#[test]
fn an_unknown_adr_algorithm_changes_nothing() {
    let desired = DesiredSettings::from_network(&eu868());
    let mut p = eu_profile();
    p.adr_algorithm_id = "no-such".into();
    let mut s = adr_session();
    assert!(requests(&mut s, &p, &desired, 15).is_empty());
}

#[test]
fn the_registry_lists_the_default_algorithm() {
    let registry = AdrRegistry::default();
    let list: Vec<_> = registry.list().collect();
    assert_eq!(list, [("default", "Default ADR algorithm (LoRa only)")]);
    assert_eq!(DefaultAdr.id(), "default");
    let params = lorawan::region::params(Region::Eu868, Revision::Rp002_1_0_3);
    let h = history(-5.0, 0, 0..20);
    let req = AdrRequest::new(params, 0, &h);
    // At DR0 −5 dB leaves 5 dB: one step.
    assert_eq!(registry.handle("default", &req).dr, 1);
}

// ---------------------------------------------------------------------------
// Robustness

/// SplitMix64: a small seeded generator, so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, max_len: u64) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn arbitrary_commands_and_pending_state_never_panic() {
    let networks = [
        eu868_with_extra_channels(),
        us915_sub_band_2(),
        network(Region::As923_1, |_| {}),
    ];
    let regions = [Region::Eu868, Region::Us915, Region::As923_1];
    let versions = [
        (MacVersion::V1_0_2, "1.0.2"),
        (MacVersion::V1_0_4, "1.0.4"),
        (MacVersion::V1_1_0, "1.1.0"),
    ];
    let revisions = [Revision::B, Revision::Rp002_1_0_3];
    let registry = AdrRegistry::default();
    let mut rng = Rng(0x5eed_0001);
    for round in 0..3000 {
        let which = rng.below(3) as usize;
        let (version, version_name) = versions[rng.below(3) as usize];
        let mut p = profile(regions[which], version, revisions[rng.below(2) as usize]);
        p.supports_otaa = rng.below(2) == 0;
        let mut desired = DesiredSettings::from_network(&networks[which]);
        desired.rx1_delay = rng.below(20) as u8;
        desired.rx2_frequency = rng.next() as u32;
        desired.dl_channels = vec![DlChannelReq {
            ch_index: rng.next() as u8,
            frequency: rng.next() as u32,
        }];

        let mut s = session(json!({
            "mac_version": version_name,
            "dr": rng.below(16),
            "tx_power_index": rng.below(16),
            "nb_trans": rng.below(16),
            "adr": rng.below(2) == 0,
            "max_supported_tx_power_index": rng.below(16),
            "enabled_uplink_channel_indices": rng.bytes(80),
            "extra_uplink_channels": (0..rng.below(20)).map(|_| json!({
                "frequency": rng.next() as u32 % 3 * 867_100_000,
                "min_dr": rng.below(16),
                "max_dr": rng.below(16),
            })).collect::<Vec<_>>(),
        }));
        // Pending blocks of random bytes, under random CIDs.
        for _ in 0..rng.below(4) {
            let mut request = rng.bytes(30);
            let cid = rng.below(0x21) as u8;
            if rng.below(2) == 0 {
                request.insert(0, cid);
            }
            s.mac_command_pending
                .push(ns_core::model::PendingMacCommand {
                    cid,
                    request,
                    attempts: rng.next() as u8,
                });
        }
        s.uplink_adr_history = (0..rng.below(25))
            .map(|_| AdrHistoryEntry {
                f_cnt: rng.next() as u32,
                max_snr: (rng.next() as i32 as f32) / 1e7,
                max_rssi: -100,
                tx_power_index: rng.below(16) as u8,
                gateway_count: 1,
            })
            .collect();

        let fopts = rng.bytes(40);
        let commands: Vec<MacCommand> = wire::parse(Direction::Uplink, &fopts)
            .map_while(Result::ok)
            .collect();
        let mut rx_info = rx((rng.next() as i32 as f32) / 1e6);
        if rng.below(2) == 0 {
            rx_info.time_since_gps_epoch = Some(gw::Duration {
                seconds: rng.next() as i64,
                nanos: rng.next() as i32,
            });
        }
        let rx_infos = vec![rx_info; rng.below(3) as usize];
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(rng.below(4_000_000_000));
        let out = mac::handle_uplink(
            now,
            &mut s,
            &p,
            &UplinkInfo {
                dr: rng.below(16) as u8,
                rx_infos: &rx_infos,
            },
            &commands,
            &MacConfig::default(),
        );
        let mut buf = [0u8; 242];
        assert!(
            wire::emit_all(&out.answers, &mut buf).is_ok(),
            "round {round}: answers encode"
        );

        let room = rng.below(60) as usize;
        let sent = mac::requests(
            now,
            &mut s,
            &p,
            &desired,
            &MacConfig::default(),
            &registry,
            room,
        );
        assert!(
            mac::encoded_len(&sent) <= room,
            "round {round}: within the room"
        );
        assert!(
            wire::emit_all(&sent, &mut buf).is_ok(),
            "round {round}: requests encode"
        );
    }
}
