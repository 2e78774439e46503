//! Join-requests: the built-in join server's driver.

use std::collections::BTreeMap;
use std::time::Duration;

use lorawan::region::timing;
use tracing::{debug, info, warn};

use super::{PendingDownlink, PendingKind, Shared};
use crate::dedup::UplinkFrameSet;
use crate::downlink::{select_downlink_gateway, uplink_required_snr};
use crate::integration::{Event, LogCode, LogLevel, join_event, log_event};
use crate::join::{self, AcceptParams, JoinError, allocate_dev_addr};
use crate::model::DeviceGatewayRxInfo;
use crate::storage::{NonceError, StorageError};
use crate::uplink::tx_params;

impl Shared {
    pub(super) async fn handle_join_request(&self, set: UplinkFrameSet) {
        self.counters.bump(&self.counters.sets);
        let Some(region) = self.settings.regions.get(&set.region_config_id) else {
            self.counters.bump(&self.counters.unknown_region);
            return;
        };
        let repr = match join::parse_join_request(&set.phy_payload) {
            Ok(r) => r,
            Err(error) => return self.reject_join("malformed", &error),
        };
        let dev_eui = repr.dev_eui;
        let device = match self.storage.get_device(dev_eui).await {
            Ok(d) => d,
            Err(StorageError::NotFound(_)) => {
                return self.reject_join("unknown_device", &JoinError::UnknownDevice { dev_eui });
            }
            Err(error) => {
                self.counters.bump(&self.counters.storage_errors);
                warn!(%error, %dev_eui, "device not read: join-request dropped");
                return;
            }
        };
        let records = async {
            let profile = self
                .storage
                .get_device_profile(device.device_profile_id)
                .await?;
            let keys = self.storage.get_device_keys(dev_eui).await?;
            Ok::<_, StorageError>((profile, keys))
        };
        let (profile, keys) = match records.await {
            Ok(r) => r,
            Err(error) => {
                self.counters.reject_join("no_keys");
                debug!(%error, %dev_eui, "join-request of a device without keys or profile");
                return;
            }
        };
        let now = self.settings.clock.now();
        let Some(info) = self.device_info(&device, &profile).await else {
            return;
        };
        let log = |error: &dyn std::fmt::Display| {
            Event::Log(log_event(
                info.clone(),
                now,
                LogLevel::Error,
                LogCode::Otaa,
                error.to_string(),
                BTreeMap::from([(
                    "deduplication_id".to_owned(),
                    set.deduplication_id.to_string(),
                )]),
            ))
        };
        let valid = match join::validate_join_request(&set.phy_payload, &device, &profile, &keys) {
            Ok(v) => v,
            Err(error) => {
                self.reject_join(join_label(&error), &error);
                self.publish(log(&error));
                return;
            }
        };
        let join_nonce = match self
            .storage
            .record_dev_nonce(
                dev_eui,
                valid.join_eui(),
                valid.dev_nonce(),
                valid.dev_nonce_must_increase(),
            )
            .await
        {
            Ok(n) => n,
            Err(error) => {
                let label = match &error {
                    NonceError::Reused { .. } => "dev_nonce_reused",
                    NonceError::NotIncreasing { .. } => "dev_nonce_not_increasing",
                    NonceError::Storage(_) => {
                        self.counters.bump(&self.counters.storage_errors);
                        "storage"
                    }
                    _ => "join_nonce_exhausted",
                };
                self.reject_join(label, &error);
                self.publish(log(&error));
                return;
            }
        };
        let owner_prefixes = match self.cache.owner(&self.storage, device.application_id).await {
            Ok(owner) => owner.0.dev_addr_prefixes.clone(),
            Err(_) => Vec::new(),
        };
        let answer = {
            let mut rng = rand::rng();
            allocate_dev_addr(
                self.settings.net_id,
                &owner_prefixes,
                &self.settings.dev_addr_prefixes,
                &mut rng,
            )
            .map_err(|e| ("dev_addr", e.to_string()))
            .and_then(|dev_addr| {
                let required_snr = tx_params(&region.network, &set.tx_info)
                    .ok()
                    .and_then(|tx| uplink_required_snr(region.network.params, tx.dr));
                let gateway = select_downlink_gateway(
                    &set.rx_infos,
                    required_snr,
                    region.downlink.gateway_prefer_min_margin,
                    &mut rng,
                )
                .ok_or((
                    "no_gateway",
                    "no gateway reception to answer through".to_owned(),
                ))?;
                let params = AcceptParams {
                    join_nonce: join_nonce.to_u32(),
                    dev_addr,
                    net_id: self.settings.net_id,
                    network: &region.network,
                    tx_info: &set.tx_info,
                    rx_info: gateway.rx_info,
                    options: region.join,
                };
                join::accept(&valid, &device, &profile, &keys, &params, &mut rng)
                    .map(|accepted| (dev_addr, accepted))
                    .map_err(|e| (join_label(&e), e.to_string()))
            })
        };
        let uplink_dr = tx_params(&region.network, &set.tx_info)
            .ok()
            .map(|tx| tx.dr);
        let (dev_addr, accepted) = match answer {
            Ok(a) => a,
            Err((label, error)) => {
                self.reject_join(label, &error);
                self.publish(log(&error));
                return;
            }
        };
        let old_dev_addr = device.session.as_ref().map(|s| s.dev_addr);
        let mut device = device;
        device.join_eui = valid.join_eui();
        device.session = Some(accepted.session.clone());
        device.enabled_class = profile.class_at_activation();
        let stored = async {
            self.storage.update_device(&device).await?;
            self.storage
                .set_session(dev_eui, Some(&accepted.session))
                .await?;
            if profile.flush_queue_on_activate {
                self.storage.flush_queue(dev_eui).await?;
            }
            // A device that may run class C gets its class C downlinks
            // through the gateways that heard the join-request, once the
            // join-accept's last window has passed and the class A lock
            // after it: no data uplink needed first.
            if let (true, Some(dr)) = (profile.supports_class_c, uplink_dr) {
                let rx_info = DeviceGatewayRxInfo::from_rx_infos(
                    set.region_config_id.clone(),
                    dr,
                    &set.rx_infos,
                );
                let run_after = now
                    + Duration::from_secs(timing::JOIN_ACCEPT_DELAY2.into())
                    + self.settings.scheduler.class_a_lock_duration;
                self.storage
                    .set_gateway_rx_info(dev_eui, &rx_info, run_after)
                    .await?;
            }
            Ok::<_, StorageError>(())
        };
        if let Err(error) = stored.await {
            self.counters.bump(&self.counters.storage_errors);
            warn!(%error, %dev_eui, "join not stored: no join-accept");
            return;
        }
        self.cache.invalidate(dev_addr);
        if let Some(old) = old_dev_addr {
            self.cache.invalidate(old);
        }
        self.counters.bump(&self.counters.joins_accepted);
        info!(%dev_eui, %dev_addr, "device joined");
        let downlink_id = accepted.downlink.downlink_id;
        self.remember(
            downlink_id,
            PendingDownlink {
                kind: PendingKind::JoinAccept { dev_eui },
                device_info: info.clone(),
                sent_at: tokio::time::Instant::now(),
            },
        )
        .await;
        self.log_frame(super::FrameLog::Uplink {
            set: &set,
            dev_eui: Some(dev_eui),
        });
        if !self.send(&set.region_config_id, &accepted.downlink, Some(dev_eui)) {
            self.forget(downlink_id).await;
        }
        self.publish(Event::Join(join_event(
            info,
            set.deduplication_id,
            now,
            dev_addr,
            &set.region_config_id,
        )));
    }

    fn reject_join(&self, label: &'static str, error: &dyn std::fmt::Display) {
        self.counters.reject_join(label);
        debug!(%error, "join-request rejected");
    }
}

fn join_label(error: &JoinError) -> &'static str {
    match error {
        JoinError::MalformedFrame(_) => "malformed",
        JoinError::UnknownDevice { .. } => "unknown_device",
        JoinError::DeviceDisabled { .. } => "device_disabled",
        JoinError::OtaaNotSupported { .. } => "otaa_not_supported",
        JoinError::JoinEuiMismatch { .. } => "join_eui_mismatch",
        JoinError::InvalidMic { .. } => "invalid_mic",
        JoinError::DevNonceReused { .. } => "dev_nonce_reused",
        JoinError::DevNonceNotIncreasing { .. } => "dev_nonce_not_increasing",
        JoinError::RegionMismatch { .. } => "region_mismatch",
        _ => "other",
    }
}
