//! `UserService` and `InternalService` over a real socket, on SQLite and
//! PostgreSQL.

#[macro_use]
#[path = "support/db.rs"]
mod db;
#[macro_use]
#[path = "support/api.rs"]
mod api;

use api::{TestApi, assert_code, req};
use db::TestDb;
use ns_core::api::proto::{
    self as pb, internal_service_client::InternalServiceClient,
    user_service_client::UserServiceClient,
};
use ns_core::model::{Gateway, Tenant};
use tonic::Code;

api_on_both_backends!(
    users_round_trip,
    users_manage_only_themselves,
    user_creation_is_all_or_nothing,
    login_and_profile,
    api_keys_by_tenant,
    global_search_is_scoped,
    summaries_regions_and_version,
    device_events_are_streamed_live,
    frames_are_streamed_live,
);

fn new_user(email: &str) -> pb::CreateUserRequest {
    pb::CreateUserRequest {
        user: Some(pb::User {
            email: email.into(),
            is_active: true,
            note: "n".into(),
            ..Default::default()
        }),
        password: "correct horse".into(),
        tenants: Vec::new(),
    }
}

async fn users_round_trip(api: &TestApi) {
    let mut c = UserServiceClient::new(api.channel.clone());
    let id = c
        .create(req(new_user("ada@example.com"), &api.admin))
        .await
        .unwrap()
        .into_inner()
        .id;
    let got = c
        .get(req(pb::GetUserRequest { id: id.clone() }, &api.admin))
        .await
        .unwrap()
        .into_inner();
    let user = got.user.unwrap();
    assert_eq!(
        (user.email.as_str(), user.note.as_str()),
        ("ada@example.com", "n")
    );
    assert_code(
        c.create(req(new_user("ada@example.com"), &api.admin)).await,
        Code::AlreadyExists,
    );
    let mut changed = user.clone();
    changed.is_admin = true;
    changed.email = "ada@example.org".into();
    c.update(req(
        pb::UpdateUserRequest {
            user: Some(changed),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    let page = c
        .list(req(
            pb::ListUsersRequest {
                limit: 10,
                offset: 0,
            },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total_count, 2);
    assert!(
        page.result
            .iter()
            .any(|u| u.email == "ada@example.org" && u.is_admin)
    );
    // An admin cannot delete itself.
    assert_code(
        c.delete(req(
            pb::DeleteUserRequest {
                id: api.admin_user.id.to_string(),
            },
            &api.admin,
        ))
        .await,
        Code::InvalidArgument,
    );
    c.delete(req(pb::DeleteUserRequest { id: id.clone() }, &api.admin))
        .await
        .unwrap();
    assert_code(
        c.get(req(pb::GetUserRequest { id }, &api.admin)).await,
        Code::NotFound,
    );
}

async fn users_manage_only_themselves(api: &TestApi) {
    let mut c = UserServiceClient::new(api.channel.clone());
    let tenant = Tenant::new("t");
    api.db.storage.create_tenant(&tenant).await.unwrap();
    let (me, token) = api.user(&[(tenant.id, [true, false, false])]).await;
    let (other, _) = api.user(&[]).await;
    c.get(req(
        pb::GetUserRequest {
            id: me.id.to_string(),
        },
        &token,
    ))
    .await
    .unwrap();
    c.update_password(req(
        pb::UpdateUserPasswordRequest {
            user_id: me.id.to_string(),
            password: "a new password".into(),
        },
        &token,
    ))
    .await
    .unwrap();
    assert_code(
        c.get(req(
            pb::GetUserRequest {
                id: other.id.to_string(),
            },
            &token,
        ))
        .await,
        Code::PermissionDenied,
    );
    assert_code(
        c.update_password(req(
            pb::UpdateUserPasswordRequest {
                user_id: other.id.to_string(),
                password: "a new password".into(),
            },
            &token,
        ))
        .await,
        Code::PermissionDenied,
    );
    // Not even a tenant admin makes itself global admin, or lists users.
    let mut me_admin = ns_core::api::proto::User {
        id: me.id.to_string(),
        email: me.email.clone(),
        is_admin: true,
        is_active: true,
        note: String::new(),
    };
    assert_code(
        c.update(req(
            pb::UpdateUserRequest {
                user: Some(me_admin.clone()),
            },
            &token,
        ))
        .await,
        Code::PermissionDenied,
    );
    me_admin.is_admin = false;
    assert_code(
        c.list(req(pb::ListUsersRequest::default(), &token)).await,
        Code::PermissionDenied,
    );
    assert_code(
        c.create(req(new_user("x@example.com"), &token)).await,
        Code::PermissionDenied,
    );
    // A short password is refused, naming the field.
    let status = c
        .update_password(req(
            pb::UpdateUserPasswordRequest {
                user_id: me.id.to_string(),
                password: "short".into(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("password"));
}

async fn user_creation_is_all_or_nothing(api: &TestApi) {
    let mut c = UserServiceClient::new(api.channel.clone());
    let tenant = Tenant::new("t");
    api.db.storage.create_tenant(&tenant).await.unwrap();
    let mut request = new_user("bob@example.com");
    request.tenants = vec![
        pb::UserTenant {
            tenant_id: tenant.id.to_string(),
            is_admin: true,
            ..Default::default()
        },
        pb::UserTenant {
            tenant_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        },
    ];
    assert_code(
        c.create(req(request.clone(), &api.admin)).await,
        Code::NotFound,
    );
    assert_eq!(
        api.db
            .storage
            .find_user_by_email("bob@example.com")
            .await
            .unwrap(),
        None,
        "the user was not half-written"
    );
    request.tenants.pop();
    let id = c
        .create(req(request, &api.admin))
        .await
        .unwrap()
        .into_inner()
        .id;
    let tenants = api
        .db
        .storage
        .tenants_of_user(id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(tenants.len(), 1);
    assert!(tenants[0].is_admin);
    // Bad emails are refused by field.
    let status = c
        .create(req(new_user("not an email"), &api.admin))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("user.email"));
}

async fn login_and_profile(api: &TestApi) {
    let mut users = UserServiceClient::new(api.channel.clone());
    let mut c = InternalServiceClient::new(api.channel.clone());
    let tenant = Tenant::new("t");
    api.db.storage.create_tenant(&tenant).await.unwrap();
    let mut request = new_user("eve@example.com");
    request.tenants = vec![pb::UserTenant {
        tenant_id: tenant.id.to_string(),
        is_device_admin: true,
        ..Default::default()
    }];
    let id = users
        .create(req(request, &api.admin))
        .await
        .unwrap()
        .into_inner()
        .id;
    let login = |password: &str| pb::LoginRequest {
        email: "eve@example.com".into(),
        password: password.into(),
    };
    let jwt = c
        .login(login("correct horse"))
        .await
        .unwrap()
        .into_inner()
        .jwt;
    let profile = c
        .profile(req(pbjson_types::Empty {}, &jwt))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(profile.user.unwrap().id, id);
    assert_eq!(profile.tenants.len(), 1);
    assert!(profile.tenants[0].is_device_admin);

    assert_code(c.login(login("wrong horse")).await, Code::Unauthenticated);
    assert_code(
        c.login(pb::LoginRequest {
            email: "nobody@example.com".into(),
            password: "x".into(),
        })
        .await,
        Code::Unauthenticated,
    );
    // A deactivated user neither logs in nor uses its token.
    let mut user = api.db.storage.get_user(id.parse().unwrap()).await.unwrap();
    user.is_active = false;
    api.db.storage.update_user(&user).await.unwrap();
    assert_code(c.login(login("correct horse")).await, Code::Unauthenticated);
    assert_code(
        c.profile(req(pbjson_types::Empty {}, &jwt)).await,
        Code::Unauthenticated,
    );
    // A hash made by ChirpStack (few rounds) still logs in, and is upgraded.
    user.is_active = true;
    api.db.storage.update_user(&user).await.unwrap();
    let weak = ns_core::api::auth::PasswordHasher::new(1).hash("chirpstack pw");
    api.db
        .storage
        .set_user_password_hash(user.id, &weak)
        .await
        .unwrap();
    c.login(login("chirpstack pw")).await.unwrap();
    let upgraded = api
        .db
        .storage
        .get_user(user.id)
        .await
        .unwrap()
        .password_hash;
    assert_ne!(upgraded, weak);
    // So does an Argon2 hash from another system (argon2-cffi made this
    // one); it is replaced by a PBKDF2 one ChirpStack can read.
    let argon2 = "$argon2id$v=19$m=64,t=2,p=1$EZtC/RuRu+u/dS2SKPw5Jw$4dgAJYH41TiMJq8mbo8NswJL5ZhBTFSd3K2VFmu+BPo";
    api.db
        .storage
        .set_user_password_hash(user.id, argon2)
        .await
        .unwrap();
    assert_code(c.login(login("chirpstack pw")).await, Code::Unauthenticated);
    c.login(login("a long password")).await.unwrap();
    let upgraded = api
        .db
        .storage
        .get_user(user.id)
        .await
        .unwrap()
        .password_hash;
    assert!(upgraded.starts_with("$pbkdf2-sha512$"), "{upgraded}");
}

async fn api_keys_by_tenant(api: &TestApi) {
    let mut c = InternalServiceClient::new(api.channel.clone());
    let (a, b) = (Tenant::new("a"), Tenant::new("b"));
    api.db.storage.create_tenant(&a).await.unwrap();
    api.db.storage.create_tenant(&b).await.unwrap();
    let (_, tenant_admin) = api.user(&[(a.id, [true, false, false])]).await;
    let (_, member) = api.user(&[(a.id, [false, false, false])]).await;
    let key = |tenant: Option<uuid::Uuid>| pb::CreateApiKeyRequest {
        api_key: Some(pb::ApiKey {
            name: "k".into(),
            is_admin: tenant.is_none(),
            tenant_id: tenant.map(|t| t.to_string()).unwrap_or_default(),
            ..Default::default()
        }),
    };
    let created = c
        .create_api_key(req(key(Some(a.id)), &tenant_admin))
        .await
        .unwrap()
        .into_inner();
    assert_code(
        c.create_api_key(req(key(Some(b.id)), &tenant_admin)).await,
        Code::PermissionDenied,
    );
    assert_code(
        c.create_api_key(req(key(None), &tenant_admin)).await,
        Code::PermissionDenied,
    );
    assert_code(
        c.create_api_key(req(key(Some(a.id)), &member)).await,
        Code::PermissionDenied,
    );
    c.create_api_key(req(key(None), &api.admin)).await.unwrap();

    // The token works, and sees its tenant only.
    let mut tenants =
        ns_core::api::proto::tenant_service_client::TenantServiceClient::new(api.channel.clone());
    tenants
        .get(req(
            pb::GetTenantRequest {
                id: a.id.to_string(),
            },
            &created.token,
        ))
        .await
        .unwrap();
    assert_code(
        tenants
            .get(req(
                pb::GetTenantRequest {
                    id: b.id.to_string(),
                },
                &created.token,
            ))
            .await,
        Code::PermissionDenied,
    );

    let list = |tenant: Option<uuid::Uuid>| pb::ListApiKeysRequest {
        limit: 10,
        offset: 0,
        is_admin: tenant.is_none(),
        tenant_id: tenant.map(|t| t.to_string()).unwrap_or_default(),
    };
    let page = c
        .list_api_keys(req(list(Some(a.id)), &tenant_admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total_count, 1);
    assert_code(
        c.list_api_keys(req(list(None), &tenant_admin)).await,
        Code::PermissionDenied,
    );
    assert_eq!(
        c.list_api_keys(req(list(None), &api.admin))
            .await
            .unwrap()
            .into_inner()
            .total_count,
        1
    );
    c.delete_api_key(req(
        pb::DeleteApiKeyRequest {
            id: created.id.clone(),
        },
        &tenant_admin,
    ))
    .await
    .unwrap();
    assert_code(
        tenants
            .get(req(
                pb::GetTenantRequest {
                    id: a.id.to_string(),
                },
                &created.token,
            ))
            .await,
        Code::Unauthenticated,
    );
    // A key that does not exist: as if it were another tenant's.
    assert_code(
        c.delete_api_key(req(
            pb::DeleteApiKeyRequest { id: created.id },
            &tenant_admin,
        ))
        .await,
        Code::PermissionDenied,
    );
}

async fn global_search_is_scoped(api: &TestApi) {
    let mut c = InternalServiceClient::new(api.channel.clone());
    let (a, b) = (Tenant::new("acme north"), Tenant::new("acme south"));
    api.db.storage.create_tenant(&a).await.unwrap();
    api.db.storage.create_tenant(&b).await.unwrap();
    let gw = Gateway::new(lorawan::Eui64::from_u64(0xacde), b.id, "roof");
    api.db.storage.create_gateway(&gw).await.unwrap();
    let search = |text: &str| pb::GlobalSearchRequest {
        search: text.into(),
        limit: 10,
        offset: 0,
    };
    let all = c
        .global_search(req(search("acme"), &api.admin))
        .await
        .unwrap()
        .into_inner()
        .result;
    assert_eq!(all.len(), 2);
    // Names ignore case, on both backends.
    let shouting = c
        .global_search(req(search("ACME"), &api.admin))
        .await
        .unwrap()
        .into_inner()
        .result;
    assert_eq!(shouting.len(), 2);
    let by_eui = c
        .global_search(req(search("000000000000ACDE"), &api.admin))
        .await
        .unwrap()
        .into_inner()
        .result;
    assert_eq!(by_eui.len(), 1);
    assert_eq!(
        (by_eui[0].kind.as_str(), by_eui[0].gateway_name.as_str()),
        ("gateway", "roof")
    );
    let (_, member) = api.user(&[(a.id, [false, false, false])]).await;
    let mine = c
        .global_search(req(search("acme"), &member))
        .await
        .unwrap()
        .into_inner()
        .result;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].tenant_id, a.id.to_string());
    let none = c
        .global_search(req(search("roof"), &member))
        .await
        .unwrap()
        .into_inner()
        .result;
    assert!(none.is_empty());
}

async fn summaries_regions_and_version(api: &TestApi) {
    let mut c = InternalServiceClient::new(api.channel.clone());
    let t = Tenant::new("t");
    api.db.storage.create_tenant(&t).await.unwrap();
    let mut seen = Gateway::new(lorawan::Eui64::from_u64(1), t.id, "seen");
    seen.last_seen_at = Some(std::time::SystemTime::now());
    api.db.storage.create_gateway(&seen).await.unwrap();
    let mut old = Gateway::new(lorawan::Eui64::from_u64(2), t.id, "old");
    old.last_seen_at = Some(std::time::UNIX_EPOCH);
    api.db.storage.create_gateway(&old).await.unwrap();
    api.db
        .storage
        .create_gateway(&Gateway::new(lorawan::Eui64::from_u64(3), t.id, "never"))
        .await
        .unwrap();
    let (_, member) = api.user(&[(t.id, [false, false, false])]).await;
    let summary = c
        .get_gateways_summary(req(
            pb::GetGatewaysSummaryRequest {
                tenant_id: t.id.to_string(),
            },
            &member,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            summary.online_count,
            summary.offline_count,
            summary.never_seen_count
        ),
        (1, 1, 1)
    );
    let devices = c
        .get_devices_summary(req(
            pb::GetDevicesSummaryRequest {
                tenant_id: t.id.to_string(),
            },
            &member,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        devices.active_count + devices.inactive_count + devices.never_seen_count,
        0
    );
    // Everything at once is for admins.
    assert_code(
        c.get_gateways_summary(req(pb::GetGatewaysSummaryRequest::default(), &member))
            .await,
        Code::PermissionDenied,
    );

    let regions = c
        .list_regions(req(pbjson_types::Empty {}, &member))
        .await
        .unwrap()
        .into_inner()
        .regions;
    assert_eq!(regions[0].id, "eu868");
    let region = c
        .get_region(req(pb::GetRegionRequest { id: "eu868".into() }, &member))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(region.rx2_frequency, 869_525_000);
    assert!(region.uplink_channels.len() >= 3);
    assert_code(
        c.get_region(req(pb::GetRegionRequest { id: "mars".into() }, &member))
            .await,
        Code::NotFound,
    );
    let version = c
        .get_version(req(pbjson_types::Empty {}, &member))
        .await
        .unwrap()
        .into_inner();
    assert!(!version.version.is_empty());
    // Settings: asked before login.
    let settings = c
        .settings(pbjson_types::Empty {})
        .await
        .unwrap()
        .into_inner();
    assert!(!settings.openid_connect.unwrap().enabled);
    assert_code(
        c.open_id_connect_login(pb::OpenIdConnectLoginRequest::default())
            .await,
        Code::Unimplemented,
    );
}

async fn device_events_are_streamed_live(api: &TestApi) {
    use ns_core::integration::{DeviceInfo, Event, LogEvent};
    use ns_core::model::{Application, Device, DeviceProfile, MacVersion};
    use ns_core::pipeline::EventSink;
    let s = &api.db.storage;
    let t = Tenant::new("t");
    s.create_tenant(&t).await.unwrap();
    let app = Application::new(t.id, "a");
    s.create_application(&app).await.unwrap();
    let profile = DeviceProfile::new(
        t.id,
        "p",
        lorawan::region::Region::Eu868,
        MacVersion::V1_0_3,
        lorawan::region::Revision::Rp002_1_0_3,
    );
    s.create_device_profile(&profile).await.unwrap();
    let dev_eui = lorawan::Eui64::from_u64(0x42);
    s.create_device(&Device::new(dev_eui, app.id, profile.id, "d"))
        .await
        .unwrap();

    let mut c = InternalServiceClient::new(api.channel.clone());
    let mut stream = c
        .stream_device_events(req(
            pb::StreamDeviceEventsRequest {
                dev_eui: dev_eui.to_string(),
            },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let event = |eui: &str, text: &str| {
        Event::Log(LogEvent {
            device_info: Some(DeviceInfo {
                dev_eui: eui.into(),
                ..Default::default()
            }),
            description: text.into(),
            ..Default::default()
        })
    };
    // The watcher is subscribed once the stream answered; publish until
    // the item arrives (the first ones may precede the subscription).
    let item = loop {
        api.state
            .live
            .publish(&event("0000000000000099", "other device"));
        api.state.live.publish(&event(&dev_eui.to_string(), "mine"));
        if let Ok(item) =
            tokio::time::timeout(std::time::Duration::from_millis(200), stream.message()).await
        {
            break item.unwrap().unwrap();
        }
    };
    assert_eq!(item.description, "log");
    assert!(item.body.contains("mine"), "{}", item.body);
    // Another tenant's member may not watch.
    let (_, stranger) = api.user(&[]).await;
    assert_code(
        c.stream_device_events(req(
            pb::StreamDeviceEventsRequest {
                dev_eui: dev_eui.to_string(),
            },
            &stranger,
        ))
        .await,
        Code::PermissionDenied,
    );
}

async fn frames_are_streamed_live(api: &TestApi) {
    use ns_core::dedup::UplinkFrameSet;
    use ns_core::pipeline::{EventSink, FrameLog};
    use packet_forwarder::gw;
    let s = &api.db.storage;
    let t = Tenant::new("t");
    s.create_tenant(&t).await.unwrap();
    let gateway_id = lorawan::Eui64::from_u64(0x0016_c001_ff10_a235);
    s.create_gateway(&Gateway::new(gateway_id, t.id, "roof"))
        .await
        .unwrap();
    let (_, member) = api.user(&[(t.id, [false, false, false])]).await;
    let mut c = InternalServiceClient::new(api.channel.clone());
    let mut stream = c
        .stream_gateway_frames(req(
            pb::StreamGatewayFramesRequest {
                gateway_id: gateway_id.to_string(),
            },
            &member,
        ))
        .await
        .unwrap()
        .into_inner();
    // An unconfirmed data uplink from DevAddr 01020304, FCnt 7.
    let phy = vec![
        0x40, 0x04, 0x03, 0x02, 0x01, 0x00, 0x07, 0x00, 0xaa, 0xbb, 0xcc, 0xdd,
    ];
    let set = UplinkFrameSet::new(
        "eu868",
        phy,
        gw::UplinkTxInfo {
            frequency: 868_100_000,
            ..Default::default()
        },
        vec![gw::UplinkRxInfo {
            gateway_id: gateway_id.to_string(),
            rssi: -80,
            ..Default::default()
        }],
        std::time::Instant::now(),
    );
    let item = loop {
        api.state.live.frame(FrameLog::Uplink {
            set: &set,
            dev_eui: None,
        });
        if let Ok(item) =
            tokio::time::timeout(std::time::Duration::from_millis(200), stream.message()).await
        {
            break item.unwrap().unwrap();
        }
    };
    assert_eq!(item.description, "UnconfirmedDataUp");
    assert_eq!(
        item.properties.get("DevAddr").map(String::as_str),
        Some("01020304")
    );
    assert_eq!(item.properties.get("FCnt").map(String::as_str), Some("7"));
    let body: serde_json::Value = serde_json::from_str(&item.body).unwrap();
    assert_eq!(body["rxInfo"][0]["gatewayId"], gateway_id.to_string());
    assert_eq!(body["txInfo"]["frequency"], 868_100_000);
    // Another tenant's member may not watch the gateway.
    let (_, stranger) = api.user(&[]).await;
    assert_code(
        c.stream_gateway_frames(req(
            pb::StreamGatewayFramesRequest {
                gateway_id: gateway_id.to_string(),
            },
            &stranger,
        ))
        .await,
        Code::PermissionDenied,
    );
}
