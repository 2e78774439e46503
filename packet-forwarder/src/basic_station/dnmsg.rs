//! `dnmsg`: one downlink for the station to schedule, built from a
//! `gw::DownlinkFrame` as ChirpStack's bridge builds it.

use lorawan::Eui64;
use lorawan::modulation::Modulation;
use lorawan::region::RegionParams;
use serde::{Deserialize, Serialize};

use super::Error;
use super::serde_util::{eui_text, hex_bytes};
use super::uplink::parse_context;
use crate::gw;

/// The device class of a `dnmsg` (`dC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceClass {
    /// Class A: RX1/RX2 after the uplink's `xtime`.
    A = 0,
    /// Class B: at `gpstime`.
    B = 1,
    /// Class C: as soon as possible, on RX2 parameters.
    C = 2,
}

/// The DevEUI ChirpStack puts in every `dnmsg`: `gw::DownlinkFrame` carries
/// none, and a zero DevEUI makes the station skip `dntxed`.
pub const PLACEHOLDER_DEV_EUI: Eui64 = Eui64::from_u64(0x0101_0101_0101_0101);

/// `dnmsg`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dnmsg {
    /// DevEUI (see [`PLACEHOLDER_DEV_EUI`]).
    #[serde(rename = "DevEui", with = "eui_text")]
    pub dev_eui: Eui64,
    /// Device class: 0 A, 1 B, 2 C.
    #[serde(rename = "dC")]
    pub dc: u8,
    /// Downlink id, echoed in `dntxed`: the `downlink_id` of the frame.
    pub diid: u32,
    /// The PHYPayload.
    #[serde(with = "hex_bytes")]
    pub pdu: Vec<u8>,
    /// Priority, 0–255.
    pub priority: u8,
    /// Class A: seconds from the uplink to RX1.
    #[serde(rename = "RxDelay", default, skip_serializing_if = "Option::is_none")]
    pub rx_delay: Option<u32>,
    /// RX1 data-rate index.
    #[serde(rename = "RX1DR", default, skip_serializing_if = "Option::is_none")]
    pub rx1_dr: Option<u8>,
    /// RX1 frequency, Hz.
    #[serde(rename = "RX1Freq", default, skip_serializing_if = "Option::is_none")]
    pub rx1_freq: Option<u32>,
    /// RX2 data-rate index.
    #[serde(rename = "RX2DR", default, skip_serializing_if = "Option::is_none")]
    pub rx2_dr: Option<u8>,
    /// RX2 frequency, Hz.
    #[serde(rename = "RX2Freq", default, skip_serializing_if = "Option::is_none")]
    pub rx2_freq: Option<u32>,
    /// Class B data-rate index.
    #[serde(rename = "DR", default, skip_serializing_if = "Option::is_none")]
    pub dr: Option<u8>,
    /// Class B frequency, Hz.
    #[serde(rename = "Freq", default, skip_serializing_if = "Option::is_none")]
    pub freq: Option<u32>,
    /// Class B: µs since the GPS epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpstime: Option<i64>,
    /// Class A: the uplink's `xtime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xtime: Option<i64>,
    /// Class A: the uplink's `rctx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rctx: Option<i64>,
    /// The LNS's UTC time, seconds, when sent.
    #[serde(rename = "MuxTime", default, skip_serializing_if = "Option::is_none")]
    pub mux_time: Option<f64>,
}

/// The downlink data-rate index of the region with modulation `m`.
pub(super) fn downlink_dr(params: &RegionParams, m: Option<&gw::Modulation>) -> Result<u8, Error> {
    let modulation = match m.and_then(|m| m.parameters.as_ref()) {
        Some(gw::modulation::Parameters::Lora(l)) => Modulation::Lora {
            spreading_factor: u8::try_from(l.spreading_factor)
                .map_err(|_| Error::Downlink("spreading factor out of range"))?,
            bandwidth: l.bandwidth,
        },
        Some(gw::modulation::Parameters::Fsk(f)) => Modulation::Fsk {
            bitrate: f.datarate,
        },
        Some(gw::modulation::Parameters::LrFhss(_)) => {
            return Err(Error::Downlink("LR-FHSS cannot be sent by a station"));
        }
        None => return Err(Error::Downlink("an item has no modulation")),
    };
    params
        .data_rate_index(&modulation, false)
        .ok_or(Error::Downlink(
            "no downlink data rate of the region has the modulation",
        ))
}

/// The first item of a `gw::DownlinkFrame` and its `tx_info`: what a
/// `dnmsg` or a `dnsched` is made of.
pub(super) fn first_item(
    frame: &gw::DownlinkFrame,
) -> Result<(&gw::DownlinkFrameItem, &gw::DownlinkTxInfo), Error> {
    let first = frame
        .items
        .first()
        .ok_or(Error::Downlink("the frame has no items"))?;
    let tx = first
        .tx_info
        .as_ref()
        .ok_or(Error::Downlink("an item has no tx_info"))?;
    Ok((first, tx))
}

/// µs since the GPS epoch of GPS-epoch timing.
pub(super) fn gps_epoch_us(timing: &gw::GpsEpochTimingInfo) -> Result<i64, Error> {
    duration_us(timing.time_since_gps_epoch.as_ref())
        .ok_or(Error::Downlink("GPS epoch timing without a time"))
}

/// µs of a `gw::Duration`; `None` if absent or beyond `i64`.
fn duration_us(d: Option<&gw::Duration>) -> Option<i64> {
    let d = d?;
    d.seconds
        .checked_mul(1_000_000)?
        .checked_add(i64::from(d.nanos) / 1000)
}

impl Dnmsg {
    /// The `dnmsg` for a `gw::DownlinkFrame`: the first item decides the class
    /// (delay → A with RX1, immediately → C on RX2 parameters, GPS epoch → B),
    /// a second item with a delay gives RX2; the uplink's `context` gives
    /// `rctx` and `xtime`.
    ///
    /// The station sends one `pdu` in either window, so the RX2 item's
    /// payload is assumed to be the RX1 item's (ChirpStack sends the same
    /// frame in both).
    pub fn from_downlink_frame(
        params: &RegionParams,
        frame: &gw::DownlinkFrame,
    ) -> Result<Self, Error> {
        let (first, tx) = first_item(frame)?;
        let dr = downlink_dr(params, tx.modulation.as_ref())?;
        let mut out = Self {
            dev_eui: PLACEHOLDER_DEV_EUI,
            dc: 0,
            diid: frame.downlink_id,
            pdu: first.phy_payload.clone(),
            priority: 1,
            rx_delay: None,
            rx1_dr: None,
            rx1_freq: None,
            rx2_dr: None,
            rx2_freq: None,
            dr: None,
            freq: None,
            gpstime: None,
            xtime: None,
            rctx: None,
            mux_time: None,
        };
        if let Some((rctx, xtime)) = parse_context(&tx.context) {
            out.rctx = Some(rctx);
            out.xtime = Some(xtime);
        }
        match tx.timing.as_ref().and_then(|t| t.parameters.as_ref()) {
            Some(gw::timing::Parameters::Immediately(_)) => {
                out.dc = DeviceClass::C as u8;
                out.rx2_dr = Some(dr);
                out.rx2_freq = Some(tx.frequency);
            }
            Some(gw::timing::Parameters::Delay(d)) => {
                let delay = d
                    .delay
                    .as_ref()
                    .ok_or(Error::Downlink("delay timing without a delay"))?;
                if out.xtime.is_none() {
                    return Err(Error::Downlink("class A item without a 16-byte context"));
                }
                out.dc = DeviceClass::A as u8;
                out.rx_delay = Some(
                    u32::try_from(delay.seconds)
                        .map_err(|_| Error::Downlink("negative or huge delay"))?,
                );
                out.rx1_dr = Some(dr);
                out.rx1_freq = Some(tx.frequency);
            }
            Some(gw::timing::Parameters::GpsEpoch(g)) => {
                out.dc = DeviceClass::B as u8;
                out.dr = Some(dr);
                out.freq = Some(tx.frequency);
                out.gpstime = Some(gps_epoch_us(g)?);
            }
            None => return Err(Error::Downlink("an item has no timing")),
        }
        if let Some(tx2) = frame.items.get(1).and_then(|i| i.tx_info.as_ref())
            && matches!(
                tx2.timing.as_ref().and_then(|t| t.parameters.as_ref()),
                Some(gw::timing::Parameters::Delay(_))
            )
        {
            out.rx2_dr = Some(downlink_dr(params, tx2.modulation.as_ref())?);
            out.rx2_freq = Some(tx2.frequency);
        }
        Ok(out)
    }
}
