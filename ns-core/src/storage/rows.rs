//! Rows as both backends return them, and their conversion to and from
//! the records of [`crate::model`].
//!
//! The column types are chosen so that one row type decodes from either
//! backend: UUIDs (`uuid` / 16-byte blob), byte strings, `bigint` for the
//! unsigned 32-bit counters, `smallint` for the byte-sized settings, times
//! as `timestamptz` / RFC 3339 text, JSON as `jsonb` / text.

use std::time::{Duration, SystemTime};

use lorawan::keys::{AppKey, NwkKey};
use lorawan::{DevAddr, Eui64};
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::types::chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::{Object, StorageError};
use crate::model::{
    Application, Device, DeviceClass, DeviceKeys, DeviceProfile, DeviceSession, Gateway,
    MacVersion, QueueItem, Stamps, Tags, Tenant,
};

/// A time as stored: UTC, to the microsecond (PostgreSQL's precision,
/// applied to SQLite too so that both return the same values).
pub(super) fn db_time(t: SystemTime) -> DateTime<Utc> {
    let t = DateTime::<Utc>::from(t);
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// The stamps of a row.
pub(super) fn stamps(created_at: DateTime<Utc>, updated_at: DateTime<Utc>) -> Stamps {
    Stamps {
        created_at: created_at.into(),
        updated_at: updated_at.into(),
    }
}

/// A stored unsigned 32-bit value (FCnt, frequency, JoinNonce).
pub(super) fn db_u32(v: u32) -> i64 {
    i64::from(v)
}

/// A stored duration, in milliseconds (saturating).
pub(super) fn db_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A stored duration, in whole seconds (saturating).
pub(super) fn db_secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// A stored EUI: its eight bytes, most significant first.
pub(super) fn db_eui(eui: Eui64) -> Vec<u8> {
    eui.to_be_bytes().to_vec()
}

/// A stored DevAddr: its four bytes, most significant first.
pub(super) fn db_dev_addr(addr: DevAddr) -> Vec<u8> {
    addr.to_be_bytes().to_vec()
}

/// The text of a device class.
pub(super) fn db_class(class: DeviceClass) -> &'static str {
    match class {
        DeviceClass::A => "A",
        DeviceClass::B => "B",
        DeviceClass::C => "C",
    }
}

/// Reads stored values back into records, naming the object on failure.
struct Reader(Object);

impl Reader {
    fn corrupt(&self, reason: impl Into<String>) -> StorageError {
        StorageError::Corrupt {
            object: self.0,
            reason: reason.into(),
        }
    }

    fn bytes<const N: usize>(&self, column: &str, v: &[u8]) -> Result<[u8; N], StorageError> {
        <[u8; N]>::try_from(v)
            .map_err(|_| self.corrupt(format!("{column} has {} bytes, not {N}", v.len())))
    }

    fn eui(&self, column: &str, v: &[u8]) -> Result<Eui64, StorageError> {
        self.bytes(column, v).map(Eui64::from_be_bytes)
    }

    fn int<T: TryFrom<i64>>(&self, column: &str, v: impl Into<i64>) -> Result<T, StorageError> {
        let v = v.into();
        T::try_from(v).map_err(|_| self.corrupt(format!("{column} = {v} is out of range")))
    }

    fn millis(&self, column: &str, v: i64) -> Result<Duration, StorageError> {
        self.int(column, v).map(Duration::from_millis)
    }

    fn parse<T: std::str::FromStr>(&self, column: &str, v: &str) -> Result<T, StorageError> {
        v.parse()
            .map_err(|_| self.corrupt(format!("{column} = {v:?} is not valid")))
    }

    fn mac_version(&self, v: &str) -> Result<MacVersion, StorageError> {
        use MacVersion::*;
        [V1_0_0, V1_0_1, V1_0_2, V1_0_3, V1_0_4, V1_1_0]
            .into_iter()
            .find(|m| m.as_str() == v)
            .ok_or_else(|| self.corrupt(format!("mac_version = {v:?} is not a MAC version")))
    }

    fn class(&self, v: &str) -> Result<DeviceClass, StorageError> {
        match v {
            "A" => Ok(DeviceClass::A),
            "B" => Ok(DeviceClass::B),
            "C" => Ok(DeviceClass::C),
            _ => Err(self.corrupt(format!("enabled_class = {v:?} is not a class"))),
        }
    }

    /// The session from its JSON text, parsed once, straight into the
    /// struct: on the cold path of an uplink (a session not in the hot
    /// copy) this parse was a third of the read when it went through a
    /// `serde_json::Value`.
    fn session(
        &self,
        v: Option<Json<Box<RawValue>>>,
    ) -> Result<Option<DeviceSession>, StorageError> {
        v.map(|Json(raw)| {
            serde_json::from_str(raw.get())
                .map_err(|e| self.corrupt(format!("device_session: {e}")))
        })
        .transpose()
    }
}

/// The columns of [`TenantRow`].
macro_rules! tenant_columns {
    () => {
        "id, created_at, updated_at, name, dev_addr_prefixes, private_gateways_up, \
         private_gateways_down, description, can_have_gateways, max_gateway_count, \
         max_device_count, tags"
    };
}
pub(super) use tenant_columns;

/// A `tenant` row.
#[derive(sqlx::FromRow)]
pub(super) struct TenantRow {
    id: Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    name: String,
    dev_addr_prefixes: Json<Vec<String>>,
    private_gateways_up: bool,
    private_gateways_down: bool,
    description: String,
    can_have_gateways: bool,
    max_gateway_count: i64,
    max_device_count: i64,
    tags: Json<Tags>,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StorageError;

    fn try_from(r: TenantRow) -> Result<Self, StorageError> {
        let read = Reader(Object::Tenant(r.id));
        let mut tenant = Self::new(r.name);
        tenant.id = r.id;
        tenant.dev_addr_prefixes = r.dev_addr_prefixes.0;
        tenant.private_gateways_up = r.private_gateways_up;
        tenant.private_gateways_down = r.private_gateways_down;
        tenant.description = r.description;
        tenant.can_have_gateways = r.can_have_gateways;
        tenant.max_gateway_count = read.int("max_gateway_count", r.max_gateway_count)?;
        tenant.max_device_count = read.int("max_device_count", r.max_device_count)?;
        tenant.tags = r.tags.0;
        tenant.stamps = stamps(r.created_at, r.updated_at);
        Ok(tenant)
    }
}

/// The columns of [`ApplicationRow`].
macro_rules! application_columns {
    () => {
        "id, tenant_id, created_at, updated_at, name, description, tags"
    };
}
pub(super) use application_columns;

/// An `application` row.
#[derive(sqlx::FromRow)]
pub(super) struct ApplicationRow {
    id: Uuid,
    tenant_id: Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    name: String,
    description: String,
    tags: Json<Tags>,
}

impl From<ApplicationRow> for Application {
    fn from(r: ApplicationRow) -> Self {
        let mut app = Self::new(r.tenant_id, r.name);
        app.id = r.id;
        app.description = r.description;
        app.tags = r.tags.0;
        app.stamps = stamps(r.created_at, r.updated_at);
        app
    }
}

/// The columns of [`DeviceProfileRow`], from `device_profile dp`; `name`
/// is `dp_name` as it would clash with the device's in a join.
macro_rules! device_profile_columns {
    () => {
        "dp.id, dp.tenant_id, dp.name AS dp_name, dp.region, dp.region_config_id, \
         dp.mac_version, dp.reg_params_revision, dp.supports_otaa, dp.supports_class_b, \
         dp.supports_class_c, dp.adr_algorithm_id, dp.uplink_interval_ms, \
         dp.device_status_req_interval, dp.flush_queue_on_activate, dp.abp_rx1_delay, \
         dp.abp_rx1_dr_offset, dp.abp_rx2_dr, dp.abp_rx2_frequency, dp.class_c_timeout_ms, \
         dp.created_at AS dp_created_at, dp.updated_at AS dp_updated_at, \
         dp.description AS dp_description, dp.tags AS dp_tags, dp.extra"
    };
}
pub(super) use device_profile_columns;

/// A `device_profile` row.
#[derive(sqlx::FromRow)]
pub(super) struct DeviceProfileRow {
    id: Uuid,
    tenant_id: Uuid,
    dp_name: String,
    region: String,
    region_config_id: String,
    mac_version: String,
    reg_params_revision: String,
    supports_otaa: bool,
    supports_class_b: bool,
    supports_class_c: bool,
    adr_algorithm_id: String,
    uplink_interval_ms: i64,
    device_status_req_interval: i64,
    flush_queue_on_activate: bool,
    abp_rx1_delay: i16,
    abp_rx1_dr_offset: i16,
    abp_rx2_dr: i16,
    abp_rx2_frequency: i64,
    class_c_timeout_ms: i64,
    dp_created_at: DateTime<Utc>,
    dp_updated_at: DateTime<Utc>,
    dp_description: String,
    dp_tags: Json<Tags>,
    extra: Json<serde_json::Map<String, serde_json::Value>>,
}

impl TryFrom<DeviceProfileRow> for DeviceProfile {
    type Error = StorageError;

    fn try_from(r: DeviceProfileRow) -> Result<Self, StorageError> {
        let read = Reader(Object::DeviceProfile(r.id));
        Ok(Self {
            id: r.id,
            tenant_id: r.tenant_id,
            name: r.dp_name,
            region: read.parse("region", &r.region)?,
            region_config_id: r.region_config_id,
            mac_version: read.mac_version(&r.mac_version)?,
            reg_params_revision: read.parse("reg_params_revision", &r.reg_params_revision)?,
            supports_otaa: r.supports_otaa,
            supports_class_b: r.supports_class_b,
            supports_class_c: r.supports_class_c,
            adr_algorithm_id: r.adr_algorithm_id,
            uplink_interval: read.millis("uplink_interval_ms", r.uplink_interval_ms)?,
            device_status_req_interval: read
                .int("device_status_req_interval", r.device_status_req_interval)?,
            flush_queue_on_activate: r.flush_queue_on_activate,
            abp_rx1_delay: read.int("abp_rx1_delay", r.abp_rx1_delay)?,
            abp_rx1_dr_offset: read.int("abp_rx1_dr_offset", r.abp_rx1_dr_offset)?,
            abp_rx2_dr: read.int("abp_rx2_dr", r.abp_rx2_dr)?,
            abp_rx2_frequency: read.int("abp_rx2_frequency", r.abp_rx2_frequency)?,
            class_c_timeout: read.millis("class_c_timeout_ms", r.class_c_timeout_ms)?,
            description: r.dp_description,
            tags: r.dp_tags.0,
            extra: r.extra.0,
            stamps: stamps(r.dp_created_at, r.dp_updated_at),
        })
    }
}

/// The columns of [`DeviceRow`], from `device d`.
macro_rules! device_columns {
    () => {
        "d.dev_eui, d.application_id, d.device_profile_id, d.name, d.join_eui, \
         d.skip_fcnt_check, d.is_disabled, d.enabled_class, d.last_seen_at, d.device_session, \
         d.created_at, d.updated_at, d.description, d.tags, d.variables"
    };
}
pub(super) use device_columns;

/// A `device` row (the session still as JSON).
#[derive(sqlx::FromRow)]
pub(super) struct DeviceRow {
    dev_eui: Vec<u8>,
    application_id: Uuid,
    device_profile_id: Uuid,
    name: String,
    join_eui: Vec<u8>,
    skip_fcnt_check: bool,
    is_disabled: bool,
    enabled_class: String,
    last_seen_at: Option<DateTime<Utc>>,
    device_session: Option<Json<Box<RawValue>>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    description: String,
    tags: Json<Tags>,
    variables: Json<Tags>,
}

impl TryFrom<DeviceRow> for Device {
    type Error = StorageError;

    fn try_from(r: DeviceRow) -> Result<Self, StorageError> {
        // The key column is read first, to name the device in later errors.
        let dev_eui = Reader(Object::Table("device")).eui("dev_eui", &r.dev_eui)?;
        let read = Reader(Object::Device(dev_eui));
        Ok(Self {
            dev_eui,
            application_id: r.application_id,
            device_profile_id: r.device_profile_id,
            name: r.name,
            join_eui: read.eui("join_eui", &r.join_eui)?,
            skip_fcnt_check: r.skip_fcnt_check,
            is_disabled: r.is_disabled,
            enabled_class: read.class(&r.enabled_class)?,
            last_seen_at: r.last_seen_at.map(SystemTime::from),
            session: read.session(r.device_session)?,
            description: r.description,
            tags: r.tags.0,
            variables: r.variables.0,
            stamps: stamps(r.created_at, r.updated_at),
        })
    }
}

/// A device with the name of its profile, as the device list shows it.
#[derive(sqlx::FromRow)]
pub(super) struct DeviceListRow {
    #[sqlx(flatten)]
    pub(super) device: DeviceRow,
    pub(super) dp_name: String,
}

/// A device joined with its profile.
#[derive(sqlx::FromRow)]
pub(super) struct DeviceAndProfileRow {
    #[sqlx(flatten)]
    device: DeviceRow,
    #[sqlx(flatten)]
    profile: DeviceProfileRow,
}

impl TryFrom<DeviceAndProfileRow> for (Device, DeviceProfile) {
    type Error = StorageError;

    fn try_from(r: DeviceAndProfileRow) -> Result<Self, StorageError> {
        Ok((r.device.try_into()?, r.profile.try_into()?))
    }
}

/// A `device_keys` row.
#[derive(sqlx::FromRow)]
pub(super) struct DeviceKeysRow {
    dev_eui: Vec<u8>,
    nwk_key: Vec<u8>,
    app_key: Vec<u8>,
    join_nonce: i64,
}

impl TryFrom<DeviceKeysRow> for DeviceKeys {
    type Error = StorageError;

    fn try_from(r: DeviceKeysRow) -> Result<Self, StorageError> {
        let dev_eui = Reader(Object::Table("device_keys")).eui("dev_eui", &r.dev_eui)?;
        let read = Reader(Object::DeviceKeys(dev_eui));
        Ok(Self {
            dev_eui,
            nwk_key: NwkKey::from_be_bytes(read.bytes("nwk_key", &r.nwk_key)?),
            app_key: AppKey::from_be_bytes(read.bytes("app_key", &r.app_key)?),
            join_nonce: read.int("join_nonce", r.join_nonce)?,
        })
    }
}

/// The columns of [`GatewayRow`].
macro_rules! gateway_columns {
    () => {
        "gateway_id, tenant_id, name, last_seen_at, latitude, longitude, altitude, created_at, \
         updated_at, description, tags, metadata, stats_interval_secs"
    };
}
pub(super) use gateway_columns;

/// A `gateway` row.
#[derive(sqlx::FromRow)]
pub(super) struct GatewayRow {
    gateway_id: Vec<u8>,
    tenant_id: Uuid,
    name: String,
    last_seen_at: Option<DateTime<Utc>>,
    latitude: f64,
    longitude: f64,
    altitude: f32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    description: String,
    tags: Json<Tags>,
    metadata: Json<Tags>,
    stats_interval_secs: i64,
}

impl TryFrom<GatewayRow> for Gateway {
    type Error = StorageError;

    fn try_from(r: GatewayRow) -> Result<Self, StorageError> {
        let read = Reader(Object::Table("gateway"));
        let mut gateway = Self::new(read.eui("gateway_id", &r.gateway_id)?, r.tenant_id, r.name);
        gateway.last_seen_at = r.last_seen_at.map(SystemTime::from);
        gateway.latitude = r.latitude;
        gateway.longitude = r.longitude;
        gateway.altitude = r.altitude;
        gateway.description = r.description;
        gateway.tags = r.tags.0;
        gateway.metadata = r.metadata.0;
        gateway.stats_interval =
            Duration::from_secs(read.int("stats_interval_secs", r.stats_interval_secs)?);
        gateway.stamps = stamps(r.created_at, r.updated_at);
        Ok(gateway)
    }
}

/// A `device_queue_item` row.
#[derive(sqlx::FromRow)]
pub(super) struct QueueItemRow {
    id: Uuid,
    dev_eui: Vec<u8>,
    created_at: DateTime<Utc>,
    f_port: i16,
    confirmed: bool,
    data: Vec<u8>,
    is_pending: bool,
    f_cnt_down: Option<i64>,
    timeout_after: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
}

impl TryFrom<QueueItemRow> for QueueItem {
    type Error = StorageError;

    fn try_from(r: QueueItemRow) -> Result<Self, StorageError> {
        let read = Reader(Object::QueueItem(r.id));
        Ok(Self {
            id: r.id,
            dev_eui: read.eui("dev_eui", &r.dev_eui)?,
            f_port: read.int("f_port", r.f_port)?,
            confirmed: r.confirmed,
            data: r.data,
            is_pending: r.is_pending,
            f_cnt_down: r
                .f_cnt_down
                .map(|v| read.int("f_cnt_down", v))
                .transpose()?,
            timeout_after: r.timeout_after.map(SystemTime::from),
            expires_at: r.expires_at.map(SystemTime::from),
            created_at: r.created_at.into(),
        })
    }
}
