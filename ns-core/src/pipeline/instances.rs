//! Several server instances sharing one Redis ([`SharedState`]): each
//! uplink copy de-duplicated across instances, TX-ack contexts kept where
//! any instance can take them.
//!
//! **Uplinks.** Every copy is checked, then one `MULTI`/`EXEC` adds its
//! reception to the frame's collect set and tries the frame's lock. The copy
//! that takes the lock waits `deduplication_delay`, reads the set and hands
//! one frame set, with every instance's receptions, to processing; the
//! others stop. The in-process [`Deduplicator`](crate::dedup::Deduplicator)
//! is not put in front: closing a local set first and only then going to
//! Redis would make every uplink wait two windows (400 ms of a class A
//! device's 1 s RX1 by default), and one round trip per copy is cheap for
//! Redis (ChirpStack does the same).
//!
//! **Redis failing** (down, timing out, refusing): the copy goes to the
//! in-process de-duplicator instead, which merges it with this instance's
//! other copies and processes the set. Counted as
//! `ns_dedup_redis_fallback_total` and `ns_redis_errors_total`, logged once
//! when Redis goes away and once when it is back. Uplinks keep flowing; with
//! several instances a frame may then be processed as several partial sets,
//! of which the conditional `f_cnt_up` write lets one through. If the
//! collect set cannot be read after the lock was taken, the frame set holds
//! this copy's reception alone.
//!
//! **TX acks.** A downlink's context is stored under `frame:<downlink_id>`
//! for [`TX_ACK_TTL`](super::TX_ACK_TTL) (ChirpStack keeps it 30 s; we keep
//! our 60 s) and taken atomically by the instance that receives the ack. If
//! it cannot be stored, it is kept in this instance's memory, where only an
//! ack reaching this instance finds it. Contexts that expire in Redis are
//! not counted in `ns_tx_ack_timeouts_total`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use packet_forwarder::gw;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc};
use tracing::{debug, info, warn};

use super::{PendingDownlink, PendingKind, Shared};
use crate::dedup::UplinkFrameSet;
use crate::integration::DeviceInfo;
use crate::shared_state::{self, Copy, SharedState, SharedStateError};

/// The version of a stored TX-ack context.
const CONTEXT_VERSION: u8 = 1;
/// Copies that Redis failed for, waiting for the in-process de-duplicator.
pub(super) const FALLBACK_CAPACITY: usize = 65_536;

/// A copy for the in-process de-duplicator: its region and frame.
pub(super) type Fallback = (Arc<str>, gw::UplinkFrame);

/// What the pipeline keeps for shared state.
pub(super) struct Instances {
    state: SharedState,
    /// Copies in flight through Redis, at most `max_open_sets`.
    in_flight: Arc<Semaphore>,
    /// To the pipeline task's in-process de-duplicator.
    fallback: mpsc::Sender<Fallback>,
    /// Whether the last Redis command succeeded (logs on change only).
    healthy: AtomicBool,
}

impl Instances {
    pub(super) fn new(
        state: SharedState,
        max_in_flight: usize,
        fallback: mpsc::Sender<Fallback>,
    ) -> Self {
        Self {
            state,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            fallback,
            healthy: AtomicBool::new(true),
        }
    }

    pub(super) fn state(&self) -> &SharedState {
        &self.state
    }
}

impl Shared {
    /// Takes one gateway's copy of an uplink through Redis (a task of its
    /// own; never waits).
    pub(super) fn collect_copy(self: &Arc<Self>, region: &str, frame: gw::UplinkFrame) {
        let Some(instances) = &self.instances else {
            return;
        };
        let copy = match shared_state::check_copy(frame) {
            Ok(copy) => copy,
            Err(reason) => {
                self.counters.bump(&self.counters.dedup_redis_dropped);
                debug!(?reason, "uplink copy dropped");
                return;
            }
        };
        let Ok(permit) = Arc::clone(&instances.in_flight).try_acquire_owned() else {
            self.counters.bump(&self.counters.dedup_redis_dropped);
            debug!("too many uplink copies waiting for Redis: copy dropped");
            return;
        };
        let received_at = tokio::time::Instant::now();
        let shared = Arc::clone(self);
        let region: Arc<str> = region.into();
        tokio::spawn(async move {
            shared.collect_in_redis(region, copy, received_at).await;
            drop(permit);
        });
    }

    async fn collect_in_redis(
        self: &Arc<Self>,
        region: Arc<str>,
        copy: Copy,
        received_at: tokio::time::Instant,
    ) {
        let Some(instances) = &self.instances else {
            return;
        };
        let dedup = &self.settings.dedup;
        let keys = instances
            .state
            .frame_keys(&region, &copy.tx_info_bytes, &copy.phy_payload);
        let member = shared_state::encode_member(&copy.rx_info);
        match instances
            .state
            .collect(&keys, &member, dedup.lock_ttl())
            .await
        {
            Ok(true) => {
                self.redis_ok();
                self.counters.bump(&self.counters.dedup_redis_no_lock);
            }
            Ok(false) => {
                self.redis_ok();
                self.counters.bump(&self.counters.dedup_redis_locked);
                return;
            }
            Err(error) => {
                self.redis_failed(&error);
                self.counters.bump(&self.counters.dedup_redis_fallback);
                let frame = gw::UplinkFrame {
                    phy_payload: copy.phy_payload,
                    tx_info: Some(copy.tx_info),
                    rx_info: Some(copy.rx_info),
                    ..Default::default()
                };
                if instances.fallback.try_send((region, frame)).is_err() {
                    self.counters.bump(&self.counters.dedup_redis_dropped);
                }
                return;
            }
        }
        tokio::time::sleep(dedup.deduplication_delay).await;
        let rx_infos = match instances.state.members(&keys).await {
            Ok(members) => {
                self.redis_ok();
                let (rx_infos, undecodable) =
                    shared_state::merge_members(&members, dedup.max_rx_infos_per_set);
                self.counters
                    .add(&self.counters.dedup_redis_undecodable, undecodable);
                rx_infos
            }
            Err(error) => {
                self.redis_failed(&error);
                Vec::new()
            }
        };
        let rx_infos = if rx_infos.is_empty() {
            vec![copy.rx_info]
        } else {
            rx_infos
        };
        let set = UplinkFrameSet::new(
            region.as_ref(),
            copy.phy_payload,
            copy.tx_info,
            rx_infos,
            received_at.into_std(),
        );
        super::spawn_set(self, set).await;
    }

    /// Stores a TX-ack context in Redis; `false` when it could not be.
    pub(super) async fn put_pending(&self, downlink_id: u32, pending: &PendingDownlink) -> bool {
        let Some(instances) = &self.instances else {
            return false;
        };
        let value = match encode_pending(pending) {
            Ok(v) => v,
            Err(error) => {
                warn!(%error, downlink_id, "TX-ack context not encodable");
                return false;
            }
        };
        let key = instances.state.tx_ack_key(downlink_id);
        match instances.state.put(&key, &value, super::TX_ACK_TTL).await {
            Ok(()) => {
                self.redis_ok();
                true
            }
            Err(error) => {
                self.redis_failed(&error);
                false
            }
        }
    }

    /// Takes a TX-ack context from Redis, if there is one.
    pub(super) async fn take_pending(&self, downlink_id: u32) -> Option<PendingDownlink> {
        let instances = self.instances.as_ref()?;
        let key = instances.state.tx_ack_key(downlink_id);
        let value = match instances.state.take(&key).await {
            Ok(value) => {
                self.redis_ok();
                value?
            }
            Err(error) => {
                self.redis_failed(&error);
                return None;
            }
        };
        match decode_pending(&value) {
            Ok(pending) => Some(pending),
            Err(error) => {
                self.counters
                    .bump(&self.counters.tx_ack_contexts_undecodable);
                warn!(%error, downlink_id, "TX-ack context in Redis not readable");
                None
            }
        }
    }

    fn redis_ok(&self) {
        if let Some(instances) = &self.instances
            && !instances.healthy.swap(true, Ordering::Relaxed)
        {
            info!(server = instances.state.server(), "Redis reachable again");
        }
    }

    fn redis_failed(&self, error: &SharedStateError) {
        self.counters.bump(&self.counters.redis_errors);
        if let Some(instances) = &self.instances {
            if instances.healthy.swap(false, Ordering::Relaxed) {
                warn!(
                    server = instances.state.server(),
                    %error,
                    "Redis failed: uplinks de-duplicated in this instance only, \
                     TX-ack contexts kept in memory, until it is back"
                );
            } else {
                debug!(%error, "Redis failed");
            }
        }
    }
}

/// The stored form of a TX-ack context (JSON), written.
#[derive(Serialize)]
struct StoredRef<'a> {
    v: u8,
    kind: &'a PendingKind,
    device_info: &'a DeviceInfo,
}

/// The stored form, read.
#[derive(Deserialize)]
struct Stored {
    kind: PendingKind,
    device_info: DeviceInfo,
}

/// The version alone, read first so that another version fails cleanly.
#[derive(Deserialize)]
struct Version {
    v: u8,
}

/// Why a stored TX-ack context could not be read or written.
#[derive(Debug, thiserror::Error)]
enum ContextError {
    #[error("TX-ack context version {0}, this server reads {CONTEXT_VERSION}")]
    Version(u8),
    #[error("TX-ack context: {0}")]
    Json(#[from] serde_json::Error),
}

fn encode_pending(pending: &PendingDownlink) -> Result<Vec<u8>, ContextError> {
    Ok(serde_json::to_vec(&StoredRef {
        v: CONTEXT_VERSION,
        kind: &pending.kind,
        device_info: &pending.device_info,
    })?)
}

fn decode_pending(bytes: &[u8]) -> Result<PendingDownlink, ContextError> {
    let Version { v } = serde_json::from_slice(bytes)?;
    if v != CONTEXT_VERSION {
        return Err(ContextError::Version(v));
    }
    let Stored { kind, device_info } = serde_json::from_slice(bytes)?;
    Ok(PendingDownlink {
        kind,
        device_info,
        sent_at: tokio::time::Instant::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::downlink::TxAckContext;

    fn info() -> DeviceInfo {
        DeviceInfo {
            dev_eui: "0102030405060708".into(),
            device_name: "dev".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_join_accept_context_round_trips() {
        let dev_eui = "0102030405060708".parse().unwrap();
        let pending = PendingDownlink {
            kind: PendingKind::JoinAccept { dev_eui },
            device_info: info(),
            sent_at: tokio::time::Instant::now(),
        };
        let back = decode_pending(&encode_pending(&pending).unwrap()).unwrap();
        assert!(matches!(back.kind, PendingKind::JoinAccept { dev_eui: d } if d == dev_eui));
        assert_eq!(back.device_info, info());
    }

    #[test]
    fn a_data_context_round_trips() {
        let context = TxAckContext {
            downlink_id: 7,
            dev_eui: "0102030405060708".parse().unwrap(),
            gateway_id: "0101010101010101".into(),
            pending_timeout: Some(std::time::Duration::from_secs(5)),
            items: Vec::new(),
        };
        let pending = PendingDownlink {
            kind: PendingKind::Data(Box::new(context.clone())),
            device_info: info(),
            sent_at: tokio::time::Instant::now(),
        };
        let back = decode_pending(&encode_pending(&pending).unwrap()).unwrap();
        match back.kind {
            PendingKind::Data(c) => assert_eq!(*c, context),
            PendingKind::JoinAccept { .. } => panic!("a data context"),
        }
    }

    #[test]
    fn another_version_or_garbage_is_refused() {
        let other = br#"{"v":2,"kind":{"Something":{}},"device_info":{}}"#;
        assert!(matches!(
            decode_pending(other),
            Err(ContextError::Version(2))
        ));
        assert!(matches!(
            decode_pending(b"\x00\x01"),
            Err(ContextError::Json(_))
        ));
        assert!(matches!(decode_pending(b"{}"), Err(ContextError::Json(_))));
    }
}
