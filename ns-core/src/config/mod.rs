//! The network server's configuration: TOML with ChirpStack's key names, so
//! `chirpstack.toml` and ChirpStack's `region_*.toml` files are read as
//! they are (keys this server does not implement are accepted and
//! ignored).
//!
//! Every key has a default, and the defaults are the all-in-one server: an
//! SQLite database, the `eu868` region, gateways and integrations on the
//! embedded MQTT broker (`tcp://127.0.0.1:1883`), Semtech UDP gateways on
//! the built-in bridge (`0.0.0.0:1700`). [`DEFAULT_CONFIG`] is that file,
//! documented, as `network-server configfile` prints it.
//!
//! Several files (or directories of `*.toml` files, as ChirpStack's `-c`)
//! are read in order: in each, `$NAME` and `${NAME}` are replaced by
//! environment variables, then the tables are merged, later files winning
//! key by key. `[[regions]]` entries are merged by `id`.
//!
//! Regions: every region ChirpStack ships a file for is built in
//! ([`BUILTIN_REGION_IDS`]), so `enabled_regions = ["us915_1"]` works
//! without a region file. A `[[regions]]` entry with a `common_name`
//! replaces the built-in region of its id, as a ChirpStack region file
//! does; one without `common_name` amends it key by key.
//!
//! Storage: `[postgresql] dsn`, when set, selects PostgreSQL; otherwise
//! `[sqlite] path` (default `sqlite://{data_dir}/network-server.sqlite?mode=rwc`)
//! is used. See [`Config::database`].
//!
//! ```
//! use ns_core::config::{Config, Database};
//! use std::time::Duration;
//!
//! let config = Config::from_toml_strs(&[
//!     "[network]\nnet_id = \"000013\"\nenabled_regions = [\"eu868\", \"us915_1\"]",
//!     "[network]\ndeduplication_delay = \"300ms\"",
//! ])?;
//! assert_eq!(config.network.net_id.to_string(), "000013");
//! assert_eq!(config.dedup_config().deduplication_delay, Duration::from_millis(300));
//! assert_eq!(config.networks()?.len(), 2);
//! assert_eq!(
//!     config.database("/var/lib/ns".as_ref()),
//!     Database::Sqlite("sqlite:///var/lib/ns/network-server.sqlite?mode=rwc".into()),
//! );
//! # Ok::<(), ns_core::config::ConfigError>(())
//! ```

mod regions;
mod sections;
mod text;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lorawan::region::Network;
use serde::Deserialize;

use crate::dedup::DedupConfig;
use crate::mac::MacConfig;

pub use regions::{
    BUILTIN_REGION_IDS, ClassB, GatewayBackend, GatewayChannel, GatewayChannelModulation,
    GatewayMqtt, RegionEntry, RegionGateway, RegionNetwork, RejoinRequest, builtin_region,
};
pub use sections::{
    Api, Backend, GatewaySettings, HttpIntegration, Integration, Logging, Monitoring, MqttBroker,
    MqttIntegration, NetworkSettings, Postgresql, Redis, Scheduler, SemtechUdp, Sqlite,
};

/// The documented default configuration (`network-server configfile`).
/// Parsing it gives [`Config::default`].
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// The embedded MQTT broker of the all-in-one server: the default of every
/// `server` key.
pub const EMBEDDED_BROKER: &str = "tcp://127.0.0.1:1883";

/// The default `[sqlite] path`; `{data_dir}` is the server's data directory.
pub const DEFAULT_SQLITE_PATH: &str = "sqlite://{data_dir}/network-server.sqlite?mode=rwc";

/// Why the configuration could not be loaded. Each variant names the file
/// or the key at fault.
///
/// A variant with an underlying error (the system's, the TOML parser's,
/// `lorawan`'s) gives it as its [`source`](std::error::Error::source) and
/// leaves it out of its own message, so that a report that walks the
/// chain, as `anyhow` does, says it once:
///
/// ```
/// use ns_core::config::Config;
///
/// let error = Config::load(&["/nonexistent/chirpstack.toml"]).unwrap_err();
/// assert_eq!(error.to_string(), "cannot read config file /nonexistent/chirpstack.toml");
/// let cause = std::error::Error::source(&error).unwrap();
/// let io = cause.downcast_ref::<std::io::Error>().unwrap();
/// assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file or directory could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid TOML, or one of its keys has a value of the
    /// wrong type or form (the source shows the line).
    #[error("cannot parse config file {file}")]
    Syntax {
        /// The file's path (`#i` for the i-th string).
        file: String,
        /// What the parser said.
        #[source]
        source: toml::de::Error,
    },
    /// The merged files do not make a configuration (the source names the
    /// key).
    #[error("the merged config files are not a valid configuration")]
    Merged(#[source] toml::de::Error),
    /// A value is well-formed but unusable.
    #[error("invalid configuration: {key}: {message}")]
    Invalid {
        /// The key, dotted (`network.enabled_regions`,
        /// `regions[us915_1].gateway.backend.mqtt.qos`).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A region entry does not fit its region's parameters.
    #[error("invalid configuration: regions[{id}]")]
    Region {
        /// The entry's id.
        id: String,
        /// What `lorawan` found.
        #[source]
        source: lorawan::region::ConfigError,
    },
    /// A TLS file the configuration names cannot be used (the error names
    /// the key and the file).
    #[error(transparent)]
    Tls(#[from] tls_files::Error),
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Config {
    /// `[logging]`.
    pub logging: Logging,
    /// `[postgresql]`.
    pub postgresql: Postgresql,
    /// `[sqlite]`.
    pub sqlite: Sqlite,
    /// `[redis]`.
    pub redis: Redis,
    /// `[network]`.
    pub network: NetworkSettings,
    /// `[api]`.
    pub api: Api,
    /// `[gateway]`.
    pub gateway: GatewaySettings,
    /// `[monitoring]`.
    pub monitoring: Monitoring,
    /// `[mqtt_broker]` (an extension): the embedded MQTT broker.
    pub mqtt_broker: MqttBroker,
    /// `[integration]`.
    pub integration: Integration,
    /// `[backend]` (an extension): the all-in-one server's gateway bridge.
    pub backend: Backend,
    /// `[[regions]]`, after loading: the configured entries (built-ins
    /// amended or replaced), then the built-in entry of every enabled
    /// region not configured.
    pub regions: Vec<RegionEntry>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            logging: Logging::default(),
            postgresql: Postgresql::default(),
            sqlite: Sqlite::default(),
            redis: Redis::default(),
            network: NetworkSettings::default(),
            api: Api::default(),
            gateway: GatewaySettings::default(),
            monitoring: Monitoring::default(),
            mqtt_broker: MqttBroker::default(),
            integration: Integration::default(),
            backend: Backend::default(),
            regions: builtin_region("eu868").into_iter().collect(),
        }
    }
}

/// Where the server keeps its records.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Database {
    /// `[postgresql] dsn`.
    Postgresql(String),
    /// The `sqlite://` URL from `[sqlite] path`.
    Sqlite(String),
}

impl Database {
    /// The URL to connect to.
    pub fn url(&self) -> &str {
        match self {
            Self::Postgresql(url) | Self::Sqlite(url) => url,
        }
    }
}

impl Config {
    /// Reads, substitutes and merges the given files in order; a directory
    /// stands for its `*.toml` files in name order. No path: the defaults.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file or the key at fault.
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<Self, ConfigError> {
        let mut files = Vec::new();
        for path in paths {
            let path = path.as_ref();
            if path.is_dir() {
                let read_err = |source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                };
                let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(read_err)?
                    .filter_map(|entry| entry.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
                    .collect();
                found.sort();
                files.extend(found);
            } else {
                files.push(path.to_owned());
            }
        }
        let mut texts = Vec::with_capacity(files.len());
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            texts.push((path.display().to_string(), text));
        }
        Self::from_named(texts, |name| std::env::var(name).ok())
    }

    /// As [`Config::load`], from the files' texts (named `#0`, `#1`, … in
    /// errors), with the process environment.
    ///
    /// # Errors
    /// [`ConfigError`].
    pub fn from_toml_strs(texts: &[&str]) -> Result<Self, ConfigError> {
        Self::from_toml_strs_with_env(texts, |name| std::env::var(name).ok())
    }

    /// As [`Config::from_toml_strs`], `$NAME` looked up with `env`.
    ///
    /// # Errors
    /// [`ConfigError`].
    pub fn from_toml_strs_with_env(
        texts: &[&str],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let named = texts
            .iter()
            .enumerate()
            .map(|(i, text)| (format!("#{i}"), (*text).to_owned()))
            .collect();
        Self::from_named(named, env)
    }

    fn from_named(
        files: Vec<(String, String)>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut merged = toml::Table::new();
        for (file, text) in files {
            let text = text::substitute_env(&text, &env);
            let syntax = |source| ConfigError::Syntax {
                file: file.clone(),
                source,
            };
            // Typed first, so that a wrong value is reported with its file
            // and line; the merged tables no longer know either.
            toml::from_str::<Self>(&text).map_err(syntax)?;
            text::merge(&mut merged, toml::from_str(&text).map_err(syntax)?);
        }
        with_builtin_regions(&mut merged);
        let config = Self::deserialize(toml::Value::Table(merged)).map_err(ConfigError::Merged)?;
        config.validate()?;
        Ok(config)
    }

    /// The region entry of `id`.
    pub fn region(&self, id: &str) -> Option<&RegionEntry> {
        self.regions.iter().find(|r| r.id == id)
    }

    /// The entries of `network.enabled_regions`, in that order (an id
    /// without an entry is skipped; a loaded configuration has none).
    pub fn enabled_regions(&self) -> impl Iterator<Item = &RegionEntry> {
        self.network
            .enabled_regions
            .iter()
            .filter_map(|id| self.region(id))
    }

    /// The checked region configuration of every enabled region.
    ///
    /// # Errors
    /// Never for a loaded configuration (it was checked); for one changed
    /// since, the region at fault.
    pub fn networks(&self) -> Result<Vec<Network>, ConfigError> {
        self.enabled_regions().map(RegionEntry::network).collect()
    }

    /// The region the built-in Semtech UDP bridge's gateways are in.
    pub fn semtech_udp_region(&self) -> Option<&RegionEntry> {
        let id = &self.backend.semtech_udp.region_id;
        if id.is_empty() {
            self.enabled_regions().next()
        } else {
            self.region(id)
        }
    }

    /// The database: PostgreSQL when `[postgresql] dsn` is set, else SQLite
    /// at `[sqlite] path` with `{data_dir}` replaced (a plain file path
    /// becomes a `sqlite://…?mode=rwc` URL, created if missing).
    pub fn database(&self, data_dir: &Path) -> Database {
        if !self.postgresql.dsn.is_empty() {
            return Database::Postgresql(self.postgresql.dsn.clone());
        }
        let data_dir = data_dir.display().to_string();
        let path = self
            .sqlite
            .path
            .replace("{data_dir}", data_dir.trim_end_matches('/'));
        if path.starts_with("sqlite:") {
            Database::Sqlite(path)
        } else {
            Database::Sqlite(format!("sqlite://{path}?mode=rwc"))
        }
    }

    /// The de-duplicator's settings.
    pub fn dedup_config(&self) -> DedupConfig {
        DedupConfig {
            deduplication_delay: self.network.deduplication_delay,
            ..DedupConfig::default()
        }
    }

    /// The MAC-command settings.
    pub fn mac_config(&self) -> MacConfig {
        MacConfig {
            max_error_count: self.network.max_mac_command_error_count,
            ..MacConfig::default()
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| {
            Err(ConfigError::Invalid {
                key: key.into(),
                message,
            })
        };
        if !["trace", "debug", "info", "warn", "error", "off"]
            .contains(&self.logging.level.to_ascii_lowercase().as_str())
        {
            return bad(
                "logging.level",
                format!(
                    "{:?} is not trace, debug, info, warn, error or off",
                    self.logging.level
                ),
            );
        }
        let dsn = &self.postgresql.dsn;
        let postgres = dsn.starts_with("postgres://") || dsn.starts_with("postgresql://");
        if !(dsn.is_empty() || postgres) {
            return bad(
                "postgresql.dsn",
                format!("{dsn:?} is not a postgres:// URL"),
            );
        }
        for (key, n) in [
            (
                "postgresql.max_open_connections",
                self.postgresql.max_open_connections,
            ),
            (
                "sqlite.max_open_connections",
                self.sqlite.max_open_connections,
            ),
        ] {
            if n == 0 {
                return bad(key, "must be at least 1".into());
            }
        }
        if self.sqlite.path.is_empty() {
            return bad("sqlite.path", "is empty".into());
        }
        for pragma in &self.sqlite.pragmas {
            // One statement each, run as `PRAGMA {pragma}`.
            if pragma.trim().is_empty() || pragma.contains(';') {
                return bad(
                    "sqlite.pragmas",
                    format!("{pragma:?} is not one pragma (\"name = value\")"),
                );
            }
        }
        for (key, addr) in [
            ("api.bind", &self.api.bind),
            ("monitoring.bind", &self.monitoring.bind),
            ("mqtt_broker.bind", &self.mqtt_broker.bind),
            ("mqtt_broker.bind_v4", &self.mqtt_broker.bind_v4),
            ("backend.semtech_udp.bind", &self.backend.semtech_udp.bind),
        ] {
            let off = addr.is_empty();
            if !(off || is_host_port(addr)) {
                return bad(key, format!("{addr:?} is not host:port"));
            }
        }
        self.validate_network()?;
        self.validate_integrations()?;
        self.validate_regions()
    }

    fn validate_network(&self) -> Result<(), ConfigError> {
        let net = &self.network;
        let bad = |key: &str, message: String| {
            Err(ConfigError::Invalid {
                key: format!("network.{key}"),
                message,
            })
        };
        if net.enabled_regions.is_empty() {
            return bad("enabled_regions", "names no region".into());
        }
        let mut seen = HashSet::new();
        for id in &net.enabled_regions {
            if !seen.insert(id) {
                return bad("enabled_regions", format!("{id:?} is listed twice"));
            }
            if self.region(id).is_none() {
                return bad(
                    "enabled_regions",
                    format!(
                        "{id:?} is neither a [[regions]] id nor a built-in region ({})",
                        BUILTIN_REGION_IDS.join(", ")
                    ),
                );
            }
        }
        if net.deduplication_delay > Duration::from_secs(10) {
            return bad(
                "deduplication_delay",
                format!("{:?} is above 10 s", net.deduplication_delay),
            );
        }
        if net.scheduler.batch_size == 0 {
            return bad("scheduler.batch_size", "must be at least 1".into());
        }
        if net.scheduler.interval.is_zero() {
            return bad("scheduler.interval", "must be above zero".into());
        }
        let region = &self.backend.semtech_udp.region_id;
        if !region.is_empty() && !net.enabled_regions.contains(region) {
            return Err(ConfigError::Invalid {
                key: "backend.semtech_udp.region_id".into(),
                message: format!("{region:?} is not in network.enabled_regions"),
            });
        }
        Ok(())
    }

    fn validate_integrations(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| {
            Err(ConfigError::Invalid {
                key: format!("integration.{key}"),
                message,
            })
        };
        let integration = &self.integration;
        for name in &integration.enabled {
            if !["mqtt", "http"].contains(&name.as_str()) {
                return bad(
                    "enabled",
                    format!("{name:?} is not supported (\"mqtt\", \"http\")"),
                );
            }
        }
        let mqtt = &integration.mqtt;
        if mqtt.qos > 2 {
            return bad("mqtt.qos", format!("{} is not 0, 1 or 2", mqtt.qos));
        }
        if mqtt.tls_cert.is_empty() != mqtt.tls_key.is_empty() {
            return bad("mqtt.tls_key", "tls_cert and tls_key go together".into());
        }
        for (key, template, needed) in [
            ("mqtt.event_topic", &mqtt.event_topic, "event"),
            ("mqtt.command_topic", &mqtt.command_topic, "command"),
        ] {
            if !has_placeholder(template, needed) || !has_placeholder(template, "dev_eui") {
                return bad(
                    key,
                    format!("{template:?} lacks {{{{dev_eui}}}} or {{{{{needed}}}}}"),
                );
            }
        }
        if integration.is_enabled("http") && integration.http.event_endpoint_url.trim().is_empty() {
            return bad(
                "http.event_endpoint_url",
                "is empty but \"http\" is enabled".into(),
            );
        }
        Ok(())
    }

    fn validate_regions(&self) -> Result<(), ConfigError> {
        let mut ids = HashSet::new();
        let mut prefixes: BTreeMap<&str, &str> = BTreeMap::new();
        for entry in &self.regions {
            let key = format!("regions[{}]", entry.id);
            if entry.id.is_empty() {
                return Err(ConfigError::Invalid {
                    key: "regions".into(),
                    message: "an entry has no id".into(),
                });
            }
            if !ids.insert(&entry.id) {
                return Err(ConfigError::Invalid {
                    key,
                    message: "the id is defined twice".into(),
                });
            }
            entry.validate(&key)?;
            entry.network()?;
            if self.network.enabled_regions.contains(&entry.id)
                && let Some(other) = prefixes.insert(entry.topic_prefix(), &entry.id)
            {
                return Err(ConfigError::Invalid {
                    key: format!("{key}.gateway.backend.mqtt.topic_prefix"),
                    message: format!(
                        "{:?} is also the topic prefix of enabled region {other:?}",
                        entry.topic_prefix()
                    ),
                });
            }
        }
        let rx2_deadline = self
            .enabled_regions()
            .filter_map(|r| r.network().ok().map(|n| (r, n)))
            .map(|(r, n)| (r, Duration::from_secs(u64::from(n.rx1_delay) + 1)))
            .min_by_key(|(_, d)| *d);
        let busy = self.network.deduplication_delay + self.network.get_downlink_data_delay;
        if let Some((region, deadline)) = rx2_deadline
            && busy >= deadline
        {
            return Err(ConfigError::Invalid {
                key: "network.get_downlink_data_delay".into(),
                message: format!(
                    "deduplication_delay + get_downlink_data_delay ({busy:?}) reach past RX2 \
                     ({deadline:?}) of region {:?}: no class A downlink could be sent",
                    region.id
                ),
            });
        }
        Ok(())
    }
}

/// Adds the built-in regions to the merged `regions` array: a configured
/// entry without `common_name` amends the built-in of its id, and every
/// enabled id without an entry gets its built-in.
fn with_builtin_regions(table: &mut toml::Table) {
    let enabled: Vec<String> = match table.get("network").and_then(|n| n.get("enabled_regions")) {
        Some(list) => list
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        None => NetworkSettings::default().enabled_regions,
    };
    let configured = match table.remove("regions") {
        None => Vec::new(),
        Some(toml::Value::Array(entries)) => entries,
        // Not an array: left for the typed pass to report.
        Some(other) => {
            table.insert("regions".into(), other);
            return;
        }
    };
    let mut out = Vec::with_capacity(configured.len() + enabled.len());
    for entry in configured {
        let toml::Value::Table(mut entry) = entry else {
            out.push(entry);
            continue;
        };
        if !entry.contains_key("id")
            && let Some(name) = entry.remove("name")
        {
            entry.insert("id".into(), name);
        }
        let builtin = entry
            .get("id")
            .and_then(toml::Value::as_str)
            .filter(|_| !entry.contains_key("common_name"))
            .and_then(regions::builtin_table);
        match builtin {
            Some(mut base) => {
                text::merge_tables(&mut base, entry);
                out.push(toml::Value::Table(base));
            }
            None => out.push(toml::Value::Table(entry)),
        }
    }
    for id in enabled {
        if !out.iter().any(|e| text::region_id(e) == Some(id.as_str()))
            && let Some(base) = regions::builtin_table(&id)
        {
            out.push(toml::Value::Table(base));
        }
    }
    table.insert("regions".into(), toml::Value::Array(out));
}

/// Whether `text` is `host:port` (`0.0.0.0:8080`, `[::]:1700`,
/// `localhost:8080`).
fn is_host_port(text: &str) -> bool {
    text.rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

/// Whether a Handlebars template holds `{{name}}` (spaces allowed).
fn has_placeholder(template: &str, name: &str) -> bool {
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            return false;
        };
        if rest[open + 2..open + close].trim() == name {
            return true;
        }
        rest = &rest[open + close + 2..];
    }
    false
}
