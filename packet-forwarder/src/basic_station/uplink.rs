//! Uplinks: `updf`, `jreq`, `rejoin`, `propdf`, their radio metadata, the
//! PHYPayload reassembled from the station's decoded fields, and the mapping to
//! a `gw::UplinkFrame`.

use lorawan::Eui64;
use lorawan::modulation::{LrFhssCodingRate, Modulation};
use lorawan::phy::{DataFrame, JoinRequest, MType, Mhdr};
use lorawan::region::RegionParams;
use serde::{Deserialize, Serialize};

use super::Error;
use super::serde_util::{eui_text, hex_bytes};
use crate::gw;

/// The radio metadata the station puts on every uplink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RadioMetadata {
    /// Index into the `DRs` table of `router_config`.
    #[serde(rename = "DR")]
    pub dr: u8,
    /// Frequency in Hz.
    #[serde(rename = "Freq")]
    pub freq: u32,
    /// The last `MuxTime` plus the time since it arrived, seconds.
    #[serde(rename = "RefTime", default, skip_serializing_if = "Option::is_none")]
    pub ref_time: Option<f64>,
    /// Reception details.
    pub upinfo: UpInfo,
}

/// `upinfo`: when and how well a frame was received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpInfo {
    /// Radio context (bits 6–0: radio unit).
    #[serde(default)]
    pub rctx: i64,
    /// Concentrator time: session id and µs counter.
    pub xtime: i64,
    /// µs since the GPS epoch, 0 if unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpstime: Option<i64>,
    /// Fine timestamp, ns within the second of `gpstime`, −1 if none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fts: Option<i64>,
    /// dBm.
    pub rssi: f64,
    /// dB.
    pub snr: f64,
    /// UTC seconds (float) of reception, if the station knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rxtime: Option<f64>,
}

/// `updf`: a data uplink, decoded field by field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Updf {
    /// MHDR byte.
    #[serde(rename = "MHdr")]
    pub mhdr: u8,
    /// DevAddr as a signed 32-bit integer.
    #[serde(rename = "DevAddr")]
    pub dev_addr: i32,
    /// FCtrl byte (its low nibble is FOptsLen).
    #[serde(rename = "FCtrl")]
    pub fctrl: u8,
    /// The 16-bit frame counter.
    #[serde(rename = "FCnt")]
    pub fcnt: u16,
    /// FOpts.
    #[serde(rename = "FOpts", with = "hex_bytes")]
    pub fopts: Vec<u8>,
    /// FPort, −1 if absent.
    #[serde(rename = "FPort")]
    pub fport: i16,
    /// FRMPayload.
    #[serde(rename = "FRMPayload", with = "hex_bytes")]
    pub frm_payload: Vec<u8>,
    /// MIC as a signed 32-bit integer of the little-endian bytes.
    #[serde(rename = "MIC")]
    pub mic: i32,
    /// Radio metadata.
    #[serde(flatten)]
    pub radio: RadioMetadata,
}

/// `jreq` (and `rejoin`): a join-request, decoded field by field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jreq {
    /// MHDR byte.
    #[serde(rename = "MHdr")]
    pub mhdr: u8,
    /// JoinEUI.
    #[serde(rename = "JoinEui", alias = "JoinEUI", with = "eui_text")]
    pub join_eui: Eui64,
    /// DevEUI.
    #[serde(rename = "DevEui", alias = "DevEUI", with = "eui_text")]
    pub dev_eui: Eui64,
    /// DevNonce.
    #[serde(rename = "DevNonce")]
    pub dev_nonce: u16,
    /// MIC as a signed 32-bit integer of the little-endian bytes.
    #[serde(rename = "MIC")]
    pub mic: i32,
    /// Radio metadata.
    #[serde(flatten)]
    pub radio: RadioMetadata,
}

/// `propdf`: a proprietary frame, whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Propdf {
    /// The entire PHYPayload, MHDR included.
    #[serde(rename = "FRMPayload", with = "hex_bytes")]
    pub frm_payload: Vec<u8>,
    /// Radio metadata.
    #[serde(flatten)]
    pub radio: RadioMetadata,
}

/// The Major bits of MHDR; only 0 (LoRaWAN R1) is defined, and the station
/// drops other frames.
const MAJOR_MASK: u8 = 0x03;

/// The longest PHYPayload a LoRa frame carries.
const MAX_PHY_LEN: usize = 255;

fn mtype_of(mhdr: u8) -> MType {
    Mhdr(mhdr).mtype()
}

impl Updf {
    /// The PHYPayload: MHDR ‖ DevAddr ‖ FCtrl ‖ FCnt ‖ FOpts ‖ [FPort ‖
    /// FRMPayload] ‖ MIC, integers little-endian.
    pub fn phy_payload(&self) -> Result<Vec<u8>, Error> {
        let err = |field, reason| Error::Reassembly {
            msgtype: "updf",
            field,
            reason,
        };
        if !matches!(
            mtype_of(self.mhdr),
            MType::UnconfirmedDataUp | MType::ConfirmedDataUp
        ) {
            return Err(err("MHdr", "is not a data uplink"));
        }
        if self.mhdr & MAJOR_MASK != 0 {
            return Err(err("MHdr", "is not LoRaWAN R1 (Major 0)"));
        }
        if usize::from(self.fctrl & 0x0f) != self.fopts.len() {
            return Err(err("FOpts", "length differs from FCtrl.FOptsLen"));
        }
        let fport = match self.fport {
            -1 if self.frm_payload.is_empty() => None,
            -1 => return Err(err("FRMPayload", "is present without FPort")),
            p => Some(u8::try_from(p).map_err(|_| err("FPort", "is not -1 or 0..=255"))?),
        };
        let len = 12 + self.fopts.len() + usize::from(fport.is_some()) + self.frm_payload.len();
        if len > MAX_PHY_LEN {
            return Err(err("FRMPayload", "makes the frame longer than 255 bytes"));
        }
        let mut out = Vec::with_capacity(len);
        out.push(self.mhdr);
        out.extend_from_slice(&(self.dev_addr as u32).to_le_bytes());
        out.push(self.fctrl);
        out.extend_from_slice(&self.fcnt.to_le_bytes());
        out.extend_from_slice(&self.fopts);
        if let Some(p) = fport {
            out.push(p);
            out.extend_from_slice(&self.frm_payload);
        }
        out.extend_from_slice(&(self.mic as u32).to_le_bytes());
        Ok(out)
    }

    /// The station's fields of a data-uplink PHYPayload: the inverse of
    /// [`Updf::phy_payload`].
    pub fn from_phy_payload(phy: &[u8], radio: RadioMetadata) -> Result<Self, Error> {
        let frame = DataFrame::new_checked(phy).map_err(|e| Error::Frame {
            msgtype: "updf",
            reason: e.to_string(),
        })?;
        if !matches!(
            frame.mhdr().mtype(),
            MType::UnconfirmedDataUp | MType::ConfirmedDataUp
        ) {
            return Err(Error::Frame {
                msgtype: "updf",
                reason: "not a data uplink".into(),
            });
        }
        Ok(Self {
            mhdr: frame.mhdr().0,
            dev_addr: frame.dev_addr().to_u32() as i32,
            fctrl: frame.fctrl().0,
            fcnt: frame.fcnt(),
            fopts: frame.fopts().to_vec(),
            fport: frame.fport().map_or(-1, i16::from),
            frm_payload: frame.frm_payload().to_vec(),
            mic: u32::from_le_bytes(frame.mic().0) as i32,
            radio,
        })
    }
}

impl Jreq {
    /// The 23-byte PHYPayload: MHDR ‖ JoinEUI ‖ DevEUI ‖ DevNonce ‖ MIC, little-endian.
    ///
    /// `msgtype` is `"jreq"` or `"rejoin"`: the station sends both in this
    /// layout, and only 23-byte frames (FType 000 or 110).
    pub fn phy_payload(&self, msgtype: &'static str) -> Result<Vec<u8>, Error> {
        let want = if msgtype == "rejoin" {
            MType::RejoinRequest
        } else {
            MType::JoinRequest
        };
        if mtype_of(self.mhdr) != want {
            return Err(Error::Reassembly {
                msgtype,
                field: "MHdr",
                reason: "has the wrong MType",
            });
        }
        if self.mhdr & MAJOR_MASK != 0 {
            return Err(Error::Reassembly {
                msgtype,
                field: "MHdr",
                reason: "is not LoRaWAN R1 (Major 0)",
            });
        }
        let mut out = Vec::with_capacity(23);
        out.push(self.mhdr);
        out.extend_from_slice(&self.join_eui.to_le_bytes());
        out.extend_from_slice(&self.dev_eui.to_le_bytes());
        out.extend_from_slice(&self.dev_nonce.to_le_bytes());
        out.extend_from_slice(&(self.mic as u32).to_le_bytes());
        Ok(out)
    }

    /// The station's fields of a join-request PHYPayload.
    pub fn from_phy_payload(phy: &[u8], radio: RadioMetadata) -> Result<Self, Error> {
        let frame = JoinRequest::new_checked(phy).map_err(|e| Error::Frame {
            msgtype: "jreq",
            reason: e.to_string(),
        })?;
        Ok(Self {
            mhdr: frame.mhdr().0,
            join_eui: frame.join_eui(),
            dev_eui: frame.dev_eui(),
            dev_nonce: frame.dev_nonce().0,
            mic: u32::from_le_bytes(frame.mic().0) as i32,
            radio,
        })
    }
}

impl Propdf {
    /// The PHYPayload, which the station sends whole.
    pub fn phy_payload(&self) -> Result<Vec<u8>, Error> {
        let err = |reason| Error::Reassembly {
            msgtype: "propdf",
            field: "FRMPayload",
            reason,
        };
        let Some(&mhdr) = self.frm_payload.first() else {
            return Err(err("is empty"));
        };
        if mtype_of(mhdr) != MType::Proprietary {
            return Err(err("is not a proprietary frame"));
        }
        if self.frm_payload.len() > MAX_PHY_LEN {
            return Err(err("is longer than 255 bytes"));
        }
        Ok(self.frm_payload.clone())
    }
}

/// The 16-byte `context` ChirpStack puts in `UplinkRxInfo`: rctx and xtime,
/// each a big-endian u64.
pub fn context(rctx: i64, xtime: i64) -> Vec<u8> {
    let mut c = Vec::with_capacity(16);
    c.extend_from_slice(&(rctx as u64).to_be_bytes());
    c.extend_from_slice(&(xtime as u64).to_be_bytes());
    c
}

/// rctx and xtime back from a [`context`]; `None` if it is not 16 bytes.
pub fn parse_context(context: &[u8]) -> Option<(i64, i64)> {
    let c: &[u8; 16] = context.try_into().ok()?;
    let (r, x) = c.split_at(8);
    Some((
        u64::from_be_bytes(r.try_into().ok()?) as i64,
        u64::from_be_bytes(x.try_into().ok()?) as i64,
    ))
}

/// The `gw` modulation of data rate `dr` of the region.
pub(crate) fn gw_modulation(params: &RegionParams, dr: u8) -> Result<gw::Modulation, Error> {
    let rate = params.data_rate(dr).ok_or(Error::UnknownDataRate {
        dr,
        region: params.region,
    })?;
    let parameters = match rate.modulation {
        Modulation::Lora {
            spreading_factor,
            bandwidth,
        } => gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
            bandwidth,
            spreading_factor: u32::from(spreading_factor),
            code_rate: gw::CodeRate::Cr45.into(),
            ..Default::default()
        }),
        Modulation::Fsk { bitrate } => gw::modulation::Parameters::Fsk(gw::FskModulationInfo {
            datarate: bitrate,
            ..Default::default()
        }),
        Modulation::LrFhss {
            coding_rate,
            occupied_channel_width,
        } => gw::modulation::Parameters::LrFhss(gw::LrFhssModulationInfo {
            operating_channel_width: occupied_channel_width,
            // The gw enum names LR-FHSS rates by their unreduced fractions.
            code_rate: match coding_rate {
                LrFhssCodingRate::Cr1_3 => gw::CodeRate::Cr26,
                LrFhssCodingRate::Cr2_3 => gw::CodeRate::Cr46,
                LrFhssCodingRate::Cr1_2 => gw::CodeRate::Cr48,
                LrFhssCodingRate::Cr5_6 => gw::CodeRate::Cr56,
            }
            .into(),
            ..Default::default()
        }),
    };
    Ok(gw::Modulation {
        parameters: Some(parameters),
    })
}

/// The `gw::UplinkFrame` of a reassembled PHYPayload and its metadata, as
/// ChirpStack's bridge builds it: modulation from the region's DR table,
/// `context` = rctx ‖ xtime, `gw_time` from `rxtime`, `time_since_gps_epoch`
/// from `gpstime`, the fine timestamp from `fts` within `gpstime`'s second.
pub fn uplink_frame(
    params: &RegionParams,
    gateway_id: Eui64,
    uplink_id: u32,
    phy_payload: Vec<u8>,
    radio: &RadioMetadata,
) -> Result<gw::UplinkFrame, Error> {
    let modulation = gw_modulation(params, radio.dr)?;
    let up = &radio.upinfo;
    let gw_time = up
        .rxtime
        .filter(|t| t.is_finite() && *t > 0.0 && *t < 1e12)
        .map(|t| {
            let secs = t.floor();
            gw::Timestamp {
                seconds: secs as i64,
                nanos: ((t - secs) * 1e9) as i32,
            }
        });
    let gpstime = up.gpstime.filter(|t| *t > 0);
    let time_since_gps_epoch = gpstime.map(|us| gw::Duration {
        seconds: us / 1_000_000,
        nanos: (us % 1_000_000 * 1000) as i32,
    });
    let fine_time_since_gps_epoch = match (gpstime, up.fts) {
        (Some(us), Some(ns)) if (0..1_000_000_000).contains(&ns) => Some(gw::Duration {
            seconds: us / 1_000_000,
            nanos: ns as i32,
        }),
        _ => None,
    };
    Ok(gw::UplinkFrame {
        phy_payload,
        tx_info: Some(gw::UplinkTxInfo {
            frequency: radio.freq,
            modulation: Some(modulation),
        }),
        rx_info: Some(gw::UplinkRxInfo {
            gateway_id: gateway_id.to_string(),
            uplink_id,
            gw_time,
            time_since_gps_epoch,
            fine_time_since_gps_epoch,
            rssi: up.rssi.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32,
            snr: up.snr as f32,
            context: context(up.rctx, up.xtime),
            crc_status: gw::CrcStatus::CrcOk.into(),
            ..Default::default()
        }),
        ..Default::default()
    })
}
