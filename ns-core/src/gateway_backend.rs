//! The MQTT gateway backend of one region configuration: gateway events in,
//! gateway commands out.
//!
//! Gateways (through a bridge or forwarder) publish their events on
//! `{topic_prefix}/gateway/{gateway_id}/event/{up|stats|ack}` and receive
//! commands on `{topic_prefix}/gateway/{gateway_id}/command/{down|config}`.
//! Payloads are `gw` messages in protobuf or ChirpStack's JSON; the
//! encoding is told per message ([`Encoding::detect`]) and remembered per
//! gateway, so a gateway's commands go back in the encoding it speaks
//! (protobuf until it has been heard).
//!
//! The module has two halves:
//! - sans-IO: [`decode_event`] turns a topic and a payload into a
//!   [`GatewayEvent`] or a [`MessageError`] saying what was wrong with it;
//! - the driver: [`GatewayBackend`] owns an MQTT 5 client (rumqttc) whose
//!   event loop runs in its own tokio task, reconnects with exponential
//!   backoff and resubscribes on every CONNACK, as a shared subscription
//!   (`$share/{share_name}/…`) when the broker does not say it lacks them.
//!   Events go to a bounded channel with `try_send`: a slow consumer loses
//!   events (counted), it never stalls the connection. Commands are queued
//!   with the client's non-blocking `try_publish`.
//!
//! Malformed messages are counted in [`GatewayBackendCounters`] and logged
//! (at `warn` on the 1st, 2nd, 4th, 8th… occurrence of each kind, at
//! `debug` otherwise, so a misbehaving gateway cannot flood the log).
//!
//! ```
//! use ns_core::gateway_backend::{GatewayEvent, decode_event};
//! use packet_forwarder::gw::{self, Encoding};
//!
//! let frame = gw::UplinkFrame {
//!     phy_payload: vec![0x40, 1, 2, 3, 4],
//!     rx_info: Some(gw::UplinkRxInfo {
//!         gateway_id: "0102030405060708".into(),
//!         ..Default::default()
//!     }),
//!     ..Default::default()
//! };
//! let payload = gw::encode(&frame, Encoding::Json);
//! let event = decode_event("eu868", "eu868/gateway/0102030405060708/event/up", &payload)?;
//! let GatewayEvent::Up { gateway_id, encoding, .. } = event else { unreachable!() };
//! assert_eq!(gateway_id.to_string(), "0102030405060708");
//! assert_eq!(encoding, Encoding::Json);
//! # Ok::<(), ns_core::gateway_backend::MessageError>(())
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lorawan::Eui64;
use packet_forwarder::gw::{self, Encoding, GwMessage};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
use rumqttc::v5::{self, AsyncClient, ConnectionError, Event, EventLoop, MqttOptions};
use rumqttc::{Outgoing, TlsConfiguration, Transport};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// Requests (publishes, subscribes) queued in the client while the broker
/// is unreachable; beyond that, commands are refused and counted.
const REQUEST_QUEUE: usize = 10_000;
/// The first reconnect delay; it doubles up to `max_reconnect_interval`.
const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// The largest packet accepted, announced to the broker in CONNECT so it
/// drops larger messages instead of breaking our connection with them.
const MAX_PACKET_SIZE: u32 = 1 << 20;
/// The shortest keep-alive rumqttc accepts for MQTT 5.
const MIN_KEEP_ALIVE: Duration = Duration::from_secs(5);

/// The settings of one region configuration's gateway backend, named as
/// ChirpStack's `regions.gateway.backend.mqtt` keys where they have a
/// counterpart.
///
/// ```
/// use ns_core::gateway_backend::GatewayBackendConfig;
/// let mut config = GatewayBackendConfig::new("eu868", "tcp://127.0.0.1:1883");
/// config.share_name = String::new(); // never a shared subscription
/// assert_eq!(config.event_topic_filter(), "eu868/gateway/+/event/+");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GatewayBackendConfig {
    /// The topic prefix of the region configuration, e.g. `eu868` (may be
    /// empty, or hold `/`).
    pub topic_prefix: String,
    /// The broker: `tcp://host:port`, `mqtt://host:port` or `host:port` in
    /// clear (port 1883 when absent); `ssl://`, `tls://` or `mqtts://` over
    /// TLS (port 8883 when absent), which needs [`tls`](Self::tls).
    pub server: String,
    /// Username; empty for none.
    pub username: String,
    /// Password, used with a username.
    pub password: String,
    /// Client identifier; empty for a random one.
    pub client_id: String,
    /// QoS of the subscription and of the commands (0, 1 or 2).
    pub qos: u8,
    /// Start with a clean session (else the session never expires).
    pub clean_session: bool,
    /// MQTT keep-alive (at least 5 s).
    pub keep_alive: Duration,
    /// The shared-subscription group; empty to always subscribe plainly.
    /// ChirpStack's default is `chirpstack`.
    pub share_name: String,
    /// The TLS client configuration for an `ssl://` server.
    /// [`RegionEntry::gateway_backend_config`](crate::config::RegionEntry::gateway_backend_config)
    /// builds it from the region's `ca_cert`, `tls_cert` and `tls_key`
    /// (rustls with the ring provider, through the `tls-files` crate); an
    /// embedding program may build its own.
    pub tls: Option<TlsConfiguration>,
    /// How many decoded events wait for the consumer before new ones are
    /// dropped.
    pub event_channel_capacity: usize,
    /// The longest wait between reconnection attempts.
    pub max_reconnect_interval: Duration,
    /// Set `TCP_NODELAY` on the connection to the broker (clear or TLS),
    /// the default: each command goes out at once, in a segment of its
    /// own. Off, Nagle's algorithm holds a small write until the previous
    /// one is acknowledged, which with the broker's delayed ACK adds up
    /// to 40 ms to a downlink's way to its gateway.
    pub tcp_nodelay: bool,
}

impl GatewayBackendConfig {
    /// ChirpStack's defaults for `topic_prefix` on `server`.
    pub fn new(topic_prefix: impl Into<String>, server: impl Into<String>) -> Self {
        Self {
            topic_prefix: topic_prefix.into().trim_end_matches('/').to_owned(),
            server: server.into(),
            username: String::new(),
            password: String::new(),
            client_id: String::new(),
            qos: 0,
            clean_session: true,
            keep_alive: Duration::from_secs(30),
            share_name: "chirpstack".into(),
            tls: None,
            event_channel_capacity: 10_000,
            max_reconnect_interval: Duration::from_secs(60),
            tcp_nodelay: true,
        }
    }

    /// `{topic_prefix}/gateway/+/event/+`, without the shared-subscription
    /// part.
    pub fn event_topic_filter(&self) -> String {
        format!("{}gateway/+/event/+", prefix_path(&self.topic_prefix))
    }

    /// The command topic `{topic_prefix}/gateway/{gateway_id}/command/{command}`.
    pub fn command_topic(&self, gateway_id: Eui64, command: &str) -> String {
        format!(
            "{}gateway/{gateway_id}/command/{command}",
            prefix_path(&self.topic_prefix)
        )
    }
}

/// `prefix/`, or nothing for an empty prefix.
fn prefix_path(prefix: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    }
}

/// A gateway event, decoded, with the gateway it came from (the topic's,
/// checked against the payload's).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// `Up`, the large variant, is nearly every event: boxing it would add an
// allocation per uplink to make the rare `Stats` and `Ack` smaller.
#[allow(clippy::large_enum_variant)]
pub enum GatewayEvent {
    /// `event/up`: a received frame.
    Up {
        /// The gateway that heard it.
        gateway_id: Eui64,
        /// The frame and its RX/TX metadata.
        frame: gw::UplinkFrame,
        /// The encoding the gateway used.
        encoding: Encoding,
    },
    /// `event/stats`: the gateway's periodic statistics.
    Stats {
        /// The gateway.
        gateway_id: Eui64,
        /// Its statistics.
        stats: gw::GatewayStats,
    },
    /// `event/ack`: the gateway's answer to a downlink.
    Ack {
        /// The gateway.
        gateway_id: Eui64,
        /// Per-item TX status.
        ack: gw::DownlinkTxAck,
    },
}

impl GatewayEvent {
    /// The gateway the event came from.
    pub fn gateway_id(&self) -> Eui64 {
        match self {
            Self::Up { gateway_id, .. }
            | Self::Stats { gateway_id, .. }
            | Self::Ack { gateway_id, .. } => *gateway_id,
        }
    }
}

/// Why an MQTT message is not a usable gateway event (the sender's fault).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The topic is not `{prefix}/gateway/{16 hex digits}/event/{type}`.
    #[error("topic {0:?} is not {{prefix}}/gateway/{{gateway_id}}/event/{{type}}")]
    Topic(String),
    /// A well-formed event topic of a type the backend does not handle
    /// (`mesh`, `exec`, `raw`, …).
    #[error("gateway {gateway_id}: unhandled event type {event:?}")]
    UnknownEvent {
        /// The gateway of the topic.
        gateway_id: Eui64,
        /// The topic's event type.
        event: String,
    },
    /// The payload does not decode as the topic's message.
    #[error("gateway {gateway_id}: {source}")]
    Payload {
        /// The gateway of the topic.
        gateway_id: Eui64,
        /// What the decoder reported.
        #[source]
        source: gw::DecodeError,
    },
    /// The payload names another gateway than the topic (or none).
    #[error("topic names gateway {topic}, payload names {payload:?}")]
    GatewayIdMismatch {
        /// The gateway of the topic.
        topic: Eui64,
        /// The gateway ID in the payload (`""` when absent).
        payload: String,
    },
}

/// Splits an event topic under `prefix` into its gateway ID and event type.
fn parse_topic<'a>(prefix: &str, topic: &'a str) -> Option<(Eui64, &'a str)> {
    let prefix = prefix.trim_end_matches('/');
    let rest = if prefix.is_empty() {
        topic
    } else {
        topic.strip_prefix(prefix)?.strip_prefix('/')?
    };
    let (gateway_id, event) = rest
        .strip_prefix("gateway/")?
        .split_once('/')
        .and_then(|(id, rest)| Some((id, rest.strip_prefix("event/")?)))?;
    if gateway_id.len() != 16 || event.is_empty() || event.contains('/') {
        return None;
    }
    Some((gateway_id.parse().ok()?, event))
}

/// Decodes one message received on `topic` under `topic_prefix`: the event
/// type comes from the topic, the encoding from the payload, and the
/// gateway ID in the payload must be the topic's.
///
/// # Errors
/// [`MessageError`] naming what is wrong with the message.
pub fn decode_event(
    topic_prefix: &str,
    topic: &str,
    payload: &[u8],
) -> Result<GatewayEvent, MessageError> {
    let (gateway_id, event) =
        parse_topic(topic_prefix, topic).ok_or_else(|| MessageError::Topic(topic.to_owned()))?;
    let encoding = Encoding::detect(payload);
    fn decode<M: GwMessage>(
        payload: &[u8],
        encoding: Encoding,
        gateway_id: Eui64,
    ) -> Result<M, MessageError> {
        let message: M = gw::decode(payload, encoding)
            .map_err(|source| MessageError::Payload { gateway_id, source })?;
        // Protobuf can carry what JSON cannot (unknown enum values,
        // timestamps beyond year 9999); such a message would fail later in
        // a JSON integration or gateway command.
        if encoding == Encoding::Protobuf {
            gw::json_encodable(&message)
                .map_err(|source| MessageError::Payload { gateway_id, source })?;
        }
        Ok(message)
    }
    let (event, named) = match event {
        "up" => {
            let frame: gw::UplinkFrame = decode(payload, encoding, gateway_id)?;
            let named = frame
                .rx_info
                .as_ref()
                .map(|rx| rx.gateway_id.clone())
                .unwrap_or_default();
            let event = GatewayEvent::Up {
                gateway_id,
                frame,
                encoding,
            };
            (event, named)
        }
        "stats" => {
            let stats: gw::GatewayStats = decode(payload, encoding, gateway_id)?;
            let named = stats.gateway_id.clone();
            (GatewayEvent::Stats { gateway_id, stats }, named)
        }
        "ack" => {
            let ack: gw::DownlinkTxAck = decode(payload, encoding, gateway_id)?;
            let named = ack.gateway_id.clone();
            (GatewayEvent::Ack { gateway_id, ack }, named)
        }
        other => {
            return Err(MessageError::UnknownEvent {
                gateway_id,
                event: other.to_owned(),
            });
        }
    };
    if named.parse::<Eui64>().ok() != Some(gateway_id) {
        return Err(MessageError::GatewayIdMismatch {
            topic: gateway_id,
            payload: named,
        });
    }
    Ok(event)
}

/// What the backend has seen and done since it started; all counts only
/// grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatewayBackendCounters {
    /// `up` events decoded.
    pub up_received: u64,
    /// `stats` events decoded.
    pub stats_received: u64,
    /// `ack` events decoded.
    pub ack_received: u64,
    /// Decoded events dropped because the event channel was full.
    pub events_dropped: u64,
    /// Messages on topics that are not event topics under the prefix.
    pub malformed_topic: u64,
    /// Messages whose payload did not decode.
    pub malformed_payload: u64,
    /// Messages whose payload names another gateway than the topic.
    pub gateway_id_mismatch: u64,
    /// Messages on event topics of an unhandled type.
    pub unknown_event: u64,
    /// Commands (`down`, `config`) queued for publishing.
    pub commands_sent: u64,
    /// Commands refused because the client's queue was full.
    pub commands_dropped: u64,
    /// Connections made (CONNACKs).
    pub connections: u64,
    /// Connection attempts failed and connections lost.
    pub connection_errors: u64,
    /// Subscriptions the broker granted (one per connection).
    pub subscriptions: u64,
    /// Subscriptions the broker refused.
    pub subscribe_failures: u64,
}

/// The counters as the driver task and the handle update them.
#[derive(Debug, Default)]
struct Counters {
    up_received: AtomicU64,
    stats_received: AtomicU64,
    ack_received: AtomicU64,
    events_dropped: AtomicU64,
    malformed_topic: AtomicU64,
    malformed_payload: AtomicU64,
    gateway_id_mismatch: AtomicU64,
    unknown_event: AtomicU64,
    commands_sent: AtomicU64,
    commands_dropped: AtomicU64,
    connections: AtomicU64,
    connection_errors: AtomicU64,
    subscriptions: AtomicU64,
    subscribe_failures: AtomicU64,
}

/// Adds one; true when the new count is a power of two, the occurrences
/// worth a `warn`.
fn bump(counter: &AtomicU64) -> bool {
    (counter.fetch_add(1, Ordering::Relaxed) + 1).is_power_of_two()
}

impl Counters {
    fn snapshot(&self) -> GatewayBackendCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        GatewayBackendCounters {
            up_received: get(&self.up_received),
            stats_received: get(&self.stats_received),
            ack_received: get(&self.ack_received),
            events_dropped: get(&self.events_dropped),
            malformed_topic: get(&self.malformed_topic),
            malformed_payload: get(&self.malformed_payload),
            gateway_id_mismatch: get(&self.gateway_id_mismatch),
            unknown_event: get(&self.unknown_event),
            commands_sent: get(&self.commands_sent),
            commands_dropped: get(&self.commands_dropped),
            connections: get(&self.connections),
            connection_errors: get(&self.connection_errors),
            subscriptions: get(&self.subscriptions),
            subscribe_failures: get(&self.subscribe_failures),
        }
    }
}

/// What the handle and the driver task share.
#[derive(Debug, Default)]
struct Shared {
    counters: Counters,
    /// The encoding each gateway was last heard in.
    encodings: Mutex<HashMap<Eui64, Encoding>>,
}

impl Shared {
    fn encodings(&self) -> std::sync::MutexGuard<'_, HashMap<Eui64, Encoding>> {
        self.encodings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why the backend cannot start (the operator's configuration).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The server URL cannot be used.
    #[error("MQTT server {url:?}: {reason}")]
    Server {
        /// The configured URL.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An `ssl://` server without a TLS configuration
    /// ([`GatewayBackendConfig::tls`]).
    #[error("MQTT server {0:?} needs a TLS configuration")]
    TlsMissing(String),
    /// A QoS other than 0, 1 or 2.
    #[error("MQTT QoS {0} is not 0, 1 or 2")]
    Qos(u8),
}

/// Why a command was not queued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The message's `gateway_id` is not 16 hex digits (the caller's fault).
    #[error("gateway_id {0:?} is not 16 hex digits")]
    GatewayId(String),
    /// The client's request queue is full or the driver has ended.
    #[error("the MQTT client's queue is full or closed")]
    NotQueued,
}

/// A broker address.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Server {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: bool,
}

/// A broker URL: `tcp://`, `mqtt://` or bare `host[:port]` in clear (port
/// 1883 by default), `ssl://`, `tls://` or `mqtts://` over TLS (8883). The
/// error says what is wrong with it.
pub(crate) fn parse_broker_url(url: &str) -> Result<Server, &'static str> {
    let (tls, rest) = match url.split_once("://") {
        Some(("tcp" | "mqtt", rest)) => (false, rest),
        Some(("ssl" | "tls" | "mqtts", rest)) => (true, rest),
        Some(_) => return Err("unknown scheme (tcp://, mqtt://, ssl://, tls://, mqtts://)"),
        None => (false, url),
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => (host, port.parse().map_err(|_| "bad port")?),
        _ => (rest, if tls { 8883 } else { 1883 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("no host");
    }
    Ok(Server {
        host: host.to_owned(),
        port,
        tls,
    })
}

/// Sets `TCP_NODELAY` on the client's socket: rumqttc applies its network
/// options to the TCP connection it makes, under TLS too.
pub(crate) fn set_tcp_nodelay(options: &mut MqttOptions, nodelay: bool) {
    let mut network = options.network_options();
    network.set_tcp_nodelay(nodelay);
    options.set_network_options(network);
}

/// The TLS client configuration for the broker `url` from the PEM `files`
/// of its configuration section: built for an `ssl://`, `tls://` or
/// `mqtts://` URL, none for a clear one (whose TLS files are ignored, with
/// a warning) or one that does not parse (its error comes at start).
pub(crate) fn tls_for_server(
    url: &str,
    files: &tls_files::ClientFiles<'_>,
) -> Result<Option<TlsConfiguration>, tls_files::Error> {
    match parse_broker_url(url) {
        Ok(server) if server.tls => {
            let config = files.client_config()?;
            Ok(Some(TlsConfiguration::Rustls(Arc::new(config))))
        }
        Ok(_) if !files.is_empty() => {
            warn!(
                server = url,
                section = files.section,
                "ca_cert, tls_cert and tls_key are ignored: the server URL is not ssl://"
            );
            Ok(None)
        }
        _ => Ok(None),
    }
}

fn parse_server(url: &str) -> Result<Server, ConfigError> {
    parse_broker_url(url).map_err(|reason| ConfigError::Server {
        url: url.to_owned(),
        reason,
    })
}

/// The driver of one region configuration's gateway backend; see the
/// [module documentation](self). Dropping it ends the connection.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use ns_core::gateway_backend::{GatewayBackend, GatewayBackendConfig, GatewayEvent};
/// let config = GatewayBackendConfig::new("eu868", "tcp://127.0.0.1:1883");
/// let (backend, mut events) = GatewayBackend::start(config)?;
/// while let Some(event) = events.recv().await {
///     if let GatewayEvent::Up { frame, .. } = event {
///         // de-duplicate, answer with backend.send_downlink(&downlink)…
///         # let _ = frame;
///     }
/// }
/// # drop(backend);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct GatewayBackend {
    config: GatewayBackendConfig,
    client: AsyncClient,
    qos: QoS,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl GatewayBackend {
    /// Starts the client task for `config` (connecting happens in the
    /// background) and returns the handle with the receiving end of the
    /// event channel.
    ///
    /// Must be called within a tokio runtime.
    ///
    /// # Errors
    /// [`ConfigError`] when the server URL, TLS or QoS settings cannot be
    /// used.
    pub fn start(
        config: GatewayBackendConfig,
    ) -> Result<(Self, mpsc::Receiver<GatewayEvent>), ConfigError> {
        let server = parse_server(&config.server)?;
        let qos = v5::mqttbytes::qos(config.qos).ok_or(ConfigError::Qos(config.qos))?;
        let transport = match (&config.tls, server.tls) {
            (Some(tls), true) => Transport::Tls(tls.clone()),
            (None, true) => return Err(ConfigError::TlsMissing(config.server.clone())),
            (_, false) => Transport::Tcp,
        };
        let client_id = if config.client_id.is_empty() {
            format!("ns-gateway-backend-{:016x}", rand::random::<u64>())
        } else {
            config.client_id.clone()
        };
        // A persistent session belongs to a client id that comes back: with
        // a random one, every restart would leave a session behind that
        // never expires and, in a shared subscription, keeps taking its
        // share of the gateways' events for no one.
        let clean_session = config.clean_session || config.client_id.is_empty();
        let mut options = MqttOptions::new(client_id, server.host, server.port);
        // Nagle's algorithm stays on unless asked: under load it coalesces
        // the small MQTT writes, which measured ~20 % cheaper per uplink
        // than TCP_NODELAY (docs/benchmarks.md), at the cost of a few ms.
        set_tcp_nodelay(&mut options, config.tcp_nodelay);
        options
            .set_transport(transport)
            .set_keep_alive(config.keep_alive.max(MIN_KEEP_ALIVE))
            .set_clean_start(clean_session)
            .set_request_channel_capacity(REQUEST_QUEUE)
            .set_max_packet_size(Some(MAX_PACKET_SIZE));
        if !clean_session {
            options.set_session_expiry_interval(Some(u32::MAX));
        }
        if !config.username.is_empty() {
            options.set_credentials(config.username.clone(), config.password.clone());
        }
        let (client, eventloop) = AsyncClient::new(options, REQUEST_QUEUE);
        let (tx, rx) = mpsc::channel(config.event_channel_capacity.max(1));
        let shared = Arc::new(Shared::default());
        let driver = Driver {
            topic_prefix: config.topic_prefix.clone(),
            filter: config.event_topic_filter(),
            share_name: config.share_name.clone(),
            max_backoff: config.max_reconnect_interval.max(MIN_BACKOFF),
            server: config.server.clone(),
            qos,
            client: client.clone(),
            shared: Arc::clone(&shared),
            events: tx,
        };
        let task = tokio::spawn(driver.run(eventloop));
        let backend = Self {
            config,
            client,
            qos,
            shared,
            task,
        };
        Ok((backend, rx))
    }

    /// Queues `frame` on its gateway's `command/down` topic, in the encoding
    /// that gateway was last heard in (protobuf if never), and returns that
    /// encoding. Never waits.
    ///
    /// # Errors
    /// [`SendError`] when the frame's `gateway_id` is malformed or the
    /// client's queue is full (the downlink is dropped and counted).
    pub fn send_downlink(&self, frame: &gw::DownlinkFrame) -> Result<Encoding, SendError> {
        self.send_command(&frame.gateway_id, "down", frame)
    }

    /// Queues `configuration` on its gateway's `command/config` topic, as
    /// [`send_downlink`](Self::send_downlink) does.
    ///
    /// # Errors
    /// As [`send_downlink`](Self::send_downlink).
    pub fn send_configuration(
        &self,
        configuration: &gw::GatewayConfiguration,
    ) -> Result<Encoding, SendError> {
        self.send_command(&configuration.gateway_id, "config", configuration)
    }

    fn send_command<M: GwMessage>(
        &self,
        gateway_id: &str,
        command: &str,
        message: &M,
    ) -> Result<Encoding, SendError> {
        let gateway_id: Eui64 = gateway_id
            .parse()
            .map_err(|_| SendError::GatewayId(gateway_id.to_owned()))?;
        let encoding = self.encoding(gateway_id).unwrap_or(Encoding::Protobuf);
        let topic = self.config.command_topic(gateway_id, command);
        let payload = gw::encode(message, encoding);
        let counters = &self.shared.counters;
        match self.client.try_publish(topic, self.qos, false, payload) {
            Ok(()) => {
                counters.commands_sent.fetch_add(1, Ordering::Relaxed);
                Ok(encoding)
            }
            Err(_) => {
                if bump(&counters.commands_dropped) {
                    warn!(%gateway_id, command, "MQTT client queue full: gateway command dropped");
                }
                Err(SendError::NotQueued)
            }
        }
    }

    /// The encoding `gateway_id` was last heard in, if it has been.
    pub fn encoding(&self, gateway_id: Eui64) -> Option<Encoding> {
        self.shared.encodings().get(&gateway_id).copied()
    }

    /// The counts so far.
    pub fn counters(&self) -> GatewayBackendCounters {
        self.shared.counters.snapshot()
    }

    /// The settings the backend runs with.
    pub fn config(&self) -> &GatewayBackendConfig {
        &self.config
    }

    /// Sends DISCONNECT after the queued commands and waits (up to `wait`)
    /// for the client task to end; the task is ended regardless.
    pub async fn shutdown(mut self, wait: Duration) {
        if self.client.try_disconnect().is_ok() {
            let _ = tokio::time::timeout(wait, &mut self.task).await;
        }
        self.task.abort();
    }
}

impl Drop for GatewayBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The client task's state.
struct Driver {
    topic_prefix: String,
    filter: String,
    share_name: String,
    max_backoff: Duration,
    server: String,
    qos: QoS,
    client: AsyncClient,
    shared: Arc<Shared>,
    events: mpsc::Sender<GatewayEvent>,
}

impl Driver {
    async fn run(self, mut eventloop: EventLoop) {
        let counters = &self.shared.counters;
        let mut backoff = MIN_BACKOFF;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    counters.connections.fetch_add(1, Ordering::Relaxed);
                    backoff = MIN_BACKOFF;
                    // MQTT 5: shared subscriptions are available unless the
                    // CONNACK says 0.
                    let shared_ok =
                        ack.properties.and_then(|p| p.shared_subscription_available) != Some(0);
                    let filter = if shared_ok && !self.share_name.is_empty() {
                        format!("$share/{}/{}", self.share_name, self.filter)
                    } else {
                        self.filter.clone()
                    };
                    info!(server = self.server, filter, "MQTT connected, subscribing");
                    if self.client.try_subscribe(filter, self.qos).is_err() {
                        bump(&counters.subscribe_failures);
                        warn!("MQTT client queue full: subscription not queued");
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    self.handle_publish(&p.topic, &p.payload)
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    for code in ack.return_codes {
                        if matches!(code, SubscribeReasonCode::Success(_)) {
                            counters.subscriptions.fetch_add(1, Ordering::Relaxed);
                        } else {
                            bump(&counters.subscribe_failures);
                            warn!(?code, filter = self.filter, "MQTT subscription refused");
                        }
                    }
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                    info!(server = self.server, "MQTT disconnected");
                    return;
                }
                Ok(_) => {}
                Err(ConnectionError::RequestsDone) => return,
                Err(error) => {
                    counters.connection_errors.fetch_add(1, Ordering::Relaxed);
                    warn!(server = self.server, %error, retry_in = ?backoff, "MQTT connection error");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
    }

    fn handle_publish(&self, topic: &[u8], payload: &[u8]) {
        let counters = &self.shared.counters;
        let topic = String::from_utf8_lossy(topic);
        let event = match decode_event(&self.topic_prefix, &topic, payload) {
            Ok(event) => event,
            Err(error) => {
                let counter = match &error {
                    MessageError::Topic(_) => &counters.malformed_topic,
                    MessageError::UnknownEvent { .. } => &counters.unknown_event,
                    MessageError::Payload { .. } => &counters.malformed_payload,
                    MessageError::GatewayIdMismatch { .. } => &counters.gateway_id_mismatch,
                };
                if bump(counter) {
                    warn!(%topic, %error, "gateway message ignored");
                } else {
                    debug!(%topic, %error, "gateway message ignored");
                }
                return;
            }
        };
        let counter = match &event {
            GatewayEvent::Up { encoding, .. } => {
                self.remember(event.gateway_id(), *encoding);
                &counters.up_received
            }
            GatewayEvent::Stats { .. } => {
                self.remember(event.gateway_id(), Encoding::detect(payload));
                &counters.stats_received
            }
            GatewayEvent::Ack { .. } => {
                self.remember(event.gateway_id(), Encoding::detect(payload));
                &counters.ack_received
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if self.events.try_send(event).is_err() && bump(&counters.events_dropped) {
            warn!(
                dropped = counters.events_dropped.load(Ordering::Relaxed),
                "gateway event channel full or closed: events dropped"
            );
        }
    }

    fn remember(&self, gateway_id: Eui64, encoding: Encoding) {
        self.shared.encodings().insert(gateway_id, encoding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW: &str = "0102030405060708";

    fn uplink(gateway_id: &str) -> gw::UplinkFrame {
        gw::UplinkFrame {
            phy_payload: vec![0x40, 1, 2, 3, 4, 0, 1, 0, 0xaa, 1, 2, 3, 4],
            rx_info: Some(gw::UplinkRxInfo {
                gateway_id: gateway_id.into(),
                rssi: -50,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn event_topics_parse_under_their_prefix() {
        let gw: Eui64 = GW.parse().unwrap();
        for (prefix, topic, expected) in [
            (
                "eu868",
                "eu868/gateway/0102030405060708/event/up",
                Some("up"),
            ),
            (
                "eu868/",
                "eu868/gateway/0102030405060708/event/stats",
                Some("stats"),
            ),
            ("a/b", "a/b/gateway/0102030405060708/event/ack", Some("ack")),
            ("", "gateway/0102030405060708/event/up", Some("up")),
            ("eu868", "us915/gateway/0102030405060708/event/up", None),
            ("eu868", "eu868x/gateway/0102030405060708/event/up", None),
            ("eu868", "eu868/gateway/01020304050607/event/up", None),
            ("eu868", "eu868/gateway/01020304050607zz/event/up", None),
            ("eu868", "eu868/gateway/0102030405060708/state/conn", None),
            ("eu868", "eu868/gateway/0102030405060708/event/", None),
            ("eu868", "eu868/gateway/0102030405060708/event/up/x", None),
        ] {
            assert_eq!(
                parse_topic(prefix, topic),
                expected.map(|e| (gw, e)),
                "{prefix} {topic}"
            );
        }
    }

    #[test]
    fn uplinks_decode_in_both_encodings() {
        let frame = uplink(GW);
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            let event = decode_event(
                "eu868",
                "eu868/gateway/0102030405060708/event/up",
                &gw::encode(&frame, encoding),
            )
            .unwrap();
            assert_eq!(
                event,
                GatewayEvent::Up {
                    gateway_id: GW.parse().unwrap(),
                    frame: frame.clone(),
                    encoding
                }
            );
        }
    }

    #[test]
    fn payload_naming_another_gateway_or_none_is_rejected() {
        let topic = "eu868/gateway/0102030405060708/event/up";
        for named in ["0807060504030201", "", "nonsense"] {
            let e = decode_event("eu868", topic, &gw::encode(&uplink(named), Encoding::Json));
            assert!(
                matches!(&e, Err(MessageError::GatewayIdMismatch { payload, .. }) if payload == named),
                "{e:?}"
            );
        }
        let no_rx_info = gw::UplinkFrame::default();
        let e = decode_event("eu868", topic, &gw::encode(&no_rx_info, Encoding::Protobuf));
        assert!(
            matches!(e, Err(MessageError::GatewayIdMismatch { .. })),
            "{e:?}"
        );
        // Upper-case hex names the same gateway.
        let upper = gw::encode(&uplink(&GW.to_uppercase()), Encoding::Json);
        assert!(decode_event("eu868", topic, &upper).is_ok());
    }

    #[test]
    fn undecodable_payloads_and_unknown_events_are_errors() {
        let up = "eu868/gateway/0102030405060708/event/up";
        for payload in [&b"{not json"[..], &[0xff, 0xff, 0xff][..]] {
            let e = decode_event("eu868", up, payload);
            assert!(matches!(e, Err(MessageError::Payload { .. })), "{e:?}");
        }
        let mesh = "eu868/gateway/0102030405060708/event/mesh";
        let e = decode_event("eu868", mesh, b"");
        assert!(
            matches!(&e, Err(MessageError::UnknownEvent { event, .. }) if event == "mesh"),
            "{e:?}"
        );
    }

    #[test]
    fn server_urls_parse() {
        let ok = |url, host: &str, port, tls| {
            let server = Server {
                host: host.to_owned(),
                port,
                tls,
            };
            assert_eq!(parse_server(url).unwrap(), server, "{url}");
        };
        ok("tcp://127.0.0.1:1883", "127.0.0.1", 1883, false);
        ok("broker", "broker", 1883, false);
        ok("mqtt://[::1]:1884/", "::1", 1884, false);
        ok("ssl://broker", "broker", 8883, true);
        ok("mqtts://broker:8884", "broker", 8884, true);
        for bad in ["ws://b", "tcp://:1883", "tcp://b:x"] {
            assert!(parse_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn commands_and_filters_sit_under_the_prefix() {
        let config = GatewayBackendConfig::new("eu868/", "b");
        let gw = GW.parse().unwrap();
        assert_eq!(config.event_topic_filter(), "eu868/gateway/+/event/+");
        assert_eq!(
            config.command_topic(gw, "down"),
            "eu868/gateway/0102030405060708/command/down"
        );
        let config = GatewayBackendConfig::new("", "b");
        assert_eq!(config.event_topic_filter(), "gateway/+/event/+");
    }
}
