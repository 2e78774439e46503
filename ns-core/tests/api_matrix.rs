//! The authorization matrix of the management API, on SQLite and
//! PostgreSQL: every implemented method of the seven services, called by
//! every kind of caller, on an object of the caller's tenant ("own") and on
//! the same object of another tenant ("other").
//!
//! The expected answers are written here from the role table of
//! `docs/api.md`, not computed with `ns_core::api::authz::allowed`: each row
//! names who may call it (a [`Who`], as data) and whether it only reads, and
//! [`expected`] turns that into allow or deny for each caller. "Allowed"
//! means the call answered OK (every request here is valid and its objects
//! exist, so an allowed call has no other reason to fail); "denied" means
//! PERMISSION_DENIED (UNAUTHENTICATED for `Profile` with an API key). Every
//! mismatch is collected and printed before the test fails.
//!
//! Callers: a global admin user, an admin API key, a read-only admin key, a
//! tenant admin, a device admin, a gateway admin and a plain member of
//! tenant A, a key and a read-only key of tenant A, the admin of a third
//! tenant C, and a user in no tenant. Tenants A and B hold the same
//! objects (an application with an HTTP integration, a device profile, an
//! activated device with keys and a queue item, a gateway, a tenant user
//! and a tenant API key), so "other" targets an object that exists.
//!
//! Destructive calls work on objects created for the call (a new device to
//! delete, a new API key to revoke, …), so every caller meets the same
//! state; deleting a tenant uses a new world for each call.

#[macro_use]
#[path = "support/db.rs"]
mod db;
#[macro_use]
#[path = "support/api.rs"]
mod api;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use api::{TestApi, activation, eu868_profile, profile_message, queue_item, req};
use db::TestDb;
use lorawan::Eui64;
use ns_core::api::authz::Who;
use ns_core::api::proto::{
    self as pb, application_service_client::ApplicationServiceClient,
    device_profile_service_client::DeviceProfileServiceClient,
    device_service_client::DeviceServiceClient, gateway_service_client::GatewayServiceClient,
    internal_service_client::InternalServiceClient, tenant_service_client::TenantServiceClient,
    user_service_client::UserServiceClient,
};
use ns_core::model::{ApiKey, Device, Gateway, TenantUser, User};
use ns_core::storage::integration::{
    ApplicationIntegration, HttpIntegrationConfig, IntegrationConfig,
};
use tonic::transport::Channel;
use tonic::{Code, Status};
use uuid::Uuid;

api_on_both_backends!(
    authorization_matrix,
    unimplemented_methods_answer_unimplemented
);

// ---------------------------------------------------------------------------
// Callers and the expected matrix.

/// The kinds of caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    GlobalAdmin,
    AdminKey,
    ReadOnlyAdminKey,
    TenantAdmin,
    DeviceAdmin,
    GatewayAdmin,
    Member,
    TenantKey,
    ReadOnlyTenantKey,
    OtherTenantAdmin,
    NoTenant,
}

const ROLES: [Role; 11] = [
    Role::GlobalAdmin,
    Role::AdminKey,
    Role::ReadOnlyAdminKey,
    Role::TenantAdmin,
    Role::DeviceAdmin,
    Role::GatewayAdmin,
    Role::Member,
    Role::TenantKey,
    Role::ReadOnlyTenantKey,
    Role::OtherTenantAdmin,
    Role::NoTenant,
];

impl Role {
    fn is_key(self) -> bool {
        matches!(
            self,
            Self::AdminKey | Self::ReadOnlyAdminKey | Self::TenantKey | Self::ReadOnlyTenantKey
        )
    }
}

/// What a row is about, which decides the targets it is called on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// An object of a tenant: called on tenant A's (own) and B's (other).
    Tenant,
    /// A global object or a global list: called once.
    Global,
    /// The caller's own user: called once, by users only (a key has none).
    OwnUser,
    /// `InternalService.Profile`: the caller's own user; a key is refused
    /// as UNAUTHENTICATED.
    Profile,
}

/// Which object a case is called on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Own,
    Other,
    Global,
}

/// The answer a case should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Allow,
    Deny(Code),
}

const READ: bool = true;
const WRITE: bool = false;

/// The expected answer of `role` calling `row` on `target`, from the role
/// table of docs/api.md; `None` when the case does not exist (a key's own
/// user).
///
/// The table's "read-only key" column is read as "what the same key without
/// read-only could do, reads only": a read-only tenant key reads its tenant,
/// a read-only admin key reads everything.
fn expected(role: Role, row: &Row, target: Target) -> Option<Expect> {
    use Role::*;
    let deny = Some(Expect::Deny(Code::PermissionDenied));
    let allow = Some(Expect::Allow);
    match row.scope {
        Scope::OwnUser if role.is_key() => return None,
        Scope::Profile if role.is_key() => return Some(Expect::Deny(Code::Unauthenticated)),
        _ => {}
    }
    match role {
        GlobalAdmin | AdminKey => return allow,
        ReadOnlyAdminKey => return if row.read { allow } else { deny },
        ReadOnlyTenantKey if !row.read => return deny,
        _ => {}
    }
    if row.who == Who::Anyone {
        return allow;
    }
    // Everything else is inside a tenant: only tenant A's own callers, on
    // tenant A's objects.
    if target != Target::Own {
        return deny;
    }
    let tenant_admin = matches!(role, TenantAdmin | TenantKey | ReadOnlyTenantKey);
    let may = match row.who {
        Who::GlobalAdmin => false,
        Who::TenantAdmin => tenant_admin,
        Who::DeviceAdmin => tenant_admin || role == DeviceAdmin,
        Who::GatewayAdmin => tenant_admin || role == GatewayAdmin,
        Who::Member => tenant_admin || matches!(role, DeviceAdmin | GatewayAdmin | Member),
        Who::Anyone => true,
    };
    if may { allow } else { deny }
}

// ---------------------------------------------------------------------------
// The world the cases run in.

/// One tenant's objects.
#[derive(Debug, Clone)]
struct Fx {
    tenant: Uuid,
    app: Uuid,
    profile: Uuid,
    dev: Eui64,
    gateway: Eui64,
    /// A member of the tenant (not one of the callers).
    user: Uuid,
    user_email: String,
}

/// A caller: its role, token and user (if it is a user).
struct Caller {
    role: Role,
    token: String,
    user: Option<Uuid>,
}

/// Tenants A and B with their objects, and the callers.
struct World {
    a: Fx,
    b: Fx,
    callers: Vec<Caller>,
}

impl World {
    fn caller(&self, role: Role) -> &Caller {
        self.callers.iter().find(|c| c.role == role).unwrap()
    }
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A number never returned before in this process.
fn uniq() -> u64 {
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn new_eui() -> Eui64 {
    Eui64::from_u64(0x00aa_0000_0000_0000 | uniq())
}

fn device_keys(eui: Eui64) -> pb::DeviceKeys {
    pb::DeviceKeys {
        dev_eui: eui.to_string(),
        nwk_key: "000102030405060708090a0b0c0d0e0f".into(),
        app_key: "0f0e0d0c0b0a09080706050403020100".into(),
        ..Default::default()
    }
}

fn http_integration(app: Uuid) -> pb::HttpIntegration {
    pb::HttpIntegration {
        application_id: app.to_string(),
        headers: Default::default(),
        encoding: pb::Encoding::Json as i32,
        event_endpoint_url: "http://127.0.0.1:9/events".into(),
    }
}

fn gateway_message(tenant: Uuid, id: Eui64, name: &str) -> pb::Gateway {
    pb::Gateway {
        gateway_id: id.to_string(),
        name: name.into(),
        tenant_id: tenant.to_string(),
        stats_interval: 30,
        ..Default::default()
    }
}

/// Stores an HTTP integration of application `app`.
async fn add_http_integration(api: &TestApi, app: Uuid) {
    api.db
        .storage
        .create_application_integration(&ApplicationIntegration::new(
            app,
            IntegrationConfig::Http(HttpIntegrationConfig::new("http://127.0.0.1:9/events")),
        ))
        .await
        .unwrap();
}

/// Gives device `eui` root keys, as the global admin.
async fn admin_create_keys(api: &TestApi, eui: Eui64) {
    DeviceServiceClient::new(api.channel.clone())
        .create_keys(req(
            pb::CreateDeviceKeysRequest {
                device_keys: Some(device_keys(eui)),
            },
            &api.admin,
        ))
        .await
        .unwrap();
}

/// Activates device `eui` (ABP), as the global admin.
async fn admin_activate(api: &TestApi, eui: Eui64) {
    DeviceServiceClient::new(api.channel.clone())
        .activate(req(
            pb::ActivateDeviceRequest {
                device_activation: Some(activation(eui)),
            },
            &api.admin,
        ))
        .await
        .unwrap();
}

/// A tenant and its objects, created as the global admin.
async fn tenant_fixture(api: &TestApi, name: &str) -> Fx {
    let s = &api.db.storage;
    let tenant = api.tenant(name).await;
    let app = api.application(tenant, &format!("{name} app")).await;
    add_http_integration(api, app).await;
    let profile = api
        .device_profile(&eu868_profile(tenant, format!("{name} profile")))
        .await;
    let dev = new_eui();
    let mut device = Device::new(dev, app, profile, format!("{name} device"));
    device.tags = [("floor".to_string(), "1".to_string())].into();
    s.create_device(&device).await.unwrap();
    admin_create_keys(api, dev).await;
    admin_activate(api, dev).await;
    DeviceServiceClient::new(api.channel.clone())
        .enqueue(req(
            pb::EnqueueDeviceQueueItemRequest {
                queue_item: Some(queue_item(dev, 10, &[1, 2, 3])),
                flush_queue: false,
            },
            &api.admin,
        ))
        .await
        .unwrap();
    let gateway = Gateway::new(new_eui(), tenant, format!("{name} gateway"));
    s.create_gateway(&gateway).await.unwrap();
    let user = User::new(format!("member-{}@example.com", Uuid::new_v4()));
    s.create_user(&user).await.unwrap();
    s.add_tenant_user(&TenantUser::new(tenant, user.id))
        .await
        .unwrap();
    let key = ApiKey::new(format!("{name} key"), Some(tenant));
    s.create_api_key(&key).await.unwrap();
    Fx {
        tenant,
        app,
        profile,
        dev,
        gateway: gateway.gateway_id,
        user: user.id,
        user_email: user.email,
    }
}

/// Tenants A, B and C, and a caller of each role.
async fn world(api: &TestApi) -> World {
    let a = tenant_fixture(api, "A").await;
    let b = tenant_fixture(api, "B").await;
    let c = api.tenant("C").await;
    let mut callers = Vec::new();
    for role in ROLES {
        let (token, user) = match role {
            Role::GlobalAdmin => (api.admin.clone(), Some(api.admin_user.id)),
            Role::AdminKey => (api.key(None, false).await.1, None),
            Role::ReadOnlyAdminKey => (api.key(None, true).await.1, None),
            Role::TenantKey => (api.key(Some(a.tenant), false).await.1, None),
            Role::ReadOnlyTenantKey => (api.key(Some(a.tenant), true).await.1, None),
            Role::TenantAdmin
            | Role::DeviceAdmin
            | Role::GatewayAdmin
            | Role::Member
            | Role::OtherTenantAdmin
            | Role::NoTenant => {
                let memberships: &[(Uuid, [bool; 3])] = match role {
                    Role::TenantAdmin => &[(a.tenant, [true, false, false])],
                    Role::DeviceAdmin => &[(a.tenant, [false, true, false])],
                    Role::GatewayAdmin => &[(a.tenant, [false, false, true])],
                    Role::Member => &[(a.tenant, [false, false, false])],
                    Role::OtherTenantAdmin => &[(c, [true, false, false])],
                    _ => &[],
                };
                let (user, token) = api.user(memberships).await;
                (token, Some(user.id))
            }
        };
        callers.push(Caller { role, token, user });
    }
    World { a, b, callers }
}

// ---------------------------------------------------------------------------
// The rows.

/// What a case's call sees: the API, the target tenant's objects and the
/// caller.
struct Ctx<'a> {
    api: &'a TestApi,
    fx: &'a Fx,
    token: &'a str,
    /// The caller's user, if it is one.
    me: Option<Uuid>,
}

impl Ctx<'_> {
    fn req<T>(&self, message: T) -> tonic::Request<T> {
        req(message, self.token)
    }

    fn tenants(&self) -> TenantServiceClient<Channel> {
        TenantServiceClient::new(self.api.channel.clone())
    }

    fn users(&self) -> UserServiceClient<Channel> {
        UserServiceClient::new(self.api.channel.clone())
    }

    fn apps(&self) -> ApplicationServiceClient<Channel> {
        ApplicationServiceClient::new(self.api.channel.clone())
    }

    fn profiles(&self) -> DeviceProfileServiceClient<Channel> {
        DeviceProfileServiceClient::new(self.api.channel.clone())
    }

    fn devices(&self) -> DeviceServiceClient<Channel> {
        DeviceServiceClient::new(self.api.channel.clone())
    }

    fn gateways(&self) -> GatewayServiceClient<Channel> {
        GatewayServiceClient::new(self.api.channel.clone())
    }

    fn internal(&self) -> InternalServiceClient<Channel> {
        InternalServiceClient::new(self.api.channel.clone())
    }

    /// A new user (a member of the target tenant if `member`).
    async fn new_user(&self, member: bool) -> Uuid {
        let s = &self.api.db.storage;
        let user = User::new(format!("new-{}@example.com", Uuid::new_v4()));
        s.create_user(&user).await.unwrap();
        if member {
            s.add_tenant_user(&TenantUser::new(self.fx.tenant, user.id))
                .await
                .unwrap();
        }
        user.id
    }

    /// A new application of the target tenant.
    async fn new_app(&self) -> Uuid {
        self.api
            .application(self.fx.tenant, &format!("app {}", uniq()))
            .await
    }

    /// A new device of the target tenant's application, with no keys and
    /// no session.
    async fn new_device(&self) -> Eui64 {
        let eui = new_eui();
        let d = Device::new(eui, self.fx.app, self.fx.profile, format!("dev {eui}"));
        self.api.db.storage.create_device(&d).await.unwrap();
        eui
    }

    /// A device message for `eui` in the target tenant's application.
    fn device_message(&self, eui: Eui64, name: &str) -> pb::Device {
        pb::Device {
            dev_eui: eui.to_string(),
            name: name.into(),
            application_id: self.fx.app.to_string(),
            device_profile_id: self.fx.profile.to_string(),
            ..Default::default()
        }
    }
}

type Reply<'a> = Pin<Box<dyn Future<Output = Result<(), Status>> + 'a>>;
type Call = for<'a> fn(&'a Ctx<'a>) -> Reply<'a>;

/// One method (or one way of calling it) and who may call it.
struct Row {
    name: &'static str,
    scope: Scope,
    /// Who may, inside a tenant (global admins always may).
    who: Who,
    /// Whether the call only reads (read-only keys may).
    read: bool,
    /// Whether each case needs a world of its own (the call destroys one).
    fresh_world: bool,
    call: Call,
}

impl Row {
    fn targets(&self) -> &'static [Target] {
        match self.scope {
            Scope::Tenant => &[Target::Own, Target::Other],
            Scope::Global | Scope::OwnUser | Scope::Profile => &[Target::Global],
        }
    }
}

/// `row!(name, scope, who, READ|WRITE, |c| async body)`.
macro_rules! row {
    ($name:literal, $scope:ident, $who:ident, $read:expr, |$c:ident| $body:expr) => {
        Row {
            name: $name,
            scope: Scope::$scope,
            who: Who::$who,
            read: $read,
            fresh_world: false,
            call: |$c| Box::pin(async move { $body.map(drop) }),
        }
    };
}

/// Every implemented method, as rows.
#[allow(clippy::too_many_lines)]
fn rows() -> Vec<Row> {
    vec![
        // ---- TenantService ----
        row!("Tenant.Create", Global, GlobalAdmin, WRITE, |c| {
            c.tenants()
                .create(c.req(pb::CreateTenantRequest {
                    tenant: Some(pb::Tenant {
                        name: format!("new {}", uniq()),
                        ..Default::default()
                    }),
                }))
                .await
        }),
        row!("Tenant.Get", Tenant, Member, READ, |c| {
            c.tenants()
                .get(c.req(pb::GetTenantRequest {
                    id: c.fx.tenant.to_string(),
                }))
                .await
        }),
        row!("Tenant.Update", Tenant, GlobalAdmin, WRITE, |c| {
            c.tenants()
                .update(c.req(pb::UpdateTenantRequest {
                    tenant: Some(pb::Tenant {
                        id: c.fx.tenant.to_string(),
                        name: "renamed".into(),
                        can_have_gateways: true,
                        ..Default::default()
                    }),
                }))
                .await
        }),
        Row {
            fresh_world: true,
            ..row!("Tenant.Delete", Tenant, GlobalAdmin, WRITE, |c| {
                c.tenants()
                    .delete(c.req(pb::DeleteTenantRequest {
                        id: c.fx.tenant.to_string(),
                    }))
                    .await
            })
        },
        // Without user_id: a non-admin lists its own tenants (docs/api.md:
        // "own tenant: read" for everyone; "list all" is for admins).
        row!("Tenant.List(own tenants)", Global, Anyone, READ, |c| {
            c.tenants()
                .list(c.req(pb::ListTenantsRequest {
                    limit: 10,
                    ..Default::default()
                }))
                .await
        }),
        // Another user's tenants: a list of all, for global admins.
        row!(
            "Tenant.List(user_id=another user)",
            Global,
            GlobalAdmin,
            READ,
            |c| {
                c.tenants()
                    .list(c.req(pb::ListTenantsRequest {
                        limit: 10,
                        user_id: c.fx.user.to_string(),
                        ..Default::default()
                    }))
                    .await
            }
        ),
        row!(
            "Tenant.ListByDevAddrPrefixOverlap",
            Global,
            GlobalAdmin,
            READ,
            |c| {
                c.tenants()
                    .list_by_dev_addr_prefix_overlap(c.req(
                        pb::ListTenantsByDevAddrPrefixOverlapRequest {
                            dev_addr_prefix: "26000000/7".into(),
                        },
                    ))
                    .await
            }
        ),
        row!("Tenant.AddUser", Tenant, TenantAdmin, WRITE, |c| {
            let user = c.new_user(false).await;
            c.tenants()
                .add_user(c.req(pb::AddTenantUserRequest {
                    tenant_user: Some(pb::TenantUser {
                        tenant_id: c.fx.tenant.to_string(),
                        user_id: user.to_string(),
                        ..Default::default()
                    }),
                }))
                .await
        }),
        row!("Tenant.GetUser", Tenant, TenantAdmin, READ, |c| {
            c.tenants()
                .get_user(c.req(pb::GetTenantUserRequest {
                    tenant_id: c.fx.tenant.to_string(),
                    user_id: c.fx.user.to_string(),
                }))
                .await
        }),
        row!("Tenant.UpdateUser", Tenant, TenantAdmin, WRITE, |c| {
            c.tenants()
                .update_user(c.req(pb::UpdateTenantUserRequest {
                    tenant_user: Some(pb::TenantUser {
                        tenant_id: c.fx.tenant.to_string(),
                        user_id: c.fx.user.to_string(),
                        ..Default::default()
                    }),
                }))
                .await
        }),
        row!("Tenant.DeleteUser", Tenant, TenantAdmin, WRITE, |c| {
            let user = c.new_user(true).await;
            c.tenants()
                .delete_user(c.req(pb::DeleteTenantUserRequest {
                    tenant_id: c.fx.tenant.to_string(),
                    user_id: user.to_string(),
                }))
                .await
        }),
        row!("Tenant.ListUsers", Tenant, TenantAdmin, READ, |c| {
            c.tenants()
                .list_users(c.req(pb::ListTenantUsersRequest {
                    tenant_id: c.fx.tenant.to_string(),
                    limit: 10,
                    offset: 0,
                }))
                .await
        }),
        // ---- UserService ----
        row!("User.Create", Global, GlobalAdmin, WRITE, |c| {
            c.users()
                .create(c.req(pb::CreateUserRequest {
                    user: Some(pb::User {
                        email: format!("created-{}@example.com", Uuid::new_v4()),
                        is_active: true,
                        ..Default::default()
                    }),
                    password: "a long password".into(),
                    tenants: Vec::new(),
                }))
                .await
        }),
        row!("User.Get(another user)", Global, GlobalAdmin, READ, |c| {
            c.users()
                .get(c.req(pb::GetUserRequest {
                    id: c.fx.user.to_string(),
                }))
                .await
        }),
        row!("User.Get(self)", OwnUser, Anyone, READ, |c| {
            c.users()
                .get(c.req(pb::GetUserRequest {
                    id: c.me.unwrap().to_string(),
                }))
                .await
        }),
        row!("User.Update", Global, GlobalAdmin, WRITE, |c| {
            c.users()
                .update(c.req(pb::UpdateUserRequest {
                    user: Some(pb::User {
                        id: c.fx.user.to_string(),
                        email: c.fx.user_email.clone(),
                        is_active: true,
                        note: format!("note {}", uniq()),
                        ..Default::default()
                    }),
                }))
                .await
        }),
        row!("User.Delete", Global, GlobalAdmin, WRITE, |c| {
            let user = c.new_user(true).await;
            c.users()
                .delete(c.req(pb::DeleteUserRequest {
                    id: user.to_string(),
                }))
                .await
        }),
        row!("User.List", Global, GlobalAdmin, READ, |c| {
            c.users()
                .list(c.req(pb::ListUsersRequest {
                    limit: 10,
                    offset: 0,
                }))
                .await
        }),
        row!(
            "User.UpdatePassword(another user)",
            Global,
            GlobalAdmin,
            WRITE,
            |c| {
                c.users()
                    .update_password(c.req(pb::UpdateUserPasswordRequest {
                        user_id: c.fx.user.to_string(),
                        password: "another long password".into(),
                    }))
                    .await
            }
        ),
        row!("User.UpdatePassword(self)", OwnUser, Anyone, WRITE, |c| {
            c.users()
                .update_password(c.req(pb::UpdateUserPasswordRequest {
                    user_id: c.me.unwrap().to_string(),
                    password: "my new long password".into(),
                }))
                .await
        }),
        // ---- ApplicationService ----
        row!("Application.Create", Tenant, DeviceAdmin, WRITE, |c| {
            c.apps()
                .create(c.req(pb::CreateApplicationRequest {
                    application: Some(pb::Application {
                        name: format!("app {}", uniq()),
                        tenant_id: c.fx.tenant.to_string(),
                        ..Default::default()
                    }),
                }))
                .await
        }),
        row!("Application.Get", Tenant, Member, READ, |c| {
            c.apps()
                .get(c.req(pb::GetApplicationRequest {
                    id: c.fx.app.to_string(),
                }))
                .await
        }),
        row!("Application.Update", Tenant, DeviceAdmin, WRITE, |c| {
            c.apps()
                .update(c.req(pb::UpdateApplicationRequest {
                    application: Some(pb::Application {
                        id: c.fx.app.to_string(),
                        name: "renamed app".into(),
                        tenant_id: c.fx.tenant.to_string(),
                        ..Default::default()
                    }),
                }))
                .await
        }),
        row!("Application.Delete", Tenant, DeviceAdmin, WRITE, |c| {
            let app = c.new_app().await;
            c.apps()
                .delete(c.req(pb::DeleteApplicationRequest {
                    id: app.to_string(),
                }))
                .await
        }),
        row!("Application.List", Tenant, Member, READ, |c| {
            c.apps()
                .list(c.req(pb::ListApplicationsRequest {
                    limit: 10,
                    tenant_id: c.fx.tenant.to_string(),
                    ..Default::default()
                }))
                .await
        }),
        row!("Application.ListIntegrations", Tenant, Member, READ, |c| {
            c.apps()
                .list_integrations(c.req(pb::ListIntegrationsRequest {
                    application_id: c.fx.app.to_string(),
                }))
                .await
        }),
        row!(
            "Application.CreateHttpIntegration",
            Tenant,
            DeviceAdmin,
            WRITE,
            |c| {
                let app = c.new_app().await;
                c.apps()
                    .create_http_integration(c.req(pb::CreateHttpIntegrationRequest {
                        integration: Some(http_integration(app)),
                    }))
                    .await
            }
        ),
        row!(
            "Application.GetHttpIntegration",
            Tenant,
            Member,
            READ,
            |c| {
                c.apps()
                    .get_http_integration(c.req(pb::GetHttpIntegrationRequest {
                        application_id: c.fx.app.to_string(),
                    }))
                    .await
            }
        ),
        row!(
            "Application.UpdateHttpIntegration",
            Tenant,
            DeviceAdmin,
            WRITE,
            |c| {
                c.apps()
                    .update_http_integration(c.req(pb::UpdateHttpIntegrationRequest {
                        integration: Some(http_integration(c.fx.app)),
                    }))
                    .await
            }
        ),
        row!(
            "Application.DeleteHttpIntegration",
            Tenant,
            DeviceAdmin,
            WRITE,
            |c| {
                let app = c.new_app().await;
                add_http_integration(c.api, app).await;
                c.apps()
                    .delete_http_integration(c.req(pb::DeleteHttpIntegrationRequest {
                        application_id: app.to_string(),
                    }))
                    .await
            }
        ),
        row!(
            "Application.ListDeviceProfiles",
            Tenant,
            Member,
            READ,
            |c| {
                c.apps()
                    .list_device_profiles(c.req(pb::ListApplicationDeviceProfilesRequest {
                        application_id: c.fx.app.to_string(),
                    }))
                    .await
            }
        ),
        row!("Application.ListDeviceTags", Tenant, Member, READ, |c| {
            c.apps()
                .list_device_tags(c.req(pb::ListApplicationDeviceTagsRequest {
                    application_id: c.fx.app.to_string(),
                }))
                .await
        }),
        // ---- DeviceProfileService ----
        row!("DeviceProfile.Create", Tenant, DeviceAdmin, WRITE, |c| {
            c.profiles()
                .create(c.req(pb::CreateDeviceProfileRequest {
                    device_profile: Some(profile_message(
                        c.fx.tenant,
                        &format!("profile {}", uniq()),
                    )),
                }))
                .await
        }),
        row!("DeviceProfile.Get", Tenant, Member, READ, |c| {
            c.profiles()
                .get(c.req(pb::GetDeviceProfileRequest {
                    id: c.fx.profile.to_string(),
                }))
                .await
        }),
        row!("DeviceProfile.Update", Tenant, DeviceAdmin, WRITE, |c| {
            c.profiles()
                .update(c.req(pb::UpdateDeviceProfileRequest {
                    device_profile: Some(pb::DeviceProfile {
                        id: c.fx.profile.to_string(),
                        ..profile_message(c.fx.tenant, "renamed profile")
                    }),
                }))
                .await
        }),
        row!("DeviceProfile.Delete", Tenant, DeviceAdmin, WRITE, |c| {
            let profile = c
                .api
                .device_profile(&eu868_profile(c.fx.tenant, format!("doomed {}", uniq())))
                .await;
            c.profiles()
                .delete(c.req(pb::DeleteDeviceProfileRequest {
                    id: profile.to_string(),
                }))
                .await
        }),
        row!("DeviceProfile.List", Tenant, Member, READ, |c| {
            c.profiles()
                .list(c.req(pb::ListDeviceProfilesRequest {
                    limit: 10,
                    tenant_id: c.fx.tenant.to_string(),
                    ..Default::default()
                }))
                .await
        }),
        row!(
            "DeviceProfile.ListAdrAlgorithms",
            Global,
            Anyone,
            READ,
            |c| {
                c.profiles()
                    .list_adr_algorithms(c.req(pbjson_types::Empty {}))
                    .await
            }
        ),
        // No repository: empty lists for any authenticated caller.
        row!("DeviceProfile.ListVendors", Global, Anyone, READ, |c| {
            c.profiles()
                .list_vendors(c.req(pb::ListDeviceProfileVendorsRequest {
                    limit: 10,
                    offset: 0,
                }))
                .await
        }),
        row!("DeviceProfile.ListDevices", Global, Anyone, READ, |c| {
            c.profiles()
                .list_devices(c.req(pb::ListDeviceProfileDevicesRequest {
                    limit: 10,
                    offset: 0,
                    vendor_id: Uuid::new_v4().to_string(),
                }))
                .await
        }),
        // ---- DeviceService ----
        row!("Device.Create", Tenant, DeviceAdmin, WRITE, |c| {
            c.devices()
                .create(c.req(pb::CreateDeviceRequest {
                    device: Some(c.device_message(new_eui(), "new")),
                }))
                .await
        }),
        row!("Device.Get", Tenant, Member, READ, |c| {
            c.devices()
                .get(c.req(pb::GetDeviceRequest {
                    dev_eui: c.fx.dev.to_string(),
                }))
                .await
        }),
        row!("Device.Update", Tenant, DeviceAdmin, WRITE, |c| {
            c.devices()
                .update(c.req(pb::UpdateDeviceRequest {
                    device: Some(c.device_message(c.fx.dev, "renamed device")),
                }))
                .await
        }),
        row!("Device.Delete", Tenant, DeviceAdmin, WRITE, |c| {
            let eui = c.new_device().await;
            c.devices()
                .delete(c.req(pb::DeleteDeviceRequest {
                    dev_eui: eui.to_string(),
                }))
                .await
        }),
        row!("Device.List", Tenant, Member, READ, |c| {
            c.devices()
                .list(c.req(pb::ListDevicesRequest {
                    limit: 10,
                    application_id: c.fx.app.to_string(),
                    ..Default::default()
                }))
                .await
        }),
        row!("Device.CreateKeys", Tenant, DeviceAdmin, WRITE, |c| {
            let eui = c.new_device().await;
            c.devices()
                .create_keys(c.req(pb::CreateDeviceKeysRequest {
                    device_keys: Some(device_keys(eui)),
                }))
                .await
        }),
        row!("Device.GetKeys", Tenant, Member, READ, |c| {
            c.devices()
                .get_keys(c.req(pb::GetDeviceKeysRequest {
                    dev_eui: c.fx.dev.to_string(),
                }))
                .await
        }),
        row!("Device.UpdateKeys", Tenant, DeviceAdmin, WRITE, |c| {
            c.devices()
                .update_keys(c.req(pb::UpdateDeviceKeysRequest {
                    device_keys: Some(device_keys(c.fx.dev)),
                }))
                .await
        }),
        row!("Device.DeleteKeys", Tenant, DeviceAdmin, WRITE, |c| {
            let eui = c.new_device().await;
            admin_create_keys(c.api, eui).await;
            c.devices()
                .delete_keys(c.req(pb::DeleteDeviceKeysRequest {
                    dev_eui: eui.to_string(),
                }))
                .await
        }),
        row!("Device.FlushDevNonces", Tenant, DeviceAdmin, WRITE, |c| {
            c.devices()
                .flush_dev_nonces(c.req(pb::FlushDevNoncesRequest {
                    dev_eui: c.fx.dev.to_string(),
                }))
                .await
        }),
        row!("Device.Activate", Tenant, DeviceAdmin, WRITE, |c| {
            let eui = c.new_device().await;
            c.devices()
                .activate(c.req(pb::ActivateDeviceRequest {
                    device_activation: Some(activation(eui)),
                }))
                .await
        }),
        row!("Device.Deactivate", Tenant, DeviceAdmin, WRITE, |c| {
            let eui = c.new_device().await;
            admin_activate(c.api, eui).await;
            c.devices()
                .deactivate(c.req(pb::DeactivateDeviceRequest {
                    dev_eui: eui.to_string(),
                }))
                .await
        }),
        row!("Device.GetActivation", Tenant, Member, READ, |c| {
            c.devices()
                .get_activation(c.req(pb::GetDeviceActivationRequest {
                    dev_eui: c.fx.dev.to_string(),
                }))
                .await
        }),
        row!(
            "Device.GetRandomDevAddr(dev_eui)",
            Tenant,
            Member,
            READ,
            |c| {
                c.devices()
                    .get_random_dev_addr(c.req(pb::GetRandomDevAddrRequest {
                        dev_eui: c.fx.dev.to_string(),
                        tenant_id: String::new(),
                    }))
                    .await
            }
        ),
        row!(
            "Device.GetRandomDevAddr(tenant_id)",
            Tenant,
            Member,
            READ,
            |c| {
                c.devices()
                    .get_random_dev_addr(c.req(pb::GetRandomDevAddrRequest {
                        dev_eui: String::new(),
                        tenant_id: c.fx.tenant.to_string(),
                    }))
                    .await
            }
        ),
        row!("Device.Enqueue", Tenant, DeviceAdmin, WRITE, |c| {
            c.devices()
                .enqueue(c.req(pb::EnqueueDeviceQueueItemRequest {
                    queue_item: Some(pb::DeviceQueueItem {
                        dev_eui: c.fx.dev.to_string(),
                        f_port: 20,
                        data: vec![4, 5, 6],
                        ..Default::default()
                    }),
                    flush_queue: false,
                }))
                .await
        }),
        row!("Device.FlushQueue", Tenant, DeviceAdmin, WRITE, |c| {
            let eui = c.new_device().await;
            c.devices()
                .flush_queue(c.req(pb::FlushDeviceQueueRequest {
                    dev_eui: eui.to_string(),
                }))
                .await
        }),
        row!("Device.GetQueue", Tenant, Member, READ, |c| {
            c.devices()
                .get_queue(c.req(pb::GetDeviceQueueItemsRequest {
                    dev_eui: c.fx.dev.to_string(),
                    count_only: false,
                }))
                .await
        }),
        row!("Device.GetNextFCntDown", Tenant, Member, READ, |c| {
            c.devices()
                .get_next_f_cnt_down(c.req(pb::GetDeviceNextFCntDownRequest {
                    dev_eui: c.fx.dev.to_string(),
                }))
                .await
        }),
        // ---- GatewayService ----
        row!("Gateway.Create", Tenant, GatewayAdmin, WRITE, |c| {
            c.gateways()
                .create(c.req(pb::CreateGatewayRequest {
                    gateway: Some(gateway_message(c.fx.tenant, new_eui(), "new")),
                }))
                .await
        }),
        row!("Gateway.Get", Tenant, Member, READ, |c| {
            c.gateways()
                .get(c.req(pb::GetGatewayRequest {
                    gateway_id: c.fx.gateway.to_string(),
                }))
                .await
        }),
        row!("Gateway.GetMetrics", Tenant, Member, READ, |c| {
            let now = std::time::SystemTime::now();
            c.gateways()
                .get_metrics(c.req(pb::GetGatewayMetricsRequest {
                    gateway_id: c.fx.gateway.to_string(),
                    start: Some(ns_core::api::service::timestamp(now)),
                    end: Some(ns_core::api::service::timestamp(now)),
                    aggregation: 0,
                }))
                .await
        }),
        row!("Gateway.GetDutyCycleMetrics", Tenant, Member, READ, |c| {
            let now = std::time::SystemTime::now();
            c.gateways()
                .get_duty_cycle_metrics(c.req(pb::GetGatewayDutyCycleMetricsRequest {
                    gateway_id: c.fx.gateway.to_string(),
                    start: Some(ns_core::api::service::timestamp(now)),
                    end: Some(ns_core::api::service::timestamp(now)),
                }))
                .await
        }),
        row!("Gateway.Update", Tenant, GatewayAdmin, WRITE, |c| {
            c.gateways()
                .update(c.req(pb::UpdateGatewayRequest {
                    gateway: Some(gateway_message(c.fx.tenant, c.fx.gateway, "renamed")),
                }))
                .await
        }),
        row!("Gateway.Delete", Tenant, GatewayAdmin, WRITE, |c| {
            let gateway = Gateway::new(new_eui(), c.fx.tenant, "doomed");
            c.api.db.storage.create_gateway(&gateway).await.unwrap();
            c.gateways()
                .delete(c.req(pb::DeleteGatewayRequest {
                    gateway_id: gateway.gateway_id.to_string(),
                }))
                .await
        }),
        row!("Gateway.List(tenant_id)", Tenant, Member, READ, |c| {
            c.gateways()
                .list(c.req(pb::ListGatewaysRequest {
                    limit: 10,
                    tenant_id: c.fx.tenant.to_string(),
                    ..Default::default()
                }))
                .await
        }),
        // Without tenant_id: every tenant's gateways.
        row!(
            "Gateway.List(all tenants)",
            Global,
            GlobalAdmin,
            READ,
            |c| {
                c.gateways()
                    .list(c.req(pb::ListGatewaysRequest {
                        limit: 10,
                        ..Default::default()
                    }))
                    .await
            }
        ),
        // ---- InternalService ----
        row!(
            "Internal.CreateApiKey(tenant)",
            Tenant,
            TenantAdmin,
            WRITE,
            |c| {
                c.internal()
                    .create_api_key(c.req(pb::CreateApiKeyRequest {
                        api_key: Some(pb::ApiKey {
                            name: "new key".into(),
                            tenant_id: c.fx.tenant.to_string(),
                            ..Default::default()
                        }),
                    }))
                    .await
            }
        ),
        row!(
            "Internal.CreateApiKey(admin)",
            Global,
            GlobalAdmin,
            WRITE,
            |c| {
                c.internal()
                    .create_api_key(c.req(pb::CreateApiKeyRequest {
                        api_key: Some(pb::ApiKey {
                            name: "new admin key".into(),
                            is_admin: true,
                            ..Default::default()
                        }),
                    }))
                    .await
            }
        ),
        row!(
            "Internal.DeleteApiKey(tenant)",
            Tenant,
            TenantAdmin,
            WRITE,
            |c| {
                let key = ApiKey::new("doomed", Some(c.fx.tenant));
                c.api.db.storage.create_api_key(&key).await.unwrap();
                c.internal()
                    .delete_api_key(c.req(pb::DeleteApiKeyRequest {
                        id: key.id.to_string(),
                    }))
                    .await
            }
        ),
        row!(
            "Internal.DeleteApiKey(admin)",
            Global,
            GlobalAdmin,
            WRITE,
            |c| {
                let key = ApiKey::new("doomed admin", None);
                c.api.db.storage.create_api_key(&key).await.unwrap();
                c.internal()
                    .delete_api_key(c.req(pb::DeleteApiKeyRequest {
                        id: key.id.to_string(),
                    }))
                    .await
            }
        ),
        row!(
            "Internal.ListApiKeys(tenant)",
            Tenant,
            TenantAdmin,
            READ,
            |c| {
                c.internal()
                    .list_api_keys(c.req(pb::ListApiKeysRequest {
                        limit: 10,
                        tenant_id: c.fx.tenant.to_string(),
                        ..Default::default()
                    }))
                    .await
            }
        ),
        row!(
            "Internal.ListApiKeys(admin)",
            Global,
            GlobalAdmin,
            READ,
            |c| {
                c.internal()
                    .list_api_keys(c.req(pb::ListApiKeysRequest {
                        limit: 10,
                        is_admin: true,
                        ..Default::default()
                    }))
                    .await
            }
        ),
        // Scoped to what the caller may see: anyone may search.
        row!("Internal.GlobalSearch", Global, Anyone, READ, |c| {
            c.internal()
                .global_search(c.req(pb::GlobalSearchRequest {
                    search: "A".into(),
                    limit: 10,
                    offset: 0,
                }))
                .await
        }),
        row!(
            "Internal.GetDevicesSummary(tenant_id)",
            Tenant,
            Member,
            READ,
            |c| {
                c.internal()
                    .get_devices_summary(c.req(pb::GetDevicesSummaryRequest {
                        tenant_id: c.fx.tenant.to_string(),
                    }))
                    .await
            }
        ),
        row!(
            "Internal.GetDevicesSummary(all tenants)",
            Global,
            GlobalAdmin,
            READ,
            |c| {
                c.internal()
                    .get_devices_summary(c.req(pb::GetDevicesSummaryRequest {
                        tenant_id: String::new(),
                    }))
                    .await
            }
        ),
        row!(
            "Internal.GetGatewaysSummary(tenant_id)",
            Tenant,
            Member,
            READ,
            |c| {
                c.internal()
                    .get_gateways_summary(c.req(pb::GetGatewaysSummaryRequest {
                        tenant_id: c.fx.tenant.to_string(),
                    }))
                    .await
            }
        ),
        row!(
            "Internal.GetGatewaysSummary(all tenants)",
            Global,
            GlobalAdmin,
            READ,
            |c| {
                c.internal()
                    .get_gateways_summary(c.req(pb::GetGatewaysSummaryRequest {
                        tenant_id: String::new(),
                    }))
                    .await
            }
        ),
        // A device's live events: reading the device.
        row!("Internal.StreamDeviceEvents", Tenant, Member, READ, |c| {
            c.internal()
                .stream_device_events(c.req(pb::StreamDeviceEventsRequest {
                    dev_eui: c.fx.dev.to_string(),
                }))
                .await
        }),
        // Live frame logs: reading the device, the gateway.
        row!("Internal.StreamDeviceFrames", Tenant, Member, READ, |c| {
            c.internal()
                .stream_device_frames(c.req(pb::StreamDeviceFramesRequest {
                    dev_eui: c.fx.dev.to_string(),
                }))
                .await
        }),
        row!("Internal.StreamGatewayFrames", Tenant, Member, READ, |c| {
            c.internal()
                .stream_gateway_frames(c.req(pb::StreamGatewayFramesRequest {
                    gateway_id: c.fx.gateway.to_string(),
                }))
                .await
        }),
        row!("Internal.ListRegions", Global, Anyone, READ, |c| {
            c.internal()
                .list_regions(c.req(pbjson_types::Empty {}))
                .await
        }),
        row!("Internal.GetRegion", Global, Anyone, READ, |c| {
            c.internal()
                .get_region(c.req(pb::GetRegionRequest { id: "eu868".into() }))
                .await
        }),
        row!("Internal.GetVersion", Global, Anyone, READ, |c| {
            c.internal()
                .get_version(c.req(pbjson_types::Empty {}))
                .await
        }),
        row!("Internal.Profile", Profile, Anyone, READ, |c| {
            c.internal().profile(c.req(pbjson_types::Empty {})).await
        }),
        // Asked before logging in: they need no token, and a token changes
        // nothing.
        row!("Internal.Settings", Global, Anyone, READ, |c| {
            c.internal().settings(c.req(pbjson_types::Empty {})).await
        }),
        row!("Internal.Login", Global, Anyone, READ, |c| {
            // A user of its own: the callers change their passwords above.
            let mut user = User::new(format!("login-{}@example.com", Uuid::new_v4()));
            user.password_hash = c.api.state.hasher.hash("a long password");
            c.api.db.storage.create_user(&user).await.unwrap();
            c.internal()
                .login(c.req(pb::LoginRequest {
                    email: user.email,
                    password: "a long password".into(),
                }))
                .await
        }),
    ]
}

// ---------------------------------------------------------------------------
// The tests.

fn outcome(result: &Result<(), Status>) -> String {
    match result {
        Ok(()) => "OK".into(),
        Err(s) => format!("{:?} ({})", s.code(), s.message()),
    }
}

async fn authorization_matrix(api: &TestApi) {
    let started = Instant::now();
    let shared = world(api).await;
    let rows = rows();
    let (mut cases, mut skipped) = (0_usize, 0_usize);
    let mut mismatches = Vec::new();
    for row in &rows {
        for role in ROLES {
            for &target in row.targets() {
                let Some(want) = expected(role, row, target) else {
                    skipped += 1;
                    continue;
                };
                let fresh;
                let w = if row.fresh_world {
                    fresh = world(api).await;
                    &fresh
                } else {
                    &shared
                };
                let caller = w.caller(role);
                let ctx = Ctx {
                    api,
                    fx: if target == Target::Other { &w.b } else { &w.a },
                    token: &caller.token,
                    me: caller.user,
                };
                let got = tokio::time::timeout(Duration::from_secs(30), (row.call)(&ctx))
                    .await
                    .unwrap_or_else(|_| Err(Status::deadline_exceeded("no answer in 30 s")));
                cases += 1;
                let ok = match (want, &got) {
                    (Expect::Allow, Ok(())) => true,
                    (Expect::Deny(code), Err(s)) => s.code() == code,
                    _ => false,
                };
                if !ok {
                    let want = match want {
                        Expect::Allow => "allowed (OK)".to_string(),
                        Expect::Deny(code) => format!("denied ({code:?})"),
                    };
                    mismatches.push(format!(
                        "{:<42} {:<18} {:<6} expected {want}, got {}",
                        row.name,
                        format!("{role:?}"),
                        format!("{target:?}"),
                        outcome(&got)
                    ));
                }
            }
        }
    }
    eprintln!(
        "authorization matrix ({:?}): {} rows, {cases} cases ({skipped} not applicable), \
         {} mismatches, {:.1} s",
        api.db.storage.backend(),
        rows.len(),
        mismatches.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {cases} cases differ from docs/api.md's role table \
         (method, caller, target, expected, got):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// A sample of the methods answered UNIMPLEMENTED: for a global admin,
/// UNIMPLEMENTED (not a refusal, not a success).
async fn unimplemented_methods_answer_unimplemented(api: &TestApi) {
    let w = world(api).await;
    let fx = &w.a;
    let ctx = Ctx {
        api,
        fx,
        token: &api.admin,
        me: Some(api.admin_user.id),
    };
    let c = &ctx;
    let app = fx.app.to_string();
    let dev = fx.dev.to_string();
    let gw = fx.gateway.to_string();
    // `name: client.method(message)`, called as the admin.
    macro_rules! calls {
        ($($name:literal: $client:ident.$method:ident($message:expr)),* $(,)?) => {
            vec![$(($name, c.$client().$method(c.req($message)).await.map(drop))),*]
        };
    }
    let results: Vec<(&str, Result<(), Status>)> = calls![
        "Application.CreateInfluxDbIntegration": apps.create_influx_db_integration(
            pb::CreateInfluxDbIntegrationRequest {
                integration: Some(pb::InfluxDbIntegration {
                    application_id: app.clone(),
                    ..Default::default()
                }),
            }
        ),
        "Application.GetThingsBoardIntegration": apps.get_things_board_integration(
            pb::GetThingsBoardIntegrationRequest {
                application_id: app.clone(),
            }
        ),
        "Application.DeleteAwsSnsIntegration": apps.delete_aws_sns_integration(
            pb::DeleteAwsSnsIntegrationRequest {
                application_id: app.clone(),
            }
        ),
        "Application.GenerateMqttIntegrationClientCertificate": apps
            .generate_mqtt_integration_client_certificate(
                pb::GenerateMqttIntegrationClientCertificateRequest {
                    application_id: app,
                }
            ),
        "DeviceProfile.GetByProfileId": profiles.get_by_profile_id(
            pb::GetDeviceProfileByProfileIdRequest::default()
        ),
        "DeviceProfile.GetVendor": profiles.get_vendor(
            pb::GetDeviceProfileVendorRequest::default()
        ),
        "DeviceProfile.DeleteDevice": profiles.delete_device(
            pb::DeleteDeviceProfileDeviceRequest::default()
        ),
        "Device.GetMetrics": devices.get_metrics(pb::GetDeviceMetricsRequest {
            dev_eui: dev.clone(),
            ..Default::default()
        }),
        "Device.GetLinkMetrics": devices.get_link_metrics(pb::GetDeviceLinkMetricsRequest {
            dev_eui: dev,
            ..Default::default()
        }),
        "Gateway.GenerateClientCertificate": gateways.generate_client_certificate(
            pb::GenerateGatewayClientCertificateRequest {
                gateway_id: gw,
            }
        ),
        "Gateway.ListRelayGateways": gateways.list_relay_gateways(
            pb::ListRelayGatewaysRequest::default()
        ),
        "Internal.OpenIdConnectLogin": internal.open_id_connect_login(
            pb::OpenIdConnectLoginRequest::default()
        ),
        "Internal.OAuth2Login": internal.o_auth2_login(pb::OAuth2LoginRequest::default()),
    ];
    let wrong: Vec<String> = results
        .iter()
        .filter(|(_, r)| !matches!(r, Err(s) if s.code() == Code::Unimplemented))
        .map(|(name, r)| format!("{name}: {}", outcome(r)))
        .collect();
    assert!(
        wrong.is_empty(),
        "expected UNIMPLEMENTED:\n{}",
        wrong.join("\n")
    );
}
