//! PUSH_ACK (0x01) and PULL_ACK (0x04): server → gateway, 4 bytes each, the
//! header alone, echoing the version and token of the PUSH_DATA or PULL_DATA
//! they acknowledge.

use super::error::Error;
use super::header::{Header, Identifier, ProtocolVersion, no_trailing};

macro_rules! header_only_ack {
    ($(#[$doc:meta])* $name:ident, $identifier:ident, $acked:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name {
            /// Protocol version.
            pub version: ProtocolVersion,
            #[doc = concat!("The ", $acked, "'s token.")]
            pub token: u16,
        }

        impl $name {
            /// Parses the datagram; bytes after the header are an error.
            pub fn parse(datagram: &[u8]) -> Result<Self, Error> {
                let (h, _, rest) = Header::parse_as(datagram, Identifier::$identifier)?;
                no_trailing(rest, Identifier::$identifier)?;
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
                    identifier: Identifier::$identifier,
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
    };
}

header_only_ack!(
    /// Acknowledges a PUSH_DATA; echoes its version and token.
    PushAck,
    PushAck,
    "PUSH_DATA"
);
header_only_ack!(
    /// Acknowledges a PULL_DATA; echoes its version and token.
    PullAck,
    PullAck,
    "PULL_DATA"
);

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn acks_are_four_bytes_with_their_identifier() {
        let push = PushAck {
            version: ProtocolVersion::V2,
            token: 0x7b00,
        };
        assert_eq!(push.to_vec(), [2, 0x7b, 0, 1]);
        assert_eq!(PushAck::parse(&[2, 0x7b, 0, 1]), Ok(push));
        let pull = PullAck {
            version: ProtocolVersion::V2,
            token: 0x7b00,
        };
        assert_eq!(pull.to_vec(), [2, 0x7b, 0, 4]);
        assert_eq!(PullAck::parse(&[2, 0x7b, 0, 4]), Ok(pull));
        assert!(PushAck::parse(&[2, 0x7b, 0, 4]).is_err());
        assert!(matches!(
            PullAck::parse(&[2, 0x7b, 0, 4, 0]),
            Err(Error::TrailingBytes { extra: 1, .. })
        ));
        assert!(matches!(
            PushAck::parse(&[2, 0x7b, 0, 1, 0]),
            Err(Error::TrailingBytes { extra: 1, .. })
        ));
    }
}
