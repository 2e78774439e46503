//! EU863-870 (RP002-1.0.4 "EU863-870MHz ISM Band"; 1.0.2rB and 1.1rA/rB "EU 863-870MHz
//! ISM Band").
//!
//! Two sets of tables:
//! - A, B, RP002-1.0.0, RP002-1.0.1: DR0–DR7;
//! - RP002-1.0.2 to 1.0.4: DR8–DR11 LR-FHSS added (uplink only), with their
//!   payload sizes and RX1 rows.
//!
//! Source notes:
//! - LR-FHSS first appears in RP002-1.0.2 (October 2020); RP002-1.0.0/1.0.1 have
//!   DR8–DR15 RFU. `lrwn` and The Things Stack both date it so; the brief that
//!   asked for this module said "RP002-1.0.1+", which no source supports.
//! - Duty cycle: the Regional Parameters defer to ETSI EN 300 220 (their default
//!   channel table only says "<1%"); the sub-bands are EN 300 220-2 V3.2.1 bands
//!   K, L, M, N, P, Q as LoRaMac-node (`VerifyRfFreq`) and The Things Stack split
//!   them: 863–865 MHz is 0.1 %, not 1 % (the brief's "863–868 1 %").
//!   LoRaMac-node puts 868.0 MHz itself in band L; the bands are kept disjoint.
//! - `lrwn` differs on one value: in RP002-1.0.2+ its non-repeater DR4 has
//!   N = 222 with M = 250 (N is M − 8 = 242); pinned in the differential test.

use super::{
    DATA_RATES_LORA_FSK, MAX_PAYLOAD_DR0_7, MAX_PAYLOAD_REPEATER_DR0_7, RX1_DR0_7_OFFSET_0_5,
    TX_POWER_0_7, band, channel, class_b, dynamic_plan, fsk, lora, lr_fhss, mp, row,
};
use crate::modulation::LrFhssCodingRate::{Cr1_3, Cr2_3};
use crate::region::{Channel, DataRate, DutyCycleBand, MaxPayload, Region, RegionParams, Revision};

pub(super) fn params(revision: Revision) -> &'static RegionParams {
    match revision {
        Revision::A | Revision::B | Revision::Rp002_1_0_0 | Revision::Rp002_1_0_1 => &EU868_A,
        Revision::Rp002_1_0_2 | Revision::Rp002_1_0_3 | Revision::Rp002_1_0_4 => &EU868_RP002_1_0_2,
    }
}

/// 868.1, 868.3, 868.5 MHz, DR0–DR5.
static DEFAULT_CHANNELS: [Channel; 3] = [
    channel(868_100_000, 5),
    channel(868_300_000, 5),
    channel(868_500_000, 5),
];

/// ETSI EN 300 220-2 V3.2.1 Annex B sub-bands K, L, M, N, P, Q.
static DUTY_CYCLE_BANDS: [DutyCycleBand; 6] = [
    band(863_000_000, 864_999_999, 10),   // K: 0.1 %
    band(865_000_000, 868_000_000, 100),  // L: 1 %
    band(868_000_001, 868_600_000, 100),  // M: 1 % (the default channels)
    band(868_700_000, 869_200_000, 10),   // N: 0.1 %
    band(869_400_000, 869_650_000, 1000), // P: 10 % (RX2, beacon)
    band(869_700_000, 870_000_000, 100),  // Q: 1 %
];

static DATA_RATES_LR_FHSS: [Option<DataRate>; 12] = [
    lora(12, 125_000),
    lora(11, 125_000),
    lora(10, 125_000),
    lora(9, 125_000),
    lora(8, 125_000),
    lora(7, 125_000),
    lora(7, 250_000),
    fsk(50_000),
    lr_fhss(Cr1_3, 137_000),
    lr_fhss(Cr2_3, 137_000),
    lr_fhss(Cr1_3, 336_000),
    lr_fhss(Cr2_3, 336_000),
];

static MAX_PAYLOAD_LR_FHSS: [Option<MaxPayload>; 12] = [
    mp(59),
    mp(59),
    mp(59),
    mp(123),
    mp(250),
    mp(250),
    mp(250),
    mp(250),
    mp(58),
    mp(123),
    mp(58),
    mp(123),
];

static MAX_PAYLOAD_REPEATER_LR_FHSS: [Option<MaxPayload>; 12] = [
    mp(59),
    mp(59),
    mp(59),
    mp(123),
    mp(230),
    mp(230),
    mp(230),
    mp(230),
    mp(58),
    mp(123),
    mp(58),
    mp(123),
];

static RX1_LR_FHSS: [&[Option<u8>]; 12] = [
    &row([0, 0, 0, 0, 0, 0]),
    &row([1, 0, 0, 0, 0, 0]),
    &row([2, 1, 0, 0, 0, 0]),
    &row([3, 2, 1, 0, 0, 0]),
    &row([4, 3, 2, 1, 0, 0]),
    &row([5, 4, 3, 2, 1, 0]),
    &row([6, 5, 4, 3, 2, 1]),
    &row([7, 6, 5, 4, 3, 2]),
    // LR-FHSS uplinks are answered with LoRa: DR8/DR10 like DR1, DR9/DR11 like DR2.
    &row([1, 0, 0, 0, 0, 0]),
    &row([2, 1, 0, 0, 0, 0]),
    &row([1, 0, 0, 0, 0, 0]),
    &row([2, 1, 0, 0, 0, 0]),
];

/// A, B, RP002-1.0.0, RP002-1.0.1.
static EU868_A: RegionParams = RegionParams {
    region: Region::Eu868,
    revision: Revision::A,
    data_rates: &DATA_RATES_LORA_FSK,
    max_payload: &MAX_PAYLOAD_DR0_7,
    max_payload_dwell_time: None,
    max_payload_repeater: Some(&MAX_PAYLOAD_REPEATER_DR0_7),
    rx1_dr: &RX1_DR0_7_OFFSET_0_5,
    rx1_dr_dwell_time: None,
    tx_power_offsets: &TX_POWER_0_7,
    default_max_eirp: 16.0,
    channel_plan: dynamic_plan(&DEFAULT_CHANNELS),
    rx2_frequency: 869_525_000,
    rx2_dr: 0,
    class_b: Some(class_b(3, 869_525_000, 869_525_000)),
    duty_cycle_bands: &DUTY_CYCLE_BANDS,
    default_dwell_time: false,
    tx_param_setup: false,
};

/// RP002-1.0.2 to RP002-1.0.4: LR-FHSS DR8–DR11.
static EU868_RP002_1_0_2: RegionParams = RegionParams {
    revision: Revision::Rp002_1_0_2,
    data_rates: &DATA_RATES_LR_FHSS,
    max_payload: &MAX_PAYLOAD_LR_FHSS,
    max_payload_repeater: Some(&MAX_PAYLOAD_REPEATER_LR_FHSS),
    rx1_dr: &RX1_LR_FHSS,
    ..EU868_A
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modulation::Modulation;
    use crate::region::{BeaconFrequency, ChannelPlan, params as region_params};

    fn eu868(revision: Revision) -> &'static RegionParams {
        region_params(Region::Eu868, revision)
    }

    /// RP002-1.0.4 table "EU863-870 data rate and end-device output power
    /// encoding" (DR0–DR7 identical in 1.0.2rB Table 14).
    #[test]
    fn data_rates_follow_rp002_1_0_4_and_lr_fhss_starts_in_rp002_1_0_2() {
        let expected: [(u8, u32); 7] = [
            (12, 125_000),
            (11, 125_000),
            (10, 125_000),
            (9, 125_000),
            (8, 125_000),
            (7, 125_000),
            (7, 250_000),
        ];
        for revision in Revision::ALL {
            let p = eu868(revision);
            for (dr, (sf, bw)) in expected.into_iter().enumerate() {
                let rate = p.data_rates[dr].unwrap();
                assert_eq!(
                    rate.modulation,
                    Modulation::Lora {
                        spreading_factor: sf,
                        bandwidth: bw
                    }
                );
                assert!(rate.uplink && rate.downlink);
            }
            assert_eq!(
                p.data_rates[7].unwrap().modulation,
                Modulation::Fsk { bitrate: 50_000 }
            );
            let lr_fhss = revision >= Revision::Rp002_1_0_2;
            assert_eq!(
                p.data_rates.len(),
                if lr_fhss { 12 } else { 8 },
                "{revision}"
            );
        }
        let p = eu868(Revision::Rp002_1_0_4);
        let expected = [
            (Cr1_3, 137_000),
            (Cr2_3, 137_000),
            (Cr1_3, 336_000),
            (Cr2_3, 336_000),
        ];
        for (i, (coding_rate, occupied_channel_width)) in expected.into_iter().enumerate() {
            let rate = p.data_rates[8 + i].unwrap();
            assert_eq!(
                rate.modulation,
                Modulation::LrFhss {
                    coding_rate,
                    occupied_channel_width
                }
            );
            assert!(rate.uplink && !rate.downlink, "LR-FHSS is uplink only");
        }
    }

    /// RP002-1.0.4 "EU863-870 maximum payload size" tables; LoRaMac-node
    /// `MaxPayloadOfDatarateEU868` / `…RepeaterEU868` give N.
    #[test]
    fn max_payload_sizes_follow_rp002_1_0_4() {
        let m: Vec<u8> = eu868(Revision::Rp002_1_0_4)
            .max_payload
            .iter()
            .map(|x| x.unwrap().m)
            .collect();
        assert_eq!(m, [59, 59, 59, 123, 250, 250, 250, 250, 58, 123, 58, 123]);
        let n: Vec<u8> = eu868(Revision::A)
            .max_payload
            .iter()
            .map(|x| x.unwrap().n)
            .collect();
        assert_eq!(n, [51, 51, 51, 115, 242, 242, 242, 242]);
        let r: Vec<u8> = eu868(Revision::B)
            .max_payload_repeater
            .unwrap()
            .iter()
            .map(|x| x.unwrap().n)
            .collect();
        assert_eq!(r, [51, 51, 51, 115, 222, 222, 222, 222]);
        let r: Vec<u8> = eu868(Revision::Rp002_1_0_3)
            .max_payload_repeater
            .unwrap()
            .iter()
            .map(|x| x.unwrap().m)
            .collect();
        assert_eq!(r, [59, 59, 59, 123, 230, 230, 230, 230, 58, 123, 58, 123]);
        assert_eq!(eu868(Revision::A).max_payload_dwell_time, None);
    }

    /// RP002-1.0.4 "EU863-870 downlink RX1 data rate mapping": offsets 0–5,
    /// LR-FHSS DR8/DR10 → DR1, DR9/DR11 → DR2 at offset 0.
    #[test]
    fn rx1_data_rates_follow_rp002_1_0_4() {
        let p = eu868(Revision::Rp002_1_0_4);
        let table: Vec<Vec<u8>> = p
            .rx1_dr
            .iter()
            .map(|r| r.iter().map(|d| d.unwrap()).collect())
            .collect();
        assert_eq!(table[0], [0, 0, 0, 0, 0, 0]);
        assert_eq!(table[5], [5, 4, 3, 2, 1, 0]);
        assert_eq!(table[7], [7, 6, 5, 4, 3, 2]);
        assert_eq!(table[8], [1, 0, 0, 0, 0, 0]);
        assert_eq!(table[9], [2, 1, 0, 0, 0, 0]);
        assert_eq!(table[10], [1, 0, 0, 0, 0, 0]);
        assert_eq!(table[11], [2, 1, 0, 0, 0, 0]);
        assert!(
            p.rx1_dr.iter().all(|r| r.len() == 6),
            "RX1DROffset 6 and 7 are RFU"
        );
        assert_eq!(p.rx1_dr_dwell_time, None);
    }

    /// RP002-1.0.4 "EU863-870 TX power table": 0 to −14 dB, MaxEIRP +16 dBm.
    #[test]
    fn tx_power_and_max_eirp_follow_rp002_1_0_4() {
        for revision in Revision::ALL {
            let p = eu868(revision);
            let offsets: Vec<i8> = p.tx_power_offsets.iter().map(|o| o.unwrap()).collect();
            assert_eq!(offsets, [0, -2, -4, -6, -8, -10, -12, -14]);
            assert_eq!(p.default_max_eirp, 16.0);
            assert!(!p.tx_param_setup && !p.default_dwell_time);
        }
    }

    /// RP002-1.0.4 "EU863-870 default channels", RX2 869.525 MHz / DR0, beacon
    /// and ping slot 869.525 MHz / DR3.
    #[test]
    fn channels_rx2_and_class_b_follow_rp002_1_0_4() {
        let p = eu868(Revision::Rp002_1_0_4);
        let ChannelPlan::Dynamic {
            default_channels,
            max_channels,
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
            [
                (868_100_000, 0, 5),
                (868_300_000, 0, 5),
                (868_500_000, 0, 5)
            ]
        );
        assert_eq!(max_channels, 16);
        assert_eq!((p.rx2_frequency, p.rx2_dr), (869_525_000, 0));
        let b = p.class_b.unwrap();
        assert_eq!(b.beacon_frequency, BeaconFrequency::Fixed(869_525_000));
        assert_eq!(b.ping_slot_frequency, BeaconFrequency::Fixed(869_525_000));
        assert_eq!((b.beacon_dr, b.ping_slot_dr), (3, 3));
    }

    /// ETSI EN 300 220-2 V3.2.1 bands K–Q as LoRaMac-node `VerifyRfFreq` splits them.
    #[test]
    fn duty_cycle_bands_follow_etsi_en_300_220() {
        let p = eu868(Revision::Rp002_1_0_4);
        let at = |f: u32| {
            p.duty_cycle_bands
                .iter()
                .find(|b| (b.min_frequency..=b.max_frequency).contains(&f))
                .map(|b| b.max_duty_cycle_ppm10k)
        };
        assert_eq!(at(863_500_000), Some(10));
        assert_eq!(at(867_100_000), Some(100));
        assert_eq!(at(868_100_000), Some(100));
        assert_eq!(at(868_650_000), None);
        assert_eq!(at(868_800_000), Some(10));
        assert_eq!(at(869_300_000), None);
        assert_eq!(at(869_525_000), Some(1000));
        assert_eq!(at(869_850_000), Some(100));
    }

    #[test]
    fn revisions_with_equal_tables_share_one_static() {
        assert!(core::ptr::eq(
            eu868(Revision::A),
            eu868(Revision::Rp002_1_0_1)
        ));
        assert!(core::ptr::eq(
            eu868(Revision::Rp002_1_0_2),
            eu868(Revision::Rp002_1_0_4)
        ));
        assert!(!core::ptr::eq(
            eu868(Revision::Rp002_1_0_1),
            eu868(Revision::Rp002_1_0_2)
        ));
    }
}
