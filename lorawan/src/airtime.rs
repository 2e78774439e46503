//! Time on air of a frame: LoRa, FSK and LR-FHSS, by the formulas of Semtech's
//! datasheets (AN1200.13, SX1261/2 §6.1.4, SX1280 §7.4.4) and radio drivers.
//!
//! Every time is a [`Duration`] of **whole microseconds, rounded up**, so that a
//! duty-cycle or dwell-time budget built from it never comes out short. At the
//! sub-GHz LoRa bandwidths (125, 250, 500 kHz), for LR-FHSS and for FSK at
//! 50 kbit/s the value is exact; at the 2.4 GHz bandwidths a symbol is not a
//! whole number of microseconds and the total is rounded up once, at the end.
//!
//! Invalid parameters (spreading factor outside 5–12, a bandwidth or bit rate of
//! 0, a payload over 255 bytes) give an [`AirtimeError`]; no input panics.
//!
//! - [`time_on_air`]: a PHYPayload sent the LoRaWAN way at a data rate's
//!   [`Modulation`] (explicit header, preamble of 8 symbols, CR 4/5 or the 4/8
//!   long-interleaved rate at 2.4 GHz, payload CRC on uplinks only).
//! - [`LoraParams`], [`FskParams`], [`LrFhssParams`]: every radio setting, for
//!   frames LoRaWAN does not send (class B beacons, proprietary links).
//!
//! # Example
//!
//! ```
//! use core::time::Duration;
//! use lorawan::airtime::{self, AirtimeError, LoraParams};
//! use lorawan::modulation::{LoraCodingRate, Modulation};
//! use lorawan::Direction;
//!
//! // EU868 DR5 (SF7, 125 kHz): a 20-byte PHYPayload.
//! let dr5 = Modulation::Lora { spreading_factor: 7, bandwidth: 125_000 };
//! let up = airtime::time_on_air(&dr5, 20, Direction::Uplink)?;
//! assert_eq!(up, Duration::from_micros(56_576));
//! // A downlink carries no payload CRC: one coding block (5 symbols) fewer.
//! let down = airtime::time_on_air(&dr5, 20, Direction::Downlink)?;
//! assert_eq!(down, Duration::from_micros(51_456));
//!
//! // Any other setting: SF12 BW125 (low-data-rate optimisation switches itself
//! // on), CR 4/8, 10 preamble symbols, implicit header, no CRC.
//! let mut p = LoraParams::new(12, 125_000);
//! p.coding_rate = LoraCodingRate::Cr4_8;
//! p.preamble_symbols = 10;
//! p.explicit_header = false;
//! p.crc = false;
//! assert!(p.low_data_rate_optimized()?);
//! assert_eq!(p.symbols(17)?.to_string(), "10 + 4.25 + 32");
//! assert_eq!(p.time_on_air(17)?, Duration::from_micros(1_515_520));
//!
//! // Nonsense in, an error out.
//! assert_eq!(LoraParams::new(0, 125_000).time_on_air(20), Err(AirtimeError::SpreadingFactor(0)));
//! assert_eq!(LoraParams::new(7, 0).time_on_air(20), Err(AirtimeError::ZeroBandwidth));
//! # Ok::<(), AirtimeError>(())
//! ```

use core::fmt;
use core::time::Duration;

use crate::Direction;
use crate::modulation::{LoraCodingRate, LrFhssCodingRate, Modulation};
use crate::phy::MAX_PHY_PAYLOAD_LEN;

/// Why a time on air cannot be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AirtimeError {
    /// The LoRa spreading factor is not 5 to 12.
    #[error("spreading factor {0} is not 5 to 12")]
    SpreadingFactor(u8),
    /// The LoRa bandwidth is 0 Hz.
    #[error("bandwidth of 0 Hz")]
    ZeroBandwidth,
    /// The FSK bit rate is 0 bit/s.
    #[error("bit rate of 0 bit/s")]
    ZeroBitrate,
    /// The payload is longer than a radio frame carries (255 bytes).
    #[error("payload of {0} bytes exceeds the 255 a radio frame carries")]
    PayloadTooLong(usize),
}

/// Whether the LoRa modem sends fewer bits per symbol (SF − 2) to survive
/// clock drift on long symbols: Semtech's "LowDataRateOptimize".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LowDataRateOptimize {
    /// As the radios set it. Below 1 GHz: on when a symbol lasts 16.384 ms or
    /// more (SF11 and SF12 at 125 kHz, SF12 at 250 kHz), as LoRaWAN devices do.
    /// At the 2.4 GHz bandwidths: on at SF11 and SF12, as the SX1280 applies it.
    #[default]
    Auto,
    /// Forced on.
    On,
    /// Forced off.
    Off,
}

/// The four LoRa 2.4 GHz bandwidths (SX128x, LR11xx), with the rounded values
/// some drivers and ChirpStack use for them.
///
/// ```
/// assert!(lorawan::airtime::is_2g4_bandwidth(812_500));
/// assert!(lorawan::airtime::is_2g4_bandwidth(812_000));
/// assert!(!lorawan::airtime::is_2g4_bandwidth(500_000));
/// ```
pub const fn is_2g4_bandwidth(bandwidth: u32) -> bool {
    matches!(
        bandwidth,
        203_000 | 203_125 | 406_000 | 406_250 | 812_000 | 812_500 | 1_600_000 | 1_625_000
    )
}

/// The settings of a LoRa frame that decide its length in symbols.
///
/// [`LoraParams::new`] gives LoRaWAN's uplink settings; change the fields for
/// anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoraParams {
    /// Spreading factor, 5 to 12.
    pub spreading_factor: u8,
    /// Bandwidth in Hz.
    pub bandwidth: u32,
    /// Forward-error-correction rate.
    pub coding_rate: LoraCodingRate,
    /// Whether the frame starts with the explicit PHY header (PHDR, PHDR_CRC).
    /// LoRaWAN frames do; class B beacons do not.
    pub explicit_header: bool,
    /// Whether a 16-bit payload CRC follows the payload (LoRaWAN: uplinks only).
    pub crc: bool,
    /// Low-data-rate optimisation.
    pub low_data_rate_optimize: LowDataRateOptimize,
    /// Programmed preamble length in symbols, before the sync word and the
    /// start-of-frame delimiter (LoRaWAN: 8).
    pub preamble_symbols: u16,
}

impl LoraParams {
    /// LoRaWAN's uplink settings: explicit header, payload CRC, preamble of 8
    /// symbols, automatic low-data-rate optimisation, CR 4/5 — or CR 4/8 with the
    /// long interleaver at the 2.4 GHz bandwidths, the rate of every ISM2400 data
    /// rate.
    pub const fn new(spreading_factor: u8, bandwidth: u32) -> Self {
        Self {
            spreading_factor,
            bandwidth,
            coding_rate: if is_2g4_bandwidth(bandwidth) {
                LoraCodingRate::Cr4_8Li
            } else {
                LoraCodingRate::Cr4_5
            },
            explicit_header: true,
            crc: true,
            low_data_rate_optimize: LowDataRateOptimize::Auto,
            preamble_symbols: 8,
        }
    }

    const fn check(&self) -> Result<(), AirtimeError> {
        if self.spreading_factor < 5 || self.spreading_factor > 12 {
            return Err(AirtimeError::SpreadingFactor(self.spreading_factor));
        }
        if self.bandwidth == 0 {
            return Err(AirtimeError::ZeroBandwidth);
        }
        Ok(())
    }

    /// Whether low-data-rate optimisation is on, with [`LowDataRateOptimize::Auto`]
    /// resolved.
    pub const fn low_data_rate_optimized(&self) -> Result<bool, AirtimeError> {
        if let Err(e) = self.check() {
            return Err(e);
        }
        Ok(match self.low_data_rate_optimize {
            LowDataRateOptimize::On => true,
            LowDataRateOptimize::Off => false,
            LowDataRateOptimize::Auto if is_2g4_bandwidth(self.bandwidth) => {
                self.spreading_factor >= 11
            }
            // Symbol time 2^SF / BW ≥ 16.384 ms, in integers.
            LowDataRateOptimize::Auto => {
                (1u64 << self.spreading_factor) * 1_000_000 >= 16_384 * self.bandwidth as u64
            }
        })
    }

    /// The duration of one symbol, 2^SF / BW, rounded up to the nanosecond
    /// (exact at 125, 250 and 500 kHz).
    pub const fn symbol_time(&self) -> Result<Duration, AirtimeError> {
        if let Err(e) = self.check() {
            return Err(e);
        }
        let nanos =
            ((1u64 << self.spreading_factor) * 1_000_000_000).div_ceil(self.bandwidth as u64);
        Ok(Duration::from_nanos(nanos))
    }

    /// The symbols of a frame carrying `payload_len` bytes.
    ///
    /// The payload part is the Semtech formula: 8 symbols that hold the header,
    /// then the coded bits that do not fit there. With the short interleaver
    /// (CR 4/5 to 4/8) they are coded in blocks of CR+4 symbols of 4·(SF − 2·LDRO)
    /// bits; SF5 and SF6 add two symbols of fine synchronisation after the
    /// preamble and carry 8 more bits in the header symbols. With the long
    /// interleaver the coded bits are counted one by one (SX128x, LR11xx).
    pub const fn symbols(&self, payload_len: usize) -> Result<LoraSymbols, AirtimeError> {
        let ldro = match self.low_data_rate_optimized() {
            Ok(ldro) => ldro,
            Err(e) => return Err(e),
        };
        if payload_len > MAX_PHY_PAYLOAD_LEN {
            return Err(AirtimeError::PayloadTooLong(payload_len));
        }
        let sf = self.spreading_factor as u32;
        let fine_sync = sf <= 6;
        let bits_per_symbol = if ldro { sf - 2 } else { sf };
        let crc_bytes = if self.crc { 2 } else { 0 };
        // At most (255 + 2) · 8 = 2056.
        let total_bits = 8 * (payload_len as u32 + crc_bytes);
        let payload = match long_interleaver_denominator(self.coding_rate) {
            None => {
                let cr_plus_4 = short_interleaver_denominator(self.coding_rate);
                // Payload bits carried by the 8 header symbols (at CR 4/8, SF − 2 bits).
                let in_header = 4 * sf + if fine_sync { 8 } else { 0 } - 8;
                let in_header = if self.explicit_header {
                    in_header as i32 - 20
                } else {
                    in_header as i32
                };
                let rest = total_bits as i32 - in_header;
                let rest = if rest > 0 { rest as u32 } else { 0 };
                8 + rest.div_ceil(4 * bits_per_symbol) * cr_plus_4
            }
            Some(fec_denominator) if self.explicit_header => {
                // Whole bytes of payload that fit next to the header in its 8 symbols.
                let mut in_header = (4 * sf + if fine_sync { 8 } else { 0 } - 28) & !7;
                if total_bits > in_header && in_header > 8 * payload_len as u32 {
                    in_header = 8 * payload_len as u32;
                }
                let rest = total_bits.saturating_sub(in_header);
                8 + (rest * fec_denominator).div_ceil(4 * bits_per_symbol)
            }
            Some(fec_denominator) => {
                // Implicit header: the first 8 symbols carry SF − 2 bits (SF at SF5/6).
                let first = if fine_sync { sf } else { sf - 2 };
                let coded = total_bits * fec_denominator;
                if coded <= 32 * first {
                    coded.div_ceil(4 * first)
                } else {
                    8 + (coded - 32 * first).div_ceil(4 * bits_per_symbol)
                }
            }
        };
        Ok(LoraSymbols {
            preamble: self.preamble_symbols,
            sync_quarters: if fine_sync { 25 } else { 17 },
            payload,
        })
    }

    /// The time on air of a frame carrying `payload_len` bytes (the PHYPayload
    /// for LoRaWAN), rounded up to the microsecond.
    pub const fn time_on_air(&self, payload_len: usize) -> Result<Duration, AirtimeError> {
        let symbols = match self.symbols(payload_len) {
            Ok(s) => s,
            Err(e) => return Err(e),
        };
        // A quarter symbol lasts 2^(SF−2) / BW seconds. At most ~270 000 quarters
        // of 2^10 · 10^6: far inside u64.
        let quarter = (1u64 << (self.spreading_factor - 2)) * 1_000_000;
        let micros = (symbols.total_quarters() * quarter).div_ceil(self.bandwidth as u64);
        Ok(Duration::from_micros(micros))
    }
}

/// CR+4 of the short-interleaver rates (the long-interleaver ones map to theirs).
const fn short_interleaver_denominator(cr: LoraCodingRate) -> u32 {
    match cr {
        LoraCodingRate::Cr4_5 | LoraCodingRate::Cr4_5Li => 5,
        LoraCodingRate::Cr4_6 | LoraCodingRate::Cr4_6Li => 6,
        LoraCodingRate::Cr4_7 => 7,
        LoraCodingRate::Cr4_8 | LoraCodingRate::Cr4_8Li => 8,
    }
}

/// The code-rate denominator of the long-interleaver rates.
const fn long_interleaver_denominator(cr: LoraCodingRate) -> Option<u32> {
    match cr {
        LoraCodingRate::Cr4_5Li => Some(5),
        LoraCodingRate::Cr4_6Li => Some(6),
        LoraCodingRate::Cr4_8Li => Some(8),
        LoraCodingRate::Cr4_5
        | LoraCodingRate::Cr4_6
        | LoraCodingRate::Cr4_7
        | LoraCodingRate::Cr4_8 => None,
    }
}

/// The length of a LoRa frame in symbols: programmed preamble, then the sync word
/// and start-of-frame delimiter, then header and payload.
///
/// Displays as the three parts, `8 + 4.25 + 43`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoraSymbols {
    /// The programmed preamble.
    pub preamble: u16,
    /// Sync word and delimiter in quarter symbols: 17 (4.25 symbols), or 25 (6.25)
    /// at SF5 and SF6, which add two symbols of fine synchronisation.
    pub sync_quarters: u8,
    /// Header and payload symbols (the 8 header symbols included, even with an
    /// implicit header).
    pub payload: u32,
}

impl LoraSymbols {
    /// The whole frame in quarter symbols.
    pub const fn total_quarters(&self) -> u64 {
        4 * self.preamble as u64 + self.sync_quarters as u64 + 4 * self.payload as u64
    }
}

impl fmt::Display for LoraSymbols {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = self.sync_quarters;
        write!(f, "{} + {}", self.preamble, q / 4)?;
        match q % 4 {
            0 => {}
            1 => f.write_str(".25")?,
            2 => f.write_str(".5")?,
            _ => f.write_str(".75")?,
        }
        write!(f, " + {}", self.payload)
    }
}

/// The settings of an FSK frame.
///
/// [`FskParams::new`] gives the frame LoRaWAN sends: 5 preamble bytes, a 3-byte
/// sync word, a length byte, the payload and a 2-byte CRC, in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FskParams {
    /// Bit rate in bit/s.
    pub bitrate: u32,
    /// Preamble length in bytes.
    pub preamble_bytes: u16,
    /// Sync word length in bytes.
    pub sync_word_bytes: u8,
    /// Whether a length byte precedes the payload (variable-length frames).
    pub length_byte: bool,
    /// Whether a 2-byte CRC follows the payload.
    pub crc: bool,
}

impl FskParams {
    /// The LoRaWAN FSK frame at `bitrate` bit/s.
    pub const fn new(bitrate: u32) -> Self {
        Self {
            bitrate,
            preamble_bytes: 5,
            sync_word_bytes: 3,
            length_byte: true,
            crc: true,
        }
    }

    /// The bytes sent for a payload of `payload_len` bytes.
    pub const fn frame_bytes(&self, payload_len: usize) -> u64 {
        self.preamble_bytes as u64
            + self.sync_word_bytes as u64
            + if self.length_byte { 1 } else { 0 }
            + payload_len as u64
            + if self.crc { 2 } else { 0 }
    }

    /// The time on air of a frame carrying `payload_len` bytes, rounded up to
    /// the microsecond.
    pub const fn time_on_air(&self, payload_len: usize) -> Result<Duration, AirtimeError> {
        if self.bitrate == 0 {
            return Err(AirtimeError::ZeroBitrate);
        }
        if payload_len > MAX_PHY_PAYLOAD_LEN {
            return Err(AirtimeError::PayloadTooLong(payload_len));
        }
        let bits = 8 * self.frame_bytes(payload_len);
        Ok(Duration::from_micros(
            (bits * 1_000_000).div_ceil(self.bitrate as u64),
        ))
    }
}

/// The settings of an LR-FHSS frame.
///
/// The frame is `header_count` copies of the header, 114 bits each (233.472 ms),
/// then the payload with its 16-bit CRC and 6 tail bits, coded at the coding rate
/// and cut into fragments of 48 bits, each sent with 2 more bits (102.4 ms for a
/// full one), all at 488.28125 bit/s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LrFhssParams {
    /// Coding rate of the payload.
    pub coding_rate: LrFhssCodingRate,
    /// Copies of the header.
    pub header_count: u8,
}

impl LrFhssParams {
    /// Duration of one header: 114 bits.
    pub const HEADER_TIME: Duration = Duration::from_micros(114 * BIT_MICROS);
    /// Duration of one full payload fragment: 48 coded bits and 2 more.
    pub const FRAGMENT_TIME: Duration = Duration::from_micros(50 * BIT_MICROS);

    /// The frame LoRaWAN sends at `coding_rate`: 3 headers at CR 1/3 and 2 at
    /// CR 2/3 (RP002). The rates no data rate uses get 3 (CR 1/2) and 2 (CR 5/6).
    pub const fn new(coding_rate: LrFhssCodingRate) -> Self {
        Self {
            coding_rate,
            header_count: match coding_rate {
                LrFhssCodingRate::Cr1_3 | LrFhssCodingRate::Cr1_2 => 3,
                LrFhssCodingRate::Cr2_3 | LrFhssCodingRate::Cr5_6 => 2,
            },
        }
    }

    /// The coded payload bits (CRC and tail included) for `payload_len` bytes.
    pub const fn coded_bits(&self, payload_len: usize) -> u64 {
        let bits = 8 * (payload_len as u64 + 2) + 6;
        match self.coding_rate {
            LrFhssCodingRate::Cr1_3 => bits * 3,
            LrFhssCodingRate::Cr1_2 => bits * 2,
            LrFhssCodingRate::Cr2_3 => (bits * 3).div_ceil(2),
            LrFhssCodingRate::Cr5_6 => (bits * 6).div_ceil(5),
        }
    }

    /// The payload fragments sent for `payload_len` bytes (the last one may be short).
    pub const fn fragments(&self, payload_len: usize) -> u64 {
        self.coded_bits(payload_len).div_ceil(48)
    }

    /// The time on air of a frame carrying `payload_len` bytes (exact: a bit
    /// lasts 2.048 ms).
    pub const fn time_on_air(&self, payload_len: usize) -> Result<Duration, AirtimeError> {
        if payload_len > MAX_PHY_PAYLOAD_LEN {
            return Err(AirtimeError::PayloadTooLong(payload_len));
        }
        let coded = self.coded_bits(payload_len);
        let mut bits = 114 * self.header_count as u64 + coded / 48 * 50;
        if !coded.is_multiple_of(48) {
            bits += coded % 48 + 2;
        }
        Ok(Duration::from_micros(bits * BIT_MICROS))
    }
}

/// One LR-FHSS bit at 488.28125 bit/s: 2048 µs.
const BIT_MICROS: u64 = 2048;

/// The settings of a frame in any modulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketParams {
    /// A LoRa frame.
    Lora(LoraParams),
    /// An FSK frame.
    Fsk(FskParams),
    /// An LR-FHSS frame.
    LrFhss(LrFhssParams),
}

impl PacketParams {
    /// How LoRaWAN sends a frame at `modulation` in `direction`: see
    /// [`LoraParams::new`], [`FskParams::new`], [`LrFhssParams::new`]. Only
    /// LoRa downlinks drop the payload CRC; FSK frames carry it both ways.
    pub const fn lorawan(modulation: &Modulation, direction: Direction) -> Self {
        match *modulation {
            Modulation::Lora {
                spreading_factor,
                bandwidth,
            } => {
                let mut p = LoraParams::new(spreading_factor, bandwidth);
                p.crc = matches!(direction, Direction::Uplink);
                Self::Lora(p)
            }
            Modulation::Fsk { bitrate } => Self::Fsk(FskParams::new(bitrate)),
            Modulation::LrFhss { coding_rate, .. } => Self::LrFhss(LrFhssParams::new(coding_rate)),
        }
    }

    /// The time on air of a frame carrying `payload_len` bytes.
    pub const fn time_on_air(&self, payload_len: usize) -> Result<Duration, AirtimeError> {
        match self {
            Self::Lora(p) => p.time_on_air(payload_len),
            Self::Fsk(p) => p.time_on_air(payload_len),
            Self::LrFhss(p) => p.time_on_air(payload_len),
        }
    }
}

/// The time on air of a LoRaWAN PHYPayload of `payload_len` bytes sent at
/// `modulation` in `direction`, as [`PacketParams::lorawan`] sends it.
///
/// ```
/// use core::time::Duration;
/// use lorawan::airtime::time_on_air;
/// use lorawan::modulation::{LrFhssCodingRate, Modulation};
/// use lorawan::Direction;
///
/// let fsk = Modulation::Fsk { bitrate: 50_000 };
/// // (5 + 3 + 1 + 20 + 2) bytes at 50 kbit/s.
/// assert_eq!(time_on_air(&fsk, 20, Direction::Uplink)?, Duration::from_micros(4_960));
///
/// let dr8 = Modulation::LrFhss { coding_rate: LrFhssCodingRate::Cr1_3, occupied_channel_width: 137_000 };
/// // 3 headers, then (20 + 2) · 8 + 6 bits coded at 1/3: 546 bits in 12 fragments.
/// assert_eq!(time_on_air(&dr8, 20, Direction::Uplink)?, Duration::from_micros(1_867_776));
/// # Ok::<(), lorawan::airtime::AirtimeError>(())
/// ```
pub const fn time_on_air(
    modulation: &Modulation,
    payload_len: usize,
    direction: Direction,
) -> Result<Duration, AirtimeError> {
    PacketParams::lorawan(modulation, direction).time_on_air(payload_len)
}

#[cfg(test)]
mod test {
    use super::*;

    const fn lora(sf: u8, bw: u32, cr: LoraCodingRate, explicit: bool, crc: bool) -> LoraParams {
        let mut p = LoraParams::new(sf, bw);
        p.coding_rate = cr;
        p.explicit_header = explicit;
        p.crc = crc;
        p
    }

    fn micros(p: &LoraParams, len: usize) -> u64 {
        p.time_on_air(len).unwrap().as_micros() as u64
    }

    // Hand-computed with the Semtech formula (AN1200.13 for SF7–12, SX1261/2
    // §6.1.4 for SF5/6, SX1280 §7.4.4 and the SX128x/LR11xx drivers for the long
    // interleaver), in exact fractions, rounded up to the microsecond.

    /// (SF, BW, [CR 4/5, 4/6, 4/7, 4/8]) for a 13-byte PHYPayload (an empty LoRaWAN uplink).
    const SUB_GHZ_13_BYTES: [(u8, u32, [u64; 4]); 24] = [
        (5, 125_000, [13_376, 14_912, 16_448, 17_984]),
        (5, 250_000, [6_688, 7_456, 8_224, 8_992]),
        (5, 500_000, [3_344, 3_728, 4_112, 4_496]),
        (6, 125_000, [24_192, 26_752, 29_312, 31_872]),
        (6, 250_000, [12_096, 13_376, 14_656, 15_936]),
        (6, 500_000, [6_048, 6_688, 7_328, 7_968]),
        (7, 125_000, [46_336, 51_456, 56_576, 61_696]),
        (7, 250_000, [23_168, 25_728, 28_288, 30_848]),
        (7, 500_000, [11_584, 12_864, 14_144, 15_424]),
        (8, 125_000, [82_432, 90_624, 98_816, 107_008]),
        (8, 250_000, [41_216, 45_312, 49_408, 53_504]),
        (8, 500_000, [20_608, 22_656, 24_704, 26_752]),
        (9, 125_000, [164_864, 181_248, 197_632, 214_016]),
        (9, 250_000, [82_432, 90_624, 98_816, 107_008]),
        (9, 500_000, [41_216, 45_312, 49_408, 53_504]),
        (10, 125_000, [288_768, 313_344, 337_920, 362_496]),
        (10, 250_000, [144_384, 156_672, 168_960, 181_248]),
        (10, 500_000, [72_192, 78_336, 84_480, 90_624]),
        (11, 125_000, [577_536, 626_688, 675_840, 724_992]),
        (11, 250_000, [288_768, 313_344, 337_920, 362_496]),
        (11, 500_000, [144_384, 156_672, 168_960, 181_248]),
        (12, 125_000, [1_155_072, 1_253_376, 1_351_680, 1_449_984]),
        (12, 250_000, [577_536, 626_688, 675_840, 724_992]),
        (12, 500_000, [288_768, 313_344, 337_920, 362_496]),
    ];
    /// (SF, BW, [CR 4/5, 4/6, 4/7, 4/8, 4/5LI, 4/6LI, 4/8LI]) for a 20-byte PHYPayload.
    const TWO_G4_20_BYTES: [(u8, u32, [u64; 7]); 32] = [
        (
            5,
            203_125,
            [10_595, 12_013, 13_431, 14_848, 10_437, 11_855, 14_691],
        ),
        (
            5,
            406_250,
            [5_298, 6_007, 6_716, 7_424, 5_219, 5_928, 7_346],
        ),
        (
            5,
            812_500,
            [2_649, 3_004, 3_358, 3_712, 2_610, 2_964, 3_673],
        ),
        (
            5,
            1_625_000,
            [1_325, 1_502, 1_679, 1_856, 1_305, 1_482, 1_837],
        ),
        (
            6,
            203_125,
            [19_614, 22_135, 24_655, 27_176, 18_669, 20_874, 25_600],
        ),
        (
            6,
            406_250,
            [9_807, 11_068, 12_328, 13_588, 9_335, 10_437, 12_800],
        ),
        (
            6,
            812_500,
            [4_904, 5_534, 6_164, 6_794, 4_668, 5_219, 6_400],
        ),
        (
            6,
            1_625_000,
            [2_452, 2_767, 3_082, 3_397, 2_334, 2_610, 3_200],
        ),
        (
            7,
            203_125,
            [34_816, 39_228, 43_639, 48_050, 32_926, 36_707, 44_899],
        ),
        (
            7,
            406_250,
            [17_408, 19_614, 21_820, 24_025, 16_463, 18_354, 22_450],
        ),
        (
            7,
            812_500,
            [8_704, 9_807, 10_910, 12_013, 8_232, 9_177, 11_225],
        ),
        (
            7,
            1_625_000,
            [4_352, 4_904, 5_455, 6_007, 4_116, 4_589, 5_613],
        ),
        (
            8,
            203_125,
            [63_331, 70_893, 78_455, 86_016, 60_810, 67_112, 80_975],
        ),
        (
            8,
            406_250,
            [31_666, 35_447, 39_228, 43_008, 30_405, 33_556, 40_488],
        ),
        (
            8,
            812_500,
            [15_833, 17_724, 19_614, 21_504, 15_203, 16_778, 20_244],
        ),
        (
            8,
            1_625_000,
            [7_917, 8_862, 9_807, 10_752, 7_602, 8_389, 10_122],
        ),
        (
            9,
            203_125,
            [
                114_058, 126_661, 139_264, 151_868, 111_538, 121_620, 146_826,
            ],
        ),
        (
            9,
            406_250,
            [57_029, 63_331, 69_632, 75_934, 55_769, 60_810, 73_413],
        ),
        (
            9,
            812_500,
            [28_515, 31_666, 34_816, 37_967, 27_885, 30_405, 36_707],
        ),
        (
            9,
            1_625_000,
            [14_258, 15_833, 17_408, 18_984, 13_943, 15_203, 18_354],
        ),
        (
            10,
            203_125,
            [
                228_116, 253_322, 278_528, 303_735, 207_951, 233_157, 273_487,
            ],
        ),
        (
            10,
            406_250,
            [
                114_058, 126_661, 139_264, 151_868, 103_976, 116_579, 136_744,
            ],
        ),
        (
            10,
            812_500,
            [57_029, 63_331, 69_632, 75_934, 51_988, 58_290, 68_372],
        ),
        (
            10,
            1_625_000,
            [28_515, 31_666, 34_816, 37_967, 25_994, 29_145, 34_186],
        ),
        (
            11,
            203_125,
            [
                456_232, 506_644, 557_056, 607_469, 436_067, 476_397, 567_139,
            ],
        ),
        (
            11,
            406_250,
            [
                228_116, 253_322, 278_528, 303_735, 218_034, 238_199, 283_570,
            ],
        ),
        (
            11,
            812_500,
            [
                114_058, 126_661, 139_264, 151_868, 109_017, 119_100, 141_785,
            ],
        ),
        (
            11,
            1_625_000,
            [57_029, 63_331, 69_632, 75_934, 54_509, 59_550, 70_893],
        ),
        (
            12,
            203_125,
            [
                811_639, 892_298, 972_958, 1_053_618, 811_639, 892_298, 1_053_618,
            ],
        ),
        (
            12,
            406_250,
            [
                405_820, 446_149, 486_479, 526_809, 405_820, 446_149, 526_809,
            ],
        ),
        (
            12,
            812_500,
            [
                202_910, 223_075, 243_240, 263_405, 202_910, 223_075, 263_405,
            ],
        ),
        (
            12,
            1_625_000,
            [
                101_455, 111_538, 121_620, 131_703, 101_455, 111_538, 131_703,
            ],
        ),
    ];

    use LoraCodingRate::*;
    use LowDataRateOptimize::{Auto, Off, On};

    /// (SF, BW, CR, payload bytes, explicit header, CRC, preamble, LDRO,
    /// quarter symbols, µs).
    type Corner = (
        u8,
        u32,
        LoraCodingRate,
        usize,
        bool,
        bool,
        u16,
        LowDataRateOptimize,
        u64,
        u64,
    );

    /// Corners: empty and full frames, implicit headers, no CRC,
    /// forced low-data-rate optimisation, preamble lengths.
    #[rustfmt::skip]
    const CORNERS: [Corner; CORNER_COUNT] = [
        (5, 125_000, Cr4_5, 0, true, true, 8, Auto, 109, 6_976),
        (5, 125_000, Cr4_5, 1, true, true, 8, Auto, 129, 8_256),
        (5, 125_000, Cr4_5, 255, true, true, 8, Auto, 2_149, 137_536),
        (5, 125_000, Cr4_5, 0, false, false, 8, Auto, 89, 5_696),
        (5, 125_000, Cr4_5, 2, false, true, 8, Auto, 109, 6_976),
        (5, 125_000, Cr4_5, 255, false, false, 8, Auto, 2_109, 134_976),
        (5, 125_000, Cr4_8Li, 0, true, true, 8, Auto, 117, 7_488),
        (5, 125_000, Cr4_8Li, 1, true, true, 8, Auto, 129, 8_256),
        (5, 125_000, Cr4_8Li, 255, true, true, 8, Auto, 3_381, 216_384),
        (5, 125_000, Cr4_8Li, 0, false, false, 8, Auto, 57, 3_648),
        (5, 125_000, Cr4_8Li, 2, false, true, 8, Auto, 109, 6_976),
        (5, 125_000, Cr4_8Li, 255, false, false, 8, Auto, 3_321, 212_544),
        (5, 812_500, Cr4_5, 0, true, true, 8, Auto, 109, 1_074),
        (5, 812_500, Cr4_5, 1, true, true, 8, Auto, 129, 1_271),
        (5, 812_500, Cr4_5, 255, true, true, 8, Auto, 2_149, 21_160),
        (5, 812_500, Cr4_5, 0, false, false, 8, Auto, 89, 877),
        (5, 812_500, Cr4_5, 2, false, true, 8, Auto, 109, 1_074),
        (5, 812_500, Cr4_5, 255, false, false, 8, Auto, 2_109, 20_766),
        (5, 812_500, Cr4_8Li, 0, true, true, 8, Auto, 117, 1_152),
        (5, 812_500, Cr4_8Li, 1, true, true, 8, Auto, 129, 1_271),
        (5, 812_500, Cr4_8Li, 255, true, true, 8, Auto, 3_381, 33_290),
        (5, 812_500, Cr4_8Li, 0, false, false, 8, Auto, 57, 562),
        (5, 812_500, Cr4_8Li, 2, false, true, 8, Auto, 109, 1_074),
        (5, 812_500, Cr4_8Li, 255, false, false, 8, Auto, 3_321, 32_700),
        (6, 125_000, Cr4_5, 0, true, true, 8, Auto, 109, 13_952),
        (6, 125_000, Cr4_5, 1, true, true, 8, Auto, 109, 13_952),
        (6, 125_000, Cr4_5, 255, true, true, 8, Auto, 1_809, 231_552),
        (6, 125_000, Cr4_5, 0, false, false, 8, Auto, 89, 11_392),
        (6, 125_000, Cr4_5, 2, false, true, 8, Auto, 109, 13_952),
        (6, 125_000, Cr4_5, 255, false, false, 8, Auto, 1_769, 226_432),
        (6, 125_000, Cr4_8Li, 0, true, true, 8, Auto, 113, 14_464),
        (6, 125_000, Cr4_8Li, 1, true, true, 8, Auto, 121, 15_488),
        (6, 125_000, Cr4_8Li, 255, true, true, 8, Auto, 2_833, 362_624),
        (6, 125_000, Cr4_8Li, 0, false, false, 8, Auto, 57, 7_296),
        (6, 125_000, Cr4_8Li, 2, false, true, 8, Auto, 101, 12_928),
        (6, 125_000, Cr4_8Li, 255, false, false, 8, Auto, 2_777, 355_456),
        (6, 812_500, Cr4_5, 0, true, true, 8, Auto, 109, 2_147),
        (6, 812_500, Cr4_5, 1, true, true, 8, Auto, 109, 2_147),
        (6, 812_500, Cr4_5, 255, true, true, 8, Auto, 1_809, 35_624),
        (6, 812_500, Cr4_5, 0, false, false, 8, Auto, 89, 1_753),
        (6, 812_500, Cr4_5, 2, false, true, 8, Auto, 109, 2_147),
        (6, 812_500, Cr4_5, 255, false, false, 8, Auto, 1_769, 34_836),
        (6, 812_500, Cr4_8Li, 0, true, true, 8, Auto, 113, 2_226),
        (6, 812_500, Cr4_8Li, 1, true, true, 8, Auto, 121, 2_383),
        (6, 812_500, Cr4_8Li, 255, true, true, 8, Auto, 2_833, 55_789),
        (6, 812_500, Cr4_8Li, 0, false, false, 8, Auto, 57, 1_123),
        (6, 812_500, Cr4_8Li, 2, false, true, 8, Auto, 101, 1_989),
        (6, 812_500, Cr4_8Li, 255, false, false, 8, Auto, 2_777, 54_686),
        (7, 125_000, Cr4_5, 0, true, true, 8, Auto, 101, 25_856),
        (7, 125_000, Cr4_5, 1, true, true, 8, Auto, 101, 25_856),
        (7, 125_000, Cr4_5, 255, true, true, 8, Auto, 1_561, 399_616),
        (7, 125_000, Cr4_5, 0, false, false, 8, Auto, 81, 20_736),
        (7, 125_000, Cr4_5, 2, false, true, 8, Auto, 101, 25_856),
        (7, 125_000, Cr4_5, 255, false, false, 8, Auto, 1_541, 394_496),
        (7, 125_000, Cr4_8Li, 0, true, true, 8, Auto, 101, 25_856),
        (7, 125_000, Cr4_8Li, 1, true, true, 8, Auto, 109, 27_904),
        (7, 125_000, Cr4_8Li, 255, true, true, 8, Auto, 2_433, 622_848),
        (7, 125_000, Cr4_8Li, 0, false, false, 8, Auto, 49, 12_544),
        (7, 125_000, Cr4_8Li, 2, false, true, 8, Auto, 97, 24_832),
        (7, 125_000, Cr4_8Li, 255, false, false, 8, Auto, 2_393, 612_608),
        (7, 812_500, Cr4_5, 0, true, true, 8, Auto, 101, 3_978),
        (7, 812_500, Cr4_5, 1, true, true, 8, Auto, 101, 3_978),
        (7, 812_500, Cr4_5, 255, true, true, 8, Auto, 1_561, 61_480),
        (7, 812_500, Cr4_5, 0, false, false, 8, Auto, 81, 3_191),
        (7, 812_500, Cr4_5, 2, false, true, 8, Auto, 101, 3_978),
        (7, 812_500, Cr4_5, 255, false, false, 8, Auto, 1_541, 60_692),
        (7, 812_500, Cr4_8Li, 0, true, true, 8, Auto, 101, 3_978),
        (7, 812_500, Cr4_8Li, 1, true, true, 8, Auto, 109, 4_293),
        (7, 812_500, Cr4_8Li, 255, true, true, 8, Auto, 2_433, 95_823),
        (7, 812_500, Cr4_8Li, 0, false, false, 8, Auto, 49, 1_930),
        (7, 812_500, Cr4_8Li, 2, false, true, 8, Auto, 97, 3_821),
        (7, 812_500, Cr4_8Li, 255, false, false, 8, Auto, 2_393, 94_248),
        (12, 125_000, Cr4_5, 0, true, true, 8, Auto, 81, 663_552),
        (12, 125_000, Cr4_5, 1, true, true, 8, Auto, 101, 827_392),
        (12, 125_000, Cr4_5, 255, true, true, 8, Auto, 1_101, 9_019_392),
        (12, 125_000, Cr4_5, 0, false, false, 8, Auto, 81, 663_552),
        (12, 125_000, Cr4_5, 2, false, true, 8, Auto, 81, 663_552),
        (12, 125_000, Cr4_5, 255, false, false, 8, Auto, 1_081, 8_855_552),
        (12, 125_000, Cr4_8Li, 0, true, true, 8, Auto, 81, 663_552),
        (12, 125_000, Cr4_8Li, 1, true, true, 8, Auto, 97, 794_624),
        (12, 125_000, Cr4_8Li, 255, true, true, 8, Auto, 1_713, 14_032_896),
        (12, 125_000, Cr4_8Li, 0, false, false, 8, Auto, 49, 401_408),
        (12, 125_000, Cr4_8Li, 2, false, true, 8, Auto, 77, 630_784),
        (12, 125_000, Cr4_8Li, 255, false, false, 8, Auto, 1_681, 13_770_752),
        (12, 812_500, Cr4_5, 0, true, true, 8, Auto, 81, 102_085),
        (12, 812_500, Cr4_5, 1, true, true, 8, Auto, 101, 127_292),
        (12, 812_500, Cr4_5, 255, true, true, 8, Auto, 1_101, 1_387_599),
        (12, 812_500, Cr4_5, 0, false, false, 8, Auto, 81, 102_085),
        (12, 812_500, Cr4_5, 2, false, true, 8, Auto, 81, 102_085),
        (12, 812_500, Cr4_5, 255, false, false, 8, Auto, 1_081, 1_362_393),
        (12, 812_500, Cr4_8Li, 0, true, true, 8, Auto, 81, 102_085),
        (12, 812_500, Cr4_8Li, 1, true, true, 8, Auto, 97, 122_250),
        (12, 812_500, Cr4_8Li, 255, true, true, 8, Auto, 1_713, 2_158_908),
        (12, 812_500, Cr4_8Li, 0, false, false, 8, Auto, 49, 61_756),
        (12, 812_500, Cr4_8Li, 2, false, true, 8, Auto, 77, 97_044),
        (12, 812_500, Cr4_8Li, 255, false, false, 8, Auto, 1_681, 2_118_578),
        (5, 125_000, Cr4_6, 51, true, true, 8, On, 953, 60_992),
        (5, 125_000, Cr4_6, 51, false, true, 8, On, 905, 57_920),
        (5, 125_000, Cr4_6Li, 51, true, true, 8, On, 937, 59_968),
        (5, 125_000, Cr4_6Li, 51, false, true, 8, On, 885, 56_640),
        (5, 125_000, Cr4_6, 51, true, true, 8, Off, 617, 39_488),
        (5, 125_000, Cr4_6, 51, false, true, 8, Off, 593, 37_952),
        (5, 125_000, Cr4_6Li, 51, true, true, 8, Off, 601, 38_464),
        (5, 125_000, Cr4_6Li, 51, false, true, 8, Off, 569, 36_416),
        (10, 125_000, Cr4_6, 51, true, true, 8, On, 393, 804_864),
        (10, 125_000, Cr4_6, 51, false, true, 8, On, 393, 804_864),
        (10, 125_000, Cr4_6Li, 51, true, true, 8, On, 393, 804_864),
        (10, 125_000, Cr4_6Li, 51, false, true, 8, On, 369, 755_712),
        (10, 125_000, Cr4_6, 51, true, true, 8, Off, 345, 706_560),
        (10, 125_000, Cr4_6, 51, false, true, 8, Off, 321, 657_408),
        (10, 125_000, Cr4_6Li, 51, true, true, 8, Off, 333, 681_984),
        (10, 125_000, Cr4_6Li, 51, false, true, 8, Off, 313, 641_024),
        (12, 125_000, Cr4_6, 51, true, true, 8, On, 345, 2_826_240),
        (12, 125_000, Cr4_6, 51, false, true, 8, On, 321, 2_629_632),
        (12, 125_000, Cr4_6Li, 51, true, true, 8, On, 329, 2_695_168),
        (12, 125_000, Cr4_6Li, 51, false, true, 8, On, 305, 2_498_560),
        (12, 125_000, Cr4_6, 51, true, true, 8, Off, 297, 2_433_024),
        (12, 125_000, Cr4_6, 51, false, true, 8, Off, 273, 2_236_416),
        (12, 125_000, Cr4_6Li, 51, true, true, 8, Off, 285, 2_334_720),
        (12, 125_000, Cr4_6Li, 51, false, true, 8, Off, 269, 2_203_648),
        (9, 250_000, Cr4_7, 20, true, true, 0, Auto, 189, 96_768),
        (9, 250_000, Cr4_7, 20, true, true, 6, Auto, 213, 109_056),
        (9, 250_000, Cr4_7, 20, true, true, 65_535, Auto, 262_329, 134_312_448),
    ];
    const CORNER_COUNT: usize = 123;

    #[test]
    fn every_sub_ghz_sf_bw_cr_matches_the_semtech_formula() {
        let crs = [Cr4_5, Cr4_6, Cr4_7, Cr4_8];
        for (sf, bw, expected) in SUB_GHZ_13_BYTES {
            for (cr, us) in crs.into_iter().zip(expected) {
                let p = lora(sf, bw, cr, true, true);
                assert_eq!(micros(&p, 13), us, "SF{sf} BW{bw} {cr:?}");
            }
        }
    }

    #[test]
    fn every_2g4_sf_bw_cr_matches_the_sx1280_formula() {
        let crs = [Cr4_5, Cr4_6, Cr4_7, Cr4_8, Cr4_5Li, Cr4_6Li, Cr4_8Li];
        for (sf, bw, expected) in TWO_G4_20_BYTES {
            for (cr, us) in crs.into_iter().zip(expected) {
                let p = lora(sf, bw, cr, true, true);
                assert_eq!(micros(&p, 20), us, "SF{sf} BW{bw} {cr:?}");
            }
        }
    }

    #[test]
    fn corners_match_the_semtech_formula() {
        for (sf, bw, cr, len, explicit, crc, preamble, ldro, quarters, us) in CORNERS {
            let mut p = lora(sf, bw, cr, explicit, crc);
            p.preamble_symbols = preamble;
            p.low_data_rate_optimize = ldro;
            let case = format!(
                "SF{sf} BW{bw} {cr:?} {len} B explicit {explicit} CRC {crc} P{preamble} {ldro:?}"
            );
            assert_eq!(p.symbols(len).unwrap().total_quarters(), quarters, "{case}");
            assert_eq!(micros(&p, len), us, "{case}");
        }
    }

    #[test]
    fn low_data_rate_optimisation_is_automatic_from_16_384_ms_symbols() {
        let on = |sf, bw| LoraParams::new(sf, bw).low_data_rate_optimized().unwrap();
        assert!(on(11, 125_000) && on(12, 125_000) && on(12, 250_000));
        assert!(!on(10, 125_000) && !on(11, 250_000) && !on(12, 500_000));
        // Narrow bandwidths reach 16.384 ms sooner.
        assert!(on(9, 31_250) && !on(8, 31_250));
        // The SX1280 ties it to the spreading factor, not the symbol time.
        assert!(on(11, 1_625_000) && on(12, 812_500) && !on(10, 203_125));
        let mut p = LoraParams::new(12, 125_000);
        p.low_data_rate_optimize = Off;
        assert!(!p.low_data_rate_optimized().unwrap());
        p.low_data_rate_optimize = On;
        p.spreading_factor = 7;
        assert!(p.low_data_rate_optimized().unwrap());
    }

    #[test]
    fn sf5_and_sf6_add_two_symbols_of_fine_synchronisation() {
        let s = LoraParams::new(6, 125_000).symbols(13).unwrap();
        assert_eq!(
            (s.sync_quarters, s.to_string()),
            (25, "8 + 6.25 + 33".into())
        );
        let s = LoraParams::new(7, 125_000).symbols(13).unwrap();
        assert_eq!(
            (s.sync_quarters, s.to_string()),
            (17, "8 + 4.25 + 33".into())
        );
    }

    #[test]
    fn lorawan_defaults_follow_the_band() {
        let p = LoraParams::new(12, 812_500);
        assert_eq!(p.coding_rate, Cr4_8Li);
        let p = LoraParams::new(12, 125_000);
        assert_eq!(
            (
                p.coding_rate,
                p.explicit_header,
                p.crc,
                p.preamble_symbols,
                p.low_data_rate_optimize
            ),
            (Cr4_5, true, true, 8, Auto)
        );
        let dr0 = Modulation::Lora {
            spreading_factor: 12,
            bandwidth: 125_000,
        };
        let PacketParams::Lora(down) = PacketParams::lorawan(&dr0, Direction::Downlink) else {
            panic!("LoRa")
        };
        assert!(!down.crc);
        let fsk = Modulation::Fsk { bitrate: 50_000 };
        assert_eq!(
            time_on_air(&fsk, 20, Direction::Downlink),
            time_on_air(&fsk, 20, Direction::Uplink)
        );
    }

    #[test]
    fn symbol_time_is_two_to_the_sf_over_the_bandwidth() {
        let t = |sf, bw| LoraParams::new(sf, bw).symbol_time().unwrap();
        assert_eq!(t(7, 125_000), Duration::from_micros(1_024));
        assert_eq!(t(12, 125_000), Duration::from_micros(32_768));
        assert_eq!(t(5, 500_000), Duration::from_micros(64));
        // 4096 / 812 500 s = 5 041.230 769… µs, rounded up to the nanosecond.
        assert_eq!(t(12, 812_500), Duration::from_nanos(5_041_231));
    }

    #[test]
    fn fsk_sends_eleven_bytes_of_overhead_at_the_bit_rate() {
        let p = FskParams::new(50_000);
        assert_eq!(p.frame_bytes(0), 11);
        assert_eq!(p.time_on_air(0), Ok(Duration::from_micros(1_760)));
        assert_eq!(p.time_on_air(255), Ok(Duration::from_micros(42_560)));
        // 11 · 8 bits at 3 bit/s: 29.333… s, rounded up.
        assert_eq!(
            FskParams::new(3).time_on_air(0),
            Ok(Duration::from_micros(29_333_334))
        );
    }

    #[test]
    fn lr_fhss_counts_headers_and_fragments() {
        assert_eq!(LrFhssParams::HEADER_TIME, Duration::from_micros(233_472));
        assert_eq!(LrFhssParams::FRAGMENT_TIME, Duration::from_micros(102_400));
        let dr8 = LrFhssParams::new(LrFhssCodingRate::Cr1_3);
        let dr9 = LrFhssParams::new(LrFhssCodingRate::Cr2_3);
        assert_eq!((dr8.header_count, dr9.header_count), (3, 2));
        // 0 bytes: 22 bits; at 1/3: 66 bits = 1 full fragment + 18 bits.
        assert_eq!(dr8.coded_bits(0), 66);
        assert_eq!(dr8.fragments(0), 2);
        assert_eq!(
            dr8.time_on_air(0),
            Ok(Duration::from_micros((3 * 114 + 50 + 20) * 2048))
        );
        // 0 bytes at 2/3: 33 bits, one short fragment.
        assert_eq!(
            dr9.time_on_air(0),
            Ok(Duration::from_micros((2 * 114 + 35) * 2048))
        );
        // 255 bytes at 2/3: 2062 · 3 / 2 = 3093 bits = 64 fragments + 21 bits.
        assert_eq!(dr9.coded_bits(255), 3093);
        assert_eq!(
            dr9.time_on_air(255),
            Ok(Duration::from_micros((2 * 114 + 64 * 50 + 23) * 2048))
        );
        // 5/6 rounds its coded bits up: 22 · 6 / 5 = 26.4 → 27.
        assert_eq!(LrFhssParams::new(LrFhssCodingRate::Cr5_6).coded_bits(0), 27);
        assert_eq!(LrFhssParams::new(LrFhssCodingRate::Cr1_2).coded_bits(0), 44);
    }

    #[test]
    fn bad_parameters_are_errors_not_panics() {
        for sf in [0, 1, 4, 13, 255] {
            let p = LoraParams::new(sf, 125_000);
            assert_eq!(p.time_on_air(10), Err(AirtimeError::SpreadingFactor(sf)));
            assert_eq!(p.symbol_time(), Err(AirtimeError::SpreadingFactor(sf)));
        }
        assert_eq!(
            LoraParams::new(7, 0).symbols(1),
            Err(AirtimeError::ZeroBandwidth)
        );
        assert_eq!(
            LoraParams::new(7, 125_000).time_on_air(256),
            Err(AirtimeError::PayloadTooLong(256))
        );
        assert_eq!(
            FskParams::new(0).time_on_air(1),
            Err(AirtimeError::ZeroBitrate)
        );
        assert_eq!(
            FskParams::new(1).time_on_air(usize::MAX),
            Err(AirtimeError::PayloadTooLong(usize::MAX))
        );
        let lr = LrFhssParams::new(LrFhssCodingRate::Cr1_3);
        assert_eq!(lr.time_on_air(300), Err(AirtimeError::PayloadTooLong(300)));
    }

    #[test]
    fn extreme_settings_do_not_overflow() {
        for cr in [Cr4_5, Cr4_8, Cr4_5Li, Cr4_8Li] {
            for explicit in [true, false] {
                for sf in 5..=12 {
                    for bw in [1, 7_810, 125_000, 1_625_000, u32::MAX] {
                        for ldro in [Auto, On, Off] {
                            let mut p = lora(sf, bw, cr, explicit, true);
                            p.preamble_symbols = u16::MAX;
                            p.low_data_rate_optimize = ldro;
                            for len in [0, 1, 254, 255] {
                                let t = p.time_on_air(len).unwrap();
                                assert!(t > Duration::ZERO);
                                assert!(
                                    p.time_on_air(len + 1).is_err()
                                        || p.time_on_air(len + 1).unwrap() >= t
                                );
                            }
                        }
                    }
                }
            }
        }
        let mut f = FskParams::new(1);
        f.preamble_bytes = u16::MAX;
        assert!(f.time_on_air(255).is_ok());
    }

    #[test]
    fn time_on_air_never_decreases_with_the_payload() {
        for cr in [Cr4_5, Cr4_6, Cr4_7, Cr4_8, Cr4_5Li, Cr4_6Li, Cr4_8Li] {
            for (explicit, crc) in [(true, true), (true, false), (false, true), (false, false)] {
                for sf in 5..=12 {
                    for bw in [125_000, 812_500] {
                        let p = lora(sf, bw, cr, explicit, crc);
                        let mut last = Duration::ZERO;
                        for len in 0..=255 {
                            let t = p.time_on_air(len).unwrap();
                            assert!(t >= last, "SF{sf} BW{bw} {cr:?} {explicit} {crc} at {len}");
                            last = t;
                        }
                    }
                }
            }
        }
    }
}
