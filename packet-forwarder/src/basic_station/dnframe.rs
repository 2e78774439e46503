//! `dnframe`: one frame at one concentrator time, the station's older
//! downlink message (`dnmsg` carries more context and is what
//! [`Session::send_downlink`](super::Session::send_downlink) sends).
//!
//! The station requires `DR`, `Freq`, `DevEui`, `xtime`, `diid` and `pdu`
//! (it drops the frame otherwise) and derives `rctx` from `xtime` if absent.
//! `xtime` is required even with `asap`, and must belong to the current
//! concentrator session. As for `dnmsg`, a non-zero `DevEui` makes the
//! station answer with `dntxed`.

use lorawan::Eui64;
use serde::{Deserialize, Serialize};

use super::serde_util::{eui_text, hex_bytes};

/// `dnframe`.
///
/// ```
/// use packet_forwarder::basic_station::{Dnframe, LnsMessage, PLACEHOLDER_DEV_EUI};
/// let msg = LnsMessage::Dnframe(Dnframe {
///     dr: 5,
///     freq: 868_100_000,
///     dev_eui: PLACEHOLDER_DEV_EUI,
///     xtime: 42,
///     asap: None,
///     diid: 3,
///     pdu: vec![0x60],
///     rctx: None,
///     mux_time: None,
/// });
/// assert_eq!(
///     msg.to_json(),
///     r#"{"msgtype":"dnframe","DR":5,"Freq":868100000,"DevEui":"01-01-01-01-01-01-01-01","xtime":42,"diid":3,"pdu":"60"}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dnframe {
    /// Data-rate index.
    #[serde(rename = "DR")]
    pub dr: u8,
    /// Frequency, Hz.
    #[serde(rename = "Freq")]
    pub freq: u32,
    /// DevEUI; zero suppresses `dntxed`.
    #[serde(rename = "DevEui", alias = "DevEUI", with = "eui_text")]
    pub dev_eui: Eui64,
    /// Concentrator time to send at.
    pub xtime: i64,
    /// `true`: send as soon as possible (Class C), `xtime` notwithstanding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asap: Option<bool>,
    /// Downlink id, echoed in `dntxed`.
    pub diid: u32,
    /// The PHYPayload.
    #[serde(with = "hex_bytes")]
    pub pdu: Vec<u8>,
    /// Radio context: which antenna sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rctx: Option<i64>,
    /// The LNS's UTC time, seconds, when sent.
    #[serde(rename = "MuxTime", default, skip_serializing_if = "Option::is_none")]
    pub mux_time: Option<f64>,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::basic_station::LnsMessage;

    fn full() -> Dnframe {
        Dnframe {
            dr: 3,
            freq: 869_525_000,
            dev_eui: Eui64::from_u64(0x0102_0304_0506_0708),
            xtime: 0x0011_2233_4455_6677,
            asap: Some(true),
            diid: 12,
            pdu: vec![0x60, 0xff],
            rctx: Some(1),
            mux_time: Some(1_700_000_000.5),
        }
    }

    #[test]
    fn every_field_has_the_station_spelling() {
        let v: Value = LnsMessage::Dnframe(full()).to_json().parse().unwrap();
        assert_eq!(
            v,
            json!({"msgtype":"dnframe","DR":3,"Freq":869_525_000,
                   "DevEui":"01-02-03-04-05-06-07-08","xtime":0x0011_2233_4455_6677i64,
                   "asap":true,"diid":12,"pdu":"60FF","rctx":1,"MuxTime":1_700_000_000.5})
        );
    }

    #[test]
    fn reads_back_and_accepts_the_join_eui_spelling() {
        let text = serde_json::to_string(&full()).unwrap();
        assert_eq!(serde_json::from_str::<Dnframe>(&text).unwrap(), full());
        let other = text.replace("DevEui", "DevEUI");
        assert_eq!(serde_json::from_str::<Dnframe>(&other).unwrap(), full());
    }
}
