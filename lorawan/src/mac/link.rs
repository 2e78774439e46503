//! Payloads of the link-layer commands of LoRaWAN 1.0.4 and 1.1 (TS001 §5), CIDs
//! 0x01 to 0x0F and 0x20.
//!
//! Multi-byte fields are little-endian on the wire; RFU bits are written as zero
//! and ignored when read.

use super::error::{DecodeError, EncodeError};
use super::wire::{
    bits, fixed_payload, flag, flags, frequency_from_bytes, frequency_to_bytes, range,
};

/// Payload of a ResetInd, RekeyInd, ResetConf or RekeyConf: one byte whose low
/// four bits are the LoRaWAN minor version.
macro_rules! version_payload {
    ($($(#[$doc:meta])* $name:ident, $who:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize))]
        pub struct $name {
            #[doc = concat!("Minor version of LoRaWAN the ", $who, " implements (4 bits): 1 for")]
            /// LoRaWAN 1.1; 0 and 2 to 15 are RFU but carried as they are, so that a
            /// peer of a later version can be answered.
            pub minor: u8,
        }

        impl $name {
            fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
                let [b0] = *b;
                Ok(Self { minor: b0 & 0x0f })
            }
            fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
                Ok([bits("Minor", self.minor, 4)?])
            }
        }

        fixed_payload!($name => 1);
    )*};
}

version_payload! {
    /// ResetInd (uplink, CID 0x01): a LoRaWAN 1.1 ABP device has reset.
    ResetInd, "device";
    /// ResetConf (downlink, CID 0x01): the answer to a ResetInd.
    ResetConf, "network server";
    /// RekeyInd (uplink, CID 0x0B): a LoRaWAN 1.1 OTAA device confirms its new
    /// session keys.
    RekeyInd, "device";
    /// RekeyConf (downlink, CID 0x0B): the answer to a RekeyInd.
    RekeyConf, "network server";
}

/// LinkCheckAns (downlink, CID 0x02): the answer to a LinkCheckReq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LinkCheckAns {
    /// Margin: the link margin in dB of the last LinkCheckReq, above the
    /// demodulation floor (0 to 254; 255 is reserved).
    pub margin: u8,
    /// GwCnt: how many gateways received the LinkCheckReq.
    pub gw_cnt: u8,
}

impl LinkCheckAns {
    fn from_bytes(b: &[u8; 2]) -> Result<Self, DecodeError> {
        let [margin, gw_cnt] = *b;
        Ok(Self { margin, gw_cnt })
    }
    fn to_bytes(self) -> Result<[u8; 2], EncodeError> {
        Ok([self.margin, self.gw_cnt])
    }
}

/// The ChMask of a LinkADRReq: bit `n` enables channel `n` of the 16-channel block
/// that ChMaskCntl selects.
///
/// ```
/// use lorawan::mac::ChMask;
/// let mask = ChMask(0x0007);
/// assert!(mask.is_enabled(2));
/// assert!(!mask.is_enabled(3));
/// assert_eq!(mask.with_channel(3, true), ChMask(0x000f));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ChMask(pub u16);

impl ChMask {
    /// Whether channel `ch` (0 to 15) is enabled; `false` for any other index.
    pub const fn is_enabled(self, ch: u8) -> bool {
        ch < 16 && self.0 & (1 << ch) != 0
    }

    /// The mask with channel `ch` (0 to 15) set or cleared; other indexes leave it
    /// unchanged.
    #[must_use]
    pub const fn with_channel(self, ch: u8, enabled: bool) -> Self {
        if ch >= 16 {
            return self;
        }
        if enabled {
            Self(self.0 | (1 << ch))
        } else {
            Self(self.0 & !(1 << ch))
        }
    }
}

/// LinkADRReq (downlink, CID 0x03): asks the device to change its data rate,
/// transmit power, repetitions and channel mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LinkAdrReq {
    /// DataRate (4 bits): the region's data-rate index; 15 keeps the current one (1.0.4, 1.1).
    pub data_rate: u8,
    /// TXPower (4 bits): the region's power index; 15 keeps the current one (1.0.4, 1.1).
    pub tx_power: u8,
    /// ChMask: the channels to enable in the block ChMaskCntl selects.
    pub ch_mask: ChMask,
    /// ChMaskCntl (3 bits): how the region applies ChMask.
    pub ch_mask_cntl: u8,
    /// NbTrans (4 bits): transmissions of each unconfirmed uplink; 0 keeps the current value.
    pub nb_trans: u8,
}

impl LinkAdrReq {
    fn from_bytes(b: &[u8; 4]) -> Result<Self, DecodeError> {
        let [dr_power, m0, m1, redundancy] = *b;
        Ok(Self {
            data_rate: dr_power >> 4,
            tx_power: dr_power & 0x0f,
            ch_mask: ChMask(u16::from_le_bytes([m0, m1])),
            ch_mask_cntl: (redundancy >> 4) & 0x07,
            nb_trans: redundancy & 0x0f,
        })
    }
    fn to_bytes(self) -> Result<[u8; 4], EncodeError> {
        let dr_power =
            bits("DataRate", self.data_rate, 4)? << 4 | bits("TXPower", self.tx_power, 4)?;
        let redundancy =
            bits("ChMaskCntl", self.ch_mask_cntl, 3)? << 4 | bits("NbTrans", self.nb_trans, 4)?;
        let [m0, m1] = self.ch_mask.0.to_le_bytes();
        Ok([dr_power, m0, m1, redundancy])
    }
}

/// LinkADRAns (uplink, CID 0x03): which parts of a LinkADRReq the device accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LinkAdrAns {
    /// Power ACK (bit 2).
    pub power_ack: bool,
    /// Data rate ACK (bit 1).
    pub data_rate_ack: bool,
    /// Channel mask ACK (bit 0).
    pub channel_mask_ack: bool,
}

impl LinkAdrAns {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [s] = *b;
        Ok(Self {
            power_ack: flag(s, 2),
            data_rate_ack: flag(s, 1),
            channel_mask_ack: flag(s, 0),
        })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok([flags([
            (self.power_ack, 2),
            (self.data_rate_ack, 1),
            (self.channel_mask_ack, 0),
        ])])
    }
}

/// DutyCycleReq (downlink, CID 0x04): limits the device's aggregated duty cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DutyCycleReq {
    /// MaxDutyCycle (4 bits): the aggregated duty cycle becomes 1 / 2^MaxDutyCycle;
    /// 0 lifts the limit.
    pub max_duty_cycle: u8,
}

impl DutyCycleReq {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [b0] = *b;
        Ok(Self {
            max_duty_cycle: b0 & 0x0f,
        })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok([bits("MaxDutyCycle", self.max_duty_cycle, 4)?])
    }
}

/// RXParamSetupReq (downlink, CID 0x05): changes the RX1 data-rate offset and the
/// RX2 data rate and frequency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RxParamSetupReq {
    /// DLSettings RX1DRoffset (3 bits).
    pub rx1_dr_offset: u8,
    /// DLSettings RX2DataRate (4 bits).
    pub rx2_data_rate: u8,
    /// Frequency of RX2, in Hz (a multiple of 100 Hz, at most 1 677 721 500 Hz).
    pub frequency: u32,
}

impl RxParamSetupReq {
    fn from_bytes(b: &[u8; 4]) -> Result<Self, DecodeError> {
        let [dl_settings, f0, f1, f2] = *b;
        Ok(Self {
            rx1_dr_offset: (dl_settings >> 4) & 0x07,
            rx2_data_rate: dl_settings & 0x0f,
            frequency: frequency_from_bytes([f0, f1, f2]),
        })
    }
    fn to_bytes(self) -> Result<[u8; 4], EncodeError> {
        let dl_settings = bits("RX1DRoffset", self.rx1_dr_offset, 3)? << 4
            | bits("RX2DataRate", self.rx2_data_rate, 4)?;
        let [f0, f1, f2] = frequency_to_bytes("Frequency", self.frequency)?;
        Ok([dl_settings, f0, f1, f2])
    }
}

/// RXParamSetupAns (uplink, CID 0x05): which parts of an RXParamSetupReq the device
/// accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RxParamSetupAns {
    /// RX1DRoffset ACK (bit 2).
    pub rx1_dr_offset_ack: bool,
    /// RX2 Data rate ACK (bit 1).
    pub rx2_data_rate_ack: bool,
    /// Channel ACK (bit 0).
    pub channel_ack: bool,
}

impl RxParamSetupAns {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [s] = *b;
        Ok(Self {
            rx1_dr_offset_ack: flag(s, 2),
            rx2_data_rate_ack: flag(s, 1),
            channel_ack: flag(s, 0),
        })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok([flags([
            (self.rx1_dr_offset_ack, 2),
            (self.rx2_data_rate_ack, 1),
            (self.channel_ack, 0),
        ])])
    }
}

/// DevStatusAns (uplink, CID 0x06): the device's battery level and downlink margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DevStatusAns {
    /// Battery: 0 on external power, 1 (minimum) to 254 (maximum) the battery
    /// level, 255 when the device cannot measure it.
    pub battery: u8,
    /// Margin: SNR in dB of the last DevStatusReq, -32 to 31 (6-bit two's complement).
    pub margin: i8,
}

impl DevStatusAns {
    fn from_bytes(b: &[u8; 2]) -> Result<Self, DecodeError> {
        let [battery, m] = *b;
        // Sign-extend the six-bit field; the two RFU bits shift out.
        Ok(Self {
            battery,
            margin: ((m << 2) as i8) >> 2,
        })
    }
    fn to_bytes(self) -> Result<[u8; 2], EncodeError> {
        range("Margin", self.margin.into(), -32, 31)?;
        Ok([self.battery, (self.margin as u8) & 0x3f])
    }
}

/// NewChannelReq (downlink, CID 0x07): creates, changes or (with frequency 0)
/// disables an uplink channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NewChannelReq {
    /// ChIndex: the channel to set.
    pub ch_index: u8,
    /// Freq in Hz (a multiple of 100 Hz); 0 disables the channel.
    pub frequency: u32,
    /// DrRange MaxDR (4 bits).
    pub max_dr: u8,
    /// DrRange MinDR (4 bits).
    pub min_dr: u8,
}

impl NewChannelReq {
    fn from_bytes(b: &[u8; 5]) -> Result<Self, DecodeError> {
        let [ch_index, f0, f1, f2, dr_range] = *b;
        Ok(Self {
            ch_index,
            frequency: frequency_from_bytes([f0, f1, f2]),
            max_dr: dr_range >> 4,
            min_dr: dr_range & 0x0f,
        })
    }
    fn to_bytes(self) -> Result<[u8; 5], EncodeError> {
        let [f0, f1, f2] = frequency_to_bytes("Freq", self.frequency)?;
        let dr_range = bits("MaxDR", self.max_dr, 4)? << 4 | bits("MinDR", self.min_dr, 4)?;
        Ok([self.ch_index, f0, f1, f2, dr_range])
    }
}

/// NewChannelAns (uplink, CID 0x07): whether the device accepted a NewChannelReq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NewChannelAns {
    /// Data rate range ok (bit 1).
    pub data_rate_range_ok: bool,
    /// Channel frequency ok (bit 0).
    pub channel_frequency_ok: bool,
}

impl NewChannelAns {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [s] = *b;
        Ok(Self {
            data_rate_range_ok: flag(s, 1),
            channel_frequency_ok: flag(s, 0),
        })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok([flags([
            (self.data_rate_range_ok, 1),
            (self.channel_frequency_ok, 0),
        ])])
    }
}

/// RXTimingSetupReq (downlink, CID 0x08): sets the delay between the end of an
/// uplink and the opening of RX1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RxTimingSetupReq {
    /// Del (4 bits): RX1 opens this many seconds after the uplink; 0 also means 1 s.
    pub delay: u8,
}

impl RxTimingSetupReq {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [b0] = *b;
        Ok(Self { delay: b0 & 0x0f })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok([bits("Del", self.delay, 4)?])
    }
}

/// TXParamSetupReq (downlink, CID 0x09): dwell-time limits and the maximum EIRP,
/// for regions that require them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TxParamSetupReq {
    /// DownlinkDwellTime (bit 5): whether downlinks are limited to 400 ms.
    pub downlink_dwell_time: bool,
    /// UplinkDwellTime (bit 4): whether uplinks are limited to 400 ms.
    pub uplink_dwell_time: bool,
    /// MaxEIRP (4 bits): an index into the table of [`max_eirp_dbm`](Self::max_eirp_dbm).
    pub max_eirp: u8,
}

/// MaxEIRP index to dBm (TS001 1.0.4 and 1.1, TXParamSetupReq).
const MAX_EIRP_DBM: [u8; 16] = [
    8, 10, 12, 13, 14, 16, 18, 20, 21, 24, 26, 27, 29, 30, 33, 36,
];

impl TxParamSetupReq {
    /// The maximum EIRP in dBm that `max_eirp` encodes, or `None` if it does not fit
    /// its four bits.
    pub fn max_eirp_dbm(&self) -> Option<u8> {
        MAX_EIRP_DBM.get(usize::from(self.max_eirp)).copied()
    }

    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [b0] = *b;
        Ok(Self {
            downlink_dwell_time: flag(b0, 5),
            uplink_dwell_time: flag(b0, 4),
            max_eirp: b0 & 0x0f,
        })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        let dwell = flags([(self.downlink_dwell_time, 5), (self.uplink_dwell_time, 4)]);
        Ok([dwell | bits("MaxEIRP", self.max_eirp, 4)?])
    }
}

/// DlChannelReq (downlink, CID 0x0A): moves the RX1 frequency of an uplink channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DlChannelReq {
    /// ChIndex: the uplink channel whose downlink frequency changes.
    pub ch_index: u8,
    /// Freq: the RX1 frequency in Hz (a multiple of 100 Hz).
    pub frequency: u32,
}

impl DlChannelReq {
    fn from_bytes(b: &[u8; 4]) -> Result<Self, DecodeError> {
        let [ch_index, f0, f1, f2] = *b;
        Ok(Self {
            ch_index,
            frequency: frequency_from_bytes([f0, f1, f2]),
        })
    }
    fn to_bytes(self) -> Result<[u8; 4], EncodeError> {
        let [f0, f1, f2] = frequency_to_bytes("Freq", self.frequency)?;
        Ok([self.ch_index, f0, f1, f2])
    }
}

/// DlChannelAns (uplink, CID 0x0A): whether the device accepted a DlChannelReq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DlChannelAns {
    /// Uplink frequency exists (bit 1).
    pub uplink_frequency_exists: bool,
    /// Channel frequency ok (bit 0).
    pub channel_frequency_ok: bool,
}

impl DlChannelAns {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [s] = *b;
        Ok(Self {
            uplink_frequency_exists: flag(s, 1),
            channel_frequency_ok: flag(s, 0),
        })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok([flags([
            (self.uplink_frequency_exists, 1),
            (self.channel_frequency_ok, 0),
        ])])
    }
}

/// ADRParamSetupReq (downlink, CID 0x0C): the ADR back-off parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AdrParamSetupReq {
    /// Limit_exp (4 bits): ADR_ACK_LIMIT becomes 2^Limit_exp.
    pub limit_exp: u8,
    /// Delay_exp (4 bits): ADR_ACK_DELAY becomes 2^Delay_exp.
    pub delay_exp: u8,
}

impl AdrParamSetupReq {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [b0] = *b;
        Ok(Self {
            limit_exp: b0 >> 4,
            delay_exp: b0 & 0x0f,
        })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok([bits("Limit_exp", self.limit_exp, 4)? << 4 | bits("Delay_exp", self.delay_exp, 4)?])
    }
}

/// DeviceTimeAns (downlink, CID 0x0D): the network's time at the end of the
/// uplink that carried the DeviceTimeReq.
///
/// ```
/// use lorawan::mac::DeviceTimeAns;
/// let t = DeviceTimeAns { seconds: 1_000_000_000, fractional_second: 128 };
/// assert_eq!(t.since_gps_epoch().as_millis(), 1_000_000_000_500);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DeviceTimeAns {
    /// Whole seconds since the GPS epoch (1980-01-06 00:00:00 UTC, no leap seconds).
    pub seconds: u32,
    /// Fractional second, in 1/256 s.
    pub fractional_second: u8,
}

impl DeviceTimeAns {
    /// The time since the GPS epoch as a duration (exact: 1/256 s is 3 906 250 ns).
    pub const fn since_gps_epoch(&self) -> core::time::Duration {
        core::time::Duration::new(
            self.seconds as u64,
            self.fractional_second as u32 * 3_906_250,
        )
    }

    fn from_bytes(b: &[u8; 5]) -> Result<Self, DecodeError> {
        let [s0, s1, s2, s3, fractional_second] = *b;
        Ok(Self {
            seconds: u32::from_le_bytes([s0, s1, s2, s3]),
            fractional_second,
        })
    }
    fn to_bytes(self) -> Result<[u8; 5], EncodeError> {
        let [s0, s1, s2, s3] = self.seconds.to_le_bytes();
        Ok([s0, s1, s2, s3, self.fractional_second])
    }
}

/// ForceRejoinReq (downlink, CID 0x0E): asks a LoRaWAN 1.1 device to send
/// rejoin-requests. It has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ForceRejoinReq {
    /// Period (3 bits): the delay between retransmissions is 32 s × 2^Period plus a
    /// random 0 to 32 s.
    pub period: u8,
    /// Max_Retries (3 bits): retransmissions after the first rejoin-request.
    pub max_retries: u8,
    /// RejoinType (3 bits): 0 or 1 for a type 0 rejoin-request, 2 for type 2; 3 to
    /// 7 are RFU.
    pub rejoin_type: u8,
    /// DR (4 bits): the data rate of the rejoin-requests.
    pub data_rate: u8,
}

impl ForceRejoinReq {
    fn from_bytes(b: &[u8; 2]) -> Result<Self, DecodeError> {
        let v = u16::from_le_bytes(*b);
        Ok(Self {
            period: ((v >> 11) & 0x07) as u8,
            max_retries: ((v >> 8) & 0x07) as u8,
            rejoin_type: ((v >> 4) & 0x07) as u8,
            data_rate: (v & 0x0f) as u8,
        })
    }
    fn to_bytes(self) -> Result<[u8; 2], EncodeError> {
        let v = u16::from(bits("Period", self.period, 3)?) << 11
            | u16::from(bits("Max_Retries", self.max_retries, 3)?) << 8
            | u16::from(bits("RejoinType", self.rejoin_type, 3)?) << 4
            | u16::from(bits("DR", self.data_rate, 4)?);
        Ok(v.to_le_bytes())
    }
}

/// RejoinParamSetupReq (downlink, CID 0x0F): how often a LoRaWAN 1.1 device sends
/// type 0 rejoin-requests by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RejoinParamSetupReq {
    /// MaxTimeN (4 bits): at least every 2^(MaxTimeN+10) seconds.
    pub max_time_n: u8,
    /// MaxCountN (4 bits): at least every 2^(MaxCountN+4) uplinks.
    pub max_count_n: u8,
}

impl RejoinParamSetupReq {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [b0] = *b;
        Ok(Self {
            max_time_n: b0 >> 4,
            max_count_n: b0 & 0x0f,
        })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok(
            [
                bits("MaxTimeN", self.max_time_n, 4)? << 4
                    | bits("MaxCountN", self.max_count_n, 4)?,
            ],
        )
    }
}

/// RejoinParamSetupAns (uplink, CID 0x0F): whether the device accepted the time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RejoinParamSetupAns {
    /// TimeOK (bit 0): the device accepted MaxTimeN as well as MaxCountN.
    pub time_ok: bool,
}

impl RejoinParamSetupAns {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [s] = *b;
        Ok(Self {
            time_ok: flag(s, 0),
        })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok([flags([(self.time_ok, 0)])])
    }
}

/// The Class field of DeviceModeInd and DeviceModeConf (LoRaWAN 1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum DeviceClass {
    /// Class A (0x00).
    A,
    /// Class C (0x02).
    C,
}

impl DeviceClass {
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::A => 0x00,
            Self::C => 0x02,
        }
    }

    /// The class a wire value names; `None` for the RFU values (0x01, 0x03 to 0xFF).
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0x00 => Some(Self::A),
            0x02 => Some(Self::C),
            _ => None,
        }
    }

    fn decode(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [v] = *b;
        Self::from_u8(v).ok_or(DecodeError::Reserved {
            index: 0,
            field: "Class",
            value: v.into(),
        })
    }
}

/// DeviceModeInd (uplink, CID 0x20): a LoRaWAN 1.1 device switches class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DeviceModeInd {
    /// The class the device now operates in.
    pub class: DeviceClass,
}

/// DeviceModeConf (downlink, CID 0x20): the answer to a DeviceModeInd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DeviceModeConf {
    /// The class the network server will use for the device.
    pub class: DeviceClass,
}

impl DeviceModeInd {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        DeviceClass::decode(b).map(|class| Self { class })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok([self.class.to_u8()])
    }
}

impl DeviceModeConf {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        DeviceClass::decode(b).map(|class| Self { class })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok([self.class.to_u8()])
    }
}

fixed_payload! {
    LinkCheckAns => 2,
    LinkAdrReq => 4,
    LinkAdrAns => 1,
    DutyCycleReq => 1,
    RxParamSetupReq => 4,
    RxParamSetupAns => 1,
    DevStatusAns => 2,
    NewChannelReq => 5,
    NewChannelAns => 1,
    RxTimingSetupReq => 1,
    TxParamSetupReq => 1,
    DlChannelReq => 4,
    DlChannelAns => 1,
    AdrParamSetupReq => 1,
    DeviceTimeAns => 5,
    ForceRejoinReq => 2,
    RejoinParamSetupReq => 1,
    RejoinParamSetupAns => 1,
    DeviceModeInd => 1,
    DeviceModeConf => 1,
}
