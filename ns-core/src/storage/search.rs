//! Searching across tenants, applications, devices and gateways, and the
//! dashboard's device and gateway summaries.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use lorawan::Eui64;
use sqlx::types::chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::{Object, StorageError, db_error};
use super::{Storage, fetch};

/// Whose objects a search or summary covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scope {
    /// Every tenant's.
    All,
    /// Those of the tenants this user is a member of.
    MemberOf(Uuid),
    /// One tenant's.
    Tenant(Uuid),
}

impl Scope {
    fn binds(self) -> (Option<Uuid>, Option<Uuid>) {
        match self {
            Self::All => (None, None),
            Self::MemberOf(user) => (Some(user), None),
            Self::Tenant(tenant) => (None, Some(tenant)),
        }
    }
}

/// What a search found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Found {
    /// A tenant.
    Tenant {
        /// Its id.
        id: Uuid,
        /// Its name.
        name: String,
    },
    /// An application.
    Application {
        /// Its tenant.
        tenant: (Uuid, String),
        /// Its id.
        id: Uuid,
        /// Its name.
        name: String,
    },
    /// A device.
    Device {
        /// Its tenant.
        tenant: (Uuid, String),
        /// Its application.
        application: (Uuid, String),
        /// Its DevEUI.
        dev_eui: Eui64,
        /// Its name.
        name: String,
    },
    /// A gateway.
    Gateway {
        /// Its tenant.
        tenant: (Uuid, String),
        /// Its id.
        gateway_id: Eui64,
        /// Its name.
        name: String,
    },
}

#[derive(sqlx::FromRow)]
struct FoundRow {
    kind: String,
    tenant_id: Uuid,
    tenant_name: String,
    application_id: Option<Uuid>,
    application_name: Option<String>,
    eui: Option<Vec<u8>>,
    name: String,
}

impl FoundRow {
    fn into_found(self) -> Option<Found> {
        let tenant = (self.tenant_id, self.tenant_name);
        let eui = || {
            self.eui
                .as_deref()
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(Eui64::from_be_bytes)
        };
        Some(match self.kind.as_str() {
            "tenant" => Found::Tenant {
                id: tenant.0,
                name: self.name,
            },
            "application" => Found::Application {
                tenant,
                id: self.application_id?,
                name: self.name,
            },
            "device" => Found::Device {
                application: (self.application_id?, self.application_name?),
                dev_eui: eui()?,
                tenant,
                name: self.name,
            },
            "gateway" => Found::Gateway {
                gateway_id: eui()?,
                tenant,
                name: self.name,
            },
            _ => return None,
        })
    }
}

/// The search across the four tables: `$1` the pattern, `$2` a member's
/// user id, `$3` a tenant id; `$4`, `$5` limit and offset. The names are
/// compared through `$lower … $close` (PostgreSQL's `lower(…)`, nothing on
/// SQLite), as `list.rs` compares them.
macro_rules! search_sql {
    (
        $null_uuid:literal,
        $null_text:literal,
        $null_bytes:literal,
        $dev_hex:literal,
        $gateway_hex:literal,
        $lower:literal,
        $close:literal
    ) => {
        concat!(
            "SELECT * FROM (",
            "SELECT 'tenant' AS kind, t.id AS tenant_id, t.name AS tenant_name, ",
            $null_uuid,
            " AS application_id, ",
            $null_text,
            " AS application_name, ",
            $null_bytes,
            " AS eui, t.name AS name FROM tenant t ",
            "WHERE ",
            $lower,
            "t.name",
            $close,
            " LIKE $1 ESCAPE '\\' AND ",
            "($2 IS NULL OR t.id IN (SELECT tenant_id FROM tenant_user WHERE user_id = $2)) AND ",
            "($3 IS NULL OR t.id = $3) ",
            "UNION ALL SELECT 'application', t.id, t.name, a.id, a.name, ",
            $null_bytes,
            ", a.name ",
            "FROM application a JOIN tenant t ON t.id = a.tenant_id ",
            "WHERE ",
            $lower,
            "a.name",
            $close,
            " LIKE $1 ESCAPE '\\' AND ",
            "($2 IS NULL OR t.id IN (SELECT tenant_id FROM tenant_user WHERE user_id = $2)) AND ",
            "($3 IS NULL OR t.id = $3) ",
            "UNION ALL SELECT 'device', t.id, t.name, a.id, a.name, d.dev_eui, d.name ",
            "FROM device d JOIN application a ON a.id = d.application_id ",
            "JOIN tenant t ON t.id = a.tenant_id ",
            "WHERE (",
            $lower,
            "d.name",
            $close,
            " LIKE $1 ESCAPE '\\' OR ",
            $dev_hex,
            " LIKE $1 ESCAPE '\\') AND ",
            "($2 IS NULL OR t.id IN (SELECT tenant_id FROM tenant_user WHERE user_id = $2)) AND ",
            "($3 IS NULL OR t.id = $3) ",
            "UNION ALL SELECT 'gateway', t.id, t.name, ",
            $null_uuid,
            ", ",
            $null_text,
            ", ",
            "g.gateway_id, g.name FROM gateway g JOIN tenant t ON t.id = g.tenant_id ",
            "WHERE (",
            $lower,
            "g.name",
            $close,
            " LIKE $1 ESCAPE '\\' OR ",
            $gateway_hex,
            " LIKE $1 ESCAPE '\\') AND ",
            "($2 IS NULL OR t.id IN (SELECT tenant_id FROM tenant_user WHERE user_id = $2)) AND ",
            "($3 IS NULL OR t.id = $3)",
            ") found ORDER BY kind DESC, name, tenant_id LIMIT $4 OFFSET $5"
        )
    };
}

/// A device's row for the summary.
#[derive(sqlx::FromRow)]
struct DeviceSummaryRow {
    last_seen_at: Option<DateTime<Utc>>,
    uplink_interval_ms: i64,
    dr: Option<i64>,
}

/// A gateway's row for the summary.
#[derive(sqlx::FromRow)]
struct GatewaySummaryRow {
    last_seen_at: Option<DateTime<Utc>>,
    stats_interval_secs: i64,
}

/// How many devices were heard lately, how many not, and how many never.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DevicesSummary {
    /// Heard within 1.5 uplink intervals of their profile.
    pub active: u32,
    /// Heard before that.
    pub inactive: u32,
    /// Never heard.
    pub never_seen: u32,
    /// Activated devices per current data rate.
    pub per_dr: BTreeMap<u32, u32>,
}

/// How many gateways are online, offline, never seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatewaysSummary {
    /// Heard within two stats intervals.
    pub online: u32,
    /// Heard before that.
    pub offline: u32,
    /// Never heard.
    pub never_seen: u32,
}

/// Whether something heard at `last_seen` is still current `interval`
/// later, at `now`.
pub fn seen_within(last_seen: SystemTime, interval: Duration, now: SystemTime) -> bool {
    now.duration_since(last_seen)
        .map_or(true, |age| age <= interval)
}

impl Storage {
    /// Tenants, applications, devices and gateways whose names (or EUIs,
    /// in hex) contain `search`, ignoring case: at most `limit` from the
    /// `offset`th, tenants first.
    pub async fn global_search(
        &self,
        search: &str,
        scope: Scope,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<Found>, StorageError> {
        let pattern = super::list::like_pattern(search);
        let (member, tenant) = scope.binds();
        let sql = self.dialect(
            search_sql!(
                "NULL",
                "NULL",
                "NULL",
                "hex(d.dev_eui)",
                "hex(g.gateway_id)",
                // SQLite's LIKE ignores ASCII case already (and its lower()
                // folds ASCII only): the names as they are, as the lists do.
                "",
                ""
            ),
            search_sql!(
                "NULL::uuid",
                "NULL::text",
                "NULL::bytea",
                "encode(d.dev_eui, 'hex')",
                "encode(g.gateway_id, 'hex')",
                // The expressions of the trigram indexes (migration 0006).
                "lower(",
                ")"
            ),
        );
        let rows: Vec<FoundRow> = fetch!(
            self,
            fetch_all,
            sql,
            pattern,
            member,
            tenant,
            i64::from(limit),
            i64::from(offset),
        )
        .map_err(db_error(Object::Database))?;
        Ok(rows.into_iter().filter_map(FoundRow::into_found).collect())
    }

    /// The devices summary of `scope` (all tenants, or one), at `now`.
    pub async fn devices_summary(
        &self,
        tenant: Option<Uuid>,
        now: SystemTime,
    ) -> Result<DevicesSummary, StorageError> {
        let sql = self.dialect(
            "SELECT d.last_seen_at, dp.uplink_interval_ms, \
             json_extract(d.device_session, '$.dr') AS dr \
             FROM device d JOIN device_profile dp ON dp.id = d.device_profile_id \
             JOIN application a ON a.id = d.application_id \
             WHERE ($1 IS NULL OR a.tenant_id = $1)",
            "SELECT d.last_seen_at, dp.uplink_interval_ms, \
             (d.device_session->>'dr')::bigint AS dr \
             FROM device d JOIN device_profile dp ON dp.id = d.device_profile_id \
             JOIN application a ON a.id = d.application_id \
             WHERE ($1::uuid IS NULL OR a.tenant_id = $1)",
        );
        let rows: Vec<DeviceSummaryRow> =
            fetch!(self, fetch_all, sql, tenant).map_err(db_error(Object::Table("device")))?;
        let mut summary = DevicesSummary::default();
        for r in rows {
            match r.last_seen_at {
                None => summary.never_seen += 1,
                Some(seen) => {
                    let interval = Duration::from_millis(
                        u64::try_from(r.uplink_interval_ms)
                            .unwrap_or(0)
                            .saturating_mul(3)
                            / 2,
                    );
                    if seen_within(seen.into(), interval, now) {
                        summary.active += 1;
                    } else {
                        summary.inactive += 1;
                    }
                }
            }
            if let Some(dr) = r.dr.and_then(|dr| u32::try_from(dr).ok()) {
                *summary.per_dr.entry(dr).or_default() += 1;
            }
        }
        Ok(summary)
    }

    /// The gateways summary of all tenants or one, at `now`.
    pub async fn gateways_summary(
        &self,
        tenant: Option<Uuid>,
        now: SystemTime,
    ) -> Result<GatewaysSummary, StorageError> {
        let sql = self.dialect(
            "SELECT last_seen_at, stats_interval_secs FROM gateway \
             WHERE ($1 IS NULL OR tenant_id = $1)",
            "SELECT last_seen_at, stats_interval_secs FROM gateway \
             WHERE ($1::uuid IS NULL OR tenant_id = $1)",
        );
        let rows: Vec<GatewaySummaryRow> =
            fetch!(self, fetch_all, sql, tenant).map_err(db_error(Object::Table("gateway")))?;
        let mut summary = GatewaysSummary::default();
        for r in rows {
            match r.last_seen_at {
                None => summary.never_seen += 1,
                Some(seen) => {
                    let interval =
                        Duration::from_secs(u64::try_from(r.stats_interval_secs).unwrap_or(0) * 2);
                    if seen_within(seen.into(), interval, now) {
                        summary.online += 1;
                    } else {
                        summary.offline += 1;
                    }
                }
            }
        }
        Ok(summary)
    }
}
