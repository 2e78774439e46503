//! What the pipeline has done: counters for metrics and tests.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::dedup::DedupCounters;
use crate::integration::EventKind;

/// Counts per reason, by a short label (`invalid_mic`, `dev_nonce_reused`).
pub type RejectCounts = BTreeMap<&'static str, u64>;

/// One sample of [`PipelineCounters::snapshot`]: metric name, labels, value.
pub type Sample = (&'static str, Vec<(&'static str, String)>, u64);

/// The pipeline's counters; all only grow. Read them with the accessor
/// methods or [`snapshot`](Self::snapshot).
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct PipelineCounters {
    /// Frame sets processed (after de-duplication).
    pub sets: AtomicU64,
    /// Data uplinks accepted (stored and published).
    pub uplinks_accepted: AtomicU64,
    /// Data uplinks another instance or an earlier set had already
    /// processed (the conditional update found the session changed).
    pub uplinks_already_processed: AtomicU64,
    /// Proprietary, rejoin and downlink frames: not handled.
    pub uplinks_unsupported: AtomicU64,
    /// Frames received under a region configuration that is not enabled.
    pub unknown_region: AtomicU64,
    /// Receptions by gateways not in storage, dropped.
    pub unknown_gateway_receptions: AtomicU64,
    /// Join-requests accepted.
    pub joins_accepted: AtomicU64,
    /// Downlinks handed to a gateway backend.
    pub downlinks_sent: AtomicU64,
    /// Downlinks that could not be planned or handed over.
    pub downlink_errors: AtomicU64,
    /// TX acks with an OK item.
    pub tx_acks_ok: AtomicU64,
    /// TX acks with no OK item.
    pub tx_acks_failed: AtomicU64,
    /// TX acks matching no downlink sent (or not the one sent).
    pub tx_acks_unknown: AtomicU64,
    /// Downlinks whose ack never came.
    pub tx_ack_timeouts: AtomicU64,
    /// Downlinks sent without keeping their TX-ack context (too many
    /// waiting: gateways that do not ack).
    pub tx_ack_contexts_dropped: AtomicU64,
    /// Gateway stats received.
    pub gateway_stats: AtomicU64,
    /// Gateway stats from gateways not in storage, ignored.
    pub unknown_gateway_stats: AtomicU64,
    /// Storage errors (the frame was dropped).
    pub storage_errors: AtomicU64,
    /// Integration commands enqueued.
    pub commands_enqueued: AtomicU64,
    /// Integration commands refused (malformed, unknown device).
    pub commands_rejected: AtomicU64,
    /// Class C devices the scheduler claimed (each due a downlink).
    pub scheduler_devices_claimed: AtomicU64,
    /// Class C downlinks the scheduler handed to a gateway backend (also
    /// in `downlinks_sent`).
    pub scheduler_downlinks_sent: AtomicU64,
    /// Scheduler runs or claimed devices that sent nothing because of an
    /// error (storage, no gateway heard the device, no backend).
    pub scheduler_errors: AtomicU64,
    /// Uplink copies that took their frame's Redis lock: each made a frame
    /// set (ChirpStack's `deduplicate_no_lock_count`).
    pub dedup_redis_no_lock: AtomicU64,
    /// Uplink copies that found their frame locked in Redis: merged into
    /// the set of the instance holding the lock (ChirpStack's
    /// `deduplicate_locked_count`).
    pub dedup_redis_locked: AtomicU64,
    /// Uplink copies Redis failed for, de-duplicated in-process instead.
    pub dedup_redis_fallback: AtomicU64,
    /// Uplink copies dropped on the Redis path: malformed, or too many
    /// waiting for Redis.
    pub dedup_redis_dropped: AtomicU64,
    /// Collect-set members that did not decode (another server version).
    pub dedup_redis_undecodable: AtomicU64,
    /// Redis commands that failed (unreachable, timed out, refused).
    pub redis_errors: AtomicU64,
    /// TX-ack contexts in Redis that did not decode (another server
    /// version); their acks count as unknown.
    pub tx_ack_contexts_undecodable: AtomicU64,
    /// Time from a frame's first copy to its `up` event, by bucket.
    pub uplink_latency: LatencyHistogram,
    uplink_rejections: Mutex<RejectCounts>,
    join_rejections: Mutex<RejectCounts>,
    events: Mutex<BTreeMap<&'static str, u64>>,
    dedup: Mutex<DedupCounters>,
}

impl PipelineCounters {
    pub(super) fn bump(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn add(&self, counter: &AtomicU64, n: usize) {
        counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(super) fn reject_uplink(&self, reason: &'static str) {
        add(&self.uplink_rejections, reason);
    }

    pub(super) fn reject_join(&self, reason: &'static str) {
        add(&self.join_rejections, reason);
    }

    pub(super) fn count_event(&self, kind: EventKind) {
        add(&self.events, kind.as_str());
    }

    pub(super) fn set_dedup(&self, counters: &DedupCounters) {
        if let Ok(mut d) = self.dedup.lock() {
            *d = *counters;
        }
    }

    /// Rejected data uplinks by reason.
    pub fn uplink_rejections(&self) -> RejectCounts {
        self.uplink_rejections
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Rejected join-requests by reason.
    pub fn join_rejections(&self) -> RejectCounts {
        self.join_rejections
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Events published, by kind (`up`, `join`, …).
    pub fn events(&self) -> BTreeMap<&'static str, u64> {
        self.events.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// The de-duplicator's counters, as of its last event.
    pub fn dedup(&self) -> DedupCounters {
        self.dedup.lock().map(|d| *d).unwrap_or_default()
    }

    /// The value of one of the plain counters.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Every counter as `(metric name, labels, value)`, for a Prometheus
    /// text exposition.
    pub fn snapshot(&self) -> Vec<Sample> {
        let plain = [
            ("ns_uplink_sets_total", &self.sets),
            ("ns_uplinks_accepted_total", &self.uplinks_accepted),
            (
                "ns_uplinks_already_processed_total",
                &self.uplinks_already_processed,
            ),
            ("ns_uplinks_unsupported_total", &self.uplinks_unsupported),
            ("ns_uplinks_unknown_region_total", &self.unknown_region),
            (
                "ns_unknown_gateway_receptions_total",
                &self.unknown_gateway_receptions,
            ),
            ("ns_joins_accepted_total", &self.joins_accepted),
            ("ns_downlinks_sent_total", &self.downlinks_sent),
            ("ns_downlink_errors_total", &self.downlink_errors),
            ("ns_tx_acks_ok_total", &self.tx_acks_ok),
            ("ns_tx_acks_failed_total", &self.tx_acks_failed),
            ("ns_tx_acks_unknown_total", &self.tx_acks_unknown),
            ("ns_tx_ack_timeouts_total", &self.tx_ack_timeouts),
            (
                "ns_tx_ack_contexts_dropped_total",
                &self.tx_ack_contexts_dropped,
            ),
            ("ns_gateway_stats_total", &self.gateway_stats),
            (
                "ns_unknown_gateway_stats_total",
                &self.unknown_gateway_stats,
            ),
            ("ns_storage_errors_total", &self.storage_errors),
            ("ns_commands_enqueued_total", &self.commands_enqueued),
            ("ns_commands_rejected_total", &self.commands_rejected),
            (
                "ns_scheduler_devices_claimed_total",
                &self.scheduler_devices_claimed,
            ),
            (
                "ns_scheduler_downlinks_sent_total",
                &self.scheduler_downlinks_sent,
            ),
            ("ns_scheduler_errors_total", &self.scheduler_errors),
            ("ns_dedup_redis_no_lock_total", &self.dedup_redis_no_lock),
            ("ns_dedup_redis_locked_total", &self.dedup_redis_locked),
            ("ns_dedup_redis_fallback_total", &self.dedup_redis_fallback),
            ("ns_dedup_redis_dropped_total", &self.dedup_redis_dropped),
            (
                "ns_dedup_redis_undecodable_members_total",
                &self.dedup_redis_undecodable,
            ),
            ("ns_redis_errors_total", &self.redis_errors),
            (
                "ns_tx_ack_contexts_undecodable_total",
                &self.tx_ack_contexts_undecodable,
            ),
        ];
        let mut out: Vec<_> = plain
            .into_iter()
            .map(|(name, c)| (name, Vec::new(), Self::get(c)))
            .collect();
        for (reason, n) in self.uplink_rejections() {
            out.push((
                "ns_uplinks_rejected_total",
                vec![("reason", reason.to_owned())],
                n,
            ));
        }
        for (reason, n) in self.join_rejections() {
            out.push((
                "ns_joins_rejected_total",
                vec![("reason", reason.to_owned())],
                n,
            ));
        }
        for (kind, n) in self.events() {
            out.push(("ns_events_total", vec![("event", kind.to_owned())], n));
        }
        let d = self.dedup();
        for (name, n) in [
            ("ns_dedup_frames_received_total", d.frames_received),
            ("ns_dedup_sets_opened_total", d.sets_opened),
            ("ns_dedup_frames_merged_total", d.frames_merged),
            ("ns_dedup_frames_late_total", d.frames_late),
            ("ns_dedup_dropped_malformed_total", d.dropped_malformed),
            (
                "ns_dedup_dropped_too_many_sets_total",
                d.dropped_too_many_sets,
            ),
        ] {
            out.push((name, Vec::new(), n));
        }
        out
    }
}

/// The upper bounds of [`LatencyHistogram`]'s buckets, milliseconds.
pub const LATENCY_BUCKETS_MS: [u64; 12] = [
    205, 210, 215, 220, 230, 250, 300, 400, 500, 1000, 2000, 5000,
];

/// A histogram of durations with fixed buckets ([`LATENCY_BUCKETS_MS`],
/// around the default 200 ms de-duplication window), lock-free.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_MS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl LatencyHistogram {
    /// Counts one duration.
    pub fn observe(&self, d: std::time::Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if let Some(i) = LATENCY_BUCKETS_MS.iter().position(|&b| ms < b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Cumulative counts per upper bound (ms), the total count and the sum
    /// in seconds: a Prometheus histogram.
    pub fn cumulative(&self) -> (Vec<(u64, u64)>, u64, f64) {
        let mut total = 0;
        let buckets = LATENCY_BUCKETS_MS
            .iter()
            .zip(&self.buckets)
            .map(|(&le, n)| {
                total += n.load(Ordering::Relaxed);
                (le, total)
            })
            .collect();
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        (buckets, self.count.load(Ordering::Relaxed), sum)
    }
}

fn add(map: &Mutex<BTreeMap<&'static str, u64>>, key: &'static str) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_default() += 1;
    }
}
