//! Gateways.

use std::time::SystemTime;

use lorawan::Eui64;
use uuid::Uuid;

use super::error::{Object, StorageError, db_error, touched, write_error};
use super::rows::{GatewayRow, db_eui, db_time, gateway_columns};
use super::{Storage, execute, execute_by_key, fetch, page};
use crate::model::Gateway;

impl Storage {
    /// Stores a new gateway.
    ///
    /// [`StorageError::NotFound`] if its tenant does not exist,
    /// [`StorageError::AlreadyExists`] if its EUI is taken.
    pub async fn create_gateway(&self, gateway: &Gateway) -> Result<(), StorageError> {
        let now = db_time(SystemTime::now());
        execute!(
            self,
            "INSERT INTO gateway (gateway_id, tenant_id, created_at, updated_at, last_seen_at, \
             name, latitude, longitude, altitude) VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8)",
            db_eui(gateway.gateway_id),
            gateway.tenant_id,
            now,
            gateway.last_seen_at.map(db_time),
            &gateway.name,
            gateway.latitude,
            gateway.longitude,
            gateway.altitude,
        )
        .map_err(write_error(
            Object::Gateway(gateway.gateway_id),
            Object::Tenant(gateway.tenant_id),
        ))?;
        Ok(())
    }

    /// The gateway with this EUI.
    pub async fn get_gateway(&self, gateway_id: Eui64) -> Result<Gateway, StorageError> {
        let row: GatewayRow = fetch!(
            self,
            fetch_one,
            concat!(
                "SELECT ",
                gateway_columns!(),
                " FROM gateway WHERE gateway_id = $1"
            ),
            db_eui(gateway_id),
        )
        .map_err(db_error(Object::Gateway(gateway_id)))?;
        row.try_into()
    }

    /// Overwrites a stored gateway with `gateway`: tenant, name and
    /// location (`last_seen_at` has its own writer,
    /// [`Self::update_gateway_last_seen`]).
    ///
    /// [`StorageError::NotFound`] if the gateway or the tenant does not
    /// exist.
    pub async fn update_gateway(&self, gateway: &Gateway) -> Result<(), StorageError> {
        let now = db_time(SystemTime::now());
        let object = Object::Gateway(gateway.gateway_id);
        let done = execute!(
            self,
            "UPDATE gateway SET updated_at = $2, tenant_id = $3, name = $4, latitude = $5, \
             longitude = $6, altitude = $7 WHERE gateway_id = $1",
            db_eui(gateway.gateway_id),
            now,
            gateway.tenant_id,
            &gateway.name,
            gateway.latitude,
            gateway.longitude,
            gateway.altitude,
        )
        .map_err(write_error(object, Object::Tenant(gateway.tenant_id)))?;
        touched(done, object)
    }

    /// Deletes a gateway.
    pub async fn delete_gateway(&self, gateway_id: Eui64) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::Gateway(gateway_id),
            "DELETE FROM gateway WHERE gateway_id = $1",
            db_eui(gateway_id),
        )
    }

    /// At most `limit` gateways from the `offset`th, by name: a tenant's,
    /// or with `None` every tenant's.
    pub async fn list_gateways(
        &self,
        tenant_id: Option<Uuid>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<Gateway>, StorageError> {
        let (limit, offset) = page(limit, offset);
        let rows: Vec<GatewayRow> = fetch!(
            self,
            fetch_all,
            concat!(
                "SELECT ",
                gateway_columns!(),
                " FROM gateway WHERE ($1 IS NULL OR tenant_id = $1) \
                 ORDER BY name, gateway_id LIMIT $2 OFFSET $3"
            ),
            tenant_id,
            limit,
            offset,
        )
        .map_err(db_error(Object::Table("gateway")))?;
        rows.into_iter().map(Gateway::try_from).collect()
    }

    /// Records when a gateway was last heard from (an uplink or its
    /// statistics).
    pub async fn update_gateway_last_seen(
        &self,
        gateway_id: Eui64,
        at: SystemTime,
    ) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::Gateway(gateway_id),
            "UPDATE gateway SET last_seen_at = $2 WHERE gateway_id = $1",
            db_eui(gateway_id),
            db_time(at),
        )
    }
}
