//! Tests of the MAC command codec: known answers, error positions and properties.

mod props;
mod vectors;

use super::*;
use crate::DevAddr;
use Direction::{Downlink, Uplink};
use vectors::vectors;

#[test]
fn same_cid_means_different_commands_up_and_down() {
    assert_eq!(
        parse_one(Uplink, &[0x02, 0x0a, 0x0f]),
        Ok((MacCommand::LinkCheckReq, 1))
    );
    assert_eq!(
        parse_one(Downlink, &[0x02, 0x0a, 0x0f]),
        Ok((
            MacCommand::LinkCheckAns(LinkCheckAns {
                margin: 10,
                gw_cnt: 15
            }),
            3
        ))
    );
}

/// The payload length a truncated command reports needing, given what was there.
fn needed(direction: Direction, full: &[u8], available: usize) -> usize {
    if direction == Downlink && full[0] == 0x42 && available < 2 {
        2
    } else {
        full.len() - 1
    }
}

#[test]
fn truncated_input_names_the_command_and_its_offset() {
    for (direction, bytes, _) in vectors() {
        for cut in 1..bytes.len() {
            let available = cut - 1;
            let expected = MacError::Truncated {
                cid: bytes[0],
                offset: 0,
                needed: needed(direction, &bytes, available),
                available,
            };
            assert_eq!(
                parse_one(direction, &bytes[..cut]),
                Err(expected),
                "{bytes:02x?} cut at {cut}"
            );

            // Behind another command the offset moves with it.
            let first = if direction == Uplink { 0x02 } else { 0x06 };
            let mut framed = vec![first];
            framed.extend_from_slice(&bytes[..cut]);
            let mut it = parse(direction, &framed);
            assert!(matches!(it.next(), Some(Ok(_))));
            let Some(Err(MacError::Truncated { offset, .. })) = it.next() else {
                panic!("{framed:02x?} should be truncated");
            };
            assert_eq!(offset, 1);
            assert_eq!(it.next(), None);
        }
    }
}

#[test]
fn unknown_cids_are_reported_in_both_directions() {
    for direction in [Uplink, Downlink] {
        for cid in 0x00..0x80u8 {
            if ALL_CIDS.contains(&(direction, cid)) {
                continue;
            }
            assert_eq!(
                parse_one(direction, &[cid, 0, 0, 0]),
                Err(MacError::UnknownCid {
                    cid,
                    direction,
                    offset: 0
                })
            );
        }
    }
    // ForceRejoinReq only goes down, NotifyNewEndDeviceReq only up.
    assert!(matches!(
        parse_one(Uplink, &[0x0e, 0, 0]),
        Err(MacError::UnknownCid { cid: 0x0e, .. })
    ));
    assert!(matches!(
        parse_one(Downlink, &[0x46, 0, 0, 0, 0, 0, 0]),
        Err(MacError::UnknownCid { cid: 0x46, .. })
    ));
}

#[test]
fn proprietary_cids_stop_parsing() {
    for cid in 0x80..=0xffu8 {
        for direction in [Uplink, Downlink] {
            // A command with no payload first: LinkCheckReq up, DevStatusReq down.
            let first = if direction == Uplink { 0x02 } else { 0x06 };
            let bytes = [first, cid, 0x02];
            let mut it = parse(direction, &bytes);
            assert!(matches!(it.next(), Some(Ok(_))));
            assert_eq!(
                it.next(),
                Some(Err(MacError::Proprietary { cid, offset: 1 }))
            );
            assert_eq!(it.next(), None);
        }
    }
}

#[test]
fn empty_input_has_no_commands() {
    assert_eq!(parse(Uplink, &[]).next(), None);
    assert_eq!(parse_one(Downlink, &[]), Err(MacError::Empty { offset: 0 }));
}

#[test]
fn iterator_stops_after_the_first_error() {
    let bytes = [0x02, 0x0e, 0x02, 0x02];
    let mut it = parse(Uplink, &bytes);
    assert_eq!(it.next(), Some(Ok(MacCommand::LinkCheckReq)));
    assert_eq!(
        it.next(),
        Some(Err(MacError::UnknownCid {
            cid: 0x0e,
            direction: Uplink,
            offset: 1
        }))
    );
    assert_eq!(it.offset(), 1);
    assert_eq!(it.remaining(), &bytes[1..]);
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None);
}

#[test]
fn reserved_values_are_rejected_at_their_byte() {
    let cases: [(Direction, &[u8], MacError); 4] = [
        (
            Uplink,
            &[0x02, 0x20, 0x01],
            MacError::InvalidValue {
                cid: 0x20,
                offset: 2,
                field: "Class",
                value: 1,
            },
        ),
        (
            Downlink,
            &[0x06, 0x20, 0x03],
            MacError::InvalidValue {
                cid: 0x20,
                offset: 2,
                field: "Class",
                value: 3,
            },
        ),
        (
            Downlink,
            &[0x42, 0x60, 0x00],
            MacError::InvalidValue {
                cid: 0x42,
                offset: 1,
                field: "FilterList_Action",
                value: 3,
            },
        ),
        (
            Downlink,
            &[
                0x42, 0x11, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            MacError::InvalidValue {
                cid: 0x42,
                offset: 1,
                field: "FilterList_Len",
                value: 17,
            },
        ),
    ];
    for (direction, bytes, error) in cases {
        assert_eq!(
            parse(direction, bytes).find_map(Result::err),
            Some(error),
            "{bytes:02x?}"
        );
    }
}

#[test]
fn rfu_bits_are_ignored_when_read_and_cleared_when_written() {
    let (cmd, _) = parse_one(Downlink, &[0x03, 0x12, 0x04, 0x00, 0xc5]).unwrap();
    let mut buf = [0; MAX_ENCODED_LEN];
    let n = cmd.emit(&mut buf).unwrap();
    assert_eq!(&buf[..n], &[0x03, 0x12, 0x04, 0x00, 0x45]);
    // Margin's two RFU bits do not leak into the sign.
    assert_eq!(
        parse_one(Uplink, &[0x06, 0x10, 0xc5]).unwrap().0,
        MacCommand::DevStatusAns(DevStatusAns {
            battery: 0x10,
            margin: 5
        })
    );
}

#[test]
fn values_that_do_not_fit_their_bits_are_refused() {
    let mut buf = [0; MAX_ENCODED_LEN];
    let adr = LinkAdrReq {
        data_rate: 16,
        tx_power: 0,
        ch_mask: ChMask(0),
        ch_mask_cntl: 0,
        nb_trans: 0,
    };
    assert_eq!(
        MacCommand::LinkAdrReq(adr).emit(&mut buf),
        Err(MacError::ValueOutOfRange {
            cid: 0x03,
            field: "DataRate",
            value: 16,
            min: 0,
            max: 15
        })
    );
    let status = DevStatusAns {
        battery: 0,
        margin: 32,
    };
    assert!(matches!(
        MacCommand::DevStatusAns(status).emit(&mut buf),
        Err(MacError::ValueOutOfRange {
            field: "Margin",
            ..
        })
    ));
    let beacon = BeaconFreqReq {
        frequency: 869_525_050,
    };
    assert_eq!(
        MacCommand::BeaconFreqReq(beacon).emit(&mut buf),
        Err(MacError::FrequencyStep {
            cid: 0x13,
            field: "Frequency",
            frequency: 869_525_050
        })
    );
    let beacon = BeaconFreqReq {
        frequency: 2_400_000_000,
    };
    assert!(matches!(
        MacCommand::BeaconFreqReq(beacon).emit(&mut buf),
        Err(MacError::ValueOutOfRange { .. })
    ));
    let notify = NotifyNewEndDeviceReq {
        dev_addr: DevAddr::default(),
        wor_snr: 0,
        wor_rssi: -143,
    };
    assert!(matches!(
        MacCommand::NotifyNewEndDeviceReq(notify).emit(&mut buf),
        Err(MacError::ValueOutOfRange { cid: 0x46, .. })
    ));
}

#[test]
fn short_buffers_are_refused_untouched() {
    let cmd = MacCommand::LinkCheckAns(LinkCheckAns {
        margin: 1,
        gw_cnt: 2,
    });
    let mut buf = [0xee; 2];
    assert_eq!(
        cmd.emit(&mut buf),
        Err(MacError::BufferTooSmall {
            needed: 3,
            available: 2
        })
    );
    assert_eq!(buf, [0xee; 2]);
    let mut fopts = [0; 3];
    assert_eq!(
        emit_all(&[cmd, MacCommand::DevStatusReq], &mut fopts),
        Err(MacError::BufferTooSmall {
            needed: 4,
            available: 3
        })
    );
    assert_eq!(fopts, [0; 3]);
}

#[test]
fn emit_to_vec_appends() {
    let mut out = vec![0xff];
    let n = MacCommand::DeviceTimeReq.emit_to_vec(&mut out).unwrap();
    assert_eq!((n, out), (1, vec![0xff, 0x0d]));
}

#[test]
fn errors_say_which_byte() {
    let err = parse_one(Downlink, &[0x05, 0x00]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "MAC command CID 0x05 at byte 0 needs 4 payload bytes, only 1 follow"
    );
    assert_eq!(MacCommand::LinkAdrReq(vectors_adr()).name(), "LinkADRReq");
}

fn vectors_adr() -> LinkAdrReq {
    LinkAdrReq {
        data_rate: 0,
        tx_power: 0,
        ch_mask: ChMask(0),
        ch_mask_cntl: 0,
        nb_trans: 0,
    }
}

#[test]
fn device_time_is_exact_in_nanoseconds() {
    let t = DeviceTimeAns {
        seconds: 7,
        fractional_second: 255,
    };
    assert_eq!(
        t.since_gps_epoch().as_nanos(),
        7_000_000_000 + 255 * 3_906_250
    );
}

#[test]
fn max_eirp_index_maps_to_dbm() {
    let req = |max_eirp| TxParamSetupReq {
        downlink_dwell_time: false,
        uplink_dwell_time: false,
        max_eirp,
    };
    assert_eq!(req(0).max_eirp_dbm(), Some(8));
    assert_eq!(req(5).max_eirp_dbm(), Some(16));
    assert_eq!(req(15).max_eirp_dbm(), Some(36));
    assert_eq!(req(16).max_eirp_dbm(), None);
}
