//! Join-request, join-accept and rejoin-request frames.

use super::{FrameError, MType, Mhdr, array, exact_len, out_buf, trailing_mic, without_mic};
use crate::{DevAddr, DevNonce, Eui64, JoinNonce, Mic, NetId};

/// Which request a join-accept answers: the JoinReqType of the LoRaWAN 1.1
/// join-accept MIC (0xFF for a join-request, else the rejoin type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum JoinType {
    /// A join-request (`0xFF`).
    JoinRequest,
    /// A rejoin-request of type 0 (`0x00`).
    RejoinType0,
    /// A rejoin-request of type 1 (`0x01`).
    RejoinType1,
    /// A rejoin-request of type 2 (`0x02`).
    RejoinType2,
}

impl JoinType {
    /// The JoinReqType byte.
    pub const fn join_req_type(self) -> u8 {
        match self {
            Self::JoinRequest => 0xff,
            Self::RejoinType0 => 0x00,
            Self::RejoinType1 => 0x01,
            Self::RejoinType2 => 0x02,
        }
    }
}

/// A join-request: MHDR | JoinEUI | DevEUI | DevNonce | MIC, 23 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinRequest<'a> {
    bytes: &'a [u8],
}

impl<'a> JoinRequest<'a> {
    /// The length of every join-request.
    pub const LEN: usize = 23;

    /// Validates a join-request PHYPayload.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, FrameError> {
        exact_len(bytes, "join-request", Self::LEN)?;
        check_mtype(bytes, MType::JoinRequest)?;
        Ok(Self { bytes })
    }
    /// The MAC header.
    pub fn mhdr(&self) -> Mhdr {
        Mhdr(array::<1>(self.bytes, 0)[0])
    }
    /// The JoinEUI (AppEUI in LoRaWAN 1.0).
    pub fn join_eui(&self) -> Eui64 {
        Eui64::from_le_bytes(array(self.bytes, 1))
    }
    /// The DevEUI.
    pub fn dev_eui(&self) -> Eui64 {
        Eui64::from_le_bytes(array(self.bytes, 9))
    }
    /// The DevNonce.
    pub fn dev_nonce(&self) -> DevNonce {
        DevNonce::from_le_bytes(array(self.bytes, 17))
    }
    /// The MIC carried by the frame.
    pub fn mic(&self) -> Mic {
        trailing_mic(self.bytes)
    }
    /// The bytes the MIC covers.
    pub fn mic_input(&self) -> &'a [u8] {
        without_mic(self.bytes)
    }
    /// The whole PHYPayload.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// The fields, for rebuilding the frame.
    pub fn repr(&self) -> JoinRequestRepr {
        JoinRequestRepr {
            join_eui: self.join_eui(),
            dev_eui: self.dev_eui(),
            dev_nonce: self.dev_nonce(),
        }
    }
}

/// The fields of a join-request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct JoinRequestRepr {
    /// JoinEUI (AppEUI in LoRaWAN 1.0).
    pub join_eui: Eui64,
    /// DevEUI.
    pub dev_eui: Eui64,
    /// DevNonce.
    pub dev_nonce: DevNonce,
}

impl JoinRequestRepr {
    /// Writes the frame with the given MIC; returns its length (23).
    pub fn emit(&self, mic: Mic, buf: &mut [u8]) -> Result<usize, FrameError> {
        let out = out_buf(buf, JoinRequest::LEN)?;
        out[0] = Mhdr::new(MType::JoinRequest).0;
        out[1..9].copy_from_slice(&self.join_eui.to_le_bytes());
        out[9..17].copy_from_slice(&self.dev_eui.to_le_bytes());
        out[17..19].copy_from_slice(&self.dev_nonce.to_le_bytes());
        out[19..23].copy_from_slice(&mic.0);
        Ok(JoinRequest::LEN)
    }
}

/// A rejoin-request: type 0 or 2 (MHDR | type | NetID | DevEUI | RJcount0 | MIC,
/// 19 bytes) or type 1 (MHDR | type | JoinEUI | DevEUI | RJcount1 | MIC, 24 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejoinRequest<'a> {
    bytes: &'a [u8],
}

impl<'a> RejoinRequest<'a> {
    /// The length of a type 0 or type 2 rejoin-request.
    pub const LEN_TYPE_0_2: usize = 19;
    /// The length of a type 1 rejoin-request.
    pub const LEN_TYPE_1: usize = 24;

    /// Validates a rejoin-request PHYPayload.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, FrameError> {
        check_mtype(bytes, MType::RejoinRequest)?;
        let Some(&rejoin_type) = bytes.get(1) else {
            return Err(FrameError::Truncated {
                what: "rejoin-request",
                needed: Self::LEN_TYPE_0_2,
                got: bytes.len(),
            });
        };
        match rejoin_type {
            0 | 2 => exact_len(bytes, "rejoin-request type 0/2", Self::LEN_TYPE_0_2)?,
            1 => exact_len(bytes, "rejoin-request type 1", Self::LEN_TYPE_1)?,
            t => {
                return Err(FrameError::InvalidField {
                    field: "RejoinType",
                    value: t.into(),
                    reason: "only types 0, 1 and 2 are defined",
                });
            }
        }
        Ok(Self { bytes })
    }
    /// The MAC header.
    pub fn mhdr(&self) -> Mhdr {
        Mhdr(array::<1>(self.bytes, 0)[0])
    }
    /// The rejoin type as the JoinReqType it will be answered with.
    pub fn rejoin_type(&self) -> JoinType {
        match array::<1>(self.bytes, 1)[0] {
            0 => JoinType::RejoinType0,
            1 => JoinType::RejoinType1,
            _ => JoinType::RejoinType2,
        }
    }
    /// The NetID of a type 0 or 2 request.
    pub fn net_id(&self) -> Option<NetId> {
        (self.rejoin_type() != JoinType::RejoinType1)
            .then(|| NetId::from_le_bytes(array(self.bytes, 2)))
    }
    /// The JoinEUI of a type 1 request.
    pub fn join_eui(&self) -> Option<Eui64> {
        (self.rejoin_type() == JoinType::RejoinType1)
            .then(|| Eui64::from_le_bytes(array(self.bytes, 2)))
    }
    /// The DevEUI.
    pub fn dev_eui(&self) -> Eui64 {
        let at = if self.rejoin_type() == JoinType::RejoinType1 {
            10
        } else {
            5
        };
        Eui64::from_le_bytes(array(self.bytes, at))
    }
    /// RJcount0 (types 0 and 2) or RJcount1 (type 1).
    pub fn rj_count(&self) -> u16 {
        let at = if self.rejoin_type() == JoinType::RejoinType1 {
            18
        } else {
            13
        };
        u16::from_le_bytes(array(self.bytes, at))
    }
    /// The MIC carried by the frame.
    pub fn mic(&self) -> Mic {
        trailing_mic(self.bytes)
    }
    /// The bytes the MIC covers.
    pub fn mic_input(&self) -> &'a [u8] {
        without_mic(self.bytes)
    }
    /// The whole PHYPayload.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// The fields, for rebuilding the frame.
    pub fn repr(&self) -> RejoinRequestRepr {
        let (dev_eui, rj_count) = (self.dev_eui(), self.rj_count());
        match (self.rejoin_type(), self.net_id(), self.join_eui()) {
            (JoinType::RejoinType1, _, Some(join_eui)) => RejoinRequestRepr::Type1 {
                join_eui,
                dev_eui,
                rj_count1: rj_count,
            },
            (JoinType::RejoinType2, Some(net_id), _) => RejoinRequestRepr::Type2 {
                net_id,
                dev_eui,
                rj_count0: rj_count,
            },
            (_, net_id, _) => RejoinRequestRepr::Type0 {
                net_id: net_id.unwrap_or_default(),
                dev_eui,
                rj_count0: rj_count,
            },
        }
    }
}

/// The fields of a rejoin-request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RejoinRequestRepr {
    /// Type 0: reset the context, keep the DevAddr and radio parameters optional.
    Type0 {
        /// The device's current NetID.
        net_id: NetId,
        /// DevEUI.
        dev_eui: Eui64,
        /// RJcount0.
        rj_count0: u16,
    },
    /// Type 1: a join-request restoring a lost session context.
    Type1 {
        /// JoinEUI.
        join_eui: Eui64,
        /// DevEUI.
        dev_eui: Eui64,
        /// RJcount1.
        rj_count1: u16,
    },
    /// Type 2: rekey the session, keep the radio parameters.
    Type2 {
        /// The device's current NetID.
        net_id: NetId,
        /// DevEUI.
        dev_eui: Eui64,
        /// RJcount0.
        rj_count0: u16,
    },
}

impl RejoinRequestRepr {
    /// The JoinReqType this request is answered with.
    pub const fn rejoin_type(&self) -> JoinType {
        match self {
            Self::Type0 { .. } => JoinType::RejoinType0,
            Self::Type1 { .. } => JoinType::RejoinType1,
            Self::Type2 { .. } => JoinType::RejoinType2,
        }
    }
    /// The frame length: 19 or 24 bytes.
    pub const fn len(&self) -> usize {
        match self {
            Self::Type1 { .. } => RejoinRequest::LEN_TYPE_1,
            _ => RejoinRequest::LEN_TYPE_0_2,
        }
    }
    /// Always false: a rejoin-request is never empty (for clippy's `len` convention).
    pub const fn is_empty(&self) -> bool {
        false
    }
    /// Writes the frame with the given MIC; returns its length.
    pub fn emit(&self, mic: Mic, buf: &mut [u8]) -> Result<usize, FrameError> {
        let len = self.len();
        let out = out_buf(buf, len)?;
        out[0] = Mhdr::new(MType::RejoinRequest).0;
        out[1] = self.rejoin_type().join_req_type();
        match *self {
            Self::Type0 {
                net_id,
                dev_eui,
                rj_count0,
            }
            | Self::Type2 {
                net_id,
                dev_eui,
                rj_count0,
            } => {
                out[2..5].copy_from_slice(&net_id.to_le_bytes());
                out[5..13].copy_from_slice(&dev_eui.to_le_bytes());
                out[13..15].copy_from_slice(&rj_count0.to_le_bytes());
            }
            Self::Type1 {
                join_eui,
                dev_eui,
                rj_count1,
            } => {
                out[2..10].copy_from_slice(&join_eui.to_le_bytes());
                out[10..18].copy_from_slice(&dev_eui.to_le_bytes());
                out[18..20].copy_from_slice(&rj_count1.to_le_bytes());
            }
        }
        out[len - 4..].copy_from_slice(&mic.0);
        Ok(len)
    }
}

/// DLSettings: OptNeg (bit 7), RX1DROffset (bits 6..4), RX2DataRate (bits 3..0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DlSettings(pub u8);

impl DlSettings {
    /// Packs the fields; `None` if RX1DROffset > 7 or RX2DataRate > 15.
    pub const fn new(opt_neg: bool, rx1_dr_offset: u8, rx2_data_rate: u8) -> Option<Self> {
        if rx1_dr_offset > 7 || rx2_data_rate > 15 {
            return None;
        }
        Some(Self(
            ((opt_neg as u8) << 7) | (rx1_dr_offset << 4) | rx2_data_rate,
        ))
    }
    /// OptNeg: set by a LoRaWAN 1.1 network, telling a 1.1 device to use 1.1 keys.
    pub const fn opt_neg(self) -> bool {
        self.0 & 0x80 != 0
    }
    /// RX1DROffset.
    pub const fn rx1_dr_offset(self) -> u8 {
        (self.0 >> 4) & 0x07
    }
    /// RX2DataRate.
    pub const fn rx2_data_rate(self) -> u8 {
        self.0 & 0x0f
    }
}

/// RxDelay: the delay of RX1 after an uplink, in seconds (0 means 1); bits 7..4 are RFU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RxDelay(pub u8);

impl RxDelay {
    /// The delay in seconds, 1 to 15.
    pub const fn seconds(self) -> u8 {
        match self.0 & 0x0f {
            0 => 1,
            d => d,
        }
    }
}

/// The kind of a CFList, its last byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CfListType {
    /// Type 0: up to five extra channel frequencies (dynamic-plan regions).
    Frequencies,
    /// Type 1: channel masks (fixed-plan regions such as US915).
    ChannelMask,
    /// A reserved type a device ignores.
    Reserved(u8),
}

/// The optional 16-byte channel list of a join-accept.
///
/// ```
/// use lorawan::phy::{CfList, CfListType};
/// let cf = CfList::from_frequencies([867_100_000, 867_300_000, 867_500_000, 867_700_000, 867_900_000]).unwrap();
/// assert_eq!(cf.cf_list_type(), CfListType::Frequencies);
/// assert_eq!(cf.frequencies().unwrap()[4], 867_900_000);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CfList(pub [u8; 16]);

impl CfList {
    /// A type 0 list; a frequency of 0 leaves that channel unused. `None` if a
    /// frequency is not a multiple of 100 Hz or does not fit in 24 bits of 100 Hz.
    pub fn from_frequencies(hz: [u32; 5]) -> Option<Self> {
        let mut out = [0u8; 16];
        for (chunk, f) in out.chunks_exact_mut(3).zip(hz) {
            if f % 100 != 0 || f / 100 > 0xff_ffff {
                return None;
            }
            chunk.copy_from_slice(&(f / 100).to_le_bytes()[..3]);
        }
        Some(Self(out))
    }
    /// A type 1 list of five 16-bit channel masks (ChMask0..ChMask4).
    pub fn from_channel_masks(masks: [u16; 5]) -> Self {
        let mut out = [0u8; 16];
        for (chunk, m) in out.chunks_exact_mut(2).zip(masks) {
            chunk.copy_from_slice(&m.to_le_bytes());
        }
        out[15] = 1;
        Self(out)
    }
    /// The CFListType.
    pub const fn cf_list_type(&self) -> CfListType {
        match self.0[15] {
            0 => CfListType::Frequencies,
            1 => CfListType::ChannelMask,
            t => CfListType::Reserved(t),
        }
    }
    /// The five frequencies in Hz of a type 0 list (0 for an unused slot).
    pub fn frequencies(&self) -> Option<[u32; 5]> {
        if self.cf_list_type() != CfListType::Frequencies {
            return None;
        }
        let mut out = [0u32; 5];
        for (f, c) in out.iter_mut().zip(self.0.chunks_exact(3)) {
            *f = u32::from_le_bytes([c[0], c[1], c[2], 0]) * 100;
        }
        Some(out)
    }
    /// The five channel masks of a type 1 list.
    pub fn channel_masks(&self) -> Option<[u16; 5]> {
        if self.cf_list_type() != CfListType::ChannelMask {
            return None;
        }
        let mut out = [0u16; 5];
        for (m, c) in out.iter_mut().zip(self.0.chunks_exact(2)) {
            *m = u16::from_le_bytes([c[0], c[1]]);
        }
        Some(out)
    }
}

impl core::fmt::Debug for CfList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match (self.frequencies(), self.channel_masks()) {
            (Some(fr), _) => f.debug_tuple("CfList::Frequencies").field(&fr).finish(),
            (_, Some(m)) => f.debug_tuple("CfList::ChannelMask").field(&m).finish(),
            _ => f
                .debug_tuple("CfList::Reserved")
                .field(&crate::Hex(&self.0))
                .finish(),
        }
    }
}

/// A join-accept as it travels: MHDR followed by 16 or 32 encrypted bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedJoinAccept<'a> {
    bytes: &'a [u8],
}

impl<'a> EncryptedJoinAccept<'a> {
    /// Validates the length and MType of an encrypted join-accept.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, FrameError> {
        check_join_accept_len(bytes)?;
        check_mtype(bytes, MType::JoinAccept)?;
        Ok(Self { bytes })
    }
    /// The MAC header (not encrypted).
    pub fn mhdr(&self) -> Mhdr {
        Mhdr(array::<1>(self.bytes, 0)[0])
    }
    /// The encrypted part: everything after the MHDR, MIC included.
    pub fn ciphertext(&self) -> &'a [u8] {
        self.bytes.get(1..).unwrap_or_default()
    }
    /// The whole PHYPayload.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// A decrypted join-accept (17 or 33 bytes), owned so that no allocation is needed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct JoinAccept {
    bytes: [u8; 33],
    len: u8,
}

impl JoinAccept {
    /// Length without a CFList.
    pub const LEN: usize = 17;
    /// Length with a CFList.
    pub const LEN_WITH_CF_LIST: usize = 33;

    /// Takes a plaintext join-accept (MHDR included).
    pub fn from_plaintext(bytes: &[u8]) -> Result<Self, FrameError> {
        check_join_accept_len(bytes)?;
        check_mtype(bytes, MType::JoinAccept)?;
        let mut out = [0u8; 33];
        out[..bytes.len()].copy_from_slice(bytes);
        Ok(Self {
            bytes: out,
            len: bytes.len() as u8,
        })
    }
    /// The plaintext frame.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len as usize).unwrap_or_default()
    }
    /// Wraps a decrypted frame whose length (17 or 33) and MHDR come from a
    /// validated [`EncryptedJoinAccept`].
    pub(super) const fn from_decrypted(bytes: [u8; 33], len: usize) -> Self {
        Self {
            bytes,
            len: len as u8,
        }
    }
    /// The MAC header.
    pub fn mhdr(&self) -> Mhdr {
        Mhdr(self.bytes[0])
    }
    /// JoinNonce (AppNonce in LoRaWAN 1.0).
    pub fn join_nonce(&self) -> JoinNonce {
        JoinNonce::from_le_bytes(array(&self.bytes, 1))
    }
    /// The Home_NetID.
    pub fn home_net_id(&self) -> NetId {
        NetId::from_le_bytes(array(&self.bytes, 4))
    }
    /// The assigned DevAddr.
    pub fn dev_addr(&self) -> DevAddr {
        DevAddr::from_le_bytes(array(&self.bytes, 7))
    }
    /// DLSettings.
    pub fn dl_settings(&self) -> DlSettings {
        DlSettings(self.bytes[11])
    }
    /// RxDelay.
    pub fn rx_delay(&self) -> RxDelay {
        RxDelay(self.bytes[12])
    }
    /// The CFList, if present.
    pub fn cf_list(&self) -> Option<CfList> {
        (self.len as usize == Self::LEN_WITH_CF_LIST).then(|| CfList(array(&self.bytes, 13)))
    }
    /// The MIC carried by the frame.
    pub fn mic(&self) -> Mic {
        trailing_mic(self.as_bytes())
    }
    /// The bytes the MIC covers (after the 1.1 prefix, if any).
    pub fn mic_input(&self) -> &[u8] {
        without_mic(self.as_bytes())
    }
    /// The fields, for rebuilding the frame.
    pub fn repr(&self) -> JoinAcceptRepr {
        JoinAcceptRepr {
            join_nonce: self.join_nonce(),
            home_net_id: self.home_net_id(),
            dev_addr: self.dev_addr(),
            dl_settings: self.dl_settings(),
            rx_delay: self.rx_delay(),
            cf_list: self.cf_list(),
        }
    }
}

impl core::fmt::Debug for JoinAccept {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JoinAccept")
            .field("join_nonce", &self.join_nonce())
            .field("home_net_id", &self.home_net_id())
            .field("dev_addr", &self.dev_addr())
            .field("dl_settings", &self.dl_settings())
            .field("rx_delay", &self.rx_delay())
            .field("cf_list", &self.cf_list())
            .field("mic", &self.mic())
            .finish()
    }
}

/// The fields of a join-accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinAcceptRepr {
    /// JoinNonce (AppNonce in LoRaWAN 1.0).
    pub join_nonce: JoinNonce,
    /// Home_NetID.
    pub home_net_id: NetId,
    /// The assigned DevAddr.
    pub dev_addr: DevAddr,
    /// DLSettings.
    pub dl_settings: DlSettings,
    /// RxDelay.
    pub rx_delay: RxDelay,
    /// The optional CFList.
    pub cf_list: Option<CfList>,
}

impl JoinAcceptRepr {
    /// The plaintext join-accept with the given MIC.
    pub fn to_plaintext(&self, mic: Mic) -> JoinAccept {
        let mut b = [0u8; 33];
        b[0] = Mhdr::new(MType::JoinAccept).0;
        b[1..4].copy_from_slice(&self.join_nonce.to_le_bytes());
        b[4..7].copy_from_slice(&self.home_net_id.to_le_bytes());
        b[7..11].copy_from_slice(&self.dev_addr.to_le_bytes());
        b[11] = self.dl_settings.0;
        b[12] = self.rx_delay.0;
        let len = match self.cf_list {
            Some(cf) => {
                b[13..29].copy_from_slice(&cf.0);
                JoinAccept::LEN_WITH_CF_LIST
            }
            None => JoinAccept::LEN,
        };
        b[len - 4..len].copy_from_slice(&mic.0);
        JoinAccept {
            bytes: b,
            len: len as u8,
        }
    }
}

fn check_join_accept_len(bytes: &[u8]) -> Result<(), FrameError> {
    match bytes.len() {
        n if n < JoinAccept::LEN => Err(FrameError::Truncated {
            what: "join-accept",
            needed: JoinAccept::LEN,
            got: n,
        }),
        JoinAccept::LEN | JoinAccept::LEN_WITH_CF_LIST => Ok(()),
        n => Err(FrameError::Length {
            what: "join-accept",
            allowed: "17 or 33",
            got: n,
        }),
    }
}

fn check_mtype(bytes: &[u8], expected: MType) -> Result<(), FrameError> {
    let mhdr = Mhdr(bytes.first().copied().unwrap_or_default());
    if mhdr.mtype() != expected {
        return Err(FrameError::InvalidField {
            field: "MType",
            value: mhdr.mtype().bits().into(),
            reason: "not the frame type being read",
        });
    }
    mhdr.check_major()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phy::Frame;

    // From the research notes: a join-request with JoinEUI 0101..01, DevEUI
    // 0202..02, DevNonce 0x0303, MIC 09b97b32 (AppKey 0102..10).
    const JOIN_REQUEST: [u8; 23] = [
        0x00, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 0x09, 0xb9, 0x7b, 0x32,
    ];

    #[test]
    fn join_request_fields() {
        let Ok(Frame::JoinRequest(jr)) = Frame::parse(&JOIN_REQUEST) else {
            panic!("not a join-request");
        };
        assert_eq!(jr.join_eui().to_string(), "0101010101010101");
        assert_eq!(jr.dev_eui().to_string(), "0202020202020202");
        assert_eq!(jr.dev_nonce(), DevNonce(0x0303));
        assert_eq!(jr.mic().to_string(), "09b97b32");
        let mut buf = [0u8; 23];
        assert_eq!(jr.repr().emit(jr.mic(), &mut buf), Ok(23));
        assert_eq!(buf, JOIN_REQUEST);
    }

    #[test]
    fn join_request_length_errors_tell_short_from_long() {
        assert!(matches!(
            Frame::parse(&JOIN_REQUEST[..22]),
            Err(FrameError::Truncated { needed: 23, .. })
        ));
        let mut long = [0u8; 24];
        long[..23].copy_from_slice(&JOIN_REQUEST);
        assert!(matches!(
            Frame::parse(&long),
            Err(FrameError::Length { got: 24, .. })
        ));
    }

    #[test]
    fn rejoin_requests_round_trip() {
        let reprs = [
            RejoinRequestRepr::Type0 {
                net_id: NetId::from_u32(0x000013).unwrap(),
                dev_eui: Eui64::from_u64(0x0102_0304_0506_0708),
                rj_count0: 7,
            },
            RejoinRequestRepr::Type1 {
                join_eui: Eui64::from_u64(0x1112_1314_1516_1718),
                dev_eui: Eui64::from_u64(0x0102_0304_0506_0708),
                rj_count1: 0x0102,
            },
            RejoinRequestRepr::Type2 {
                net_id: NetId::from_u32(0xabcdef).unwrap(),
                dev_eui: Eui64::from_u64(0x0102_0304_0506_0708),
                rj_count0: 0xffff,
            },
        ];
        for repr in reprs {
            let mut buf = [0u8; 24];
            let n = repr.emit(Mic([1, 2, 3, 4]), &mut buf).unwrap();
            let Ok(Frame::RejoinRequest(rj)) = Frame::parse(&buf[..n]) else {
                panic!("not a rejoin-request: {repr:?}");
            };
            assert_eq!(rj.repr(), repr);
            assert_eq!(rj.mic(), Mic([1, 2, 3, 4]));
        }
    }

    #[test]
    fn reserved_rejoin_type_is_invalid_field() {
        let mut f = [0u8; 19];
        f[0] = 0xc0;
        f[1] = 3;
        assert!(matches!(
            Frame::parse(&f),
            Err(FrameError::InvalidField {
                field: "RejoinType",
                value: 3,
                ..
            })
        ));
    }

    #[test]
    fn join_accept_plaintext_fields() {
        // Decrypted 1.0 join-accept from the research notes.
        let plain = [
            0x20, 0x01, 0x01, 0x01, 0x02, 0x02, 0x02, 0x04, 0x03, 0x02, 0x01, 0x00, 0x00, 0x34,
            0x49, 0xf2, 0x12,
        ];
        let ja = JoinAccept::from_plaintext(&plain).unwrap();
        assert_eq!(ja.join_nonce().to_u32(), 0x010101);
        assert_eq!(ja.home_net_id().to_u32(), 0x020202);
        assert_eq!(ja.dev_addr().to_string(), "01020304");
        assert_eq!(ja.rx_delay().seconds(), 1);
        assert_eq!(ja.cf_list(), None);
        assert_eq!(ja.repr().to_plaintext(ja.mic()).as_bytes(), &plain);
    }

    #[test]
    fn join_accept_lengths() {
        let f = [0x20u8; 20];
        assert!(matches!(
            Frame::parse(&f),
            Err(FrameError::Length {
                allowed: "17 or 33",
                ..
            })
        ));
        assert!(Frame::parse(&[0x20u8; 33]).is_ok());
    }

    #[test]
    fn cf_list_kinds() {
        let masks = CfList::from_channel_masks([0xff00, 0, 0, 0, 0x0001]);
        assert_eq!(masks.cf_list_type(), CfListType::ChannelMask);
        assert_eq!(masks.channel_masks(), Some([0xff00, 0, 0, 0, 1]));
        assert_eq!(masks.frequencies(), None);
        assert_eq!(CfList::from_frequencies([868_100_050, 0, 0, 0, 0]), None);
        assert_eq!(
            CfList([0xffu8; 16]).cf_list_type(),
            CfListType::Reserved(0xff)
        );
    }

    #[test]
    fn dl_settings_pack_and_reject_out_of_range() {
        let d = DlSettings::new(true, 3, 8).unwrap();
        assert_eq!(d.0, 0xb8);
        assert!(d.opt_neg());
        assert_eq!((d.rx1_dr_offset(), d.rx2_data_rate()), (3, 8));
        assert_eq!(DlSettings::new(false, 8, 0), None);
    }
}
