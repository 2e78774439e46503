//! `GatewayService` over a real socket, on SQLite and PostgreSQL: every
//! method (who may call what: api_matrix.rs).

#[macro_use]
#[path = "support/db.rs"]
mod db;
#[macro_use]
#[path = "support/api.rs"]
mod api;

use std::time::{Duration, SystemTime};

use api::{TestApi, assert_code, req};
use db::TestDb;
use lorawan::Eui64;
use ns_core::api::proto::{self as pb, gateway_service_client::GatewayServiceClient};
use packet_forwarder::gw::common::Location;
use tonic::Code;
use uuid::Uuid;

api_on_both_backends!(
    gateways_round_trip,
    gateway_list_orders_searches_and_reports_state,
    tenant_gateway_limits_are_enforced,
    bad_input_is_refused_by_field,
    another_tenant_cannot_tell_what_exists,
    unsupported_methods_are_unimplemented,
    metrics_are_read_per_bucket_with_zeros_where_nothing_came,
);

fn client(api: &TestApi) -> GatewayServiceClient<tonic::transport::Channel> {
    GatewayServiceClient::new(api.channel.clone())
}

fn gateway(tenant: Uuid, id: &str, name: &str) -> pb::Gateway {
    pb::Gateway {
        gateway_id: id.into(),
        name: name.into(),
        description: "on the roof".into(),
        location: Some(Location {
            latitude: 52.25,
            longitude: 4.5,
            altitude: 12.5,
            ..Default::default()
        }),
        tenant_id: tenant.to_string(),
        tags: [("k".to_string(), "v".to_string())].into(),
        metadata: Default::default(),
        stats_interval: 30,
        downlink_priority: 0,
    }
}

async fn create(api: &TestApi, g: pb::Gateway) {
    client(api)
        .create(req(
            pb::CreateGatewayRequest { gateway: Some(g) },
            &api.admin,
        ))
        .await
        .unwrap();
}

async fn get(api: &TestApi, id: &str) -> Result<pb::GetGatewayResponse, tonic::Status> {
    client(api)
        .get(req(
            pb::GetGatewayRequest {
                gateway_id: id.into(),
            },
            &api.admin,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn list(
    api: &TestApi,
    r: pb::ListGatewaysRequest,
    token: &str,
) -> Result<pb::ListGatewaysResponse, tonic::Status> {
    client(api)
        .list(req(r, token))
        .await
        .map(|r| r.into_inner())
}

async fn gateways_round_trip(api: &TestApi) {
    let mut c = client(api);
    let t = api.tenant("acme").await;
    let want = gateway(t, "0101010101010101", "gw one");
    create(api, want.clone()).await;
    assert_code(
        c.create(req(
            pb::CreateGatewayRequest {
                gateway: Some(want.clone()),
            },
            &api.admin,
        ))
        .await,
        Code::AlreadyExists,
    );
    let got = get(api, "0101010101010101").await.unwrap();
    assert_eq!(got.gateway, Some(want.clone()));
    assert!(got.created_at.is_some() && got.updated_at.is_some());
    assert_eq!(got.last_seen_at, None);

    // The metadata is the gateway's own: an update does not change it.
    let mut stored = api
        .db
        .storage
        .get_gateway(Eui64::from_u64(0x0101_0101_0101_0101))
        .await
        .unwrap();
    stored.metadata.insert("fw".into(), "1.2".into());
    api.db.storage.update_gateway(&stored).await.unwrap();

    let mut changed = want.clone();
    changed.name = "gw one renamed".into();
    changed.description = String::new();
    changed.location = Some(Location {
        latitude: -1.5,
        longitude: 100.25,
        altitude: -3.0,
        ..Default::default()
    });
    changed.tags.clear();
    changed.stats_interval = 60;
    changed.metadata = [("ignored".to_string(), "x".to_string())].into();
    c.update(req(
        pb::UpdateGatewayRequest {
            gateway: Some(changed.clone()),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    let got = get(api, "0101010101010101").await.unwrap();
    changed.metadata = [("fw".to_string(), "1.2".to_string())].into();
    assert_eq!(got.gateway, Some(changed));
    assert!(got.updated_at.unwrap().seconds >= got.created_at.unwrap().seconds);

    c.delete(req(
        pb::DeleteGatewayRequest {
            gateway_id: "0101010101010101".into(),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    assert_code(get(api, "0101010101010101").await, Code::NotFound);
    assert_code(
        c.delete(req(
            pb::DeleteGatewayRequest {
                gateway_id: "0101010101010101".into(),
            },
            &api.admin,
        ))
        .await,
        Code::NotFound,
    );
}

async fn gateway_list_orders_searches_and_reports_state(api: &TestApi) {
    let t = api.tenant("acme").await;
    let other = api.tenant("other").await;
    for (id, name) in [
        ("00000000000000c1", "charlie"),
        ("00000000000000a3", "alpha"),
        ("00000000000000b2", "bravo"),
    ] {
        create(api, gateway(t, id, name)).await;
    }
    create(api, gateway(other, "00000000000000d4", "delta")).await;
    let s = &api.db.storage;
    // bravo heard now (online), charlie an hour ago (offline: 2 × 30 s),
    // alpha never.
    s.update_gateway_from_stats(
        Eui64::from_u64(0xb2),
        SystemTime::now(),
        &Default::default(),
        None,
    )
    .await
    .unwrap();
    s.update_gateway_from_stats(
        Eui64::from_u64(0xc1),
        SystemTime::now() - Duration::from_secs(3600),
        &Default::default(),
        None,
    )
    .await
    .unwrap();
    let mut meta = s.get_gateway(Eui64::from_u64(0xa3)).await.unwrap();
    meta.metadata.insert("model".into(), "x".into());
    s.update_gateway(&meta).await.unwrap();

    let base = pb::ListGatewaysRequest {
        tenant_id: t.to_string(),
        limit: 10,
        ..Default::default()
    };
    let names = |page: &pb::ListGatewaysResponse| -> Vec<String> {
        page.result.iter().map(|g| g.name.clone()).collect()
    };
    use pb::list_gateways_request::OrderBy;

    let page = list(api, base.clone(), &api.admin).await.unwrap();
    assert_eq!(page.total_count, 3);
    assert_eq!(names(&page), ["alpha", "bravo", "charlie"]);
    let states: Vec<_> = page.result.iter().map(|g| g.state()).collect();
    assert_eq!(
        states,
        [
            pb::GatewayState::NeverSeen,
            pb::GatewayState::Online,
            pb::GatewayState::Offline
        ]
    );
    assert_eq!(page.result[0].properties["model"], "x");
    assert_eq!(page.result[0].tenant_id, t.to_string());
    assert_eq!(page.result[0].location.unwrap().latitude, 52.25);
    assert!(page.result[1].last_seen_at.is_some());

    let mut r = base.clone();
    r.order_by = OrderBy::GatewayId.into();
    r.order_by_desc = true;
    assert_eq!(
        names(&list(api, r, &api.admin).await.unwrap()),
        ["charlie", "bravo", "alpha"]
    );
    let mut r = base.clone();
    r.order_by = OrderBy::LastSeenAt.into();
    r.order_by_desc = true;
    assert_eq!(
        names(&list(api, r, &api.admin).await.unwrap()),
        ["bravo", "charlie", "alpha"]
    );
    let mut r = base.clone();
    r.limit = 1;
    r.offset = 2;
    let page = list(api, r, &api.admin).await.unwrap();
    assert_eq!(
        (page.total_count, names(&page)),
        (3, vec!["charlie".into()])
    );
    let mut r = base.clone();
    r.search = "RAV".into();
    assert_eq!(names(&list(api, r, &api.admin).await.unwrap()), ["bravo"]);
    let mut r = base.clone();
    r.search = "c1".into();
    assert_eq!(names(&list(api, r, &api.admin).await.unwrap()), ["charlie"]);

    // Global admins may list every tenant's; members must name theirs.
    let all = pb::ListGatewaysRequest {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        list(api, all.clone(), &api.admin)
            .await
            .unwrap()
            .total_count,
        4
    );
    let (_, member) = api.user(&[(t, [false, false, false])]).await;
    let status = list(api, all, &member).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("tenant_id"), "{status:?}");
    assert_eq!(list(api, base, &member).await.unwrap().total_count, 3);
}

async fn tenant_gateway_limits_are_enforced(api: &TestApi) {
    let mut c = client(api);
    let t = api.tenant("acme").await;
    let mut stored = api.db.storage.get_tenant(t).await.unwrap();
    stored.can_have_gateways = false;
    api.db.storage.update_tenant(&stored).await.unwrap();
    let status = c
        .create(req(
            pb::CreateGatewayRequest {
                gateway: Some(gateway(t, "0000000000000001", "one")),
            },
            &api.admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("can_have_gateways"), "{status:?}");

    stored.can_have_gateways = true;
    stored.max_gateway_count = 1;
    api.db.storage.update_tenant(&stored).await.unwrap();
    create(api, gateway(t, "0000000000000001", "one")).await;
    let status = c
        .create(req(
            pb::CreateGatewayRequest {
                gateway: Some(gateway(t, "0000000000000002", "two")),
            },
            &api.admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("max_gateway_count"), "{status:?}");
    // Another tenant's gateways do not count.
    let other = api.tenant("other").await;
    create(api, gateway(other, "0000000000000003", "three")).await;
    let page = list(
        api,
        pb::ListGatewaysRequest {
            tenant_id: t.to_string(),
            limit: 10,
            ..Default::default()
        },
        &api.admin,
    )
    .await
    .unwrap();
    assert_eq!(page.total_count, 1);

    // Concurrent creates cannot take the tenant past its limit.
    stored.max_gateway_count = 4;
    api.db.storage.update_tenant(&stored).await.unwrap();
    let calls = (0..8u64).map(|i| async move {
        let g = gateway(t, &format!("{:016x}", 0x100 + i), &format!("rush {i}"));
        client(api)
            .create(req(
                pb::CreateGatewayRequest { gateway: Some(g) },
                &api.admin,
            ))
            .await
    });
    let results = futures_util::future::join_all(calls).await;
    for status in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    }
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 3, "the tenant had one of four: {results:?}");
}

async fn bad_input_is_refused_by_field(api: &TestApi) {
    let mut c = client(api);
    let t = api.tenant("acme").await;
    let good = gateway(t, "0000000000000001", "one");
    for (bad, field) in [
        (
            pb::Gateway {
                gateway_id: "0102".into(),
                ..good.clone()
            },
            "gateway.gateway_id",
        ),
        (
            pb::Gateway {
                gateway_id: String::new(),
                ..good.clone()
            },
            "gateway.gateway_id",
        ),
        (
            pb::Gateway {
                name: " ".into(),
                ..good.clone()
            },
            "gateway.name",
        ),
        (
            pb::Gateway {
                tenant_id: "x".into(),
                ..good.clone()
            },
            "gateway.tenant_id",
        ),
    ] {
        let status = c
            .create(req(
                pb::CreateGatewayRequest { gateway: Some(bad) },
                &api.admin,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(status.message().contains(field), "{field}: {status:?}");
    }
    let status = c
        .create(req(pb::CreateGatewayRequest { gateway: None }, &api.admin))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    // A tenant that does not exist: NOT_FOUND for an admin.
    assert_code(
        c.create(req(
            pb::CreateGatewayRequest {
                gateway: Some(pb::Gateway {
                    tenant_id: Uuid::new_v4().to_string(),
                    ..good.clone()
                }),
            },
            &api.admin,
        ))
        .await,
        Code::NotFound,
    );
    // Nothing was written.
    let all = pb::ListGatewaysRequest {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(list(api, all, &api.admin).await.unwrap().total_count, 0);

    // Updates: refused by field, the gateway unchanged.
    create(api, good.clone()).await;
    let other = api.tenant("other").await;
    for (bad, field) in [
        (
            pb::Gateway {
                tenant_id: other.to_string(),
                ..good.clone()
            },
            "gateway.tenant_id",
        ),
        (
            pb::Gateway {
                name: String::new(),
                ..good.clone()
            },
            "gateway.name",
        ),
    ] {
        let status = c
            .update(req(
                pb::UpdateGatewayRequest { gateway: Some(bad) },
                &api.admin,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(status.message().contains(field), "{field}: {status:?}");
    }
    assert_eq!(
        get(api, "0000000000000001").await.unwrap().gateway,
        Some(good)
    );
    let status = get(api, "nope").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("gateway_id"), "{status:?}");
}

/// Another tenant's admin is refused a gateway, or a tenant's list,
/// whether or not it exists; a global admin is told it does not.
async fn another_tenant_cannot_tell_what_exists(api: &TestApi) {
    let t = api.tenant("acme").await;
    let other = api.tenant("other").await;
    create(api, gateway(t, "0000000000000001", "one")).await;
    let (_, outsider) = api.user(&[(other, [true, false, false])]).await;
    for gateway_id in ["0000000000000001", "00000000000fffff"] {
        let get = pb::GetGatewayRequest {
            gateway_id: gateway_id.into(),
        };
        assert_code(
            client(api).get(req(get, &outsider)).await,
            Code::PermissionDenied,
        );
    }
    assert_code(get(api, "00000000000fffff").await, Code::NotFound);
    for tenant_id in [t, Uuid::new_v4()] {
        let r = pb::ListGatewaysRequest {
            tenant_id: tenant_id.to_string(),
            limit: 10,
            ..Default::default()
        };
        assert_code(list(api, r, &outsider).await, Code::PermissionDenied);
    }
}

async fn unsupported_methods_are_unimplemented(api: &TestApi) {
    let mut c = client(api);
    let token = &api.admin;
    let status = c
        .generate_client_certificate(req(
            pb::GenerateGatewayClientCertificateRequest::default(),
            token,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(status.message().contains("not supported"), "{status:?}");
    let status = c
        .get_relay_gateway(req(pb::GetRelayGatewayRequest::default(), token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(status.message().contains("relay gateways"), "{status:?}");
    assert_code(
        c.list_relay_gateways(req(pb::ListRelayGatewaysRequest::default(), token))
            .await,
        Code::Unimplemented,
    );
    assert_code(
        c.update_relay_gateway(req(pb::UpdateRelayGatewayRequest::default(), token))
            .await,
        Code::Unimplemented,
    );
    assert_code(
        c.delete_relay_gateway(req(pb::DeleteRelayGatewayRequest::default(), token))
            .await,
        Code::Unimplemented,
    );
    let r = pb::ListGatewaysRequest {
        multicast_group_id: Uuid::new_v4().to_string(),
        ..Default::default()
    };
    assert_code(list(api, r, token).await, Code::Unimplemented);
    assert_code(
        c.get_metrics(tonic::Request::new(pb::GetGatewayMetricsRequest::default()))
            .await,
        Code::Unauthenticated,
    );
}

/// Stored statistics come back as ChirpStack's metrics: a timestamp per
/// bucket of the range, a dataset per series (0 where no stats came),
/// frequencies and data rates in numeric order; duty cycle as means.
async fn metrics_are_read_per_bucket_with_zeros_where_nothing_came(api: &TestApi) {
    use ns_core::api::service::timestamp;
    use ns_core::metrics::{duty_cycle_key, gateway_key};
    let id = "0102030405060708";
    let t = api.tenant("metered").await;
    create(api, gateway(t, id, "metered")).await;
    let eui: Eui64 = id.parse().unwrap();
    let storage = &api.db.storage;
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_144_000); // 08:00 UTC
    let samples = |pairs: &[(&str, f64)]| -> ns_core::metrics::Samples {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    storage
        .add_metrics(
            &gateway_key(eui),
            t0 + Duration::from_secs(600),
            &samples(&[
                ("rx_count", 7.0),
                ("tx_count", 1.0),
                ("rx_freq_868500000", 3.0),
                ("rx_freq_868100000", 4.0),
                ("rx_dr_5", 6.0),
                ("rx_dr_12", 1.0),
                ("tx_status_OK", 1.0),
            ]),
        )
        .await
        .unwrap();
    storage
        .add_metrics(
            &gateway_key(eui),
            t0 + Duration::from_secs(2 * 3600 + 5),
            &samples(&[("rx_count", 2.0), ("rx_freq_868100000", 2.0)]),
        )
        .await
        .unwrap();

    let r = client(api)
        .get_metrics(req(
            pb::GetGatewayMetricsRequest {
                gateway_id: id.into(),
                start: Some(timestamp(t0 + Duration::from_secs(1800))),
                end: Some(timestamp(t0 + Duration::from_secs(2 * 3600 + 60))),
                aggregation: 0, // HOUR
            },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let rx = r.rx_packets.unwrap();
    let hours: Vec<i64> = rx.timestamps.iter().map(|t| t.seconds).collect();
    assert_eq!(hours, [0, 3600, 7200].map(|d| 1_764_144_000 + d));
    assert_eq!(rx.datasets.len(), 1);
    assert_eq!(rx.datasets[0].label, "rx_count");
    assert_eq!(rx.datasets[0].data, [7.0, 0.0, 2.0]);
    assert_eq!(r.tx_packets.unwrap().datasets[0].data, [1.0, 0.0, 0.0]);
    let freq = r.rx_packets_per_freq.unwrap();
    let labels: Vec<&str> = freq.datasets.iter().map(|d| d.label.as_str()).collect();
    assert_eq!(labels, ["868100000", "868500000"]);
    assert_eq!(freq.datasets[0].data, [4.0, 0.0, 2.0]);
    let dr = r.rx_packets_per_dr.unwrap();
    let labels: Vec<&str> = dr.datasets.iter().map(|d| d.label.as_str()).collect();
    assert_eq!(labels, ["5", "12"], "numeric order");
    assert_eq!(r.tx_packets_per_status.unwrap().datasets[0].label, "OK");
    assert!(r.tx_packets_per_freq.unwrap().datasets.is_empty());

    // Duty cycle: per minute, the mean of the minute's reports.
    for load in [1.0, 3.0] {
        storage
            .add_metrics(
                &duty_cycle_key(eui),
                t0,
                &samples(&[("max_load_g1", 10.0), ("load_g1", load)]),
            )
            .await
            .unwrap();
    }
    let dc = client(api)
        .get_duty_cycle_metrics(req(
            pb::GetGatewayDutyCycleMetricsRequest {
                gateway_id: id.into(),
                start: Some(timestamp(t0)),
                end: Some(timestamp(t0 + Duration::from_secs(60))),
            },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let window = dc.window_percentage.unwrap();
    assert_eq!(window.timestamps.len(), 2);
    assert_eq!(window.datasets[0].label, "g1");
    assert_eq!(window.datasets[0].data, [2.0, 0.0]);
    assert_eq!(
        dc.max_load_percentage.unwrap().datasets[0].data,
        [10.0, 0.0]
    );

    // Bad requests are refused by field.
    let mut c = client(api);
    let missing = pb::GetGatewayMetricsRequest {
        gateway_id: id.into(),
        ..Default::default()
    };
    let status = c.get_metrics(req(missing, &api.admin)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("start"), "{status:?}");
    let too_long = pb::GetGatewayMetricsRequest {
        gateway_id: id.into(),
        start: Some(timestamp(SystemTime::UNIX_EPOCH)),
        end: Some(timestamp(t0)),
        aggregation: 3, // MINUTE
    };
    assert_code(
        c.get_metrics(req(too_long, &api.admin)).await,
        Code::InvalidArgument,
    );
    let reversed = pb::GetGatewayMetricsRequest {
        gateway_id: id.into(),
        start: Some(timestamp(t0)),
        end: Some(timestamp(SystemTime::UNIX_EPOCH)),
        aggregation: 0,
    };
    assert_code(
        c.get_metrics(req(reversed, &api.admin)).await,
        Code::InvalidArgument,
    );
    let bad_aggregation = pb::GetGatewayMetricsRequest {
        gateway_id: id.into(),
        start: Some(timestamp(t0)),
        end: Some(timestamp(t0)),
        aggregation: 9,
    };
    assert_code(
        c.get_metrics(req(bad_aggregation, &api.admin)).await,
        Code::InvalidArgument,
    );
    let unknown = pb::GetGatewayMetricsRequest {
        gateway_id: "00000000000000aa".into(),
        start: Some(timestamp(t0)),
        end: Some(timestamp(t0)),
        aggregation: 0,
    };
    assert_code(
        c.get_metrics(req(unknown, &api.admin)).await,
        Code::NotFound,
    );
}
