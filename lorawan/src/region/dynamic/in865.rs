//! IN865-867 (RP002-1.0.4 "IN865-867MHz ISM Band"; 1.0.2rB and 1.1rA/rB).
//!
//! DR6 is RFU, DR7 is FSK. RX1DROffset 0–7, where 6 and 7 raise the downlink
//! data rate. Two sets of tables, differing only in the RX1 mapping:
//! - A, B (1.0.2rB, 1.1rA/rB): "MIN(5, MAX(0, DR − Effective_RX1DROffset))"
//!   with Effective_RX1DROffset = [0, 1, 2, 3, 4, 5, −1, −2], so no RX1 above
//!   DR5 (LoRaMac-node for `REGION_VERSION` 1.0.3, The Things Stack RP1 files);
//! - RP002-1.0.0 to 1.0.4: an explicit table that reaches DR7 and skips the RFU
//!   DR6 (LoRaMac-node `EffectiveRx1DrOffsetIN865[8][8]` for RP002-1.0.1).
//!
//! Source notes:
//! - RP002 RX1 for uplink DR7 at offset 1: LoRaMac-node answers DR5, `lrwn` DR6
//!   (RFU in IN865), The Things Stack DR6 (its formula caps at DR7 only);
//!   DR5 at offset 6: LoRaMac-node and `lrwn` DR5, The Things Stack DR6. A
//!   downlink at an RFU data rate cannot be sent: LoRaMac-node's table is kept.
//! - RP002 RX1 for uplink DR5 at offset 7: LoRaMac-node and The Things Stack
//!   DR7, `lrwn` DR5. DR7 is kept.
//! - `lrwn` uses its RP002 table for A/B as well; pinned in the differential
//!   test.
//! - Default MaxEIRP: 30 dBm in RP002-1.0.4 and LoRaMac-node; the newer
//!   RP002-1.0.5 (outside [`Revision`]) lowers it to 29.2 dBm.
//! - Duty cycle: none (LoRaMac-node disabled it for IN865 in 4.4.4).

use super::{channel, class_b, dynamic_plan, fsk, lora, mp, row};
use crate::region::{Channel, DataRate, MaxPayload, Region, RegionParams, Revision};

pub(super) fn params(revision: Revision) -> &'static RegionParams {
    match revision {
        Revision::A | Revision::B => &IN865_A,
        Revision::Rp002_1_0_0
        | Revision::Rp002_1_0_1
        | Revision::Rp002_1_0_2
        | Revision::Rp002_1_0_3
        | Revision::Rp002_1_0_4 => &IN865_RP002_1_0_0,
    }
}

static DATA_RATES: [Option<DataRate>; 8] = [
    lora(12, 125_000),
    lora(11, 125_000),
    lora(10, 125_000),
    lora(9, 125_000),
    lora(8, 125_000),
    lora(7, 125_000),
    None,
    fsk(50_000),
];

static MAX_PAYLOAD: [Option<MaxPayload>; 8] = [
    mp(59),
    mp(59),
    mp(59),
    mp(123),
    mp(250),
    mp(250),
    None,
    mp(250),
];

static MAX_PAYLOAD_REPEATER: [Option<MaxPayload>; 8] = [
    mp(59),
    mp(59),
    mp(59),
    mp(123),
    mp(230),
    mp(230),
    None,
    mp(230),
];

/// 1.0.2rB / 1.1: `MIN(5, MAX(0, DR − [0, 1, 2, 3, 4, 5, −1, −2][offset]))`.
static RX1_A: [&[Option<u8>]; 8] = [
    &row([0, 0, 0, 0, 0, 0, 1, 2]),
    &row([1, 0, 0, 0, 0, 0, 2, 3]),
    &row([2, 1, 0, 0, 0, 0, 3, 4]),
    &row([3, 2, 1, 0, 0, 0, 4, 5]),
    &row([4, 3, 2, 1, 0, 0, 5, 5]),
    &row([5, 4, 3, 2, 1, 0, 5, 5]),
    &[],
    &row([5, 5, 5, 4, 3, 2, 5, 5]),
];

/// RP002: the table, DR6 being RFU.
static RX1_RP002: [&[Option<u8>]; 8] = [
    &row([0, 0, 0, 0, 0, 0, 1, 2]),
    &row([1, 0, 0, 0, 0, 0, 2, 3]),
    &row([2, 1, 0, 0, 0, 0, 3, 4]),
    &row([3, 2, 1, 0, 0, 0, 4, 5]),
    &row([4, 3, 2, 1, 0, 0, 5, 5]),
    &row([5, 4, 3, 2, 1, 0, 5, 7]),
    &[],
    &row([7, 5, 5, 4, 3, 2, 7, 7]),
];

/// TXPower 0–10: MaxEIRP − 2·TXPower dB.
static TX_POWER: [Option<i8>; 11] = [
    Some(0),
    Some(-2),
    Some(-4),
    Some(-6),
    Some(-8),
    Some(-10),
    Some(-12),
    Some(-14),
    Some(-16),
    Some(-18),
    Some(-20),
];

/// 865.0625, 865.4025, 865.985 MHz, DR0–DR5.
static DEFAULT_CHANNELS: [Channel; 3] = [
    channel(865_062_500, 5),
    channel(865_402_500, 5),
    channel(865_985_000, 5),
];

/// A and B (LoRaWAN 1.0.2rB, 1.1rA/rB).
static IN865_A: RegionParams = RegionParams {
    region: Region::In865,
    revision: Revision::A,
    data_rates: &DATA_RATES,
    max_payload: &MAX_PAYLOAD,
    max_payload_dwell_time: None,
    max_payload_repeater: Some(&MAX_PAYLOAD_REPEATER),
    rx1_dr: &RX1_A,
    rx1_dr_dwell_time: None,
    tx_power_offsets: &TX_POWER,
    default_max_eirp: 30.0,
    channel_plan: dynamic_plan(&DEFAULT_CHANNELS),
    rx2_frequency: 866_550_000,
    rx2_dr: 2,
    class_b: Some(class_b(4, 866_550_000, 866_550_000)),
    duty_cycle_bands: &[],
    default_dwell_time: false,
    tx_param_setup: false,
};

/// RP002-1.0.0 to RP002-1.0.4.
static IN865_RP002_1_0_0: RegionParams = RegionParams {
    revision: Revision::Rp002_1_0_0,
    rx1_dr: &RX1_RP002,
    ..IN865_A
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::{BeaconFrequency, ChannelPlan, params as region_params};

    fn rx1(p: &RegionParams, dr: usize) -> Vec<Option<u8>> {
        p.rx1_dr[dr].to_vec()
    }

    /// RP002-1.0.4 IN865-867 RX1 table (LoRaMac-node RP002-1.0.1 table); 1.0.2rB
    /// formula for A/B.
    #[test]
    fn rx1_follows_the_table_of_each_revision() {
        let p = region_params(Region::In865, Revision::Rp002_1_0_4);
        assert_eq!(rx1(p, 5), row([5, 4, 3, 2, 1, 0, 5, 7]));
        assert_eq!(rx1(p, 7), row([7, 5, 5, 4, 3, 2, 7, 7]));
        assert!(p.rx1_dr[6].is_empty(), "DR6 is RFU");
        let a = region_params(Region::In865, Revision::B);
        assert_eq!(rx1(a, 5), row([5, 4, 3, 2, 1, 0, 5, 5]));
        assert_eq!(rx1(a, 7), row([5, 5, 5, 4, 3, 2, 5, 5]));
        assert_eq!(rx1(a, 0), row([0, 0, 0, 0, 0, 0, 1, 2]));
        assert!(core::ptr::eq(a, region_params(Region::In865, Revision::A)));
        assert!(core::ptr::eq(
            p,
            region_params(Region::In865, Revision::Rp002_1_0_0)
        ));
    }

    /// RP002-1.0.4 IN865-867: DR6 RFU, M 59/59/59/123/250/250/–/250 (repeater
    /// 230), TXPower 0–10, MaxEIRP 30 dBm, channels, RX2 866.55 MHz DR2, beacon
    /// 866.55 MHz DR4 (LoRaMac-node `IN865_BEACON_CHANNEL_DR`).
    #[test]
    fn tables_follow_rp002_1_0_4() {
        for revision in Revision::ALL {
            let p = region_params(Region::In865, revision);
            assert_eq!(p.data_rates[6], None);
            let m: Vec<Option<u8>> = p.max_payload.iter().map(|x| x.map(|x| x.m)).collect();
            let expected = [59, 59, 59, 123, 250, 250].map(Some);
            assert_eq!(m[..6], expected);
            assert_eq!(m[6..], [None, Some(250)]);
            let tx: Vec<i8> = p.tx_power_offsets.iter().map(|o| o.unwrap()).collect();
            assert_eq!(tx, [0, -2, -4, -6, -8, -10, -12, -14, -16, -18, -20]);
            assert_eq!(p.default_max_eirp, 30.0);
            let ChannelPlan::Dynamic {
                default_channels, ..
            } = p.channel_plan
            else {
                panic!()
            };
            let f: Vec<u32> = default_channels.iter().map(|c| c.frequency).collect();
            assert_eq!(f, [865_062_500, 865_402_500, 865_985_000]);
            assert_eq!((p.rx2_frequency, p.rx2_dr), (866_550_000, 2));
            let b = p.class_b.unwrap();
            assert_eq!(
                (b.beacon_dr, b.beacon_frequency),
                (4, BeaconFrequency::Fixed(866_550_000))
            );
            assert_eq!(
                (b.ping_slot_dr, b.ping_slot_frequency),
                (4, BeaconFrequency::Fixed(866_550_000))
            );
            assert!(p.duty_cycle_bands.is_empty());
        }
    }
}
