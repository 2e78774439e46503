//! Tenants, applications and device profiles.

use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{Database, Encode, Type};
use uuid::Uuid;

use super::error::{Object, StorageError, db_error, touched, write_error};
use super::list::{Arg, Listing, Orders};
use super::rows::{
    ApplicationRow, DeviceProfileRow, TenantRow, application_columns, db_millis, db_time, db_u32,
    device_profile_columns, tenant_columns,
};
use super::{ListQuery, Page, Storage, execute, execute_by_key, fetch, with_pool};
use crate::model::{Application, DeviceProfile, Tenant};

/// Binds a device profile's settings, `name` to `extra`, in column order:
/// the parameters its insert and its update share.
fn bind_device_profile_settings<'q, DB>(
    query: Query<'q, DB, DB::Arguments>,
    profile: &DeviceProfile,
) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> bool: Encode<'a, DB> + Type<DB>,
    for<'a> i16: Encode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> Json<&'a crate::model::Tags>: Encode<'a, DB> + Type<DB>,
    for<'a> Json<&'a serde_json::Map<String, serde_json::Value>>: Encode<'a, DB> + Type<DB>,
{
    query
        .bind(profile.name.as_str())
        .bind(profile.region.common_name())
        .bind(profile.region_config_id.as_str())
        .bind(profile.mac_version.as_str())
        .bind(profile.reg_params_revision.name())
        .bind(profile.supports_otaa)
        .bind(profile.supports_class_b)
        .bind(profile.supports_class_c)
        .bind(profile.adr_algorithm_id.as_str())
        .bind(db_millis(profile.uplink_interval))
        .bind(db_u32(profile.device_status_req_interval))
        .bind(profile.flush_queue_on_activate)
        .bind(i16::from(profile.abp_rx1_delay))
        .bind(i16::from(profile.abp_rx1_dr_offset))
        .bind(i16::from(profile.abp_rx2_dr))
        .bind(db_u32(profile.abp_rx2_frequency))
        .bind(db_millis(profile.class_c_timeout))
        .bind(profile.description.as_str())
        .bind(Json(&profile.tags))
        .bind(Json(&profile.extra))
}

/// The sort keys of the tenant list.
const TENANT_ORDERS: Orders = Orders {
    name: "name",
    id: "id",
    last_seen: None,
    profile_name: None,
};

impl Storage {
    /// Stores a new tenant.
    ///
    /// [`StorageError::AlreadyExists`] if its id is taken.
    pub async fn create_tenant(&self, tenant: &Tenant) -> Result<(), StorageError> {
        execute!(
            self,
            "INSERT INTO tenant (id, created_at, updated_at, name, dev_addr_prefixes, \
             private_gateways_up, private_gateways_down, description, can_have_gateways, \
             max_gateway_count, max_device_count, tags) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            tenant.id,
            db_time(tenant.stamps.created_at),
            db_time(tenant.stamps.updated_at),
            &tenant.name,
            Json(&tenant.dev_addr_prefixes),
            tenant.private_gateways_up,
            tenant.private_gateways_down,
            &tenant.description,
            tenant.can_have_gateways,
            db_u32(tenant.max_gateway_count),
            db_u32(tenant.max_device_count),
            Json(&tenant.tags),
        )
        .map_err(db_error(Object::Tenant(tenant.id)))?;
        Ok(())
    }

    /// The tenant with this id.
    pub async fn get_tenant(&self, id: Uuid) -> Result<Tenant, StorageError> {
        let row: TenantRow = fetch!(
            self,
            fetch_one,
            concat!("SELECT ", tenant_columns!(), " FROM tenant WHERE id = $1"),
            id,
        )
        .map_err(db_error(Object::Tenant(id)))?;
        row.try_into()
    }

    /// Overwrites a stored tenant with `tenant` (all but its creation time).
    pub async fn update_tenant(&self, tenant: &Tenant) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::Tenant(tenant.id),
            "UPDATE tenant SET updated_at = $2, name = $3, dev_addr_prefixes = $4, \
             private_gateways_up = $5, private_gateways_down = $6, description = $7, \
             can_have_gateways = $8, max_gateway_count = $9, max_device_count = $10, \
             tags = $11 WHERE id = $1",
            tenant.id,
            db_time(tenant.stamps.updated_at),
            &tenant.name,
            Json(&tenant.dev_addr_prefixes),
            tenant.private_gateways_up,
            tenant.private_gateways_down,
            &tenant.description,
            tenant.can_have_gateways,
            db_u32(tenant.max_gateway_count),
            db_u32(tenant.max_device_count),
            Json(&tenant.tags),
        )
    }

    /// Deletes a tenant with its applications, devices, device profiles,
    /// gateways and API keys.
    pub async fn delete_tenant(&self, id: Uuid) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::Tenant(id),
            "DELETE FROM tenant WHERE id = $1",
            id
        )
    }

    /// A page of tenants: all, or with `member` those the user belongs to.
    pub async fn list_tenants(
        &self,
        query: &ListQuery,
        member: Option<Uuid>,
    ) -> Result<Page<Tenant>, StorageError> {
        let mut list = Listing::new(
            tenant_columns!(),
            "tenant",
            TENANT_ORDERS,
            Object::Table("tenant"),
        )
        .search(self.backend(), query, &["name"], &[]);
        if let Some(user_id) = member {
            list = list.filter(
                "id IN (SELECT tenant_id FROM tenant_user WHERE user_id = $?)",
                Arg::Uuid(user_id),
            );
        }
        list.run::<TenantRow>(self, query)
            .await?
            .try_map(Tenant::try_from)
    }

    /// Stores a new application.
    ///
    /// [`StorageError::NotFound`] if its tenant does not exist,
    /// [`StorageError::AlreadyExists`] if its id is taken.
    pub async fn create_application(&self, app: &Application) -> Result<(), StorageError> {
        execute!(
            self,
            "INSERT INTO application (id, tenant_id, created_at, updated_at, name, description, \
             tags) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            app.id,
            app.tenant_id,
            db_time(app.stamps.created_at),
            db_time(app.stamps.updated_at),
            &app.name,
            &app.description,
            Json(&app.tags),
        )
        .map_err(write_error(
            Object::Application(app.id),
            Object::Tenant(app.tenant_id),
        ))?;
        Ok(())
    }

    /// The application with this id.
    pub async fn get_application(&self, id: Uuid) -> Result<Application, StorageError> {
        let row: ApplicationRow = fetch!(
            self,
            fetch_one,
            concat!(
                "SELECT ",
                application_columns!(),
                " FROM application WHERE id = $1"
            ),
            id,
        )
        .map_err(db_error(Object::Application(id)))?;
        Ok(row.into())
    }

    /// Overwrites a stored application with `app` (name, description, tags;
    /// an application stays with its tenant).
    pub async fn update_application(&self, app: &Application) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::Application(app.id),
            "UPDATE application SET updated_at = $2, name = $3, description = $4, tags = $5 \
             WHERE id = $1",
            app.id,
            db_time(app.stamps.updated_at),
            &app.name,
            &app.description,
            Json(&app.tags),
        )
    }

    /// Deletes an application with its devices.
    pub async fn delete_application(&self, id: Uuid) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::Application(id),
            "DELETE FROM application WHERE id = $1",
            id
        )
    }

    /// A page of a tenant's applications.
    pub async fn list_applications(
        &self,
        tenant_id: Uuid,
        query: &ListQuery,
    ) -> Result<Page<Application>, StorageError> {
        let orders = Orders {
            name: "name",
            id: "id",
            last_seen: None,
            profile_name: None,
        };
        Listing::new(
            application_columns!(),
            "application",
            orders,
            Object::Tenant(tenant_id),
        )
        .eq("tenant_id", Arg::Uuid(tenant_id))
        .search(self.backend(), query, &["name"], &[])
        .run::<ApplicationRow>(self, query)
        .await?
        .try_map(|r| Ok(Application::from(r)))
    }

    /// Stores a new device profile.
    ///
    /// [`StorageError::NotFound`] if its tenant does not exist,
    /// [`StorageError::AlreadyExists`] if its id is taken.
    pub async fn create_device_profile(&self, profile: &DeviceProfile) -> Result<(), StorageError> {
        with_pool!(self, pool => {
            let insert = sqlx::query(
                "INSERT INTO device_profile (id, tenant_id, created_at, updated_at, name, region, \
                 region_config_id, mac_version, reg_params_revision, supports_otaa, \
                 supports_class_b, supports_class_c, adr_algorithm_id, uplink_interval_ms, \
                 device_status_req_interval, flush_queue_on_activate, abp_rx1_delay, \
                 abp_rx1_dr_offset, abp_rx2_dr, abp_rx2_frequency, class_c_timeout_ms, \
                 description, tags, extra) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                 $17, $18, $19, $20, $21, $22, $23, $24)",
            )
            .bind(profile.id)
            .bind(profile.tenant_id)
            .bind(db_time(profile.stamps.created_at))
            .bind(db_time(profile.stamps.updated_at));
            bind_device_profile_settings(insert, profile)
                .execute(pool)
                .await
                .map(|_| ())
        })
        .map_err(write_error(
            Object::DeviceProfile(profile.id),
            Object::Tenant(profile.tenant_id),
        ))?;
        Ok(())
    }

    /// The device profile with this id.
    pub async fn get_device_profile(&self, id: Uuid) -> Result<DeviceProfile, StorageError> {
        let row: DeviceProfileRow = fetch!(
            self,
            fetch_one,
            concat!(
                "SELECT ",
                device_profile_columns!(),
                " FROM device_profile dp WHERE dp.id = $1"
            ),
            id,
        )
        .map_err(db_error(Object::DeviceProfile(id)))?;
        row.try_into()
    }

    /// Overwrites a stored device profile with `profile` (all but its
    /// tenant and creation time).
    pub async fn update_device_profile(&self, profile: &DeviceProfile) -> Result<(), StorageError> {
        let now = db_time(profile.stamps.updated_at);
        let object = Object::DeviceProfile(profile.id);
        let done = with_pool!(self, pool => {
            let update = sqlx::query(
                "UPDATE device_profile SET updated_at = $2, name = $3, region = $4, \
                 region_config_id = $5, mac_version = $6, reg_params_revision = $7, \
                 supports_otaa = $8, supports_class_b = $9, supports_class_c = $10, \
                 adr_algorithm_id = $11, uplink_interval_ms = $12, \
                 device_status_req_interval = $13, flush_queue_on_activate = $14, \
                 abp_rx1_delay = $15, abp_rx1_dr_offset = $16, abp_rx2_dr = $17, \
                 abp_rx2_frequency = $18, class_c_timeout_ms = $19, description = $20, \
                 tags = $21, extra = $22 WHERE id = $1",
            )
            .bind(profile.id)
            .bind(now);
            bind_device_profile_settings(update, profile)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(db_error(object))?;
        touched(done, object)
    }

    /// Deletes a device profile with the devices that use it.
    pub async fn delete_device_profile(&self, id: Uuid) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::DeviceProfile(id),
            "DELETE FROM device_profile WHERE id = $1",
            id
        )
    }

    /// A page of a tenant's device profiles.
    pub async fn list_device_profiles(
        &self,
        tenant_id: Uuid,
        query: &ListQuery,
    ) -> Result<Page<DeviceProfile>, StorageError> {
        let orders = Orders {
            name: "dp.name",
            id: "dp.id",
            last_seen: None,
            profile_name: None,
        };
        Listing::new(
            device_profile_columns!(),
            "device_profile dp",
            orders,
            Object::Tenant(tenant_id),
        )
        .eq("dp.tenant_id", Arg::Uuid(tenant_id))
        .search(self.backend(), query, &["dp.name"], &[])
        .run::<DeviceProfileRow>(self, query)
        .await?
        .try_map(DeviceProfile::try_from)
    }

    /// A page of a tenant's device profiles, as
    /// [`list_device_profiles`](Self::list_device_profiles), only those made
    /// from the repository device model `device_id` (the `deviceId` the API
    /// keeps in [`DeviceProfile::extra`]) if one is given.
    pub async fn list_device_profiles_of_device_model(
        &self,
        tenant_id: Uuid,
        device_id: Option<&str>,
        query: &ListQuery,
    ) -> Result<Page<DeviceProfile>, StorageError> {
        let orders = Orders {
            name: "dp.name",
            id: "dp.id",
            last_seen: None,
            profile_name: None,
        };
        let mut list = Listing::new(
            device_profile_columns!(),
            "device_profile dp",
            orders,
            Object::Tenant(tenant_id),
        )
        .eq("dp.tenant_id", Arg::Uuid(tenant_id))
        .search(self.backend(), query, &["dp.name"], &[]);
        if let Some(device_id) = device_id {
            list = list.filter(
                self.dialect(
                    "json_extract(dp.extra, '$.deviceId') = $?",
                    "dp.extra->>'deviceId' = $?",
                ),
                Arg::Text(device_id.to_owned()),
            );
        }
        list.run::<DeviceProfileRow>(self, query)
            .await?
            .try_map(DeviceProfile::try_from)
    }

    /// The id and name of every device profile an application's devices
    /// use, by name.
    pub async fn application_device_profiles(
        &self,
        application_id: Uuid,
    ) -> Result<Vec<(Uuid, String)>, StorageError> {
        fetch!(
            self,
            fetch_all,
            "SELECT DISTINCT dp.id, dp.name FROM device d \
             JOIN device_profile dp ON dp.id = d.device_profile_id \
             WHERE d.application_id = $1 ORDER BY dp.name, dp.id",
            application_id,
        )
        .map_err(db_error(Object::Application(application_id)))
    }

    /// Every tag key of an application's devices with the distinct values
    /// it has, by key and value.
    pub async fn application_device_tags(
        &self,
        application_id: Uuid,
    ) -> Result<std::collections::BTreeMap<String, Vec<String>>, StorageError> {
        let pairs: Vec<(String, String)> = fetch!(
            self,
            fetch_all,
            self.dialect(
                "SELECT DISTINCT j.key, j.value FROM device d, json_each(d.tags) j \
                 WHERE d.application_id = $1 ORDER BY j.key, j.value",
                "SELECT DISTINCT t.key, t.value FROM device d, jsonb_each_text(d.tags) t \
                 WHERE d.application_id = $1 ORDER BY t.key, t.value",
            ),
            application_id,
        )
        .map_err(db_error(Object::Application(application_id)))?;
        let mut tags = std::collections::BTreeMap::<String, Vec<String>>::new();
        for (key, value) in pairs {
            tags.entry(key).or_default().push(value);
        }
        Ok(tags)
    }

    /// The DevEUI of every device of an application, with its session's
    /// DevAddr if it has one: what a cache of the radio path must forget
    /// when the application is deleted.
    pub async fn application_device_addrs(
        &self,
        application_id: Uuid,
    ) -> Result<Vec<(lorawan::Eui64, Option<lorawan::DevAddr>)>, StorageError> {
        let rows: Vec<(Vec<u8>, Option<Vec<u8>>)> = fetch!(
            self,
            fetch_all,
            "SELECT dev_eui, dev_addr FROM device WHERE application_id = $1",
            application_id,
        )
        .map_err(db_error(Object::Application(application_id)))?;
        let corrupt = |reason: &str| StorageError::Corrupt {
            object: Object::Table("device"),
            reason: reason.to_owned(),
        };
        rows.into_iter()
            .map(|(eui, addr)| {
                let eui = <[u8; 8]>::try_from(eui.as_slice())
                    .map_err(|_| corrupt("dev_eui is not 8 bytes"))?;
                let addr = addr
                    .map(|a| {
                        <[u8; 4]>::try_from(a.as_slice())
                            .map(lorawan::DevAddr::from_be_bytes)
                            .map_err(|_| corrupt("dev_addr is not 4 bytes"))
                    })
                    .transpose()?;
                Ok((lorawan::Eui64::from_be_bytes(eui), addr))
            })
            .collect()
    }
}
