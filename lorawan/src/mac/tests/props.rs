//! Properties: every command round-trips, valid bytes re-emit with their RFU bits
//! cleared, and no value is written that does not fit its field.

use proptest::prelude::*;

use super::super::*;
use crate::DevAddr;
use Direction::{Downlink, Uplink};

/// For each payload byte, the bits the specification defines (the rest are RFU).
fn defined_bits(direction: Direction, cid: u8, payload_len: usize) -> Vec<u8> {
    let fixed: &[u8] = match (direction, cid) {
        (Uplink, 0x01 | 0x0b) | (Downlink, 0x01 | 0x0b | 0x04 | 0x08) => &[0x0f],
        (Uplink, 0x03 | 0x05) => &[0x07],
        (Uplink, 0x06) => &[0xff, 0x3f],
        (Uplink, 0x07 | 0x0a | 0x11) => &[0x03],
        (Uplink, 0x0f | 0x13) => &[0x01],
        (Uplink, 0x10) => &[0x07],
        (Uplink, 0x40) => &[0x3f],
        (Uplink, 0x41) => &[0x0f],
        (Uplink, 0x42) => &[0x07],
        (Uplink, 0x44) => &[0x01, 0xff, 0xff, 0xff, 0xff],
        (Uplink, 0x46) => &[0xff, 0xff, 0xff, 0xff, 0xff, 0x0f],
        (Downlink, 0x03) => &[0xff, 0xff, 0xff, 0x7f],
        (Downlink, 0x05) => &[0x7f, 0xff, 0xff, 0xff],
        (Downlink, 0x09) => &[0x3f],
        (Downlink, 0x0e) => &[0x7f, 0x3f],
        (Downlink, 0x11) => &[0xff, 0xff, 0xff, 0x0f],
        (Downlink, 0x40) => &[0xff, 0x3f, 0xff, 0xff, 0xff],
        (Downlink, 0x41) => &[0x0f, 0xff, 0x7f, 0xff, 0xff, 0xff],
        (Downlink, 0x42) => &[0xff, 0x07],
        (Downlink, 0x43) => &[0x0f],
        (Downlink, 0x44) => &[0x1f],
        (Downlink, 0x45) => &[0xff, 0xff, 0xff, 0x3f, 0xff],
        _ => &[],
    };
    let mut mask = vec![0xff; payload_len];
    for (m, f) in mask.iter_mut().zip(fixed) {
        *m = *f;
    }
    mask
}

fn freq() -> impl Strategy<Value = u32> {
    (0u32..=0xff_ffff).prop_map(|units| units * 100)
}

fn bits(n: u32) -> impl Strategy<Value = u8> {
    0..=((1u16 << n) - 1) as u8
}

fn class() -> impl Strategy<Value = DeviceClass> {
    prop_oneof![Just(DeviceClass::A), Just(DeviceClass::C)]
}

fn filter_list_eui() -> impl Strategy<Value = FilterListEui> {
    proptest::collection::vec(any::<u8>(), 0..=16)
        .prop_map(|prefix| FilterListEui::new(&prefix).unwrap())
}

/// Every command, with every field anywhere in its range.
fn command() -> impl Strategy<Value = MacCommand> {
    use MacCommand as M;
    prop_oneof![
        bits(4).prop_map(|minor| M::ResetInd(ResetInd { minor })),
        bits(4).prop_map(|minor| M::ResetConf(ResetConf { minor })),
        Just(M::LinkCheckReq),
        any::<(u8, u8)>()
            .prop_map(|(margin, gw_cnt)| M::LinkCheckAns(LinkCheckAns { margin, gw_cnt })),
        (bits(4), bits(4), any::<u16>(), bits(3), bits(4)).prop_map(|(d, t, m, c, n)| {
            M::LinkAdrReq(LinkAdrReq {
                data_rate: d,
                tx_power: t,
                ch_mask: ChMask(m),
                ch_mask_cntl: c,
                nb_trans: n,
            })
        }),
        any::<(bool, bool, bool)>().prop_map(|(p, d, c)| M::LinkAdrAns(LinkAdrAns {
            power_ack: p,
            data_rate_ack: d,
            channel_mask_ack: c
        })),
        bits(4).prop_map(|max_duty_cycle| M::DutyCycleReq(DutyCycleReq { max_duty_cycle })),
        Just(M::DutyCycleAns),
        (bits(3), bits(4), freq()).prop_map(|(o, d, f)| M::RxParamSetupReq(RxParamSetupReq {
            rx1_dr_offset: o,
            rx2_data_rate: d,
            frequency: f
        })),
        any::<(bool, bool, bool)>().prop_map(|(o, d, c)| M::RxParamSetupAns(RxParamSetupAns {
            rx1_dr_offset_ack: o,
            rx2_data_rate_ack: d,
            channel_ack: c
        })),
        Just(M::DevStatusReq),
        (any::<u8>(), -32i8..=31)
            .prop_map(|(battery, margin)| M::DevStatusAns(DevStatusAns { battery, margin })),
        (any::<u8>(), freq(), bits(4), bits(4)).prop_map(|(i, f, max, min)| {
            M::NewChannelReq(NewChannelReq {
                ch_index: i,
                frequency: f,
                max_dr: max,
                min_dr: min,
            })
        }),
        any::<(bool, bool)>().prop_map(|(d, c)| M::NewChannelAns(NewChannelAns {
            data_rate_range_ok: d,
            channel_frequency_ok: c
        })),
        bits(4).prop_map(|delay| M::RxTimingSetupReq(RxTimingSetupReq { delay })),
        Just(M::RxTimingSetupAns),
        (any::<bool>(), any::<bool>(), bits(4)).prop_map(|(d, u, e)| M::TxParamSetupReq(
            TxParamSetupReq {
                downlink_dwell_time: d,
                uplink_dwell_time: u,
                max_eirp: e
            }
        )),
        Just(M::TxParamSetupAns),
        (any::<u8>(), freq()).prop_map(|(ch_index, frequency)| M::DlChannelReq(DlChannelReq {
            ch_index,
            frequency
        })),
        any::<(bool, bool)>().prop_map(|(u, c)| M::DlChannelAns(DlChannelAns {
            uplink_frequency_exists: u,
            channel_frequency_ok: c
        })),
        bits(4).prop_map(|minor| M::RekeyInd(RekeyInd { minor })),
        bits(4).prop_map(|minor| M::RekeyConf(RekeyConf { minor })),
        (bits(4), bits(4)).prop_map(|(limit_exp, delay_exp)| M::AdrParamSetupReq(
            AdrParamSetupReq {
                limit_exp,
                delay_exp
            }
        )),
        Just(M::AdrParamSetupAns),
        Just(M::DeviceTimeReq),
        any::<(u32, u8)>().prop_map(|(seconds, fractional_second)| M::DeviceTimeAns(
            DeviceTimeAns {
                seconds,
                fractional_second
            }
        )),
        (bits(3), bits(3), bits(3), bits(4)).prop_map(|(p, m, t, d)| M::ForceRejoinReq(
            ForceRejoinReq {
                period: p,
                max_retries: m,
                rejoin_type: t,
                data_rate: d
            }
        )),
        (bits(4), bits(4)).prop_map(|(max_time_n, max_count_n)| M::RejoinParamSetupReq(
            RejoinParamSetupReq {
                max_time_n,
                max_count_n
            }
        )),
        any::<bool>().prop_map(|time_ok| M::RejoinParamSetupAns(RejoinParamSetupAns { time_ok })),
        bits(3).prop_map(|periodicity| M::PingSlotInfoReq(PingSlotInfoReq { periodicity })),
        Just(M::PingSlotInfoAns),
        (freq(), bits(4)).prop_map(|(frequency, data_rate)| M::PingSlotChannelReq(
            PingSlotChannelReq {
                frequency,
                data_rate
            }
        )),
        any::<(bool, bool)>().prop_map(|(d, c)| M::PingSlotChannelAns(PingSlotChannelAns {
            data_rate_ok: d,
            channel_frequency_ok: c
        })),
        Just(M::BeaconTimingReq),
        any::<(u16, u8)>()
            .prop_map(|(delay, channel)| M::BeaconTimingAns(BeaconTimingAns { delay, channel })),
        freq().prop_map(|frequency| M::BeaconFreqReq(BeaconFreqReq { frequency })),
        any::<bool>().prop_map(|ok| M::BeaconFreqAns(BeaconFreqAns {
            beacon_frequency_ok: ok
        })),
        class().prop_map(|class| M::DeviceModeInd(DeviceModeInd { class })),
        class().prop_map(|class| M::DeviceModeConf(DeviceModeConf { class })),
        (
            any::<bool>(),
            bits(3),
            bits(1),
            bits(2),
            bits(4),
            bits(3),
            freq()
        )
            .prop_map(|(s, c, d, i, dr, o, f)| M::RelayConfReq(RelayConfReq {
                start_stop: s,
                cad_periodicity: c,
                default_ch_idx: d,
                second_ch_idx: i,
                second_ch_dr: dr,
                second_ch_ack_offset: o,
                second_ch_freq: f
            })),
        any::<[bool; 6]>().prop_map(|a| M::RelayConfAns(RelayConfAns {
            cad_periodicity_ack: a[0],
            default_ch_idx_ack: a[1],
            second_ch_idx_ack: a[2],
            second_ch_dr_ack: a[3],
            second_ch_ack_offset_ack: a[4],
            second_ch_freq_ack: a[5]
        })),
        (bits(2), bits(2), bits(6), bits(2), bits(4), bits(3), freq()).prop_map(
            |(m, l, b, i, dr, o, f)| M::EndDeviceConfReq(EndDeviceConfReq {
                relay_mode_activation: RelayModeActivation::from_bits(m),
                smart_enable_level: l,
                backoff: b,
                second_ch_idx: i,
                second_ch_dr: dr,
                second_ch_ack_offset: o,
                second_ch_freq: f
            })
        ),
        any::<[bool; 4]>().prop_map(|a| M::EndDeviceConfAns(EndDeviceConfAns {
            backoff_ack: a[0],
            second_ch_idx_ack: a[1],
            second_ch_dr_ack: a[2],
            second_ch_freq_ack: a[3]
        })),
        (bits(4), 0u8..3, filter_list_eui()).prop_map(|(i, a, e)| M::FilterListReq(
            FilterListReq {
                filter_list_idx: i,
                filter_list_action: FilterListAction::from_bits(a).unwrap(),
                filter_list_eui: e
            }
        )),
        any::<[bool; 3]>().prop_map(|a| M::FilterListAns(FilterListAns {
            combined_rules_ack: a[0],
            filter_list_len_ack: a[1],
            filter_list_action_ack: a[2]
        })),
        (
            bits(4),
            bits(6),
            bits(2),
            any::<u32>(),
            any::<u32>(),
            any::<[u8; 16]>()
        )
            .prop_map(
                |(i, r, b, a, c, k)| M::UpdateUplinkListReq(UpdateUplinkListReq {
                    uplink_list_idx: i,
                    reload_rate: r,
                    bucket_size: b,
                    dev_addr: DevAddr::from_u32(a),
                    w_fcnt: c,
                    root_wor_s_key: crate::keys::RootWorSKey::from_be_bytes(k)
                })
            ),
        Just(M::UpdateUplinkListAns),
        (bits(4), any::<bool>()).prop_map(|(i, remove)| M::CtrlUplinkListReq(CtrlUplinkListReq {
            uplink_list_idx: i,
            ctrl_uplink_action: if remove {
                CtrlUplinkAction::Remove
            } else {
                CtrlUplinkAction::ReadWFCnt
            }
        })),
        any::<(bool, u32)>().prop_map(|(ack, w_fcnt)| M::CtrlUplinkListAns(CtrlUplinkListAns {
            uplink_list_idx_ack: ack,
            w_fcnt
        })),
        (
            bits(2),
            [bits(7), bits(7), bits(7), bits(7)],
            [bits(2), bits(2), bits(2), bits(2)]
        )
            .prop_map(
                |(reset, r, s)| M::ConfigureFwdLimitReq(ConfigureFwdLimitReq {
                    reset_limit_counter: ResetLimitCounter::from_bits(reset),
                    join_req_reload_rate: r[0],
                    notify_reload_rate: r[1],
                    global_uplink_reload_rate: r[2],
                    overall_reload_rate: r[3],
                    join_req_limit_size: s[0],
                    notify_limit_size: s[1],
                    global_uplink_limit_size: s[2],
                    overall_limit_size: s[3]
                })
            ),
        Just(M::ConfigureFwdLimitAns),
        (any::<u32>(), -20i8..=11, -142i16..=-15).prop_map(|(a, snr, rssi)| {
            M::NotifyNewEndDeviceReq(NotifyNewEndDeviceReq {
                dev_addr: DevAddr::from_u32(a),
                wor_snr: snr,
                wor_rssi: rssi,
            })
        }),
    ]
}

/// The payload length of the command `cid` names in `direction` when its payload
/// bytes are zero (for FilterListReq: an empty filter), if it names one.
fn zero_payload_len(direction: Direction, cid: u8) -> Option<usize> {
    let mut bytes = [0; MAX_ENCODED_LEN];
    bytes[0] = cid;
    parse_one(direction, &bytes)
        .ok()
        .map(|(c, _)| c.payload_len())
}

/// Byte strings that look like MAC commands: mostly known CIDs, mostly followed
/// by as many random bytes as their payload takes, sometimes fewer or more.
fn command_like_bytes() -> impl Strategy<Value = (Direction, Vec<u8>)> {
    let direction = prop_oneof![Just(Uplink), Just(Downlink)];
    direction.prop_flat_map(|direction| {
        let known: Vec<u8> = ALL_CIDS
            .iter()
            .filter(|(d, _)| *d == direction)
            .map(|&(_, c)| c)
            .collect();
        let cid = prop_oneof![9 => proptest::sample::select(known), 1 => any::<u8>()];
        let chunk = (
            cid,
            any::<[u8; MAX_ENCODED_LEN]>(),
            0usize..4,
            0usize..MAX_ENCODED_LEN,
        )
            .prop_map(move |(cid, random, pick, other_len)| {
                let exact = zero_payload_len(direction, cid).unwrap_or(other_len);
                let len = if pick == 0 { other_len } else { exact };
                let mut chunk = vec![cid];
                chunk.extend_from_slice(&random[..len]);
                chunk
            });
        proptest::collection::vec(chunk, 0..5).prop_map(move |chunks| (direction, chunks.concat()))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn every_command_round_trips_through_emit_and_parse(command in command()) {
        let mut buf = [0; MAX_ENCODED_LEN];
        let n = command.emit(&mut buf).unwrap();
        prop_assert_eq!(n, command.encoded_len());
        prop_assert_eq!(buf[0], command.cid());
        prop_assert_eq!(parse_one(command.direction(), &buf[..n]), Ok((command, n)));
    }

    #[test]
    fn valid_bytes_round_trip_with_rfu_bits_cleared((direction, bytes) in command_like_bytes()) {
        let mut it = parse(direction, &bytes);
        let mut start = 0;
        while let Some(item) = it.next() {
            match item {
                Ok(command) => {
                    let n = command.encoded_len();
                    let mut buf = [0; MAX_ENCODED_LEN];
                    prop_assert_eq!(command.emit(&mut buf), Ok(n));
                    let mask = defined_bits(direction, bytes[start], n - 1);
                    let expected: Vec<u8> = core::iter::once(bytes[start])
                        .chain(bytes[start + 1..start + n].iter().zip(&mask).map(|(b, m)| b & m))
                        .collect();
                    prop_assert_eq!(&buf[..n], &expected[..]);
                    start += n;
                    prop_assert_eq!(it.offset(), start);
                }
                Err(e) => {
                    let offset = match e {
                        MacError::UnknownCid { offset, .. }
                        | MacError::Proprietary { offset, .. }
                        | MacError::Truncated { offset, .. } => offset,
                        MacError::InvalidValue { offset, .. } => {
                            prop_assert!(offset > start && offset < bytes.len());
                            start
                        }
                        other => panic!("unexpected {other:?}"),
                    };
                    prop_assert_eq!(offset, start);
                }
            }
        }
    }

    #[test]
    fn link_adr_req_emits_only_values_that_fit(
        data_rate in any::<u8>(),
        tx_power in any::<u8>(),
        ch_mask_cntl in any::<u8>(),
        nb_trans in any::<u8>(),
    ) {
        let req = LinkAdrReq { data_rate, tx_power, ch_mask: ChMask(0xffff), ch_mask_cntl, nb_trans };
        let fits = data_rate < 16 && tx_power < 16 && ch_mask_cntl < 8 && nb_trans < 16;
        let mut buf = [0; 5];
        let result = MacCommand::LinkAdrReq(req).emit(&mut buf);
        prop_assert_eq!(result.is_ok(), fits, "{:?}", result);
    }

    #[test]
    fn frequencies_encode_only_in_100_hz_steps_up_to_24_bits(frequency in any::<u32>()) {
        let cmd = MacCommand::BeaconFreqReq(BeaconFreqReq { frequency });
        let mut buf = [0; 4];
        let fits = frequency % 100 == 0 && frequency / 100 <= 0xff_ffff;
        prop_assert_eq!(cmd.emit(&mut buf).is_ok(), fits);
    }

    #[test]
    fn signed_fields_emit_only_within_range(margin in any::<i8>(), snr in any::<i8>(), rssi in any::<i16>()) {
        let mut buf = [0; MAX_ENCODED_LEN];
        let status = MacCommand::DevStatusAns(DevStatusAns { battery: 1, margin });
        prop_assert_eq!(status.emit(&mut buf).is_ok(), (-32..=31).contains(&margin));
        let notify = MacCommand::NotifyNewEndDeviceReq(NotifyNewEndDeviceReq {
            dev_addr: DevAddr::default(),
            wor_snr: snr,
            wor_rssi: rssi,
        });
        let fits = (-20..=11).contains(&snr) && (-142..=-15).contains(&rssi);
        prop_assert_eq!(notify.emit(&mut buf).is_ok(), fits);
    }
}
