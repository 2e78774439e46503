//! `InternalService`.

use std::sync::Arc;

use super::proto::internal_service_server::InternalService;
use super::service::ApiState;

/// The `InternalService` over the API's state.
#[derive(Debug, Clone)]
pub struct InternalApi(pub Arc<ApiState>);

#[tonic::async_trait]
impl InternalService for InternalApi {}
