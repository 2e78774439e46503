//! Which gateway sends a downlink: the one that heard the device best, with
//! some spread among the good ones (ChirpStack's `select_downlink_gateway`).

use packet_forwarder::gw;
use rand::{Rng, RngExt};

/// One gateway that heard the uplink, with what it heard averaged over its
/// receptions (a gateway with several boards or antennas reports one
/// `rx_info` each).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GatewayCandidate<'a> {
    /// The gateway's reception with the best SNR: its board, antenna and
    /// `context` time the downlink.
    pub rx_info: &'a gw::UplinkRxInfo,
    /// Mean SNR minus the SNR the uplink's data rate needs, dB. Without a
    /// required SNR (FSK, LR-FHSS) the mean SNR itself.
    pub link_margin: f32,
    /// Mean RSSI, dBm.
    pub rssi: f32,
    /// How many receptions of the uplink the gateway reported.
    pub uplink_count: u32,
}

impl GatewayCandidate<'_> {
    /// The gateway's id, as the `rx_info` names it.
    pub fn gateway_id(&self) -> &str {
        &self.rx_info.gateway_id
    }
}

/// Not-a-number SNR or RSSI values from a gateway rank last.
fn finite_or_min(v: f32) -> f32 {
    if v.is_finite() { v } else { f32::MIN }
}

/// The gateways of `rx_infos`, best first: by link margin, then RSSI
/// (then gateway id, so the order does not depend on arrival).
///
/// `required_snr` is that of the uplink's data rate
/// ([`crate::adr::required_snr`]).
///
/// ```
/// use ns_core::downlink::rank_gateways;
/// use packet_forwarder::gw;
/// let rx = |id: &str, snr, rssi| gw::UplinkRxInfo {
///     gateway_id: id.into(), snr, rssi, ..Default::default()
/// };
/// let heard = [rx("01", -3.0, -110), rx("02", 5.0, -90), rx("03", 5.0, -80)];
/// let ranked = rank_gateways(&heard, Some(-7.5));
/// let ids: Vec<&str> = ranked.iter().map(|c| c.gateway_id()).collect();
/// assert_eq!(ids, ["03", "02", "01"]);
/// assert_eq!(ranked[0].link_margin, 12.5);
/// ```
pub fn rank_gateways(
    rx_infos: &[gw::UplinkRxInfo],
    required_snr: Option<f32>,
) -> Vec<GatewayCandidate<'_>> {
    struct Sum<'a> {
        best: &'a gw::UplinkRxInfo,
        snr: f64,
        rssi: f64,
        count: u32,
    }
    let mut sums: Vec<Sum<'_>> = Vec::new();
    for rx in rx_infos {
        let snr = f64::from(finite_or_min(rx.snr));
        let rssi = f64::from(rx.rssi);
        match sums.iter_mut().find(|s| s.best.gateway_id == rx.gateway_id) {
            Some(sum) => {
                if finite_or_min(rx.snr) > finite_or_min(sum.best.snr) {
                    sum.best = rx;
                }
                sum.snr += snr;
                sum.rssi += rssi;
                sum.count = sum.count.saturating_add(1);
            }
            None => sums.push(Sum {
                best: rx,
                snr,
                rssi,
                count: 1,
            }),
        }
    }
    let mut ranked: Vec<GatewayCandidate<'_>> = sums
        .into_iter()
        .map(|s| {
            let n = f64::from(s.count.max(1));
            let snr = (s.snr / n) as f32;
            GatewayCandidate {
                rx_info: s.best,
                link_margin: finite_or_min(snr - required_snr.unwrap_or(0.0)),
                rssi: finite_or_min((s.rssi / n) as f32),
                uplink_count: s.count,
            }
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.link_margin
            .total_cmp(&a.link_margin)
            .then(b.rssi.total_cmp(&a.rssi))
            .then_with(|| a.gateway_id().cmp(b.gateway_id()))
    });
    ranked
}

/// The gateway to send a downlink through, ChirpStack's rule: at random
/// among the gateways whose link margin is at least `min_margin` dB
/// (`gateway_prefer_min_margin`, 10 dB by default), each weighted by how
/// many receptions it reported; if none has that margin, or the data rate
/// has no required SNR, the best of [`rank_gateways`]. `None` when
/// `rx_infos` is empty.
///
/// For a class A response `rx_infos` are the receptions of the uplink being
/// answered: the gateway's `context` in them times the RX windows. Gateways
/// that may not carry the device's downlinks (private gateways of other
/// tenants) are to be left out of `rx_infos` by the caller.
///
/// ```
/// use ns_core::downlink::select_downlink_gateway;
/// use packet_forwarder::gw;
/// use rand::{SeedableRng, rngs::StdRng};
/// let rx = |id: &str, snr| gw::UplinkRxInfo { gateway_id: id.into(), snr, ..Default::default() };
/// // SF10 needs -15 dB: only "02" has 10 dB of margin.
/// let heard = [rx("01", -12.0), rx("02", -4.0)];
/// let mut rng = StdRng::seed_from_u64(1);
/// let chosen = select_downlink_gateway(&heard, Some(-15.0), 10.0, &mut rng).unwrap();
/// assert_eq!(chosen.gateway_id(), "02");
/// ```
pub fn select_downlink_gateway<'a, R: Rng + ?Sized>(
    rx_infos: &'a [gw::UplinkRxInfo],
    required_snr: Option<f32>,
    min_margin: f32,
    rng: &mut R,
) -> Option<GatewayCandidate<'a>> {
    let ranked = rank_gateways(rx_infos, required_snr);
    let good: Vec<&GatewayCandidate<'a>> = match required_snr {
        Some(_) => ranked
            .iter()
            .filter(|c| c.link_margin >= min_margin)
            .collect(),
        None => Vec::new(),
    };
    let total: u64 = good.iter().map(|c| u64::from(c.uplink_count)).sum();
    if total == 0 {
        return ranked.first().copied();
    }
    let mut draw = rng.random_range(0..total);
    for c in &good {
        let weight = u64::from(c.uplink_count);
        if draw < weight {
            return Some(**c);
        }
        draw -= weight;
    }
    // The draw is below the sum of the weights, so the loop returned.
    ranked.first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn rx(id: &str, snr: f32, rssi: i32) -> gw::UplinkRxInfo {
        gw::UplinkRxInfo {
            gateway_id: id.into(),
            snr,
            rssi,
            ..Default::default()
        }
    }

    #[test]
    fn receptions_of_one_gateway_are_averaged_and_counted() {
        let heard = [rx("a", 2.0, -100), rx("b", 0.0, -90), rx("a", 6.0, -80)];
        let ranked = rank_gateways(&heard, Some(-10.0));
        assert_eq!(ranked.len(), 2);
        let a = ranked[0];
        assert_eq!(a.gateway_id(), "a");
        assert_eq!((a.link_margin, a.rssi, a.uplink_count), (14.0, -90.0, 2));
        assert_eq!(a.rx_info.snr, 6.0, "the best reception times the downlink");
    }

    #[test]
    fn nan_readings_rank_last_and_never_panic() {
        let heard = [rx("nan", f32::NAN, 0), rx("ok", -20.0, -120)];
        let ranked = rank_gateways(&heard, Some(-7.5));
        assert_eq!(ranked[0].gateway_id(), "ok");
        let mut rng = StdRng::seed_from_u64(0);
        let chosen = select_downlink_gateway(&heard, Some(-7.5), 10.0, &mut rng).unwrap();
        assert_eq!(chosen.gateway_id(), "ok");
    }

    #[test]
    fn without_a_required_snr_the_best_is_taken() {
        let heard = [rx("a", 1.0, -100), rx("b", 30.0, -60)];
        let mut rng = StdRng::seed_from_u64(0);
        for _ in 0..20 {
            let c = select_downlink_gateway(&heard, None, 10.0, &mut rng).unwrap();
            assert_eq!(c.gateway_id(), "b");
        }
        assert!(select_downlink_gateway(&[], None, 10.0, &mut rng).is_none());
    }

    #[test]
    fn required_snr_table() {
        use crate::adr::required_snr;
        let table: Vec<_> = (5..=12).map(|sf| required_snr(sf).unwrap()).collect();
        assert_eq!(table, [-2.5, -5.0, -7.5, -10.0, -12.5, -15.0, -17.5, -20.0]);
        assert_eq!(required_snr(4), None);
    }
}
