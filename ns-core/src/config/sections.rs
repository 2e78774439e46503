//! The sections of the configuration file other than `[[regions]]`.

use std::collections::BTreeMap;
use std::time::Duration;

use lorawan::NetId;
use serde::Deserialize;

use super::text::{dev_addr_prefixes, duration};
use super::{DEFAULT_SQLITE_PATH, EMBEDDED_BROKER};
use crate::integration::{DEFAULT_COMMAND_TOPIC, DEFAULT_EVENT_TOPIC, Encoding};
use crate::join::DevAddrPrefix;

/// `[logging]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Logging {
    /// `level`: `trace`, `debug`, `info`, `warn` or `error`. `RUST_LOG`,
    /// when set, wins.
    pub level: String,
    /// `json`: log lines as JSON.
    pub json: bool,
}

impl Default for Logging {
    fn default() -> Self {
        Self {
            level: "info".into(),
            json: false,
        }
    }
}

/// `[postgresql]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Postgresql {
    /// `dsn`: `postgres://user:password@host/database?sslmode=…`. Set, it
    /// selects PostgreSQL over SQLite. Empty by default (ChirpStack's
    /// default points at a local PostgreSQL; the all-in-one server needs
    /// none).
    pub dsn: String,
    /// `max_open_connections`.
    pub max_open_connections: u32,
}

impl Default for Postgresql {
    fn default() -> Self {
        Self {
            dsn: String::new(),
            max_open_connections: 10,
        }
    }
}

/// `[sqlite]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Sqlite {
    /// `path`: a `sqlite://` URL or a file path, `{data_dir}` replaced by
    /// the server's data directory. Used when `[postgresql] dsn` is empty.
    pub path: String,
    /// `max_open_connections`.
    pub max_open_connections: u32,
    /// `pragmas`: run as `PRAGMA {entry}` on each new connection, after
    /// the storage's own settings (`"cache_size = -65536"`).
    pub pragmas: Vec<String>,
}

impl Default for Sqlite {
    fn default() -> Self {
        Self {
            path: DEFAULT_SQLITE_PATH.into(),
            max_open_connections: 4,
            pragmas: Vec::new(),
        }
    }
}

/// `[redis]`: for several server instances sharing de-duplication and
/// TX-ack contexts ([`crate::shared_state`]). No server (the default):
/// in-process state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Redis {
    /// `servers`: `redis://host/` URLs (empty: no Redis); one, until a
    /// Redis Cluster is supported.
    pub servers: Vec<String>,
    /// `cluster`: the servers are a Redis Cluster (not supported yet:
    /// refused by [`SharedState::open`](crate::shared_state::SharedState::open)).
    pub cluster: bool,
    /// `key_prefix`: prepended to every key.
    pub key_prefix: String,
}

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct NetworkSettings {
    /// `net_id`: the network's NetID, hex.
    pub net_id: NetId,
    /// `secondary_net_ids`: more NetIDs whose DevAddrs are this network's.
    pub secondary_net_ids: Vec<NetId>,
    /// `dev_addr_prefixes`: DevAddr blocks to allocate from
    /// (`"26000000/7"`; empty: the NetID's block).
    #[serde(deserialize_with = "dev_addr_prefixes")]
    pub dev_addr_prefixes: Vec<DevAddrPrefix>,
    /// `enabled_regions`: the region ids served.
    pub enabled_regions: Vec<String>,
    /// `device_session_ttl`.
    #[serde(deserialize_with = "duration")]
    pub device_session_ttl: Duration,
    /// `deduplication_delay`: how long copies of an uplink are collected.
    #[serde(deserialize_with = "duration")]
    pub deduplication_delay: Duration,
    /// `get_downlink_data_delay`: how long after de-duplication the class A
    /// downlink waits for the application's data.
    #[serde(deserialize_with = "duration")]
    pub get_downlink_data_delay: Duration,
    /// `mac_commands_disabled`: send no MAC commands.
    pub mac_commands_disabled: bool,
    /// `adr_plugins`: extra ADR algorithms (JavaScript files).
    pub adr_plugins: Vec<String>,
    /// `max_mac_command_error_count`: a MAC command refused more often is
    /// not requested again.
    pub max_mac_command_error_count: u32,
    /// `[network.scheduler]`.
    pub scheduler: Scheduler,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        Self {
            net_id: NetId::default(),
            secondary_net_ids: Vec::new(),
            dev_addr_prefixes: Vec::new(),
            enabled_regions: vec!["eu868".into()],
            device_session_ttl: Duration::from_secs(31 * 86_400),
            deduplication_delay: Duration::from_millis(200),
            get_downlink_data_delay: Duration::from_millis(100),
            mac_commands_disabled: false,
            adr_plugins: Vec::new(),
            max_mac_command_error_count: 1,
            scheduler: Scheduler::default(),
        }
    }
}

/// `[network.scheduler]`: the class B/C and multicast downlink scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Scheduler {
    /// `interval`: how often the queue is scanned.
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    /// `batch_size`: devices per scan.
    pub batch_size: usize,
    /// `class_a_lock_duration`: how long a class A device is left alone
    /// after an uplink.
    #[serde(deserialize_with = "duration")]
    pub class_a_lock_duration: Duration,
    /// `class_c_lock_duration`: the gap between two class C downlinks.
    #[serde(deserialize_with = "duration")]
    pub class_c_lock_duration: Duration,
    /// `multicast_class_c_margin`.
    #[serde(deserialize_with = "duration")]
    pub multicast_class_c_margin: Duration,
    /// `multicast_class_b_margin`.
    #[serde(deserialize_with = "duration")]
    pub multicast_class_b_margin: Duration,
}

impl Default for Scheduler {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            batch_size: 100,
            class_a_lock_duration: Duration::from_secs(5),
            class_c_lock_duration: Duration::from_secs(5),
            multicast_class_c_margin: Duration::from_secs(5),
            multicast_class_b_margin: Duration::from_secs(5),
        }
    }
}

/// `[api]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Api {
    /// `bind`: `ip:port` of the management API (gRPC, gRPC-web, REST/JSON;
    /// empty: off).
    pub bind: String,
    /// `secret`: the key that signs login and API tokens (empty: one is
    /// generated and kept in the database).
    pub secret: String,
}

impl Default for Api {
    fn default() -> Self {
        Self {
            bind: "0.0.0.0:8080".into(),
            secret: String::new(),
        }
    }
}

/// `[gateway]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct GatewaySettings {
    /// `allow_unknown_gateways`: accept uplinks from gateways not in the
    /// database.
    pub allow_unknown_gateways: bool,
    /// `client_cert_lifetime`: lifetime of the gateway client certificates
    /// the API issues.
    #[serde(deserialize_with = "duration")]
    pub client_cert_lifetime: Duration,
    /// `ca_cert`: PEM CA certificate that signs them.
    pub ca_cert: String,
    /// `ca_key`: its PEM key.
    pub ca_key: String,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            allow_unknown_gateways: false,
            client_cert_lifetime: Duration::from_secs(365 * 86_400),
            ca_cert: String::new(),
            ca_key: String::new(),
        }
    }
}

/// `[monitoring]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Monitoring {
    /// `bind`: `ip:port` serving `/metrics` and `/health` (empty: off;
    /// default `127.0.0.1:8070`).
    pub bind: String,
}

impl Default for Monitoring {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8070".into(),
        }
    }
}

/// `[mqtt_broker]` (an extension): the all-in-one server's embedded MQTT
/// broker, which gateways and integrations reach at [`EMBEDDED_BROKER`](super::EMBEDDED_BROKER)
/// by default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct MqttBroker {
    /// `bind`: `ip:port` of the embedded broker's MQTT 5 listener (empty:
    /// the broker is not started). When the port is taken, an external
    /// broker is assumed to listen there.
    pub bind: String,
    /// `bind_v4`: `ip:port` of its MQTT 3.1.1 listener, for gateway
    /// bridges (the broker serves one protocol version per port).
    pub bind_v4: String,
}

impl Default for MqttBroker {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:1883".into(),
            bind_v4: "127.0.0.1:1884".into(),
        }
    }
}

/// `[integration]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Integration {
    /// `enabled`: the global integrations, `"mqtt"` and `"http"`.
    pub enabled: Vec<String>,
    /// `[integration.mqtt]`.
    pub mqtt: MqttIntegration,
    /// `[integration.http]` (an extension: ChirpStack configures HTTP per
    /// application).
    pub http: HttpIntegration,
}

impl Default for Integration {
    fn default() -> Self {
        Self {
            enabled: vec!["mqtt".into()],
            mqtt: MqttIntegration::default(),
            http: HttpIntegration::default(),
        }
    }
}

impl Integration {
    /// Whether the integration `name` (`"mqtt"`, `"http"`) is enabled.
    pub fn is_enabled(&self, name: &str) -> bool {
        self.enabled.iter().any(|e| e == name)
    }
}

/// `[integration.mqtt]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct MqttIntegration {
    /// `event_topic`: template with `{{application_id}}`, `{{dev_eui}}`
    /// and `{{event}}`.
    pub event_topic: String,
    /// `command_topic`: template with `{{application_id}}`, `{{dev_eui}}`
    /// and `{{command}}`.
    pub command_topic: String,
    /// `json`: events as JSON (else protobuf).
    pub json: bool,
    /// `server`: `tcp://host:port` (or `mqtt://`) in clear, `ssl://host:port`
    /// (or `tls://`, `mqtts://`) over TLS with `ca_cert`, `tls_cert` and
    /// `tls_key`.
    pub server: String,
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: String,
    /// `qos`: 0, 1 or 2.
    pub qos: u8,
    /// `clean_session`.
    pub clean_session: bool,
    /// `client_id` (empty: a random one).
    pub client_id: String,
    /// `keep_alive_interval`.
    #[serde(deserialize_with = "duration")]
    pub keep_alive_interval: Duration,
    /// `ca_cert`: PEM file of the broker's CA (empty: the system's roots);
    /// for a TLS `server` only.
    pub ca_cert: String,
    /// `tls_cert`: PEM client certificate file (with `tls_key`, or not at
    /// all); for a TLS `server` only.
    pub tls_cert: String,
    /// `tls_key`: PEM key file of `tls_cert`.
    pub tls_key: String,
    /// `tcp_nodelay` (an extension): set `TCP_NODELAY` on the connection
    /// to the broker, so that each event goes out at once instead of
    /// waiting, small, for the previous segment's ACK (Nagle's algorithm
    /// with the broker's delayed ACK adds 20–40 ms to the tail of small
    /// QoS 0 messages). On by default: measured end to end, it costs no
    /// CPU per uplink that two runs can tell apart (docs/benchmarks.md);
    /// `false` is rumqttc's and ChirpStack's behaviour.
    pub tcp_nodelay: bool,
}

impl Default for MqttIntegration {
    fn default() -> Self {
        Self {
            event_topic: DEFAULT_EVENT_TOPIC.into(),
            command_topic: DEFAULT_COMMAND_TOPIC.into(),
            json: true,
            server: EMBEDDED_BROKER.into(),
            username: String::new(),
            password: String::new(),
            qos: 0,
            clean_session: false,
            client_id: String::new(),
            keep_alive_interval: Duration::from_secs(30),
            ca_cert: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            tcp_nodelay: true,
        }
    }
}

impl MqttIntegration {
    /// The events' encoding.
    pub fn encoding(&self) -> Encoding {
        if self.json {
            Encoding::Json
        } else {
            Encoding::Protobuf
        }
    }
}

/// `[integration.http]`: every event POSTed to the endpoints, as
/// ChirpStack's per-application HTTP integration does.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct HttpIntegration {
    /// `event_endpoint_url`: one URL or several separated by commas.
    pub event_endpoint_url: String,
    /// `[integration.http.headers]`: added to every request.
    pub headers: BTreeMap<String, String>,
    /// `json`: bodies as JSON (else protobuf).
    pub json: bool,
}

impl Default for HttpIntegration {
    fn default() -> Self {
        Self {
            event_endpoint_url: String::new(),
            headers: BTreeMap::new(),
            json: true,
        }
    }
}

impl HttpIntegration {
    /// The bodies' encoding.
    pub fn encoding(&self) -> Encoding {
        if self.json {
            Encoding::Json
        } else {
            Encoding::Protobuf
        }
    }
}

/// `[backend]` (an extension).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Backend {
    /// `[backend.semtech_udp]`.
    pub semtech_udp: SemtechUdp,
}

/// `[backend.semtech_udp]`: the all-in-one server's built-in Semtech UDP
/// bridge.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct SemtechUdp {
    /// `bind`: `ip:port` of the UDP socket (empty: no built-in bridge).
    pub bind: String,
    /// `region_id`: the region its gateways are in (empty: the first of
    /// `network.enabled_regions`).
    pub region_id: String,
}

impl Default for SemtechUdp {
    fn default() -> Self {
        Self {
            bind: "0.0.0.0:1700".into(),
            region_id: String::new(),
        }
    }
}
