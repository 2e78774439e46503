//! AU915-928.
//!
//! Sources: RP002-1.0.0 to 1.0.4 §"AU915-928", LoRaWAN 1.0.2rB / 1.1rA / 1.1rB
//! Regional Parameters, LoRaMac-node `RegionAU915.[ch]`, lrwn `region/au915.rs`.
//!
//! - Every revision here has the data-rate table of 1.0.2rB (DR0 = SF12/125 kHz
//!   to DR5 = SF7, DR6 = SF8/500 kHz). The older US-like table (DR0 = SF10) of
//!   LoRaWAN 1.0.1 and 1.0.2rA is not a `Revision` of this crate.
//! - LR-FHSS DR7 (on channels 64–71) from RP002-1.0.2.
//! - Uplink dwell time, TXParamSetupReq and the dwell-time payload table from
//!   1.1rB; RP002 makes the 400 ms uplink limit the default at boot
//!   (LoRaMac-node `AU915_DEFAULT_UPLINK_DWELL_TIME` = 1), so joins start at DR2.
//! - TXPower 0 to 14 from 1.1rB; 1.0.2rB and 1.1rA stop at 10.
//! - Beacon DR10 in 1.0.2rB and 1.1rA, DR8 from 1.1rB (class B only exists for
//!   1.1 devices, so revision `B` takes 1.1rB's DR8).

use super::{
    TX_POWER_0_TO_10, TX_POWER_0_TO_14, grid, lora_down, lora_up, lr_fhss_wide, payloads, rx1_table,
};
use crate::modulation::LrFhssCodingRate;
use crate::region::{
    BeaconFrequency, ChannelPlan, ClassB, DataRate, MaxPayload, Region, RegionParams, Revision,
};

const DATA_RATES: [Option<DataRate>; 16] = [
    lora_up(12, 125_000),
    lora_up(11, 125_000),
    lora_up(10, 125_000),
    lora_up(9, 125_000),
    lora_up(8, 125_000),
    lora_up(7, 125_000),
    lora_up(8, 500_000),
    None,
    lora_down(12, 500_000),
    lora_down(11, 500_000),
    lora_down(10, 500_000),
    lora_down(9, 500_000),
    lora_down(8, 500_000),
    lora_down(7, 500_000),
    None,
    None,
];

/// RP002-1.0.2 on: DR7 is LR-FHSS CR1/3.
const DATA_RATES_LR_FHSS: [Option<DataRate>; 16] = {
    let mut t = DATA_RATES;
    t[7] = lr_fhss_wide(LrFhssCodingRate::Cr1_3);
    t
};

const MAX_PAYLOAD: [Option<MaxPayload>; 16] = payloads([
    59, 59, 59, 123, 250, 250, 250, 0, 61, 137, 250, 250, 250, 250, 0, 0,
]);
const MAX_PAYLOAD_LR_FHSS: [Option<MaxPayload>; 16] = payloads([
    59, 59, 59, 123, 250, 250, 250, 58, 61, 137, 250, 250, 250, 250, 0, 0,
]);
const MAX_PAYLOAD_REPEATER: [Option<MaxPayload>; 16] = payloads([
    59, 59, 59, 123, 230, 230, 230, 0, 41, 117, 230, 230, 230, 230, 0, 0,
]);
const MAX_PAYLOAD_REPEATER_LR_FHSS: [Option<MaxPayload>; 16] = payloads([
    59, 59, 59, 123, 230, 230, 230, 58, 41, 117, 230, 230, 230, 230, 0, 0,
]);
/// UplinkDwellTime = 1 (400 ms): DR0 and DR1 cannot carry a frame. The downlink
/// rows are those of UplinkDwellTime = 0 (LoRaMac-node `MaxPayloadOfDatarateDwell1AU915`).
const MAX_PAYLOAD_DWELL: [Option<MaxPayload>; 16] = payloads([
    0, 0, 19, 61, 133, 250, 250, 0, 61, 137, 250, 250, 250, 250, 0, 0,
]);
const MAX_PAYLOAD_DWELL_LR_FHSS: [Option<MaxPayload>; 16] = payloads([
    0, 0, 19, 61, 133, 250, 250, 58, 61, 137, 250, 250, 250, 250, 0, 0,
]);

static RX1_DR: &[&[Option<u8>]] = rx1_table!(
    [8, 8, 8, 8, 8, 8],
    [9, 8, 8, 8, 8, 8],
    [10, 9, 8, 8, 8, 8],
    [11, 10, 9, 8, 8, 8],
    [12, 11, 10, 9, 8, 8],
    [13, 12, 11, 10, 9, 8],
    [13, 13, 12, 11, 10, 9],
);
/// RP002-1.0.2 on: LR-FHSS DR7 answers like DR1.
static RX1_DR_LR_FHSS: &[&[Option<u8>]] = rx1_table!(
    [8, 8, 8, 8, 8, 8],
    [9, 8, 8, 8, 8, 8],
    [10, 9, 8, 8, 8, 8],
    [11, 10, 9, 8, 8, 8],
    [12, 11, 10, 9, 8, 8],
    [13, 12, 11, 10, 9, 8],
    [13, 13, 12, 11, 10, 9],
    [9, 8, 8, 8, 8, 8],
);

const fn class_b(dr: u8) -> ClassB {
    // The US902-928 downlink channels: 923.3 MHz + 600 kHz × n, n = 0..7.
    let hopping = BeaconFrequency::Hopping {
        first_frequency: 923_300_000,
        step: 600_000,
        count: 8,
    };
    ClassB {
        beacon_dr: dr,
        beacon_frequency: hopping,
        ping_slot_dr: dr,
        ping_slot_frequency: hopping,
    }
}

struct Tables {
    data_rates: &'static [Option<DataRate>],
    max_payload: &'static [Option<MaxPayload>],
    max_payload_repeater: &'static [Option<MaxPayload>],
    max_payload_dwell_time: Option<&'static [Option<MaxPayload>]>,
    rx1_dr: &'static [&'static [Option<u8>]],
    tx_power_offsets: &'static [Option<i8>],
    wide_max_dr: u8,
    beacon_dr: u8,
}

const fn au915(revision: Revision, t: Tables) -> RegionParams {
    let dwell = t.max_payload_dwell_time.is_some();
    RegionParams {
        region: Region::Au915,
        revision,
        data_rates: t.data_rates,
        max_payload: t.max_payload,
        max_payload_dwell_time: t.max_payload_dwell_time,
        max_payload_repeater: Some(t.max_payload_repeater),
        rx1_dr: t.rx1_dr,
        rx1_dr_dwell_time: None,
        tx_power_offsets: t.tx_power_offsets,
        default_max_eirp: 30.0,
        channel_plan: ChannelPlan::Fixed {
            // 915.2 MHz + 200 kHz × n, n = 0..63.
            uplink: grid(915_200_000, 200_000, 64, 0, 5),
            // 915.9 MHz + 1.6 MHz × n, n = 0..7 (channels 64–71).
            uplink_wide: Some(grid(915_900_000, 1_600_000, 8, 6, t.wide_max_dr)),
            // 923.3 MHz + 600 kHz × n, n = 0..7.
            downlink: grid(923_300_000, 600_000, 8, 8, 13),
            uplink_group2: None,
            downlink_group2: None,
        },
        rx2_frequency: 923_300_000,
        rx2_dr: 8,
        class_b: Some(class_b(t.beacon_dr)),
        duty_cycle_bands: &[],
        default_dwell_time: dwell,
        tx_param_setup: dwell,
    }
}

/// LoRaWAN 1.0.2rB (1.1rB's class B beacon).
static REV_B: RegionParams = au915(
    Revision::B,
    Tables {
        data_rates: &DATA_RATES,
        max_payload: &MAX_PAYLOAD,
        max_payload_repeater: &MAX_PAYLOAD_REPEATER,
        max_payload_dwell_time: None,
        rx1_dr: RX1_DR,
        tx_power_offsets: &TX_POWER_0_TO_10,
        wide_max_dr: 6,
        beacon_dr: 8,
    },
);
/// LoRaWAN 1.1rA: beacon at DR10.
static REV_A: RegionParams = au915(
    Revision::A,
    Tables {
        data_rates: &DATA_RATES,
        max_payload: &MAX_PAYLOAD,
        max_payload_repeater: &MAX_PAYLOAD_REPEATER,
        max_payload_dwell_time: None,
        rx1_dr: RX1_DR,
        tx_power_offsets: &TX_POWER_0_TO_10,
        wide_max_dr: 6,
        beacon_dr: 10,
    },
);
/// RP002-1.0.0 and 1.0.1: dwell time, TXParamSetupReq, TXPower 0–14.
static RP002_1_0_0: RegionParams = au915(
    Revision::Rp002_1_0_0,
    Tables {
        data_rates: &DATA_RATES,
        max_payload: &MAX_PAYLOAD,
        max_payload_repeater: &MAX_PAYLOAD_REPEATER,
        max_payload_dwell_time: Some(&MAX_PAYLOAD_DWELL),
        rx1_dr: RX1_DR,
        tx_power_offsets: &TX_POWER_0_TO_14,
        wide_max_dr: 6,
        beacon_dr: 8,
    },
);
/// RP002-1.0.2 to 1.0.4: LR-FHSS DR7 on channels 64–71.
static RP002_1_0_2: RegionParams = au915(
    Revision::Rp002_1_0_2,
    Tables {
        data_rates: &DATA_RATES_LR_FHSS,
        max_payload: &MAX_PAYLOAD_LR_FHSS,
        max_payload_repeater: &MAX_PAYLOAD_REPEATER_LR_FHSS,
        max_payload_dwell_time: Some(&MAX_PAYLOAD_DWELL_LR_FHSS),
        rx1_dr: RX1_DR_LR_FHSS,
        tx_power_offsets: &TX_POWER_0_TO_14,
        wide_max_dr: 7,
        beacon_dr: 8,
    },
);

pub(super) fn params(revision: Revision) -> &'static RegionParams {
    match revision {
        Revision::A => &REV_A,
        Revision::B => &REV_B,
        Revision::Rp002_1_0_0 | Revision::Rp002_1_0_1 => &RP002_1_0_0,
        Revision::Rp002_1_0_2 | Revision::Rp002_1_0_3 | Revision::Rp002_1_0_4 => &RP002_1_0_2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modulation::Modulation;

    #[test]
    fn data_rates_match_the_1_0_2rb_table_in_every_revision() {
        for revision in Revision::ALL {
            let p = params(revision);
            for (dr, sf) in [(0, 12), (1, 11), (2, 10), (3, 9), (4, 8), (5, 7)] {
                assert_eq!(
                    p.data_rates[dr].unwrap().modulation,
                    Modulation::Lora {
                        spreading_factor: sf,
                        bandwidth: 125_000
                    }
                );
            }
            assert_eq!(
                p.data_rates[6].unwrap().modulation,
                Modulation::Lora {
                    spreading_factor: 8,
                    bandwidth: 500_000
                }
            );
            assert_eq!(
                p.data_rates[13].unwrap().modulation,
                Modulation::Lora {
                    spreading_factor: 7,
                    bandwidth: 500_000
                }
            );
        }
        // RP002-1.0.4: DR7 is LR-FHSS CR1/3, 1.523 MHz.
        assert!(matches!(
            params(Revision::Rp002_1_0_4).data_rates[7]
                .unwrap()
                .modulation,
            Modulation::LrFhss {
                coding_rate: LrFhssCodingRate::Cr1_3,
                occupied_channel_width: 1_523_000
            }
        ));
        assert!(params(Revision::Rp002_1_0_1).data_rates[7].is_none());
    }

    #[test]
    fn dwell_time_table_matches_loramac_node() {
        // LoRaMac-node MaxPayloadOfDatarateDwell1AU915 (N):
        // { 0, 0, 11, 53, 125, 242, 242, 0, 53, 129, 242, 242, 242, 242 }.
        let p = params(Revision::Rp002_1_0_3);
        let dwell = p.max_payload_dwell_time.unwrap();
        let n: [Option<u8>; 14] = [
            None,
            None,
            Some(11),
            Some(53),
            Some(125),
            Some(242),
            Some(242),
            Some(50),
            Some(53),
            Some(129),
            Some(242),
            Some(242),
            Some(242),
            Some(242),
        ];
        for (dr, n) in n.into_iter().enumerate() {
            assert_eq!(dwell[dr].map(|m| m.n), n, "DR{dr}");
        }
        // MaxPayloadOfDatarateDwell0AU915 (N): 51, 51, 51, 115, 242, …
        assert_eq!(p.max_payload[3].unwrap().n, 115);
        assert!(p.default_dwell_time && p.tx_param_setup);
        assert!(!params(Revision::A).tx_param_setup);
    }

    #[test]
    fn rx1_table_matches_loramac_node() {
        // LoRaMac-node DatarateOffsetsAU915.
        let p = params(Revision::Rp002_1_0_4);
        assert_eq!(p.rx1_dr[0], &[Some(8); 6]);
        assert_eq!(
            p.rx1_dr[6],
            &[Some(13), Some(13), Some(12), Some(11), Some(10), Some(9)]
        );
        assert_eq!(p.rx1_dr[7][0], Some(9));
    }

    #[test]
    fn channels_beacon_and_power() {
        let p = params(Revision::Rp002_1_0_4);
        let ChannelPlan::Fixed {
            uplink,
            uplink_wide,
            downlink,
            ..
        } = p.channel_plan
        else {
            panic!()
        };
        assert_eq!(uplink.channel(0).unwrap().frequency, 915_200_000);
        assert_eq!(uplink.channel(63).unwrap().frequency, 927_800_000);
        assert_eq!(
            uplink_wide.unwrap().channel(7).unwrap().frequency,
            927_100_000
        );
        assert_eq!(downlink.channel(7).unwrap().frequency, 927_500_000);
        assert_eq!(p.class_b.unwrap().beacon_dr, 8);
        assert_eq!(params(Revision::A).class_b.unwrap().beacon_dr, 10);
        assert_eq!(params(Revision::B).tx_power_offsets.len(), 11);
        assert_eq!(p.tx_power_offsets.len(), 15);
    }
}
