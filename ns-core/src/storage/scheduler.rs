//! What the class C downlink scheduler reads and writes: the devices due a
//! downlink, their lease (`scheduler_run_after`) and the gateways that heard
//! them last.

use std::time::SystemTime;

use lorawan::Eui64;
use sqlx::types::Json;

use super::error::{Object, StorageError, db_error};
use super::rows::{DeviceAndProfileRow, db_eui, db_time, device_columns, device_profile_columns};
use super::{Storage, execute_by_key, fetch, with_pool};
use crate::model::{Device, DeviceGatewayRxInfo, DeviceProfile};

/// The `SELECT` of the devices [`Storage::claim_class_c_devices`] claims:
/// `$1` now, `$3` the limit.
macro_rules! claim_candidates {
    () => {
        "SELECT d.dev_eui FROM device d \
         WHERE d.enabled_class = 'C' AND NOT d.is_disabled AND d.device_session IS NOT NULL \
         AND (d.scheduler_run_after IS NULL OR d.scheduler_run_after <= $1) \
         AND EXISTS (SELECT 1 FROM device_queue_item q WHERE q.dev_eui = d.dev_eui) \
         AND NOT EXISTS (SELECT 1 FROM device_queue_item q WHERE q.dev_eui = d.dev_eui \
         AND q.is_pending AND q.timeout_after > $1) \
         ORDER BY d.scheduler_run_after NULLS FIRST, d.dev_eui LIMIT $3"
    };
}

/// A device the scheduler claimed, with what its downlink needs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ScheduledDevice {
    /// The device, with its session.
    pub device: Device,
    /// Its profile.
    pub profile: DeviceProfile,
    /// The gateways that heard its last uplink; `None` before its first.
    pub gateway_rx_info: Option<DeviceGatewayRxInfo>,
}

/// A device joined with its profile and its rx-info set.
#[derive(sqlx::FromRow)]
struct ScheduledRow {
    #[sqlx(flatten)]
    device: DeviceAndProfileRow,
    gateway_rx_info: Option<Json<serde_json::Value>>,
}

impl Storage {
    /// Claims up to `limit` class C devices due a downlink at `now`, and
    /// leases them until `lease_until`, in one statement: enabled devices
    /// with a session, `enabled_class` C, a `scheduler_run_after` that is
    /// unset or not after `now`, at least one queue item, and no pending
    /// confirmed item still waiting for its ACK (`timeout_after` after
    /// `now`). The longest waiting first.
    ///
    /// The lease is how several server instances share the scheduler: a
    /// device one claimed is not due again, for any, until the lease ends
    /// (PostgreSQL: `FOR UPDATE SKIP LOCKED` in the same statement, so two
    /// concurrent claims never return the same device; SQLite: the
    /// statement holds the database's write lock).
    pub async fn claim_class_c_devices(
        &self,
        now: SystemTime,
        lease_until: SystemTime,
        limit: usize,
    ) -> Result<Vec<Eui64>, StorageError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let sql = self.dialect(
            concat!(
                "UPDATE device SET scheduler_run_after = $2 WHERE dev_eui IN (",
                claim_candidates!(),
                ") RETURNING dev_eui"
            ),
            concat!(
                "UPDATE device SET scheduler_run_after = $2 WHERE dev_eui IN (",
                claim_candidates!(),
                " FOR UPDATE SKIP LOCKED) RETURNING dev_eui"
            ),
        );
        let rows: Vec<(Vec<u8>,)> = fetch!(
            self,
            fetch_all,
            sql,
            db_time(now),
            db_time(lease_until),
            i64::try_from(limit).unwrap_or(i64::MAX),
        )
        .map_err(db_error(Object::Table("device")))?;
        rows.into_iter()
            .map(|(eui,)| {
                <[u8; 8]>::try_from(eui.as_slice())
                    .map(Eui64::from_be_bytes)
                    .map_err(|_| StorageError::Corrupt {
                        object: Object::Table("device"),
                        reason: format!("dev_eui has {} bytes, not 8", eui.len()),
                    })
            })
            .collect()
    }

    /// Sets a device's `scheduler_run_after`: the scheduler leaves it alone
    /// until `at` (after a class C downlink, the class C lock).
    pub async fn set_scheduler_run_after(
        &self,
        dev_eui: Eui64,
        at: SystemTime,
    ) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::Device(dev_eui),
            "UPDATE device SET scheduler_run_after = $2 WHERE dev_eui = $1",
            db_eui(dev_eui),
            db_time(at),
        )
    }

    /// Stores the gateways that heard a device and its
    /// `scheduler_run_after`: what the class C scheduler needs of a device
    /// that has just joined, before its first data uplink.
    pub async fn set_gateway_rx_info(
        &self,
        dev_eui: Eui64,
        rx_info: &DeviceGatewayRxInfo,
        run_after: SystemTime,
    ) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::Device(dev_eui),
            "UPDATE device SET gateway_rx_info = $2, scheduler_run_after = $3 WHERE dev_eui = $1",
            db_eui(dev_eui),
            Json(rx_info),
            db_time(run_after),
        )
    }

    /// A device's `scheduler_run_after`.
    pub async fn scheduler_run_after(
        &self,
        dev_eui: Eui64,
    ) -> Result<Option<SystemTime>, StorageError> {
        let (at,): (Option<sqlx::types::chrono::DateTime<sqlx::types::chrono::Utc>>,) = fetch!(
            self,
            fetch_one,
            "SELECT scheduler_run_after FROM device WHERE dev_eui = $1",
            db_eui(dev_eui),
        )
        .map_err(db_error(Object::Device(dev_eui)))?;
        Ok(at.map(SystemTime::from))
    }

    /// The gateways that heard a device's last uplink (`None` before its
    /// first uplink).
    pub async fn device_gateway_rx_info(
        &self,
        dev_eui: Eui64,
    ) -> Result<Option<DeviceGatewayRxInfo>, StorageError> {
        let (v,): (Option<Json<serde_json::Value>>,) = fetch!(
            self,
            fetch_one,
            "SELECT gateway_rx_info FROM device WHERE dev_eui = $1",
            db_eui(dev_eui),
        )
        .map_err(db_error(Object::Device(dev_eui)))?;
        rx_info(Object::Device(dev_eui), v)
    }

    /// The devices `dev_euis` (those that exist), each with its profile and
    /// its rx-info set, in one query: what the scheduler plans with.
    pub async fn scheduled_devices(
        &self,
        dev_euis: &[Eui64],
    ) -> Result<Vec<ScheduledDevice>, StorageError> {
        if dev_euis.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = self.placeholders(dev_euis.len());
        let sql = format!(
            "SELECT {}, {}, d.gateway_rx_info FROM device d \
             JOIN device_profile dp ON dp.id = d.device_profile_id \
             WHERE d.dev_eui IN ({placeholders}) ORDER BY d.dev_eui",
            device_columns!(),
            device_profile_columns!()
        );
        let rows: Vec<ScheduledRow> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
            for eui in dev_euis {
                query = query.bind(db_eui(*eui));
            }
            query.fetch_all(pool).await
        })
        .map_err(db_error(Object::Table("device")))?;
        rows.into_iter()
            .map(|row| {
                let (device, profile): (Device, DeviceProfile) = row.device.try_into()?;
                let gateway_rx_info = rx_info(Object::Device(device.dev_eui), row.gateway_rx_info)?;
                Ok(ScheduledDevice {
                    device,
                    profile,
                    gateway_rx_info,
                })
            })
            .collect()
    }
}

/// A stored rx-info set.
fn rx_info(
    object: Object,
    v: Option<Json<serde_json::Value>>,
) -> Result<Option<DeviceGatewayRxInfo>, StorageError> {
    v.map(|Json(v)| {
        serde_json::from_value(v).map_err(|e| StorageError::Corrupt {
            object,
            reason: format!("gateway_rx_info: {e}"),
        })
    })
    .transpose()
}
