//! `DeviceService`.

use std::sync::Arc;

use super::proto::device_service_server::DeviceService;
use super::service::ApiState;

/// The `DeviceService` over the API's state.
#[derive(Debug, Clone)]
pub struct DeviceApi(pub Arc<ApiState>);

#[tonic::async_trait]
impl DeviceService for DeviceApi {}
