//! Adaptive data rate: the algorithms that choose a device's data rate, TX
//! power and NbTrans from its recent uplinks.
//!
//! An algorithm implements [`AdrAlgorithm`]: it gets an [`AdrRequest`] (the
//! device's current settings, the limits of its region and network, and the
//! ADR history of its last uplinks) and answers with an [`AdrResponse`]. The
//! MAC-command logic ([`crate::mac::requests`]) sends a LinkADRReq when the
//! response differs from the current settings. An [`AdrRegistry`] holds the
//! algorithms by id, as a device profile's `adr_algorithm_id` names them; it
//! starts with [`DefaultAdr`] under `"default"`.
//!
//! [`DefaultAdr`] is ChirpStack's "Default ADR algorithm (LoRa only)":
//! - the link margin is the best SNR of the history, minus the SNR the
//!   spreading factor needs ([`required_snr`]), minus the installation margin
//!   (10 dB by default);
//! - each whole 3 dB of margin is one step: a positive step raises the data
//!   rate while it is below the highest LoRa 125 kHz data rate allowed, then
//!   lowers the power (raises the TX power index) up to the highest index; a
//!   negative step raises the power (lowers the index) down to index 0, and
//!   only once the history holds 20 uplinks at the current power, so that the
//!   power does not swing up and down; the data rate is never lowered, except
//!   to bring it under the maximum;
//! - NbTrans follows the packet loss of a full history (FCnt gaps) through
//!   the four-row table: below 5 %, 10 %, 30 % and above;
//! - a device with ADR off keeps its settings.
//!
//! ```
//! use lorawan::region::{self, Region, Revision};
//! use ns_core::adr::{AdrRegistry, AdrRequest};
//! use ns_core::model::AdrHistoryEntry;
//!
//! let params = region::params(Region::Eu868, Revision::Rp002_1_0_3);
//! // Twenty uplinks at DR0 (SF12) heard at +5 dB: 25 dB above the floor.
//! let history: Vec<AdrHistoryEntry> = (0..20)
//!     .map(|f_cnt| AdrHistoryEntry { f_cnt, max_snr: 5.0, max_rssi: -90, tx_power_index: 0, gateway_count: 1 })
//!     .collect();
//! let request = AdrRequest::new(params, 0, &history);
//! let registry = AdrRegistry::default();
//! let response = registry.handle("default", &request);
//! // (5 − (−20) − 10) / 3 = 5 steps: DR0 → DR5.
//! assert_eq!((response.dr, response.tx_power_index, response.nb_trans), (5, 0, 1));
//! ```

use std::collections::BTreeMap;
use std::fmt;

use lorawan::modulation::Modulation;
use lorawan::region::RegionParams;

use crate::model::AdrHistoryEntry;

/// The installation margin ChirpStack uses by default, dB.
pub const DEFAULT_INSTALLATION_MARGIN: f32 = 10.0;

/// The SNR in dB a LoRa demodulator needs at this spreading factor (5 to
/// 12): −2.5 dB at SF5 down to −20 dB at SF12, 2.5 dB per step.
///
/// ```
/// assert_eq!(ns_core::adr::required_snr(7), Some(-7.5));
/// assert_eq!(ns_core::adr::required_snr(12), Some(-20.0));
/// assert_eq!(ns_core::adr::required_snr(13), None);
/// ```
pub fn required_snr(spreading_factor: u8) -> Option<f32> {
    (5..=12)
        .contains(&spreading_factor)
        .then(|| -2.5 * f32::from(spreading_factor - 4))
}

/// The SNR the data rate `dr` of `params` needs: [`required_snr`] of its
/// spreading factor; 0 for FSK, LR-FHSS or an unknown data rate (as
/// ChirpStack gives its algorithms).
pub fn required_snr_for_dr(params: &RegionParams, dr: u8) -> f32 {
    match params.data_rate(dr).map(|d| d.modulation) {
        Some(Modulation::Lora {
            spreading_factor, ..
        }) => required_snr(spreading_factor).unwrap_or(0.0),
        _ => 0.0,
    }
}

/// What an ADR algorithm decides from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AdrRequest<'a> {
    /// The tables of the device's region.
    pub params: &'static RegionParams,
    /// FCtrl.ADR of the device's last uplink: whether it accepts ADR.
    pub adr: bool,
    /// The data rate of the last uplink.
    pub dr: u8,
    /// The TX power index the device uses.
    pub tx_power_index: u8,
    /// NbTrans the device uses.
    pub nb_trans: u8,
    /// The highest TX power index the device supports (the region's highest
    /// unless the device refused one).
    pub max_tx_power_index: u8,
    /// The SNR the current data rate needs, dB ([`required_snr_for_dr`]).
    pub required_snr_for_dr: f32,
    /// The margin kept above the required SNR, dB.
    pub installation_margin: f32,
    /// The lowest data rate the network allows.
    pub min_dr: u8,
    /// The highest data rate the network allows.
    pub max_dr: u8,
    /// The uplink data rates the network's enabled channels allow, ascending.
    pub enabled_data_rates: &'a [u8],
    /// The device's last uplinks, oldest first (at most 20).
    pub uplink_history: &'a [AdrHistoryEntry],
}

impl<'a> AdrRequest<'a> {
    /// A request for a device with ADR on at `dr`, TX power index 0 and
    /// NbTrans 1, with the region's limits: every defined uplink data rate
    /// enabled, the highest TX power index, the SNR `dr` needs and the
    /// default installation margin. Adjust the public fields from there.
    pub fn new(
        params: &'static RegionParams,
        dr: u8,
        uplink_history: &'a [AdrHistoryEntry],
    ) -> Self {
        const ALL_DATA_RATES: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
        let enabled = uplink_data_rates(params);
        Self {
            params,
            adr: true,
            dr,
            tx_power_index: 0,
            nb_trans: 1,
            max_tx_power_index: max_tx_power_index(params),
            required_snr_for_dr: required_snr_for_dr(params, dr),
            installation_margin: DEFAULT_INSTALLATION_MARGIN,
            min_dr: 0,
            max_dr: enabled.iter().copied().max().unwrap_or(0),
            enabled_data_rates: &ALL_DATA_RATES[..],
            uplink_history,
        }
    }
}

/// The uplink data rates `params` defines.
fn uplink_data_rates(params: &RegionParams) -> Vec<u8> {
    (0..16u8)
        .filter(|&dr| params.data_rate(dr).is_some_and(|d| d.uplink))
        .collect()
}

/// The highest TX power index `params` defines.
pub(crate) fn max_tx_power_index(params: &RegionParams) -> u8 {
    params
        .tx_power_offsets
        .iter()
        .zip(0u8..)
        .filter(|(offset, _)| offset.is_some())
        .map(|(_, i)| i)
        .max()
        .unwrap_or(0)
}

/// What an ADR algorithm decided: the settings the device should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AdrResponse {
    /// The data rate.
    pub dr: u8,
    /// The TX power index.
    pub tx_power_index: u8,
    /// NbTrans.
    pub nb_trans: u8,
}

impl AdrResponse {
    /// The request's current settings: no change.
    pub fn unchanged(req: &AdrRequest<'_>) -> Self {
        Self {
            dr: req.dr,
            tx_power_index: req.tx_power_index,
            nb_trans: req.nb_trans,
        }
    }
}

/// An ADR algorithm. Implementations must not panic on any request, however
/// odd (an empty history, a data rate above the maximum, limits that cross).
pub trait AdrAlgorithm: Send + Sync {
    /// The id device profiles name it by (`adr_algorithm_id`).
    fn id(&self) -> &str;
    /// A name for people.
    fn name(&self) -> &str;
    /// The settings the device should use.
    fn handle(&self, req: &AdrRequest<'_>) -> AdrResponse;
}

/// ChirpStack's default algorithm; see the [module documentation](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultAdr;

impl DefaultAdr {
    /// The history length the algorithm wants before it raises the power or
    /// counts packet loss.
    pub const HISTORY_LEN: usize = 20;

    /// NbTrans from the packet loss in percent and the current NbTrans
    /// (ChirpStack's table; rows < 5 %, < 10 %, < 30 %, more; columns NbTrans
    /// 1, 2, 3 and above).
    ///
    /// ```
    /// use ns_core::adr::DefaultAdr;
    /// assert_eq!(DefaultAdr::nb_trans(4.99, 3), 2);
    /// assert_eq!(DefaultAdr::nb_trans(9.99, 2), 2);
    /// assert_eq!(DefaultAdr::nb_trans(30.0, 1), 3);
    /// ```
    pub fn nb_trans(packet_loss_percent: f32, current: u8) -> u8 {
        const TABLE: [[u8; 3]; 4] = [[1, 1, 2], [1, 2, 3], [2, 3, 3], [3, 3, 3]];
        let column = usize::from(current.clamp(1, 3) - 1);
        let row = match packet_loss_percent {
            l if l < 5.0 => 0,
            l if l < 10.0 => 1,
            l if l < 30.0 => 2,
            _ => 3,
        };
        TABLE[row][column]
    }

    /// The packet loss over `history` in percent: the FCnt gaps over the
    /// number of entries; 0 until the history is full.
    pub fn packet_loss_percent(history: &[AdrHistoryEntry]) -> f32 {
        if history.len() < Self::HISTORY_LEN {
            return 0.0;
        }
        let lost: u64 = history
            .windows(2)
            .map(|w| u64::from(w[1].f_cnt.saturating_sub(w[0].f_cnt).saturating_sub(1)))
            .sum();
        lost as f32 / history.len() as f32 * 100.0
    }

    /// The TX power index and data rate after `steps` steps of 3 dB.
    fn apply_steps(
        steps: i32,
        mut tx_power_index: u8,
        mut dr: u8,
        max_tx: u8,
        max_dr: u8,
    ) -> (u8, u8) {
        if steps > 0 {
            for _ in 0..steps {
                if dr < max_dr {
                    dr += 1;
                } else if tx_power_index < max_tx {
                    tx_power_index += 1;
                } else {
                    break;
                }
            }
        } else {
            // The data rate is never lowered: only the power rises.
            let up = u8::try_from(steps.unsigned_abs()).unwrap_or(u8::MAX);
            tx_power_index = tx_power_index.saturating_sub(up);
        }
        (tx_power_index, dr)
    }
}

impl AdrAlgorithm for DefaultAdr {
    fn id(&self) -> &str {
        "default"
    }

    fn name(&self) -> &str {
        "Default ADR algorithm (LoRa only)"
    }

    fn handle(&self, req: &AdrRequest<'_>) -> AdrResponse {
        let mut resp = AdrResponse::unchanged(req);
        if !req.adr {
            return resp;
        }

        // The algorithm works on LoRa 125 kHz data rates only: the maximum
        // may name another modulation (US915 DR4 is 500 kHz).
        let max_lora_dr = req
            .enabled_data_rates
            .iter()
            .copied()
            .filter(|&dr| {
                matches!(
                    req.params.data_rate(dr),
                    Some(d) if d.uplink && matches!(d.modulation, Modulation::Lora { bandwidth: 125_000, .. })
                )
            })
            .max()
            .unwrap_or(0);
        let max_dr = req.max_dr.min(max_lora_dr);
        if resp.dr > max_dr {
            resp.dr = max_dr;
        }

        resp.nb_trans = Self::nb_trans(Self::packet_loss_percent(req.uplink_history), req.nb_trans);

        let Some(max_snr) = req
            .uplink_history
            .iter()
            .map(|h| h.max_snr)
            .filter(|s| s.is_finite())
            .reduce(f32::max)
        else {
            return resp;
        };
        let margin = max_snr - req.required_snr_for_dr - req.installation_margin;
        // Truncated toward zero, as ChirpStack does; the clamp keeps absurd
        // SNR values from overflowing.
        let steps = (margin / 3.0).clamp(-100.0, 100.0) as i32;

        let at_this_power = req
            .uplink_history
            .iter()
            .filter(|h| h.tx_power_index == req.tx_power_index)
            .count();
        if steps < 0 && at_this_power != Self::HISTORY_LEN {
            return resp;
        }

        let (tx_power_index, dr) = Self::apply_steps(
            steps,
            resp.tx_power_index,
            resp.dr,
            req.max_tx_power_index,
            max_dr,
        );
        resp.tx_power_index = tx_power_index;
        resp.dr = dr;
        resp
    }
}

/// The ADR algorithms by id.
///
/// ```
/// use ns_core::adr::{AdrAlgorithm, AdrRegistry, AdrRequest, AdrResponse};
///
/// struct Fixed;
/// impl AdrAlgorithm for Fixed {
///     fn id(&self) -> &str { "fixed-dr3" }
///     fn name(&self) -> &str { "Always DR3" }
///     fn handle(&self, req: &AdrRequest<'_>) -> AdrResponse {
///         AdrResponse { dr: 3, ..AdrResponse::unchanged(req) }
///     }
/// }
///
/// let mut registry = AdrRegistry::default();
/// registry.register(Box::new(Fixed));
/// let ids: Vec<_> = registry.list().map(|(id, _)| id).collect();
/// assert_eq!(ids, ["default", "fixed-dr3"]);
/// ```
pub struct AdrRegistry {
    algorithms: BTreeMap<String, Box<dyn AdrAlgorithm>>,
}

impl AdrRegistry {
    /// A registry without any algorithm.
    pub fn empty() -> Self {
        Self {
            algorithms: BTreeMap::new(),
        }
    }

    /// Adds `algorithm` under its id, replacing one with the same id.
    pub fn register(&mut self, algorithm: Box<dyn AdrAlgorithm>) {
        self.algorithms.insert(algorithm.id().to_owned(), algorithm);
    }

    /// The algorithm with this id.
    pub fn get(&self, id: &str) -> Option<&dyn AdrAlgorithm> {
        self.algorithms.get(id).map(|a| &**a)
    }

    /// The (id, name) of every algorithm, by id.
    pub fn list(&self) -> impl Iterator<Item = (&str, &str)> {
        self.algorithms.values().map(|a| (a.id(), a.name()))
    }

    /// Runs the algorithm `id`; an unknown id changes nothing (and is
    /// logged), as in ChirpStack.
    pub fn handle(&self, id: &str, req: &AdrRequest<'_>) -> AdrResponse {
        match self.get(id) {
            Some(algorithm) => algorithm.handle(req),
            None => {
                tracing::warn!(adr_algorithm_id = id, "no ADR algorithm with this id");
                AdrResponse::unchanged(req)
            }
        }
    }
}

impl Default for AdrRegistry {
    /// A registry with [`DefaultAdr`].
    fn default() -> Self {
        let mut registry = Self::empty();
        registry.register(Box::new(DefaultAdr));
        registry
    }
}

impl fmt::Debug for AdrRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.list()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lorawan::region::{self, Region, Revision};

    fn history(snr: f32, f_cnts: impl IntoIterator<Item = u32>) -> Vec<AdrHistoryEntry> {
        f_cnts
            .into_iter()
            .map(|f_cnt| AdrHistoryEntry {
                f_cnt,
                max_snr: snr,
                max_rssi: -100,
                tx_power_index: 0,
                gateway_count: 1,
            })
            .collect()
    }

    #[test]
    fn steps_raise_the_data_rate_before_lowering_the_power() {
        assert_eq!(DefaultAdr::apply_steps(0, 1, 3, 5, 5), (1, 3));
        assert_eq!(DefaultAdr::apply_steps(1, 1, 4, 5, 5), (1, 5));
        assert_eq!(DefaultAdr::apply_steps(1, 1, 5, 5, 5), (2, 5));
        assert_eq!(DefaultAdr::apply_steps(2, 1, 4, 5, 5), (2, 5));
        assert_eq!(DefaultAdr::apply_steps(2, 5, 5, 5, 5), (5, 5));
        assert_eq!(DefaultAdr::apply_steps(-1, 1, 5, 5, 5), (0, 5));
        assert_eq!(DefaultAdr::apply_steps(-10, 0, 4, 5, 5), (0, 4));
    }

    #[test]
    fn packet_loss_counts_fcnt_gaps_of_a_full_history() {
        // 5 in a row, a gap, 5 more, a gap, 10 more: 2 lost over 20 → 10 %.
        let f_cnts = (0..5).chain(6..11).chain(12..22);
        assert_eq!(DefaultAdr::packet_loss_percent(&history(0.0, f_cnts)), 10.0);
        assert_eq!(DefaultAdr::packet_loss_percent(&history(0.0, [0, 10])), 0.0);
    }

    #[test]
    fn the_maximum_is_the_highest_lora_125_khz_rate() {
        let us = region::params(Region::Us915, Revision::Rp002_1_0_3);
        let h = history(20.0, 0..20);
        let req = AdrRequest::new(us, 0, &h);
        assert_eq!(req.max_dr, 6); // DR6 is LR-FHSS in RP002 US915
        let resp = DefaultAdr.handle(&req);
        assert_eq!(resp.dr, 3); // DR4 is 500 kHz
    }

    #[test]
    fn non_finite_snr_changes_nothing_but_nb_trans() {
        let eu = region::params(Region::Eu868, Revision::Rp002_1_0_3);
        let h = history(f32::NAN, 0..20);
        let resp = DefaultAdr.handle(&AdrRequest::new(eu, 2, &h));
        assert_eq!((resp.dr, resp.tx_power_index, resp.nb_trans), (2, 0, 1));
    }
}
