//! What every service handler shares: the API's state, authenticating the
//! caller, authorizing an action on an object found by id, parsing request
//! fields, and turning storage errors into gRPC statuses.
//!
//! A handler reads as: authenticate, resolve the object's tenant, authorize,
//! validate, act:
//!
//! ```text
//! let who = self.principal(&request).await?;
//! let tenant = self.tenant_of(Target::Application(id)).await?;
//! self.authorize(&who, Action::new(Kind::Application, Verb::Update, tenant))?;
//! ```
//!
//! So that nothing leaks whether another tenant's object exists, an object
//! that does not exist is reported as NOT_FOUND only to global
//! administrators; everyone else gets the PERMISSION_DENIED they would get
//! for an object they may not see.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lorawan::{DevAddr, Eui64};
use tonic::{Request, Status};
use uuid::Uuid;

use super::auth::{PasswordHasher, TokenKind, TokenSigner, bearer_token};
use super::authz::{Action, Principal, allowed};
use crate::config::Config;
use crate::storage::{Object, Storage, StorageError};

/// Told when the API changes what the radio path may have cached (a
/// device's session, profile or existence), so the change takes effect at
/// once rather than when a cache entry expires.
pub trait ChangeListener: Send + Sync {
    /// A device changed or was deleted; `dev_addr` is its session's DevAddr
    /// before the change, if it had one.
    fn device_changed(&self, dev_eui: Eui64, dev_addr: Option<DevAddr>);
    /// A device profile changed or was deleted.
    fn device_profile_changed(&self, id: Uuid);
    /// An item was enqueued for a device: a class C device may be sent it
    /// at once. The default ignores it.
    fn queue_changed(&self, _dev_eui: Eui64) {}
}

/// Counters of the API, for `/metrics`: calls answered, by gRPC status
/// code (REST calls included: they are gRPC calls inside).
#[derive(Debug, Default)]
pub struct ApiCounters {
    by_code: [AtomicU64; 17],
}

impl ApiCounters {
    /// Counts one call answered with `code`.
    pub fn record(&self, code: tonic::Code) {
        if let Some(c) = self.by_code.get(code as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Calls answered so far, by code name (`OK`, `INVALID_ARGUMENT`, …),
    /// codes never answered left out.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        (0..17)
            .filter_map(|i| {
                let n = self.by_code[i as usize].load(Ordering::Relaxed);
                (n > 0).then(|| (code_name(tonic::Code::from_i32(i)), n))
            })
            .collect()
    }
}

/// The name gRPC gives a status code.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The API's settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiSettings {
    /// The secret that signs tokens (`api.secret`).
    pub secret: String,
    /// How long a login token is valid (ChirpStack: 24 h).
    pub token_lifetime: Duration,
    /// PBKDF2 iterations for new password hashes.
    pub password_iterations: u32,
}

impl ApiSettings {
    /// Settings with `secret`, 24 h tokens and the default password hashing.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            token_lifetime: Duration::from_secs(24 * 3600),
            password_iterations: PasswordHasher::default().iterations(),
        }
    }
}

/// The state every service shares.
pub struct ApiState {
    /// The database.
    pub storage: Storage,
    /// The server's configuration (regions, NetID), for regions and DevAddrs.
    pub config: Arc<Config>,
    /// Signs and verifies tokens.
    pub signer: TokenSigner,
    /// Hashes new passwords.
    pub hasher: PasswordHasher,
    /// The API's settings.
    pub settings: ApiSettings,
    /// Told about changes the radio path caches.
    pub listener: Option<Arc<dyn ChangeListener>>,
    /// Device events as they happen, for `StreamDeviceEvents` (add it to
    /// the pipeline's event sinks).
    pub live: super::live::LiveLog,
    /// Counters.
    pub counters: ApiCounters,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("storage", &self.storage)
            .field("settings", &"..")
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// The state of an API over `storage`.
    pub fn new(storage: Storage, config: Arc<Config>, settings: ApiSettings) -> Self {
        Self {
            storage,
            config,
            signer: TokenSigner::new(&settings.secret),
            hasher: PasswordHasher::new(settings.password_iterations),
            settings,
            listener: None,
            live: super::live::LiveLog::new(),
            counters: ApiCounters::default(),
        }
    }

    /// The same, telling `listener` about changes.
    pub fn with_listener(mut self, listener: Arc<dyn ChangeListener>) -> Self {
        self.listener = Some(listener);
        self
    }

    /// The caller of `request`, from its `authorization: Bearer <token>`.
    pub async fn principal<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("no authorization metadata"))?
            .to_str()
            .map_err(|_| Status::unauthenticated("authorization metadata is not text"))?;
        let token = bearer_token(header)
            .ok_or_else(|| Status::unauthenticated("authorization is not \"Bearer <token>\""))?;
        let claims = self
            .signer
            .verify(token, unix_now())
            .map_err(|e| Status::unauthenticated(format!("invalid token: {e}")))?;
        match claims.kind {
            TokenKind::User => {
                let user = match self.storage.get_user(claims.subject).await {
                    Ok(user) => user,
                    Err(StorageError::NotFound(_)) => {
                        return Err(Status::unauthenticated("the token's user does not exist"));
                    }
                    Err(e) => return Err(status(e)),
                };
                if !user.is_active {
                    return Err(Status::unauthenticated("the user is not active"));
                }
                let tenants = self
                    .storage
                    .tenants_of_user(user.id)
                    .await
                    .map_err(status)?;
                Ok(Principal::User { user, tenants })
            }
            TokenKind::Key => match self.storage.get_api_key(claims.subject).await {
                Ok(key) => Ok(Principal::Key(key)),
                Err(StorageError::NotFound(_)) => {
                    Err(Status::unauthenticated("the API key was deleted"))
                }
                Err(e) => Err(status(e)),
            },
        }
    }

    /// `Ok` if `principal` may perform `action`, PERMISSION_DENIED if not.
    pub fn authorize(&self, principal: &Principal, action: Action) -> Result<(), Status> {
        if allowed(principal, action) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "not permitted: {:?} of {:?}",
                action.verb, action.kind
            )))
        }
    }

    /// The tenant `target` belongs to, for authorizing an action on it:
    /// NOT_FOUND for administrators, PERMISSION_DENIED for anyone else if it
    /// does not exist (see the module doc).
    pub async fn tenant_of(&self, principal: &Principal, target: Target) -> Result<Uuid, Status> {
        let s = &self.storage;
        let found = match target {
            Target::Tenant(id) => s.get_tenant(id).await.map(|t| t.id),
            Target::Application(id) => s.get_application(id).await.map(|a| a.tenant_id),
            Target::DeviceProfile(id) => s.get_device_profile(id).await.map(|p| p.tenant_id),
            Target::Device(eui) => s.tenant_of_device(eui).await,
            Target::Gateway(eui) => s.get_gateway(eui).await.map(|g| g.tenant_id),
            Target::ApiKey(id) => match s.get_api_key(id).await {
                Ok(k) => k
                    .tenant_id
                    .ok_or(StorageError::NotFound(Object::ApiKey(id))),
                Err(e) => Err(e),
            },
        };
        match found {
            Ok(tenant) => Ok(tenant),
            Err(StorageError::NotFound(object)) if principal.is_admin() => {
                Err(Status::not_found(format!("{object} does not exist")))
            }
            Err(StorageError::NotFound(_)) => Err(Status::permission_denied("not permitted")),
            Err(e) => Err(status(e)),
        }
    }

    /// An INVALID_ARGUMENT status (counted with every answer by code).
    pub fn invalid(&self, message: impl Into<String>) -> Status {
        Status::invalid_argument(message)
    }

    /// Tells the listener a device changed.
    pub fn device_changed(&self, dev_eui: Eui64, dev_addr: Option<DevAddr>) {
        if let Some(l) = &self.listener {
            l.device_changed(dev_eui, dev_addr);
        }
    }

    /// Tells the listener a device profile changed.
    pub fn device_profile_changed(&self, id: Uuid) {
        if let Some(l) = &self.listener {
            l.device_profile_changed(id);
        }
    }
}

/// An object an action is about, found by its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A tenant.
    Tenant(Uuid),
    /// An application.
    Application(Uuid),
    /// A device profile.
    DeviceProfile(Uuid),
    /// A device.
    Device(Eui64),
    /// A gateway.
    Gateway(Eui64),
    /// A tenant's API key.
    ApiKey(Uuid),
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The gRPC status of a storage error.
pub fn status(error: StorageError) -> Status {
    match error {
        StorageError::NotFound(object) => Status::not_found(format!("{object} does not exist")),
        StorageError::AlreadyExists(object) => {
            Status::already_exists(format!("{object} already exists"))
        }
        StorageError::Conflict { object, reason } => {
            Status::failed_precondition(format!("{object}: {reason}"))
        }
        other => {
            tracing::error!(error = %other, "API storage failure");
            Status::internal("storage failure")
        }
    }
}

/// A request field that must be present: INVALID_ARGUMENT naming it if
/// not.
pub fn required<T>(field: &str, value: Option<T>) -> Result<T, Status> {
    value.ok_or_else(|| Status::invalid_argument(format!("{field} is required")))
}

/// A UUID field.
pub fn parse_uuid(field: &str, value: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(value)
        .map_err(|_| Status::invalid_argument(format!("{field}: {value:?} is not a UUID")))
}

/// An optional UUID field: empty is `None`.
pub fn parse_optional_uuid(field: &str, value: &str) -> Result<Option<Uuid>, Status> {
    if value.is_empty() {
        Ok(None)
    } else {
        parse_uuid(field, value).map(Some)
    }
}

/// An EUI-64 field, 16 hex digits.
pub fn parse_eui(field: &str, value: &str) -> Result<Eui64, Status> {
    value.parse().map_err(|_| {
        Status::invalid_argument(format!(
            "{field}: {value:?} is not an EUI-64 (16 hex digits)"
        ))
    })
}

/// A DevAddr field, 8 hex digits.
pub fn parse_dev_addr(field: &str, value: &str) -> Result<DevAddr, Status> {
    value.parse().map_err(|_| {
        Status::invalid_argument(format!(
            "{field}: {value:?} is not a DevAddr (8 hex digits)"
        ))
    })
}

/// A 128-bit key field, 32 hex digits.
pub fn parse_key(field: &str, value: &str) -> Result<[u8; 16], Status> {
    let bytes = hex::decode(value)
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b).ok());
    bytes.ok_or_else(|| {
        Status::invalid_argument(format!("{field}: not a 128-bit key (32 hex digits)"))
    })
}

/// A name field: required, at most 100 characters.
pub fn check_name(field: &str, value: &str) -> Result<(), Status> {
    if value.trim().is_empty() {
        return Err(Status::invalid_argument(format!("{field} is required")));
    }
    if value.chars().count() > 100 {
        return Err(Status::invalid_argument(format!(
            "{field} is longer than 100 characters"
        )));
    }
    Ok(())
}

/// A time as a protobuf timestamp.
pub fn timestamp(t: SystemTime) -> pbjson_types::Timestamp {
    let (seconds, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos() as i32),
        Err(e) => {
            let d = e.duration();
            let (s, n) = (-(d.as_secs() as i64), d.subsec_nanos() as i32);
            if n == 0 {
                (s, 0)
            } else {
                (s - 1, 1_000_000_000 - n)
            }
        }
    };
    pbjson_types::Timestamp { seconds, nanos }
}

/// A protobuf timestamp as a time; `None` if out of range.
pub fn from_timestamp(t: &pbjson_types::Timestamp) -> Option<SystemTime> {
    let nanos = u32::try_from(t.nanos).ok().filter(|n| *n < 1_000_000_000)?;
    if t.seconds >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(t.seconds as u64, nanos))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(t.seconds.unsigned_abs()))?
            .checked_add(Duration::from_nanos(u64::from(nanos)))
    }
}

impl From<StorageError> for Status {
    fn from(e: StorageError) -> Self {
        status(e)
    }
}

/// A region as the `common.Region` enum value.
pub fn region_to_proto(region: lorawan::region::Region) -> packet_forwarder::gw::common::Region {
    use lorawan::region::Region as R;
    use packet_forwarder::gw::common::Region as P;
    match region {
        R::Eu868 => P::Eu868,
        R::Us915 => P::Us915,
        R::Cn779 => P::Cn779,
        R::Eu433 => P::Eu433,
        R::Au915 => P::Au915,
        R::Cn470 => P::Cn470,
        R::As923_1 => P::As923,
        R::As923_2 => P::As9232,
        R::As923_3 => P::As9233,
        R::As923_4 => P::As9234,
        R::Kr920 => P::Kr920,
        R::In865 => P::In865,
        R::Ru864 => P::Ru864,
        R::Ism2400 => P::Ism2400,
    }
}

/// A Regional Parameters revision as the `common.RegParamsRevision` enum
/// value (RP002-1.0.5, which the radio path does not know, is never one).
pub fn revision_to_proto(
    revision: lorawan::region::Revision,
) -> packet_forwarder::gw::common::RegParamsRevision {
    use lorawan::region::Revision as R;
    use packet_forwarder::gw::common::RegParamsRevision as P;
    match revision {
        R::A => P::A,
        R::B => P::B,
        R::Rp002_1_0_0 => P::Rp002100,
        R::Rp002_1_0_1 => P::Rp002101,
        R::Rp002_1_0_2 => P::Rp002102,
        R::Rp002_1_0_3 => P::Rp002103,
        R::Rp002_1_0_4 => P::Rp002104,
    }
}

/// The region of a `common.Region` enum value; `None` if it names none.
pub fn region_from_proto(value: i32) -> Option<lorawan::region::Region> {
    use lorawan::region::Region as R;
    use packet_forwarder::gw::common::Region as P;
    Some(match P::try_from(value).ok()? {
        P::Eu868 => R::Eu868,
        P::Us915 => R::Us915,
        P::Cn779 => R::Cn779,
        P::Eu433 => R::Eu433,
        P::Au915 => R::Au915,
        P::Cn470 => R::Cn470,
        P::As923 => R::As923_1,
        P::As9232 => R::As923_2,
        P::As9233 => R::As923_3,
        P::As9234 => R::As923_4,
        P::Kr920 => R::Kr920,
        P::In865 => R::In865,
        P::Ru864 => R::Ru864,
        P::Ism2400 => R::Ism2400,
    })
}
