//! PUSH_DATA (0x00): gateway → server, received frames (`rxpk`) and/or the
//! gateway status (`stat`) as JSON after the gateway EUI.

use lorawan::Eui64;
use serde::{Deserialize, Serialize};

use super::error::Error;
use super::header::{Header, Identifier, ProtocolVersion, emit_json, json};
use super::rxpk::RxPk;
use super::stat::Stat;

/// The JSON object of a PUSH_DATA.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PushDataPayload {
    /// Received frames.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rxpk: Vec<RxPk>,
    /// Gateway status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<Stat>,
}

/// Frames and status from a gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct PushData {
    /// Protocol version.
    pub version: ProtocolVersion,
    /// Random token, echoed by the PUSH_ACK.
    pub token: u16,
    /// The gateway.
    pub gateway_eui: Eui64,
    /// The JSON body.
    pub payload: PushDataPayload,
}

impl PushData {
    /// Parses a PUSH_DATA datagram.
    pub fn parse(datagram: &[u8]) -> Result<Self, Error> {
        let (h, eui, body) = Header::parse_as(datagram, Identifier::PushData)?;
        Ok(Self {
            version: h.version,
            token: h.token,
            gateway_eui: eui.unwrap_or_default(),
            payload: json(body, Identifier::PushData)?,
        })
    }

    /// Appends the datagram to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        Header {
            version: self.version,
            token: self.token,
            identifier: Identifier::PushData,
        }
        .emit(out);
        out.extend_from_slice(&self.gateway_eui.to_be_bytes());
        emit_json(&self.payload, out);
    }

    /// The datagram as bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.emit(&mut out);
        out
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn empty_object_is_an_empty_push_data() {
        // chirpstack-gateway-bridge's push_data_test: `{}` after the EUI.
        let bytes = [2, 0, 123, 0, 1, 2, 3, 4, 5, 6, 7, 8, b'{', b'}'];
        let p = PushData::parse(&bytes).unwrap();
        assert_eq!(p.payload, PushDataPayload::default());
        assert_eq!(p.token, 123);
        assert_eq!(p.to_vec(), bytes);
    }

    #[test]
    fn push_data_without_json_is_a_json_error() {
        let e = PushData::parse(&[2, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Json {
                    identifier: Identifier::PushData,
                    ..
                }
            ),
            "{e}"
        );
    }
}
