//! What can go wrong reading or writing MAC commands.

use crate::Direction;

/// A MAC command could not be parsed or built.
///
/// Parse errors name the byte they concern: `offset` counts from the start of the
/// buffer given to [`parse`](super::parse) or [`parse_one`](super::parse_one).
/// Build errors ([`ValueOutOfRange`](Self::ValueOutOfRange),
/// [`FrequencyStep`](Self::FrequencyStep), [`BufferTooSmall`](Self::BufferTooSmall))
/// are the caller's: the command holds a value its field cannot carry, or the
/// output buffer is short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MacError {
    /// There was no byte to read a CID from.
    #[error("no MAC command at byte {offset}: the input ends there")]
    Empty {
        /// Where a CID was expected.
        offset: usize,
    },
    /// The CID names no command in this direction (for example 0x0E on an uplink:
    /// ForceRejoinReq only travels down).
    #[error("unknown {direction:?} MAC command CID {cid:#04x} at byte {offset}")]
    UnknownCid {
        /// The command identifier.
        cid: u8,
        /// The direction the bytes were read for.
        direction: Direction,
        /// Position of the CID byte.
        offset: usize,
    },
    /// A proprietary CID (0x80 to 0xFF): its payload length is not known, so
    /// neither it nor anything after it can be read.
    #[error("proprietary MAC command CID {cid:#04x} at byte {offset}: its length is unknown")]
    Proprietary {
        /// The command identifier.
        cid: u8,
        /// Position of the CID byte.
        offset: usize,
    },
    /// The input ends inside the command's payload.
    #[error(
        "MAC command CID {cid:#04x} at byte {offset} needs {needed} payload bytes, only {available} follow"
    )]
    Truncated {
        /// The command identifier.
        cid: u8,
        /// Position of the CID byte.
        offset: usize,
        /// Payload bytes the command needs (after the CID).
        needed: usize,
        /// Payload bytes the input still held (after the CID).
        available: usize,
    },
    /// A field holds a value the specification reserves (RFU) and that this codec
    /// cannot represent, such as DeviceModeInd class 1 or a FilterListReq action of 3.
    #[error("MAC command CID {cid:#04x}: {field} has the reserved value {value} (byte {offset})")]
    InvalidValue {
        /// The command identifier.
        cid: u8,
        /// Position of the byte that holds the field.
        offset: usize,
        /// The field, as the specification names it.
        field: &'static str,
        /// The value found.
        value: u32,
    },
    /// Building: a field's value does not fit the bits the specification gives it.
    #[error("MAC command CID {cid:#04x}: {field} = {value} is outside {min}..={max}")]
    ValueOutOfRange {
        /// The command identifier.
        cid: u8,
        /// The field, as the specification names it.
        field: &'static str,
        /// The value given.
        value: i64,
        /// The least value the field can carry.
        min: i64,
        /// The greatest value the field can carry.
        max: i64,
    },
    /// Building: a frequency is not a multiple of the 100 Hz step the field counts in.
    #[error("MAC command CID {cid:#04x}: {field} = {frequency} Hz is not a multiple of 100 Hz")]
    FrequencyStep {
        /// The command identifier.
        cid: u8,
        /// The field, as the specification names it.
        field: &'static str,
        /// The frequency given, in Hz.
        frequency: u32,
    },
    /// Building: the output buffer cannot hold the encoded command(s).
    #[error("buffer of {available} bytes is too small: {needed} needed")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

/// Why a payload could not be decoded; positions count from the payload's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The payload needs `needed` bytes.
    Short { needed: usize },
    /// The byte at `index` holds a reserved value of `field`.
    Reserved {
        index: usize,
        field: &'static str,
        value: u32,
    },
}

impl DecodeError {
    pub(crate) fn at(self, cid: u8, offset: usize, available: usize) -> MacError {
        match self {
            Self::Short { needed } => MacError::Truncated {
                cid,
                offset,
                needed,
                available,
            },
            Self::Reserved {
                index,
                field,
                value,
            } => MacError::InvalidValue {
                cid,
                offset: offset.saturating_add(1).saturating_add(index),
                field,
                value,
            },
        }
    }
}

/// Why a payload could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EncodeError {
    OutOfRange {
        field: &'static str,
        value: i64,
        min: i64,
        max: i64,
    },
    FrequencyStep {
        field: &'static str,
        frequency: u32,
    },
}

impl EncodeError {
    pub(crate) fn with_cid(self, cid: u8) -> MacError {
        match self {
            Self::OutOfRange {
                field,
                value,
                min,
                max,
            } => MacError::ValueOutOfRange {
                cid,
                field,
                value,
                min,
                max,
            },
            Self::FrequencyStep { field, frequency } => MacError::FrequencyStep {
                cid,
                field,
                frequency,
            },
        }
    }
}
