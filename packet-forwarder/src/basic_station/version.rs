//! `version`: the first message of a muxs connection.

use serde::{Deserialize, Serialize};

/// What the station says about itself; the LNS answers with `router_config`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Version {
    /// Station version and build, e.g. `"2.0.6(rpi/std)"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station: Option<String>,
    /// Firmware version of the host, often `null`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    /// Package version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Hardware model, e.g. `"rpi"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// LNS protocol version (2 for station 2.x).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u32>,
    /// Space-separated feature words (`"rmtsh gps prod"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<String>,
}

impl Version {
    /// The feature words.
    pub fn features(&self) -> impl Iterator<Item = &str> {
        self.features.as_deref().unwrap_or("").split_whitespace()
    }

    /// Whether the station speaks muxs protocol 2, the one station 2.x uses
    /// and this crate implements.
    ///
    /// A [`Session`](super::Session) answers any `version` alike, as
    /// ChirpStack's bridge does (it only logs the number); a driver may log a
    /// warning when this is false.
    pub fn is_protocol_2(&self) -> bool {
        self.protocol == Some(2)
    }

    /// Whether the station is a production build, which ignores `nocca`,
    /// `nodc` and `nodwell`.
    pub fn is_production(&self) -> bool {
        self.features().any(|f| f == "prod")
    }
}
