//! Shared pieces of the payload codecs: the payload traits, bit-field range checks
//! and the 24-bit frequency field.

use super::error::{DecodeError, EncodeError};

/// The longest payload of any command: UpdateUplinkListReq's 26 bytes.
pub(crate) const MAX_PAYLOAD_LEN: usize = 26;

/// An encoded payload, held inline so that building never allocates.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PayloadBuf {
    bytes: [u8; MAX_PAYLOAD_LEN],
    len: usize,
}

impl PayloadBuf {
    pub(crate) fn from_array<const N: usize>(array: [u8; N]) -> Self {
        const { assert!(N <= MAX_PAYLOAD_LEN) };
        let mut bytes = [0; MAX_PAYLOAD_LEN];
        if let Some(dst) = bytes.get_mut(..N) {
            dst.copy_from_slice(&array);
        }
        Self { bytes, len: N }
    }

    /// Appends `tail` (at most what still fits; callers bound it).
    pub(crate) fn extend(&mut self, tail: &[u8]) {
        let end = self.len.saturating_add(tail.len()).min(MAX_PAYLOAD_LEN);
        if let (Some(dst), Some(src)) = (
            self.bytes.get_mut(self.len..end),
            tail.get(..end.saturating_sub(self.len)),
        ) {
            dst.copy_from_slice(src);
        }
        self.len = end;
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

/// A command payload: decoded from the bytes after the CID, encoded back.
pub(crate) trait Decode: Sized {
    /// Decodes from `input`, which may run on past the payload.
    fn decode(input: &[u8]) -> Result<Self, DecodeError>;
}

/// The encoding half of a payload, object safe so that `MacCommand` can reach it.
pub(crate) trait Encode {
    fn payload_len(&self) -> usize;
    fn encode(&self) -> Result<PayloadBuf, EncodeError>;
}

/// Implements [`Decode`] and [`Encode`] for a payload of fixed length `N` from its
/// `from_bytes(&[u8; N])` and `to_bytes() -> [u8; N]` methods.
macro_rules! fixed_payload {
    ($($ty:ty => $n:literal),* $(,)?) => {$(
        impl $crate::mac::wire::Decode for $ty {
            fn decode(input: &[u8]) -> Result<Self, $crate::mac::error::DecodeError> {
                let bytes = input
                    .first_chunk::<$n>()
                    .ok_or($crate::mac::error::DecodeError::Short { needed: $n })?;
                Self::from_bytes(bytes)
            }
        }

        impl $crate::mac::wire::Encode for $ty {
            fn payload_len(&self) -> usize {
                $n
            }
            fn encode(
                &self,
            ) -> Result<$crate::mac::wire::PayloadBuf, $crate::mac::error::EncodeError> {
                self.to_bytes().map($crate::mac::wire::PayloadBuf::from_array)
            }
        }
    )*};
}
pub(crate) use fixed_payload;

/// Checks that `value` fits in `width` bits.
pub(crate) fn bits(field: &'static str, value: u8, width: u32) -> Result<u8, EncodeError> {
    let max = (1u16 << width) - 1;
    if u16::from(value) > max {
        return Err(EncodeError::OutOfRange {
            field,
            value: value.into(),
            min: 0,
            max: max.into(),
        });
    }
    Ok(value)
}

/// Checks that `value` lies in `min..=max`.
pub(crate) fn range(
    field: &'static str,
    value: i64,
    min: i64,
    max: i64,
) -> Result<(), EncodeError> {
    if value < min || value > max {
        return Err(EncodeError::OutOfRange {
            field,
            value,
            min,
            max,
        });
    }
    Ok(())
}

/// A one-bit flag.
pub(crate) const fn flag(b: u8, bit: u32) -> bool {
    b & (1 << bit) != 0
}

/// The flags given as (value, bit) pairs, as one byte.
pub(crate) fn flags<const N: usize>(pairs: [(bool, u32); N]) -> u8 {
    pairs
        .iter()
        .fold(0, |b, &(set, bit)| if set { b | (1 << bit) } else { b })
}

/// The greatest frequency a 24-bit field in 100 Hz steps carries.
pub(crate) const MAX_FREQUENCY: u32 = 0xff_ffff * 100;

/// A frequency field: 24 bits, little-endian, in 100 Hz steps.
pub(crate) fn frequency_from_bytes(b: [u8; 3]) -> u32 {
    let [b0, b1, b2] = b;
    u32::from_le_bytes([b0, b1, b2, 0]) * 100
}

/// Encodes a frequency in Hz; it must be a multiple of 100 Hz and at most
/// [`MAX_FREQUENCY`].
pub(crate) fn frequency_to_bytes(field: &'static str, hz: u32) -> Result<[u8; 3], EncodeError> {
    if !hz.is_multiple_of(100) {
        return Err(EncodeError::FrequencyStep {
            field,
            frequency: hz,
        });
    }
    range(field, hz.into(), 0, MAX_FREQUENCY.into())?;
    let [b0, b1, b2, _] = (hz / 100).to_le_bytes();
    Ok([b0, b1, b2])
}
