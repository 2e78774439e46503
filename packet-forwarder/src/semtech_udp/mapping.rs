//! Mapping between GWMP JSON objects and ChirpStack's [`gw`]
//! messages, as ChirpStack's gateway bridge and MQTT forwarder do it, without
//! their known defects.
//!
//! - [`uplink_frames`]: one `rxpk` → one [`gw::UplinkFrame`], or one per
//!   antenna when the `rxpk` carries `rsig` (JSON version 2). The context is
//!   `tmst` as 4 bytes big-endian, so a network server can switch bridges.
//! - [`gateway_stats`]: a `stat` → [`gw::GatewayStats`].
//! - [`txpk`]: one [`gw::DownlinkFrameItem`] → the `txpk` of a PULL_RESP.
//! - [`tx_ack_status`] and [`downlink_tx_ack`]: a TX_ACK → a
//!   [`gw::TxAckStatus`], and the statuses of a frame's items → a
//!   [`gw::DownlinkTxAck`].
//!
//! Where ChirpStack goes wrong, this module does not: FSK is `"FSK"` (the
//! codec enforces the case), `4/8LI` maps to `CR_LI_4_8` and `5/6` to `CR_5_6`,
//! power is signed, every frame gets its own 32-bit `uplink_id` from the
//! caller (not a datagram's 16-bit token), MHz are rounded, not truncated, to
//! Hz, and `tmst + delay` wraps as the 32-bit counter does.
//!
//! ```
//! use packet_forwarder::gw;
//! use packet_forwarder::semtech_udp::{RxPk, mapping::{self, UplinkContext}};
//!
//! let rxpk: RxPk = serde_json::from_str(r#"{"tmst":1234,"freq":868.1,"chan":5,"rfch":1,
//!     "stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/5","rssi":-60,"lsnr":3.5,
//!     "size":4,"data":"BAMCAQ=="}"#)?;
//! let ctx = UplinkContext::new("0102030405060708".parse()?);
//! let mut next_id = 0;
//! let frames = mapping::uplink_frames(&ctx, &rxpk, || { next_id += 1; next_id })?;
//! let rx_info = frames[0].rx_info.as_ref().unwrap();
//! assert_eq!(rx_info.gateway_id, "0102030405060708");
//! assert_eq!(rx_info.context, [0, 0, 4, 210]);
//! assert_eq!(rx_info.crc_status(), gw::CrcStatus::CrcOk);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use lorawan::Eui64;
use lorawan::modulation::{LoraCodingRate, LrFhssCodingRate};
use serde::Deserialize as _;

use super::datr::{CodingRate, DataRate};
use super::rxpk::{CrcStatus, RSig, RxModulation, RxPk};
use super::stat::Stat;
use super::tx_ack::{TxAck, TxAckError};
use super::txpk::{TxModulation, TxPk};
use crate::gw::{self, common};

/// Why an `rxpk` or a `stat` from a gateway could not be mapped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayDataError {
    /// `freq` is negative, not a number, or above 4 294.967295 MHz.
    #[error("freq {0} MHz is not a frequency")]
    Frequency(f64),
    /// `modu` and `datr` disagree (e.g. `"FSK"` with `"SF7BW125"`).
    #[error("modu {modu:?} does not match datr {datr}")]
    ModulationMismatch {
        /// The `modu`.
        modu: RxModulation,
        /// The `datr`, in its wire text.
        datr: String,
    },
    /// A `time` that is not the format the protocol gives for it.
    #[error("time {0:?} is not an ISO 8601 UTC time")]
    Time(String),
}

/// Why a [`gw::DownlinkFrameItem`] could not become a `txpk`: the network
/// server sent something a Semtech UDP gateway cannot do, or left a field out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DownlinkError {
    /// A message field the mapping needs is absent (`tx_info`,
    /// `tx_info.timing`, `tx_info.modulation`, the delay, the GPS time).
    #[error("downlink {0} is missing")]
    Missing(&'static str),
    /// Delay timing needs the uplink's context: at least the 4 bytes of `tmst`.
    #[error("downlink context has {0} bytes, delay timing needs at least 4 (tmst)")]
    ContextTooShort(usize),
    /// A negative delay or GPS time, or a delay beyond the 32-bit µs counter.
    #[error("downlink {what} {seconds}s {nanos}ns is out of range")]
    Duration {
        /// `"delay"` or `"time_since_gps_epoch"`.
        what: &'static str,
        /// The duration's seconds.
        seconds: i64,
        /// The duration's nanoseconds.
        nanos: i32,
    },
    /// LR-FHSS: Semtech UDP gateways cannot transmit it.
    #[error("LR-FHSS downlinks are not supported by the Semtech UDP protocol")]
    LrFhssDownlink,
    /// A LoRa code rate no LoRa modem has (an LR-FHSS rate, or a value
    /// outside the enum).
    #[error("LoRa downlink code rate {0} is not a LoRa coding rate")]
    CodeRate(i32),
    /// A preamble longer than `prea` can say.
    #[error("preamble of {0} symbols does not fit prea")]
    Preamble(u32),
    /// A PHYPayload longer than `size` can say.
    #[error("PHYPayload of {0} bytes does not fit size")]
    PayloadTooLong(usize),
}

/// What the bridge knows about the gateway an `rxpk` came from, beyond the
/// `rxpk` itself.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UplinkContext {
    /// The gateway EUI from the PUSH_DATA header.
    pub gateway_id: Eui64,
    /// The gateway's location: configured, or its last `stat` position (see
    /// [`stat_location`]). Copied into every frame.
    pub location: Option<common::Location>,
    /// `gw_time` for frames without `time` (ChirpStack's `time_fallback`):
    /// the bridge's clock when the datagram arrived. `None` leaves `gw_time`
    /// unset.
    pub fallback_time: Option<gw::Timestamp>,
}

impl UplinkContext {
    /// A context with only the gateway EUI.
    pub fn new(gateway_id: Eui64) -> Self {
        Self {
            gateway_id,
            location: None,
            fallback_time: None,
        }
    }
}

/// The [`gw::UplinkFrame`]s of one `rxpk`: one per `rsig` entry, or one when
/// there is no `rsig`. `next_uplink_id` is called once per frame; give it a
/// random-number generator (ChirpStack's network server de-duplicates and
/// correlates by this id, so it must not repeat across frames).
///
/// Frames with a bad or missing CRC are mapped too, with their
/// `crc_status`; filtering them is the caller's choice.
///
/// # Errors
/// [`GatewayDataError`] when `freq`, `modu`/`datr` or `time` are unusable.
pub fn uplink_frames(
    ctx: &UplinkContext,
    rxpk: &RxPk,
    mut next_uplink_id: impl FnMut() -> u32,
) -> Result<Vec<gw::UplinkFrame>, GatewayDataError> {
    let tx_info = gw::UplinkTxInfo {
        frequency: mhz_to_hz(rxpk.freq).ok_or(GatewayDataError::Frequency(rxpk.freq))?,
        modulation: Some(uplink_modulation(rxpk)?),
    };
    let gw_time = match &rxpk.time {
        Some(t) => Some(parse_time(t)?),
        None => ctx.fallback_time,
    };
    let time_since_gps_epoch = rxpk
        .tmms
        .map(|ms| duration(ms / 1000, (ms % 1000) * 1_000_000));
    // The fine timestamp counts ns since the last PPS, i.e. since the whole
    // GPS second of `tmms`.
    let fine_time_since_gps_epoch = match (rxpk.tmms, rxpk.ftime) {
        (Some(ms), Some(ns)) if ns < 1_000_000_000 => Some(duration(ms / 1000, u64::from(ns))),
        _ => None,
    };
    let rx_info = gw::UplinkRxInfo {
        gateway_id: ctx.gateway_id.to_string(),
        gw_time,
        time_since_gps_epoch,
        fine_time_since_gps_epoch,
        rssi: rxpk.rssi.or(rxpk.rssis).unwrap_or(0),
        snr: rxpk.lsnr.unwrap_or(0.0) as f32,
        channel: rxpk.chan.unwrap_or(0),
        rf_chain: rxpk.rfch.unwrap_or(0),
        board: rxpk.brd.unwrap_or(0),
        antenna: rxpk.ant.unwrap_or(0),
        location: ctx.location,
        context: rxpk.tmst.to_be_bytes().to_vec(),
        metadata: rxpk
            .meta
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        crc_status: crc_status(rxpk.stat).into(),
        ..Default::default()
    };
    let frame = |rx_info: gw::UplinkRxInfo| gw::UplinkFrame {
        phy_payload: rxpk.data.clone(),
        tx_info: Some(tx_info.clone()),
        rx_info: Some(rx_info),
        ..Default::default()
    };
    if rxpk.rsig.is_empty() {
        let mut rx_info = rx_info;
        rx_info.uplink_id = next_uplink_id();
        return Ok(vec![frame(rx_info)]);
    }
    Ok(rxpk
        .rsig
        .iter()
        .map(|rsig| frame(antenna_rx_info(&rx_info, rxpk, rsig, next_uplink_id())))
        .collect())
}

/// The frame as one antenna heard it. `etime` (AES-encrypted) has no place
/// in the v4 `UplinkRxInfo` and is left out, as ChirpStack does.
fn antenna_rx_info(
    base: &gw::UplinkRxInfo,
    rxpk: &RxPk,
    rsig: &RSig,
    uplink_id: u32,
) -> gw::UplinkRxInfo {
    gw::UplinkRxInfo {
        uplink_id,
        antenna: rsig.ant,
        channel: rsig.chan,
        rssi: rsig.rssic.or(rsig.rssis).unwrap_or(0),
        snr: rsig.lsnr.or(rxpk.lsnr).unwrap_or(0.0) as f32,
        ..base.clone()
    }
}

fn uplink_modulation(rxpk: &RxPk) -> Result<gw::Modulation, GatewayDataError> {
    use gw::modulation::Parameters;
    let code_rate = rxpk
        .codr
        .as_ref()
        .map_or(gw::CodeRate::CrUndefined, code_rate);
    let parameters = match (rxpk.modu, rxpk.datr) {
        (
            RxModulation::Lora,
            DataRate::Lora {
                spreading_factor,
                bandwidth,
            },
        ) => Parameters::Lora(gw::LoraModulationInfo {
            bandwidth,
            spreading_factor: spreading_factor.into(),
            code_rate: code_rate.into(),
            ..Default::default()
        }),
        (RxModulation::Fsk, DataRate::Fsk { bitrate }) => Parameters::Fsk(gw::FskModulationInfo {
            datarate: bitrate,
            ..Default::default()
        }),
        (
            RxModulation::LrFhss,
            DataRate::LrFhss {
                occupied_channel_width,
            },
        ) => Parameters::LrFhss(gw::LrFhssModulationInfo {
            operating_channel_width: occupied_channel_width,
            code_rate: code_rate.into(),
            grid_steps: rxpk.hpw.unwrap_or(0),
            ..Default::default()
        }),
        (modu, datr) => {
            return Err(GatewayDataError::ModulationMismatch {
                modu,
                datr: datr.to_string(),
            });
        }
    };
    Ok(gw::Modulation {
        parameters: Some(parameters),
    })
}

/// `codr` as ChirpStack's enum. LR-FHSS rates take the names ChirpStack's
/// regional tables use for them: 1/3 is `CR_2_6`, 2/3 is `CR_4_6`, 1/2 is
/// `CR_4_8`. Unknown text is `CR_UNDEFINED`.
///
/// ```
/// use packet_forwarder::{gw, semtech_udp::{CodingRate, mapping}};
/// assert_eq!(mapping::code_rate(&CodingRate::parse("4/8LI")), gw::CodeRate::CrLi48);
/// assert_eq!(mapping::code_rate(&CodingRate::parse("1/3")), gw::CodeRate::Cr26);
/// ```
pub fn code_rate(codr: &CodingRate) -> gw::CodeRate {
    use LoraCodingRate as L;
    use LrFhssCodingRate as F;
    use gw::CodeRate as C;
    match codr {
        CodingRate::Lora(cr) => match cr {
            L::Cr4_5 => C::Cr45,
            L::Cr4_6 => C::Cr46,
            L::Cr4_7 => C::Cr47,
            L::Cr4_8 => C::Cr48,
            L::Cr4_5Li => C::CrLi45,
            L::Cr4_6Li => C::CrLi46,
            L::Cr4_8Li => C::CrLi48,
        },
        CodingRate::LrFhss(cr) => match cr {
            F::Cr1_3 => C::Cr26,
            F::Cr2_3 => C::Cr46,
            F::Cr1_2 => C::Cr48,
            F::Cr5_6 => C::Cr56,
        },
        CodingRate::Other(s) => match s.as_str() {
            "3/8" => C::Cr38,
            "1/4" => C::Cr14,
            "1/6" => C::Cr16,
            _ => C::CrUndefined,
        },
    }
}

fn crc_status(stat: CrcStatus) -> gw::CrcStatus {
    match stat {
        CrcStatus::Ok => gw::CrcStatus::CrcOk,
        CrcStatus::Bad => gw::CrcStatus::BadCrc,
        CrcStatus::NoCrc => gw::CrcStatus::NoCrc,
    }
}

/// The position a `stat` reports, as a GPS [`common::Location`]; `None`
/// when latitude, longitude and altitude are all absent or 0 (what
/// forwarders without GPS send).
pub fn stat_location(stat: &Stat) -> Option<common::Location> {
    let (lat, lon, alt) = (
        stat.lati.unwrap_or(0.0),
        stat.long.unwrap_or(0.0),
        stat.alti.unwrap_or(0),
    );
    if lat == 0.0 && lon == 0.0 && alt == 0 {
        return None;
    }
    Some(common::Location {
        latitude: lat,
        longitude: lon,
        altitude: alt.into(),
        source: common::LocationSource::Gps.into(),
        ..Default::default()
    })
}

/// The [`gw::GatewayStats`] of a `stat`: `rxnb`, `rxok`, `dwnb`, `txnb` as
/// ChirpStack maps them, `meta` as metadata, the `stat` position (else
/// `configured_location`) as location. `temp`, `rxfw` and `ackr` have no
/// `GatewayStats` field and ChirpStack drops them; so does this.
///
/// # Errors
/// [`GatewayDataError::Time`] when `time` is not `2014-01-12 08:59:28 GMT`
/// (or RFC 3339).
pub fn gateway_stats(
    gateway_id: Eui64,
    stat: &Stat,
    configured_location: Option<&common::Location>,
) -> Result<gw::GatewayStats, GatewayDataError> {
    Ok(gw::GatewayStats {
        gateway_id: gateway_id.to_string(),
        time: stat.time.as_deref().map(parse_time).transpose()?,
        location: stat_location(stat).or_else(|| configured_location.copied()),
        rx_packets_received: stat.rxnb,
        rx_packets_received_ok: stat.rxok,
        tx_packets_received: stat.dwnb,
        tx_packets_emitted: stat.txnb,
        metadata: stat
            .meta
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        ..Default::default()
    })
}

/// Reads the `rxpk` "compact" (`2013-03-31T16:21:17.528002Z`) and the `stat`
/// "expanded" (`2014-01-12 08:59:28 GMT`) forms.
fn parse_time(text: &str) -> Result<gw::Timestamp, GatewayDataError> {
    let err = || GatewayDataError::Time(text.into());
    let rfc3339 = match text
        .strip_suffix(" GMT")
        .or_else(|| text.strip_suffix(" UTC"))
    {
        Some(t) => format!("{}Z", t.replacen(' ', "T", 1)),
        None => text.to_owned(),
    };
    gw::Timestamp::deserialize(
        serde::de::value::StrDeserializer::<serde::de::value::Error>::new(&rfc3339),
    )
    .map_err(|_| err())
}

fn mhz_to_hz(mhz: f64) -> Option<u32> {
    let hz = (mhz * 1_000_000.0).round();
    // Negative, NaN and too-large values all fail this range check.
    (0.0..=f64::from(u32::MAX))
        .contains(&hz)
        .then_some(hz as u32)
}

fn duration(seconds: u64, nanos: u64) -> gw::Duration {
    gw::Duration {
        seconds: seconds as i64,
        nanos: nanos as i32,
    }
}

/// Duration in µs, rejecting negative and out-of-range values.
fn micros(d: &gw::Duration, what: &'static str) -> Result<u64, DownlinkError> {
    let err = || DownlinkError::Duration {
        what,
        seconds: d.seconds,
        nanos: d.nanos,
    };
    let seconds = u64::try_from(d.seconds).map_err(|_| err())?;
    let nanos = u64::try_from(d.nanos).map_err(|_| err())?;
    seconds
        .checked_mul(1_000_000)
        .and_then(|us| us.checked_add(nanos / 1000))
        .ok_or_else(err)
}

/// The `txpk` for one item of a [`gw::DownlinkFrame`].
///
/// - Timing: immediately → `imme`; delay → `tmst` = the context's `tmst`
///   plus the delay, wrapping like the gateway's 32-bit µs counter; GPS
///   epoch → `tmms` in ms.
/// - `freq` in MHz, `powe` signed, `rfch` 0, `brd`/`ant` from board/antenna.
/// - LoRa: `datr`, `codr` (from `code_rate`, else `code_rate_legacy`, else
///   4/5), `ipol` from `polarization_inversion` (true for LoRaWAN
///   downlinks), `prea` when `preamble` is set, `ncrc` from `no_crc`.
/// - FSK: `datr` in bit/s, `fdev` from `frequency_deviation`, or half the
///   bit rate when it is 0 (modulation index 1, as ChirpStack's regions set it).
///
/// # Errors
/// [`DownlinkError`] for a missing field, a missing or short context with
/// delay timing, an out-of-range duration, LR-FHSS, or a non-LoRa code rate.
pub fn txpk(item: &gw::DownlinkFrameItem) -> Result<TxPk, DownlinkError> {
    use gw::modulation::Parameters as M;
    use gw::timing::Parameters as T;

    let tx_info = item
        .tx_info
        .as_ref()
        .ok_or(DownlinkError::Missing("tx_info"))?;
    let timing = tx_info
        .timing
        .and_then(|t| t.parameters)
        .ok_or(DownlinkError::Missing("tx_info.timing"))?;
    let modulation = tx_info
        .modulation
        .as_ref()
        .and_then(|m| m.parameters.as_ref())
        .ok_or(DownlinkError::Missing("tx_info.modulation"))?;

    let (mut imme, mut tmst, mut tmms) = (false, None, None);
    match timing {
        T::Immediately(_) => imme = true,
        T::Delay(d) => {
            let delay = d
                .delay
                .as_ref()
                .ok_or(DownlinkError::Missing("tx_info.timing.delay.delay"))?;
            let delay_us = micros(delay, "delay")?;
            let delay_us = u32::try_from(delay_us).map_err(|_| DownlinkError::Duration {
                what: "delay",
                seconds: delay.seconds,
                nanos: delay.nanos,
            })?;
            let ctx: [u8; 4] = tx_info
                .context
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or(DownlinkError::ContextTooShort(tx_info.context.len()))?;
            tmst = Some(u32::from_be_bytes(ctx).wrapping_add(delay_us));
        }
        T::GpsEpoch(g) => {
            let t = g
                .time_since_gps_epoch
                .as_ref()
                .ok_or(DownlinkError::Missing(
                    "tx_info.timing.gps_epoch.time_since_gps_epoch",
                ))?;
            tmms = Some(micros(t, "time_since_gps_epoch")? / 1000);
        }
    }

    let (modu, datr, codr, fdev, ipol, prea, ncrc) = match modulation {
        M::Lora(l) => (
            TxModulation::Lora,
            DataRate::Lora {
                // Spreading factors above 255 are not LoRa; the gateway rejects
                // the saturated value.
                spreading_factor: u8::try_from(l.spreading_factor).unwrap_or(u8::MAX),
                bandwidth: l.bandwidth,
            },
            Some(CodingRate::Lora(lora_coding_rate(l)?)),
            None,
            l.polarization_inversion,
            match l.preamble {
                0 => None,
                p => Some(u16::try_from(p).map_err(|_| DownlinkError::Preamble(p))?),
            },
            l.no_crc,
        ),
        M::Fsk(f) => (
            TxModulation::Fsk,
            DataRate::Fsk {
                bitrate: f.datarate,
            },
            None,
            Some(match f.frequency_deviation {
                0 => f.datarate / 2,
                d => d,
            }),
            false,
            None,
            false,
        ),
        M::LrFhss(_) => return Err(DownlinkError::LrFhssDownlink),
    };

    Ok(TxPk {
        imme,
        tmst,
        tmms,
        freq: f64::from(tx_info.frequency) / 1_000_000.0,
        rfch: 0,
        powe: Some(tx_info.power),
        modu,
        datr,
        codr,
        fdev,
        ipol,
        prea,
        size: u16::try_from(item.phy_payload.len())
            .map_err(|_| DownlinkError::PayloadTooLong(item.phy_payload.len()))?,
        data: item.phy_payload.clone(),
        ncrc,
        nhdr: false,
        brd: Some(tx_info.board),
        ant: Some(tx_info.antenna),
    })
}

fn lora_coding_rate(l: &gw::LoraModulationInfo) -> Result<LoraCodingRate, DownlinkError> {
    use LoraCodingRate as L;
    use gw::CodeRate as C;
    match C::try_from(l.code_rate) {
        Ok(C::Cr45) => Ok(L::Cr4_5),
        Ok(C::Cr46) => Ok(L::Cr4_6),
        Ok(C::Cr47) => Ok(L::Cr4_7),
        Ok(C::Cr48) => Ok(L::Cr4_8),
        Ok(C::CrLi45) => Ok(L::Cr4_5Li),
        Ok(C::CrLi46) => Ok(L::Cr4_6Li),
        Ok(C::CrLi48) => Ok(L::Cr4_8Li),
        // An older network server may only fill the legacy string; every
        // LoRaWAN data rate is 4/5 when neither is given.
        Ok(C::CrUndefined) if l.code_rate_legacy.is_empty() => Ok(L::Cr4_5),
        Ok(C::CrUndefined) => CodingRate::parse(&l.code_rate_legacy)
            .lora()
            .map_err(|_| DownlinkError::CodeRate(l.code_rate)),
        _ => Err(DownlinkError::CodeRate(l.code_rate)),
    }
}

/// The status of a downlink item from its TX_ACK.
///
/// No JSON, an empty or `NONE` error: `OK`. A `warn` (the sx1302
/// forwarder's `TX_POWER` warning, sent when it lowered the power and *did*
/// transmit) is also `OK`, as ChirpStack treats it; the warning and the
/// power used stay readable in the TX_ACK. Every error name maps to the
/// `TxAckStatus` of the same name.
///
/// ```
/// use packet_forwarder::{gw, semtech_udp::{TxAck, mapping}};
/// let ack = TxAck::parse(&[2, 0, 1, 5, 1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
/// assert_eq!(mapping::tx_ack_status(&ack), gw::TxAckStatus::Ok);
/// ```
pub fn tx_ack_status(ack: &TxAck) -> gw::TxAckStatus {
    match ack.payload.and_then(|p| p.txpk_ack.error) {
        Some(error) => tx_ack_error_status(error),
        None => gw::TxAckStatus::Ok,
    }
}

/// The [`gw::TxAckStatus`] of one attempt reported by the
/// [`server`](super::server): accepted (with or without a warning, or sent to a
/// version-1 gateway that does not acknowledge) is `OK`; a refusal is the status
/// of the same name; no answer in time or no connected gateway is
/// `INTERNAL_ERROR`; a clashing token is `QUEUE_FULL`.
pub fn tx_status(status: &super::server::TxStatus) -> gw::TxAckStatus {
    use super::server::TxStatus as T;
    match status {
        T::Accepted | T::AcceptedWithWarning { .. } | T::Unacknowledged => gw::TxAckStatus::Ok,
        T::Rejected(error) => tx_ack_error_status(*error),
        T::Timeout | T::GatewayNotConnected => gw::TxAckStatus::InternalError,
        T::TokenInUse => gw::TxAckStatus::QueueFull,
    }
}

/// The [`gw::TxAckStatus`] of a TX_ACK error name (`NONE` is `OK`), for
/// gateways that report their own transmit attempts in ChirpStack's terms.
///
/// ```
/// use packet_forwarder::{gw, semtech_udp::{TxAckError, mapping}};
/// assert_eq!(mapping::tx_ack_error_status(TxAckError::TooLate), gw::TxAckStatus::TooLate);
/// ```
pub fn tx_ack_error_status(error: TxAckError) -> gw::TxAckStatus {
    use gw::TxAckStatus as S;
    match error {
        TxAckError::None => S::Ok,
        TxAckError::TooLate => S::TooLate,
        TxAckError::TooEarly => S::TooEarly,
        TxAckError::CollisionPacket => S::CollisionPacket,
        TxAckError::CollisionBeacon => S::CollisionBeacon,
        TxAckError::TxFreq => S::TxFreq,
        TxAckError::TxPower => S::TxPower,
        // Exhaustive on purpose: a new codec error name must get its status here.
        TxAckError::GpsUnlocked => S::GpsUnlocked,
    }
}

/// The [`gw::DownlinkTxAck`] of a frame whose items were tried in order and
/// got `statuses`: one item per frame item, the untried ones `IGNORED`.
///
/// ```
/// use packet_forwarder::gw::{self, TxAckStatus};
/// use packet_forwarder::semtech_udp::mapping;
/// let frame = gw::DownlinkFrame {
///     downlink_id: 7,
///     gateway_id: "0102030405060708".into(),
///     items: vec![Default::default(), Default::default()],
///     ..Default::default()
/// };
/// let ack = mapping::downlink_tx_ack(&frame, &[TxAckStatus::Ok]);
/// assert_eq!(ack.items[0].status(), TxAckStatus::Ok);
/// assert_eq!(ack.items[1].status(), TxAckStatus::Ignored);
/// ```
pub fn downlink_tx_ack(
    frame: &gw::DownlinkFrame,
    statuses: &[gw::TxAckStatus],
) -> gw::DownlinkTxAck {
    gw::tx_ack(
        frame.gateway_id.clone(),
        frame.downlink_id,
        frame.items.len(),
        statuses,
    )
}

#[cfg(test)]
mod tx_status_tests {
    use super::super::server::TxStatus;
    use super::*;

    #[test]
    fn server_outcomes_map_to_chirpstack_statuses() {
        let cases = [
            (TxStatus::Accepted, gw::TxAckStatus::Ok),
            (
                TxStatus::AcceptedWithWarning {
                    warning: TxAckError::TxPower,
                    value: Some(14),
                },
                gw::TxAckStatus::Ok,
            ),
            (TxStatus::Unacknowledged, gw::TxAckStatus::Ok),
            (
                TxStatus::Rejected(TxAckError::TooLate),
                gw::TxAckStatus::TooLate,
            ),
            (
                TxStatus::Rejected(TxAckError::GpsUnlocked),
                gw::TxAckStatus::GpsUnlocked,
            ),
            (TxStatus::Timeout, gw::TxAckStatus::InternalError),
            (
                TxStatus::GatewayNotConnected,
                gw::TxAckStatus::InternalError,
            ),
            (TxStatus::TokenInUse, gw::TxAckStatus::QueueFull),
        ];
        for (status, expected) in cases {
            assert_eq!(tx_status(&status), expected, "{status:?}");
        }
    }
}
