//! Reading what people type: frames in hex or base64, byte strings, identifiers,
//! keys and numbers, each failure naming the flag or JSON field it came from.

use std::io::Read;
use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use clap::ValueEnum;
use lorawan::ParseHexError;

/// The LoRaWAN version whose keys and MIC rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Version {
    /// LoRaWAN 1.0.x: one NwkSKey, the AppKey as root key.
    #[value(name = "1.0", aliases = ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "10"])]
    V10,
    /// LoRaWAN 1.1: FNwkSIntKey, SNwkSIntKey and NwkSEncKey, the NwkKey as root key.
    #[value(name = "1.1", aliases = ["1.1.0", "11"])]
    V11,
}

impl Version {
    /// The version as people write it.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::V10 => "1.0",
            Self::V11 => "1.1",
        }
    }
}

impl FromStr for Version {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        <Self as ValueEnum>::from_str(s.trim(), true)
            .map_err(|_| anyhow!("unknown LoRaWAN version {s:?}: expected 1.0 or 1.1"))
    }
}

/// The PHYPayload given on the command line: hex (with or without spaces, commas
/// or `0x`) or base64 as ChirpStack shows `phyPayload`; `-` reads it from stdin.
pub(crate) fn frame_bytes(arg: &str) -> Result<Vec<u8>> {
    let text = if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the frame from stdin")?;
        s
    } else {
        arg.to_owned()
    };
    let text = text.trim();
    if text.is_empty() {
        bail!("no frame given: expected the PHYPayload as hex or base64");
    }
    match hex_digits(text) {
        Ok(digits) => decode_hex(&digits).context("frame"),
        Err(bad) => {
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            STANDARD
                .decode(&compact)
                .or_else(|_| URL_SAFE.decode(&compact))
                .map_err(|_| {
                    anyhow!("frame is neither hex ({bad:?} is not a hex digit) nor padded base64")
                })
        }
    }
}

/// The hex digits of `text` with separators (whitespace, `,`, `:`) and `0x`
/// prefixes removed, or the first character that is not a hex digit.
fn hex_digits(text: &str) -> Result<String, char> {
    let mut digits = String::with_capacity(text.len());
    for token in text.split(|c: char| c.is_whitespace() || c == ',' || c == ':') {
        let token = token
            .strip_prefix("0x")
            .or_else(|| token.strip_prefix("0X"))
            .unwrap_or(token);
        if let Some(c) = token.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(c);
        }
        digits.push_str(token);
    }
    Ok(digits)
}

/// Bytes from an even number of hex digits.
fn decode_hex(digits: &str) -> Result<Vec<u8>> {
    if !digits.len().is_multiple_of(2) {
        bail!("odd number of hex digits ({})", digits.len());
    }
    digits
        .as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).unwrap_or("");
            u8::from_str_radix(pair, 16).map_err(|_| anyhow!("invalid hex {pair:?}"))
        })
        .collect()
}

/// Bytes of any length written as hex (spaces and `0x` allowed); `what` names
/// the flag or field in the error.
pub(crate) fn bytes(what: &str, text: &str) -> Result<Vec<u8>> {
    let digits =
        hex_digits(text.trim()).map_err(|c| anyhow!("{what}: {c:?} is not a hex digit"))?;
    decode_hex(&digits).with_context(|| what.to_owned())
}

/// An identifier or key from its hex text (most significant byte first).
pub(crate) fn hex<T: FromStr<Err = ParseHexError>>(what: &str, text: &str) -> Result<T> {
    text.trim().parse().map_err(|e| anyhow!("{what}: {e}"))
}

/// Like [`hex`] for an optional value.
pub(crate) fn opt_hex<T: FromStr<Err = ParseHexError>>(
    what: &str,
    text: Option<&str>,
) -> Result<Option<T>> {
    text.map(|t| hex(what, t)).transpose()
}

/// A number written in decimal or, with `0x`, in hex.
fn number(text: &str) -> Result<u64, String> {
    let t = text.trim().replace('_', "");
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse(),
    };
    parsed.map_err(|_| format!("{text:?} is not a number (decimal, or hex with 0x)"))
}

/// A clap value parser for a number of at most `MAX`.
pub(crate) fn bounded<const MAX: u64>(text: &str) -> Result<u64, String> {
    let n = number(text)?;
    if n > MAX {
        return Err(format!("{n} is larger than the maximum {MAX}"));
    }
    Ok(n)
}

/// A clap value parser for a 32-bit number.
pub(crate) fn u32_arg(text: &str) -> Result<u32, String> {
    bounded::<{ u32::MAX as u64 }>(text).map(|n| n as u32)
}

/// A clap value parser for a 16-bit number.
pub(crate) fn u16_arg(text: &str) -> Result<u16, String> {
    bounded::<{ u16::MAX as u64 }>(text).map(|n| n as u16)
}

/// A clap value parser for an 8-bit number.
pub(crate) fn u8_arg(text: &str) -> Result<u8, String> {
    bounded::<{ u8::MAX as u64 }>(text).map(|n| n as u8)
}

/// A frequency in Hz, or in MHz when written with a decimal point (`867.1`).
pub(crate) fn frequency(what: &str, text: &str) -> Result<u32> {
    let t = text.trim();
    let hz = if t.contains('.') {
        let mhz: f64 = t
            .parse()
            .map_err(|_| anyhow!("{what}: {t:?} is not a frequency"))?;
        (mhz * 1e6).round()
    } else {
        number(t).map_err(|e| anyhow!("{what}: {e}"))? as f64
    };
    if !(0.0..=f64::from(u32::MAX)).contains(&hz) {
        bail!("{what}: {t} is out of range");
    }
    Ok(hz as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_frames_accept_spaces_commas_and_prefixes() {
        assert_eq!(frame_bytes("0x40 04, 0x03").unwrap(), [0x40, 0x04, 0x03]);
        assert_eq!(frame_bytes("40:04:03").unwrap(), [0x40, 0x04, 0x03]);
    }

    #[test]
    fn base64_frames_are_recognised() {
        assert_eq!(frame_bytes("QAQD").unwrap(), [0x40, 0x04, 0x03]);
    }

    #[test]
    fn text_that_is_neither_is_refused() {
        let e = frame_bytes("40zz0").unwrap_err().to_string();
        assert!(e.contains("neither hex"), "{e}");
        assert!(frame_bytes("404").is_err());
    }

    #[test]
    fn numbers_take_hex_and_bounds() {
        assert_eq!(u32_arg("0x12aff"), Ok(76543));
        assert!(u8_arg("256").is_err());
        assert_eq!(frequency("f", "867.1").unwrap(), 867_100_000);
    }
}
