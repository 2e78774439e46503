//! The MQTT side: a rumqttc client, MQTT 3.1.1 or 5, in clear or over TLS,
//! whose event loop runs in its own task, reconnecting with exponential
//! backoff, and reports connections and incoming messages over a channel.
//!
//! Requests use the client's non-blocking `try_*` calls so a broker outage
//! never stalls the UDP loop: when the client's queue is full the request is
//! dropped and counted by the caller.
//!
//! rumqttc has one client per protocol version, alike in shape but not in
//! types. `Client` and `EventLoop` wrap either, so the handle's API and the
//! reconnect loop are written once; `protocol_version` picks the version.
//!
//! A server URL with `ssl://`, `tls://` or `mqtts://` is reached over TLS
//! (rustls with the ring provider): the broker's certificate is checked
//! against `ca_cert` (else the system's trust store), and `tls_cert` with
//! `tls_key`, when set, authenticate the bridge to the broker.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use prometheus_client::metrics::histogram::Histogram;
use rumqttc::v5;
use rumqttc::{self as v311, Outgoing, QoS, TlsConfiguration, Transport};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::{self, MqttVersion};

/// Requests queued in the client while the broker is unreachable.
const REQUEST_QUEUE: usize = 100_000;
/// The first reconnect delay; it doubles up to `max_reconnect_interval`.
const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// The largest packet sent or accepted: uplinks can carry large metadata,
/// and 1 MiB is far above any gateway message.
const MAX_PACKET_SIZE: u32 = 1 << 20;
/// The shortest keep-alive rumqttc accepts for MQTT 3.1.1.
const MIN_KEEP_ALIVE_V311: Duration = Duration::from_secs(1);
/// The shortest keep-alive rumqttc accepts for MQTT 5.
const MIN_KEEP_ALIVE_V5: Duration = Duration::from_secs(5);
/// Where the connection settings sit in the configuration, for errors.
const GENERIC: &str = "integration.mqtt.auth.generic";

/// What the MQTT task tells the driver.
#[derive(Debug)]
pub(crate) enum MqttInput {
    /// A ConnAck: (re)subscribe.
    Connected,
    /// The connection was lost (reconnecting in the background).
    Disconnected,
    /// A message on a subscribed topic.
    Publish {
        /// Its topic.
        topic: String,
        /// Its payload.
        payload: Vec<u8>,
    },
}

/// The message the broker publishes for the bridge when the connection
/// drops without a DISCONNECT (the MQTT will), with the configured QoS.
///
/// ```text
/// let will = LastWill {
///     topic: "gateway/0102030405060708/state/conn".into(),
///     payload: offline_state,
///     retain: true,
/// };
/// let (mqtt, inputs, task) = Mqtt::start(&config.integration.mqtt, Some(will), histogram)?;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LastWill {
    /// The will's topic.
    pub(crate) topic: String,
    /// The will's payload.
    pub(crate) payload: Vec<u8>,
    /// Whether the broker keeps the will as the topic's retained message.
    pub(crate) retain: bool,
}

/// The handle the driver publishes and subscribes with.
#[derive(Debug)]
pub(crate) struct Mqtt {
    client: Client,
    qos: QoS,
    /// When each queued PUBLISH was handed to the client, oldest first.
    queued: Arc<Mutex<VecDeque<Instant>>>,
}

/// The buckets of the publish latency histogram, seconds: 50 µs to 10 s.
pub(crate) fn publish_latency_histogram() -> Histogram {
    Histogram::new([
        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
        0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

/// The client of the configured protocol version.
#[derive(Debug)]
enum Client {
    V311(v311::AsyncClient),
    /// With the configured QoS, as MQTT 5 spells it.
    V5(v5::AsyncClient, v5::mqttbytes::QoS),
}

/// The event loop of the configured protocol version (boxed: both are
/// large, of different sizes).
enum EventLoop {
    V311(Box<v311::EventLoop>),
    V5(Box<v5::EventLoop>),
}

/// What one poll of an event loop came to, whatever the version.
enum Polled {
    ConnAck,
    /// A PUBLISH was written to the connection.
    PublishSent,
    Publish {
        topic: String,
        payload: Vec<u8>,
    },
    /// DISCONNECT was sent: the session is over.
    DisconnectSent,
    /// Every handle was dropped.
    RequestsDone,
    /// The connection failed or was lost; the next poll reconnects.
    Failed(String),
    /// Anything else (acks, pings).
    Other,
}

/// A broker address from `servers`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Server {
    host: String,
    port: u16,
    tls: bool,
}

/// What both protocol versions are configured with.
struct Settings {
    client_id: String,
    server: Server,
    transport: Transport,
    keep_alive: Duration,
    clean_session: bool,
    credentials: Option<(String, String)>,
    last_will: Option<LastWill>,
    qos: QoS,
}

impl Mqtt {
    /// Starts the client task, speaking `protocol_version`, with
    /// `last_will` as the MQTT will. The time from [`Mqtt::publish`] to the
    /// PUBLISH being written to the connection goes to `publish_latency`
    /// (across a reconnect, republished QoS 1/2 messages can shift the
    /// pairing of later samples: the figures are for monitoring). Connecting happens in the background;
    /// each ConnAck is reported as [`MqttInput::Connected`], each loss as
    /// [`MqttInput::Disconnected`].
    ///
    /// # Errors
    /// When the configuration cannot be used: no or a malformed server URL,
    /// or, for a TLS server, a `ca_cert`, `tls_cert` or `tls_key` file that
    /// cannot be read or holds no usable certificate or key, or a key that
    /// does not match its certificate. The error names the key and the file.
    pub(crate) fn start(
        config: &config::Mqtt,
        last_will: Option<LastWill>,
        publish_latency: Histogram,
    ) -> anyhow::Result<(Self, mpsc::Receiver<MqttInput>, JoinHandle<()>)> {
        let generic = &config.auth.generic;
        let url = generic
            .broker_url()
            .with_context(|| format!("{GENERIC}.servers is empty"))?;
        let server = parse_server(url)?;
        let transport = if server.tls {
            let tls = tls_files::ClientFiles {
                section: GENERIC,
                ca_cert: &generic.ca_cert,
                tls_cert: &generic.tls_cert,
                tls_key: &generic.tls_key,
            }
            .client_config()?;
            Transport::tls_with_config(TlsConfiguration::Rustls(Arc::new(tls)))
        } else {
            if [&generic.ca_cert, &generic.tls_cert, &generic.tls_key]
                .iter()
                .any(|path| !path.is_empty())
            {
                warn!(
                    server = url,
                    "ca_cert, tls_cert and tls_key are ignored: the server URL is not ssl://"
                );
            }
            Transport::Tcp
        };
        let client_id = if generic.client_id.is_empty() {
            format!("gateway-bridge-{:016x}", rand::random::<u64>())
        } else {
            generic.client_id.clone()
        };
        let qos = v311::qos(generic.qos)
            .map_err(|_| anyhow!("{GENERIC}.qos {} is not 0, 1 or 2", generic.qos))?;
        let settings = Settings {
            client_id,
            server,
            transport,
            keep_alive: config.keep_alive,
            clean_session: generic.clean_session,
            credentials: (!generic.username.is_empty())
                .then(|| (generic.username.clone(), generic.password.clone())),
            last_will,
            qos,
        };
        let (client, eventloop) = match config.protocol_version {
            MqttVersion::V311 => client_v311(settings),
            MqttVersion::V5 => client_v5(settings),
        };
        let (tx, rx) = mpsc::channel(1024);
        let max_backoff = config.max_reconnect_interval.max(MIN_BACKOFF);
        let queued = Arc::new(Mutex::new(VecDeque::new()));
        let latency = Latency {
            queued: Arc::clone(&queued),
            histogram: publish_latency,
        };
        let task = tokio::spawn(event_loop(
            eventloop,
            tx,
            max_backoff,
            url.to_owned(),
            latency,
        ));
        Ok((
            Self {
                client,
                qos,
                queued,
            },
            rx,
            task,
        ))
    }

    /// Queues a PUBLISH with the configured QoS.
    ///
    /// # Errors
    /// When the client's queue is full (the request is dropped).
    pub(crate) fn publish(
        &self,
        topic: String,
        payload: Vec<u8>,
        retain: bool,
    ) -> Result<(), NotQueued> {
        // Held across the request so the event loop, which takes the
        // oldest time when the PUBLISH is written, cannot see a request
        // whose time is not queued yet.
        let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match &self.client {
            Client::V311(c) => c.try_publish(topic, self.qos, retain, payload)?,
            Client::V5(c, qos) => c.try_publish(topic, *qos, retain, payload)?,
        }
        queued.push_back(now);
        Ok(())
    }

    /// Queues a SUBSCRIBE to `filter` with the configured QoS.
    ///
    /// # Errors
    /// When the client's queue is full (the request is dropped).
    pub(crate) fn subscribe(&self, filter: String) -> Result<(), NotQueued> {
        match &self.client {
            Client::V311(c) => c.try_subscribe(filter, self.qos)?,
            Client::V5(c, qos) => c.try_subscribe(filter, *qos)?,
        }
        Ok(())
    }

    /// Queues an UNSUBSCRIBE from `filter`.
    ///
    /// # Errors
    /// When the client's queue is full (the request is dropped).
    pub(crate) fn unsubscribe(&self, filter: String) -> Result<(), NotQueued> {
        match &self.client {
            Client::V311(c) => c.try_unsubscribe(filter)?,
            Client::V5(c, _) => c.try_unsubscribe(filter)?,
        }
        Ok(())
    }

    /// Asks the event loop to send DISCONNECT after the queued requests and
    /// end. The broker then drops the will.
    pub(crate) fn disconnect(&self) {
        let queued: Result<(), NotQueued> = match &self.client {
            Client::V311(c) => c.try_disconnect().map_err(NotQueued::from),
            Client::V5(c, _) => c.try_disconnect().map_err(NotQueued::from),
        };
        if let Err(e) = queued {
            warn!(error = %e, "cannot queue MQTT disconnect");
        }
    }
}

fn client_v311(s: Settings) -> (Client, EventLoop) {
    let mut options = v311::MqttOptions::new(s.client_id, s.server.host, s.server.port);
    options
        .set_transport(s.transport)
        .set_keep_alive(s.keep_alive.max(MIN_KEEP_ALIVE_V311))
        .set_clean_session(s.clean_session)
        .set_request_channel_capacity(REQUEST_QUEUE)
        .set_max_packet_size(MAX_PACKET_SIZE as usize, MAX_PACKET_SIZE as usize);
    if let Some((username, password)) = s.credentials {
        options.set_credentials(username, password);
    }
    if let Some(will) = s.last_will {
        let will = v311::LastWill::new(will.topic, will.payload, s.qos, will.retain);
        options.set_last_will(will);
    }
    let (client, eventloop) = v311::AsyncClient::new(options, REQUEST_QUEUE);
    (Client::V311(client), EventLoop::V311(Box::new(eventloop)))
}

/// MQTT 5 has no clean-session flag: a 3.1.1 persistent session
/// (`clean_session = false`) is a session that is not cleaned at connect
/// and never expires.
fn client_v5(s: Settings) -> (Client, EventLoop) {
    let qos = match s.qos {
        QoS::AtMostOnce => v5::mqttbytes::QoS::AtMostOnce,
        QoS::AtLeastOnce => v5::mqttbytes::QoS::AtLeastOnce,
        QoS::ExactlyOnce => v5::mqttbytes::QoS::ExactlyOnce,
    };
    let mut options = v5::MqttOptions::new(s.client_id, s.server.host, s.server.port);
    options
        .set_transport(s.transport)
        .set_keep_alive(s.keep_alive.max(MIN_KEEP_ALIVE_V5))
        .set_clean_start(s.clean_session)
        .set_request_channel_capacity(REQUEST_QUEUE)
        .set_max_packet_size(Some(MAX_PACKET_SIZE));
    if !s.clean_session {
        options.set_session_expiry_interval(Some(u32::MAX));
    }
    if let Some((username, password)) = s.credentials {
        options.set_credentials(username, password);
    }
    if let Some(will) = s.last_will {
        let will =
            v5::mqttbytes::v5::LastWill::new(will.topic, will.payload, qos, will.retain, None);
        options.set_last_will(will);
    }
    let (client, eventloop) = v5::AsyncClient::new(options, REQUEST_QUEUE);
    (Client::V5(client, qos), EventLoop::V5(Box::new(eventloop)))
}

/// A request the client could not queue: its queue is full (the broker
/// has been unreachable for long) or its event loop has ended. The request
/// is dropped; the caller counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the MQTT client's request queue is full or closed")]
pub(crate) struct NotQueued;

impl From<v311::ClientError> for NotQueued {
    fn from(_: v311::ClientError) -> Self {
        Self
    }
}

impl From<v5::ClientError> for NotQueued {
    fn from(_: v5::ClientError) -> Self {
        Self
    }
}

/// One poll of a rumqttc event loop, `$v` being the module of its version
/// (`v311` or `v5`): the same shapes, other types.
macro_rules! poll {
    ($v:ident, $eventloop:expr) => {
        match $eventloop.poll().await {
            Ok($v::Event::Incoming($v::Incoming::ConnAck(_))) => Polled::ConnAck,
            Ok($v::Event::Incoming($v::Incoming::Publish(p))) => Polled::Publish {
                topic: String::from_utf8_lossy(p.topic.as_ref()).into_owned(),
                payload: p.payload.to_vec(),
            },
            Ok($v::Event::Outgoing(Outgoing::Disconnect)) => Polled::DisconnectSent,
            Ok($v::Event::Outgoing(Outgoing::Publish(_))) => Polled::PublishSent,
            Ok(_) => Polled::Other,
            Err($v::ConnectionError::RequestsDone) => Polled::RequestsDone,
            Err(e) => Polled::Failed(e.to_string()),
        }
    };
}

impl EventLoop {
    /// Polls the connection once, (re)connecting first when it is down.
    async fn poll(&mut self) -> Polled {
        match self {
            Self::V311(eventloop) => poll!(v311, eventloop),
            Self::V5(eventloop) => poll!(v5, eventloop),
        }
    }
}

/// `tcp://host:port`, `mqtt://host:port` or `host:port` in clear (port 1883
/// when absent); `ssl://host:port`, `tls://host:port` or `mqtts://host:port`
/// over TLS (port 8883 when absent).
fn parse_server(url: &str) -> anyhow::Result<Server> {
    let (tls, rest) = match url.split_once("://") {
        Some(("tcp" | "mqtt", rest)) => (false, rest),
        Some(("ssl" | "tls" | "mqtts", rest)) => (true, rest),
        Some((scheme @ ("ws" | "wss"), _)) => bail!(
            "MQTT server {url:?}: MQTT over websockets ({scheme}://) is not supported; use tcp:// or ssl://"
        ),
        Some((scheme, _)) => bail!("MQTT server {url:?}: unknown scheme {scheme}://"),
        None => (false, url),
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => (
            host,
            port.parse()
                .with_context(|| format!("MQTT server {url:?}: bad port {port:?}"))?,
        ),
        _ => (rest, if tls { 8883 } else { 1883 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        bail!("MQTT server {url:?} has no host");
    }
    Ok(Server {
        host: host.to_owned(),
        port,
        tls,
    })
}

/// The publish latency bookkeeping of the event loop.
struct Latency {
    queued: Arc<Mutex<VecDeque<Instant>>>,
    histogram: Histogram,
}

impl Latency {
    fn sent(&self) {
        let queued = self
            .queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        // None: a republished message after a reconnect.
        if let Some(t) = queued {
            self.histogram.observe(t.elapsed().as_secs_f64());
        }
    }
}

async fn event_loop(
    mut eventloop: EventLoop,
    tx: mpsc::Sender<MqttInput>,
    max_backoff: Duration,
    url: String,
    latency: Latency,
) {
    let mut backoff = MIN_BACKOFF;
    let mut connected = false;
    loop {
        match eventloop.poll().await {
            Polled::ConnAck => {
                info!(server = url, "MQTT connected");
                backoff = MIN_BACKOFF;
                connected = true;
                if tx.send(MqttInput::Connected).await.is_err() {
                    return;
                }
            }
            Polled::Publish { topic, payload } => {
                if tx
                    .send(MqttInput::Publish { topic, payload })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Polled::DisconnectSent => {
                info!("MQTT disconnected");
                return;
            }
            Polled::PublishSent => latency.sent(),
            Polled::Other => {}
            Polled::RequestsDone => return,
            Polled::Failed(error) => {
                if std::mem::take(&mut connected) && tx.send(MqttInput::Disconnected).await.is_err()
                {
                    return;
                }
                warn!(server = url, error, retry_in = ?backoff, "MQTT connection error");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(max_backoff);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn server_urls_parse() {
        for (url, host, port, tls) in [
            ("tcp://127.0.0.1:1883", "127.0.0.1", 1883, false),
            ("mqtt://broker:1884/", "broker", 1884, false),
            ("broker", "broker", 1883, false),
            ("tcp://[::1]:1885", "::1", 1885, false),
            ("ssl://broker:8884", "broker", 8884, true),
            ("tls://broker", "broker", 8883, true),
            ("mqtts://[::1]", "::1", 8883, true),
        ] {
            let server = Server {
                host: host.to_owned(),
                port,
                tls,
            };
            assert_eq!(parse_server(url).unwrap(), server, "{url}");
        }
        for (bad, needle) in [
            ("ws://b", "websockets"),
            ("wss://b:443", "websockets"),
            ("foo://b", "unknown scheme"),
            ("tcp://:1883", "no host"),
            ("ssl://b:x", "bad port"),
        ] {
            let e = parse_server(bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn tls_files_are_not_read_for_a_clear_server() {
        let config = Config::from_toml_strs(&[
            "[integration.mqtt.auth.generic]\nservers = [\"tcp://127.0.0.1:1883\"]\n\
             ca_cert = \"/absent/ca.pem\"\ntls_cert = \"/absent/c.pem\"\ntls_key = \"/absent/k.pem\"",
        ])
        .unwrap();
        let (_mqtt, _inputs, task) =
            Mqtt::start(&config.integration.mqtt, None, publish_latency_histogram()).unwrap();
        task.abort();
    }

    async fn next_event(watch_loop: &mut v311::EventLoop, wait: Duration) -> v311::Event {
        tokio::time::timeout(wait, watch_loop.poll())
            .await
            .expect("no MQTT event in time: is Mosquitto running on 127.0.0.1:1883?")
            .expect("watcher connection")
    }

    /// The will reaches a subscriber when the bridge's connection drops
    /// without DISCONNECT, on the Mosquitto at 127.0.0.1:1883 (started by
    /// `scripts/ensure-services`).
    async fn last_will_is_published_on_connection_loss(version: &str) {
        let topic = format!("gwb-will-{:016x}/state", rand::random::<u64>());
        let mut options = v311::MqttOptions::new(
            format!("gwb-will-watch-{:016x}", rand::random::<u64>()),
            "127.0.0.1",
            1883,
        );
        options.set_keep_alive(Duration::from_secs(10));
        let (watcher, mut watch_loop) = v311::AsyncClient::new(options, 10);
        watcher.subscribe(&topic, QoS::AtLeastOnce).await.unwrap();
        let wait = Duration::from_secs(10);
        while !matches!(
            next_event(&mut watch_loop, wait).await,
            v311::Event::Incoming(v311::Packet::SubAck(_))
        ) {}

        let config = Config::from_toml_strs(&[&format!(
            "[integration.mqtt]\nprotocol_version = \"{version}\"\n\
             [integration.mqtt.auth.generic]\nservers = [\"tcp://127.0.0.1:1883\"]\nqos = 1"
        )])
        .unwrap();
        let will = LastWill {
            topic: topic.clone(),
            payload: b"gone".to_vec(),
            retain: false,
        };
        let (mqtt, mut inputs, task) = Mqtt::start(
            &config.integration.mqtt,
            Some(will),
            publish_latency_histogram(),
        )
        .unwrap();
        let connected = tokio::time::timeout(wait, inputs.recv()).await.unwrap();
        assert!(
            matches!(connected, Some(MqttInput::Connected)),
            "{connected:?}"
        );
        // Ending the task drops the socket: a loss, not a DISCONNECT.
        task.abort();
        let _ = task.await;
        drop(mqtt);
        loop {
            if let v311::Event::Incoming(v311::Packet::Publish(p)) =
                next_event(&mut watch_loop, wait).await
            {
                assert_eq!(
                    (p.topic.as_str(), &p.payload[..]),
                    (topic.as_str(), &b"gone"[..])
                );
                assert_eq!(p.qos, QoS::AtLeastOnce);
                break;
            }
        }
    }

    #[tokio::test]
    async fn last_will_is_published_on_connection_loss_v311() {
        last_will_is_published_on_connection_loss("3.1.1").await;
    }

    #[tokio::test]
    async fn last_will_is_published_on_connection_loss_v5() {
        last_will_is_published_on_connection_loss("5").await;
    }
}
