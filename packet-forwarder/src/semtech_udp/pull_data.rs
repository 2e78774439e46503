//! PULL_DATA (0x02): gateway → server keep-alive; opens the downlink path from
//! the server to the gateway's address. 12 bytes.

use lorawan::Eui64;

use super::error::Error;
use super::header::{Header, Identifier, ProtocolVersion, no_trailing};

/// A gateway's keep-alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PullData {
    /// Protocol version.
    pub version: ProtocolVersion,
    /// Random token, echoed by the PULL_ACK.
    pub token: u16,
    /// The gateway.
    pub gateway_eui: Eui64,
}

impl PullData {
    /// Parses a PULL_DATA datagram.
    pub fn parse(datagram: &[u8]) -> Result<Self, Error> {
        let (h, eui, rest) = Header::parse_as(datagram, Identifier::PullData)?;
        no_trailing(rest, Identifier::PullData)?;
        Ok(Self {
            version: h.version,
            token: h.token,
            gateway_eui: eui.unwrap_or_default(),
        })
    }

    /// Appends the datagram to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        Header {
            version: self.version,
            token: self.token,
            identifier: Identifier::PullData,
        }
        .emit(out);
        out.extend_from_slice(&self.gateway_eui.to_be_bytes());
    }

    /// The datagram as bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12);
        self.emit(&mut out);
        out
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const PULL_DATA: [u8; 12] = [2, 0x12, 0x34, 2, 1, 2, 3, 4, 5, 6, 7, 8];

    #[test]
    fn pull_data_carries_the_gateway_eui_msb_first() {
        let p = PullData::parse(&PULL_DATA).unwrap();
        assert_eq!(p.gateway_eui, Eui64::from_u64(0x0102_0304_0506_0708));
        assert_eq!(p.token, 0x1234);
        assert_eq!(p.to_vec(), PULL_DATA);
    }

    #[test]
    fn short_pull_data_is_truncated() {
        assert_eq!(
            PullData::parse(&PULL_DATA[..11]),
            Err(Error::Truncated {
                what: "PULL_DATA",
                len: 11,
                need: 12
            })
        );
    }
}
