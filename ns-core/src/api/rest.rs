//! REST/JSON: the `google.api.http` mappings of the services.

use std::sync::Arc;

use axum::Router;

use super::service::ApiState;

/// The REST routes.
pub(super) fn router(_state: &Arc<ApiState>) -> Router {
    Router::new()
}
