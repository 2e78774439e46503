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

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// The documented default configuration, as `gateway-bridge configfile`
/// prints it. Parsing it gives [`Config::default`].
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid TOML.
    #[error("config file {name} is not valid TOML: {source}")]
    Syntax {
        /// The file name (or `#i` for the i-th string).
        name: String,
        /// What the parser said.
        #[source]
        source: toml::de::Error,
    },
    /// The merged files have a key with a wrong type or value.
    #[error("invalid configuration: {0}")]
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
    /// `[integration]`.
    pub integration: Integration,
    /// `[metrics]`.
    pub metrics: Metrics,
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
}

impl Default for General {
    fn default() -> Self {
        Self { log_level: 4 }
    }
}

/// `[backend]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Backend {
    /// `type`: only `semtech_udp` so far.
    #[serde(rename = "type")]
    pub kind: String,
    /// `[backend.semtech_udp]`.
    pub semtech_udp: SemtechUdp,
}

impl Default for Backend {
    fn default() -> Self {
        Self {
            kind: "semtech_udp".into(),
            semtech_udp: SemtechUdp::default(),
        }
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
            auth: Auth::default(),
        }
    }
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
    /// `servers`: broker URLs, `tcp://host:port` (or `mqtt://`). Only the
    /// first is used so far.
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
    /// `ca_cert` (TLS is not implemented yet: must be empty).
    pub ca_cert: String,
    /// `tls_cert` (TLS is not implemented yet: must be empty).
    pub tls_cert: String,
    /// `tls_key` (TLS is not implemented yet: must be empty).
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
            merge(&mut merged, table);
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
            merge(&mut merged, parse_table(&format!("#{i}"), text)?);
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
        if self.backend.kind != "semtech_udp" {
            return bad(format!(
                "backend.type {:?} is not supported (only \"semtech_udp\" so far)",
                self.backend.kind
            ));
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
        for (key, value) in [
            ("ca_cert", &generic.ca_cert),
            ("tls_cert", &generic.tls_cert),
            ("tls_key", &generic.tls_key),
        ] {
            if !value.is_empty() {
                return bad(format!(
                    "integration.mqtt.auth.generic.{key}: TLS is not supported yet"
                ));
            }
        }
        crate::topics::Topics::new(mqtt).map_err(ConfigError::Value)?;
        Ok(())
    }
}

fn parse_table(name: &str, text: &str) -> Result<toml::Table, ConfigError> {
    toml::from_str(&substitute_env(text, |k| std::env::var(k).ok())).map_err(|source| {
        ConfigError::Syntax {
            name: name.to_owned(),
            source,
        }
    })
}

/// Merges `other` into `base`: tables recursively, any other value replaced.
fn merge(base: &mut toml::Table, other: toml::Table) {
    for (key, value) in other {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// Replaces `$NAME` and `${NAME}` with `lookup(NAME)`; a name `lookup` does
/// not know is left as written, so a literal `$` survives.
fn substitute_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        match valid.then(|| lookup(name)).flatten() {
            Some(value) => {
                out.push_str(&value);
                rest = &after[consumed..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A Go `time.Duration` string (`"30s"`, `"1m5s"`, `"100ms"`, `"1h"`), as
/// ChirpStack Gateway Bridge writes durations.
fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let err = || format!("{text:?} is not a duration like \"30s\", \"1m5s\" or \"100ms\"");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let number: f64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        total += Duration::try_from_secs_f64(number * unit).map_err(|_| err())?;
    }
    Ok(total)
}

fn go_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_go_duration(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn environment_variables_are_substituted() {
        let env = |k: &str| match k {
            "PASS" => Some("s3cret".to_owned()),
            "HOST" => Some("broker".to_owned()),
            _ => None,
        };
        assert_eq!(
            substitute_env(
                "p=\"$PASS\" h=\"${HOST}:1\" x=\"$NOPE\" y=\"$\" z=\"a$1\"",
                env
            ),
            "p=\"s3cret\" h=\"broker:1\" x=\"$NOPE\" y=\"$\" z=\"a$1\""
        );
    }

    #[test]
    fn bad_values_are_rejected_with_the_key_named() {
        for (text, needle) in [
            ("[integration]\nmarshaler = \"xml\"", "xml"),
            ("[integration.mqtt.auth.generic]\nqos = 3", "qos"),
            ("[integration.mqtt]\nkeep_alive = \"soon\"", "soon"),
            ("[backend]\ntype = \"basic_station\"", "basic_station"),
            (
                "[integration.mqtt.auth.generic]\nca_cert = \"/ca.pem\"",
                "TLS",
            ),
            (
                "[integration.mqtt]\nevent_topic_template = \"gateway/event\"",
                "GatewayID",
            ),
            ("[backend.semtech_udp\n", "TOML"),
        ] {
            let e = Config::from_toml_strs(&[text]).unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn go_durations_parse() {
        for (text, d) in [
            ("30s", Duration::from_secs(30)),
            ("1m5s", Duration::from_secs(65)),
            ("100ms", Duration::from_millis(100)),
            ("1h", Duration::from_secs(3600)),
            ("1.5s", Duration::from_millis(1500)),
            ("0", Duration::ZERO),
        ] {
            assert_eq!(parse_go_duration(text), Ok(d), "{text}");
        }
        for bad in ["", "5", "s", "5x", "-1s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }
}
