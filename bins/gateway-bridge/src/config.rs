//! The configuration: TOML with ChirpStack Gateway Bridge's key names, so its
//! configuration files work unchanged (keys this bridge does not implement yet
//! are accepted and ignored).
//!
//! Several files can be given; each is read, `$NAME` / `${NAME}` are replaced
//! by environment variables, and the tables are merged, later files winning
//! key by key. [`DEFAULT_CONFIG`] is the documented default file that
//! `gateway-bridge configfile` prints.
//!
//! ```
//! use gateway_bridge::config::{Config, Marshaler};
//!
//! let config = Config::from_toml_strs(&[
//!     "[integration]\nmarshaler = \"json\"",
//!     "[backend.semtech_udp]\nudp_bind = \"127.0.0.1:1700\"",
//! ])?;
//! assert_eq!(config.integration.marshaler, Marshaler::Json);
//! assert_eq!(config.backend.semtech_udp.udp_bind, "127.0.0.1:1700");
//! # Ok::<(), gateway_bridge::config::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lorawan::Eui64;
use lorawan::region::Region;
use serde::{Deserialize, Deserializer};

/// The documented default configuration, as `gateway-bridge configfile`
/// prints it. Parsing it gives [`Config::default`].
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// Why the configuration could not be loaded.
///
/// An underlying error (the system's, the TOML parser's) is the variant's
/// [`source`](std::error::Error::source), left out of its own message, so
/// that a report walking the chain (the binary's, through `anyhow`) says it
/// once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid TOML.
    #[error("config file {name} is not valid TOML")]
    Syntax {
        /// The file name (or `#i` for the i-th string).
        name: String,
        /// What the parser said.
        #[source]
        source: toml::de::Error,
    },
    /// The merged files have a key with a wrong type or value.
    #[error("invalid configuration")]
    Invalid(#[source] toml::de::Error),
    /// A value is well-typed but unusable.
    #[error("invalid configuration: {0}")]
    Value(String),
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Config {
    /// `[general]`.
    pub general: General,
    /// `[backend]`.
    pub backend: Backend,
    /// `[filters]`.
    pub filters: Filters,
    /// `[integration]`.
    pub integration: Integration,
    /// `[metrics]`.
    pub metrics: Metrics,
    /// `[meta_data]`.
    pub meta_data: MetaData,
    /// `[commands]`.
    pub commands: Commands,
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Metrics {
    /// `[metrics.prometheus]`.
    pub prometheus: Prometheus,
}

/// `[metrics.prometheus]`: the HTTP endpoint serving `/metrics`
/// (Prometheus text) and `/health`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Prometheus {
    /// `endpoint_enabled`: serve the endpoint.
    pub endpoint_enabled: bool,
    /// `bind`: `ip:port` of the endpoint.
    pub bind: String,
}

impl Default for Prometheus {
    fn default() -> Self {
        Self {
            endpoint_enabled: false,
            bind: "0.0.0.0:9100".into(),
        }
    }
}

/// `[general]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct General {
    /// `log_level`: 0 panic … 4 info, 5 debug (ChirpStack's numbers; 6 is
    /// trace here). `RUST_LOG`, when set, wins.
    pub log_level: u8,
    /// `worker_threads` (an extension): 1 runs the bridge on one thread,
    /// which costs the least CPU per uplink (no hand-offs between the UDP
    /// loop and the MQTT client); more spread many TLS Basics Station
    /// connections over cores.
    pub worker_threads: usize,
}

impl Default for General {
    fn default() -> Self {
        Self {
            log_level: 4,
            worker_threads: 1,
        }
    }
}

/// A gateway backend (`[backend] type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// Semtech UDP packet forwarders (`[backend.semtech_udp]`).
    SemtechUdp,
    /// LoRa Basics Station (`[backend.basic_station]`).
    BasicStation,
}

/// `[backend]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Backend {
    /// `type`: `"semtech_udp"`, `"basic_station"`, or both as an array
    /// (`["semtech_udp", "basic_station"]`, an extension: ChirpStack runs
    /// one backend per bridge).
    #[serde(rename = "type", deserialize_with = "one_or_many")]
    pub kinds: Vec<BackendKind>,
    /// `gateway_id`: for a bridge that runs for one gateway (on the gateway
    /// itself), that gateway's EUI. Its OFFLINE `state/conn` becomes the
    /// MQTT last will, so the broker publishes it when the bridge dies or
    /// loses its connection. Other gateways are served all the same.
    pub gateway_id: String,
    /// `[backend.semtech_udp]`.
    pub semtech_udp: SemtechUdp,
    /// `[backend.basic_station]`.
    pub basic_station: BasicStation,
}

impl Default for Backend {
    fn default() -> Self {
        Self {
            kinds: vec![BackendKind::SemtechUdp],
            gateway_id: String::new(),
            semtech_udp: SemtechUdp::default(),
            basic_station: BasicStation::default(),
        }
    }
}

impl Backend {
    /// `gateway_id` parsed; `None` when empty.
    ///
    /// # Errors
    /// When it is not an EUI.
    pub fn gateway_id(&self) -> Result<Option<Eui64>, ConfigError> {
        if self.gateway_id.is_empty() {
            return Ok(None);
        }
        self.gateway_id.parse().map(Some).map_err(|_| {
            ConfigError::Value(format!(
                "backend.gateway_id {:?} is not a gateway EUI (16 hex digits)",
                self.gateway_id
            ))
        })
    }

    /// Whether the backend `kind` is enabled.
    pub fn enabled(&self, kind: BackendKind) -> bool {
        self.kinds.contains(&kind)
    }
}

/// `[backend.semtech_udp]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct SemtechUdp {
    /// `udp_bind`: `ip:port` of the UDP socket.
    pub udp_bind: String,
    /// `skip_crc_check`: also forward frames whose CRC is bad or missing.
    pub skip_crc_check: bool,
    /// `fake_rx_time`: set `gw_time` to the bridge's clock for frames
    /// without `time`.
    pub fake_rx_time: bool,
    /// `connection_timeout_duration`: a gateway without PULL_DATA for this
    /// long is offline.
    #[serde(deserialize_with = "go_duration")]
    pub connection_timeout_duration: Duration,
}

impl Default for SemtechUdp {
    fn default() -> Self {
        Self {
            udp_bind: "0.0.0.0:1700".into(),
            skip_crc_check: false,
            fake_rx_time: false,
            connection_timeout_duration: Duration::from_secs(60),
        }
    }
}

/// `[backend.basic_station]`: the LNS websocket server for LoRa Basics
/// Station gateways.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct BasicStation {
    /// `bind`: `ip:port` (or Go's `:port` for every interface) of the
    /// HTTP/websocket listener.
    pub bind: String,
    /// `tls_support_proxy`: a TLS-terminating proxy is in front, so
    /// `/router-info` answers `wss://` URIs although this listener is plain.
    pub tls_support_proxy: bool,
    /// `tls_cert`: PEM certificate chain of the listener (enables TLS).
    pub tls_cert: String,
    /// `tls_key`: PEM private key of `tls_cert`.
    pub tls_key: String,
    /// `ca_cert`: PEM CA certificates; when set, every station must present
    /// a client certificate signed by one of them whose Common Name is its
    /// EUI.
    pub ca_cert: String,
    /// `stats_interval`: how often `event/stats` is published per station.
    #[serde(deserialize_with = "go_duration")]
    pub stats_interval: Duration,
    /// `ping_interval`: websocket ping period.
    #[serde(deserialize_with = "go_duration")]
    pub ping_interval: Duration,
    /// `timesync_interval`: LNS-initiated GPS time transfer period (0: off).
    #[serde(deserialize_with = "go_duration")]
    pub timesync_interval: Duration,
    /// `read_timeout`: a station silent for this long (no message, no pong)
    /// is disconnected.
    #[serde(deserialize_with = "go_duration")]
    pub read_timeout: Duration,
    /// `write_timeout`: a send that takes longer disconnects the station.
    #[serde(deserialize_with = "go_duration")]
    pub write_timeout: Duration,
    /// `region`: the stations' region, ChirpStack's name (`EU868`, `US915`,
    /// `AS923`, `AS923_2`, …).
    pub region: String,
    /// `frequency_min`: lowest downlink frequency, Hz.
    pub frequency_min: u32,
    /// `frequency_max`: highest downlink frequency, Hz.
    pub frequency_max: u32,
    /// `[[backend.basic_station.concentrators]]`: the uplink channels, one
    /// entry per SX1301 (empty: the region's default channels).
    pub concentrators: Vec<Concentrator>,
}

impl Default for BasicStation {
    fn default() -> Self {
        Self {
            bind: ":3001".into(),
            tls_support_proxy: false,
            tls_cert: String::new(),
            tls_key: String::new(),
            ca_cert: String::new(),
            stats_interval: Duration::from_secs(30),
            ping_interval: Duration::from_secs(60),
            timesync_interval: Duration::ZERO,
            read_timeout: Duration::from_secs(65),
            write_timeout: Duration::from_secs(1),
            region: "EU868".into(),
            frequency_min: 863_000_000,
            frequency_max: 870_000_000,
            concentrators: Vec::new(),
        }
    }
}

impl BasicStation {
    /// `bind` as a socket address string (`:3001` → `0.0.0.0:3001`).
    pub fn bind_addr(&self) -> String {
        if self.bind.starts_with(':') {
            format!("0.0.0.0{}", self.bind)
        } else {
            self.bind.clone()
        }
    }

    /// `region` parsed.
    ///
    /// # Errors
    /// When the name is not a region.
    pub fn region(&self) -> Result<Region, ConfigError> {
        self.region.parse().map_err(|_| {
            ConfigError::Value(format!(
                "backend.basic_station.region {:?} is not a region (EU868, US915, AS923, …)",
                self.region
            ))
        })
    }
}

/// One `[[backend.basic_station.concentrators]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Concentrator {
    /// `[…multi_sf]`.
    pub multi_sf: MultiSf,
    /// `[…lora_std]`.
    pub lora_std: LoraStd,
    /// `[…fsk]`.
    pub fsk: Fsk,
}

/// The multi-SF (125 kHz) channels of a concentrator.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct MultiSf {
    /// `frequencies`, Hz.
    pub frequencies: Vec<u32>,
}

/// The single-SF LoRa channel of a concentrator (0 Hz: none).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct LoraStd {
    /// `frequency`, Hz.
    pub frequency: u32,
    /// `bandwidth`, Hz.
    pub bandwidth: u32,
    /// `spreading_factor`.
    pub spreading_factor: u8,
}

/// The FSK channel of a concentrator (0 Hz: none).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Fsk {
    /// `frequency`, Hz.
    pub frequency: u32,
}

/// `[filters]`: uplinks (and, for Basics Station, the station's own
/// filters in `router_config`) limited to some networks and joins. Empty
/// lists pass everything.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Filters {
    /// `net_ids`: data frames pass when their DevAddr belongs to one of
    /// these NetIDs (hex, `"000013"`).
    pub net_ids: Vec<String>,
    /// `dev_addr_prefixes`: data frames pass when their DevAddr matches one
    /// of these prefixes (`"26000000/7"`, ChirpStack MQTT Forwarder's form).
    pub dev_addr_prefixes: Vec<String>,
    /// `join_euis`: join-requests pass when their JoinEUI is in one of these
    /// inclusive ranges (`[["0000000000000000", "00000000000000ff"]]`).
    pub join_euis: Vec<[String; 2]>,
    /// `join_eui_prefixes`: join-requests pass when their JoinEUI matches one
    /// of these prefixes (`"70b3d57ed0000000/36"`).
    pub join_eui_prefixes: Vec<String>,
}

/// `[meta_data]`: key/value pairs added to every `event/stats`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct MetaData {
    /// `[meta_data.static]`: fixed pairs.
    #[serde(rename = "static")]
    pub fixed: BTreeMap<String, String>,
    /// `[meta_data.dynamic]`: pairs read from commands' output.
    pub dynamic: DynamicMetaData,
}

/// `[meta_data.dynamic]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DynamicMetaData {
    /// `execution_interval`: how often the commands run.
    #[serde(deserialize_with = "go_duration")]
    pub execution_interval: Duration,
    /// `max_execution_duration`: a command running longer is killed.
    #[serde(deserialize_with = "go_duration")]
    pub max_execution_duration: Duration,
    /// `split_delimiter`: a command printing `key<delimiter>value` lines
    /// gives one pair per line, its key prefixed with `<name>_`.
    pub split_delimiter: String,
    /// `[meta_data.dynamic.commands]`: `name = "command line"` (split into
    /// words as a shell would, with quotes and backslashes, but run without
    /// one); its output (trailing newline removed) is the value of `name`.
    pub commands: BTreeMap<String, String>,
}

impl Default for DynamicMetaData {
    fn default() -> Self {
        Self {
            execution_interval: Duration::from_secs(60),
            max_execution_duration: Duration::from_secs(1),
            split_delimiter: "=".into(),
            commands: BTreeMap::new(),
        }
    }
}

/// `[commands]`: what `command/exec` may run.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Commands {
    /// `[commands.commands.NAME]`.
    pub commands: BTreeMap<String, CommandDef>,
}

/// One `[commands.commands.NAME]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CommandDef {
    /// `command`: the program and its arguments, split into words as a
    /// shell would (quotes, backslashes) but run without one.
    pub command: String,
    /// `max_execution_duration`: a run taking longer is killed.
    #[serde(deserialize_with = "go_duration")]
    pub max_execution_duration: Duration,
}

impl Default for CommandDef {
    fn default() -> Self {
        Self {
            command: String::new(),
            max_execution_duration: Duration::from_secs(1),
        }
    }
}

/// How `gw` messages are encoded on MQTT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Marshaler {
    /// Protobuf binary (the default).
    #[default]
    Protobuf,
    /// ChirpStack's proto3 JSON.
    Json,
}

/// `[integration]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Integration {
    /// `marshaler`: `protobuf` or `json`.
    pub marshaler: Marshaler,
    /// `[integration.mqtt]`.
    pub mqtt: Mqtt,
}

/// `[integration.mqtt]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Mqtt {
    /// `event_topic_template`, with `{{ .GatewayID }}` and `{{ .EventType }}`.
    pub event_topic_template: String,
    /// `state_topic_template`, with `{{ .GatewayID }}` and `{{ .StateType }}`.
    pub state_topic_template: String,
    /// `command_topic_template`, with `{{ .GatewayID }}`; must end in `#` or
    /// `{{ .CommandType }}`.
    pub command_topic_template: String,
    /// `state_retained`: publish `state/conn` retained.
    pub state_retained: bool,
    /// `keep_alive`.
    #[serde(deserialize_with = "go_duration")]
    pub keep_alive: Duration,
    /// `max_reconnect_interval`: the ceiling of the reconnect backoff.
    #[serde(deserialize_with = "go_duration")]
    pub max_reconnect_interval: Duration,
    /// `protocol_version`: `"3.1.1"` (the default, as ChirpStack) or `"5"`
    /// (an extension).
    pub protocol_version: MqttVersion,
    /// `[integration.mqtt.auth]`.
    pub auth: Auth,
}

impl Default for Mqtt {
    fn default() -> Self {
        Self {
            event_topic_template: "gateway/{{ .GatewayID }}/event/{{ .EventType }}".into(),
            state_topic_template: "gateway/{{ .GatewayID }}/state/{{ .StateType }}".into(),
            command_topic_template: "gateway/{{ .GatewayID }}/command/#".into(),
            state_retained: true,
            keep_alive: Duration::from_secs(30),
            max_reconnect_interval: Duration::from_secs(60),
            protocol_version: MqttVersion::V311,
            auth: Auth::default(),
        }
    }
}

/// The MQTT protocol version spoken to the broker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum MqttVersion {
    /// MQTT 3.1.1.
    #[default]
    #[serde(rename = "3.1.1")]
    V311,
    /// MQTT 5.
    #[serde(rename = "5")]
    V5,
}

/// `[integration.mqtt.auth]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Auth {
    /// `type`: only `generic` so far.
    #[serde(rename = "type")]
    pub kind: String,
    /// `[integration.mqtt.auth.generic]`.
    pub generic: GenericAuth,
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            kind: "generic".into(),
            generic: GenericAuth::default(),
        }
    }
}

/// `[integration.mqtt.auth.generic]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct GenericAuth {
    /// `servers`: broker URLs, `tcp://host:port` (or `mqtt://`) in clear,
    /// `ssl://host:port` (or `tls://`, `mqtts://`) over TLS. Only the first
    /// is used.
    pub servers: Vec<String>,
    /// `server`: the pre-v4 single-server key, used when `servers` is empty.
    pub server: Option<String>,
    /// `username` (empty: none).
    pub username: String,
    /// `password`.
    pub password: String,
    /// `qos`: 0, 1 or 2.
    pub qos: u8,
    /// `clean_session`.
    pub clean_session: bool,
    /// `client_id` (empty: a random one).
    pub client_id: String,
    /// `ca_cert`: PEM file of the CA certificates that sign the broker's
    /// certificate (empty: the system's trust store).
    pub ca_cert: String,
    /// `tls_cert`: PEM file of the client certificate, for brokers that
    /// authenticate clients by certificate.
    pub tls_cert: String,
    /// `tls_key`: PEM file of the private key of `tls_cert`.
    pub tls_key: String,
}

impl Default for GenericAuth {
    fn default() -> Self {
        Self {
            servers: vec!["tcp://127.0.0.1:1883".into()],
            server: None,
            username: String::new(),
            password: String::new(),
            qos: 0,
            clean_session: true,
            client_id: String::new(),
            ca_cert: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
        }
    }
}

impl GenericAuth {
    /// The broker to connect to: the first of `servers`, else `server`.
    pub fn broker_url(&self) -> Option<&str> {
        self.servers
            .first()
            .map(String::as_str)
            .or(self.server.as_deref())
    }
}

impl Config {
    /// Reads, substitutes and merges the given files (no file: the defaults).
    ///
    /// # Errors
    /// [`ConfigError`] naming the file or key at fault.
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<Self, ConfigError> {
        let mut merged = toml::Table::new();
        for path in paths {
            let path = path.as_ref();
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let table = parse_table(&path.display().to_string(), &text)?;
            config_text::merge_tables(&mut merged, table);
        }
        Self::from_table(merged)
    }

    /// As [`Config::load`], from the files' texts.
    ///
    /// # Errors
    /// [`ConfigError`].
    pub fn from_toml_strs(texts: &[&str]) -> Result<Self, ConfigError> {
        let mut merged = toml::Table::new();
        for (i, text) in texts.iter().enumerate() {
            config_text::merge_tables(&mut merged, parse_table(&format!("#{i}"), text)?);
        }
        Self::from_table(merged)
    }

    fn from_table(table: toml::Table) -> Result<Self, ConfigError> {
        let config = Self::deserialize(toml::Value::Table(table)).map_err(ConfigError::Invalid)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |s: String| Err(ConfigError::Value(s));
        if !(1..=1024).contains(&self.general.worker_threads) {
            return bad(format!(
                "general.worker_threads {} is not between 1 and 1024",
                self.general.worker_threads
            ));
        }
        if self.backend.kinds.is_empty() {
            return bad("backend.type names no backend".into());
        }
        self.backend.gateway_id()?;
        let bs = &self.backend.basic_station;
        if self.backend.enabled(BackendKind::BasicStation) {
            bs.region()?;
            if bs.tls_cert.is_empty() != bs.tls_key.is_empty() {
                return bad("backend.basic_station: tls_cert and tls_key go together".into());
            }
            if !bs.ca_cert.is_empty() && bs.tls_cert.is_empty() {
                return bad(
                    "backend.basic_station.ca_cert (client certificates) needs tls_cert and tls_key"
                        .into(),
                );
            }
            if bs.frequency_min > bs.frequency_max {
                return bad("backend.basic_station: frequency_min is above frequency_max".into());
            }
        }
        let mqtt = &self.integration.mqtt;
        if mqtt.auth.kind != "generic" {
            return bad(format!(
                "integration.mqtt.auth.type {:?} is not supported (only \"generic\")",
                mqtt.auth.kind
            ));
        }
        let generic = &mqtt.auth.generic;
        if generic.qos > 2 {
            return bad(format!(
                "integration.mqtt.auth.generic.qos {} is not 0, 1 or 2",
                generic.qos
            ));
        }
        if generic.broker_url().is_none() {
            return bad("integration.mqtt.auth.generic.servers is empty".into());
        }
        if generic.tls_cert.is_empty() != generic.tls_key.is_empty() {
            return bad("integration.mqtt.auth.generic: tls_cert and tls_key go together".into());
        }
        crate::topics::Topics::new(mqtt).map_err(ConfigError::Value)?;
        crate::filters::Filters::new(&self.filters).map_err(ConfigError::Value)?;
        Ok(())
    }
}

fn parse_table(name: &str, text: &str) -> Result<toml::Table, ConfigError> {
    toml::from_str(&config_text::substitute_env(text, |k| {
        std::env::var(k).ok()
    }))
    .map_err(|source| ConfigError::Syntax {
        name: name.to_owned(),
        source,
    })
}

/// A duration as ChirpStack Gateway Bridge writes them (Go's `"1m30s"`;
/// [`config_text::parse_duration`] also reads `"200ms"` or `"1h 30m"`).
fn go_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    config_text::parse_duration(&text).map_err(serde::de::Error::custom)
}

/// A string or an array of strings (`type = "a"` or `type = ["a", "b"]`).
fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        One(T),
        Many(Vec<T>),
    }
    // Untagged enums hide the variant error; name the accepted values.
    match OneOrMany::deserialize(d) {
        Ok(OneOrMany::One(t)) => Ok(vec![t]),
        Ok(OneOrMany::Many(v)) => Ok(v),
        Err(_) => Err(serde::de::Error::custom(
            "backend.type must be \"semtech_udp\", \"basic_station\" or an array of them",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error and its causes, as the binary reports them.
    fn report(e: &ConfigError) -> String {
        let mut text = e.to_string();
        let mut cause = std::error::Error::source(e);
        while let Some(c) = cause {
            text = format!("{text}: {c}");
            cause = c.source();
        }
        text
    }

    #[test]
    fn each_cause_is_reported_once() {
        let e = Config::load(&["/nonexistent/gateway-bridge.toml"]).unwrap_err();
        let text = report(&e);
        assert_eq!(text.matches("No such file").count(), 1, "{text}");
        let e = Config::from_toml_strs(&["[backend\n"]).unwrap_err();
        assert_eq!(e.to_string(), "config file #0 is not valid TOML");
        assert!(report(&e).len() > e.to_string().len());
    }

    #[test]
    fn documented_defaults_parse_to_the_defaults() {
        assert_eq!(
            Config::from_toml_strs(&[DEFAULT_CONFIG]).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn chirpstack_gateway_bridge_keys_are_read() {
        let config = Config::from_toml_strs(&[r#"
            [general]
            log_level = 5
            [backend]
            type = "semtech_udp"
            [backend.semtech_udp]
            udp_bind = "127.0.0.1:1701"
            skip_crc_check = true
            connection_timeout_duration = "1m30s"
            [filters]
            net_ids = ["000013"]
            [integration]
            marshaler = "json"
            [integration.mqtt]
            event_topic_template = "eu868/gateway/{{ .GatewayID }}/event/{{ .EventType }}"
            command_topic_template = "eu868/gateway/{{ .GatewayID }}/command/#"
            keep_alive = "10s"
            max_reconnect_interval = "2m"
            [integration.mqtt.auth.generic]
            servers = ["tcp://broker:1883", "tcp://other:1883"]
            username = "u"
            password = "p"
            qos = 1
            clean_session = false
            client_id = "bridge-1"
            [metrics.prometheus]
            endpoint_enabled = true
            bind = "127.0.0.1:9101"
        "#])
        .unwrap();
        assert_eq!(config.general.log_level, 5);
        let udp = &config.backend.semtech_udp;
        assert_eq!(udp.udp_bind, "127.0.0.1:1701");
        assert!(udp.skip_crc_check);
        assert_eq!(udp.connection_timeout_duration, Duration::from_secs(90));
        assert_eq!(config.integration.marshaler, Marshaler::Json);
        let mqtt = &config.integration.mqtt;
        assert_eq!(mqtt.keep_alive, Duration::from_secs(10));
        assert_eq!(mqtt.max_reconnect_interval, Duration::from_secs(120));
        assert!(mqtt.state_retained);
        let g = &mqtt.auth.generic;
        assert_eq!(g.broker_url(), Some("tcp://broker:1883"));
        assert_eq!((g.username.as_str(), g.password.as_str()), ("u", "p"));
        assert_eq!((g.qos, g.clean_session), (1, false));
        assert_eq!(g.client_id, "bridge-1");
        let prometheus = &config.metrics.prometheus;
        assert!(prometheus.endpoint_enabled);
        assert_eq!(prometheus.bind, "127.0.0.1:9101");
    }

    #[test]
    fn basic_station_and_extension_keys_are_read() {
        let config = Config::from_toml_strs(&[r#"
            [backend]
            type = ["semtech_udp", "basic_station"]
            [backend.basic_station]
            bind = ":3002"
            tls_support_proxy = true
            stats_interval = "10s"
            ping_interval = "30s"
            timesync_interval = "1h"
            read_timeout = "1m"
            write_timeout = "2s"
            region = "US915"
            frequency_min = 902000000
            frequency_max = 928000000
            [[backend.basic_station.concentrators]]
            [backend.basic_station.concentrators.multi_sf]
            frequencies = [903900000, 904100000]
            [backend.basic_station.concentrators.lora_std]
            frequency = 904600000
            bandwidth = 500000
            spreading_factor = 8
            [filters]
            net_ids = ["000013"]
            dev_addr_prefixes = ["26000000/7"]
            join_euis = [["0000000000000000", "00000000000000ff"]]
            [meta_data.static]
            serial = "A1"
            [meta_data.dynamic]
            execution_interval = "5m"
            [meta_data.dynamic.commands]
            uptime = "cat /proc/uptime"
            [commands.commands.reboot]
            command = "/sbin/reboot now"
            max_execution_duration = "3s"
            [integration.mqtt]
            protocol_version = "5"
        "#])
        .unwrap();
        assert!(config.backend.enabled(BackendKind::SemtechUdp));
        assert!(config.backend.enabled(BackendKind::BasicStation));
        let bs = &config.backend.basic_station;
        assert_eq!(bs.bind_addr(), "0.0.0.0:3002");
        assert!(bs.tls_support_proxy);
        assert_eq!(bs.stats_interval, Duration::from_secs(10));
        assert_eq!(bs.timesync_interval, Duration::from_secs(3600));
        assert_eq!(bs.region().unwrap(), Region::Us915);
        assert_eq!(bs.concentrators[0].multi_sf.frequencies.len(), 2);
        assert_eq!(bs.concentrators[0].lora_std.bandwidth, 500_000);
        assert_eq!(bs.concentrators[0].fsk.frequency, 0);
        assert_eq!(config.filters.net_ids, ["000013"]);
        assert_eq!(config.filters.join_euis[0][1], "00000000000000ff");
        assert_eq!(config.meta_data.fixed["serial"], "A1");
        let dynamic = &config.meta_data.dynamic;
        assert_eq!(dynamic.execution_interval, Duration::from_secs(300));
        assert_eq!(dynamic.split_delimiter, "=");
        assert_eq!(dynamic.commands["uptime"], "cat /proc/uptime");
        let reboot = &config.commands.commands["reboot"];
        assert_eq!(reboot.command, "/sbin/reboot now");
        assert_eq!(reboot.max_execution_duration, Duration::from_secs(3));
        assert_eq!(config.integration.mqtt.protocol_version, MqttVersion::V5);
    }

    #[test]
    fn later_files_override_earlier_ones_key_by_key() {
        let config = Config::from_toml_strs(&[
            "[integration.mqtt.auth.generic]\nusername = \"a\"\npassword = \"secret\"",
            "[integration.mqtt.auth.generic]\nusername = \"b\"",
        ])
        .unwrap();
        let g = &config.integration.mqtt.auth.generic;
        assert_eq!((g.username.as_str(), g.password.as_str()), ("b", "secret"));
    }

    #[test]
    fn legacy_single_server_key_is_used_when_servers_is_empty() {
        let config = Config::from_toml_strs(&[
            "[integration.mqtt.auth.generic]\nservers = []\nserver = \"tcp://old:1883\"",
        ])
        .unwrap();
        assert_eq!(
            config.integration.mqtt.auth.generic.broker_url(),
            Some("tcp://old:1883")
        );
    }

    #[test]
    fn bad_values_are_rejected_with_the_key_named() {
        for (text, needle) in [
            ("[integration]\nmarshaler = \"xml\"", "xml"),
            ("[integration.mqtt.auth.generic]\nqos = 3", "qos"),
            ("[integration.mqtt]\nkeep_alive = \"soon\"", "soon"),
            ("[backend]\ntype = \"lorix\"", "basic_station"),
            ("[backend]\ntype = []", "no backend"),
            ("[backend]\ngateway_id = \"0102\"", "gateway_id"),
            (
                "[backend]\ntype = \"basic_station\"\n[backend.basic_station]\nregion = \"EU999\"",
                "EU999",
            ),
            (
                "[backend]\ntype = \"basic_station\"\n[backend.basic_station]\nca_cert = \"/ca.pem\"",
                "ca_cert",
            ),
            (
                "[integration.mqtt.auth.generic]\ntls_cert = \"/c.pem\"",
                "tls_key",
            ),
            (
                "[integration.mqtt]\nprotocol_version = \"4\"",
                "protocol_version",
            ),
            (
                "[integration.mqtt]\nevent_topic_template = \"gateway/event\"",
                "GatewayID",
            ),
            ("[backend.semtech_udp\n", "TOML"),
        ] {
            let e = report(&Config::from_toml_strs(&[text]).unwrap_err());
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}
