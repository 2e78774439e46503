//! `DeviceProfileService`: device profiles and the ADR algorithms they can
//! select.
//!
//! Supported:
//! - `Create`, `Get`, `Update`, `Delete` and `List` (a tenant's profiles,
//!   searched by name, optionally only those made from one repository
//!   device model, `device_id`). There are no global profiles: `List` with
//!   `global_only` answers an empty list, and `tenant_only` changes nothing.
//! - `ListAdrAlgorithms`: the server's built-in algorithms
//!   ([`AdrRegistry::default`]).
//! - `ListVendors` and `ListDevices` answer empty lists: the server has no
//!   device-profile repository to import vendors and devices into.
//!
//! Answered UNIMPLEMENTED, after authenticating the caller, as the
//! repository is not supported yet: `GetByProfileId`, `GetVendor`,
//! `DeleteVendor`, `GetDevice`, `DeleteDevice`.
//!
//! What the server acts on is kept in the profile's columns: region and
//! region configuration, MAC version and regional parameters revision,
//! OTAA, class B and C support, ADR algorithm, uplink interval (seconds),
//! device-status request frequency, queue flushing, the ABP radio settings,
//! class C timeout (seconds), description and tags. Every other field of
//! the message (payload codec, class B settings, measurements, relay
//! settings, RX1 delay, application layer packages, repository device and
//! firmware version, ...) is kept as the client gave it in
//! [`DeviceProfile::extra`], as the proto3 JSON of the message with the
//! column fields cleared, and merged back on reading: a client reads back
//! every field it wrote.
//!
//! Regional parameters revision `RP002-1.0.5` is accepted and answered
//! back; the radio path, which knows revisions up to RP002-1.0.4, uses
//! RP002-1.0.4 for it.

use std::sync::Arc;
use std::time::Duration;

use lorawan::region::{Region, Revision};
use packet_forwarder::gw::common;
use pbjson_types::Empty;
use tonic::{Request, Response, Status};

use super::authz::{Action, Kind, Verb};
use super::proto::{self as api, device_profile_service_server::DeviceProfileService};
use super::service::{
    ApiState, Target, check_name, parse_uuid, region_from_proto, region_to_proto, required,
    revision_to_proto, status, timestamp,
};
use crate::adr::AdrRegistry;
use crate::model::{DeviceProfile, MacVersion};
use crate::storage::ListQuery;

/// The `DeviceProfileService` over the API's state.
#[derive(Debug, Clone)]
pub struct DeviceProfileApi(pub Arc<ApiState>);

fn mac_from_proto(m: common::MacVersion) -> MacVersion {
    use common::MacVersion as P;
    match m {
        P::Lorawan100 => MacVersion::V1_0_0,
        P::Lorawan101 => MacVersion::V1_0_1,
        P::Lorawan102 => MacVersion::V1_0_2,
        P::Lorawan103 => MacVersion::V1_0_3,
        P::Lorawan104 => MacVersion::V1_0_4,
        P::Lorawan110 => MacVersion::V1_1_0,
    }
}

fn mac_to_proto(m: MacVersion) -> common::MacVersion {
    use common::MacVersion as P;
    match m {
        MacVersion::V1_0_0 => P::Lorawan100,
        MacVersion::V1_0_1 => P::Lorawan101,
        MacVersion::V1_0_2 => P::Lorawan102,
        MacVersion::V1_0_3 => P::Lorawan103,
        MacVersion::V1_0_4 => P::Lorawan104,
        MacVersion::V1_1_0 => P::Lorawan110,
    }
}

/// The revision the radio path uses for an API revision (RP002-1.0.5,
/// which it does not know, runs as RP002-1.0.4).
fn revision_from_proto(r: common::RegParamsRevision) -> Revision {
    use common::RegParamsRevision as P;
    match r {
        P::A => Revision::A,
        P::B => Revision::B,
        P::Rp002100 => Revision::Rp002_1_0_0,
        P::Rp002101 => Revision::Rp002_1_0_1,
        P::Rp002102 => Revision::Rp002_1_0_2,
        P::Rp002103 => Revision::Rp002_1_0_3,
        P::Rp002104 | P::Rp002105 => Revision::Rp002_1_0_4,
    }
}

/// Checks that `value` is a known value of the enum `E` (INVALID_ARGUMENT
/// naming `field` if not).
fn check_enum<E: TryFrom<i32>>(state: &ApiState, field: &str, value: i32) -> Result<E, Status> {
    E::try_from(value).map_err(|_| state.invalid(format!("{field}: {value} is not a valid value")))
}

/// A byte-sized setting of at most `max`.
fn small(state: &ApiState, field: &str, value: u32, max: u8) -> Result<u8, Status> {
    u8::try_from(value)
        .ok()
        .filter(|v| *v <= max)
        .ok_or_else(|| state.invalid(format!("{field}: {value} is more than {max}")))
}

/// The message's fields that only `extra` keeps: the message with every
/// column-backed field cleared (RP002-1.0.5 is kept, as the column cannot
/// say it), as a proto3 JSON object.
fn extra_of(p: &api::DeviceProfile) -> serde_json::Map<String, serde_json::Value> {
    let keep_revision = p.reg_params_revision == common::RegParamsRevision::Rp002105 as i32;
    let rest = api::DeviceProfile {
        id: String::new(),
        tenant_id: String::new(),
        name: String::new(),
        description: String::new(),
        region: 0,
        region_config_id: String::new(),
        mac_version: 0,
        reg_params_revision: if keep_revision {
            p.reg_params_revision
        } else {
            0
        },
        supports_otaa: false,
        supports_class_b: false,
        supports_class_c: false,
        adr_algorithm_id: String::new(),
        uplink_interval: 0,
        device_status_req_interval: 0,
        flush_queue_on_activate: false,
        abp_rx1_delay: 0,
        abp_rx1_dr_offset: 0,
        abp_rx2_dr: 0,
        abp_rx2_freq: 0,
        class_c_timeout: 0,
        tags: Default::default(),
        ..p.clone()
    };
    match serde_json::to_value(&rest) {
        Ok(serde_json::Value::Object(map)) => map,
        // Every enum was checked, so the message serializes.
        _ => serde_json::Map::new(),
    }
}

/// Checks a device profile's fields and copies them onto `profile` (its id
/// and tenant are not changed).
fn apply(
    state: &ApiState,
    profile: &mut DeviceProfile,
    p: api::DeviceProfile,
) -> Result<(), Status> {
    let invalid = |message: String| state.invalid(message);
    check_name("device_profile.name", &p.name).map_err(|e| invalid(e.message().into()))?;
    let region = region_from_proto(p.region).ok_or_else(|| {
        invalid(format!(
            "device_profile.region: {} is not a valid value",
            p.region
        ))
    })?;
    let mac_version = mac_from_proto(check_enum(
        state,
        "device_profile.mac_version",
        p.mac_version,
    )?);
    let revision = revision_from_proto(check_enum(
        state,
        "device_profile.reg_params_revision",
        p.reg_params_revision,
    )?);
    let adr_algorithm_id = if p.adr_algorithm_id.is_empty() {
        "default".to_owned()
    } else {
        p.adr_algorithm_id.clone()
    };
    if AdrRegistry::default().get(&adr_algorithm_id).is_none() {
        return Err(invalid(format!(
            "device_profile.adr_algorithm_id: {adr_algorithm_id:?} is not an ADR algorithm of \
             this server"
        )));
    }
    if !p.region_config_id.is_empty() {
        match state
            .config
            .enabled_regions()
            .find(|r| r.id == p.region_config_id)
        {
            None => {
                return Err(invalid(format!(
                    "device_profile.region_config_id: {:?} is not a region configuration of \
                     this server",
                    p.region_config_id
                )));
            }
            Some(entry) if entry.common_name.is_some_and(|r| r != region) => {
                return Err(invalid(format!(
                    "device_profile.region_config_id: {:?} is not a configuration of region {}",
                    p.region_config_id, region
                )));
            }
            Some(_) => {}
        }
    }
    let abp_rx1_delay = small(state, "device_profile.abp_rx1_delay", p.abp_rx1_delay, 15)?;
    let abp_rx1_dr_offset = small(
        state,
        "device_profile.abp_rx1_dr_offset",
        p.abp_rx1_dr_offset,
        7,
    )?;
    let abp_rx2_dr = small(state, "device_profile.abp_rx2_dr", p.abp_rx2_dr, 15)?;
    if p.rx1_delay > 15 {
        return Err(invalid(format!(
            "device_profile.rx1_delay: {} is more than 15",
            p.rx1_delay
        )));
    }
    // The enums only `extra` keeps: an unknown value would not serialize.
    check_enum::<api::CodecRuntime>(
        state,
        "device_profile.payload_codec_runtime",
        p.payload_codec_runtime,
    )?;
    check_enum::<api::CadPeriodicity>(
        state,
        "device_profile.relay_cad_periodicity",
        p.relay_cad_periodicity,
    )?;
    check_enum::<api::SecondChAckOffset>(
        state,
        "device_profile.relay_second_channel_ack_offset",
        p.relay_second_channel_ack_offset,
    )?;
    check_enum::<api::RelayModeActivation>(
        state,
        "device_profile.relay_ed_activation_mode",
        p.relay_ed_activation_mode,
    )?;
    for (key, m) in &p.measurements {
        check_enum::<api::MeasurementKind>(
            state,
            &format!("device_profile.measurements[{key:?}].kind"),
            m.kind,
        )?;
    }
    if let Some(a) = &p.app_layer_params {
        check_enum::<api::Ts003Version>(
            state,
            "device_profile.app_layer_params.ts003_version",
            a.ts003_version,
        )?;
        check_enum::<api::Ts004Version>(
            state,
            "device_profile.app_layer_params.ts004_version",
            a.ts004_version,
        )?;
        check_enum::<api::Ts005Version>(
            state,
            "device_profile.app_layer_params.ts005_version",
            a.ts005_version,
        )?;
    }
    if !p.device_id.is_empty() {
        parse_uuid("device_profile.device_id", &p.device_id)
            .map_err(|e| invalid(e.message().into()))?;
    }

    profile.extra = extra_of(&p);
    profile.name = p.name;
    profile.description = p.description;
    profile.region = region;
    profile.region_config_id = p.region_config_id;
    profile.mac_version = mac_version;
    profile.reg_params_revision = revision;
    profile.supports_otaa = p.supports_otaa;
    profile.supports_class_b = p.supports_class_b;
    profile.supports_class_c = p.supports_class_c;
    profile.adr_algorithm_id = adr_algorithm_id;
    profile.uplink_interval = Duration::from_secs(u64::from(p.uplink_interval));
    profile.device_status_req_interval = p.device_status_req_interval;
    profile.flush_queue_on_activate = p.flush_queue_on_activate;
    profile.abp_rx1_delay = abp_rx1_delay;
    profile.abp_rx1_dr_offset = abp_rx1_dr_offset;
    profile.abp_rx2_dr = abp_rx2_dr;
    profile.abp_rx2_frequency = p.abp_rx2_freq;
    profile.class_c_timeout = Duration::from_secs(u64::from(p.class_c_timeout));
    profile.tags = p.tags;
    Ok(())
}

/// Whole seconds of `d`, saturating.
fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// The message of a stored profile: `extra` with the columns set over it.
fn to_proto(p: DeviceProfile) -> api::DeviceProfile {
    let mut out: api::DeviceProfile =
        match serde_json::from_value(serde_json::Value::Object(p.extra)) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(device_profile = %p.id, error = %e,
                    "the stored extra settings of a device profile cannot be read; left out");
                api::DeviceProfile::default()
            }
        };
    // RP002-1.0.5 is kept in `extra`; any other revision is the column's.
    if out.reg_params_revision != common::RegParamsRevision::Rp002105 as i32 {
        out.reg_params_revision = revision_to_proto(p.reg_params_revision) as i32;
    }
    out.id = p.id.to_string();
    out.tenant_id = p.tenant_id.to_string();
    out.name = p.name;
    out.description = p.description;
    out.region = region_to_proto(p.region) as i32;
    out.region_config_id = p.region_config_id;
    out.mac_version = mac_to_proto(p.mac_version) as i32;
    out.supports_otaa = p.supports_otaa;
    out.supports_class_b = p.supports_class_b;
    out.supports_class_c = p.supports_class_c;
    out.adr_algorithm_id = p.adr_algorithm_id;
    out.uplink_interval = secs(p.uplink_interval);
    out.device_status_req_interval = p.device_status_req_interval;
    out.flush_queue_on_activate = p.flush_queue_on_activate;
    out.abp_rx1_delay = u32::from(p.abp_rx1_delay);
    out.abp_rx1_dr_offset = u32::from(p.abp_rx1_dr_offset);
    out.abp_rx2_dr = u32::from(p.abp_rx2_dr);
    out.abp_rx2_freq = p.abp_rx2_frequency;
    out.class_c_timeout = secs(p.class_c_timeout);
    out.tags = p.tags;
    out
}

fn list_item(p: DeviceProfile) -> api::DeviceProfileListItem {
    let created_at = Some(timestamp(p.stamps.created_at));
    let updated_at = Some(timestamp(p.stamps.updated_at));
    let full = to_proto(p);
    api::DeviceProfileListItem {
        id: full.id,
        created_at,
        updated_at,
        name: full.name,
        region: full.region,
        mac_version: full.mac_version,
        reg_params_revision: full.reg_params_revision,
        supports_otaa: full.supports_otaa,
        supports_class_b: full.supports_class_b,
        supports_class_c: full.supports_class_c,
        vendor_id: String::new(),
        vendor_name: String::new(),
        device_id: full.device_id,
        device_name: String::new(),
        firmware_version: full.firmware_version,
    }
}

/// UNIMPLEMENTED for the device-profile repository.
fn no_repository() -> Status {
    Status::unimplemented(
        "the device-profile repository (vendors and devices) is not supported by this server yet",
    )
}

#[tonic::async_trait]
impl DeviceProfileService for DeviceProfileApi {
    async fn create(
        &self,
        request: Request<api::CreateDeviceProfileRequest>,
    ) -> Result<Response<api::CreateDeviceProfileResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let p = required("device_profile", request.into_inner().device_profile)
            .map_err(|e| s.invalid(e.message()))?;
        let tenant_id = parse_uuid("device_profile.tenant_id", &p.tenant_id)
            .map_err(|e| s.invalid(e.message()))?;
        let tenant = s.tenant_of(&who, Target::Tenant(tenant_id)).await?;
        s.authorize(
            &who,
            Action::new(Kind::DeviceProfile, Verb::Create, Some(tenant)),
        )?;
        let mut profile = DeviceProfile::new(
            tenant,
            "",
            Region::Eu868,
            MacVersion::V1_0_3,
            Revision::LATEST,
        );
        apply(s, &mut profile, p)?;
        s.storage
            .create_device_profile(&profile)
            .await
            .map_err(status)?;
        Ok(Response::new(api::CreateDeviceProfileResponse {
            id: profile.id.to_string(),
        }))
    }

    async fn get(
        &self,
        request: Request<api::GetDeviceProfileRequest>,
    ) -> Result<Response<api::GetDeviceProfileResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let id = parse_uuid("id", &request.get_ref().id).map_err(|e| s.invalid(e.message()))?;
        let tenant = s.tenant_of(&who, Target::DeviceProfile(id)).await?;
        s.authorize(
            &who,
            Action::new(Kind::DeviceProfile, Verb::Read, Some(tenant)),
        )?;
        let profile = s.storage.get_device_profile(id).await.map_err(status)?;
        Ok(Response::new(api::GetDeviceProfileResponse {
            created_at: Some(timestamp(profile.stamps.created_at)),
            updated_at: Some(timestamp(profile.stamps.updated_at)),
            device_profile: Some(to_proto(profile)),
        }))
    }

    async fn get_by_profile_id(
        &self,
        request: Request<api::GetDeviceProfileByProfileIdRequest>,
    ) -> Result<Response<api::GetDeviceProfileByProfileIdResponse>, Status> {
        self.0.principal(&request).await?;
        Err(no_repository())
    }

    async fn update(
        &self,
        request: Request<api::UpdateDeviceProfileRequest>,
    ) -> Result<Response<Empty>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let p = required("device_profile", request.into_inner().device_profile)
            .map_err(|e| s.invalid(e.message()))?;
        let id = parse_uuid("device_profile.id", &p.id).map_err(|e| s.invalid(e.message()))?;
        let tenant = s.tenant_of(&who, Target::DeviceProfile(id)).await?;
        s.authorize(
            &who,
            Action::new(Kind::DeviceProfile, Verb::Update, Some(tenant)),
        )?;
        let mut profile = s.storage.get_device_profile(id).await.map_err(status)?;
        // A profile stays with its tenant: `tenant_id` is not read.
        apply(s, &mut profile, p)?;
        profile.stamps.touch();
        s.storage
            .update_device_profile(&profile)
            .await
            .map_err(status)?;
        s.device_profile_changed(id);
        Ok(Response::new(Empty {}))
    }

    async fn delete(
        &self,
        request: Request<api::DeleteDeviceProfileRequest>,
    ) -> Result<Response<Empty>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let id = parse_uuid("id", &request.get_ref().id).map_err(|e| s.invalid(e.message()))?;
        let tenant = s.tenant_of(&who, Target::DeviceProfile(id)).await?;
        s.authorize(
            &who,
            Action::new(Kind::DeviceProfile, Verb::Delete, Some(tenant)),
        )?;
        s.storage.delete_device_profile(id).await.map_err(status)?;
        s.device_profile_changed(id);
        Ok(Response::new(Empty {}))
    }

    async fn list(
        &self,
        request: Request<api::ListDeviceProfilesRequest>,
    ) -> Result<Response<api::ListDeviceProfilesResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let req = request.into_inner();
        if req.global_only {
            // There are no global profiles.
            return Ok(Response::new(api::ListDeviceProfilesResponse {
                total_count: 0,
                result: Vec::new(),
            }));
        }
        if req.tenant_id.is_empty() {
            return Err(s.invalid("tenant_id is required"));
        }
        let tenant_id =
            parse_uuid("tenant_id", &req.tenant_id).map_err(|e| s.invalid(e.message()))?;
        let device_id = if req.device_id.is_empty() {
            None
        } else {
            parse_uuid("device_id", &req.device_id).map_err(|e| s.invalid(e.message()))?;
            Some(req.device_id.as_str())
        };
        let tenant = s.tenant_of(&who, Target::Tenant(tenant_id)).await?;
        s.authorize(
            &who,
            Action::new(Kind::DeviceProfile, Verb::List, Some(tenant)),
        )?;
        let query = ListQuery::page(req.limit, req.offset).search(req.search.clone());
        let page = s
            .storage
            .list_device_profiles_of_device_model(tenant, device_id, &query)
            .await
            .map_err(status)?;
        Ok(Response::new(api::ListDeviceProfilesResponse {
            total_count: u32::try_from(page.total).unwrap_or(u32::MAX),
            result: page.items.into_iter().map(list_item).collect(),
        }))
    }

    async fn list_vendors(
        &self,
        request: Request<api::ListDeviceProfileVendorsRequest>,
    ) -> Result<Response<api::ListDeviceProfileVendorsResponse>, Status> {
        // No repository: no vendors.
        self.0.principal(&request).await?;
        Ok(Response::new(api::ListDeviceProfileVendorsResponse {
            total_count: 0,
            result: Vec::new(),
        }))
    }

    async fn get_vendor(
        &self,
        request: Request<api::GetDeviceProfileVendorRequest>,
    ) -> Result<Response<api::GetDeviceProfileVendorResponse>, Status> {
        self.0.principal(&request).await?;
        Err(no_repository())
    }

    async fn delete_vendor(
        &self,
        request: Request<api::DeleteDeviceProfileVendorRequest>,
    ) -> Result<Response<Empty>, Status> {
        self.0.principal(&request).await?;
        Err(no_repository())
    }

    async fn list_devices(
        &self,
        request: Request<api::ListDeviceProfileDevicesRequest>,
    ) -> Result<Response<api::ListDeviceProfileDevicesResponse>, Status> {
        // No repository: no device models.
        self.0.principal(&request).await?;
        Ok(Response::new(api::ListDeviceProfileDevicesResponse {
            total_count: 0,
            result: Vec::new(),
        }))
    }

    async fn get_device(
        &self,
        request: Request<api::GetDeviceProfileDeviceRequest>,
    ) -> Result<Response<api::GetDeviceProfileDeviceResponse>, Status> {
        self.0.principal(&request).await?;
        Err(no_repository())
    }

    async fn delete_device(
        &self,
        request: Request<api::DeleteDeviceProfileDeviceRequest>,
    ) -> Result<Response<Empty>, Status> {
        self.0.principal(&request).await?;
        Err(no_repository())
    }

    async fn list_adr_algorithms(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<api::ListDeviceProfileAdrAlgorithmsResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        s.authorize(&who, Action::new(Kind::ServerInfo, Verb::List, None))?;
        let result: Vec<api::AdrAlgorithmListItem> = AdrRegistry::default()
            .list()
            .map(|(id, name)| api::AdrAlgorithmListItem {
                id: id.to_owned(),
                name: name.to_owned(),
            })
            .collect();
        Ok(Response::new(api::ListDeviceProfileAdrAlgorithmsResponse {
            total_count: u32::try_from(result.len()).unwrap_or(u32::MAX),
            result,
        }))
    }
}
