//! US902-928.
//!
//! Sources: RP002-1.0.0 to 1.0.4 §"US902-928", LoRaWAN 1.0.2rB / 1.1rA / 1.1rB
//! Regional Parameters, LoRaMac-node `RegionUS915.[ch]`, lrwn `region/us915.rs`.
//!
//! - LR-FHSS DR5 and DR6 (on channels 64–71) first appear in RP002-1.0.2, as in
//!   lrwn's payload tables and TTN's band definitions; RP002-1.0.0 and 1.0.1 have
//!   DR5–7 RFU.
//! - TXPower 0 to 14 from 1.1rA on; 1.0.2rB stops at 10.
//! - ChMaskCntl 5 (a bank of eight 125 kHz channels per ChMask bit) appears in
//!   1.1rA; RP002 adds the matching 500 kHz channel to each bank. 1.0.2rB has it RFU.

use super::{
    TX_POWER_0_TO_10, TX_POWER_0_TO_14, grid, lora_down, lora_up, lr_fhss_wide, payloads, rx1_table,
};
use crate::modulation::LrFhssCodingRate;
use crate::region::{
    BeaconFrequency, ChannelPlan, ClassB, DataRate, MaxPayload, Region, RegionParams, Revision,
};

const DATA_RATES: [Option<DataRate>; 16] = [
    lora_up(10, 125_000),
    lora_up(9, 125_000),
    lora_up(8, 125_000),
    lora_up(7, 125_000),
    lora_up(8, 500_000),
    None,
    None,
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

/// RP002-1.0.2 on: DR5 and DR6 are LR-FHSS.
const DATA_RATES_LR_FHSS: [Option<DataRate>; 16] = {
    let mut t = DATA_RATES;
    t[5] = lr_fhss_wide(LrFhssCodingRate::Cr1_3);
    t[6] = lr_fhss_wide(LrFhssCodingRate::Cr2_3);
    t
};

/// Not repeater compatible (the table a network uses unless it runs repeaters).
const MAX_PAYLOAD: [Option<MaxPayload>; 16] = payloads([
    19, 61, 133, 250, 250, 0, 0, 0, 61, 137, 250, 250, 250, 250, 0, 0,
]);
const MAX_PAYLOAD_LR_FHSS: [Option<MaxPayload>; 16] = payloads([
    19, 61, 133, 250, 250, 58, 133, 0, 61, 137, 250, 250, 250, 250, 0, 0,
]);
/// Repeater compatible: only the downlink rates shrink (LoRaMac-node's
/// `MaxPayloadOfDatarateRepeaterUS915`; lrwn has 230 for DR3/DR4 in RP002).
const MAX_PAYLOAD_REPEATER: [Option<MaxPayload>; 16] = payloads([
    19, 61, 133, 250, 250, 0, 0, 0, 41, 117, 230, 230, 230, 230, 0, 0,
]);
const MAX_PAYLOAD_REPEATER_LR_FHSS: [Option<MaxPayload>; 16] = payloads([
    19, 61, 133, 250, 250, 58, 133, 0, 41, 117, 230, 230, 230, 230, 0, 0,
]);

static RX1_DR: &[&[Option<u8>]] = rx1_table!(
    [10, 9, 8, 8],
    [11, 10, 9, 8],
    [12, 11, 10, 9],
    [13, 12, 11, 10],
    [13, 13, 12, 11],
);
/// RP002-1.0.2 on: the LR-FHSS rates answer like DR0 and DR1.
static RX1_DR_LR_FHSS: &[&[Option<u8>]] = rx1_table!(
    [10, 9, 8, 8],
    [11, 10, 9, 8],
    [12, 11, 10, 9],
    [13, 12, 11, 10],
    [13, 13, 12, 11],
    [10, 9, 8, 8],
    [11, 10, 9, 8],
);

const CLASS_B: ClassB = ClassB {
    beacon_dr: 8,
    // 923.3 MHz + 600 kHz × (floor(beacon time / 128) mod 8).
    beacon_frequency: BeaconFrequency::Hopping {
        first_frequency: 923_300_000,
        step: 600_000,
        count: 8,
    },
    ping_slot_dr: 8,
    // 923.3 MHz + 600 kHz × ((DevAddr + floor(beacon time / 128)) mod 8).
    ping_slot_frequency: BeaconFrequency::Hopping {
        first_frequency: 923_300_000,
        step: 600_000,
        count: 8,
    },
};

const fn us915(
    revision: Revision,
    data_rates: &'static [Option<DataRate>],
    max_payload: &'static [Option<MaxPayload>],
    max_payload_repeater: &'static [Option<MaxPayload>],
    rx1_dr: &'static [&'static [Option<u8>]],
    tx_power_offsets: &'static [Option<i8>],
    wide_max_dr: u8,
) -> RegionParams {
    RegionParams {
        region: Region::Us915,
        revision,
        data_rates,
        max_payload,
        max_payload_dwell_time: None,
        max_payload_repeater: Some(max_payload_repeater),
        rx1_dr,
        rx1_dr_dwell_time: None,
        tx_power_offsets,
        default_max_eirp: 30.0,
        channel_plan: ChannelPlan::Fixed {
            // 902.3 MHz + 200 kHz × n, n = 0..63.
            uplink: grid(902_300_000, 200_000, 64, 0, 3),
            // 903.0 MHz + 1.6 MHz × n, n = 0..7 (channels 64–71).
            uplink_wide: Some(grid(903_000_000, 1_600_000, 8, 4, wide_max_dr)),
            // 923.3 MHz + 600 kHz × n, n = 0..7.
            downlink: grid(923_300_000, 600_000, 8, 8, 13),
            uplink_group2: None,
            downlink_group2: None,
        },
        rx2_frequency: 923_300_000,
        rx2_dr: 8,
        class_b: Some(CLASS_B),
        duty_cycle_bands: &[],
        default_dwell_time: false,
        tx_param_setup: false,
    }
}

/// LoRaWAN 1.0.2rB (and the common part of 1.1rB): TXPower 0–10.
static REV_B: RegionParams = us915(
    Revision::B,
    &DATA_RATES,
    &MAX_PAYLOAD,
    &MAX_PAYLOAD_REPEATER,
    RX1_DR,
    &TX_POWER_0_TO_10,
    4,
);
/// LoRaWAN 1.1rA: TXPower 0–14, ChMaskCntl 5 over 125 kHz banks.
static REV_A: RegionParams = us915(
    Revision::A,
    &DATA_RATES,
    &MAX_PAYLOAD,
    &MAX_PAYLOAD_REPEATER,
    RX1_DR,
    &TX_POWER_0_TO_14,
    4,
);
/// RP002-1.0.0 and 1.0.1: ChMaskCntl 5 banks include their 500 kHz channel.
static RP002_1_0_0: RegionParams = us915(
    Revision::Rp002_1_0_0,
    &DATA_RATES,
    &MAX_PAYLOAD,
    &MAX_PAYLOAD_REPEATER,
    RX1_DR,
    &TX_POWER_0_TO_14,
    4,
);
/// RP002-1.0.2 to 1.0.4: LR-FHSS DR5/DR6 on channels 64–71.
static RP002_1_0_2: RegionParams = us915(
    Revision::Rp002_1_0_2,
    &DATA_RATES_LR_FHSS,
    &MAX_PAYLOAD_LR_FHSS,
    &MAX_PAYLOAD_REPEATER_LR_FHSS,
    RX1_DR_LR_FHSS,
    &TX_POWER_0_TO_14,
    6,
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

    fn sf_bw(p: &RegionParams, dr: usize) -> (u8, u32) {
        match p.data_rates[dr].unwrap().modulation {
            Modulation::Lora {
                spreading_factor,
                bandwidth,
            } => (spreading_factor, bandwidth),
            m => panic!("DR{dr} is {m}"),
        }
    }

    #[test]
    fn data_rates_match_rp002_1_0_4_table() {
        // RP002-1.0.4 "US902-928 TX Data rate table".
        let p = params(Revision::Rp002_1_0_4);
        let lora = [
            (0, 10, 125_000),
            (1, 9, 125_000),
            (2, 8, 125_000),
            (3, 7, 125_000),
            (4, 8, 500_000),
            (8, 12, 500_000),
            (9, 11, 500_000),
            (10, 10, 500_000),
            (11, 9, 500_000),
            (12, 8, 500_000),
            (13, 7, 500_000),
        ];
        for (dr, sf, bw) in lora {
            assert_eq!(sf_bw(p, dr), (sf, bw), "DR{dr}");
            assert_eq!(p.data_rates[dr].unwrap().uplink, dr <= 4, "DR{dr}");
            assert_eq!(p.data_rates[dr].unwrap().downlink, dr >= 8, "DR{dr}");
        }
        assert_eq!(
            p.data_rates[5].unwrap().modulation,
            Modulation::LrFhss {
                coding_rate: LrFhssCodingRate::Cr1_3,
                occupied_channel_width: 1_523_000
            }
        );
        assert_eq!(
            p.data_rates[6].unwrap().modulation,
            Modulation::LrFhss {
                coding_rate: LrFhssCodingRate::Cr2_3,
                occupied_channel_width: 1_523_000
            }
        );
        for rfu in [7, 14, 15] {
            assert!(p.data_rates[rfu].is_none());
        }
        // RP002-1.0.1 has DR5–7 RFU.
        assert!(params(Revision::Rp002_1_0_1).data_rates[5].is_none());
    }

    #[test]
    fn max_payload_matches_rp002_1_0_4() {
        // RP002-1.0.4 "US902-928 maximum payload size (not repeater compatible)".
        let p = params(Revision::Rp002_1_0_4);
        let m: [(usize, u8); 13] = [
            (0, 19),
            (1, 61),
            (2, 133),
            (3, 250),
            (4, 250),
            (5, 58),
            (6, 133),
            (8, 61),
            (9, 137),
            (10, 250),
            (11, 250),
            (12, 250),
            (13, 250),
        ];
        for (dr, m) in m {
            assert_eq!(
                p.max_payload[dr],
                Some(MaxPayload { m, n: m - 8 }),
                "DR{dr}"
            );
        }
        // LoRaMac-node `MaxPayloadOfDatarateRepeaterUS915` (N): 33, 109, 222.
        let r = p.max_payload_repeater.unwrap();
        assert_eq!(r[8].unwrap().n, 33);
        assert_eq!(r[9].unwrap().n, 109);
        assert_eq!(r[13].unwrap().n, 222);
        assert_eq!(r[3].unwrap().n, 242);
    }

    #[test]
    fn rx1_data_rates_match_the_spec_table() {
        // LoRaWAN 1.0.3rA Table 17 / RP002 "US902-928 downlink RX1 data rate mapping".
        let p = params(Revision::B);
        assert_eq!(p.rx1_dr[0], &[Some(10), Some(9), Some(8), Some(8)]);
        assert_eq!(p.rx1_dr[4], &[Some(13), Some(13), Some(12), Some(11)]);
        assert_eq!(p.rx1_dr.len(), 5);
        let p = params(Revision::Rp002_1_0_3);
        assert_eq!(p.rx1_dr[6], &[Some(11), Some(10), Some(9), Some(8)]);
    }

    #[test]
    fn tx_power_stops_at_10_in_1_0_2rb_and_14_later() {
        assert_eq!(params(Revision::B).tx_power_offsets.len(), 11);
        assert_eq!(params(Revision::A).tx_power_offsets.len(), 15);
        assert_eq!(
            params(Revision::Rp002_1_0_4).tx_power_offsets[14],
            Some(-28)
        );
        assert_eq!(params(Revision::Rp002_1_0_4).default_max_eirp, 30.0);
    }

    #[test]
    fn channels_and_rx2_match_the_spec() {
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
        assert_eq!(uplink.channel(63).unwrap().frequency, 914_900_000);
        let wide = uplink_wide.unwrap();
        assert_eq!(wide.channel(7).unwrap().frequency, 914_200_000);
        assert_eq!((wide.min_dr, wide.max_dr), (4, 6));
        assert_eq!(downlink.channel(7).unwrap().frequency, 927_500_000);
        assert_eq!((p.rx2_frequency, p.rx2_dr), (923_300_000, 8));
        assert!(!p.tx_param_setup);
    }

    #[test]
    fn tables_that_did_not_change_are_shared() {
        assert!(core::ptr::eq(
            params(Revision::Rp002_1_0_2),
            params(Revision::Rp002_1_0_4)
        ));
        assert!(core::ptr::eq(
            params(Revision::Rp002_1_0_0),
            params(Revision::Rp002_1_0_1)
        ));
        assert!(!core::ptr::eq(
            params(Revision::A),
            params(Revision::Rp002_1_0_0)
        ));
    }
}
