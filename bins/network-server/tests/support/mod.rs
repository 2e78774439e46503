//! What the end-to-end tests share: lora-rs's `lorawan-device` on a
//! simulated radio ([`radio`], [`crypto`]), a simulated MQTT gateway
//! ([`mqtt_gateway`]) and Semtech UDP packet forwarder ([`udp_forwarder`]),
//! MQTT clients ([`mqtt`]), the binary as a process ([`process`]),
//! provisioning and PostgreSQL schemas.
//!
//! Every wait is bounded ([`WAIT`]) so a failing test fails fast.
#![allow(dead_code, unreachable_pub)]

pub mod crypto;
pub mod mqtt;
pub mod mqtt_gateway;
pub mod process;
pub mod radio;
pub mod udp_forwarder;

use std::future::Future;
use std::time::Duration;

use lorawan::Eui64;
use lorawan::keys::{AppKey, NwkKey};
use lorawan::region::{Region, Revision};
use ns_core::model::{Application, Device, DeviceKeys, DeviceProfile, Gateway, MacVersion, Tenant};
use ns_core::storage::Storage;
use sqlx::Connection as _;

/// The longest any single step may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// The JoinEUI (AppEUI) of the test devices.
pub const JOIN_EUI: u64 = 0x70b3_d57e_d000_0001;

/// Awaits `future`, panicking after [`WAIT`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?}: {what}"))
}

/// Polls `check` every 20 ms until it holds; panics after [`WAIT`].
pub async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    within(what, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Shows the server's logs when `RUST_LOG` asks for them.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A random EUI (for devices and gateways, unique per test).
pub fn random_eui() -> Eui64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut eui = [0u8; 8];
    eui.copy_from_slice(&bytes[..8]);
    Eui64::from_u64(u64::from_be_bytes(eui))
}

/// A random 128-bit key.
pub fn random_key() -> [u8; 16] {
    uuid::Uuid::new_v4().into_bytes()
}

/// What [`provision`] stored.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub tenant: Tenant,
    pub application: Application,
    pub device_profile: DeviceProfile,
}

/// Stores a tenant, its gateway, an application, an EU868 LoRaWAN 1.0.3
/// OTAA device profile and the device with its AppKey (for 1.0.x the
/// root key is kept as the NwkKey, as ChirpStack does; AppKey set alike).
pub async fn provision(
    storage: &Storage,
    gateway_id: Eui64,
    dev_eui: Eui64,
    app_key: [u8; 16],
) -> Provisioned {
    let tenant = Tenant::new("e2e tenant");
    storage.create_tenant(&tenant).await.expect("tenant");
    storage
        .create_gateway(&Gateway::new(gateway_id, tenant.id, "e2e gateway"))
        .await
        .expect("gateway");
    let application = Application::new(tenant.id, "e2e application");
    storage
        .create_application(&application)
        .await
        .expect("application");
    let mut device_profile = DeviceProfile::new(
        tenant.id,
        "lorawan-device 1.0.3",
        Region::Eu868,
        MacVersion::V1_0_3,
        Revision::Rp002_1_0_3,
    );
    device_profile.region_config_id = "eu868".into();
    storage
        .create_device_profile(&device_profile)
        .await
        .expect("device profile");
    let mut device = Device::new(dev_eui, application.id, device_profile.id, "lorawan-device");
    device.join_eui = Eui64::from_u64(JOIN_EUI);
    storage.create_device(&device).await.expect("device");
    let keys = DeviceKeys::new(
        dev_eui,
        NwkKey::from_be_bytes(app_key),
        AppKey::from_be_bytes(app_key),
    );
    storage
        .create_device_keys(&keys)
        .await
        .expect("device keys");
    Provisioned {
        tenant,
        application,
        device_profile,
    }
}

/// The PostgreSQL server of the tests (trust authentication).
pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A schema of its own for one test on the test PostgreSQL server,
/// dropped with everything in it when this is dropped (also when the test
/// fails).
pub struct PgSchema {
    pub name: String,
    /// The DSN that makes the schema the search path.
    pub dsn: String,
}

impl PgSchema {
    pub async fn create() -> Self {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = within(
            "connecting to PostgreSQL",
            sqlx::PgConnection::connect(POSTGRES_URL),
        )
        .await
        .expect("PostgreSQL at 127.0.0.1:5432 (trust, database test)");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .expect("CREATE SCHEMA");
        let _ = conn.close().await;
        let dsn = format!("{POSTGRES_URL}?options[search_path]={name}");
        Self { name, dsn }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // No async drop: a thread of its own with a runtime of its own.
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(POSTGRES_URL).await.ok()?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {name} CASCADE"
                )))
                .execute(&mut conn)
                .await
                .ok()?;
                conn.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop PostgreSQL schema {}", self.name);
        }
    }
}
