//! ISM2400, LoRa in the 2.4 GHz band. Not a LoRa Alliance region: the values
//! are Semtech's "Physical Layer Proposal 2.4GHz" (TN1300) as implemented by
//! Semtech's LoRa Basics Modem (`region_ww2g4_defs.h`, region WW2G4) and by
//! `lrwn`. No revision changes them: one static serves every [`Revision`] and
//! names the oldest.
//!
//! DR0–DR7 are LoRa SF12..SF5 at 812.5 kHz with coding rate 4/8 and the long
//! interleaver (`LoraCodingRate::Cr4_8Li`; a [`DataRate`] does not carry the
//! coding rate).
//!
//! Source notes:
//! - Bandwidth: the SX1280's "812 kHz" setting is 812.5 kHz (the crate's
//!   [`crate::modulation::Modulation`] convention); `lrwn` and a LoRaMac-node
//!   fork write 812 000 Hz. Pinned in the differential test.
//! - Beacon data rate: LoRa Basics Modem `BEACON_DR_WW2G4` is DR3, a
//!   third-party LoRaMac-node fork (`RegionISM2400.h`) says DR0 with ping slots
//!   at DR3. Semtech's DR3 is kept for both.
//! - Maximum payload: Basics Modem's single table is `lrwn`'s repeater table
//!   (M = 228 from DR2); `lrwn`'s direct table has 248. Both are kept.
//! - Default MaxEIRP 10 dBm and TXParamSetupReq support come from Basics Modem
//!   (`TX_POWER_EIRP_WW2G4`, `TX_PARAM_SETUP_REQ_SUPPORTED_WW2G4`) and `lrwn`;
//!   the fork's 16 dBm is not followed. No duty-cycle limit
//!   (`DTC_SUPPORTED_WW2G4` false).
//! - Default channels allow DR0–DR7 (`lrwn`, the fork); Basics Modem enables
//!   DR0–DR5 at boot for its data-rate distribution only.

use super::{RX1_DR0_7_OFFSET_0_5, TX_POWER_0_7, channel, class_b, dynamic_plan, lora, mp};
use crate::region::{Channel, DataRate, MaxPayload, Region, RegionParams, Revision};

pub(super) fn params(revision: Revision) -> &'static RegionParams {
    let _ = revision;
    &ISM2400
}

/// The SX1280 LoRa bandwidth used by every ISM2400 data rate, Hz.
const BW: u32 = 812_500;

static DATA_RATES: [Option<DataRate>; 8] = [
    lora(12, BW),
    lora(11, BW),
    lora(10, BW),
    lora(9, BW),
    lora(8, BW),
    lora(7, BW),
    lora(6, BW),
    lora(5, BW),
];

static MAX_PAYLOAD: [Option<MaxPayload>; 8] = [
    mp(59),
    mp(123),
    mp(248),
    mp(248),
    mp(248),
    mp(248),
    mp(248),
    mp(248),
];

static MAX_PAYLOAD_REPEATER: [Option<MaxPayload>; 8] = [
    mp(59),
    mp(123),
    mp(228),
    mp(228),
    mp(228),
    mp(228),
    mp(228),
    mp(228),
];

/// 2403, 2425, 2479 MHz, DR0–DR7.
static DEFAULT_CHANNELS: [Channel; 3] = [
    channel(2_403_000_000, 7),
    channel(2_425_000_000, 7),
    channel(2_479_000_000, 7),
];

/// Every revision.
static ISM2400: RegionParams = RegionParams {
    region: Region::Ism2400,
    revision: Revision::A,
    data_rates: &DATA_RATES,
    max_payload: &MAX_PAYLOAD,
    max_payload_dwell_time: None,
    max_payload_repeater: Some(&MAX_PAYLOAD_REPEATER),
    rx1_dr: &RX1_DR0_7_OFFSET_0_5,
    rx1_dr_dwell_time: None,
    tx_power_offsets: &TX_POWER_0_7,
    default_max_eirp: 10.0,
    channel_plan: dynamic_plan(&DEFAULT_CHANNELS),
    rx2_frequency: 2_423_000_000,
    rx2_dr: 0,
    class_b: Some(class_b(3, 2_424_000_000, 2_424_000_000)),
    duty_cycle_bands: &[],
    default_dwell_time: false,
    tx_param_setup: true,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modulation::Modulation;
    use crate::region::{BeaconFrequency, ChannelPlan, params as region_params};

    /// Semtech TN1300 / LoRa Basics Modem `region_ww2g4_defs.h`: SF12..SF5,
    /// channels 2403/2425/2479 MHz, RX2 2423 MHz DR0, beacon and ping slot
    /// 2424 MHz DR3, MaxEIRP 10 dBm, TXPower 0–7, M 59/123/228… (repeater).
    #[test]
    fn tables_follow_semtech_tn1300() {
        for revision in Revision::ALL {
            let p = region_params(Region::Ism2400, revision);
            assert!(core::ptr::eq(p, &ISM2400));
            let sf: Vec<u8> = p
                .data_rates
                .iter()
                .map(|d| match d.unwrap().modulation {
                    Modulation::Lora {
                        spreading_factor,
                        bandwidth: 812_500,
                    } => spreading_factor,
                    other => panic!("{other}"),
                })
                .collect();
            assert_eq!(sf, [12, 11, 10, 9, 8, 7, 6, 5]);
            let r: Vec<u8> = p
                .max_payload_repeater
                .unwrap()
                .iter()
                .map(|x| x.unwrap().m)
                .collect();
            assert_eq!(r, [59, 123, 228, 228, 228, 228, 228, 228]);
            let m: Vec<u8> = p.max_payload.iter().map(|x| x.unwrap().m).collect();
            assert_eq!(m, [59, 123, 248, 248, 248, 248, 248, 248]);
            assert_eq!(
                p.rx1_dr[7],
                [Some(7), Some(6), Some(5), Some(4), Some(3), Some(2)]
            );
            assert_eq!(p.tx_power_offsets.len(), 8);
            assert_eq!(p.default_max_eirp, 10.0);
            let ChannelPlan::Dynamic {
                default_channels,
                max_channels,
            } = p.channel_plan
            else {
                panic!()
            };
            let f: Vec<u32> = default_channels.iter().map(|c| c.frequency).collect();
            assert_eq!(f, [2_403_000_000, 2_425_000_000, 2_479_000_000]);
            assert_eq!(max_channels, 16);
            assert_eq!((p.rx2_frequency, p.rx2_dr), (2_423_000_000, 0));
            let b = p.class_b.unwrap();
            assert_eq!(
                (b.beacon_dr, b.beacon_frequency),
                (3, BeaconFrequency::Fixed(2_424_000_000))
            );
            assert_eq!(b.ping_slot_frequency, BeaconFrequency::Fixed(2_424_000_000));
            assert!(p.tx_param_setup && !p.default_dwell_time);
        }
    }
}
