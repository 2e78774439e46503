//! Data frames: MHDR | FHDR (DevAddr, FCtrl, FCnt, FOpts) | FPort | FRMPayload | MIC.

use super::{FrameError, MType, Mhdr, array, out_buf, trailing_mic, without_mic};
use crate::{DevAddr, Direction, Mic};

/// The smallest data frame: MHDR, DevAddr, FCtrl, FCnt and MIC.
const MIN_LEN: usize = 12;
/// FOpts starts after MHDR(1) + DevAddr(4) + FCtrl(1) + FCnt(2).
const FOPTS_AT: usize = 8;

/// The FCtrl byte, kept whole so that RFU bits survive a round trip.
///
/// Bit 7 ADR, bit 6 ADRACKReq (uplink; RFU downlink), bit 5 ACK, bit 4 ClassB
/// (uplink) or FPending (downlink), bits 3..0 FOptsLen.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FCtrl(pub u8);

impl FCtrl {
    /// ADR: the device accepts (uplink) or the network controls (downlink) its data rate.
    pub const fn adr(self) -> bool {
        self.0 & 0x80 != 0
    }
    /// ADRACKReq (uplink): the device asks for a downlink to confirm connectivity.
    pub const fn adr_ack_req(self) -> bool {
        self.0 & 0x40 != 0
    }
    /// ACK: the frame acknowledges the last confirmed frame received.
    pub const fn ack(self) -> bool {
        self.0 & 0x20 != 0
    }
    /// FPending (downlink): the network has more data pending.
    pub const fn f_pending(self) -> bool {
        self.0 & 0x10 != 0
    }
    /// ClassB (uplink): the device has switched to class B. Same bit as FPending.
    pub const fn class_b(self) -> bool {
        self.f_pending()
    }
    /// FOptsLen: the number of FOpts bytes (0 to 15).
    pub const fn f_opts_len(self) -> u8 {
        self.0 & 0x0f
    }
    /// With ADR set or cleared.
    #[must_use]
    pub const fn with_adr(self, on: bool) -> Self {
        self.with_bit(0x80, on)
    }
    /// With ADRACKReq set or cleared.
    #[must_use]
    pub const fn with_adr_ack_req(self, on: bool) -> Self {
        self.with_bit(0x40, on)
    }
    /// With ACK set or cleared.
    #[must_use]
    pub const fn with_ack(self, on: bool) -> Self {
        self.with_bit(0x20, on)
    }
    /// With FPending (downlink) or ClassB (uplink) set or cleared.
    #[must_use]
    pub const fn with_f_pending(self, on: bool) -> Self {
        self.with_bit(0x10, on)
    }
    const fn with_bit(self, bit: u8, on: bool) -> Self {
        Self(if on { self.0 | bit } else { self.0 & !bit })
    }
}

impl core::fmt::Debug for FCtrl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FCtrl")
            .field("adr", &self.adr())
            .field("adr_ack_req", &self.adr_ack_req())
            .field("ack", &self.ack())
            .field("f_pending", &self.f_pending())
            .field("f_opts_len", &self.f_opts_len())
            .finish()
    }
}

/// A validated data frame, uplink or downlink, confirmed or not.
///
/// The view is over the frame as it travels: FOpts (in LoRaWAN 1.1) and
/// FRMPayload are still encrypted; [`DataFrameMut`] decrypts in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFrame<'a> {
    bytes: &'a [u8],
}

impl<'a> DataFrame<'a> {
    /// Validates a data-frame PHYPayload.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, FrameError> {
        let len = bytes.len();
        if len < MIN_LEN {
            return Err(FrameError::Truncated {
                what: "data frame",
                needed: MIN_LEN,
                got: len,
            });
        }
        let mhdr = Mhdr(array::<1>(bytes, 0)[0]);
        if !mhdr.mtype().is_data() {
            return Err(FrameError::InvalidField {
                field: "MType",
                value: mhdr.mtype().bits().into(),
                reason: "not a data frame",
            });
        }
        mhdr.check_major()?;
        let f_opts_len = usize::from(FCtrl(array::<1>(bytes, 5)[0]).f_opts_len());
        if len < MIN_LEN + f_opts_len {
            return Err(FrameError::Truncated {
                what: "data frame FOpts",
                needed: MIN_LEN + f_opts_len,
                got: len,
            });
        }
        let frame = Self { bytes };
        if f_opts_len > 0 && frame.fport() == Some(0) {
            return Err(FrameError::InvalidField {
                field: "FPort",
                value: 0,
                reason: "MAC commands cannot be in FOpts and FRMPayload at once",
            });
        }
        Ok(frame)
    }

    /// The MAC header.
    pub fn mhdr(&self) -> Mhdr {
        Mhdr(array::<1>(self.bytes, 0)[0])
    }
    /// The direction, from the MType.
    pub fn direction(&self) -> Direction {
        match self.mhdr().mtype() {
            MType::UnconfirmedDataDown | MType::ConfirmedDataDown => Direction::Downlink,
            _ => Direction::Uplink,
        }
    }
    /// Whether the frame must be acknowledged.
    pub fn is_confirmed(&self) -> bool {
        self.mhdr().mtype().is_confirmed()
    }
    /// DevAddr.
    pub fn dev_addr(&self) -> DevAddr {
        DevAddr::from_le_bytes(array(self.bytes, 1))
    }
    /// FCtrl.
    pub fn fctrl(&self) -> FCtrl {
        FCtrl(array::<1>(self.bytes, 5)[0])
    }
    /// The 16 least significant bits of the frame counter.
    pub fn fcnt(&self) -> u16 {
        u16::from_le_bytes(array(self.bytes, 6))
    }
    /// FOpts as carried (encrypted with NwkSEncKey in LoRaWAN 1.1).
    pub fn fopts(&self) -> &'a [u8] {
        self.bytes.get(FOPTS_AT..self.port_at()).unwrap_or_default()
    }
    /// FPort, if the frame has one (it has one whenever it has an FRMPayload).
    pub fn fport(&self) -> Option<u8> {
        if self.port_at() < self.mic_at() {
            self.bytes.get(self.port_at()).copied()
        } else {
            None
        }
    }
    /// FRMPayload as carried (encrypted); empty without FPort.
    pub fn frm_payload(&self) -> &'a [u8] {
        self.bytes
            .get(self.port_at() + 1..self.mic_at())
            .unwrap_or_default()
    }
    /// The MIC carried by the frame.
    pub fn mic(&self) -> Mic {
        trailing_mic(self.bytes)
    }
    /// The bytes the MIC covers: MHDR to the end of FRMPayload.
    pub fn mic_input(&self) -> &'a [u8] {
        without_mic(self.bytes)
    }
    /// The whole PHYPayload.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// The fields, for rebuilding the frame. `fcnt` holds only the 16 bits
    /// carried; payloads are as carried (encrypted).
    pub fn repr(&self) -> DataFrameRepr<'a> {
        DataFrameRepr {
            mtype: self.mhdr().mtype(),
            dev_addr: self.dev_addr(),
            fctrl: self.fctrl(),
            fcnt: self.fcnt().into(),
            fopts: self.fopts(),
            fport: self.fport(),
            frm_payload: self.frm_payload(),
        }
    }

    fn port_at(&self) -> usize {
        FOPTS_AT + usize::from(self.fctrl().f_opts_len())
    }
    fn mic_at(&self) -> usize {
        self.bytes.len().saturating_sub(4)
    }
}

/// The fields of a data frame, ready to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFrameRepr<'a> {
    /// One of the four data MTypes.
    pub mtype: MType,
    /// DevAddr.
    pub dev_addr: DevAddr,
    /// FCtrl; its FOptsLen bits are replaced by the length of `fopts`.
    pub fctrl: FCtrl,
    /// The full 32-bit frame counter; the frame carries its 16 low bits.
    pub fcnt: u32,
    /// FOpts (at most 15 bytes), as they are to be written.
    pub fopts: &'a [u8],
    /// FPort; required when `frm_payload` is not empty.
    pub fport: Option<u8>,
    /// FRMPayload, as it is to be written.
    pub frm_payload: &'a [u8],
}

impl DataFrameRepr<'_> {
    /// The length of the frame this writes.
    pub fn buffer_len(&self) -> usize {
        MIN_LEN + self.fopts.len() + usize::from(self.fport.is_some()) + self.frm_payload.len()
    }

    /// Writes the frame with the given MIC and returns its length; payloads are
    /// written as given (see [`DataFrameMut`] to encrypt and sign in place).
    pub fn emit(&self, mic: Mic, buf: &mut [u8]) -> Result<usize, FrameError> {
        if !self.mtype.is_data() {
            return Err(FrameError::InvalidField {
                field: "MType",
                value: self.mtype.bits().into(),
                reason: "not a data frame",
            });
        }
        if self.fopts.len() > 15 {
            return Err(FrameError::InvalidField {
                field: "FOptsLen",
                value: self.fopts.len() as u32,
                reason: "FOpts holds at most 15 bytes",
            });
        }
        if self.fport.is_none() && !self.frm_payload.is_empty() {
            return Err(FrameError::InvalidField {
                field: "FPort",
                value: 0,
                reason: "an FRMPayload needs an FPort",
            });
        }
        if self.fport == Some(0) && !self.fopts.is_empty() {
            return Err(FrameError::InvalidField {
                field: "FPort",
                value: 0,
                reason: "MAC commands cannot be in FOpts and FRMPayload at once",
            });
        }
        let len = self.buffer_len();
        if len > super::MAX_PHY_PAYLOAD_LEN {
            return Err(FrameError::TooLong(len));
        }
        let out = out_buf(buf, len)?;
        out[0] = Mhdr::new(self.mtype).0;
        out[1..5].copy_from_slice(&self.dev_addr.to_le_bytes());
        out[5] = (self.fctrl.0 & 0xf0) | self.fopts.len() as u8;
        out[6..8].copy_from_slice(&(self.fcnt as u16).to_le_bytes());
        let mut at = FOPTS_AT;
        out[at..at + self.fopts.len()].copy_from_slice(self.fopts);
        at += self.fopts.len();
        if let Some(port) = self.fport {
            out[at] = port;
            at += 1;
        }
        out[at..at + self.frm_payload.len()].copy_from_slice(self.frm_payload);
        at += self.frm_payload.len();
        out[at..at + 4].copy_from_slice(&mic.0);
        Ok(len)
    }
}

/// A validated data frame in a mutable buffer, for encrypting, decrypting and
/// signing in place.
#[derive(Debug, PartialEq, Eq)]
pub struct DataFrameMut<'a> {
    bytes: &'a mut [u8],
}

impl<'a> DataFrameMut<'a> {
    /// Validates the frame exactly as [`DataFrame::new_checked`] does.
    pub fn new_checked(bytes: &'a mut [u8]) -> Result<Self, FrameError> {
        DataFrame::new_checked(bytes)?;
        Ok(Self { bytes })
    }
    /// The read-only view.
    pub fn view(&self) -> DataFrame<'_> {
        DataFrame { bytes: self.bytes }
    }
    /// FOpts, mutable.
    pub fn fopts_mut(&mut self) -> &mut [u8] {
        let (start, end) = (FOPTS_AT, self.view().port_at());
        self.bytes.get_mut(start..end).unwrap_or_default()
    }
    /// FRMPayload, mutable (empty without FPort).
    pub fn frm_payload_mut(&mut self) -> &mut [u8] {
        let view = self.view();
        let (start, end) = (view.port_at() + 1, view.mic_at());
        self.bytes.get_mut(start..end).unwrap_or_default()
    }
    /// Overwrites the MIC field.
    pub fn set_mic(&mut self, mic: Mic) {
        let at = self.view().mic_at();
        if let Some(dst) = self.bytes.get_mut(at..) {
            dst.copy_from_slice(&mic.0);
        }
    }
    /// The whole frame.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phy::Frame;

    // lora-rs's "hello" uplink (research notes): DevAddr 01020304, ADR, FCnt 1, FPort 1.
    const UPLINK: [u8; 18] = [
        0x40, 0x04, 0x03, 0x02, 0x01, 0x80, 0x01, 0x00, 0x01, 0xa6, 0x94, 0x64, 0x26, 0x15, 0xd6,
        0xc3, 0xb5, 0x82,
    ];

    #[test]
    fn uplink_fields() {
        let Ok(Frame::Data(d)) = Frame::parse(&UPLINK) else {
            panic!("not data")
        };
        assert_eq!(d.direction(), Direction::Uplink);
        assert!(!d.is_confirmed());
        assert_eq!(d.fopts(), &[] as &[u8]);
        assert_eq!(d.frm_payload(), &UPLINK[9..14]);
        assert_eq!(d.mic().to_string(), "d6c3b582");
    }

    #[test]
    fn frame_round_trips_through_repr() {
        let d = DataFrame::new_checked(&UPLINK).unwrap();
        let mut buf = [0u8; 64];
        let n = d.repr().emit(d.mic(), &mut buf).unwrap();
        assert_eq!(&buf[..n], &UPLINK);
    }

    #[test]
    fn fport_without_payload_is_kept() {
        let repr = DataFrameRepr {
            mtype: MType::ConfirmedDataDown,
            dev_addr: DevAddr::from_u32(1),
            fctrl: FCtrl::default().with_ack(true),
            fcnt: 0x1_0002,
            fopts: &[0x02, 0x05, 0x01],
            fport: Some(7),
            frm_payload: &[],
        };
        let mut buf = [0u8; 32];
        let n = repr.emit(Mic::default(), &mut buf).unwrap();
        let d = DataFrame::new_checked(&buf[..n]).unwrap();
        assert_eq!(d.fport(), Some(7));
        assert_eq!(d.fopts(), &[0x02, 0x05, 0x01]);
        assert_eq!(d.fcnt(), 2);
        assert_eq!(d.direction(), Direction::Downlink);
        assert!(d.fctrl().ack());
    }

    #[test]
    fn fopts_longer_than_frame_is_truncated() {
        let mut f = UPLINK;
        f[5] = 0x0f;
        assert!(matches!(
            Frame::parse(&f[..13]),
            Err(FrameError::Truncated {
                what: "data frame FOpts",
                ..
            })
        ));
    }

    #[test]
    fn fopts_with_port_zero_is_rejected() {
        let f = [0x40, 1, 2, 3, 4, 0x01, 0, 0, 0x02, 0x00, 0xaa, 0, 0, 0, 0];
        assert!(matches!(
            Frame::parse(&f),
            Err(FrameError::InvalidField { field: "FPort", .. })
        ));
    }

    #[test]
    fn emit_rejects_what_cannot_be_encoded() {
        let base = DataFrameRepr {
            mtype: MType::UnconfirmedDataUp,
            dev_addr: DevAddr::default(),
            fctrl: FCtrl::default(),
            fcnt: 0,
            fopts: &[],
            fport: None,
            frm_payload: &[],
        };
        let mut buf = [0u8; 300];
        let payload = [0u8; 250];
        let cases = [
            DataFrameRepr {
                fopts: &[0; 16],
                ..base
            },
            DataFrameRepr {
                frm_payload: &[1],
                ..base
            },
            DataFrameRepr {
                mtype: MType::JoinRequest,
                ..base
            },
            DataFrameRepr {
                fport: Some(1),
                frm_payload: &payload,
                ..base
            },
        ];
        for repr in cases {
            assert!(repr.emit(Mic::default(), &mut buf).is_err(), "{repr:?}");
        }
        assert_eq!(
            base.emit(Mic::default(), &mut buf[..11]),
            Err(FrameError::BufferTooSmall {
                needed: 12,
                available: 11
            })
        );
    }
}
