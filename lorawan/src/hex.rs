//! Hexadecimal text for identifiers and keys, written most significant byte first.

use core::fmt;

/// The text was not the hexadecimal form of the expected number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseHexError {
    /// The text had the wrong number of hexadecimal digits.
    #[error("expected {expected} hex digits, got {got}")]
    Length {
        /// Digits expected (twice the byte length).
        expected: usize,
        /// Digits found.
        got: usize,
    },
    /// A character was not a hexadecimal digit.
    #[error("invalid hex character {found:?} at position {position}")]
    Character {
        /// The offending character.
        found: char,
        /// Its position, counted in characters from the start.
        position: usize,
    },
}

/// Parses exactly `N` bytes of hexadecimal text; an optional `0x` prefix is accepted.
pub(crate) fn decode<const N: usize>(s: &str) -> Result<[u8; N], ParseHexError> {
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let digits = s.as_bytes();
    if digits.len() != 2 * N {
        return Err(ParseHexError::Length {
            expected: 2 * N,
            got: s.chars().count(),
        });
    }
    let mut out = [0u8; N];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        let hi = nibble(pair[0]).ok_or_else(|| bad_char(s, 2 * i))?;
        let lo = nibble(pair[1]).ok_or_else(|| bad_char(s, 2 * i + 1))?;
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

fn bad_char(s: &str, byte_pos: usize) -> ParseHexError {
    // Non-ASCII input: report the first character at or after the byte position.
    let (position, found) = s
        .char_indices()
        .enumerate()
        .find(|(_, (idx, _))| *idx >= byte_pos)
        .map(|(n, (_, c))| (n, c))
        .unwrap_or((byte_pos, '?'));
    ParseHexError::Character { found, position }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Writes bytes as lowercase hex.
///
/// The digits are made in a buffer on the stack and written in one call per
/// 32 bytes: identifiers and keys are printed into every event, topic and
/// stored session, and a `{:02x}` per byte through the formatting machinery
/// cost the network server several per cent of its CPU time.
pub(crate) fn write(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(buf.len() / 2) {
        let text = &mut buf[..2 * chunk.len()];
        for (pair, b) in text.chunks_exact_mut(2).zip(chunk) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0x0f)];
        }
        // Only ASCII digits were written: this cannot fail.
        f.write_str(core::str::from_utf8(text).map_err(|_| fmt::Error)?)?;
    }
    Ok(())
}

/// Displays a byte slice as lowercase hex, with no separators.
///
/// ```
/// assert_eq!(lorawan::Hex(&[0x01, 0xab]).to_string(), "01ab");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write(f, self.0)
    }
}

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write(f, self.0)
    }
}

/// Implements `Display`, `FromStr` and (with the `serde` feature) serde as hex text
/// for a newtype over `[u8; N]` stored in the order people write it.
macro_rules! hex_text {
    ($ty:ident, $n:expr) => {
        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                $crate::hex::write(f, &self.to_be_bytes())
            }
        }

        impl core::str::FromStr for $ty {
            type Err = $crate::hex::ParseHexError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $crate::hex::decode::<$n>(s).map(Self::from_be_bytes)
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                        write!(f, "{} hex digits", 2 * $n)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}
pub(crate) use hex_text;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_byte_value_across_buffer_chunks() {
        // 256 bytes: eight of the writer's 32-byte chunks.
        let bytes: Vec<u8> = (0..=255).collect();
        let text = Hex(&bytes).to_string();
        let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(text, expected);
        assert_eq!(Hex(&bytes[..33]).to_string(), expected[..66]);
        assert_eq!(Hex(&[]).to_string(), "");
    }

    #[test]
    fn decodes_mixed_case_and_prefix() {
        assert_eq!(decode::<2>("0xAbCd"), Ok([0xab, 0xcd]));
    }

    #[test]
    fn wrong_length_is_reported_in_digits() {
        assert_eq!(
            decode::<2>("abc"),
            Err(ParseHexError::Length {
                expected: 4,
                got: 3
            })
        );
    }

    #[test]
    fn bad_character_names_its_position() {
        assert_eq!(
            decode::<2>("ab-d"),
            Err(ParseHexError::Character {
                found: '-',
                position: 2
            })
        );
        assert!(matches!(
            decode::<2>("aé1"),
            Err(ParseHexError::Character { found: 'é', .. })
        ));
    }
}
