//! TX_ACK (0x05): gateway → server, the outcome of a PULL_RESP (version 2).
//! The gateway EUI follows the header; the JSON `{"txpk_ack":{…}}` is optional.

use lorawan::Eui64;
use serde::{Deserialize, Deserializer, Serialize};

use super::error::Error;
use super::header::{Header, Identifier, ProtocolVersion, emit_json, json};

/// A `txpk_ack.error` or `txpk_ack.warn` value. The names 2–8 of ChirpStack's
/// `TxAckStatus` are these strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum TxAckError {
    /// `NONE` (an empty string reads as this too): accepted.
    None,
    /// `TOO_LATE`: the time to send at has passed.
    TooLate,
    /// `TOO_EARLY`: too far ahead to be queued.
    TooEarly,
    /// `COLLISION_PACKET`: another downlink holds that time.
    CollisionPacket,
    /// `COLLISION_BEACON`: a beacon holds that time.
    CollisionBeacon,
    /// `TX_FREQ`: frequency not supported by the TX RF chain.
    TxFreq,
    /// `TX_POWER`: power not supported (as a `warn`: a lower one was used).
    TxPower,
    /// `GPS_UNLOCKED`: GPS time asked for without GPS lock.
    GpsUnlocked,
}

impl<'de> Deserialize<'de> for TxAckError {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(match &*s {
            "NONE" | "" => Self::None,
            "TOO_LATE" => Self::TooLate,
            "TOO_EARLY" => Self::TooEarly,
            "COLLISION_PACKET" => Self::CollisionPacket,
            "COLLISION_BEACON" => Self::CollisionBeacon,
            "TX_FREQ" => Self::TxFreq,
            "TX_POWER" => Self::TxPower,
            "GPS_UNLOCKED" => Self::GpsUnlocked,
            other => {
                return Err(serde::de::Error::custom(format_args!(
                    "unknown txpk_ack error {other:?}"
                )));
            }
        })
    }
}

/// The `txpk_ack` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TxpkAck {
    /// Why the downlink was not sent; `None`/`NONE` when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TxAckError>,
    /// A warning: the downlink was sent, differently (`TX_POWER`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<TxAckError>,
    /// The value the warning is about (the power used, dBm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i32>,
}

impl TxpkAck {
    /// Whether the gateway accepted the downlink (no error, or `NONE`).
    pub fn is_accepted(&self) -> bool {
        matches!(self.error, None | Some(TxAckError::None))
    }
}

/// The JSON object of a TX_ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TxAckPayload {
    /// The outcome.
    pub txpk_ack: TxpkAck,
}

/// A gateway's answer to a PULL_RESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxAck {
    /// Protocol version.
    pub version: ProtocolVersion,
    /// The PULL_RESP's token.
    pub token: u16,
    /// The gateway.
    pub gateway_eui: Eui64,
    /// The JSON body; `None` when the datagram ends after the EUI, which
    /// means the downlink was accepted.
    pub payload: Option<TxAckPayload>,
}

impl TxAck {
    /// Parses a TX_ACK datagram.
    pub fn parse(datagram: &[u8]) -> Result<Self, Error> {
        let (h, eui, body) = Header::parse_as(datagram, Identifier::TxAck)?;
        // Some forwarders end the JSON with a NUL; nothing follows it.
        let body = body.strip_suffix(&[0]).unwrap_or(body);
        let payload = if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(json(body, Identifier::TxAck)?)
        };
        Ok(Self {
            version: h.version,
            token: h.token,
            gateway_eui: eui.unwrap_or_default(),
            payload,
        })
    }

    /// Whether the gateway accepted the downlink.
    pub fn is_accepted(&self) -> bool {
        self.payload.is_none_or(|p| p.txpk_ack.is_accepted())
    }

    /// Appends the datagram to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        Header {
            version: self.version,
            token: self.token,
            identifier: Identifier::TxAck,
        }
        .emit(out);
        out.extend_from_slice(&self.gateway_eui.to_be_bytes());
        if let Some(p) = &self.payload {
            emit_json(p, out);
        }
    }

    /// The datagram as bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.emit(&mut out);
        out
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const HEADER: [u8; 12] = [2, 0, 123, 5, 1, 2, 3, 4, 5, 6, 7, 8];

    fn with_body(body: &[u8]) -> Vec<u8> {
        [&HEADER[..], body].concat()
    }

    #[test]
    fn too_late_matches_chirpstack_forwarder_bytes() {
        // chirpstack-mqtt-forwarder's structs test: token 123, TOO_LATE.
        let bytes = with_body(br#"{"txpk_ack":{"error":"TOO_LATE"}}"#);
        let ack = TxAck::parse(&bytes).unwrap();
        assert_eq!(ack.token, 123);
        assert_eq!(
            ack.payload.unwrap().txpk_ack.error,
            Some(TxAckError::TooLate)
        );
        assert!(!ack.is_accepted());
        assert_eq!(ack.to_vec(), bytes);
    }

    #[test]
    fn tx_power_warning_is_accepted_with_its_value() {
        let ack = TxAck::parse(&with_body(
            br#"{"txpk_ack":{"warn":"TX_POWER","value":20}}"#,
        ))
        .unwrap();
        let p = ack.payload.unwrap().txpk_ack;
        assert_eq!((p.warn, p.value), (Some(TxAckError::TxPower), Some(20)));
        assert!(ack.is_accepted());
    }

    #[test]
    fn empty_body_and_empty_error_mean_accepted() {
        let ack = TxAck::parse(&HEADER).unwrap();
        assert_eq!(ack.payload, None);
        assert!(ack.is_accepted());
        let ack = TxAck::parse(&with_body(br#"{"txpk_ack":{"error":""}}"#)).unwrap();
        assert!(ack.is_accepted());
        let ack = TxAck::parse(&with_body(b"{\"txpk_ack\":{\"error\":\"NONE\"}}\0")).unwrap();
        assert!(ack.is_accepted());
    }

    #[test]
    fn unknown_error_name_is_reported() {
        let e = TxAck::parse(&with_body(br#"{"txpk_ack":{"error":"NO_IDEA"}}"#)).unwrap_err();
        assert!(e.to_string().contains("NO_IDEA"), "{e}");
    }
}
