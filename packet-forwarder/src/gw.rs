//! ChirpStack v4 `gw` messages: what gateways, forwarders, bridges and the
//! network server exchange over MQTT and the Concentratord ZeroMQ API.
//!
//! The types are generated at build time from our own `proto/gw/gw.proto` and
//! `proto/common/common.proto`, which keep ChirpStack's package, message and
//! field names and numbers, so both encodings are wire-compatible:
//!
//! - protobuf, through [`prost::Message`] (or [`encode`] / [`decode`]);
//! - ChirpStack's JSON, proto3 JSON as pbjson writes it: camelCase keys, enums
//!   as their names, bytes as base64, fields at their default value omitted,
//!   unknown keys ignored and snake_case keys accepted on input.
//!
//! A payload from MQTT can be in either encoding; [`Encoding::detect`] tells
//! them apart.
//!
//! ```
//! use packet_forwarder::gw::{self, Encoding};
//!
//! let state = gw::ConnState {
//!     gateway_id: "0102030405060708".into(),
//!     state: gw::conn_state::State::Online.into(),
//!     ..Default::default()
//! };
//! let json = gw::encode(&state, Encoding::Json);
//! assert_eq!(json, br#"{"gatewayId":"0102030405060708","state":"ONLINE"}"#);
//!
//! let decoded: gw::ConnState = gw::decode_detect(&json)?;
//! assert_eq!(decoded, state);
//! let decoded: gw::ConnState = gw::decode_detect(&gw::encode(&state, Encoding::Protobuf))?;
//! assert_eq!(decoded, state);
//! # Ok::<(), gw::DecodeError>(())
//! ```

/// Generated code: prost structs plus pbjson serde impls, one module per
/// protobuf package so that `super::common::…` paths in `gw` resolve.
mod generated {
    /// ChirpStack's `common` package (`Location`, `Region`, `Modulation`, …).
    // Generated code: the field docs come from the .proto comments, but prost
    // leaves some items (oneof modules, serde impl helpers) undocumented, and
    // clippy's style lints are not ours to fix in generated code.
    #[allow(
        missing_docs,
        unreachable_pub,
        clippy::all,
        clippy::pedantic,
        clippy::use_self
    )]
    pub mod common {
        include!(concat!(env!("OUT_DIR"), "/common.rs"));
        include!(concat!(env!("OUT_DIR"), "/common.serde.rs"));
    }

    /// ChirpStack's `gw` package.
    // See `common` for why the lints are relaxed here.
    #[allow(
        missing_docs,
        unreachable_pub,
        clippy::all,
        clippy::pedantic,
        clippy::use_self
    )]
    pub mod gw {
        include!(concat!(env!("OUT_DIR"), "/gw.rs"));
        include!(concat!(env!("OUT_DIR"), "/gw.serde.rs"));
    }
}

pub use generated::common;
pub use generated::gw::*;
/// The well-known types the messages use, with their proto3 JSON serde impls.
pub use pbjson_types::{Duration, Timestamp};

use serde::{Serialize, de::DeserializeOwned};

/// The encoded `FileDescriptorSet` of `common` and `gw`, for reflection and for
/// checking our definitions against others.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/gw_descriptor.bin"));

/// The two encodings ChirpStack uses for `gw` messages on MQTT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Protobuf binary.
    Protobuf,
    /// Proto3 JSON (camelCase keys, enums as names, bytes as base64).
    Json,
}

impl Encoding {
    /// Tells the encoding of an incoming payload: JSON if its first byte is `{`,
    /// protobuf otherwise.
    ///
    /// ChirpStack's network server instead looks for the text `gatewayId`
    /// anywhere in the payload, which a protobuf payload can contain (in a
    /// metadata value, say). This rule cannot misread protobuf: `{` (0x7b) would be
    /// the key of field 15 with wire type 3 (start group), which proto3
    /// messages never contain. Leading whitespace is deliberately not skipped,
    /// because a space or newline is a valid first protobuf key byte (0x0a is
    /// field 1, length-delimited, the start of most `gw` messages).
    ///
    /// ```
    /// use packet_forwarder::gw::Encoding;
    /// assert_eq!(Encoding::detect(br#"{"gatewayId":"0102030405060708"}"#), Encoding::Json);
    /// assert_eq!(Encoding::detect(&[0x0a, 0x02, 0x01, 0x02]), Encoding::Protobuf);
    /// assert_eq!(Encoding::detect(b""), Encoding::Protobuf);
    /// ```
    #[must_use]
    pub fn detect(payload: &[u8]) -> Self {
        if payload.first() == Some(&b'{') {
            Self::Json
        } else {
            Self::Protobuf
        }
    }
}

/// A `gw` or `common` message: protobuf via prost, JSON via pbjson's serde
/// impls. Implemented by every generated message type.
pub trait GwMessage: prost::Message + prost::Name + Default + Serialize + DeserializeOwned {}

impl<T: prost::Message + prost::Name + Default + Serialize + DeserializeOwned> GwMessage for T {}

/// Why a payload could not be decoded into a `gw` message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The payload is not a valid protobuf encoding of the message.
    #[error("invalid protobuf {message}: {source}")]
    Protobuf {
        /// Full protobuf name of the expected message, e.g. `gw.UplinkFrame`.
        message: String,
        /// What prost reported.
        #[source]
        source: prost::DecodeError,
    },
    /// The payload is not a valid JSON encoding of the message.
    #[error("invalid JSON {message}: {source}")]
    Json {
        /// Full protobuf name of the expected message, e.g. `gw.UplinkFrame`.
        message: String,
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
}

/// Encodes a message in the given encoding.
///
/// JSON cannot carry every protobuf value: an enum value the `.proto` does
/// not name, a timestamp beyond the years 1–9999 or a duration with mixed
/// signs make pbjson fail. Such a message gives an empty payload rather
/// than a panic; messages from the network are checked when decoded
/// ([`json_encodable`]) so that none reaches here.
#[must_use]
pub fn encode<M: GwMessage>(message: &M, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => message.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(message).unwrap_or_default(),
    }
}

/// Checks that a message can be written as ChirpStack JSON: a protobuf
/// message from the network may hold values JSON cannot carry (see
/// [`encode`]), which must be refused before they travel on.
///
/// # Errors
/// [`DecodeError::Json`] saying which value.
pub fn json_encodable<M: GwMessage>(message: &M) -> Result<(), DecodeError> {
    serde_json::to_writer(std::io::sink(), message).map_err(|source| DecodeError::Json {
        message: M::full_name(),
        source,
    })
}

/// Decodes a message from the given encoding.
///
/// # Errors
/// [`DecodeError`] naming the encoding and the expected message when the
/// payload is malformed.
pub fn decode<M: GwMessage>(payload: &[u8], encoding: Encoding) -> Result<M, DecodeError> {
    match encoding {
        Encoding::Protobuf => M::decode(payload).map_err(|source| DecodeError::Protobuf {
            message: M::full_name(),
            source,
        }),
        Encoding::Json => serde_json::from_slice(payload).map_err(|source| DecodeError::Json {
            message: M::full_name(),
            source,
        }),
    }
}

/// Decodes a message whose encoding is told by [`Encoding::detect`].
///
/// # Errors
/// As [`decode`].
pub fn decode_detect<M: GwMessage>(payload: &[u8]) -> Result<M, DecodeError> {
    decode(payload, Encoding::detect(payload))
}

/// A `DownlinkTxAck` for downlink `downlink_id` of `gateway_id` with `items`
/// items: `statuses` for the first ones, `IGNORED` for the rest (items never
/// tried).
///
/// ```
/// use packet_forwarder::gw::{self, TxAckStatus};
/// let ack = gw::tx_ack("0102030405060708".into(), 7, 2, &[TxAckStatus::TooLate]);
/// assert_eq!(ack.items[0].status(), TxAckStatus::TooLate);
/// assert_eq!(ack.items[1].status(), TxAckStatus::Ignored);
/// ```
pub fn tx_ack(
    gateway_id: String,
    downlink_id: u32,
    items: usize,
    statuses: &[TxAckStatus],
) -> DownlinkTxAck {
    DownlinkTxAck {
        gateway_id,
        downlink_id,
        items: (0..items.max(statuses.len()))
            .map(|i| DownlinkTxAckItem {
                status: statuses
                    .get(i)
                    .copied()
                    .unwrap_or(TxAckStatus::Ignored)
                    .into(),
            })
            .collect(),
        ..Default::default()
    }
}
