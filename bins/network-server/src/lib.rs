//! The `network-server` binary as a library: a [`Config`] in, a running
//! network server out.
//!
//! [`Server::start`] assembles what the configuration asks for, in this
//! order, logging where each part listens:
//! 1. the embedded MQTT broker (`[mqtt_broker]`, feature
//!    `embedded-broker`, on by default), unless its port is taken — then
//!    the broker already listening there is used;
//! 2. the integrations (`[integration] enabled`: MQTT, with its downlink
//!    command subscription, and HTTP), and the TLS files of the regions'
//!    MQTT gateway backends: every file the configuration names is read
//!    before anything is created on disk;
//! 3. the storage (`[postgresql] dsn`, else SQLite in the data directory),
//!    migrated;
//! 4. the gateway backends: the built-in Semtech UDP bridge
//!    (`[backend.semtech_udp]`) and an MQTT backend per enabled region;
//! 5. the [`Pipeline`] joining them, with
//!    Redis for de-duplication and TX acks shared with other instances
//!    when `[redis] servers` is set;
//! 6. the management API on `[api] bind` (gRPC, gRPC-web, REST/JSON;
//!    tokens signed with `api.secret`, or one generated and kept in the
//!    database);
//! 7. `/metrics` and `/health` on `[monitoring] bind` (`/health` pings
//!    Redis when configured).
//!
//! ```no_run
//! use ns_core::config::Config;
//! use network_server::Server;
//!
//! # async fn run() -> anyhow::Result<()> {
//! let server = Server::start(Config::default(), "data".as_ref()).await?;
//! println!("Semtech UDP on {:?}", server.udp_addr());
//! server.run(std::future::pending()).await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

#[cfg(feature = "embedded-broker")]
pub mod broker;
mod metrics;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ns_core::api::{ApiServer, ApiSettings, ApiState};
use ns_core::config::{Config, Database, EMBEDDED_BROKER};
use ns_core::gateway_backend::GatewayBackend;
use ns_core::integration::publish::{
    ApplicationHttpSettings, ApplicationHttpSink, HttpLimits, HttpPublisher, MqttPublisher,
};
use ns_core::pipeline::{DownlinkSender, FirstOf, Pipeline, PipelineHandle, PipelineSettings};
use ns_core::shared_state::SharedState;
use ns_core::storage::{Storage, StorageOptions};
use ns_core::udp_backend::{UdpBackend, UdpBackendConfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// How many integration commands wait for the storage before new ones are
/// dropped.
const COMMAND_QUEUE: usize = 10_000;

/// A running network server; see the [crate documentation](crate).
pub struct Server {
    pipeline: PipelineHandle,
    udp: Option<Arc<UdpBackend>>,
    mqtt_gateways: Vec<Arc<GatewayBackend>>,
    mqtt_integration: Option<Arc<MqttPublisher>>,
    app_http: Arc<ApplicationHttpSink>,
    metrics_addr: Option<SocketAddr>,
    api: Option<ApiServer>,
    broker: Option<BrokerAddrs>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("udp", &self.udp_addr())
            .field("metrics", &self.metrics_addr)
            .field("broker", &self.broker)
            .finish_non_exhaustive()
    }
}

/// Where the embedded broker listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerAddrs {
    /// MQTT 5.
    pub mqtt5: SocketAddr,
    /// MQTT 3.1.1.
    pub mqtt311: SocketAddr,
}

impl Server {
    /// Starts every part `config` enables; SQLite files go to `data_dir`
    /// (created if missing). Must be called within a tokio runtime.
    ///
    /// # Errors
    /// A part that cannot start: a port in use (but the broker's), a
    /// database that cannot be opened or migrated, an unusable integration
    /// or gateway backend setting. A TLS file that cannot be used stops
    /// the start before the storage is created (no data directory, no
    /// SQLite file).
    pub async fn start(mut config: Config, data_dir: &Path) -> anyhow::Result<Self> {
        let settings = PipelineSettings::from_config(&config)?;
        let broker = start_broker(&config)?;
        if let Some(addrs) = broker {
            follow_embedded_broker(&mut config, addrs.mqtt5);
        }

        // Every file the configuration names (the MQTT clients' TLS
        // certificates and keys) is read before the storage is created,
        // so that a wrong path stops the start with no data directory or
        // database left behind. The clients connect meanwhile; what they
        // receive waits in their channels for the pipeline.
        let mut integration_mqtt = None;
        if config.integration.is_enabled("mqtt") {
            integration_mqtt = Some(
                MqttPublisher::start_with_commands(&config.integration.mqtt, COMMAND_QUEUE)
                    .context("integration.mqtt")?,
            );
            info!(
                server = config.integration.mqtt.server,
                "MQTT integration started"
            );
        }
        let mut integration_http = None;
        if config.integration.is_enabled("http") {
            integration_http = Some(
                HttpPublisher::start(&config.integration.http, HttpLimits::default())
                    .context("integration.http")?,
            );
            info!(
                endpoints = config.integration.http.event_endpoint_url,
                "HTTP integration started"
            );
        }
        let mut gateway_backend_configs = HashMap::new();
        for entry in config.enabled_regions() {
            if entry.gateway.backend.enabled == "mqtt" {
                gateway_backend_configs.insert(entry.id.clone(), entry.gateway_backend_config()?);
            }
        }

        let storage = connect_storage(&config, data_dir).await?;
        let mut pipeline = Pipeline::new(settings, storage.clone());
        if let Some(state) = open_redis(&config).await? {
            pipeline.set_shared_state(state);
        }
        let mut tasks = Vec::new();
        // Each application's own HTTP integration (from the management
        // API): one cache lookup per event, off the radio path.
        let app_http = Arc::new(ApplicationHttpSink::start(
            storage.clone(),
            ApplicationHttpSettings::default(),
        ));
        pipeline.add_event_sink(app_http.clone());

        // The management API's state first: its live log is a pipeline sink.
        let api_state = if config.api.bind.is_empty() {
            None
        } else {
            let secret = api_secret(&config, &storage).await?;
            let state = ApiState::new(storage, Arc::new(config.clone()), ApiSettings::new(secret));
            pipeline.add_event_sink(Arc::new(state.live.clone()));
            Some(state)
        };

        let mut mqtt_integration = None;
        let mut commands = None;
        if let Some((publisher, rx)) = integration_mqtt {
            let publisher = Arc::new(publisher);
            pipeline.add_event_sink(publisher.clone());
            mqtt_integration = Some(publisher);
            commands = Some(rx);
        }
        if let Some(http) = integration_http {
            pipeline.add_event_sink(Arc::new(http));
        }

        let udp_region = config.semtech_udp_region().map(|r| r.id.clone());
        let mut udp = None;
        let mut udp_events = None;
        if !config.backend.semtech_udp.bind.is_empty() {
            let region = udp_region
                .clone()
                .context("backend.semtech_udp: no enabled region for its gateways")?;
            let (backend, events) =
                UdpBackend::start(UdpBackendConfig::new(&config.backend.semtech_udp.bind))
                    .await
                    .with_context(|| {
                        format!(
                            "backend.semtech_udp.bind {}",
                            config.backend.semtech_udp.bind
                        )
                    })?;
            info!(addr = %backend.local_addr(), region, "Semtech UDP gateway backend listening");
            udp = Some(Arc::new(backend));
            udp_events = Some((region, events));
        }

        let mut mqtt_gateways = Vec::new();
        let mut gateway_events = Vec::new();
        for entry in config.enabled_regions() {
            let mut senders: Vec<Arc<dyn DownlinkSender>> = Vec::new();
            if let Some(udp) = &udp
                && udp_region.as_deref() == Some(entry.id.as_str())
            {
                senders.push(udp.clone());
            }
            if let Some(backend_config) = gateway_backend_configs.remove(&entry.id) {
                let server = backend_config.server.clone();
                let (backend, events) = GatewayBackend::start(backend_config)
                    .with_context(|| format!("regions[{}].gateway.backend.mqtt", entry.id))?;
                info!(
                    region = entry.id,
                    server,
                    topic_prefix = entry.topic_prefix(),
                    "MQTT gateway backend started"
                );
                let backend = Arc::new(backend);
                senders.push(backend.clone());
                mqtt_gateways.push(backend);
                gateway_events.push((entry.id.clone(), events));
            }
            pipeline.add_downlink_sender(&entry.id, Arc::new(FirstOf(senders)));
        }

        let pipeline = pipeline.start();
        if let Some((region, events)) = udp_events {
            pipeline.attach(&region, events);
        }
        for (region, events) in gateway_events {
            pipeline.attach(&region, events);
        }
        if let Some(mut rx) = commands {
            let handle = pipeline.command_queue();
            let template = config.integration.mqtt.command_topic.clone();
            let encoding = config.integration.mqtt.encoding();
            tasks.push(tokio::spawn(async move {
                while let Some((topic, payload)) = rx.recv().await {
                    let _ = handle
                        .enqueue_command(&template, &topic, &payload, encoding)
                        .await;
                }
            }));
        }

        let mut api = None;
        if let Some(state) = api_state {
            let state = Arc::new(state.with_listener(pipeline.change_listener()));
            let listener = TcpListener::bind(&config.api.bind)
                .await
                .with_context(|| format!("api.bind {}", config.api.bind))?;
            let server = ApiServer::start(listener, state)?;
            info!(
                addr = %server.local_addr(),
                "management API: gRPC, gRPC-web, REST under /api/ (OpenAPI at /api/openapi.json)"
            );
            api = Some(server);
        }

        let mut server = Self {
            pipeline,
            api,
            udp,
            mqtt_gateways,
            mqtt_integration,
            app_http,
            metrics_addr: None,
            broker,
            tasks,
        };
        if !config.monitoring.bind.is_empty() {
            let listener = TcpListener::bind(&config.monitoring.bind)
                .await
                .with_context(|| format!("monitoring.bind {}", config.monitoring.bind))?;
            let addr = listener.local_addr()?;
            info!(%addr, "metrics on /metrics, health on /health");
            server.metrics_addr = Some(addr);
            let state = metrics::State::new(&server);
            server
                .tasks
                .push(tokio::spawn(metrics::serve(listener, state)));
        }
        Ok(server)
    }

    /// The built-in Semtech UDP backend's address, if it runs.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().map(|u| u.local_addr())
    }

    /// The management API's address, if served.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api.as_ref().map(ApiServer::local_addr)
    }

    /// The `/metrics` and `/health` address, if served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The embedded broker's addresses, if this server started it.
    pub fn broker_addrs(&self) -> Option<BrokerAddrs> {
        self.broker
    }

    /// The pipeline (its counters and storage).
    pub fn pipeline(&self) -> &PipelineHandle {
        &self.pipeline
    }

    /// Runs until `shutdown` completes, then stops taking input and lets
    /// the frames in progress finish (up to 5 s).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        shutdown.await;
        info!("shutting down");
        for task in &self.tasks {
            task.abort();
        }
        if let Some(api) = self.api {
            api.shutdown();
        }
        self.pipeline.shutdown(Duration::from_secs(5)).await;
        drop(self.mqtt_gateways);
        drop(self.mqtt_integration);
        drop(self.udp);
    }
}

/// `network-server create-api-key`: a global admin API key named `name`,
/// stored in the configured database; its id and token (shown once: only
/// the key's id is stored).
///
/// # Errors
/// The database cannot be opened, or the key stored.
pub async fn create_api_key(
    config: &Config,
    data_dir: &Path,
    name: &str,
) -> anyhow::Result<(uuid::Uuid, String)> {
    let storage = connect_storage(config, data_dir).await?;
    let secret = api_secret(config, &storage).await?;
    let key = ns_core::model::ApiKey::new(name, None);
    storage
        .create_api_key(&key)
        .await
        .context("storing the API key")?;
    let token = ns_core::api::auth::TokenSigner::new(&secret).sign_api_key(key.id);
    storage.close().await;
    Ok((key.id, token))
}

/// `network-server set-password`: sets the password of the user `email`,
/// creating it as a global administrator if there is none (the first
/// admin of a new server). Whether it was created.
///
/// # Errors
/// The database cannot be opened, or the user stored.
pub async fn set_password(
    config: &Config,
    data_dir: &Path,
    email: &str,
    password: &str,
) -> anyhow::Result<bool> {
    anyhow::ensure!(
        password.chars().count() >= ns_core::api::user::MIN_PASSWORD_LENGTH,
        "the password needs at least {} characters",
        ns_core::api::user::MIN_PASSWORD_LENGTH
    );
    let storage = connect_storage(config, data_dir).await?;
    let hash = ns_core::api::auth::PasswordHasher::default().hash(password);
    let created = match storage.find_user_by_email(email).await? {
        Some(user) => {
            storage.set_user_password_hash(user.id, &hash).await?;
            false
        }
        None => {
            let mut user = ns_core::model::User::new(email);
            user.is_admin = true;
            user.password_hash = hash;
            storage.create_user(&user).await?;
            true
        }
    };
    storage.close().await;
    Ok(created)
}

/// The Redis shared with other instances, if `[redis] servers` is set.
/// A Redis that does not answer yet is no reason not to start: the
/// pipeline works in-process until it does (logged, and `/health` says so).
async fn open_redis(config: &Config) -> anyhow::Result<Option<SharedState>> {
    let Some(state) = SharedState::open(&config.redis).context("redis")? else {
        return Ok(None);
    };
    let server = state.server().to_owned();
    match tokio::time::timeout(Duration::from_secs(2), state.ping()).await {
        Ok(Ok(())) => info!(
            server,
            key_prefix = state.key_prefix(),
            "Redis: uplinks de-duplicated and TX acks shared with other instances"
        ),
        Ok(Err(error)) => warn!(
            server,
            %error,
            "Redis not reachable: uplinks de-duplicated in this instance only until it is"
        ),
        Err(_) => warn!(
            server,
            "Redis did not answer within 2 s: uplinks de-duplicated in this instance only until it does"
        ),
    }
    Ok(Some(state))
}

/// The secret that signs API tokens: `api.secret`, or else one generated
/// once and kept in the database, so that every instance sharing it agrees
/// and tokens survive restarts.
async fn api_secret(config: &Config, storage: &Storage) -> anyhow::Result<String> {
    if !config.api.secret.is_empty() {
        return Ok(config.api.secret.clone());
    }
    let secret = storage
        .server_setting_or_insert("api_secret", random_secret)
        .await
        .context("api.secret: generating one in the database")?;
    Ok(secret)
}

/// 32 random bytes as base64.
fn random_secret() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Starts the embedded broker, or finds its port taken and uses what
/// listens there.
#[cfg(feature = "embedded-broker")]
fn start_broker(config: &Config) -> anyhow::Result<Option<BrokerAddrs>> {
    let bind = &config.mqtt_broker;
    if bind.bind.is_empty() {
        return Ok(None);
    }
    let parse = |key: &str, value: &str| -> anyhow::Result<SocketAddr> {
        value
            .parse()
            .with_context(|| format!("mqtt_broker.{key} {value:?} is not ip:port"))
    };
    let broker_config = broker::BrokerConfig {
        bind: parse("bind", &bind.bind)?,
        bind_v4: parse("bind_v4", &bind.bind_v4)?,
        ..broker::BrokerConfig::default()
    };
    match broker::EmbeddedBroker::start_with(&broker_config) {
        Ok(b) => {
            let addrs = BrokerAddrs {
                mqtt5: b.addr(),
                mqtt311: b.addr_v4(),
            };
            // The broker lives as long as the process (rumqttd cannot stop).
            std::mem::forget(b);
            Ok(Some(addrs))
        }
        // Only the MQTT 5 port being taken means "a broker is there": the
        // clients connect to it. A taken 3.1.1 port is an error.
        Err(broker::BrokerError::Bind { addr, source })
            if source.kind() == std::io::ErrorKind::AddrInUse && addr == broker_config.bind =>
        {
            warn!(%addr, "mqtt_broker.bind is taken: using the MQTT broker already listening there");
            Ok(None)
        }
        Err(e) => Err(e).context("embedded MQTT broker"),
    }
}

#[cfg(not(feature = "embedded-broker"))]
fn start_broker(config: &Config) -> anyhow::Result<Option<BrokerAddrs>> {
    if !config.mqtt_broker.bind.is_empty() {
        info!("built without the embedded-broker feature: [mqtt_broker] ignored");
    }
    Ok(None)
}

/// Points the MQTT clients left at the default server
/// ([`EMBEDDED_BROKER`]) to where the embedded broker really listens (its
/// MQTT 5 port; a `bind` with port 0 picks one).
fn follow_embedded_broker(config: &mut Config, mqtt5: SocketAddr) {
    let actual = format!("tcp://{mqtt5}");
    if actual == EMBEDDED_BROKER {
        return;
    }
    let follow = |server: &mut String| {
        if server == EMBEDDED_BROKER {
            server.clone_from(&actual);
        }
    };
    follow(&mut config.integration.mqtt.server);
    for region in &mut config.regions {
        follow(&mut region.gateway.backend.mqtt.server);
    }
}

/// Opens (and migrates) the configured database, creating SQLite's data
/// directory.
async fn connect_storage(config: &Config, data_dir: &Path) -> anyhow::Result<Storage> {
    let url = match config.database(data_dir) {
        Database::Sqlite(url) => {
            if config.sqlite.path.contains("{data_dir}") {
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("creating data directory {}", data_dir.display()))?;
            }
            info!(url, "storage: SQLite");
            url
        }
        Database::Postgresql(url) => {
            info!("storage: PostgreSQL");
            url
        }
        _ => anyhow::bail!("unsupported database configuration"),
    };
    let max = if url.starts_with("sqlite") {
        config.sqlite.max_open_connections
    } else {
        config.postgresql.max_open_connections
    };
    let options = StorageOptions::default()
        .max_connections(max)
        .sqlite_pragmas(config.sqlite.pragmas.clone());
    Storage::connect_with(&url, &options)
        .await
        .context("opening the database")
}
