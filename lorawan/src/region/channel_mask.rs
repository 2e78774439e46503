//! Uplink channel masks: which channels a device may use, the shortest
//! LinkADRReq block that moves a device to a wanted set, and how a device applies
//! a block.
//!
//! A LinkADRReq carries one 16-bit ChMask and a ChMaskCntl that says what the mask
//! means. ChMaskCntl 0 to 4 (to 5 in the 96-channel CN470 plan) address a block of
//! 16 channels; the other values are region-specific shortcuts:
//!
//! | plan | ChMaskCntl |
//! |---|---|
//! | dynamic (16 channels) | 0: channels 0–15; 6: every defined channel on |
//! | US915, AU915 | 0–3: 125 kHz channels by 16; 4: channels 64–71; 5: eight banks of eight 125 kHz channels (RP002: each with its 500 kHz channel; 1.0.2rB: RFU); 6/7: all 125 kHz channels on/off, ChMask for 64–71 |
//! | CN470 (96 channels, before RP002) | 0–5: channels by 16; 6: all on |
//! | CN470 RP002 20 MHz (64 channels) | 0–3: channels by 16; 6: all on; 7: all off |
//! | CN470 RP002 26 MHz (48 channels) | 0–2: channels by 16; 3: all on; 4: all off |
//!
//! A device applies the contiguous LinkADRReq commands of a frame as one atomic
//! block (LoRaWAN 1.0.2 on): the masks in order, then the DataRate, TXPower and
//! NbTrans of the last command; if any part is refused nothing changes.
//!
//! ```
//! use lorawan::region::{params, ChannelSet, DeviceChannels, Region, Revision, AdrSettings};
//! let us = params(Region::Us915, Revision::Rp002_1_0_4);
//! let mut device = DeviceChannels::new(us); // all 72 channels on
//! // Sub-band 2: channels 8–15 and 65.
//! let wanted = ChannelSet::from_indices((8..16).chain([65])).unwrap();
//! let block = device.link_adr_block(&wanted).unwrap();
//! assert_eq!(block.len(), 1); // ChMaskCntl 5 with ChMask 0x0002
//! let reqs: Vec<_> = block.link_adr_reqs(3, 0, 1).collect();
//! let mut settings = AdrSettings { data_rate: 0, tx_power: 0, nb_trans: 1 };
//! let ans = device.apply_link_adr(&reqs, &mut settings);
//! assert!(ans.channel_mask_ack && ans.data_rate_ack && ans.power_ack);
//! assert_eq!(device.enabled(), wanted);
//! assert_eq!(settings.data_rate, 3);
//! ```

use super::{Channel, ChannelPlan, Region, RegionParams, Revision};
use crate::mac::{ChMask, LinkAdrAns, LinkAdrReq};

/// The most channels a [`ChannelSet`] holds: the 96 of the CN470 plan of
/// LoRaWAN 1.0.2rB/1.1.
const CAPACITY: usize = 96;
const BLOCKS: usize = CAPACITY / 16;

/// A set of uplink channel indices below 96.
///
/// ```
/// use lorawan::region::ChannelSet;
/// let s = ChannelSet::from_indices([0, 1, 64]).unwrap();
/// assert_eq!(s.len(), 3);
/// assert!(s.contains(64));
/// assert_eq!(s.iter().collect::<Vec<_>>(), [0, 1, 64]);
/// assert_eq!(s.block(4).0, 0x0001);
/// assert!(ChannelSet::from_indices([96]).is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChannelSet {
    blocks: [u16; BLOCKS],
}

impl ChannelSet {
    /// The most channels a set holds.
    pub const CAPACITY: usize = CAPACITY;

    /// The empty set.
    pub const EMPTY: Self = Self {
        blocks: [0; BLOCKS],
    };

    /// Channels `0..count` (all 96 if `count` is larger).
    pub fn first(count: usize) -> Self {
        let mut s = Self::EMPTY;
        for (b, block) in s.blocks.iter_mut().enumerate() {
            *block = super::functions::block_defined(count, b);
        }
        s
    }

    /// The set of these indices; `None` if one is 96 or more.
    pub fn from_indices(indices: impl IntoIterator<Item = usize>) -> Option<Self> {
        let mut s = Self::EMPTY;
        for i in indices {
            if !s.insert(i) {
                return None;
            }
        }
        Some(s)
    }

    /// Whether channel `i` is in the set.
    pub fn contains(&self, i: usize) -> bool {
        i < CAPACITY && self.blocks[i / 16] & (1 << (i % 16)) != 0
    }

    /// Adds channel `i`; `false` (and no change) if `i` is 96 or more.
    pub fn insert(&mut self, i: usize) -> bool {
        if i >= CAPACITY {
            return false;
        }
        self.blocks[i / 16] |= 1 << (i % 16);
        true
    }

    /// Removes channel `i`.
    pub fn remove(&mut self, i: usize) {
        if i < CAPACITY {
            self.blocks[i / 16] &= !(1 << (i % 16));
        }
    }

    /// How many channels the set holds.
    pub fn len(&self) -> usize {
        self.blocks.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.blocks.iter().all(|&b| b == 0)
    }

    /// The channels in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..CAPACITY).filter(|&i| self.contains(i))
    }

    /// The ChMask of channels `16·b … 16·b+15` (empty for `b` ≥ 6).
    pub fn block(&self, b: usize) -> ChMask {
        ChMask(self.blocks.get(b).copied().unwrap_or(0))
    }

    /// Replaces channels `16·b … 16·b+15` by `mask`; ignored for `b` ≥ 6.
    pub fn set_block(&mut self, b: usize, mask: ChMask) {
        if let Some(block) = self.blocks.get_mut(b) {
            *block = mask.0;
        }
    }

    /// Whether every channel of `self` is in `other`.
    pub fn is_subset(&self, other: &Self) -> bool {
        self.blocks
            .iter()
            .zip(&other.blocks)
            .all(|(a, b)| a & !b == 0)
    }

    /// The channels in both sets.
    #[must_use]
    pub fn intersection(&self, other: &Self) -> Self {
        let mut s = *self;
        for (a, b) in s.blocks.iter_mut().zip(&other.blocks) {
            *a &= b;
        }
        s
    }

    /// The channels in either set.
    #[must_use]
    pub fn union(&self, other: &Self) -> Self {
        let mut s = *self;
        for (a, b) in s.blocks.iter_mut().zip(&other.blocks) {
            *a |= b;
        }
        s
    }
}

impl core::fmt::Debug for ChannelSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<usize> for ChannelSet {
    /// Collects indices; those of 96 or more are dropped.
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Self {
        let mut s = Self::EMPTY;
        for i in iter {
            s.insert(i);
        }
        s
    }
}

/// The channel-mask part of a LinkADRReq block: up to six (ChMask, ChMaskCntl)
/// pairs, in the order the device must apply them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChMaskBlock {
    entries: [(ChMask, u8); BLOCKS],
    len: u8,
}

impl ChMaskBlock {
    /// The most pairs a block holds.
    pub const CAPACITY: usize = BLOCKS;

    fn push(&mut self, mask: ChMask, cntl: u8) {
        if let Some(e) = self.entries.get_mut(usize::from(self.len)) {
            *e = (mask, cntl);
            self.len += 1;
        }
    }

    /// The (ChMask, ChMaskCntl) pairs.
    pub fn as_slice(&self) -> &[(ChMask, u8)] {
        self.entries
            .get(..usize::from(self.len))
            .unwrap_or_default()
    }

    /// How many LinkADRReq commands the block takes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether no channel needs to change.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The block, or if it is empty one command that restates `current` (a
    /// LinkADRReq that only changes the data rate or power still carries a mask).
    #[must_use]
    pub fn or_restate(mut self, current: &ChannelSet) -> Self {
        if self.is_empty() {
            self.push(current.block(0), 0);
        }
        self
    }

    /// The LinkADRReq commands, each carrying the same DataRate, TXPower and
    /// NbTrans (a device takes them from the last one).
    pub fn link_adr_reqs(
        &self,
        data_rate: u8,
        tx_power: u8,
        nb_trans: u8,
    ) -> impl Iterator<Item = LinkAdrReq> + '_ {
        self.as_slice()
            .iter()
            .map(move |&(ch_mask, ch_mask_cntl)| LinkAdrReq {
                data_rate,
                tx_power,
                ch_mask,
                ch_mask_cntl,
                nb_trans,
            })
    }
}

impl core::fmt::Debug for ChMaskBlock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        struct Pair(ChMask, u8);
        impl core::fmt::Debug for Pair {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "ChMaskCntl {}: {:#06x}", self.1, self.0.0)
            }
        }
        f.debug_list()
            .entries(self.as_slice().iter().map(|&(m, c)| Pair(m, c)))
            .finish()
    }
}

/// Why no LinkADRReq block can produce the wanted channel set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChMaskError {
    /// The set is empty: a device refuses a mask that disables every channel.
    #[error("a channel mask must leave at least one channel enabled")]
    NoChannel,
    /// The set holds a channel the device does not have.
    #[error("channel {0} is not defined on the device")]
    UndefinedChannel(usize),
}

/// The data rate, power and repetitions a LinkADRReq block sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AdrSettings {
    /// The uplink data-rate index.
    pub data_rate: u8,
    /// The TXPower index.
    pub tx_power: u8,
    /// NbTrans: transmissions of each uplink.
    pub nb_trans: u8,
}

/// How ChMaskCntl 5 reads in US915/AU915.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cntl5 {
    /// LoRaWAN 1.0.2rB: RFU.
    Rfu,
    /// 1.1rA: bit i switches 125 kHz channels 8i … 8i+7; 64–71 stay.
    Banks,
    /// RP002: bit i switches 125 kHz channels 8i … 8i+7 and channel 64+i.
    BanksWith500,
}

/// The ChMaskCntl semantics of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// 16 channels: 0 = block, 6 = all defined on.
    Dynamic,
    /// US915/AU915: blocks 0–4, 5 banks, 6/7 all 125 kHz on/off.
    Fixed72(Cntl5),
    /// CN470 before RP002: blocks 0–5, 6 all on.
    Cn470Blocks6,
    /// CN470 RP002 20 MHz: blocks 0–3, 6 all on, 7 all off.
    Cn470Blocks4,
    /// CN470 RP002 26 MHz: blocks 0–2, 3 all on, 4 all off.
    Cn470Blocks3,
    /// A fixed plan without shortcuts.
    Blocks(u8),
}

impl Scheme {
    fn of(params: &RegionParams) -> Self {
        let count = params.uplink_channel_count();
        match (params.channel_plan, params.region) {
            (ChannelPlan::Dynamic { .. }, _) => Self::Dynamic,
            (_, Region::Us915 | Region::Au915) if count == 72 => {
                Self::Fixed72(match params.revision {
                    Revision::B => Cntl5::Rfu,
                    Revision::A => Cntl5::Banks,
                    _ => Cntl5::BanksWith500,
                })
            }
            (_, Region::Cn470) if count == 96 => Self::Cn470Blocks6,
            (_, Region::Cn470) if count == 64 => Self::Cn470Blocks4,
            (_, Region::Cn470) if count == 48 => Self::Cn470Blocks3,
            _ => Self::Blocks(count.div_ceil(16).min(BLOCKS) as u8),
        }
    }

    /// How many 16-channel blocks ChMaskCntl addresses directly.
    fn blocks(self) -> usize {
        match self {
            Self::Dynamic => 1,
            Self::Fixed72(_) => 5,
            Self::Cn470Blocks6 => 6,
            Self::Cn470Blocks4 => 4,
            Self::Cn470Blocks3 => 3,
            Self::Blocks(n) => usize::from(n),
        }
    }

    /// Applies one command to `state`. Returns the blocks it set in full (bit
    /// b for block b), or `None` if the device must refuse it.
    fn apply(
        self,
        defined: &ChannelSet,
        state: &mut ChannelSet,
        cntl: u8,
        mask: ChMask,
    ) -> Option<u8> {
        let cntl_u = usize::from(cntl);
        if cntl_u < self.blocks() {
            if mask.0 & !defined.block(cntl_u).0 != 0 {
                return None; // enables an undefined channel
            }
            state.set_block(cntl_u, mask);
            return Some(1 << cntl);
        }
        let all = (1u8 << self.blocks()) - 1;
        match (self, cntl) {
            (Self::Dynamic | Self::Cn470Blocks6, 6)
            | (Self::Cn470Blocks4, 6)
            | (Self::Cn470Blocks3, 3) => {
                *state = *defined;
                Some(all)
            }
            (Self::Cn470Blocks4, 7) | (Self::Cn470Blocks3, 4) => {
                *state = ChannelSet::EMPTY;
                Some(all)
            }
            (Self::Fixed72(_), 6 | 7) => {
                let on = if cntl == 6 { 0xffff } else { 0 };
                for b in 0..4 {
                    state.set_block(b, ChMask(on));
                }
                // The upper byte would name channels 72–79: RFU, ignored.
                state.set_block(4, ChMask(mask.0 & 0x00ff));
                Some(all)
            }
            (Self::Fixed72(Cntl5::Banks | Cntl5::BanksWith500), 5) => {
                let with_500 = self == Self::Fixed72(Cntl5::BanksWith500);
                for bank in 0..8 {
                    let on = mask.0 & (1 << bank) != 0;
                    for ch in bank * 8..bank * 8 + 8 {
                        set(state, ch, on);
                    }
                    if with_500 {
                        set(state, 64 + bank, on);
                    }
                }
                Some(if with_500 { all } else { 0b0_1111 })
            }
            _ => None,
        }
    }

    /// Shortcut commands worth trying first when building a block for `desired`.
    fn shortcuts(self, desired: &ChannelSet) -> impl Iterator<Item = (u8, ChMask)> {
        let wide = ChMask(desired.block(4).0 & 0x00ff);
        let (fixed, banks): (&[(u8, ChMask)], bool) = match self {
            Self::Dynamic => (&[], false),
            Self::Fixed72(c) => (&[], c != Cntl5::Rfu),
            Self::Cn470Blocks6 => (&[(6, ChMask(0))], false),
            Self::Cn470Blocks4 => (&[(6, ChMask(0)), (7, ChMask(0))], false),
            Self::Cn470Blocks3 => (&[(3, ChMask(0)), (4, ChMask(0))], false),
            Self::Blocks(_) => (&[], false),
        };
        let all_125 = matches!(self, Self::Fixed72(_));
        fixed
            .iter()
            .copied()
            .chain(
                all_125
                    .then_some([(6, wide), (7, wide)])
                    .into_iter()
                    .flatten(),
            )
            .chain(
                (0..=255u16)
                    .filter(move |_| banks)
                    .map(|bits| (5, ChMask(bits))),
            )
    }
}

fn set(state: &mut ChannelSet, ch: usize, on: bool) {
    if on {
        state.insert(ch);
    } else {
        state.remove(ch);
    }
}

/// A device's uplink channels as a network server (or a simulated device) keeps
/// them: which are defined, which are enabled, and whether the uplink dwell-time
/// limit applies.
#[derive(Clone, Copy, PartialEq)]
pub struct DeviceChannels {
    params: &'static RegionParams,
    /// The channels of a dynamic plan (defaults first); unused for fixed plans.
    dynamic: [Option<Channel>; 16],
    enabled: ChannelSet,
    uplink_dwell_time: bool,
}

impl core::fmt::Debug for DeviceChannels {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceChannels")
            .field("region", &self.params.region)
            .field("revision", &self.params.revision)
            .field("defined", &self.defined())
            .field("enabled", &self.enabled)
            .field("uplink_dwell_time", &self.uplink_dwell_time)
            .finish()
    }
}

impl DeviceChannels {
    /// A device as it comes out of a join: the region's channels (the whole grid
    /// of a fixed plan, the default channels of a dynamic one), all enabled, and
    /// the region's default uplink dwell time.
    pub fn new(params: &'static RegionParams) -> Self {
        let mut dynamic = [None; 16];
        if let ChannelPlan::Dynamic {
            default_channels, ..
        } = params.channel_plan
        {
            for (d, c) in dynamic.iter_mut().zip(default_channels) {
                *d = Some(*c);
            }
        }
        let mut s = Self {
            params,
            dynamic,
            enabled: ChannelSet::EMPTY,
            uplink_dwell_time: params.default_dwell_time,
        };
        s.enabled = s.defined();
        s
    }

    /// A device of a dynamic plan with `extra` channels after the defaults (as a
    /// CFList or NewChannelReq defines them), all enabled. `None` for a fixed plan
    /// or more channels than the plan holds.
    pub fn with_extra_channels(params: &'static RegionParams, extra: &[Channel]) -> Option<Self> {
        let ChannelPlan::Dynamic {
            default_channels,
            max_channels,
        } = params.channel_plan
        else {
            return None;
        };
        let total = default_channels.len() + extra.len();
        if total > usize::from(max_channels).min(16) {
            return None;
        }
        let mut s = Self::new(params);
        for (i, c) in extra.iter().enumerate() {
            s.dynamic[default_channels.len() + i] = Some(*c);
            s.enabled.insert(default_channels.len() + i);
        }
        Some(s)
    }

    /// The region tables the device follows.
    pub fn params(&self) -> &'static RegionParams {
        self.params
    }

    /// Uplink channel `index`, if defined.
    pub fn channel(&self, index: usize) -> Option<Channel> {
        match self.params.channel_plan {
            ChannelPlan::Dynamic { .. } => self.dynamic.get(index).copied().flatten(),
            ChannelPlan::Fixed { .. } => self.params.uplink_channel(index),
        }
    }

    /// Defines (NewChannelReq) or removes (`None`, frequency 0) channel `index`
    /// of a dynamic plan; a new channel is enabled. `false` and no change for a
    /// fixed plan, a default channel, or an index beyond the plan.
    pub fn set_channel(&mut self, index: usize, channel: Option<Channel>) -> bool {
        let ChannelPlan::Dynamic {
            default_channels,
            max_channels,
        } = self.params.channel_plan
        else {
            return false;
        };
        if index < default_channels.len() || index >= usize::from(max_channels).min(16) {
            return false;
        }
        let channel = channel.filter(|c| c.frequency != 0);
        self.dynamic[index] = channel;
        set(&mut self.enabled, index, channel.is_some());
        true
    }

    /// The channels the device has.
    pub fn defined(&self) -> ChannelSet {
        match self.params.channel_plan {
            ChannelPlan::Dynamic { .. } => (0..16).filter(|&i| self.dynamic[i].is_some()).collect(),
            ChannelPlan::Fixed { .. } => ChannelSet::first(self.params.uplink_channel_count()),
        }
    }

    /// The channels the device may transmit on.
    pub fn enabled(&self) -> ChannelSet {
        self.enabled
    }

    /// Sets the enabled channels (as a CFList of type 1 does); `false` and no
    /// change if `enabled` holds an undefined channel.
    pub fn set_enabled(&mut self, enabled: ChannelSet) -> bool {
        let ok = enabled.is_subset(&self.defined());
        if ok {
            self.enabled = enabled;
        }
        ok
    }

    /// Whether the 400 ms uplink dwell-time limit applies (TXParamSetupReq).
    pub fn uplink_dwell_time(&self) -> bool {
        self.uplink_dwell_time
    }

    /// Sets the uplink dwell-time limit.
    pub fn set_uplink_dwell_time(&mut self, on: bool) {
        self.uplink_dwell_time = on;
    }

    /// The shortest block of ChMask/ChMaskCntl pairs that turns the device's
    /// enabled channels into `desired`; empty if they already are.
    pub fn link_adr_block(&self, desired: &ChannelSet) -> Result<ChMaskBlock, ChMaskError> {
        self.build(Some(&self.enabled), desired)
    }

    /// The shortest block that leaves a device with exactly `desired` enabled
    /// whatever channels it has enabled now (after a rejoin, or when the network
    /// lost track).
    pub fn link_adr_block_from_any(
        &self,
        desired: &ChannelSet,
    ) -> Result<ChMaskBlock, ChMaskError> {
        self.build(None, desired)
    }

    fn build(
        &self,
        current: Option<&ChannelSet>,
        desired: &ChannelSet,
    ) -> Result<ChMaskBlock, ChMaskError> {
        let defined = self.defined();
        if let Some(i) = desired.iter().find(|&i| !defined.contains(i)) {
            return Err(ChMaskError::UndefinedChannel(i));
        }
        if desired.is_empty() {
            return Err(ChMaskError::NoChannel);
        }
        let scheme = Scheme::of(self.params);
        let blocks = scheme.blocks();
        let known_all = (1u8 << blocks) - 1;
        let start = (
            current.copied().unwrap_or_default(),
            if current.is_some() { known_all } else { 0 },
        );
        // The block writes still needed from a state with `known` blocks known.
        let writes = |state: ChannelSet, known: u8| {
            (0..blocks)
                .filter(move |&b| known & (1 << b) == 0 || state.block(b) != desired.block(b))
        };

        let mut best = ChMaskBlock::default();
        for b in writes(start.0, start.1) {
            best.push(desired.block(b), b as u8);
        }
        for (cntl, mask) in scheme.shortcuts(desired) {
            let mut state = start.0;
            let Some(set) = scheme.apply(&defined, &mut state, cntl, mask) else {
                continue;
            };
            let known = start.1 | set;
            if 1 + writes(state, known).count() < best.len() {
                best = ChMaskBlock::default();
                best.push(mask, cntl);
                for b in writes(state, known) {
                    best.push(desired.block(b), b as u8);
                }
            }
        }
        Ok(best)
    }

    /// Applies a block of contiguous LinkADRReq commands the way a compliant
    /// device does, and returns its answer (the same for every command of the
    /// block).
    ///
    /// The masks are applied in order; the channel mask is refused if a command
    /// has an RFU ChMaskCntl or enables an undefined channel, or if the result
    /// disables every channel. DataRate, TXPower and NbTrans come from the last
    /// command (15, 15 and 0 keep the current value); the data rate is refused if
    /// no enabled channel allows it (or, under the uplink dwell-time limit, it
    /// carries no frame), the power if the region does not define the index.
    /// Nothing changes unless all three are accepted. An empty block is refused.
    pub fn apply_link_adr(
        &mut self,
        block: &[LinkAdrReq],
        settings: &mut AdrSettings,
    ) -> LinkAdrAns {
        let Some(last) = block.last() else {
            return LinkAdrAns::default();
        };
        let defined = self.defined();
        let scheme = Scheme::of(self.params);
        let mut state = self.enabled;
        let mut mask_ok = true;
        for req in block {
            mask_ok &= scheme
                .apply(&defined, &mut state, req.ch_mask_cntl, req.ch_mask)
                .is_some();
        }
        mask_ok &= !state.is_empty();

        let data_rate = if last.data_rate == 15 {
            settings.data_rate
        } else {
            last.data_rate
        };
        let tx_power = if last.tx_power == 15 {
            settings.tx_power
        } else {
            last.tx_power
        };
        let channels = if mask_ok { state } else { self.enabled };
        let data_rate_ack = self.allows_uplink_dr(&channels, data_rate);
        let power_ack = self
            .params
            .tx_power_offsets
            .get(usize::from(tx_power))
            .is_some_and(Option::is_some);

        if mask_ok && data_rate_ack && power_ack {
            self.enabled = state;
            settings.data_rate = data_rate;
            settings.tx_power = tx_power;
            if last.nb_trans != 0 {
                settings.nb_trans = last.nb_trans;
            }
        }
        LinkAdrAns {
            power_ack,
            data_rate_ack,
            channel_mask_ack: mask_ok,
        }
    }

    /// Whether some channel of `channels` allows uplink data rate `dr`.
    fn allows_uplink_dr(&self, channels: &ChannelSet, dr: u8) -> bool {
        let defined = self.params.data_rate(dr).is_some_and(|d| d.uplink)
            && self
                .params
                .max_payload(dr, self.uplink_dwell_time, false)
                .is_some();
        defined
            && channels
                .iter()
                .filter_map(|i| self.channel(i))
                .any(|c| (c.min_dr..=c.max_dr).contains(&dr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modulation::Modulation;
    use crate::region::{Cn470Plan, DataRate, MaxPayload, params};
    use proptest::prelude::*;

    const fn lora(sf: u8, bw: u32) -> Option<DataRate> {
        Some(DataRate {
            modulation: Modulation::Lora {
                spreading_factor: sf,
                bandwidth: bw,
            },
            uplink: true,
            downlink: true,
        })
    }
    const fn mp(m: u8) -> Option<MaxPayload> {
        Some(MaxPayload { m, n: m - 8 })
    }
    const DEFAULTS: [Channel; 3] = [
        Channel {
            frequency: 868_100_000,
            min_dr: 0,
            max_dr: 5,
        },
        Channel {
            frequency: 868_300_000,
            min_dr: 0,
            max_dr: 5,
        },
        Channel {
            frequency: 868_500_000,
            min_dr: 0,
            max_dr: 5,
        },
    ];
    /// A dynamic plan shaped like EU868 (three defaults, sixteen channels), so
    /// that these tests do not depend on the dynamic-region tables.
    static DYNAMIC: RegionParams = RegionParams {
        region: Region::Eu868,
        revision: Revision::Rp002_1_0_4,
        data_rates: &[
            lora(12, 125_000),
            lora(11, 125_000),
            lora(10, 125_000),
            lora(9, 125_000),
            lora(8, 125_000),
            lora(7, 125_000),
            lora(7, 250_000),
        ],
        max_payload: &[mp(59), mp(59), mp(59), mp(123), mp(250), mp(250), mp(250)],
        max_payload_dwell_time: None,
        max_payload_repeater: None,
        rx1_dr: &[],
        rx1_dr_dwell_time: None,
        tx_power_offsets: &[
            Some(0),
            Some(-2),
            Some(-4),
            Some(-6),
            Some(-8),
            Some(-10),
            Some(-12),
            Some(-14),
        ],
        default_max_eirp: 16.0,
        channel_plan: ChannelPlan::Dynamic {
            default_channels: &DEFAULTS,
            max_channels: 16,
        },
        rx2_frequency: 869_525_000,
        rx2_dr: 0,
        class_b: None,
        duty_cycle_bands: &[],
        default_dwell_time: false,
        tx_param_setup: false,
    };

    fn req(cntl: u8, mask: u16, data_rate: u8, tx_power: u8) -> LinkAdrReq {
        LinkAdrReq {
            data_rate,
            tx_power,
            ch_mask: ChMask(mask),
            ch_mask_cntl: cntl,
            nb_trans: 0,
        }
    }

    fn pairs(b: &ChMaskBlock) -> Vec<(u8, u16)> {
        b.as_slice().iter().map(|&(m, c)| (c, m.0)).collect()
    }

    fn set(i: impl IntoIterator<Item = usize>) -> ChannelSet {
        ChannelSet::from_indices(i).unwrap()
    }

    #[test]
    fn channel_set_basics() {
        let mut s = ChannelSet::first(72);
        assert_eq!(s.len(), 72);
        assert_eq!(s.block(4).0, 0x00ff);
        s.remove(0);
        assert!(!s.contains(0) && s.contains(71) && !s.contains(72));
        assert!(!s.insert(96));
        assert_eq!(ChannelSet::first(200).len(), 96);
        assert!(set([1, 2]).is_subset(&set([1, 2, 3])));
        assert_eq!(set([1, 2]).union(&set([3])), set([1, 2, 3]));
        assert_eq!(set([1, 2]).intersection(&set([2, 3])), set([2]));
        assert_eq!(format!("{:?}", set([3, 70])), "{3, 70}");
        assert_eq!(ChannelSet::from_iter([5, 100]), set([5]));
    }

    #[test]
    fn us915_sub_band_is_one_command_in_rp002() {
        let p = params(Region::Us915, Revision::Rp002_1_0_4);
        let d = DeviceChannels::new(p);
        let sb2 = set((8..16).chain([65]));
        assert_eq!(pairs(&d.link_adr_block(&sb2).unwrap()), [(5, 0x0002)]);
        assert_eq!(
            pairs(&d.link_adr_block_from_any(&sb2).unwrap()),
            [(5, 0x0002)]
        );
        // Without its 500 kHz channel it takes two commands.
        let b = d.link_adr_block(&set(8..16)).unwrap();
        assert_eq!(pairs(&b), [(7, 0x0000), (0, 0xff00)]);
        // Two banks and one wide channel: a bank command and a block write.
        let b = d
            .link_adr_block(&set((0..8).chain(56..64).chain([64])))
            .unwrap();
        assert_eq!(pairs(&b), [(5, 0x0001), (3, 0xff00)]);
    }

    #[test]
    fn us915_1_0_2rb_has_no_chmaskcntl_5() {
        let p = params(Region::Us915, Revision::B);
        let d = DeviceChannels::new(p);
        let sb2 = set((8..16).chain([65]));
        assert_eq!(
            pairs(&d.link_adr_block(&sb2).unwrap()),
            [(7, 0x0002), (0, 0xff00)]
        );
        let mut dev = DeviceChannels::new(p);
        let mut s = AdrSettings::default();
        let ans = dev.apply_link_adr(&[req(5, 0x0002, 0, 0)], &mut s);
        assert!(!ans.channel_mask_ack);
        assert_eq!(
            dev.enabled(),
            ChannelSet::first(72),
            "refused blocks change nothing"
        );
    }

    #[test]
    fn us915_1_1ra_banks_leave_the_500khz_channels() {
        let p = params(Region::Us915, Revision::A);
        let mut dev = DeviceChannels::new(p);
        let mut s = AdrSettings::default();
        let ans = dev.apply_link_adr(&[req(5, 0x0002, 0, 0)], &mut s);
        assert!(ans.channel_mask_ack && ans.data_rate_ack && ans.power_ack);
        assert_eq!(dev.enabled(), set((8..16).chain(64..72)));
        // In RP002 the same command also keeps only channel 65.
        let mut dev = DeviceChannels::new(params(Region::Us915, Revision::Rp002_1_0_0));
        dev.apply_link_adr(&[req(5, 0x0002, 0, 0)], &mut s);
        assert_eq!(dev.enabled(), set((8..16).chain([65])));
    }

    #[test]
    fn all_125khz_on_from_any_state_is_one_command() {
        let d = DeviceChannels::new(params(Region::Us915, Revision::B));
        let all = ChannelSet::first(72);
        assert_eq!(
            pairs(&d.link_adr_block_from_any(&all).unwrap()),
            [(6, 0x00ff)]
        );
        assert!(d.link_adr_block(&all).unwrap().is_empty());
        let one = d.link_adr_block(&all).unwrap().or_restate(&all);
        assert_eq!(pairs(&one), [(0, 0xffff)]);
    }

    #[test]
    fn refusals_name_the_part_at_fault() {
        let p = params(Region::Us915, Revision::Rp002_1_0_4);
        let mut dev = DeviceChannels::new(p);
        let mut s = AdrSettings {
            data_rate: 2,
            tx_power: 1,
            nb_trans: 1,
        };
        // Channel 72 does not exist.
        let ans = dev.apply_link_adr(&[req(4, 0x0100, 0, 0)], &mut s);
        assert_eq!(
            (ans.channel_mask_ack, ans.data_rate_ack, ans.power_ack),
            (false, true, true)
        );
        // Every channel off.
        let ans = dev.apply_link_adr(&[req(7, 0x0000, 0, 0)], &mut s);
        assert!(!ans.channel_mask_ack);
        // DR4 needs a 500 kHz channel; DR3 a 125 kHz one.
        let ans = dev.apply_link_adr(&[req(7, 0x0000, 0, 0), req(4, 0x0001, 3, 0)], &mut s);
        assert_eq!((ans.channel_mask_ack, ans.data_rate_ack), (true, false));
        // DR8 is downlink only; TXPower 15 keeps; 14 is the last.
        let ans = dev.apply_link_adr(&[req(0, 0xffff, 8, 15)], &mut s);
        assert!(!ans.data_rate_ack && ans.power_ack);
        assert_eq!(
            s,
            AdrSettings {
                data_rate: 2,
                tx_power: 1,
                nb_trans: 1
            },
            "nothing applied"
        );
        let mut b = DeviceChannels::new(params(Region::Us915, Revision::B));
        let ans = b.apply_link_adr(&[req(0, 0xffff, 0, 11)], &mut s);
        assert!(ans.channel_mask_ack && ans.data_rate_ack && !ans.power_ack);
        // An empty block is refused outright.
        assert_eq!(dev.apply_link_adr(&[], &mut s), LinkAdrAns::default());
        assert_eq!(dev.enabled(), ChannelSet::first(72));
    }

    #[test]
    fn only_the_last_command_sets_rate_power_and_repetitions() {
        let p = params(Region::Us915, Revision::Rp002_1_0_4);
        let mut dev = DeviceChannels::new(p);
        let mut s = AdrSettings {
            data_rate: 0,
            tx_power: 0,
            nb_trans: 3,
        };
        let mut first = req(7, 0x0001, 3, 9);
        first.nb_trans = 5;
        // The first command alone would be refused (DR3 on a 500 kHz channel);
        // only the last counts.
        let ans = dev.apply_link_adr(&[first, req(0, 0x00ff, 2, 4)], &mut s);
        assert!(ans.channel_mask_ack && ans.data_rate_ack && ans.power_ack);
        assert_eq!(
            s,
            AdrSettings {
                data_rate: 2,
                tx_power: 4,
                nb_trans: 3
            }
        );
        assert_eq!(dev.enabled(), set((0..8).chain([64])));
        // DataRate 15 keeps the current one, NbTrans 0 the current count.
        let mut last = req(0, 0x00ff, 15, 15);
        last.nb_trans = 0;
        assert!(dev.apply_link_adr(&[last], &mut s).data_rate_ack);
        assert_eq!(
            s,
            AdrSettings {
                data_rate: 2,
                tx_power: 4,
                nb_trans: 3
            }
        );
    }

    #[test]
    fn au915_dwell_time_refuses_dr0_and_dr1() {
        let p = params(Region::Au915, Revision::Rp002_1_0_4);
        let mut dev = DeviceChannels::new(p);
        assert!(
            dev.uplink_dwell_time(),
            "RP002 AU915 boots with the 400 ms limit"
        );
        let mut s = AdrSettings::default();
        assert!(
            !dev.apply_link_adr(&[req(0, 0xffff, 1, 0)], &mut s)
                .data_rate_ack
        );
        assert!(
            dev.apply_link_adr(&[req(0, 0xffff, 2, 0)], &mut s)
                .data_rate_ack
        );
        dev.set_uplink_dwell_time(false);
        assert!(
            dev.apply_link_adr(&[req(0, 0xffff, 0, 0)], &mut s)
                .data_rate_ack
        );
    }

    #[test]
    fn cn470_shortcuts_differ_by_plan() {
        let old = DeviceChannels::new(params(Region::Cn470, Revision::B));
        assert_eq!(old.defined().len(), 96);
        assert_eq!(
            pairs(&old.link_adr_block_from_any(&ChannelSet::first(96)).unwrap()),
            [(6, 0)]
        );
        let a26 = DeviceChannels::new(Cn470Plan::A26.params(Revision::Rp002_1_0_4).unwrap());
        assert_eq!(
            pairs(&a26.link_adr_block_from_any(&set(0..16)).unwrap()),
            [(4, 0), (0, 0xffff)]
        );
        let a20 = DeviceChannels::new(Cn470Plan::A20.params(Revision::Rp002_1_0_4).unwrap());
        assert_eq!(
            pairs(&a20.link_adr_block_from_any(&set(0..48)).unwrap()),
            [(6, 0), (3, 0)]
        );
        // The 26 MHz plans have no ChMaskCntl 5 to 7; 3 is "all on" there.
        let mut dev = a26;
        let mut s = AdrSettings {
            data_rate: 1,
            ..AdrSettings::default()
        };
        for cntl in 5..8 {
            assert!(
                !dev.apply_link_adr(&[req(cntl, 0, 1, 0)], &mut s)
                    .channel_mask_ack
            );
        }
        assert!(
            dev.apply_link_adr(&[req(4, 0, 1, 0), req(3, 0x0001, 1, 0)], &mut s)
                .channel_mask_ack
        );
        assert_eq!(dev.enabled(), ChannelSet::first(48));
        // The old plan has no ChMaskCntl 7.
        let mut dev = old;
        assert!(
            !dev.apply_link_adr(&[req(7, 0, 1, 0)], &mut s)
                .channel_mask_ack
        );
    }

    #[test]
    fn dynamic_plans_use_chmaskcntl_0_and_6() {
        let extra = [Channel {
            frequency: 867_100_000,
            min_dr: 0,
            max_dr: 5,
        }; 2];
        let mut dev = DeviceChannels::with_extra_channels(&DYNAMIC, &extra).unwrap();
        assert_eq!(dev.defined(), set(0..5));
        assert_eq!(
            pairs(&dev.link_adr_block(&set([0, 3])).unwrap()),
            [(0, 0b1001)]
        );
        assert_eq!(
            dev.link_adr_block(&set([7])),
            Err(ChMaskError::UndefinedChannel(7))
        );
        assert_eq!(
            dev.link_adr_block(&ChannelSet::EMPTY),
            Err(ChMaskError::NoChannel)
        );
        let mut s = AdrSettings::default();
        assert!(
            !dev.apply_link_adr(&[req(0, 0b10_0000, 0, 0)], &mut s)
                .channel_mask_ack
        );
        assert!(
            dev.apply_link_adr(&[req(0, 0b1, 0, 0)], &mut s)
                .channel_mask_ack
        );
        assert!(
            dev.apply_link_adr(&[req(6, 0, 0, 0)], &mut s)
                .channel_mask_ack
        );
        assert_eq!(dev.enabled(), set(0..5));
        assert!(
            !dev.apply_link_adr(&[req(1, 0xffff, 0, 0)], &mut s)
                .channel_mask_ack
        );
        // NewChannelReq: defaults stay; removing a channel disables it.
        assert!(!dev.set_channel(1, None));
        assert!(dev.set_channel(4, None));
        assert_eq!(dev.enabled(), set(0..4));
        assert!(DeviceChannels::with_extra_channels(&DYNAMIC, &[extra[0]; 14]).is_none());
        assert!(
            DeviceChannels::with_extra_channels(params(Region::Us915, Revision::B), &[]).is_none()
        );
    }

    /// Every plan whose ChMaskCntl rules differ.
    fn plans() -> Vec<&'static RegionParams> {
        let mut v = Vec::new();
        for region in [Region::Us915, Region::Au915, Region::Cn470] {
            for rev in [
                Revision::A,
                Revision::B,
                Revision::Rp002_1_0_0,
                Revision::Rp002_1_0_4,
            ] {
                v.push(params(region, rev));
            }
        }
        for plan in Cn470Plan::ALL {
            v.push(plan.params(Revision::Rp002_1_0_4).unwrap());
        }
        v
    }

    /// Random channel sets: random bits, unions of 8-channel banks (with or
    /// without their 500 kHz channel), single channels, all or all-but-one.
    fn channel_sets() -> impl Strategy<Value = ChannelSet> {
        prop_oneof![
            any::<[u16; 6]>().prop_map(|b| ChannelSet { blocks: b }),
            (any::<u16>(), any::<bool>()).prop_map(|(banks, wide)| {
                let mut s = ChannelSet::EMPTY;
                for bank in 0..12 {
                    if banks & (1 << bank) != 0 {
                        (bank * 8..bank * 8 + 8).for_each(|c| {
                            s.insert(c);
                        });
                        if wide && bank < 8 {
                            s.insert(64 + bank);
                        }
                    }
                }
                s
            }),
            (0..96usize).prop_map(|c| set([c])),
            (0..96usize).prop_map(|c| {
                let mut s = ChannelSet::first(96);
                s.remove(c);
                s
            }),
        ]
    }

    /// A data rate some channel of `set` allows.
    fn usable_dr(dev: &DeviceChannels, set: &ChannelSet) -> u8 {
        let c = dev.channel(set.iter().next().unwrap()).unwrap();
        (c.min_dr..=c.max_dr)
            .find(|&dr| {
                dev.params()
                    .max_payload(dr, dev.uplink_dwell_time(), false)
                    .is_some()
            })
            .unwrap()
    }

    /// `s` limited to the device's channels; its last channel if nothing is left.
    fn non_empty(s: ChannelSet, defined: &ChannelSet) -> ChannelSet {
        let s = s.intersection(defined);
        if s.is_empty() {
            defined.iter().last().into_iter().collect()
        } else {
            s
        }
    }

    fn check_round_trip(
        mut dev: DeviceChannels,
        desired: ChannelSet,
        from_any: bool,
    ) -> Result<(), TestCaseError> {
        let block = if from_any {
            dev.link_adr_block_from_any(&desired)
        } else {
            dev.link_adr_block(&desired)
        };
        let block = block.unwrap();
        let naive = (0..Scheme::of(dev.params()).blocks())
            .filter(|&b| from_any || dev.enabled().block(b) != desired.block(b))
            .count();
        prop_assert!(
            block.len() <= naive,
            "{block:?} longer than plain block writes"
        );
        let current = dev.enabled();
        let block = block.or_restate(&current);
        let dr = usable_dr(&dev, &desired);
        let reqs: Vec<_> = block.link_adr_reqs(dr, 1, 1).collect();
        let mut s = AdrSettings::default();
        let ans = dev.apply_link_adr(&reqs, &mut s);
        prop_assert!(
            ans.channel_mask_ack && ans.data_rate_ack && ans.power_ack,
            "{ans:?} for {block:?}"
        );
        prop_assert_eq!(dev.enabled(), desired, "{:?} from {:?}", block, current);
        prop_assert_eq!(s.data_rate, dr);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn fixed_plan_masks_round_trip(
            plan in 0..16usize,
            current in channel_sets(),
            desired in channel_sets(),
        ) {
            let params = plans()[plan];
            let mut dev = DeviceChannels::new(params);
            dev.set_uplink_dwell_time(false);
            let defined = dev.defined();
            let (current, desired) = (non_empty(current, &defined), non_empty(desired, &defined));
            prop_assert!(dev.set_enabled(current));
            check_round_trip(dev, desired, false)?;
            check_round_trip(dev, desired, true)?;
        }

        #[test]
        fn dynamic_plan_masks_round_trip(
            extra in proptest::collection::vec((863_000_000u32..870_000_000, 0u8..6), 0..13),
            current in any::<u16>(),
            desired in any::<u16>(),
        ) {
            let extra: Vec<Channel> = extra
                .into_iter()
                .map(|(f, max_dr)| Channel { frequency: f / 100 * 100, min_dr: 0, max_dr })
                .collect();
            let mut dev = DeviceChannels::with_extra_channels(&DYNAMIC, &extra).unwrap();
            let defined = dev.defined();
            let current = non_empty(ChannelSet::from_iter((0..16).filter(|i| current & (1 << i) != 0)), &defined);
            let desired = non_empty(ChannelSet::from_iter((0..16).filter(|i| desired & (1 << i) != 0)), &defined);
            prop_assert!(dev.set_enabled(current));
            check_round_trip(dev, desired, false)?;
            check_round_trip(dev, desired, true)?;
        }
    }
}
