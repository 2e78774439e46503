//! Regions with a fixed channel grid: US902-928, AU915-928 and CN470-510.
//!
//! Values come from the Regional Parameters (RP002-1.0.0 to 1.0.4, and the
//! 1.0.2rB / 1.1rA / 1.1rB documents for revisions `A` and `B`), checked against
//! Semtech's LoRaMac-node region files and ChirpStack's `lrwn` 4.13; where the
//! sources disagree the choice is written next to the value.
//!
//! Revision `B` names two documents (LoRaWAN 1.0.2rB and 1.1rB) that differ in
//! these regions. Its tables keep what every device of either document accepts
//! (TX power 0 to 10, no ChMaskCntl 5, no TXParamSetupReq), and take class B,
//! which only LoRaWAN 1.1 devices implement, from 1.1rB.

mod au915;
mod cn470;
mod us915;

pub use cn470::{Cn470JoinChannel, Cn470Plan};

use super::{ChannelGrid, DataRate, MaxPayload, Region, RegionParams, Revision};
use crate::modulation::{LrFhssCodingRate, Modulation};

pub(super) fn params(region: Region, revision: Revision) -> &'static RegionParams {
    match region {
        Region::Au915 => au915::params(revision),
        Region::Cn470 => cn470::params(revision),
        // Only fixed-plan regions are routed here; US915 stands in for the others
        // rather than panicking.
        _ => us915::params(revision),
    }
}

/// A LoRa data rate with coding rate 4/5.
const fn lora(
    spreading_factor: u8,
    bandwidth: u32,
    uplink: bool,
    downlink: bool,
) -> Option<DataRate> {
    Some(DataRate {
        modulation: Modulation::Lora {
            spreading_factor,
            bandwidth,
        },
        uplink,
        downlink,
    })
}

/// An uplink-only LoRa data rate.
const fn lora_up(spreading_factor: u8, bandwidth: u32) -> Option<DataRate> {
    lora(spreading_factor, bandwidth, true, false)
}

/// A downlink-only LoRa data rate.
const fn lora_down(spreading_factor: u8, bandwidth: u32) -> Option<DataRate> {
    lora(spreading_factor, bandwidth, false, true)
}

/// A LoRa data rate for both directions.
const fn lora_both(spreading_factor: u8, bandwidth: u32) -> Option<DataRate> {
    lora(spreading_factor, bandwidth, true, true)
}

/// An uplink-only LR-FHSS data rate with the 1.523 MHz occupied channel width.
const fn lr_fhss_wide(coding_rate: LrFhssCodingRate) -> Option<DataRate> {
    Some(DataRate {
        modulation: Modulation::LrFhss {
            coding_rate,
            occupied_channel_width: 1_523_000,
        },
        uplink: true,
        downlink: false,
    })
}

/// A maximum-payload table from M values by data rate; 0 marks a data rate
/// without one. N is M − 8 throughout these regions.
const fn payloads(m: [u8; 16]) -> [Option<MaxPayload>; 16] {
    let mut out = [None; 16];
    let mut i = 0;
    while i < 16 {
        if m[i] != 0 {
            out[i] = Some(MaxPayload {
                m: m[i],
                n: m[i] - 8,
            });
        }
        i += 1;
    }
    out
}

/// TXPower 0..N−1 as MaxEIRP − 2·TXPower dB.
const fn tx_power_offsets<const N: usize>() -> [Option<i8>; N] {
    let mut out = [None; N];
    let mut i = 0;
    while i < N {
        out[i] = Some(-2 * i as i8);
        i += 1;
    }
    out
}

/// `count` channels every `step` Hz from `first_frequency`.
const fn grid(first_frequency: u32, step: u32, count: u8, min_dr: u8, max_dr: u8) -> ChannelGrid {
    ChannelGrid {
        first_frequency,
        step,
        count,
        min_dr,
        max_dr,
    }
}

/// An RX1 data-rate table, `[uplink DR][RX1DROffset]`, from plain numbers; `_`
/// marks a combination that is not allowed.
macro_rules! rx1_table {
    ($([$($dr:tt),* $(,)?]),* $(,)?) => {
        &[$(&[$(rx1_table!(@cell $dr)),*]),*]
    };
    (@cell _) => { None };
    (@cell $dr:literal) => { Some($dr) };
}
use rx1_table;

/// TXPower 0 to 10 (LoRaWAN 1.0.2rB and 1.1rA US915/AU915).
static TX_POWER_0_TO_10: [Option<i8>; 11] = tx_power_offsets();
/// TXPower 0 to 14 (1.1rB and RP002 US915/AU915).
static TX_POWER_0_TO_14: [Option<i8>; 15] = tx_power_offsets();
/// TXPower 0 to 7 (CN470).
static TX_POWER_0_TO_7: [Option<i8>; 8] = tx_power_offsets();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_revision_of_every_fixed_region_has_tables() {
        for region in [Region::Us915, Region::Au915, Region::Cn470] {
            for revision in Revision::ALL {
                let p = params(region, revision);
                assert_eq!(p.region, region);
                assert!(
                    p.revision <= revision,
                    "{region} {revision}: tables of {}",
                    p.revision
                );
                assert_eq!(p.data_rates.len(), 16);
                assert_eq!(p.max_payload.len(), 16);
                for (dr, d) in p.data_rates.iter().enumerate() {
                    let Some(d) = d else { continue };
                    // Every usable data rate has a payload limit, and only those.
                    assert_eq!(
                        p.max_payload[dr].is_some(),
                        d.uplink || d.downlink,
                        "{region} {revision} DR{dr}"
                    );
                }
                for (dr, row) in p.rx1_dr.iter().enumerate() {
                    if row.iter().any(Option::is_some) {
                        assert!(
                            p.data_rates[dr].is_some_and(|d| d.uplink),
                            "{region} {revision} RX1 row DR{dr}"
                        );
                    }
                    for rx1 in row.iter().flatten() {
                        let d = p.data_rates[usize::from(*rx1)].unwrap();
                        assert!(d.downlink, "{region} {revision} DR{dr} → DR{rx1}");
                    }
                }
                assert!(p.data_rates[usize::from(p.rx2_dr)].is_some_and(|d| d.downlink));
                let b = p.class_b.unwrap();
                assert!(p.data_rates[usize::from(b.beacon_dr)].is_some_and(|d| d.downlink));
                assert!(p.data_rates[usize::from(b.ping_slot_dr)].is_some_and(|d| d.downlink));
            }
        }
    }

    #[test]
    fn tx_power_is_max_eirp_minus_two_db_per_step() {
        assert_eq!(TX_POWER_0_TO_10[10], Some(-20));
        assert_eq!(TX_POWER_0_TO_14[14], Some(-28));
        assert_eq!(TX_POWER_0_TO_7[7], Some(-14));
    }
}
