//! The management API served on a real socket (127.0.0.1, port 0) over a
//! test database, with a global admin user, and a channel to call it as a
//! client would.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use lorawan::Eui64;
use lorawan::region::{Region, Revision};
use ns_core::api::proto as pb;
use ns_core::api::{ApiServer, ApiSettings, ApiState};
use ns_core::config::Config;
use ns_core::model::{ApiKey, Application, DeviceProfile, MacVersion, Tenant, TenantUser, User};
use packet_forwarder::gw::common;
use tonic::transport::Channel;
use uuid::Uuid;

use super::db::TestDb;

/// The secret the test server signs with.
pub const SECRET: &str = "test secret";

/// A running API and its database.
pub struct TestApi {
    pub db: TestDb,
    pub state: Arc<ApiState>,
    pub server: ApiServer,
    pub channel: Channel,
    /// A token of a global admin user.
    pub admin: String,
    /// That user.
    pub admin_user: User,
}

impl TestApi {
    /// Serves the API over `db` and logs in a global admin.
    pub async fn start(db: TestDb) -> Self {
        let mut settings = ApiSettings::new(SECRET);
        // Fast hashes: debug builds of PBKDF2 are slow.
        settings.password_iterations = 10;
        let state = Arc::new(ApiState::new(
            db.storage.clone(),
            Arc::new(Config::default()),
            settings,
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = ApiServer::start(listener, state.clone()).unwrap();
        let channel = Channel::from_shared(format!("http://{}", server.local_addr()))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut admin_user = User::new(format!("admin-{}@example.com", Uuid::new_v4()));
        admin_user.is_admin = true;
        admin_user.password_hash = state.hasher.hash("admin");
        db.storage.create_user(&admin_user).await.unwrap();
        let admin = state.signer.sign_user(
            admin_user.id,
            ns_core::api::service::unix_now(),
            std::time::Duration::from_secs(3600),
        );
        Self {
            db,
            state,
            server,
            channel,
            admin,
            admin_user,
        }
    }

    /// A user (not an admin) with memberships `(tenant, roles)`, and its
    /// token.
    pub async fn user(&self, memberships: &[(Uuid, [bool; 3])]) -> (User, String) {
        let user = User::new(format!("u-{}@example.com", Uuid::new_v4()));
        self.db.storage.create_user(&user).await.unwrap();
        for (tenant, [admin, device_admin, gateway_admin]) in memberships {
            let mut m = TenantUser::new(*tenant, user.id);
            m.is_admin = *admin;
            m.is_device_admin = *device_admin;
            m.is_gateway_admin = *gateway_admin;
            self.db.storage.add_tenant_user(&m).await.unwrap();
        }
        let token = self.state.signer.sign_user(
            user.id,
            ns_core::api::service::unix_now(),
            std::time::Duration::from_secs(3600),
        );
        (user, token)
    }

    /// An API key of `tenant` (global admin if `None`), and its token.
    pub async fn key(&self, tenant: Option<Uuid>, read_only: bool) -> (ApiKey, String) {
        let mut key = ApiKey::new("test key", tenant);
        key.is_read_only = read_only;
        self.db.storage.create_api_key(&key).await.unwrap();
        let token = self.state.signer.sign_api_key(key.id);
        (key, token)
    }

    /// A new tenant named `name`, stored directly.
    pub async fn tenant(&self, name: &str) -> Uuid {
        let tenant = Tenant::new(name);
        self.db.storage.create_tenant(&tenant).await.unwrap();
        tenant.id
    }

    /// A new application of `tenant` named `name`, stored directly.
    pub async fn application(&self, tenant: Uuid, name: &str) -> Uuid {
        let app = Application::new(tenant, name);
        self.db.storage.create_application(&app).await.unwrap();
        app.id
    }

    /// Stores `profile` directly; its id.
    pub async fn device_profile(&self, profile: &DeviceProfile) -> Uuid {
        self.db
            .storage
            .create_device_profile(profile)
            .await
            .unwrap();
        profile.id
    }

    /// Stops the server and removes the database.
    pub async fn finish(self) {
        self.server.shutdown();
        self.db.finish().await;
    }
}

/// `message` with `authorization: Bearer <token>`.
pub fn req<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// A device profile of `tenant` (EU868, LoRaWAN 1.0.3, RP002-1.0.3), not
/// stored.
pub fn eu868_profile(tenant: Uuid, name: impl Into<String>) -> DeviceProfile {
    DeviceProfile::new(
        tenant,
        name,
        Region::Eu868,
        MacVersion::V1_0_3,
        Revision::Rp002_1_0_3,
    )
}

/// A device-profile message with only the required fields (EU868, LoRaWAN
/// 1.0.3, RP002-1.0.3, the default ADR algorithm).
pub fn profile_message(tenant: Uuid, name: &str) -> pb::DeviceProfile {
    pb::DeviceProfile {
        tenant_id: tenant.to_string(),
        name: name.into(),
        region: common::Region::Eu868 as i32,
        mac_version: common::MacVersion::Lorawan103 as i32,
        reg_params_revision: common::RegParamsRevision::Rp002103 as i32,
        adr_algorithm_id: "default".into(),
        ..Default::default()
    }
}

/// An ABP activation of `eui` with LoRaWAN 1.0 keys (DevAddr 26011234,
/// FCntUp 10, NFCntDown 5, AFCntDown 3).
pub fn activation(eui: Eui64) -> pb::DeviceActivation {
    pb::DeviceActivation {
        dev_eui: eui.to_string(),
        dev_addr: "26011234".into(),
        app_s_key: "01010101010101010101010101010101".into(),
        nwk_s_enc_key: "02020202020202020202020202020202".into(),
        s_nwk_s_int_key: String::new(),
        f_nwk_s_int_key: String::new(),
        f_cnt_up: 10,
        n_f_cnt_down: 5,
        a_f_cnt_down: 3,
    }
}

/// A downlink queue item of `eui`.
pub fn queue_item(eui: Eui64, f_port: u32, data: &[u8]) -> pb::DeviceQueueItem {
    pb::DeviceQueueItem {
        dev_eui: eui.to_string(),
        f_port,
        data: data.to_vec(),
        ..Default::default()
    }
}

/// Asserts that `result` failed with `code`.
#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: tonic::Code) {
    match result {
        Err(status) => assert_eq!(status.code(), code, "{status:?}"),
        Ok(v) => panic!("expected {code:?}, got {v:?}"),
    }
}

/// Runs each named `async fn(&TestApi)` once per backend, as
/// `sqlite::name` and `postgres::name`.
macro_rules! api_on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let api = super::TestApi::start(super::TestDb::sqlite().await).await;
                    super::$name(&api).await;
                    api.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let api = super::TestApi::start(super::TestDb::postgres().await).await;
                    super::$name(&api).await;
                    api.finish().await;
                }
            )*
        }
    };
}
