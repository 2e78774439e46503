//! `datr` and `codr`: data rate and coding rate in their wire forms.

use lorawan::modulation::{LoraCodingRate, LrFhssCodingRate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a `datr` or `codr` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DatrError {
    /// Neither `SF{n}BW{khz}` nor `M0CW{khz}`.
    #[error("datr {0:?} is neither SF<n>BW<kHz> nor M0CW<kHz>")]
    Malformed(String),
    /// A LoRa spreading factor outside 5–12.
    #[error("datr {0:?}: spreading factor outside 5..=12")]
    SpreadingFactor(String),
    /// A zero or overflowing bandwidth / channel width.
    #[error("datr {0:?}: bandwidth out of range")]
    Bandwidth(String),
    /// A `codr` value no forwarder writes.
    #[error("unknown codr {0:?}")]
    CodingRate(String),
}

/// The data rate of a frame: `datr`, a string for LoRa (`"SF7BW125"`) and
/// LR-FHSS (`"M0CW137"`), a number of bit/s for FSK.
///
/// ```
/// use packet_forwarder::semtech_udp::DataRate;
/// let dr: DataRate = "SF12BW500".parse().unwrap();
/// assert_eq!(dr, DataRate::Lora { spreading_factor: 12, bandwidth: 500_000 });
/// assert_eq!(dr.to_string(), "SF12BW500");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataRate {
    /// LoRa.
    Lora {
        /// 5 to 12.
        spreading_factor: u8,
        /// In Hz. The 2.4 GHz bandwidths, written truncated to whole kHz
        /// (`BW203`, `BW406`, `BW812`, `BW1625`), read back exactly (203 125 Hz …).
        bandwidth: u32,
    },
    /// FSK.
    Fsk {
        /// In bit/s.
        bitrate: u32,
    },
    /// LR-FHSS; its coding rate is in `codr`.
    LrFhss {
        /// Occupied channel width in Hz.
        occupied_channel_width: u32,
    },
}

/// 2.4 GHz bandwidths are not whole kHz; forwarders truncate them.
const TRUNCATED_KHZ: [(u32, u32); 3] = [(203, 203_125), (406, 406_250), (812, 812_500)];

fn khz_to_hz(khz: u32) -> Option<u32> {
    if khz == 0 {
        return None;
    }
    match TRUNCATED_KHZ.iter().find(|(k, _)| *k == khz) {
        Some(&(_, hz)) => Some(hz),
        None => khz.checked_mul(1000),
    }
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl core::str::FromStr for DataRate {
    type Err = DatrError;

    /// Parses the string forms; FSK rates are JSON numbers, not strings.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = s.strip_prefix("SF") {
            let (sf, bw) = rest
                .split_once("BW")
                .ok_or_else(|| DatrError::Malformed(s.into()))?;
            let sf = digits(sf).ok_or_else(|| DatrError::Malformed(s.into()))?;
            let bw = digits(bw).ok_or_else(|| DatrError::Malformed(s.into()))?;
            if !(5..=12).contains(&sf) {
                return Err(DatrError::SpreadingFactor(s.into()));
            }
            let bandwidth = khz_to_hz(bw).ok_or_else(|| DatrError::Bandwidth(s.into()))?;
            return Ok(Self::Lora {
                spreading_factor: sf as u8,
                bandwidth,
            });
        }
        if let Some(ocw) = s.strip_prefix("M0CW") {
            let ocw = digits(ocw).ok_or_else(|| DatrError::Malformed(s.into()))?;
            let occupied_channel_width =
                khz_to_hz(ocw).ok_or_else(|| DatrError::Bandwidth(s.into()))?;
            return Ok(Self::LrFhss {
                occupied_channel_width,
            });
        }
        Err(DatrError::Malformed(s.into()))
    }
}

impl core::fmt::Display for DataRate {
    /// The wire text; FSK as its bare number.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Lora {
                spreading_factor,
                bandwidth,
            } => write!(f, "SF{spreading_factor}BW{}", bandwidth / 1000),
            Self::Fsk { bitrate } => write!(f, "{bitrate}"),
            Self::LrFhss {
                occupied_channel_width,
            } => write!(f, "M0CW{}", occupied_channel_width / 1000),
        }
    }
}

impl Serialize for DataRate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Self::Fsk { bitrate } => s.serialize_u32(bitrate),
            _ => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for DataRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DataRate;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a datr: \"SF<n>BW<kHz>\", \"M0CW<kHz>\" or an FSK bit rate")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DataRate, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DataRate, E> {
                let bitrate = u32::try_from(v)
                    .map_err(|_| E::custom(format_args!("FSK datr {v} out of range")))?;
                Ok(DataRate::Fsk { bitrate })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The coding rate, `codr`. Its text does not say which modulation it is for;
/// LoRa aliases that read as LR-FHSS rates (`"2/3"` for 4/6, `"1/2"` for 4/8)
/// are resolved by [`CodingRate::lora`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodingRate {
    /// `4/5` … `4/8`, `4/5LI`, `4/6LI`, `4/8LI` (`2/4` reads as 4/8).
    Lora(LoraCodingRate),
    /// `1/3`, `2/3`, `1/2`, `5/6` (`2/6` reads as 1/3).
    LrFhss(LrFhssCodingRate),
    /// Any other text (e.g. `"OFF"`, `"3/8"`), kept as received.
    Other(String),
}

impl CodingRate {
    /// The wire text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Lora(cr) => cr.as_str(),
            Self::LrFhss(cr) => cr.as_str(),
            Self::Other(s) => s,
        }
    }

    /// Reads the wire text; never fails (unknown text becomes [`Self::Other`]).
    pub fn parse(s: &str) -> Self {
        use LoraCodingRate as L;
        use LrFhssCodingRate as F;
        match s {
            "4/5" => Self::Lora(L::Cr4_5),
            "4/6" => Self::Lora(L::Cr4_6),
            "4/7" => Self::Lora(L::Cr4_7),
            "4/8" | "2/4" => Self::Lora(L::Cr4_8),
            "4/5LI" => Self::Lora(L::Cr4_5Li),
            "4/6LI" => Self::Lora(L::Cr4_6Li),
            "4/8LI" => Self::Lora(L::Cr4_8Li),
            "1/3" | "2/6" => Self::LrFhss(F::Cr1_3),
            "2/3" => Self::LrFhss(F::Cr2_3),
            "1/2" => Self::LrFhss(F::Cr1_2),
            "5/6" => Self::LrFhss(F::Cr5_6),
            other => Self::Other(other.into()),
        }
    }

    /// The rate read as a LoRa coding rate, with the reference forwarder's
    /// aliases (`2/3` = 4/6, `1/2` = 4/8).
    pub fn lora(&self) -> Result<LoraCodingRate, DatrError> {
        match self {
            Self::Lora(cr) => Ok(*cr),
            Self::LrFhss(LrFhssCodingRate::Cr2_3) => Ok(LoraCodingRate::Cr4_6),
            Self::LrFhss(LrFhssCodingRate::Cr1_2) => Ok(LoraCodingRate::Cr4_8),
            other => Err(DatrError::CodingRate(other.as_str().into())),
        }
    }

    /// The rate read as an LR-FHSS coding rate.
    pub fn lr_fhss(&self) -> Result<LrFhssCodingRate, DatrError> {
        match self {
            Self::LrFhss(cr) => Ok(*cr),
            other => Err(DatrError::CodingRate(other.as_str().into())),
        }
    }
}

impl From<LoraCodingRate> for CodingRate {
    fn from(cr: LoraCodingRate) -> Self {
        Self::Lora(cr)
    }
}

impl From<LrFhssCodingRate> for CodingRate {
    fn from(cr: LrFhssCodingRate) -> Self {
        Self::LrFhss(cr)
    }
}

impl Serialize for CodingRate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CodingRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Self::parse(&s))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn datr_strings_parse_to_typed_rates() {
        let cases = [
            (
                "SF7BW125",
                DataRate::Lora {
                    spreading_factor: 7,
                    bandwidth: 125_000,
                },
            ),
            (
                "SF12BW500",
                DataRate::Lora {
                    spreading_factor: 12,
                    bandwidth: 500_000,
                },
            ),
            (
                "SF5BW812",
                DataRate::Lora {
                    spreading_factor: 5,
                    bandwidth: 812_500,
                },
            ),
            (
                "SF12BW1625",
                DataRate::Lora {
                    spreading_factor: 12,
                    bandwidth: 1_625_000,
                },
            ),
            (
                "M0CW137",
                DataRate::LrFhss {
                    occupied_channel_width: 137_000,
                },
            ),
            (
                "M0CW1523",
                DataRate::LrFhss {
                    occupied_channel_width: 1_523_000,
                },
            ),
        ];
        for (text, dr) in cases {
            assert_eq!(text.parse::<DataRate>(), Ok(dr), "{text}");
            assert_eq!(dr.to_string(), text);
        }
    }

    #[test]
    fn fsk_datr_is_a_json_number() {
        let dr: DataRate = serde_json::from_str("50000").unwrap();
        assert_eq!(dr, DataRate::Fsk { bitrate: 50_000 });
        assert_eq!(serde_json::to_string(&dr).unwrap(), "50000");
    }

    #[test]
    fn malformed_datr_is_rejected_with_its_text() {
        for bad in [
            "SF7",
            "SF7BW",
            "SFBW125",
            "SF7BW12x",
            "sf7bw125",
            "M0CW",
            "",
            "SF+7BW125",
        ] {
            assert_eq!(
                bad.parse::<DataRate>(),
                Err(DatrError::Malformed(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            "SF13BW125".parse::<DataRate>(),
            Err(DatrError::SpreadingFactor("SF13BW125".into()))
        );
        assert_eq!(
            "SF7BW0".parse::<DataRate>(),
            Err(DatrError::Bandwidth("SF7BW0".into()))
        );
        assert_eq!(
            "SF7BW99999999".parse::<DataRate>(),
            Err(DatrError::Bandwidth("SF7BW99999999".into()))
        );
        let e = serde_json::from_str::<DataRate>("-1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("datr"), "{e}");
        let e = serde_json::from_str::<DataRate>("5e4")
            .unwrap_err()
            .to_string();
        assert!(e.contains("datr"), "{e}");
    }

    #[test]
    fn codr_aliases_resolve_per_modulation() {
        assert_eq!(
            CodingRate::parse("4/8LI"),
            CodingRate::Lora(LoraCodingRate::Cr4_8Li)
        );
        assert_eq!(CodingRate::parse("2/3").lora(), Ok(LoraCodingRate::Cr4_6));
        assert_eq!(
            CodingRate::parse("2/3").lr_fhss(),
            Ok(LrFhssCodingRate::Cr2_3)
        );
        assert_eq!(CodingRate::parse("1/2").lora(), Ok(LoraCodingRate::Cr4_8));
        assert_eq!(
            CodingRate::parse("2/4"),
            CodingRate::Lora(LoraCodingRate::Cr4_8)
        );
        assert_eq!(CodingRate::parse("OFF"), CodingRate::Other("OFF".into()));
        assert!(CodingRate::parse("OFF").lora().is_err());
    }
}
