//! Regional parameters (LoRaWAN RP002-1.0.0 to 1.0.4, and the older 1.0.2rB /
//! 1.1rA/rB tables where they differ) as data: data rates, payload limits, RX1
//! rules, channel plans, TX power, class B beacons, duty cycle.
//!
//! [`params`] returns the static table of a region at a revision. The revision is
//! a parameter, not a code fork: tables that did not change share one definition.

mod channel_mask;
#[cfg(feature = "alloc")]
mod config;
mod dynamic;
mod fixed;
mod functions;

pub use channel_mask::{AdrSettings, ChMaskBlock, ChMaskError, ChannelSet, DeviceChannels};
pub use fixed::{Cn470JoinChannel, Cn470Plan};

#[cfg(feature = "alloc")]
pub use config::{ConfigError, ExtraChannel, Network, NetworkConfig, RegionConfig};

use crate::modulation::Modulation;

/// A region, by the common name of the Regional Parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Region {
    /// EU 863–870 MHz.
    Eu868,
    /// US 902–928 MHz.
    Us915,
    /// China 779–787 MHz.
    Cn779,
    /// EU 433 MHz.
    Eu433,
    /// Australia 915–928 MHz.
    Au915,
    /// China 470–510 MHz.
    Cn470,
    /// AS923 group 1 (923.2/923.4 MHz default channels).
    As923_1,
    /// AS923 group 2 (−1.8 MHz offset).
    As923_2,
    /// AS923 group 3 (−6.6 MHz offset).
    As923_3,
    /// AS923 group 4 (−5.9 MHz offset).
    As923_4,
    /// South Korea 920–923 MHz.
    Kr920,
    /// India 865–867 MHz.
    In865,
    /// Russia 864–870 MHz.
    Ru864,
    /// 2.4 GHz ISM band (LoRa 2.4 GHz).
    Ism2400,
}

impl Region {
    /// Every region.
    pub const ALL: [Self; 14] = [
        Self::Eu868,
        Self::Us915,
        Self::Cn779,
        Self::Eu433,
        Self::Au915,
        Self::Cn470,
        Self::As923_1,
        Self::As923_2,
        Self::As923_3,
        Self::As923_4,
        Self::Kr920,
        Self::In865,
        Self::Ru864,
        Self::Ism2400,
    ];

    /// The common name as the Regional Parameters write it: `EU868`, `AS923-1`, ….
    pub const fn common_name(self) -> &'static str {
        match self {
            Self::Eu868 => "EU868",
            Self::Us915 => "US915",
            Self::Cn779 => "CN779",
            Self::Eu433 => "EU433",
            Self::Au915 => "AU915",
            Self::Cn470 => "CN470",
            Self::As923_1 => "AS923-1",
            Self::As923_2 => "AS923-2",
            Self::As923_3 => "AS923-3",
            Self::As923_4 => "AS923-4",
            Self::Kr920 => "KR920",
            Self::In865 => "IN865",
            Self::Ru864 => "RU864",
            Self::Ism2400 => "ISM2400",
        }
    }

    /// The outer edges of the region's band in Hz, inclusive. National rules may
    /// be narrower (AS923 groups, RU864 sub-bands).
    pub const fn band(self) -> (u32, u32) {
        match self {
            Self::Eu868 => (863_000_000, 870_000_000),
            Self::Us915 => (902_000_000, 928_000_000),
            Self::Cn779 => (779_000_000, 787_000_000),
            Self::Eu433 => (433_175_000, 434_665_000),
            Self::Au915 => (915_000_000, 928_000_000),
            Self::Cn470 => (470_000_000, 510_000_000),
            Self::As923_1 | Self::As923_2 | Self::As923_3 | Self::As923_4 => {
                (915_000_000, 928_000_000)
            }
            Self::Kr920 => (920_900_000, 923_300_000),
            Self::In865 => (865_000_000, 867_000_000),
            Self::Ru864 => (864_000_000, 870_000_000),
            Self::Ism2400 => (2_400_000_000, 2_483_500_000),
        }
    }

    /// Whether the region has a fixed channel grid (US915, AU915, CN470) rather
    /// than channels defined by frequency.
    pub const fn has_fixed_channel_plan(self) -> bool {
        matches!(self, Self::Us915 | Self::Au915 | Self::Cn470)
    }
}

impl core::fmt::Display for Region {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.common_name())
    }
}

/// A region or revision name that is not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegionError {
    /// Not a region common name.
    #[error(
        "unknown region (expected one of EU868, US915, CN779, EU433, AU915, CN470, AS923-1..4, KR920, IN865, RU864, ISM2400)"
    )]
    UnknownRegion,
    /// Not a Regional Parameters revision.
    #[error("unknown regional parameters revision (expected A, B or RP002-1.0.0 .. RP002-1.0.4)")]
    UnknownRevision,
}

impl core::str::FromStr for Region {
    type Err = RegionError;
    /// Accepts the common names in any case, with `-` or `_`, and `AS923` for
    /// `AS923-1` (as ChirpStack names it).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut norm = [0u8; 8];
        let bytes = s.as_bytes();
        if bytes.len() > norm.len() {
            return Err(RegionError::UnknownRegion);
        }
        for (n, b) in norm.iter_mut().zip(bytes) {
            *n = match b.to_ascii_uppercase() {
                b'_' => b'-',
                c => c,
            };
        }
        let norm = &norm[..bytes.len()];
        if norm == b"AS923" {
            return Ok(Self::As923_1);
        }
        Self::ALL
            .into_iter()
            .find(|r| r.common_name().as_bytes() == norm)
            .ok_or(RegionError::UnknownRegion)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Region {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(FromStrVisitor(core::marker::PhantomData))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.common_name())
    }
}

/// A revision of the Regional Parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Revision {
    /// Revision A of the Regional Parameters of the device's MAC version
    /// (LoRaWAN 1.1rA; ChirpStack's `A`).
    A,
    /// Revision B (LoRaWAN 1.0.2rB, 1.1rB; ChirpStack's `B`).
    B,
    /// RP002-1.0.0.
    Rp002_1_0_0,
    /// RP002-1.0.1.
    Rp002_1_0_1,
    /// RP002-1.0.2.
    Rp002_1_0_2,
    /// RP002-1.0.3.
    Rp002_1_0_3,
    /// RP002-1.0.4.
    Rp002_1_0_4,
}

impl Revision {
    /// The newest revision this crate knows.
    pub const LATEST: Self = Self::Rp002_1_0_4;

    /// Every revision, oldest first.
    pub const ALL: [Self; 7] = [
        Self::A,
        Self::B,
        Self::Rp002_1_0_0,
        Self::Rp002_1_0_1,
        Self::Rp002_1_0_2,
        Self::Rp002_1_0_3,
        Self::Rp002_1_0_4,
    ];

    /// The name: `A`, `B`, `RP002-1.0.0`, ….
    pub const fn name(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::B => "B",
            Self::Rp002_1_0_0 => "RP002-1.0.0",
            Self::Rp002_1_0_1 => "RP002-1.0.1",
            Self::Rp002_1_0_2 => "RP002-1.0.2",
            Self::Rp002_1_0_3 => "RP002-1.0.3",
            Self::Rp002_1_0_4 => "RP002-1.0.4",
        }
    }
}

impl core::fmt::Display for Revision {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for Revision {
    type Err = RegionError;
    /// Accepts the names of [`Revision::name`] and ChirpStack's `RP002_1_0_x`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| {
                let name = r.name().as_bytes();
                name.len() == s.len()
                    && name.iter().zip(s.bytes()).all(|(a, b)| {
                        a.eq_ignore_ascii_case(&b) || (*a == b'-' || *a == b'.') && b == b'_'
                    })
            })
            .ok_or(RegionError::UnknownRevision)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Revision {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(FromStrVisitor(core::marker::PhantomData))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Revision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Deserializes any `FromStr` type from a string, borrowed or not.
#[cfg(feature = "serde")]
struct FromStrVisitor<T>(core::marker::PhantomData<T>);

#[cfg(feature = "serde")]
impl<T> serde::de::Visitor<'_> for FromStrVisitor<T>
where
    T: core::str::FromStr,
    T::Err: core::fmt::Display,
{
    type Value = T;
    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a name")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

/// One entry of a data-rate table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataRate {
    /// The modulation and its rate parameters.
    pub modulation: Modulation,
    /// Whether devices may send uplinks at this rate.
    pub uplink: bool,
    /// Whether the network may send downlinks at this rate.
    pub downlink: bool,
}

/// The maximum payload sizes of a data rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaxPayload {
    /// M: the maximum MACPayload length.
    pub m: u8,
    /// N: the maximum FRMPayload length when FOpts is empty (M − 8).
    pub n: u8,
}

/// An uplink or downlink channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Channel {
    /// Centre frequency in Hz.
    pub frequency: u32,
    /// Lowest data rate allowed on the channel.
    pub min_dr: u8,
    /// Highest data rate allowed on the channel.
    pub max_dr: u8,
}

/// A regular grid of channels: `count` channels from `first_frequency` every `step` Hz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelGrid {
    /// Frequency of channel 0 of the grid, in Hz.
    pub first_frequency: u32,
    /// Spacing in Hz.
    pub step: u32,
    /// Number of channels.
    pub count: u8,
    /// Lowest data rate of the grid's channels.
    pub min_dr: u8,
    /// Highest data rate of the grid's channels.
    pub max_dr: u8,
}

impl ChannelGrid {
    /// Channel `i` of the grid, if it has one.
    pub fn channel(&self, i: usize) -> Option<Channel> {
        (i < usize::from(self.count)).then(|| Channel {
            frequency: self.first_frequency + self.step * i as u32,
            min_dr: self.min_dr,
            max_dr: self.max_dr,
        })
    }
}

/// How a region defines its channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelPlan {
    /// Channels defined by frequency (NewChannelReq, CFList type 0): the default
    /// channels, which a network cannot change, and room for more.
    Dynamic {
        /// The default (and join) channels.
        default_channels: &'static [Channel],
        /// The most channels a device holds (16).
        max_channels: u8,
    },
    /// A fixed grid (US915, AU915, CN470): uplink channels are switched on and off
    /// by mask (LinkADRReq, CFList type 1), and RX1 uses the downlink channel of
    /// `uplink channel % downlink.count`.
    Fixed {
        /// Uplink channels 0.. (125 kHz in US915/AU915).
        uplink: ChannelGrid,
        /// The 500 kHz uplink channels that follow (channels 64–71 in US915/AU915).
        uplink_wide: Option<ChannelGrid>,
        /// Downlink channels.
        downlink: ChannelGrid,
        /// A second group of uplink channels whose indices follow `uplink` (and
        /// `uplink_wide`): channels 32–63 of the CN470 RP002 20 MHz plans.
        uplink_group2: Option<ChannelGrid>,
        /// A second group of downlink channels whose indices follow `downlink`
        /// (CN470 RP002 20 MHz type B); RX1 then counts over both groups.
        downlink_group2: Option<ChannelGrid>,
    },
}

/// How the frequency of a class B beacon or ping slot is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BeaconFrequency {
    /// One frequency, in Hz.
    Fixed(u32),
    /// Hopping over `count` channels from `first_frequency` every `step` Hz; the
    /// channel is chosen from the beacon time (beacons) or the beacon time and
    /// DevAddr (ping slots).
    Hopping {
        /// Frequency of channel 0, Hz.
        first_frequency: u32,
        /// Spacing, Hz.
        step: u32,
        /// Number of channels.
        count: u8,
    },
}

/// Class B beacon and ping-slot defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClassB {
    /// Data rate of the beacon.
    pub beacon_dr: u8,
    /// Frequency of the beacon.
    pub beacon_frequency: BeaconFrequency,
    /// Default data rate of ping slots.
    pub ping_slot_dr: u8,
    /// Default frequency of ping slots.
    pub ping_slot_frequency: BeaconFrequency,
}

/// A sub-band with a duty-cycle limit (ETSI EN 300 220 in EU868).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DutyCycleBand {
    /// Lowest frequency of the band, Hz (inclusive).
    pub min_frequency: u32,
    /// Highest frequency of the band, Hz (inclusive).
    pub max_frequency: u32,
    /// The limit in parts per ten thousand (1 % = 100, 0.1 % = 10).
    pub max_duty_cycle_ppm10k: u16,
}

/// The parameters of one region at one revision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionParams {
    /// The region.
    pub region: Region,
    /// The revision these tables come from.
    pub revision: Revision,
    /// Data rates by index; `None` for RFU indices.
    pub data_rates: &'static [Option<DataRate>],
    /// Maximum payload sizes by data rate without dwell-time limits (`None`
    /// where the data rate is not defined).
    pub max_payload: &'static [Option<MaxPayload>],
    /// Maximum payload sizes when the 400 ms dwell-time limit applies (AS923,
    /// AU915 uplinks); `None` if the region has no such table.
    pub max_payload_dwell_time: Option<&'static [Option<MaxPayload>]>,
    /// Repeater-compatible maximum payload sizes where the region defines them.
    pub max_payload_repeater: Option<&'static [Option<MaxPayload>]>,
    /// RX1 data rate by `[uplink DR][RX1DROffset]`; `None` where not allowed.
    pub rx1_dr: &'static [&'static [Option<u8>]],
    /// RX1 data rate when the downlink dwell-time limit applies (AS923); `None`
    /// if the region has no such table.
    pub rx1_dr_dwell_time: Option<&'static [&'static [Option<u8>]]>,
    /// TX power offsets in dB from MaxEIRP by TXPower index (0, −2, −4, …).
    pub tx_power_offsets: &'static [Option<i8>],
    /// Default MaxEIRP in dBm.
    pub default_max_eirp: f32,
    /// The channel plan.
    pub channel_plan: ChannelPlan,
    /// Default RX2 frequency, Hz.
    pub rx2_frequency: u32,
    /// Default RX2 data rate.
    pub rx2_dr: u8,
    /// Class B defaults, where the region defines class B.
    pub class_b: Option<ClassB>,
    /// Duty-cycle sub-bands (empty where the region has none).
    pub duty_cycle_bands: &'static [DutyCycleBand],
    /// Whether dwell-time limits apply by default at join (AS923 before the
    /// network sends TXParamSetupReq).
    pub default_dwell_time: bool,
    /// Whether devices implement TXParamSetupReq in this region.
    pub tx_param_setup: bool,
}

/// The MAC-layer timing defaults shared by every region (RP002 §3, "Default
/// settings").
pub mod timing {
    /// RECEIVE_DELAY1, seconds.
    pub const RECEIVE_DELAY1: u32 = 1;
    /// RECEIVE_DELAY2, seconds (RECEIVE_DELAY1 + 1).
    pub const RECEIVE_DELAY2: u32 = 2;
    /// JOIN_ACCEPT_DELAY1, seconds.
    pub const JOIN_ACCEPT_DELAY1: u32 = 5;
    /// JOIN_ACCEPT_DELAY2, seconds.
    pub const JOIN_ACCEPT_DELAY2: u32 = 6;
    /// ADR_ACK_LIMIT, uplinks.
    pub const ADR_ACK_LIMIT: u32 = 64;
    /// ADR_ACK_DELAY, uplinks.
    pub const ADR_ACK_DELAY: u32 = 32;
    /// RETRANSMIT_TIMEOUT, milliseconds (2 s ± 1 s).
    pub const RETRANSMIT_TIMEOUT_MS: (u32, u32) = (1000, 3000);
    /// MAX_FCNT_GAP of LoRaWAN 1.0.x (removed in 1.0.4 and 1.1).
    pub const MAX_FCNT_GAP: u32 = 16384;
}

/// The tables of `region` at `revision`.
pub fn params(region: Region, revision: Revision) -> &'static RegionParams {
    if region.has_fixed_channel_plan() {
        fixed::params(region, revision)
    } else {
        dynamic::params(region, revision)
    }
}
