//! EU433 (RP002-1.0.4 "EU433MHz ISM Band"; 1.0.2rB and 1.1rA/rB "EU 433MHz ISM
//! Band"). The tables did not change between revisions: one static serves all.
//!
//! Source notes:
//! - Duty cycle: the Regional Parameters' default-channel table says "<1%" and
//!   LoRaMac-node enforces 1 % over its 433.175–434.665 MHz range
//!   (`EU433_BAND0`); The Things Stack uses 10 % (the ETSI EN 300 220 limit for
//!   433.05–434.79 MHz at 10 mW). The Regional Parameters' 1 % is kept.

use super::{
    DATA_RATES_LORA_FSK, MAX_PAYLOAD_DR0_7, MAX_PAYLOAD_REPEATER_DR0_7, RX1_DR0_7_OFFSET_0_5,
    TX_POWER_0_5, band, channel, class_b, dynamic_plan,
};
use crate::region::{Channel, DutyCycleBand, Region, RegionParams, Revision};

pub(super) fn params(revision: Revision) -> &'static RegionParams {
    let _ = revision;
    &EU433
}

/// 433.175, 433.375, 433.575 MHz, DR0–DR5.
static DEFAULT_CHANNELS: [Channel; 3] = [
    channel(433_175_000, 5),
    channel(433_375_000, 5),
    channel(433_575_000, 5),
];

static DUTY_CYCLE_BANDS: [DutyCycleBand; 1] = [band(433_175_000, 434_665_000, 100)];

/// Every revision.
static EU433: RegionParams = RegionParams {
    region: Region::Eu433,
    revision: Revision::A,
    data_rates: &DATA_RATES_LORA_FSK,
    max_payload: &MAX_PAYLOAD_DR0_7,
    max_payload_dwell_time: None,
    max_payload_repeater: Some(&MAX_PAYLOAD_REPEATER_DR0_7),
    rx1_dr: &RX1_DR0_7_OFFSET_0_5,
    rx1_dr_dwell_time: None,
    tx_power_offsets: &TX_POWER_0_5,
    default_max_eirp: 12.15,
    channel_plan: dynamic_plan(&DEFAULT_CHANNELS),
    rx2_frequency: 434_665_000,
    rx2_dr: 0,
    class_b: Some(class_b(3, 434_665_000, 434_665_000)),
    duty_cycle_bands: &DUTY_CYCLE_BANDS,
    default_dwell_time: false,
    tx_param_setup: false,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modulation::Modulation;
    use crate::region::{BeaconFrequency, ChannelPlan, params as region_params};

    /// RP002-1.0.4 EU433 data rates, payload sizes (1.0.3revA Tables 31/32 are
    /// the same), RX1 mapping (1.0.3revA Table 33), TX power, channels, RX2 and
    /// beacon (1.0.3revA Table 34: DR3, 434.665 MHz).
    #[test]
    fn tables_follow_rp002_1_0_4() {
        for revision in Revision::ALL {
            let p = region_params(Region::Eu433, revision);
            assert!(core::ptr::eq(p, &EU433));
            assert_eq!(p.data_rates.len(), 8);
            assert_eq!(
                p.data_rates[6].unwrap().modulation,
                Modulation::Lora {
                    spreading_factor: 7,
                    bandwidth: 250_000
                }
            );
            assert_eq!(
                p.data_rates[7].unwrap().modulation,
                Modulation::Fsk { bitrate: 50_000 }
            );
            let m: Vec<u8> = p.max_payload.iter().map(|x| x.unwrap().m).collect();
            assert_eq!(m, [59, 59, 59, 123, 250, 250, 250, 250]);
            let r: Vec<u8> = p
                .max_payload_repeater
                .unwrap()
                .iter()
                .map(|x| x.unwrap().m)
                .collect();
            assert_eq!(r, [59, 59, 59, 123, 230, 230, 230, 230]);
            let rx1: Vec<Vec<u8>> = p
                .rx1_dr
                .iter()
                .map(|r| r.iter().map(|d| d.unwrap()).collect())
                .collect();
            assert_eq!(rx1[3], [3, 2, 1, 0, 0, 0]);
            assert_eq!(rx1[7], [7, 6, 5, 4, 3, 2]);
            let tx: Vec<i8> = p.tx_power_offsets.iter().map(|o| o.unwrap()).collect();
            assert_eq!(tx, [0, -2, -4, -6, -8, -10]);
            assert_eq!(p.default_max_eirp, 12.15);
            let ChannelPlan::Dynamic {
                default_channels, ..
            } = p.channel_plan
            else {
                panic!()
            };
            let f: Vec<u32> = default_channels.iter().map(|c| c.frequency).collect();
            assert_eq!(f, [433_175_000, 433_375_000, 433_575_000]);
            assert_eq!((p.rx2_frequency, p.rx2_dr), (434_665_000, 0));
            let b = p.class_b.unwrap();
            assert_eq!(
                (b.beacon_dr, b.beacon_frequency),
                (3, BeaconFrequency::Fixed(434_665_000))
            );
            assert_eq!(b.ping_slot_frequency, BeaconFrequency::Fixed(434_665_000));
            assert_eq!(p.duty_cycle_bands[0].max_duty_cycle_ppm10k, 100);
        }
    }
}
