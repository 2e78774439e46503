//! PHYPayload: the MAC header and the frame types it announces, as checked
//! zero-copy views over `&[u8]` and plain representations that are written back.
//!
//! [`Frame::parse`] validates the whole frame once: lengths, the MType, the major
//! version and, for data frames, the FOpts length and its relation to FPort. After
//! that, no accessor of the returned view can fail or panic.
//!
//! ```
//! use lorawan::phy::{Frame, MType};
//! let bytes = [0x40, 0x04, 0x03, 0x02, 0x01, 0x80, 0x01, 0x00, 0x01,
//!              0xa6, 0x94, 0x64, 0x26, 0x15, 0xd6, 0xc3, 0xb5, 0x82];
//! let Frame::Data(data) = Frame::parse(&bytes).unwrap() else { panic!() };
//! assert_eq!(data.mhdr().mtype(), MType::UnconfirmedDataUp);
//! assert_eq!(data.dev_addr().to_string(), "01020304");
//! assert_eq!(data.fcnt(), 1);
//! assert_eq!(data.fport(), Some(1));
//! assert!(data.fctrl().adr());
//! ```

mod data;
mod join;
mod secure;

pub use data::{DataFrame, DataFrameMut, DataFrameRepr, FCtrl};
pub use join::{
    CfList, CfListType, DlSettings, EncryptedJoinAccept, JoinAccept, JoinAcceptRepr, JoinRequest,
    JoinRequestRepr, JoinType, RejoinRequest, RejoinRequestRepr, RxDelay,
};

use crate::Mic;

/// The largest PHYPayload a LoRa or FSK radio carries.
pub const MAX_PHY_PAYLOAD_LEN: usize = 255;

/// What is wrong with a frame, or with a request to build one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The frame ends before a mandatory field.
    #[error("{what} truncated: needs at least {needed} bytes, has {got}")]
    Truncated {
        /// The frame or field being read.
        what: &'static str,
        /// The minimum length.
        needed: usize,
        /// The length found.
        got: usize,
    },
    /// The frame has a fixed length and this is not it.
    #[error("{what} must be {allowed} bytes long, not {got}")]
    Length {
        /// The frame type.
        what: &'static str,
        /// The lengths allowed, as text.
        allowed: &'static str,
        /// The length found.
        got: usize,
    },
    /// The frame is longer than any radio can carry.
    #[error("PHYPayload of {0} bytes exceeds the maximum of 255")]
    TooLong(usize),
    /// A field holds a value the specification does not allow.
    #[error("{field} has invalid value {value:#x}: {reason}")]
    InvalidField {
        /// The field, in the specification's words.
        field: &'static str,
        /// The offending value.
        value: u32,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// The MIC in the frame is not the one the given keys produce.
    #[error("MIC mismatch: frame has {received}, keys give {computed}")]
    MicMismatch {
        /// The MIC carried by the frame.
        received: Mic,
        /// The MIC computed with the given keys.
        computed: Mic,
    },
    /// The output buffer cannot hold the frame.
    #[error("buffer too small: frame needs {needed} bytes, buffer has {available}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

/// The message type, bits 7..5 of the MHDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MType {
    /// `000`
    JoinRequest,
    /// `001`
    JoinAccept,
    /// `010`
    UnconfirmedDataUp,
    /// `011`
    UnconfirmedDataDown,
    /// `100`
    ConfirmedDataUp,
    /// `101`
    ConfirmedDataDown,
    /// `110` (LoRaWAN 1.1; RFU before)
    RejoinRequest,
    /// `111`
    Proprietary,
}

impl MType {
    /// The three MType bits.
    pub const fn bits(self) -> u8 {
        self as u8
    }
    /// The MType from its three bits (higher bits ignored).
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 0x07 {
            0 => Self::JoinRequest,
            1 => Self::JoinAccept,
            2 => Self::UnconfirmedDataUp,
            3 => Self::UnconfirmedDataDown,
            4 => Self::ConfirmedDataUp,
            5 => Self::ConfirmedDataDown,
            6 => Self::RejoinRequest,
            _ => Self::Proprietary,
        }
    }
    /// The direction a frame of this type travels; `None` for proprietary frames.
    pub const fn direction(self) -> Option<crate::Direction> {
        use crate::Direction::{Downlink, Uplink};
        match self {
            Self::JoinRequest | Self::UnconfirmedDataUp | Self::ConfirmedDataUp => Some(Uplink),
            Self::RejoinRequest => Some(Uplink),
            Self::JoinAccept | Self::UnconfirmedDataDown | Self::ConfirmedDataDown => {
                Some(Downlink)
            }
            Self::Proprietary => None,
        }
    }
    /// Whether this is a data frame type.
    pub const fn is_data(self) -> bool {
        matches!(
            self,
            Self::UnconfirmedDataUp
                | Self::UnconfirmedDataDown
                | Self::ConfirmedDataUp
                | Self::ConfirmedDataDown
        )
    }
    /// Whether this is a confirmed data frame type.
    pub const fn is_confirmed(self) -> bool {
        matches!(self, Self::ConfirmedDataUp | Self::ConfirmedDataDown)
    }
}

/// The MAC header byte, kept whole so that RFU bits survive a round trip.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mhdr(pub u8);

impl Mhdr {
    /// The MHDR of a LoRaWAN R1 frame of the given type, RFU bits zero.
    pub const fn new(mtype: MType) -> Self {
        Self(mtype.bits() << 5)
    }
    /// The message type.
    pub const fn mtype(self) -> MType {
        MType::from_bits(self.0 >> 5)
    }
    /// The major version bits; 0 is LoRaWAN R1, the only one defined.
    pub const fn major(self) -> u8 {
        self.0 & 0x03
    }
    /// The RFU bits 4..2.
    pub const fn rfu(self) -> u8 {
        (self.0 >> 2) & 0x07
    }
    /// Every frame but a proprietary one must be LoRaWAN R1 (major 0).
    pub(crate) fn check_major(self) -> Result<(), FrameError> {
        match self.major() {
            0 => Ok(()),
            major => Err(FrameError::InvalidField {
                field: "Major",
                value: major.into(),
                reason: "only LoRaWAN R1 (0) is defined",
            }),
        }
    }
}

impl core::fmt::Debug for Mhdr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mhdr")
            .field("mtype", &self.mtype())
            .field("major", &self.major())
            .finish()
    }
}

/// A validated PHYPayload of any type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A join-request.
    JoinRequest(JoinRequest<'a>),
    /// A join-accept, still encrypted as it travels.
    JoinAccept(EncryptedJoinAccept<'a>),
    /// A rejoin-request of type 0, 1 or 2.
    RejoinRequest(RejoinRequest<'a>),
    /// A confirmed or unconfirmed data frame, either direction.
    Data(DataFrame<'a>),
    /// A proprietary frame: the MHDR and opaque bytes.
    Proprietary(Proprietary<'a>),
}

impl<'a> Frame<'a> {
    /// Validates a PHYPayload and returns the view of its type.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FrameError> {
        let Some(&first) = bytes.first() else {
            return Err(FrameError::Truncated {
                what: "PHYPayload",
                needed: 1,
                got: 0,
            });
        };
        if bytes.len() > MAX_PHY_PAYLOAD_LEN {
            return Err(FrameError::TooLong(bytes.len()));
        }
        let mhdr = Mhdr(first);
        let mtype = mhdr.mtype();
        if mtype != MType::Proprietary {
            mhdr.check_major()?;
        }
        Ok(match mtype {
            MType::Proprietary => Self::Proprietary(Proprietary { bytes }),
            MType::JoinRequest => Self::JoinRequest(JoinRequest::new_checked(bytes)?),
            MType::JoinAccept => Self::JoinAccept(EncryptedJoinAccept::new_checked(bytes)?),
            MType::RejoinRequest => Self::RejoinRequest(RejoinRequest::new_checked(bytes)?),
            MType::UnconfirmedDataUp
            | MType::UnconfirmedDataDown
            | MType::ConfirmedDataUp
            | MType::ConfirmedDataDown => Self::Data(DataFrame::new_checked(bytes)?),
        })
    }

    /// The whole PHYPayload.
    pub const fn as_bytes(&self) -> &'a [u8] {
        match self {
            Self::JoinRequest(f) => f.as_bytes(),
            Self::JoinAccept(f) => f.as_bytes(),
            Self::RejoinRequest(f) => f.as_bytes(),
            Self::Data(f) => f.as_bytes(),
            Self::Proprietary(f) => f.bytes,
        }
    }

    /// The MAC header.
    pub fn mhdr(&self) -> Mhdr {
        // Every variant was validated non-empty.
        Mhdr(self.as_bytes().first().copied().unwrap_or_default())
    }
}

/// A proprietary frame (MType `111`): the MHDR followed by bytes whose meaning,
/// MIC included, is private to the parties using it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proprietary<'a> {
    bytes: &'a [u8],
}

impl<'a> Proprietary<'a> {
    /// The MAC header.
    pub fn mhdr(&self) -> Mhdr {
        Mhdr(self.bytes.first().copied().unwrap_or_default())
    }
    /// Everything after the MHDR.
    pub fn payload(&self) -> &'a [u8] {
        self.bytes.get(1..).unwrap_or_default()
    }
    /// The whole PHYPayload.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Copies `N` bytes at `at`; a validated frame always has them, and a short slice
/// yields zeros rather than a panic.
pub(crate) fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

/// Checks the length of a fixed-size frame: short is truncated, long is wrong.
pub(crate) fn exact_len(bytes: &[u8], what: &'static str, len: usize) -> Result<(), FrameError> {
    match bytes.len() {
        n if n < len => Err(FrameError::Truncated {
            what,
            needed: len,
            got: n,
        }),
        n if n > len => Err(FrameError::Length {
            what,
            allowed: LEN_TEXT.get(len).copied().unwrap_or("a fixed number of"),
            got: n,
        }),
        _ => Ok(()),
    }
}

const LEN_TEXT: [&str; 25] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    "17", "18", "19", "20", "21", "22", "23", "24",
];

/// Checks that `buf` can hold `needed` bytes and returns that prefix.
pub(crate) fn out_buf(buf: &mut [u8], needed: usize) -> Result<&mut [u8], FrameError> {
    let available = buf.len();
    buf.get_mut(..needed)
        .ok_or(FrameError::BufferTooSmall { needed, available })
}

/// The MIC field: the last four bytes of a validated frame.
pub(crate) fn trailing_mic(bytes: &[u8]) -> Mic {
    let mut mic = [0u8; 4];
    if let Some(tail) = bytes.len().checked_sub(4).and_then(|s| bytes.get(s..)) {
        mic.copy_from_slice(tail);
    }
    Mic(mic)
}

/// Everything but the MIC: the input of the MIC computation.
pub(crate) fn without_mic(bytes: &[u8]) -> &[u8] {
    bytes
        .get(..bytes.len().saturating_sub(4))
        .unwrap_or_default()
}

pub(crate) fn check_mic(received: Mic, computed: Mic) -> Result<(), FrameError> {
    // Not constant-time: a MIC is no secret once the frame is on the air, and the
    // receiver's answer does not depend on how many bytes matched.
    if received == computed {
        Ok(())
    } else {
        Err(FrameError::MicMismatch { received, computed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_is_truncated() {
        assert_eq!(
            Frame::parse(&[]),
            Err(FrameError::Truncated {
                what: "PHYPayload",
                needed: 1,
                got: 0
            })
        );
    }

    #[test]
    fn unknown_major_is_rejected() {
        let mut f = [0u8; 23];
        f[0] = 0x01;
        assert!(matches!(
            Frame::parse(&f),
            Err(FrameError::InvalidField { field: "Major", .. })
        ));
    }

    #[test]
    fn proprietary_frame_keeps_all_bytes() {
        let f = [0xe0, 1, 2, 3];
        let Ok(Frame::Proprietary(p)) = Frame::parse(&f) else {
            panic!("not proprietary")
        };
        assert_eq!(p.payload(), &[1, 2, 3]);
        assert_eq!(p.mhdr().mtype(), MType::Proprietary);
        assert_eq!(Frame::parse(&[0xe0]).map(|f| f.as_bytes().len()), Ok(1));
    }

    #[test]
    fn oversized_frame_is_rejected() {
        let f = [0x40u8; 256];
        assert_eq!(Frame::parse(&f), Err(FrameError::TooLong(256)));
    }

    #[test]
    fn mtype_bits_round_trip() {
        for b in 0..8 {
            assert_eq!(MType::from_bits(b).bits(), b);
        }
    }
}
