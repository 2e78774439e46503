//! Radio modulations as a LoRaWAN data rate names them: LoRa (spreading factor
//! and bandwidth), FSK (bit rate) and LR-FHSS (coding rate and occupied channel
//! width). The time on air of a frame is computed in [`crate::airtime`].

/// A modulation and its rate parameters, as a data-rate table entry gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "modulation", rename_all = "snake_case")
)]
pub enum Modulation {
    /// LoRa chirp spread spectrum.
    Lora {
        /// Spreading factor, 5 to 12.
        spreading_factor: u8,
        /// Bandwidth in Hz: 125 000, 250 000, 500 000, or the 2.4 GHz
        /// bandwidths 203 125, 406 250, 812 500 and 1 625 000.
        bandwidth: u32,
    },
    /// (G)FSK.
    Fsk {
        /// Bit rate in bit/s (50 000 in the sub-GHz regions).
        bitrate: u32,
    },
    /// Long-range frequency hopping spread spectrum.
    LrFhss {
        /// Coding rate.
        coding_rate: LrFhssCodingRate,
        /// Occupied channel width in Hz (137 000, 336 000, 1 523 000).
        occupied_channel_width: u32,
    },
}

/// The LoRa forward-error-correction coding rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum LoraCodingRate {
    /// 4/5, the rate of every LoRaWAN sub-GHz data rate.
    #[default]
    Cr4_5,
    /// 4/6.
    Cr4_6,
    /// 4/7.
    Cr4_7,
    /// 4/8.
    Cr4_8,
    /// 4/5 with the long interleaver (2.4 GHz, SX128x).
    Cr4_5Li,
    /// 4/6 with the long interleaver.
    Cr4_6Li,
    /// 4/8 with the long interleaver.
    Cr4_8Li,
}

impl LoraCodingRate {
    /// The `codr` text of Semtech's packet forwarder: `4/5` … `4/8`, `4/5LI` ….
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cr4_5 => "4/5",
            Self::Cr4_6 => "4/6",
            Self::Cr4_7 => "4/7",
            Self::Cr4_8 => "4/8",
            Self::Cr4_5Li => "4/5LI",
            Self::Cr4_6Li => "4/6LI",
            Self::Cr4_8Li => "4/8LI",
        }
    }
}

/// The LR-FHSS coding rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum LrFhssCodingRate {
    /// 1/3 (LoRaWAN data rates 8 and 10 of US915/AU915, 8 and 10 of EU868).
    Cr1_3,
    /// 2/3 (data rates 9 and 11).
    Cr2_3,
    /// 1/2 (radio capability; no LoRaWAN data rate uses it).
    Cr1_2,
    /// 5/6 (radio capability; no LoRaWAN data rate uses it).
    Cr5_6,
}

impl LrFhssCodingRate {
    /// The `codr` text of Semtech's packet forwarder: `1/3`, `2/3`, `1/2`, `5/6`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cr1_3 => "1/3",
            Self::Cr2_3 => "2/3",
            Self::Cr1_2 => "1/2",
            Self::Cr5_6 => "5/6",
        }
    }
}

impl core::fmt::Display for Modulation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Lora {
                spreading_factor,
                bandwidth,
            } => {
                write!(f, "LoRa SF{spreading_factor}BW")?;
                if bandwidth % 1000 == 0 {
                    write!(f, "{}", bandwidth / 1000)
                } else {
                    write!(f, "{}.{:03}", bandwidth / 1000, bandwidth % 1000)
                }
            }
            Self::Fsk { bitrate } => write!(f, "FSK {bitrate} bit/s"),
            Self::LrFhss {
                coding_rate,
                occupied_channel_width,
            } => write!(
                f,
                "LR-FHSS CR{} OCW {} kHz",
                coding_rate.as_str(),
                occupied_channel_width / 1000
            ),
        }
    }
}
