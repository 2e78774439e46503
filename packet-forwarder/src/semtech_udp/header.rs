use super::error::Error;

/// The protocol version in byte 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProtocolVersion {
    /// Version 1: legacy forwarders, no TX_ACK, PULL_RESP token unused.
    V1 = 1,
    /// Version 2: the current protocol (TX_ACK exists).
    #[default]
    V2 = 2,
}

impl ProtocolVersion {
    /// The version from its byte.
    pub const fn from_u8(b: u8) -> Result<Self, Error> {
        match b {
            1 => Ok(Self::V1),
            2 => Ok(Self::V2),
            v => Err(Error::UnknownVersion(v)),
        }
    }
}

/// The packet type in byte 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// PUSH_DATA, 0x00.
    PushData = 0,
    /// PUSH_ACK, 0x01.
    PushAck = 1,
    /// PULL_DATA, 0x02.
    PullData = 2,
    /// PULL_RESP, 0x03.
    PullResp = 3,
    /// PULL_ACK, 0x04.
    PullAck = 4,
    /// TX_ACK, 0x05.
    TxAck = 5,
}

impl Identifier {
    /// The identifier from its byte.
    pub const fn from_u8(b: u8) -> Result<Self, Error> {
        Ok(match b {
            0 => Self::PushData,
            1 => Self::PushAck,
            2 => Self::PullData,
            3 => Self::PullResp,
            4 => Self::PullAck,
            5 => Self::TxAck,
            v => return Err(Error::UnknownIdentifier(v)),
        })
    }

    /// The name the protocol document uses, e.g. `PUSH_DATA`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::PushData => "PUSH_DATA",
            Self::PushAck => "PUSH_ACK",
            Self::PullData => "PULL_DATA",
            Self::PullResp => "PULL_RESP",
            Self::PullAck => "PULL_ACK",
            Self::TxAck => "TX_ACK",
        }
    }

    /// Whether the gateway EUI follows the header (bytes 4–11).
    pub const fn has_gateway_eui(self) -> bool {
        matches!(self, Self::PushData | Self::PullData | Self::TxAck)
    }
}

impl core::fmt::Display for Identifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The four bytes every datagram starts with. Reading only the header is
/// enough to acknowledge a PUSH_DATA before its JSON is parsed.
///
/// The random token is read most significant byte first (as the reference
/// forwarder writes `token_h`, `token_l`); only echoing it matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Byte 0.
    pub version: ProtocolVersion,
    /// Bytes 1–2.
    pub token: u16,
    /// Byte 3.
    pub identifier: Identifier,
}

impl Header {
    /// Header length in bytes.
    pub const LEN: usize = 4;

    /// Reads the header of any datagram.
    pub fn parse(datagram: &[u8]) -> Result<Self, Error> {
        let Some(&[v, t0, t1, id]) = datagram.first_chunk::<4>() else {
            return Err(Error::Truncated {
                what: "header",
                len: datagram.len(),
                need: Self::LEN,
            });
        };
        Ok(Self {
            version: ProtocolVersion::from_u8(v)?,
            token: u16::from_be_bytes([t0, t1]),
            identifier: Identifier::from_u8(id)?,
        })
    }

    /// Appends the four header bytes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.version as u8);
        out.extend_from_slice(&self.token.to_be_bytes());
        out.push(self.identifier as u8);
    }

    /// Reads the header of a datagram that must be of type `expected`, and the
    /// gateway EUI if that type carries one. Returns the header, the EUI and the
    /// bytes after them.
    pub(crate) fn parse_as(
        datagram: &[u8],
        expected: Identifier,
    ) -> Result<(Self, Option<lorawan::Eui64>, &[u8]), Error> {
        let header = Self::parse(datagram)?;
        if header.identifier != expected {
            return Err(Error::WrongIdentifier {
                expected,
                actual: header.identifier,
            });
        }
        let rest = &datagram[Self::LEN..];
        if !expected.has_gateway_eui() {
            return Ok((header, None, rest));
        }
        match rest.split_first_chunk::<8>() {
            Some((eui, rest)) => Ok((header, Some(lorawan::Eui64::from_be_bytes(*eui)), rest)),
            None => Err(Error::Truncated {
                what: expected.name(),
                len: datagram.len(),
                need: Self::LEN + 8,
            }),
        }
    }
}

/// Rejects bytes after a fixed-size packet.
pub(crate) fn no_trailing(rest: &[u8], identifier: Identifier) -> Result<(), Error> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(Error::TrailingBytes {
            identifier,
            extra: rest.len(),
        })
    }
}

/// Parses a JSON body, keeping serde's message.
pub(crate) fn json<'a, T: serde::Deserialize<'a>>(
    body: &'a [u8],
    identifier: Identifier,
) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::Json {
        identifier,
        message: e.to_string(),
    })
}

/// Appends a JSON body. Our payload types serialize infallibly: string map
/// keys only, no custom serializer that can fail.
pub(crate) fn emit_json<T: serde::Serialize>(value: &T, out: &mut Vec<u8>) {
    serde_json::to_writer(out, value).expect("GWMP payloads always serialize");
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn header_reads_token_most_significant_first() {
        let h = Header::parse(&[2, 0x12, 0x34, 4]).unwrap();
        assert_eq!(h.token, 0x1234);
        assert_eq!(h.identifier, Identifier::PullAck);
        let mut out = Vec::new();
        h.emit(&mut out);
        assert_eq!(out, [2, 0x12, 0x34, 4]);
    }

    #[test]
    fn header_errors_name_the_fault() {
        assert_eq!(
            Header::parse(&[2, 0]),
            Err(Error::Truncated {
                what: "header",
                len: 2,
                need: 4
            })
        );
        assert_eq!(Header::parse(&[3, 0, 0, 0]), Err(Error::UnknownVersion(3)));
        assert_eq!(
            Header::parse(&[1, 0, 0, 6]),
            Err(Error::UnknownIdentifier(6))
        );
    }
}
