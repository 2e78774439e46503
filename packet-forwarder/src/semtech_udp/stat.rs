//! `stat`: the gateway status object of a PUSH_DATA.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Gateway status. The counters default to 0 when absent; location and
/// temperature stay `None` when the gateway does not report them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Stat {
    /// UTC system time, "expanded" format (`2014-01-12 08:59:28 GMT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// GPS latitude, degrees north.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lati: Option<f64>,
    /// GPS longitude, degrees east.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long: Option<f64>,
    /// GPS altitude, m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alti: Option<i32>,
    /// Radio packets received.
    #[serde(default)]
    pub rxnb: u32,
    /// Radio packets received with a valid CRC.
    #[serde(default)]
    pub rxok: u32,
    /// Radio packets forwarded.
    #[serde(default)]
    pub rxfw: u32,
    /// Percentage of upstream datagrams acknowledged.
    #[serde(default)]
    pub ackr: f64,
    /// Downlink datagrams received.
    #[serde(default)]
    pub dwnb: u32,
    /// Packets emitted.
    #[serde(default)]
    pub txnb: u32,
    /// Concentrator temperature, °C (SX1302).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temp: Option<f64>,
    /// Free-form metadata (a ChirpStack/Helium extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<BTreeMap<String, String>>,
}
