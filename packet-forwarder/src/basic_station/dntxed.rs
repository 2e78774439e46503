//! `dntxed`: the station emitted a downlink.

use lorawan::Eui64;
use serde::{Deserialize, Serialize};

use super::serde_util::opt_eui_text;
use crate::gw;

/// `dntxed`: sent after a `dnmsg` with a non-zero DevEUI left the antenna.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dntxed {
    /// The `diid` of the `dnmsg`.
    pub diid: u32,
    /// Legacy copy of `diid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seqno: Option<u64>,
    /// Data-rate index used.
    #[serde(rename = "DR", default, skip_serializing_if = "Option::is_none")]
    pub dr: Option<u8>,
    /// Frequency used, Hz.
    #[serde(rename = "Freq", default, skip_serializing_if = "Option::is_none")]
    pub freq: Option<u32>,
    /// The DevEUI of the `dnmsg`.
    #[serde(
        rename = "DevEui",
        alias = "DevEUI",
        with = "opt_eui_text",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dev_eui: Option<Eui64>,
    /// Antenna context used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rctx: Option<i64>,
    /// Concentrator time of emission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xtime: Option<i64>,
    /// UTC seconds of emission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txtime: Option<f64>,
    /// µs since the GPS epoch of emission, 0 if unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpstime: Option<i64>,
}

/// The `gw::DownlinkTxAck` for a `dntxed`: `items` as long as the frame's
/// `item_frequencies`, `OK` on the item sent on the `dntxed` frequency (the
/// first if none matches), `IGNORED` on the others.
pub fn downlink_tx_ack(
    gateway_id: Eui64,
    dntxed: &Dntxed,
    item_frequencies: &[u32],
) -> gw::DownlinkTxAck {
    let sent = dntxed
        .freq
        .and_then(|f| item_frequencies.iter().position(|x| *x == f))
        .unwrap_or(0);
    let n = item_frequencies.len().max(1);
    gw::DownlinkTxAck {
        gateway_id: gateway_id.to_string(),
        downlink_id: dntxed.diid,
        items: (0..n)
            .map(|i| gw::DownlinkTxAckItem {
                status: if i == sent {
                    gw::TxAckStatus::Ok
                } else {
                    gw::TxAckStatus::Ignored
                }
                .into(),
            })
            .collect(),
        ..Default::default()
    }
}
