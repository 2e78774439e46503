//! PULL_RESP (0x03): server → gateway, a `txpk` to transmit, as JSON straight
//! after the 4-byte header (no gateway EUI). Version 1 forwarders ignore the
//! token; version 2 forwarders echo it in their TX_ACK.

use serde::{Deserialize, Serialize};

use super::error::Error;
use super::header::{Header, Identifier, ProtocolVersion, emit_json, json};
use super::txpk::TxPk;

/// The JSON object of a PULL_RESP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRespPayload {
    /// The frame to transmit.
    pub txpk: TxPk,
}

/// A downlink for a gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct PullResp {
    /// Protocol version.
    pub version: ProtocolVersion,
    /// Token the TX_ACK will echo (version 2).
    pub token: u16,
    /// The JSON body.
    pub payload: PullRespPayload,
}

impl PullResp {
    /// Parses a PULL_RESP datagram.
    pub fn parse(datagram: &[u8]) -> Result<Self, Error> {
        let (h, _, body) = Header::parse_as(datagram, Identifier::PullResp)?;
        Ok(Self {
            version: h.version,
            token: h.token,
            payload: json(body, Identifier::PullResp)?,
        })
    }

    /// Appends the datagram to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        Header {
            version: self.version,
            token: self.token,
            identifier: Identifier::PullResp,
        }
        .emit(out);
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
    use crate::semtech_udp::{DataRate, TxModulation};

    #[test]
    fn protocol_document_fsk_txpk_parses() {
        let mut bytes = vec![2, 0, 0, 3];
        bytes.extend_from_slice(
            br#"{"txpk":{"imme":true,"freq":861.3,"rfch":0,"powe":12,"modu":"FSK","datr":50000,"fdev":3000,"size":32,"data":"H3P3N2i9qc4yt7rK7ldqoeCVJGBybzPY5h1Dd7P7p8v"}}"#,
        );
        let p = PullResp::parse(&bytes).unwrap();
        let tx = &p.payload.txpk;
        assert!(tx.imme);
        assert_eq!(tx.modu, TxModulation::Fsk);
        assert_eq!(tx.datr, DataRate::Fsk { bitrate: 50_000 });
        assert_eq!(
            (tx.fdev, tx.powe, tx.size, tx.data.len()),
            (Some(3000), Some(12), 32, 32)
        );
        assert_eq!(PullResp::parse(&p.to_vec()), Ok(p));
    }
}
