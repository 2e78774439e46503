//! The API on one port: native gRPC (HTTP/2), gRPC-web (HTTP/1.1, for
//! browsers), gRPC reflection, and REST/JSON under `/api/` with its OpenAPI
//! document, all on one axum router.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tonic::service::Routes;

use super::application::ApplicationApi;
use super::device::DeviceApi;
use super::device_profile::DeviceProfileApi;
use super::gateway::GatewayApi;
use super::internal::InternalApi;
use super::proto::{
    FILE_DESCRIPTOR_SET, application_service_server::ApplicationServiceServer,
    device_profile_service_server::DeviceProfileServiceServer,
    device_service_server::DeviceServiceServer, gateway_service_server::GatewayServiceServer,
    internal_service_server::InternalServiceServer, tenant_service_server::TenantServiceServer,
    user_service_server::UserServiceServer,
};
use super::service::ApiState;
use super::tenant::TenantApi;
use super::user::UserApi;

/// The gRPC services (with gRPC-web and reflection) as an axum router.
pub fn grpc_router(state: &Arc<ApiState>) -> Router {
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1();
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1alpha();
    let mut routes = Routes::new(TenantServiceServer::new(TenantApi(state.clone())))
        .add_service(UserServiceServer::new(UserApi(state.clone())))
        .add_service(ApplicationServiceServer::new(ApplicationApi(state.clone())))
        .add_service(DeviceProfileServiceServer::new(DeviceProfileApi(
            state.clone(),
        )))
        .add_service(DeviceServiceServer::new(DeviceApi(state.clone())))
        .add_service(GatewayServiceServer::new(GatewayApi(state.clone())))
        .add_service(InternalServiceServer::new(InternalApi(state.clone())));
    if let Ok(v1) = reflection_v1 {
        routes = routes.add_service(v1);
    }
    if let Ok(v1alpha) = reflection_v1alpha {
        routes = routes.add_service(v1alpha);
    }
    routes
        .prepare()
        .into_axum_router()
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(state),
            count_answers,
        ))
        .layer(tonic_web::GrpcWebLayer::new())
}

/// Counts every answer by its gRPC status: an error is answered at once
/// with `grpc-status` in the headers; a success carries it in the trailers.
async fn count_answers(
    axum::extract::State(state): axum::extract::State<Arc<ApiState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(request).await;
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from_i32);
    state.counters.record(code);
    response
}

/// The whole API: gRPC, gRPC-web and REST/JSON.
pub fn router(state: &Arc<ApiState>) -> Router {
    let grpc = grpc_router(state);
    let rest = super::rest::router(&grpc);
    grpc.merge(rest)
}

/// A running API server.
#[derive(Debug)]
pub struct ApiServer {
    addr: SocketAddr,
    state: Arc<ApiState>,
    task: tokio::task::JoinHandle<()>,
}

impl ApiServer {
    /// Serves the API on `listener` (HTTP/1.1 and HTTP/2 without TLS).
    pub fn start(listener: TcpListener, state: Arc<ApiState>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let app = router(&state);
        // An answer is written in pieces (headers, data, trailers): without
        // TCP_NODELAY the last waits for the client's delayed ACK, 40 ms.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the API server stopped");
            }
        });
        Ok(Self { addr, state, task })
    }

    /// Its state (counters, live log).
    pub fn state(&self) -> &Arc<ApiState> {
        &self.state
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving.
    pub fn shutdown(self) {
        self.task.abort();
    }
}
