//! Per-application integrations: where an application's events go besides
//! the server's global integrations (MQTT), one of each kind per
//! application, stored in `application_integration` with its settings as a
//! JSON object and removed with its application.
//!
//! Only the HTTP integration is kept for now ([`IntegrationConfig::Http`]);
//! the other kinds ChirpStack has (InfluxDB, ThingsBoard, ...) are not
//! supported yet.
//!
//! ```
//! use ns_core::model::{Application, Tenant};
//! use ns_core::storage::Storage;
//! use ns_core::storage::integration::{
//!     ApplicationIntegration, HttpIntegrationConfig, IntegrationConfig, IntegrationKind,
//! };
//!
//! # async fn demo() -> Result<(), ns_core::storage::StorageError> {
//! let storage = Storage::connect("sqlite::memory:").await?;
//! let tenant = Tenant::new("acme");
//! storage.create_tenant(&tenant).await?;
//! let app = Application::new(tenant.id, "meters");
//! storage.create_application(&app).await?;
//!
//! let http = HttpIntegrationConfig::new("http://example.com/events");
//! let integration = ApplicationIntegration::new(app.id, IntegrationConfig::Http(http));
//! storage.create_application_integration(&integration).await?;
//! let got = storage
//!     .get_application_integration(app.id, IntegrationKind::Http)
//!     .await?;
//! assert_eq!(got, integration);
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread()
//! #     .enable_all()
//! #     .build()
//! #     .unwrap()
//! #     .block_on(demo())
//! #     .unwrap();
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::types::chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::{Object, StorageError, db_error, write_error};
use super::rows::{db_time, stamps};
use super::{Storage, execute, execute_by_key, fetch};
use crate::model::Stamps;

/// The object storage errors about integrations name: the table, as an
/// integration has no id of its own.
const OBJECT: Object = Object::Table("application_integration");

/// The kinds of per-application integration this server stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum IntegrationKind {
    /// Events POSTed to HTTP endpoints.
    Http,
}

impl IntegrationKind {
    /// Every kind.
    pub const ALL: [Self; 1] = [Self::Http];

    /// The kind as stored in the `kind` column: `"http"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
        }
    }

    fn from_db(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}

/// The settings of an HTTP integration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct HttpIntegrationConfig {
    /// Headers added to every request (`Authorization`, ...).
    pub headers: BTreeMap<String, String>,
    /// Events are sent as JSON (`true`) or as protobuf (`false`).
    pub json: bool,
    /// The URL events are POSTed to (several, comma-separated, as in
    /// ChirpStack).
    pub event_endpoint_url: String,
}

impl HttpIntegrationConfig {
    /// Settings that POST JSON events to `event_endpoint_url` without extra
    /// headers.
    pub fn new(event_endpoint_url: impl Into<String>) -> Self {
        Self {
            headers: BTreeMap::new(),
            json: true,
            event_endpoint_url: event_endpoint_url.into(),
        }
    }
}

/// The settings of an integration, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IntegrationConfig {
    /// An HTTP integration.
    Http(HttpIntegrationConfig),
}

impl IntegrationConfig {
    /// Its kind.
    pub const fn kind(&self) -> IntegrationKind {
        match self {
            Self::Http(_) => IntegrationKind::Http,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let value = match self {
            Self::Http(c) => serde_json::to_value(c),
        };
        // Maps of strings and plain fields always serialize.
        value.unwrap_or_default()
    }

    fn from_json(kind: IntegrationKind, json: serde_json::Value) -> Result<Self, String> {
        match kind {
            IntegrationKind::Http => serde_json::from_value(json)
                .map(Self::Http)
                .map_err(|e| e.to_string()),
        }
    }
}

/// An integration of an application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplicationIntegration {
    /// The application.
    pub application_id: Uuid,
    /// Its settings (and so its kind).
    pub config: IntegrationConfig,
    /// Creation and change times.
    pub stamps: Stamps,
}

impl ApplicationIntegration {
    /// An integration of `application_id` created now.
    pub fn new(application_id: Uuid, config: IntegrationConfig) -> Self {
        Self {
            application_id,
            config,
            stamps: Stamps::now(),
        }
    }

    /// Its kind.
    pub const fn kind(&self) -> IntegrationKind {
        self.config.kind()
    }
}

/// An `application_integration` row.
#[derive(sqlx::FromRow)]
struct IntegrationRow {
    application_id: Uuid,
    kind: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    configuration: Json<serde_json::Value>,
}

impl IntegrationRow {
    /// The integration, `None` if its kind is not one this version knows.
    fn into_integration(self) -> Result<Option<ApplicationIntegration>, StorageError> {
        let Some(kind) = IntegrationKind::from_db(&self.kind) else {
            return Ok(None);
        };
        let config =
            IntegrationConfig::from_json(kind, self.configuration.0).map_err(|reason| {
                StorageError::Corrupt {
                    object: OBJECT,
                    reason: format!(
                        "the {} integration of application {}: {reason}",
                        self.kind, self.application_id
                    ),
                }
            })?;
        Ok(Some(ApplicationIntegration {
            application_id: self.application_id,
            config,
            stamps: stamps(self.created_at, self.updated_at),
        }))
    }
}

/// The columns of [`IntegrationRow`].
macro_rules! integration_columns {
    () => {
        "application_id, kind, created_at, updated_at, configuration"
    };
}

impl Storage {
    /// Stores a new integration of an application.
    ///
    /// [`StorageError::NotFound`] of the application if it does not exist,
    /// [`StorageError::AlreadyExists`] (of the `application_integration`
    /// table) if it has an integration of that kind already.
    pub async fn create_application_integration(
        &self,
        integration: &ApplicationIntegration,
    ) -> Result<(), StorageError> {
        execute!(
            self,
            "INSERT INTO application_integration (application_id, kind, created_at, \
             updated_at, configuration) VALUES ($1, $2, $3, $4, $5)",
            integration.application_id,
            integration.kind().as_str(),
            db_time(integration.stamps.created_at),
            db_time(integration.stamps.updated_at),
            Json(integration.config.to_json()),
        )
        .map_err(write_error(
            OBJECT,
            Object::Application(integration.application_id),
        ))?;
        Ok(())
    }

    /// The integration of kind `kind` of an application.
    ///
    /// [`StorageError::NotFound`] (of the `application_integration` table)
    /// if it has none.
    pub async fn get_application_integration(
        &self,
        application_id: Uuid,
        kind: IntegrationKind,
    ) -> Result<ApplicationIntegration, StorageError> {
        let row: IntegrationRow = fetch!(
            self,
            fetch_one,
            concat!(
                "SELECT ",
                integration_columns!(),
                " FROM application_integration WHERE application_id = $1 AND kind = $2"
            ),
            application_id,
            kind.as_str(),
        )
        .map_err(db_error(OBJECT))?;
        row.into_integration()?
            .ok_or(StorageError::NotFound(OBJECT))
    }

    /// Whether any application has an integration of kind `kind`: the
    /// event path skips the kind's work altogether while none has.
    pub async fn has_application_integrations(
        &self,
        kind: IntegrationKind,
    ) -> Result<bool, StorageError> {
        let found: Option<(i32,)> = fetch!(
            self,
            fetch_optional,
            "SELECT 1 FROM application_integration WHERE kind = $1 LIMIT 1",
            kind.as_str(),
        )
        .map_err(db_error(OBJECT))?;
        Ok(found.is_some())
    }

    /// Overwrites the stored integration of the same application and kind
    /// with `integration` (all but its creation time).
    ///
    /// [`StorageError::NotFound`] if there is none.
    pub async fn update_application_integration(
        &self,
        integration: &ApplicationIntegration,
    ) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            OBJECT,
            "UPDATE application_integration SET updated_at = $3, configuration = $4 \
             WHERE application_id = $1 AND kind = $2",
            integration.application_id,
            integration.kind().as_str(),
            db_time(integration.stamps.updated_at),
            Json(integration.config.to_json()),
        )
    }

    /// Deletes the integration of kind `kind` of an application.
    ///
    /// [`StorageError::NotFound`] if there is none.
    pub async fn delete_application_integration(
        &self,
        application_id: Uuid,
        kind: IntegrationKind,
    ) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            OBJECT,
            "DELETE FROM application_integration WHERE application_id = $1 AND kind = $2",
            application_id,
            kind.as_str(),
        )
    }

    /// Every integration of an application, by kind (kinds this version does
    /// not know are left out).
    pub async fn list_application_integrations(
        &self,
        application_id: Uuid,
    ) -> Result<Vec<ApplicationIntegration>, StorageError> {
        let rows: Vec<IntegrationRow> = fetch!(
            self,
            fetch_all,
            concat!(
                "SELECT ",
                integration_columns!(),
                " FROM application_integration WHERE application_id = $1 ORDER BY kind"
            ),
            application_id,
        )
        .map_err(db_error(Object::Application(application_id)))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(integration) = row.into_integration()? {
                out.push(integration);
            }
        }
        out.sort_by_key(ApplicationIntegration::kind);
        Ok(out)
    }
}
