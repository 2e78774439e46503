//! AS923 groups 1 to 4 (RP002-1.0.4 "AS923MHz ISM Band"; 1.0.2rB and 1.1rA/rB
//! "AS923MHz ISM Band" for group 1).
//!
//! The groups share every table and differ by AS923_FREQ_OFFSET, subtracted
//! from the default channels (923.2, 923.4 MHz), RX2 (923.2 MHz) and the
//! beacon / ping-slot frequency (923.4 MHz): 0 (AS923-1), 1.8 MHz (AS923-2),
//! 6.6 MHz (AS923-3), 5.9 MHz (AS923-4).
//!
//! Table sets:
//! - A, B (1.0.2rB, 1.1rA/rB): DR2 M = 59 without dwell time; RX1 "MIN(5,
//!   MAX(MinDR, DR − Effective_RX1DROffset))", so no RX1 above DR5;
//! - RP002-1.0.0: RX1 may reach DR7 (offsets 6 and 7 = +1, +2 data rates);
//! - RP002-1.0.1 to 1.0.4: DR2 M = 123 without dwell time (LoRaMac-node
//!   `MaxPayloadOfDatarateDwell0AS923` for RP002-1.0.1: N = 115).
//!
//! A group that did not exist at an older revision answers with its first
//! published tables: AS923-2 and AS923-3 appear in RP002-1.0.1, AS923-4 in
//! RP002-1.0.3 (The Things Stack's per-revision definitions; LoRaMac-node's
//! `CHANNEL_PLAN_GROUP_AS923_*`).
//!
//! Dwell time: uplinks start with the 400 ms limit (`default_dwell_time`,
//! LoRaMac-node `AS923_DEFAULT_UPLINK_DWELL_TIME` 1) until TXParamSetupReq says
//! otherwise; the dwell-time payload table applies to uplinks only (RP002: a
//! device enforces the DownlinkDwellTime = 0 table on downlinks). With the
//! downlink dwell time set, RX1 never goes below DR2 (`rx1_dr_dwell_time`).
//! The repeater-compatible table under dwell time is the element-wise minimum
//! of `max_payload_repeater` and `max_payload_dwell_time`.
//!
//! Source notes:
//! - RP002-1.0.0 DR2 without dwell time: The Things Stack's RP002-1.0.0
//!   definition has 59, its RP002-1.0.1 one 123; `lrwn` has 123 from
//!   RP002-1.0.0 on; LoRaMac-node only distinguishes 1.0.3revA (59) from
//!   RP002-1.0.1 (123). 59 is kept for RP002-1.0.0.
//! - RX1: `lrwn` caps RX1 at DR5 for every revision (the 1.0.2rB formula);
//!   RP002 and LoRaMac-node reach DR7. Pinned in the differential test.
//! - Repeater-compatible tables under dwell time: `lrwn` has M = 250 for DR5–DR7
//!   with LoRaWAN 1.0.2/1.1 (230 with RP002); element-wise minimum gives 230.
//! - Duty cycle: the Regional Parameters leave AS923 to local regulation;
//!   LoRaMac-node defines a 1 % band but disables it (`AS923_DUTY_CYCLE_ENABLED`
//!   0). No band is listed.

use super::{DATA_RATES_LORA_FSK, TX_POWER_0_7, channel, class_b, dynamic_plan, mp, row};
use crate::region::{Channel, MaxPayload, Region, RegionParams, Revision};

pub(super) fn params(region: Region, revision: Revision) -> &'static RegionParams {
    use Revision::{A, B, Rp002_1_0_0};
    match (region, revision) {
        (Region::As923_2, _) => &AS923_2,
        (Region::As923_3, _) => &AS923_3,
        (Region::As923_4, _) => &AS923_4,
        (_, A | B) => &AS923_1_A,
        (_, Rp002_1_0_0) => &AS923_1_RP002_1_0_0,
        (_, _) => &AS923_1_RP002_1_0_1,
    }
}

/// AS923_FREQ_OFFSET of each group, Hz.
const OFFSET_1: u32 = 0;
const OFFSET_2: u32 = 1_800_000;
const OFFSET_3: u32 = 6_600_000;
const OFFSET_4: u32 = 5_900_000;

const fn default_channels(offset: u32) -> [Channel; 2] {
    [
        channel(923_200_000 - offset, 5),
        channel(923_400_000 - offset, 5),
    ]
}

static CHANNELS_1: [Channel; 2] = default_channels(OFFSET_1);
static CHANNELS_2: [Channel; 2] = default_channels(OFFSET_2);
static CHANNELS_3: [Channel; 2] = default_channels(OFFSET_3);
static CHANNELS_4: [Channel; 2] = default_channels(OFFSET_4);

/// Without dwell time, 1.0.2rB to RP002-1.0.0.
static MAX_PAYLOAD_A: [Option<MaxPayload>; 8] = [
    mp(59),
    mp(59),
    mp(59),
    mp(123),
    mp(250),
    mp(250),
    mp(250),
    mp(250),
];

/// Without dwell time, RP002-1.0.1 on.
static MAX_PAYLOAD_RP002_1_0_1: [Option<MaxPayload>; 8] = [
    mp(59),
    mp(59),
    mp(123),
    mp(123),
    mp(250),
    mp(250),
    mp(250),
    mp(250),
];

static MAX_PAYLOAD_REPEATER_A: [Option<MaxPayload>; 8] = [
    mp(59),
    mp(59),
    mp(59),
    mp(123),
    mp(230),
    mp(230),
    mp(230),
    mp(230),
];

static MAX_PAYLOAD_REPEATER_RP002_1_0_1: [Option<MaxPayload>; 8] = [
    mp(59),
    mp(59),
    mp(123),
    mp(123),
    mp(230),
    mp(230),
    mp(230),
    mp(230),
];

/// UplinkDwellTime = 1 (every revision): DR0 and DR1 cannot be used.
static MAX_PAYLOAD_DWELL_TIME: [Option<MaxPayload>; 8] = [
    None,
    None,
    mp(19),
    mp(61),
    mp(133),
    mp(250),
    mp(250),
    mp(250),
];

/// 1.0.2rB / 1.1, DownlinkDwellTime = 0: MIN(5, MAX(0, DR − eff)).
static RX1_A: [&[Option<u8>]; 8] = [
    &row([0, 0, 0, 0, 0, 0, 1, 2]),
    &row([1, 0, 0, 0, 0, 0, 2, 3]),
    &row([2, 1, 0, 0, 0, 0, 3, 4]),
    &row([3, 2, 1, 0, 0, 0, 4, 5]),
    &row([4, 3, 2, 1, 0, 0, 5, 5]),
    &row([5, 4, 3, 2, 1, 0, 5, 5]),
    &row([5, 5, 4, 3, 2, 1, 5, 5]),
    &row([5, 5, 5, 4, 3, 2, 5, 5]),
];

/// 1.0.2rB / 1.1, DownlinkDwellTime = 1: MIN(5, MAX(2, DR − eff)).
static RX1_DWELL_TIME_A: [&[Option<u8>]; 8] = [
    &row([2, 2, 2, 2, 2, 2, 2, 2]),
    &row([2, 2, 2, 2, 2, 2, 2, 3]),
    &row([2, 2, 2, 2, 2, 2, 3, 4]),
    &row([3, 2, 2, 2, 2, 2, 4, 5]),
    &row([4, 3, 2, 2, 2, 2, 5, 5]),
    &row([5, 4, 3, 2, 2, 2, 5, 5]),
    &row([5, 5, 4, 3, 2, 2, 5, 5]),
    &row([5, 5, 5, 4, 3, 2, 5, 5]),
];

/// RP002, DownlinkDwellTime = 0 (LoRaMac-node
/// `EffectiveRx1DrOffsetDownlinkDwell0AS923`).
static RX1_RP002: [&[Option<u8>]; 8] = [
    &row([0, 0, 0, 0, 0, 0, 1, 2]),
    &row([1, 0, 0, 0, 0, 0, 2, 3]),
    &row([2, 1, 0, 0, 0, 0, 3, 4]),
    &row([3, 2, 1, 0, 0, 0, 4, 5]),
    &row([4, 3, 2, 1, 0, 0, 5, 6]),
    &row([5, 4, 3, 2, 1, 0, 6, 7]),
    &row([6, 5, 4, 3, 2, 1, 7, 7]),
    &row([7, 6, 5, 4, 3, 2, 7, 7]),
];

/// RP002, DownlinkDwellTime = 1 (LoRaMac-node
/// `EffectiveRx1DrOffsetDownlinkDwell1AS923`).
static RX1_DWELL_TIME_RP002: [&[Option<u8>]; 8] = [
    &row([2, 2, 2, 2, 2, 2, 2, 2]),
    &row([2, 2, 2, 2, 2, 2, 2, 3]),
    &row([2, 2, 2, 2, 2, 2, 3, 4]),
    &row([3, 2, 2, 2, 2, 2, 4, 5]),
    &row([4, 3, 2, 2, 2, 2, 5, 6]),
    &row([5, 4, 3, 2, 2, 2, 6, 7]),
    &row([6, 5, 4, 3, 2, 2, 7, 7]),
    &row([7, 6, 5, 4, 3, 2, 7, 7]),
];

/// The tables a revision contributes; frequencies come from the group.
struct Tables {
    max_payload: &'static [Option<MaxPayload>],
    max_payload_repeater: &'static [Option<MaxPayload>],
    rx1_dr: &'static [&'static [Option<u8>]],
    rx1_dr_dwell_time: &'static [&'static [Option<u8>]],
}

const TABLES_A: Tables = Tables {
    max_payload: &MAX_PAYLOAD_A,
    max_payload_repeater: &MAX_PAYLOAD_REPEATER_A,
    rx1_dr: &RX1_A,
    rx1_dr_dwell_time: &RX1_DWELL_TIME_A,
};

const TABLES_RP002_1_0_0: Tables = Tables {
    rx1_dr: &RX1_RP002,
    rx1_dr_dwell_time: &RX1_DWELL_TIME_RP002,
    ..TABLES_A
};

const TABLES_RP002_1_0_1: Tables = Tables {
    max_payload: &MAX_PAYLOAD_RP002_1_0_1,
    max_payload_repeater: &MAX_PAYLOAD_REPEATER_RP002_1_0_1,
    ..TABLES_RP002_1_0_0
};

const fn as923(
    region: Region,
    revision: Revision,
    offset: u32,
    channels: &'static [Channel; 2],
    tables: Tables,
) -> RegionParams {
    RegionParams {
        region,
        revision,
        data_rates: &DATA_RATES_LORA_FSK,
        max_payload: tables.max_payload,
        max_payload_dwell_time: Some(&MAX_PAYLOAD_DWELL_TIME),
        max_payload_repeater: Some(tables.max_payload_repeater),
        rx1_dr: tables.rx1_dr,
        rx1_dr_dwell_time: Some(tables.rx1_dr_dwell_time),
        tx_power_offsets: &TX_POWER_0_7,
        default_max_eirp: 16.0,
        channel_plan: dynamic_plan(channels),
        rx2_frequency: 923_200_000 - offset,
        rx2_dr: 2,
        class_b: Some(class_b(3, 923_400_000 - offset, 923_400_000 - offset)),
        duty_cycle_bands: &[],
        default_dwell_time: true,
        tx_param_setup: true,
    }
}

/// AS923-1, A and B.
static AS923_1_A: RegionParams = as923(
    Region::As923_1,
    Revision::A,
    OFFSET_1,
    &CHANNELS_1,
    TABLES_A,
);
/// AS923-1, RP002-1.0.0.
static AS923_1_RP002_1_0_0: RegionParams = as923(
    Region::As923_1,
    Revision::Rp002_1_0_0,
    OFFSET_1,
    &CHANNELS_1,
    TABLES_RP002_1_0_0,
);
/// AS923-1, RP002-1.0.1 to RP002-1.0.4.
static AS923_1_RP002_1_0_1: RegionParams = as923(
    Region::As923_1,
    Revision::Rp002_1_0_1,
    OFFSET_1,
    &CHANNELS_1,
    TABLES_RP002_1_0_1,
);
/// AS923-2, every revision (first published in RP002-1.0.1).
static AS923_2: RegionParams = as923(
    Region::As923_2,
    Revision::Rp002_1_0_1,
    OFFSET_2,
    &CHANNELS_2,
    TABLES_RP002_1_0_1,
);
/// AS923-3, every revision (first published in RP002-1.0.1).
static AS923_3: RegionParams = as923(
    Region::As923_3,
    Revision::Rp002_1_0_1,
    OFFSET_3,
    &CHANNELS_3,
    TABLES_RP002_1_0_1,
);
/// AS923-4, every revision (first published in RP002-1.0.3).
static AS923_4: RegionParams = as923(
    Region::As923_4,
    Revision::Rp002_1_0_3,
    OFFSET_4,
    &CHANNELS_4,
    TABLES_RP002_1_0_1,
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::{BeaconFrequency, ChannelPlan, params as region_params};

    const GROUPS: [(Region, u32); 4] = [
        (Region::As923_1, 0),
        (Region::As923_2, 1_800_000),
        (Region::As923_3, 6_600_000),
        (Region::As923_4, 5_900_000),
    ];

    fn table(t: &[&[Option<u8>]]) -> Vec<Vec<u8>> {
        t.iter()
            .map(|r| r.iter().map(|d| d.unwrap()).collect())
            .collect()
    }

    /// RP002-1.0.4 "AS923 default channels" minus AS923_FREQ_OFFSET, RX2
    /// 923.2 MHz − offset / DR2, beacon and ping slot 923.4 MHz − offset / DR3
    /// (1.0.3revA Table 56 for group 1).
    #[test]
    fn groups_shift_every_frequency_by_their_offset() {
        for (region, offset) in GROUPS {
            for revision in Revision::ALL {
                let p = region_params(region, revision);
                let ChannelPlan::Dynamic {
                    default_channels, ..
                } = p.channel_plan
                else {
                    panic!()
                };
                let f: Vec<(u32, u8, u8)> = default_channels
                    .iter()
                    .map(|c| (c.frequency, c.min_dr, c.max_dr))
                    .collect();
                assert_eq!(
                    f,
                    [(923_200_000 - offset, 0, 5), (923_400_000 - offset, 0, 5)]
                );
                assert_eq!((p.rx2_frequency, p.rx2_dr), (923_200_000 - offset, 2));
                let b = p.class_b.unwrap();
                assert_eq!(
                    b.beacon_frequency,
                    BeaconFrequency::Fixed(923_400_000 - offset)
                );
                assert_eq!(
                    b.ping_slot_frequency,
                    BeaconFrequency::Fixed(923_400_000 - offset)
                );
                assert_eq!((b.beacon_dr, b.ping_slot_dr), (3, 3));
                assert!(p.default_dwell_time && p.tx_param_setup);
                assert_eq!(p.default_max_eirp, 16.0);
                assert_eq!(p.tx_power_offsets.len(), 8);
                assert_eq!(p.tx_power_offsets[7], Some(-14));
            }
        }
        assert_eq!(
            [OFFSET_1, OFFSET_2, OFFSET_3, OFFSET_4].map(|o| 923_200_000 - o),
            [923_200_000, 921_400_000, 916_600_000, 917_300_000]
        );
    }

    /// Groups that did not exist at a revision answer with their first tables.
    #[test]
    fn younger_groups_answer_with_their_first_published_tables() {
        for revision in Revision::ALL {
            assert_eq!(
                region_params(Region::As923_2, revision).revision,
                Revision::Rp002_1_0_1
            );
            assert_eq!(
                region_params(Region::As923_3, revision).revision,
                Revision::Rp002_1_0_1
            );
            assert_eq!(
                region_params(Region::As923_4, revision).revision,
                Revision::Rp002_1_0_3
            );
        }
        assert_eq!(
            region_params(Region::As923_1, Revision::B).revision,
            Revision::A
        );
        assert_eq!(
            region_params(Region::As923_1, Revision::Rp002_1_0_0).revision,
            Revision::Rp002_1_0_0
        );
        assert_eq!(
            region_params(Region::As923_1, Revision::Rp002_1_0_4).revision,
            Revision::Rp002_1_0_1
        );
    }

    /// RP002-1.0.5 Table 73 (the same values as RP002-1.0.1..1.0.4 for DR0–DR7;
    /// LoRaMac-node `MaxPayloadOfDatarateDwell0AS923` / `Dwell1` give N), and
    /// 1.0.2rB for A/B.
    #[test]
    fn max_payload_sizes_follow_each_revision() {
        let m = |r: Region, v: Revision| -> Vec<u8> {
            region_params(r, v)
                .max_payload
                .iter()
                .map(|x| x.unwrap().m)
                .collect()
        };
        assert_eq!(
            m(Region::As923_1, Revision::A),
            [59, 59, 59, 123, 250, 250, 250, 250]
        );
        assert_eq!(
            m(Region::As923_1, Revision::Rp002_1_0_0),
            [59, 59, 59, 123, 250, 250, 250, 250]
        );
        assert_eq!(
            m(Region::As923_1, Revision::Rp002_1_0_4),
            [59, 59, 123, 123, 250, 250, 250, 250]
        );
        assert_eq!(
            m(Region::As923_3, Revision::A),
            [59, 59, 123, 123, 250, 250, 250, 250]
        );
        for (region, _) in GROUPS {
            for revision in Revision::ALL {
                let p = region_params(region, revision);
                let dwell: Vec<Option<u8>> = p
                    .max_payload_dwell_time
                    .unwrap()
                    .iter()
                    .map(|x| x.map(|x| x.n))
                    .collect();
                assert_eq!(
                    dwell,
                    [
                        None,
                        None,
                        Some(11),
                        Some(53),
                        Some(125),
                        Some(242),
                        Some(242),
                        Some(242)
                    ]
                );
                let r: Vec<u8> = p
                    .max_payload_repeater
                    .unwrap()
                    .iter()
                    .map(|x| x.unwrap().n)
                    .collect();
                assert_eq!(&r[4..], [222, 222, 222, 222]);
            }
        }
    }

    /// RP002-1.0.4 AS923 RX1 tables (LoRaMac-node
    /// `EffectiveRx1DrOffsetDownlinkDwell0AS923` / `Dwell1AS923`, RP002-1.0.1),
    /// and the 1.0.2rB formula for A/B.
    #[test]
    fn rx1_follows_each_revision() {
        let p = region_params(Region::As923_4, Revision::Rp002_1_0_4);
        let t = table(p.rx1_dr);
        assert_eq!(t[5], [5, 4, 3, 2, 1, 0, 6, 7]);
        assert_eq!(t[4], [4, 3, 2, 1, 0, 0, 5, 6]);
        assert_eq!(t[7], [7, 6, 5, 4, 3, 2, 7, 7]);
        let d = table(p.rx1_dr_dwell_time.unwrap());
        assert_eq!(d[0], [2; 8]);
        assert_eq!(d[1], [2, 2, 2, 2, 2, 2, 2, 3]);
        assert_eq!(d[5], [5, 4, 3, 2, 2, 2, 6, 7]);
        assert!(core::ptr::eq(
            region_params(Region::As923_1, Revision::Rp002_1_0_0).rx1_dr,
            p.rx1_dr
        ));
        let a = region_params(Region::As923_1, Revision::A);
        let t = table(a.rx1_dr);
        assert_eq!(t[5], [5, 4, 3, 2, 1, 0, 5, 5]);
        assert_eq!(t[7], [5, 5, 5, 4, 3, 2, 5, 5]);
        let d = table(a.rx1_dr_dwell_time.unwrap());
        assert_eq!(d[3], [3, 2, 2, 2, 2, 2, 4, 5]);
    }
}
