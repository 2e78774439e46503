//! `UserService`: the people who log in. Global administrators manage
//! users; every user may read itself and change its own password.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::authz::{Action, Kind, Principal, Verb};
use super::proto::{self as api, user_service_server::UserService};
use super::service::{ApiState, parse_uuid, required, status, timestamp};
use crate::model::{TenantUser, User};
use crate::storage::ListQuery;

/// The `UserService` over the API's state.
#[derive(Debug, Clone)]
pub struct UserApi(pub Arc<ApiState>);

/// The shortest password accepted.
pub const MIN_PASSWORD_LENGTH: usize = 8;

/// Checks an email address: something before and after one `@`, no spaces,
/// at most 254 characters.
pub(super) fn check_email(state: &ApiState, field: &str, email: &str) -> Result<(), Status> {
    let ok = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if ok {
        Ok(())
    } else {
        Err(state.invalid(format!("{field}: {email:?} is not an email address")))
    }
}

/// Checks a new password.
pub(super) fn check_password(state: &ApiState, field: &str, password: &str) -> Result<(), Status> {
    if password.chars().count() < MIN_PASSWORD_LENGTH {
        return Err(state.invalid(format!(
            "{field}: at least {MIN_PASSWORD_LENGTH} characters are required"
        )));
    }
    if password.len() > 1024 {
        return Err(state.invalid(format!("{field}: longer than 1024 bytes")));
    }
    Ok(())
}

/// A user as the API shows it.
pub(super) fn to_proto(user: &User) -> api::User {
    api::User {
        id: user.id.to_string(),
        is_admin: user.is_admin,
        is_active: user.is_active,
        email: user.email.clone(),
        note: user.note.clone(),
    }
}

impl UserApi {
    /// Authorizes `verb` on user `id`: admins on anyone; a user on itself
    /// for reading and its password.
    fn authorize(&self, who: &Principal, id: Uuid, verb: Verb) -> Result<(), Status> {
        let own = who.user().is_some_and(|u| u.id == id);
        let kind = if own && !who.is_admin() {
            Kind::OwnUser
        } else {
            Kind::User
        };
        self.0.authorize(who, Action::new(kind, verb, None))
    }
}

#[tonic::async_trait]
impl UserService for UserApi {
    async fn create(
        &self,
        request: Request<api::CreateUserRequest>,
    ) -> Result<Response<api::CreateUserResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        s.authorize(&who, Action::new(Kind::User, Verb::Create, None))?;
        let req = request.into_inner();
        let u = required("user", req.user)?;
        check_email(s, "user.email", &u.email)?;
        check_password(s, "password", &req.password)?;
        let mut user = User::new(u.email);
        user.is_admin = u.is_admin;
        user.is_active = u.is_active;
        user.note = u.note;
        let mut tenants = Vec::with_capacity(req.tenants.len());
        for (i, t) in req.tenants.iter().enumerate() {
            let tenant_id = parse_uuid(&format!("tenants[{i}].tenant_id"), &t.tenant_id)?;
            let mut m = TenantUser::new(tenant_id, user.id);
            m.is_admin = t.is_admin;
            m.is_device_admin = t.is_device_admin;
            m.is_gateway_admin = t.is_gateway_admin;
            tenants.push(m);
        }
        // Hashing is slow: only once the request is known to be valid.
        let hasher = s.hasher.clone();
        let password = req.password;
        user.password_hash = tokio::task::spawn_blocking(move || hasher.hash(&password))
            .await
            .map_err(|_| Status::internal("password hashing failed"))?;
        s.storage
            .create_user_with_tenants(&user, &tenants)
            .await
            .map_err(status)?;
        Ok(Response::new(api::CreateUserResponse {
            id: user.id.to_string(),
        }))
    }

    async fn get(
        &self,
        request: Request<api::GetUserRequest>,
    ) -> Result<Response<api::GetUserResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let id = parse_uuid("id", &request.get_ref().id)?;
        self.authorize(&who, id, Verb::Read)?;
        let user = s.storage.get_user(id).await.map_err(status)?;
        Ok(Response::new(api::GetUserResponse {
            user: Some(to_proto(&user)),
            created_at: Some(timestamp(user.stamps.created_at)),
            updated_at: Some(timestamp(user.stamps.updated_at)),
        }))
    }

    async fn update(
        &self,
        request: Request<api::UpdateUserRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let u = required("user", request.into_inner().user)?;
        let id = parse_uuid("user.id", &u.id)?;
        s.authorize(&who, Action::new(Kind::User, Verb::Update, None))?;
        check_email(s, "user.email", &u.email)?;
        if who.user().is_some_and(|me| me.id == id) && (!u.is_admin || !u.is_active) {
            return Err(s.invalid(
                "user: an administrator cannot remove its own admin rights or deactivate itself",
            ));
        }
        let mut user = s.storage.get_user(id).await.map_err(status)?;
        user.email = u.email;
        user.is_admin = u.is_admin;
        user.is_active = u.is_active;
        user.note = u.note;
        user.stamps.touch();
        s.storage.update_user(&user).await.map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn delete(
        &self,
        request: Request<api::DeleteUserRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let id = parse_uuid("id", &request.get_ref().id)?;
        s.authorize(&who, Action::new(Kind::User, Verb::Delete, None))?;
        if who.user().is_some_and(|me| me.id == id) {
            return Err(s.invalid("id: a user cannot delete itself"));
        }
        s.storage.delete_user(id).await.map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn list(
        &self,
        request: Request<api::ListUsersRequest>,
    ) -> Result<Response<api::ListUsersResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        s.authorize(&who, Action::new(Kind::User, Verb::List, None))?;
        let req = request.into_inner();
        let page = s
            .storage
            .list_users(&ListQuery::page(req.limit, req.offset))
            .await
            .map_err(status)?;
        Ok(Response::new(api::ListUsersResponse {
            total_count: u32::try_from(page.total).unwrap_or(u32::MAX),
            result: page
                .items
                .into_iter()
                .map(|u| api::UserListItem {
                    id: u.id.to_string(),
                    created_at: Some(timestamp(u.stamps.created_at)),
                    updated_at: Some(timestamp(u.stamps.updated_at)),
                    email: u.email,
                    is_admin: u.is_admin,
                    is_active: u.is_active,
                })
                .collect(),
        }))
    }

    async fn update_password(
        &self,
        request: Request<api::UpdateUserPasswordRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let req = request.into_inner();
        let id = parse_uuid("user_id", &req.user_id)?;
        self.authorize(&who, id, Verb::Update)?;
        check_password(s, "password", &req.password)?;
        let hasher = s.hasher.clone();
        let hash = tokio::task::spawn_blocking(move || hasher.hash(&req.password))
            .await
            .map_err(|_| Status::internal("password hashing failed"))?;
        s.storage
            .set_user_password_hash(id, &hash)
            .await
            .map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }
}
