//! Regions whose channels are defined by frequency: EU868, EU433, CN779, AS923
//! (groups 1 to 4), KR920, IN865, RU864 and ISM2400.
//!
//! One file per region (AS923's four groups share `as923.rs`, they differ only by
//! a frequency offset). Each file holds one `static` per distinct set of tables and
//! maps every [`Revision`] onto one of them, so revisions whose tables are equal
//! share a definition and `RegionParams::revision` names the oldest revision the
//! tables apply to. A region that did not exist at an older revision (AS923-2..4)
//! answers with its first published tables.
//!
//! Sources of the values, in order of authority:
//! 1. the LoRa Alliance Regional Parameters: RP002-1.0.0 to RP002-1.0.4 and, for
//!    [`Revision::A`] / [`Revision::B`], the LoRaWAN 1.0.2rB and 1.1rA/rB
//!    Regional Parameters (the 1.0.3revA document was checked where it helped);
//! 2. Semtech's LoRaMac-node region headers (`src/mac/region/Region*.h`), which
//!    carry tables per `REGION_VERSION`;
//! 3. ChirpStack's `lrwn` 4.13 region files;
//! 4. The Things Stack's per-revision band files (`pkg/band/*_rp2_v1_0_x.go`),
//!    used to date a change when the first three do not.
//!
//! ISM2400 is no LoRa Alliance region: its values come from Semtech's
//! "Physical Layer Proposal 2.4GHz" (TN1300) as implemented by Semtech's LoRa
//! Basics Modem (`region_ww2g4_defs.h`) and `lrwn`. Where the sources disagree the
//! region file says which value was kept and why; `tests/region_dynamic.rs` pins
//! every difference from `lrwn`.

mod as923;
mod cn779;
mod eu433;
mod eu868;
mod in865;
mod ism2400;
mod kr920;
mod ru864;

use super::{
    BeaconFrequency, Channel, ChannelPlan, ClassB, DataRate, DutyCycleBand, MaxPayload, Region,
    RegionParams, Revision,
};
use crate::modulation::{LrFhssCodingRate, Modulation};

pub(super) fn params(region: Region, revision: Revision) -> &'static RegionParams {
    match region {
        Region::Eu868 => eu868::params(revision),
        Region::Eu433 => eu433::params(revision),
        Region::Cn779 => cn779::params(revision),
        Region::As923_1 | Region::As923_2 | Region::As923_3 | Region::As923_4 => {
            as923::params(region, revision)
        }
        Region::Kr920 => kr920::params(revision),
        Region::In865 => in865::params(revision),
        Region::Ru864 => ru864::params(revision),
        Region::Ism2400 => ism2400::params(revision),
        Region::Us915 | Region::Au915 | Region::Cn470 => {
            unreachable!("fixed-plan regions are answered by region::fixed")
        }
    }
}

// ---------------------------------------------------------------------------
// Building blocks of the tables.

/// A LoRa data rate usable in both directions.
const fn lora(spreading_factor: u8, bandwidth: u32) -> Option<DataRate> {
    Some(DataRate {
        modulation: Modulation::Lora {
            spreading_factor,
            bandwidth,
        },
        uplink: true,
        downlink: true,
    })
}

/// An FSK data rate usable in both directions.
const fn fsk(bitrate: u32) -> Option<DataRate> {
    Some(DataRate {
        modulation: Modulation::Fsk { bitrate },
        uplink: true,
        downlink: true,
    })
}

/// An LR-FHSS data rate: uplink only (gateways do not transmit LR-FHSS).
const fn lr_fhss(coding_rate: LrFhssCodingRate, occupied_channel_width: u32) -> Option<DataRate> {
    Some(DataRate {
        modulation: Modulation::LrFhss {
            coding_rate,
            occupied_channel_width,
        },
        uplink: true,
        downlink: false,
    })
}

/// A maximum MACPayload size M; N is always M − 8 (MHDR-less FHDR 7 + FPort 1).
const fn mp(m: u8) -> Option<MaxPayload> {
    Some(MaxPayload { m, n: m - 8 })
}

/// One row of an RX1 table: the downlink data rate for RX1DROffset 0, 1, ….
const fn row<const N: usize>(drs: [u8; N]) -> [Option<u8>; N] {
    let mut out = [None; N];
    let mut i = 0;
    while i < N {
        out[i] = Some(drs[i]);
        i += 1;
    }
    out
}

/// A default channel usable with DR0..=max_dr.
const fn channel(frequency: u32, max_dr: u8) -> Channel {
    Channel {
        frequency,
        min_dr: 0,
        max_dr,
    }
}

/// Class B with one beacon frequency and one ping-slot frequency; the ping-slot
/// data rate defaults to the beacon's (RP002 §3.3, PING_SLOT_DATARATE).
const fn class_b(beacon_dr: u8, beacon_frequency: u32, ping_slot_frequency: u32) -> ClassB {
    ClassB {
        beacon_dr,
        beacon_frequency: BeaconFrequency::Fixed(beacon_frequency),
        ping_slot_dr: beacon_dr,
        ping_slot_frequency: BeaconFrequency::Fixed(ping_slot_frequency),
    }
}

/// A duty-cycle band, limit in parts per ten thousand.
const fn band(min_frequency: u32, max_frequency: u32, max_duty_cycle_ppm10k: u16) -> DutyCycleBand {
    DutyCycleBand {
        min_frequency,
        max_frequency,
        max_duty_cycle_ppm10k,
    }
}

/// The dynamic channel plan with the default channels and 16 channels in all
/// (RP002: "supports a maximum of 16 channels" in every dynamic region).
const fn dynamic_plan(default_channels: &'static [Channel]) -> ChannelPlan {
    ChannelPlan::Dynamic {
        default_channels,
        max_channels: 16,
    }
}

// ---------------------------------------------------------------------------
// Tables shared by several regions.

/// DR0–DR7 of EU868, EU433, CN779, AS923 and RU864: LoRa SF12..SF7 at 125 kHz,
/// SF7 at 250 kHz, FSK 50 kbit/s.
static DATA_RATES_LORA_FSK: [Option<DataRate>; 8] = [
    lora(12, 125_000),
    lora(11, 125_000),
    lora(10, 125_000),
    lora(9, 125_000),
    lora(8, 125_000),
    lora(7, 125_000),
    lora(7, 250_000),
    fsk(50_000),
];

/// M per DR0–DR7 when no repeater is used (the "not repeater compatible" table of
/// EU868, EU433, CN779, RU864, IN865 and KR920 (DR0–DR5)).
static MAX_PAYLOAD_DR0_7: [Option<MaxPayload>; 8] = [
    mp(59),
    mp(59),
    mp(59),
    mp(123),
    mp(250),
    mp(250),
    mp(250),
    mp(250),
];

/// M per DR0–DR7 leaving room for a repeater's encapsulation ("repeater
/// compatible"): 230 where the direct table says 250.
static MAX_PAYLOAD_REPEATER_DR0_7: [Option<MaxPayload>; 8] = [
    mp(59),
    mp(59),
    mp(59),
    mp(123),
    mp(230),
    mp(230),
    mp(230),
    mp(230),
];

/// RX1 data rate for DR0–DR7 and RX1DROffset 0–5: max(0, DR − offset), the table
/// of EU868, EU433, CN779, RU864 (and KR920 up to DR5, ISM2400).
static RX1_DR0_7_OFFSET_0_5: [&[Option<u8>]; 8] = [
    &row([0, 0, 0, 0, 0, 0]),
    &row([1, 0, 0, 0, 0, 0]),
    &row([2, 1, 0, 0, 0, 0]),
    &row([3, 2, 1, 0, 0, 0]),
    &row([4, 3, 2, 1, 0, 0]),
    &row([5, 4, 3, 2, 1, 0]),
    &row([6, 5, 4, 3, 2, 1]),
    &row([7, 6, 5, 4, 3, 2]),
];

/// TXPower 0–7: MaxEIRP − 2·TXPower dB.
static TX_POWER_0_7: [Option<i8>; 8] = [
    Some(0),
    Some(-2),
    Some(-4),
    Some(-6),
    Some(-8),
    Some(-10),
    Some(-12),
    Some(-14),
];

/// TXPower 0–5 (EU433, CN779): MaxEIRP − 2·TXPower dB.
static TX_POWER_0_5: [Option<i8>; 6] = [Some(0), Some(-2), Some(-4), Some(-6), Some(-8), Some(-10)];

#[cfg(test)]
mod tests {
    use super::super::{ChannelPlan, Region, Revision, params as region_params};

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

    #[test]
    fn every_dynamic_region_answers_every_revision_with_its_own_tables() {
        for region in DYNAMIC {
            for revision in Revision::ALL {
                let p = region_params(region, revision);
                assert_eq!(p.region, region, "{region} {revision}");
                // A shared static names the oldest revision it applies to; a
                // region younger than the revision asked answers with its first
                // published tables, which may be newer.
                if !matches!(region, Region::As923_2 | Region::As923_3 | Region::As923_4) {
                    assert!(p.revision <= revision, "{region} {revision}");
                }
            }
        }
    }

    #[test]
    fn tables_are_consistent_with_the_data_rate_table() {
        for region in DYNAMIC {
            for revision in Revision::ALL {
                let p = region_params(region, revision);
                let n = p.data_rates.len();
                assert_eq!(p.max_payload.len(), n, "{region} {revision}");
                assert_eq!(p.rx1_dr.len(), n, "{region} {revision}");
                for table in [
                    Some(p.max_payload),
                    p.max_payload_dwell_time,
                    p.max_payload_repeater,
                ]
                .into_iter()
                .flatten()
                {
                    assert_eq!(table.len(), n, "{region} {revision}");
                    for (dr, (entry, rate)) in table.iter().zip(p.data_rates).enumerate() {
                        if let Some(m) = entry {
                            assert!(rate.is_some(), "{region} {revision} DR{dr}");
                            assert_eq!(m.n + 8, m.m, "{region} {revision} DR{dr}");
                        }
                    }
                }
                for rx1 in [Some(p.rx1_dr), p.rx1_dr_dwell_time].into_iter().flatten() {
                    for (dr, offsets) in rx1.iter().enumerate() {
                        assert_eq!(offsets.is_empty(), p.data_rates[dr].is_none());
                        for target in offsets.iter().flatten() {
                            let target = p.data_rates[usize::from(*target)]
                                .unwrap_or_else(|| panic!("{region} {revision} DR{dr} → RFU"));
                            assert!(target.downlink, "{region} {revision} DR{dr}");
                        }
                    }
                }
                let ChannelPlan::Dynamic {
                    default_channels,
                    max_channels,
                } = p.channel_plan
                else {
                    panic!("{region} has a dynamic plan");
                };
                assert_eq!(max_channels, 16);
                for c in default_channels {
                    assert!(p.data_rates[usize::from(c.max_dr)].is_some());
                }
                assert!(p.data_rates[usize::from(p.rx2_dr)].is_some_and(|d| d.downlink));
                for w in p.duty_cycle_bands.windows(2) {
                    assert!(
                        w[0].max_frequency < w[1].min_frequency,
                        "{region}: bands overlap"
                    );
                }
            }
        }
    }
}
