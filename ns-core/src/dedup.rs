//! De-duplication of uplinks: the copies of one frame heard by several
//! gateways become one [`UplinkFrameSet`].
//!
//! A [`Deduplicator`] is a sans-IO state machine in the style of
//! `quinn-proto`: the driver hands it every `gw::UplinkFrame` with the time it
//! arrived ([`handle_frame`](Deduplicator::handle_frame)), asks when it next
//! needs to be woken ([`poll_timeout`](Deduplicator::poll_timeout)), tells it
//! when that time has come ([`handle_timeout`](Deduplicator::handle_timeout))
//! and collects the finished sets ([`poll_set`](Deduplicator::poll_set)). It
//! has no clock, no task and no storage.
//!
//! It follows ChirpStack's de-duplication:
//! - frames are the same when their **region configuration, encoded
//!   `tx_info` (frequency and modulation) and PHYPayload** are the same, so
//!   one frame heard on two frequencies makes two sets;
//! - the first copy opens a set, which collects copies for the
//!   de-duplication delay (`network.deduplication_delay`, default 200 ms),
//!   then closes: one PHYPayload, one `tx_info`, every gateway's `rx_info`,
//!   and a fresh `deduplication_id` (UUIDv4);
//! - ChirpStack's Redis lock lives `max(2 × delay, 200 ms)` from the first
//!   copy; copies that arrive after the set closed but while the lock would
//!   still live are dropped as late rather than starting a second set.
//!
//! Two rules are ours: a gateway that reports the same frame twice keeps one
//! `rx_info`, the one with the best SNR; and memory is bounded — at most
//! [`DedupConfig::max_open_sets`] sets collect at once and each holds at most
//! [`DedupConfig::max_rx_infos_per_set`] gateways. Frames beyond either cap
//! are dropped and counted in [`DedupCounters`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use ns_core::dedup::{DedupConfig, Deduplicator, Ingest};
//! use packet_forwarder::gw;
//!
//! let frame = |gateway_id: &str, snr: f32| gw::UplinkFrame {
//!     phy_payload: vec![0x40, 1, 2, 3, 4, 0, 1, 0, 0xaa, 0xbb, 0xcc, 0xdd],
//!     tx_info: Some(gw::UplinkTxInfo { frequency: 868_100_000, ..Default::default() }),
//!     rx_info: Some(gw::UplinkRxInfo { gateway_id: gateway_id.into(), snr, ..Default::default() }),
//!     ..Default::default()
//! };
//!
//! let mut dedup = Deduplicator::new(DedupConfig::default());
//! let t0 = Instant::now();
//! assert_eq!(dedup.handle_frame(t0, "eu868", frame("0101010101010101", 7.5)), Ingest::Opened);
//! let t1 = t0 + Duration::from_millis(50);
//! assert_eq!(dedup.handle_frame(t1, "eu868", frame("0202020202020202", -3.0)), Ingest::Merged);
//!
//! // Nothing is ready before the window ends.
//! assert!(dedup.poll_set().is_none());
//! let wake = dedup.poll_timeout().unwrap();
//! assert_eq!(wake, t0 + Duration::from_millis(200));
//!
//! dedup.handle_timeout(wake);
//! let set = dedup.poll_set().unwrap();
//! assert_eq!(set.rx_infos.len(), 2);
//! assert_eq!(set.region_config_id, "eu868");
//! assert_eq!(dedup.counters().sets_completed, 1);
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lorawan::phy::MAX_PHY_PAYLOAD_LEN;
use packet_forwarder::gw;
use uuid::Uuid;

/// ChirpStack's default `network.deduplication_delay`.
pub const DEFAULT_DEDUPLICATION_DELAY: Duration = Duration::from_millis(200);

/// The shortest time a frame's key stays locked after its first copy
/// (ChirpStack's floor on the lock TTL).
const MIN_LOCK_TTL: Duration = Duration::from_millis(200);

/// The de-duplicator's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DedupConfig {
    /// How long a set collects copies after its first one
    /// (`network.deduplication_delay`).
    pub deduplication_delay: Duration,
    /// The most sets collecting at once; a frame that would open one more is
    /// dropped.
    pub max_open_sets: usize,
    /// The most gateways one set holds; further gateways are dropped.
    pub max_rx_infos_per_set: usize,
}

impl Default for DedupConfig {
    /// 200 ms, 10 000 open sets, 128 gateways per set.
    fn default() -> Self {
        Self {
            deduplication_delay: DEFAULT_DEDUPLICATION_DELAY,
            max_open_sets: 10_000,
            max_rx_infos_per_set: 128,
        }
    }
}

impl DedupConfig {
    /// How long a key stays locked after its first copy:
    /// `max(2 × deduplication_delay, 200 ms)`, as ChirpStack's lock TTL.
    pub fn lock_ttl(&self) -> Duration {
        self.deduplication_delay.saturating_mul(2).max(MIN_LOCK_TTL)
    }
}

/// One frame as heard by every gateway that reported it within the window.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UplinkFrameSet {
    /// The PHYPayload, as received (not yet parsed).
    pub phy_payload: Vec<u8>,
    /// The transmission parameters, the same for every copy.
    pub tx_info: gw::UplinkTxInfo,
    /// One reception per gateway, in the order the gateways were first heard.
    pub rx_infos: Vec<gw::UplinkRxInfo>,
    /// The region configuration the frames came in under.
    pub region_config_id: String,
    /// When the first copy arrived.
    pub received_at: Instant,
    /// The set's identifier, carried through logs and events.
    pub deduplication_id: Uuid,
}

impl UplinkFrameSet {
    /// A set with a fresh `deduplication_id`: what another de-duplicator
    /// (a Redis-backed one shared by several server instances) hands on.
    pub fn new(
        region_config_id: impl Into<String>,
        phy_payload: Vec<u8>,
        tx_info: gw::UplinkTxInfo,
        rx_infos: Vec<gw::UplinkRxInfo>,
        received_at: Instant,
    ) -> Self {
        Self {
            phy_payload,
            tx_info,
            rx_infos,
            region_config_id: region_config_id.into(),
            received_at,
            deduplication_id: Uuid::new_v4(),
        }
    }
}

/// What [`Deduplicator::handle_frame`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingest {
    /// The first copy: a new set was opened.
    Opened,
    /// A copy from another gateway, added to the open set.
    Merged,
    /// Another copy from a gateway the set already holds; the set keeps the
    /// reception with the better SNR (`replaced`: this one).
    SameGateway {
        /// Whether the new reception replaced the old one.
        replaced: bool,
    },
    /// The frame was not kept.
    Dropped(DropReason),
}

/// Why a frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// The frame has no `tx_info` (the gateway's fault).
    MissingTxInfo,
    /// The frame has no `rx_info` (the gateway's fault).
    MissingRxInfo,
    /// The PHYPayload is empty or longer than a radio carries (the
    /// gateway's fault); the length found.
    PhyPayloadLength(usize),
    /// A copy of a frame whose set already closed, within the lock time.
    Late,
    /// [`DedupConfig::max_open_sets`] sets are collecting already.
    TooManyOpenSets,
    /// The set holds [`DedupConfig::max_rx_infos_per_set`] gateways already.
    TooManyGateways,
}

/// What the de-duplicator has seen since it was made; all counts only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DedupCounters {
    /// Frames handed to [`Deduplicator::handle_frame`].
    pub frames_received: u64,
    /// Sets opened (ChirpStack's `deduplicate_no_lock_count`).
    pub sets_opened: u64,
    /// Copies from further gateways added to an open set.
    pub frames_merged: u64,
    /// Copies from a gateway already in the set.
    pub frames_same_gateway: u64,
    /// Sets closed and handed out.
    pub sets_completed: u64,
    /// Copies that came after their set closed.
    pub frames_late: u64,
    /// Frames dropped for want of room for another open set.
    pub dropped_too_many_sets: u64,
    /// Frames dropped for want of room for another gateway in their set.
    pub dropped_too_many_gateways: u64,
    /// Frames dropped as unusable (no `tx_info` or `rx_info`, bad length).
    pub dropped_malformed: u64,
}

/// What identifies copies of one frame.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Key {
    region_config_id: String,
    /// The protobuf encoding of `tx_info`, as ChirpStack's Redis key holds it.
    tx_info: Vec<u8>,
    phy_payload: Vec<u8>,
}

#[derive(Debug)]
struct OpenSet {
    tx_info: gw::UplinkTxInfo,
    rx_infos: Vec<gw::UplinkRxInfo>,
    received_at: Instant,
}

#[derive(Debug)]
enum State {
    Open(OpenSet),
    /// Closed and handed out; the key stays locked until the lock time ends.
    Closed,
}

#[derive(Debug)]
struct Entry {
    /// Tells this entry from an earlier one under the same key, so that a
    /// stale timer never acts on it.
    generation: u64,
    state: State,
}

#[derive(Debug)]
struct Timer {
    at: Instant,
    key: Arc<Key>,
    generation: u64,
}

/// The de-duplication state machine; see the [module documentation](self).
#[derive(Debug)]
pub struct Deduplicator {
    config: DedupConfig,
    entries: HashMap<Arc<Key>, Entry>,
    /// Open sets by closing time. The delay is constant, so pushing at the
    /// back keeps the queue in order.
    closing: VecDeque<Timer>,
    /// Closed keys by the end of their lock time, in order for the same reason.
    unlocking: VecDeque<Timer>,
    open_sets: usize,
    next_generation: u64,
    ready: VecDeque<UplinkFrameSet>,
    counters: DedupCounters,
}

impl Deduplicator {
    /// An empty de-duplicator.
    pub fn new(config: DedupConfig) -> Self {
        Self {
            config,
            entries: HashMap::new(),
            closing: VecDeque::new(),
            unlocking: VecDeque::new(),
            open_sets: 0,
            next_generation: 0,
            ready: VecDeque::new(),
            counters: DedupCounters::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &DedupConfig {
        &self.config
    }

    /// The counts so far.
    pub fn counters(&self) -> &DedupCounters {
        &self.counters
    }

    /// How many sets are collecting copies now.
    pub fn open_sets(&self) -> usize {
        self.open_sets
    }

    /// Takes in one frame received at `now` under the region configuration
    /// `region_config_id` (the MQTT topic prefix it came in on).
    ///
    /// Timers due at `now` fire first, as if [`handle_timeout`] had been
    /// called, so a copy arriving after its window never joins a set that
    /// should have closed. `now` must not go backwards between calls.
    ///
    /// [`handle_timeout`]: Self::handle_timeout
    pub fn handle_frame(
        &mut self,
        now: Instant,
        region_config_id: &str,
        frame: gw::UplinkFrame,
    ) -> Ingest {
        self.handle_timeout(now);
        self.counters.frames_received += 1;
        let gw::UplinkFrame {
            phy_payload,
            tx_info,
            rx_info,
            ..
        } = frame;
        let Some(tx_info) = tx_info else {
            return self.malformed(DropReason::MissingTxInfo);
        };
        let Some(rx_info) = rx_info else {
            return self.malformed(DropReason::MissingRxInfo);
        };
        if phy_payload.is_empty() || phy_payload.len() > MAX_PHY_PAYLOAD_LEN {
            return self.malformed(DropReason::PhyPayloadLength(phy_payload.len()));
        }
        let key = Key {
            region_config_id: region_config_id.to_owned(),
            tx_info: gw::encode(&tx_info, gw::Encoding::Protobuf),
            phy_payload,
        };

        match self.entries.get_mut(&key).map(|e| &mut e.state) {
            Some(State::Open(set)) => {
                let outcome = merge(&mut set.rx_infos, rx_info, self.config.max_rx_infos_per_set);
                match outcome {
                    Ingest::Merged => self.counters.frames_merged += 1,
                    Ingest::SameGateway { .. } => self.counters.frames_same_gateway += 1,
                    _ => self.counters.dropped_too_many_gateways += 1,
                }
                outcome
            }
            Some(State::Closed) => {
                self.counters.frames_late += 1;
                Ingest::Dropped(DropReason::Late)
            }
            None if self.open_sets >= self.config.max_open_sets => {
                self.counters.dropped_too_many_sets += 1;
                Ingest::Dropped(DropReason::TooManyOpenSets)
            }
            None => {
                self.open(now, key, tx_info, rx_info);
                Ingest::Opened
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called:
    /// the end of the oldest open set's window, or of the oldest lock.
    /// `None` when nothing is pending.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let closing = self.closing.front().map(|t| t.at);
        let unlocking = self.unlocking.front().map(|t| t.at);
        match (closing, unlocking) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Closes the sets whose window has ended by `now` (they become
    /// available from [`poll_set`](Self::poll_set)) and forgets the keys
    /// whose lock time has ended.
    pub fn handle_timeout(&mut self, now: Instant) {
        while self.closing.front().is_some_and(|t| t.at <= now) {
            let Some(timer) = self.closing.pop_front() else {
                break;
            };
            self.close(timer);
        }
        while self.unlocking.front().is_some_and(|t| t.at <= now) {
            if let Some(timer) = self.unlocking.pop_front() {
                self.forget(&timer);
            }
        }
        // With a delay under 100 ms the lock outlives the window many times
        // over; the locks kept are bounded like the open sets.
        while self.unlocking.len() > self.config.max_open_sets {
            if let Some(timer) = self.unlocking.pop_front() {
                self.forget(&timer);
            }
        }
    }

    /// The next finished set, oldest first.
    pub fn poll_set(&mut self) -> Option<UplinkFrameSet> {
        self.ready.pop_front()
    }

    fn malformed(&mut self, reason: DropReason) -> Ingest {
        self.counters.dropped_malformed += 1;
        Ingest::Dropped(reason)
    }

    fn open(
        &mut self,
        now: Instant,
        key: Key,
        tx_info: gw::UplinkTxInfo,
        rx_info: gw::UplinkRxInfo,
    ) {
        let key = Arc::new(key);
        let generation = self.next_generation;
        self.next_generation += 1;
        self.entries.insert(
            Arc::clone(&key),
            Entry {
                generation,
                state: State::Open(OpenSet {
                    tx_info,
                    rx_infos: vec![rx_info],
                    received_at: now,
                }),
            },
        );
        self.closing.push_back(Timer {
            at: later(now, self.config.deduplication_delay),
            key,
            generation,
        });
        self.open_sets += 1;
        self.counters.sets_opened += 1;
    }

    fn close(&mut self, timer: Timer) {
        let Some(entry) = self.entries.get_mut(&*timer.key) else {
            return;
        };
        if entry.generation != timer.generation {
            return;
        }
        let State::Open(set) = std::mem::replace(&mut entry.state, State::Closed) else {
            return;
        };
        self.open_sets -= 1;
        self.counters.sets_completed += 1;
        self.ready.push_back(UplinkFrameSet::new(
            timer.key.region_config_id.clone(),
            timer.key.phy_payload.clone(),
            set.tx_info,
            set.rx_infos,
            set.received_at,
        ));
        self.unlocking.push_back(Timer {
            at: later(set.received_at, self.config.lock_ttl()),
            key: timer.key,
            generation: timer.generation,
        });
    }

    fn forget(&mut self, timer: &Timer) {
        let stale = self
            .entries
            .get(&*timer.key)
            .is_none_or(|e| e.generation != timer.generation || matches!(e.state, State::Open(_)));
        if !stale {
            self.entries.remove(&*timer.key);
        }
    }
}

/// `now + delay`; a delay beyond what the clock can represent (a
/// misconfiguration) ends at once rather than panicking.
fn later(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay).unwrap_or(now)
}

/// Adds a gateway's reception to an open set.
/// Adds a gateway's reception to `rx_infos`, one per gateway: a gateway
/// already there keeps the better SNR of the two (a NaN never wins, and
/// loses to any number); a new one is dropped beyond `max_rx_infos`. The
/// rule of every merge of receptions, here and across server instances
/// (`shared_state`).
pub(crate) fn merge(
    rx_infos: &mut Vec<gw::UplinkRxInfo>,
    rx_info: gw::UplinkRxInfo,
    max_rx_infos: usize,
) -> Ingest {
    let same = rx_infos
        .iter_mut()
        .find(|r| r.gateway_id.eq_ignore_ascii_case(&rx_info.gateway_id));
    if let Some(kept) = same {
        let replaced = rx_info.snr > kept.snr || (kept.snr.is_nan() && !rx_info.snr.is_nan());
        if replaced {
            *kept = rx_info;
        }
        return Ingest::SameGateway { replaced };
    }
    if rx_infos.len() >= max_rx_infos {
        return Ingest::Dropped(DropReason::TooManyGateways);
    }
    rx_infos.push(rx_info);
    Ingest::Merged
}
