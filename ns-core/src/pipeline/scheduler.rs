//! The class C scheduler: queue items of class C devices go out at once,
//! without waiting for an uplink.
//!
//! Every `network.scheduler.interval` (and at once when an item is
//! enqueued), one statement claims up to `batch_size` class C devices due
//! a downlink and leases them for two intervals
//! ([`Storage::claim_class_c_devices`](crate::storage::Storage::claim_class_c_devices)),
//! so that several server instances sharing the database run the scheduler
//! side by side without sending an item twice. Each claimed device gets
//! its plan ([`downlink::class_c_downlink`]); the frame goes through the
//! gateway backend of the region its last uplink came in under, and its TX
//! ack is handled as a class A one (counters advanced only on an OK, the
//! item deleted or made pending, `txack` event). A downlink sent moves the
//! device's `scheduler_run_after` to `class_c_lock_duration` from now.

use std::sync::Arc;

use tokio::sync::Notify;
use tracing::{debug, warn};
use uuid::Uuid;

use super::Shared;
use crate::downlink::{self, ClassCRequest};
use crate::storage::ScheduledDevice;

/// The scheduler task: a batch every interval, or when woken.
pub(super) async fn run(shared: Arc<Shared>, wake: Arc<Notify>) {
    let interval = shared.settings.scheduler.interval;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = wake.notified() => {}
        }
        shared.schedule_class_c_batch().await;
    }
}

impl Shared {
    /// Claims a batch of class C devices due a downlink and sends each its
    /// next queue item.
    async fn schedule_class_c_batch(&self) {
        let scheduler = &self.settings.scheduler;
        let now = self.settings.clock.now();
        // Two intervals: long enough for this batch to be planned and sent
        // before another instance's next run could claim the devices again.
        let lease_until = now + scheduler.interval * 2;
        let claimed = match self
            .storage
            .claim_class_c_devices(now, lease_until, scheduler.batch_size)
            .await
        {
            Ok(c) => c,
            Err(error) => {
                self.counters.bump(&self.counters.storage_errors);
                self.counters.bump(&self.counters.scheduler_errors);
                warn!(%error, "class C devices not claimed");
                return;
            }
        };
        if claimed.is_empty() {
            return;
        }
        self.counters
            .add(&self.counters.scheduler_devices_claimed, claimed.len());
        let (devices, mut queues) = match tokio::try_join!(
            self.storage.scheduled_devices(&claimed),
            self.storage.list_queue_items_of(&claimed),
        ) {
            Ok(read) => read,
            Err(error) => {
                self.counters.bump(&self.counters.storage_errors);
                self.counters.bump(&self.counters.scheduler_errors);
                warn!(%error, devices = claimed.len(), "claimed class C devices not read");
                return;
            }
        };
        let sends = devices.into_iter().map(|device| {
            let queue = queues.remove(&device.device.dev_eui).unwrap_or_default();
            self.class_c_downlink(device, queue)
        });
        futures_util::future::join_all(sends).await;
    }

    /// Plans and sends one claimed device's next queue item.
    async fn class_c_downlink(
        &self,
        scheduled: ScheduledDevice,
        queue: Vec<crate::model::QueueItem>,
    ) {
        let ScheduledDevice {
            device,
            profile,
            gateway_rx_info,
        } = scheduled;
        let dev_eui = device.dev_eui;
        let Some(session) = device.session.as_ref() else {
            return;
        };
        let Some(gateways) = gateway_rx_info else {
            // ChirpStack's rule too: the gateway comes from an uplink.
            self.counters.bump(&self.counters.scheduler_errors);
            debug!(%dev_eui, "class C device has sent no uplink yet: no gateway to send through");
            return;
        };
        let Some(region) = self.settings.regions.get(&session.region_config_id) else {
            self.counters.bump(&self.counters.scheduler_errors);
            warn!(%dev_eui, region_config_id = session.region_config_id, "class C device of a region not enabled");
            return;
        };
        let Some(info) = self.device_info(&device, &profile).await else {
            self.counters.bump(&self.counters.scheduler_errors);
            return;
        };
        let now = self.settings.clock.now();
        let request = ClassCRequest {
            dev_eui,
            session,
            profile: &profile,
            network: &region.network,
            settings: &region.downlink,
            gateways: &gateways,
            queue: &queue,
        };
        let response = match downlink::class_c_downlink(now, &request, &mut rand::rng()) {
            Ok(r) => r,
            Err(error) => {
                self.counters.bump(&self.counters.scheduler_errors);
                self.counters.bump(&self.counters.downlink_errors);
                warn!(%error, %dev_eui, "class C downlink not planned");
                return;
            }
        };
        // No uplink: the events of dropped items carry no deduplication id.
        self.drop_discarded(dev_eui, &info, Uuid::nil(), now, &response.discarded)
            .await;
        let Some(plan) = response.plan else {
            return;
        };
        if !self
            .send_data_downlink(&gateways.region_config_id, plan, info, dev_eui)
            .await
        {
            self.counters.bump(&self.counters.scheduler_errors);
            return;
        }
        self.counters.bump(&self.counters.scheduler_downlinks_sent);
        let lock_until = now + self.settings.scheduler.class_c_lock_duration;
        if let Err(error) = self
            .storage
            .set_scheduler_run_after(dev_eui, lock_until)
            .await
        {
            // The claim's lease still holds for two intervals.
            warn!(%error, %dev_eui, "class C lock not stored");
        }
    }
}
