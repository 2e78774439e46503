//! Gateway statistics counted by the bridge: what passes through a gateway's
//! connection, as `gw::GatewayStats`.
//!
//! A Basics Station sends no statistics of its own, so its
//! [`Session`](crate::basic_station::Session) reports these counts alone:
//! every uplink (all with a good CRC: the station forwards no others), every
//! downlink handed to the station, and every acknowledgement. A Semtech UDP
//! gateway's `stat` has totals but no breakdown, so the bridge
//! [merges](StatsCounter::merge_into) the per-frequency, per-modulation and
//! per-status counts into it. Per-frequency and per-modulation transmit
//! counts are of emitted frames only; per-status counts take each
//! acknowledgement's one non-`IGNORED` item.
//!
//! ```
//! use packet_forwarder::gw;
//! use packet_forwarder::stats::StatsCounter;
//!
//! let mut counter = StatsCounter::default();
//! let mut up = gw::UplinkFrame::default();
//! up.tx_info = Some(gw::UplinkTxInfo { frequency: 868_100_000, ..Default::default() });
//! counter.count_uplink(&up);
//! counter.count_failed(gw::TxAckStatus::TooLate);
//! let mut stats = gw::GatewayStats { rx_packets_received: 5, ..Default::default() };
//! counter.merge_into(&mut stats);
//! assert_eq!(stats.rx_packets_received, 5, "the gateway's own total is kept");
//! assert_eq!(stats.rx_packets_per_frequency[&868_100_000], 1);
//! assert_eq!(stats.tx_packets_per_status["TOO_LATE"], 1);
//! ```

use std::time::Duration;

use crate::gw;

/// Counts since the last [`StatsCounter::take`].
#[derive(Debug, Default)]
pub struct StatsCounter {
    current: gw::GatewayStats,
}

fn bump(count: &mut u32) {
    *count = count.saturating_add(1);
}

fn bump_modulation(counts: &mut Vec<gw::PerModulationCount>, modulation: &gw::Modulation) {
    match counts
        .iter_mut()
        .find(|c| c.modulation.as_ref() == Some(modulation))
    {
        Some(c) => bump(&mut c.count),
        None => counts.push(gw::PerModulationCount {
            modulation: Some(modulation.clone()),
            count: 1,
        }),
    }
}

impl StatsCounter {
    /// An uplink forwarded to the network server.
    pub fn count_uplink(&mut self, frame: &gw::UplinkFrame) {
        let s = &mut self.current;
        bump(&mut s.rx_packets_received);
        if let Some(tx) = &frame.tx_info {
            bump(s.rx_packets_per_frequency.entry(tx.frequency).or_default());
            if let Some(m) = &tx.modulation {
                bump_modulation(&mut s.rx_packets_per_modulation, m);
            }
        }
    }

    /// A downlink handed to the gateway (`dnmsg`, `dnsched`, `PULL_RESP`).
    pub fn count_downlink_received(&mut self) {
        bump(&mut self.current.tx_packets_received);
    }

    /// A downlink the gateway emitted (`dntxed`, `TX_ACK` without error), on
    /// `frequency` with `modulation` where known.
    pub fn count_emitted(&mut self, frequency: Option<u32>, modulation: Option<&gw::Modulation>) {
        let s = &mut self.current;
        bump(&mut s.tx_packets_emitted);
        bump(
            s.tx_packets_per_status
                .entry(gw::TxAckStatus::Ok.as_str_name().to_owned())
                .or_default(),
        );
        if let Some(f) = frequency {
            bump(s.tx_packets_per_frequency.entry(f).or_default());
        }
        if let Some(m) = modulation {
            bump_modulation(&mut s.tx_packets_per_modulation, m);
        }
    }

    /// A downlink that failed with `status`.
    pub fn count_failed(&mut self, status: gw::TxAckStatus) {
        bump(
            self.current
                .tx_packets_per_status
                .entry(status.as_str_name().to_owned())
                .or_default(),
        );
    }

    /// A downlink's outcome as a UDP gateway reports it, one status per
    /// item of `frame`: the first item not `IGNORED` decides — `OK`
    /// counts as emitted on its frequency and modulation, anything else as
    /// failed with that status. All `IGNORED` (or none) counts nothing.
    pub fn count_tx_ack(&mut self, frame: &gw::DownlinkFrame, statuses: &[gw::TxAckStatus]) {
        let Some((i, &status)) = statuses
            .iter()
            .enumerate()
            .find(|(_, s)| **s != gw::TxAckStatus::Ignored)
        else {
            return;
        };
        if status == gw::TxAckStatus::Ok {
            let tx = frame.items.get(i).and_then(|item| item.tx_info.as_ref());
            self.count_emitted(
                tx.map(|t| t.frequency),
                tx.and_then(|t| t.modulation.as_ref()),
            );
        } else {
            self.count_failed(status);
        }
    }

    /// The counts as `gw::GatewayStats` of `gateway_id` at Unix time `unix`;
    /// counting starts again from zero.
    pub fn take(&mut self, gateway_id: String, unix: Duration) -> gw::GatewayStats {
        let mut stats = std::mem::take(&mut self.current);
        stats.gateway_id = gateway_id;
        stats.time = Some(gw::Timestamp {
            seconds: i64::try_from(unix.as_secs()).unwrap_or(i64::MAX),
            // Below 10^9, so it fits.
            nanos: unix.subsec_nanos() as i32,
        });
        stats.rx_packets_received_ok = stats.rx_packets_received;
        stats
    }

    /// Adds the breakdowns counted since the last call (per frequency, per
    /// modulation, per status) to a gateway's own `stats`, keeping its
    /// totals; counting starts again from zero.
    pub fn merge_into(&mut self, stats: &mut gw::GatewayStats) {
        let counted = std::mem::take(&mut self.current);
        for (frequency, n) in counted.rx_packets_per_frequency {
            let c = stats.rx_packets_per_frequency.entry(frequency).or_default();
            *c = c.saturating_add(n);
        }
        for (frequency, n) in counted.tx_packets_per_frequency {
            let c = stats.tx_packets_per_frequency.entry(frequency).or_default();
            *c = c.saturating_add(n);
        }
        for (status, n) in counted.tx_packets_per_status {
            let c = stats.tx_packets_per_status.entry(status).or_default();
            *c = c.saturating_add(n);
        }
        merge_modulations(
            &mut stats.rx_packets_per_modulation,
            counted.rx_packets_per_modulation,
        );
        merge_modulations(
            &mut stats.tx_packets_per_modulation,
            counted.tx_packets_per_modulation,
        );
    }
}

fn merge_modulations(into: &mut Vec<gw::PerModulationCount>, from: Vec<gw::PerModulationCount>) {
    for count in from {
        match into.iter_mut().find(|c| c.modulation == count.modulation) {
            Some(c) => c.count = c.count.saturating_add(count.count),
            None => into.push(count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lora(sf: u32) -> gw::Modulation {
        gw::Modulation {
            parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
                bandwidth: 125_000,
                spreading_factor: sf,
                code_rate: gw::CodeRate::Cr45.into(),
                ..Default::default()
            })),
        }
    }

    fn uplink(freq: u32, sf: u32) -> gw::UplinkFrame {
        gw::UplinkFrame {
            tx_info: Some(gw::UplinkTxInfo {
                frequency: freq,
                modulation: Some(lora(sf)),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn uplinks_count_per_frequency_and_per_modulation_in_first_seen_order() {
        let mut c = StatsCounter::default();
        c.count_uplink(&uplink(868_100_000, 7));
        c.count_uplink(&uplink(868_300_000, 12));
        c.count_uplink(&uplink(868_100_000, 12));
        let s = c.take("0102030405060708".into(), Duration::from_millis(1_500));
        assert_eq!((s.rx_packets_received, s.rx_packets_received_ok), (3, 3));
        assert_eq!(s.rx_packets_per_frequency[&868_100_000], 2);
        assert_eq!(s.rx_packets_per_frequency[&868_300_000], 1);
        let per_mod: Vec<_> = s
            .rx_packets_per_modulation
            .iter()
            .map(|c| (c.modulation.clone().unwrap(), c.count))
            .collect();
        assert_eq!(per_mod, [(lora(7), 1), (lora(12), 2)]);
        assert_eq!(s.gateway_id, "0102030405060708");
        assert_eq!(
            s.time,
            Some(gw::Timestamp {
                seconds: 1,
                nanos: 500_000_000
            })
        );
    }

    #[test]
    fn downlinks_count_received_emitted_and_statuses() {
        let mut c = StatsCounter::default();
        c.count_downlink_received();
        c.count_downlink_received();
        c.count_emitted(Some(869_525_000), Some(&lora(9)));
        c.count_failed(gw::TxAckStatus::InternalError);
        let s = c.take(String::new(), Duration::ZERO);
        assert_eq!((s.tx_packets_received, s.tx_packets_emitted), (2, 1));
        assert_eq!(s.tx_packets_per_frequency[&869_525_000], 1);
        assert_eq!(s.tx_packets_per_modulation[0].count, 1);
        assert_eq!(s.tx_packets_per_status["OK"], 1);
        assert_eq!(s.tx_packets_per_status["INTERNAL_ERROR"], 1);
    }

    #[test]
    fn take_starts_counting_from_zero() {
        let mut c = StatsCounter::default();
        c.count_uplink(&uplink(868_100_000, 7));
        c.count_downlink_received();
        let _ = c.take(String::new(), Duration::ZERO);
        let s = c.take("x".into(), Duration::from_secs(2));
        assert_eq!(
            s,
            gw::GatewayStats {
                gateway_id: "x".into(),
                time: Some(gw::Timestamp {
                    seconds: 2,
                    nanos: 0
                }),
                ..Default::default()
            }
        );
    }
}
