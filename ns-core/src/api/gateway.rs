//! `GatewayService`.

use std::sync::Arc;

use super::proto::gateway_service_server::GatewayService;
use super::service::ApiState;

/// The `GatewayService` over the API's state.
#[derive(Debug, Clone)]
pub struct GatewayApi(pub Arc<ApiState>);

#[tonic::async_trait]
impl GatewayService for GatewayApi {}
