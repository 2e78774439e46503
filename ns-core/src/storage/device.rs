//! Devices, their sessions, root keys and DevNonces.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use lorawan::{DevAddr, DevNonce, Eui64, JoinNonce};
use sqlx::types::Json;
use sqlx::types::chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::{
    NonceError, Object, StorageError, db_error, is_foreign_key_violation, touched, write_error,
};
use super::list::{Arg, Listing, Orders};
use super::rows::{
    DeviceAndProfileRow, DeviceKeysRow, DeviceListRow, DeviceRow, db_class, db_dev_addr, db_eui,
    db_time, db_u32, device_columns, device_profile_columns,
};
use super::{
    ListQuery, Page, Storage, execute, execute_by_key, fetch, insert_within_limit, with_pool,
};
use crate::model::{Device, DeviceGatewayRxInfo, DeviceKeys, DeviceProfile, DeviceSession};

/// The highest JoinNonce (24 bits).
const JOIN_NONCE_MAX: u32 = 0xff_ffff;

/// The `dev_addr`, `f_cnt_up` and `device_session` columns of a session.
fn session_columns(
    session: Option<&DeviceSession>,
) -> (Option<Vec<u8>>, i64, Option<Json<&DeviceSession>>) {
    match session {
        Some(s) => (
            Some(db_dev_addr(s.dev_addr)),
            db_u32(s.f_cnt_up),
            Some(Json(s)),
        ),
        None => (None, 0, None),
    }
}

/// One conditional session update of
/// [`Storage::update_sessions_if_fcnt`].
#[derive(Debug, Clone, Copy)]
pub struct SessionUpdate<'a> {
    /// The device.
    pub dev_eui: Eui64,
    /// The `f_cnt_up` the session was read with.
    pub expected_f_cnt_up: u32,
    /// The session to store (its `dev_addr` must still be the stored one).
    pub session: &'a DeviceSession,
    /// The device's new `last_seen_at`, if any.
    pub seen_at: Option<SystemTime>,
    /// The gateways that heard the uplink, if any: the class C scheduler's
    /// downlink path. `None` keeps the stored set.
    pub gateway_rx_info: Option<&'a DeviceGatewayRxInfo>,
    /// A new `scheduler_run_after` (the class A lock), if any. `None`
    /// keeps the stored one.
    pub scheduler_run_after: Option<SystemTime>,
}

impl<'a> SessionUpdate<'a> {
    /// An update of `dev_eui`'s session read with `expected_f_cnt_up`,
    /// changing nothing else.
    pub fn new(dev_eui: Eui64, expected_f_cnt_up: u32, session: &'a DeviceSession) -> Self {
        Self {
            dev_eui,
            expected_f_cnt_up,
            session,
            seen_at: None,
            gateway_rx_info: None,
            scheduler_run_after: None,
        }
    }
}

/// Inserts the device `$device` through `$executor` (a pool or a
/// transaction): the number of rows written, or the driver's error.
macro_rules! insert_device {
    ($executor:expr, $device:expr) => {{
        let device: &Device = $device;
        let (dev_addr, f_cnt_up, session) = session_columns(device.session.as_ref());
        sqlx::query(
            "INSERT INTO device (dev_eui, application_id, device_profile_id, created_at, \
             updated_at, last_seen_at, name, join_eui, skip_fcnt_check, is_disabled, \
             enabled_class, dev_addr, f_cnt_up, device_session, description, tags, variables) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(db_eui(device.dev_eui))
        .bind(device.application_id)
        .bind(device.device_profile_id)
        .bind(db_time(device.stamps.created_at))
        .bind(db_time(device.stamps.updated_at))
        .bind(device.last_seen_at.map(db_time))
        .bind(&device.name)
        .bind(db_eui(device.join_eui))
        .bind(device.skip_fcnt_check)
        .bind(device.is_disabled)
        .bind(db_class(device.enabled_class))
        .bind(dev_addr)
        .bind(f_cnt_up)
        .bind(session)
        .bind(&device.description)
        .bind(Json(&device.tags))
        .bind(Json(&device.variables))
        .execute($executor)
        .await
        .map(|done| done.rows_affected())
    }};
}

impl Storage {
    /// Stores a new device, with its session if it has one (ABP).
    ///
    /// [`StorageError::NotFound`] if its application or device profile
    /// does not exist, [`StorageError::AlreadyExists`] if its DevEUI is
    /// taken.
    pub async fn create_device(&self, device: &Device) -> Result<(), StorageError> {
        let result = with_pool!(self, pool => insert_device!(pool, device));
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(self.device_insert_error(e, device).await),
        }
    }

    /// [`create_device`](Self::create_device) if the device's tenant,
    /// `tenant_id`, has fewer than `max` devices: counted and inserted in
    /// one transaction, so that concurrent creates cannot take the tenant
    /// past its limit.
    ///
    /// [`StorageError::Conflict`] on the tenant if it has `max` already;
    /// otherwise the errors of `create_device`.
    pub async fn create_device_within_limit(
        &self,
        device: &Device,
        tenant_id: Uuid,
        max: u32,
    ) -> Result<(), StorageError> {
        let inserted = insert_within_limit!(
            self,
            tenant_id,
            max,
            "max_device_count",
            "SELECT count(*) FROM device d JOIN application a ON a.id = d.application_id \
             WHERE a.tenant_id = $1",
            |tx| insert_device!(&mut *tx, device)
        );
        match inserted {
            Ok(()) => Ok(()),
            Err(e) => Err(self.device_insert_error(e, device).await),
        }
    }

    /// What a failed insert of `device` means.
    async fn device_insert_error(&self, error: sqlx::Error, device: &Device) -> StorageError {
        if !is_foreign_key_violation(&error) {
            return db_error(Object::Device(device.dev_eui))(error);
        }
        // Two references: find out which one is missing.
        match self.get_application(device.application_id).await {
            Ok(_) => StorageError::NotFound(Object::DeviceProfile(device.device_profile_id)),
            Err(StorageError::NotFound(app)) => StorageError::NotFound(app),
            Err(e) => e,
        }
    }

    /// The device with this DevEUI, with its session.
    pub async fn get_device(&self, dev_eui: Eui64) -> Result<Device, StorageError> {
        let row: DeviceRow = fetch!(
            self,
            fetch_one,
            concat!(
                "SELECT ",
                device_columns!(),
                " FROM device d WHERE d.dev_eui = $1"
            ),
            db_eui(dev_eui),
        )
        .map_err(db_error(Object::Device(dev_eui)))?;
        row.try_into()
    }

    /// Overwrites a stored device's settings with `device`'s: device
    /// profile, name, JoinEUI, `skip_fcnt_check`, `is_disabled`,
    /// `enabled_class`, description, tags, variables and `updated_at`.
    ///
    /// The application, `last_seen_at` and the session are left alone: they
    /// have writers of their own ([`Self::set_session`],
    /// [`Self::update_session_if_fcnt`], [`Self::update_device_last_seen`]),
    /// which an operator's edit must not undo.
    pub async fn update_device(&self, device: &Device) -> Result<(), StorageError> {
        let object = Object::Device(device.dev_eui);
        let done = execute!(
            self,
            "UPDATE device SET updated_at = $2, device_profile_id = $3, name = $4, \
             join_eui = $5, skip_fcnt_check = $6, is_disabled = $7, enabled_class = $8, \
             description = $9, tags = $10, variables = $11 WHERE dev_eui = $1",
            db_eui(device.dev_eui),
            db_time(device.stamps.updated_at),
            device.device_profile_id,
            &device.name,
            db_eui(device.join_eui),
            device.skip_fcnt_check,
            device.is_disabled,
            db_class(device.enabled_class),
            &device.description,
            Json(&device.tags),
            Json(&device.variables),
        )
        .map_err(write_error(
            object,
            Object::DeviceProfile(device.device_profile_id),
        ))?;
        touched(done, object)
    }

    /// Deletes a device with its keys, DevNonces and queue.
    pub async fn delete_device(&self, dev_eui: Eui64) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::Device(dev_eui),
            "DELETE FROM device WHERE dev_eui = $1",
            db_eui(dev_eui),
        )
    }

    /// A page of an application's devices (optionally only those of one
    /// device profile), each with the name of its profile.
    pub async fn list_devices(
        &self,
        application_id: Uuid,
        device_profile_id: Option<Uuid>,
        query: &ListQuery,
    ) -> Result<Page<(Device, String)>, StorageError> {
        let orders = Orders {
            name: "d.name",
            id: "d.dev_eui",
            last_seen: Some("d.last_seen_at"),
            profile_name: Some("dp.name"),
        };
        let mut list = Listing::new(
            concat!(device_columns!(), ", dp.name AS dp_name"),
            "device d JOIN device_profile dp ON dp.id = d.device_profile_id",
            orders,
            Object::Application(application_id),
        )
        .narrow("device d")
        .eq("d.application_id", Arg::Uuid(application_id))
        .search(self.backend(), query, &["d.name"], &["d.dev_eui"]);
        if let Some(id) = device_profile_id {
            list = list.eq("d.device_profile_id", Arg::Uuid(id));
        }
        list.run::<DeviceListRow>(self, query)
            .await?
            .try_map(|r| Ok((Device::try_from(r.device)?, r.dp_name)))
    }

    /// The enabled devices whose session has this DevAddr, each with its
    /// profile: the candidates an uplink's MIC is checked against.
    pub async fn devices_by_dev_addr(
        &self,
        dev_addr: DevAddr,
    ) -> Result<Vec<(Device, DeviceProfile)>, StorageError> {
        let mut found = self.devices_by_dev_addrs(&[dev_addr]).await?;
        Ok(found.remove(&dev_addr).unwrap_or_default())
    }

    /// [`devices_by_dev_addr`](Self::devices_by_dev_addr) for several
    /// DevAddrs in one query: the uplink path looks the candidates of the
    /// frames it handles up together. Every DevAddr asked for is in the
    /// map, with no candidates if none has it.
    pub async fn devices_by_dev_addrs(
        &self,
        dev_addrs: &[DevAddr],
    ) -> Result<HashMap<DevAddr, Vec<(Device, DeviceProfile)>>, StorageError> {
        let mut out: HashMap<DevAddr, Vec<(Device, DeviceProfile)>> =
            dev_addrs.iter().map(|a| (*a, Vec::new())).collect();
        if dev_addrs.is_empty() {
            return Ok(out);
        }
        let placeholders = self.placeholders(dev_addrs.len());
        let sql = format!(
            "SELECT {}, {} FROM device d JOIN device_profile dp ON dp.id = d.device_profile_id \
             WHERE d.dev_addr IN ({placeholders}) AND NOT d.is_disabled ORDER BY d.dev_eui",
            device_columns!(),
            device_profile_columns!()
        );
        let rows: Vec<DeviceAndProfileRow> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
            for addr in dev_addrs {
                query = query.bind(db_dev_addr(*addr));
            }
            query.fetch_all(pool).await
        })
        .map_err(db_error(Object::Table("device")))?;
        for row in rows {
            let (device, profile): (Device, DeviceProfile) = row.try_into()?;
            if let Some(addr) = device.session.as_ref().map(|s| s.dev_addr) {
                out.entry(addr).or_default().push((device, profile));
            }
        }
        Ok(out)
    }

    /// Replaces a device's session with `session` if its stored `FCntUp`
    /// is still `expected_f_cnt_up` and the stored session still has
    /// `session`'s DevAddr: the compare-and-swap that lets exactly one
    /// server instance accept an uplink.
    ///
    /// `expected_f_cnt_up` is the `f_cnt_up` of the session the uplink was
    /// checked against (as read by [`Self::devices_by_dev_addr`]), and
    /// `session` the one computed from it (normally with `f_cnt_up` set to
    /// the uplink's FCnt + 1). `false` means another writer changed the
    /// session in between (the same frame through another instance, a
    /// concurrent uplink, a join, a deactivation): nothing was written,
    /// and the uplink must not be processed on the state that was read.
    ///
    /// An exact compare, rather than ChirpStack's `f_cnt_up <= FCnt`, makes
    /// the whole session a versioned value: a writer that read a stale
    /// session cannot overwrite a newer one, and it works the same for
    /// devices with `skip_fcnt_check` whose counter goes back after a reset.
    pub async fn update_session_if_fcnt(
        &self,
        dev_eui: Eui64,
        expected_f_cnt_up: u32,
        session: &DeviceSession,
    ) -> Result<bool, StorageError> {
        self.update_session_if_fcnt_seen(dev_eui, expected_f_cnt_up, session, None)
            .await
    }

    /// [`update_session_if_fcnt`](Self::update_session_if_fcnt), also
    /// setting the device's `last_seen_at` when `seen_at` is given: the
    /// uplink path's one write.
    pub async fn update_session_if_fcnt_seen(
        &self,
        dev_eui: Eui64,
        expected_f_cnt_up: u32,
        session: &DeviceSession,
        seen_at: Option<SystemTime>,
    ) -> Result<bool, StorageError> {
        let update = SessionUpdate {
            seen_at,
            ..SessionUpdate::new(dev_eui, expected_f_cnt_up, session)
        };
        let made = self.update_sessions_if_fcnt(&[update]).await?;
        Ok(made.first().copied().unwrap_or(false))
    }

    /// Several conditional session updates in one statement: each is
    /// [`update_session_if_fcnt_seen`](Self::update_session_if_fcnt_seen)
    /// of its own, and the result says, in order, which were made. The
    /// uplink path writes the sessions of the frames it accepted together.
    ///
    /// A batch must not update one device twice (the second update of a
    /// device is refused with `false`; send it in the next batch).
    pub async fn update_sessions_if_fcnt(
        &self,
        updates: &[SessionUpdate<'_>],
    ) -> Result<Vec<bool>, StorageError> {
        let mut seen = HashSet::new();
        let mut results = vec![false; updates.len()];
        let unique: Vec<(usize, &SessionUpdate<'_>)> = updates
            .iter()
            .enumerate()
            .filter(|(_, u)| seen.insert(u.dev_eui))
            .collect();
        if unique.is_empty() {
            return Ok(results);
        }
        let sql = self.session_write_sql(
            unique.len(),
            unique.iter().any(|(_, u)| u.seen_at.is_some()),
            unique.iter().any(|(_, u)| u.gateway_rx_info.is_some()),
            unique.iter().any(|(_, u)| u.scheduler_run_after.is_some()),
        );
        let now = db_time(SystemTime::now());
        let done: Vec<(Vec<u8>,)> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
            for (_, u) in &unique {
                query = query
                    .bind(db_eui(u.dev_eui))
                    .bind(db_u32(u.expected_f_cnt_up))
                    .bind(db_u32(u.session.f_cnt_up))
                    .bind(Json(u.session))
                    .bind(db_dev_addr(u.session.dev_addr))
                    .bind(u.seen_at.map(db_time))
                    .bind(u.gateway_rx_info.map(Json))
                    .bind(u.scheduler_run_after.map(db_time))
                    .bind(db_u32(u.session.n_f_cnt_down))
                    .bind(db_u32(u.session.a_f_cnt_down));
            }
            query.bind(now).fetch_all(pool).await
        })
        .map_err(db_error(Object::Table("device")))?;
        let done: HashSet<Vec<u8>> = done.into_iter().map(|(eui,)| eui).collect();
        for (i, u) in unique {
            results[i] = done.contains(&db_eui(u.dev_eui));
        }
        Ok(results)
    }

    /// The statement of [`Self::update_sessions_if_fcnt`] for `rows`
    /// devices; `seen`, `rx_info` and `run_after`: whether some row sets
    /// `last_seen_at`, `gateway_rx_info`, `scheduler_run_after`.
    fn session_write_sql(&self, rows: usize, seen: bool, rx_info: bool, run_after: bool) -> String {
        let row = self.dialect(
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            "(CAST(? AS bytea), CAST(? AS bigint), CAST(? AS bigint), CAST(? AS jsonb), \
             CAST(? AS bytea), CAST(? AS timestamptz), CAST(? AS jsonb), \
             CAST(? AS timestamptz), CAST(? AS bigint), CAST(? AS bigint))",
        );
        // The rows' parameters first, `updated_at` last: in the order of
        // the text, as `param` needs.
        let mut n = 0;
        let values: Vec<String> = (0..rows)
            .map(|_| {
                row.split('?')
                    .enumerate()
                    .map(|(i, part)| {
                        if i == 0 {
                            part.to_owned()
                        } else {
                            n += 1;
                            format!("{}{part}", self.param(n))
                        }
                    })
                    .collect()
            })
            .collect();
        let updated_at = self.param(n + 1);
        // A column no row of the batch sets stays out of the SET list:
        // `last_seen_at` and `scheduler_run_after` are indexed, and an
        // assigned indexed column costs its index entries a delete and an
        // insert even when the value stays (SQLite), or the update its HOT
        // path (PostgreSQL). Class A uplinks set neither of the last two.
        let mut optional = String::new();
        for (column, value, set) in [
            ("last_seen_at", "seen", seen),
            ("gateway_rx_info", "rx_info", rx_info),
            ("scheduler_run_after", "run_after", run_after),
        ] {
            if set {
                optional.push_str(&format!(
                    ", {column} = COALESCE(v.{value}, device.{column})"
                ));
            }
        }
        format!(
            "WITH v(dev_eui, expected, f_cnt_up, session, dev_addr, seen, rx_info, run_after, \
             n_down, a_down) \
             AS (VALUES {}) \
             UPDATE device SET updated_at = {updated_at}, f_cnt_up = v.f_cnt_up, \
             device_session = v.session{optional} \
             FROM v WHERE {} AND device.device_session IS NOT NULL AND {} \
             RETURNING device.dev_eui",
            values.join(", "),
            // SQLite: the unary `+` keeps `v` from being indexed, so that
            // the devices are looked up by DevEUI, `v` the outer loop. Left
            // to itself, from about 200 rows on (between 128 and 256 in the
            // plan test below), SQLite 3.51 scans the whole
            // device table against an automatic index on `v` instead: a
            // read of every session per statement, which is how a server
            // that fell behind (its batches at their largest) stayed behind.
            self.dialect(
                "device.dev_eui = +v.dev_eui AND device.f_cnt_up = +v.expected \
                 AND device.dev_addr = +v.dev_addr",
                "device.dev_eui = v.dev_eui AND device.f_cnt_up = v.expected \
                 AND device.dev_addr = v.dev_addr",
            ),
            // A TX ack (a class C downlink's, or another instance's) may
            // have advanced a downlink counter since the uplink read the
            // session: never write one back (the caller re-reads). The new
            // session's counters come as parameters of their own, so that
            // only the stored session is parsed.
            self.dialect(
                "coalesce(json_extract(device.device_session, '$.n_f_cnt_down'), 0) <= v.n_down \
                 AND coalesce(json_extract(device.device_session, '$.a_f_cnt_down'), 0) \
                 <= v.a_down",
                "coalesce((device.device_session->>'n_f_cnt_down')::bigint, 0) <= v.n_down \
                 AND coalesce((device.device_session->>'a_f_cnt_down')::bigint, 0) <= v.a_down",
            ),
        )
    }

    /// Sets or clears a device's session unconditionally: a join, an ABP
    /// activation, a deactivation, or a downlink path's counters.
    pub async fn set_session(
        &self,
        dev_eui: Eui64,
        session: Option<&DeviceSession>,
    ) -> Result<(), StorageError> {
        let now = db_time(SystemTime::now());
        let (dev_addr, f_cnt_up, session) = session_columns(session);
        execute_by_key!(
            self,
            Object::Device(dev_eui),
            "UPDATE device SET updated_at = $2, dev_addr = $3, f_cnt_up = $4, \
             device_session = $5 WHERE dev_eui = $1",
            db_eui(dev_eui),
            now,
            dev_addr,
            f_cnt_up,
            session,
        )
    }

    /// Records when a device's last uplink was received.
    pub async fn update_device_last_seen(
        &self,
        dev_eui: Eui64,
        at: SystemTime,
    ) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::Device(dev_eui),
            "UPDATE device SET last_seen_at = $2 WHERE dev_eui = $1",
            db_eui(dev_eui),
            db_time(at),
        )
    }

    /// Stores a device's root keys.
    ///
    /// [`StorageError::NotFound`] if the device does not exist,
    /// [`StorageError::AlreadyExists`] if it has keys.
    pub async fn create_device_keys(&self, keys: &DeviceKeys) -> Result<(), StorageError> {
        let now = db_time(SystemTime::now());
        execute!(
            self,
            "INSERT INTO device_keys (dev_eui, created_at, updated_at, nwk_key, app_key, \
             join_nonce) VALUES ($1, $2, $2, $3, $4, $5)",
            db_eui(keys.dev_eui),
            now,
            keys.nwk_key.to_be_bytes().to_vec(),
            keys.app_key.to_be_bytes().to_vec(),
            db_u32(keys.join_nonce),
        )
        .map_err(write_error(
            Object::DeviceKeys(keys.dev_eui),
            Object::Device(keys.dev_eui),
        ))?;
        Ok(())
    }

    /// A device's root keys and JoinNonce.
    pub async fn get_device_keys(&self, dev_eui: Eui64) -> Result<DeviceKeys, StorageError> {
        let row: DeviceKeysRow = fetch!(
            self,
            fetch_one,
            "SELECT dev_eui, nwk_key, app_key, join_nonce FROM device_keys WHERE dev_eui = $1",
            db_eui(dev_eui),
        )
        .map_err(db_error(Object::DeviceKeys(dev_eui)))?;
        row.try_into()
    }

    /// Replaces a device's NwkKey and AppKey with `keys`'.
    ///
    /// The JoinNonce is kept: only [`Self::record_dev_nonce`] advances it,
    /// and an edit must never move it back (a LoRaWAN 1.1 device rejects a
    /// JoinNonce it has seen).
    pub async fn update_device_keys(&self, keys: &DeviceKeys) -> Result<(), StorageError> {
        let now = db_time(SystemTime::now());
        execute_by_key!(
            self,
            Object::DeviceKeys(keys.dev_eui),
            "UPDATE device_keys SET updated_at = $2, nwk_key = $3, app_key = $4 \
             WHERE dev_eui = $1",
            db_eui(keys.dev_eui),
            now,
            keys.nwk_key.to_be_bytes().to_vec(),
            keys.app_key.to_be_bytes().to_vec(),
        )
    }

    /// Deletes a device's root keys and the DevNonces it used.
    pub async fn delete_device_keys(&self, dev_eui: Eui64) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::DeviceKeys(dev_eui),
            "DELETE FROM device_keys WHERE dev_eui = $1",
            db_eui(dev_eui),
        )
    }

    /// Accepts a join-request's DevNonce and returns the JoinNonce for its
    /// join-accept, or refuses it; in one transaction, so that of two
    /// concurrent join-requests with the same DevNonce exactly one is
    /// accepted.
    ///
    /// Refused: a DevNonce the device used before with this JoinEUI
    /// ([`NonceError::Reused`]); with `must_increase` (LoRaWAN 1.0.4 and
    /// 1.1), one not greater than the highest it used with this JoinEUI
    /// ([`NonceError::NotIncreasing`]); any DevNonce once the JoinNonce
    /// reached 2^24 − 1 ([`NonceError::JoinNonceExhausted`]). Accepted: the
    /// DevNonce is recorded and the device's JoinNonce incremented (the
    /// first join gets 1).
    pub async fn record_dev_nonce(
        &self,
        dev_eui: Eui64,
        join_eui: Eui64,
        dev_nonce: DevNonce,
        must_increase: bool,
    ) -> Result<JoinNonce, NonceError> {
        let now = db_time(SystemTime::now());
        let keys = Object::DeviceKeys(dev_eui);
        let err = move |e| NonceError::Storage(db_error(keys)(e));
        let reused = NonceError::Reused {
            dev_eui,
            join_eui,
            dev_nonce,
        };
        // SQLite: take the write lock up front, as a read-then-write
        // transaction could otherwise fail to upgrade its lock. PostgreSQL:
        // `FOR UPDATE` on the keys serialises one device's joins.
        let begin = self.dialect("BEGIN IMMEDIATE", "BEGIN");
        let lock_keys = self.dialect(
            "SELECT join_nonce FROM device_keys WHERE dev_eui = $1",
            "SELECT join_nonce FROM device_keys WHERE dev_eui = $1 FOR UPDATE",
        );
        with_pool!(self, pool => {
            let mut tx = pool.begin_with(begin).await.map_err(err)?;
            let join_nonce: i64 = sqlx::query_scalar(lock_keys)
                .bind(db_eui(dev_eui))
                .fetch_one(&mut *tx)
                .await
                .map_err(err)?;
            let (used, highest): (bool, Option<i32>) = sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM dev_nonce \
                 WHERE dev_eui = $1 AND join_eui = $2 AND dev_nonce = $3), \
                 (SELECT max(dev_nonce) FROM dev_nonce WHERE dev_eui = $1 AND join_eui = $2)",
            )
            .bind(db_eui(dev_eui))
            .bind(db_eui(join_eui))
            .bind(i32::from(dev_nonce.0))
            .fetch_one(&mut *tx)
            .await
            .map_err(err)?;
            if used {
                return Err(reused);
            }
            if let Some(highest) = highest
                && must_increase
                && i32::from(dev_nonce.0) <= highest
            {
                return Err(NonceError::NotIncreasing {
                    dev_eui,
                    join_eui,
                    dev_nonce,
                    highest: DevNonce(u16::try_from(highest).unwrap_or(u16::MAX)),
                });
            }
            let next = u32::try_from(join_nonce)
                .ok()
                .and_then(|n| n.checked_add(1))
                .and_then(|n| (n <= JOIN_NONCE_MAX).then_some(n))
                .and_then(JoinNonce::from_u32)
                .ok_or(NonceError::JoinNonceExhausted { dev_eui })?;
            sqlx::query(
                "INSERT INTO dev_nonce (dev_eui, join_eui, dev_nonce, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(db_eui(dev_eui))
            .bind(db_eui(join_eui))
            .bind(i32::from(dev_nonce.0))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| match db_error(keys)(e) {
                // Only reachable if the row lock was bypassed; still a reuse.
                StorageError::AlreadyExists(_) => reused,
                e => NonceError::Storage(e),
            })?;
            sqlx::query("UPDATE device_keys SET updated_at = $2, join_nonce = $3 WHERE dev_eui = $1")
                .bind(db_eui(dev_eui))
                .bind(now)
                .bind(db_u32(next.to_u32()))
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            tx.commit().await.map_err(err)?;
            Ok(next)
        })
    }

    /// Forgets every DevNonce a device used, so that it may join with any
    /// again (after the device lost its counter). Returns how many were
    /// forgotten.
    pub async fn flush_dev_nonces(&self, dev_eui: Eui64) -> Result<u64, StorageError> {
        execute!(
            self,
            "DELETE FROM dev_nonce WHERE dev_eui = $1",
            db_eui(dev_eui),
        )
        .map_err(db_error(Object::DeviceKeys(dev_eui)))
    }

    /// When a device's root keys were created and last changed.
    pub async fn get_device_keys_stamps(
        &self,
        dev_eui: Eui64,
    ) -> Result<crate::model::Stamps, StorageError> {
        let (created_at, updated_at): (DateTime<Utc>, DateTime<Utc>) = fetch!(
            self,
            fetch_one,
            "SELECT created_at, updated_at FROM device_keys WHERE dev_eui = $1",
            db_eui(dev_eui),
        )
        .map_err(db_error(Object::DeviceKeys(dev_eui)))?;
        Ok(super::rows::stamps(created_at, updated_at))
    }

    /// Moves a device to another application (of the same tenant: the
    /// caller checks), setting its `updated_at`.
    ///
    /// [`StorageError::NotFound`] if the device or the application does not
    /// exist.
    pub async fn set_device_application(
        &self,
        dev_eui: Eui64,
        application_id: Uuid,
        updated_at: SystemTime,
    ) -> Result<(), StorageError> {
        let object = Object::Device(dev_eui);
        let done = execute!(
            self,
            "UPDATE device SET updated_at = $2, application_id = $3 WHERE dev_eui = $1",
            db_eui(dev_eui),
            db_time(updated_at),
            application_id,
        )
        .map_err(write_error(object, Object::Application(application_id)))?;
        touched(done, object)
    }

    /// The tenant a device belongs to (through its application), in one
    /// query: what authorizing an API call on the device needs.
    pub async fn tenant_of_device(&self, dev_eui: Eui64) -> Result<Uuid, StorageError> {
        let (tenant_id,): (Uuid,) = fetch!(
            self,
            fetch_one,
            "SELECT a.tenant_id FROM device d JOIN application a ON a.id = d.application_id \
             WHERE d.dev_eui = $1",
            db_eui(dev_eui),
        )
        .map_err(db_error(Object::Device(dev_eui)))?;
        Ok(tenant_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of a session write of `rows` devices, one line per step;
    /// `optional`: whether the batch sets `last_seen_at`,
    /// `gateway_rx_info`, `scheduler_run_after`.
    async fn session_write_plan(
        storage: &Storage,
        rows: usize,
        optional: [bool; 3],
    ) -> Vec<String> {
        let [seen, rx_info, run_after] = optional;
        let sql = format!(
            "EXPLAIN QUERY PLAN {}",
            storage.session_write_sql(rows, seen, rx_info, run_after)
        );
        let super::super::Pool::Sqlite(pool) = &storage.pool else {
            unreachable!("an SQLite storage")
        };
        let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(sqlx::AssertSqlSafe(sql));
        // Ten parameters a row, then `updated_at`.
        for _ in 0..rows * 10 + 1 {
            query = query.bind(None::<i64>);
        }
        let plan = query.fetch_all(pool).await.unwrap();
        plan.into_iter().map(|(_, _, _, step)| step).collect()
    }

    #[tokio::test]
    async fn session_writes_look_devices_up_by_dev_eui_whatever_the_batch_size() {
        let storage = Storage::connect("sqlite::memory:").await.unwrap();
        // Nothing optional (a TX ack), a class A batch, a class C batch.
        for optional in [[false; 3], [true, false, false], [true; 3]] {
            for rows in [1, 16, 64, 128, 256, 512] {
                let plan = session_write_plan(&storage, rows, optional).await;
                assert!(
                    plan.iter()
                        .any(|step| step.starts_with("SEARCH device USING INDEX")),
                    "{rows} rows, {optional:?}: {plan:?}"
                );
                assert!(
                    !plan.iter().any(|step| step.starts_with("SCAN device")),
                    "{rows} rows, {optional:?}: {plan:?}"
                );
            }
        }
    }
}
