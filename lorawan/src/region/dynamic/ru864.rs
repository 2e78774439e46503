//! RU864-870 (RP002-1.0.4 "RU864-870MHz ISM Band"; first in the 1.1rA and
//! 1.0.3revA Regional Parameters). The tables did not change between
//! revisions: one static serves all, [`Revision::B`] included (1.1rB has the
//! region; LoRaWAN 1.0.2rB did not).
//!
//! Source notes:
//! - Channels: RP002 "supports a maximum of 16 channels"; LoRaMac-node's
//!   `RU864_MAX_NB_CHANNELS` is 8. The document's 16 is kept.
//! - Duty cycle: 1 % over 864–870 MHz (The Things Stack; LoRaMac-node
//!   `RU864_BAND0`).
//! - The ping-slot frequency (868.9 MHz) differs from the beacon's (869.1 MHz),
//!   RP 1.0.3revA §2.11.8 and RP002.

use super::{
    DATA_RATES_LORA_FSK, MAX_PAYLOAD_DR0_7, MAX_PAYLOAD_REPEATER_DR0_7, RX1_DR0_7_OFFSET_0_5,
    TX_POWER_0_7, band, channel, class_b, dynamic_plan,
};
use crate::region::{Channel, DutyCycleBand, Region, RegionParams, Revision};

pub(super) fn params(revision: Revision) -> &'static RegionParams {
    let _ = revision;
    &RU864
}

/// 868.9 and 869.1 MHz, DR0–DR5.
static DEFAULT_CHANNELS: [Channel; 2] = [channel(868_900_000, 5), channel(869_100_000, 5)];

static DUTY_CYCLE_BANDS: [DutyCycleBand; 1] = [band(864_000_000, 870_000_000, 100)];

/// Every revision.
static RU864: RegionParams = RegionParams {
    region: Region::Ru864,
    revision: Revision::A,
    data_rates: &DATA_RATES_LORA_FSK,
    max_payload: &MAX_PAYLOAD_DR0_7,
    max_payload_dwell_time: None,
    max_payload_repeater: Some(&MAX_PAYLOAD_REPEATER_DR0_7),
    rx1_dr: &RX1_DR0_7_OFFSET_0_5,
    rx1_dr_dwell_time: None,
    tx_power_offsets: &TX_POWER_0_7,
    default_max_eirp: 16.0,
    channel_plan: dynamic_plan(&DEFAULT_CHANNELS),
    rx2_frequency: 869_100_000,
    rx2_dr: 0,
    class_b: Some(class_b(3, 869_100_000, 868_900_000)),
    duty_cycle_bands: &DUTY_CYCLE_BANDS,
    default_dwell_time: false,
    tx_param_setup: false,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::{BeaconFrequency, ChannelPlan, params as region_params};

    /// RP002-1.0.4 RU864-870 (1.0.3revA §2.11: beacon 869.1 MHz, ping slot
    /// 868.9 MHz; LoRaMac-node `RU864_*`).
    #[test]
    fn tables_follow_rp002_1_0_4() {
        for revision in Revision::ALL {
            let p = region_params(Region::Ru864, revision);
            assert!(core::ptr::eq(p, &RU864));
            let m: Vec<u8> = p.max_payload.iter().map(|x| x.unwrap().n).collect();
            assert_eq!(m, [51, 51, 51, 115, 242, 242, 242, 242]);
            let r: Vec<u8> = p
                .max_payload_repeater
                .unwrap()
                .iter()
                .map(|x| x.unwrap().n)
                .collect();
            assert_eq!(r, [51, 51, 51, 115, 222, 222, 222, 222]);
            assert_eq!(
                p.rx1_dr[4],
                [Some(4), Some(3), Some(2), Some(1), Some(0), Some(0)]
            );
            assert_eq!(p.tx_power_offsets[7], Some(-14));
            assert_eq!(p.tx_power_offsets.len(), 8);
            assert_eq!(p.default_max_eirp, 16.0);
            let ChannelPlan::Dynamic {
                default_channels,
                max_channels,
            } = p.channel_plan
            else {
                panic!()
            };
            let f: Vec<u32> = default_channels.iter().map(|c| c.frequency).collect();
            assert_eq!(f, [868_900_000, 869_100_000]);
            assert_eq!(max_channels, 16);
            assert_eq!((p.rx2_frequency, p.rx2_dr), (869_100_000, 0));
            let b = p.class_b.unwrap();
            assert_eq!(
                (b.beacon_dr, b.beacon_frequency),
                (3, BeaconFrequency::Fixed(869_100_000))
            );
            assert_eq!(
                (b.ping_slot_dr, b.ping_slot_frequency),
                (3, BeaconFrequency::Fixed(868_900_000))
            );
        }
    }
}
