//! Scenario files: a whole simulation in TOML — the server to talk to,
//! the gateways, groups of devices, and what to create through the API.
//! `$NAME` and `${NAME}` are replaced by environment variables (the API
//! key, typically). The examples in `bins/lorawan-sim/examples/` are
//! complete files; this is the smallest:
//!
//! ```
//! use lorawan_sim::scenario::Scenario;
//!
//! let scenario = Scenario::from_toml(r#"
//!     [server]
//!     udp = "127.0.0.1:1700"
//!
//!     [[gateways]]
//!     id = "0016c001ff100001"
//!     latitude = 52.37
//!     longitude = 4.89
//!
//!     [[devices]]
//!     count = 3
//!     dev_eui_start = "0102030400000000"
//!     nwk_key = "2b7e151628aed2a6abf7158809cf4f3c"
//! "#)?;
//! let devices = scenario.devices()?;
//! assert_eq!(devices.len(), 3);
//! assert_eq!(devices[2].device.config().dev_eui.to_string(), "0102030400000002");
//! assert_eq!(scenario.plan(&devices).devices.len(), 3);
//! # Ok::<(), lorawan_sim::scenario::ScenarioError>(())
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use lorawan::DevAddr;
use lorawan::Eui64;
use lorawan::crypto::{SessionKeys10, SessionKeys11};
use lorawan::keys::{AppKey, AppSKey, FNwkSIntKey, NwkKey, NwkSEncKey, NwkSKey, SNwkSIntKey};
use lorawan::region::{Region, Revision};
use serde::Deserialize;

use crate::device::{Activation, Device, DeviceConfig, LorawanVersion};
use crate::downlinks::DownlinkPlan;
use crate::gateway::{GatewayKind, GatewayMqtt};
use crate::pace::LoadPlan;
use crate::provision::{DevicePlan, GatewayPlan, Plan, ProfilePlan};
use crate::radio::{Position, RadioModel};
use crate::sim::{Settings, SimDevice, SimGateway};

/// The most devices one simulation runs (a task each).
pub const MAX_DEVICES: u64 = 1_000_000;

/// The shortest uplink interval, keep-alive and join retry.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Why a scenario cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The TOML does not describe a scenario.
    #[error("scenario: {0}")]
    Toml(#[from] toml::de::Error),
    /// A value is out of range or inconsistent.
    #[error("scenario: {0}")]
    Invalid(String),
}

/// Where the network server listens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Server {
    /// Its Semtech UDP address (the all-in-one server's, or a gateway
    /// bridge's), for `udp` gateways.
    #[serde(default = "default_udp")]
    pub udp: SocketAddr,
    /// The MQTT broker of its gateway backend (`host:port`), for `mqtt`
    /// gateways.
    #[serde(default)]
    pub gateway_mqtt: String,
    /// The region's gateway topic prefix there (default: the region's
    /// name in lower case, `eu868`).
    #[serde(default)]
    pub topic_prefix: String,
    /// `TCP_NODELAY` on the `mqtt` gateways' connections: each frame is
    /// sent at once instead of waiting, while an earlier one is
    /// unacknowledged, to be coalesced (Nagle's algorithm). A real gateway
    /// sends a frame every few seconds and never meets that wait; a
    /// simulated one sending hundreds a second does, which adds tens of
    /// milliseconds to the latency a load run measures. On by default;
    /// `false` shows what Nagle's algorithm does to a busy gateway.
    #[serde(default = "default_true")]
    pub gateway_mqtt_tcp_nodelay: bool,
    /// Its LoRa Basics Station listener (a gateway bridge's, `ws://host:port`),
    /// for `basics-station` gateways.
    #[serde(default)]
    pub station: String,
    /// Its management API (`http://host:port`); with `api_key`, the
    /// scenario's tenant, application, profile, gateways and devices are
    /// created there first.
    #[serde(default)]
    pub api: String,
    /// An API key of a global administrator (`network-server
    /// create-api-key`), usually `"$SIM_API_KEY"`.
    #[serde(default)]
    pub api_key: String,
    /// The MQTT broker of the application integration (`host:port`), to
    /// count the `up` events; empty: not counted.
    #[serde(default)]
    pub mqtt: String,
    /// The topic filter of the `up` events.
    #[serde(default = "default_event_filter")]
    pub event_filter: String,
}

fn default_true() -> bool {
    true
}

fn default_udp() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 1700))
}

fn default_event_filter() -> String {
    "application/+/device/+/event/up".into()
}

/// How long and how the simulation runs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Simulation {
    /// How long devices send.
    #[serde(deserialize_with = "config_text::duration")]
    pub duration: Duration,
    /// Devices start at random within this time.
    #[serde(deserialize_with = "config_text::duration")]
    pub start_spread: Duration,
    /// The wait before a join-request is repeated.
    #[serde(deserialize_with = "config_text::duration")]
    pub join_retry: Duration,
    /// How often gateways send PULL_DATA.
    #[serde(deserialize_with = "config_text::duration")]
    pub keepalive: Duration,
    /// The seed of every random choice.
    pub seed: u64,
    /// The radio environment.
    pub radio: RadioModel,
}

impl Default for Simulation {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(60),
            start_spread: Duration::from_secs(10),
            join_retry: Duration::from_secs(8),
            keepalive: Duration::from_secs(5),
            seed: 1,
            radio: RadioModel::default(),
        }
    }
}

/// What the API creates.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Names {
    /// The tenant.
    pub tenant: String,
    /// The application.
    pub application: String,
    /// The device profile.
    pub device_profile: String,
}

impl Default for Names {
    fn default() -> Self {
        Self {
            tenant: "lorawan-sim".into(),
            application: "simulated devices".into(),
            device_profile: "lorawan-sim".into(),
        }
    }
}

/// A gateway.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GatewaySpec {
    /// Its EUI, in hex.
    pub id: String,
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// Metres.
    #[serde(default)]
    pub altitude: f64,
    /// How it reaches the server: `"udp"` (Semtech UDP to `server.udp`,
    /// the default), `"mqtt"` (`gw` messages to `server.gateway_mqtt`) or
    /// `"basics-station"` (LoRa Basics Station to `server.station`).
    #[serde(default = "default_gateway_kind")]
    pub kind: String,
}

fn default_gateway_kind() -> String {
    "udp".into()
}

/// A group of devices alike but for their DevEUIs and keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DeviceGroup {
    /// How many.
    pub count: u32,
    /// The first DevEUI (hex); the others count up from it.
    pub dev_eui_start: String,
    /// The JoinEUI (hex).
    #[serde(default = "default_join_eui")]
    pub join_eui: String,
    /// The NwkKey (the AppKey of a 1.0.x device), hex; each device's is
    /// this with its last eight bytes XORed with its DevEUI, so that no
    /// two devices share a key.
    pub nwk_key: String,
    /// The AppKey of 1.1 devices, hex, made per device the same way
    /// (default: the NwkKey's).
    #[serde(default)]
    pub app_key: String,
    /// `"otaa"` (join) or `"abp"` (a session from the start).
    #[serde(default = "default_activation")]
    pub activation: String,
    /// ABP: the first DevAddr (hex); the others count up from it. Each
    /// device's session keys are its NwkKey (every network key role; 1.1:
    /// the FNwkSIntKey, and SNwkSIntKey and NwkSEncKey with their first
    /// byte XORed with 1 and 2) and its AppKey (the AppSKey).
    #[serde(default)]
    pub dev_addr_start: String,
    /// `"1.0.2"`, `"1.0.3"`, `"1.0.4"` or `"1.1"`.
    #[serde(default = "default_version")]
    pub lorawan_version: String,
    /// `"A"` or `"C"`.
    #[serde(default = "default_class")]
    pub class: String,
    /// The time between uplinks.
    #[serde(
        default = "default_interval",
        deserialize_with = "config_text::duration"
    )]
    pub uplink_interval: Duration,
    /// The FPort of the uplinks.
    #[serde(default = "default_f_port")]
    pub f_port: u8,
    /// The payload, hex; empty: each uplink's sequence number.
    #[serde(default)]
    pub payload: String,
    /// Payloads sent in turn, hex (a script of bytes; instead of
    /// `payload`).
    #[serde(default)]
    pub payloads: Vec<String>,
    /// Every how many uplinks one carries LinkCheckReq and DeviceTimeReq
    /// (0: never).
    #[serde(default)]
    pub mac_requests_every: u32,
    /// Every how many uplinks one is confirmed (0: none).
    #[serde(default)]
    pub confirmed_every: u32,
    /// The uplink data rate.
    #[serde(default = "default_data_rate")]
    pub data_rate: u8,
    /// The centre of the area the devices are spread over.
    pub latitude: Option<f64>,
    /// The centre of the area.
    pub longitude: Option<f64>,
    /// The radius of the area, m.
    #[serde(default = "default_radius")]
    pub radius: f64,
}

fn default_join_eui() -> String {
    "0000000000000000".into()
}
fn default_activation() -> String {
    "otaa".into()
}
fn default_version() -> String {
    "1.0.3".into()
}
fn default_class() -> String {
    "A".into()
}
fn default_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_f_port() -> u8 {
    10
}
fn default_data_rate() -> u8 {
    5
}
fn default_radius() -> f64 {
    500.0
}

/// A scenario file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Scenario {
    /// The server.
    pub server: Server,
    /// How the simulation runs.
    #[serde(default)]
    pub simulation: Simulation,
    /// What the API creates.
    #[serde(default)]
    pub names: Names,
    /// The region, by its common name (`"EU868"`).
    #[serde(default = "default_region")]
    pub region: String,
    /// The gateways.
    #[serde(default)]
    pub gateways: Vec<GatewaySpec>,
    /// The devices.
    #[serde(default)]
    pub devices: Vec<DeviceGroup>,
    /// A load run: the devices send at this pace instead of their own
    /// intervals.
    #[serde(default)]
    pub load: Option<LoadPlan>,
    /// Application downlinks enqueued through the API while the devices
    /// run.
    #[serde(default)]
    pub downlinks: Option<DownlinkPlan>,
}

fn default_region() -> String {
    "EU868".into()
}

fn eui(field: &str, text: &str) -> Result<Eui64, ScenarioError> {
    text.parse().map_err(|_| {
        ScenarioError::Invalid(format!(
            "{field}: {text:?} is not an EUI-64 (16 hex digits)"
        ))
    })
}

fn key_bytes(field: &str, text: &str) -> Result<[u8; 16], ScenarioError> {
    text.parse::<NwkKey>()
        .map(NwkKey::to_be_bytes)
        .map_err(|_| {
            ScenarioError::Invalid(format!("{field}: {text:?} is not a key (32 hex digits)"))
        })
}

/// Bytes from hex digits (an even number of them).
fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// `host:port` (an MQTT broker's address).
///
/// # Errors
/// Not `host:port` with a port number.
pub fn host_port(field: &str, text: &str) -> Result<(String, u16), ScenarioError> {
    let text = text
        .trim_start_matches("tcp://")
        .trim_start_matches("mqtt://");
    text.rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
        .filter(|(h, _)| !h.is_empty())
        .ok_or_else(|| ScenarioError::Invalid(format!("{field}: {text:?} is not host:port")))
}

/// `base` with its last eight bytes XORed with `dev_eui`.
fn per_device(base: [u8; 16], dev_eui: Eui64) -> [u8; 16] {
    let mut key = base;
    for (k, e) in key[8..].iter_mut().zip(dev_eui.to_u64().to_be_bytes()) {
        *k ^= e;
    }
    key
}

/// The session keys of a simulated ABP device from its two keys.
fn abp_keys(version: LorawanVersion, nwk_key: [u8; 16], app_key: [u8; 16]) -> SessionKeys11 {
    if !version.is_1_1() {
        return SessionKeys10 {
            nwk_s_key: NwkSKey::from_be_bytes(nwk_key),
            app_s_key: AppSKey::from_be_bytes(app_key),
        }
        .into();
    }
    let with_first = |x: u8| {
        let mut k = nwk_key;
        k[0] ^= x;
        k
    };
    SessionKeys11 {
        f_nwk_s_int_key: FNwkSIntKey::from_be_bytes(nwk_key),
        s_nwk_s_int_key: SNwkSIntKey::from_be_bytes(with_first(1)),
        nwk_s_enc_key: NwkSEncKey::from_be_bytes(with_first(2)),
        app_s_key: AppSKey::from_be_bytes(app_key),
    }
}

impl Scenario {
    /// Reads a scenario file, with `$NAME` replaced from the environment.
    ///
    /// # Errors
    /// The file cannot be read or is not a scenario.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&config_text::substitute_env(&text, |name| {
            std::env::var(name).ok()
        }))
    }

    /// A scenario from TOML text.
    ///
    /// # Errors
    /// The text is not a scenario, or a value is out of range.
    pub fn from_toml(text: &str) -> Result<Self, ScenarioError> {
        let scenario: Self = toml::from_str(text)?;
        scenario.region()?;
        let invalid = |message: String| Err(ScenarioError::Invalid(message));
        for (i, g) in scenario.gateways.iter().enumerate() {
            eui(&format!("gateways[{i}].id"), &g.id)?;
            match GatewayKind::from_name(&g.kind) {
                None => {
                    return invalid(format!(
                        "gateways[{i}].kind: {:?} is not udp, mqtt or basics-station",
                        g.kind
                    ));
                }
                Some(GatewayKind::Mqtt) if scenario.server.gateway_mqtt.is_empty() => {
                    return invalid(format!(
                        "gateways[{i}]: an mqtt gateway needs server.gateway_mqtt"
                    ));
                }
                Some(GatewayKind::BasicsStation) if scenario.server.station.is_empty() => {
                    return invalid(format!(
                        "gateways[{i}]: a basics-station gateway needs server.station"
                    ));
                }
                Some(_) => {}
            }
            if !(-90.0..=90.0).contains(&g.latitude) || !(-180.0..=180.0).contains(&g.longitude) {
                return invalid(format!("gateways[{i}]: not a place on Earth"));
            }
        }
        let mut total: u64 = 0;
        for (i, group) in scenario.devices.iter().enumerate() {
            total += u64::from(group.count);
            if group.uplink_interval < MIN_INTERVAL {
                return invalid(format!(
                    "devices[{i}].uplink_interval: at least {MIN_INTERVAL:?}"
                ));
            }
            if !group.radius.is_finite() || group.radius < 0.0 {
                return invalid(format!("devices[{i}].radius: {} m", group.radius));
            }
        }
        scenario.gateway_mqtt()?;
        if let Some(load) = &scenario.load {
            load.check().map_err(ScenarioError::Invalid)?;
        }
        if let Some(downlinks) = &scenario.downlinks {
            downlinks.check().map_err(ScenarioError::Invalid)?;
        }
        if total > MAX_DEVICES {
            return invalid(format!(
                "devices: {total} in all, at most {MAX_DEVICES} per simulation"
            ));
        }
        let sim = &scenario.simulation;
        if sim.keepalive < MIN_INTERVAL || sim.join_retry < MIN_INTERVAL {
            return invalid(format!(
                "simulation: keepalive and join_retry at least {MIN_INTERVAL:?}"
            ));
        }
        Ok(scenario)
    }

    /// The region.
    ///
    /// # Errors
    /// An unknown region name.
    pub fn region(&self) -> Result<Region, ScenarioError> {
        Region::ALL
            .into_iter()
            .find(|r| r.common_name().eq_ignore_ascii_case(&self.region))
            .ok_or_else(|| {
                ScenarioError::Invalid(format!("region: {:?} is not a region", self.region))
            })
    }

    /// Where the devices are, when a group names no centre: the first
    /// gateway's position.
    fn centre(&self) -> Position {
        self.gateways
            .first()
            .map_or(Position::new(0.0, 0.0, 0.0), |g| {
                Position::new(g.latitude, g.longitude, 0.0)
            })
    }

    /// The gateways.
    ///
    /// # Errors
    /// A gateway id is not an EUI.
    pub fn sim_gateways(&self) -> Result<Vec<SimGateway>, ScenarioError> {
        self.gateways
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let mut gateway = SimGateway::new(
                    eui(&format!("gateways[{i}].id"), &g.id)?,
                    Position::new(g.latitude, g.longitude, g.altitude),
                );
                gateway.kind = GatewayKind::from_name(&g.kind).ok_or_else(|| {
                    ScenarioError::Invalid(format!("gateways[{i}].kind: {:?}", g.kind))
                })?;
                Ok(gateway)
            })
            .collect()
    }

    /// Every device of every group, with its keys, class, interval and
    /// place (spread evenly over its group's disc, on a spiral).
    ///
    /// # Errors
    /// A value of a group is invalid.
    pub fn devices(&self) -> Result<Vec<SimDevice>, ScenarioError> {
        let region = self.region()?;
        let mut out = Vec::new();
        for (g, group) in self.devices.iter().enumerate() {
            let field = |name: &str| format!("devices[{g}].{name}");
            let start = eui(&field("dev_eui_start"), &group.dev_eui_start)?;
            let join_eui = eui(&field("join_eui"), &group.join_eui)?;
            let nwk_key = key_bytes(&field("nwk_key"), &group.nwk_key)?;
            let app_key = if group.app_key.is_empty() {
                nwk_key
            } else {
                key_bytes(&field("app_key"), &group.app_key)?
            };
            let version = match group.lorawan_version.as_str() {
                "1.0.2" => LorawanVersion::V1_0_2,
                "1.0.3" => LorawanVersion::V1_0_3,
                "1.0.4" => LorawanVersion::V1_0_4,
                "1.1" | "1.1.0" => LorawanVersion::V1_1,
                other => {
                    return Err(ScenarioError::Invalid(format!(
                        "{}: {other:?} is not 1.0.2, 1.0.3, 1.0.4 or 1.1",
                        field("lorawan_version")
                    )));
                }
            };
            let class_c = match group.class.as_str() {
                "A" | "a" => false,
                "C" | "c" => true,
                other => {
                    return Err(ScenarioError::Invalid(format!(
                        "{}: {other:?} is not A or C",
                        field("class")
                    )));
                }
            };
            let payload = hex_bytes(&group.payload)
                .ok_or_else(|| ScenarioError::Invalid(format!("{}: not hex", field("payload"))))?;
            let mut payloads = group
                .payloads
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    hex_bytes(p).ok_or_else(|| {
                        ScenarioError::Invalid(format!(
                            "{}: not hex",
                            field(&format!("payloads[{i}]"))
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if !payload.is_empty() {
                if !payloads.is_empty() {
                    return Err(ScenarioError::Invalid(format!(
                        "{}: payload and payloads, only one",
                        field("payloads")
                    )));
                }
                payloads.push(payload);
            }
            if group.f_port == 0 || group.f_port > 223 {
                return Err(ScenarioError::Invalid(format!(
                    "{}: {} is not an application FPort (1 to 223)",
                    field("f_port"),
                    group.f_port
                )));
            }
            let centre = match (group.latitude, group.longitude) {
                (Some(lat), Some(lon)) => Position::new(lat, lon, 0.0),
                _ => self.centre(),
            };
            let abp_start = match group.activation.as_str() {
                "otaa" | "OTAA" => None,
                "abp" | "ABP" => Some(
                    group
                        .dev_addr_start
                        .parse::<DevAddr>()
                        .map_err(|_| {
                            ScenarioError::Invalid(format!(
                                "{}: {:?} is not a DevAddr (8 hex digits)",
                                field("dev_addr_start"),
                                group.dev_addr_start
                            ))
                        })?
                        .to_u32(),
                ),
                other => {
                    return Err(ScenarioError::Invalid(format!(
                        "{}: {other:?} is not otaa or abp",
                        field("activation")
                    )));
                }
            };
            for i in 0..u64::from(group.count) {
                let dev_eui = Eui64::from_u64(start.to_u64().wrapping_add(i));
                let nwk_key = per_device(nwk_key, dev_eui);
                let app_key = per_device(app_key, dev_eui);
                let mut config = match abp_start {
                    None => DeviceConfig::otaa(
                        dev_eui,
                        join_eui,
                        NwkKey::from_be_bytes(nwk_key),
                        AppKey::from_be_bytes(app_key),
                        version,
                        region,
                        Revision::Rp002_1_0_3,
                    ),
                    Some(first) => DeviceConfig::abp(
                        dev_eui,
                        DevAddr::from_u32(first.wrapping_add(i as u32)),
                        abp_keys(version, nwk_key, app_key),
                        version,
                        region,
                        Revision::Rp002_1_0_3,
                    ),
                };
                config.class_c = class_c;
                config.data_rate = group.data_rate;
                // A spiral: evenly spread, the same every run.
                let r = group.radius * ((i as f64 + 0.5) / f64::from(group.count.max(1))).sqrt();
                let angle = i as f64 * 2.399_963;
                out.push(SimDevice {
                    device: Device::new(config),
                    position: centre.offset(r * angle.sin(), r * angle.cos()),
                    uplink_interval: group.uplink_interval,
                    f_port: group.f_port,
                    payloads: payloads.clone(),
                    confirmed_every: group.confirmed_every,
                    mac_requests_every: group.mac_requests_every,
                });
            }
        }
        Ok(out)
    }

    /// What the API is to create for `devices` (this scenario's
    /// [`devices`](Self::devices)): one profile, from the first device's
    /// version, class and activation (a scenario with groups of other
    /// versions or classes needs a profile each: not yet).
    pub fn plan(&self, devices: &[SimDevice]) -> Plan {
        let first = devices.first();
        let config = first.map(|d| d.device.config());
        Plan {
            tenant: self.names.tenant.clone(),
            application: self.names.application.clone(),
            profile: ProfilePlan {
                name: self.names.device_profile.clone(),
                region: config.map_or(Region::Eu868, |c| c.region),
                mac_version: config.map_or(LorawanVersion::V1_0_3, |c| c.version),
                reg_params_revision: Revision::Rp002_1_0_3,
                supports_otaa: config
                    .is_none_or(|c| matches!(c.activation, Activation::Otaa { .. })),
                supports_class_c: config.is_some_and(|c| c.class_c),
                uplink_interval: first.map_or(default_interval(), |d| d.uplink_interval),
            },
            gateways: self
                .sim_gateways()
                .unwrap_or_default()
                .into_iter()
                .map(|g| GatewayPlan {
                    gateway_id: g.gateway_id,
                    name: format!("sim {}", g.gateway_id),
                    latitude: g.position.latitude,
                    longitude: g.position.longitude,
                    altitude: g.position.altitude,
                    stats_interval: Duration::from_secs(30),
                })
                .collect(),
            devices: devices
                .iter()
                .map(|d| {
                    let c = d.device.config();
                    let (nwk_key, app_key, abp) = match &c.activation {
                        Activation::Otaa { nwk_key, app_key } => (*nwk_key, *app_key, None),
                        Activation::Abp { dev_addr, keys } => (
                            NwkKey::from_be_bytes(keys.f_nwk_s_int_key.to_be_bytes()),
                            AppKey::from_be_bytes(keys.app_s_key.to_be_bytes()),
                            Some((*dev_addr, *keys)),
                        ),
                    };
                    DevicePlan {
                        dev_eui: c.dev_eui,
                        join_eui: c.join_eui,
                        name: format!("sim {}", c.dev_eui),
                        nwk_key,
                        app_key,
                        abp,
                    }
                })
                .collect(),
        }
    }

    /// The gateway MQTT broker, if the scenario names one.
    ///
    /// # Errors
    /// `server.gateway_mqtt` is not `host:port`.
    pub fn gateway_mqtt(&self) -> Result<Option<GatewayMqtt>, ScenarioError> {
        if self.server.gateway_mqtt.is_empty() {
            return Ok(None);
        }
        let (host, port) = host_port("server.gateway_mqtt", &self.server.gateway_mqtt)?;
        let prefix = if self.server.topic_prefix.is_empty() {
            self.region.to_ascii_lowercase().replace('-', "_")
        } else {
            self.server.topic_prefix.clone()
        };
        let mut broker = GatewayMqtt::new(host, port, prefix);
        broker.tcp_nodelay = self.server.gateway_mqtt_tcp_nodelay;
        Ok(Some(broker))
    }

    /// The simulation's settings.
    pub fn settings(&self) -> Settings {
        let duration = match &self.load {
            // Devices run until the load plan is done.
            Some(load) => load.longest() + self.simulation.start_spread + Duration::from_secs(60),
            None => self.simulation.duration,
        };
        let mut s = Settings::new(self.server.udp, duration);
        // Checked when the scenario was read.
        s.gateway_mqtt = self.gateway_mqtt().ok().flatten();
        s.station_server = self.server.station.clone();
        s.radio = self.simulation.radio;
        s.keepalive = self.simulation.keepalive;
        s.join_retry = self.simulation.join_retry;
        s.start_spread = self.simulation.start_spread;
        s.seed = self.simulation.seed;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
        region = "EU868"

        [server]
        udp = "127.0.0.1:1700"

        [[gateways]]
        id = "0016c001ff100001"
        latitude = 52.37
        longitude = 4.89

        [[devices]]
        count = 4
        dev_eui_start = "01020304000000fe"
        nwk_key = "000102030405060708090a0b0c0d0e0f"
        lorawan_version = "1.1"
        class = "C"
        uplink_interval = "30s"
        radius = 1000
    "#;

    #[test]
    fn groups_become_devices_with_keys_of_their_own() {
        let s = Scenario::from_toml(SMALL).unwrap();
        let devices = s.devices().unwrap();
        assert_eq!(devices.len(), 4);
        let euis: Vec<String> = devices
            .iter()
            .map(|d| d.device.config().dev_eui.to_string())
            .collect();
        assert_eq!(
            euis,
            [
                "01020304000000fe",
                "01020304000000ff",
                "0102030400000100",
                "0102030400000101"
            ]
        );
        let keys: Vec<_> = devices
            .iter()
            .map(|d| d.device.config().activation.clone())
            .collect();
        assert_ne!(keys[0], keys[1]);
        assert!(devices.iter().all(|d| d.device.config().class_c));
        assert_eq!(devices[0].uplink_interval, Duration::from_secs(30));
        // Within the radius of the first gateway.
        let gw = Position::new(52.37, 4.89, 0.0);
        assert!(
            devices
                .iter()
                .all(|d| d.position.distance_m(&gw) <= 1_000.5)
        );
        let plan = s.plan(&devices);
        assert_eq!(plan.profile.mac_version, LorawanVersion::V1_1);
        assert!(plan.profile.supports_class_c);
        assert_eq!(plan.devices.len(), 4);
        assert_eq!(s.settings().duration, Duration::from_secs(60));
    }

    #[test]
    fn bad_values_are_named() {
        let err = |text: &str| {
            Scenario::from_toml(text)
                .and_then(|s| s.devices())
                .unwrap_err()
                .to_string()
        };
        assert!(err(&SMALL.replace("EU868", "XX123")).contains("region"));
        assert!(err(&SMALL.replace("0016c001ff100001", "zz")).contains("gateways[0].id"));
        assert!(err(&SMALL.replace("\"1.1\"", "\"2.0\"")).contains("devices[0].lorawan_version"));
        assert!(err(&SMALL.replace("class = \"C\"", "class = \"B\"")).contains("devices[0].class"));
        assert!(
            err(&SMALL.replace("000102030405060708090a0b0c0d0e0f", "00"))
                .contains("devices[0].nwk_key")
        );
        assert!(err(&SMALL.replace("radius", "radios")).contains("radios"));
        assert!(err(&format!("{SMALL}\nf_port = 0")).contains("f_port"));
        assert!(err(&SMALL.replace("count = 4", "count = 4000000")).contains("at most"));
        assert!(err(&SMALL.replace("\"30s\"", "\"0s\"")).contains("uplink_interval"));
        assert!(err(&SMALL.replace("radius = 1000", "radius = -1")).contains("radius"));
        assert!(
            err(&SMALL.replace("latitude = 52.37", "latitude = 152.37")).contains("gateways[0]")
        );
        let kind = |k: &str| {
            SMALL.replace(
                "longitude = 4.89",
                &format!("longitude = 4.89\nkind = {k:?}"),
            )
        };
        assert!(err(&kind("lora")).contains("gateways[0].kind"));
        assert!(err(&kind("mqtt")).contains("server.gateway_mqtt"));
        let mqtt = kind("mqtt").replace("[server]", "[server]\ngateway_mqtt = \"broker\"");
        assert!(err(&mqtt).contains("host:port"));
        assert!(err(&kind("basics-station")).contains("server.station"));
        let load = |l: &str| format!("{SMALL}\n[load]\n{l}");
        assert!(err(&load("rates = []")).contains("load.rates"));
        let script = |p: &str| format!("{SMALL}\npayloads = {p}");
        assert!(err(&script("[\"01\", \"zz\"]")).contains("devices[0].payloads[1]"));
        assert!(err(&format!("{}\npayload = \"01\"", script("[\"02\"]"))).contains("only one"));
        let s = Scenario::from_toml(&script("[\"01\", \"0203\"]")).unwrap();
        assert_eq!(s.devices().unwrap()[0].payloads, [vec![1], vec![2, 3]]);
        assert!(err(&load("hold = \"0s\"")).contains("load.hold"));
    }

    #[test]
    fn mqtt_gateways_and_load_runs_are_read() {
        let text = SMALL
            .replace("longitude = 4.89", "longitude = 4.89\nkind = \"mqtt\"")
            .replace("[server]", "[server]\ngateway_mqtt = \"127.0.0.1:1883\"");
        let s = Scenario::from_toml(&format!(
            "{text}\n[load]\nrates = [10, 20]\nramp_up = \"2s\"\nhold = \"5s\""
        ))
        .unwrap();
        assert_eq!(s.sim_gateways().unwrap()[0].kind, GatewayKind::Mqtt);
        let settings = s.settings();
        let mut broker = GatewayMqtt::new("127.0.0.1", 1883, "eu868");
        broker.tcp_nodelay = true;
        assert_eq!(settings.gateway_mqtt, Some(broker));
        let nagle = text.replace("[server]", "[server]\ngateway_mqtt_tcp_nodelay = false");
        let nagle = Scenario::from_toml(&nagle).unwrap().settings();
        assert!(!nagle.gateway_mqtt.unwrap().tcp_nodelay);
        let load = s.load.as_ref().unwrap();
        assert_eq!(load.rates, [10, 20]);
        // Long enough for the joins and both steps.
        assert!(settings.duration >= load.longest());
        let station = SMALL
            .replace(
                "longitude = 4.89",
                "longitude = 4.89\nkind = \"basics-station\"",
            )
            .replace("[server]", "[server]\nstation = \"ws://127.0.0.1:3001\"");
        let station = Scenario::from_toml(&station).unwrap();
        assert_eq!(
            station.sim_gateways().unwrap()[0].kind,
            GatewayKind::BasicsStation
        );
        assert_eq!(station.settings().station_server, "ws://127.0.0.1:3001");
        // Without a kind, a gateway speaks Semtech UDP.
        let plain = Scenario::from_toml(SMALL).unwrap();
        assert_eq!(
            plain.sim_gateways().unwrap()[0].kind,
            GatewayKind::SemtechUdp
        );
    }
}
