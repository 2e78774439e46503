//! `ApplicationService`: applications and their integrations.
//!
//! Supported:
//! - `Create`, `Get`, `Update`, `Delete` and `List` (a tenant's
//!   applications, searched by name). `Get` answers no measurement keys
//!   (the server keeps no device metrics). Tenant limits do not apply to
//!   applications.
//! - `ListIntegrations`: the global MQTT integration (`MQTT_GLOBAL`),
//!   always, and the application's HTTP integration if it has one.
//! - `Create`/`Get`/`Update`/`DeleteHttpIntegration`: one HTTP integration
//!   per application (headers, JSON or protobuf encoding, one or more
//!   comma-separated `http://` or `https://` endpoint URLs).
//! - `ListDeviceProfiles` (the profiles the application's devices use) and
//!   `ListDeviceTags` (the tag keys of its devices, each with its distinct
//!   values).
//!
//! Answered UNIMPLEMENTED, after authenticating the caller: every other
//! integration kind (InfluxDB, ThingsBoard, myDevices, GCP Pub/Sub, AWS
//! SNS, Azure Service Bus, Pilot Things, IFTTT, Blynk), each with a
//! message naming it, and `GenerateMqttIntegrationClientCertificate` (the
//! server issues no MQTT client certificates).
//!
//! Integrations are part of their application: creating, changing or
//! deleting one needs the right to change the application (tenant and
//! device administrators), reading one the right to read it (members).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use pbjson_types::Empty;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::authz::{Action, Kind, Principal, Verb};
use super::proto::{self as api, application_service_server::ApplicationService};
use super::service::{ApiState, Target, check_name, parse_uuid, required, status, timestamp};
use crate::model::Application;
use crate::storage::integration::{
    ApplicationIntegration, HttpIntegrationConfig, IntegrationConfig, IntegrationKind,
};
use crate::storage::{ListQuery, StorageError};

/// The `ApplicationService` over the API's state.
#[derive(Debug, Clone)]
pub struct ApplicationApi(pub Arc<ApiState>);

/// Checks an application's fields and copies them onto `app` (its id and
/// tenant are not changed).
fn apply(app: &mut Application, a: api::Application) -> Result<(), Status> {
    check_name("application.name", &a.name)?;
    app.name = a.name;
    app.description = a.description;
    app.tags = a.tags;
    Ok(())
}

fn to_proto(a: Application) -> api::Application {
    api::Application {
        id: a.id.to_string(),
        name: a.name,
        description: a.description,
        tenant_id: a.tenant_id.to_string(),
        tags: a.tags,
    }
}

fn list_item(a: Application) -> api::ApplicationListItem {
    api::ApplicationListItem {
        id: a.id.to_string(),
        created_at: Some(timestamp(a.stamps.created_at)),
        updated_at: Some(timestamp(a.stamps.updated_at)),
        name: a.name,
        description: a.description,
    }
}

/// Checks an HTTP integration's fields: its encoding, its endpoint URLs
/// (comma-separated, each `http://` or `https://` with a host) and its
/// headers (valid HTTP header names and values).
fn http_config(state: &ApiState, i: api::HttpIntegration) -> Result<HttpIntegrationConfig, Status> {
    let encoding = api::Encoding::try_from(i.encoding).map_err(|_| {
        state.invalid(format!(
            "integration.encoding: {} is not an encoding",
            i.encoding
        ))
    })?;
    let url = i.event_endpoint_url.trim();
    if url.is_empty() {
        return Err(state.invalid("integration.event_endpoint_url is required"));
    }
    // Empty entries (a trailing comma) are skipped, as the HTTP integration
    // does.
    let parts: Vec<&str> = url
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return Err(state.invalid("integration.event_endpoint_url is required"));
    }
    for part in parts {
        let ok = part.parse::<hyper::Uri>().is_ok_and(|uri| {
            matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.host().is_some_and(|h| !h.is_empty())
        });
        if !ok {
            return Err(state.invalid(format!(
                "integration.event_endpoint_url: {part:?} is not an http:// or https:// URL"
            )));
        }
    }
    for (name, value) in &i.headers {
        if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(state.invalid(format!(
                "integration.headers: {name:?} is not a header name"
            )));
        }
        if hyper::header::HeaderValue::from_str(value).is_err() {
            return Err(state.invalid(format!(
                "integration.headers: the value of {name:?} is not a header value"
            )));
        }
    }
    let mut config = HttpIntegrationConfig::new(url);
    config.headers = i.headers;
    config.json = encoding == api::Encoding::Json;
    Ok(config)
}

fn http_to_proto(application_id: Uuid, c: HttpIntegrationConfig) -> api::HttpIntegration {
    api::HttpIntegration {
        application_id: application_id.to_string(),
        headers: c.headers,
        encoding: if c.json {
            api::Encoding::Json
        } else {
            api::Encoding::Protobuf
        } as i32,
        event_endpoint_url: c.event_endpoint_url,
    }
}

/// The status of a storage error about an application's integration of
/// `kind`: NOT_FOUND and ALREADY_EXISTS say so in the API's words.
fn integration_status(application_id: Uuid, kind: &str, error: StorageError) -> Status {
    match error {
        StorageError::NotFound(crate::storage::Object::Application(id)) => {
            Status::not_found(format!("application {id} does not exist"))
        }
        StorageError::NotFound(_) => Status::not_found(format!(
            "application {application_id} has no {kind} integration"
        )),
        StorageError::AlreadyExists(_) => Status::already_exists(format!(
            "application {application_id} has a {kind} integration already"
        )),
        other => status(other),
    }
}

/// UNIMPLEMENTED for an integration kind this server does not support.
fn unsupported(kind: &str) -> Status {
    Status::unimplemented(format!(
        "the {kind} integration is not supported by this server yet"
    ))
}

impl ApplicationApi {
    /// Authenticates the caller of `request` and authorizes `verb` on the
    /// application `id` (the field `field` of the request): its id.
    async fn authorized<T>(
        &self,
        request: &Request<T>,
        field: &str,
        id: &str,
        verb: Verb,
    ) -> Result<(Principal, Uuid), Status> {
        let s = &self.0;
        let who = s.principal(request).await?;
        let id = parse_uuid(field, id).map_err(|e| s.invalid(e.message()))?;
        let tenant = s.tenant_of(&who, Target::Application(id)).await?;
        s.authorize(&who, Action::new(Kind::Application, verb, Some(tenant)))?;
        Ok((who, id))
    }

    /// Authenticates the caller, authorizes `verb` on the application the
    /// HTTP integration of `request` (at `integration`) names, and checks
    /// the integration: the application's id and the integration's config.
    async fn http_integration_of<T: Send + Sync>(
        &self,
        mut request: Request<T>,
        verb: Verb,
        integration: fn(&mut T) -> &mut Option<api::HttpIntegration>,
    ) -> Result<(Uuid, HttpIntegrationConfig), Status> {
        let s = &self.0;
        let app_id = integration(request.get_mut())
            .as_ref()
            .map(|i| i.application_id.clone())
            .unwrap_or_default();
        let (_, id) = self
            .authorized(&request, "integration.application_id", &app_id, verb)
            .await?;
        let i = required("integration", integration(request.get_mut()).take())
            .map_err(|e| s.invalid(e.message()))?;
        Ok((id, http_config(s, i)?))
    }

    /// Authenticates the caller and answers UNIMPLEMENTED for `kind`.
    async fn not_supported<T>(&self, request: &Request<T>, kind: &str) -> Status {
        match self.0.principal(request).await {
            Ok(_) => unsupported(kind),
            Err(e) => e,
        }
    }
}

/// The methods of the integration kinds this server does not support,
/// inside `impl ApplicationService`: `"Kind": method(Request) [-> Response],
/// …;` for each kind (a method without `-> Response` answers `Empty`). Each
/// authenticates the caller and answers UNIMPLEMENTED naming the kind.
///
/// `#[tonic::async_trait]` does not look inside macros, so this writes the
/// signature it would have made of an `async fn`.
macro_rules! unsupported_integrations {
    ($($kind:literal: $($method:ident($request:ident) $(-> $response:ident)?),+;)+) => {$($(
        fn $method<'life0, 'async_trait>(
            &'life0 self,
            request: Request<api::$request>,
        ) -> Pin<
            Box<
                dyn Future<Output = Result<Response<unsupported_integrations!(@response $($response)?)>, Status>>
                    + Send
                    + 'async_trait,
            >,
        >
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            Box::pin(async move { Err(self.not_supported(&request, $kind).await) })
        }
    )+)+};
    (@response) => { Empty };
    (@response $response:ident) => { api::$response };
}

#[tonic::async_trait]
impl ApplicationService for ApplicationApi {
    async fn create(
        &self,
        request: Request<api::CreateApplicationRequest>,
    ) -> Result<Response<api::CreateApplicationResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let a = required("application", request.into_inner().application)
            .map_err(|e| s.invalid(e.message()))?;
        let tenant_id = parse_uuid("application.tenant_id", &a.tenant_id)
            .map_err(|e| s.invalid(e.message()))?;
        let tenant = s.tenant_of(&who, Target::Tenant(tenant_id)).await?;
        s.authorize(
            &who,
            Action::new(Kind::Application, Verb::Create, Some(tenant)),
        )?;
        let mut app = Application::new(tenant, "");
        apply(&mut app, a).map_err(|e| s.invalid(e.message()))?;
        s.storage.create_application(&app).await.map_err(status)?;
        Ok(Response::new(api::CreateApplicationResponse {
            id: app.id.to_string(),
        }))
    }

    async fn get(
        &self,
        request: Request<api::GetApplicationRequest>,
    ) -> Result<Response<api::GetApplicationResponse>, Status> {
        let (_, id) = self
            .authorized(&request, "id", &request.get_ref().id, Verb::Read)
            .await?;
        let app = self.0.storage.get_application(id).await.map_err(status)?;
        Ok(Response::new(api::GetApplicationResponse {
            created_at: Some(timestamp(app.stamps.created_at)),
            updated_at: Some(timestamp(app.stamps.updated_at)),
            application: Some(to_proto(app)),
            measurement_keys: Vec::new(),
        }))
    }

    async fn update(
        &self,
        request: Request<api::UpdateApplicationRequest>,
    ) -> Result<Response<Empty>, Status> {
        let s = &self.0;
        let id = request
            .get_ref()
            .application
            .as_ref()
            .map(|a| a.id.clone())
            .unwrap_or_default();
        let (_, id) = self
            .authorized(&request, "application.id", &id, Verb::Update)
            .await?;
        let a = required("application", request.into_inner().application)
            .map_err(|e| s.invalid(e.message()))?;
        let mut app = s.storage.get_application(id).await.map_err(status)?;
        apply(&mut app, a).map_err(|e| s.invalid(e.message()))?;
        app.stamps.touch();
        s.storage.update_application(&app).await.map_err(status)?;
        Ok(Response::new(Empty {}))
    }

    async fn delete(
        &self,
        request: Request<api::DeleteApplicationRequest>,
    ) -> Result<Response<Empty>, Status> {
        let s = &self.0;
        let (_, id) = self
            .authorized(&request, "id", &request.get_ref().id, Verb::Delete)
            .await?;
        // Its devices go with it: the radio path must forget them.
        let devices = s
            .storage
            .application_device_addrs(id)
            .await
            .map_err(status)?;
        s.storage.delete_application(id).await.map_err(status)?;
        for (dev_eui, dev_addr) in devices {
            s.device_changed(dev_eui, dev_addr);
        }
        Ok(Response::new(Empty {}))
    }

    async fn list(
        &self,
        request: Request<api::ListApplicationsRequest>,
    ) -> Result<Response<api::ListApplicationsResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let req = request.into_inner();
        let tenant_id = if req.tenant_id.is_empty() {
            return Err(s.invalid("tenant_id is required"));
        } else {
            parse_uuid("tenant_id", &req.tenant_id).map_err(|e| s.invalid(e.message()))?
        };
        let tenant = s.tenant_of(&who, Target::Tenant(tenant_id)).await?;
        s.authorize(
            &who,
            Action::new(Kind::Application, Verb::List, Some(tenant)),
        )?;
        let query = ListQuery::page(req.limit, req.offset).search(req.search);
        let page = s
            .storage
            .list_applications(tenant, &query)
            .await
            .map_err(status)?;
        Ok(Response::new(api::ListApplicationsResponse {
            total_count: u32::try_from(page.total).unwrap_or(u32::MAX),
            result: page.items.into_iter().map(list_item).collect(),
        }))
    }

    async fn list_integrations(
        &self,
        request: Request<api::ListIntegrationsRequest>,
    ) -> Result<Response<api::ListIntegrationsResponse>, Status> {
        let s = &self.0;
        let (_, id) = self
            .authorized(
                &request,
                "application_id",
                &request.get_ref().application_id,
                Verb::Read,
            )
            .await?;
        let stored = s
            .storage
            .list_application_integrations(id)
            .await
            .map_err(status)?;
        let mut result: Vec<api::IntegrationListItem> = stored
            .iter()
            .map(|i| api::IntegrationListItem {
                kind: match i.kind() {
                    IntegrationKind::Http => api::IntegrationKind::Http as i32,
                },
            })
            .collect();
        // The global MQTT integration serves every application.
        result.push(api::IntegrationListItem {
            kind: api::IntegrationKind::MqttGlobal as i32,
        });
        Ok(Response::new(api::ListIntegrationsResponse {
            total_count: u32::try_from(result.len()).unwrap_or(u32::MAX),
            result,
        }))
    }

    async fn create_http_integration(
        &self,
        request: Request<api::CreateHttpIntegrationRequest>,
    ) -> Result<Response<Empty>, Status> {
        let s = &self.0;
        let (id, config) = self
            .http_integration_of(request, Verb::Create, |r| &mut r.integration)
            .await?;
        let integration = ApplicationIntegration::new(id, IntegrationConfig::Http(config));
        s.storage
            .create_application_integration(&integration)
            .await
            .map_err(|e| integration_status(id, "HTTP", e))?;
        Ok(Response::new(Empty {}))
    }

    async fn get_http_integration(
        &self,
        request: Request<api::GetHttpIntegrationRequest>,
    ) -> Result<Response<api::GetHttpIntegrationResponse>, Status> {
        let (_, id) = self
            .authorized(
                &request,
                "application_id",
                &request.get_ref().application_id,
                Verb::Read,
            )
            .await?;
        let integration = self
            .0
            .storage
            .get_application_integration(id, IntegrationKind::Http)
            .await
            .map_err(|e| integration_status(id, "HTTP", e))?;
        let IntegrationConfig::Http(config) = integration.config;
        Ok(Response::new(api::GetHttpIntegrationResponse {
            integration: Some(http_to_proto(id, config)),
        }))
    }

    async fn update_http_integration(
        &self,
        request: Request<api::UpdateHttpIntegrationRequest>,
    ) -> Result<Response<Empty>, Status> {
        let s = &self.0;
        let (id, config) = self
            .http_integration_of(request, Verb::Update, |r| &mut r.integration)
            .await?;
        let mut integration = s
            .storage
            .get_application_integration(id, IntegrationKind::Http)
            .await
            .map_err(|e| integration_status(id, "HTTP", e))?;
        integration.config = IntegrationConfig::Http(config);
        integration.stamps.touch();
        s.storage
            .update_application_integration(&integration)
            .await
            .map_err(|e| integration_status(id, "HTTP", e))?;
        Ok(Response::new(Empty {}))
    }

    async fn delete_http_integration(
        &self,
        request: Request<api::DeleteHttpIntegrationRequest>,
    ) -> Result<Response<Empty>, Status> {
        let (_, id) = self
            .authorized(
                &request,
                "application_id",
                &request.get_ref().application_id,
                Verb::Delete,
            )
            .await?;
        self.0
            .storage
            .delete_application_integration(id, IntegrationKind::Http)
            .await
            .map_err(|e| integration_status(id, "HTTP", e))?;
        Ok(Response::new(Empty {}))
    }

    unsupported_integrations! {
        "InfluxDB": create_influx_db_integration(CreateInfluxDbIntegrationRequest),
            get_influx_db_integration(GetInfluxDbIntegrationRequest) -> GetInfluxDbIntegrationResponse,
            update_influx_db_integration(UpdateInfluxDbIntegrationRequest),
            delete_influx_db_integration(DeleteInfluxDbIntegrationRequest);
        "ThingsBoard": create_things_board_integration(CreateThingsBoardIntegrationRequest),
            get_things_board_integration(GetThingsBoardIntegrationRequest) -> GetThingsBoardIntegrationResponse,
            update_things_board_integration(UpdateThingsBoardIntegrationRequest),
            delete_things_board_integration(DeleteThingsBoardIntegrationRequest);
        "myDevices": create_my_devices_integration(CreateMyDevicesIntegrationRequest),
            get_my_devices_integration(GetMyDevicesIntegrationRequest) -> GetMyDevicesIntegrationResponse,
            update_my_devices_integration(UpdateMyDevicesIntegrationRequest),
            delete_my_devices_integration(DeleteMyDevicesIntegrationRequest);
        "GCP Pub/Sub": create_gcp_pub_sub_integration(CreateGcpPubSubIntegrationRequest),
            get_gcp_pub_sub_integration(GetGcpPubSubIntegrationRequest) -> GetGcpPubSubIntegrationResponse,
            update_gcp_pub_sub_integration(UpdateGcpPubSubIntegrationRequest),
            delete_gcp_pub_sub_integration(DeleteGcpPubSubIntegrationRequest);
        "AWS SNS": create_aws_sns_integration(CreateAwsSnsIntegrationRequest),
            get_aws_sns_integration(GetAwsSnsIntegrationRequest) -> GetAwsSnsIntegrationResponse,
            update_aws_sns_integration(UpdateAwsSnsIntegrationRequest),
            delete_aws_sns_integration(DeleteAwsSnsIntegrationRequest);
        "Azure Service Bus": create_azure_service_bus_integration(CreateAzureServiceBusIntegrationRequest),
            get_azure_service_bus_integration(GetAzureServiceBusIntegrationRequest) -> GetAzureServiceBusIntegrationResponse,
            update_azure_service_bus_integration(UpdateAzureServiceBusIntegrationRequest),
            delete_azure_service_bus_integration(DeleteAzureServiceBusIntegrationRequest);
        "Pilot Things": create_pilot_things_integration(CreatePilotThingsIntegrationRequest),
            get_pilot_things_integration(GetPilotThingsIntegrationRequest) -> GetPilotThingsIntegrationResponse,
            update_pilot_things_integration(UpdatePilotThingsIntegrationRequest),
            delete_pilot_things_integration(DeletePilotThingsIntegrationRequest);
        "IFTTT": create_ifttt_integration(CreateIftttIntegrationRequest),
            get_ifttt_integration(GetIftttIntegrationRequest) -> GetIftttIntegrationResponse,
            update_ifttt_integration(UpdateIftttIntegrationRequest),
            delete_ifttt_integration(DeleteIftttIntegrationRequest);
        "Blynk": create_blynk_integration(CreateBlynkIntegrationRequest),
            get_blynk_integration(GetBlynkIntegrationRequest) -> GetBlynkIntegrationResponse,
            update_blynk_integration(UpdateBlynkIntegrationRequest),
            delete_blynk_integration(DeleteBlynkIntegrationRequest);
    }

    async fn generate_mqtt_integration_client_certificate(
        &self,
        request: Request<api::GenerateMqttIntegrationClientCertificateRequest>,
    ) -> Result<Response<api::GenerateMqttIntegrationClientCertificateResponse>, Status> {
        self.0.principal(&request).await?;
        Err(Status::unimplemented(
            "MQTT integration client certificates are not supported by this server yet",
        ))
    }

    async fn list_device_profiles(
        &self,
        request: Request<api::ListApplicationDeviceProfilesRequest>,
    ) -> Result<Response<api::ListApplicationDeviceProfilesResponse>, Status> {
        let (_, id) = self
            .authorized(
                &request,
                "application_id",
                &request.get_ref().application_id,
                Verb::Read,
            )
            .await?;
        let profiles = self
            .0
            .storage
            .application_device_profiles(id)
            .await
            .map_err(status)?;
        Ok(Response::new(api::ListApplicationDeviceProfilesResponse {
            result: profiles
                .into_iter()
                .map(|(id, name)| api::ApplicationDeviceProfileListItem {
                    id: id.to_string(),
                    name,
                })
                .collect(),
        }))
    }

    async fn list_device_tags(
        &self,
        request: Request<api::ListApplicationDeviceTagsRequest>,
    ) -> Result<Response<api::ListApplicationDeviceTagsResponse>, Status> {
        let (_, id) = self
            .authorized(
                &request,
                "application_id",
                &request.get_ref().application_id,
                Verb::Read,
            )
            .await?;
        let tags = self
            .0
            .storage
            .application_device_tags(id)
            .await
            .map_err(status)?;
        Ok(Response::new(api::ListApplicationDeviceTagsResponse {
            result: tags
                .into_iter()
                .map(|(key, values)| api::ApplicationDeviceTagListItem { key, values })
                .collect(),
        }))
    }
}
