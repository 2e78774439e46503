//! Provisioning a simulation through the management API: the tenant, the
//! application, the device profile, the gateways and the devices a
//! simulation needs, created (or brought up to date) with ChirpStack v4's
//! gRPC services and an API key, so that the same simulation runs against
//! this stack's network server and against ChirpStack alike.
//!
//! [`provision`] is idempotent: run twice with the same [`Plan`], the second
//! run finds everything the first created (the tenant, application and
//! device profile by exact name, gateways and devices by EUI) and updates it
//! to the plan instead of creating duplicates. Gateways and devices are
//! provisioned [`CONCURRENCY`] at a time, so a thousand devices take
//! seconds.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use lorawan::Eui64;
//! use lorawan::keys::{AppKey, NwkKey};
//! use lorawan::region::{Region, Revision};
//! use lorawan_sim::device::LorawanVersion;
//! use lorawan_sim::provision::{ApiClient, DevicePlan, GatewayPlan, Plan, ProfilePlan, provision};
//!
//! # async fn run() -> Result<(), lorawan_sim::provision::ProvisionError> {
//! let client = ApiClient::connect("http://127.0.0.1:8080", "<api key token>").await?;
//! let plan = Plan {
//!     tenant: "simulation".into(),
//!     application: "simulated devices".into(),
//!     profile: ProfilePlan {
//!         name: "EU868 1.0.3 class A".into(),
//!         region: Region::Eu868,
//!         mac_version: LorawanVersion::V1_0_3,
//!         reg_params_revision: Revision::Rp002_1_0_3,
//!         supports_otaa: true,
//!         supports_class_c: false,
//!         uplink_interval: Duration::from_secs(60),
//!     },
//!     gateways: vec![GatewayPlan {
//!         gateway_id: Eui64::from_u64(0x0016_c001_ff10_0001),
//!         name: "sim-gw-1".into(),
//!         latitude: 52.37,
//!         longitude: 4.89,
//!         altitude: 2.0,
//!         stats_interval: Duration::from_secs(30),
//!     }],
//!     devices: vec![DevicePlan {
//!         dev_eui: Eui64::from_u64(1),
//!         join_eui: Eui64::from_u64(0),
//!         name: "sim-dev-1".into(),
//!         nwk_key: NwkKey::from_be_bytes([1; 16]),
//!         app_key: AppKey::from_be_bytes([2; 16]),
//!         abp: None,
//!     }],
//! };
//! let done = provision(&client, &plan).await?;
//! println!("devices in application {}", done.application_id);
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lorawan::crypto::SessionKeys11;
use lorawan::keys::{AppKey, NwkKey};
use lorawan::region::{Region, Revision};
use lorawan::{DevAddr, Eui64};
use ns_core::api::proto as api;
use ns_core::api::proto::application_service_client::ApplicationServiceClient;
use ns_core::api::proto::device_profile_service_client::DeviceProfileServiceClient;
use ns_core::api::proto::device_service_client::DeviceServiceClient;
use ns_core::api::proto::gateway_service_client::GatewayServiceClient;
use ns_core::api::proto::tenant_service_client::TenantServiceClient;
use ns_core::api::service::{region_to_proto, revision_to_proto};
use packet_forwarder::gw::common;
use tokio::task::JoinSet;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use uuid::Uuid;

use crate::device::LorawanVersion;

/// How many gateways or devices are provisioned at the same time.
pub const CONCURRENCY: usize = 16;

/// Rows asked for per List call when looking a name up.
const PAGE: u32 = 100;

/// What went wrong while provisioning; the message names the call that
/// failed and the object it was about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The API URL is not a URI.
    #[error("API URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The API could not be reached.
    #[error("connecting to the API at {url}: {source}")]
    Connect {
        /// The URL connected to.
        url: String,
        /// The transport's error.
        #[source]
        source: tonic::transport::Error,
    },
    /// The API key token cannot be sent as gRPC metadata (it holds
    /// characters a header cannot).
    #[error("the API key token is not a valid gRPC metadata value")]
    InvalidToken,
    /// The server refused a call, e.g. "creating device 0102030405060708:
    /// not permitted".
    #[error("{action}: {}", status_text(.status))]
    Api {
        /// What was being done.
        action: String,
        /// The server's answer.
        status: Box<Status>,
    },
    /// The server answered something this module cannot use (an id that is
    /// not a UUID, a missing message).
    #[error("{action}: unexpected answer: {reason}")]
    UnexpectedAnswer {
        /// What was being done.
        action: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// More than one object has the name the plan gives, so which one to
    /// reuse is not clear.
    #[error("{kind} {name:?}: {count} exist with this name, the plan needs at most one")]
    Ambiguous {
        /// `"tenant"`, `"application"` or `"device profile"`.
        kind: &'static str,
        /// The name.
        name: String,
        /// How many have it.
        count: usize,
    },
    /// A gateway of the plan exists in another tenant.
    #[error("gateway {gateway_id} belongs to tenant {owner}, not to the plan's tenant {tenant}")]
    GatewayOfOtherTenant {
        /// The gateway.
        gateway_id: Eui64,
        /// The tenant it belongs to.
        owner: String,
        /// The plan's tenant.
        tenant: Uuid,
    },
    /// A provisioning task panicked or was cancelled.
    #[error("a provisioning task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

impl ProvisionError {
    /// The gRPC status code, when the server refused a call.
    pub fn code(&self) -> Option<Code> {
        match self {
            Self::Api { status, .. } => Some(status.code()),
            _ => None,
        }
    }

    fn api(action: impl Into<String>, status: Status) -> Self {
        Self::Api {
            action: action.into(),
            status: Box::new(status),
        }
    }
}

/// A status's message, or its code's description when it has none.
fn status_text(status: &Status) -> String {
    if status.message().is_empty() {
        status.code().description().to_owned()
    } else {
        status.message().to_owned()
    }
}

/// Whether a Get's status means the object is not there for this caller:
/// NOT_FOUND, or PERMISSION_DENIED, which is what a tenant's API key gets
/// for an object that does not exist (ours and ChirpStack's servers both
/// refuse to say whether it exists). Create tells the two apart.
fn absent(status: &Status) -> bool {
    matches!(status.code(), Code::NotFound | Code::PermissionDenied)
}

/// A connection to a ChirpStack-compatible management API, with the API key
/// every call is made with. Cheap to clone (the connection is shared).
#[derive(Clone)]
pub struct ApiClient {
    channel: Channel,
    authorization: AsciiMetadataValue,
}

impl std::fmt::Debug for ApiClient {
    // The token is a credential: not in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// Connects to `url` (`http://host:port`) with the API key `token`
    /// (sent as `authorization: Bearer <token>` on every call).
    ///
    /// # Errors
    /// [`ProvisionError::InvalidToken`], [`ProvisionError::InvalidUrl`] or
    /// [`ProvisionError::Connect`].
    pub async fn connect(url: &str, token: &str) -> Result<Self, ProvisionError> {
        let authorization: AsciiMetadataValue = format!("Bearer {token}")
            .parse()
            .map_err(|_| ProvisionError::InvalidToken)?;
        let endpoint =
            Channel::from_shared(url.to_owned()).map_err(|e| ProvisionError::InvalidUrl {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        let channel = endpoint
            .connect()
            .await
            .map_err(|source| ProvisionError::Connect {
                url: url.to_owned(),
                source,
            })?;
        Ok(Self {
            channel,
            authorization,
        })
    }

    /// `message` with the API key.
    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.authorization.clone());
        request
    }

    fn tenants(&self) -> TenantServiceClient<Channel> {
        TenantServiceClient::new(self.channel.clone())
    }

    fn applications(&self) -> ApplicationServiceClient<Channel> {
        ApplicationServiceClient::new(self.channel.clone())
    }

    fn device_profiles(&self) -> DeviceProfileServiceClient<Channel> {
        DeviceProfileServiceClient::new(self.channel.clone())
    }

    fn gateways(&self) -> GatewayServiceClient<Channel> {
        GatewayServiceClient::new(self.channel.clone())
    }

    fn devices(&self) -> DeviceServiceClient<Channel> {
        DeviceServiceClient::new(self.channel.clone())
    }

    /// Queues `data` on `f_port` for `dev_eui`, as an application would
    /// (`DeviceService/Enqueue`); returns the queue item's id.
    ///
    /// # Errors
    /// [`ProvisionError::Api`] when the server refuses it (an unknown
    /// device, a payload too large for any data rate).
    pub async fn enqueue(
        &self,
        dev_eui: Eui64,
        f_port: u8,
        confirmed: bool,
        data: Vec<u8>,
    ) -> Result<String, ProvisionError> {
        let action = || format!("enqueuing a downlink for device {dev_eui}");
        let request = api::EnqueueDeviceQueueItemRequest {
            queue_item: Some(api::DeviceQueueItem {
                dev_eui: dev_eui.to_string(),
                confirmed,
                f_port: u32::from(f_port),
                data,
                ..Default::default()
            }),
            flush_queue: false,
        };
        let response = self
            .devices()
            .enqueue(self.request(request))
            .await
            .map_err(|status| ProvisionError::Api {
                action: action(),
                status: Box::new(status),
            })?;
        Ok(response.into_inner().id)
    }
}

/// What a simulation needs on the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The tenant's name.
    pub tenant: String,
    /// The application's name (in the tenant).
    pub application: String,
    /// The device profile every device uses.
    pub profile: ProfilePlan,
    /// The gateways (in the tenant).
    pub gateways: Vec<GatewayPlan>,
    /// The devices (in the application).
    pub devices: Vec<DevicePlan>,
}

/// The device profile of a simulation's devices.
///
/// The profile is created without a region configuration id, which both
/// servers read as "any configuration of the region": the configuration an
/// uplink arrives through is the one used (a profile naming `eu868` would
/// refuse uplinks through a server whose EU868 configuration has another
/// id, and US915 has one per sub-band).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfilePlan {
    /// The profile's name (in the tenant).
    pub name: String,
    /// The region.
    pub region: Region,
    /// The LoRaWAN version of the devices.
    pub mac_version: LorawanVersion,
    /// The Regional Parameters revision of the devices.
    pub reg_params_revision: Revision,
    /// Whether devices join over the air (false: activation by
    /// personalization).
    pub supports_otaa: bool,
    /// Whether devices operate in class C.
    pub supports_class_c: bool,
    /// How often devices send an uplink (whole seconds are sent).
    pub uplink_interval: Duration,
}

/// A gateway of a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayPlan {
    /// The gateway ID.
    pub gateway_id: Eui64,
    /// Its name.
    pub name: String,
    /// Latitude, in degrees.
    pub latitude: f64,
    /// Longitude, in degrees.
    pub longitude: f64,
    /// Altitude, in metres.
    pub altitude: f64,
    /// How often it sends statistics (whole seconds are sent).
    pub stats_interval: Duration,
}

/// A device of a simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePlan {
    /// The DevEUI.
    pub dev_eui: Eui64,
    /// The JoinEUI.
    pub join_eui: Eui64,
    /// Its name.
    pub name: String,
    /// The NwkKey; for LoRaWAN 1.0.x, the AppKey the device joins with (as
    /// ChirpStack stores it).
    pub nwk_key: NwkKey,
    /// The AppKey of LoRaWAN 1.1 (unused by 1.0.x devices).
    pub app_key: AppKey,
    /// ABP: the address and session keys to activate with
    /// (DeviceService.Activate); `None`: OTAA. For LoRaWAN 1.0.x the
    /// NwkSKey is taken from `f_nwk_s_int_key`.
    pub abp: Option<(DevAddr, SessionKeys11)>,
}

/// What [`provision`] found or created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provisioned {
    /// The tenant.
    pub tenant_id: Uuid,
    /// The application.
    pub application_id: Uuid,
    /// The device profile.
    pub device_profile_id: Uuid,
    /// How many gateways this call created (the others existed and were
    /// updated).
    pub gateways_created: usize,
    /// How many devices this call created (the others existed and were
    /// updated).
    pub devices_created: usize,
}

/// Creates what `plan` names, reusing what exists: the tenant and
/// application found by exact name (List with search, then exact match),
/// the device profile likewise within the tenant, gateways and devices by
/// id (Get: NOT_FOUND → Create; found → Update to the plan, and for devices
/// their keys: CreateKeys or UpdateKeys). ABP devices are activated with
/// their session (frame counters 0; for LoRaWAN 1.0.x the NwkSKey goes in
/// `f_nwk_s_int_key`, `s_nwk_s_int_key` and `nwk_s_enc_key` alike, as
/// ChirpStack's API expects). The tenant is created with
/// `can_have_gateways` (and a tenant found without it gets it, when the plan
/// has gateways).
///
/// Settings the plan does not name (descriptions, tags, a profile's codec)
/// are left as they are on objects that exist.
///
/// # Errors
/// The first call that failed, named (e.g. "creating device
/// 0102030405060708: …"); what was provisioned before it stays, and a
/// second run picks up from there.
pub async fn provision(client: &ApiClient, plan: &Plan) -> Result<Provisioned, ProvisionError> {
    let tenant_id = ensure_tenant(client, &plan.tenant, !plan.gateways.is_empty()).await?;
    let application_id = ensure_application(client, tenant_id, &plan.application).await?;
    let device_profile_id = ensure_profile(client, tenant_id, &plan.profile).await?;

    let gateways_created = run_bounded(plan.gateways.iter().map(|gateway| {
        let client = client.clone();
        let gateway = gateway.clone();
        async move { ensure_gateway(&client, tenant_id, &gateway).await }
    }))
    .await?;

    let target = Arc::new(DeviceTarget {
        application_id,
        device_profile_id,
        mac_version: plan.profile.mac_version,
    });
    let devices_created = run_bounded(plan.devices.iter().map(|device| {
        let client = client.clone();
        let target = target.clone();
        let device = device.clone();
        async move { ensure_device(&client, &target, &device).await }
    }))
    .await?;

    Ok(Provisioned {
        tenant_id,
        application_id,
        device_profile_id,
        gateways_created,
        devices_created,
    })
}

/// Runs `tasks`, [`CONCURRENCY`] at a time, until one fails (the others are
/// then aborted); how many answered `true` (created).
async fn run_bounded<F>(tasks: impl IntoIterator<Item = F>) -> Result<usize, ProvisionError>
where
    F: Future<Output = Result<bool, ProvisionError>> + Send + 'static,
{
    let mut pending = tasks.into_iter();
    let mut running = JoinSet::new();
    let mut created = 0;
    loop {
        while running.len() < CONCURRENCY {
            let Some(task) = pending.next() else { break };
            running.spawn(task);
        }
        let Some(done) = running.join_next().await else {
            return Ok(created);
        };
        created += usize::from(done.map_err(ProvisionError::Task)??);
    }
}

/// Pages through a name search (`page(offset)` answers the total count and
/// one page) and keeps the rows named exactly `name`: the one such row, or
/// none; more is [`ProvisionError::Ambiguous`].
async fn find_by_name<T, F, Fut>(
    kind: &'static str,
    name: &str,
    name_of: fn(&T) -> &str,
    mut page: F,
) -> Result<Option<T>, ProvisionError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<(u32, Vec<T>), Status>>,
{
    let mut matches = Vec::new();
    let mut offset = 0u32;
    loop {
        let (total, rows) = page(offset)
            .await
            .map_err(|s| ProvisionError::api(format!("listing {kind}s named {name:?}"), s))?;
        let n = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        matches.extend(rows.into_iter().filter(|row| name_of(row) == name));
        offset = offset.saturating_add(n);
        if n == 0 || offset >= total {
            break;
        }
    }
    if matches.len() > 1 {
        return Err(ProvisionError::Ambiguous {
            kind,
            name: name.to_owned(),
            count: matches.len(),
        });
    }
    Ok(matches.pop())
}

/// `id` as a UUID, or [`ProvisionError::UnexpectedAnswer`] for `action`.
fn parse_id(action: &str, id: &str) -> Result<Uuid, ProvisionError> {
    Uuid::parse_str(id).map_err(|e| ProvisionError::UnexpectedAnswer {
        action: action.to_owned(),
        reason: format!("id {id:?} is not a UUID: {e}"),
    })
}

/// The message a response must hold, or
/// [`ProvisionError::UnexpectedAnswer`] for `action`.
fn required<T>(action: &str, field: &str, value: Option<T>) -> Result<T, ProvisionError> {
    value.ok_or_else(|| ProvisionError::UnexpectedAnswer {
        action: action.to_owned(),
        reason: format!("no {field}"),
    })
}

/// The tenant named `name`, created if missing; given gateways when
/// `needs_gateways` and it cannot have them.
async fn ensure_tenant(
    client: &ApiClient,
    name: &str,
    needs_gateways: bool,
) -> Result<Uuid, ProvisionError> {
    let found = find_by_name(
        "tenant",
        name,
        |t: &api::TenantListItem| &t.name,
        |offset| {
            let mut tenants = client.tenants();
            let request = client.request(api::ListTenantsRequest {
                limit: PAGE,
                offset,
                search: name.to_owned(),
                ..Default::default()
            });
            async move {
                let r = tenants.list(request).await?.into_inner();
                Ok((r.total_count, r.result))
            }
        },
    )
    .await?;
    let Some(item) = found else {
        let action = format!("creating tenant {name:?}");
        let request = client.request(api::CreateTenantRequest {
            tenant: Some(api::Tenant {
                name: name.to_owned(),
                can_have_gateways: true,
                ..Default::default()
            }),
        });
        let id = client
            .tenants()
            .create(request)
            .await
            .map_err(|s| ProvisionError::api(&action, s))?
            .into_inner()
            .id;
        return parse_id(&action, &id);
    };
    let id = parse_id(&format!("listing tenants named {name:?}"), &item.id)?;
    if needs_gateways && !item.can_have_gateways {
        let action = format!("letting tenant {name:?} ({id}) have gateways");
        let mut tenants = client.tenants();
        let got = tenants
            .get(client.request(api::GetTenantRequest { id: item.id }))
            .await
            .map_err(|s| ProvisionError::api(&action, s))?
            .into_inner();
        let mut tenant = required(&action, "tenant", got.tenant)?;
        tenant.can_have_gateways = true;
        tenants
            .update(client.request(api::UpdateTenantRequest {
                tenant: Some(tenant),
            }))
            .await
            .map_err(|s| ProvisionError::api(&action, s))?;
    }
    Ok(id)
}

/// The application named `name` in `tenant_id`, created if missing.
async fn ensure_application(
    client: &ApiClient,
    tenant_id: Uuid,
    name: &str,
) -> Result<Uuid, ProvisionError> {
    let found = find_by_name(
        "application",
        name,
        |a: &api::ApplicationListItem| &a.name,
        |offset| {
            let mut applications = client.applications();
            let request = client.request(api::ListApplicationsRequest {
                limit: PAGE,
                offset,
                search: name.to_owned(),
                tenant_id: tenant_id.to_string(),
            });
            async move {
                let r = applications.list(request).await?.into_inner();
                Ok((r.total_count, r.result))
            }
        },
    )
    .await?;
    if let Some(item) = found {
        return parse_id(&format!("listing applications named {name:?}"), &item.id);
    }
    let action = format!("creating application {name:?}");
    let request = client.request(api::CreateApplicationRequest {
        application: Some(api::Application {
            name: name.to_owned(),
            tenant_id: tenant_id.to_string(),
            ..Default::default()
        }),
    });
    let id = client
        .applications()
        .create(request)
        .await
        .map_err(|s| ProvisionError::api(&action, s))?
        .into_inner()
        .id;
    parse_id(&action, &id)
}

/// The API MAC version of a LoRaWAN version.
fn mac_version_to_proto(version: LorawanVersion) -> common::MacVersion {
    use common::MacVersion as P;
    match version {
        LorawanVersion::V1_0_2 => P::Lorawan102,
        LorawanVersion::V1_0_3 => P::Lorawan103,
        LorawanVersion::V1_0_4 => P::Lorawan104,
        LorawanVersion::V1_1 => P::Lorawan110,
    }
}

/// Whole seconds of `d`, saturating.
fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// Sets the fields `plan` names on `profile`. A change of region clears
/// the region configuration id and resets the ABP receive windows to the
/// region's defaults, which belonged to the old region.
fn apply_profile(profile: &mut api::DeviceProfile, plan: &ProfilePlan) {
    let region = region_to_proto(plan.region) as i32;
    let revision = revision_to_proto(plan.reg_params_revision) as i32;
    if profile.region != region || profile.reg_params_revision != revision {
        let params = lorawan::region::params(plan.region, plan.reg_params_revision);
        profile.region_config_id.clear();
        profile.abp_rx1_delay = 1;
        profile.abp_rx1_dr_offset = 0;
        profile.abp_rx2_dr = u32::from(params.rx2_dr);
        profile.abp_rx2_freq = params.rx2_frequency;
    }
    profile.name.clone_from(&plan.name);
    profile.region = region;
    profile.mac_version = mac_version_to_proto(plan.mac_version) as i32;
    profile.reg_params_revision = revision;
    profile.supports_otaa = plan.supports_otaa;
    profile.supports_class_c = plan.supports_class_c;
    profile.uplink_interval = secs(plan.uplink_interval);
}

/// The device profile named `plan.name` in `tenant_id`, created or updated
/// to the plan.
async fn ensure_profile(
    client: &ApiClient,
    tenant_id: Uuid,
    plan: &ProfilePlan,
) -> Result<Uuid, ProvisionError> {
    let name = plan.name.as_str();
    let found = find_by_name(
        "device profile",
        name,
        |p: &api::DeviceProfileListItem| &p.name,
        |offset| {
            let mut profiles = client.device_profiles();
            let request = client.request(api::ListDeviceProfilesRequest {
                limit: PAGE,
                offset,
                search: name.to_owned(),
                tenant_id: tenant_id.to_string(),
                // ChirpStack lists global profiles too unless told not to.
                tenant_only: true,
                ..Default::default()
            });
            async move {
                let r = profiles.list(request).await?.into_inner();
                Ok((r.total_count, r.result))
            }
        },
    )
    .await?;
    let mut profiles = client.device_profiles();
    if let Some(item) = found {
        let action = format!("updating device profile {name:?}");
        let id = parse_id(&action, &item.id)?;
        let got = profiles
            .get(client.request(api::GetDeviceProfileRequest { id: item.id }))
            .await
            .map_err(|s| ProvisionError::api(&action, s))?
            .into_inner();
        let mut profile = required(&action, "device_profile", got.device_profile)?;
        apply_profile(&mut profile, plan);
        profiles
            .update(client.request(api::UpdateDeviceProfileRequest {
                device_profile: Some(profile),
            }))
            .await
            .map_err(|s| ProvisionError::api(&action, s))?;
        return Ok(id);
    }
    let action = format!("creating device profile {name:?}");
    let params = lorawan::region::params(plan.region, plan.reg_params_revision);
    // The defaults of ChirpStack's web interface for a new profile.
    let mut profile = api::DeviceProfile {
        tenant_id: tenant_id.to_string(),
        adr_algorithm_id: "default".into(),
        flush_queue_on_activate: true,
        device_status_req_interval: 1,
        class_c_timeout: 5,
        abp_rx1_delay: 1,
        abp_rx1_dr_offset: 0,
        abp_rx2_dr: u32::from(params.rx2_dr),
        abp_rx2_freq: params.rx2_frequency,
        ..Default::default()
    };
    apply_profile(&mut profile, plan);
    let id = profiles
        .create(client.request(api::CreateDeviceProfileRequest {
            device_profile: Some(profile),
        }))
        .await
        .map_err(|s| ProvisionError::api(&action, s))?
        .into_inner()
        .id;
    parse_id(&action, &id)
}

/// Sets the fields `plan` names on `gateway`.
fn apply_gateway(gateway: &mut api::Gateway, plan: &GatewayPlan) {
    gateway.name.clone_from(&plan.name);
    gateway.location = Some(common::Location {
        latitude: plan.latitude,
        longitude: plan.longitude,
        altitude: plan.altitude,
        ..Default::default()
    });
    gateway.stats_interval = secs(plan.stats_interval);
}

/// Creates the gateway, or updates it to the plan; whether it was created.
async fn ensure_gateway(
    client: &ApiClient,
    tenant_id: Uuid,
    plan: &GatewayPlan,
) -> Result<bool, ProvisionError> {
    let gateway_id = plan.gateway_id.to_string();
    let mut gateways = client.gateways();
    let got = gateways
        .get(client.request(api::GetGatewayRequest {
            gateway_id: gateway_id.clone(),
        }))
        .await;
    match got {
        Ok(response) => {
            let action = format!("updating gateway {gateway_id}");
            let mut gateway = required(&action, "gateway", response.into_inner().gateway)?;
            if parse_id(&action, &gateway.tenant_id)? != tenant_id {
                return Err(ProvisionError::GatewayOfOtherTenant {
                    gateway_id: plan.gateway_id,
                    owner: gateway.tenant_id,
                    tenant: tenant_id,
                });
            }
            apply_gateway(&mut gateway, plan);
            gateways
                .update(client.request(api::UpdateGatewayRequest {
                    gateway: Some(gateway),
                }))
                .await
                .map_err(|s| ProvisionError::api(&action, s))?;
            Ok(false)
        }
        Err(status) if absent(&status) => {
            let mut gateway = api::Gateway {
                gateway_id: gateway_id.clone(),
                tenant_id: tenant_id.to_string(),
                ..Default::default()
            };
            apply_gateway(&mut gateway, plan);
            gateways
                .create(client.request(api::CreateGatewayRequest {
                    gateway: Some(gateway),
                }))
                .await
                .map_err(|s| ProvisionError::api(format!("creating gateway {gateway_id}"), s))?;
            Ok(true)
        }
        Err(status) => Err(ProvisionError::api(
            format!("reading gateway {gateway_id}"),
            status,
        )),
    }
}

/// Where a plan's devices go.
#[derive(Debug)]
struct DeviceTarget {
    application_id: Uuid,
    device_profile_id: Uuid,
    mac_version: LorawanVersion,
}

/// Sets the fields `plan` and `target` name on `device`.
fn apply_device(device: &mut api::Device, plan: &DevicePlan, target: &DeviceTarget) {
    device.name.clone_from(&plan.name);
    device.application_id = target.application_id.to_string();
    device.device_profile_id = target.device_profile_id.to_string();
    device.join_eui = plan.join_eui.to_string();
}

/// Creates the device or updates it to the plan, writes its root keys,
/// and activates it when it is ABP; whether it was created.
async fn ensure_device(
    client: &ApiClient,
    target: &DeviceTarget,
    plan: &DevicePlan,
) -> Result<bool, ProvisionError> {
    let dev_eui = plan.dev_eui.to_string();
    let mut devices = client.devices();
    let got = devices
        .get(client.request(api::GetDeviceRequest {
            dev_eui: dev_eui.clone(),
        }))
        .await;
    let created = match got {
        Ok(response) => {
            let action = format!("updating device {dev_eui}");
            let mut device = required(&action, "device", response.into_inner().device)?;
            apply_device(&mut device, plan, target);
            devices
                .update(client.request(api::UpdateDeviceRequest {
                    device: Some(device),
                }))
                .await
                .map_err(|s| ProvisionError::api(&action, s))?;
            false
        }
        Err(status) if absent(&status) => {
            let mut device = api::Device {
                dev_eui: dev_eui.clone(),
                ..Default::default()
            };
            apply_device(&mut device, plan, target);
            devices
                .create(client.request(api::CreateDeviceRequest {
                    device: Some(device),
                }))
                .await
                .map_err(|s| ProvisionError::api(format!("creating device {dev_eui}"), s))?;
            true
        }
        Err(status) => {
            return Err(ProvisionError::api(
                format!("reading device {dev_eui}"),
                status,
            ));
        }
    };

    let keys = api::DeviceKeys {
        dev_eui: dev_eui.clone(),
        nwk_key: plan.nwk_key.to_string(),
        app_key: plan.app_key.to_string(),
        gen_app_key: String::new(),
    };
    if created {
        create_keys(client, &dev_eui, keys).await?;
    } else {
        let updated = devices
            .update_keys(client.request(api::UpdateDeviceKeysRequest {
                device_keys: Some(keys.clone()),
            }))
            .await;
        match updated {
            Ok(_) => {}
            // A device that exists without keys (an earlier run stopped
            // between the two calls, or someone deleted them).
            Err(status) if status.code() == Code::NotFound => {
                create_keys(client, &dev_eui, keys).await?;
            }
            Err(status) => {
                return Err(ProvisionError::api(
                    format!("updating the keys of device {dev_eui}"),
                    status,
                ));
            }
        }
    }

    if let Some((dev_addr, session)) = &plan.abp {
        devices
            .activate(client.request(api::ActivateDeviceRequest {
                device_activation: Some(activation(
                    &dev_eui,
                    *dev_addr,
                    session,
                    target.mac_version,
                )),
            }))
            .await
            .map_err(|s| ProvisionError::api(format!("activating device {dev_eui}"), s))?;
    }
    Ok(created)
}

/// Writes the root keys of a device that has none.
async fn create_keys(
    client: &ApiClient,
    dev_eui: &str,
    keys: api::DeviceKeys,
) -> Result<(), ProvisionError> {
    client
        .devices()
        .create_keys(client.request(api::CreateDeviceKeysRequest {
            device_keys: Some(keys),
        }))
        .await
        .map_err(|s| ProvisionError::api(format!("creating the keys of device {dev_eui}"), s))?;
    Ok(())
}

/// The ABP activation of a device: frame counters 0; for LoRaWAN 1.0.x the
/// NwkSKey (`f_nwk_s_int_key`, where a 1.0 session keeps it) in the three
/// network key fields, as ChirpStack's API expects.
fn activation(
    dev_eui: &str,
    dev_addr: DevAddr,
    keys: &SessionKeys11,
    mac_version: LorawanVersion,
) -> api::DeviceActivation {
    let (f_nwk_s_int_key, s_nwk_s_int_key, nwk_s_enc_key) = if mac_version.is_1_1() {
        (
            keys.f_nwk_s_int_key.to_string(),
            keys.s_nwk_s_int_key.to_string(),
            keys.nwk_s_enc_key.to_string(),
        )
    } else {
        let nwk_s_key = keys.f_nwk_s_int_key.to_string();
        (nwk_s_key.clone(), nwk_s_key.clone(), nwk_s_key)
    };
    api::DeviceActivation {
        dev_eui: dev_eui.to_owned(),
        dev_addr: dev_addr.to_string(),
        app_s_key: keys.app_s_key.to_string(),
        nwk_s_enc_key,
        s_nwk_s_int_key,
        f_nwk_s_int_key,
        f_cnt_up: 0,
        n_f_cnt_down: 0,
        a_f_cnt_down: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SessionKeys11 {
        use lorawan::keys::{AppSKey, FNwkSIntKey, NwkSEncKey, SNwkSIntKey};
        SessionKeys11 {
            f_nwk_s_int_key: FNwkSIntKey::from_be_bytes([1; 16]),
            s_nwk_s_int_key: SNwkSIntKey::from_be_bytes([2; 16]),
            nwk_s_enc_key: NwkSEncKey::from_be_bytes([3; 16]),
            app_s_key: AppSKey::from_be_bytes([4; 16]),
        }
    }

    #[test]
    fn lorawan_1_0_activation_puts_the_nwk_s_key_in_every_network_role() {
        let a = activation(
            "0102030405060708",
            DevAddr::from_be_bytes([0x26, 1, 2, 3]),
            &keys(),
            LorawanVersion::V1_0_3,
        );
        let ones = "01".repeat(16);
        assert_eq!(a.dev_addr, "26010203");
        assert_eq!(a.f_nwk_s_int_key, ones);
        assert_eq!(a.s_nwk_s_int_key, ones);
        assert_eq!(a.nwk_s_enc_key, ones);
        assert_eq!(a.app_s_key, "04".repeat(16));
        assert_eq!((a.f_cnt_up, a.n_f_cnt_down, a.a_f_cnt_down), (0, 0, 0));
    }

    #[test]
    fn lorawan_1_1_activation_keeps_the_three_network_keys_apart() {
        let a = activation(
            "0102030405060708",
            DevAddr::from_be_bytes([0x26, 1, 2, 3]),
            &keys(),
            LorawanVersion::V1_1,
        );
        assert_eq!(a.f_nwk_s_int_key, "01".repeat(16));
        assert_eq!(a.s_nwk_s_int_key, "02".repeat(16));
        assert_eq!(a.nwk_s_enc_key, "03".repeat(16));
    }

    #[test]
    fn a_change_of_region_clears_the_region_configuration() {
        let plan = ProfilePlan {
            name: "p".into(),
            region: Region::Us915,
            mac_version: LorawanVersion::V1_0_4,
            reg_params_revision: Revision::Rp002_1_0_3,
            supports_otaa: true,
            supports_class_c: true,
            uplink_interval: Duration::from_secs(90),
        };
        let mut profile = api::DeviceProfile {
            region: common::Region::Eu868 as i32,
            region_config_id: "eu868".into(),
            abp_rx2_freq: 869_525_000,
            ..Default::default()
        };
        apply_profile(&mut profile, &plan);
        assert_eq!(profile.region, common::Region::Us915 as i32);
        assert_eq!(profile.region_config_id, "");
        assert_eq!(profile.abp_rx2_freq, 923_300_000);
        assert_eq!(profile.mac_version, common::MacVersion::Lorawan104 as i32);
        assert_eq!(profile.uplink_interval, 90);
        assert!(profile.supports_class_c);
    }
}
