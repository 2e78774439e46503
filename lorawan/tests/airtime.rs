//! `lorawan::airtime` against the `lora-modulation` crate (lora-rs) for every LoRa
//! setting that crate can express: SF5–SF12, its ten bandwidths (7.8 kHz to
//! 500 kHz), CR 4/5 to 4/8, explicit and implicit header, low-data-rate
//! optimisation automatic or forced either way, preambles of 0, 8 and 255
//! symbols, payloads of 0 to 255 bytes. It always counts a payload CRC.
//!
//! Where the two differ, the difference is one of three, and each is checked to
//! the microsecond rather than tolerated:
//!
//! 1. **Rounding.** It truncates the symbol time to whole microseconds first and
//!    the total after; we round the exact total up, once. They agree wherever a
//!    quarter symbol is a whole number of microseconds (125, 250, 500, 62.5 and
//!    31.25 kHz at every SF); at 7.8, 10.4, 15.6, 20.8 and 41.7 kHz its figure is
//!    `floor(quarters · floor(2^SF / BW) / 4)` for the same symbol count.
//! 2. **SF5 and SF6.** It applies the SX127x formula, which has no SF5: 4.25
//!    symbols after the preamble where the SX126x sends 6.25, and 8 fewer payload
//!    bits in the header symbols — its payload count is ours for one byte more.
//! 3. **Empty frames.** Its ceiling `(n − 1) / d + 1` is 1, not 0, for a
//!    numerator `n` in (−d, 0]: when the whole payload fits in the 8 header
//!    symbols (no payload at SF11/SF12 with explicit header; up to 3 bytes with
//!    implicit header) it counts one coding block, CR+4 symbols, too many.

use lora_modulation::{Bandwidth, BaseBandModulationParams, CodingRate, SpreadingFactor};
use lorawan::airtime::{LoraParams, LowDataRateOptimize};
use lorawan::modulation::LoraCodingRate;

const SFS: [SpreadingFactor; 8] = [
    SpreadingFactor::_5,
    SpreadingFactor::_6,
    SpreadingFactor::_7,
    SpreadingFactor::_8,
    SpreadingFactor::_9,
    SpreadingFactor::_10,
    SpreadingFactor::_11,
    SpreadingFactor::_12,
];

const BWS: [Bandwidth; 10] = [
    Bandwidth::_7KHz,
    Bandwidth::_10KHz,
    Bandwidth::_15KHz,
    Bandwidth::_20KHz,
    Bandwidth::_31KHz,
    Bandwidth::_41KHz,
    Bandwidth::_62KHz,
    Bandwidth::_125KHz,
    Bandwidth::_250KHz,
    Bandwidth::_500KHz,
];

const CRS: [(CodingRate, LoraCodingRate); 4] = [
    (CodingRate::_4_5, LoraCodingRate::Cr4_5),
    (CodingRate::_4_6, LoraCodingRate::Cr4_6),
    (CodingRate::_4_7, LoraCodingRate::Cr4_7),
    (CodingRate::_4_8, LoraCodingRate::Cr4_8),
];

/// How often each explanation was needed.
#[derive(Debug, Default)]
struct Tally {
    identical: u64,
    rounding: u64,
    sf5_sf6: u64,
    empty_frame_block: u64,
    largest_rounding_us: u64,
}

#[test]
fn airtime_automatic_low_data_rate_optimisation_agrees() {
    for sf in SFS {
        for bw in BWS {
            let theirs = BaseBandModulationParams::new(sf, bw, CodingRate::_4_5).ldro;
            let ours = LoraParams::new(sf.factor() as u8, bw.hz())
                .low_data_rate_optimized()
                .unwrap();
            assert_eq!(ours, theirs, "SF{} {} Hz", sf.factor(), bw.hz());
        }
    }
}

#[test]
fn airtime_agrees_with_lora_modulation_to_the_microsecond_or_for_a_known_reason() {
    let mut tally = Tally::default();
    for sf in SFS {
        for bw in BWS {
            for (their_cr, our_cr) in CRS {
                for ldro in [None, Some(true), Some(false)] {
                    for explicit in [true, false] {
                        for preamble in [0u8, 8, 255] {
                            for len in 0..=255u8 {
                                compare(
                                    sf, bw, their_cr, our_cr, ldro, explicit, preamble, len,
                                    &mut tally,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    eprintln!("{tally:?}");
    // Every explanation was needed, and none swallowed the sweep.
    assert!(tally.identical >= tally.rounding);
    assert!(tally.rounding > 0 && tally.sf5_sf6 > 0 && tally.empty_frame_block > 0);
}

#[allow(clippy::too_many_arguments)]
fn compare(
    sf: SpreadingFactor,
    bw: Bandwidth,
    their_cr: CodingRate,
    our_cr: LoraCodingRate,
    ldro: Option<bool>,
    explicit: bool,
    preamble: u8,
    len: u8,
    tally: &mut Tally,
) {
    let mut theirs_params = BaseBandModulationParams::new(sf, bw, their_cr);
    let mut ours = LoraParams::new(sf.factor() as u8, bw.hz());
    ours.coding_rate = our_cr;
    ours.explicit_header = explicit;
    ours.preamble_symbols = u16::from(preamble);
    if let Some(on) = ldro {
        theirs_params.ldro = on;
        ours.low_data_rate_optimize = if on {
            LowDataRateOptimize::On
        } else {
            LowDataRateOptimize::Off
        };
    }
    let sf_n = u64::from(sf.factor());
    let bw_hz = u64::from(bw.hz());
    let cr_plus_4 = u64::from(their_cr.denom());
    let case = format!(
        "SF{sf_n} {bw_hz} Hz CR4/{cr_plus_4} LDRO {ldro:?} explicit {explicit} preamble {preamble} {len} B"
    );

    let theirs = u64::from(theirs_params.time_on_air_us(Some(preamble), explicit, len));
    let our_symbols = ours.symbols(usize::from(len)).unwrap();
    let ours_us = ours.time_on_air(usize::from(len)).unwrap().as_micros() as u64;
    let our_quarters = our_symbols.total_quarters();
    assert_eq!(
        ours_us,
        (our_quarters * (1 << sf_n) * 1_000_000).div_ceil(4 * bw_hz),
        "{case}"
    );

    // lora-modulation's symbol count, derived from ours and the known differences.
    let mut their_quarters = our_quarters;
    let mut explained_by_sf = false;
    if sf_n <= 6 {
        if len == 255 {
            return; // its count would be ours for 256 bytes, which no frame has
        }
        let one_more = ours.symbols(usize::from(len) + 1).unwrap();
        their_quarters = 4 * u64::from(preamble) + 17 + 4 * u64::from(one_more.payload);
        explained_by_sf = true;
    }
    // Difference 3: the SX127x payload numerator, and its ceiling for n in (−d, 0].
    let de = i64::from(theirs_params.ldro);
    let n = 8 * i64::from(len) - 4 * sf_n as i64 + 28 + 16 - if explicit { 0 } else { 20 };
    let d = 4 * (sf_n as i64 - 2 * de);
    let empty_frame_block = n <= 0 && n > -d;
    if empty_frame_block {
        their_quarters += 4 * cr_plus_4;
    }
    // Difference 1: its symbol time truncated to whole microseconds.
    let their_symbol_us = (1 << sf_n) * 1_000_000 / bw_hz;
    assert_eq!(theirs, their_quarters * their_symbol_us / 4, "{case}");

    if explained_by_sf {
        tally.sf5_sf6 += 1;
    } else if empty_frame_block {
        tally.empty_frame_block += 1;
    } else if theirs == ours_us {
        tally.identical += 1;
    } else {
        // Same symbols; only the rounding differs, by less than a symbol.
        assert_eq!(their_quarters, our_quarters, "{case}");
        assert!(
            ours_us > theirs && ours_us - theirs <= our_quarters / 4 + 1,
            "{case}"
        );
        tally.rounding += 1;
        tally.largest_rounding_us = tally.largest_rounding_us.max(ours_us - theirs);
    }
    if bw_hz.is_multiple_of(31_250) && !explained_by_sf && !empty_frame_block {
        assert_eq!(
            theirs, ours_us,
            "{case}: whole-microsecond quarter symbols must agree"
        );
    }
}
