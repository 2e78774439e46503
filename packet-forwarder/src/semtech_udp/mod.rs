//! The Semtech UDP packet-forwarder protocol (GWMP), sans-IO: every datagram of
//! protocol versions 1 and 2, parsed from and written to bytes.
//!
//! One module per packet type, as the protocol document lists them:
//! [`PushData`] / [`PushAck`], [`PullData`] / [`PullResp`] / [`PullAck`] and
//! [`TxAck`]. [`Packet::parse`] reads any of them and never panics; every
//! failure is an [`Error`] that says what was wrong.
//!
//! ```
//! use packet_forwarder::semtech_udp::{Packet, PullAck, ProtocolVersion};
//!
//! let pull_data = [2, 0x12, 0x34, 0x02, 1, 2, 3, 4, 5, 6, 7, 8];
//! let Packet::PullData(p) = Packet::parse(&pull_data).unwrap() else { panic!() };
//! assert_eq!(p.gateway_eui.to_string(), "0102030405060708");
//! let ack = PullAck { version: p.version, token: p.token };
//! assert_eq!(ack.to_vec(), [2, 0x12, 0x34, 0x04]);
//! ```

mod ack;
mod datr;
mod error;
mod header;
pub mod mapping;
mod pull_data;
mod pull_resp;
mod push_data;
mod rxpk;
mod serde_util;
pub mod server;
mod stat;
mod tx_ack;
mod txpk;

pub use ack::{PullAck, PushAck};
pub use datr::{CodingRate, DataRate, DatrError};
pub use error::Error;
pub use header::{Header, Identifier, ProtocolVersion};
pub use pull_data::PullData;
pub use pull_resp::{PullResp, PullRespPayload};
pub use push_data::{PushData, PushDataPayload};
pub use rxpk::{CrcStatus, RSig, RxModulation, RxPk};
pub use stat::Stat;
pub use tx_ack::{TxAck, TxAckError, TxAckPayload, TxpkAck};
pub use txpk::{TxModulation, TxPk};

/// Any GWMP datagram.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Packet {
    /// Gateway → server: received frames and/or status (identifier 0x00).
    PushData(PushData),
    /// Server → gateway: acknowledges a PUSH_DATA (0x01).
    PushAck(PushAck),
    /// Gateway → server: keep-alive that opens the downlink path (0x02).
    PullData(PullData),
    /// Server → gateway: a frame to transmit (0x03).
    PullResp(PullResp),
    /// Server → gateway: acknowledges a PULL_DATA (0x04).
    PullAck(PullAck),
    /// Gateway → server: result of a PULL_RESP (0x05, protocol version 2).
    TxAck(TxAck),
}

impl Packet {
    /// Parses one datagram. Never panics; see [`Error`] for what can be wrong.
    pub fn parse(datagram: &[u8]) -> Result<Self, Error> {
        let header = Header::parse(datagram)?;
        Ok(match header.identifier {
            Identifier::PushData => Self::PushData(PushData::parse(datagram)?),
            Identifier::PushAck => Self::PushAck(PushAck::parse(datagram)?),
            Identifier::PullData => Self::PullData(PullData::parse(datagram)?),
            Identifier::PullResp => Self::PullResp(PullResp::parse(datagram)?),
            Identifier::PullAck => Self::PullAck(PullAck::parse(datagram)?),
            Identifier::TxAck => Self::TxAck(TxAck::parse(datagram)?),
        })
    }

    /// The header every datagram starts with.
    pub fn header(&self) -> Header {
        let (version, token, identifier) = match self {
            Self::PushData(p) => (p.version, p.token, Identifier::PushData),
            Self::PushAck(p) => (p.version, p.token, Identifier::PushAck),
            Self::PullData(p) => (p.version, p.token, Identifier::PullData),
            Self::PullResp(p) => (p.version, p.token, Identifier::PullResp),
            Self::PullAck(p) => (p.version, p.token, Identifier::PullAck),
            Self::TxAck(p) => (p.version, p.token, Identifier::TxAck),
        };
        Header {
            version,
            token,
            identifier,
        }
    }

    /// Appends the datagram to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Self::PushData(p) => p.emit(out),
            Self::PushAck(p) => p.emit(out),
            Self::PullData(p) => p.emit(out),
            Self::PullResp(p) => p.emit(out),
            Self::PullAck(p) => p.emit(out),
            Self::TxAck(p) => p.emit(out),
        }
    }

    /// The datagram as bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.emit(&mut out);
        out
    }
}

macro_rules! packet_from {
    ($($ty:ident),*) => {$(
        impl From<$ty> for Packet {
            fn from(p: $ty) -> Self {
                Self::$ty(p)
            }
        }
    )*};
}
packet_from!(PushData, PushAck, PullData, PullResp, PullAck, TxAck);
