//! `TenantService` over a real socket, on SQLite and PostgreSQL: every
//! method, and who may call it.

#[macro_use]
#[path = "support/db.rs"]
mod db;
#[macro_use]
#[path = "support/api.rs"]
mod api;

use api::{TestApi, assert_code, req};
use db::TestDb;
use ns_core::api::proto::{self as pb, tenant_service_client::TenantServiceClient};
use tonic::Code;

api_on_both_backends!(
    tenants_round_trip,
    tenant_list_pages_and_searches,
    members_see_their_tenants_only,
    tenant_users_are_managed_by_tenant_admins,
    bad_input_is_refused_by_field,
    unauthenticated_calls_are_refused,
);

fn tenant(name: &str) -> pb::Tenant {
    pb::Tenant {
        name: name.into(),
        description: "d".into(),
        can_have_gateways: true,
        max_gateway_count: 2,
        max_device_count: 10,
        private_gateways_up: true,
        private_gateways_down: false,
        tags: [("k".to_string(), "v".to_string())].into(),
        dev_addr_prefixes: vec!["26000000/8".into()],
        ..Default::default()
    }
}

async fn create(api: &TestApi, name: &str) -> String {
    let mut c = TenantServiceClient::new(api.channel.clone());
    c.create(req(
        pb::CreateTenantRequest {
            tenant: Some(tenant(name)),
        },
        &api.admin,
    ))
    .await
    .unwrap()
    .into_inner()
    .id
}

async fn tenants_round_trip(api: &TestApi) {
    let mut c = TenantServiceClient::new(api.channel.clone());
    let id = create(api, "acme").await;
    let got = c
        .get(req(pb::GetTenantRequest { id: id.clone() }, &api.admin))
        .await
        .unwrap()
        .into_inner();
    let mut want = tenant("acme");
    want.id = id.clone();
    assert_eq!(got.tenant, Some(want.clone()));
    assert!(got.created_at.is_some() && got.updated_at.is_some());

    want.name = "acme 2".into();
    want.tags.clear();
    c.update(req(
        pb::UpdateTenantRequest {
            tenant: Some(want.clone()),
        },
        &api.admin,
    ))
    .await
    .unwrap();
    let got = c
        .get(req(pb::GetTenantRequest { id: id.clone() }, &api.admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.tenant, Some(want));
    assert!(got.updated_at.unwrap().seconds >= got.created_at.unwrap().seconds);

    c.delete(req(pb::DeleteTenantRequest { id: id.clone() }, &api.admin))
        .await
        .unwrap();
    assert_code(
        c.get(req(pb::GetTenantRequest { id }, &api.admin)).await,
        Code::NotFound,
    );
}

async fn tenant_list_pages_and_searches(api: &TestApi) {
    let mut c = TenantServiceClient::new(api.channel.clone());
    for name in ["alpha", "bravo", "charlie"] {
        create(api, name).await;
    }
    let list = |limit, offset, search: &str| pb::ListTenantsRequest {
        limit,
        offset,
        search: search.into(),
        user_id: String::new(),
    };
    let page = c
        .list(req(list(2, 1, ""), &api.admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total_count, 3);
    let names: Vec<_> = page.result.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["bravo", "charlie"]);
    let page = c
        .list(req(list(10, 0, "RAV"), &api.admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total_count, 1);
    assert_eq!(page.result[0].name, "bravo");
}

async fn members_see_their_tenants_only(api: &TestApi) {
    let mut c = TenantServiceClient::new(api.channel.clone());
    let mine = create(api, "mine").await;
    let other = create(api, "other").await;
    let (_, token) = api
        .user(&[(mine.parse().unwrap(), [false, false, false])])
        .await;
    let page = c
        .list(req(
            pb::ListTenantsRequest {
                limit: 10,
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total_count, 1);
    assert_eq!(page.result[0].id, mine);
    c.get(req(pb::GetTenantRequest { id: mine.clone() }, &token))
        .await
        .unwrap();
    // Another tenant, and one that does not exist, look the same.
    assert_code(
        c.get(req(pb::GetTenantRequest { id: other.clone() }, &token))
            .await,
        Code::PermissionDenied,
    );
    assert_code(
        c.get(req(
            pb::GetTenantRequest {
                id: uuid::Uuid::new_v4().to_string(),
            },
            &token,
        ))
        .await,
        Code::PermissionDenied,
    );
    // Members neither create, change nor delete tenants.
    assert_code(
        c.create(req(
            pb::CreateTenantRequest {
                tenant: Some(tenant("x")),
            },
            &token,
        ))
        .await,
        Code::PermissionDenied,
    );
    assert_code(
        c.delete(req(pb::DeleteTenantRequest { id: mine.clone() }, &token))
            .await,
        Code::PermissionDenied,
    );
    // A tenant key sees its tenant; a read-only one cannot write.
    let (_, key) = api.key(Some(mine.parse().unwrap()), true).await;
    let page = c
        .list(req(
            pb::ListTenantsRequest {
                limit: 10,
                ..Default::default()
            },
            &key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.result.len(), 1);
    assert_code(
        c.get(req(pb::GetTenantRequest { id: other }, &key)).await,
        Code::PermissionDenied,
    );
}

async fn tenant_users_are_managed_by_tenant_admins(api: &TestApi) {
    let mut c = TenantServiceClient::new(api.channel.clone());
    let t = create(api, "t").await;
    let tid: uuid::Uuid = t.parse().unwrap();
    let (_, admin) = api.user(&[(tid, [true, false, false])]).await;
    let (_, device_admin) = api.user(&[(tid, [false, true, false])]).await;
    let (bob, _) = api.user(&[]).await;

    let add = pb::AddTenantUserRequest {
        tenant_user: Some(pb::TenantUser {
            tenant_id: t.clone(),
            user_id: String::new(),
            email: bob.email.clone(),
            is_gateway_admin: true,
            ..Default::default()
        }),
    };
    assert_code(
        c.add_user(req(add.clone(), &device_admin)).await,
        Code::PermissionDenied,
    );
    c.add_user(req(add.clone(), &admin)).await.unwrap();
    assert_code(c.add_user(req(add, &admin)).await, Code::AlreadyExists);

    let got = c
        .get_user(req(
            pb::GetTenantUserRequest {
                tenant_id: t.clone(),
                user_id: bob.id.to_string(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .tenant_user
        .unwrap();
    assert!(got.is_gateway_admin && !got.is_admin);
    assert_eq!(got.email, bob.email);

    let mut changed = got.clone();
    changed.is_device_admin = true;
    c.update_user(req(
        pb::UpdateTenantUserRequest {
            tenant_user: Some(changed),
        },
        &admin,
    ))
    .await
    .unwrap();
    let page = c
        .list_users(req(
            pb::ListTenantUsersRequest {
                tenant_id: t.clone(),
                limit: 10,
                offset: 0,
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total_count, 3);
    assert!(
        page.result
            .iter()
            .any(|u| u.email == bob.email && u.is_device_admin)
    );
    c.delete_user(req(
        pb::DeleteTenantUserRequest {
            tenant_id: t.clone(),
            user_id: bob.id.to_string(),
        },
        &admin,
    ))
    .await
    .unwrap();
    assert_code(
        c.delete_user(req(
            pb::DeleteTenantUserRequest {
                tenant_id: t,
                user_id: bob.id.to_string(),
            },
            &admin,
        ))
        .await,
        Code::NotFound,
    );
}

async fn bad_input_is_refused_by_field(api: &TestApi) {
    let mut c = TenantServiceClient::new(api.channel.clone());
    let status = c
        .get(req(
            pb::GetTenantRequest {
                id: "not-a-uuid".into(),
            },
            &api.admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("id"), "{status:?}");

    let mut t = tenant("x");
    t.dev_addr_prefixes = vec!["26000000/40".into()];
    let status = c
        .create(req(pb::CreateTenantRequest { tenant: Some(t) }, &api.admin))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("dev_addr_prefixes"), "{status:?}");

    let status = c
        .create(req(pb::CreateTenantRequest { tenant: None }, &api.admin))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = c
        .create(req(
            pb::CreateTenantRequest {
                tenant: Some(tenant("")),
            },
            &api.admin,
        ))
        .await
        .unwrap_err();
    assert!(status.message().contains("tenant.name"), "{status:?}");
    // Nothing was written.
    let page = c
        .list(req(
            pb::ListTenantsRequest {
                limit: 10,
                ..Default::default()
            },
            &api.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total_count, 0);
}

async fn unauthenticated_calls_are_refused(api: &TestApi) {
    let mut c = TenantServiceClient::new(api.channel.clone());
    let list = pb::ListTenantsRequest::default();
    assert_code(
        c.list(tonic::Request::new(list.clone())).await,
        Code::Unauthenticated,
    );
    assert_code(
        c.list(req(list.clone(), "not.a.token")).await,
        Code::Unauthenticated,
    );
    // Signed with another secret.
    let forged = ns_core::api::auth::TokenSigner::new("other secret").sign_user(
        api.admin_user.id,
        ns_core::api::service::unix_now(),
        std::time::Duration::from_secs(60),
    );
    assert_code(
        c.list(req(list.clone(), &forged)).await,
        Code::Unauthenticated,
    );
    // Expired.
    let expired = api.state.signer.sign_user(
        api.admin_user.id,
        ns_core::api::service::unix_now() - 7200,
        std::time::Duration::from_secs(60),
    );
    assert_code(
        c.list(req(list.clone(), &expired)).await,
        Code::Unauthenticated,
    );
    // A deleted key stops working.
    let (key, token) = api.key(None, false).await;
    c.list(req(list.clone(), &token)).await.unwrap();
    api.db.storage.delete_api_key(key.id).await.unwrap();
    assert_code(c.list(req(list, &token)).await, Code::Unauthenticated);
    // Every answer is counted by its code.
    let counted: std::collections::HashMap<_, _> =
        api.state.counters.snapshot().into_iter().collect();
    assert_eq!(counted.get("UNAUTHENTICATED"), Some(&5), "{counted:?}");
    assert_eq!(counted.get("OK"), Some(&1), "{counted:?}");
}
