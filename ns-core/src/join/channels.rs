//! The CFList of a join-accept and the channels a device has after it.

use lorawan::phy::CfList;
use lorawan::region::{ChannelPlan, ChannelSet, Network};

use crate::model::{ExtraChannel, MacVersion};

/// The CFList of a join-accept and the channels the device has after it.
#[derive(Debug)]
pub(super) struct JoinChannels {
    pub(super) cf_list: Option<CfList>,
    /// Channel indices as the device numbers them.
    pub(super) enabled: Vec<u8>,
    /// The CFList's channels, at device indices after the defaults.
    pub(super) extra: Vec<ExtraChannel>,
}

/// The CFList and the resulting device channels.
///
/// A dynamic-plan device numbers the CFList's channels after its default ones,
/// in CFList order, so the session records them at those indices. Only
/// enabled extra channels with the default channels' data-rate range are
/// listed (a CFList cannot say other ranges); the rest are left to
/// NewChannelReq.
pub(super) fn join_channels(
    network: &Network,
    mac_version: MacVersion,
) -> Result<JoinChannels, &'static str> {
    let region = network.params;
    let to_u8 = |i: usize| u8::try_from(i).map_err(|_| "channel index above 255");
    match region.channel_plan {
        ChannelPlan::Dynamic {
            default_channels, ..
        } => {
            let defaults = default_channels.len();
            let listed: Vec<_> = match default_channels.first() {
                Some(d) => network
                    .uplink_channels
                    .iter()
                    .filter(|(i, c)| *i >= defaults && (c.min_dr, c.max_dr) == (d.min_dr, d.max_dr))
                    .map(|&(_, c)| c)
                    .take(5)
                    .collect(),
                None => Vec::new(),
            };
            let cf_list = if listed.is_empty() {
                None
            } else {
                Some(
                    region
                        .cf_list_frequencies(&listed)
                        .ok_or("an extra channel frequency is not a multiple of 100 Hz")?,
                )
            };
            Ok(JoinChannels {
                cf_list,
                enabled: (0..defaults + listed.len())
                    .map(to_u8)
                    .collect::<Result<_, _>>()?,
                extra: listed
                    .iter()
                    .map(|c| ExtraChannel {
                        frequency: c.frequency,
                        min_dr: c.min_dr,
                        max_dr: c.max_dr,
                    })
                    .collect(),
            })
        }
        ChannelPlan::Fixed { .. } => {
            // A channel-mask CFList exists since LoRaWAN 1.0.3; older devices
            // keep every channel of the plan enabled.
            let (cf_list, enabled) = if mac_version >= MacVersion::V1_0_3 {
                let set = ChannelSet::from_indices(network.uplink_channels.iter().map(|&(i, _)| i))
                    .ok_or("channel index above the plan")?;
                (
                    region.cf_list_channel_mask(&set),
                    set.iter().collect::<Vec<_>>(),
                )
            } else {
                (None, (0..region.uplink_channel_count()).collect())
            };
            Ok(JoinChannels {
                cf_list,
                enabled: enabled.into_iter().map(to_u8).collect::<Result<_, _>>()?,
                extra: Vec::new(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lorawan::region::Region;
    use lorawan::region::{NetworkConfig, RegionConfig};

    fn network(region: Region, configure: impl FnOnce(&mut NetworkConfig)) -> Network {
        let mut config = RegionConfig {
            id: "test".into(),
            common_name: Some(region),
            ..Default::default()
        };
        configure(&mut config.network);
        config.resolve().unwrap()
    }

    #[test]
    fn dynamic_plan_lists_only_default_range_extra_channels() {
        let net = network(Region::Eu868, |n| {
            for (frequency, max_dr) in [(867_100_000, 5), (868_800_000, 7), (867_300_000, 5)] {
                n.extra_channels.push(lorawan::region::ExtraChannel {
                    frequency,
                    min_dr: 0,
                    max_dr,
                });
            }
        });
        let ch = join_channels(&net, MacVersion::V1_0_2).unwrap();
        assert_eq!(
            ch.cf_list.and_then(|c| c.frequencies()),
            Some([867_100_000, 867_300_000, 0, 0, 0])
        );
        assert_eq!(ch.enabled, [0, 1, 2, 3, 4]);
        assert_eq!(ch.extra.len(), 2);
        assert_eq!(ch.extra[1].frequency, 867_300_000);
    }

    #[test]
    fn disabled_extra_channels_are_not_announced() {
        let net = network(Region::Eu868, |n| {
            n.extra_channels.push(lorawan::region::ExtraChannel {
                frequency: 867_100_000,
                min_dr: 0,
                max_dr: 5,
            });
            n.enabled_uplink_channels = vec![0, 1, 2];
        });
        let ch = join_channels(&net, MacVersion::V1_1_0).unwrap();
        assert_eq!(ch.cf_list, None);
        assert_eq!(ch.enabled, [0, 1, 2]);
    }

    #[test]
    fn fixed_plan_masks_start_with_1_0_3() {
        let net = network(Region::Us915, |n| n.enabled_sub_bands = vec![2]);
        let ch = join_channels(&net, MacVersion::V1_0_3).unwrap();
        assert_eq!(
            ch.cf_list.and_then(|c| c.channel_masks()),
            Some([0xff00, 0, 0, 0, 0x0002])
        );
        assert_eq!(ch.enabled, [8, 9, 10, 11, 12, 13, 14, 15, 65]);
        let old = join_channels(&net, MacVersion::V1_0_2).unwrap();
        assert_eq!(old.cf_list, None);
        assert_eq!(old.enabled.len(), 72);
    }
}
