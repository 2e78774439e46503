//! MAC commands of LoRaWAN 1.0.4 and 1.1 (TS001), class B, and the relay
//! commands of TS011: parsed and built without allocation.
//!
//! A MAC command is a one-byte command identifier (CID) followed by a payload
//! whose length the CID fixes — except FilterListReq, whose payload says its own
//! length. The same CID names different commands up and down (0x02 is
//! LinkCheckReq with no payload on an uplink and LinkCheckAns with two bytes on a
//! downlink), so reading needs the [`Direction`].
//!
//! [`MacCommand`] has one variant per command, each with a small `Copy` struct of
//! the fields the specification names. [`parse`] walks a FOpts field or an FPort 0
//! payload; [`MacCommand::emit`] writes one command back.
//!
//! - RFU bits are ignored when reading and written as zero, so a parse-emit round
//!   trip clears them. Values the specification reserves are kept where a field is
//!   a number (a device answers them with a NACK) and rejected with
//!   [`MacError::InvalidValue`] where the field is a closed set this codec types
//!   (DeviceModeInd's class, FilterListReq's action and length).
//! - Building checks every value against the bits its field has and returns
//!   [`MacError::ValueOutOfRange`] rather than truncating.
//! - Frequencies are in Hz; on the wire they count 100 Hz steps in 24 bits.
//! - Proprietary CIDs (0x80 to 0xFF) have no known length: reading stops there
//!   with [`MacError::Proprietary`].
//!
//! ```
//! use lorawan::Direction;
//! use lorawan::mac::{self, ChMask, LinkAdrReq, LinkCheckAns, MacCommand};
//!
//! // The FOpts of a downlink: LinkCheckAns (margin 20 dB, 2 gateways), LinkADRReq.
//! let fopts = [0x02, 0x14, 0x02, 0x03, 0x51, 0x07, 0x00, 0x01];
//! let commands = mac::parse(Direction::Downlink, &fopts).collect::<Result<Vec<_>, _>>()?;
//! assert_eq!(
//!     commands[0],
//!     MacCommand::LinkCheckAns(LinkCheckAns { margin: 20, gw_cnt: 2 })
//! );
//! let adr = LinkAdrReq {
//!     data_rate: 5,
//!     tx_power: 1,
//!     ch_mask: ChMask(0x0007),
//!     ch_mask_cntl: 0,
//!     nb_trans: 1,
//! };
//! assert_eq!(commands[1], MacCommand::LinkAdrReq(adr));
//!
//! // Building writes the CID and the payload.
//! let mut buf = [0; mac::MAX_ENCODED_LEN];
//! let n = MacCommand::LinkAdrReq(adr).emit(&mut buf)?;
//! assert_eq!(&buf[..n], &fopts[3..]);
//!
//! // The same CID on an uplink is LinkCheckReq, with no payload.
//! let (up, len) = mac::parse_one(Direction::Uplink, &[0x02])?;
//! assert_eq!((up, len), (MacCommand::LinkCheckReq, 1));
//!
//! // Errors say which byte is wrong.
//! let err = mac::parse(Direction::Downlink, &[0x06, 0x03, 0x51]).nth(1);
//! assert_eq!(
//!     err,
//!     Some(Err(mac::MacError::Truncated { cid: 0x03, offset: 1, needed: 4, available: 1 }))
//! );
//! # Ok::<(), mac::MacError>(())
//! ```

mod class_b;
mod error;
mod link;
mod relay;
mod wire;

#[cfg(test)]
mod tests;

use core::iter::FusedIterator;

pub use class_b::{
    BeaconFreqAns, BeaconFreqReq, BeaconTimingAns, PingSlotChannelAns, PingSlotChannelReq,
    PingSlotInfoReq,
};
pub use error::MacError;
pub use link::{
    AdrParamSetupReq, ChMask, DevStatusAns, DeviceClass, DeviceModeConf, DeviceModeInd,
    DeviceTimeAns, DlChannelAns, DlChannelReq, DutyCycleReq, ForceRejoinReq, LinkAdrAns,
    LinkAdrReq, LinkCheckAns, NewChannelAns, NewChannelReq, RejoinParamSetupAns,
    RejoinParamSetupReq, RekeyConf, RekeyInd, ResetConf, ResetInd, RxParamSetupAns,
    RxParamSetupReq, RxTimingSetupReq, TxParamSetupReq,
};
pub use relay::{
    ConfigureFwdLimitReq, CtrlUplinkAction, CtrlUplinkListAns, CtrlUplinkListReq, EndDeviceConfAns,
    EndDeviceConfReq, FilterListAction, FilterListAns, FilterListEui, FilterListReq,
    NotifyNewEndDeviceReq, RelayConfAns, RelayConfReq, RelayModeActivation, ResetLimitCounter,
    UpdateUplinkListReq,
};

use crate::Direction;
use error::DecodeError;
use wire::{Decode, Encode, PayloadBuf};

/// The longest encoded command, CID included: UpdateUplinkListReq's 27 bytes.
pub const MAX_ENCODED_LEN: usize = 1 + wire::MAX_PAYLOAD_LEN;

macro_rules! mac_commands {
    ($(
        $(#[doc = $doc:literal])+
        $variant:ident $(($payload:ident))? = $dir:ident $cid:literal $name:literal;
    )*) => {
        /// One MAC command, request or answer, with its decoded payload.
        ///
        /// Each variant's documentation gives its direction, CID and payload length.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize))]
        #[non_exhaustive]
        pub enum MacCommand {
            $( $(#[doc = $doc])+ $variant $(($payload))?, )*
        }

        impl MacCommand {
            /// The command identifier (CID).
            pub const fn cid(&self) -> u8 {
                match self {
                    $( Self::$variant { .. } => $cid, )*
                }
            }

            /// The direction the command travels in: uplink for what a device (or
            /// relay) sends, downlink for what the network server sends.
            pub const fn direction(&self) -> Direction {
                match self {
                    $( Self::$variant { .. } => Direction::$dir, )*
                }
            }

            /// The command's name as the specification writes it, e.g. `"LinkADRReq"`.
            pub const fn name(&self) -> &'static str {
                match self {
                    $( Self::$variant { .. } => $name, )*
                }
            }

            fn payload(&self) -> Option<&dyn Encode> {
                match self {
                    $( Self::$variant $( (mac_commands!(@bind p $payload)) )?
                        => mac_commands!(@some p $($payload)?), )*
                }
            }
        }

        /// The command `cid` names in `direction`, decoded from `payload` (which
        /// may run on past it); `None` if there is no such command.
        fn decode_command(
            direction: Direction,
            cid: u8,
            payload: &[u8],
        ) -> Result<Option<MacCommand>, DecodeError> {
            let command = match (direction, cid) {
                $( (Direction::$dir, $cid) => MacCommand::$variant
                    $( (<$payload as Decode>::decode(payload)?) )?, )*
                _ => return Ok(None),
            };
            Ok(Some(command))
        }

        #[cfg(test)]
        /// Every (direction, CID) pair that names a command.
        pub(crate) const ALL_CIDS: &[(Direction, u8)] = &[$( (Direction::$dir, $cid), )*];
    };
    (@bind $p:ident $payload:ident) => { $p };
    (@some $p:ident) => { None };
    (@some $p:ident $payload:ident) => { Some($p as &dyn Encode) };
}

mac_commands! {
    /// ResetInd: uplink, CID 0x01, 1 byte (LoRaWAN 1.1 ABP devices).
    ResetInd(ResetInd) = Uplink 0x01 "ResetInd";
    /// ResetConf: downlink, CID 0x01, 1 byte.
    ResetConf(ResetConf) = Downlink 0x01 "ResetConf";
    /// LinkCheckReq: uplink, CID 0x02, no payload: asks for a LinkCheckAns.
    LinkCheckReq = Uplink 0x02 "LinkCheckReq";
    /// LinkCheckAns: downlink, CID 0x02, 2 bytes.
    LinkCheckAns(LinkCheckAns) = Downlink 0x02 "LinkCheckAns";
    /// LinkADRReq: downlink, CID 0x03, 4 bytes.
    LinkAdrReq(LinkAdrReq) = Downlink 0x03 "LinkADRReq";
    /// LinkADRAns: uplink, CID 0x03, 1 byte.
    LinkAdrAns(LinkAdrAns) = Uplink 0x03 "LinkADRAns";
    /// DutyCycleReq: downlink, CID 0x04, 1 byte.
    DutyCycleReq(DutyCycleReq) = Downlink 0x04 "DutyCycleReq";
    /// DutyCycleAns: uplink, CID 0x04, no payload.
    DutyCycleAns = Uplink 0x04 "DutyCycleAns";
    /// RXParamSetupReq: downlink, CID 0x05, 4 bytes.
    RxParamSetupReq(RxParamSetupReq) = Downlink 0x05 "RXParamSetupReq";
    /// RXParamSetupAns: uplink, CID 0x05, 1 byte.
    RxParamSetupAns(RxParamSetupAns) = Uplink 0x05 "RXParamSetupAns";
    /// DevStatusReq: downlink, CID 0x06, no payload: asks for a DevStatusAns.
    DevStatusReq = Downlink 0x06 "DevStatusReq";
    /// DevStatusAns: uplink, CID 0x06, 2 bytes.
    DevStatusAns(DevStatusAns) = Uplink 0x06 "DevStatusAns";
    /// NewChannelReq: downlink, CID 0x07, 5 bytes.
    NewChannelReq(NewChannelReq) = Downlink 0x07 "NewChannelReq";
    /// NewChannelAns: uplink, CID 0x07, 1 byte.
    NewChannelAns(NewChannelAns) = Uplink 0x07 "NewChannelAns";
    /// RXTimingSetupReq: downlink, CID 0x08, 1 byte.
    RxTimingSetupReq(RxTimingSetupReq) = Downlink 0x08 "RXTimingSetupReq";
    /// RXTimingSetupAns: uplink, CID 0x08, no payload.
    RxTimingSetupAns = Uplink 0x08 "RXTimingSetupAns";
    /// TXParamSetupReq: downlink, CID 0x09, 1 byte.
    TxParamSetupReq(TxParamSetupReq) = Downlink 0x09 "TXParamSetupReq";
    /// TXParamSetupAns: uplink, CID 0x09, no payload.
    TxParamSetupAns = Uplink 0x09 "TXParamSetupAns";
    /// DlChannelReq: downlink, CID 0x0A, 4 bytes.
    DlChannelReq(DlChannelReq) = Downlink 0x0a "DlChannelReq";
    /// DlChannelAns: uplink, CID 0x0A, 1 byte.
    DlChannelAns(DlChannelAns) = Uplink 0x0a "DlChannelAns";
    /// RekeyInd: uplink, CID 0x0B, 1 byte (LoRaWAN 1.1 OTAA devices).
    RekeyInd(RekeyInd) = Uplink 0x0b "RekeyInd";
    /// RekeyConf: downlink, CID 0x0B, 1 byte.
    RekeyConf(RekeyConf) = Downlink 0x0b "RekeyConf";
    /// ADRParamSetupReq: downlink, CID 0x0C, 1 byte.
    AdrParamSetupReq(AdrParamSetupReq) = Downlink 0x0c "ADRParamSetupReq";
    /// ADRParamSetupAns: uplink, CID 0x0C, no payload.
    AdrParamSetupAns = Uplink 0x0c "ADRParamSetupAns";
    /// DeviceTimeReq: uplink, CID 0x0D, no payload: asks for a DeviceTimeAns.
    DeviceTimeReq = Uplink 0x0d "DeviceTimeReq";
    /// DeviceTimeAns: downlink, CID 0x0D, 5 bytes.
    DeviceTimeAns(DeviceTimeAns) = Downlink 0x0d "DeviceTimeAns";
    /// ForceRejoinReq: downlink, CID 0x0E, 2 bytes (no answer; 0x0E is unknown uplink).
    ForceRejoinReq(ForceRejoinReq) = Downlink 0x0e "ForceRejoinReq";
    /// RejoinParamSetupReq: downlink, CID 0x0F, 1 byte.
    RejoinParamSetupReq(RejoinParamSetupReq) = Downlink 0x0f "RejoinParamSetupReq";
    /// RejoinParamSetupAns: uplink, CID 0x0F, 1 byte.
    RejoinParamSetupAns(RejoinParamSetupAns) = Uplink 0x0f "RejoinParamSetupAns";
    /// PingSlotInfoReq: uplink, CID 0x10, 1 byte (class B).
    PingSlotInfoReq(PingSlotInfoReq) = Uplink 0x10 "PingSlotInfoReq";
    /// PingSlotInfoAns: downlink, CID 0x10, no payload.
    PingSlotInfoAns = Downlink 0x10 "PingSlotInfoAns";
    /// PingSlotChannelReq: downlink, CID 0x11, 4 bytes.
    PingSlotChannelReq(PingSlotChannelReq) = Downlink 0x11 "PingSlotChannelReq";
    /// PingSlotChannelAns: uplink, CID 0x11, 1 byte.
    PingSlotChannelAns(PingSlotChannelAns) = Uplink 0x11 "PingSlotChannelAns";
    /// BeaconTimingReq: uplink, CID 0x12, no payload (deprecated since LoRaWAN 1.0.3).
    BeaconTimingReq = Uplink 0x12 "BeaconTimingReq";
    /// BeaconTimingAns: downlink, CID 0x12, 3 bytes (deprecated since LoRaWAN 1.0.3).
    BeaconTimingAns(BeaconTimingAns) = Downlink 0x12 "BeaconTimingAns";
    /// BeaconFreqReq: downlink, CID 0x13, 3 bytes.
    BeaconFreqReq(BeaconFreqReq) = Downlink 0x13 "BeaconFreqReq";
    /// BeaconFreqAns: uplink, CID 0x13, 1 byte.
    BeaconFreqAns(BeaconFreqAns) = Uplink 0x13 "BeaconFreqAns";
    /// DeviceModeInd: uplink, CID 0x20, 1 byte (LoRaWAN 1.1).
    DeviceModeInd(DeviceModeInd) = Uplink 0x20 "DeviceModeInd";
    /// DeviceModeConf: downlink, CID 0x20, 1 byte.
    DeviceModeConf(DeviceModeConf) = Downlink 0x20 "DeviceModeConf";
    /// RelayConfReq: downlink, CID 0x40, 5 bytes (TS011).
    RelayConfReq(RelayConfReq) = Downlink 0x40 "RelayConfReq";
    /// RelayConfAns: uplink, CID 0x40, 1 byte.
    RelayConfAns(RelayConfAns) = Uplink 0x40 "RelayConfAns";
    /// EndDeviceConfReq: downlink, CID 0x41, 6 bytes.
    EndDeviceConfReq(EndDeviceConfReq) = Downlink 0x41 "EndDeviceConfReq";
    /// EndDeviceConfAns: uplink, CID 0x41, 1 byte.
    EndDeviceConfAns(EndDeviceConfAns) = Uplink 0x41 "EndDeviceConfAns";
    /// FilterListReq: downlink, CID 0x42, 2 to 18 bytes.
    FilterListReq(FilterListReq) = Downlink 0x42 "FilterListReq";
    /// FilterListAns: uplink, CID 0x42, 1 byte.
    FilterListAns(FilterListAns) = Uplink 0x42 "FilterListAns";
    /// UpdateUplinkListReq: downlink, CID 0x43, 26 bytes.
    UpdateUplinkListReq(UpdateUplinkListReq) = Downlink 0x43 "UpdateUplinkListReq";
    /// UpdateUplinkListAns: uplink, CID 0x43, no payload.
    UpdateUplinkListAns = Uplink 0x43 "UpdateUplinkListAns";
    /// CtrlUplinkListReq: downlink, CID 0x44, 1 byte.
    CtrlUplinkListReq(CtrlUplinkListReq) = Downlink 0x44 "CtrlUplinkListReq";
    /// CtrlUplinkListAns: uplink, CID 0x44, 5 bytes.
    CtrlUplinkListAns(CtrlUplinkListAns) = Uplink 0x44 "CtrlUplinkListAns";
    /// ConfigureFwdLimitReq: downlink, CID 0x45, 5 bytes.
    ConfigureFwdLimitReq(ConfigureFwdLimitReq) = Downlink 0x45 "ConfigureFwdLimitReq";
    /// ConfigureFwdLimitAns: uplink, CID 0x45, no payload.
    ConfigureFwdLimitAns = Uplink 0x45 "ConfigureFwdLimitAns";
    /// NotifyNewEndDeviceReq: uplink, CID 0x46, 6 bytes (no answer; 0x46 is unknown downlink).
    NotifyNewEndDeviceReq(NotifyNewEndDeviceReq) = Uplink 0x46 "NotifyNewEndDeviceReq";
}

impl MacCommand {
    /// The payload length in bytes, without the CID.
    pub fn payload_len(&self) -> usize {
        self.payload().map_or(0, Encode::payload_len)
    }

    /// The encoded length in bytes: the CID and the payload.
    pub fn encoded_len(&self) -> usize {
        1 + self.payload_len()
    }

    /// Writes the CID and the payload to the start of `buf` and returns the number
    /// of bytes written.
    ///
    /// Fails with [`MacError::ValueOutOfRange`] or [`MacError::FrequencyStep`] if a
    /// field cannot be encoded, and with [`MacError::BufferTooSmall`] if `buf` is
    /// shorter than [`encoded_len`](Self::encoded_len); `buf` is unchanged then.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, MacError> {
        let cid = self.cid();
        let payload = match self.payload() {
            Some(p) => p.encode().map_err(|e| e.with_cid(cid))?,
            None => PayloadBuf::from_array([]),
        };
        let payload = payload.as_slice();
        let needed = 1 + payload.len();
        let available = buf.len();
        let out = buf
            .get_mut(..needed)
            .ok_or(MacError::BufferTooSmall { needed, available })?;
        if let Some((first, rest)) = out.split_first_mut() {
            *first = cid;
            rest.copy_from_slice(payload);
        }
        Ok(needed)
    }

    /// Appends the CID and the payload to `out` and returns the number of bytes
    /// appended; on error `out` is unchanged.
    #[cfg(feature = "alloc")]
    pub fn emit_to_vec(&self, out: &mut alloc::vec::Vec<u8>) -> Result<usize, MacError> {
        let mut buf = [0; MAX_ENCODED_LEN];
        let n = self.emit(&mut buf)?;
        out.extend_from_slice(buf.get(..n).unwrap_or(&[]));
        Ok(n)
    }
}

/// Writes `commands` one after another to the start of `buf` and returns the
/// number of bytes written.
///
/// Fails with [`MacError::BufferTooSmall`] (naming the total length) before
/// writing anything if they do not all fit; with a field error otherwise.
///
/// ```
/// use lorawan::mac::{self, MacCommand, LinkAdrAns};
/// let answers = [
///     MacCommand::LinkAdrAns(LinkAdrAns { power_ack: true, data_rate_ack: true, channel_mask_ack: true }),
///     MacCommand::DeviceTimeReq,
/// ];
/// let mut fopts = [0; 15];
/// let n = mac::emit_all(&answers, &mut fopts)?;
/// assert_eq!(&fopts[..n], &[0x03, 0x07, 0x0d]);
/// # Ok::<(), mac::MacError>(())
/// ```
pub fn emit_all(commands: &[MacCommand], buf: &mut [u8]) -> Result<usize, MacError> {
    let needed = commands.iter().map(MacCommand::encoded_len).sum();
    let available = buf.len();
    if needed > available {
        return Err(MacError::BufferTooSmall { needed, available });
    }
    let mut offset = 0;
    for command in commands {
        offset += command.emit(buf.get_mut(offset..).unwrap_or(&mut []))?;
    }
    Ok(offset)
}

/// Reads the one command at the start of `bytes`, as sent in `direction`, and
/// returns it with the number of bytes it took (CID included).
///
/// Error offsets count from the start of `bytes`.
pub fn parse_one(direction: Direction, bytes: &[u8]) -> Result<(MacCommand, usize), MacError> {
    parse_at(direction, bytes, 0)
}

/// Reads the command at the start of `bytes`, which sit at `offset` in the caller's
/// buffer.
fn parse_at(
    direction: Direction,
    bytes: &[u8],
    offset: usize,
) -> Result<(MacCommand, usize), MacError> {
    let (&cid, payload) = bytes.split_first().ok_or(MacError::Empty { offset })?;
    match decode_command(direction, cid, payload) {
        Ok(Some(command)) => Ok((command, command.encoded_len())),
        Ok(None) if cid >= 0x80 => Err(MacError::Proprietary { cid, offset }),
        Ok(None) => Err(MacError::UnknownCid {
            cid,
            direction,
            offset,
        }),
        Err(e) => Err(e.at(cid, offset, payload.len())),
    }
}

/// Reads the commands in `bytes` (a FOpts field or an FPort 0 payload, decrypted)
/// as sent in `direction`.
///
/// The iterator yields each command in turn; at the first error it yields the
/// error and then stops, since nothing after an unreadable command can be framed.
pub fn parse(direction: Direction, bytes: &[u8]) -> MacCommands<'_> {
    MacCommands {
        direction,
        bytes,
        offset: 0,
        failed: false,
    }
}

/// The iterator of [`parse`].
#[derive(Debug, Clone)]
pub struct MacCommands<'a> {
    direction: Direction,
    bytes: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> MacCommands<'a> {
    /// The position of the next command to read; after an error, of the command
    /// that failed.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The bytes from [`offset`](Self::offset) on.
    pub fn remaining(&self) -> &'a [u8] {
        self.bytes.get(self.offset..).unwrap_or(&[])
    }
}

impl Iterator for MacCommands<'_> {
    type Item = Result<MacCommand, MacError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.remaining();
        if self.failed || rest.is_empty() {
            return None;
        }
        match parse_at(self.direction, rest, self.offset) {
            Ok((command, len)) => {
                self.offset += len;
                Some(Ok(command))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

impl FusedIterator for MacCommands<'_> {}

#[cfg(all(test, feature = "serde"))]
mod serde_tests {
    use super::*;

    #[test]
    fn commands_serialize_with_their_field_names() {
        let fopts = [0x02, 0x14, 0x02, 0x03, 0x51, 0x07, 0x00, 0x01];
        let commands: Vec<MacCommand> = parse(Direction::Downlink, &fopts)
            .collect::<Result<_, _>>()
            .unwrap();
        let json = serde_json::to_string(&commands).unwrap();
        assert_eq!(
            json,
            r#"[{"LinkCheckAns":{"margin":20,"gw_cnt":2}},{"LinkAdrReq":{"data_rate":5,"tx_power":1,"ch_mask":7,"ch_mask_cntl":0,"nb_trans":1}}]"#
        );
        let up = serde_json::to_string(&MacCommand::LinkCheckReq).unwrap();
        assert_eq!(up, r#""LinkCheckReq""#);
    }
}
