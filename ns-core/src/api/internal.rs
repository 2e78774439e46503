//! `InternalService`: what ChirpStack's web interface calls — login and
//! profile, API keys, global search, the dashboard summaries, live device
//! events, regions and the version.
//!
//! Not supported yet, answered UNIMPLEMENTED with a message saying so:
//! OpenID Connect and OAuth2 logins (`Settings` reports them disabled).

use std::sync::Arc;
use std::time::SystemTime;

use lorawan::Eui64;
use tokio::sync::broadcast::error::RecvError;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use super::auth::{needs_rehash, verify_password};
use super::authz::{Action, Kind, Principal, Verb};
use super::live::Stream;
use super::proto::{self as api, internal_service_server::InternalService};
use super::service::{
    ApiState, Target, parse_eui, parse_optional_uuid, region_to_proto, required, status, timestamp,
    unix_now,
};
use super::user::to_proto as user_to_proto;
use crate::model::ApiKey;
use crate::storage::{Found, ListQuery, Scope};

/// The `InternalService` over the API's state.
#[derive(Debug, Clone)]
pub struct InternalApi(pub Arc<ApiState>);

impl InternalApi {
    /// Authenticates the caller of a summary and answers its tenant scope:
    /// `tenant_id` if given (authorized as a read in it), else everything
    /// for admins.
    async fn summary_scope<T: Sync>(
        &self,
        request: &Request<T>,
        tenant_id: &str,
    ) -> Result<Option<uuid::Uuid>, Status> {
        let s = &self.0;
        let who = s.principal(request).await?;
        match parse_optional_uuid("tenant_id", tenant_id)? {
            Some(id) => {
                let tenant = s.tenant_of(&who, Target::Tenant(id)).await?;
                s.authorize(&who, Action::new(Kind::Tenant, Verb::Read, Some(tenant)))?;
                Ok(Some(tenant))
            }
            None => {
                s.authorize(&who, Action::new(Kind::Tenant, Verb::List, None))?;
                Ok(None)
            }
        }
    }

    /// Authenticates the caller, authorizes reading device `dev_eui` and
    /// answers the live items of its stream `stream`.
    async fn watch_device<T: Sync>(
        &self,
        request: &Request<T>,
        dev_eui: &str,
        stream: fn(Eui64) -> Stream,
    ) -> Result<Response<BoxStream<api::LogItem>>, Status> {
        let s = &self.0;
        let who = s.principal(request).await?;
        let dev_eui = parse_eui("dev_eui", dev_eui)?;
        let tenant = s.tenant_of(&who, Target::Device(dev_eui)).await?;
        s.authorize(&who, Action::new(Kind::Device, Verb::Read, Some(tenant)))?;
        Ok(Response::new(self.watch(stream(dev_eui))))
    }

    /// The live items of `stream` from now on, until the caller goes away.
    fn watch(&self, stream: Stream) -> BoxStream<api::LogItem> {
        let mut rx = self.0.live.subscribe();
        let (tx, out) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(item) if item.stream == stream => {
                        if tx.send(Ok(item.item.clone())).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        });
        Box::pin(futures_util::stream::unfold(out, |mut out| async move {
            out.recv().await.map(|item| (item, out))
        }))
    }

    /// Authorizes managing API keys: global ones for admins, a tenant's for
    /// its admins.
    fn authorize_keys(
        &self,
        who: &Principal,
        tenant: Option<uuid::Uuid>,
        verb: Verb,
    ) -> Result<(), Status> {
        let kind = if tenant.is_some() {
            Kind::TenantApiKey
        } else {
            Kind::AdminApiKey
        };
        self.0.authorize(who, Action::new(kind, verb, tenant))
    }
}

fn found_to_proto(found: Found) -> api::GlobalSearchResult {
    let mut r = api::GlobalSearchResult {
        score: 1.0,
        ..Default::default()
    };
    match found {
        Found::Tenant { id, name } => {
            r.kind = "tenant".into();
            r.tenant_id = id.to_string();
            r.tenant_name = name;
        }
        Found::Application { tenant, id, name } => {
            r.kind = "application".into();
            (r.tenant_id, r.tenant_name) = (tenant.0.to_string(), tenant.1);
            r.application_id = id.to_string();
            r.application_name = name;
        }
        Found::Device {
            tenant,
            application,
            dev_eui,
            name,
        } => {
            r.kind = "device".into();
            (r.tenant_id, r.tenant_name) = (tenant.0.to_string(), tenant.1);
            (r.application_id, r.application_name) = (application.0.to_string(), application.1);
            r.device_dev_eui = dev_eui.to_string();
            r.device_name = name;
        }
        Found::Gateway {
            tenant,
            gateway_id,
            name,
        } => {
            r.kind = "gateway".into();
            (r.tenant_id, r.tenant_name) = (tenant.0.to_string(), tenant.1);
            r.gateway_id = gateway_id.to_string();
            r.gateway_name = name;
        }
    }
    r
}

#[tonic::async_trait]
impl InternalService for InternalApi {
    type StreamGatewayFramesStream = BoxStream<api::LogItem>;
    type StreamDeviceFramesStream = BoxStream<api::LogItem>;
    type StreamDeviceEventsStream = BoxStream<api::LogItem>;

    async fn login(
        &self,
        request: Request<api::LoginRequest>,
    ) -> Result<Response<api::LoginResponse>, Status> {
        let s = &self.0;
        let req = request.into_inner();
        let refused = || Status::unauthenticated("invalid email or password");
        let user = s
            .storage
            .find_user_by_email(&req.email)
            .await
            .map_err(status)?;
        let Some(user) = user else {
            // Spend the time a check would, so timing tells nothing.
            let hasher = s.hasher.clone();
            let _ = tokio::task::spawn_blocking(move || hasher.hash(&req.password)).await;
            return Err(refused());
        };
        let stored = user.password_hash.clone();
        let password = req.password;
        let (ok, password) =
            tokio::task::spawn_blocking(move || (verify_password(&password, &stored), password))
                .await
                .map_err(|_| Status::internal("password check failed"))?;
        if !matches!(ok, Ok(true)) || !user.is_active {
            return Err(refused());
        }
        // Hashes from ChirpStack (fewer rounds) are upgraded on login.
        if needs_rehash(&user.password_hash, &s.hasher) {
            let hasher = s.hasher.clone();
            if let Ok(hash) = tokio::task::spawn_blocking(move || hasher.hash(&password)).await {
                let _ = s.storage.set_user_password_hash(user.id, &hash).await;
            }
        }
        let jwt = s
            .signer
            .sign_user(user.id, unix_now(), s.settings.token_lifetime);
        Ok(Response::new(api::LoginResponse { jwt }))
    }

    async fn profile(
        &self,
        request: Request<pbjson_types::Empty>,
    ) -> Result<Response<api::ProfileResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let Principal::User { user, tenants } = who else {
            return Err(Status::unauthenticated(
                "a profile needs a user token, not an API key",
            ));
        };
        Ok(Response::new(api::ProfileResponse {
            user: Some(user_to_proto(&user)),
            tenants: tenants
                .iter()
                .map(|t| api::UserTenantLink {
                    created_at: Some(timestamp(t.stamps.created_at)),
                    updated_at: Some(timestamp(t.stamps.updated_at)),
                    tenant_id: t.tenant_id.to_string(),
                    is_admin: t.is_admin,
                    is_device_admin: t.is_device_admin,
                    is_gateway_admin: t.is_gateway_admin,
                })
                .collect(),
            applications: Vec::new(),
            device_profiles: Vec::new(),
        }))
    }

    async fn global_search(
        &self,
        request: Request<api::GlobalSearchRequest>,
    ) -> Result<Response<api::GlobalSearchResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let req = request.into_inner();
        let scope = match &who {
            w if w.is_admin() => Scope::All,
            Principal::Key(key) if key.is_admin => Scope::All,
            Principal::Key(key) => Scope::Tenant(key.tenant_id.unwrap_or_default()),
            Principal::User { user, .. } => Scope::MemberOf(user.id),
        };
        let limit = u32::try_from(req.limit.clamp(0, 1000)).unwrap_or(0);
        let offset = u32::try_from(req.offset.max(0)).unwrap_or(u32::MAX);
        let found = s
            .storage
            .global_search(&req.search, scope, limit, offset)
            .await
            .map_err(status)?;
        Ok(Response::new(api::GlobalSearchResponse {
            result: found.into_iter().map(found_to_proto).collect(),
        }))
    }

    async fn create_api_key(
        &self,
        request: Request<api::CreateApiKeyRequest>,
    ) -> Result<Response<api::CreateApiKeyResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let k = required("api_key", request.into_inner().api_key)?;
        let tenant = parse_optional_uuid("api_key.tenant_id", &k.tenant_id)?;
        match (k.is_admin, tenant) {
            (true, Some(_)) => {
                return Err(s.invalid("api_key: an admin key has no tenant_id"));
            }
            (false, None) => {
                return Err(s.invalid("api_key.tenant_id is required for a tenant key"));
            }
            _ => {}
        }
        if let Some(id) = tenant {
            s.tenant_of(&who, Target::Tenant(id)).await?;
        }
        self.authorize_keys(&who, tenant, Verb::Create)?;
        if k.name.trim().is_empty() || k.name.chars().count() > 100 {
            return Err(s.invalid("api_key.name: 1 to 100 characters are required"));
        }
        let mut key = ApiKey::new(k.name, tenant);
        key.is_read_only = k.is_read_only;
        s.storage.create_api_key(&key).await.map_err(status)?;
        Ok(Response::new(api::CreateApiKeyResponse {
            id: key.id.to_string(),
            token: s.signer.sign_api_key(key.id),
        }))
    }

    async fn delete_api_key(
        &self,
        request: Request<api::DeleteApiKeyRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let id = super::service::parse_uuid("id", &request.get_ref().id)?;
        let key = match s.storage.get_api_key(id).await {
            Ok(key) => key,
            Err(crate::storage::StorageError::NotFound(_)) if !who.is_admin() => {
                return Err(Status::permission_denied("not permitted"));
            }
            Err(e) => return Err(status(e)),
        };
        self.authorize_keys(&who, key.tenant_id, Verb::Delete)?;
        s.storage.delete_api_key(id).await.map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn list_api_keys(
        &self,
        request: Request<api::ListApiKeysRequest>,
    ) -> Result<Response<api::ListApiKeysResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let req = request.into_inner();
        let tenant = if req.is_admin {
            None
        } else {
            let id = parse_optional_uuid("tenant_id", &req.tenant_id)?
                .ok_or_else(|| s.invalid("tenant_id is required unless is_admin is set"))?;
            Some(s.tenant_of(&who, Target::Tenant(id)).await?)
        };
        self.authorize_keys(&who, tenant, Verb::List)?;
        let page = s
            .storage
            .list_api_keys(tenant, &ListQuery::page(req.limit, req.offset))
            .await
            .map_err(status)?;
        Ok(Response::new(api::ListApiKeysResponse {
            total_count: u32::try_from(page.total).unwrap_or(u32::MAX),
            result: page
                .items
                .into_iter()
                .map(|k| api::ApiKey {
                    id: k.id.to_string(),
                    name: k.name,
                    is_admin: k.is_admin,
                    tenant_id: k.tenant_id.map(|t| t.to_string()).unwrap_or_default(),
                    is_read_only: k.is_read_only,
                })
                .collect(),
        }))
    }

    async fn settings(
        &self,
        _request: Request<pbjson_types::Empty>,
    ) -> Result<Response<api::SettingsResponse>, Status> {
        // Asked before logging in: no authentication.
        Ok(Response::new(api::SettingsResponse {
            openid_connect: Some(api::OpenIdConnect::default()),
            oauth2: Some(api::OAuth2::default()),
            tileserver_url: "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png".into(),
            map_attribution:
                "&copy; <a href=\"https://www.openstreetmap.org/copyright\">OpenStreetMap</a> contributors"
                    .into(),
        }))
    }

    async fn open_id_connect_login(
        &self,
        _request: Request<api::OpenIdConnectLoginRequest>,
    ) -> Result<Response<api::OpenIdConnectLoginResponse>, Status> {
        Err(Status::unimplemented(
            "OpenID Connect login is not supported by this server yet",
        ))
    }

    async fn o_auth2_login(
        &self,
        _request: Request<api::OAuth2LoginRequest>,
    ) -> Result<Response<api::OAuth2LoginResponse>, Status> {
        Err(Status::unimplemented(
            "OAuth2 login is not supported by this server yet",
        ))
    }

    async fn get_devices_summary(
        &self,
        request: Request<api::GetDevicesSummaryRequest>,
    ) -> Result<Response<api::GetDevicesSummaryResponse>, Status> {
        let s = &self.0;
        let tenant = self
            .summary_scope(&request, &request.get_ref().tenant_id)
            .await?;
        let summary = s
            .storage
            .devices_summary(tenant, SystemTime::now())
            .await
            .map_err(status)?;
        Ok(Response::new(api::GetDevicesSummaryResponse {
            active_count: summary.active,
            inactive_count: summary.inactive,
            dr_count: summary.per_dr,
            never_seen_count: summary.never_seen,
        }))
    }

    async fn get_gateways_summary(
        &self,
        request: Request<api::GetGatewaysSummaryRequest>,
    ) -> Result<Response<api::GetGatewaysSummaryResponse>, Status> {
        let s = &self.0;
        let tenant = self
            .summary_scope(&request, &request.get_ref().tenant_id)
            .await?;
        let summary = s
            .storage
            .gateways_summary(tenant, SystemTime::now())
            .await
            .map_err(status)?;
        Ok(Response::new(api::GetGatewaysSummaryResponse {
            online_count: summary.online,
            offline_count: summary.offline,
            never_seen_count: summary.never_seen,
        }))
    }

    async fn stream_gateway_frames(
        &self,
        request: Request<api::StreamGatewayFramesRequest>,
    ) -> Result<Response<BoxStream<api::LogItem>>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let gateway_id = parse_eui("gateway_id", &request.get_ref().gateway_id)?;
        let tenant = s.tenant_of(&who, Target::Gateway(gateway_id)).await?;
        s.authorize(&who, Action::new(Kind::Gateway, Verb::Read, Some(tenant)))?;
        Ok(Response::new(self.watch(Stream::GatewayFrames(gateway_id))))
    }

    async fn stream_device_frames(
        &self,
        request: Request<api::StreamDeviceFramesRequest>,
    ) -> Result<Response<BoxStream<api::LogItem>>, Status> {
        self.watch_device(&request, &request.get_ref().dev_eui, Stream::DeviceFrames)
            .await
    }

    async fn stream_device_events(
        &self,
        request: Request<api::StreamDeviceEventsRequest>,
    ) -> Result<Response<BoxStream<api::LogItem>>, Status> {
        self.watch_device(&request, &request.get_ref().dev_eui, Stream::DeviceEvents)
            .await
    }

    async fn list_regions(
        &self,
        request: Request<pbjson_types::Empty>,
    ) -> Result<Response<api::ListRegionsResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        s.authorize(&who, Action::new(Kind::ServerInfo, Verb::List, None))?;
        let regions = s
            .config
            .enabled_regions()
            .filter_map(|entry| {
                let network = entry.network().ok()?;
                Some(api::RegionListItem {
                    id: entry.id.clone(),
                    region: region_to_proto(network.params.region) as i32,
                    description: entry.description.clone(),
                })
            })
            .collect();
        Ok(Response::new(api::ListRegionsResponse { regions }))
    }

    async fn get_region(
        &self,
        request: Request<api::GetRegionRequest>,
    ) -> Result<Response<api::GetRegionResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        s.authorize(&who, Action::new(Kind::ServerInfo, Verb::Read, None))?;
        let id = &request.get_ref().id;
        let entry = s
            .config
            .enabled_regions()
            .find(|e| &e.id == id)
            .ok_or_else(|| Status::not_found(format!("region {id:?} is not enabled")))?;
        let network = entry
            .network()
            .map_err(|e| Status::internal(format!("region {id:?}: {e}")))?;
        Ok(Response::new(api::GetRegionResponse {
            id: entry.id.clone(),
            region: region_to_proto(network.params.region) as i32,
            user_info: entry.user_info.clone(),
            uplink_channels: network
                .uplink_channels
                .iter()
                .map(|(_, c)| api::RegionChannel {
                    frequency: c.frequency,
                    data_rates: (c.min_dr..=c.max_dr).map(u32::from).collect(),
                })
                .collect(),
            rx1_delay: u32::from(network.rx1_delay),
            rx1_dr_offset: u32::from(network.rx1_dr_offset),
            rx2_dr: u32::from(network.rx2_dr),
            rx2_frequency: network.rx2_frequency,
            class_b_ping_slot_dr: 0,
            class_b_ping_slot_frequency: 0,
            description: entry.description.clone(),
        }))
    }

    async fn get_version(
        &self,
        request: Request<pbjson_types::Empty>,
    ) -> Result<Response<api::GetVersionResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        s.authorize(&who, Action::new(Kind::ServerInfo, Verb::Read, None))?;
        Ok(Response::new(api::GetVersionResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
        }))
    }
}
