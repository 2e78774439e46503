//! Class A receive windows as a gateway transmits them: the frequency, data
//! rate, power and delay of RX1 and RX2 after an uplink, written as a `gw`
//! [`DownlinkTxInfo`](gw::DownlinkTxInfo).
//!
//! Shared by the join-accept and the data-downlink paths. Everything here is a
//! pure function of the region's tables and the uplink's metadata:
//!
//! - RX1 uses the uplink's frequency (dynamic plans) or the downlink channel of
//!   the uplink channel (fixed plans), at the data rate the region's RX1 table
//!   gives for the uplink data rate and the RX1DROffset;
//! - RX2 uses a fixed frequency and data rate (the region's defaults until a
//!   join-accept or RXParamSetupReq changes them);
//! - the timing is a delay relative to the uplink, carried by the gateway's
//!   opaque `context` from the uplink's `UplinkRxInfo`;
//! - the power is the network's `downlink_tx_power` or the region's default
//!   EIRP ([`default_downlink_tx_power`]).
//!
//! ```
//! use std::time::Duration;
//! use lorawan::region::{params, Region, Revision};
//! use ns_core::downlink_timing::{delayed_tx_info, rx1_window, uplink_data_rate};
//! use packet_forwarder::gw;
//!
//! let eu = params(Region::Eu868, Revision::Rp002_1_0_4);
//! let tx_info = gw::UplinkTxInfo {
//!     frequency: 868_300_000,
//!     modulation: Some(gw::Modulation {
//!         parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
//!             bandwidth: 125_000,
//!             spreading_factor: 9,
//!             ..Default::default()
//!         })),
//!     }),
//! };
//! let rx_info = gw::UplinkRxInfo { context: vec![1, 2, 3, 4], ..Default::default() };
//!
//! let dr = uplink_data_rate(eu, &tx_info)?;
//! assert_eq!(dr, 3);
//! let rx1 = rx1_window(eu, tx_info.frequency, dr, 0, false, Duration::from_secs(1))?;
//! let down = delayed_tx_info(eu, &rx_info, rx1, None)?;
//! assert_eq!((down.frequency, down.power), (868_300_000, 16));
//! assert_eq!(down.context, [1, 2, 3, 4]);
//! # Ok::<(), ns_core::downlink_timing::TxInfoError>(())
//! ```

use std::time::Duration;

use lorawan::airtime::LoraParams;
use lorawan::modulation::{LoraCodingRate, LrFhssCodingRate, Modulation};
use lorawan::region::{Region, RegionParams};
use packet_forwarder::gw;

/// A receive window of the device: where and when a downlink must be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxWindow {
    /// Frequency, Hz.
    pub frequency: u32,
    /// Data rate index of the region.
    pub dr: u8,
    /// Delay after the end of the uplink.
    pub delay: Duration,
}

/// Why transmission parameters could not be derived: the uplink's metadata
/// does not fit the region (a gateway or configuration problem), or the
/// region's tables have no answer for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxInfoError {
    /// The uplink's `tx_info` carries no modulation.
    #[error("uplink tx_info has no modulation")]
    MissingModulation,
    /// An LR-FHSS uplink whose coding rate is not one LR-FHSS uses.
    #[error("uplink LR-FHSS coding rate {code_rate} is not an LR-FHSS rate")]
    LrFhssCodeRate {
        /// The `gw.CodeRate` value.
        code_rate: i32,
    },
    /// The modulation is no uplink data rate of the region.
    #[error("uplink modulation {modulation} is not an uplink data rate of {region}")]
    UnknownUplinkDataRate {
        /// The modulation received.
        modulation: Modulation,
        /// The region.
        region: Region,
    },
    /// The region's RX1 table has no entry for this uplink data rate and
    /// RX1DROffset.
    #[error(
        "{region} defines no RX1 data rate for uplink DR{uplink_dr} with RX1DROffset {rx1_dr_offset}"
    )]
    NoRx1DataRate {
        /// The region.
        region: Region,
        /// The uplink's data rate.
        uplink_dr: u8,
        /// The RX1DROffset.
        rx1_dr_offset: u8,
    },
    /// A fixed channel plan has no uplink channel on this frequency, so no RX1
    /// channel.
    #[error("{region} has no uplink channel on {frequency} Hz, so no RX1 channel")]
    NoRx1Frequency {
        /// The region.
        region: Region,
        /// The uplink's frequency, Hz.
        frequency: u32,
    },
    /// The data rate is not a downlink data rate of the region.
    #[error("DR{dr} is not a downlink data rate of {region}")]
    NotDownlinkDataRate {
        /// The region.
        region: Region,
        /// The data rate.
        dr: u8,
    },
}

/// The modulation of an uplink as the region tables name it.
///
/// LR-FHSS coding rates carry the `gw.CodeRate` names ChirpStack's tables use
/// for them (1/3 is `CR_2_6`, 2/3 is `CR_4_6`), as the Semtech UDP mapping of
/// this project writes them.
pub fn uplink_modulation(tx_info: &gw::UplinkTxInfo) -> Result<Modulation, TxInfoError> {
    modulation(
        tx_info
            .modulation
            .as_ref()
            .ok_or(TxInfoError::MissingModulation)?,
    )
}

/// A `gw.Modulation` as the region tables name it (see
/// [`uplink_modulation`]).
pub fn modulation(modulation: &gw::Modulation) -> Result<Modulation, TxInfoError> {
    use gw::modulation::Parameters;
    let parameters = modulation
        .parameters
        .as_ref()
        .ok_or(TxInfoError::MissingModulation)?;
    Ok(match parameters {
        Parameters::Lora(lora) => Modulation::Lora {
            // Out-of-range values simply match no data rate.
            spreading_factor: u8::try_from(lora.spreading_factor).unwrap_or(u8::MAX),
            bandwidth: lora.bandwidth,
        },
        Parameters::Fsk(fsk) => Modulation::Fsk {
            bitrate: fsk.datarate,
        },
        Parameters::LrFhss(lr) => {
            let coding_rate = match gw::CodeRate::try_from(lr.code_rate) {
                Ok(gw::CodeRate::Cr26) => LrFhssCodingRate::Cr1_3,
                Ok(gw::CodeRate::Cr46) => LrFhssCodingRate::Cr2_3,
                Ok(gw::CodeRate::Cr48) => LrFhssCodingRate::Cr1_2,
                Ok(gw::CodeRate::Cr56) => LrFhssCodingRate::Cr5_6,
                _ => {
                    return Err(TxInfoError::LrFhssCodeRate {
                        code_rate: lr.code_rate,
                    });
                }
            };
            Modulation::LrFhss {
                coding_rate,
                occupied_channel_width: lr.operating_channel_width,
            }
        }
    })
}

/// The region's uplink data rate index of an uplink.
pub fn uplink_data_rate(
    params: &RegionParams,
    tx_info: &gw::UplinkTxInfo,
) -> Result<u8, TxInfoError> {
    let modulation = uplink_modulation(tx_info)?;
    params
        .data_rate_index(&modulation, true)
        .ok_or(TxInfoError::UnknownUplinkDataRate {
            modulation,
            region: params.region,
        })
}

/// The RX1 window after an uplink on `uplink_frequency` at `uplink_dr`.
///
/// `downlink_dwell_time` selects the region's dwell-time RX1 table where it
/// has one (AS923). `delay` is RECEIVE_DELAY1 (the session's RxDelay) for data
/// downlinks, JOIN_ACCEPT_DELAY1 for a join-accept.
pub fn rx1_window(
    params: &RegionParams,
    uplink_frequency: u32,
    uplink_dr: u8,
    rx1_dr_offset: u8,
    downlink_dwell_time: bool,
    delay: Duration,
) -> Result<RxWindow, TxInfoError> {
    let region = params.region;
    let dr = params
        .rx1_data_rate(uplink_dr, rx1_dr_offset, downlink_dwell_time)
        .ok_or(TxInfoError::NoRx1DataRate {
            region,
            uplink_dr,
            rx1_dr_offset,
        })?;
    let frequency = params
        .rx1_frequency(uplink_frequency)
        .ok_or(TxInfoError::NoRx1Frequency {
            region,
            frequency: uplink_frequency,
        })?;
    Ok(RxWindow {
        frequency,
        dr,
        delay,
    })
}

/// The default downlink EIRP in dBm of a region on `frequency`, Hz: the values
/// ChirpStack's regional tables use (`get_downlink_tx_power_eirp`), the
/// regulatory limits in EIRP (an ERP limit + 2.15 dB).
///
/// EU868 allows 29 dBm in the 869.4–869.65 MHz sub-band (its RX2 frequency)
/// and 16 dBm elsewhere.
///
/// ```
/// use lorawan::region::Region;
/// use ns_core::downlink_timing::default_downlink_tx_power;
/// assert_eq!(default_downlink_tx_power(Region::Eu868, 869_525_000), 29);
/// assert_eq!(default_downlink_tx_power(Region::Eu868, 868_100_000), 16);
/// assert_eq!(default_downlink_tx_power(Region::Us915, 923_300_000), 21);
/// ```
pub const fn default_downlink_tx_power(region: Region, frequency: u32) -> i32 {
    match region {
        Region::Eu868 => {
            if frequency >= 869_400_000 && frequency < 869_650_000 {
                29
            } else {
                16
            }
        }
        Region::Us915 => 21,
        Region::Au915 | Region::In865 => 30,
        Region::Kr920 => 23,
        Region::Cn470 => 19,
        Region::As923_1 | Region::As923_2 | Region::As923_3 | Region::As923_4 | Region::Ru864 => 16,
        Region::Cn779 | Region::Eu433 => 12,
        Region::Ism2400 => 10,
    }
}

/// The `gw` modulation of a downlink at data rate `dr`: LoRa with inverted
/// polarisation (as every downlink to a device) and the coding rate LoRaWAN
/// uses at that bandwidth (4/5, or 4/8 with the long interleaver at 2.4 GHz),
/// or FSK with a deviation of half the bit rate.
pub fn downlink_modulation(params: &RegionParams, dr: u8) -> Result<gw::Modulation, TxInfoError> {
    use gw::modulation::Parameters;
    let not_downlink = TxInfoError::NotDownlinkDataRate {
        region: params.region,
        dr,
    };
    let data_rate = params
        .data_rate(dr)
        .filter(|d| d.downlink)
        .ok_or_else(|| not_downlink.clone())?;
    let parameters = match data_rate.modulation {
        Modulation::Lora {
            spreading_factor,
            bandwidth,
        } => Parameters::Lora(gw::LoraModulationInfo {
            bandwidth,
            spreading_factor: spreading_factor.into(),
            code_rate: lora_code_rate(LoraParams::new(spreading_factor, bandwidth).coding_rate)
                .into(),
            polarization_inversion: true,
            ..Default::default()
        }),
        Modulation::Fsk { bitrate } => Parameters::Fsk(gw::FskModulationInfo {
            frequency_deviation: bitrate / 2,
            datarate: bitrate,
        }),
        Modulation::LrFhss { .. } => return Err(not_downlink),
    };
    Ok(gw::Modulation {
        parameters: Some(parameters),
    })
}

fn lora_code_rate(cr: LoraCodingRate) -> gw::CodeRate {
    match cr {
        LoraCodingRate::Cr4_5 => gw::CodeRate::Cr45,
        LoraCodingRate::Cr4_6 => gw::CodeRate::Cr46,
        LoraCodingRate::Cr4_7 => gw::CodeRate::Cr47,
        LoraCodingRate::Cr4_8 => gw::CodeRate::Cr48,
        LoraCodingRate::Cr4_5Li => gw::CodeRate::CrLi45,
        LoraCodingRate::Cr4_6Li => gw::CodeRate::CrLi46,
        LoraCodingRate::Cr4_8Li => gw::CodeRate::CrLi48,
    }
}

/// The transmission parameters of `window`, sent by the gateway that produced
/// `rx_info`: its board, antenna and uplink `context`, with a `Delay` timing
/// relative to that uplink. `power` overrides the region's default EIRP
/// ([`default_downlink_tx_power`]).
pub fn delayed_tx_info(
    params: &RegionParams,
    rx_info: &gw::UplinkRxInfo,
    window: RxWindow,
    power: Option<i32>,
) -> Result<gw::DownlinkTxInfo, TxInfoError> {
    Ok(gw::DownlinkTxInfo {
        frequency: window.frequency,
        power: power.unwrap_or_else(|| default_downlink_tx_power(params.region, window.frequency)),
        modulation: Some(downlink_modulation(params, window.dr)?),
        board: rx_info.board,
        antenna: rx_info.antenna,
        timing: Some(gw::Timing {
            parameters: Some(gw::timing::Parameters::Delay(gw::DelayTimingInfo {
                delay: Some(window.delay.into()),
            })),
        }),
        context: rx_info.context.clone(),
    })
}

/// The transmission parameters of a downlink sent at once (class C) on
/// `frequency` at data rate `dr` by the gateway that produced `rx_info`:
/// its board, antenna and `context`, with an `Immediately` timing. `power`
/// overrides the region's default EIRP ([`default_downlink_tx_power`]).
pub fn immediate_tx_info(
    params: &RegionParams,
    rx_info: &gw::UplinkRxInfo,
    frequency: u32,
    dr: u8,
    power: Option<i32>,
) -> Result<gw::DownlinkTxInfo, TxInfoError> {
    Ok(gw::DownlinkTxInfo {
        frequency,
        power: power.unwrap_or_else(|| default_downlink_tx_power(params.region, frequency)),
        modulation: Some(downlink_modulation(params, dr)?),
        board: rx_info.board,
        antenna: rx_info.antenna,
        timing: Some(gw::Timing {
            parameters: Some(gw::timing::Parameters::Immediately(
                gw::ImmediatelyTimingInfo {},
            )),
        }),
        context: rx_info.context.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lorawan::region::{Revision, params};

    fn lora_tx(frequency: u32, sf: u32, bw: u32) -> gw::UplinkTxInfo {
        gw::UplinkTxInfo {
            frequency,
            modulation: Some(gw::Modulation {
                parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
                    bandwidth: bw,
                    spreading_factor: sf,
                    ..Default::default()
                })),
            }),
        }
    }

    #[test]
    fn us915_rx1_follows_the_channel_and_the_dr_table() {
        let us = params(Region::Us915, Revision::Rp002_1_0_4);
        let tx = lora_tx(902_500_000, 10, 125_000); // channel 1, DR0
        let dr = uplink_data_rate(us, &tx).unwrap();
        assert_eq!(dr, 0);
        let w = rx1_window(us, tx.frequency, dr, 0, false, Duration::from_secs(5)).unwrap();
        assert_eq!((w.frequency, w.dr), (923_900_000, 10));
        let m = downlink_modulation(us, w.dr).unwrap();
        let Some(gw::modulation::Parameters::Lora(lora)) = m.parameters else {
            panic!("LoRa expected");
        };
        assert_eq!((lora.spreading_factor, lora.bandwidth), (10, 500_000));
        assert!(lora.polarization_inversion);
        assert_eq!(lora.code_rate, gw::CodeRate::Cr45 as i32);
    }

    #[test]
    fn unknown_fixed_plan_frequency_has_no_rx1() {
        let us = params(Region::Us915, Revision::Rp002_1_0_4);
        assert_eq!(
            rx1_window(us, 903_200_000, 0, 0, false, Duration::ZERO),
            Err(TxInfoError::NoRx1Frequency {
                region: Region::Us915,
                frequency: 903_200_000
            })
        );
    }

    #[test]
    fn uplink_only_data_rates_are_refused_for_downlinks() {
        let us = params(Region::Us915, Revision::Rp002_1_0_4);
        assert!(matches!(
            downlink_modulation(us, 0),
            Err(TxInfoError::NotDownlinkDataRate { dr: 0, .. })
        ));
        assert!(downlink_modulation(us, 200).is_err());
    }

    #[test]
    fn fsk_and_2g4_downlinks() {
        let eu = params(Region::Eu868, Revision::Rp002_1_0_4);
        let m = downlink_modulation(eu, 7).unwrap();
        assert_eq!(
            m.parameters,
            Some(gw::modulation::Parameters::Fsk(gw::FskModulationInfo {
                frequency_deviation: 25_000,
                datarate: 50_000,
            }))
        );
        let ism = params(Region::Ism2400, Revision::Rp002_1_0_4);
        let Some(gw::modulation::Parameters::Lora(lora)) =
            downlink_modulation(ism, 0).unwrap().parameters
        else {
            panic!("LoRa expected");
        };
        assert_eq!(lora.code_rate, gw::CodeRate::CrLi48 as i32);
    }

    #[test]
    fn missing_or_foreign_modulations_are_errors() {
        let eu = params(Region::Eu868, Revision::Rp002_1_0_4);
        let none = gw::UplinkTxInfo::default();
        assert_eq!(
            uplink_data_rate(eu, &none),
            Err(TxInfoError::MissingModulation)
        );
        assert!(matches!(
            uplink_data_rate(eu, &lora_tx(868_100_000, 7, 500_000)),
            Err(TxInfoError::UnknownUplinkDataRate { .. })
        ));
        assert!(matches!(
            uplink_data_rate(eu, &lora_tx(868_100_000, u32::MAX, 125_000)),
            Err(TxInfoError::UnknownUplinkDataRate { .. })
        ));
        let lr = gw::UplinkTxInfo {
            frequency: 868_100_000,
            modulation: Some(gw::Modulation {
                parameters: Some(gw::modulation::Parameters::LrFhss(
                    gw::LrFhssModulationInfo {
                        operating_channel_width: 137_000,
                        code_rate: gw::CodeRate::Cr26.into(),
                        ..Default::default()
                    },
                )),
            }),
        };
        assert_eq!(uplink_data_rate(eu, &lr), Ok(8));
        let mut bad = lr.clone();
        if let Some(gw::modulation::Parameters::LrFhss(p)) =
            bad.modulation.as_mut().and_then(|m| m.parameters.as_mut())
        {
            p.code_rate = 99;
        }
        assert_eq!(
            uplink_data_rate(eu, &bad),
            Err(TxInfoError::LrFhssCodeRate { code_rate: 99 })
        );
    }

    #[test]
    fn tx_info_copies_the_gateway_context_and_sets_a_delay() {
        let eu = params(Region::Eu868, Revision::Rp002_1_0_4);
        let rx_info = gw::UplinkRxInfo {
            board: 1,
            antenna: 2,
            context: vec![9, 9],
            ..Default::default()
        };
        let window = RxWindow {
            frequency: 869_525_000,
            dr: 0,
            delay: Duration::from_secs(6),
        };
        let tx = delayed_tx_info(eu, &rx_info, window, Some(14)).unwrap();
        assert_eq!((tx.board, tx.antenna, tx.power), (1, 2, 14));
        assert_eq!(tx.context, [9, 9]);
        assert_eq!(
            tx.timing,
            Some(gw::Timing {
                parameters: Some(gw::timing::Parameters::Delay(gw::DelayTimingInfo {
                    delay: Some(gw::Duration {
                        seconds: 6,
                        nanos: 0
                    }),
                })),
            })
        );
        assert_eq!(
            delayed_tx_info(eu, &rx_info, window, None).unwrap().power,
            29
        );
    }
}
