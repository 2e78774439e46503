//! Differential test of the dynamic-plan region tables (`lorawan::region`)
//! against ChirpStack's `lrwn` 4.13 (`lrwn::region::get`).
//!
//! For every region (EU868, EU433, CN779, AS923-1..4, KR920, IN865, RU864,
//! ISM2400), every [`Revision`] and every `lrwn` (MAC version, revision) pair
//! that stands for it, the two are compared entry by entry: data rates DR0–DR15,
//! maximum payload sizes (direct, repeater-compatible, and for AS923 with the
//! 400 ms dwell time), the RX1 data rate for every uplink DR and RX1DROffset
//! 0–7, TX power offsets, RX2 defaults, default channels (uplink and downlink),
//! the ping-slot frequency and TXParamSetupReq support.
//!
//! Where `lrwn` departs from the Regional Parameters the difference is pinned
//! in [`KNOWN`] with the reason; each pinned rule must still be hit (a rule that
//! no longer matches fails the test, so the list cannot go stale), and any other
//! difference fails. `cargo test --test region_dynamic -- --nocapture` prints
//! the tally.

#[path = "support/lrwn_region.rs"]
mod lrwn_region;
#[path = "support/pinned.rs"]
mod pinned;

use lrwn_region::{common_name, lrwn_versions};

use std::time::Duration;

use lorawan::modulation::{LrFhssCodingRate, Modulation};
use lorawan::region::{
    self, BeaconFrequency, ChannelPlan, MaxPayload, Region, RegionParams, Revision,
};
use lrwn::region::{DataRateModulation, MacVersion, Revision as LRevision};

const DYNAMIC: [Region; 11] = [
    Region::Eu868,
    Region::Eu433,
    Region::Cn779,
    Region::As923_1,
    Region::As923_2,
    Region::As923_3,
    Region::As923_4,
    Region::Kr920,
    Region::In865,
    Region::Ru864,
    Region::Ism2400,
];

/// `lrwn`'s modulation as ours. Its LoRa coding rate must be the region's
/// (4/5 below 1 GHz, 4/8 with long interleaver at 2.4 GHz): our data-rate
/// entries do not carry it.
fn modulation(region: Region, m: &DataRateModulation) -> Modulation {
    match m {
        DataRateModulation::Lora(l) => {
            let expected = if region == Region::Ism2400 {
                "4/8LI"
            } else {
                "4/5"
            };
            assert_eq!(l.coding_rate, expected, "{region} coding rate");
            Modulation::Lora {
                spreading_factor: l.spreading_factor,
                bandwidth: l.bandwidth,
            }
        }
        DataRateModulation::Fsk(f) => Modulation::Fsk { bitrate: f.bitrate },
        // lrwn writes the LR-FHSS coding rates 1/3 and 2/3 as "2/6" and "4/6".
        DataRateModulation::LrFhss(f) => Modulation::LrFhss {
            coding_rate: match f.coding_rate.as_str() {
                "2/6" => LrFhssCodingRate::Cr1_3,
                "4/6" => LrFhssCodingRate::Cr2_3,
                other => panic!("lrwn LR-FHSS coding rate {other}"),
            },
            occupied_channel_width: f.occupied_channel_width,
        },
    }
}

/// What is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    DataRate {
        dr: u8,
    },
    MaxPayload {
        repeater: bool,
        dwell_time: bool,
        dr: u8,
    },
    Rx1 {
        dwell_time: bool,
        dr: u8,
        offset: u8,
    },
    TxPower {
        index: u8,
    },
    Rx2,
    UplinkChannels,
    DownlinkChannels,
    PingSlotFrequency,
    TxParamSetup,
}

/// A compared value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Dr(Option<Modulation>),
    /// (M, N)
    Size(Option<(u8, u8)>),
    Num(Option<i64>),
    Channels(Vec<(u32, u8, u8)>),
    Flag(bool),
}

#[derive(Debug, Clone)]
struct Diff {
    region: Region,
    revision: Revision,
    lrwn: (MacVersion, LRevision),
    item: Item,
    ours: Value,
    theirs: Value,
}

type Rule = pinned::Rule<Diff>;

fn is_as923(r: Region) -> bool {
    matches!(
        r,
        Region::As923_1 | Region::As923_2 | Region::As923_3 | Region::As923_4
    )
}

fn size(d: &Value) -> Option<(u8, u8)> {
    match d {
        Value::Size(s) => *s,
        _ => None,
    }
}

fn num(d: &Value) -> Option<i64> {
    match d {
        Value::Num(n) => *n,
        _ => None,
    }
}

/// Where `lrwn` is known to depart from the Regional Parameters (or from the
/// values this crate chose where the sources disagree; see the region files).
const KNOWN: &[Rule] = &[
    (
        "EU868: lrwn lists LR-FHSS DR8–DR11 at every revision; they first appear in RP002-1.0.2",
        |d| {
            d.region == Region::Eu868
                && d.revision < Revision::Rp002_1_0_2
                && match d.item {
                    Item::DataRate { dr } => (8..=11).contains(&dr) && d.ours == Value::Dr(None),
                    Item::Rx1 { dr, offset, .. } => {
                        (8..=11).contains(&dr) && offset < 6 && num(&d.ours).is_none()
                    }
                    _ => false,
                }
        },
    ),
    (
        "EU868 RP002-1.0.2+: lrwn's direct DR4 has M = 250 but N = 222 (N is M − 8 = 242)",
        |d| {
            d.region == Region::Eu868
                && d.item
                    == (Item::MaxPayload {
                        repeater: false,
                        dwell_time: false,
                        dr: 4,
                    })
                && size(&d.ours) == Some((250, 242))
                && size(&d.theirs) == Some((250, 222))
        },
    ),
    (
        "CN779 LoRaWAN 1.0.2rB: lrwn's repeater-compatible DR6 is 250; 230 in 1.1rB, RP002 and every other source",
        |d| {
            d.region == Region::Cn779
                && d.lrwn.0 == MacVersion::LORAWAN_1_0_2
                && matches!(
                    d.item,
                    Item::MaxPayload {
                        repeater: true,
                        dr: 6,
                        ..
                    }
                )
                && size(&d.ours) == Some((230, 222))
                && size(&d.theirs) == Some((250, 242))
        },
    ),
    (
        "AS923 RP002-1.0.0: lrwn has DR2 M = 123 without dwell time; 59 until RP002-1.0.1 (The Things Stack, LoRaMac-node 1.0.3revA table)",
        |d| {
            d.region == Region::As923_1
                && d.revision == Revision::Rp002_1_0_0
                && matches!(
                    d.item,
                    Item::MaxPayload {
                        dwell_time: false,
                        dr: 2,
                        ..
                    }
                )
                && size(&d.ours) == Some((59, 51))
                && size(&d.theirs) == Some((123, 115))
        },
    ),
    (
        "AS923-2/3/4 before they were published: lrwn uses the AS923-1 1.0.2rB/1.1 DR2 size (59); we answer with the group's first published tables (123)",
        |d| {
            matches!(
                d.region,
                Region::As923_2 | Region::As923_3 | Region::As923_4
            ) && d.revision <= Revision::B
                && matches!(
                    d.item,
                    Item::MaxPayload {
                        dwell_time: false,
                        dr: 2,
                        ..
                    }
                )
                && size(&d.ours) == Some((123, 115))
                && size(&d.theirs) == Some((59, 51))
        },
    ),
    (
        "AS923 1.0.2rB/1.1: lrwn's repeater-compatible dwell-time DR5–DR7 is 250; the repeater limit (230) still applies",
        |d| {
            is_as923(d.region)
                && matches!(
                    d.item,
                    Item::MaxPayload {
                        repeater: true,
                        dwell_time: true,
                        dr: 5..=7
                    }
                )
                && matches!(
                    d.lrwn.0,
                    MacVersion::LORAWAN_1_0_2 | MacVersion::LORAWAN_1_1_0
                )
                && size(&d.ours) == Some((230, 222))
                && size(&d.theirs) == Some((250, 242))
        },
    ),
    (
        "AS923 RP002: lrwn caps RX1 at DR5 (the 1.0.2rB formula); RP002 and LoRaMac-node reach DR6/DR7",
        |d| {
            is_as923(d.region)
                && matches!(d.item, Item::Rx1 { .. })
                && num(&d.theirs) == Some(5)
                && num(&d.ours).is_some_and(|o| o > 5)
        },
    ),
    (
        "KR920: lrwn answers RX1DROffset 6–7 and uplink DR6–DR7, which KR920 does not define",
        |d| {
            d.region == Region::Kr920
                && matches!(d.item, Item::Rx1 { dr, offset, .. } if dr > 5 || offset > 5)
                && num(&d.ours).is_none()
        },
    ),
    ("IN865: lrwn gives the RFU DR6 a payload size", |d| {
        d.region == Region::In865
            && matches!(d.item, Item::MaxPayload { dr: 6, .. })
            && size(&d.ours).is_none()
    }),
    (
        "IN865 1.0.2rB/1.1: lrwn uses the RP002 RX1 table; the older formula caps RX1 at DR5",
        |d| {
            d.region == Region::In865
                && d.revision <= Revision::B
                && matches!(d.item, Item::Rx1 { dr: 5 | 7, .. })
                && num(&d.ours) == Some(5)
                && num(&d.theirs).is_some_and(|t| t > 5)
        },
    ),
    (
        "IN865 RP002: lrwn answers uplink DR7 at RX1DROffset 1 with the RFU DR6; LoRaMac-node's table says DR5",
        |d| {
            d.region == Region::In865
                && matches!(
                    d.item,
                    Item::Rx1 {
                        dr: 7,
                        offset: 1,
                        ..
                    }
                )
                && num(&d.ours) == Some(5)
                && num(&d.theirs) == Some(6)
        },
    ),
    (
        "IN865 RP002: lrwn answers uplink DR5 at RX1DROffset 7 with DR5; RP002 (LoRaMac-node, The Things Stack) raises it to DR7",
        |d| {
            d.region == Region::In865
                && d.revision >= Revision::Rp002_1_0_0
                && matches!(
                    d.item,
                    Item::Rx1 {
                        dr: 5,
                        offset: 7,
                        ..
                    }
                )
                && num(&d.ours) == Some(7)
                && num(&d.theirs) == Some(5)
        },
    ),
    (
        "ISM2400: lrwn writes the SX1280 812.5 kHz bandwidth as 812 000 Hz",
        |d| {
            d.region == Region::Ism2400
                && match (&d.ours, &d.theirs) {
                    (
                        Value::Dr(Some(Modulation::Lora {
                            spreading_factor: a,
                            bandwidth: 812_500,
                        })),
                        Value::Dr(Some(Modulation::Lora {
                            spreading_factor: b,
                            bandwidth: 812_000,
                        })),
                    ) => a == b,
                    _ => false,
                }
        },
    ),
];

fn max_payload(table: Option<&[Option<MaxPayload>]>, dr: u8) -> Option<(u8, u8)> {
    table?
        .get(usize::from(dr))
        .copied()
        .flatten()
        .map(|m| (m.m, m.n))
}

/// Our table for (repeater, dwell time): under both, the element-wise minimum.
fn our_max_payload(p: &RegionParams, repeater: bool, dwell_time: bool, dr: u8) -> Option<(u8, u8)> {
    let direct = max_payload(Some(p.max_payload), dr);
    let rep = max_payload(p.max_payload_repeater, dr);
    let dwell = max_payload(p.max_payload_dwell_time, dr);
    match (repeater, dwell_time) {
        (false, false) => direct,
        (true, false) => rep,
        (false, true) => dwell,
        (true, true) => match (rep, dwell) {
            (Some(a), Some(b)) => Some(a.min(b)),
            _ => None,
        },
    }
}

fn compare(region: Region, revision: Revision, diffs: &mut Vec<Diff>, compared: &mut usize) {
    let p = region::params(region, revision);
    let dwell_settings: &[bool] = if is_as923(region) {
        &[false, true]
    } else {
        &[false]
    };
    for lrwn_version in lrwn_versions(revision) {
        let (mac, rev) = lrwn_version;
        let mut push = |item: Item, ours: Value, theirs: Value| {
            *compared += 1;
            if ours != theirs {
                diffs.push(Diff {
                    region,
                    revision,
                    lrwn: lrwn_version,
                    item,
                    ours,
                    theirs,
                });
            }
        };
        for &repeater in &[false, true] {
            for &dwell_time in dwell_settings {
                let peer = lrwn::region::get(common_name(region), repeater, dwell_time);
                for dr in 0..16u8 {
                    let theirs = peer
                        .get_max_payload_size(mac, rev, dr)
                        .ok()
                        .filter(|s| s.m != 0)
                        .map(|s| (u8::try_from(s.m).unwrap(), u8::try_from(s.n).unwrap()));
                    push(
                        Item::MaxPayload {
                            repeater,
                            dwell_time,
                            dr,
                        },
                        Value::Size(our_max_payload(p, repeater, dwell_time, dr)),
                        Value::Size(theirs),
                    );
                }
                if repeater {
                    continue;
                }
                // lrwn's RX1 table follows the constructor's dwell-time flag
                // (AS923) and is otherwise independent of it.
                let ours_rx1 = if dwell_time {
                    p.rx1_dr_dwell_time.unwrap()
                } else {
                    p.rx1_dr
                };
                for dr in 0..16u8 {
                    for offset in 0..8u8 {
                        let ours = ours_rx1
                            .get(usize::from(dr))
                            .and_then(|row| row.get(usize::from(offset)))
                            .copied()
                            .flatten();
                        let theirs = peer.get_rx1_data_rate_index(dr, usize::from(offset)).ok();
                        push(
                            Item::Rx1 {
                                dwell_time,
                                dr,
                                offset,
                            },
                            Value::Num(ours.map(i64::from)),
                            Value::Num(theirs.map(i64::from)),
                        );
                    }
                }
                if dwell_time {
                    continue;
                }
                for dr in 0..16u8 {
                    let ours = p
                        .data_rates
                        .get(usize::from(dr))
                        .copied()
                        .flatten()
                        .map(|d| d.modulation);
                    let theirs = peer.get_data_rate(dr).ok().map(|m| modulation(region, &m));
                    push(Item::DataRate { dr }, Value::Dr(ours), Value::Dr(theirs));
                }
                for index in 0..16u8 {
                    let ours = p
                        .tx_power_offsets
                        .get(usize::from(index))
                        .copied()
                        .flatten();
                    let theirs = peer.get_tx_power_offset(usize::from(index)).ok();
                    push(
                        Item::TxPower { index },
                        Value::Num(ours.map(i64::from)),
                        Value::Num(theirs.map(|t| i64::try_from(t).unwrap())),
                    );
                }
                let defaults = peer.get_defaults();
                push(
                    Item::Rx2,
                    Value::Num(Some(i64::from(p.rx2_frequency) * 16 + i64::from(p.rx2_dr))),
                    Value::Num(Some(
                        i64::from(defaults.rx2_frequency) * 16 + i64::from(defaults.rx2_dr),
                    )),
                );
                let ChannelPlan::Dynamic {
                    default_channels, ..
                } = p.channel_plan
                else {
                    panic!("{region} has a dynamic channel plan");
                };
                let ours: Vec<(u32, u8, u8)> = default_channels
                    .iter()
                    .map(|c| (c.frequency, c.min_dr, c.max_dr))
                    .collect();
                let channels = |get: &dyn Fn(usize) -> Option<lrwn::region::Channel>| {
                    (0..32)
                        .map_while(get)
                        .map(|c| (c.frequency, c.min_dr, c.max_dr))
                        .collect::<Vec<_>>()
                };
                let up = channels(&|i| peer.get_uplink_channel(i).ok());
                let down = channels(&|i| peer.get_downlink_channel(i).ok());
                push(
                    Item::UplinkChannels,
                    Value::Channels(ours.clone()),
                    Value::Channels(up),
                );
                push(
                    Item::DownlinkChannels,
                    Value::Channels(ours),
                    Value::Channels(down),
                );
                let BeaconFrequency::Fixed(ping) = p.class_b.unwrap().ping_slot_frequency else {
                    panic!("{region} pings on one frequency");
                };
                let theirs = peer
                    .get_ping_slot_frequency(
                        lrwn::DevAddr::from_be_bytes([0x01, 0x02, 0x03, 0x04]),
                        Duration::from_secs(1_000_000),
                    )
                    .ok();
                push(
                    Item::PingSlotFrequency,
                    Value::Num(Some(i64::from(ping))),
                    Value::Num(theirs.map(i64::from)),
                );
                push(
                    Item::TxParamSetup,
                    Value::Flag(p.tx_param_setup),
                    Value::Flag(peer.implements_tx_param_setup(mac)),
                );
            }
        }
    }
}

#[test]
fn dynamic_regions_match_lrwn_except_the_pinned_differences() {
    let mut diffs = Vec::new();
    let mut compared = 0;
    for region in DYNAMIC {
        for revision in Revision::ALL {
            compare(region, revision, &mut diffs, &mut compared);
        }
    }

    pinned::assert_only_pinned("region_dynamic: lrwn 4.13", compared, &diffs, KNOWN);
}

#[test]
fn every_dynamic_region_is_compared_at_every_revision() {
    for region in DYNAMIC {
        assert!(!region.has_fixed_channel_plan());
        for revision in Revision::ALL {
            assert!(!lrwn_versions(revision).is_empty());
            assert_eq!(region::params(region, revision).region, region);
        }
    }
}
