//! What can go wrong in storage, and which object it concerns.

use std::fmt;

use lorawan::{DevNonce, Eui64};
use uuid::Uuid;

/// The stored object an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Object {
    /// A tenant, by id.
    Tenant(Uuid),
    /// An application, by id.
    Application(Uuid),
    /// A device profile, by id.
    DeviceProfile(Uuid),
    /// A device, by DevEUI.
    Device(Eui64),
    /// A device's root keys, by DevEUI.
    DeviceKeys(Eui64),
    /// A gateway, by gateway EUI.
    Gateway(Eui64),
    /// A downlink queue item, by id.
    QueueItem(Uuid),
    /// A user, by id.
    User(Uuid),
    /// A user's membership of a tenant.
    TenantUser {
        /// The tenant.
        tenant_id: Uuid,
        /// The user.
        user_id: Uuid,
    },
    /// An API key, by id.
    ApiKey(Uuid),
    /// A whole table, for operations on no single object (listing tenants).
    Table(&'static str),
    /// The database itself (connecting, migrating).
    Database,
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tenant(id) => write!(f, "tenant {id}"),
            Self::Application(id) => write!(f, "application {id}"),
            Self::DeviceProfile(id) => write!(f, "device profile {id}"),
            Self::Device(eui) => write!(f, "device {eui}"),
            Self::DeviceKeys(eui) => write!(f, "keys of device {eui}"),
            Self::Gateway(eui) => write!(f, "gateway {eui}"),
            Self::QueueItem(id) => write!(f, "queue item {id}"),
            Self::User(id) => write!(f, "user {id}"),
            Self::TenantUser { tenant_id, user_id } => {
                write!(f, "user {user_id} of tenant {tenant_id}")
            }
            Self::ApiKey(id) => write!(f, "API key {id}"),
            Self::Table(name) => write!(f, "table {name}"),
            Self::Database => f.write_str("the database"),
        }
    }
}

/// A storage operation failed.
///
/// `NotFound`, `AlreadyExists` and `Conflict` are the caller's business (an
/// API answers them as such); `Corrupt`, `Db`, `Migrate` and
/// `UnsupportedUrl` are the operator's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The object does not exist (or a record being written refers to one
    /// that does not).
    #[error("{0} not found")]
    NotFound(Object),
    /// An object with that id exists already.
    #[error("{0} already exists")]
    AlreadyExists(Object),
    /// The write contradicts what is stored (a constraint other than the
    /// object's key).
    #[error("conflict on {object}: {reason}")]
    Conflict {
        /// The object being written.
        object: Object,
        /// What it conflicts with.
        reason: String,
    },
    /// A stored value could not be read back as its record (edited by hand,
    /// or written by an incompatible version).
    #[error("{object} is stored in a form that cannot be read: {reason}")]
    Corrupt {
        /// The object read.
        object: Object,
        /// What was wrong with it.
        reason: String,
    },
    /// The database failed (connection lost, pool timed out, I/O error).
    #[error("database error on {object}: {source}")]
    Db {
        /// The object the operation was about.
        object: Object,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The schema migrations could not be applied.
    #[error("migrating the database failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The URL names no backend this crate has (`sqlite:`, `postgres://`,
    /// `postgresql://`).
    #[error("unsupported database URL scheme {scheme:?} (expected sqlite: or postgres://)")]
    UnsupportedUrl {
        /// The scheme found (the text before the first `:`; never the
        /// rest, which may hold a password).
        scheme: String,
    },
}

/// A DevNonce could not be recorded, so the join-request is refused.
///
/// `Reused` and `NotIncreasing` are the device's fault or a replay;
/// `JoinNonceExhausted` needs the operator (new root keys); `Storage` is the
/// database's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NonceError {
    /// The device joined with this DevNonce and JoinEUI before.
    #[error("DevNonce {dev_nonce} of device {dev_eui} was already used with JoinEUI {join_eui}")]
    Reused {
        /// The device.
        dev_eui: Eui64,
        /// The JoinEUI of the join-request.
        join_eui: Eui64,
        /// The DevNonce.
        dev_nonce: DevNonce,
    },
    /// LoRaWAN 1.0.4 and 1.1: the DevNonce is not greater than the highest
    /// recorded for this JoinEUI.
    #[error(
        "DevNonce {dev_nonce} of device {dev_eui} is not greater than {highest}, the highest used with JoinEUI {join_eui}"
    )]
    NotIncreasing {
        /// The device.
        dev_eui: Eui64,
        /// The JoinEUI of the join-request.
        join_eui: Eui64,
        /// The DevNonce.
        dev_nonce: DevNonce,
        /// The highest DevNonce recorded for the JoinEUI.
        highest: DevNonce,
    },
    /// The 24-bit JoinNonce of the device reached 2^24 − 1: no join can be
    /// accepted with these root keys any more.
    #[error("the JoinNonce of device {dev_eui} is exhausted")]
    JoinNonceExhausted {
        /// The device.
        dev_eui: Eui64,
    },
    /// Storage failed, or the device has no keys
    /// ([`StorageError::NotFound`] of [`Object::DeviceKeys`]).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Classifies a driver error about `object`.
pub(super) fn db_error(object: Object) -> impl FnOnce(sqlx::Error) -> StorageError {
    move |error| classify(error, object, None)
}

/// Classifies a driver error from writing `object`, whose only reference is
/// to `parent`: a broken reference is `NotFound(parent)`.
pub(super) fn write_error(
    object: Object,
    parent: Object,
) -> impl FnOnce(sqlx::Error) -> StorageError {
    move |error| classify(error, object, Some(parent))
}

/// `Ok` if a write by key touched a row (`rows`, as the driver counts
/// them), `NotFound(object)` otherwise.
pub(super) fn touched(rows: u64, object: Object) -> Result<(), StorageError> {
    if rows == 0 {
        Err(StorageError::NotFound(object))
    } else {
        Ok(())
    }
}

/// Whether a driver error is a broken reference to another row.
pub(super) fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation)
}

fn classify(error: sqlx::Error, object: Object, parent: Option<Object>) -> StorageError {
    use sqlx::error::ErrorKind;
    match &error {
        sqlx::Error::RowNotFound => StorageError::NotFound(object),
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => StorageError::AlreadyExists(object),
            ErrorKind::ForeignKeyViolation => match parent {
                Some(parent) => StorageError::NotFound(parent),
                None => StorageError::Conflict {
                    object,
                    reason: "it refers to an object that does not exist".into(),
                },
            },
            ErrorKind::NotNullViolation | ErrorKind::CheckViolation => StorageError::Conflict {
                object,
                reason: db.message().to_owned(),
            },
            _ => StorageError::Db {
                object,
                source: error,
            },
        },
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StorageError::Corrupt {
            object,
            reason: error.to_string(),
        },
        _ => StorageError::Db {
            object,
            source: error,
        },
    }
}
