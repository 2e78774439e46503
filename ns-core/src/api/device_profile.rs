//! `DeviceProfileService`.

use std::sync::Arc;

use super::proto::device_profile_service_server::DeviceProfileService;
use super::service::ApiState;

/// The `DeviceProfileService` over the API's state.
#[derive(Debug, Clone)]
pub struct DeviceProfileApi(pub Arc<ApiState>);

#[tonic::async_trait]
impl DeviceProfileService for DeviceProfileApi {}
