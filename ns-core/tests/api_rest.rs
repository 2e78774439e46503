//! REST/JSON: the `google.api.http` bindings served on the API's port, with
//! curl-style requests, on SQLite and PostgreSQL.

#[macro_use]
#[path = "support/db.rs"]
mod db;
#[macro_use]
#[path = "support/api.rs"]
mod api;
#[path = "support/rest.rs"]
mod rest;

use api::TestApi;
use db::TestDb;
use serde_json::json;

api_on_both_backends!(rest_round_trips_and_errors, openapi_is_served);

async fn rest_round_trips_and_errors(api: &TestApi) {
    let addr = api.server.local_addr();
    let admin = Some(api.admin.as_str());
    let (code, created) = rest::call(
        addr,
        "POST",
        "/api/tenants",
        admin,
        Some(json!({"tenant": {"name": "acme", "canHaveGateways": true, "tags": {"a": "b"}}})),
    )
    .await;
    assert_eq!(code, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    let (code, got) = rest::call(addr, "GET", &format!("/api/tenants/{id}"), admin, None).await;
    assert_eq!(code, 200);
    assert_eq!(got["tenant"]["name"], "acme");
    assert_eq!(got["tenant"]["tags"]["a"], "b");
    assert!(got["createdAt"].is_string());

    // The path's id wins; the body may use proto or JSON names.
    let (code, _) = rest::call(
        addr,
        "PUT",
        &format!("/api/tenants/{id}"),
        admin,
        Some(json!({"tenant": {"name": "acme 2", "max_device_count": 5}})),
    )
    .await;
    assert_eq!(code, 200);
    let (_, got) = rest::call(addr, "GET", &format!("/api/tenants/{id}"), admin, None).await;
    assert_eq!(got["tenant"]["name"], "acme 2");
    assert_eq!(got["tenant"]["maxDeviceCount"], 5);

    // Query parameters for bodiless bindings.
    rest::call(
        addr,
        "POST",
        "/api/tenants",
        admin,
        Some(json!({"tenant": {"name": "other"}})),
    )
    .await;
    let (code, page) =
        rest::call(addr, "GET", "/api/tenants?limit=10&search=ACM", admin, None).await;
    assert_eq!(code, 200, "{page}");
    assert_eq!(page["totalCount"], 1);
    assert_eq!(page["result"][0]["id"], id.as_str());

    // Users, with nested path parameters and the password route.
    let (code, user) = rest::call(
        addr,
        "POST",
        "/api/users",
        admin,
        Some(json!({"user": {"email": "ada@example.com", "isActive": true}, "password": "long enough",
                    "tenants": [{"tenantId": id, "isAdmin": true}]})),
    )
    .await;
    assert_eq!(code, 200, "{user}");
    let user_id = user["id"].as_str().unwrap();
    let (code, _) = rest::call(
        addr,
        "GET",
        &format!("/api/tenants/{id}/users/{user_id}"),
        admin,
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = rest::call(
        addr,
        "POST",
        &format!("/api/users/{user_id}/password"),
        admin,
        Some(json!({"password": "another long one"})),
    )
    .await;
    assert_eq!(code, 200);

    // Errors: as grpc-gateway maps them.
    let (code, err) = rest::call(addr, "GET", "/api/tenants/not-a-uuid", admin, None).await;
    assert_eq!(code, 400);
    assert_eq!(err["code"], 3);
    assert!(err["message"].as_str().unwrap().contains("id"));
    let (code, err) = rest::call(addr, "GET", "/api/tenants", None, None).await;
    assert_eq!((code, err["code"].as_i64()), (401, Some(16)));
    let (code, _) = rest::call(
        addr,
        "GET",
        &format!("/api/tenants/{}", uuid::Uuid::new_v4()),
        admin,
        None,
    )
    .await;
    assert_eq!(code, 404);
    let (code, _) = rest::call(addr, "POST", "/api/tenants", admin, Some(json!([1, 2]))).await;
    assert_eq!(code, 400);
    let (code, _) = rest::call(addr, "GET", "/api/tenants?limit=many", admin, None).await;
    assert_eq!(code, 400);
    // A method answered UNIMPLEMENTED by the service is 501 (an
    // application that exists, so nothing else can answer first).
    let (code, app) = rest::call(
        addr,
        "POST",
        "/api/applications",
        admin,
        Some(json!({"application": {"name": "meters", "tenantId": id}})),
    )
    .await;
    assert_eq!(code, 200, "{app}");
    let app_id = app["id"].as_str().unwrap();
    let (code, err) = rest::call(
        addr,
        "GET",
        &format!("/api/applications/{app_id}/integrations/influxdb"),
        admin,
        None,
    )
    .await;
    assert_eq!((code, err["code"].as_i64()), (501, Some(12)), "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("InfluxDB"),
        "{err}"
    );
}

async fn openapi_is_served(api: &TestApi) {
    let (code, doc) = rest::call(
        api.server.local_addr(),
        "GET",
        "/api/openapi.json",
        None,
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(operations, 111, "every binding of the 7 services");
    assert!(doc["paths"]["/api/devices/{dev_eui}/queue"]["post"].is_object());
    assert!(doc["components"]["schemas"]["api.Tenant"]["properties"]["name"].is_object());
}
