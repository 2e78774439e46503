//! Users, their memberships of tenants, and API keys: who may use the
//! management API.

use sqlx::types::chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::{Object, StorageError, db_error, write_error};
use super::list::{Arg, Listing, Orders};
use super::rows::{db_time, stamps};
use super::{ListQuery, Page, Storage, execute, execute_by_key, fetch, with_pool};
use crate::model::{ApiKey, Stamps, TenantUser, User};

/// The columns of [`UserRow`].
macro_rules! user_columns {
    () => {
        "id, created_at, updated_at, email, is_admin, is_active, email_verified, note, \
         password_hash"
    };
}

/// A `user` row.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    email: String,
    is_admin: bool,
    is_active: bool,
    email_verified: bool,
    note: String,
    password_hash: String,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        let mut user = Self::new(r.email);
        user.id = r.id;
        user.is_admin = r.is_admin;
        user.is_active = r.is_active;
        user.email_verified = r.email_verified;
        user.note = r.note;
        user.password_hash = r.password_hash;
        user.stamps = stamps(r.created_at, r.updated_at);
        user
    }
}

/// A `tenant_user` row with the user's email.
#[derive(sqlx::FromRow)]
struct TenantUserRow {
    tenant_id: Uuid,
    user_id: Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    is_admin: bool,
    is_device_admin: bool,
    is_gateway_admin: bool,
    email: String,
}

impl From<TenantUserRow> for (TenantUser, String) {
    fn from(r: TenantUserRow) -> Self {
        let mut member = TenantUser::new(r.tenant_id, r.user_id);
        member.is_admin = r.is_admin;
        member.is_device_admin = r.is_device_admin;
        member.is_gateway_admin = r.is_gateway_admin;
        member.stamps = Stamps {
            created_at: r.created_at.into(),
            updated_at: r.updated_at.into(),
        };
        (member, r.email)
    }
}

/// The columns of [`TenantUserRow`], from `tenant_user tu JOIN "user" u`.
macro_rules! tenant_user_columns {
    () => {
        "tu.tenant_id, tu.user_id, tu.created_at, tu.updated_at, tu.is_admin, \
         tu.is_device_admin, tu.is_gateway_admin, u.email"
    };
}

/// An `api_key` row.
#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: Uuid,
    created_at: DateTime<Utc>,
    name: String,
    is_admin: bool,
    tenant_id: Option<Uuid>,
    is_read_only: bool,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(r: ApiKeyRow) -> Self {
        let mut key = Self::new(r.name, r.tenant_id);
        key.id = r.id;
        key.is_admin = r.is_admin;
        key.is_read_only = r.is_read_only;
        key.created_at = r.created_at.into();
        key
    }
}

/// The columns of [`ApiKeyRow`].
macro_rules! api_key_columns {
    () => {
        "id, created_at, name, is_admin, tenant_id, is_read_only"
    };
}

impl Storage {
    /// Stores a new user.
    ///
    /// [`StorageError::AlreadyExists`] if its id or email is taken.
    pub async fn create_user(&self, user: &User) -> Result<(), StorageError> {
        execute!(
            self,
            "INSERT INTO \"user\" (id, created_at, updated_at, email, is_admin, is_active, \
             email_verified, note, password_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            user.id,
            db_time(user.stamps.created_at),
            db_time(user.stamps.updated_at),
            &user.email,
            user.is_admin,
            user.is_active,
            user.email_verified,
            &user.note,
            &user.password_hash,
        )
        .map_err(db_error(Object::User(user.id)))?;
        Ok(())
    }

    /// Stores a new user with its memberships, in one transaction: all or
    /// nothing.
    ///
    /// [`StorageError::AlreadyExists`] if its id or email is taken,
    /// [`StorageError::NotFound`] if a tenant does not exist.
    pub async fn create_user_with_tenants(
        &self,
        user: &User,
        tenants: &[TenantUser],
    ) -> Result<(), StorageError> {
        let object = Object::User(user.id);
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(db_error(object))?;
            sqlx::query(
                "INSERT INTO \"user\" (id, created_at, updated_at, email, is_admin, is_active, \
                 email_verified, note, password_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(user.id)
            .bind(db_time(user.stamps.created_at))
            .bind(db_time(user.stamps.updated_at))
            .bind(&user.email)
            .bind(user.is_admin)
            .bind(user.is_active)
            .bind(user.email_verified)
            .bind(&user.note)
            .bind(&user.password_hash)
            .execute(&mut *tx)
            .await
            .map_err(db_error(object))?;
            for m in tenants {
                sqlx::query(
                    "INSERT INTO tenant_user (tenant_id, user_id, created_at, updated_at, \
                     is_admin, is_device_admin, is_gateway_admin) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(m.tenant_id)
                .bind(user.id)
                .bind(db_time(m.stamps.created_at))
                .bind(db_time(m.stamps.updated_at))
                .bind(m.is_admin)
                .bind(m.is_device_admin)
                .bind(m.is_gateway_admin)
                .execute(&mut *tx)
                .await
                .map_err(write_error(
                    Object::TenantUser {
                        tenant_id: m.tenant_id,
                        user_id: user.id,
                    },
                    Object::Tenant(m.tenant_id),
                ))?;
            }
            tx.commit().await.map_err(db_error(object))
        })
    }

    /// The user with this id.
    pub async fn get_user(&self, id: Uuid) -> Result<User, StorageError> {
        let row: UserRow = fetch!(
            self,
            fetch_one,
            concat!("SELECT ", user_columns!(), " FROM \"user\" WHERE id = $1"),
            id,
        )
        .map_err(db_error(Object::User(id)))?;
        Ok(row.into())
    }

    /// The user with this email (exactly as stored), if any.
    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StorageError> {
        let row: Option<UserRow> = fetch!(
            self,
            fetch_optional,
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM \"user\" WHERE email = $1"
            ),
            email,
        )
        .map_err(db_error(Object::Table("user")))?;
        Ok(row.map(User::from))
    }

    /// Overwrites a stored user's settings (email, flags, note; not the
    /// password, see [`Self::set_user_password_hash`]).
    pub async fn update_user(&self, user: &User) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::User(user.id),
            "UPDATE \"user\" SET updated_at = $2, email = $3, is_admin = $4, is_active = $5, \
             email_verified = $6, note = $7 WHERE id = $1",
            user.id,
            db_time(user.stamps.updated_at),
            &user.email,
            user.is_admin,
            user.is_active,
            user.email_verified,
            &user.note,
        )
    }

    /// Replaces a user's password hash.
    pub async fn set_user_password_hash(&self, id: Uuid, hash: &str) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::User(id),
            "UPDATE \"user\" SET password_hash = $2, updated_at = $3 WHERE id = $1",
            id,
            hash,
            db_time(crate::model::now_micros()),
        )
    }

    /// Deletes a user with its memberships.
    pub async fn delete_user(&self, id: Uuid) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::User(id),
            "DELETE FROM \"user\" WHERE id = $1",
            id
        )
    }

    /// A page of users, by email.
    pub async fn list_users(&self, query: &ListQuery) -> Result<Page<User>, StorageError> {
        let orders = Orders {
            name: "email",
            id: "id",
            last_seen: None,
            profile_name: None,
        };
        Listing::new(user_columns!(), "\"user\"", orders, Object::Table("user"))
            .search(self.backend(), query, &["email"], &[])
            .run::<UserRow>(self, query)
            .await?
            .try_map(|r| Ok(User::from(r)))
    }

    /// Adds a user to a tenant.
    ///
    /// [`StorageError::AlreadyExists`] if it is a member already,
    /// [`StorageError::NotFound`] if the tenant or the user does not exist.
    pub async fn add_tenant_user(&self, member: &TenantUser) -> Result<(), StorageError> {
        let object = Object::TenantUser {
            tenant_id: member.tenant_id,
            user_id: member.user_id,
        };
        let result = execute!(
            self,
            "INSERT INTO tenant_user (tenant_id, user_id, created_at, updated_at, is_admin, \
             is_device_admin, is_gateway_admin) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            member.tenant_id,
            member.user_id,
            db_time(member.stamps.created_at),
            db_time(member.stamps.updated_at),
            member.is_admin,
            member.is_device_admin,
            member.is_gateway_admin,
        );
        match result {
            Ok(_) => Ok(()),
            Err(e) if super::error::is_foreign_key_violation(&e) => {
                // Two references: find out which one is missing.
                self.get_tenant(member.tenant_id).await?;
                Err(StorageError::NotFound(Object::User(member.user_id)))
            }
            Err(e) => Err(db_error(object)(e)),
        }
    }

    /// A user's membership of a tenant, with the user's email.
    pub async fn get_tenant_user(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
    ) -> Result<(TenantUser, String), StorageError> {
        let row: TenantUserRow = fetch!(
            self,
            fetch_one,
            concat!(
                "SELECT ",
                tenant_user_columns!(),
                " FROM tenant_user tu JOIN \"user\" u ON u.id = tu.user_id \
                 WHERE tu.tenant_id = $1 AND tu.user_id = $2"
            ),
            tenant_id,
            user_id,
        )
        .map_err(db_error(Object::TenantUser { tenant_id, user_id }))?;
        Ok(row.into())
    }

    /// Overwrites a membership's roles.
    pub async fn update_tenant_user(&self, member: &TenantUser) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::TenantUser {
                tenant_id: member.tenant_id,
                user_id: member.user_id,
            },
            "UPDATE tenant_user SET updated_at = $3, is_admin = $4, is_device_admin = $5, \
             is_gateway_admin = $6 WHERE tenant_id = $1 AND user_id = $2",
            member.tenant_id,
            member.user_id,
            db_time(member.stamps.updated_at),
            member.is_admin,
            member.is_device_admin,
            member.is_gateway_admin,
        )
    }

    /// Removes a user from a tenant.
    pub async fn delete_tenant_user(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
    ) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::TenantUser { tenant_id, user_id },
            "DELETE FROM tenant_user WHERE tenant_id = $1 AND user_id = $2",
            tenant_id,
            user_id,
        )
    }

    /// A page of a tenant's members, by email.
    pub async fn list_tenant_users(
        &self,
        tenant_id: Uuid,
        query: &ListQuery,
    ) -> Result<Page<(TenantUser, String)>, StorageError> {
        let orders = Orders {
            name: "u.email",
            id: "u.id",
            last_seen: None,
            profile_name: None,
        };
        Listing::new(
            tenant_user_columns!(),
            "tenant_user tu JOIN \"user\" u ON u.id = tu.user_id",
            orders,
            Object::Tenant(tenant_id),
        )
        .eq("tu.tenant_id", Arg::Uuid(tenant_id))
        .run::<TenantUserRow>(self, query)
        .await?
        .try_map(|r| Ok(r.into()))
    }

    /// Every tenant a user belongs to, with its roles there.
    pub async fn tenants_of_user(&self, user_id: Uuid) -> Result<Vec<TenantUser>, StorageError> {
        let rows: Vec<TenantUserRow> = fetch!(
            self,
            fetch_all,
            concat!(
                "SELECT ",
                tenant_user_columns!(),
                " FROM tenant_user tu JOIN \"user\" u ON u.id = tu.user_id \
                 WHERE tu.user_id = $1 ORDER BY tu.tenant_id"
            ),
            user_id,
        )
        .map_err(db_error(Object::User(user_id)))?;
        Ok(rows
            .into_iter()
            .map(|r| <(TenantUser, String)>::from(r).0)
            .collect())
    }

    /// Stores a new API key.
    ///
    /// [`StorageError::NotFound`] if its tenant does not exist.
    pub async fn create_api_key(&self, key: &ApiKey) -> Result<(), StorageError> {
        let parent = key
            .tenant_id
            .map_or(Object::Table("tenant"), Object::Tenant);
        execute!(
            self,
            "INSERT INTO api_key (id, created_at, name, is_admin, tenant_id, is_read_only) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            key.id,
            db_time(key.created_at),
            &key.name,
            key.is_admin,
            key.tenant_id,
            key.is_read_only,
        )
        .map_err(write_error(Object::ApiKey(key.id), parent))?;
        Ok(())
    }

    /// The API key with this id.
    pub async fn get_api_key(&self, id: Uuid) -> Result<ApiKey, StorageError> {
        let row: ApiKeyRow = fetch!(
            self,
            fetch_one,
            concat!("SELECT ", api_key_columns!(), " FROM api_key WHERE id = $1"),
            id,
        )
        .map_err(db_error(Object::ApiKey(id)))?;
        Ok(row.into())
    }

    /// Deletes (revokes) an API key.
    pub async fn delete_api_key(&self, id: Uuid) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::ApiKey(id),
            "DELETE FROM api_key WHERE id = $1",
            id
        )
    }

    /// A page of API keys, by name: a tenant's, or with `None` the global
    /// (admin) keys.
    pub async fn list_api_keys(
        &self,
        tenant_id: Option<Uuid>,
        query: &ListQuery,
    ) -> Result<Page<ApiKey>, StorageError> {
        let orders = Orders {
            name: "name",
            id: "id",
            last_seen: None,
            profile_name: None,
        };
        let list = Listing::new(
            api_key_columns!(),
            "api_key",
            orders,
            Object::Table("api_key"),
        );
        let list = match tenant_id {
            Some(id) => list.eq("tenant_id", Arg::Uuid(id)),
            None => list.filter("is_admin = $?", Arg::Bool(true)),
        };
        list.run::<ApiKeyRow>(self, query)
            .await?
            .try_map(|r| Ok(ApiKey::from(r)))
    }

    /// The server setting `key`, stored as `make()` gives it if there is
    /// none yet. Several instances starting at once agree: the first write
    /// wins and every instance returns it.
    pub async fn server_setting_or_insert(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, StorageError> {
        let object = Object::Table("server_setting");
        execute!(
            self,
            "INSERT INTO server_setting (key, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO NOTHING",
            key,
            make(),
            db_time(crate::model::now_micros()),
        )
        .map_err(db_error(object))?;
        let (value,): (String,) = fetch!(
            self,
            fetch_one,
            "SELECT value FROM server_setting WHERE key = $1",
            key,
        )
        .map_err(db_error(object))?;
        Ok(value)
    }
}
