//! A session's uplink channels in the `lorawan` crate's channel-mask model:
//! what the device has, what the network wants, and the commands between.

use lorawan::mac::{ChMask, LinkAdrReq, NewChannelReq};
use lorawan::region::{
    self, AdrSettings, Channel, ChannelPlan, ChannelSet, DeviceChannels, RegionParams,
};

use crate::model::{DeviceProfile, DeviceSession, ExtraChannel};

/// The tables the device follows: its profile's region at its profile's
/// revision, which fixes how it reads ChMaskCntl. `network` (the tables the
/// network configuration resolved to) wins where the two plans do not have
/// the same channels (CN470's plans differ between revisions), since the
/// session's channel indices come from it.
pub(super) fn device_params(
    profile: &DeviceProfile,
    network: Option<&'static RegionParams>,
) -> &'static RegionParams {
    let own = region::params(profile.region, profile.reg_params_revision);
    match network {
        Some(n)
            if n.region != own.region || n.uplink_channel_count() != own.uplink_channel_count() =>
        {
            n
        }
        _ => own,
    }
}

/// How many default channels a dynamic plan has, and how many channels it
/// holds; `None` for a fixed plan.
fn dynamic_plan(params: &RegionParams) -> Option<(usize, usize)> {
    match params.channel_plan {
        ChannelPlan::Dynamic {
            default_channels,
            max_channels,
        } => Some((default_channels.len(), usize::from(max_channels).min(16))),
        ChannelPlan::Fixed { .. } => None,
    }
}

fn to_channel(c: &ExtraChannel) -> Channel {
    Channel {
        frequency: c.frequency,
        min_dr: c.min_dr,
        max_dr: c.max_dr,
    }
}

fn same(a: &ExtraChannel, b: &Channel) -> bool {
    (a.frequency, a.min_dr, a.max_dr) == (b.frequency, b.min_dr, b.max_dr)
}

/// The session's channels as a device would hold them.
pub(super) fn device_channels(
    params: &'static RegionParams,
    session: &DeviceSession,
) -> DeviceChannels {
    let mut device = DeviceChannels::new(params);
    if let Some((defaults, _)) = dynamic_plan(params) {
        for (k, c) in session.extra_uplink_channels.iter().enumerate() {
            if c.frequency != 0 {
                device.set_channel(defaults + k, Some(to_channel(c)));
            }
        }
    }
    let enabled: ChannelSet = session
        .enabled_uplink_channel_indices
        .iter()
        .map(|&i| usize::from(i))
        .collect();
    // A subset of the defined channels always sets.
    device.set_enabled(enabled.intersection(&device.defined()));
    device.set_uplink_dwell_time(session.uplink_dwell_time_400ms);
    device
}

/// The channels the network wants enabled, as device indices, among those
/// the device has (channels it lacks come first by NewChannelReq).
pub(super) fn wanted_channels(
    params: &RegionParams,
    session: &DeviceSession,
    network_channels: &[(usize, Channel)],
) -> ChannelSet {
    match dynamic_plan(params) {
        None => network_channels.iter().map(|&(i, _)| i).collect(),
        Some((defaults, _)) => network_channels
            .iter()
            .filter_map(|(i, c)| {
                if *i < defaults {
                    return Some(*i);
                }
                session
                    .extra_uplink_channels
                    .iter()
                    .position(|e| same(e, c))
                    .map(|k| defaults + k)
            })
            .collect(),
    }
}

/// The NewChannelReq that give the device the network's enabled extra
/// channels: a channel on a frequency the device has with other data rates
/// is changed in place; a new one takes the first slot holding a channel
/// the network no longer wants, else the next free index. At most `max`.
pub(super) fn new_channel_reqs(
    params: &RegionParams,
    session: &DeviceSession,
    network_channels: &[(usize, Channel)],
    max: usize,
) -> Vec<NewChannelReq> {
    let Some((defaults, capacity)) = dynamic_plan(params) else {
        return Vec::new();
    };
    let extra = &session.extra_uplink_channels;
    let wanted: Vec<Channel> = network_channels
        .iter()
        .filter(|(i, _)| *i >= defaults)
        .map(|&(_, c)| c)
        .collect();
    // Slots whose channel is wanted as it is, or is to be changed in place.
    let mut used: Vec<bool> = extra
        .iter()
        .map(|e| e.frequency != 0 && wanted.iter().any(|w| w.frequency == e.frequency))
        .collect();
    let mut next_index = defaults + extra.len();
    let mut out = Vec::new();
    for c in wanted {
        if extra.iter().any(|e| same(e, &c)) {
            continue;
        }
        let slot = extra
            .iter()
            .position(|e| e.frequency == c.frequency)
            .or_else(|| {
                let free = used.iter().position(|u| !u)?;
                used[free] = true;
                Some(free)
            });
        let index = match slot {
            Some(k) => defaults + k,
            None if next_index < capacity => {
                next_index += 1;
                next_index - 1
            }
            None => continue, // the device holds no more channels
        };
        let Ok(ch_index) = u8::try_from(index) else {
            continue;
        };
        out.push(NewChannelReq {
            ch_index,
            frequency: c.frequency,
            max_dr: c.max_dr,
            min_dr: c.min_dr,
        });
    }
    out.truncate(max);
    out
}

/// Records an acknowledged NewChannelReq: the channel is defined (or, with
/// frequency 0, removed) and enabled (disabled). `false` if the plan or the
/// index does not allow it.
pub(super) fn apply_new_channel(
    params: &RegionParams,
    session: &mut DeviceSession,
    req: &NewChannelReq,
) -> bool {
    let Some((defaults, capacity)) = dynamic_plan(params) else {
        return false;
    };
    let index = usize::from(req.ch_index);
    if index < defaults || index >= capacity {
        return false;
    }
    let k = index - defaults;
    let extra = &mut session.extra_uplink_channels;
    let hole = ExtraChannel {
        frequency: 0,
        min_dr: 0,
        max_dr: 0,
    };
    if req.frequency == 0 {
        if let Some(e) = extra.get_mut(k) {
            *e = hole;
        }
        while extra.last().is_some_and(|e| e.frequency == 0) {
            extra.pop();
        }
        session
            .enabled_uplink_channel_indices
            .retain(|&i| i != req.ch_index);
        return true;
    }
    if extra.len() <= k {
        extra.resize(k + 1, hole);
    }
    extra[k] = ExtraChannel {
        frequency: req.frequency,
        min_dr: req.min_dr,
        max_dr: req.max_dr,
    };
    if !session
        .enabled_uplink_channel_indices
        .contains(&req.ch_index)
    {
        session.enabled_uplink_channel_indices.push(req.ch_index);
        session.enabled_uplink_channel_indices.sort_unstable();
    }
    true
}

/// The one LinkADRReq mask that leaves the device's channels as they are:
/// the block of its first enabled channel (ChirpStack's choice for a
/// LinkADRReq that only changes the data rate or power).
pub(super) fn restating_mask(device: &DeviceChannels) -> (ChMask, u8) {
    let enabled = device.enabled();
    let fixed = dynamic_plan(device.params()).is_none();
    let block = match enabled.iter().next() {
        Some(first) if fixed => first / 16,
        _ => 0,
    };
    (enabled.block(block), u8::try_from(block).unwrap_or(0))
}

/// The channels the device has after accepting `block`, or `None` if this
/// model of it would refuse the masks.
///
/// `DeviceChannels::apply_link_adr` changes nothing unless the data rate
/// and power are accepted too, so the block is replayed with both kept
/// ("15") from a data rate some enabled channel allows.
pub(super) fn channels_after(device: &DeviceChannels, block: &[LinkAdrReq]) -> Option<ChannelSet> {
    let masks_only: Vec<LinkAdrReq> = block
        .iter()
        .map(|r| LinkAdrReq {
            data_rate: 15,
            tx_power: 15,
            nb_trans: 0,
            ..*r
        })
        .collect();
    for dr in 0..15 {
        let mut trial = *device;
        let mut settings = AdrSettings {
            data_rate: dr,
            tx_power: 0,
            nb_trans: 1,
        };
        let ans = trial.apply_link_adr(&masks_only, &mut settings);
        if !ans.channel_mask_ack {
            return None;
        }
        if ans.data_rate_ack && ans.power_ack {
            return Some(trial.enabled());
        }
    }
    None
}

/// The indices of a set, as the session stores them.
pub(super) fn indices(set: &ChannelSet) -> Vec<u8> {
    set.iter().filter_map(|i| u8::try_from(i).ok()).collect()
}

/// Every channel of the plan (the defaults of a dynamic one): the device's
/// channels after a reset.
pub(super) fn default_indices(params: &RegionParams) -> Vec<u8> {
    (0..params.uplink_channel_count())
        .filter_map(|i| u8::try_from(i).ok())
        .collect()
}
