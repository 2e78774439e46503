//! `ApplicationService`.

use std::sync::Arc;

use super::proto::application_service_server::ApplicationService;
use super::service::ApiState;

/// The `ApplicationService` over the API's state.
#[derive(Debug, Clone)]
pub struct ApplicationApi(pub Arc<ApiState>);

#[tonic::async_trait]
impl ApplicationService for ApplicationApi {}
