//! Batching of the uplink path's storage calls.
//!
//! Every uplink needs a session write and a queue read. One statement per
//! uplink costs a round trip to the database each (and with SQLite, two
//! thread hand-offs to its worker thread), which dominated the pipeline's
//! CPU time under load. A [`Batcher`] runs one call at a time; the requests
//! that arrive meanwhile wait and go together in the next call, as one
//! statement. Under light load a request goes alone and at once; under
//! heavy load the batches grow and the cost per uplink falls.

use std::future::Future;
use std::time::SystemTime;

use lorawan::{DevAddr, Eui64};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::model::{Device, DeviceGatewayRxInfo, DeviceProfile, DeviceSession, QueueItem};
use crate::storage::{SessionUpdate, Storage};

/// The most requests one call takes.
const MAX_BATCH: usize = 256;
/// Requests waiting for a call, at most.
const CAPACITY: usize = 65_536;

/// Requests in, one handler call per batch, each answer to its caller.
#[derive(Debug)]
pub(super) struct Batcher<Req, Resp> {
    tx: mpsc::Sender<(Req, oneshot::Sender<Resp>)>,
}

impl<Req: Send + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
    /// Starts the task calling `handler` with each batch; the handler
    /// answers each request, in order.
    pub(super) fn start<F, Fut>(handler: F) -> Self
    where
        F: Fn(Vec<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<Resp>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<(Req, oneshot::Sender<Resp>)>(CAPACITY);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let (requests, replies): (Vec<Req>, Vec<oneshot::Sender<Resp>>) =
                    batch.drain(..).unzip();
                let answers = handler(requests).await;
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(answer);
                }
            }
        });
        Self { tx }
    }

    /// Queues `request` and waits for its answer; `None` if the batcher
    /// has stopped or the handler gave no answer for it.
    pub(super) async fn call(&self, request: Req) -> Option<Resp> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((request, reply)).await.ok()?;
        answer.await.ok()
    }
}

/// A conditional session write ([`SessionUpdate`], owned).
#[derive(Debug, Clone)]
pub(super) struct SessionWrite {
    /// The device.
    pub(super) dev_eui: Eui64,
    /// The `f_cnt_up` the session was read with.
    pub(super) expected_f_cnt_up: u32,
    /// The session to store.
    pub(super) session: DeviceSession,
    /// The new `last_seen_at`, if any.
    pub(super) seen_at: Option<SystemTime>,
    /// The gateways that heard the uplink, if any.
    pub(super) gateway_rx_info: Option<DeviceGatewayRxInfo>,
    /// A new `scheduler_run_after` (the class A lock), if any.
    pub(super) scheduler_run_after: Option<SystemTime>,
}

impl SessionWrite {
    /// A write of `session` alone.
    pub(super) fn new(dev_eui: Eui64, expected_f_cnt_up: u32, session: DeviceSession) -> Self {
        Self {
            dev_eui,
            expected_f_cnt_up,
            session,
            seen_at: None,
            gateway_rx_info: None,
            scheduler_run_after: None,
        }
    }
}

/// Session writes in one statement each batch: `Some(made)`, or `None`
/// when storage failed (logged).
pub(super) fn session_writer(storage: Storage) -> Batcher<SessionWrite, Option<bool>> {
    Batcher::start(move |writes: Vec<SessionWrite>| {
        let storage = storage.clone();
        async move {
            let updates: Vec<SessionUpdate<'_>> = writes
                .iter()
                .map(|w| SessionUpdate {
                    dev_eui: w.dev_eui,
                    expected_f_cnt_up: w.expected_f_cnt_up,
                    session: &w.session,
                    seen_at: w.seen_at,
                    gateway_rx_info: w.gateway_rx_info.as_ref(),
                    scheduler_run_after: w.scheduler_run_after,
                })
                .collect();
            match storage.update_sessions_if_fcnt(&updates).await {
                Ok(made) => made.into_iter().map(Some).collect(),
                Err(error) => {
                    warn!(%error, sessions = writes.len(), "session writes failed");
                    vec![None; writes.len()]
                }
            }
        }
    })
}

/// Candidate lookups (devices by DevAddr) in one query each batch:
/// `Some(candidates)`, or `None` when storage failed (logged).
pub(super) fn candidate_reader(
    storage: Storage,
) -> Batcher<DevAddr, Option<Vec<(Device, DeviceProfile)>>> {
    Batcher::start(move |addrs: Vec<DevAddr>| {
        let storage = storage.clone();
        async move {
            let mut unique = addrs.clone();
            unique.sort_unstable_by_key(|a| a.to_u32());
            unique.dedup();
            match storage.devices_by_dev_addrs(&unique).await {
                Ok(found) => addrs
                    .iter()
                    .map(|a| Some(found.get(a).cloned().unwrap_or_default()))
                    .collect(),
                Err(error) => {
                    warn!(%error, dev_addrs = addrs.len(), "device lookups failed");
                    vec![None; addrs.len()]
                }
            }
        }
    })
}

/// Queue reads in one query each batch: `Some(queue)`, or `None` when
/// storage failed (logged).
pub(super) fn queue_reader(storage: Storage) -> Batcher<Eui64, Option<Vec<QueueItem>>> {
    Batcher::start(move |devices: Vec<Eui64>| {
        let storage = storage.clone();
        async move {
            let mut unique = devices.clone();
            unique.sort_unstable();
            unique.dedup();
            match storage.list_queue_items_of(&unique).await {
                Ok(queues) => devices
                    .iter()
                    .map(|d| Some(queues.get(d).cloned().unwrap_or_default()))
                    .collect(),
                Err(error) => {
                    warn!(%error, devices = devices.len(), "queue reads failed");
                    vec![None; devices.len()]
                }
            }
        }
    })
}
