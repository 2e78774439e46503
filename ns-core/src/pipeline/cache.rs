//! Copies of records read on every uplink:
//! - a device's tenant and application (for the events' `DeviceInfo`) and
//!   whether a gateway exists, for [`TTL`]: a change through the storage
//!   layer shows within that time;
//! - the hot copy of the device sessions, by DevAddr: the candidates of an
//!   uplink's MIC check, kept for [`SESSION_TTL`] and updated by every
//!   session write of this pipeline. A copy made stale by another writer
//!   (another server instance, the API) is caught by the conditional
//!   update, which then fails: the pipeline drops the copy and reads the
//!   database again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lorawan::{DevAddr, Eui64};
use tokio::time::Instant;
use uuid::Uuid;

use crate::model::{Application, Device, DeviceProfile, DeviceSession, Tenant};
use crate::storage::{Storage, StorageError};

/// How long a cached record is used.
pub(super) const TTL: Duration = Duration::from_secs(10);
/// Entries kept at most per map; the map is cleared beyond.
const MAX_ENTRIES: usize = 100_000;

/// How long the session copies of a DevAddr are used without a write.
pub(super) const SESSION_TTL: Duration = Duration::from_secs(300);

/// The candidates of one DevAddr.
pub(super) type Candidates = Arc<Vec<(Device, DeviceProfile)>>;

/// The tenant and application of an application id.
pub(super) type Owner = Arc<(Tenant, Application)>;

#[derive(Debug, Default)]
pub(super) struct Cache {
    owners: Mutex<HashMap<Uuid, (Instant, Owner)>>,
    gateways: Mutex<HashMap<Eui64, (Instant, bool)>>,
    sessions: Mutex<HashMap<DevAddr, (Instant, Candidates)>>,
}

impl Cache {
    /// The tenant and application owning `application_id`.
    pub(super) async fn owner(
        &self,
        storage: &Storage,
        application_id: Uuid,
    ) -> Result<Owner, StorageError> {
        let now = Instant::now();
        if let Some(owner) = fresh(&self.owners, &application_id, now) {
            return Ok(owner);
        }
        let application = storage.get_application(application_id).await?;
        let tenant = storage.get_tenant(application.tenant_id).await?;
        let owner = Arc::new((tenant, application));
        store(&self.owners, application_id, now, Arc::clone(&owner));
        Ok(owner)
    }

    /// The devices whose session has `dev_addr`, with their profiles.
    /// `read` looks them up in storage on a miss (`None`: storage failed).
    pub(super) async fn candidates<F, Fut>(&self, dev_addr: DevAddr, read: F) -> Option<Candidates>
    where
        F: FnOnce(DevAddr) -> Fut,
        Fut: std::future::Future<Output = Option<Vec<(Device, DeviceProfile)>>>,
    {
        let now = Instant::now();
        if let Ok(map) = self.sessions.lock()
            && let Some((at, candidates)) = map.get(&dev_addr)
            && now.duration_since(*at) < SESSION_TTL
        {
            return Some(Arc::clone(candidates));
        }
        let candidates = Arc::new(read(dev_addr).await?);
        store(&self.sessions, dev_addr, now, Arc::clone(&candidates));
        Some(candidates)
    }

    /// Records a session this pipeline stored, so the next uplink sees it.
    pub(super) fn put_session(&self, dev_eui: Eui64, session: &DeviceSession) {
        let Ok(mut map) = self.sessions.lock() else {
            return;
        };
        let Some((at, candidates)) = map.get_mut(&session.dev_addr) else {
            return;
        };
        let mut updated = candidates.as_ref().clone();
        let mut found = false;
        for (device, _) in &mut updated {
            if device.dev_eui == dev_eui {
                device.session = Some(session.clone());
                found = true;
            }
        }
        if found {
            *candidates = Arc::new(updated);
            *at = Instant::now();
        } else {
            map.remove(&session.dev_addr);
        }
    }

    /// Forgets the copies of `dev_addr`: they may be stale.
    pub(super) fn invalidate(&self, dev_addr: DevAddr) {
        if let Ok(mut map) = self.sessions.lock() {
            map.remove(&dev_addr);
        }
    }

    /// Forgets every session copy (a device profile changed).
    pub(super) fn invalidate_all(&self) {
        if let Ok(mut map) = self.sessions.lock() {
            map.clear();
        }
    }

    /// Whether the gateway is in storage (a storage error counts as no).
    pub(super) async fn gateway_known(&self, storage: &Storage, gateway_id: Eui64) -> bool {
        let now = Instant::now();
        if let Some(known) = fresh(&self.gateways, &gateway_id, now) {
            return known;
        }
        let known = storage.get_gateway(gateway_id).await.is_ok();
        store(&self.gateways, gateway_id, now, known);
        known
    }
}

fn fresh<K: std::hash::Hash + Eq, V: Clone>(
    map: &Mutex<HashMap<K, (Instant, V)>>,
    key: &K,
    now: Instant,
) -> Option<V> {
    let map = map.lock().ok()?;
    let (at, value) = map.get(key)?;
    (now.duration_since(*at) < TTL).then(|| value.clone())
}

fn store<K: std::hash::Hash + Eq, V>(
    map: &Mutex<HashMap<K, (Instant, V)>>,
    key: K,
    now: Instant,
    value: V,
) {
    if let Ok(mut map) = map.lock() {
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, (now, value));
    }
}
