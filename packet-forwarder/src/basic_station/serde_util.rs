//! The station's text forms: hex byte strings and EUIs.

use lorawan::Eui64;
use serde::{Deserialize, Deserializer, Serializer};

/// Uppercase hex, as the station writes `FOpts`, `FRMPayload` and `pdu`.
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Hex text of either case; `None` for an odd length or a non-hex character.
pub(crate) fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

/// `Vec<u8>` as hex text.
pub(crate) mod hex_bytes {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex_encode(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        hex_decode(&s).ok_or_else(|| serde::de::Error::custom("invalid hex string"))
    }
}

/// Parses an EUI in any form the station writes or accepts: hyphenated
/// (`01-02-…-08`), colon-separated bytes, id6 (`b827:ebff:fe61:51a2`, with `::`
/// compression), or 16 plain hex digits.
///
/// ```
/// use packet_forwarder::basic_station::parse_eui;
/// let eui = parse_eui("b827:ebff:fe61:51a2").unwrap();
/// assert_eq!(eui, parse_eui("b8-27-eb-ff-fe-61-51-a2").unwrap());
/// assert_eq!(eui, parse_eui("B827EBFFFE6151A2").unwrap());
/// assert_eq!(parse_eui("::1").unwrap().to_u64(), 1);
/// ```
pub fn parse_eui(s: &str) -> Option<Eui64> {
    if s.contains('-') {
        return parse_groups(s.split('-'), 8, 2);
    }
    if s.contains(':') {
        if let Some(eui) = parse_groups(s.split(':'), 8, 2) {
            return Some(eui);
        }
        return parse_id6(s);
    }
    if s.len() != 16 {
        return None;
    }
    hex_decode(s).map(|b| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b);
        Eui64::from_be_bytes(a)
    })
}

fn parse_groups<'a>(
    parts: impl Iterator<Item = &'a str>,
    n: usize,
    digits: usize,
) -> Option<Eui64> {
    let mut v: u64 = 0;
    let mut count = 0;
    for p in parts {
        if p.is_empty() || p.len() > digits || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        v = (v << (4 * digits)) | u64::from_str_radix(p, 16).ok()?;
        count += 1;
    }
    (count == n).then(|| Eui64::from_u64(v))
}

fn parse_id6(s: &str) -> Option<Eui64> {
    let group = |p: &str| -> Option<u64> {
        if p.is_empty() || p.len() > 4 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(p, 16).ok()
    };
    let fold = |part: &str| -> Option<Vec<u64>> {
        if part.is_empty() {
            return Some(Vec::new());
        }
        part.split(':').map(group).collect()
    };
    let groups = match s.split_once("::") {
        Some((head, tail)) => {
            let (h, t) = (fold(head)?, fold(tail)?);
            if h.len() + t.len() > 3 {
                return None;
            }
            let mut g = h;
            g.resize(4 - t.len(), 0);
            g.extend(t);
            g
        }
        None => {
            let g = fold(s)?;
            if g.len() != 4 {
                return None;
            }
            g
        }
    };
    Some(Eui64::from_u64(
        groups.iter().fold(0u64, |acc, g| (acc << 16) | g),
    ))
}

/// The EUI as the station writes `DevEui`: `01-02-03-04-05-06-07-08`.
pub(crate) fn eui_hyphenated(eui: Eui64) -> String {
    let b = eui.to_be_bytes();
    let mut s = String::with_capacity(23);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push('-');
        }
        s.push_str(&hex_encode(&[*x]));
    }
    s
}

/// The EUI in id6 form, groups without leading zeros and no `::` compression:
/// `b827:ebff:fe61:51a2`, `0:0:0:1`.
pub fn format_id6(eui: Eui64) -> String {
    let v = eui.to_u64();
    format!(
        "{:x}:{:x}:{:x}:{:x}",
        v >> 48,
        (v >> 32) & 0xffff,
        (v >> 16) & 0xffff,
        v & 0xffff
    )
}

/// An EUI written hyphenated, read in any form [`parse_eui`] accepts.
pub(crate) mod eui_text {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &Eui64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&eui_hyphenated(*v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Eui64, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        parse_eui(&s).ok_or_else(|| serde::de::Error::custom("invalid EUI"))
    }
}

/// `Option<Eui64>` through [`eui_text`].
pub(crate) mod opt_eui_text {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &Option<Eui64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(e) => s.serialize_str(&eui_hyphenated(*e)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Eui64>, D::Error> {
        let s = Option::<std::borrow::Cow<'_, str>>::deserialize(d)?;
        s.map(|s| parse_eui(&s).ok_or_else(|| serde::de::Error::custom("invalid EUI")))
            .transpose()
    }
}
