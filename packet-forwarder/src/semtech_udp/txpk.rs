//! `txpk`: the frame to transmit in a PULL_RESP.

use lorawan::modulation::Modulation;
use serde::{Deserialize, Serialize};

use super::datr::{CodingRate, DataRate, DatrError};
use super::rxpk::{RxModulation, modulation};
use super::serde_util::{base64_bytes, is_false};

/// The modulation of a downlink, `modu`: exactly `"LORA"` or `"FSK"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxModulation {
    /// `"LORA"`.
    #[serde(rename = "LORA")]
    Lora,
    /// `"FSK"`.
    #[serde(rename = "FSK")]
    Fsk,
}

/// A frame to transmit. When is given by `imme`, else `tmst`, else `tmms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxPk {
    /// Send immediately (Class C), ignoring `tmst`/`tmms`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub imme: bool,
    /// Concentrator counter value to send at, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmst: Option<u32>,
    /// GPS time to send at, ms since 1980-01-06 (Class B).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmms: Option<u64>,
    /// Centre frequency, MHz.
    pub freq: f64,
    /// RF chain.
    pub rfch: u32,
    /// Power, dBm (may be negative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub powe: Option<i32>,
    /// Modulation.
    pub modu: TxModulation,
    /// Data rate.
    pub datr: DataRate,
    /// Coding rate (LoRa).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codr: Option<CodingRate>,
    /// FSK frequency deviation, Hz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fdev: Option<u32>,
    /// Inverted polarity (true for LoRaWAN downlinks).
    #[serde(default)]
    pub ipol: bool,
    /// Preamble length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prea: Option<u16>,
    /// PHYPayload length.
    pub size: u16,
    /// The PHYPayload.
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
    /// Send without CRC.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ncrc: bool,
    /// Send without header (implicit header mode).
    #[serde(default, skip_serializing_if = "is_false")]
    pub nhdr: bool,
    /// Board.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brd: Option<u32>,
    /// Antenna.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ant: Option<u32>,
}

impl TxPk {
    /// `modu` and `datr` as one typed modulation.
    pub fn modulation(&self) -> Result<Modulation, DatrError> {
        let modu = match self.modu {
            TxModulation::Lora => RxModulation::Lora,
            TxModulation::Fsk => RxModulation::Fsk,
        };
        modulation(modu, self.datr, self.codr.as_ref())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn lr_fhss_and_wrong_case_modu_are_rejected_for_downlinks() {
        for bad in [r#""LR-FHSS""#, r#""Fsk""#, r#""Lora""#] {
            assert!(serde_json::from_str::<TxModulation>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn negative_power_round_trips() {
        let tx: TxPk = serde_json::from_str(
            r#"{"tmst":5000000,"freq":869.525,"rfch":0,"powe":-3,"modu":"LORA",
                "datr":"SF9BW125","codr":"4/5","ipol":true,"size":1,"data":"AA=="}"#,
        )
        .unwrap();
        assert_eq!(tx.powe, Some(-3));
        let text = serde_json::to_string(&tx).unwrap();
        assert!(text.contains(r#""powe":-3"#), "{text}");
        assert_eq!(serde_json::from_str::<TxPk>(&text).unwrap(), tx);
    }
}
