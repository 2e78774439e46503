//! KR920-923 (RP002-1.0.4 "KR920-923MHz ISM Band"; 1.0.2rB and 1.1rA/rB). The
//! tables did not change between revisions: one static serves all.
//!
//! DR0–DR5 only (LoRa SF12..SF7 at 125 kHz), RX1DROffset 0–5. Devices use
//! listen-before-talk, there is no duty-cycle limit. MaxEIRP is 14 dBm; below
//! 922 MHz a device is further limited to 10 dBm (LoRaMac-node
//! `KR920_DEFAULT_MAX_EIRP_LOW`), which these tables do not model.
//!
//! Source notes:
//! - `lrwn` answers RX1 offsets 6 and 7 and uplink DR6/DR7 (an IN865-like
//!   table); the Regional Parameters define neither. Pinned in the differential
//!   test.

use super::{MAX_PAYLOAD_DR0_7, MAX_PAYLOAD_REPEATER_DR0_7, RX1_DR0_7_OFFSET_0_5, TX_POWER_0_7};
use super::{channel, class_b, dynamic_plan, lora};
use crate::region::{Channel, DataRate, MaxPayload, Region, RegionParams, Revision};

pub(super) fn params(revision: Revision) -> &'static RegionParams {
    let _ = revision;
    &KR920
}

static DATA_RATES: [Option<DataRate>; 6] = [
    lora(12, 125_000),
    lora(11, 125_000),
    lora(10, 125_000),
    lora(9, 125_000),
    lora(8, 125_000),
    lora(7, 125_000),
];

/// DR0–DR5 of the shared tables.
static MAX_PAYLOAD: [Option<MaxPayload>; 6] = {
    let t = MAX_PAYLOAD_DR0_7;
    [t[0], t[1], t[2], t[3], t[4], t[5]]
};

static MAX_PAYLOAD_REPEATER: [Option<MaxPayload>; 6] = {
    let t = MAX_PAYLOAD_REPEATER_DR0_7;
    [t[0], t[1], t[2], t[3], t[4], t[5]]
};

static RX1: [&[Option<u8>]; 6] = {
    let t = &RX1_DR0_7_OFFSET_0_5;
    [t[0], t[1], t[2], t[3], t[4], t[5]]
};

/// 922.1, 922.3, 922.5 MHz, DR0–DR5.
static DEFAULT_CHANNELS: [Channel; 3] = [
    channel(922_100_000, 5),
    channel(922_300_000, 5),
    channel(922_500_000, 5),
];

/// Every revision.
static KR920: RegionParams = RegionParams {
    region: Region::Kr920,
    revision: Revision::A,
    data_rates: &DATA_RATES,
    max_payload: &MAX_PAYLOAD,
    max_payload_dwell_time: None,
    max_payload_repeater: Some(&MAX_PAYLOAD_REPEATER),
    rx1_dr: &RX1,
    rx1_dr_dwell_time: None,
    tx_power_offsets: &TX_POWER_0_7,
    default_max_eirp: 14.0,
    channel_plan: dynamic_plan(&DEFAULT_CHANNELS),
    rx2_frequency: 921_900_000,
    rx2_dr: 0,
    class_b: Some(class_b(3, 923_100_000, 923_100_000)),
    duty_cycle_bands: &[],
    default_dwell_time: false,
    tx_param_setup: false,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modulation::Modulation;
    use crate::region::{BeaconFrequency, ChannelPlan, params as region_params};

    /// RP002-1.0.4 KR920-923 (1.0.3revA §2.9.3: MaxEIRP +14 dBm; LoRaMac-node
    /// `KR920_*`: channels, RX2 921.9 MHz DR0, beacon 923.1 MHz DR3).
    #[test]
    fn tables_follow_rp002_1_0_4() {
        for revision in Revision::ALL {
            let p = region_params(Region::Kr920, revision);
            assert!(core::ptr::eq(p, &KR920));
            assert_eq!(p.data_rates.len(), 6, "DR6–DR15 are RFU");
            assert_eq!(
                p.data_rates[5].unwrap().modulation,
                Modulation::Lora {
                    spreading_factor: 7,
                    bandwidth: 125_000
                }
            );
            let m: Vec<u8> = p.max_payload.iter().map(|x| x.unwrap().m).collect();
            assert_eq!(m, [59, 59, 59, 123, 250, 250]);
            let r: Vec<u8> = p
                .max_payload_repeater
                .unwrap()
                .iter()
                .map(|x| x.unwrap().m)
                .collect();
            assert_eq!(r, [59, 59, 59, 123, 230, 230]);
            assert_eq!(p.rx1_dr.len(), 6);
            assert_eq!(
                p.rx1_dr[5],
                [Some(5), Some(4), Some(3), Some(2), Some(1), Some(0)]
            );
            assert_eq!(p.tx_power_offsets.len(), 8);
            assert_eq!(p.default_max_eirp, 14.0);
            let ChannelPlan::Dynamic {
                default_channels, ..
            } = p.channel_plan
            else {
                panic!()
            };
            let f: Vec<u32> = default_channels.iter().map(|c| c.frequency).collect();
            assert_eq!(f, [922_100_000, 922_300_000, 922_500_000]);
            assert_eq!((p.rx2_frequency, p.rx2_dr), (921_900_000, 0));
            let b = p.class_b.unwrap();
            assert_eq!(
                (b.beacon_dr, b.beacon_frequency),
                (3, BeaconFrequency::Fixed(923_100_000))
            );
            assert_eq!(b.ping_slot_frequency, BeaconFrequency::Fixed(923_100_000));
            assert!(p.duty_cycle_bands.is_empty());
        }
    }
}
