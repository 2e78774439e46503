//! Gateways.

use std::time::SystemTime;

use lorawan::Eui64;
use uuid::Uuid;

use super::error::{Object, StorageError, db_error, touched, write_error};
use super::list::{Arg, Listing, Orders};
use super::rows::{GatewayRow, db_eui, db_secs, db_time, gateway_columns};
use super::{
    ListQuery, Page, Storage, execute, execute_by_key, fetch, insert_within_limit, with_pool,
};
use crate::model::{Gateway, Tags};
use sqlx::types::Json;

/// Inserts the gateway `$gateway` through `$executor` (a pool or a
/// transaction): the number of rows written, or the driver's error.
macro_rules! insert_gateway {
    ($executor:expr, $gateway:expr) => {{
        let gateway: &Gateway = $gateway;
        sqlx::query(
            "INSERT INTO gateway (gateway_id, tenant_id, created_at, updated_at, last_seen_at, \
             name, latitude, longitude, altitude, description, tags, metadata, \
             stats_interval_secs) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(db_eui(gateway.gateway_id))
        .bind(gateway.tenant_id)
        .bind(db_time(gateway.stamps.created_at))
        .bind(db_time(gateway.stamps.updated_at))
        .bind(gateway.last_seen_at.map(db_time))
        .bind(&gateway.name)
        .bind(gateway.latitude)
        .bind(gateway.longitude)
        .bind(gateway.altitude)
        .bind(&gateway.description)
        .bind(Json(&gateway.tags))
        .bind(Json(&gateway.metadata))
        .bind(db_secs(gateway.stats_interval))
        .execute($executor)
        .await
        .map(|done| done.rows_affected())
    }};
}

/// What a failed insert of `gateway` means.
fn gateway_insert_error(gateway: &Gateway) -> impl FnOnce(sqlx::Error) -> StorageError {
    write_error(
        Object::Gateway(gateway.gateway_id),
        Object::Tenant(gateway.tenant_id),
    )
}

impl Storage {
    /// Stores a new gateway.
    ///
    /// [`StorageError::NotFound`] if its tenant does not exist,
    /// [`StorageError::AlreadyExists`] if its EUI is taken.
    pub async fn create_gateway(&self, gateway: &Gateway) -> Result<(), StorageError> {
        with_pool!(self, pool => insert_gateway!(pool, gateway))
            .map(|_| ())
            .map_err(gateway_insert_error(gateway))
    }

    /// [`create_gateway`](Self::create_gateway) if the gateway's tenant has
    /// fewer than `max` gateways: counted and inserted in one transaction,
    /// so that concurrent creates cannot take the tenant past its limit.
    ///
    /// [`StorageError::Conflict`] on the tenant if it has `max` already;
    /// otherwise the errors of `create_gateway`.
    pub async fn create_gateway_within_limit(
        &self,
        gateway: &Gateway,
        max: u32,
    ) -> Result<(), StorageError> {
        insert_within_limit!(
            self,
            gateway.tenant_id,
            max,
            "max_gateway_count",
            "SELECT count(*) FROM gateway WHERE tenant_id = $1",
            |tx| insert_gateway!(&mut *tx, gateway)
        )
        .map_err(gateway_insert_error(gateway))
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

    /// Overwrites a stored gateway with `gateway`: tenant, name, location,
    /// description, tags, metadata, stats interval and `updated_at`
    /// (`last_seen_at` has its own writer,
    /// [`Self::update_gateway_from_stats`]).
    ///
    /// [`StorageError::NotFound`] if the gateway or the tenant does not
    /// exist.
    pub async fn update_gateway(&self, gateway: &Gateway) -> Result<(), StorageError> {
        let object = Object::Gateway(gateway.gateway_id);
        let done = execute!(
            self,
            "UPDATE gateway SET updated_at = $2, tenant_id = $3, name = $4, latitude = $5, \
             longitude = $6, altitude = $7, description = $8, tags = $9, metadata = $10, \
             stats_interval_secs = $11 WHERE gateway_id = $1",
            db_eui(gateway.gateway_id),
            db_time(gateway.stamps.updated_at),
            gateway.tenant_id,
            &gateway.name,
            gateway.latitude,
            gateway.longitude,
            gateway.altitude,
            &gateway.description,
            Json(&gateway.tags),
            Json(&gateway.metadata),
            db_secs(gateway.stats_interval),
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

    /// A page of gateways: a tenant's, or with `None` every tenant's.
    pub async fn list_gateways(
        &self,
        tenant_id: Option<Uuid>,
        query: &ListQuery,
    ) -> Result<Page<Gateway>, StorageError> {
        let orders = Orders {
            name: "name",
            id: "gateway_id",
            last_seen: Some("last_seen_at"),
            profile_name: None,
        };
        let mut list = Listing::new(
            gateway_columns!(),
            "gateway",
            orders,
            Object::Table("gateway"),
        )
        .search(self.backend(), query, &["name"], &["gateway_id"]);
        if let Some(id) = tenant_id {
            list = list.eq("tenant_id", Arg::Uuid(id));
        }
        list.run::<GatewayRow>(self, query)
            .await?
            .try_map(Gateway::try_from)
    }

    /// Records what a gateway's statistics say of it: heard from `at`, its
    /// `metadata` (replacing what it reported before) and, when it reports
    /// one, its position (latitude, longitude in degrees, altitude in
    /// metres).
    ///
    /// [`StorageError::NotFound`] if the gateway is not stored.
    pub async fn update_gateway_from_stats(
        &self,
        gateway_id: Eui64,
        at: SystemTime,
        metadata: &Tags,
        location: Option<(f64, f64, f32)>,
    ) -> Result<(), StorageError> {
        let object = Object::Gateway(gateway_id);
        match location {
            Some((latitude, longitude, altitude)) => execute_by_key!(
                self,
                object,
                "UPDATE gateway SET last_seen_at = $2, metadata = $3, latitude = $4, \
                 longitude = $5, altitude = $6 WHERE gateway_id = $1",
                db_eui(gateway_id),
                db_time(at),
                Json(metadata),
                latitude,
                longitude,
                altitude,
            ),
            None => execute_by_key!(
                self,
                object,
                "UPDATE gateway SET last_seen_at = $2, metadata = $3 WHERE gateway_id = $1",
                db_eui(gateway_id),
                db_time(at),
                Json(metadata),
            ),
        }
    }
}
