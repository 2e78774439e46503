//! `UserService`.

use std::sync::Arc;

use super::proto::user_service_server::UserService;
use super::service::ApiState;

/// The `UserService` over the API's state.
#[derive(Debug, Clone)]
pub struct UserApi(pub Arc<ApiState>);

#[tonic::async_trait]
impl UserService for UserApi {}
