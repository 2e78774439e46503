//! REST/JSON: every `google.api.http` binding of the services, served on
//! the API's port as ChirpStack's separate REST proxy would serve it, and
//! the OpenAPI document describing them at `/api/openapi.json`.
//!
//! One mechanism serves every route: the request message is assembled as
//! proto3 JSON from the body (`body: "*"`), the path parameters
//! (`/api/devices/{device.dev_eui}`) and, for bindings without a body, the
//! query string (`?limit=10&search=x`); it is decoded into the method's
//! request type and sent to the gRPC service in-process, with the caller's
//! `Authorization` header (or grpc-gateway's `Grpc-Metadata-Authorization`)
//! as metadata. The answer comes back as proto3 JSON; an error as its HTTP
//! status with `{"code", "message", "details"}`, as grpc-gateway writes it.
//! The route table is generated at build time from the `.proto` files
//! (build_rest.rs), so a binding cannot be forgotten.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodFilter;
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};
use tonic::Status;
use tonic::metadata::MetadataMap;

/// A REST binding of a gRPC method.
pub(super) struct Route {
    /// The HTTP method.
    pub verb: &'static str,
    /// The path template (`/api/tenants/{id}`).
    pub path: &'static str,
    /// Its parameters, in order (`id`, `device.dev_eui`).
    pub params: &'static [&'static str],
    /// `"*"`: the body is the request message; `""`: no body.
    pub body: &'static str,
    /// The gRPC method's path.
    pub grpc_path: &'static str,
    /// Top-level boolean fields of the request (query-string values for
    /// them are booleans).
    pub bool_fields: &'static [&'static str],
    /// Decodes, calls, encodes.
    pub call: Call,
}

/// Calls a method with a JSON request message.
pub(super) type Call =
    fn(Router, &'static str, Json, MetadataMap) -> BoxFuture<'static, Result<Json, Status>>;

include!(concat!(env!("OUT_DIR"), "/api_rest.rs"));

/// The OpenAPI 3 document of the REST routes.
pub(super) const OPENAPI: &str = include_str!(concat!(env!("OUT_DIR"), "/api_openapi.json"));

/// Decodes the request as `Req`, calls the gRPC method, encodes its `Resp`.
fn call<Req, Resp>(
    grpc: Router,
    grpc_path: &'static str,
    json: Json,
    metadata: MetadataMap,
) -> BoxFuture<'static, Result<Json, Status>>
where
    Req: prost::Message + DeserializeOwned + Send + Sync + 'static,
    Resp: prost::Message + Serialize + Default + Send + 'static,
{
    Box::pin(async move {
        let message: Req = serde_json::from_value(json)
            .map_err(|e| Status::invalid_argument(format!("request: {e}")))?;
        let mut client = tonic::client::Grpc::new(grpc);
        client
            .ready()
            .await
            .map_err(|e| Status::unavailable(format!("service not ready: {e}")))?;
        let request = tonic::Request::from_parts(metadata, tonic::Extensions::default(), message);
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let path = axum::http::uri::PathAndQuery::from_static(grpc_path);
        let response = client.unary(request, path, codec).await?;
        serde_json::to_value(response.into_inner())
            .map_err(|e| Status::internal(format!("encoding the response: {e}")))
    })
}

/// `snake_case` as proto3 JSON's `lowerCamelCase`.
fn json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Sets `path` (`device.dev_eui`) in `object` to `value`, creating the
/// nested objects; `false` if something on the way is not an object.
fn set_path(object: &mut Map<String, Json>, path: &str, value: Json) -> bool {
    let mut parts = path.split('.').peekable();
    let mut current = object;
    while let Some(proto_name) = parts.next() {
        let name = json_name(proto_name);
        // A body may have used the proto name: the JSON name replaces it.
        if name != proto_name
            && let Some(old) = current.remove(proto_name)
        {
            current.entry(name.clone()).or_insert(old);
        }
        if parts.peek().is_none() {
            current.insert(name, value);
            return true;
        }
        match current
            .entry(name)
            .or_insert_with(|| Json::Object(Map::new()))
        {
            Json::Object(map) => current = map,
            _ => return false,
        }
    }
    false
}

/// The error answer of a status, as grpc-gateway writes it.
fn error_response(status: &Status) -> Response {
    use tonic::Code;
    let http = match status.code() {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = serde_json::json!({
        "code": status.code() as i32,
        "message": status.message(),
        "details": [],
    });
    (http, axum::Json(body)).into_response()
}

/// Serves one request of `route`.
async fn serve(
    route: &'static Route,
    grpc: Router,
    params: Vec<(String, String)>,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut object = Map::new();
    if route.body == "*" && !body.iter().all(u8::is_ascii_whitespace) {
        match serde_json::from_slice::<Json>(&body) {
            Ok(Json::Object(map)) => object = map,
            Ok(_) => {
                return error_response(&Status::invalid_argument(
                    "request body: a JSON object is expected",
                ));
            }
            Err(e) => {
                return error_response(&Status::invalid_argument(format!("request body: {e}")));
            }
        }
    }
    if route.body.is_empty() {
        for (key, value) in query {
            let value = if route.bool_fields.contains(&key.as_str()) {
                match value.as_str() {
                    "true" | "1" => Json::Bool(true),
                    "false" | "0" | "" => Json::Bool(false),
                    _ => {
                        return error_response(&Status::invalid_argument(format!(
                            "{key}: {value:?} is not a boolean"
                        )));
                    }
                }
            } else {
                Json::String(value)
            };
            if !set_path(&mut object, &key, value) {
                return error_response(&Status::invalid_argument(format!(
                    "query parameter {key:?} does not fit the request"
                )));
            }
        }
    }
    // Path parameters, `p0`, `p1`, … in template order, win over the body.
    let mut params: BTreeMap<usize, String> = params
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix('p')?.parse().ok()?, v)))
        .collect();
    for (i, name) in route.params.iter().enumerate() {
        let value = params.remove(&i).unwrap_or_default();
        if !set_path(&mut object, name, Json::String(value)) {
            return error_response(&Status::invalid_argument(format!(
                "path parameter {name:?} does not fit the request"
            )));
        }
    }
    let mut metadata = MetadataMap::new();
    let auth = headers
        .get(header::AUTHORIZATION)
        .or_else(|| headers.get("grpc-metadata-authorization"));
    if let Some(value) = auth
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
    {
        metadata.insert("authorization", value);
    }
    match (route.call)(grpc, route.grpc_path, Json::Object(object), metadata).await {
        Ok(json) => axum::Json(json).into_response(),
        Err(status) => error_response(&status),
    }
}

/// The axum path of a template: parameters renamed `{p0}`, `{p1}`, … so
/// that bindings of one shape with different field names share a route.
fn axum_path(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut n = 0;
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&format!("{{p{n}}}"));
        n += 1;
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// The REST routes, calling the services of `grpc`.
pub(super) fn router(grpc: &Router) -> Router {
    let mut by_path: BTreeMap<String, axum::routing::MethodRouter> = BTreeMap::new();
    for route in ROUTES {
        let filter = match route.verb {
            "GET" => MethodFilter::GET,
            "PUT" => MethodFilter::PUT,
            "POST" => MethodFilter::POST,
            "DELETE" => MethodFilter::DELETE,
            _ => MethodFilter::PATCH,
        };
        let grpc = grpc.clone();
        let handler =
            move |Path(params): Path<Vec<(String, String)>>,
                  Query(query): Query<Vec<(String, String)>>,
                  headers: HeaderMap,
                  body: Bytes| { serve(route, grpc, params, query, headers, body) };
        let path = axum_path(route.path);
        let entry = by_path.remove(&path).unwrap_or_default();
        by_path.insert(path, entry.on(filter, handler));
    }
    let mut router = Router::new().route(
        "/api/openapi.json",
        axum::routing::get(|| async {
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                OPENAPI,
            )
        }),
    );
    for (path, methods) in by_path {
        router = router.route(&path, methods);
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_become_positional_routes() {
        assert_eq!(axum_path("/api/tenants/{id}"), "/api/tenants/{p0}");
        assert_eq!(
            axum_path("/api/tenants/{tenant_user.tenant_id}/users/{tenant_user.user_id}"),
            "/api/tenants/{p0}/users/{p1}"
        );
        assert_eq!(axum_path("/api/users"), "/api/users");
    }

    #[test]
    fn paths_are_set_by_json_name() {
        let mut o = Map::new();
        o.insert(
            "device".into(),
            serde_json::json!({"dev_eui": "x", "name": "n"}),
        );
        assert!(set_path(
            &mut o,
            "device.dev_eui",
            Json::String("0102".into())
        ));
        assert_eq!(
            Json::Object(o),
            serde_json::json!({"device": {"devEui": "0102", "name": "n"}})
        );
        let mut o = Map::new();
        o.insert("a".into(), Json::String("scalar".into()));
        assert!(!set_path(&mut o, "a.b", Json::Null));
    }

    #[test]
    fn every_binding_is_routed_without_conflict() {
        assert!(ROUTES.len() > 100, "{}", ROUTES.len());
        // Building the router panics on conflicting routes.
        let _ = router(&Router::new());
        let doc: Json = serde_json::from_str(OPENAPI).unwrap();
        assert!(doc["paths"]["/api/tenants"]["post"].is_object());
    }
}
