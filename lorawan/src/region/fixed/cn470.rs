//! CN470-510.
//!
//! Sources: RP002-1.0.0 to 1.0.4 §"CN470-510", LoRaWAN 1.0.2rB / 1.1rA / 1.1rB
//! Regional Parameters, LoRaMac-node `RegionCN470.[ch]` and
//! `RegionCN470{A20,B20,A26,B26}.[ch]`, lrwn `region/cn470.rs`.
//!
//! Up to LoRaWAN 1.1rB (revisions `A` and `B`) CN470 has one plan: 96 uplink
//! channels at 470.3 MHz + 200 kHz × n, 48 downlink channels at 500.3 MHz +
//! 200 kHz × n, RX1 on downlink channel `n mod 48`.
//!
//! RP002-1.0.0 replaced it with four plans, one per gateway antenna ([`Cn470Plan`]):
//! 20 MHz type A and B (64 uplink channels in two groups of 32), 26 MHz type A
//! and B (48 uplink, 24 downlink channels). A device finds its plan from the
//! common join channel its join-accept came on; the network chooses one plan.
//! [`params`](crate::region::params) answers with 20 MHz type A; the others are
//! [`Cn470Plan::params`].
//!
//! RP002-1.0.1 changed the data rates: DR0 (SF12) carries no frame any more, DR6
//! is SF7/500 kHz, DR7 FSK 50 kbit/s; RX2 moved to DR1.
//!
//! Choices where sources disagree:
//! - DR3 (SF9) M = 192 from RP002-1.0.1 as LoRaMac-node (N = 184) and lrwn; TTN's
//!   band files have 172, which is lrwn's repeater-compatible value of RP002-1.0.1
//!   and ours for every RP002-1.0.1+ repeater table.
//! - The RX1 table of RP002-1.0.1+ floors at DR1 (LoRaMac-node
//!   `DatarateOffsetsCN470`); TTN keeps the old table floored at DR0.
//! - RX2 in RP002-1.0.1+ is DR1 (LoRaMac-node); TTN's 20 MHz A file says DR0,
//!   a rate its own table no longer defines.
//! - LoRaMac-node lists 494.0 MHz as the seventh OTAA RX2 frequency of 20 MHz
//!   type A; every other entry is 1.6 MHz from its neighbour and 494.0 MHz is
//!   off the 200 kHz downlink grid, so this table has 494.9 MHz.

use super::{TX_POWER_0_TO_7, grid, lora_both, payloads, rx1_table};
use crate::modulation::Modulation;
use crate::region::{
    BeaconFrequency, ChannelGrid, ChannelPlan, ClassB, DataRate, MaxPayload, Region, RegionParams,
    Revision,
};

/// The CN470 channel plans of RP002, by the gateway antenna they suit.
///
/// ```
/// use lorawan::region::{Cn470Plan, Revision};
/// let j = Cn470Plan::join_channel(479_900_000).unwrap();
/// assert_eq!(j.plan, Cn470Plan::B20);
/// assert_eq!(j.plan.rx2_frequency(Some(j.index)), 478_300_000);
/// let p = j.plan.params(Revision::Rp002_1_0_4).unwrap();
/// assert_eq!(p.rx2_dr, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cn470Plan {
    /// 20 MHz antenna, type A: uplink 470.3–476.5 and 503.5–509.7 MHz, downlink
    /// 483.9–496.5 MHz.
    A20,
    /// 20 MHz antenna, type B: uplink and downlink 476.9–483.1 and 496.9–503.1 MHz.
    B20,
    /// 26 MHz antenna, type A: uplink 470.3–479.7 MHz, downlink 490.1–494.7 MHz.
    A26,
    /// 26 MHz antenna, type B: uplink 480.3–489.7 MHz, downlink 500.1–504.7 MHz.
    B26,
}

/// One of the twenty common join channels of CN470 (RP002): the frequency of a
/// first join-request and the plan a join-accept on it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cn470JoinChannel {
    /// Index in the common join channel table, 0 to 19.
    pub index: u8,
    /// Uplink frequency, Hz.
    pub frequency: u32,
    /// Frequency of the join-accept in RX1, Hz.
    pub rx1_frequency: u32,
    /// The plan the device adopts when it joins on this channel.
    pub plan: Cn470Plan,
}

const fn join(index: u8, frequency: u32, rx1_frequency: u32, plan: Cn470Plan) -> Cn470JoinChannel {
    Cn470JoinChannel {
        index,
        frequency,
        rx1_frequency,
        plan,
    }
}

/// LoRaMac-node `CN470_COMMON_JOIN_CHANNELS`.
static JOIN_CHANNELS: [Cn470JoinChannel; 20] = [
    join(0, 470_900_000, 484_500_000, Cn470Plan::A20),
    join(1, 472_500_000, 486_100_000, Cn470Plan::A20),
    join(2, 474_100_000, 487_700_000, Cn470Plan::A20),
    join(3, 475_700_000, 489_300_000, Cn470Plan::A20),
    join(4, 504_100_000, 490_900_000, Cn470Plan::A20),
    join(5, 505_700_000, 492_500_000, Cn470Plan::A20),
    join(6, 507_300_000, 494_100_000, Cn470Plan::A20),
    join(7, 508_900_000, 495_700_000, Cn470Plan::A20),
    join(8, 479_900_000, 479_900_000, Cn470Plan::B20),
    join(9, 499_900_000, 499_900_000, Cn470Plan::B20),
    join(10, 470_300_000, 492_500_000, Cn470Plan::A26),
    join(11, 472_300_000, 492_500_000, Cn470Plan::A26),
    join(12, 474_300_000, 492_500_000, Cn470Plan::A26),
    join(13, 476_300_000, 492_500_000, Cn470Plan::A26),
    join(14, 478_300_000, 492_500_000, Cn470Plan::A26),
    join(15, 480_300_000, 502_500_000, Cn470Plan::B26),
    join(16, 482_300_000, 502_500_000, Cn470Plan::B26),
    join(17, 484_300_000, 502_500_000, Cn470Plan::B26),
    join(18, 486_300_000, 502_500_000, Cn470Plan::B26),
    join(19, 488_300_000, 502_500_000, Cn470Plan::B26),
];

/// OTAA RX2 frequencies of 20 MHz type A by common join channel 0–7.
const RX2_OTAA_A20: [u32; 8] = [
    485_300_000,
    486_900_000,
    488_500_000,
    490_100_000,
    491_700_000,
    493_300_000,
    494_900_000,
    496_500_000,
];
/// OTAA RX2 frequencies of 20 MHz type B by common join channel 8–9.
const RX2_OTAA_B20: [u32; 2] = [478_300_000, 498_300_000];

impl Cn470Plan {
    /// Every plan.
    pub const ALL: [Self; 4] = [Self::A20, Self::B20, Self::A26, Self::B26];

    /// The tables of this plan at `revision`; `None` before RP002-1.0.0, when
    /// CN470 had the single 96-channel plan of [`params`](crate::region::params).
    pub fn params(self, revision: Revision) -> Option<&'static RegionParams> {
        let new_data_rates = match revision {
            Revision::A | Revision::B => return None,
            Revision::Rp002_1_0_0 => false,
            _ => true,
        };
        Some(match (self, new_data_rates) {
            (Self::A20, false) => &A20_RP002_1_0_0,
            (Self::B20, false) => &B20_RP002_1_0_0,
            (Self::A26, false) => &A26_RP002_1_0_0,
            (Self::B26, false) => &B26_RP002_1_0_0,
            (Self::A20, true) => &A20_RP002_1_0_1,
            (Self::B20, true) => &B20_RP002_1_0_1,
            (Self::A26, true) => &A26_RP002_1_0_1,
            (Self::B26, true) => &B26_RP002_1_0_1,
        })
    }

    /// The common join channels that select this plan.
    pub fn join_channels(self) -> &'static [Cn470JoinChannel] {
        match self {
            Self::A20 => &JOIN_CHANNELS[0..8],
            Self::B20 => &JOIN_CHANNELS[8..10],
            Self::A26 => &JOIN_CHANNELS[10..15],
            Self::B26 => &JOIN_CHANNELS[15..20],
        }
    }

    /// The common join channel on `frequency`, Hz.
    pub fn join_channel(frequency: u32) -> Option<Cn470JoinChannel> {
        JOIN_CHANNELS
            .iter()
            .copied()
            .find(|j| j.frequency == frequency)
    }

    /// The plan a stored configuration of uplink channels belongs to: the one
    /// whose RegionParams are `params` (any RP002 revision).
    pub fn of(params: &RegionParams) -> Option<Self> {
        if params.region != Region::Cn470 {
            return None;
        }
        Self::ALL.into_iter().find(|p| {
            p.params(params.revision)
                .is_some_and(|q| core::ptr::eq(q, params))
        })
    }

    /// The default RX2 frequency: for an OTAA device, of the common join channel
    /// (by [`Cn470JoinChannel::index`]) it joined on; for an ABP device (`None`,
    /// or a channel of another plan), the plan's fixed one.
    pub const fn rx2_frequency(self, join_channel: Option<u8>) -> u32 {
        match (self, join_channel) {
            (Self::A20, Some(j)) if j < 8 => RX2_OTAA_A20[j as usize],
            (Self::A20, _) => 486_900_000,
            (Self::B20, Some(8)) => RX2_OTAA_B20[0],
            (Self::B20, Some(9)) => RX2_OTAA_B20[1],
            (Self::B20, _) => 498_300_000,
            (Self::A26, _) => 492_500_000,
            (Self::B26, _) => 502_500_000,
        }
    }

    /// Class B beacon and ping-slot defaults of a device that joined on the
    /// common join channel `join_channel` (`None`: the plan's first).
    ///
    /// 20 MHz type A hops beacons and ping slots over the eight downlink channels
    /// `8·j … 8·j+7` of its join channel j; type B sends beacons on downlink
    /// channel 23 (or 55) and hops ping slots over the 32 downlink channels of the
    /// join channel's group; the 26 MHz plans use one frequency for both
    /// (LoRaMac-node `RegionCN470*GetDownlinkFrequency`, `GetBeaconChannelOffset`).
    pub const fn class_b(self, join_channel: Option<u8>) -> ClassB {
        let (beacon, ping) = match self {
            Self::A20 => {
                let j = match join_channel {
                    Some(j) if j < 8 => j as u32,
                    _ => 0,
                };
                let hop = BeaconFrequency::Hopping {
                    first_frequency: 483_900_000 + 1_600_000 * j,
                    step: 200_000,
                    count: 8,
                };
                (hop, hop)
            }
            Self::B20 => {
                let second = matches!(join_channel, Some(9));
                let first_frequency = if second { 496_900_000 } else { 476_900_000 };
                (
                    BeaconFrequency::Fixed(first_frequency + 23 * 200_000),
                    BeaconFrequency::Hopping {
                        first_frequency,
                        step: 200_000,
                        count: 32,
                    },
                )
            }
            Self::A26 => (
                BeaconFrequency::Fixed(494_900_000),
                BeaconFrequency::Fixed(494_900_000),
            ),
            Self::B26 => (
                BeaconFrequency::Fixed(504_900_000),
                BeaconFrequency::Fixed(504_900_000),
            ),
        };
        ClassB {
            beacon_dr: 2,
            beacon_frequency: beacon,
            ping_slot_dr: 2,
            ping_slot_frequency: ping,
        }
    }
}

const DATA_RATES_OLD: [Option<DataRate>; 16] = [
    lora_both(12, 125_000),
    lora_both(11, 125_000),
    lora_both(10, 125_000),
    lora_both(9, 125_000),
    lora_both(8, 125_000),
    lora_both(7, 125_000),
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
];

/// RP002-1.0.1 on: DR0 stays SF12 but may not carry a frame; DR6 SF7/500 kHz,
/// DR7 FSK.
const DATA_RATES_RP002_1_0_1: [Option<DataRate>; 16] = {
    let mut t = DATA_RATES_OLD;
    t[0] = Some(DataRate {
        modulation: Modulation::Lora {
            spreading_factor: 12,
            bandwidth: 125_000,
        },
        uplink: false,
        downlink: false,
    });
    t[6] = lora_both(7, 500_000);
    t[7] = Some(DataRate {
        modulation: Modulation::Fsk { bitrate: 50_000 },
        uplink: true,
        downlink: true,
    });
    t
};

const MAX_PAYLOAD_OLD: [Option<MaxPayload>; 16] =
    payloads([59, 59, 59, 123, 250, 250, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const MAX_PAYLOAD_OLD_REPEATER: [Option<MaxPayload>; 16] =
    payloads([59, 59, 59, 123, 230, 230, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const MAX_PAYLOAD_RP002_1_0_1: [Option<MaxPayload>; 16] =
    payloads([0, 31, 94, 192, 250, 250, 250, 250, 0, 0, 0, 0, 0, 0, 0, 0]);
const MAX_PAYLOAD_RP002_1_0_1_REPEATER: [Option<MaxPayload>; 16] =
    payloads([0, 31, 94, 172, 230, 230, 230, 230, 0, 0, 0, 0, 0, 0, 0, 0]);

static RX1_DR_OLD: &[&[Option<u8>]] = rx1_table!(
    [0, 0, 0, 0, 0, 0],
    [1, 0, 0, 0, 0, 0],
    [2, 1, 0, 0, 0, 0],
    [3, 2, 1, 0, 0, 0],
    [4, 3, 2, 1, 0, 0],
    [5, 4, 3, 2, 1, 0],
);
/// RP002-1.0.1 on (LoRaMac-node `DatarateOffsetsCN470`, which also maps DR0 to
/// DR0: DR0 carries no uplink any more, so that row is empty here).
static RX1_DR_RP002_1_0_1: &[&[Option<u8>]] = rx1_table!(
    [_, _, _, _, _, _],
    [1, 1, 1, 1, 1, 1],
    [2, 1, 1, 1, 1, 1],
    [3, 2, 1, 1, 1, 1],
    [4, 3, 2, 1, 1, 1],
    [5, 4, 3, 2, 1, 1],
    [6, 5, 4, 3, 2, 1],
    [7, 6, 5, 4, 3, 2],
);

/// The 96-channel plan of LoRaWAN 1.0.2rB, 1.1rA and 1.1rB.
static OLD: RegionParams = RegionParams {
    region: Region::Cn470,
    revision: Revision::A,
    data_rates: &DATA_RATES_OLD,
    max_payload: &MAX_PAYLOAD_OLD,
    max_payload_dwell_time: None,
    max_payload_repeater: Some(&MAX_PAYLOAD_OLD_REPEATER),
    rx1_dr: RX1_DR_OLD,
    rx1_dr_dwell_time: None,
    tx_power_offsets: &TX_POWER_0_TO_7,
    default_max_eirp: 19.15,
    channel_plan: ChannelPlan::Fixed {
        uplink: grid(470_300_000, 200_000, 96, 0, 5),
        uplink_wide: None,
        downlink: grid(500_300_000, 200_000, 48, 0, 5),
        uplink_group2: None,
        downlink_group2: None,
    },
    rx2_frequency: 505_300_000,
    rx2_dr: 0,
    class_b: Some(ClassB {
        beacon_dr: 2,
        // 508.3 MHz + 200 kHz × (floor(beacon time / 128) mod 8).
        beacon_frequency: BeaconFrequency::Hopping {
            first_frequency: 508_300_000,
            step: 200_000,
            count: 8,
        },
        ping_slot_dr: 2,
        ping_slot_frequency: BeaconFrequency::Hopping {
            first_frequency: 508_300_000,
            step: 200_000,
            count: 8,
        },
    }),
    duty_cycle_bands: &[],
    default_dwell_time: false,
    tx_param_setup: false,
};

struct Grids {
    uplink: (u32, u8),
    uplink_group2: Option<u32>,
    downlink: (u32, u8),
    downlink_group2: Option<u32>,
}

const fn plan_grid((first, count): (u32, u8), min_dr: u8) -> ChannelGrid {
    grid(first, 200_000, count, min_dr, 5)
}

const fn rp002(plan: Cn470Plan, revision: Revision, g: Grids) -> RegionParams {
    let new = !matches!(revision, Revision::Rp002_1_0_0);
    let min_dr = if new { 1 } else { 0 };
    RegionParams {
        region: Region::Cn470,
        revision,
        data_rates: if new {
            &DATA_RATES_RP002_1_0_1
        } else {
            &DATA_RATES_OLD
        },
        max_payload: if new {
            &MAX_PAYLOAD_RP002_1_0_1
        } else {
            &MAX_PAYLOAD_OLD
        },
        max_payload_dwell_time: None,
        max_payload_repeater: Some(if new {
            &MAX_PAYLOAD_RP002_1_0_1_REPEATER
        } else {
            &MAX_PAYLOAD_OLD_REPEATER
        }),
        rx1_dr: if new { RX1_DR_RP002_1_0_1 } else { RX1_DR_OLD },
        rx1_dr_dwell_time: None,
        tx_power_offsets: &TX_POWER_0_TO_7,
        default_max_eirp: 19.15,
        channel_plan: ChannelPlan::Fixed {
            uplink: plan_grid(g.uplink, min_dr),
            uplink_wide: None,
            downlink: plan_grid(g.downlink, min_dr),
            uplink_group2: match g.uplink_group2 {
                Some(f) => Some(grid(f, 200_000, 32, min_dr, 5)),
                None => None,
            },
            downlink_group2: match g.downlink_group2 {
                Some(f) => Some(grid(f, 200_000, 32, min_dr, 5)),
                None => None,
            },
        },
        rx2_frequency: plan.rx2_frequency(None),
        rx2_dr: min_dr,
        class_b: Some(plan.class_b(None)),
        duty_cycle_bands: &[],
        default_dwell_time: false,
        tx_param_setup: false,
    }
}

// 20 MHz type A: uplink groups of 32; the two downlink groups (483.9–490.1 and
// 490.3–496.5 MHz) are contiguous, so one 64-channel grid holds both.
const A20: Grids = Grids {
    uplink: (470_300_000, 32),
    uplink_group2: Some(503_500_000),
    downlink: (483_900_000, 64),
    downlink_group2: None,
};
// 20 MHz type B: RX1 on the uplink frequency.
const B20: Grids = Grids {
    uplink: (476_900_000, 32),
    uplink_group2: Some(496_900_000),
    downlink: (476_900_000, 32),
    downlink_group2: Some(496_900_000),
};
const A26: Grids = Grids {
    uplink: (470_300_000, 48),
    uplink_group2: None,
    downlink: (490_100_000, 24),
    downlink_group2: None,
};
const B26: Grids = Grids {
    uplink: (480_300_000, 48),
    uplink_group2: None,
    downlink: (500_100_000, 24),
    downlink_group2: None,
};

static A20_RP002_1_0_0: RegionParams = rp002(Cn470Plan::A20, Revision::Rp002_1_0_0, A20);
static B20_RP002_1_0_0: RegionParams = rp002(Cn470Plan::B20, Revision::Rp002_1_0_0, B20);
static A26_RP002_1_0_0: RegionParams = rp002(Cn470Plan::A26, Revision::Rp002_1_0_0, A26);
static B26_RP002_1_0_0: RegionParams = rp002(Cn470Plan::B26, Revision::Rp002_1_0_0, B26);
static A20_RP002_1_0_1: RegionParams = rp002(Cn470Plan::A20, Revision::Rp002_1_0_1, A20);
static B20_RP002_1_0_1: RegionParams = rp002(Cn470Plan::B20, Revision::Rp002_1_0_1, B20);
static A26_RP002_1_0_1: RegionParams = rp002(Cn470Plan::A26, Revision::Rp002_1_0_1, A26);
static B26_RP002_1_0_1: RegionParams = rp002(Cn470Plan::B26, Revision::Rp002_1_0_1, B26);

pub(super) fn params(revision: Revision) -> &'static RegionParams {
    match revision {
        Revision::A | Revision::B => &OLD,
        Revision::Rp002_1_0_0 => &A20_RP002_1_0_0,
        _ => &A20_RP002_1_0_1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_plan_matches_1_1rb() {
        let p = params(Revision::B);
        let ChannelPlan::Fixed {
            uplink, downlink, ..
        } = p.channel_plan
        else {
            panic!()
        };
        assert_eq!((uplink.count, downlink.count), (96, 48));
        assert_eq!(uplink.channel(95).unwrap().frequency, 489_300_000);
        assert_eq!(downlink.channel(47).unwrap().frequency, 509_700_000);
        assert_eq!((p.rx2_frequency, p.rx2_dr), (505_300_000, 0));
        assert_eq!(p.default_max_eirp, 19.15);
        assert_eq!(p.tx_power_offsets.len(), 8);
        assert_eq!(p.max_payload[5].unwrap().m, 250);
        assert_eq!(p.max_payload_repeater.unwrap()[5].unwrap().m, 230);
        assert_eq!(
            p.rx1_dr[5],
            &[Some(5), Some(4), Some(3), Some(2), Some(1), Some(0)]
        );
    }

    #[test]
    fn rp002_1_0_1_data_rates_and_payloads_match_loramac_node() {
        // LoRaMac-node DataratesCN470 / BandwidthsCN470 and
        // MaxPayloadOfDatarateCN470 (N) = { 0, 23, 86, 184, 242, 242, 242, 242 }.
        let p = params(Revision::Rp002_1_0_4);
        let n: [Option<u8>; 8] = [
            None,
            Some(23),
            Some(86),
            Some(184),
            Some(242),
            Some(242),
            Some(242),
            Some(242),
        ];
        for (dr, n) in n.into_iter().enumerate() {
            assert_eq!(p.max_payload[dr].map(|m| m.n), n, "DR{dr}");
        }
        assert_eq!(
            p.data_rates[6].unwrap().modulation,
            Modulation::Lora {
                spreading_factor: 7,
                bandwidth: 500_000
            }
        );
        assert_eq!(
            p.data_rates[7].unwrap().modulation,
            Modulation::Fsk { bitrate: 50_000 }
        );
        assert!(!p.data_rates[0].unwrap().uplink);
        assert_eq!(
            p.rx1_dr[7],
            &[Some(7), Some(6), Some(5), Some(4), Some(3), Some(2)]
        );
        assert_eq!(
            p.rx1_dr[2],
            &[Some(2), Some(1), Some(1), Some(1), Some(1), Some(1)]
        );
        assert_eq!(p.rx2_dr, 1);
        // RP002-1.0.0 kept the old data rates with the new plans.
        let p = params(Revision::Rp002_1_0_0);
        assert_eq!(p.max_payload[0].unwrap().m, 59);
        assert_eq!(p.rx2_dr, 0);
    }

    #[test]
    fn plans_match_loramac_node() {
        let grids = |plan: Cn470Plan| {
            let ChannelPlan::Fixed {
                uplink,
                uplink_group2,
                downlink,
                downlink_group2,
                ..
            } = plan.params(Revision::Rp002_1_0_4).unwrap().channel_plan
            else {
                panic!()
            };
            (uplink, uplink_group2, downlink, downlink_group2)
        };
        // RegionCN470A20.h: TX1 470.3, TX2 503.5–509.7, RX 483.9–496.5 MHz.
        let (u, u2, d, d2) = grids(Cn470Plan::A20);
        assert_eq!((u.first_frequency, u.count), (470_300_000, 32));
        assert_eq!(u2.unwrap().channel(31).unwrap().frequency, 509_700_000);
        assert_eq!(d.channel(63).unwrap().frequency, 496_500_000);
        assert_eq!(d.channel(32).unwrap().frequency, 490_300_000);
        assert!(d2.is_none());
        // RegionCN470B20.h: 476.9–483.1 and 496.9–503.1 MHz both ways.
        let (u, u2, d, d2) = grids(Cn470Plan::B20);
        assert_eq!(u.channel(31).unwrap().frequency, 483_100_000);
        assert_eq!(u2.unwrap().channel(31).unwrap().frequency, 503_100_000);
        assert_eq!(d, u);
        assert_eq!(d2, u2);
        // RegionCN470A26.h / B26.h.
        let (u, _, d, _) = grids(Cn470Plan::A26);
        assert_eq!(u.channel(47).unwrap().frequency, 479_700_000);
        assert_eq!(d.channel(23).unwrap().frequency, 494_700_000);
        let (u, _, d, _) = grids(Cn470Plan::B26);
        assert_eq!(u.channel(47).unwrap().frequency, 489_700_000);
        assert_eq!(d.channel(23).unwrap().frequency, 504_700_000);
        let rx2: [u32; 4] =
            Cn470Plan::ALL.map(|p| p.params(Revision::Rp002_1_0_2).unwrap().rx2_frequency);
        assert_eq!(rx2, [486_900_000, 498_300_000, 492_500_000, 502_500_000]);
    }

    #[test]
    fn join_channels_select_their_plan() {
        assert_eq!(
            JOIN_CHANNELS
                .iter()
                .filter(|j| j.plan == Cn470Plan::A20)
                .count(),
            8
        );
        for (i, j) in JOIN_CHANNELS.iter().enumerate() {
            assert_eq!(usize::from(j.index), i);
            assert_eq!(Cn470Plan::join_channel(j.frequency), Some(*j));
            assert!(j.plan.join_channels().contains(j));
        }
        // A20's join channels are uplink channels 3 + 8k whose RX1 is the usual one.
        let p = Cn470Plan::A20.params(Revision::Rp002_1_0_4).unwrap();
        for j in Cn470Plan::A20.join_channels() {
            let ch = p.uplink_channel_index(j.frequency).unwrap();
            assert_eq!(p.rx1_frequency_for_channel(ch), Some(j.rx1_frequency));
        }
        assert_eq!(Cn470Plan::A20.rx2_frequency(Some(6)), 494_900_000);
        assert_eq!(Cn470Plan::B20.rx2_frequency(Some(9)), 498_300_000);
        assert_eq!(Cn470Plan::B20.rx2_frequency(None), 498_300_000);
    }

    #[test]
    fn class_b_follows_the_join_channel() {
        let b = Cn470Plan::A20.class_b(Some(2));
        assert_eq!(
            b.beacon_frequency,
            BeaconFrequency::Hopping {
                first_frequency: 487_100_000,
                step: 200_000,
                count: 8
            }
        );
        assert_eq!(
            Cn470Plan::B20.class_b(Some(8)).beacon_frequency,
            BeaconFrequency::Fixed(481_500_000)
        );
        assert_eq!(
            Cn470Plan::B20.class_b(Some(9)).beacon_frequency,
            BeaconFrequency::Fixed(501_500_000)
        );
        assert_eq!(
            Cn470Plan::B26.class_b(None).ping_slot_frequency,
            BeaconFrequency::Fixed(504_900_000)
        );
        assert_eq!(Cn470Plan::A26.class_b(None).beacon_dr, 2);
    }

    #[test]
    fn plan_of_params_round_trips() {
        for plan in Cn470Plan::ALL {
            for rev in [Revision::Rp002_1_0_0, Revision::Rp002_1_0_3] {
                assert_eq!(Cn470Plan::of(plan.params(rev).unwrap()), Some(plan));
            }
        }
        assert_eq!(Cn470Plan::of(params(Revision::B)), None);
        assert!(core::ptr::eq(
            params(Revision::Rp002_1_0_4),
            Cn470Plan::A20.params(Revision::Rp002_1_0_1).unwrap()
        ));
    }
}
