//! `DeviceService`: devices, their root keys, activation and downlink queue.
//!
//! Supported: Create, Get, Update (including moving a device to another
//! application of the same tenant), Delete, List (search, the four sort
//! keys, the device-profile filter, and the tags filter, which is applied
//! over every match so that paging and `total_count` stay right),
//! Create/Get/Update/DeleteKeys, FlushDevNonces, Activate (ABP), Deactivate,
//! GetActivation, GetRandomDevAddr, Enqueue, FlushQueue, GetQueue and
//! GetNextFCntDown.
//!
//! Answered with UNIMPLEMENTED:
//! - GetMetrics and GetLinkMetrics: "device metrics are not collected by
//!   this server yet";
//! - List with a `multicast_group_id`: "multicast groups are not supported
//!   by this server yet";
//! - Enqueue of an item with `is_encrypted` set: "application-encrypted
//!   queue items (is_encrypted) are not supported by this server yet" (the
//!   queue has no place for the flag, and the downlink path would encrypt
//!   the payload a second time).
//!
//! Differences from ChirpStack worth knowing: `gen_app_key` is accepted and
//! not stored (it reads back empty); `device_status` is never filled in;
//! there is no payload codec, so an `object` to enqueue without `data` is
//! INVALID_ARGUMENT ("no payload codec: data is required"), and with `data`
//! the object is ignored; the tenant's `max_device_count` is counted in the
//! insert's transaction, so concurrent creates cannot overshoot it.
//!
//! Who may: every member of the device's tenant reads (Get, List, GetKeys,
//! GetActivation, GetQueue, GetNextFCntDown, GetRandomDevAddr); tenant and
//! device administrators write (everything else).

use std::sync::Arc;

use lorawan::crypto::SessionKeys11;
use lorawan::keys::{AppKey, AppSKey, FNwkSIntKey, NwkKey, NwkSEncKey, SNwkSIntKey};
use lorawan::region::RegionParams;
use lorawan::{DevAddr, Eui64};
use packet_forwarder::gw::common;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::authz::{Action, Kind, Verb};
use super::proto::{self as api, device_service_server::DeviceService};
use super::service::{
    ApiState, Target, check_name, from_timestamp, parse_dev_addr, parse_eui, parse_key,
    parse_optional_uuid, parse_uuid, required, status, timestamp,
};
use crate::model::{Device, DeviceClass, DeviceKeys, DeviceProfile, DeviceSession, QueueItem};
use crate::storage::{ListQuery, OrderBy, StorageError};

/// The `DeviceService` over the API's state.
#[derive(Debug, Clone)]
pub struct DeviceApi(pub Arc<ApiState>);

/// How many devices a tags-filtered list reads per query.
const TAG_SCAN_PAGE: u32 = 500;

/// The highest application FPort (224 is for LoRaWAN certification tests).
const MAX_F_PORT: u32 = 223;

fn class_to_proto(class: DeviceClass) -> common::DeviceClass {
    match class {
        DeviceClass::A => common::DeviceClass::ClassA,
        DeviceClass::B => common::DeviceClass::ClassB,
        DeviceClass::C => common::DeviceClass::ClassC,
    }
}

fn to_proto(d: &Device) -> api::Device {
    api::Device {
        dev_eui: d.dev_eui.to_string(),
        name: d.name.clone(),
        description: d.description.clone(),
        application_id: d.application_id.to_string(),
        device_profile_id: d.device_profile_id.to_string(),
        skip_fcnt_check: d.skip_fcnt_check,
        is_disabled: d.is_disabled,
        variables: d.variables.clone(),
        tags: d.tags.clone(),
        join_eui: d.join_eui.to_string(),
    }
}

fn list_item(d: Device, profile_name: String) -> api::DeviceListItem {
    api::DeviceListItem {
        dev_eui: d.dev_eui.to_string(),
        created_at: Some(timestamp(d.stamps.created_at)),
        updated_at: Some(timestamp(d.stamps.updated_at)),
        last_seen_at: d.last_seen_at.map(timestamp),
        name: d.name,
        description: d.description,
        device_profile_id: d.device_profile_id.to_string(),
        device_profile_name: profile_name,
        device_status: None,
        tags: d.tags,
    }
}

fn queue_item_to_proto(q: QueueItem) -> api::DeviceQueueItem {
    api::DeviceQueueItem {
        id: q.id.to_string(),
        dev_eui: q.dev_eui.to_string(),
        confirmed: q.confirmed,
        f_port: u32::from(q.f_port),
        data: q.data,
        object: None,
        is_pending: q.is_pending,
        f_cnt_down: q.f_cnt_down.unwrap_or(0),
        is_encrypted: false,
        expires_at: q.expires_at.map(timestamp),
    }
}

/// An optional JoinEUI: empty is zero ("any at the next join").
fn parse_join_eui(field: &str, value: &str) -> Result<Eui64, Status> {
    if value.is_empty() {
        Ok(Eui64::from_u64(0))
    } else {
        parse_eui(field, value)
    }
}

/// The storage sort key of a device list's `order_by`.
fn device_order(order: api::list_devices_request::OrderBy) -> OrderBy {
    use api::list_devices_request::OrderBy as O;
    match order {
        O::Name => OrderBy::Name,
        O::DevEui => OrderBy::Id,
        O::LastSeenAt => OrderBy::LastSeen,
        O::DeviceProfileName => OrderBy::DeviceProfileName,
    }
}

/// A request about one device, named by its DevEUI.
trait DeviceRequest {
    /// The request field of the DevEUI.
    const FIELD: &'static str;
    /// The DevEUI as given (empty if the message holding it is missing).
    fn dev_eui(&self) -> &str;
}

/// `DeviceRequest` for requests with a `dev_eui` field, or (`field: message
/// => …`) with one in their optional `message`.
macro_rules! device_request {
    ($($request:ident),+ $(,)?) => {$(
        impl DeviceRequest for api::$request {
            const FIELD: &'static str = "dev_eui";
            fn dev_eui(&self) -> &str {
                &self.dev_eui
            }
        }
    )+};
    ($field:literal: $message:ident => $($request:ident),+) => {$(
        impl DeviceRequest for api::$request {
            const FIELD: &'static str = $field;
            fn dev_eui(&self) -> &str {
                self.$message.as_ref().map_or("", |m| m.dev_eui.as_str())
            }
        }
    )+};
}

device_request!(
    GetDeviceRequest,
    DeleteDeviceRequest,
    GetDeviceKeysRequest,
    DeleteDeviceKeysRequest,
    FlushDevNoncesRequest,
    DeactivateDeviceRequest,
    GetDeviceActivationRequest,
    FlushDeviceQueueRequest,
    GetDeviceQueueItemsRequest,
    GetDeviceNextFCntDownRequest,
);
device_request!("device.dev_eui": device => UpdateDeviceRequest);
device_request!("device_keys.dev_eui": device_keys => CreateDeviceKeysRequest, UpdateDeviceKeysRequest);
device_request!("device_activation.dev_eui": device_activation => ActivateDeviceRequest);
device_request!("queue_item.dev_eui": queue_item => EnqueueDeviceQueueItemRequest);

impl DeviceApi {
    /// Authenticates the caller and authorizes `verb` on the device the
    /// request names; returns the EUI and the device's tenant.
    async fn device_access<T: DeviceRequest + Sync>(
        &self,
        request: &Request<T>,
        verb: Verb,
    ) -> Result<(Eui64, Uuid), Status> {
        let s = &self.0;
        let who = s.principal(request).await?;
        let dev_eui = parse_eui(T::FIELD, request.get_ref().dev_eui())?;
        let tenant = s.tenant_of(&who, Target::Device(dev_eui)).await?;
        s.authorize(&who, Action::new(Kind::Device, verb, Some(tenant)))?;
        Ok((dev_eui, tenant))
    }

    /// Authorizes writing the root keys of the device the request names
    /// and checks the keys (at `keys`).
    async fn keys_to_write<T: DeviceRequest + Send + Sync>(
        &self,
        request: Request<T>,
        keys: fn(T) -> Option<api::DeviceKeys>,
    ) -> Result<DeviceKeys, Status> {
        let (dev_eui, _) = self.device_access(&request, Verb::Update).await?;
        let k = required("device_keys", keys(request.into_inner()))?;
        parse_keys(dev_eui, &k)
    }

    /// The device profile `id` if it belongs to `tenant`; INVALID_ARGUMENT
    /// naming `field` otherwise (whether it does not exist or is another
    /// tenant's: the two must look the same).
    async fn profile_in(
        &self,
        field: &str,
        id: Uuid,
        tenant: Uuid,
    ) -> Result<DeviceProfile, Status> {
        let s = &self.0;
        match s.storage.get_device_profile(id).await {
            Ok(p) if p.tenant_id == tenant => Ok(p),
            Ok(_) | Err(StorageError::NotFound(_)) => Err(s.invalid(format!(
                "{field}: no device profile {id} in the device's tenant"
            ))),
            Err(e) => Err(status(e)),
        }
    }

    /// The region configuration id and region parameters an ABP session of
    /// a device with `profile` starts from: the profile's region
    /// configuration if it names one, else the region's tables with no
    /// configuration id (the first uplink records the one it came through,
    /// as ChirpStack does).
    fn abp_region(&self, profile: &DeviceProfile) -> (String, &'static RegionParams) {
        let config = &self.0.config;
        if !profile.region_config_id.is_empty()
            && let Some(network) = config
                .region(&profile.region_config_id)
                .and_then(|entry| entry.network().ok())
            && network.params.region == profile.region
        {
            return (network.id, network.params);
        }
        let params = config
            .enabled_regions()
            .filter_map(|entry| entry.network().ok())
            .find(|n| n.params.region == profile.region)
            .map_or_else(
                || lorawan::region::params(profile.region, profile.reg_params_revision),
                |n| n.params,
            );
        (profile.region_config_id.clone(), params)
    }

    /// Stores a new device of the tenant `tenant_id`, within its
    /// `max_device_count` (checked in the insert's transaction).
    async fn create_within_limit(&self, device: &Device, tenant_id: Uuid) -> Result<(), Status> {
        let s = &self.0;
        let tenant = s.storage.get_tenant(tenant_id).await.map_err(status)?;
        let created = if tenant.max_device_count > 0 {
            s.storage
                .create_device_within_limit(device, tenant_id, tenant.max_device_count)
                .await
        } else {
            s.storage.create_device(device).await
        };
        created.map_err(status)
    }
}

#[tonic::async_trait]
impl DeviceService for DeviceApi {
    async fn create(
        &self,
        request: Request<api::CreateDeviceRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let d = required("device", request.into_inner().device)?;
        let application_id = parse_uuid("device.application_id", &d.application_id)?;
        let tenant = s
            .tenant_of(&who, Target::Application(application_id))
            .await?;
        s.authorize(&who, Action::new(Kind::Device, Verb::Create, Some(tenant)))?;
        let dev_eui = parse_eui("device.dev_eui", &d.dev_eui)?;
        check_name("device.name", &d.name)?;
        let profile_id = parse_uuid("device.device_profile_id", &d.device_profile_id)?;
        let join_eui = parse_join_eui("device.join_eui", &d.join_eui)?;
        self.profile_in("device.device_profile_id", profile_id, tenant)
            .await?;
        let mut device = Device::new(dev_eui, application_id, profile_id, d.name);
        device.description = d.description;
        device.join_eui = join_eui;
        device.skip_fcnt_check = d.skip_fcnt_check;
        device.is_disabled = d.is_disabled;
        device.tags = d.tags;
        device.variables = d.variables;
        self.create_within_limit(&device, tenant).await?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn get(
        &self,
        request: Request<api::GetDeviceRequest>,
    ) -> Result<Response<api::GetDeviceResponse>, Status> {
        let (dev_eui, _) = self.device_access(&request, Verb::Read).await?;
        let d = self.0.storage.get_device(dev_eui).await.map_err(status)?;
        Ok(Response::new(api::GetDeviceResponse {
            device: Some(to_proto(&d)),
            created_at: Some(timestamp(d.stamps.created_at)),
            updated_at: Some(timestamp(d.stamps.updated_at)),
            last_seen_at: d.last_seen_at.map(timestamp),
            device_status: None,
            class_enabled: class_to_proto(d.enabled_class).into(),
        }))
    }

    async fn update(
        &self,
        request: Request<api::UpdateDeviceRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let s = &self.0;
        let (dev_eui, tenant) = self.device_access(&request, Verb::Update).await?;
        let d = required("device", request.into_inner().device)?;
        let mut device = s.storage.get_device(dev_eui).await.map_err(status)?;
        check_name("device.name", &d.name)?;
        let profile_id = parse_uuid("device.device_profile_id", &d.device_profile_id)?;
        let join_eui = parse_join_eui("device.join_eui", &d.join_eui)?;
        self.profile_in("device.device_profile_id", profile_id, tenant)
            .await?;
        // Moving to another application: of the same tenant only.
        let application_id = parse_optional_uuid("device.application_id", &d.application_id)?
            .unwrap_or(device.application_id);
        let moved = application_id != device.application_id;
        if moved {
            let same_tenant = match s.storage.get_application(application_id).await {
                Ok(app) => app.tenant_id == tenant,
                Err(StorageError::NotFound(_)) => false,
                Err(e) => return Err(status(e)),
            };
            if !same_tenant {
                return Err(s.invalid(format!(
                    "device.application_id: no application {application_id} in the device's tenant"
                )));
            }
        }
        let old_dev_addr = device.session.as_ref().map(|x| x.dev_addr);
        device.name = d.name;
        device.description = d.description;
        device.device_profile_id = profile_id;
        device.join_eui = join_eui;
        device.skip_fcnt_check = d.skip_fcnt_check;
        device.is_disabled = d.is_disabled;
        device.tags = d.tags;
        device.variables = d.variables;
        device.stamps.touch();
        s.storage.update_device(&device).await.map_err(status)?;
        if moved {
            s.storage
                .set_device_application(dev_eui, application_id, device.stamps.updated_at)
                .await
                .map_err(status)?;
        }
        s.device_changed(dev_eui, old_dev_addr);
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn delete(
        &self,
        request: Request<api::DeleteDeviceRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let s = &self.0;
        let (dev_eui, _) = self.device_access(&request, Verb::Delete).await?;
        let device = s.storage.get_device(dev_eui).await.map_err(status)?;
        s.storage.delete_device(dev_eui).await.map_err(status)?;
        s.device_changed(dev_eui, device.session.map(|x| x.dev_addr));
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn list(
        &self,
        request: Request<api::ListDevicesRequest>,
    ) -> Result<Response<api::ListDevicesResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let req = request.into_inner();
        if req.application_id.is_empty() {
            return Err(s.invalid("application_id is required"));
        }
        let application_id = parse_uuid("application_id", &req.application_id)?;
        if !req.multicast_group_id.is_empty() {
            return Err(Status::unimplemented(
                "multicast groups are not supported by this server yet",
            ));
        }
        let tenant = s
            .tenant_of(&who, Target::Application(application_id))
            .await?;
        s.authorize(&who, Action::new(Kind::Device, Verb::List, Some(tenant)))?;
        let profile_id = parse_optional_uuid("device_profile_id", &req.device_profile_id)?;
        let order = device_order(req.order_by());
        let query = ListQuery::page(req.limit, req.offset)
            .search(req.search.clone())
            .order_by(order, req.order_by_desc);
        if req.tags.is_empty() {
            let page = s
                .storage
                .list_devices(application_id, profile_id, &query)
                .await
                .map_err(status)?;
            return Ok(Response::new(api::ListDevicesResponse {
                total_count: u32::try_from(page.total).unwrap_or(u32::MAX),
                result: page
                    .items
                    .into_iter()
                    .map(|(d, name)| list_item(d, name))
                    .collect(),
            }));
        }
        // Tags are JSON in storage: filter every match here, in list order,
        // then page.
        let mut matched = Vec::new();
        let mut offset = 0;
        loop {
            let scan = ListQuery::page(TAG_SCAN_PAGE, offset)
                .search(req.search.clone())
                .order_by(order, req.order_by_desc);
            let page = s
                .storage
                .list_devices(application_id, profile_id, &scan)
                .await
                .map_err(status)?;
            let n = page.items.len();
            matched.extend(page.items.into_iter().filter(|(d, _)| {
                req.tags
                    .iter()
                    .all(|(k, v)| d.tags.get(k).is_some_and(|x| x == v))
            }));
            if n < TAG_SCAN_PAGE as usize {
                break;
            }
            offset += TAG_SCAN_PAGE;
        }
        let total_count = u32::try_from(matched.len()).unwrap_or(u32::MAX);
        let result = matched
            .into_iter()
            .skip(req.offset as usize)
            .take(req.limit as usize)
            .map(|(d, name)| list_item(d, name))
            .collect();
        Ok(Response::new(api::ListDevicesResponse {
            total_count,
            result,
        }))
    }

    async fn create_keys(
        &self,
        request: Request<api::CreateDeviceKeysRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let keys = self.keys_to_write(request, |r| r.device_keys).await?;
        self.0
            .storage
            .create_device_keys(&keys)
            .await
            .map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn get_keys(
        &self,
        request: Request<api::GetDeviceKeysRequest>,
    ) -> Result<Response<api::GetDeviceKeysResponse>, Status> {
        let s = &self.0;
        let (dev_eui, _) = self.device_access(&request, Verb::Read).await?;
        let keys = s.storage.get_device_keys(dev_eui).await.map_err(status)?;
        let stamps = s
            .storage
            .get_device_keys_stamps(dev_eui)
            .await
            .map_err(status)?;
        Ok(Response::new(api::GetDeviceKeysResponse {
            device_keys: Some(api::DeviceKeys {
                dev_eui: keys.dev_eui.to_string(),
                nwk_key: keys.nwk_key.to_string(),
                app_key: keys.app_key.to_string(),
                gen_app_key: String::new(),
            }),
            created_at: Some(timestamp(stamps.created_at)),
            updated_at: Some(timestamp(stamps.updated_at)),
        }))
    }

    async fn update_keys(
        &self,
        request: Request<api::UpdateDeviceKeysRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let keys = self.keys_to_write(request, |r| r.device_keys).await?;
        self.0
            .storage
            .update_device_keys(&keys)
            .await
            .map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn delete_keys(
        &self,
        request: Request<api::DeleteDeviceKeysRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let (dev_eui, _) = self.device_access(&request, Verb::Delete).await?;
        self.0
            .storage
            .delete_device_keys(dev_eui)
            .await
            .map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn flush_dev_nonces(
        &self,
        request: Request<api::FlushDevNoncesRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let (dev_eui, _) = self.device_access(&request, Verb::Update).await?;
        self.0
            .storage
            .flush_dev_nonces(dev_eui)
            .await
            .map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn activate(
        &self,
        request: Request<api::ActivateDeviceRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let s = &self.0;
        let (dev_eui, _) = self.device_access(&request, Verb::Update).await?;
        let a = required("device_activation", request.into_inner().device_activation)?;
        let device = s.storage.get_device(dev_eui).await.map_err(status)?;
        let profile = s
            .storage
            .get_device_profile(device.device_profile_id)
            .await
            .map_err(status)?;
        let dev_addr = parse_dev_addr("device_activation.dev_addr", &a.dev_addr)?;
        let app_s_key = parse_key("device_activation.app_s_key", &a.app_s_key)?;
        let nwk_s_enc_key = parse_key("device_activation.nwk_s_enc_key", &a.nwk_s_enc_key)?;
        let (s_nwk_s_int_key, f_nwk_s_int_key) = if profile.mac_version.is_1_1() {
            (
                parse_key("device_activation.s_nwk_s_int_key", &a.s_nwk_s_int_key)?,
                parse_key("device_activation.f_nwk_s_int_key", &a.f_nwk_s_int_key)?,
            )
        } else {
            // LoRaWAN 1.0: the one NwkSKey, given as nwk_s_enc_key, takes
            // every network-key role (the other two fields are ignored).
            (nwk_s_enc_key, nwk_s_enc_key)
        };
        let keys = SessionKeys11 {
            f_nwk_s_int_key: FNwkSIntKey::from_be_bytes(f_nwk_s_int_key),
            s_nwk_s_int_key: SNwkSIntKey::from_be_bytes(s_nwk_s_int_key),
            nwk_s_enc_key: NwkSEncKey::from_be_bytes(nwk_s_enc_key),
            app_s_key: AppSKey::from_be_bytes(app_s_key),
        };
        let (region_config_id, params) = self.abp_region(&profile);
        let session = DeviceSession {
            f_cnt_up: a.f_cnt_up,
            n_f_cnt_down: a.n_f_cnt_down,
            a_f_cnt_down: a.a_f_cnt_down,
            rx1_delay: profile.abp_rx1_delay,
            rx1_dr_offset: profile.abp_rx1_dr_offset,
            rx2_dr: profile.abp_rx2_dr,
            rx2_frequency: profile.abp_rx2_frequency,
            ..DeviceSession::new(
                dev_addr,
                profile.mac_version,
                keys,
                region_config_id,
                params,
            )
        };
        s.storage
            .set_session(dev_eui, Some(&session))
            .await
            .map_err(status)?;
        let class = profile.class_at_activation();
        if device.enabled_class != class {
            let mut changed = device.clone();
            changed.enabled_class = class;
            s.storage.update_device(&changed).await.map_err(status)?;
        }
        if profile.flush_queue_on_activate {
            s.storage.flush_queue(dev_eui).await.map_err(status)?;
        }
        // Cached copies under the old and the new DevAddr are both stale.
        s.device_changed(dev_eui, device.session.map(|x| x.dev_addr));
        s.device_changed(dev_eui, Some(dev_addr));
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn deactivate(
        &self,
        request: Request<api::DeactivateDeviceRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let s = &self.0;
        let (dev_eui, _) = self.device_access(&request, Verb::Update).await?;
        let device = s.storage.get_device(dev_eui).await.map_err(status)?;
        // As ChirpStack: the queue goes with the session.
        s.storage.flush_queue(dev_eui).await.map_err(status)?;
        s.storage.set_session(dev_eui, None).await.map_err(status)?;
        s.device_changed(dev_eui, device.session.map(|x| x.dev_addr));
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn get_activation(
        &self,
        request: Request<api::GetDeviceActivationRequest>,
    ) -> Result<Response<api::GetDeviceActivationResponse>, Status> {
        let (dev_eui, _) = self.device_access(&request, Verb::Read).await?;
        let device = self.0.storage.get_device(dev_eui).await.map_err(status)?;
        // As ChirpStack: a device not activated has no activation, which is
        // not an error (its web interface shows an empty form).
        let Some(ds) = device.session else {
            return Ok(Response::new(api::GetDeviceActivationResponse {
                device_activation: None,
                join_server_context: None,
            }));
        };
        Ok(Response::new(api::GetDeviceActivationResponse {
            device_activation: Some(api::DeviceActivation {
                dev_eui: dev_eui.to_string(),
                dev_addr: ds.dev_addr.to_string(),
                app_s_key: ds.app_s_key.to_string(),
                nwk_s_enc_key: ds.nwk_s_enc_key.to_string(),
                s_nwk_s_int_key: ds.s_nwk_s_int_key.to_string(),
                f_nwk_s_int_key: ds.f_nwk_s_int_key.to_string(),
                f_cnt_up: ds.f_cnt_up,
                n_f_cnt_down: ds.n_f_cnt_down,
                a_f_cnt_down: ds.a_f_cnt_down,
            }),
            join_server_context: None,
        }))
    }

    async fn get_random_dev_addr(
        &self,
        request: Request<api::GetRandomDevAddrRequest>,
    ) -> Result<Response<api::GetRandomDevAddrResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let req = request.get_ref();
        let given_tenant = parse_optional_uuid("tenant_id", &req.tenant_id)?;
        let tenant = if req.dev_eui.is_empty() {
            let Some(id) = given_tenant else {
                return Err(s.invalid("dev_eui or tenant_id is required"));
            };
            s.tenant_of(&who, Target::Tenant(id)).await?
        } else {
            let dev_eui = parse_eui("dev_eui", &req.dev_eui)?;
            let tenant = s.tenant_of(&who, Target::Device(dev_eui)).await?;
            if given_tenant.is_some_and(|t| t != tenant) {
                return Err(s.invalid("tenant_id: not the device's tenant"));
            }
            tenant
        };
        s.authorize(&who, Action::new(Kind::Device, Verb::Read, Some(tenant)))?;
        let tenant = s.storage.get_tenant(tenant).await.map_err(status)?;
        let network = &s.config.network;
        let network_prefixes: Vec<String> = network
            .dev_addr_prefixes
            .iter()
            .map(ToString::to_string)
            .collect();
        let dev_addr: DevAddr = crate::join::allocate_dev_addr(
            network.net_id,
            &tenant.dev_addr_prefixes,
            &network_prefixes,
            &mut rand::rng(),
        )
        .map_err(|e| Status::failed_precondition(e.to_string()))?;
        Ok(Response::new(api::GetRandomDevAddrResponse {
            dev_addr: dev_addr.to_string(),
        }))
    }

    async fn get_metrics(
        &self,
        request: Request<api::GetDeviceMetricsRequest>,
    ) -> Result<Response<api::GetDeviceMetricsResponse>, Status> {
        self.0.principal(&request).await?;
        Err(Status::unimplemented(
            "device metrics are not collected by this server yet",
        ))
    }

    async fn get_link_metrics(
        &self,
        request: Request<api::GetDeviceLinkMetricsRequest>,
    ) -> Result<Response<api::GetDeviceLinkMetricsResponse>, Status> {
        self.0.principal(&request).await?;
        Err(Status::unimplemented(
            "device metrics are not collected by this server yet",
        ))
    }

    async fn enqueue(
        &self,
        request: Request<api::EnqueueDeviceQueueItemRequest>,
    ) -> Result<Response<api::EnqueueDeviceQueueItemResponse>, Status> {
        let s = &self.0;
        let (dev_eui, _) = self.device_access(&request, Verb::Update).await?;
        let req = request.into_inner();
        let q = required("queue_item", req.queue_item)?;
        let f_port = u8::try_from(q.f_port)
            .ok()
            .filter(|p| (1..=MAX_F_PORT).contains(&u32::from(*p)))
            .ok_or_else(|| {
                s.invalid(format!(
                    "queue_item.f_port: {} is not an application FPort (1 to {MAX_F_PORT})",
                    q.f_port
                ))
            })?;
        if q.is_encrypted {
            return Err(Status::unimplemented(
                "application-encrypted queue items (is_encrypted) are not supported by this \
                 server yet",
            ));
        }
        if q.object.is_some() && q.data.is_empty() {
            return Err(s.invalid("queue_item.object: no payload codec: data is required"));
        }
        let expires_at = match &q.expires_at {
            Some(t) => Some(
                from_timestamp(t)
                    .ok_or_else(|| s.invalid("queue_item.expires_at: out of range"))?,
            ),
            None => None,
        };
        let mut item = QueueItem::new(dev_eui, f_port, q.confirmed, q.data);
        item.expires_at = expires_at;
        if req.flush_queue {
            s.storage.flush_queue(dev_eui).await.map_err(status)?;
        }
        s.storage.enqueue(&item).await.map_err(status)?;
        if let Some(listener) = &s.listener {
            listener.queue_changed(dev_eui);
        }
        Ok(Response::new(api::EnqueueDeviceQueueItemResponse {
            id: item.id.to_string(),
        }))
    }

    async fn flush_queue(
        &self,
        request: Request<api::FlushDeviceQueueRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let (dev_eui, _) = self.device_access(&request, Verb::Update).await?;
        self.0.storage.flush_queue(dev_eui).await.map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn get_queue(
        &self,
        request: Request<api::GetDeviceQueueItemsRequest>,
    ) -> Result<Response<api::GetDeviceQueueItemsResponse>, Status> {
        let (dev_eui, _) = self.device_access(&request, Verb::Read).await?;
        let items = self
            .0
            .storage
            .list_queue_items(dev_eui)
            .await
            .map_err(status)?;
        let total_count = u32::try_from(items.len()).unwrap_or(u32::MAX);
        let result = if request.get_ref().count_only {
            Vec::new()
        } else {
            items.into_iter().map(queue_item_to_proto).collect()
        };
        Ok(Response::new(api::GetDeviceQueueItemsResponse {
            total_count,
            result,
        }))
    }

    async fn get_next_f_cnt_down(
        &self,
        request: Request<api::GetDeviceNextFCntDownRequest>,
    ) -> Result<Response<api::GetDeviceNextFCntDownResponse>, Status> {
        let s = &self.0;
        let (dev_eui, _) = self.device_access(&request, Verb::Read).await?;
        let device = s.storage.get_device(dev_eui).await.map_err(status)?;
        let Some(ds) = device.session else {
            return Err(Status::failed_precondition(format!(
                "device {dev_eui} is not activated"
            )));
        };
        // An application downlink's counter: AFCntDown in LoRaWAN 1.1, the
        // one FCntDown (NFCntDown) in 1.0.
        let session_next = if ds.mac_version.is_1_1() {
            ds.a_f_cnt_down
        } else {
            ds.n_f_cnt_down
        };
        // Past any counter a queued item was sent with.
        let queued_next = s
            .storage
            .list_queue_items(dev_eui)
            .await
            .map_err(status)?
            .iter()
            .filter_map(|q| q.f_cnt_down)
            .max()
            .map_or(0, |n| n.saturating_add(1));
        Ok(Response::new(api::GetDeviceNextFCntDownResponse {
            f_cnt_down: session_next.max(queued_next),
        }))
    }
}

/// The root keys of a request: NwkKey required, AppKey optional (zero when
/// empty, as ChirpStack stores it), `gen_app_key` not kept.
fn parse_keys(dev_eui: Eui64, k: &api::DeviceKeys) -> Result<DeviceKeys, Status> {
    let nwk_key = parse_key("device_keys.nwk_key", &k.nwk_key)?;
    let app_key = if k.app_key.is_empty() {
        [0; 16]
    } else {
        parse_key("device_keys.app_key", &k.app_key)?
    };
    Ok(DeviceKeys::new(
        dev_eui,
        NwkKey::from_be_bytes(nwk_key),
        AppKey::from_be_bytes(app_key),
    ))
}
