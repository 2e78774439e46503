//! PUSH_ACK (0x01): server → gateway, acknowledges a PUSH_DATA. 4 bytes.

use super::error::Error;
use super::header::{Header, Identifier, ProtocolVersion, no_trailing};

/// Acknowledges a PUSH_DATA; echoes its version and token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PushAck {
    /// Protocol version.
    pub version: ProtocolVersion,
    /// The PUSH_DATA's token.
    pub token: u16,
}

impl PushAck {
    /// Parses a PUSH_ACK datagram.
    pub fn parse(datagram: &[u8]) -> Result<Self, Error> {
        let (h, _, rest) = Header::parse_as(datagram, Identifier::PushAck)?;
        no_trailing(rest, Identifier::PushAck)?;
        Ok(Self {
            version: h.version,
            token: h.token,
        })
    }

    /// Appends the datagram to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        Header {
            version: self.version,
            token: self.token,
            identifier: Identifier::PushAck,
        }
        .emit(out);
    }

    /// The datagram as bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Header::LEN);
        self.emit(&mut out);
        out
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn push_ack_is_four_bytes() {
        let ack = PushAck {
            version: ProtocolVersion::V2,
            token: 0x7b00,
        };
        assert_eq!(ack.to_vec(), [2, 0x7b, 0, 1]);
        assert_eq!(PushAck::parse(&[2, 0x7b, 0, 1]), Ok(ack));
        assert!(matches!(
            PushAck::parse(&[2, 0x7b, 0, 1, 0]),
            Err(Error::TrailingBytes { extra: 1, .. })
        ));
    }
}
