//! Application downlinks: what an application sends to its devices,
//! enqueued through the server's API while a simulation runs, and matched
//! to what the devices receive ([`Progress::downlinks`]).
//!
//! Each joined device gets a downlink every [`DownlinkPlan::interval`],
//! the devices' turns spread evenly over it. The payload is a sequence
//! number unique in the run (4 bytes, big-endian), so each reception names
//! its downlink; the latency runs from the API call to the reception. A
//! class A device receives its downlinks after its next uplink; a class C
//! device as soon as the server schedules them.

use std::time::Duration;

use lorawan::Eui64;
use serde::Deserialize;
use tokio::time::Instant;

use crate::provision::ApiClient;
use crate::sim::Progress;

/// What the application sends.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct DownlinkPlan {
    /// Between two downlinks to one device.
    #[serde(deserialize_with = "config_text::duration")]
    pub interval: Duration,
    /// Their FPort (1 to 223).
    pub f_port: u8,
    /// Whether the devices must acknowledge them.
    pub confirmed: bool,
}

impl Default for DownlinkPlan {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            f_port: 10,
            confirmed: false,
        }
    }
}

impl DownlinkPlan {
    /// Why the plan cannot run, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.interval < Duration::from_millis(100) {
            return Err("downlinks.interval: at least 100 ms".into());
        }
        if !(1..=223).contains(&self.f_port) {
            return Err(format!(
                "downlinks.f_port: {} is not an application FPort (1 to 223)",
                self.f_port
            ));
        }
        Ok(())
    }
}

/// What the application did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enqueued {
    /// Downlinks the server queued.
    pub queued: u64,
    /// Calls the server refused.
    pub refused: u64,
}

/// Enqueues `plan`'s downlinks for `devices` (device `i` of the run is
/// `devices[i]`) through `client` until `until`, recording each in
/// `progress`.
pub async fn enqueue(
    client: &ApiClient,
    devices: &[Eui64],
    plan: &DownlinkPlan,
    progress: &Progress,
    until: Instant,
) -> Enqueued {
    let mut done = Enqueued::default();
    if devices.is_empty() {
        return done;
    }
    let n = u32::try_from(devices.len()).unwrap_or(u32::MAX);
    let mut turns = tokio::time::interval(plan.interval / n);
    turns.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq: u32 = 0;
    for index in (0..devices.len()).cycle() {
        turns.tick().await;
        if Instant::now() >= until {
            break;
        }
        if !progress.is_joined(index) {
            continue;
        }
        let payload = seq.to_be_bytes().to_vec();
        seq = seq.wrapping_add(1);
        // Recorded first: the device may hear it before the call returns.
        progress.downlink_enqueued(devices[index], &payload, Instant::now());
        let dev_eui = devices[index];
        match client
            .enqueue(dev_eui, plan.f_port, plan.confirmed, payload.clone())
            .await
        {
            Ok(_) => done.queued += 1,
            Err(_) => {
                progress.downlink_refused(dev_eui, &payload);
                done.refused += 1;
            }
        }
    }
    done
}
