//! `rxpk`: one received frame in a PUSH_DATA.

use std::collections::BTreeMap;

use lorawan::modulation::Modulation;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

use super::datr::{CodingRate, DataRate, DatrError};
use super::serde_util::{base64_bytes, base64_opt};

/// CRC status of a received frame, `stat`: 1, -1 or 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CrcStatus {
    /// 1: CRC present and valid.
    #[default]
    Ok,
    /// -1: CRC present and wrong.
    Bad,
    /// 0: no CRC.
    NoCrc,
}

impl Serialize for CrcStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i8(match self {
            Self::Ok => 1,
            Self::Bad => -1,
            Self::NoCrc => 0,
        })
    }
}

impl<'de> Deserialize<'de> for CrcStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match i64::deserialize(d)? {
            1 => Ok(Self::Ok),
            -1 => Ok(Self::Bad),
            0 => Ok(Self::NoCrc),
            v => Err(D::Error::custom(format_args!(
                "stat {v} is none of 1 (CRC ok), -1 (bad CRC), 0 (no CRC)"
            ))),
        }
    }
}

/// The modulation of a received frame, `modu`, in its exact wire case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RxModulation {
    /// `"LORA"`.
    #[serde(rename = "LORA")]
    Lora,
    /// `"FSK"`.
    #[serde(rename = "FSK")]
    Fsk,
    /// `"LR-FHSS"`.
    #[serde(rename = "LR-FHSS")]
    LrFhss,
}

/// One `rsig` entry (JSON version 2): the frame as one antenna heard it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RSig {
    /// Antenna.
    pub ant: u32,
    /// IF channel.
    pub chan: u32,
    /// Channel RSSI, dBm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rssic: Option<i32>,
    /// Signal RSSI, dBm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rssis: Option<i32>,
    /// Standard deviation of the signal RSSI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rssisd: Option<u32>,
    /// SNR, dB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lsnr: Option<f64>,
    /// AES-encrypted fine timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "base64_opt")]
    pub etime: Option<Vec<u8>>,
    /// Frequency offset, Hz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foff: Option<i32>,
    /// Fine timestamp status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ftstat: Option<i32>,
    /// Fine timestamp version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ftver: Option<u32>,
    /// Fine timestamp delta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ftdelta: Option<i32>,
}

/// One received frame. Keys the protocol marks optional are `Option`s;
/// unknown keys are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RxPk {
    /// UTC time of reception, ISO 8601 compact (`2013-03-31T16:21:17.528002Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// GPS time of reception, ms since 1980-01-06.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmms: Option<u64>,
    /// Concentrator counter at "RX finished", µs (wraps).
    pub tmst: u32,
    /// Fine timestamp, ns since the last PPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ftime: Option<u32>,
    /// Centre frequency, MHz.
    pub freq: f64,
    /// IF channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chan: Option<u32>,
    /// RF chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rfch: Option<u32>,
    /// Concentrator modem id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mid: Option<u32>,
    /// CRC status.
    pub stat: CrcStatus,
    /// Modulation.
    pub modu: RxModulation,
    /// Data rate.
    pub datr: DataRate,
    /// Coding rate (LoRa, LR-FHSS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codr: Option<CodingRate>,
    /// LR-FHSS hopping grid steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpw: Option<u32>,
    /// Channel RSSI, dBm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rssi: Option<i32>,
    /// Signal RSSI, dBm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rssis: Option<i32>,
    /// SNR, dB (LoRa).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lsnr: Option<f64>,
    /// Frequency offset, Hz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foff: Option<i32>,
    /// PHYPayload length as announced.
    pub size: u16,
    /// The PHYPayload.
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
    /// Board.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brd: Option<u32>,
    /// Antenna.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ant: Option<u32>,
    /// AES key index of the encrypted fine timestamps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aesk: Option<u32>,
    /// JSON format version (2 with `rsig`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jver: Option<u32>,
    /// Per-antenna signal (JSON version 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rsig: Vec<RSig>,
    /// Free-form metadata (a ChirpStack/Helium extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<BTreeMap<String, String>>,
}

impl RxPk {
    /// `modu`, `datr` and `codr` as one typed modulation.
    ///
    /// ```
    /// # use packet_forwarder::semtech_udp::RxPk;
    /// use lorawan::modulation::Modulation;
    /// let rx: RxPk = serde_json::from_str(r#"{"tmst":1,"freq":868.1,"stat":1,
    ///     "modu":"LORA","datr":"SF7BW125","codr":"4/5","size":0,"data":""}"#).unwrap();
    /// assert_eq!(rx.modulation(), Ok(Modulation::Lora { spreading_factor: 7, bandwidth: 125_000 }));
    /// ```
    pub fn modulation(&self) -> Result<Modulation, DatrError> {
        modulation(self.modu, self.datr, self.codr.as_ref())
    }
}

pub(crate) fn modulation(
    modu: RxModulation,
    datr: DataRate,
    codr: Option<&CodingRate>,
) -> Result<Modulation, DatrError> {
    match (modu, datr) {
        (
            RxModulation::Lora,
            DataRate::Lora {
                spreading_factor,
                bandwidth,
            },
        ) => Ok(Modulation::Lora {
            spreading_factor,
            bandwidth,
        }),
        (RxModulation::Fsk, DataRate::Fsk { bitrate }) => Ok(Modulation::Fsk { bitrate }),
        (
            RxModulation::LrFhss,
            DataRate::LrFhss {
                occupied_channel_width,
            },
        ) => Ok(Modulation::LrFhss {
            coding_rate: codr
                .ok_or_else(|| DatrError::CodingRate(String::new()))?
                .lr_fhss()?,
            occupied_channel_width,
        }),
        (_, datr) => Err(DatrError::Malformed(datr.to_string())),
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use lorawan::modulation::LrFhssCodingRate;

    #[test]
    fn lr_fhss_rxpk_reads_ocw_and_coding_rate() {
        let rx: RxPk = serde_json::from_str(
            r#"{"tmst":1,"freq":867.1,"stat":1,"modu":"LR-FHSS","datr":"M0CW137",
                "codr":"2/3","hpw":52,"size":3,"data":"AQID"}"#,
        )
        .unwrap();
        assert_eq!(
            rx.modulation(),
            Ok(Modulation::LrFhss {
                coding_rate: LrFhssCodingRate::Cr2_3,
                occupied_channel_width: 137_000
            })
        );
        assert_eq!(rx.hpw, Some(52));
        assert_eq!(rx.data, [1, 2, 3]);
    }

    #[test]
    fn modulation_mismatch_is_an_error() {
        let rx: RxPk = serde_json::from_str(
            r#"{"tmst":1,"freq":868.1,"stat":1,"modu":"FSK","datr":"SF7BW125","size":0,"data":""}"#,
        )
        .unwrap();
        assert!(rx.modulation().is_err());
    }

    #[test]
    fn crc_status_outside_three_values_is_rejected() {
        let e = serde_json::from_str::<CrcStatus>("2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("stat 2"), "{e}");
        assert_eq!(
            serde_json::from_str::<CrcStatus>("-1").unwrap(),
            CrcStatus::Bad
        );
    }

    #[test]
    fn modu_is_case_exact() {
        assert!(serde_json::from_str::<RxModulation>(r#""Fsk""#).is_err());
        assert!(serde_json::from_str::<RxModulation>(r#""lora""#).is_err());
    }
}
