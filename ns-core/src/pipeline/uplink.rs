//! Data uplinks: accept, store, publish, then answer in RX1/RX2.

use std::collections::BTreeMap;
use std::time::SystemTime;

use tracing::{debug, warn};

use lorawan::DevAddr;

use super::batch::SessionWrite;
use super::{RegionSettings, Shared, cache};
use crate::dedup::UplinkFrameSet;
use crate::downlink::{self, ClassARequest, DiscardReason, DiscardedItem, UplinkContext};
use crate::integration::{
    self, DeviceInfo, Event, LogCode, LogLevel, ack_event, log_event, status_event, uplink_event,
};
use crate::mac::{self, MacOutcome};
use crate::model::{Device, DeviceClass, DeviceGatewayRxInfo, DeviceProfile};
use crate::uplink::{self, DataUplink, FCntCheck, RejectReason, Rejection};

/// FOpts carry at most 15 bytes of MAC commands.
const MAX_F_OPTS_LEN: usize = 15;

impl Shared {
    pub(super) async fn handle_data_uplink(&self, set: UplinkFrameSet) {
        self.counters.bump(&self.counters.sets);
        let Some(region) = self.settings.regions.get(&set.region_config_id) else {
            self.counters.bump(&self.counters.unknown_region);
            return;
        };
        let dev_addr = match uplink::data_uplink_dev_addr(&set.phy_payload) {
            Ok(a) => a,
            Err(reason) => {
                self.counters.reject_uplink(reject_label(&reason));
                debug!(%reason, "data uplink rejected");
                return;
            }
        };
        let now = self.settings.clock.now();
        // The hot copy first; if it proves stale (the conditional update
        // fails), the database's, once.
        let mut fresh = false;
        let (mut up, mac_outcome) = loop {
            let Some(candidates) = self.candidates(dev_addr).await else {
                self.counters.bump(&self.counters.storage_errors);
                warn!(%dev_addr, "device lookup failed: uplink dropped");
                return;
            };
            let mut up = match uplink::handle_data_uplink(&region.network, &set, &candidates) {
                Ok(up) => up,
                Err(rejection) if !fresh && rejection.device.is_some() => {
                    // A replay or a retransmission by the copy's counters:
                    // make sure the copy is not the one behind.
                    self.cache.invalidate(dev_addr);
                    fresh = true;
                    continue;
                }
                Err(rejection) => return self.reject_data_uplink(rejection, &set, now).await,
            };
            let mac_outcome = mac::handle_data_uplink(now, &mut up, &self.settings.mac);
            // For a device that runs or may run class C: the gateways for
            // its class C downlinks, and the class A lock (the scheduler
            // leaves the device alone while this uplink's answer is planned
            // and sent). A class A device needs neither, and its uplinks
            // are the bulk: nothing more is written for them.
            let class_c = up.device.enabled_class == DeviceClass::C
                || mac_outcome.device_class == Some(DeviceClass::C)
                || up.device_profile.supports_class_c;
            let write = SessionWrite {
                seen_at: Some(now),
                gateway_rx_info: class_c.then(|| {
                    DeviceGatewayRxInfo::from_rx_infos(
                        up.region_config_id.clone(),
                        up.tx_params.dr,
                        &up.rx_infos,
                    )
                }),
                scheduler_run_after: now
                    .checked_add(
                        self.settings.get_downlink_data_delay
                            + self.settings.scheduler.class_a_lock_duration,
                    )
                    .filter(|_| class_c),
                ..SessionWrite::new(up.device.dev_eui, up.stored_f_cnt_up, up.session.clone())
            };
            match self.session_writes.call(write).await.flatten() {
                Some(true) => {
                    self.cache.put_session(up.device.dev_eui, &up.session);
                    break (up, mac_outcome);
                }
                Some(false) if !fresh => {
                    self.cache.invalidate(dev_addr);
                    fresh = true;
                }
                Some(false) => {
                    self.counters.bump(&self.counters.uplinks_already_processed);
                    debug!(dev_eui = %up.device.dev_eui, f_cnt = up.f_cnt, "uplink already processed elsewhere");
                    return;
                }
                None => {
                    self.counters.bump(&self.counters.storage_errors);
                    warn!(dev_eui = %up.device.dev_eui, "session not stored: uplink dropped");
                    return;
                }
            }
        };
        let dev_eui = up.device.dev_eui;
        self.counters.bump(&self.counters.uplinks_accepted);
        self.log_frame(super::FrameLog::Uplink {
            set: &set,
            dev_eui: Some(dev_eui),
        });
        if let Some(class) = mac_outcome.device_class {
            up.device.enabled_class = class;
            if let Err(error) = self.storage.update_device(&up.device).await {
                warn!(%error, %dev_eui, "device class not stored");
            }
        }
        let Some(info) = self.device_info(&up.device, &up.device_profile).await else {
            return;
        };
        self.publish_uplink_events(&up, &mac_outcome, &info, now)
            .await;
        self.counters
            .uplink_latency
            .observe(set.received_at.elapsed());

        // The application's moment to enqueue an answer.
        tokio::time::sleep(self.settings.get_downlink_data_delay).await;
        self.class_a_downlink(region, up, mac_outcome, info).await;
    }

    /// The devices whose session has `dev_addr`: the hot copy, else storage
    /// (in a batch with the other lookups); `None` if storage failed.
    pub(super) async fn candidates(&self, dev_addr: DevAddr) -> Option<cache::Candidates> {
        self.cache
            .candidates(dev_addr, |a| async move {
                self.candidate_reads.call(a).await.flatten()
            })
            .await
    }

    /// The `DeviceInfo` of a device's events, from the cache.
    pub(super) async fn device_info(
        &self,
        device: &Device,
        profile: &DeviceProfile,
    ) -> Option<DeviceInfo> {
        match self.cache.owner(&self.storage, device.application_id).await {
            Ok(owner) => Some(integration::device_info(
                &owner.0, &owner.1, profile, device,
            )),
            Err(error) => {
                self.counters.bump(&self.counters.storage_errors);
                warn!(%error, dev_eui = %device.dev_eui, "application not found: no events");
                None
            }
        }
    }

    async fn publish_uplink_events(
        &self,
        up: &DataUplink,
        mac_outcome: &MacOutcome,
        info: &DeviceInfo,
        now: SystemTime,
    ) {
        let context = || {
            BTreeMap::from([(
                "deduplication_id".to_owned(),
                up.deduplication_id.to_string(),
            )])
        };
        let skipped = match up.f_cnt_check {
            FCntCheck::Passed => None,
            FCntCheck::SkippedRetransmission => Some((
                LogCode::UplinkFCntRetransmission,
                "Uplink was flagged as re-transmission / frame-counter did not increment",
            )),
            FCntCheck::SkippedReset => Some((
                LogCode::UplinkFCntReset,
                "Frame-counter reset or rollover detected",
            )),
        };
        if let Some((code, description)) = skipped {
            self.publish(Event::Log(log_event(
                info.clone(),
                now,
                LogLevel::Warning,
                code,
                description,
                context(),
            )));
        }
        if up.ack {
            self.acknowledge_queue_item(up, info, now).await;
        }
        self.publish(Event::Up(uplink_event(
            info.clone(),
            integration::Uplink {
                deduplication_id: up.deduplication_id,
                time: now,
                dev_addr: up.dev_addr,
                adr: up.adr,
                dr: up.tx_params.dr,
                f_cnt: up.f_cnt,
                f_port: up.f_port.unwrap_or(0),
                confirmed: up.confirmed,
                data: up.data().to_vec(),
                rx_info: up.rx_infos.clone(),
                tx_info: up.tx_info.clone(),
                region_config_id: up.region_config_id.clone(),
            },
        )));
        if let Some(status) = mac_outcome.status {
            let mut event = status_event(info.clone(), up.deduplication_id, now, 0, 255);
            event.margin = status.margin;
            event.external_power_source = status.external_power_source;
            event.battery_level_unavailable = status.battery_level_unavailable;
            event.battery_level = status.battery_level;
            self.publish(Event::Status(event));
        }
    }

    /// The uplink carries FCtrl.ACK: the pending confirmed queue item is
    /// acknowledged and deleted.
    async fn acknowledge_queue_item(&self, up: &DataUplink, info: &DeviceInfo, now: SystemTime) {
        let dev_eui = up.device.dev_eui;
        let queue = match self.storage.list_queue_items(dev_eui).await {
            Ok(q) => q,
            Err(error) => {
                self.counters.bump(&self.counters.storage_errors);
                warn!(%error, %dev_eui, "queue not read: ACK not matched");
                return;
            }
        };
        let Some(item) = queue.into_iter().find(|q| q.is_pending) else {
            debug!(%dev_eui, "ACK without a pending confirmed downlink");
            return;
        };
        if let Err(error) = self.storage.delete_queue_item(item.id).await {
            warn!(%error, %dev_eui, "acknowledged queue item not deleted");
            return;
        }
        self.publish(Event::Ack(ack_event(
            info.clone(),
            up.deduplication_id,
            now,
            item.id,
            true,
            item.f_cnt_down.unwrap_or_default(),
        )));
    }

    /// Plans, records and sends the class A answer to `up`.
    async fn class_a_downlink(
        &self,
        region: &RegionSettings,
        up: DataUplink,
        mac_outcome: MacOutcome,
        info: DeviceInfo,
    ) {
        let now = self.settings.clock.now();
        let dev_eui = up.device.dev_eui;
        let Some(queue) = self.queue_reads.call(dev_eui).await.flatten() else {
            self.counters.bump(&self.counters.storage_errors);
            warn!(%dev_eui, "queue not read: no downlink");
            return;
        };
        let uplink = UplinkContext::from(&up);
        let profile = &up.device_profile;
        let mut session = up.session.clone();
        // A TX ack handled since the uplink was stored (a late ack of the
        // previous downlink) advanced the downlink counters: take them, or
        // this downlink would reuse an FCntDown.
        if let Some(candidates) = self.candidates(session.dev_addr).await
            && let Some(stored) = candidates
                .iter()
                .find(|(d, _)| d.dev_eui == dev_eui)
                .and_then(|(d, _)| d.session.as_ref())
            && stored.f_cnt_up == session.f_cnt_up
        {
            session.n_f_cnt_down = session.n_f_cnt_down.max(stored.n_f_cnt_down);
            session.a_f_cnt_down = session.a_f_cnt_down.max(stored.a_f_cnt_down);
            session.conf_f_cnt = stored.conf_f_cnt;
        }
        let windows = match downlink::plan_windows(
            &uplink,
            &session,
            profile,
            &region.network,
            &region.downlink,
        ) {
            Ok(w) => w,
            Err(error) => {
                self.counters.bump(&self.counters.downlink_errors);
                debug!(%error, %dev_eui, "no receive window");
                return;
            }
        };
        let mut room = windows.iter().map(|w| w.max_payload).min().unwrap_or(0);
        if !queue.is_empty() {
            room = room.min(MAX_F_OPTS_LEN);
        }
        let room = room.saturating_sub(mac::encoded_len(&mac_outcome.answers));
        let requests = if self.settings.mac_commands_disabled {
            Vec::new()
        } else {
            mac::requests(
                now,
                &mut session,
                profile,
                &region.desired,
                &self.settings.mac,
                &self.adr,
                room,
            )
        };
        let mut mac_commands = mac::to_bytes(&mac_outcome.answers);
        mac_commands.extend(mac::to_bytes(&requests));
        let request = ClassARequest {
            uplink,
            session: &session,
            profile,
            network: &region.network,
            settings: &region.downlink,
            queue: &queue,
            mac_commands,
            must_send: mac_outcome.needs_downlink(),
        };
        let response = match downlink::class_a_response(now, &request, &mut rand::rng()) {
            Ok(r) => r,
            Err(error) => {
                self.counters.bump(&self.counters.downlink_errors);
                warn!(%error, %dev_eui, "class A downlink not planned");
                return;
            }
        };
        self.drop_discarded(
            dev_eui,
            &info,
            up.deduplication_id,
            now,
            &response.discarded,
        )
        .await;
        let Some(plan) = response.plan else {
            return;
        };
        if !requests.is_empty() {
            // The requests are pending from now on: store them, guarded by
            // the FCntUp this uplink stored.
            let write = SessionWrite::new(dev_eui, session.f_cnt_up, session.clone());
            match self.session_writes.call(write).await.flatten() {
                Some(true) => self.cache.put_session(dev_eui, &session),
                Some(false) => {
                    self.cache.invalidate(session.dev_addr);
                    debug!(%dev_eui, "session changed since the uplink: downlink dropped");
                    return;
                }
                None => {
                    self.counters.bump(&self.counters.storage_errors);
                    warn!(%dev_eui, "pending MAC commands not stored: downlink dropped");
                    return;
                }
            }
        }
        self.send_data_downlink(&up.region_config_id, plan, info, dev_eui)
            .await;
    }

    /// Deletes the queue items a plan dropped, each with its `ack`
    /// (`acknowledged = false`) or `log` event.
    pub(super) async fn drop_discarded(
        &self,
        dev_eui: lorawan::Eui64,
        info: &DeviceInfo,
        deduplication_id: uuid::Uuid,
        now: SystemTime,
        discarded: &[DiscardedItem],
    ) {
        for discarded in discarded {
            if let Err(error) = self.storage.delete_queue_item(discarded.id).await {
                warn!(%error, %dev_eui, "discarded queue item not deleted");
            }
            let event = match discarded.reason {
                DiscardReason::NotAcknowledged => Event::Ack(ack_event(
                    info.clone(),
                    deduplication_id,
                    now,
                    discarded.id,
                    false,
                    discarded.f_cnt_down.unwrap_or_default(),
                )),
                reason => {
                    let Some(code) = reason.log_code().and_then(LogCode::from_str_name) else {
                        warn!(%dev_eui, reason = reason.description(), "queue item discarded");
                        continue;
                    };
                    Event::Log(log_event(
                        info.clone(),
                        now,
                        LogLevel::Error,
                        code,
                        reason.description(),
                        BTreeMap::from([("queue_item_id".to_owned(), discarded.id.to_string())]),
                    ))
                }
            };
            self.publish(event);
        }
    }

    async fn reject_data_uplink(
        &self,
        rejection: Rejection,
        set: &UplinkFrameSet,
        now: SystemTime,
    ) {
        let reason = &rejection.reason;
        self.counters.reject_uplink(reject_label(reason));
        let Some(device) = rejection.device.as_deref() else {
            debug!(%reason, deduplication_id = %set.deduplication_id, "data uplink rejected");
            return;
        };
        let (device, profile) = device;
        debug!(%reason, dev_eui = %device.dev_eui, "data uplink rejected");
        let Some(code) = reason.log_code().and_then(LogCode::from_str_name) else {
            return;
        };
        let Some(info) = self.device_info(device, profile).await else {
            return;
        };
        self.publish(Event::Log(log_event(
            info,
            now,
            LogLevel::Warning,
            code,
            reason.to_string(),
            BTreeMap::from([(
                "deduplication_id".to_owned(),
                set.deduplication_id.to_string(),
            )]),
        )));
    }
}

/// The metric label of a rejection reason.
fn reject_label(reason: &RejectReason) -> &'static str {
    match reason {
        RejectReason::Malformed(_) => "malformed",
        RejectReason::NotData(_) => "not_data",
        RejectReason::TxInfo(_) => "tx_info",
        RejectReason::UnknownDevAddr(_) => "unknown_dev_addr",
        RejectReason::InvalidMic(_) => "invalid_mic",
        RejectReason::RegionMismatch { .. } => "region_mismatch",
        RejectReason::Disabled => "device_disabled",
        RejectReason::FCntRetransmission { .. } => "f_cnt_retransmission",
        RejectReason::FCntReset { .. } => "f_cnt_reset",
    }
}
