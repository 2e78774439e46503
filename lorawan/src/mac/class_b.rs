//! Payloads of the class B commands (TS001 1.0.4 §13 and LoRaWAN 1.1 class B),
//! CIDs 0x10 to 0x13.
//!
//! BeaconTimingReq/Ans (CID 0x12) were deprecated in LoRaWAN 1.0.3 in favour of
//! DeviceTimeReq, but older devices still send them, so they are kept.

use super::error::{DecodeError, EncodeError};
use super::wire::{bits, fixed_payload, flag, flags, frequency_from_bytes, frequency_to_bytes};

/// PingSlotInfoReq (uplink, CID 0x10): the device tells the network its ping-slot
/// periodicity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PingSlotInfoReq {
    /// Periodicity (3 bits): one ping slot every 2^Periodicity seconds.
    pub periodicity: u8,
}

impl PingSlotInfoReq {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [b0] = *b;
        Ok(Self {
            periodicity: b0 & 0x07,
        })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok([bits("Periodicity", self.periodicity, 3)?])
    }
}

/// PingSlotChannelReq (downlink, CID 0x11): sets the ping-slot frequency and data rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PingSlotChannelReq {
    /// Frequency in Hz (a multiple of 100 Hz); 0 restores the region's default.
    pub frequency: u32,
    /// DR (4 bits): the ping-slot data rate.
    pub data_rate: u8,
}

impl PingSlotChannelReq {
    fn from_bytes(b: &[u8; 4]) -> Result<Self, DecodeError> {
        let [f0, f1, f2, dr] = *b;
        Ok(Self {
            frequency: frequency_from_bytes([f0, f1, f2]),
            data_rate: dr & 0x0f,
        })
    }
    fn to_bytes(self) -> Result<[u8; 4], EncodeError> {
        let [f0, f1, f2] = frequency_to_bytes("Frequency", self.frequency)?;
        Ok([f0, f1, f2, bits("DR", self.data_rate, 4)?])
    }
}

/// PingSlotChannelAns (uplink, CID 0x11): whether the device accepted a
/// PingSlotChannelReq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PingSlotChannelAns {
    /// Data rate ok (bit 1).
    pub data_rate_ok: bool,
    /// Channel frequency ok (bit 0).
    pub channel_frequency_ok: bool,
}

impl PingSlotChannelAns {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [s] = *b;
        Ok(Self {
            data_rate_ok: flag(s, 1),
            channel_frequency_ok: flag(s, 0),
        })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok([flags([
            (self.data_rate_ok, 1),
            (self.channel_frequency_ok, 0),
        ])])
    }
}

/// BeaconTimingAns (downlink, CID 0x12, deprecated since LoRaWAN 1.0.3): when the
/// next beacon comes and on which channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BeaconTimingAns {
    /// Delay: the next beacon starts between 30 ms × Delay and 30 ms × (Delay + 1)
    /// after the end of the downlink.
    pub delay: u16,
    /// Channel: the index of the channel the next beacon is sent on.
    pub channel: u8,
}

impl BeaconTimingAns {
    fn from_bytes(b: &[u8; 3]) -> Result<Self, DecodeError> {
        let [d0, d1, channel] = *b;
        Ok(Self {
            delay: u16::from_le_bytes([d0, d1]),
            channel,
        })
    }
    fn to_bytes(self) -> Result<[u8; 3], EncodeError> {
        let [d0, d1] = self.delay.to_le_bytes();
        Ok([d0, d1, self.channel])
    }
}

/// BeaconFreqReq (downlink, CID 0x13): sets the frequency the device listens for
/// beacons on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BeaconFreqReq {
    /// Frequency in Hz (a multiple of 100 Hz); 0 restores the region's default.
    pub frequency: u32,
}

impl BeaconFreqReq {
    fn from_bytes(b: &[u8; 3]) -> Result<Self, DecodeError> {
        Ok(Self {
            frequency: frequency_from_bytes(*b),
        })
    }
    fn to_bytes(self) -> Result<[u8; 3], EncodeError> {
        frequency_to_bytes("Frequency", self.frequency)
    }
}

/// BeaconFreqAns (uplink, CID 0x13): whether the device accepted a BeaconFreqReq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BeaconFreqAns {
    /// Beacon frequency ok (bit 0).
    pub beacon_frequency_ok: bool,
}

impl BeaconFreqAns {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [s] = *b;
        Ok(Self {
            beacon_frequency_ok: flag(s, 0),
        })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok([flags([(self.beacon_frequency_ok, 0)])])
    }
}

fixed_payload! {
    PingSlotInfoReq => 1,
    PingSlotChannelReq => 4,
    PingSlotChannelAns => 1,
    BeaconTimingAns => 3,
    BeaconFreqReq => 3,
    BeaconFreqAns => 1,
}
