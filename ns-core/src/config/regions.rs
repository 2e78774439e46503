//! `[[regions]]`: the region configurations, in ChirpStack's shape, and the
//! built-in ones for every region ChirpStack ships a file for.

use std::time::Duration;

use lorawan::modulation::Modulation;
use lorawan::region::{
    ChannelPlan, ExtraChannel, Network, NetworkConfig, Region, RegionConfig, Revision, params,
};
use serde::Deserialize;

use super::ConfigError;
use super::text::duration;
use crate::downlink::DownlinkSettings;
use crate::gateway_backend::GatewayBackendConfig;
use crate::join::{JoinOptions, RxWindowSelection};

/// One `[[regions]]` entry, ChirpStack's keys. Keys of ChirpStack's region
/// files that are not listed here are accepted and ignored.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RegionEntry {
    /// `id`: what `network.enabled_regions` and gateways refer to
    /// (ChirpStack's older `name` is read too).
    #[serde(alias = "name")]
    pub id: String,
    /// `description`.
    pub description: String,
    /// `common_name`: `EU868`, `US915`, `AS923`, `AS923_2`, … An entry
    /// without one amends the built-in region of the same id.
    pub common_name: Option<Region>,
    /// `user_info`: Markdown shown to users.
    pub user_info: String,
    /// `revision` (an extension): the Regional Parameters revision the
    /// network follows (`"B"`, `"RP002-1.0.3"`, …; default the newest, `B`
    /// for the built-in CN470 plans, which are the 96-channel plan).
    pub revision: Option<Revision>,
    /// `[regions.gateway]`.
    pub gateway: RegionGateway,
    /// `[regions.network]`.
    pub network: RegionNetwork,
}

/// `[regions.gateway]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RegionGateway {
    /// `force_gws_private`: gateways serve only their own tenant's devices.
    pub force_gws_private: bool,
    /// `[regions.gateway.backend]`.
    pub backend: GatewayBackend,
    /// `[[regions.gateway.channels]]`: the channel plan pushed to
    /// Concentratord gateways (`command/config`).
    pub channels: Vec<GatewayChannel>,
}

/// `[regions.gateway.backend]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct GatewayBackend {
    /// `enabled`: only `"mqtt"`.
    pub enabled: String,
    /// `[regions.gateway.backend.mqtt]`.
    pub mqtt: GatewayMqtt,
}

impl Default for GatewayBackend {
    fn default() -> Self {
        Self {
            enabled: "mqtt".into(),
            mqtt: GatewayMqtt::default(),
        }
    }
}

/// `[regions.gateway.backend.mqtt]`: the broker the region's gateways
/// publish to, and its topics.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct GatewayMqtt {
    /// `topic_prefix`: topics are `{topic_prefix}/gateway/{id}/…`; unset:
    /// the region's id; `""`: no prefix.
    pub topic_prefix: Option<String>,
    /// `event_topic`: the pre-`topic_prefix` form
    /// (`"eu868/gateway/+/event/+"`); read for its prefix when
    /// `topic_prefix` is unset.
    pub event_topic: Option<String>,
    /// `command_topic`: the pre-`topic_prefix` form; ignored (the command
    /// topics follow the event topics' prefix).
    pub command_topic: Option<String>,
    /// `server`: `tcp://host:port` (or `mqtt://`) in clear, `ssl://host:port`
    /// (or `tls://`, `mqtts://`) over TLS with `ca_cert`, `tls_cert` and
    /// `tls_key`.
    pub server: String,
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
    /// `share_name`: subscribe as `$share/{share_name}/…` (when the broker
    /// offers shared subscriptions) so that several server instances split
    /// the gateways' events; empty: a plain subscription. Default
    /// `chirpstack`, as ChirpStack.
    pub share_name: String,
    /// `json`: send commands as JSON to gateways not heard from yet
    /// (afterwards, each gateway gets the encoding it sends).
    pub json: bool,
    /// `tcp_nodelay` (an extension): set `TCP_NODELAY` on the connection
    /// to the broker, so that each gateway command goes out at once
    /// instead of waiting, small, for the previous segment's ACK (Nagle's
    /// algorithm with the broker's delayed ACK adds up to 40 ms, which a
    /// downlink takes out of its RX1 budget). On by default: measured
    /// end to end, it costs no CPU per uplink that two runs can tell apart
    /// (docs/benchmarks.md); `false` is rumqttc's and ChirpStack's
    /// behaviour.
    pub tcp_nodelay: bool,
}

impl Default for GatewayMqtt {
    fn default() -> Self {
        Self {
            topic_prefix: None,
            event_topic: None,
            command_topic: None,
            server: super::EMBEDDED_BROKER.into(),
            username: String::new(),
            password: String::new(),
            qos: 0,
            clean_session: false,
            client_id: String::new(),
            keep_alive_interval: Duration::from_secs(30),
            ca_cert: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            share_name: "chirpstack".into(),
            json: false,
            tcp_nodelay: true,
        }
    }
}

/// A Concentratord channel's modulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GatewayChannelModulation {
    /// `"LORA"`.
    #[default]
    Lora,
    /// `"FSK"`.
    Fsk,
}

/// One `[[regions.gateway.channels]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct GatewayChannel {
    /// `frequency`, Hz.
    pub frequency: u32,
    /// `bandwidth`, Hz.
    pub bandwidth: u32,
    /// `modulation`: `"LORA"` or `"FSK"`.
    pub modulation: GatewayChannelModulation,
    /// `spreading_factors` (LoRa).
    pub spreading_factors: Vec<u8>,
    /// `datarate`, bit/s (FSK).
    pub datarate: u32,
}

/// `[regions.network]`. The channel and RX keys left out take the
/// region's defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RegionNetwork {
    /// `installation_margin`: dB the ADR engine keeps (default 10).
    pub installation_margin: f32,
    /// `rx_window`: 0 RX1 then RX2, 1 RX1 only, 2 RX2 only.
    pub rx_window: u8,
    /// `rx1_delay`, seconds (1 to 15).
    pub rx1_delay: Option<u8>,
    /// `rx1_dr_offset`.
    pub rx1_dr_offset: Option<u8>,
    /// `rx2_dr`.
    pub rx2_dr: Option<u8>,
    /// `rx2_frequency`, Hz.
    pub rx2_frequency: Option<u32>,
    /// `rx2_prefer_on_rx1_dr_lt`: RX2 first when RX1's data rate is below.
    pub rx2_prefer_on_rx1_dr_lt: u8,
    /// `rx2_prefer_on_link_budget`.
    pub rx2_prefer_on_link_budget: bool,
    /// `gateway_prefer_min_margin`, dB (default 10).
    pub gateway_prefer_min_margin: f32,
    /// `downlink_tx_power`, dBm EIRP; -1: the region's default.
    pub downlink_tx_power: i32,
    /// `adr_disabled`.
    pub adr_disabled: bool,
    /// `min_dr`: the lowest data rate ADR may choose.
    pub min_dr: Option<u8>,
    /// `max_dr`: the highest data rate ADR may choose.
    pub max_dr: Option<u8>,
    /// `uplink_dwell_time_400ms`.
    pub uplink_dwell_time_400ms: Option<bool>,
    /// `downlink_dwell_time_400ms`.
    pub downlink_dwell_time_400ms: Option<bool>,
    /// `uplink_max_eirp`, dBm.
    pub uplink_max_eirp: Option<f32>,
    /// `enabled_uplink_channels` (empty: all).
    pub enabled_uplink_channels: Vec<usize>,
    /// `enabled_sub_bands` (an extension): 8-channel sub-bands, 1-based,
    /// of a fixed plan, each with its 500 kHz channel.
    pub enabled_sub_bands: Vec<u8>,
    /// `[[regions.network.extra_channels]]`.
    pub extra_channels: Vec<ExtraChannel>,
    /// `repeater_compatible`.
    pub repeater_compatible: bool,
    /// `[regions.network.rejoin_request]`.
    pub rejoin_request: RejoinRequest,
    /// `[regions.network.class_b]`.
    pub class_b: ClassB,
}

impl Default for RegionNetwork {
    fn default() -> Self {
        Self {
            installation_margin: 10.0,
            rx_window: 0,
            rx1_delay: None,
            rx1_dr_offset: None,
            rx2_dr: None,
            rx2_frequency: None,
            rx2_prefer_on_rx1_dr_lt: 0,
            rx2_prefer_on_link_budget: false,
            gateway_prefer_min_margin: 10.0,
            downlink_tx_power: -1,
            adr_disabled: false,
            min_dr: None,
            max_dr: None,
            uplink_dwell_time_400ms: None,
            downlink_dwell_time_400ms: None,
            uplink_max_eirp: None,
            enabled_uplink_channels: Vec::new(),
            enabled_sub_bands: Vec::new(),
            extra_channels: Vec::new(),
            repeater_compatible: false,
            rejoin_request: RejoinRequest::default(),
            class_b: ClassB::default(),
        }
    }
}

/// `[regions.network.rejoin_request]` (LoRaWAN 1.1 RejoinParamSetupReq).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RejoinRequest {
    /// `enabled`.
    pub enabled: bool,
    /// `max_count_n`: a rejoin-request every 2^(n+4) uplinks (0 to 15).
    pub max_count_n: u8,
    /// `max_time_n`: a rejoin-request every 2^(n+10) seconds (0 to 15).
    pub max_time_n: u8,
}

/// `[regions.network.class_b]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ClassB {
    /// `ping_slot_dr` (default: the region's).
    pub ping_slot_dr: Option<u8>,
    /// `ping_slot_frequency`, Hz; 0: the region's (possibly hopping).
    pub ping_slot_frequency: u32,
}

impl RegionEntry {
    /// The MQTT topic prefix of the region's gateways: `topic_prefix`, else
    /// the prefix of a legacy `event_topic`, else the region's id.
    pub fn topic_prefix(&self) -> &str {
        let mqtt = &self.gateway.backend.mqtt;
        if let Some(prefix) = &mqtt.topic_prefix {
            return prefix.trim_end_matches('/');
        }
        if let Some(topic) = &mqtt.event_topic
            && let Some(prefix) = legacy_prefix(topic)
        {
            return prefix;
        }
        &self.id
    }

    /// The settings of the region's MQTT gateway backend
    /// (`[regions.gateway.backend.mqtt]`). For an `ssl://`, `tls://` or
    /// `mqtts://` server, the TLS client configuration is built from
    /// `ca_cert` (empty: the system's trust store) and `tls_cert` /
    /// `tls_key` (a client certificate, when set); for a clear server those
    /// keys are ignored, with a warning.
    ///
    /// # Errors
    /// [`ConfigError::Tls`] when a TLS file cannot be used: missing,
    /// holding no certificate or key, a key that does not match its
    /// certificate, or only one of `tls_cert` and `tls_key` set. The error
    /// names the key (`regions[eu868].gateway.backend.mqtt.ca_cert`) and
    /// the file.
    pub fn gateway_backend_config(&self) -> Result<GatewayBackendConfig, ConfigError> {
        let mqtt = &self.gateway.backend.mqtt;
        let mut config = GatewayBackendConfig::new(self.topic_prefix(), mqtt.server.clone());
        let section = format!("regions[{}].gateway.backend.mqtt", self.id);
        config.tls = crate::gateway_backend::tls_for_server(
            &mqtt.server,
            &tls_files::ClientFiles {
                section: &section,
                ca_cert: &mqtt.ca_cert,
                tls_cert: &mqtt.tls_cert,
                tls_key: &mqtt.tls_key,
            },
        )?;
        config.username = mqtt.username.clone();
        config.password = mqtt.password.clone();
        config.client_id = mqtt.client_id.clone();
        config.qos = mqtt.qos;
        config.clean_session = mqtt.clean_session;
        config.keep_alive = mqtt.keep_alive_interval;
        config.share_name = mqtt.share_name.clone();
        config.tcp_nodelay = mqtt.tcp_nodelay;
        Ok(config)
    }

    /// The region configuration `lorawan` checks and completes.
    pub fn region_config(&self) -> RegionConfig {
        let n = &self.network;
        RegionConfig {
            id: self.id.clone(),
            description: self.description.clone(),
            common_name: self.common_name,
            revision: self.revision,
            network: NetworkConfig {
                enabled_uplink_channels: n.enabled_uplink_channels.clone(),
                enabled_sub_bands: n.enabled_sub_bands.clone(),
                extra_channels: n.extra_channels.clone(),
                rx1_delay: n.rx1_delay,
                rx1_dr_offset: n.rx1_dr_offset,
                rx2_dr: n.rx2_dr,
                rx2_frequency: n.rx2_frequency,
                uplink_dwell_time_400ms: n.uplink_dwell_time_400ms,
                downlink_dwell_time_400ms: n.downlink_dwell_time_400ms,
                uplink_max_eirp: n.uplink_max_eirp,
                min_dr: n.min_dr,
                max_dr: n.max_dr,
                repeater_compatible: n.repeater_compatible,
            },
        }
    }

    /// The checked region configuration the sans-IO modules take.
    ///
    /// # Errors
    /// [`ConfigError::Region`] when the entry does not fit its region.
    pub fn network(&self) -> Result<Network, ConfigError> {
        self.region_config()
            .resolve()
            .map_err(|source| ConfigError::Region {
                id: self.id.clone(),
                source,
            })
    }

    /// The class A downlink settings of this region.
    pub fn downlink_settings(&self) -> DownlinkSettings {
        let n = &self.network;
        DownlinkSettings {
            rx_window: self.rx_window(),
            rx2_prefer_on_rx1_dr_lt: n.rx2_prefer_on_rx1_dr_lt,
            rx2_prefer_on_link_budget: n.rx2_prefer_on_link_budget,
            gateway_prefer_min_margin: n.gateway_prefer_min_margin,
            downlink_tx_power: self.downlink_tx_power(),
            adr_disabled: n.adr_disabled,
        }
    }

    /// The join-accept settings of this region.
    pub fn join_options(&self) -> JoinOptions {
        JoinOptions::default()
            .with_rx_window(self.rx_window())
            .with_downlink_tx_power(self.downlink_tx_power())
    }

    fn rx_window(&self) -> RxWindowSelection {
        match self.network.rx_window {
            1 => RxWindowSelection::Rx1,
            2 => RxWindowSelection::Rx2,
            _ => RxWindowSelection::Both,
        }
    }

    fn downlink_tx_power(&self) -> Option<i32> {
        (self.network.downlink_tx_power >= 0).then_some(self.network.downlink_tx_power)
    }

    /// Checks what `lorawan` does not: the keys of the other layers.
    pub(super) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let bad = |field: &str, message: String| {
            Err(ConfigError::Invalid {
                key: format!("{key}.{field}"),
                message,
            })
        };
        let n = &self.network;
        if n.rx_window > 2 {
            return bad(
                "network.rx_window",
                format!(
                    "{} is not 0 (RX1 then RX2), 1 (RX1) or 2 (RX2)",
                    n.rx_window
                ),
            );
        }
        if n.downlink_tx_power < -1 {
            return bad(
                "network.downlink_tx_power",
                format!(
                    "{} dBm: use -1 for the region's default",
                    n.downlink_tx_power
                ),
            );
        }
        for (field, value) in [
            ("max_count_n", n.rejoin_request.max_count_n),
            ("max_time_n", n.rejoin_request.max_time_n),
        ] {
            if value > 15 {
                return bad(
                    &format!("network.rejoin_request.{field}"),
                    format!("{value} is not between 0 and 15"),
                );
            }
        }
        let backend = &self.gateway.backend;
        if backend.enabled != "mqtt" {
            return bad(
                "gateway.backend.enabled",
                format!("{:?} is not supported (only \"mqtt\")", backend.enabled),
            );
        }
        let mqtt = &backend.mqtt;
        if mqtt.qos > 2 {
            return bad(
                "gateway.backend.mqtt.qos",
                format!("{} is not 0, 1 or 2", mqtt.qos),
            );
        }
        if mqtt.tls_cert.is_empty() != mqtt.tls_key.is_empty() {
            return bad(
                "gateway.backend.mqtt.tls_key",
                "tls_cert and tls_key go together".into(),
            );
        }
        if mqtt.topic_prefix.is_none()
            && let Some(topic) = &mqtt.event_topic
            && legacy_prefix(topic).is_none()
        {
            return bad(
                "gateway.backend.mqtt.event_topic",
                format!(
                    "{topic:?} is not of the form \"<prefix>/gateway/+/event/+\"; set topic_prefix"
                ),
            );
        }
        if self.topic_prefix().contains(['+', '#']) {
            return bad(
                "gateway.backend.mqtt.topic_prefix",
                format!("{:?} holds an MQTT wildcard", self.topic_prefix()),
            );
        }
        Ok(())
    }
}

/// The prefix of a legacy event topic `"{prefix}/gateway/+/event/+"`.
fn legacy_prefix(topic: &str) -> Option<&str> {
    if topic == "gateway/+/event/+" {
        return Some("");
    }
    topic.strip_suffix("/gateway/+/event/+")
}

/// The ids of the built-in regions, one per region file ChirpStack ships
/// (but for KZ865/KZ868, which `lorawan` does not define).
pub const BUILTIN_REGION_IDS: [&str; 39] = [
    "eu868", "us915_0", "us915_1", "us915_2", "us915_3", "us915_4", "us915_5", "us915_6",
    "us915_7", "au915_0", "au915_1", "au915_2", "au915_3", "au915_4", "au915_5", "au915_6",
    "au915_7", "as923", "as923_2", "as923_3", "as923_4", "cn470_0", "cn470_1", "cn470_2",
    "cn470_3", "cn470_4", "cn470_5", "cn470_6", "cn470_7", "cn470_8", "cn470_9", "cn470_10",
    "cn470_11", "cn779", "eu433", "in865", "kr920", "ru864", "ism2400",
];

/// The built-in region entry of `id`, as a TOML table (so that a
/// `[[regions]]` entry without `common_name` can be merged over it).
pub(super) fn builtin_table(id: &str) -> Option<toml::Table> {
    let (region, revision, group) = builtin_parts(id)?;
    let p = params(region, revision.unwrap_or(Revision::LATEST));
    let mut network = toml::Table::new();
    let mut description = region.common_name().to_owned();
    if let Some(group) = group {
        let first = usize::from(group) * 8;
        let mut channels: Vec<usize> = (first..first + 8).collect();
        if let ChannelPlan::Fixed {
            uplink,
            uplink_wide: Some(wide),
            ..
        } = p.channel_plan
            && group < wide.count
        {
            channels.push(usize::from(uplink.count) + usize::from(group));
        }
        description = match channels.get(8) {
            Some(wide) => format!("{description} (channels {first}-{} + {wide})", first + 7),
            None => format!("{description} (channels {first}-{})", first + 7),
        };
        network.insert("enabled_uplink_channels".into(), int_array(&channels));
    }
    if region == Region::Eu868 && id == "eu868" {
        // ChirpStack's EU868 file adds the five common 867 MHz channels.
        let extra = (0..5)
            .map(|i| {
                let mut c = toml::Table::new();
                c.insert("frequency".into(), (867_100_000 + i * 200_000).into());
                c.insert("min_dr".into(), 0.into());
                c.insert("max_dr".into(), 5.into());
                toml::Value::Table(c)
            })
            .collect();
        network.insert("extra_channels".into(), toml::Value::Array(extra));
    }
    network.insert("max_dr".into(), i64::from(adr_max_dr(p.data_rates)).into());
    let mut entry = toml::Table::new();
    entry.insert("id".into(), id.into());
    entry.insert("description".into(), description.into());
    entry.insert("common_name".into(), region.common_name().into());
    if let Some(revision) = revision {
        entry.insert("revision".into(), revision.name().into());
    }
    entry.insert("network".into(), toml::Value::Table(network));
    Some(entry)
}

/// The region, revision pin and 8-channel group of a built-in id.
fn builtin_parts(id: &str) -> Option<(Region, Option<Revision>, Option<u8>)> {
    let group = |rest: &str, groups: u8| {
        rest.parse::<u8>()
            .ok()
            .filter(|&g| g < groups && rest == g.to_string())
    };
    if let Some(rest) = id.strip_prefix("us915_") {
        return Some((Region::Us915, None, Some(group(rest, 8)?)));
    }
    if let Some(rest) = id.strip_prefix("au915_") {
        return Some((Region::Au915, None, Some(group(rest, 8)?)));
    }
    if let Some(rest) = id.strip_prefix("cn470_") {
        // ChirpStack's CN470 files are the 96-channel plan of RP 1.0.x (B).
        return Some((Region::Cn470, Some(Revision::B), Some(group(rest, 12)?)));
    }
    let region = match id {
        "eu868" => Region::Eu868,
        "as923" => Region::As923_1,
        "as923_2" => Region::As923_2,
        "as923_3" => Region::As923_3,
        "as923_4" => Region::As923_4,
        "cn779" => Region::Cn779,
        "eu433" => Region::Eu433,
        "in865" => Region::In865,
        "kr920" => Region::Kr920,
        "ru864" => Region::Ru864,
        "ism2400" => Region::Ism2400,
        _ => return None,
    };
    Some((region, None, None))
}

/// The highest uplink data rate with DR0's modulation and bandwidth: what
/// ADR can reach on the ordinary channels (DR5 in EU868, DR3 in US915),
/// as ChirpStack's region files set `max_dr`.
fn adr_max_dr(data_rates: &[Option<lorawan::region::DataRate>]) -> u8 {
    let bandwidth = |m: Modulation| match m {
        Modulation::Lora { bandwidth, .. } => Some(bandwidth),
        _ => None,
    };
    let Some(base) = data_rates
        .first()
        .copied()
        .flatten()
        .and_then(|d| bandwidth(d.modulation))
    else {
        return 0;
    };
    let mut max = 0;
    for (i, dr) in data_rates.iter().enumerate() {
        if let Some(dr) = dr
            && dr.uplink
            && bandwidth(dr.modulation) == Some(base)
        {
            max = u8::try_from(i).unwrap_or(max);
        }
    }
    max
}

fn int_array(values: &[usize]) -> toml::Value {
    toml::Value::Array(
        values
            .iter()
            .map(|&v| toml::Value::Integer(i64::try_from(v).unwrap_or(i64::MAX)))
            .collect(),
    )
}

/// The built-in region entry of `id` (`eu868`, `us915_1`, `cn470_10`, …).
///
/// ```
/// use ns_core::config::builtin_region;
/// let us = builtin_region("us915_1").unwrap();
/// let network = us.network()?;
/// assert_eq!(network.uplink_channels.len(), 9); // 8 to 15 and 65
/// assert_eq!(us.topic_prefix(), "us915_1");
/// # Ok::<(), ns_core::config::ConfigError>(())
/// ```
pub fn builtin_region(id: &str) -> Option<RegionEntry> {
    RegionEntry::deserialize(toml::Value::Table(builtin_table(id)?)).ok()
}
