//! `DeviceService` over a real socket, on SQLite and PostgreSQL: every
//! method (who may call what: api_matrix.rs).

#[macro_use]
#[path = "support/db.rs"]
mod db;
#[macro_use]
#[path = "support/api.rs"]
mod api;

use std::time::{Duration, SystemTime};

use api::{TestApi, activation, assert_code, eu868_profile, queue_item, req};
use db::TestDb;
use lorawan::{DevAddr, Eui64};
use ns_core::api::proto::{self as pb, device_service_client::DeviceServiceClient};
use ns_core::model::{Device, MacVersion};
use tonic::Code;
use uuid::Uuid;

api_on_both_backends!(
    devices_round_trip,
    device_list_orders_searches_and_filters,
    keys_round_trip,
    abp_activation_then_next_fcnt_down,
    lorawan_1_1_activation_keeps_four_keys,
    queue_enqueue_get_flush,
    random_dev_addrs_come_from_the_tenant_or_the_network,
    tenant_device_limit_is_enforced,
    bad_input_is_refused_by_field,
    another_tenant_cannot_tell_what_exists,
    metrics_are_unimplemented,
);

/// A tenant with an application and two device profiles (LoRaWAN 1.0.3,
/// ABP; and LoRaWAN 1.1.0).
struct Fx {
    tenant: Uuid,
    app: Uuid,
    profile: Uuid,
    profile_11: Uuid,
}

async fn fixture(api: &TestApi, name: &str) -> Fx {
    let tenant = api.tenant(name).await;
    let app = api.application(tenant, &format!("{name} app")).await;
    let mut profile = eu868_profile(tenant, "a profile");
    profile.supports_otaa = false;
    profile.abp_rx1_delay = 3;
    profile.abp_rx1_dr_offset = 1;
    profile.abp_rx2_dr = 3;
    profile.abp_rx2_frequency = 869_525_000;
    let mut profile_11 = eu868_profile(tenant, "b profile");
    profile_11.mac_version = MacVersion::V1_1_0;
    Fx {
        tenant,
        app,
        profile: api.device_profile(&profile).await,
        profile_11: api.device_profile(&profile_11).await,
    }
}

fn device(fx: &Fx, eui: &str, name: &str) -> pb::Device {
    pb::Device {
        dev_eui: eui.into(),
        name: name.into(),
        description: "d".into(),
        application_id: fx.app.to_string(),
        device_profile_id: fx.profile.to_string(),
        skip_fcnt_check: true,
        is_disabled: false,
        variables: [("v".to_string(), "1".to_string())].into(),
        tags: [("k".to_string(), "v".to_string())].into(),
        join_eui: "0102030405060708".into(),
    }
}

fn client(api: &TestApi) -> DeviceServiceClient<tonic::transport::Channel> {
    DeviceServiceClient::new(api.channel.clone())
}

async fn create(api: &TestApi, d: pb::Device) {
    client(api)
        .create(req(pb::CreateDeviceRequest { device: Some(d) }, &api.admin))
        .await
        .unwrap();
}

/// A device stored directly, for tests that are not about Create.
async fn stored_device(api: &TestApi, fx: &Fx, eui: u64) -> Eui64 {
    let eui = Eui64::from_u64(eui);
    let d = Device::new(eui, fx.app, fx.profile, format!("dev {eui}"));
    api.db.storage.create_device(&d).await.unwrap();
    eui
}

async fn list(api: &TestApi, r: pb::ListDevicesRequest) -> pb::ListDevicesResponse {
    client(api)
        .list(req(r, &api.admin))
        .await
        .unwrap()
        .into_inner()
}

async fn devices_round_trip(api: &TestApi) {
    let mut c = client(api);
    let fx = fixture(api, "acme").await;
    let want = device(&fx, "0000000000000001", "one");
    create(api, want.clone()).await;
    assert_code(
        c.create(req(
            pb::CreateDeviceRequest {
                device: Some(want.clone()),
            },
            &api.admin,
        ))
        .await,
        Code::AlreadyExists,
    );
    let got = c
        .get(req(
            pb::GetDeviceRequest {
                dev_eui: "0000000000000001".into(),
            },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.device, Some(want.clone()));
    assert!(got.created_at.is_some() && got.updated_at.is_some());
    assert_eq!(got.last_seen_at, None);
    assert_eq!(got.class_enabled, 0);

    // Change everything, the profile and the application included.
    let app2 = api.application(fx.tenant, "second app").await;
    let mut changed = want.clone();
    changed.name = "one renamed".into();
    changed.description = String::new();
    changed.device_profile_id = fx.profile_11.to_string();
    changed.application_id = app2.to_string();
    changed.skip_fcnt_check = false;
    changed.is_disabled = true;
    changed.tags.clear();
    changed.variables.insert("w".into(), "2".into());
    changed.join_eui = String::new();
    c.update(req(
        pb::UpdateDeviceRequest {
            device: Some(changed.clone()),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    let got = c
        .get(req(
            pb::GetDeviceRequest {
                dev_eui: "0000000000000001".into(),
            },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    changed.join_eui = "0000000000000000".into();
    assert_eq!(got.device, Some(changed));
    assert!(got.updated_at.unwrap().seconds >= got.created_at.unwrap().seconds);

    let page = list(
        api,
        pb::ListDevicesRequest {
            application_id: app2.to_string(),
            limit: 10,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(page.total_count, 1);
    assert_eq!(page.result[0].device_profile_name, "b profile");
    assert_eq!(page.result[0].name, "one renamed");

    c.delete(req(
        pb::DeleteDeviceRequest {
            dev_eui: "0000000000000001".into(),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    assert_code(
        c.get(req(
            pb::GetDeviceRequest {
                dev_eui: "0000000000000001".into(),
            },
            &api.admin,
        ))
        .await,
        Code::NotFound,
    );
    assert_code(
        c.delete(req(
            pb::DeleteDeviceRequest {
                dev_eui: "0000000000000001".into(),
            },
            &api.admin,
        ))
        .await,
        Code::NotFound,
    );
}

async fn device_list_orders_searches_and_filters(api: &TestApi) {
    let fx = fixture(api, "acme").await;
    for (eui, name, profile, tag) in [
        ("00000000000000c1", "charlie", fx.profile, "x"),
        ("00000000000000a3", "alpha", fx.profile_11, "y"),
        ("00000000000000b2", "bravo", fx.profile, "x"),
    ] {
        let mut d = device(&fx, eui, name);
        d.device_profile_id = profile.to_string();
        d.tags = [("t".to_string(), tag.to_string())].into();
        create(api, d).await;
    }
    api.db
        .storage
        .update_device_last_seen(Eui64::from_u64(0xb2), SystemTime::now())
        .await
        .unwrap();
    let base = pb::ListDevicesRequest {
        application_id: fx.app.to_string(),
        limit: 10,
        ..Default::default()
    };
    let names = |page: &pb::ListDevicesResponse| -> Vec<String> {
        page.result.iter().map(|d| d.name.clone()).collect()
    };
    use pb::list_devices_request::OrderBy;

    let page = list(api, base.clone()).await;
    assert_eq!(page.total_count, 3);
    assert_eq!(names(&page), ["alpha", "bravo", "charlie"]);
    assert!(page.result[1].last_seen_at.is_some());
    assert_eq!(page.result[0].tags["t"], "y");

    let mut r = base.clone();
    r.order_by = OrderBy::DevEui.into();
    r.order_by_desc = true;
    assert_eq!(names(&list(api, r).await), ["charlie", "bravo", "alpha"]);

    let mut r = base.clone();
    r.order_by = OrderBy::DeviceProfileName.into();
    r.order_by_desc = true;
    assert_eq!(names(&list(api, r).await)[0], "alpha");

    let mut r = base.clone();
    r.order_by = OrderBy::LastSeenAt.into();
    r.order_by_desc = true;
    assert_eq!(names(&list(api, r).await)[0], "bravo");

    // Paging keeps the total.
    let mut r = base.clone();
    r.limit = 1;
    r.offset = 1;
    let page = list(api, r).await;
    assert_eq!((page.total_count, names(&page)), (3, vec!["bravo".into()]));

    // Search on name (any case) and on DevEUI.
    let mut r = base.clone();
    r.search = "RAV".into();
    assert_eq!(names(&list(api, r).await), ["bravo"]);
    let mut r = base.clone();
    r.search = "a3".into();
    assert_eq!(names(&list(api, r).await), ["alpha"]);

    // By profile.
    let mut r = base.clone();
    r.device_profile_id = fx.profile.to_string();
    let page = list(api, r).await;
    assert_eq!(
        (page.total_count, names(&page)),
        (2, vec!["bravo".into(), "charlie".into()])
    );

    // By tags, over every match: the total and the page are right.
    let mut r = base.clone();
    r.tags = [("t".to_string(), "x".to_string())].into();
    r.limit = 1;
    r.offset = 1;
    let page = list(api, r).await;
    assert_eq!(
        (page.total_count, names(&page)),
        (2, vec!["charlie".into()])
    );

    // Multicast groups are not supported.
    let mut r = base.clone();
    r.multicast_group_id = Uuid::new_v4().to_string();
    assert_code(
        client(api).list(req(r, &api.admin)).await,
        Code::Unimplemented,
    );
    // The application is required.
    let status = client(api)
        .list(req(pb::ListDevicesRequest::default(), &api.admin))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("application_id"), "{status:?}");
}

async fn get_keys(api: &TestApi, eui: Eui64) -> Result<pb::GetDeviceKeysResponse, tonic::Status> {
    client(api)
        .get_keys(req(
            pb::GetDeviceKeysRequest {
                dev_eui: eui.to_string(),
            },
            &api.admin,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn keys_round_trip(api: &TestApi) {
    let mut c = client(api);
    let fx = fixture(api, "acme").await;
    let eui = stored_device(api, &fx, 1).await;
    let keys = pb::DeviceKeys {
        dev_eui: eui.to_string(),
        nwk_key: "0102030405060708090a0b0c0d0e0f10".into(),
        app_key: String::new(),
        gen_app_key: "ffffffffffffffffffffffffffffffff".into(),
    };
    assert_code(get_keys(api, eui).await, Code::NotFound);
    c.create_keys(req(
        pb::CreateDeviceKeysRequest {
            device_keys: Some(keys.clone()),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    assert_code(
        c.create_keys(req(
            pb::CreateDeviceKeysRequest {
                device_keys: Some(keys.clone()),
            },
            &api.admin,
        ))
        .await,
        Code::AlreadyExists,
    );
    let got = get_keys(api, eui).await.unwrap();
    // The 1.0 AppKey is in nwk_key; an empty app_key is stored as zero;
    // gen_app_key is not kept.
    assert_eq!(
        got.device_keys,
        Some(pb::DeviceKeys {
            dev_eui: eui.to_string(),
            nwk_key: "0102030405060708090a0b0c0d0e0f10".into(),
            app_key: "00000000000000000000000000000000".into(),
            gen_app_key: String::new(),
        })
    );
    assert!(got.created_at.is_some() && got.updated_at.is_some());
    let stored = api.db.storage.get_device_keys(eui).await.unwrap();
    assert_eq!(stored.nwk_key.to_be_bytes()[0], 1);

    let mut changed = keys.clone();
    changed.nwk_key = "11111111111111111111111111111111".into();
    changed.app_key = "22222222222222222222222222222222".into();
    c.update_keys(req(
        pb::UpdateDeviceKeysRequest {
            device_keys: Some(changed.clone()),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    let got = get_keys(api, eui).await.unwrap().device_keys.unwrap();
    assert_eq!(
        (got.nwk_key.as_str(), got.app_key.as_str()),
        (
            "11111111111111111111111111111111",
            "22222222222222222222222222222222"
        )
    );

    // DevNonces are forgotten.
    api.db
        .storage
        .record_dev_nonce(eui, Eui64::from_u64(9), lorawan::DevNonce(7), false)
        .await
        .unwrap();
    c.flush_dev_nonces(req(
        pb::FlushDevNoncesRequest {
            dev_eui: eui.to_string(),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    api.db
        .storage
        .record_dev_nonce(eui, Eui64::from_u64(9), lorawan::DevNonce(7), false)
        .await
        .unwrap();

    c.delete_keys(req(
        pb::DeleteDeviceKeysRequest {
            dev_eui: eui.to_string(),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    assert_code(get_keys(api, eui).await, Code::NotFound);
    assert_code(
        c.update_keys(req(
            pb::UpdateDeviceKeysRequest {
                device_keys: Some(changed),
            },
            &api.admin,
        ))
        .await,
        Code::NotFound,
    );
    assert_code(
        c.delete_keys(req(
            pb::DeleteDeviceKeysRequest {
                dev_eui: eui.to_string(),
            },
            &api.admin,
        ))
        .await,
        Code::NotFound,
    );
}

async fn abp_activation_then_next_fcnt_down(api: &TestApi) {
    let mut c = client(api);
    let fx = fixture(api, "acme").await;
    let eui = stored_device(api, &fx, 1).await;
    let by_eui = || pb::GetDeviceActivationRequest {
        dev_eui: eui.to_string(),
    };
    let next = || pb::GetDeviceNextFCntDownRequest {
        dev_eui: eui.to_string(),
    };
    // Not activated: no activation, as ChirpStack answers.
    assert_eq!(
        c.get_activation(req(by_eui(), &api.admin))
            .await
            .unwrap()
            .into_inner()
            .device_activation,
        None
    );
    assert_code(
        c.get_next_f_cnt_down(req(next(), &api.admin)).await,
        Code::FailedPrecondition,
    );
    // Something queued before: flushed, as the profile says.
    api.db
        .storage
        .enqueue(&ns_core::model::QueueItem::new(eui, 1, false, vec![1]))
        .await
        .unwrap();
    c.activate(req(
        pb::ActivateDeviceRequest {
            device_activation: Some(activation(eui)),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    assert!(
        api.db
            .storage
            .list_queue_items(eui)
            .await
            .unwrap()
            .is_empty()
    );

    // LoRaWAN 1.0: the NwkSKey in every network role.
    let got = c
        .get_activation(req(by_eui(), &api.admin))
        .await
        .unwrap()
        .into_inner()
        .device_activation
        .unwrap();
    let mut want = activation(eui);
    want.s_nwk_s_int_key = want.nwk_s_enc_key.clone();
    want.f_nwk_s_int_key = want.nwk_s_enc_key.clone();
    assert_eq!(got, want);

    // The session has the profile's ABP settings and the region's channels.
    let stored = api.db.storage.get_device(eui).await.unwrap();
    let session = stored.session.unwrap();
    assert_eq!(session.dev_addr, DevAddr::from_u32(0x2601_1234));
    assert_eq!(session.mac_version, MacVersion::V1_0_3);
    assert_eq!(
        (
            session.rx1_delay,
            session.rx1_dr_offset,
            session.rx2_dr,
            session.rx2_frequency
        ),
        (3, 1, 3, 869_525_000)
    );
    assert_eq!(session.enabled_uplink_channel_indices, [0, 1, 2]);
    assert_eq!(session.f_cnt_up, 10);

    // LoRaWAN 1.0: the one FCntDown.
    let n = c
        .get_next_f_cnt_down(req(next(), &api.admin))
        .await
        .unwrap()
        .into_inner()
        .f_cnt_down;
    assert_eq!(n, 5);
    // Past a counter a queued item was sent with.
    let mut sent = ns_core::model::QueueItem::new(eui, 1, true, vec![1]);
    sent.is_pending = true;
    sent.f_cnt_down = Some(7);
    api.db.storage.enqueue(&sent).await.unwrap();
    let n = c
        .get_next_f_cnt_down(req(next(), &api.admin))
        .await
        .unwrap()
        .into_inner()
        .f_cnt_down;
    assert_eq!(n, 8);

    c.deactivate(req(
        pb::DeactivateDeviceRequest {
            dev_eui: eui.to_string(),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    // Not activated: no activation, as ChirpStack answers.
    assert_eq!(
        c.get_activation(req(by_eui(), &api.admin))
            .await
            .unwrap()
            .into_inner()
            .device_activation,
        None
    );
    assert_code(
        c.get_next_f_cnt_down(req(next(), &api.admin)).await,
        Code::FailedPrecondition,
    );
    let stored = api.db.storage.get_device(eui).await.unwrap();
    assert!(stored.session.is_none());
    assert!(
        api.db
            .storage
            .list_queue_items(eui)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn lorawan_1_1_activation_keeps_four_keys(api: &TestApi) {
    let mut c = client(api);
    let fx = fixture(api, "acme").await;
    let eui = Eui64::from_u64(0x11);
    let d = Device::new(eui, fx.app, fx.profile_11, "v11");
    api.db.storage.create_device(&d).await.unwrap();
    let mut a = activation(eui);
    // 1.1 needs all four keys.
    let status = c
        .activate(req(
            pb::ActivateDeviceRequest {
                device_activation: Some(a.clone()),
            },
            &api.admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("s_nwk_s_int_key"), "{status:?}");
    assert!(
        api.db
            .storage
            .get_device(eui)
            .await
            .unwrap()
            .session
            .is_none()
    );

    a.s_nwk_s_int_key = "03030303030303030303030303030303".into();
    a.f_nwk_s_int_key = "04040404040404040404040404040404".into();
    c.activate(req(
        pb::ActivateDeviceRequest {
            device_activation: Some(a.clone()),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    let got = c
        .get_activation(req(
            pb::GetDeviceActivationRequest {
                dev_eui: eui.to_string(),
            },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .device_activation
        .unwrap();
    assert_eq!(got, a);
    // LoRaWAN 1.1: application downlinks count with AFCntDown.
    let n = c
        .get_next_f_cnt_down(req(
            pb::GetDeviceNextFCntDownRequest {
                dev_eui: eui.to_string(),
            },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .f_cnt_down;
    assert_eq!(n, 3);
}

async fn enqueue(
    api: &TestApi,
    item: pb::DeviceQueueItem,
    flush_queue: bool,
) -> Result<String, tonic::Status> {
    client(api)
        .enqueue(req(
            pb::EnqueueDeviceQueueItemRequest {
                queue_item: Some(item),
                flush_queue,
            },
            &api.admin,
        ))
        .await
        .map(|r| r.into_inner().id)
}

async fn queue(api: &TestApi, eui: Eui64, count_only: bool) -> pb::GetDeviceQueueItemsResponse {
    client(api)
        .get_queue(req(
            pb::GetDeviceQueueItemsRequest {
                dev_eui: eui.to_string(),
                count_only,
            },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn queue_enqueue_get_flush(api: &TestApi) {
    let fx = fixture(api, "acme").await;
    let eui = stored_device(api, &fx, 1).await;
    let first = enqueue(api, queue_item(eui, 1, b"one"), false)
        .await
        .unwrap();
    let expires = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    let mut second = queue_item(eui, 223, b"two");
    second.confirmed = true;
    second.expires_at = Some(ns_core::api::service::timestamp(expires));
    let second_id = enqueue(api, second.clone(), false).await.unwrap();

    let got = queue(api, eui, false).await;
    assert_eq!(got.total_count, 2);
    assert_eq!(got.result[0].id, first);
    assert_eq!(got.result[0].data, b"one");
    assert_eq!(got.result[0].f_port, 1);
    assert!(!got.result[0].confirmed && !got.result[0].is_pending);
    assert_eq!(got.result[0].expires_at, None);
    let mut want = second;
    want.id = second_id;
    assert_eq!(got.result[1], want);

    let counted = queue(api, eui, true).await;
    assert_eq!((counted.total_count, counted.result.len()), (2, 0));

    // flush_queue replaces the queue.
    let third = enqueue(api, queue_item(eui, 2, b""), true).await.unwrap();
    let got = queue(api, eui, false).await;
    assert_eq!(got.total_count, 1);
    assert_eq!(got.result[0].id, third);

    client(api)
        .flush_queue(req(
            pb::FlushDeviceQueueRequest {
                dev_eui: eui.to_string(),
            },
            &api.admin,
        ))
        .await
        .unwrap();
    assert_eq!(queue(api, eui, false).await.total_count, 0);

    // Refused items, by field; nothing written.
    for (bad, field, code) in [
        (queue_item(eui, 0, b"x"), "f_port", Code::InvalidArgument),
        (queue_item(eui, 224, b"x"), "f_port", Code::InvalidArgument),
        (
            pb::DeviceQueueItem {
                object: Some(pbjson_types::Struct::default()),
                ..queue_item(eui, 1, b"")
            },
            "data is required",
            Code::InvalidArgument,
        ),
        (
            pb::DeviceQueueItem {
                is_encrypted: true,
                f_cnt_down: 4,
                ..queue_item(eui, 1, b"x")
            },
            "is_encrypted",
            Code::Unimplemented,
        ),
        (queue_item(Eui64::from_u64(0), 1, b"x"), "", Code::NotFound),
    ] {
        let status = enqueue(api, bad, true).await.unwrap_err();
        assert_eq!(status.code(), code, "{status:?}");
        assert!(status.message().contains(field), "{status:?}");
    }
    assert_eq!(queue(api, eui, false).await.total_count, 0);
}

async fn random(
    api: &TestApi,
    r: pb::GetRandomDevAddrRequest,
) -> Result<tonic::Response<pb::GetRandomDevAddrResponse>, tonic::Status> {
    client(api).get_random_dev_addr(req(r, &api.admin)).await
}

async fn random_dev_addrs_come_from_the_tenant_or_the_network(api: &TestApi) {
    let fx = fixture(api, "acme").await;
    let eui = stored_device(api, &fx, 1).await;
    // No prefixes anywhere: the block of NetID 000000 (type 0, NwkID 0).
    for _ in 0..8 {
        let addr: DevAddr = random(
            api,
            pb::GetRandomDevAddrRequest {
                dev_eui: eui.to_string(),
                tenant_id: String::new(),
            },
        )
        .await
        .unwrap()
        .into_inner()
        .dev_addr
        .parse()
        .unwrap();
        assert_eq!(addr.to_u32() >> 25, 0, "{addr}");
    }
    // The tenant's prefixes first.
    let mut tenant = api.db.storage.get_tenant(fx.tenant).await.unwrap();
    tenant.dev_addr_prefixes = vec!["fc00ac00/24".into()];
    api.db.storage.update_tenant(&tenant).await.unwrap();
    for r in [
        pb::GetRandomDevAddrRequest {
            dev_eui: eui.to_string(),
            tenant_id: String::new(),
        },
        pb::GetRandomDevAddrRequest {
            dev_eui: String::new(),
            tenant_id: fx.tenant.to_string(),
        },
    ] {
        let addr: DevAddr = random(api, r)
            .await
            .unwrap()
            .into_inner()
            .dev_addr
            .parse()
            .unwrap();
        assert_eq!(addr.to_u32() >> 8, 0x00fc_00ac, "{addr}");
    }
    assert_code(
        random(api, pb::GetRandomDevAddrRequest::default()).await,
        Code::InvalidArgument,
    );
}

async fn tenant_device_limit_is_enforced(api: &TestApi) {
    let fx = fixture(api, "acme").await;
    let mut tenant = api.db.storage.get_tenant(fx.tenant).await.unwrap();
    tenant.max_device_count = 2;
    api.db.storage.update_tenant(&tenant).await.unwrap();
    create(api, device(&fx, "0000000000000001", "one")).await;
    create(api, device(&fx, "0000000000000002", "two")).await;
    let status = client(api)
        .create(req(
            pb::CreateDeviceRequest {
                device: Some(device(&fx, "0000000000000003", "three")),
            },
            &api.admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("max_device_count"), "{status:?}");
    // Another tenant's devices do not count.
    let other = fixture(api, "other").await;
    create(api, device(&other, "0000000000000004", "four")).await;
    // Deleting one makes room.
    client(api)
        .delete(req(
            pb::DeleteDeviceRequest {
                dev_eui: "0000000000000001".into(),
            },
            &api.admin,
        ))
        .await
        .unwrap();
    create(api, device(&fx, "0000000000000003", "three")).await;

    // Concurrent creates (each its own call and connection to the
    // database) cannot take the tenant past its limit: of twelve, exactly
    // the room left succeeds.
    tenant.max_device_count = 6;
    api.db.storage.update_tenant(&tenant).await.unwrap();
    let calls = (0..12u64).map(|i| {
        let d = device(&fx, &format!("{:016x}", 0x100 + i), &format!("rush {i}"));
        async move {
            client(api)
                .create(req(pb::CreateDeviceRequest { device: Some(d) }, &api.admin))
                .await
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    for status in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    }
    assert_eq!(created, 4, "the tenant had two of six: {results:?}");
    let listed = client(api)
        .list(req(
            pb::ListDevicesRequest {
                application_id: fx.app.to_string(),
                limit: 100,
                ..Default::default()
            },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_count, 6);
}

async fn bad_input_is_refused_by_field(api: &TestApi) {
    let mut c = client(api);
    let fx = fixture(api, "acme").await;
    let other = fixture(api, "other").await;
    let good = device(&fx, "0000000000000001", "one");
    let bad_devices = [
        (
            pb::Device {
                dev_eui: "0102".into(),
                ..good.clone()
            },
            "device.dev_eui",
        ),
        (
            pb::Device {
                dev_eui: "zz00000000000001".into(),
                ..good.clone()
            },
            "device.dev_eui",
        ),
        (
            pb::Device {
                name: String::new(),
                ..good.clone()
            },
            "device.name",
        ),
        (
            pb::Device {
                join_eui: "nope".into(),
                ..good.clone()
            },
            "device.join_eui",
        ),
        (
            pb::Device {
                device_profile_id: "x".into(),
                ..good.clone()
            },
            "device.device_profile_id",
        ),
        (
            pb::Device {
                device_profile_id: Uuid::new_v4().to_string(),
                ..good.clone()
            },
            "device.device_profile_id",
        ),
        (
            pb::Device {
                device_profile_id: other.profile.to_string(),
                ..good.clone()
            },
            "device.device_profile_id",
        ),
        (
            pb::Device {
                application_id: "x".into(),
                ..good.clone()
            },
            "device.application_id",
        ),
    ];
    for (bad, field) in bad_devices {
        let status = c
            .create(req(
                pb::CreateDeviceRequest { device: Some(bad) },
                &api.admin,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(status.message().contains(field), "{field}: {status:?}");
    }
    let status = c
        .create(req(pb::CreateDeviceRequest { device: None }, &api.admin))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("device"), "{status:?}");
    // An application that does not exist: NOT_FOUND for an admin.
    assert_code(
        c.create(req(
            pb::CreateDeviceRequest {
                device: Some(pb::Device {
                    application_id: Uuid::new_v4().to_string(),
                    ..good.clone()
                }),
            },
            &api.admin,
        ))
        .await,
        Code::NotFound,
    );
    // Nothing was written.
    let page = list(
        api,
        pb::ListDevicesRequest {
            application_id: fx.app.to_string(),
            limit: 10,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(page.total_count, 0);

    // Updates: refused by field, the device unchanged.
    create(api, good.clone()).await;
    for (bad, field) in [
        (
            pb::Device {
                device_profile_id: other.profile.to_string(),
                ..good.clone()
            },
            "device.device_profile_id",
        ),
        (
            pb::Device {
                application_id: other.app.to_string(),
                ..good.clone()
            },
            "device.application_id",
        ),
        (
            pb::Device {
                name: String::new(),
                ..good.clone()
            },
            "device.name",
        ),
    ] {
        let status = c
            .update(req(
                pb::UpdateDeviceRequest { device: Some(bad) },
                &api.admin,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(status.message().contains(field), "{field}: {status:?}");
    }
    let got = c
        .get(req(
            pb::GetDeviceRequest {
                dev_eui: good.dev_eui.clone(),
            },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.device, Some(good.clone()));

    // Keys and activation: refused by field, nothing written.
    let eui: Eui64 = good.dev_eui.parse().unwrap();
    for (nwk_key, app_key, field) in [
        ("0102", "", "device_keys.nwk_key"),
        ("", "", "device_keys.nwk_key"),
        (
            "0102030405060708090a0b0c0d0e0f10",
            "zz02030405060708090a0b0c0d0e0f10",
            "device_keys.app_key",
        ),
    ] {
        let status = c
            .create_keys(req(
                pb::CreateDeviceKeysRequest {
                    device_keys: Some(pb::DeviceKeys {
                        dev_eui: good.dev_eui.clone(),
                        nwk_key: nwk_key.into(),
                        app_key: app_key.into(),
                        gen_app_key: String::new(),
                    }),
                },
                &api.admin,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(status.message().contains(field), "{field}: {status:?}");
    }
    assert!(api.db.storage.get_device_keys(eui).await.is_err());
    for (change, field) in [
        (
            pb::DeviceActivation {
                dev_addr: "2601".into(),
                ..activation(eui)
            },
            "device_activation.dev_addr",
        ),
        (
            pb::DeviceActivation {
                app_s_key: "01".into(),
                ..activation(eui)
            },
            "device_activation.app_s_key",
        ),
        (
            pb::DeviceActivation {
                nwk_s_enc_key: String::new(),
                ..activation(eui)
            },
            "device_activation.nwk_s_enc_key",
        ),
        (
            pb::DeviceActivation {
                dev_eui: "x".into(),
                ..activation(eui)
            },
            "device_activation.dev_eui",
        ),
    ] {
        let status = c
            .activate(req(
                pb::ActivateDeviceRequest {
                    device_activation: Some(change),
                },
                &api.admin,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(status.message().contains(field), "{field}: {status:?}");
    }
    assert!(
        api.db
            .storage
            .get_device(eui)
            .await
            .unwrap()
            .session
            .is_none()
    );
    let status = c
        .get(req(
            pb::GetDeviceRequest {
                dev_eui: "not an eui".into(),
            },
            &api.admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("dev_eui"), "{status:?}");
}

/// Another tenant's admin is refused a device whether or not it exists;
/// a global admin is told it does not.
async fn another_tenant_cannot_tell_what_exists(api: &TestApi) {
    let fx = fixture(api, "acme").await;
    let other = api.tenant("other").await;
    create(api, device(&fx, "0000000000000001", "one")).await;
    let (_, outsider) = api.user(&[(other, [true, false, false])]).await;
    for dev_eui in ["0000000000000001", "00000000000fffff"] {
        let get = pb::GetDeviceRequest {
            dev_eui: dev_eui.into(),
        };
        assert_code(
            client(api).get(req(get, &outsider)).await,
            Code::PermissionDenied,
        );
    }
    let missing = pb::GetDeviceRequest {
        dev_eui: "00000000000fffff".into(),
    };
    assert_code(
        client(api).get(req(missing, &api.admin)).await,
        Code::NotFound,
    );
}

async fn metrics_are_unimplemented(api: &TestApi) {
    let mut c = client(api);
    let status = c
        .get_metrics(req(pb::GetDeviceMetricsRequest::default(), &api.admin))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(status.message().contains("not collected"), "{status:?}");
    assert_code(
        c.get_link_metrics(req(pb::GetDeviceLinkMetricsRequest::default(), &api.admin))
            .await,
        Code::Unimplemented,
    );
    assert_code(
        c.get_metrics(tonic::Request::new(pb::GetDeviceMetricsRequest::default()))
            .await,
        Code::Unauthenticated,
    );
}
