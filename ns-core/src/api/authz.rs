//! Authorization: who may do what, in one table.
//!
//! A caller is a [`Principal`]: a user (a global administrator, or a member
//! of tenants with roles there) or an API key (global, or scoped to one
//! tenant, optionally read-only). An operation is an [`Action`]: a kind of
//! object, a [`Verb`] and the object's tenant when it has one. [`allowed`]
//! decides from [`RULES`], the only place where permissions are written
//! down; handlers only name the action.
//!
//! The rules follow ChirpStack's: global administrators may do anything;
//! tenant administrators (and tenant API keys) may do anything inside their
//! tenant; device administrators manage applications, device profiles and
//! devices; gateway administrators manage gateways; every member may read
//! what is in the tenant. Read-only keys may only read.

use uuid::Uuid;

use crate::model::{ApiKey, TenantUser, User};

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A logged-in user with its tenant memberships.
    User {
        /// The user.
        user: User,
        /// Its memberships, with its roles in each tenant.
        tenants: Vec<TenantUser>,
    },
    /// An API key.
    Key(ApiKey),
}

impl Principal {
    /// Whether it may do anything (a global admin user or key).
    pub fn is_admin(&self) -> bool {
        match self {
            Self::User { user, .. } => user.is_admin,
            Self::Key(key) => key.is_admin && !key.is_read_only,
        }
    }

    /// Its roles in `tenant`, if it has any there.
    pub fn roles_in(&self, tenant: Uuid) -> Option<Roles> {
        match self {
            Self::User { tenants, .. } => {
                tenants
                    .iter()
                    .find(|t| t.tenant_id == tenant)
                    .map(|t| Roles {
                        admin: t.is_admin,
                        device_admin: t.is_device_admin,
                        gateway_admin: t.is_gateway_admin,
                    })
            }
            // A tenant key administers its tenant.
            Self::Key(key) if key.tenant_id == Some(tenant) => Some(Roles {
                admin: true,
                device_admin: true,
                gateway_admin: true,
            }),
            Self::Key(_) => None,
        }
    }

    /// The user behind it, if it is a user.
    pub fn user(&self) -> Option<&User> {
        match self {
            Self::User { user, .. } => Some(user),
            Self::Key(_) => None,
        }
    }

    /// Whether it may only read.
    pub fn read_only(&self) -> bool {
        matches!(self, Self::Key(key) if key.is_read_only)
    }
}

/// A principal's roles in one tenant (membership alone gives read access).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles {
    /// Tenant administrator.
    pub admin: bool,
    /// Device administrator.
    pub device_admin: bool,
    /// Gateway administrator.
    pub gateway_admin: bool,
}

/// The kinds of object the API manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Tenants themselves.
    Tenant,
    /// A tenant's users (memberships).
    TenantUser,
    /// Users (global objects).
    User,
    /// The caller's own user: reading it, changing its password.
    OwnUser,
    /// Applications and their integrations.
    Application,
    /// Device profiles.
    DeviceProfile,
    /// Devices, their keys, activation and queue.
    Device,
    /// Gateways.
    Gateway,
    /// Global (admin) API keys.
    AdminApiKey,
    /// A tenant's API keys.
    TenantApiKey,
    /// Server information (version, regions): any authenticated caller.
    ServerInfo,
}

/// What is done to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Create one.
    Create,
    /// Read one.
    Read,
    /// List them (in the tenant, or all).
    List,
    /// Change one.
    Update,
    /// Delete one.
    Delete,
}

impl Verb {
    /// Whether the verb only reads.
    pub fn reads(self) -> bool {
        matches!(self, Self::Read | Self::List)
    }
}

/// An operation to authorize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    /// The kind of object.
    pub kind: Kind,
    /// What is done.
    pub verb: Verb,
    /// The tenant the object belongs to (or is created in, or is listed
    /// from); `None` for global objects and global lists.
    pub tenant: Option<Uuid>,
}

impl Action {
    /// `verb` on a `kind` object of `tenant`.
    pub fn new(kind: Kind, verb: Verb, tenant: Option<Uuid>) -> Self {
        Self { kind, verb, tenant }
    }
}

/// Who, inside a tenant, a rule lets through (global admins always pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Nobody but global administrators.
    GlobalAdmin,
    /// Tenant administrators.
    TenantAdmin,
    /// Tenant and device administrators.
    DeviceAdmin,
    /// Tenant and gateway administrators.
    GatewayAdmin,
    /// Every member of the tenant.
    Member,
    /// Any authenticated caller, with or without a tenant.
    Anyone,
}

/// The rule table: for each kind of object and verb, who may.
pub const RULES: &[(Kind, &[Verb], Who)] = {
    use Kind::*;
    use Verb::*;
    const ALL: &[Verb] = &[Create, Read, List, Update, Delete];
    &[
        (Tenant, &[Create, Update, Delete], Who::GlobalAdmin),
        (Tenant, &[Read], Who::Member),
        // A global list is for admins; members list their own tenants,
        // which the handler does by filtering, not by this rule.
        (Tenant, &[List], Who::GlobalAdmin),
        (TenantUser, ALL, Who::TenantAdmin),
        (User, ALL, Who::GlobalAdmin),
        (OwnUser, &[Read, Update], Who::Anyone),
        (Application, &[Create, Update, Delete], Who::DeviceAdmin),
        (Application, &[Read, List], Who::Member),
        (DeviceProfile, &[Create, Update, Delete], Who::DeviceAdmin),
        (DeviceProfile, &[Read, List], Who::Member),
        (Device, &[Create, Update, Delete], Who::DeviceAdmin),
        (Device, &[Read, List], Who::Member),
        (Gateway, &[Create, Update, Delete], Who::GatewayAdmin),
        (Gateway, &[Read, List], Who::Member),
        (AdminApiKey, ALL, Who::GlobalAdmin),
        (TenantApiKey, ALL, Who::TenantAdmin),
        (ServerInfo, &[Read, List], Who::Anyone),
    ]
};

/// Whether `principal` may perform `action`.
pub fn allowed(principal: &Principal, action: Action) -> bool {
    if principal.read_only() && !action.verb.reads() {
        return false;
    }
    let Some(&(_, _, who)) = RULES
        .iter()
        .find(|(kind, verbs, _)| *kind == action.kind && verbs.contains(&action.verb))
    else {
        return false;
    };
    if principal.is_admin() || (principal.read_only() && is_admin_key(principal)) {
        return true;
    }
    if who == Who::Anyone {
        return true;
    }
    let Some(roles) = action.tenant.and_then(|t| principal.roles_in(t)) else {
        return false;
    };
    match who {
        Who::GlobalAdmin => false,
        Who::TenantAdmin => roles.admin,
        Who::DeviceAdmin => roles.admin || roles.device_admin,
        Who::GatewayAdmin => roles.admin || roles.gateway_admin,
        Who::Member | Who::Anyone => true,
    }
}

/// A read-only global key: may read everything (writes were refused above).
fn is_admin_key(principal: &Principal) -> bool {
    matches!(principal, Principal::Key(key) if key.is_admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(admin: bool, memberships: &[(Uuid, Roles)]) -> Principal {
        let mut user = User::new("u@example.com");
        user.is_admin = admin;
        let tenants = memberships
            .iter()
            .map(|(t, r)| {
                let mut m = TenantUser::new(*t, user.id);
                m.is_admin = r.admin;
                m.is_device_admin = r.device_admin;
                m.is_gateway_admin = r.gateway_admin;
                m
            })
            .collect();
        Principal::User { user, tenants }
    }

    #[test]
    fn every_kind_has_every_verb_ruled_once() {
        use Kind::*;
        use Verb::*;
        for kind in [
            Tenant,
            TenantUser,
            User,
            Application,
            DeviceProfile,
            Device,
            Gateway,
            AdminApiKey,
            TenantApiKey,
        ] {
            for verb in [Create, Read, List, Update, Delete] {
                let n = RULES
                    .iter()
                    .filter(|(k, v, _)| *k == kind && v.contains(&verb))
                    .count();
                assert_eq!(n, 1, "{kind:?} {verb:?}");
            }
        }
    }

    #[test]
    fn roles_decide_inside_their_tenant_only() {
        let (t, other) = (Uuid::new_v4(), Uuid::new_v4());
        let member = user(false, &[(t, Roles::default())]);
        let devices = user(
            false,
            &[(
                t,
                Roles {
                    device_admin: true,
                    ..Roles::default()
                },
            )],
        );
        let gateways = user(
            false,
            &[(
                t,
                Roles {
                    gateway_admin: true,
                    ..Roles::default()
                },
            )],
        );
        let act = |kind, verb, tenant| Action::new(kind, verb, Some(tenant));
        assert!(allowed(&member, act(Kind::Device, Verb::Read, t)));
        assert!(!allowed(&member, act(Kind::Device, Verb::Create, t)));
        assert!(!allowed(&member, act(Kind::Device, Verb::Read, other)));
        assert!(allowed(&devices, act(Kind::Device, Verb::Delete, t)));
        assert!(!allowed(&devices, act(Kind::Gateway, Verb::Create, t)));
        assert!(allowed(&gateways, act(Kind::Gateway, Verb::Create, t)));
        assert!(!allowed(&gateways, act(Kind::Device, Verb::Update, t)));
        assert!(!allowed(&gateways, act(Kind::TenantUser, Verb::List, t)));
        assert!(!allowed(&member, act(Kind::Tenant, Verb::Update, t)));
        assert!(allowed(
            &member,
            Action::new(Kind::ServerInfo, Verb::Read, None)
        ));
        assert!(allowed(
            &user(true, &[]),
            act(Kind::Tenant, Verb::Delete, other)
        ));
    }

    #[test]
    fn keys_are_scoped_and_read_only_keys_only_read() {
        let (t, other) = (Uuid::new_v4(), Uuid::new_v4());
        let key = Principal::Key(ApiKey::new("k", Some(t)));
        let act = |kind, verb, tenant| Action::new(kind, verb, Some(tenant));
        assert!(allowed(&key, act(Kind::Device, Verb::Create, t)));
        assert!(allowed(&key, act(Kind::TenantApiKey, Verb::Create, t)));
        assert!(!allowed(&key, act(Kind::Device, Verb::Read, other)));
        assert!(!allowed(&key, act(Kind::Tenant, Verb::Update, t)));
        assert!(!allowed(&key, Action::new(Kind::User, Verb::List, None)));

        let mut ro = ApiKey::new("ro", Some(t));
        ro.is_read_only = true;
        let ro = Principal::Key(ro);
        assert!(allowed(&ro, act(Kind::Device, Verb::Read, t)));
        assert!(!allowed(&ro, act(Kind::Device, Verb::Update, t)));

        let mut admin_ro = ApiKey::new("admin ro", None);
        admin_ro.is_read_only = true;
        let admin_ro = Principal::Key(admin_ro);
        assert!(allowed(&admin_ro, act(Kind::Device, Verb::Read, other)));
        assert!(!allowed(&admin_ro, act(Kind::Device, Verb::Delete, other)));
        assert!(!admin_ro.is_admin());
    }
}
