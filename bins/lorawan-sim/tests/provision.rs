//! `provision` against the real management API, served in-process on a
//! real socket over a fresh SQLite database: what it creates, that a
//! second run duplicates nothing, that a changed plan updates in place, and
//! that a tenant's API key (which cannot tell "absent" from "not yours")
//! works as well as an admin key.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lorawan::crypto::SessionKeys11;
use lorawan::keys::{AppKey, AppSKey, FNwkSIntKey, NwkKey, NwkSEncKey, SNwkSIntKey};
use lorawan::region::{Region, Revision};
use lorawan::{DevAddr, Eui64};
use lorawan_sim::device::LorawanVersion;
use lorawan_sim::provision::{
    ApiClient, DevicePlan, GatewayPlan, Plan, ProfilePlan, ProvisionError, Provisioned, provision,
};
use ns_core::api::proto as pb;
use ns_core::api::{ApiServer, ApiSettings, ApiState};
use ns_core::config::Config;
use ns_core::model::{ApiKey, MacVersion, Tenant};
use ns_core::storage::Storage;
use tonic::transport::Channel;
use uuid::Uuid;

/// The API on 127.0.0.1 over an SQLite database in a directory of its own.
struct TestApi {
    dir: PathBuf,
    state: Arc<ApiState>,
    server: ApiServer,
    url: String,
    /// A global admin API key's token.
    admin: String,
}

impl TestApi {
    async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("lorawan-sim-provision-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/ns.sqlite?mode=rwc", dir.display());
        let storage = Storage::connect(&url).await.unwrap();
        let state = Arc::new(ApiState::new(
            storage,
            Arc::new(Config::default()),
            ApiSettings::new("provision test secret"),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = ApiServer::start(listener, state.clone()).unwrap();
        let url = format!("http://{}", server.local_addr());
        let admin = Self::key(&state, None).await;
        Self {
            dir,
            state,
            server,
            url,
            admin,
        }
    }

    /// A new API key of `tenant` (global admin if `None`): its token.
    async fn key(state: &ApiState, tenant: Option<Uuid>) -> String {
        let key = ApiKey::new("provision test", tenant);
        state.storage.create_api_key(&key).await.unwrap();
        state.signer.sign_api_key(key.id)
    }

    fn storage(&self) -> &Storage {
        &self.state.storage
    }

    async fn finish(self) {
        self.server.shutdown();
        self.state.storage.close().await;
        std::fs::remove_dir_all(&self.dir).unwrap();
    }
}

/// `message` with the API key `token`.
fn req<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn session(n: u8) -> SessionKeys11 {
    // A LoRaWAN 1.0 session: the NwkSKey in every network role.
    SessionKeys11 {
        f_nwk_s_int_key: FNwkSIntKey::from_be_bytes([n; 16]),
        s_nwk_s_int_key: SNwkSIntKey::from_be_bytes([n; 16]),
        nwk_s_enc_key: NwkSEncKey::from_be_bytes([n; 16]),
        app_s_key: AppSKey::from_be_bytes([n + 1; 16]),
    }
}

const ABP_DEV_ADDR: DevAddr = DevAddr::from_be_bytes([0x26, 0x01, 0x12, 0x34]);

/// 1 tenant, 2 gateways, 3 OTAA devices (EUIs 0x0101..=0x0103) and 1 ABP
/// device (0x0201).
fn plan(tenant: &str) -> Plan {
    let otaa = (1..=3u8).map(|i| DevicePlan {
        dev_eui: Eui64::from_u64(0x0101_0000_0000_0000 | u64::from(i)),
        join_eui: Eui64::from_u64(0x70b3_d57e_d000_0001),
        name: format!("otaa-{i}"),
        nwk_key: NwkKey::from_be_bytes([0x10 + i; 16]),
        app_key: AppKey::from_be_bytes([0x20 + i; 16]),
        abp: None,
    });
    let abp = DevicePlan {
        dev_eui: Eui64::from_u64(0x0201_0000_0000_0001),
        join_eui: Eui64::from_u64(0),
        name: "abp-1".into(),
        nwk_key: NwkKey::from_be_bytes([0x31; 16]),
        app_key: AppKey::from_be_bytes([0x32; 16]),
        abp: Some((ABP_DEV_ADDR, session(0x40))),
    };
    Plan {
        tenant: tenant.into(),
        application: "sim app".into(),
        profile: ProfilePlan {
            name: "sim profile".into(),
            region: Region::Eu868,
            mac_version: LorawanVersion::V1_0_3,
            reg_params_revision: Revision::Rp002_1_0_3,
            supports_otaa: true,
            supports_class_c: false,
            uplink_interval: Duration::from_secs(60),
        },
        gateways: (1..=2u8)
            .map(|i| GatewayPlan {
                gateway_id: Eui64::from_u64(0x0016_c001_ff10_0000 | u64::from(i)),
                name: format!("gw-{i}"),
                latitude: 52.0 + f64::from(i),
                longitude: 4.5,
                altitude: 10.0 * f64::from(i),
                stats_interval: Duration::from_secs(30),
            })
            .collect(),
        devices: otaa.chain([abp]).collect(),
    }
}

/// What the API lists: (tenants named `tenant` exactly, applications,
/// device profiles, gateways, devices) of the provisioned objects.
async fn counts(api: &TestApi, tenant: &str, p: &Provisioned) -> [usize; 5] {
    let channel = Channel::from_shared(api.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let token = &api.admin;
    let tenants = pb::tenant_service_client::TenantServiceClient::new(channel.clone())
        .list(req(
            pb::ListTenantsRequest {
                limit: 1000,
                ..Default::default()
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .result
        .into_iter()
        .filter(|t| t.name == tenant)
        .count();
    let applications =
        pb::application_service_client::ApplicationServiceClient::new(channel.clone())
            .list(req(
                pb::ListApplicationsRequest {
                    limit: 1000,
                    tenant_id: p.tenant_id.to_string(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner()
            .total_count;
    let profiles =
        pb::device_profile_service_client::DeviceProfileServiceClient::new(channel.clone())
            .list(req(
                pb::ListDeviceProfilesRequest {
                    limit: 1000,
                    tenant_id: p.tenant_id.to_string(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner()
            .total_count;
    let gateways = pb::gateway_service_client::GatewayServiceClient::new(channel.clone())
        .list(req(
            pb::ListGatewaysRequest {
                limit: 1000,
                tenant_id: p.tenant_id.to_string(),
                ..Default::default()
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .total_count;
    let devices = pb::device_service_client::DeviceServiceClient::new(channel)
        .list(req(
            pb::ListDevicesRequest {
                limit: 1000,
                application_id: p.application_id.to_string(),
                ..Default::default()
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .total_count;
    [
        tenants,
        applications as usize,
        profiles as usize,
        gateways as usize,
        devices as usize,
    ]
}

/// Checks that the server holds `plan` as provisioned in `p`.
async fn assert_stored(api: &TestApi, plan: &Plan, p: &Provisioned) {
    let s = api.storage();
    let tenant = s.get_tenant(p.tenant_id).await.unwrap();
    assert_eq!(tenant.name, plan.tenant);
    assert!(tenant.can_have_gateways);
    let application = s.get_application(p.application_id).await.unwrap();
    assert_eq!(application.name, plan.application);
    assert_eq!(application.tenant_id, p.tenant_id);

    let profile = s.get_device_profile(p.device_profile_id).await.unwrap();
    assert_eq!(profile.tenant_id, p.tenant_id);
    assert_eq!(profile.name, plan.profile.name);
    assert_eq!(profile.region, plan.profile.region);
    assert_eq!(profile.region_config_id, "");
    assert_eq!(profile.mac_version, MacVersion::V1_0_3);
    assert_eq!(
        profile.reg_params_revision,
        plan.profile.reg_params_revision
    );
    assert_eq!(profile.supports_otaa, plan.profile.supports_otaa);
    assert_eq!(profile.supports_class_c, plan.profile.supports_class_c);
    assert_eq!(profile.uplink_interval, plan.profile.uplink_interval);
    assert_eq!(profile.adr_algorithm_id, "default");
    // ABP sessions start from the region's receive windows, not from 0 Hz.
    assert_eq!(profile.abp_rx1_delay, 1);
    assert_eq!(profile.abp_rx2_dr, 0);
    assert_eq!(profile.abp_rx2_frequency, 869_525_000);

    for g in &plan.gateways {
        let stored = s.get_gateway(g.gateway_id).await.unwrap();
        assert_eq!(stored.tenant_id, p.tenant_id);
        assert_eq!(stored.name, g.name);
        assert_eq!(stored.latitude, g.latitude);
        assert_eq!(stored.longitude, g.longitude);
        assert_eq!(f64::from(stored.altitude), g.altitude);
        assert_eq!(stored.stats_interval, g.stats_interval);
    }

    for d in &plan.devices {
        let stored = s.get_device(d.dev_eui).await.unwrap();
        assert_eq!(stored.application_id, p.application_id);
        assert_eq!(stored.device_profile_id, p.device_profile_id);
        assert_eq!(stored.name, d.name);
        assert_eq!(stored.join_eui, d.join_eui);
        let keys = s.get_device_keys(d.dev_eui).await.unwrap();
        assert_eq!(keys.nwk_key, d.nwk_key, "NwkKey of {}", d.dev_eui);
        assert_eq!(keys.app_key, d.app_key, "AppKey of {}", d.dev_eui);
        match &d.abp {
            None => assert!(stored.session.is_none(), "{} is not activated", d.dev_eui),
            Some((dev_addr, keys)) => {
                let session = stored.session.expect("an ABP device is activated");
                assert_eq!(session.dev_addr, *dev_addr);
                assert_eq!(session.mac_version, MacVersion::V1_0_3);
                let nwk_s_key = keys.f_nwk_s_int_key.to_be_bytes();
                assert_eq!(session.f_nwk_s_int_key.to_be_bytes(), nwk_s_key);
                assert_eq!(session.s_nwk_s_int_key.to_be_bytes(), nwk_s_key);
                assert_eq!(session.nwk_s_enc_key.to_be_bytes(), nwk_s_key);
                assert_eq!(session.app_s_key, keys.app_s_key);
                assert_eq!(
                    (session.f_cnt_up, session.n_f_cnt_down, session.a_f_cnt_down),
                    (0, 0, 0)
                );
                assert_eq!(session.rx2_frequency, 869_525_000);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_twice_creates_once_and_a_changed_plan_updates_in_place() {
    let api = TestApi::start().await;
    // A tenant whose name contains the plan's: the search finds it, the
    // exact match must not take it.
    let decoy = Tenant::new("sim tenant (old)");
    api.storage().create_tenant(&decoy).await.unwrap();

    let client = ApiClient::connect(&api.url, &api.admin).await.unwrap();
    let mut plan = plan("sim tenant");
    let first = provision(&client, &plan).await.unwrap();
    assert_ne!(first.tenant_id, decoy.id);
    assert_eq!(first.gateways_created, 2);
    assert_eq!(first.devices_created, 4);
    assert_stored(&api, &plan, &first).await;
    assert_eq!(counts(&api, "sim tenant", &first).await, [1, 1, 1, 2, 4]);

    // The same plan again: everything is found, nothing is created.
    let second = provision(&client, &plan).await.unwrap();
    assert_eq!(
        second,
        Provisioned {
            gateways_created: 0,
            devices_created: 0,
            ..first
        }
    );
    assert_stored(&api, &plan, &second).await;
    assert_eq!(counts(&api, "sim tenant", &second).await, [1, 1, 1, 2, 4]);

    // A changed plan: the same objects, updated; one more device.
    plan.profile.supports_class_c = true;
    plan.profile.uplink_interval = Duration::from_secs(120);
    plan.gateways[0].name = "gw-1 renamed".into();
    plan.gateways[1].latitude = -33.9;
    plan.devices[0].nwk_key = NwkKey::from_be_bytes([0x99; 16]);
    plan.devices[1].name = "otaa-2 renamed".into();
    plan.devices[3].abp = Some((
        DevAddr::from_be_bytes([0x26, 0x01, 0x99, 0x99]),
        session(0x50),
    ));
    plan.devices.push(DevicePlan {
        dev_eui: Eui64::from_u64(0x0101_0000_0000_0004),
        name: "otaa-4".into(),
        ..plan.devices[0].clone()
    });
    let third = provision(&client, &plan).await.unwrap();
    assert_eq!(
        third,
        Provisioned {
            gateways_created: 0,
            devices_created: 1,
            ..first
        }
    );
    assert_stored(&api, &plan, &third).await;
    assert_eq!(counts(&api, "sim tenant", &third).await, [1, 1, 1, 2, 5]);

    api.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_api_key_provisions_into_its_own_tenant() {
    let api = TestApi::start().await;
    // A tenant that exists, cannot have gateways yet, and whose key cannot
    // see whether a device or gateway of another tenant exists.
    let mut tenant = Tenant::new("keyed tenant");
    tenant.can_have_gateways = false;
    api.storage().create_tenant(&tenant).await.unwrap();
    let token = TestApi::key(&api.state, Some(tenant.id)).await;

    let client = ApiClient::connect(&api.url, &token).await.unwrap();
    let plan = plan("keyed tenant");

    // Only an admin may let a tenant have gateways: the error says which
    // step needed it.
    let err = provision(&client, &plan).await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::PermissionDenied), "{err}");
    assert!(
        err.to_string().starts_with(&format!(
            "letting tenant \"keyed tenant\" ({}) have gateways: ",
            tenant.id
        )),
        "{err}"
    );
    tenant.can_have_gateways = true;
    api.storage().update_tenant(&tenant).await.unwrap();

    let first = provision(&client, &plan).await.unwrap();
    assert_eq!(first.tenant_id, tenant.id);
    assert_eq!((first.gateways_created, first.devices_created), (2, 4));
    assert_stored(&api, &plan, &first).await;

    let second = provision(&client, &plan).await.unwrap();
    assert_eq!((second.gateways_created, second.devices_created), (0, 0));
    assert_eq!(second.application_id, first.application_id);
    assert_eq!(second.device_profile_id, first.device_profile_id);
    assert_eq!(counts(&api, "keyed tenant", &second).await, [1, 1, 1, 2, 4]);

    // The key cannot create another tenant: the error names the call.
    let err = provision(
        &client,
        &Plan {
            tenant: "someone else".into(),
            ..plan.clone()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::PermissionDenied), "{err}");
    assert!(
        err.to_string()
            .starts_with("creating tenant \"someone else\": "),
        "{err}"
    );

    api.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_device_is_named_in_the_error() {
    let api = TestApi::start().await;
    let client = ApiClient::connect(&api.url, &api.admin).await.unwrap();
    let mut plan = plan("refusing tenant");
    plan.devices[2].name = String::new();
    let err = provision(&client, &plan).await.unwrap_err();
    assert!(matches!(err, ProvisionError::Api { .. }), "{err:?}");
    assert_eq!(err.code(), Some(tonic::Code::InvalidArgument));
    assert!(
        err.to_string()
            .starts_with("creating device 0101000000000003: "),
        "{err}"
    );
    api.finish().await;
}

#[tokio::test]
async fn a_bad_url_or_token_is_refused_before_any_call() {
    let err = ApiClient::connect("http://127.0.0.1:1", "token")
        .await
        .unwrap_err();
    assert!(matches!(err, ProvisionError::Connect { .. }), "{err:?}");
    let err = ApiClient::connect("http://127.0.0.1:1", "bad\ntoken")
        .await
        .unwrap_err();
    assert!(matches!(err, ProvisionError::InvalidToken), "{err:?}");
    let err = ApiClient::connect("not a url", "token").await.unwrap_err();
    assert!(matches!(err, ProvisionError::InvalidUrl { .. }), "{err:?}");
}

/// Many devices at once (the provisioning runs 16 calls at a time): each
/// is created once, and a second run creates none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_devices_are_created_once() {
    let api = TestApi::start().await;
    let client = ApiClient::connect(&api.url, &api.admin).await.unwrap();
    let mut plan = plan("load tenant");
    let template = plan.devices[0].clone();
    plan.devices = (0..200u64)
        .map(|i| DevicePlan {
            dev_eui: Eui64::from_u64(0x0301_0000_0000_0000 | i),
            name: format!("load-{i}"),
            ..template.clone()
        })
        .collect();
    let first = provision(&client, &plan).await.unwrap();
    let second = provision(&client, &plan).await.unwrap();
    assert_eq!((first.devices_created, second.devices_created), (200, 0));
    assert_eq!(first.application_id, second.application_id);
    api.finish().await;
}
