//! `TenantService`: tenants and their users.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::authz::{Action, Kind, Principal, Verb};
use super::proto::{self as api, tenant_service_server::TenantService};
use super::service::{
    ApiState, Target, check_name, parse_optional_uuid, parse_uuid, required, status, timestamp,
};
use crate::model::{Tenant, TenantUser};
use crate::storage::ListQuery;

/// The `TenantService` over the API's state.
#[derive(Debug, Clone)]
pub struct TenantApi(pub Arc<ApiState>);

/// Checks a tenant's fields and copies them onto `tenant`.
fn apply(state: &ApiState, tenant: &mut Tenant, t: api::Tenant) -> Result<(), Status> {
    check_name("tenant.name", &t.name)?;
    for prefix in &t.dev_addr_prefixes {
        prefix
            .parse::<crate::join::DevAddrPrefix>()
            .map_err(|e| state.invalid(format!("tenant.dev_addr_prefixes: {prefix:?}: {e}")))?;
    }
    tenant.name = t.name;
    tenant.description = t.description;
    tenant.can_have_gateways = t.can_have_gateways;
    tenant.max_gateway_count = t.max_gateway_count;
    tenant.max_device_count = t.max_device_count;
    tenant.private_gateways_up = t.private_gateways_up;
    tenant.private_gateways_down = t.private_gateways_down;
    tenant.tags = t.tags;
    tenant.dev_addr_prefixes = t.dev_addr_prefixes;
    Ok(())
}

fn to_proto(t: Tenant) -> api::Tenant {
    api::Tenant {
        id: t.id.to_string(),
        name: t.name,
        description: t.description,
        can_have_gateways: t.can_have_gateways,
        max_gateway_count: t.max_gateway_count,
        max_device_count: t.max_device_count,
        private_gateways_up: t.private_gateways_up,
        private_gateways_down: t.private_gateways_down,
        tags: t.tags,
        dev_addr_prefixes: t.dev_addr_prefixes,
    }
}

fn list_item(t: Tenant) -> api::TenantListItem {
    api::TenantListItem {
        id: t.id.to_string(),
        created_at: Some(timestamp(t.stamps.created_at)),
        updated_at: Some(timestamp(t.stamps.updated_at)),
        name: t.name,
        can_have_gateways: t.can_have_gateways,
        private_gateways_up: t.private_gateways_up,
        private_gateways_down: t.private_gateways_down,
        max_gateway_count: t.max_gateway_count,
        max_device_count: t.max_device_count,
    }
}

fn member_to_proto(m: &TenantUser, email: String) -> api::TenantUser {
    api::TenantUser {
        tenant_id: m.tenant_id.to_string(),
        user_id: m.user_id.to_string(),
        is_admin: m.is_admin,
        is_device_admin: m.is_device_admin,
        is_gateway_admin: m.is_gateway_admin,
        email,
        device_profiles: Vec::new(),
        applications: Vec::new(),
    }
}

impl TenantApi {
    /// Authenticates and authorizes `verb` on tenant users of `tenant`.
    async fn members_of(
        &self,
        who: &Principal,
        tenant_id: &str,
        verb: Verb,
    ) -> Result<uuid::Uuid, Status> {
        let id = parse_uuid("tenant_id", tenant_id)?;
        let tenant = self.0.tenant_of(who, Target::Tenant(id)).await?;
        self.0
            .authorize(who, Action::new(Kind::TenantUser, verb, Some(tenant)))?;
        Ok(tenant)
    }
}

#[tonic::async_trait]
impl TenantService for TenantApi {
    async fn create(
        &self,
        request: Request<api::CreateTenantRequest>,
    ) -> Result<Response<api::CreateTenantResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        s.authorize(&who, Action::new(Kind::Tenant, Verb::Create, None))?;
        let t = required("tenant", request.into_inner().tenant)?;
        let mut tenant = Tenant::new("");
        apply(s, &mut tenant, t)?;
        s.storage.create_tenant(&tenant).await.map_err(status)?;
        Ok(Response::new(api::CreateTenantResponse {
            id: tenant.id.to_string(),
        }))
    }

    async fn get(
        &self,
        request: Request<api::GetTenantRequest>,
    ) -> Result<Response<api::GetTenantResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let id = parse_uuid("id", &request.get_ref().id)?;
        let tenant_id = s.tenant_of(&who, Target::Tenant(id)).await?;
        s.authorize(&who, Action::new(Kind::Tenant, Verb::Read, Some(tenant_id)))?;
        let tenant = s.storage.get_tenant(id).await.map_err(status)?;
        Ok(Response::new(api::GetTenantResponse {
            created_at: Some(timestamp(tenant.stamps.created_at)),
            updated_at: Some(timestamp(tenant.stamps.updated_at)),
            tenant: Some(to_proto(tenant)),
        }))
    }

    async fn update(
        &self,
        request: Request<api::UpdateTenantRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let t = required("tenant", request.into_inner().tenant)?;
        let id = parse_uuid("tenant.id", &t.id)?;
        let tenant_id = s.tenant_of(&who, Target::Tenant(id)).await?;
        s.authorize(
            &who,
            Action::new(Kind::Tenant, Verb::Update, Some(tenant_id)),
        )?;
        let mut tenant = s.storage.get_tenant(id).await.map_err(status)?;
        apply(s, &mut tenant, t)?;
        tenant.stamps.touch();
        s.storage.update_tenant(&tenant).await.map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn delete(
        &self,
        request: Request<api::DeleteTenantRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let id = parse_uuid("id", &request.get_ref().id)?;
        let tenant_id = s.tenant_of(&who, Target::Tenant(id)).await?;
        s.authorize(
            &who,
            Action::new(Kind::Tenant, Verb::Delete, Some(tenant_id)),
        )?;
        s.storage.delete_tenant(id).await.map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn list(
        &self,
        request: Request<api::ListTenantsRequest>,
    ) -> Result<Response<api::ListTenantsResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let req = request.into_inner();
        let filter_user = parse_optional_uuid("user_id", &req.user_id)?;
        // Admins list every tenant (or a user's); anyone else their own.
        let member = if who.is_admin() {
            filter_user
        } else {
            match (&who, filter_user) {
                (Principal::User { user, .. }, None) => Some(user.id),
                (Principal::User { user, .. }, Some(id)) if id == user.id => Some(id),
                // A global key, read-only or not, reads every tenant list.
                (Principal::Key(key), filter) if key.is_admin => filter,
                (Principal::Key(key), None) if key.tenant_id.is_some() => None,
                _ => {
                    return Err(Status::permission_denied(
                        "not permitted: listing another user's tenants",
                    ));
                }
            }
        };
        let query = ListQuery::page(req.limit, req.offset).search(req.search);
        let page = match (&who, member) {
            // A tenant key sees its tenant only.
            (Principal::Key(key), _) if !key.is_admin => {
                let tenant_id = key.tenant_id.unwrap_or_default();
                match s.storage.get_tenant(tenant_id).await {
                    Ok(t) if query.offset == 0 && query.limit > 0 => crate::storage::Page {
                        total: 1,
                        items: vec![t],
                    },
                    Ok(_) => crate::storage::Page {
                        total: 1,
                        items: Vec::new(),
                    },
                    Err(e) => return Err(status(e)),
                }
            }
            _ => s
                .storage
                .list_tenants(&query, member)
                .await
                .map_err(status)?,
        };
        Ok(Response::new(api::ListTenantsResponse {
            total_count: u32::try_from(page.total).unwrap_or(u32::MAX),
            result: page.items.into_iter().map(list_item).collect(),
        }))
    }

    async fn add_user(
        &self,
        request: Request<api::AddTenantUserRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let m = required("tenant_user", request.into_inner().tenant_user)?;
        let tenant = self.members_of(&who, &m.tenant_id, Verb::Create).await?;
        // By id, or by email as a person adding a colleague knows it.
        let user_id = if m.user_id.is_empty() {
            match s
                .storage
                .find_user_by_email(&m.email)
                .await
                .map_err(status)?
            {
                Some(user) => user.id,
                None => {
                    return Err(Status::not_found(format!(
                        "no user with email {:?}",
                        m.email
                    )));
                }
            }
        } else {
            parse_uuid("tenant_user.user_id", &m.user_id)?
        };
        let mut member = TenantUser::new(tenant, user_id);
        member.is_admin = m.is_admin;
        member.is_device_admin = m.is_device_admin;
        member.is_gateway_admin = m.is_gateway_admin;
        s.storage.add_tenant_user(&member).await.map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn get_user(
        &self,
        request: Request<api::GetTenantUserRequest>,
    ) -> Result<Response<api::GetTenantUserResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let req = request.into_inner();
        let tenant = self.members_of(&who, &req.tenant_id, Verb::Read).await?;
        let user_id = parse_uuid("user_id", &req.user_id)?;
        let (member, email) = s
            .storage
            .get_tenant_user(tenant, user_id)
            .await
            .map_err(status)?;
        Ok(Response::new(api::GetTenantUserResponse {
            created_at: Some(timestamp(member.stamps.created_at)),
            updated_at: Some(timestamp(member.stamps.updated_at)),
            tenant_user: Some(member_to_proto(&member, email)),
        }))
    }

    async fn update_user(
        &self,
        request: Request<api::UpdateTenantUserRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let m = required("tenant_user", request.into_inner().tenant_user)?;
        let tenant = self.members_of(&who, &m.tenant_id, Verb::Update).await?;
        let user_id = parse_uuid("tenant_user.user_id", &m.user_id)?;
        let (mut member, _) = s
            .storage
            .get_tenant_user(tenant, user_id)
            .await
            .map_err(status)?;
        member.is_admin = m.is_admin;
        member.is_device_admin = m.is_device_admin;
        member.is_gateway_admin = m.is_gateway_admin;
        member.stamps.touch();
        s.storage
            .update_tenant_user(&member)
            .await
            .map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn delete_user(
        &self,
        request: Request<api::DeleteTenantUserRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let req = request.into_inner();
        let tenant = self.members_of(&who, &req.tenant_id, Verb::Delete).await?;
        let user_id = parse_uuid("user_id", &req.user_id)?;
        if who.user().is_some_and(|u| u.id == user_id) {
            return Err(s.invalid("a user cannot remove itself from a tenant"));
        }
        s.storage
            .delete_tenant_user(tenant, user_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn list_users(
        &self,
        request: Request<api::ListTenantUsersRequest>,
    ) -> Result<Response<api::ListTenantUsersResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let req = request.into_inner();
        let tenant = self.members_of(&who, &req.tenant_id, Verb::List).await?;
        let page = s
            .storage
            .list_tenant_users(tenant, &ListQuery::page(req.limit, req.offset))
            .await
            .map_err(status)?;
        Ok(Response::new(api::ListTenantUsersResponse {
            total_count: u32::try_from(page.total).unwrap_or(u32::MAX),
            result: page
                .items
                .into_iter()
                .map(|(m, email)| api::TenantUserListItem {
                    tenant_id: m.tenant_id.to_string(),
                    user_id: m.user_id.to_string(),
                    created_at: Some(timestamp(m.stamps.created_at)),
                    updated_at: Some(timestamp(m.stamps.updated_at)),
                    email,
                    is_admin: m.is_admin,
                    is_device_admin: m.is_device_admin,
                    is_gateway_admin: m.is_gateway_admin,
                })
                .collect(),
        }))
    }

    async fn list_by_dev_addr_prefix_overlap(
        &self,
        request: Request<api::ListTenantsByDevAddrPrefixOverlapRequest>,
    ) -> Result<Response<api::ListTenantsResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        s.authorize(&who, Action::new(Kind::Tenant, Verb::List, None))?;
        let wanted: crate::join::DevAddrPrefix = request
            .get_ref()
            .dev_addr_prefix
            .parse()
            .map_err(|e| s.invalid(format!("dev_addr_prefix: {e}")))?;
        let mut result = Vec::new();
        let mut offset = 0;
        loop {
            let page = s
                .storage
                .list_tenants(&ListQuery::page(500, offset), None)
                .await
                .map_err(status)?;
            let n = page.items.len();
            for t in page.items {
                let overlaps = t.dev_addr_prefixes.iter().any(|p| {
                    p.parse::<crate::join::DevAddrPrefix>()
                        .is_ok_and(|p| p.overlaps(&wanted))
                });
                if overlaps {
                    result.push(list_item(t));
                }
            }
            if n < 500 {
                break;
            }
            offset += 500;
        }
        Ok(Response::new(api::ListTenantsResponse {
            total_count: u32::try_from(result.len()).unwrap_or(u32::MAX),
            result,
        }))
    }
}
