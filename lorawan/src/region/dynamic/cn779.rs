//! CN779-787 (RP002-1.0.4 "CN779-787MHz ISM Band"; 1.0.2rB and 1.1rA/rB). The
//! tables did not change between revisions: one static serves all.
//!
//! Source notes:
//! - Repeater-compatible DR6: `lrwn` gives M = 250 for its LoRaWAN 1.0.x tables
//!   and 230 for 1.1 and RP002; every other source (LoRaMac-node, The Things
//!   Stack, the 1.1rB and RP002 tables) has 230, the same as DR4, DR5 and DR7.
//!   230 is kept for every revision.
//! - Duty cycle: 1 % ("<1%" in the default-channel table; LoRaMac-node
//!   `CN779_BAND0`) over the 779.5–786.5 MHz plan.

use super::{
    DATA_RATES_LORA_FSK, MAX_PAYLOAD_DR0_7, MAX_PAYLOAD_REPEATER_DR0_7, RX1_DR0_7_OFFSET_0_5,
    TX_POWER_0_5, band, channel, class_b, dynamic_plan,
};
use crate::region::{Channel, DutyCycleBand, Region, RegionParams, Revision};

pub(super) fn params(revision: Revision) -> &'static RegionParams {
    let _ = revision;
    &CN779
}

/// 779.5, 779.7, 779.9 MHz, DR0–DR5.
static DEFAULT_CHANNELS: [Channel; 3] = [
    channel(779_500_000, 5),
    channel(779_700_000, 5),
    channel(779_900_000, 5),
];

static DUTY_CYCLE_BANDS: [DutyCycleBand; 1] = [band(779_500_000, 786_500_000, 100)];

/// Every revision.
static CN779: RegionParams = RegionParams {
    region: Region::Cn779,
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
    rx2_frequency: 786_000_000,
    rx2_dr: 0,
    class_b: Some(class_b(3, 785_000_000, 785_000_000)),
    duty_cycle_bands: &DUTY_CYCLE_BANDS,
    default_dwell_time: false,
    tx_param_setup: false,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::{BeaconFrequency, ChannelPlan, params as region_params};

    /// RP002-1.0.4 CN779-787: DR0–DR7 as EU868, M 59/59/59/123/250… (repeater
    /// 230), RX1 offsets 0–5, TXPower 0–5, MaxEIRP 12.15 dBm, channels
    /// 779.5/779.7/779.9 MHz, RX2 786 MHz DR0, beacon and ping slot 785 MHz DR3
    /// (LoRaMac-node `CN779_BEACON_CHANNEL_FREQ`).
    #[test]
    fn tables_follow_rp002_1_0_4() {
        for revision in Revision::ALL {
            let p = region_params(Region::Cn779, revision);
            assert!(core::ptr::eq(p, &CN779));
            let m: Vec<u8> = p.max_payload.iter().map(|x| x.unwrap().m).collect();
            assert_eq!(m, [59, 59, 59, 123, 250, 250, 250, 250]);
            let r: Vec<u8> = p
                .max_payload_repeater
                .unwrap()
                .iter()
                .map(|x| x.unwrap().m)
                .collect();
            assert_eq!(r, [59, 59, 59, 123, 230, 230, 230, 230]);
            assert_eq!(
                p.rx1_dr[6],
                [Some(6), Some(5), Some(4), Some(3), Some(2), Some(1)]
            );
            assert_eq!(p.tx_power_offsets.len(), 6);
            assert_eq!(p.tx_power_offsets[5], Some(-10));
            assert_eq!(p.default_max_eirp, 12.15);
            let ChannelPlan::Dynamic {
                default_channels, ..
            } = p.channel_plan
            else {
                panic!()
            };
            let f: Vec<u32> = default_channels.iter().map(|c| c.frequency).collect();
            assert_eq!(f, [779_500_000, 779_700_000, 779_900_000]);
            assert!(
                default_channels
                    .iter()
                    .all(|c| (c.min_dr, c.max_dr) == (0, 5))
            );
            assert_eq!((p.rx2_frequency, p.rx2_dr), (786_000_000, 0));
            let b = p.class_b.unwrap();
            assert_eq!(
                (b.beacon_dr, b.beacon_frequency),
                (3, BeaconFrequency::Fixed(785_000_000))
            );
            assert_eq!(
                (b.ping_slot_dr, b.ping_slot_frequency),
                (3, BeaconFrequency::Fixed(785_000_000))
            );
        }
    }
}
