//! LoRa Basics Station, LNS protocol (station 2.x, muxs protocol 2), sans-IO.
//!
//! Text frames are JSON objects keyed by `msgtype`. [`StationMessage::parse`]
//! reads what a station sends (`version`, `updf`, `jreq`, `rejoin`, `propdf`,
//! `dntxed`, `timesync`); [`LnsMessage`] is what the LNS sends
//! (`router_config`, `dnmsg`, `dnsched`, `dnframe`, `timesync`). Uplinks are
//! reassembled into their PHYPayload byte for byte and mapped to
//! `gw::UplinkFrame` with ChirpStack's 16-byte context (rctx ‖ xtime,
//! big-endian); [`Session`] ties a connection together: it answers `version`
//! and `timesync`, turns a missing `dntxed` into a negative acknowledgement,
//! counts traffic into periodic `gw::GatewayStats`, transfers GPS time to the
//! station, and passes other messages through raw.
//! `/router-info` discovery is [`RouterInfoRequest`] / [`RouterInfoResponse`].
//!
//! ```
//! use packet_forwarder::basic_station::StationMessage;
//! let msg = StationMessage::parse(br#"{"msgtype":"timesync","txtime":1000}"#)?;
//! assert!(matches!(msg, StationMessage::Timesync(t) if t.txtime == 1000));
//! # Ok::<(), packet_forwarder::basic_station::Error>(())
//! ```

mod dnframe;
mod dnmsg;
mod dnsched;
mod dntxed;
mod error;
mod router_config;
mod router_info;
mod serde_util;
mod session;
mod timesync;
mod uplink;
mod version;

pub use dnframe::Dnframe;
pub use dnmsg::{DeviceClass, Dnmsg, PLACEHOLDER_DEV_EUI};
pub use dnsched::{Dnsched, DnschedEntry, DnschedTime};
pub use dntxed::{Dntxed, downlink_tx_ack};
pub use error::Error;
pub use router_config::{
    IfChannel, Radio, RouterConfig, RouterConfigOptions, Sx1301Conf, dr_table, station_region_name,
    sx1301_conf,
};
pub use router_info::{RouterInfoRequest, RouterInfoResponse};
pub use serde_util::{format_id6, parse_eui};
pub use session::{Event, Session, SessionConfig, Transmit};
pub use timesync::{TimeTransfer, TimesyncRequest, TimesyncResponse, gps_time_us};
pub use uplink::{Jreq, Propdf, RadioMetadata, UpInfo, Updf, context, parse_context, uplink_frame};
pub use version::Version;

use lorawan::Eui64;
use lorawan::region::RegionParams;
use serde::{Deserialize, Serialize};

use crate::gw;

/// A message from the station.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msgtype")]
#[non_exhaustive]
pub enum StationMessage {
    /// `version`.
    #[serde(rename = "version")]
    Version(Version),
    /// `updf`.
    #[serde(rename = "updf")]
    Updf(Updf),
    /// `jreq`.
    #[serde(rename = "jreq")]
    Jreq(Jreq),
    /// `rejoin` (the station sends it in the `jreq` layout).
    #[serde(rename = "rejoin")]
    Rejoin(Jreq),
    /// `propdf`.
    #[serde(rename = "propdf")]
    Propdf(Propdf),
    /// `dntxed`.
    #[serde(rename = "dntxed")]
    Dntxed(Dntxed),
    /// `timesync` request.
    #[serde(rename = "timesync")]
    Timesync(TimesyncRequest),
}

/// The `msgtype`s [`StationMessage`] reads.
const STATION_MSGTYPES: [&str; 7] = [
    "version", "updf", "jreq", "rejoin", "propdf", "dntxed", "timesync",
];

#[derive(Deserialize)]
struct Tag {
    msgtype: Option<serde_json::Value>,
}

impl StationMessage {
    /// Parses one text frame from the station.
    pub fn parse(text: &[u8]) -> Result<Self, Error> {
        let tag: Tag = serde_json::from_slice(text).map_err(|e| Error::Syntax(e.to_string()))?;
        let msgtype = match tag.msgtype {
            Some(serde_json::Value::String(s)) => s,
            _ => return Err(Error::MissingMsgType),
        };
        if !STATION_MSGTYPES.contains(&msgtype.as_str()) {
            return Err(Error::UnknownMsgType(msgtype));
        }
        serde_json::from_slice(text).map_err(|e| Error::from_serde(&msgtype, &e))
    }

    /// The JSON text.
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("message serializes")
    }

    /// The `msgtype`.
    pub fn msgtype(&self) -> &'static str {
        match self {
            Self::Version(_) => "version",
            Self::Updf(_) => "updf",
            Self::Jreq(_) => "jreq",
            Self::Rejoin(_) => "rejoin",
            Self::Propdf(_) => "propdf",
            Self::Dntxed(_) => "dntxed",
            Self::Timesync(_) => "timesync",
        }
    }

    /// The reassembled PHYPayload and radio metadata of an uplink; `None`
    /// for other messages.
    pub fn uplink(&self) -> Option<Result<(Vec<u8>, &RadioMetadata), Error>> {
        Some(match self {
            Self::Updf(u) => u.phy_payload().map(|p| (p, &u.radio)),
            Self::Jreq(j) => j.phy_payload("jreq").map(|p| (p, &j.radio)),
            Self::Rejoin(j) => j.phy_payload("rejoin").map(|p| (p, &j.radio)),
            Self::Propdf(p) => p.phy_payload().map(|b| (b, &p.radio)),
            _ => return None,
        })
    }

    /// The `gw::UplinkFrame` of an uplink; `None` for other messages.
    pub fn uplink_frame(
        &self,
        params: &RegionParams,
        gateway_id: Eui64,
        uplink_id: u32,
    ) -> Option<Result<gw::UplinkFrame, Error>> {
        let up = self.uplink()?;
        Some(up.and_then(|(phy, radio)| uplink_frame(params, gateway_id, uplink_id, phy, radio)))
    }
}

/// A message to the station.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "msgtype")]
#[non_exhaustive]
pub enum LnsMessage {
    /// `router_config`.
    #[serde(rename = "router_config")]
    RouterConfig(RouterConfig),
    /// `dnmsg`.
    #[serde(rename = "dnmsg")]
    Dnmsg(Dnmsg),
    /// `dnsched`.
    #[serde(rename = "dnsched")]
    Dnsched(Dnsched),
    /// `dnframe`.
    #[serde(rename = "dnframe")]
    Dnframe(Dnframe),
    /// `timesync` answer.
    #[serde(rename = "timesync")]
    Timesync(TimesyncResponse),
    /// `timesync` transfer (LNS-initiated).
    #[serde(rename = "timesync")]
    TimeTransfer(TimeTransfer),
}

impl LnsMessage {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("message serializes")
    }
}
