//! Questions any region's tables answer: payload limits, RX1 parameters, TX
//! power, channels, class B frequencies and CFLists.
//!
//! ```
//! use lorawan::region::{params, Region, Revision};
//! use lorawan::DevAddr;
//! let us = params(Region::Us915, Revision::Rp002_1_0_4);
//! assert_eq!(us.max_payload(3, false, false).unwrap().n, 242);
//! assert_eq!(us.rx1_data_rate(0, 0, false), Some(10));
//! assert_eq!(us.rx1_frequency(902_500_000), Some(923_900_000)); // channel 1 → RX1 channel 1
//! assert_eq!(us.tx_power_eirp(2, 30.0), Some(26.0));
//! // Beacon time 128 s → beacon channel 1.
//! assert_eq!(us.beacon_frequency(128), Some(923_900_000));
//! assert_eq!(us.ping_slot_frequency(DevAddr::from_u32(7), 0), Some(927_500_000));
//! ```

use super::{
    BeaconFrequency, Channel, ChannelPlan, ChannelSet, DataRate, MaxPayload, RegionParams,
};
use crate::DevAddr;
use crate::modulation::Modulation;
use crate::phy::CfList;

/// Seconds between beacons: the beacon period that numbers beacon and ping-slot
/// channels.
const BEACON_PERIOD_S: u64 = 128;

impl BeaconFrequency {
    /// The frequency for a hopping index: channel `index mod count` of the
    /// hopping set, or the fixed frequency.
    pub const fn frequency(&self, index: u64) -> u32 {
        match *self {
            Self::Fixed(f) => f,
            Self::Hopping {
                first_frequency,
                step,
                count,
            } => {
                let n = if count == 0 { 0 } else { index % count as u64 };
                first_frequency + step * n as u32
            }
        }
    }
}

impl RegionParams {
    /// The data rate at index `dr`, if defined.
    pub fn data_rate(&self, dr: u8) -> Option<DataRate> {
        self.data_rates.get(usize::from(dr)).copied().flatten()
    }

    /// The maximum payload sizes at data rate `dr`.
    ///
    /// `dwell_time`: the 400 ms dwell-time limit of the direction concerned applies
    /// (AS923, AU915 uplinks); ignored where the region has no such table.
    /// `repeater`: leave room for a repeater where the region defines smaller
    /// repeater-compatible sizes. With both, the smaller of the two limits holds.
    /// `None` if the data rate is undefined or cannot carry a frame.
    pub fn max_payload(&self, dr: u8, dwell_time: bool, repeater: bool) -> Option<MaxPayload> {
        let at = |t: &[Option<MaxPayload>]| t.get(usize::from(dr)).copied().flatten();
        let base = match self.max_payload_dwell_time {
            Some(dwell) if dwell_time => at(dwell)?,
            _ => at(self.max_payload)?,
        };
        match self.max_payload_repeater {
            Some(rep) if repeater => {
                let rep = at(rep)?;
                Some(if rep.m < base.m { rep } else { base })
            }
            _ => Some(base),
        }
    }

    /// The RX1 data rate for an uplink at `uplink_dr` with RX1DROffset
    /// `rx1_dr_offset`; `dwell_time` selects the downlink dwell-time table where
    /// the region has one (AS923). `None` where the combination is not allowed.
    pub fn rx1_data_rate(&self, uplink_dr: u8, rx1_dr_offset: u8, dwell_time: bool) -> Option<u8> {
        let table = match self.rx1_dr_dwell_time {
            Some(t) if dwell_time => t,
            _ => self.rx1_dr,
        };
        table
            .get(usize::from(uplink_dr))?
            .get(usize::from(rx1_dr_offset))
            .copied()
            .flatten()
    }

    /// The EIRP in dBm of TXPower index `tx_power` for a device whose MaxEIRP is
    /// `max_eirp` dBm (the region's default is
    /// [`default_max_eirp`](RegionParams::default_max_eirp)); `None` for an
    /// index the region does not define.
    pub fn tx_power_eirp(&self, tx_power: u8, max_eirp: f32) -> Option<f32> {
        let offset = self
            .tx_power_offsets
            .get(usize::from(tx_power))
            .copied()
            .flatten()?;
        Some(max_eirp + f32::from(offset))
    }

    /// The index of the data rate with this modulation in the given direction
    /// (US915 SF8/500 kHz is DR4 up and DR12 down).
    pub fn data_rate_index(&self, modulation: &Modulation, uplink: bool) -> Option<u8> {
        self.data_rates.iter().zip(0u8..).find_map(|(d, i)| {
            let d = (*d)?;
            let direction = if uplink { d.uplink } else { d.downlink };
            (direction && d.modulation == *modulation).then_some(i)
        })
    }

    /// How many uplink channels the plan defines: the whole grid of a fixed plan,
    /// the default channels of a dynamic one.
    pub fn uplink_channel_count(&self) -> usize {
        match self.channel_plan {
            ChannelPlan::Dynamic {
                default_channels, ..
            } => default_channels.len(),
            ChannelPlan::Fixed {
                uplink,
                uplink_wide,
                uplink_group2,
                ..
            } => [Some(uplink), uplink_wide, uplink_group2]
                .iter()
                .flatten()
                .map(|g| usize::from(g.count))
                .sum(),
        }
    }

    /// Uplink channel `index`: of the grid of a fixed plan (125 kHz channels,
    /// then the 500 kHz ones, then a second group), or a default channel of a
    /// dynamic plan.
    pub fn uplink_channel(&self, index: usize) -> Option<Channel> {
        match self.channel_plan {
            ChannelPlan::Dynamic {
                default_channels, ..
            } => default_channels.get(index).copied(),
            ChannelPlan::Fixed {
                uplink,
                uplink_wide,
                uplink_group2,
                ..
            } => {
                let mut i = index;
                for g in [Some(uplink), uplink_wide, uplink_group2]
                    .into_iter()
                    .flatten()
                {
                    if i < usize::from(g.count) {
                        return g.channel(i);
                    }
                    i -= usize::from(g.count);
                }
                None
            }
        }
    }

    /// The index of the uplink channel on `frequency`, Hz (the first, where two
    /// share a frequency).
    pub fn uplink_channel_index(&self, frequency: u32) -> Option<usize> {
        (0..self.uplink_channel_count()).find(|&i| {
            self.uplink_channel(i)
                .is_some_and(|c| c.frequency == frequency)
        })
    }

    /// Downlink channel `index` of a fixed plan (its RX1 channels).
    pub fn downlink_channel(&self, index: usize) -> Option<Channel> {
        let ChannelPlan::Fixed {
            downlink,
            downlink_group2,
            ..
        } = self.channel_plan
        else {
            return None;
        };
        match index.checked_sub(usize::from(downlink.count)) {
            None => downlink.channel(index),
            Some(i) => downlink_group2?.channel(i),
        }
    }

    /// The default RX1 frequency after an uplink on channel `uplink_channel`:
    /// downlink channel `uplink_channel mod (downlink channels)` in a fixed plan,
    /// the uplink frequency in a dynamic one.
    pub fn rx1_frequency_for_channel(&self, uplink_channel: usize) -> Option<u32> {
        let up = self.uplink_channel(uplink_channel)?;
        match self.channel_plan {
            ChannelPlan::Dynamic { .. } => Some(up.frequency),
            ChannelPlan::Fixed {
                downlink,
                downlink_group2,
                ..
            } => {
                let count = usize::from(downlink.count)
                    + downlink_group2.map_or(0, |g| usize::from(g.count));
                (count > 0)
                    .then(|| self.downlink_channel(uplink_channel % count))
                    .flatten()
                    .map(|c| c.frequency)
            }
        }
    }

    /// The default RX1 frequency after an uplink on `uplink_frequency`, Hz. In a
    /// dynamic plan RX1 uses the uplink frequency (unless a DlChannelReq moved it);
    /// in a fixed plan `None` if no uplink channel has that frequency.
    pub fn rx1_frequency(&self, uplink_frequency: u32) -> Option<u32> {
        match self.channel_plan {
            ChannelPlan::Dynamic { .. } => Some(uplink_frequency),
            ChannelPlan::Fixed { .. } => {
                self.rx1_frequency_for_channel(self.uplink_channel_index(uplink_frequency)?)
            }
        }
    }

    /// The frequency of the class B beacon sent at `beacon_time` (seconds since
    /// the GPS epoch, the beacon's Time field): hopping regions use channel
    /// `floor(beacon_time / 128) mod count`.
    pub fn beacon_frequency(&self, beacon_time: u64) -> Option<u32> {
        let b = self.class_b?;
        Some(b.beacon_frequency.frequency(beacon_time / BEACON_PERIOD_S))
    }

    /// The default ping-slot frequency of `dev_addr` in the beacon period that
    /// starts at `beacon_time` (seconds since the GPS epoch): hopping regions use
    /// channel `(DevAddr + floor(beacon_time / 128)) mod count`.
    pub fn ping_slot_frequency(&self, dev_addr: DevAddr, beacon_time: u64) -> Option<u32> {
        let b = self.class_b?;
        let index = u64::from(dev_addr.to_u32()) + beacon_time / BEACON_PERIOD_S;
        Some(b.ping_slot_frequency.frequency(index))
    }

    /// A CFList of type 0 (dynamic plans) listing the first five of `channels`
    /// that use the default channels' data-rate range, as a CFList may only
    /// announce those. `None` for a fixed plan, when no channel qualifies, or for
    /// a frequency a CFList cannot carry.
    pub fn cf_list_frequencies(&self, channels: &[Channel]) -> Option<CfList> {
        let ChannelPlan::Dynamic {
            default_channels, ..
        } = self.channel_plan
        else {
            return None;
        };
        let d = default_channels.first()?;
        let mut out = [0u32; 5];
        let listed = channels
            .iter()
            .filter(|c| c.frequency != 0 && (c.min_dr, c.max_dr) == (d.min_dr, d.max_dr))
            .take(5);
        let mut n = 0;
        for (slot, c) in out.iter_mut().zip(listed) {
            *slot = c.frequency;
            n += 1;
        }
        if n == 0 {
            return None;
        }
        CfList::from_frequencies(out)
    }

    /// A CFList of type 1 (fixed plans) enabling the uplink channels in `enabled`:
    /// one ChMask per 16 channels (ChMask0–4 in US915/AU915, 0–5 for the 96
    /// channels of the old CN470 plan), the rest RFU. `None` for a dynamic plan.
    pub fn cf_list_channel_mask(&self, enabled: &ChannelSet) -> Option<CfList> {
        let ChannelPlan::Fixed { .. } = self.channel_plan else {
            return None;
        };
        let blocks = self.uplink_channel_count().div_ceil(16).min(6);
        let mut bytes = [0u8; 16];
        for b in 0..blocks {
            let mask = enabled.block(b).0 & block_defined(self.uplink_channel_count(), b);
            bytes[2 * b..2 * b + 2].copy_from_slice(&mask.to_le_bytes());
        }
        bytes[15] = 1;
        Some(CfList(bytes))
    }
}

/// The bits of 16-channel block `b` that fall within the first `count` channels.
pub(super) fn block_defined(count: usize, b: usize) -> u16 {
    let start = b * 16;
    match count.saturating_sub(start) {
        0 => 0,
        n if n >= 16 => 0xffff,
        n => (1u16 << n) - 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phy::CfListType;
    use crate::region::{Region, Revision, params};

    #[test]
    fn max_payload_combines_dwell_time_and_repeater() {
        let au = params(Region::Au915, Revision::Rp002_1_0_4);
        assert_eq!(au.max_payload(0, false, false).unwrap().m, 59);
        assert_eq!(au.max_payload(0, true, false), None);
        assert_eq!(au.max_payload(2, true, false).unwrap().m, 19);
        assert_eq!(au.max_payload(5, true, false).unwrap().m, 250);
        assert_eq!(au.max_payload(5, true, true).unwrap().m, 230);
        assert_eq!(au.max_payload(8, false, true).unwrap().m, 41);
        assert_eq!(au.max_payload(14, false, false), None);
        // US915 has no dwell-time table: the flag changes nothing.
        let us = params(Region::Us915, Revision::Rp002_1_0_4);
        assert_eq!(us.max_payload(0, true, false).unwrap().m, 19);
        assert_eq!(us.max_payload(99, false, false), None);
    }

    #[test]
    fn rx1_data_rate_reads_the_table() {
        let us = params(Region::Us915, Revision::Rp002_1_0_4);
        assert_eq!(us.rx1_data_rate(4, 3, false), Some(11));
        assert_eq!(us.rx1_data_rate(4, 4, false), None);
        assert_eq!(us.rx1_data_rate(8, 0, false), None);
        let cn = params(Region::Cn470, Revision::B);
        assert_eq!(cn.rx1_data_rate(5, 5, true), Some(0));
    }

    #[test]
    fn tx_power_is_relative_to_max_eirp() {
        let cn = params(Region::Cn470, Revision::B);
        assert_eq!(cn.tx_power_eirp(0, cn.default_max_eirp), Some(19.15));
        assert_eq!(cn.tx_power_eirp(7, 19.15), Some(19.15 - 14.0));
        assert_eq!(cn.tx_power_eirp(8, 19.15), None);
        let us = params(Region::Us915, Revision::B);
        assert_eq!(us.tx_power_eirp(10, 30.0), Some(10.0));
        assert_eq!(us.tx_power_eirp(11, 30.0), None);
    }

    #[test]
    fn data_rate_index_depends_on_direction() {
        let us = params(Region::Us915, Revision::Rp002_1_0_4);
        let sf8_500 = Modulation::Lora {
            spreading_factor: 8,
            bandwidth: 500_000,
        };
        assert_eq!(us.data_rate_index(&sf8_500, true), Some(4));
        assert_eq!(us.data_rate_index(&sf8_500, false), Some(12));
        let sf12_125 = Modulation::Lora {
            spreading_factor: 12,
            bandwidth: 125_000,
        };
        assert_eq!(us.data_rate_index(&sf12_125, true), None);
        // CN470 RP002-1.0.1: DR0 no longer carries frames.
        let cn = params(Region::Cn470, Revision::Rp002_1_0_4);
        assert_eq!(cn.data_rate_index(&sf12_125, true), None);
        assert_eq!(
            params(Region::Cn470, Revision::B).data_rate_index(&sf12_125, false),
            Some(0)
        );
        assert_eq!(
            cn.data_rate_index(&Modulation::Fsk { bitrate: 50_000 }, false),
            Some(7)
        );
    }

    #[test]
    fn channels_count_in_grid_order() {
        let us = params(Region::Us915, Revision::Rp002_1_0_4);
        assert_eq!(us.uplink_channel_count(), 72);
        assert_eq!(us.uplink_channel(64).unwrap().frequency, 903_000_000);
        assert_eq!(us.uplink_channel(72), None);
        assert_eq!(us.uplink_channel_index(903_000_000), Some(64));
        assert_eq!(us.uplink_channel_index(903_200_000), None);
        assert_eq!(us.rx1_frequency(914_900_000), Some(927_500_000)); // 63 mod 8 = 7
        assert_eq!(us.rx1_frequency(903_000_000), Some(923_300_000)); // 64 mod 8 = 0
        assert_eq!(us.rx1_frequency(903_200_000), None);
        assert_eq!(us.rx1_frequency(903_100_000), Some(925_700_000)); // channel 4
        assert_eq!(us.downlink_channel(8), None);

        let cn = params(Region::Cn470, Revision::A);
        assert_eq!(cn.uplink_channel_count(), 96);
        assert_eq!(
            cn.rx1_frequency_for_channel(50),
            Some(500_300_000 + 2 * 200_000)
        );
        let b20 = crate::region::Cn470Plan::B20
            .params(Revision::Rp002_1_0_4)
            .unwrap();
        assert_eq!(b20.uplink_channel_count(), 64);
        assert_eq!(b20.uplink_channel(32).unwrap().frequency, 496_900_000);
        for ch in 0..64 {
            let f = b20.uplink_channel(ch).unwrap().frequency;
            assert_eq!(
                b20.rx1_frequency_for_channel(ch),
                Some(f),
                "B20 answers on the uplink frequency"
            );
        }
        let a26 = crate::region::Cn470Plan::A26
            .params(Revision::Rp002_1_0_4)
            .unwrap();
        assert_eq!(a26.rx1_frequency_for_channel(24), Some(490_100_000));
    }

    #[test]
    fn us915_beacon_hops_every_128_seconds() {
        // RP002 "US902-928 Beacon settings": channel = floor(beacon_time/128) mod 8.
        let us = params(Region::Us915, Revision::Rp002_1_0_4);
        assert_eq!(us.beacon_frequency(0), Some(923_300_000));
        assert_eq!(us.beacon_frequency(127), Some(923_300_000));
        assert_eq!(us.beacon_frequency(7 * 128), Some(927_500_000));
        assert_eq!(us.beacon_frequency(8 * 128), Some(923_300_000));
    }

    #[test]
    fn ping_slot_frequency_matches_lrwn_vector() {
        // lrwn us915::test::ping_slot_freq: DevAddr 0314CF36 at 334382 h 52 min 44 s.
        let us = params(Region::Us915, Revision::Rp002_1_0_4);
        let dev_addr = DevAddr::from_be_bytes([3, 20, 207, 54]);
        let t = 334_382 * 3600 + 52 * 60 + 44;
        assert_eq!(us.ping_slot_frequency(dev_addr, t), Some(925_700_000));
        // lrwn cn470 tests: the same inputs give 509.1 MHz.
        let cn = params(Region::Cn470, Revision::B);
        assert_eq!(cn.ping_slot_frequency(dev_addr, t), Some(509_100_000));
        // CN470 26 MHz plans do not hop.
        let a26 = crate::region::Cn470Plan::A26
            .params(Revision::Rp002_1_0_4)
            .unwrap();
        assert_eq!(a26.ping_slot_frequency(dev_addr, t), Some(494_900_000));
    }

    #[test]
    fn cf_list_type_1_masks_fixed_plans() {
        let us = params(Region::Us915, Revision::Rp002_1_0_4);
        let set = ChannelSet::from_indices((8..16).chain([65])).unwrap();
        let cf = us.cf_list_channel_mask(&set).unwrap();
        assert_eq!(cf.cf_list_type(), CfListType::ChannelMask);
        assert_eq!(cf.channel_masks().unwrap(), [0xff00, 0, 0, 0, 0x0002]);
        assert_eq!(us.cf_list_frequencies(&[]), None);
        // 96 channels: six masks, bytes 12–14 RFU.
        let cn = params(Region::Cn470, Revision::B);
        let cf = cn
            .cf_list_channel_mask(&ChannelSet::from_indices([95]).unwrap())
            .unwrap();
        assert_eq!(&cf.0[10..16], &[0x00, 0x80, 0, 0, 0, 1]);
    }

    #[test]
    fn cf_list_type_0_lists_default_range_channels_of_dynamic_plans() {
        let eu = params(Region::Eu868, Revision::Rp002_1_0_4);
        let ch = |frequency, max_dr| Channel {
            frequency,
            min_dr: 0,
            max_dr,
        };
        let extra = [
            ch(867_100_000, 5),
            ch(868_800_000, 7), // another DR range: NewChannelReq only
            ch(867_300_000, 5),
        ];
        let cf = eu.cf_list_frequencies(&extra).unwrap();
        assert_eq!(cf.cf_list_type(), CfListType::Frequencies);
        assert_eq!(
            cf.frequencies().unwrap(),
            [867_100_000, 867_300_000, 0, 0, 0]
        );
        assert_eq!(eu.cf_list_frequencies(&[ch(868_800_000, 7)]), None);
        assert_eq!(eu.cf_list_channel_mask(&ChannelSet::first(3)), None);
    }

    #[test]
    fn block_defined_bits() {
        assert_eq!(block_defined(72, 4), 0x00ff);
        assert_eq!(block_defined(72, 3), 0xffff);
        assert_eq!(block_defined(72, 5), 0);
        assert_eq!(block_defined(3, 0), 0b111);
    }
}
