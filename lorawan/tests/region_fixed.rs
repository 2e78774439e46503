//! Differential test of the fixed-plan region tables and channel-mask logic
//! (`lorawan::region`) against ChirpStack's `lrwn` 4.13 (`lrwn::region::get`).
//!
//! For US915, AU915 and CN470, every [`Revision`] and every `lrwn` (MAC version,
//! revision) pair that stands for it, the two are compared entry by entry: data
//! rates DR0–DR15 and the data-rate index of each modulation, maximum payload
//! sizes (direct, repeater-compatible, and for AU915 with the 400 ms dwell time),
//! the RX1 data rate for every uplink DR and RX1DROffset 0–7, TX power offsets,
//! RX2 defaults, uplink and downlink channels, the RX1 frequency of every uplink
//! channel, ping-slot frequencies, CFList type 1 and TXParamSetupReq support.
//!
//! Channel masks: for random current and wanted channel sets, our shortest
//! LinkADRReq block and `lrwn`'s
//! (`get_link_adr_req_payloads_for_enabled_uplink_channel_indices`) are each
//! applied by our device model and by `lrwn`
//! (`get_enabled_uplink_channel_indices_for_link_adr_payloads`); every
//! application must give the wanted set, and ours may be shorter, never longer.
//!
//! Where `lrwn` departs from the Regional Parameters (or from the value this
//! crate chose where the sources disagree; see `src/region/fixed/*.rs`) the
//! difference is pinned in [`KNOWN`] with the reason; each pinned rule must still
//! be hit, and any other difference fails. `cargo test --test region_fixed --
//! --nocapture` prints the tally.

#[path = "support/lrwn_region.rs"]
mod lrwn_region;
#[path = "support/pinned.rs"]
mod pinned;

use lrwn_region::{common_name, lrwn_versions};

use std::time::Duration;

use lorawan::DevAddr;
use lorawan::mac::{ChMask, LinkAdrReq};
use lorawan::modulation::{LrFhssCodingRate, Modulation};
use lorawan::region::{
    self, AdrSettings, ChannelPlan, ChannelSet, Cn470Plan, DeviceChannels, Region, RegionParams,
    Revision,
};
use lrwn::region::{DataRateModulation, MacVersion, Revision as LRevision};

const FIXED: [Region; 3] = [Region::Us915, Region::Au915, Region::Cn470];

/// `lrwn`'s modulation as ours (LoRa at coding rate 4/5 only).
fn modulation(m: &DataRateModulation) -> Modulation {
    match m {
        DataRateModulation::Lora(l) => {
            assert_eq!(l.coding_rate, "4/5");
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

fn lrwn_modulation(m: &Modulation) -> DataRateModulation {
    match *m {
        Modulation::Lora {
            spreading_factor,
            bandwidth,
        } => DataRateModulation::Lora(lrwn::region::LoraDataRate {
            spreading_factor,
            bandwidth,
            coding_rate: "4/5".into(),
        }),
        Modulation::Fsk { bitrate } => {
            DataRateModulation::Fsk(lrwn::region::FskDataRate { bitrate })
        }
        Modulation::LrFhss {
            coding_rate,
            occupied_channel_width,
        } => DataRateModulation::LrFhss(lrwn::region::LrFhssDataRate {
            coding_rate: match coding_rate {
                LrFhssCodingRate::Cr1_3 => "2/6",
                LrFhssCodingRate::Cr2_3 => "4/6",
                other => panic!("{other:?}"),
            }
            .into(),
            occupied_channel_width,
        }),
    }
}

/// What is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    DataRate {
        dr: u8,
    },
    DataRateIndex {
        dr: u8,
        uplink: bool,
    },
    MaxPayload {
        repeater: bool,
        dwell_time: bool,
        dr: u8,
    },
    Rx1 {
        dr: u8,
        offset: u8,
    },
    TxPower {
        index: u8,
    },
    Rx2,
    UplinkChannels,
    DownlinkChannels,
    Rx1Frequency {
        channel: usize,
    },
    PingSlotFrequency {
        case: usize,
    },
    CfList,
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
    Bytes(Option<[u8; 16]>),
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

fn is_rp002_cn470(d: &Diff) -> bool {
    d.region == Region::Cn470 && d.revision >= Revision::Rp002_1_0_0
}

/// Where `lrwn` is known to depart from the Regional Parameters or from the
/// choices documented in the region files.
const KNOWN: &[Rule] = &[
    (
        "US915/AU915: lrwn lists the LR-FHSS rates (US915 DR5–DR6, AU915 DR7), their RX1 rows and channels 64–71 reaching them at every revision; they first appear in RP002-1.0.2",
        |d| {
            let lr_fhss = |dr: u8| match d.region {
                Region::Us915 => (5..=6).contains(&dr),
                Region::Au915 => dr == 7,
                _ => false,
            };
            matches!(d.region, Region::Us915 | Region::Au915)
                && d.revision < Revision::Rp002_1_0_2
                && match d.item {
                    Item::DataRate { dr } => lr_fhss(dr) && d.ours == Value::Dr(None),
                    Item::Rx1 { dr, .. } => lr_fhss(dr) && num(&d.ours).is_none(),
                    Item::UplinkChannels => only_wide_max_dr_differs(&d.ours, &d.theirs),
                    _ => false,
                }
        },
    ),
    (
        "US915: lrwn answers RX1 for the downlink-only DR8–DR13 as uplink rates",
        |d| {
            d.region == Region::Us915
                && matches!(d.item, Item::Rx1 { dr: 8..=13, .. })
                && num(&d.ours).is_none()
        },
    ),
    (
        "US915 1.1rA and RP002: lrwn stops TXPower at 10 (the 1.0.2rB table); 1.1rA on defines 0–14",
        |d| {
            d.region == Region::Us915
                && matches!(d.item, Item::TxPower { index: 11..=14 })
                && num(&d.ours).is_some()
                && num(&d.theirs).is_none()
        },
    ),
    (
        "AU915 1.0.2rB/1.1rA: lrwn allows TXPower 11–14, which 1.1rB introduced (revision B keeps the 1.0.2rB range)",
        |d| {
            d.region == Region::Au915
                && d.revision <= Revision::B
                && matches!(d.item, Item::TxPower { index: 11..=14 })
                && num(&d.ours).is_none()
        },
    ),
    (
        "US915/AU915 repeater-compatible sizes: lrwn has US915 DR3/DR4 at 230 in RP002 and, from RP002-1.0.2, DR8/DR9 at the direct 61/137; LoRaMac-node's repeater table keeps 250 up and 41/117 down",
        |d| {
            matches!(d.region, Region::Us915 | Region::Au915)
                && match d.item {
                    Item::MaxPayload {
                        repeater: true,
                        dr: 3 | 4,
                        ..
                    } => {
                        d.region == Region::Us915
                            && size(&d.ours) == Some((250, 242))
                            && size(&d.theirs) == Some((230, 222))
                    }
                    Item::MaxPayload {
                        repeater: true,
                        dr: 8 | 9,
                        ..
                    } => {
                        d.revision >= Revision::Rp002_1_0_2
                            && matches!(size(&d.ours), Some((41 | 117, _)))
                            && matches!(size(&d.theirs), Some((61 | 137, _)))
                    }
                    _ => false,
                }
        },
    ),
    (
        "AU915 RP002: lrwn's N for DR10–DR13 is 222 or 250 beside M = 250 (N is M − 8 = 242)",
        |d| {
            d.region == Region::Au915
                && matches!(d.item, Item::MaxPayload { dr: 10..=13, .. })
                && size(&d.ours) == Some((250, 242))
                && matches!(size(&d.theirs), Some((250, n)) if n != 242)
        },
    ),
    (
        "AU915 1.0.2rB/1.1rA: no dwell-time limit yet (TXParamSetupReq came with 1.1rB); lrwn applies its later dwell-time table",
        |d| {
            d.region == Region::Au915
                && d.revision <= Revision::B
                && matches!(
                    d.item,
                    Item::MaxPayload {
                        dwell_time: true,
                        ..
                    }
                )
        },
    ),
    (
        "AU915 LoRaWAN 1.1: lrwn decides TXParamSetupReq by MAC version; 1.1rA devices lack it and revision B keeps 1.0.2rB's rules",
        |d| {
            d.region == Region::Au915
                && d.revision <= Revision::B
                && d.item == Item::TxParamSetup
                && d.ours == Value::Flag(false)
        },
    ),
    (
        "LoRaWAN 1.0.2: lrwn sends no CFList to 1.0.0–1.0.2 devices (a MAC-version rule); the CFList builder leaves that choice to its caller",
        |d| {
            d.item == Item::CfList
                && d.lrwn.0 == MacVersion::LORAWAN_1_0_2
                && d.theirs == Value::Bytes(None)
        },
    ),
    (
        "CN470 RP002: lrwn keeps the 96-channel plan of 1.1rB; RP002 has the four antenna plans (20 MHz type A answers `params`)",
        |d| {
            is_rp002_cn470(d)
                && matches!(
                    d.item,
                    Item::UplinkChannels
                        | Item::DownlinkChannels
                        | Item::Rx1Frequency { .. }
                        | Item::Rx2
                        | Item::PingSlotFrequency { .. }
                        | Item::CfList
                )
        },
    ),
    (
        "CN470: lrwn lists DR6 (SF7/500 kHz) and DR7 (FSK) at every revision; they first appear in RP002-1.0.1",
        |d| {
            d.region == Region::Cn470
                && d.revision <= Revision::Rp002_1_0_0
                && matches!(d.item, Item::DataRate { dr: 6 | 7 })
                && d.ours == Value::Dr(None)
        },
    ),
    (
        "CN470 RP002-1.0.1+: DR0 carries no frame, so no modulation maps to it; lrwn still maps SF12/125 kHz to DR0",
        |d| {
            d.region == Region::Cn470
                && d.revision >= Revision::Rp002_1_0_1
                && matches!(d.item, Item::DataRateIndex { dr: 0, .. })
                && num(&d.ours).is_none()
        },
    ),
    (
        "CN470 RP002-1.0.1+: the RX1 table floors at DR1 and has rows for DR6/DR7 (LoRaMac-node); lrwn keeps the 1.1rB table",
        |d| {
            d.region == Region::Cn470
                && d.revision >= Revision::Rp002_1_0_1
                && matches!(d.item, Item::Rx1 { .. })
        },
    ),
    (
        "CN470 RP002-1.0.2+: the repeater-compatible DR3 is 172 (lrwn's own RP002-1.0.1 value, The Things Stack); lrwn repeats the direct 192",
        |d| {
            d.region == Region::Cn470
                && d.revision >= Revision::Rp002_1_0_2
                && matches!(
                    d.item,
                    Item::MaxPayload {
                        repeater: true,
                        dr: 3,
                        ..
                    }
                )
                && size(&d.ours) == Some((172, 164))
                && size(&d.theirs) == Some((192, 184))
        },
    ),
];

/// Two channel lists that differ only in the highest data rate of channels 64–71.
fn only_wide_max_dr_differs(ours: &Value, theirs: &Value) -> bool {
    let (Value::Channels(a), Value::Channels(b)) = (ours, theirs) else {
        return false;
    };
    a.len() == 72
        && b.len() == 72
        && a.iter()
            .zip(b)
            .enumerate()
            .all(|(i, (x, y))| x == y || (i >= 64 && (x.0, x.1) == (y.0, y.1) && x.2 < y.2))
}

fn channels_of(
    p: &RegionParams,
    get: impl Fn(&RegionParams, usize) -> Option<region::Channel>,
) -> Vec<(u32, u8, u8)> {
    (0..200)
        .map_while(|i| get(p, i))
        .map(|c| (c.frequency, c.min_dr, c.max_dr))
        .collect()
}

/// Ping-slot inputs: DevAddr and beacon time (s since the GPS epoch).
const PING_CASES: [(u32, u64); 6] = [
    (0x0314_cf36, 334_382 * 3600 + 52 * 60 + 44),
    (0, 0),
    (1, 128),
    (0xffff_ffff, 1_000_000_000),
    (0x2601_1bda, 1_300_000_000),
    (0x1234_5678, 4_000_000_000),
];

fn compare(region: Region, revision: Revision, diffs: &mut Vec<Diff>, compared: &mut usize) {
    let p = region::params(region, revision);
    let dwell_settings: &[bool] = if region == Region::Au915 {
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
                    let ours = p.max_payload(dr, dwell_time, repeater).map(|m| (m.m, m.n));
                    push(
                        Item::MaxPayload {
                            repeater,
                            dwell_time,
                            dr,
                        },
                        Value::Size(ours),
                        Value::Size(theirs),
                    );
                }
            }
        }
        let peer = lrwn::region::get(common_name(region), false, false);
        for dr in 0..16u8 {
            for offset in 0..8u8 {
                let ours = p.rx1_data_rate(dr, offset, false);
                let theirs = peer.get_rx1_data_rate_index(dr, usize::from(offset)).ok();
                push(
                    Item::Rx1 { dr, offset },
                    Value::Num(ours.map(i64::from)),
                    Value::Num(theirs.map(i64::from)),
                );
            }
        }
        for dr in 0..16u8 {
            let ours = p.data_rate(dr).map(|d| d.modulation);
            let theirs = peer.get_data_rate(dr).ok().map(|m| modulation(&m));
            push(Item::DataRate { dr }, Value::Dr(ours), Value::Dr(theirs));
            // The index each of our modulations maps back to, both ways.
            if let Some(d) = p.data_rate(dr) {
                for uplink in [true, false] {
                    let ours = p.data_rate_index(&d.modulation, uplink);
                    let theirs = peer
                        .get_data_rate_index(uplink, &lrwn_modulation(&d.modulation))
                        .ok();
                    push(
                        Item::DataRateIndex { dr, uplink },
                        Value::Num(ours.map(i64::from)),
                        Value::Num(theirs.map(i64::from)),
                    );
                }
            }
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
        let lrwn_channels = |get: &dyn Fn(usize) -> Option<lrwn::region::Channel>| {
            (0..200)
                .map_while(get)
                .map(|c| (c.frequency, c.min_dr, c.max_dr))
                .collect::<Vec<_>>()
        };
        push(
            Item::UplinkChannels,
            Value::Channels(channels_of(p, RegionParams::uplink_channel)),
            Value::Channels(lrwn_channels(&|i| peer.get_uplink_channel(i).ok())),
        );
        push(
            Item::DownlinkChannels,
            Value::Channels(channels_of(p, RegionParams::downlink_channel)),
            Value::Channels(lrwn_channels(&|i| peer.get_downlink_channel(i).ok())),
        );
        for channel in 0..p.uplink_channel_count().max(96) {
            let ours = p.rx1_frequency_for_channel(channel);
            let theirs = peer.get_uplink_channel(channel).ok().and_then(|c| {
                peer.get_rx1_frequency_for_uplink_frequency(c.frequency)
                    .ok()
            });
            push(
                Item::Rx1Frequency { channel },
                Value::Num(ours.map(i64::from)),
                Value::Num(theirs.map(i64::from)),
            );
        }
        for (case, &(dev_addr, t)) in PING_CASES.iter().enumerate() {
            let ours = p.ping_slot_frequency(DevAddr::from_u32(dev_addr), t);
            let theirs = peer
                .get_ping_slot_frequency(
                    lrwn::DevAddr::from_be_bytes(dev_addr.to_be_bytes()),
                    Duration::from_secs(t),
                )
                .ok();
            push(
                Item::PingSlotFrequency { case },
                Value::Num(ours.map(i64::from)),
                Value::Num(theirs.map(i64::from)),
            );
        }
        // CFList type 1 with sub-band 2 (channels 8–15 and 65) enabled.
        let mut configured = lrwn::region::get(common_name(region), false, false);
        let wanted = ChannelSet::from_indices((8..16).chain([65])).unwrap();
        for i in configured.get_uplink_channel_indices() {
            configured.disable_uplink_channel_index(i).unwrap();
        }
        for i in wanted.iter() {
            let _ = configured.enable_uplink_channel_index(i);
        }
        let theirs = configured.get_cf_list(mac).map(|c| c.to_bytes().unwrap());
        let ours = p
            .cf_list_channel_mask(
                &wanted.intersection(&ChannelSet::first(p.uplink_channel_count())),
            )
            .map(|c| c.0);
        push(Item::CfList, Value::Bytes(ours), Value::Bytes(theirs));
        push(
            Item::TxParamSetup,
            Value::Flag(p.tx_param_setup),
            Value::Flag(peer.implements_tx_param_setup(mac)),
        );
    }
}

#[test]
fn fixed_regions_match_lrwn_except_the_pinned_differences() {
    let mut diffs = Vec::new();
    let mut compared = 0;
    for region in FIXED {
        for revision in Revision::ALL {
            compare(region, revision, &mut diffs, &mut compared);
        }
    }
    pinned::assert_only_pinned("region_fixed: lrwn 4.13", compared, &diffs, KNOWN);
}

/// A small deterministic generator (SplitMix64) so the mask comparison runs the
/// same cases every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A channel set of the kinds networks use: random bits, unions of
    /// 8-channel banks (with or without their 500 kHz channel), one channel,
    /// everything, everything but one.
    fn channel_set(&mut self, count: usize) -> ChannelSet {
        let all = ChannelSet::first(count);
        let s = match self.next() % 5 {
            0 => (0..count)
                .filter(|_| self.next().is_multiple_of(2))
                .collect(),
            1 => {
                let banks = self.next();
                let wide = self.next().is_multiple_of(2);
                (0..count)
                    .filter(|&c| {
                        let bank = if c < 64 {
                            c / 8
                        } else if wide {
                            c - 64
                        } else {
                            99
                        };
                        bank < 64 && banks & (1 << bank) != 0
                    })
                    .collect()
            }
            2 => [(self.next() % count as u64) as usize]
                .into_iter()
                .collect(),
            3 => all,
            _ => {
                let mut s = all;
                s.remove((self.next() % count as u64) as usize);
                s
            }
        };
        s.intersection(&all)
    }
}

fn to_lrwn(reqs: &[LinkAdrReq]) -> Vec<lrwn::LinkADRReqPayload> {
    reqs.iter()
        .map(|r| lrwn::LinkADRReqPayload {
            dr: r.data_rate,
            tx_power: r.tx_power,
            ch_mask: lrwn::ChMask::from_bytes(r.ch_mask.0.to_le_bytes()),
            redundancy: lrwn::Redundancy {
                ch_mask_cntl: r.ch_mask_cntl,
                nb_rep: r.nb_trans,
            },
        })
        .collect()
}

fn from_lrwn(pls: &[lrwn::LinkADRReqPayload], data_rate: u8) -> Vec<LinkAdrReq> {
    pls.iter()
        .map(|p| LinkAdrReq {
            data_rate,
            tx_power: 0,
            ch_mask: ChMask(u16::from_le_bytes(p.ch_mask.to_bytes())),
            ch_mask_cntl: p.redundancy.ch_mask_cntl,
            nb_trans: 1,
        })
        .collect()
}

/// A data rate some channel of `set` allows.
fn usable_dr(dev: &DeviceChannels, set: &ChannelSet) -> u8 {
    let c = dev.channel(set.iter().next().unwrap()).unwrap();
    c.min_dr
}

#[derive(Default)]
struct MaskTally {
    cases: usize,
    ours_shorter: usize,
    same_length: usize,
    /// Our block uses ChMaskCntl 5, which lrwn's parser does not implement.
    lrwn_lacks_cntl5: usize,
    /// Our CN470 block uses ChMaskCntl 6 (all on), which lrwn's generic parser
    /// reads as channels 96–111.
    lrwn_lacks_cn470_cntl6: usize,
    failures: Vec<String>,
}

fn compare_masks(region: Region, revision: Revision, rng: &mut Rng, tally: &mut MaskTally) {
    let p = region::params(region, revision);
    let count = p.uplink_channel_count();
    for _ in 0..400 {
        let current = rng.channel_set(count);
        let desired = rng.channel_set(count);
        if current.is_empty() || desired.is_empty() {
            continue;
        }
        tally.cases += 1;
        let mut dev = DeviceChannels::new(p);
        dev.set_uplink_dwell_time(false);
        assert!(dev.set_enabled(current));
        let ours = dev.link_adr_block(&desired).unwrap();

        let mut peer = lrwn::region::get(common_name(region), false, false);
        for i in 0..count {
            peer.disable_uplink_channel_index(i).unwrap();
        }
        for i in desired.iter() {
            peer.enable_uplink_channel_index(i).unwrap();
        }
        let current_vec: Vec<usize> = current.iter().collect();
        let theirs =
            peer.get_link_adr_req_payloads_for_enabled_uplink_channel_indices(&current_vec);
        let case = format!("{region} {revision}: {current:?} → {desired:?}: ours {ours:?}");

        if ours.len() > theirs.len() {
            tally
                .failures
                .push(format!("{case} is longer than lrwn's {}", theirs.len()));
        } else if ours.len() < theirs.len() {
            tally.ours_shorter += 1;
        } else {
            tally.same_length += 1;
        }
        let dr = usable_dr(&dev, &desired);

        // Our block, applied by our device model.
        let reqs: Vec<_> = ours.or_restate(&current).link_adr_reqs(dr, 0, 1).collect();
        let mut d = dev;
        let ans = d.apply_link_adr(&reqs, &mut AdrSettings::default());
        if !(ans.channel_mask_ack && ans.data_rate_ack && ans.power_ack) || d.enabled() != desired {
            tally.failures.push(format!(
                "{case}: our device gives {ans:?} {:?}",
                d.enabled()
            ));
        }

        // Our block, applied by lrwn.
        let applied = peer
            .get_enabled_uplink_channel_indices_for_link_adr_payloads(&current_vec, &to_lrwn(&reqs))
            .ok()
            .map(|v| v.into_iter().collect::<ChannelSet>());
        if applied != Some(desired) {
            if reqs.iter().any(|r| r.ch_mask_cntl == 5) && region != Region::Cn470 {
                tally.lrwn_lacks_cntl5 += 1;
            } else if region == Region::Cn470 && reqs.iter().any(|r| r.ch_mask_cntl == 6) {
                tally.lrwn_lacks_cn470_cntl6 += 1;
            } else {
                tally
                    .failures
                    .push(format!("{case}: lrwn applies it as {applied:?}"));
            }
        }

        // lrwn's block, applied by our device model and by lrwn.
        if theirs.is_empty() {
            if current != desired {
                tally.failures.push(format!("{case}: lrwn sends nothing"));
            }
            continue;
        }
        let mut d = dev;
        let ans = d.apply_link_adr(&from_lrwn(&theirs, dr), &mut AdrSettings::default());
        if !ans.channel_mask_ack || d.enabled() != desired {
            tally.failures.push(format!(
                "{case}: lrwn's {:?} on our device gives {ans:?} {:?}",
                from_lrwn(&theirs, dr)
                    .iter()
                    .map(|r| (r.ch_mask_cntl, r.ch_mask.0))
                    .collect::<Vec<_>>(),
                d.enabled()
            ));
        }
        let own = peer
            .get_enabled_uplink_channel_indices_for_link_adr_payloads(&current_vec, &theirs)
            .unwrap();
        assert_eq!(
            own.into_iter().collect::<ChannelSet>(),
            desired,
            "{case}: lrwn's own round trip"
        );
    }
}

#[test]
fn channel_masks_agree_with_lrwn_and_are_never_longer() {
    let mut rng = Rng(0x5eed);
    let mut tally = MaskTally::default();
    for region in [Region::Us915, Region::Au915] {
        for revision in Revision::ALL {
            compare_masks(region, revision, &mut rng, &mut tally);
        }
    }
    // lrwn has only CN470's 96-channel plan (revisions A and B).
    for revision in [Revision::A, Revision::B] {
        compare_masks(Region::Cn470, revision, &mut rng, &mut tally);
    }
    eprintln!(
        "region_fixed masks: {} cases, ours shorter in {}, same length in {}; \
         lrwn cannot parse ChMaskCntl 5 in {} and CN470 ChMaskCntl 6 in {}",
        tally.cases,
        tally.ours_shorter,
        tally.same_length,
        tally.lrwn_lacks_cntl5,
        tally.lrwn_lacks_cn470_cntl6
    );
    for f in tally.failures.iter().take(20) {
        eprintln!("  {f}");
    }
    assert!(
        tally.failures.is_empty(),
        "{} mask failures",
        tally.failures.len()
    );
    assert!(
        tally.ours_shorter > 0 && tally.lrwn_lacks_cntl5 > 0 && tally.lrwn_lacks_cn470_cntl6 > 0
    );
}

#[test]
fn cn470_rp002_plans_are_reachable_from_their_join_channels() {
    for plan in Cn470Plan::ALL {
        let p = plan.params(Revision::Rp002_1_0_4).unwrap();
        for j in plan.join_channels() {
            assert_eq!(Cn470Plan::join_channel(j.frequency).unwrap().plan, plan);
        }
        let ChannelPlan::Fixed { .. } = p.channel_plan else {
            panic!("{plan:?} is a fixed plan");
        };
    }
}
