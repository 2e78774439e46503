//! `ApplicationService` over a real socket, on SQLite and PostgreSQL: every
//! method, its HTTP integration and what answers UNIMPLEMENTED (who may call
//! what: api_matrix.rs).

#[macro_use]
#[path = "support/db.rs"]
mod db;
#[macro_use]
#[path = "support/api.rs"]
mod api;

use api::{TestApi, assert_code, eu868_profile, req};
use db::TestDb;
use lorawan::Eui64;
use ns_core::api::proto::{self as pb, application_service_client::ApplicationServiceClient};
use ns_core::model::Device;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

api_on_both_backends!(
    applications_round_trip,
    application_list_pages_and_searches,
    http_integration_round_trip,
    other_integrations_are_unimplemented,
    device_profiles_and_tags_of_its_devices,
    bad_input_is_refused_by_field,
    another_tenant_cannot_tell_what_exists,
);

fn client(api: &TestApi) -> ApplicationServiceClient<Channel> {
    ApplicationServiceClient::new(api.channel.clone())
}

fn application(tenant: Uuid, name: &str) -> pb::Application {
    pb::Application {
        id: String::new(),
        name: name.into(),
        description: "d".into(),
        tenant_id: tenant.to_string(),
        tags: [("k".to_string(), "v".to_string())].into(),
    }
}

async fn create(api: &TestApi, tenant: Uuid, name: &str) -> String {
    client(api)
        .create(req(
            pb::CreateApplicationRequest {
                application: Some(application(tenant, name)),
            },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .id
}

fn http(app: &str, url: &str) -> pb::HttpIntegration {
    pb::HttpIntegration {
        application_id: app.into(),
        headers: [("Authorization".to_string(), "Bearer x".to_string())].into(),
        encoding: pb::Encoding::Protobuf as i32,
        event_endpoint_url: url.into(),
    }
}

async fn applications_round_trip(api: &TestApi) {
    let mut c = client(api);
    let t = api.tenant("t").await;
    let id = create(api, t, "meters").await;
    let got = c
        .get(req(
            pb::GetApplicationRequest { id: id.clone() },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut want = application(t, "meters");
    want.id = id.clone();
    assert_eq!(got.application, Some(want.clone()));
    assert!(got.created_at.is_some() && got.updated_at.is_some());
    assert!(got.measurement_keys.is_empty());

    want.name = "meters 2".into();
    want.description = "other".into();
    want.tags = [("a".to_string(), "b".to_string())].into();
    // The tenant of an application does not change.
    let mut moved = want.clone();
    moved.tenant_id = api.tenant("t").await.to_string();
    c.update(req(
        pb::UpdateApplicationRequest {
            application: Some(moved),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    let got = c
        .get(req(
            pb::GetApplicationRequest { id: id.clone() },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.application, Some(want));
    assert!(got.updated_at.unwrap().seconds >= got.created_at.unwrap().seconds);

    c.delete(req(
        pb::DeleteApplicationRequest { id: id.clone() },
        &api.admin,
    ))
    .await
    .unwrap();
    assert_code(
        c.get(req(
            pb::GetApplicationRequest { id: id.clone() },
            &api.admin,
        ))
        .await,
        Code::NotFound,
    );
    assert_code(
        c.delete(req(pb::DeleteApplicationRequest { id }, &api.admin))
            .await,
        Code::NotFound,
    );
}

async fn application_list_pages_and_searches(api: &TestApi) {
    let mut c = client(api);
    let t = api.tenant("t").await;
    let other = api.tenant("t").await;
    for name in ["alpha", "bravo", "charlie"] {
        create(api, t, name).await;
    }
    create(api, other, "delta").await;
    let list = |limit, offset, search: &str| pb::ListApplicationsRequest {
        limit,
        offset,
        search: search.into(),
        tenant_id: t.to_string(),
    };
    let page = c
        .list(req(list(2, 1, ""), &api.admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total_count, 3);
    let names: Vec<_> = page.result.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["bravo", "charlie"]);
    assert!(page.result.iter().all(|a| a.created_at.is_some()));
    assert_eq!(page.result[0].description, "d");
    let page = c
        .list(req(list(10, 0, "RAV"), &api.admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total_count, 1);
    assert_eq!(page.result[0].name, "bravo");
    // Only the count.
    let page = c
        .list(req(list(0, 0, ""), &api.admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((page.total_count, page.result.len()), (3, 0));
    // The tenant is required, even of global admins.
    let mut no_tenant = list(10, 0, "");
    no_tenant.tenant_id.clear();
    let status = c.list(req(no_tenant, &api.admin)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("tenant_id"), "{status:?}");
}

async fn http_integration_round_trip(api: &TestApi) {
    let mut c = client(api);
    let t = api.tenant("t").await;
    let app = create(api, t, "a").await;
    let kinds = |c: &mut ApplicationServiceClient<Channel>| {
        let mut c = c.clone();
        let app = app.clone();
        let token = api.admin.clone();
        async move {
            let r = c
                .list_integrations(req(
                    pb::ListIntegrationsRequest {
                        application_id: app,
                    },
                    &token,
                ))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(r.total_count as usize, r.result.len());
            r.result.iter().map(|i| i.kind).collect::<Vec<_>>()
        }
    };
    // The global MQTT integration is always there.
    assert_eq!(
        kinds(&mut c).await,
        [pb::IntegrationKind::MqttGlobal as i32]
    );
    let get = pb::GetHttpIntegrationRequest {
        application_id: app.clone(),
    };
    assert_code(
        c.get_http_integration(req(get.clone(), &api.admin)).await,
        Code::NotFound,
    );

    let created = http(
        &app,
        "http://a.example.com/events,https://b.example.com:8443/x",
    );
    c.create_http_integration(req(
        pb::CreateHttpIntegrationRequest {
            integration: Some(created.clone()),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    assert_code(
        c.create_http_integration(req(
            pb::CreateHttpIntegrationRequest {
                integration: Some(created.clone()),
            },
            &api.admin,
        ))
        .await,
        Code::AlreadyExists,
    );
    let got = c
        .get_http_integration(req(get.clone(), &api.admin))
        .await
        .unwrap()
        .into_inner()
        .integration;
    assert_eq!(got, Some(created));
    assert_eq!(
        kinds(&mut c).await,
        [
            pb::IntegrationKind::Http as i32,
            pb::IntegrationKind::MqttGlobal as i32
        ]
    );

    let mut changed = http(&app, "https://c.example.com/");
    changed.encoding = pb::Encoding::Json as i32;
    changed.headers.clear();
    c.update_http_integration(req(
        pb::UpdateHttpIntegrationRequest {
            integration: Some(changed.clone()),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    let got = c
        .get_http_integration(req(get.clone(), &api.admin))
        .await
        .unwrap()
        .into_inner()
        .integration;
    assert_eq!(got, Some(changed.clone()));

    let delete = pb::DeleteHttpIntegrationRequest {
        application_id: app.clone(),
    };
    c.delete_http_integration(req(delete.clone(), &api.admin))
        .await
        .unwrap();
    assert_code(
        c.get_http_integration(req(get.clone(), &api.admin)).await,
        Code::NotFound,
    );
    assert_code(
        c.delete_http_integration(req(delete, &api.admin)).await,
        Code::NotFound,
    );
    assert_code(
        c.update_http_integration(req(
            pb::UpdateHttpIntegrationRequest {
                integration: Some(changed.clone()),
            },
            &api.admin,
        ))
        .await,
        Code::NotFound,
    );

    // An integration goes with its application.
    c.create_http_integration(req(
        pb::CreateHttpIntegrationRequest {
            integration: Some(changed),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    assert_eq!(
        api.db
            .count("SELECT count(*) FROM application_integration")
            .await,
        1
    );
    c.delete(req(pb::DeleteApplicationRequest { id: app }, &api.admin))
        .await
        .unwrap();
    assert_eq!(
        api.db
            .count("SELECT count(*) FROM application_integration")
            .await,
        0
    );
}

async fn other_integrations_are_unimplemented(api: &TestApi) {
    let mut c = client(api);
    let t = api.tenant("t").await;
    let app = create(api, t, "a").await;
    let check = |result: Result<tonic::Response<_>, tonic::Status>, what: &str| {
        let status = result
            .map(|_: tonic::Response<pbjson_types::Empty>| ())
            .unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
        assert!(status.message().contains(what), "{status:?}");
    };
    check(
        c.create_influx_db_integration(req(
            pb::CreateInfluxDbIntegrationRequest {
                integration: Some(pb::InfluxDbIntegration {
                    application_id: app.clone(),
                    ..Default::default()
                }),
            },
            &api.admin,
        ))
        .await,
        "InfluxDB",
    );
    check(
        c.delete_things_board_integration(req(
            pb::DeleteThingsBoardIntegrationRequest {
                application_id: app.clone(),
            },
            &api.admin,
        ))
        .await,
        "ThingsBoard",
    );
    check(
        c.update_aws_sns_integration(req(
            pb::UpdateAwsSnsIntegrationRequest { integration: None },
            &api.admin,
        ))
        .await,
        "AWS SNS",
    );
    check(
        c.create_blynk_integration(req(
            pb::CreateBlynkIntegrationRequest { integration: None },
            &api.admin,
        ))
        .await,
        "Blynk",
    );
    let status = c
        .get_ifttt_integration(req(
            pb::GetIftttIntegrationRequest {
                application_id: app.clone(),
            },
            &api.admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(status.message().contains("IFTTT"), "{status:?}");
    let status = c
        .get_azure_service_bus_integration(req(
            pb::GetAzureServiceBusIntegrationRequest {
                application_id: app.clone(),
            },
            &api.admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(status.message().contains("Azure Service Bus"), "{status:?}");
    let status = c
        .generate_mqtt_integration_client_certificate(req(
            pb::GenerateMqttIntegrationClientCertificateRequest {
                application_id: app.clone(),
            },
            &api.admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(status.message().contains("certificate"), "{status:?}");
    // Still only for authenticated callers.
    assert_code(
        c.get_gcp_pub_sub_integration(tonic::Request::new(pb::GetGcpPubSubIntegrationRequest {
            application_id: app,
        }))
        .await,
        Code::Unauthenticated,
    );
}

async fn device_profiles_and_tags_of_its_devices(api: &TestApi) {
    let mut c = client(api);
    let s = &api.db.storage;
    let t = api.tenant("t").await;
    let app = create(api, t, "a").await;
    let app_id: Uuid = app.parse().unwrap();
    let other_app = create(api, t, "b").await.parse().unwrap();
    let p1 = api.device_profile(&eu868_profile(t, "zulu")).await;
    let p2 = api.device_profile(&eu868_profile(t, "alpha")).await;
    let p3 = api.device_profile(&eu868_profile(t, "unused")).await;
    let devices = [
        (1, app_id, p1, &[("room", "a"), ("floor", "1")][..]),
        (2, app_id, p1, &[("room", "b")][..]),
        (3, app_id, p2, &[("room", "a")][..]),
        (4, other_app, p3, &[("secret", "x")][..]),
    ];
    for (n, app, profile, tags) in devices {
        let mut d = Device::new(Eui64::from_u64(n), app, profile, format!("d{n}"));
        d.tags = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        s.create_device(&d).await.unwrap();
    }
    let got = c
        .list_device_profiles(req(
            pb::ListApplicationDeviceProfilesRequest {
                application_id: app.clone(),
            },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .result;
    assert_eq!(
        got,
        [
            pb::ApplicationDeviceProfileListItem {
                id: p2.to_string(),
                name: "alpha".into()
            },
            pb::ApplicationDeviceProfileListItem {
                id: p1.to_string(),
                name: "zulu".into()
            },
        ]
    );
    let got = c
        .list_device_tags(req(
            pb::ListApplicationDeviceTagsRequest {
                application_id: app.clone(),
            },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .result;
    assert_eq!(
        got,
        [
            pb::ApplicationDeviceTagListItem {
                key: "floor".into(),
                values: vec!["1".into()]
            },
            pb::ApplicationDeviceTagListItem {
                key: "room".into(),
                values: vec!["a".into(), "b".into()]
            },
        ]
    );
    // Deleting the application deletes its devices.
    c.delete(req(pb::DeleteApplicationRequest { id: app }, &api.admin))
        .await
        .unwrap();
    assert_eq!(api.db.count("SELECT count(*) FROM device").await, 1);
}

async fn bad_input_is_refused_by_field(api: &TestApi) {
    let mut c = client(api);
    let t = api.tenant("t").await;
    let invalid = |result: Result<tonic::Response<_>, tonic::Status>, field: &str| {
        let status = result.map(|_: tonic::Response<()>| ()).unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(field), "{field}: {status:?}");
    };
    let create = |a: Option<pb::Application>| {
        let mut c = c.clone();
        let token = api.admin.clone();
        async move {
            c.create(req(pb::CreateApplicationRequest { application: a }, &token))
                .await
                .map(|r| r.map(|_| ()))
        }
    };
    invalid(create(None).await, "application");
    invalid(create(Some(application(t, ""))).await, "application.name");
    invalid(
        create(Some(application(t, &"x".repeat(101)))).await,
        "application.name",
    );
    let mut bad_tenant = application(t, "a");
    bad_tenant.tenant_id = "nope".into();
    invalid(create(Some(bad_tenant)).await, "application.tenant_id");
    let status = c
        .get(req(
            pb::GetApplicationRequest {
                id: "not-a-uuid".into(),
            },
            &api.admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("id"), "{status:?}");
    let status = c
        .list(req(
            pb::ListApplicationsRequest {
                tenant_id: "x".into(),
                limit: 10,
                ..Default::default()
            },
            &api.admin,
        ))
        .await
        .unwrap_err();
    assert!(status.message().contains("tenant_id"), "{status:?}");
    // Nothing was written.
    assert_eq!(api.db.count("SELECT count(*) FROM application").await, 0);

    let app = self::create(api, t, "a").await;
    let mut renamed = application(t, "");
    renamed.id = app.clone();
    let status = c
        .update(req(
            pb::UpdateApplicationRequest {
                application: Some(renamed),
            },
            &api.admin,
        ))
        .await
        .unwrap_err();
    assert!(status.message().contains("application.name"), "{status:?}");

    let create_http = |i: pb::HttpIntegration| {
        let mut c = c.clone();
        let token = api.admin.clone();
        async move {
            c.create_http_integration(req(
                pb::CreateHttpIntegrationRequest {
                    integration: Some(i),
                },
                &token,
            ))
            .await
            .map(|r| r.map(|_| ()))
        }
    };
    for url in [
        "",
        " , ",
        "example.com/events",
        "ftp://example.com/",
        "http://",
        "http://ok.example.com,not a url",
    ] {
        invalid(
            create_http(http(&app, url)).await,
            "integration.event_endpoint_url",
        );
    }
    let mut bad_encoding = http(&app, "http://example.com");
    bad_encoding.encoding = 7;
    invalid(create_http(bad_encoding).await, "integration.encoding");
    let mut bad_header = http(&app, "http://example.com");
    bad_header.headers.insert("bad header".into(), "v".into());
    invalid(create_http(bad_header).await, "integration.headers");
    invalid(
        create_http(http("nope", "http://example.com")).await,
        "integration.application_id",
    );
    assert_eq!(
        api.db
            .count("SELECT count(*) FROM application_integration")
            .await,
        0
    );
}

async fn another_tenant_cannot_tell_what_exists(api: &TestApi) {
    let mut c = client(api);
    let t = api.tenant("t").await;
    let other = api.tenant("t").await;
    let app = create(api, t, "a").await;
    let (_, other_admin) = api.user(&[(other, [true, false, false])]).await;
    let missing = Uuid::new_v4().to_string();
    for id in [app.clone(), missing.clone()] {
        assert_code(
            c.get(req(
                pb::GetApplicationRequest { id: id.clone() },
                &other_admin,
            ))
            .await,
            Code::PermissionDenied,
        );
        assert_code(
            c.get_http_integration(req(
                pb::GetHttpIntegrationRequest {
                    application_id: id.clone(),
                },
                &other_admin,
            ))
            .await,
            Code::PermissionDenied,
        );
        assert_code(
            c.list_device_tags(req(
                pb::ListApplicationDeviceTagsRequest { application_id: id },
                &other_admin,
            ))
            .await,
            Code::PermissionDenied,
        );
    }
    // A global admin is told.
    assert_code(
        c.get(req(pb::GetApplicationRequest { id: missing }, &api.admin))
            .await,
        Code::NotFound,
    );
    // Nor can it create in, or list, a tenant that does not exist.
    assert_code(
        c.create(req(
            pb::CreateApplicationRequest {
                application: Some(application(Uuid::new_v4(), "x")),
            },
            &other_admin,
        ))
        .await,
        Code::PermissionDenied,
    );
}
