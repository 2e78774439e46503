//! Downlinks sent and their gateways' TX acks.

use std::collections::BTreeMap;
use std::time::SystemTime;

use lorawan::Eui64;
use packet_forwarder::gw;
use tracing::{debug, warn};

use super::{PendingDownlink, PendingKind, Shared};
use crate::downlink::{self, QueueUpdate, Transmitted, TxAckOutcome, TxFailure};
use crate::integration::{DeviceInfo, Event, LogCode, LogLevel, log_event, tx_ack_event};

/// How often the session is re-read when a concurrent write wins.
const CAS_ATTEMPTS: usize = 3;

impl Shared {
    /// Keeps what the TX ack of `downlink_id` needs: in Redis when shared
    /// with other instances, else (or when Redis fails) in memory.
    pub(super) async fn remember(&self, downlink_id: u32, pending: PendingDownlink) {
        if self.instances.is_some() && self.put_pending(downlink_id, &pending).await {
            return;
        }
        if let Ok(mut map) = self.pending.lock() {
            if map.len() >= super::MAX_PENDING_DOWNLINKS {
                // Its ack will count as unknown: nothing advances, as for
                // a downlink the gateway never acks.
                self.counters.bump(&self.counters.tx_ack_contexts_dropped);
                return;
            }
            map.insert(downlink_id, pending);
        }
    }

    /// Forgets a downlink (it was not sent after all, or its ack came):
    /// what was kept for it, from memory or Redis.
    pub(super) async fn forget(&self, downlink_id: u32) -> Option<PendingDownlink> {
        let local = self
            .pending
            .lock()
            .ok()
            .and_then(|mut map| map.remove(&downlink_id));
        if local.is_some() {
            return local;
        }
        self.take_pending(downlink_id).await
    }

    /// Sends a data downlink `plan` for `dev_eui` and keeps what its TX ack
    /// needs; `false` (and nothing kept) when it could not be sent.
    pub(super) async fn send_data_downlink(
        &self,
        region_config_id: &str,
        plan: downlink::DownlinkPlan,
        device_info: DeviceInfo,
        dev_eui: Eui64,
    ) -> bool {
        let downlink_id = plan.frame.downlink_id;
        self.remember(
            downlink_id,
            PendingDownlink {
                kind: PendingKind::Data(Box::new(plan.tx_ack)),
                device_info,
                sent_at: tokio::time::Instant::now(),
            },
        )
        .await;
        let sent = self.send(region_config_id, &plan.frame, Some(dev_eui));
        if !sent {
            self.forget(downlink_id).await;
        }
        sent
    }

    pub(super) async fn handle_tx_ack(&self, gateway_id: Eui64, ack: gw::DownlinkTxAck) {
        let Some(pending) = self.forget(ack.downlink_id).await else {
            self.counters.bump(&self.counters.tx_acks_unknown);
            debug!(%gateway_id, downlink_id = ack.downlink_id, "TX ack of an unknown downlink");
            return;
        };
        let now = self.settings.clock.now();
        match pending.kind {
            PendingKind::JoinAccept { dev_eui } => {
                let downlink_id = ack.downlink_id;
                let ok = gw::TxAckStatus::Ok as i32;
                if ack.items.iter().any(|i| i.status == ok) {
                    self.counters.bump(&self.counters.tx_acks_ok);
                } else {
                    self.counters.bump(&self.counters.tx_acks_failed);
                    let statuses = ack.items.iter().map(|i| i.status).collect::<Vec<_>>();
                    let status = statuses.last().copied().unwrap_or_default();
                    warn!(%dev_eui, downlink_id, "join-accept not sent by the gateway");
                    self.publish_tx_failure(
                        pending.device_info,
                        now,
                        &TxFailure { status, statuses },
                    );
                }
            }
            PendingKind::Data(context) => match downlink::handle_tx_ack(now, &context, &ack) {
                Err(error) => {
                    self.counters.bump(&self.counters.tx_acks_unknown);
                    debug!(%error, %gateway_id, "TX ack does not fit its downlink");
                }
                Ok(TxAckOutcome::Failed(failure)) => {
                    self.counters.bump(&self.counters.tx_acks_failed);
                    self.publish_tx_failure(pending.device_info, now, &failure);
                }
                Ok(TxAckOutcome::Transmitted(sent)) => {
                    self.counters.bump(&self.counters.tx_acks_ok);
                    self.apply_transmitted(context.dev_eui, &sent).await;
                    if let Some(event) = &sent.event {
                        let gateway = event.gateway_id.parse().unwrap_or(gateway_id);
                        self.publish(Event::TxAck(tx_ack_event(
                            pending.device_info,
                            now,
                            event.downlink_id,
                            Some(event.queue_item_id),
                            event.f_cnt_down,
                            gateway,
                            event.tx_info.clone(),
                        )));
                    }
                }
            },
        }
    }

    /// Advances the counter used and updates the queue item carried.
    async fn apply_transmitted(&self, dev_eui: Eui64, sent: &Transmitted) {
        let mut stored = false;
        for _ in 0..CAS_ATTEMPTS {
            let device = match self.storage.get_device(dev_eui).await {
                Ok(d) => d,
                Err(error) => {
                    warn!(%error, %dev_eui, "device not read: FCntDown not advanced");
                    break;
                }
            };
            let Some(mut session) = device.session else {
                break;
            };
            sent.apply(&mut session);
            match self
                .storage
                .update_session_if_fcnt(dev_eui, session.f_cnt_up, &session)
                .await
            {
                Ok(true) => {
                    self.cache.put_session(dev_eui, &session);
                    stored = true;
                    break;
                }
                Ok(false) => continue,
                Err(error) => {
                    warn!(%error, %dev_eui, "FCntDown not stored");
                    break;
                }
            }
        }
        if !stored {
            self.counters.bump(&self.counters.storage_errors);
        }
        match sent.queue {
            Some(QueueUpdate::Delete { id }) => {
                if let Err(error) = self.storage.delete_queue_item(id).await {
                    warn!(%error, %dev_eui, "sent queue item not deleted");
                }
            }
            Some(update @ QueueUpdate::SetPending { id, .. }) => {
                match self.storage.get_queue_item(id).await {
                    Ok(item) => {
                        let mut items = vec![item];
                        update.apply(&mut items);
                        if let Some(item) = items.first()
                            && let Err(error) = self.storage.update_queue_item(item).await
                        {
                            warn!(%error, %dev_eui, "queue item not marked pending");
                        }
                    }
                    Err(error) => warn!(%error, %dev_eui, "sent queue item not found"),
                }
            }
            None => {}
        }
    }

    fn publish_tx_failure(&self, info: DeviceInfo, now: SystemTime, failure: &TxFailure) {
        let code = LogCode::from_str_name(failure.log_code()).unwrap_or(LogCode::DownlinkGateway);
        self.publish(Event::Log(log_event(
            info,
            now,
            LogLevel::Error,
            code,
            failure.description(),
            BTreeMap::new(),
        )));
    }
}
