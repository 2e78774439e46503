//! `dnsched`: frames for the station to send at given times (Class B,
//! multicast), with no `dntxed` in answer.
//!
//! The station reads each `schedule` entry on its own: `DR`, `Freq`, a time
//! (`ontime`, `gpstime` or `xtime`) and `pdu` are mandatory, an entry missing
//! one is dropped with a warning; `diid`, `priority`, `rctx`, `preamble` and
//! `addcrc` are optional. The times, `preamble` and `addcrc` must be
//! non-negative JSON integers: the station rejects a float, a negative number
//! or a `true` there, and with it the rest of the message.

use serde::{Deserialize, Serialize};

use super::Error;
use super::dnmsg::{downlink_dr, first_item, gps_epoch_us};
use super::serde_util::hex_bytes;
use super::uplink::parse_context;
use crate::gw;
use lorawan::region::RegionParams;

/// `dnsched`.
///
/// ```
/// use packet_forwarder::basic_station::{Dnsched, DnschedEntry, DnschedTime, LnsMessage};
/// let msg = LnsMessage::Dnsched(Dnsched {
///     schedule: vec![DnschedEntry {
///         diid: 7,
///         priority: None,
///         dr: 3,
///         freq: 869_525_000,
///         time: DnschedTime::GpsTime(1_300_000_000_000_000),
///         pdu: vec![0x60, 0x01],
///         rctx: None,
///         preamble: None,
///         addcrc: None,
///     }],
///     mux_time: None,
/// });
/// assert_eq!(
///     msg.to_json(),
///     r#"{"msgtype":"dnsched","schedule":[{"diid":7,"DR":3,"Freq":869525000,"gpstime":1300000000000000,"pdu":"6001"}]}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dnsched {
    /// The frames.
    pub schedule: Vec<DnschedEntry>,
    /// The LNS's UTC time, seconds, when sent.
    #[serde(rename = "MuxTime", default, skip_serializing_if = "Option::is_none")]
    pub mux_time: Option<f64>,
}

/// When a [`DnschedEntry`] is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DnschedTime {
    /// `ontime`: whole seconds since the GPS epoch.
    #[serde(rename = "ontime")]
    OnTime(u64),
    /// `gpstime`: µs since the GPS epoch; needs the station to know GPS time
    /// (PPS, or a time transfer).
    #[serde(rename = "gpstime")]
    GpsTime(u64),
    /// `xtime`: concentrator time of the current concentrator session.
    #[serde(rename = "xtime")]
    XTime(u64),
}

/// One frame of a [`Dnsched`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnschedEntry {
    /// Downlink id (the station sends no `dntxed` for it).
    pub diid: u32,
    /// Priority, 0–255.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// Data-rate index.
    #[serde(rename = "DR")]
    pub dr: u8,
    /// Frequency, Hz.
    #[serde(rename = "Freq")]
    pub freq: u32,
    /// When to send.
    #[serde(flatten)]
    pub time: DnschedTime,
    /// The PHYPayload.
    #[serde(with = "hex_bytes")]
    pub pdu: Vec<u8>,
    /// Radio context: which antenna sends (0 if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rctx: Option<i64>,
    /// Preamble length, symbols (the station's default if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preamble: Option<u16>,
    /// 1 to add a payload CRC (an integer: the station refuses a JSON bool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addcrc: Option<u8>,
}

impl Dnsched {
    /// The `dnsched` of a `gw::DownlinkFrame`'s first item, which must have
    /// GPS-epoch timing: one entry at that `gpstime`, `diid` = the frame's
    /// `downlink_id`, priority 1 as in `dnmsg`, `rctx` from a 16-byte
    /// `context` if the item has one. Later items are not used: the station
    /// has no fallback for scheduled frames.
    pub fn from_downlink_frame(
        params: &RegionParams,
        frame: &gw::DownlinkFrame,
    ) -> Result<Self, Error> {
        let (first, tx) = first_item(frame)?;
        let gpstime = match tx.timing.as_ref().and_then(|t| t.parameters.as_ref()) {
            Some(gw::timing::Parameters::GpsEpoch(g)) => gps_epoch_us(g)?,
            _ => return Err(Error::Downlink("dnsched needs GPS epoch timing")),
        };
        let gpstime =
            u64::try_from(gpstime).map_err(|_| Error::Downlink("GPS epoch time is negative"))?;
        Ok(Self {
            schedule: vec![DnschedEntry {
                diid: frame.downlink_id,
                priority: Some(1),
                dr: downlink_dr(params, tx.modulation.as_ref())?,
                freq: tx.frequency,
                time: DnschedTime::GpsTime(gpstime),
                pdu: first.phy_payload.clone(),
                rctx: parse_context(&tx.context).map(|(rctx, _)| rctx),
                preamble: None,
                addcrc: None,
            }],
            mux_time: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use lorawan::region::{Region, Revision, params};
    use serde_json::{Value, json};

    use super::*;
    use crate::basic_station::{LnsMessage, context};

    fn entry(time: DnschedTime) -> DnschedEntry {
        DnschedEntry {
            diid: 9,
            priority: Some(2),
            dr: 3,
            freq: 869_525_000,
            time,
            pdu: vec![0xab, 0xcd],
            rctx: Some(1),
            preamble: Some(10),
            addcrc: Some(1),
        }
    }

    #[test]
    fn every_field_has_the_station_spelling() {
        let msg = LnsMessage::Dnsched(Dnsched {
            schedule: vec![
                entry(DnschedTime::OnTime(1_300_000_000)),
                entry(DnschedTime::GpsTime(1_300_000_000_000_001)),
                entry(DnschedTime::XTime(0x0011_2233_4455_6677)),
            ],
            mux_time: Some(1_700_000_000.25),
        });
        let v: Value = msg.to_json().parse().unwrap();
        let fields = |time: Value| {
            let mut e = json!({"diid":9,"priority":2,"DR":3,"Freq":869_525_000,"pdu":"ABCD",
                               "rctx":1,"preamble":10,"addcrc":1});
            let (k, t) = time.as_object().unwrap().iter().next().unwrap();
            e[k] = t.clone();
            e
        };
        assert_eq!(
            v,
            json!({"msgtype":"dnsched","MuxTime":1_700_000_000.25,"schedule":[
                fields(json!({"ontime":1_300_000_000u64})),
                fields(json!({"gpstime":1_300_000_000_000_001u64})),
                fields(json!({"xtime":0x0011_2233_4455_6677u64})),
            ]})
        );
    }

    #[test]
    fn integers_stay_integers() {
        // The station's parser takes `uj_uint` for the times, preamble and
        // addcrc: `1.0` or `true` would drop the message.
        let text = LnsMessage::Dnsched(Dnsched {
            schedule: vec![entry(DnschedTime::GpsTime(5))],
            mux_time: None,
        })
        .to_json();
        assert!(text.contains(r#""gpstime":5,"#), "{text}");
        assert!(text.contains(r#""preamble":10,"#), "{text}");
        assert!(text.contains(r#""addcrc":1}"#), "{text}");
    }

    #[test]
    fn entries_read_back() {
        let e = entry(DnschedTime::XTime(77));
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<DnschedEntry>(&text).unwrap(), e);
    }

    fn gps_frame(seconds: i64) -> gw::DownlinkFrame {
        gw::DownlinkFrame {
            downlink_id: 77,
            items: vec![gw::DownlinkFrameItem {
                phy_payload: vec![0x60, 1, 2],
                tx_info: Some(gw::DownlinkTxInfo {
                    frequency: 869_525_000,
                    modulation: Some(gw::Modulation {
                        parameters: Some(gw::modulation::Parameters::Lora(
                            gw::LoraModulationInfo {
                                bandwidth: 125_000,
                                spreading_factor: 9,
                                ..Default::default()
                            },
                        )),
                    }),
                    timing: Some(gw::Timing {
                        parameters: Some(gw::timing::Parameters::GpsEpoch(
                            gw::GpsEpochTimingInfo {
                                time_since_gps_epoch: Some(gw::Duration {
                                    seconds,
                                    nanos: 2_000,
                                }),
                            },
                        )),
                    }),
                    context: context(2, 1234),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_gps_epoch_frame_becomes_one_entry() {
        let eu = params(Region::Eu868, Revision::Rp002_1_0_4);
        let d = Dnsched::from_downlink_frame(eu, &gps_frame(1_300_000_000)).unwrap();
        let v: Value = LnsMessage::Dnsched(d).to_json().parse().unwrap();
        assert_eq!(
            v,
            json!({"msgtype":"dnsched","schedule":[{"diid":77,"priority":1,"DR":3,
                   "Freq":869_525_000,"gpstime":1_300_000_000_000_002u64,"pdu":"600102",
                   "rctx":2}]})
        );
    }

    #[test]
    fn other_timings_and_negative_times_are_refused() {
        let eu = params(Region::Eu868, Revision::Rp002_1_0_4);
        assert!(matches!(
            Dnsched::from_downlink_frame(eu, &gps_frame(-1)),
            Err(Error::Downlink(_))
        ));
        let mut frame = gps_frame(1);
        frame.items[0].tx_info.as_mut().unwrap().timing = Some(gw::Timing {
            parameters: Some(gw::timing::Parameters::Immediately(
                gw::ImmediatelyTimingInfo {},
            )),
        });
        assert!(matches!(
            Dnsched::from_downlink_frame(eu, &frame),
            Err(Error::Downlink(_))
        ));
        assert!(matches!(
            Dnsched::from_downlink_frame(eu, &gw::DownlinkFrame::default()),
            Err(Error::Downlink(_))
        ));
    }
}
