//! The network server under test, for the simulator's integration tests:
//! the all-in-one server in-process (random ports, a temporary data
//! directory, the embedded broker), or with Mosquitto and a PostgreSQL
//! schema of its own, and a subscription to its `up` events.
#![allow(dead_code)] // Each test binary uses its own part.

use std::sync::Arc;

use std::time::Duration;

use lorawan::Eui64;
use lorawan::keys::{AppKey, NwkKey};
use lorawan::region::{Region, Revision};
use lorawan_sim::device::{Device, DeviceConfig, LorawanVersion};
use lorawan_sim::events::UpEvents;
use lorawan_sim::gateway::GatewayMqtt;
use lorawan_sim::provision::{DevicePlan, GatewayPlan, Plan, ProfilePlan};
use lorawan_sim::radio::Position;
use lorawan_sim::sim::{Progress, Report, SimDevice, SimGateway};
use ns_core::config::Config;
use sqlx::Connection as _;

/// Every listener on a port the OS picks; the RX1 delay and the
/// de-duplication as the defaults have them.
const PORTS: &str = r#"
[network]
enabled_regions = ["eu868"]

[backend.semtech_udp]
bind = "127.0.0.1:0"

[monitoring]
bind = ""

[api]
bind = "127.0.0.1:0"
"#;

const EMBEDDED: &str = r#"
[mqtt_broker]
bind = "127.0.0.1:0"
bind_v4 = "127.0.0.1:0"
"#;

/// Mosquitto and PostgreSQL, topics under `ROOT`.
const EXTERNAL: &str = r#"
[mqtt_broker]
bind = ""

[postgresql]
dsn = "DSN"

[integration.mqtt]
event_topic = "ROOT/application/{{application_id}}/device/{{dev_eui}}/event/{{event}}"
command_topic = "ROOT/application/{{application_id}}/device/{{dev_eui}}/command/{{command}}"

[[regions]]
id = "eu868"

[regions.gateway.backend.mqtt]
topic_prefix = "ROOT/eu868"
"#;

const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The server under test and what the simulator needs of it.
pub(crate) struct Running {
    pub(crate) server: Option<network_server::Server>,
    pub(crate) dir: std::path::PathBuf,
    pub(crate) schema: Option<String>,
    pub(crate) udp: std::net::SocketAddr,
    pub(crate) api: std::net::SocketAddr,
    /// An API key (global admin), as `create-api-key` makes it.
    pub(crate) token: String,
    /// The embedded broker's MQTT 5 address, if it has one.
    pub(crate) broker: Option<std::net::SocketAddr>,
    /// What the simulation sent and the application received.
    pub(crate) progress: Arc<Progress>,
    /// Where MQTT gateways publish.
    pub(crate) gateway_mqtt: GatewayMqtt,
    /// The subscription, alive as long as the server.
    pub(crate) _events: UpEvents,
}

impl Running {
    /// Starts the server: all-in-one (embedded broker, SQLite), or with
    /// Mosquitto and a PostgreSQL schema of its own (`external`); subscribes
    /// to its `up` events.
    pub(crate) async fn start(external: bool) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("lorawan-sim-e2e-{id}"));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let root = format!("t-{id}/");
        let mut schema = None;
        let text = if external {
            let name = format!("sim_e2e_{id}");
            let mut conn = sqlx::PgConnection::connect(POSTGRES_URL)
                .await
                .expect("PostgreSQL at 127.0.0.1:5432");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
                .execute(&mut conn)
                .await
                .expect("a schema");
            let dsn = format!("{POSTGRES_URL}?options[search_path]={name}");
            schema = Some(name);
            format!(
                "{PORTS}{}",
                EXTERNAL.replace("ROOT/", &root).replace("DSN", &dsn)
            )
        } else {
            format!("{PORTS}{EMBEDDED}")
        };
        let config = Config::from_toml_strs(&[&text]).expect("configuration");
        let server = network_server::Server::start(config.clone(), &dir)
            .await
            .expect("the server starts");
        let (host, port, topic_root) = match server.broker_addrs() {
            Some(b) => (b.mqtt5.ip().to_string(), b.mqtt5.port(), String::new()),
            None => ("127.0.0.1".to_owned(), 1883, root.clone()),
        };
        let progress = Arc::new(Progress::new());
        let events = UpEvents::subscribe(
            &host,
            port,
            &format!("{topic_root}application/+/device/+/event/up"),
            Arc::clone(&progress),
        )
        .await
        .expect("the application's subscription");
        let (_, token) = network_server::create_api_key(&config, &dir, "simulator")
            .await
            .expect("an API key");
        Self {
            progress,
            gateway_mqtt: GatewayMqtt::new(host.clone(), port, format!("{topic_root}eu868")),
            udp: server.udp_addr().expect("the UDP bridge"),
            api: server.api_addr().expect("the API"),
            broker: server.broker_addrs().map(|b| b.mqtt5),
            server: Some(server),
            dir,
            schema,
            token,
            _events: events,
        }
    }

    pub(crate) async fn finish(mut self) {
        drop(self.server.take());
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(schema) = self.schema.take() {
            let mut conn = sqlx::PgConnection::connect(POSTGRES_URL).await.unwrap();
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

/// `count` LoRaWAN 1.0.3 OTAA devices (DevEUIs from `first`, JoinEUI
/// `join_eui`) within 500 m of `origin`, an uplink every 2 s, every third
/// confirmed, every fourth asking for LinkCheckReq and DeviceTimeReq; and
/// the plan that provisions them and `gateways`.
pub(crate) fn otaa_fleet(
    count: u64,
    first: u64,
    join_eui: Eui64,
    origin: Position,
    gateways: &[SimGateway],
) -> (Plan, Vec<SimDevice>) {
    let key = |i: u64, salt: u8| {
        let mut k = [salt; 16];
        k[8..].copy_from_slice(&i.to_be_bytes());
        k
    };
    let dev_eui = |i: u64| Eui64::from_u64(first + i);
    let plan = Plan {
        tenant: "simulation".into(),
        application: "meters".into(),
        profile: ProfilePlan {
            name: "EU868 1.0.3 OTAA".into(),
            region: Region::Eu868,
            mac_version: LorawanVersion::V1_0_3,
            reg_params_revision: Revision::Rp002_1_0_3,
            supports_otaa: true,
            supports_class_c: false,
            uplink_interval: Duration::from_secs(2),
        },
        gateways: gateways
            .iter()
            .map(|g| GatewayPlan {
                gateway_id: g.gateway_id,
                name: format!("gw {}", g.gateway_id),
                latitude: g.position.latitude,
                longitude: g.position.longitude,
                altitude: g.position.altitude,
                stats_interval: Duration::from_secs(30),
            })
            .collect(),
        devices: (0..count)
            .map(|i| DevicePlan {
                dev_eui: dev_eui(i),
                join_eui,
                name: format!("meter {i}"),
                nwk_key: NwkKey::from_be_bytes(key(i, 0x11)),
                app_key: AppKey::from_be_bytes(key(i, 0x22)),
                abp: None,
            })
            .collect(),
    };
    let devices = (0..count)
        .map(|i| {
            let config = DeviceConfig::otaa(
                dev_eui(i),
                join_eui,
                NwkKey::from_be_bytes(key(i, 0x11)),
                AppKey::from_be_bytes(key(i, 0x22)),
                LorawanVersion::V1_0_3,
                Region::Eu868,
                Revision::Rp002_1_0_3,
            );
            // Spread around the origin, within 500 m.
            let angle = i as f64 * 2.4;
            let r = 50.0 + (i as f64 * 29.0) % 450.0;
            SimDevice {
                device: Device::new(config),
                position: origin.offset(r * angle.sin(), r * angle.cos()),
                uplink_interval: Duration::from_secs(2),
                f_port: 10,
                payloads: Vec::new(),
                confirmed_every: 3,
                mac_requests_every: 4,
            }
        })
        .collect();
    (plan, devices)
}

/// The goals of a run: at least `min_uplinks` sent, 99 % of them `up`
/// events with their payload, some confirmed and 99 % of those
/// acknowledged.
pub(crate) fn assert_delivered(report: &Report, progress: &Progress, min_uplinks: usize) {
    let sent = report.uplinks.len();
    assert!(
        sent >= min_uplinks,
        "{sent} uplinks, at least {min_uplinks} expected"
    );
    let delivery = progress.delivery();
    let delivered = delivery.delivered;
    let (confirmed, acked) = report.confirmed();
    println!(
        "sent {sent}, delivered {delivered}, latency p50 {:?} p99 {:?}, confirmed \
         {confirmed}, acked {acked}",
        delivery.p50, delivery.p99
    );
    assert!(
        delivered * 100 >= sent * 99,
        "{delivered} of {sent} uplinks became up events"
    );
    assert!(confirmed > 0);
    assert!(
        acked * 100 >= confirmed * 99,
        "{acked} of {confirmed} confirmed uplinks acknowledged"
    );
}
