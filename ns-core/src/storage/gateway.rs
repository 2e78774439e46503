//! Gateways.

use std::time::SystemTime;

use lorawan::Eui64;
use uuid::Uuid;

use super::error::{Object, StorageError, db_error, write_error};
use super::rows::{GatewayRow, db_eui, db_time};
use super::tenancy::touched;
use super::{Storage, page, with_pool};
use crate::model::Gateway;

impl Storage {
    /// Stores a new gateway.
    ///
    /// [`StorageError::NotFound`] if its tenant does not exist,
    /// [`StorageError::AlreadyExists`] if its EUI is taken.
    pub async fn create_gateway(&self, gateway: &Gateway) -> Result<(), StorageError> {
        let now = db_time(SystemTime::now());
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO gateway (gateway_id, tenant_id, created_at, updated_at, last_seen_at, \
                 name, latitude, longitude, altitude) VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8)",
            )
            .bind(db_eui(gateway.gateway_id))
            .bind(gateway.tenant_id)
            .bind(now)
            .bind(gateway.last_seen_at.map(db_time))
            .bind(&gateway.name)
            .bind(gateway.latitude)
            .bind(gateway.longitude)
            .bind(gateway.altitude)
            .execute(pool)
            .await
            .map(|_| ())
        })
        .map_err(write_error(
            Object::Gateway(gateway.gateway_id),
            Object::Tenant(gateway.tenant_id),
        ))?;
        Ok(())
    }

    /// The gateway with this EUI.
    pub async fn get_gateway(&self, gateway_id: Eui64) -> Result<Gateway, StorageError> {
        let row: GatewayRow = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT gateway_id, tenant_id, name, last_seen_at, latitude, longitude, altitude \
                 FROM gateway WHERE gateway_id = $1",
            )
            .bind(db_eui(gateway_id))
            .fetch_one(pool)
            .await
        })
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
        let done = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE gateway SET updated_at = $2, tenant_id = $3, name = $4, latitude = $5, \
                 longitude = $6, altitude = $7 WHERE gateway_id = $1",
            )
            .bind(db_eui(gateway.gateway_id))
            .bind(now)
            .bind(gateway.tenant_id)
            .bind(&gateway.name)
            .bind(gateway.latitude)
            .bind(gateway.longitude)
            .bind(gateway.altitude)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(write_error(object, Object::Tenant(gateway.tenant_id)))?;
        touched(done, object)
    }

    /// Deletes a gateway.
    pub async fn delete_gateway(&self, gateway_id: Eui64) -> Result<(), StorageError> {
        let object = Object::Gateway(gateway_id);
        let done = with_pool!(self, pool => {
            sqlx::query("DELETE FROM gateway WHERE gateway_id = $1")
                .bind(db_eui(gateway_id))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(db_error(object))?;
        touched(done, object)
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
        let rows: Vec<GatewayRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT gateway_id, tenant_id, name, last_seen_at, latitude, longitude, altitude \
                 FROM gateway WHERE ($1 IS NULL OR tenant_id = $1) \
                 ORDER BY name, gateway_id LIMIT $2 OFFSET $3",
            )
            .bind(tenant_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await
        })
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
        let object = Object::Gateway(gateway_id);
        let done = with_pool!(self, pool => {
            sqlx::query("UPDATE gateway SET last_seen_at = $2 WHERE gateway_id = $1")
                .bind(db_eui(gateway_id))
                .bind(db_time(at))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(db_error(object))?;
        touched(done, object)
    }
}
