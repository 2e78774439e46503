//! Known-answer vectors: one or more for every command in both directions.

use super::super::*;
use crate::{DevAddr, Eui64};
use Direction::{Downlink, Uplink};

/// (direction, bytes, command). Most values are those of ChirpStack's `lrwn`
/// test table; the BeaconTiming and second FilterListReq vectors are worked out
/// from the specifications by hand.
pub(super) fn vectors() -> Vec<(Direction, Vec<u8>, MacCommand)> {
    use MacCommand as M;
    let eui = |b: [u8; 8]| Eui64::from_be_bytes(b);
    vec![
        (Uplink, vec![0x01, 0x01], M::ResetInd(ResetInd { minor: 1 })),
        (
            Downlink,
            vec![0x01, 0x01],
            M::ResetConf(ResetConf { minor: 1 }),
        ),
        (Uplink, vec![0x02], M::LinkCheckReq),
        (
            Downlink,
            vec![0x02, 0x0a, 0x0f],
            M::LinkCheckAns(LinkCheckAns {
                margin: 10,
                gw_cnt: 15,
            }),
        ),
        (
            Downlink,
            vec![0x03, 0x12, 0x04, 0x00, 0x45],
            M::LinkAdrReq(LinkAdrReq {
                data_rate: 1,
                tx_power: 2,
                ch_mask: ChMask(0x0004),
                ch_mask_cntl: 4,
                nb_trans: 5,
            }),
        ),
        (
            Uplink,
            vec![0x03, 0x01],
            M::LinkAdrAns(LinkAdrAns {
                power_ack: false,
                data_rate_ack: false,
                channel_mask_ack: true,
            }),
        ),
        (
            Uplink,
            vec![0x03, 0x06],
            M::LinkAdrAns(LinkAdrAns {
                power_ack: true,
                data_rate_ack: true,
                channel_mask_ack: false,
            }),
        ),
        (
            Downlink,
            vec![0x04, 0x0d],
            M::DutyCycleReq(DutyCycleReq { max_duty_cycle: 13 }),
        ),
        (Uplink, vec![0x04], M::DutyCycleAns),
        (
            Downlink,
            vec![0x05, 0x3b, 0x01, 0x02, 0x04],
            M::RxParamSetupReq(RxParamSetupReq {
                rx1_dr_offset: 3,
                rx2_data_rate: 11,
                frequency: 26_265_700,
            }),
        ),
        (
            Uplink,
            vec![0x05, 0x05],
            M::RxParamSetupAns(RxParamSetupAns {
                rx1_dr_offset_ack: true,
                rx2_data_rate_ack: false,
                channel_ack: true,
            }),
        ),
        (Downlink, vec![0x06], M::DevStatusReq),
        (
            Uplink,
            vec![0x06, 0x00, 0x22],
            M::DevStatusAns(DevStatusAns {
                battery: 0,
                margin: -30,
            }),
        ),
        (
            Uplink,
            vec![0x06, 0xff, 0x1e],
            M::DevStatusAns(DevStatusAns {
                battery: 255,
                margin: 30,
            }),
        ),
        (
            Uplink,
            vec![0x06, 0x7f, 0x3f],
            M::DevStatusAns(DevStatusAns {
                battery: 127,
                margin: -1,
            }),
        ),
        (
            Downlink,
            vec![0x07, 0x03, 0x01, 0x02, 0x04, 0x5a],
            M::NewChannelReq(NewChannelReq {
                ch_index: 3,
                frequency: 26_265_700,
                max_dr: 5,
                min_dr: 10,
            }),
        ),
        (
            Uplink,
            vec![0x07, 0x02],
            M::NewChannelAns(NewChannelAns {
                data_rate_range_ok: true,
                channel_frequency_ok: false,
            }),
        ),
        (
            Downlink,
            vec![0x08, 0x0f],
            M::RxTimingSetupReq(RxTimingSetupReq { delay: 15 }),
        ),
        (Uplink, vec![0x08], M::RxTimingSetupAns),
        (
            Downlink,
            vec![0x09, 0x2f],
            M::TxParamSetupReq(TxParamSetupReq {
                downlink_dwell_time: true,
                uplink_dwell_time: false,
                max_eirp: 15,
            }),
        ),
        (
            Downlink,
            vec![0x09, 0x1f],
            M::TxParamSetupReq(TxParamSetupReq {
                downlink_dwell_time: false,
                uplink_dwell_time: true,
                max_eirp: 15,
            }),
        ),
        (Uplink, vec![0x09], M::TxParamSetupAns),
        (
            Downlink,
            vec![0x0a, 0x01, 0x10, 0x7a, 0x84],
            M::DlChannelReq(DlChannelReq {
                ch_index: 1,
                frequency: 868_200_000,
            }),
        ),
        (
            Uplink,
            vec![0x0a, 0x02],
            M::DlChannelAns(DlChannelAns {
                uplink_frequency_exists: true,
                channel_frequency_ok: false,
            }),
        ),
        (Uplink, vec![0x0b, 0x01], M::RekeyInd(RekeyInd { minor: 1 })),
        (
            Downlink,
            vec![0x0b, 0x01],
            M::RekeyConf(RekeyConf { minor: 1 }),
        ),
        (
            Downlink,
            vec![0x0c, 0xaf],
            M::AdrParamSetupReq(AdrParamSetupReq {
                limit_exp: 10,
                delay_exp: 15,
            }),
        ),
        (Uplink, vec![0x0c], M::AdrParamSetupAns),
        (Uplink, vec![0x0d], M::DeviceTimeReq),
        (
            Downlink,
            vec![0x0d, 0x01, 0x00, 0x00, 0x00, 0x02],
            M::DeviceTimeAns(DeviceTimeAns {
                seconds: 1,
                fractional_second: 2,
            }),
        ),
        (
            Downlink,
            vec![0x0e, 0x25, 0x1c],
            M::ForceRejoinReq(ForceRejoinReq {
                period: 3,
                max_retries: 4,
                rejoin_type: 2,
                data_rate: 5,
            }),
        ),
        (
            Downlink,
            vec![0x0f, 0xef],
            M::RejoinParamSetupReq(RejoinParamSetupReq {
                max_time_n: 14,
                max_count_n: 15,
            }),
        ),
        (
            Uplink,
            vec![0x0f, 0x01],
            M::RejoinParamSetupAns(RejoinParamSetupAns { time_ok: true }),
        ),
        (
            Uplink,
            vec![0x10, 0x03],
            M::PingSlotInfoReq(PingSlotInfoReq { periodicity: 3 }),
        ),
        (Downlink, vec![0x10], M::PingSlotInfoAns),
        (
            Downlink,
            vec![0x11, 0x28, 0x76, 0x84, 0x05],
            M::PingSlotChannelReq(PingSlotChannelReq {
                frequency: 868_100_000,
                data_rate: 5,
            }),
        ),
        (
            Uplink,
            vec![0x11, 0x02],
            M::PingSlotChannelAns(PingSlotChannelAns {
                data_rate_ok: true,
                channel_frequency_ok: false,
            }),
        ),
        (Uplink, vec![0x12], M::BeaconTimingReq),
        (
            Downlink,
            vec![0x12, 0x34, 0x12, 0x05],
            M::BeaconTimingAns(BeaconTimingAns {
                delay: 0x1234,
                channel: 5,
            }),
        ),
        (
            Downlink,
            vec![0x13, 0x28, 0x76, 0x84],
            M::BeaconFreqReq(BeaconFreqReq {
                frequency: 868_100_000,
            }),
        ),
        (
            Uplink,
            vec![0x13, 0x01],
            M::BeaconFreqAns(BeaconFreqAns {
                beacon_frequency_ok: true,
            }),
        ),
        (
            Uplink,
            vec![0x20, 0x02],
            M::DeviceModeInd(DeviceModeInd {
                class: DeviceClass::C,
            }),
        ),
        (
            Downlink,
            vec![0x20, 0x00],
            M::DeviceModeConf(DeviceModeConf {
                class: DeviceClass::A,
            }),
        ),
        (
            Downlink,
            vec![0x40, 0xa5, 0x2c, 0x28, 0x76, 0x84],
            M::RelayConfReq(RelayConfReq {
                start_stop: true,
                cad_periodicity: 3,
                default_ch_idx: 0,
                second_ch_idx: 1,
                second_ch_dr: 4,
                second_ch_ack_offset: 5,
                second_ch_freq: 868_100_000,
            }),
        ),
        (
            Uplink,
            vec![0x40, 0x15],
            M::RelayConfAns(RelayConfAns {
                cad_periodicity_ack: false,
                default_ch_idx_ack: true,
                second_ch_idx_ack: false,
                second_ch_dr_ack: true,
                second_ch_ack_offset_ack: false,
                second_ch_freq_ack: true,
            }),
        ),
        (
            Downlink,
            vec![0x41, 0x0b, 0xa5, 0x7e, 0x28, 0x76, 0x84],
            M::EndDeviceConfReq(EndDeviceConfReq {
                relay_mode_activation: RelayModeActivation::Dynamic,
                smart_enable_level: 3,
                backoff: 63,
                second_ch_idx: 1,
                second_ch_dr: 4,
                second_ch_ack_offset: 5,
                second_ch_freq: 868_100_000,
            }),
        ),
        (
            Uplink,
            vec![0x41, 0x0d],
            M::EndDeviceConfAns(EndDeviceConfAns {
                backoff_ack: true,
                second_ch_idx_ack: true,
                second_ch_dr_ack: false,
                second_ch_freq_ack: true,
            }),
        ),
        (
            Downlink,
            vec![
                0x42, 0xb0, 0x01, 2, 2, 3, 4, 5, 6, 7, 8, 8, 7, 6, 5, 4, 3, 2, 1,
            ],
            M::FilterListReq(FilterListReq {
                filter_list_idx: 3,
                filter_list_action: FilterListAction::Forward,
                filter_list_eui: FilterListEui::join_eui_and_dev_eui(
                    eui([1, 2, 3, 4, 5, 6, 7, 8]),
                    eui([8, 7, 6, 5, 4, 3, 2, 2]),
                ),
            }),
        ),
        (
            // A JoinEUI-only rule: FilterList_Len 8, Filter, index 1.
            Downlink,
            vec![
                0x42, 0xc8, 0x00, 0x00, 0x00, 0x00, 0xd0, 0x7e, 0xd5, 0xb3, 0x70,
            ],
            M::FilterListReq(FilterListReq {
                filter_list_idx: 1,
                filter_list_action: FilterListAction::Filter,
                filter_list_eui: FilterListEui::join_eui(eui([
                    0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0x00, 0x00, 0x00,
                ])),
            }),
        ),
        (
            // Rule 0 cleared: no EUI bytes at all.
            Downlink,
            vec![0x42, 0x00, 0x00],
            M::FilterListReq(FilterListReq {
                filter_list_idx: 0,
                filter_list_action: FilterListAction::NoRule,
                filter_list_eui: FilterListEui::default(),
            }),
        ),
        (
            Uplink,
            vec![0x42, 0x02],
            M::FilterListAns(FilterListAns {
                combined_rules_ack: false,
                filter_list_len_ack: true,
                filter_list_action_ack: false,
            }),
        ),
        (
            Downlink,
            vec![
                0x43, 3, 188, 4, 3, 2, 1, 128, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6,
                7, 8,
            ],
            M::UpdateUplinkListReq(UpdateUplinkListReq {
                uplink_list_idx: 3,
                reload_rate: 60,
                bucket_size: 2,
                dev_addr: DevAddr::from_be_bytes([1, 2, 3, 4]),
                w_fcnt: 128,
                root_wor_s_key: crate::keys::RootWorSKey::from_be_bytes([
                    1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
                ]),
            }),
        ),
        (Uplink, vec![0x43], M::UpdateUplinkListAns),
        (
            Downlink,
            vec![0x44, 0x13],
            M::CtrlUplinkListReq(CtrlUplinkListReq {
                uplink_list_idx: 3,
                ctrl_uplink_action: CtrlUplinkAction::Remove,
            }),
        ),
        (
            Uplink,
            vec![0x44, 0x01, 0x80, 0x00, 0x00, 0x00],
            M::CtrlUplinkListAns(CtrlUplinkListAns {
                uplink_list_idx_ack: true,
                w_fcnt: 128,
            }),
        ),
        (
            Downlink,
            vec![0x45, 100, 45, 212, 56, 218],
            M::ConfigureFwdLimitReq(ConfigureFwdLimitReq {
                reset_limit_counter: ResetLimitCounter::NoChange,
                join_req_reload_rate: 70,
                notify_reload_rate: 80,
                global_uplink_reload_rate: 90,
                overall_reload_rate: 100,
                join_req_limit_size: 3,
                notify_limit_size: 1,
                global_uplink_limit_size: 2,
                overall_limit_size: 2,
            }),
        ),
        (Uplink, vec![0x45], M::ConfigureFwdLimitAns),
        (
            Uplink,
            vec![0x46, 4, 3, 2, 1, 42, 13],
            M::NotifyNewEndDeviceReq(NotifyNewEndDeviceReq {
                dev_addr: DevAddr::from_be_bytes([1, 2, 3, 4]),
                wor_snr: -10,
                wor_rssi: -120,
            }),
        ),
    ]
}

#[test]
fn known_answer_vectors_parse_and_emit() {
    for (direction, bytes, command) in vectors() {
        assert_eq!(
            parse_one(direction, &bytes),
            Ok((command, bytes.len())),
            "{direction:?} {bytes:02x?}"
        );
        assert_eq!(command.direction(), direction, "{command:?}");
        assert_eq!(command.cid(), bytes[0], "{command:?}");
        assert_eq!(command.encoded_len(), bytes.len(), "{command:?}");
        let mut buf = [0xaa; MAX_ENCODED_LEN];
        let n = command.emit(&mut buf).unwrap();
        assert_eq!(&buf[..n], &bytes[..], "{command:?}");
    }
}

#[test]
fn every_command_has_a_known_answer_vector() {
    let vectors = vectors();
    for &(direction, cid) in ALL_CIDS {
        assert!(
            vectors
                .iter()
                .any(|(d, b, _)| *d == direction && b[0] == cid),
            "no vector for {direction:?} {cid:#04x}"
        );
    }
    assert_eq!(ALL_CIDS.len(), 52);
}
