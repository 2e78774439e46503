//! Payloads of the relay commands of TS011 (LoRaWAN Relay Specification 1.0),
//! CIDs 0x40 to 0x46.
//!
//! The network server configures a relay (RelayConfReq, FilterListReq,
//! UpdateUplinkListReq, CtrlUplinkListReq, ConfigureFwdLimitReq) and the end
//! devices behind it (EndDeviceConfReq); a relay reports a device it does not know
//! with NotifyNewEndDeviceReq. Index fields whose upper values the specification
//! reserves (CAD periodicity 6 and 7, SecondChIdx 2 and 3, ACK offsets 6 and 7) are
//! carried as they are: the receiving device answers them with a NACK bit.

use crate::keys::RootWorSKey;
use core::fmt;

use super::error::{DecodeError, EncodeError};
use super::wire::{
    PayloadBuf, bits, fixed_payload, flag, flags, frequency_from_bytes, frequency_to_bytes, range,
};
use crate::{DevAddr, Eui64};

/// RelayConfReq (downlink, CID 0x40): starts, stops and configures a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RelayConfReq {
    /// StartStop (bit 13): `true` starts the relay, `false` stops it.
    pub start_stop: bool,
    /// CADPeriodicity (3 bits): 0 = 1 s, 1 = 500 ms, 2 = 250 ms, 3 = 100 ms,
    /// 4 = 50 ms, 5 = 20 ms; 6 and 7 are RFU.
    pub cad_periodicity: u8,
    /// DefaultChIdx (1 bit): which of the region's default relay channels to use.
    pub default_ch_idx: u8,
    /// SecondChIdx (2 bits): 0 = no second channel, 1 = a second channel; 2 and 3 are RFU.
    pub second_ch_idx: u8,
    /// SecondChDR (4 bits): data rate of the second channel.
    pub second_ch_dr: u8,
    /// SecondChAckOffset (3 bits): 0, 200, 400, 800, 1600 or 3200 kHz between the
    /// second channel and its ACK channel; 6 and 7 are RFU.
    pub second_ch_ack_offset: u8,
    /// SecondChFreq in Hz (a multiple of 100 Hz).
    pub second_ch_freq: u32,
}

impl RelayConfReq {
    fn from_bytes(b: &[u8; 5]) -> Result<Self, DecodeError> {
        let [s0, s1, f0, f1, f2] = *b;
        let s = u16::from_le_bytes([s0, s1]);
        Ok(Self {
            start_stop: s & (1 << 13) != 0,
            cad_periodicity: ((s >> 10) & 0x07) as u8,
            default_ch_idx: ((s >> 9) & 0x01) as u8,
            second_ch_idx: ((s >> 7) & 0x03) as u8,
            second_ch_dr: ((s >> 3) & 0x0f) as u8,
            second_ch_ack_offset: (s & 0x07) as u8,
            second_ch_freq: frequency_from_bytes([f0, f1, f2]),
        })
    }
    fn to_bytes(self) -> Result<[u8; 5], EncodeError> {
        let s = u16::from(self.start_stop) << 13
            | u16::from(bits("CADPeriodicity", self.cad_periodicity, 3)?) << 10
            | u16::from(bits("DefaultChIdx", self.default_ch_idx, 1)?) << 9
            | u16::from(bits("SecondChIdx", self.second_ch_idx, 2)?) << 7
            | u16::from(bits("SecondChDR", self.second_ch_dr, 4)?) << 3
            | u16::from(bits("SecondChAckOffset", self.second_ch_ack_offset, 3)?);
        let [s0, s1] = s.to_le_bytes();
        let [f0, f1, f2] = frequency_to_bytes("SecondChFreq", self.second_ch_freq)?;
        Ok([s0, s1, f0, f1, f2])
    }
}

/// RelayConfAns (uplink, CID 0x40): which parts of a RelayConfReq the relay accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RelayConfAns {
    /// CADPeriodicityACK (bit 5).
    pub cad_periodicity_ack: bool,
    /// DefaultChIdxACK (bit 4).
    pub default_ch_idx_ack: bool,
    /// SecondChIdxACK (bit 3).
    pub second_ch_idx_ack: bool,
    /// SecondChDRACK (bit 2).
    pub second_ch_dr_ack: bool,
    /// SecondChAckOffsetACK (bit 1).
    pub second_ch_ack_offset_ack: bool,
    /// SecondChFreqACK (bit 0).
    pub second_ch_freq_ack: bool,
}

impl RelayConfAns {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [s] = *b;
        Ok(Self {
            cad_periodicity_ack: flag(s, 5),
            default_ch_idx_ack: flag(s, 4),
            second_ch_idx_ack: flag(s, 3),
            second_ch_dr_ack: flag(s, 2),
            second_ch_ack_offset_ack: flag(s, 1),
            second_ch_freq_ack: flag(s, 0),
        })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok([flags([
            (self.cad_periodicity_ack, 5),
            (self.default_ch_idx_ack, 4),
            (self.second_ch_idx_ack, 3),
            (self.second_ch_dr_ack, 2),
            (self.second_ch_ack_offset_ack, 1),
            (self.second_ch_freq_ack, 0),
        ])])
    }
}

/// RelayModeActivation of an EndDeviceConfReq: when the end device talks through
/// a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum RelayModeActivation {
    /// 0: never.
    DisableRelayMode,
    /// 1: always.
    EnableRelayMode,
    /// 2: after SmartEnableLevel uplinks without a downlink.
    Dynamic,
    /// 3: as the end device decides.
    EndDeviceControlled,
}

impl RelayModeActivation {
    /// The two-bit wire value.
    pub const fn to_bits(self) -> u8 {
        match self {
            Self::DisableRelayMode => 0,
            Self::EnableRelayMode => 1,
            Self::Dynamic => 2,
            Self::EndDeviceControlled => 3,
        }
    }

    /// The mode of the low two bits of `v`.
    pub const fn from_bits(v: u8) -> Self {
        match v & 0x03 {
            0 => Self::DisableRelayMode,
            1 => Self::EnableRelayMode,
            2 => Self::Dynamic,
            _ => Self::EndDeviceControlled,
        }
    }
}

/// EndDeviceConfReq (downlink, CID 0x41): tells an end device how to use a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EndDeviceConfReq {
    /// ActivationRelayMode RelayModeActivation.
    pub relay_mode_activation: RelayModeActivation,
    /// ActivationRelayMode SmartEnableLevel (2 bits): 0 to 3 for 8, 16, 32 or 64
    /// uplinks without a downlink before dynamic mode turns relaying on.
    pub smart_enable_level: u8,
    /// ChannelSettingsED BackOff (6 bits): WOR frames without an ACK before the
    /// device sends an uplink directly; 0 never does.
    pub backoff: u8,
    /// ChannelSettingsED SecondChIdx (2 bits): 0 = no second channel, 1 = a second
    /// channel; 2 and 3 are RFU.
    pub second_ch_idx: u8,
    /// ChannelSettingsED SecondChDR (4 bits).
    pub second_ch_dr: u8,
    /// ChannelSettingsED SecondChAckOffset (3 bits), coded as in [`RelayConfReq`].
    pub second_ch_ack_offset: u8,
    /// SecondChFreq in Hz (a multiple of 100 Hz).
    pub second_ch_freq: u32,
}

impl EndDeviceConfReq {
    fn from_bytes(b: &[u8; 6]) -> Result<Self, DecodeError> {
        let [mode, s0, s1, f0, f1, f2] = *b;
        let s = u16::from_le_bytes([s0, s1]);
        Ok(Self {
            relay_mode_activation: RelayModeActivation::from_bits(mode >> 2),
            smart_enable_level: mode & 0x03,
            backoff: ((s >> 9) & 0x3f) as u8,
            second_ch_idx: ((s >> 7) & 0x03) as u8,
            second_ch_dr: ((s >> 3) & 0x0f) as u8,
            second_ch_ack_offset: (s & 0x07) as u8,
            second_ch_freq: frequency_from_bytes([f0, f1, f2]),
        })
    }
    fn to_bytes(self) -> Result<[u8; 6], EncodeError> {
        let mode = self.relay_mode_activation.to_bits() << 2
            | bits("SmartEnableLevel", self.smart_enable_level, 2)?;
        let s = u16::from(bits("BackOff", self.backoff, 6)?) << 9
            | u16::from(bits("SecondChIdx", self.second_ch_idx, 2)?) << 7
            | u16::from(bits("SecondChDR", self.second_ch_dr, 4)?) << 3
            | u16::from(bits("SecondChAckOffset", self.second_ch_ack_offset, 3)?);
        let [s0, s1] = s.to_le_bytes();
        let [f0, f1, f2] = frequency_to_bytes("SecondChFreq", self.second_ch_freq)?;
        Ok([mode, s0, s1, f0, f1, f2])
    }
}

/// EndDeviceConfAns (uplink, CID 0x41): which parts of an EndDeviceConfReq the
/// end device accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EndDeviceConfAns {
    /// BackOffACK (bit 3).
    pub backoff_ack: bool,
    /// SecondChIdxACK (bit 2).
    pub second_ch_idx_ack: bool,
    /// SecondChDRACK (bit 1).
    pub second_ch_dr_ack: bool,
    /// SecondChFreqACK (bit 0).
    pub second_ch_freq_ack: bool,
}

impl EndDeviceConfAns {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [s] = *b;
        Ok(Self {
            backoff_ack: flag(s, 3),
            second_ch_idx_ack: flag(s, 2),
            second_ch_dr_ack: flag(s, 1),
            second_ch_freq_ack: flag(s, 0),
        })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok([flags([
            (self.backoff_ack, 3),
            (self.second_ch_idx_ack, 2),
            (self.second_ch_dr_ack, 1),
            (self.second_ch_freq_ack, 0),
        ])])
    }
}

/// FilterList_Action of a FilterListReq: what a relay does with the join-requests
/// a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum FilterListAction {
    /// 0: no rule (clears the rule at this index).
    NoRule,
    /// 1: forward the join-request.
    Forward,
    /// 2: drop the join-request.
    Filter,
}

impl FilterListAction {
    /// The two-bit wire value.
    pub const fn to_bits(self) -> u8 {
        match self {
            Self::NoRule => 0,
            Self::Forward => 1,
            Self::Filter => 2,
        }
    }

    /// The action a wire value names; `None` for the RFU value 3 (and anything wider).
    pub const fn from_bits(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::NoRule),
            1 => Some(Self::Forward),
            2 => Some(Self::Filter),
            _ => None,
        }
    }
}

/// FilterList_EUI of a FilterListReq: the leading 0 to 16 bytes of JoinEUI ‖ DevEUI,
/// most significant first, that a join-request must match.
///
/// On the wire the bytes are sent in reverse (least significant first).
///
/// ```
/// use lorawan::{Eui64, mac::FilterListEui};
/// let join_eui: Eui64 = "70b3d57ed0000000".parse().unwrap();
/// let rule = FilterListEui::join_eui(join_eui);
/// assert_eq!(rule.len(), 8);
/// assert_eq!(rule.as_bytes(), &join_eui.to_be_bytes());
/// assert_eq!(FilterListEui::new(&[0x70, 0xb3]).unwrap().as_bytes(), &[0x70, 0xb3]);
/// assert!(FilterListEui::new(&[0; 17]).is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FilterListEui {
    // Invariant: len <= 16 and bytes[len..] are zero, so derived equality is
    // equality of the prefixes.
    bytes: [u8; 16],
    len: u8,
}

impl FilterListEui {
    /// The longest prefix: all of JoinEUI and DevEUI.
    pub const MAX_LEN: usize = 16;

    /// The prefix `prefix` (most significant byte first); `None` if longer than 16 bytes.
    pub fn new(prefix: &[u8]) -> Option<Self> {
        let mut bytes = [0; 16];
        bytes.get_mut(..prefix.len())?.copy_from_slice(prefix);
        Some(Self {
            bytes,
            len: prefix.len() as u8,
        })
    }

    /// A rule that matches a JoinEUI, whatever the DevEUI.
    pub const fn join_eui(join_eui: Eui64) -> Self {
        let e = join_eui.to_be_bytes();
        Self {
            bytes: [
                e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7], 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            len: 8,
        }
    }

    /// A rule that matches one JoinEUI and DevEUI pair.
    pub const fn join_eui_and_dev_eui(join_eui: Eui64, dev_eui: Eui64) -> Self {
        let j = join_eui.to_be_bytes();
        let d = dev_eui.to_be_bytes();
        Self {
            bytes: [
                j[0], j[1], j[2], j[3], j[4], j[5], j[6], j[7], d[0], d[1], d[2], d[3], d[4], d[5],
                d[6], d[7],
            ],
            len: 16,
        }
    }

    /// The prefix, most significant byte first.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// FilterList_Len: the prefix length in bytes.
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the prefix is empty (matches every join-request).
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for FilterListEui {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FilterListEui({})", crate::Hex(self.as_bytes()))
    }
}

/// FilterListReq (downlink, CID 0x42): sets one rule of a relay's join-request
/// filter. Its length varies: 2 bytes plus FilterList_Len.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FilterListReq {
    /// FilterList_Idx (4 bits): the rule to set; rule 0 is the default for
    /// join-requests no other rule matches.
    pub filter_list_idx: u8,
    /// FilterList_Action.
    pub filter_list_action: FilterListAction,
    /// FilterList_EUI (its length is FilterList_Len).
    pub filter_list_eui: FilterListEui,
}

impl super::wire::Decode for FilterListReq {
    fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        let header = input
            .first_chunk::<2>()
            .ok_or(DecodeError::Short { needed: 2 })?;
        let h = u16::from_le_bytes(*header);
        let len = usize::from(h & 0x1f);
        if len > FilterListEui::MAX_LEN {
            return Err(DecodeError::Reserved {
                index: 0,
                field: "FilterList_Len",
                value: len as u32,
            });
        }
        let action = ((h >> 5) & 0x03) as u8;
        let filter_list_action =
            FilterListAction::from_bits(action).ok_or(DecodeError::Reserved {
                index: 0,
                field: "FilterList_Action",
                value: action.into(),
            })?;
        let wire = input
            .get(2..2 + len)
            .ok_or(DecodeError::Short { needed: 2 + len })?;
        let mut bytes = [0; 16];
        for (dst, src) in bytes.iter_mut().zip(wire.iter().rev()) {
            *dst = *src;
        }
        Ok(Self {
            filter_list_idx: ((h >> 7) & 0x0f) as u8,
            filter_list_action,
            filter_list_eui: FilterListEui {
                bytes,
                len: len as u8,
            },
        })
    }
}

impl super::wire::Encode for FilterListReq {
    fn payload_len(&self) -> usize {
        2 + self.filter_list_eui.len()
    }
    fn encode(&self) -> Result<PayloadBuf, EncodeError> {
        let eui = self.filter_list_eui.as_bytes();
        let h = u16::from(bits("FilterList_Idx", self.filter_list_idx, 4)?) << 7
            | u16::from(self.filter_list_action.to_bits()) << 5
            | eui.len() as u16;
        let mut out = PayloadBuf::from_array(h.to_le_bytes());
        let mut reversed = [0; 16];
        for (dst, src) in reversed.iter_mut().zip(eui.iter().rev()) {
            *dst = *src;
        }
        out.extend(reversed.get(..eui.len()).unwrap_or(&[]));
        Ok(out)
    }
}

/// FilterListAns (uplink, CID 0x42): whether the relay accepted a FilterListReq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FilterListAns {
    /// CombinedRulesACK (bit 2): the index, action and length make a valid rule.
    pub combined_rules_ack: bool,
    /// FilterListLenACK (bit 1).
    pub filter_list_len_ack: bool,
    /// FilterListActionACK (bit 0).
    pub filter_list_action_ack: bool,
}

impl FilterListAns {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [s] = *b;
        Ok(Self {
            combined_rules_ack: flag(s, 2),
            filter_list_len_ack: flag(s, 1),
            filter_list_action_ack: flag(s, 0),
        })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        Ok([flags([
            (self.combined_rules_ack, 2),
            (self.filter_list_len_ack, 1),
            (self.filter_list_action_ack, 0),
        ])])
    }
}

/// UpdateUplinkListReq (downlink, CID 0x43): adds or replaces an end device in a
/// relay's list of trusted devices. The relay answers with an empty
/// UpdateUplinkListAns.
///
/// `Debug` does not print the RootWorSKey.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct UpdateUplinkListReq {
    /// UplinkListIdx (4 bits): the slot in the trusted list.
    pub uplink_list_idx: u8,
    /// UplinkLimit ReloadRate (6 bits): tokens added per hour; 63 removes the limit.
    pub reload_rate: u8,
    /// UplinkLimit BucketSize (2 bits): the bucket holds 1, 2, 4 or 12 × ReloadRate tokens.
    pub bucket_size: u8,
    /// DevAddr of the trusted end device.
    pub dev_addr: DevAddr,
    /// WFCnt: the device's last WOR frame counter.
    pub w_fcnt: u32,
    /// RootWorSKey.
    pub root_wor_s_key: RootWorSKey,
}

impl fmt::Debug for UpdateUplinkListReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateUplinkListReq")
            .field("uplink_list_idx", &self.uplink_list_idx)
            .field("reload_rate", &self.reload_rate)
            .field("bucket_size", &self.bucket_size)
            .field("dev_addr", &self.dev_addr)
            .field("w_fcnt", &self.w_fcnt)
            .field("root_wor_s_key", &format_args!(".."))
            .finish()
    }
}

impl UpdateUplinkListReq {
    fn from_bytes(b: &[u8; 26]) -> Result<Self, DecodeError> {
        let [idx, limit, a0, a1, a2, a3, c0, c1, c2, c3, key @ ..] = *b;
        Ok(Self {
            uplink_list_idx: idx & 0x0f,
            reload_rate: limit & 0x3f,
            bucket_size: limit >> 6,
            dev_addr: DevAddr::from_le_bytes([a0, a1, a2, a3]),
            w_fcnt: u32::from_le_bytes([c0, c1, c2, c3]),
            root_wor_s_key: RootWorSKey::from_be_bytes(key),
        })
    }
    fn to_bytes(self) -> Result<[u8; 26], EncodeError> {
        let idx = bits("UplinkListIdx", self.uplink_list_idx, 4)?;
        let limit = bits("BucketSize", self.bucket_size, 2)? << 6
            | bits("ReloadRate", self.reload_rate, 6)?;
        let [a0, a1, a2, a3] = self.dev_addr.to_le_bytes();
        let [c0, c1, c2, c3] = self.w_fcnt.to_le_bytes();
        let [
            k0,
            k1,
            k2,
            k3,
            k4,
            k5,
            k6,
            k7,
            k8,
            k9,
            k10,
            k11,
            k12,
            k13,
            k14,
            k15,
        ] = self.root_wor_s_key.to_be_bytes();
        Ok([
            idx, limit, a0, a1, a2, a3, c0, c1, c2, c3, k0, k1, k2, k3, k4, k5, k6, k7, k8, k9,
            k10, k11, k12, k13, k14, k15,
        ])
    }
}

/// CtrlUplinkAction of a CtrlUplinkListReq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum CtrlUplinkAction {
    /// 0: report the device's WFCnt.
    ReadWFCnt,
    /// 1: remove the device from the trusted list (and report its WFCnt).
    Remove,
}

/// CtrlUplinkListReq (downlink, CID 0x44): reads the WFCnt of a trusted end device
/// or removes it from a relay's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CtrlUplinkListReq {
    /// UplinkListIdx (4 bits): the slot in the trusted list.
    pub uplink_list_idx: u8,
    /// CtrlUplinkAction (bit 4).
    pub ctrl_uplink_action: CtrlUplinkAction,
}

impl CtrlUplinkListReq {
    fn from_bytes(b: &[u8; 1]) -> Result<Self, DecodeError> {
        let [b0] = *b;
        Ok(Self {
            uplink_list_idx: b0 & 0x0f,
            ctrl_uplink_action: if flag(b0, 4) {
                CtrlUplinkAction::Remove
            } else {
                CtrlUplinkAction::ReadWFCnt
            },
        })
    }
    fn to_bytes(self) -> Result<[u8; 1], EncodeError> {
        let remove = self.ctrl_uplink_action == CtrlUplinkAction::Remove;
        Ok([flags([(remove, 4)]) | bits("UplinkListIdx", self.uplink_list_idx, 4)?])
    }
}

/// CtrlUplinkListAns (uplink, CID 0x44): the answer to a CtrlUplinkListReq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CtrlUplinkListAns {
    /// UplinkListIdxACK (bit 0): the slot held a device.
    pub uplink_list_idx_ack: bool,
    /// WFCnt: the device's last WOR frame counter.
    pub w_fcnt: u32,
}

impl CtrlUplinkListAns {
    fn from_bytes(b: &[u8; 5]) -> Result<Self, DecodeError> {
        let [s, c0, c1, c2, c3] = *b;
        Ok(Self {
            uplink_list_idx_ack: flag(s, 0),
            w_fcnt: u32::from_le_bytes([c0, c1, c2, c3]),
        })
    }
    fn to_bytes(self) -> Result<[u8; 5], EncodeError> {
        let [c0, c1, c2, c3] = self.w_fcnt.to_le_bytes();
        Ok([flags([(self.uplink_list_idx_ack, 0)]), c0, c1, c2, c3])
    }
}

/// ResetLimitCounter of a ConfigureFwdLimitReq: what happens to the token counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ResetLimitCounter {
    /// 0: set every counter to zero.
    SetToZero,
    /// 1: set every counter to its reload rate.
    SetToReloadRate,
    /// 2: set every counter to its maximum (the bucket size).
    SetToMaxValue,
    /// 3: leave the counters as they are.
    NoChange,
}

impl ResetLimitCounter {
    /// The two-bit wire value.
    pub const fn to_bits(self) -> u8 {
        match self {
            Self::SetToZero => 0,
            Self::SetToReloadRate => 1,
            Self::SetToMaxValue => 2,
            Self::NoChange => 3,
        }
    }

    /// The value of the low two bits of `v`.
    pub const fn from_bits(v: u8) -> Self {
        match v & 0x03 {
            0 => Self::SetToZero,
            1 => Self::SetToReloadRate,
            2 => Self::SetToMaxValue,
            _ => Self::NoChange,
        }
    }
}

/// ConfigureFwdLimitReq (downlink, CID 0x45): the token buckets that limit what a
/// relay forwards. Each reload rate is 7 bits (tokens per hour; 127 removes the
/// limit) and each limit size 2 bits (1, 2, 4 or 12 × the reload rate). The relay
/// answers with an empty ConfigureFwdLimitAns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ConfigureFwdLimitReq {
    /// ResetLimitCounter.
    pub reset_limit_counter: ResetLimitCounter,
    /// JoinReqLimitReloadRate (7 bits).
    pub join_req_reload_rate: u8,
    /// NotifyLimitReloadRate (7 bits).
    pub notify_reload_rate: u8,
    /// GlobalUplinkLimitReloadRate (7 bits).
    pub global_uplink_reload_rate: u8,
    /// OverallLimitReloadRate (7 bits).
    pub overall_reload_rate: u8,
    /// JoinReqLimitSize (2 bits).
    pub join_req_limit_size: u8,
    /// NotifyLimitSize (2 bits).
    pub notify_limit_size: u8,
    /// GlobalUplinkLimitSize (2 bits).
    pub global_uplink_limit_size: u8,
    /// OverallLimitSize (2 bits).
    pub overall_limit_size: u8,
}

impl ConfigureFwdLimitReq {
    fn from_bytes(b: &[u8; 5]) -> Result<Self, DecodeError> {
        let [r0, r1, r2, r3, c] = *b;
        let r = u32::from_le_bytes([r0, r1, r2, r3]);
        let rate = |shift: u32| ((r >> shift) & 0x7f) as u8;
        Ok(Self {
            reset_limit_counter: ResetLimitCounter::from_bits((r >> 28) as u8),
            join_req_reload_rate: rate(21),
            notify_reload_rate: rate(14),
            global_uplink_reload_rate: rate(7),
            overall_reload_rate: rate(0),
            join_req_limit_size: c >> 6,
            notify_limit_size: (c >> 4) & 0x03,
            global_uplink_limit_size: (c >> 2) & 0x03,
            overall_limit_size: c & 0x03,
        })
    }
    fn to_bytes(self) -> Result<[u8; 5], EncodeError> {
        let rate = |field, v| bits(field, v, 7).map(u32::from);
        let r = u32::from(self.reset_limit_counter.to_bits()) << 28
            | rate("JoinReqLimitReloadRate", self.join_req_reload_rate)? << 21
            | rate("NotifyLimitReloadRate", self.notify_reload_rate)? << 14
            | rate(
                "GlobalUplinkLimitReloadRate",
                self.global_uplink_reload_rate,
            )? << 7
            | rate("OverallLimitReloadRate", self.overall_reload_rate)?;
        let c = bits("JoinReqLimitSize", self.join_req_limit_size, 2)? << 6
            | bits("NotifyLimitSize", self.notify_limit_size, 2)? << 4
            | bits("GlobalUplinkLimitSize", self.global_uplink_limit_size, 2)? << 2
            | bits("OverallLimitSize", self.overall_limit_size, 2)?;
        let [r0, r1, r2, r3] = r.to_le_bytes();
        Ok([r0, r1, r2, r3, c])
    }
}

/// NotifyNewEndDeviceReq (uplink, CID 0x46): a relay heard a WOR frame from an end
/// device that is not in its trusted list. It has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NotifyNewEndDeviceReq {
    /// DevAddr of the end device.
    pub dev_addr: DevAddr,
    /// PowerLevel WOR SNR in dB, -20 to 11 (5 bits, offset by 20).
    pub wor_snr: i8,
    /// PowerLevel WOR RSSI in dBm, -142 to -15 (7 bits: -(RSSI + 15)).
    pub wor_rssi: i16,
}

impl NotifyNewEndDeviceReq {
    fn from_bytes(b: &[u8; 6]) -> Result<Self, DecodeError> {
        let [a0, a1, a2, a3, p0, p1] = *b;
        let p = u16::from_le_bytes([p0, p1]);
        Ok(Self {
            dev_addr: DevAddr::from_le_bytes([a0, a1, a2, a3]),
            wor_snr: (p & 0x1f) as i8 - 20,
            wor_rssi: -(((p >> 5) & 0x7f) as i16) - 15,
        })
    }
    fn to_bytes(self) -> Result<[u8; 6], EncodeError> {
        range("WOR SNR", self.wor_snr.into(), -20, 11)?;
        range("WOR RSSI", self.wor_rssi.into(), -142, -15)?;
        let snr = (i16::from(self.wor_snr) + 20) as u16;
        let rssi = (-(self.wor_rssi + 15)) as u16;
        let [p0, p1] = (rssi << 5 | snr).to_le_bytes();
        let [a0, a1, a2, a3] = self.dev_addr.to_le_bytes();
        Ok([a0, a1, a2, a3, p0, p1])
    }
}

fixed_payload! {
    RelayConfReq => 5,
    RelayConfAns => 1,
    EndDeviceConfReq => 6,
    EndDeviceConfAns => 1,
    FilterListAns => 1,
    UpdateUplinkListReq => 26,
    CtrlUplinkListReq => 1,
    CtrlUplinkListAns => 5,
    ConfigureFwdLimitReq => 5,
    NotifyNewEndDeviceReq => 6,
}
