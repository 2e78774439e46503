//! `DeviceProfileService` over a real socket, on SQLite and PostgreSQL:
//! every method, and every field of a profile read back as written (who may
//! call what: api_matrix.rs).

#[macro_use]
#[path = "support/db.rs"]
mod db;
#[macro_use]
#[path = "support/api.rs"]
mod api;

use api::{TestApi, assert_code, profile_message, req};
use db::TestDb;
use ns_core::api::proto::{self as pb, device_profile_service_client::DeviceProfileServiceClient};
use packet_forwarder::gw::common;
use std::time::Duration;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

api_on_both_backends!(
    every_field_round_trips,
    newest_revision_round_trips,
    profile_list_pages_and_searches,
    adr_algorithms_and_the_repository,
    bad_input_is_refused_by_field,
    another_tenant_cannot_tell_what_exists,
);

fn client(api: &TestApi) -> DeviceProfileServiceClient<Channel> {
    DeviceProfileServiceClient::new(api.channel.clone())
}

/// A profile with every field set to something other than its default.
fn full(tenant: Uuid, name: &str) -> pb::DeviceProfile {
    pb::DeviceProfile {
        id: String::new(),
        tenant_id: tenant.to_string(),
        name: name.into(),
        description: "a sensor".into(),
        region: common::Region::Eu868 as i32,
        mac_version: common::MacVersion::Lorawan104 as i32,
        reg_params_revision: common::RegParamsRevision::Rp002103 as i32,
        adr_algorithm_id: "default".into(),
        payload_codec_runtime: pb::CodecRuntime::Js as i32,
        payload_codec_script: "function decodeUplink(input) { return {data: {}}; }".into(),
        flush_queue_on_activate: true,
        uplink_interval: 600,
        device_status_req_interval: 2,
        supports_otaa: true,
        supports_class_b: true,
        supports_class_c: true,
        class_b_timeout: 11,
        class_b_ping_slot_periodicity: 3,
        class_b_ping_slot_dr: 2,
        class_b_ping_slot_freq: 869_525_000,
        class_c_timeout: 7,
        abp_rx1_delay: 2,
        abp_rx1_dr_offset: 1,
        abp_rx2_dr: 3,
        abp_rx2_freq: 869_525_000,
        tags: [("vendor".to_string(), "acme".to_string())].into(),
        measurements: [(
            "temperature".to_string(),
            pb::Measurement {
                name: "Temperature".into(),
                kind: pb::MeasurementKind::Gauge as i32,
            },
        )]
        .into(),
        auto_detect_measurements: true,
        region_config_id: "eu868".into(),
        is_relay: true,
        is_relay_ed: true,
        relay_ed_relay_only: true,
        relay_enabled: true,
        relay_cad_periodicity: pb::CadPeriodicity::Ms100 as i32,
        relay_default_channel_index: 1,
        relay_second_channel_freq: 868_100_000,
        relay_second_channel_dr: 3,
        relay_second_channel_ack_offset: pb::SecondChAckOffset::Khz400 as i32,
        relay_ed_activation_mode: pb::RelayModeActivation::Dynamic as i32,
        relay_ed_smart_enable_level: 2,
        relay_ed_back_off: 4,
        relay_ed_uplink_limit_bucket_size: 5,
        relay_ed_uplink_limit_reload_rate: 6,
        relay_join_req_limit_reload_rate: 7,
        relay_notify_limit_reload_rate: 8,
        relay_global_uplink_limit_reload_rate: 9,
        relay_overall_limit_reload_rate: 10,
        relay_join_req_limit_bucket_size: 1,
        relay_notify_limit_bucket_size: 2,
        relay_global_uplink_limit_bucket_size: 3,
        relay_overall_limit_bucket_size: 1,
        allow_roaming: true,
        rx1_delay: 3,
        app_layer_params: Some(pb::AppLayerParams {
            ts003_version: pb::Ts003Version::Ts003V100 as i32,
            ts003_f_port: 202,
            ts004_version: pb::Ts004Version::Ts004V200 as i32,
            ts004_f_port: 201,
            ts005_version: pb::Ts005Version::Ts005V100 as i32,
            ts005_f_port: 200,
        }),
        device_id: "5e1a0f42-8c0a-4c38-9d1c-4f7b2c1e0a11".into(),
        firmware_version: "1.2.3".into(),
        supported_uplink_data_rates: vec![0, 1, 5],
        class_b_downlink_only: true,
    }
}

async fn create(api: &TestApi, p: pb::DeviceProfile) -> String {
    client(api)
        .create(req(
            pb::CreateDeviceProfileRequest {
                device_profile: Some(p),
            },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .id
}

async fn get(api: &TestApi, id: &str) -> pb::GetDeviceProfileResponse {
    client(api)
        .get(req(
            pb::GetDeviceProfileRequest { id: id.into() },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn every_field_round_trips(api: &TestApi) {
    let mut c = client(api);
    let t = api.tenant("t").await;
    let id = create(api, full(t, "sensor")).await;
    let got = get(api, &id).await;
    let mut want = full(t, "sensor");
    want.id = id.clone();
    assert_eq!(got.device_profile, Some(want.clone()));
    assert!(got.created_at.is_some() && got.updated_at.is_some());

    // The radio path reads the columns.
    let stored = api
        .db
        .storage
        .get_device_profile(id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.region, lorawan::region::Region::Eu868);
    assert_eq!(stored.mac_version, ns_core::model::MacVersion::V1_0_4);
    assert_eq!(
        stored.reg_params_revision,
        lorawan::region::Revision::Rp002_1_0_3
    );
    assert_eq!(stored.uplink_interval, Duration::from_secs(600));
    assert_eq!(stored.class_c_timeout, Duration::from_secs(7));
    assert_eq!(
        (
            stored.abp_rx1_delay,
            stored.abp_rx1_dr_offset,
            stored.abp_rx2_dr,
            stored.abp_rx2_frequency
        ),
        (2, 1, 3, 869_525_000)
    );
    assert_eq!(stored.region_config_id, "eu868");
    assert_eq!(stored.tags.get("vendor").map(String::as_str), Some("acme"));
    // ... and `extra` keeps the rest, and only the rest.
    assert!(stored.extra.contains_key("payloadCodecScript"));
    assert!(stored.extra.contains_key("appLayerParams"));
    for column in [
        "name",
        "region",
        "macVersion",
        "tags",
        "uplinkInterval",
        "id",
    ] {
        assert!(!stored.extra.contains_key(column), "{column} in extra");
    }

    // Every field changed, some to their defaults.
    let mut changed = profile_message(t, "sensor 2");
    changed.id = id.clone();
    changed.region = common::Region::Us915 as i32;
    changed.mac_version = common::MacVersion::Lorawan110 as i32;
    changed.reg_params_revision = common::RegParamsRevision::B as i32;
    changed.payload_codec_runtime = pb::CodecRuntime::CayenneLpp as i32;
    changed.measurements = [(
        "count".to_string(),
        pb::Measurement {
            name: "Count".into(),
            kind: pb::MeasurementKind::Counter as i32,
        },
    )]
    .into();
    changed.relay_ed_activation_mode = pb::RelayModeActivation::EndDeviceControlled as i32;
    changed.firmware_version = "2.0".into();
    changed.uplink_interval = 60;
    changed.class_b_timeout = 1;
    // The tenant of a profile does not change.
    let mut moved = changed.clone();
    moved.tenant_id = api.tenant("t").await.to_string();
    c.update(req(
        pb::UpdateDeviceProfileRequest {
            device_profile: Some(moved),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    let got = get(api, &id).await;
    assert_eq!(got.device_profile, Some(changed.clone()));
    assert!(got.updated_at.unwrap().seconds >= got.created_at.unwrap().seconds);

    // And back to everything set.
    c.update(req(
        pb::UpdateDeviceProfileRequest {
            device_profile: Some(want.clone()),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    assert_eq!(get(api, &id).await.device_profile, Some(want));

    c.delete(req(
        pb::DeleteDeviceProfileRequest { id: id.clone() },
        &api.admin,
    ))
    .await
    .unwrap();
    assert_code(
        c.get(req(
            pb::GetDeviceProfileRequest { id: id.clone() },
            &api.admin,
        ))
        .await,
        Code::NotFound,
    );
    assert_code(
        c.delete(req(pb::DeleteDeviceProfileRequest { id }, &api.admin))
            .await,
        Code::NotFound,
    );
}

async fn newest_revision_round_trips(api: &TestApi) {
    let t = api.tenant("t").await;
    let mut p = profile_message(t, "new");
    p.reg_params_revision = common::RegParamsRevision::Rp002105 as i32;
    p.adr_algorithm_id = String::new();
    let id = create(api, p.clone()).await;
    let got = get(api, &id).await.device_profile.unwrap();
    // RP002-1.0.5 is read back; the radio path runs it as RP002-1.0.4.
    assert_eq!(got.reg_params_revision, p.reg_params_revision);
    let stored = api
        .db
        .storage
        .get_device_profile(id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        stored.reg_params_revision,
        lorawan::region::Revision::Rp002_1_0_4
    );
    // An empty ADR algorithm is the default one.
    assert_eq!(got.adr_algorithm_id, "default");
}

async fn profile_list_pages_and_searches(api: &TestApi) {
    let mut c = client(api);
    let t = api.tenant("t").await;
    let other = api.tenant("t").await;
    for name in ["alpha", "bravo", "charlie"] {
        create(api, profile_message(t, name)).await;
    }
    let modelled = full(t, "delta");
    let device_id = modelled.device_id.clone();
    create(api, modelled).await;
    create(api, profile_message(other, "echo")).await;
    let list = |limit, offset, search: &str| pb::ListDeviceProfilesRequest {
        limit,
        offset,
        search: search.into(),
        tenant_id: t.to_string(),
        ..Default::default()
    };
    let page = c
        .list(req(list(2, 1, ""), &api.admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total_count, 4);
    let names: Vec<_> = page.result.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["bravo", "charlie"]);
    let item = &page.result[0];
    assert_eq!(item.region, common::Region::Eu868 as i32);
    assert_eq!(item.mac_version, common::MacVersion::Lorawan103 as i32);
    assert!(item.created_at.is_some() && item.updated_at.is_some());
    let page = c
        .list(req(list(10, 0, "RAV"), &api.admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total_count, 1);
    assert_eq!(page.result[0].name, "bravo");

    // Made from a repository device model.
    let mut by_device = list(10, 0, "");
    by_device.device_id = device_id.clone();
    let page = c
        .list(req(by_device, &api.admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total_count, 1);
    assert_eq!(page.result[0].name, "delta");
    assert_eq!(page.result[0].device_id, device_id);
    assert_eq!(page.result[0].firmware_version, "1.2.3");
    assert!(page.result[0].supports_class_b);

    // There are no global profiles; tenant_only changes nothing.
    let mut global = list(10, 0, "");
    global.global_only = true;
    let page = c.list(req(global, &api.admin)).await.unwrap().into_inner();
    assert_eq!((page.total_count, page.result.len()), (0, 0));
    let mut own = list(10, 0, "");
    own.tenant_only = true;
    let page = c.list(req(own, &api.admin)).await.unwrap().into_inner();
    assert_eq!(page.total_count, 4);

    let mut no_tenant = list(10, 0, "");
    no_tenant.tenant_id.clear();
    let status = c.list(req(no_tenant, &api.admin)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("tenant_id"), "{status:?}");
}

async fn adr_algorithms_and_the_repository(api: &TestApi) {
    let mut c = client(api);
    let t = api.tenant("t").await;
    let (_, member) = api.user(&[(t, [false, false, false])]).await;
    let algorithms = c
        .list_adr_algorithms(req(pbjson_types::Empty {}, &member))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(algorithms.total_count as usize, algorithms.result.len());
    assert!(algorithms.result.iter().any(|a| a.id == "default"));
    assert_code(
        c.list_adr_algorithms(tonic::Request::new(pbjson_types::Empty {}))
            .await,
        Code::Unauthenticated,
    );

    // No repository: nothing to list, nothing to read.
    let vendors = c
        .list_vendors(req(
            pb::ListDeviceProfileVendorsRequest {
                limit: 10,
                offset: 0,
            },
            &member,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((vendors.total_count, vendors.result.len()), (0, 0));
    let devices = c
        .list_devices(req(
            pb::ListDeviceProfileDevicesRequest {
                limit: 10,
                ..Default::default()
            },
            &member,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(devices.total_count, 0);
    let unimplemented = |status: tonic::Status| {
        assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
        assert!(status.message().contains("repository"), "{status:?}");
    };
    let id = Uuid::new_v4().to_string();
    unimplemented(
        c.get_vendor(req(
            pb::GetDeviceProfileVendorRequest { id: id.clone() },
            &api.admin,
        ))
        .await
        .unwrap_err(),
    );
    unimplemented(
        c.delete_vendor(req(
            pb::DeleteDeviceProfileVendorRequest { id: id.clone() },
            &api.admin,
        ))
        .await
        .unwrap_err(),
    );
    unimplemented(
        c.get_device(req(
            pb::GetDeviceProfileDeviceRequest { id: id.clone() },
            &api.admin,
        ))
        .await
        .unwrap_err(),
    );
    unimplemented(
        c.delete_device(req(pb::DeleteDeviceProfileDeviceRequest { id }, &api.admin))
            .await
            .unwrap_err(),
    );
    unimplemented(
        c.get_by_profile_id(req(
            pb::GetDeviceProfileByProfileIdRequest {
                vendor_id: 1,
                vendor_profile_id: 2,
            },
            &api.admin,
        ))
        .await
        .unwrap_err(),
    );
}

async fn bad_input_is_refused_by_field(api: &TestApi) {
    let mut c = client(api);
    let t = api.tenant("t").await;
    let create = |p: Option<pb::DeviceProfile>| {
        let mut c = c.clone();
        let token = api.admin.clone();
        async move {
            c.create(req(
                pb::CreateDeviceProfileRequest { device_profile: p },
                &token,
            ))
            .await
            .unwrap_err()
        }
    };
    let invalid = |status: tonic::Status, field: &str| {
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(status.message().contains(field), "{field}: {status:?}");
    };
    type Change = fn(&mut pb::DeviceProfile);
    let cases: &[(&str, Change)] = &[
        ("device_profile.tenant_id", |p| p.tenant_id = "nope".into()),
        ("device_profile.name", |p| p.name = String::new()),
        ("device_profile.name", |p| p.name = "x".repeat(101)),
        ("device_profile.region", |p| p.region = 1),
        ("device_profile.region", |p| p.region = 99),
        ("device_profile.mac_version", |p| p.mac_version = 6),
        ("device_profile.reg_params_revision", |p| {
            p.reg_params_revision = 8
        }),
        ("device_profile.adr_algorithm_id", |p| {
            p.adr_algorithm_id = "no-such-algorithm".into()
        }),
        ("device_profile.region_config_id", |p| {
            p.region_config_id = "us915_0".into()
        }),
        ("device_profile.region_config_id", |p| {
            // eu868 is configured, but not as US915.
            p.region = common::Region::Us915 as i32;
            p.region_config_id = "eu868".into();
        }),
        ("device_profile.abp_rx1_delay", |p| p.abp_rx1_delay = 16),
        ("device_profile.abp_rx1_dr_offset", |p| {
            p.abp_rx1_dr_offset = 300
        }),
        ("device_profile.abp_rx2_dr", |p| p.abp_rx2_dr = 16),
        ("device_profile.rx1_delay", |p| p.rx1_delay = 16),
        ("device_profile.payload_codec_runtime", |p| {
            p.payload_codec_runtime = 3
        }),
        ("device_profile.relay_cad_periodicity", |p| {
            p.relay_cad_periodicity = 6
        }),
        ("device_profile.relay_second_channel_ack_offset", |p| {
            p.relay_second_channel_ack_offset = 6
        }),
        ("device_profile.relay_ed_activation_mode", |p| {
            p.relay_ed_activation_mode = 4
        }),
        ("device_profile.measurements", |p| {
            p.measurements.insert(
                "x".into(),
                pb::Measurement {
                    name: "x".into(),
                    kind: 9,
                },
            );
        }),
        ("device_profile.app_layer_params.ts004_version", |p| {
            p.app_layer_params = Some(pb::AppLayerParams {
                ts004_version: 3,
                ..Default::default()
            });
        }),
        ("device_profile.device_id", |p| p.device_id = "nope".into()),
    ];
    for (field, change) in cases {
        let mut p = full(t, "p");
        change(&mut p);
        invalid(create(Some(p)).await, field);
    }
    invalid(create(None).await, "device_profile");
    invalid(
        c.get(req(
            pb::GetDeviceProfileRequest {
                id: "not-a-uuid".into(),
            },
            &api.admin,
        ))
        .await
        .unwrap_err(),
        "id",
    );
    invalid(
        c.list(req(
            pb::ListDeviceProfilesRequest {
                tenant_id: t.to_string(),
                device_id: "nope".into(),
                limit: 10,
                ..Default::default()
            },
            &api.admin,
        ))
        .await
        .unwrap_err(),
        "device_id",
    );
    // Nothing was written.
    assert_eq!(api.db.count("SELECT count(*) FROM device_profile").await, 0);

    // Nor is anything changed by a refused update.
    let id = self::create(api, full(t, "p")).await;
    let mut bad = full(t, "p");
    bad.id = id.clone();
    bad.description = "changed".into();
    bad.mac_version = 17;
    invalid(
        c.update(req(
            pb::UpdateDeviceProfileRequest {
                device_profile: Some(bad),
            },
            &api.admin,
        ))
        .await
        .unwrap_err(),
        "device_profile.mac_version",
    );
    let got = get(api, &id).await.device_profile.unwrap();
    assert_eq!(got.description, "a sensor");
    invalid(
        c.update(req(
            pb::UpdateDeviceProfileRequest {
                device_profile: Some(full(t, "no id")),
            },
            &api.admin,
        ))
        .await
        .unwrap_err(),
        "device_profile.id",
    );
}

async fn another_tenant_cannot_tell_what_exists(api: &TestApi) {
    let mut c = client(api);
    let t = api.tenant("t").await;
    let other = api.tenant("t").await;
    let id = create(api, profile_message(t, "p")).await;
    let (_, other_admin) = api.user(&[(other, [true, false, false])]).await;
    let missing = Uuid::new_v4().to_string();
    for id in [id.clone(), missing.clone()] {
        assert_code(
            c.get(req(
                pb::GetDeviceProfileRequest { id: id.clone() },
                &other_admin,
            ))
            .await,
            Code::PermissionDenied,
        );
        assert_code(
            c.delete(req(pb::DeleteDeviceProfileRequest { id }, &other_admin))
                .await,
            Code::PermissionDenied,
        );
    }
    assert_code(
        c.get(req(pb::GetDeviceProfileRequest { id: missing }, &api.admin))
            .await,
        Code::NotFound,
    );
    let status = c
        .create(req(
            pb::CreateDeviceProfileRequest {
                device_profile: Some(profile_message(Uuid::new_v4(), "x")),
            },
            &other_admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // Still there.
    get(api, &id).await;
}
