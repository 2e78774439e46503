//! The integrations' publishers: tokio drivers that take [`Event`]s from the
//! radio path without ever making it wait.
//!
//! - [`MqttPublisher`] owns an MQTT 5 client (rumqttc) whose event loop runs
//!   in its own task and reconnects with exponential backoff; an `ssl://`,
//!   `tls://` or `mqtts://` server is reached over TLS with `ca_cert` and,
//!   when set, the client certificate `tls_cert` / `tls_key`. `publish`
//!   encodes the event, renders its topic from `[integration.mqtt]`
//!   `event_topic`, and queues it with the client's non-blocking
//!   `try_publish`; a full queue drops the event and counts it. With
//!   `tcp_nodelay` its socket has `TCP_NODELAY`: each event goes out at
//!   once rather than coalesced by Nagle's algorithm.
//! - [`HttpPublisher`] queues each encoded event in a bounded channel; one
//!   worker task POSTs it to every endpoint of `[integration.http]` with
//!   `?event={kind}`, retrying 5xx answers and connection errors with
//!   exponential backoff up to [`HttpLimits::max_retries`]. Plain `http://`
//!   endpoints only, for now.
//!
//! Both count what they did in [`PublisherCounters`]; a slow or dead
//! integration only ever costs dropped (counted) events.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use ns_core::config::MqttIntegration;
//! use ns_core::integration::publish::MqttPublisher;
//! use ns_core::integration::{DeviceInfo, Event, LogEvent};
//!
//! let event = Event::from(LogEvent {
//!     device_info: Some(DeviceInfo::default()),
//!     description: "hello".into(),
//!     ..Default::default()
//! });
//! let mqtt = MqttPublisher::start(&MqttIntegration::default())?;
//! mqtt.publish(&event)?; // never waits
//! println!("{:?}", mqtt.counters());
//! # Ok(()) }
//! ```

mod app_http;
mod http;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{self, AsyncClient, ConnectionError, EventLoop, MqttOptions};
use rumqttc::{Outgoing, Transport};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::{Encoding, Event};
use crate::config::MqttIntegration;

pub use app_http::{ApplicationHttpCounters, ApplicationHttpSettings, ApplicationHttpSink};
pub use http::{HttpLimits, HttpPublisher};

/// Publishes queued in the MQTT client while the broker is slow or
/// unreachable; beyond that, events are dropped and counted.
const MQTT_QUEUE: usize = 10_000;
/// The first reconnect delay; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The shortest keep-alive rumqttc accepts for MQTT 5.
const MIN_KEEP_ALIVE: Duration = Duration::from_secs(5);

/// What a publisher has done since it started; all counts only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublisherCounters {
    /// MQTT: events queued in the client. HTTP: deliveries (one per event
    /// and endpoint) answered with a 2xx.
    pub published: u64,
    /// Events refused because the queue was full (or the driver ended).
    pub dropped_queue_full: u64,
    /// MQTT: events that have no device to name in the topic. HTTP:
    /// deliveries given up (a 4xx or 3xx answer, or retries exhausted).
    pub failed: u64,
    /// HTTP: requests repeated after a 5xx answer or a connection error.
    pub retried: u64,
    /// MQTT: connections made (CONNACKs).
    pub connections: u64,
    /// MQTT: connection attempts failed and connections lost.
    pub connection_errors: u64,
    /// MQTT: command messages received (before they are checked).
    pub commands_received: u64,
    /// MQTT: command messages dropped because the consumer was behind.
    pub commands_dropped: u64,
}

/// The counters as the handle and the driver task update them.
#[derive(Debug, Default)]
struct Counters {
    published: AtomicU64,
    dropped_queue_full: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    connections: AtomicU64,
    connection_errors: AtomicU64,
    commands_received: AtomicU64,
    commands_dropped: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> PublisherCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PublisherCounters {
            published: get(&self.published),
            dropped_queue_full: get(&self.dropped_queue_full),
            failed: get(&self.failed),
            retried: get(&self.retried),
            connections: get(&self.connections),
            connection_errors: get(&self.connection_errors),
            commands_received: get(&self.commands_received),
            commands_dropped: get(&self.commands_dropped),
        }
    }
}

/// Adds one; true when the new count is a power of two, the occurrences
/// worth a `warn` (so a dead integration cannot flood the log).
fn bump(counter: &AtomicU64) -> bool {
    (counter.fetch_add(1, Ordering::Relaxed) + 1).is_power_of_two()
}

/// Why a publisher cannot start (the operator's configuration).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishConfigError {
    /// The MQTT server URL cannot be used.
    #[error("integration.mqtt.server {url:?}: {reason}")]
    Server {
        /// The configured URL.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A QoS other than 0, 1 or 2.
    #[error("integration.mqtt.qos {0} is not 0, 1 or 2")]
    Qos(u8),
    /// A TLS file (`integration.mqtt.ca_cert`, `tls_cert`, `tls_key`)
    /// cannot be used; the error names the key and the file.
    #[error(transparent)]
    Tls(#[from] tls_files::Error),
    /// An HTTP endpoint that is not a plain `http://` URL.
    #[error("integration.http.event_endpoint_url {url:?}: {reason}")]
    Endpoint {
        /// The endpoint.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No HTTP endpoint configured.
    #[error("integration.http.event_endpoint_url is empty")]
    NoEndpoint,
    /// A header name or value HTTP does not allow.
    #[error("integration.http.headers {name:?}: not a valid header")]
    Header {
        /// The header's name.
        name: String,
    },
}

/// Why an event was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The queue is full or the driver has ended: the event is dropped
    /// (and counted).
    #[error("the integration's queue is full or closed: event dropped")]
    QueueFull,
    /// The event has no `deviceInfo`, so its topic names no device (the
    /// caller's fault).
    #[error("{0} event without deviceInfo: no topic to publish it on")]
    NoDevice(super::EventKind),
}

/// The broker address and transport of `[integration.mqtt]`: `tcp://`,
/// `mqtt://` or bare `host[:port]` in clear; `ssl://`, `tls://` or
/// `mqtts://` over TLS with the section's `ca_cert`, `tls_cert` and
/// `tls_key`.
fn server_transport(
    settings: &MqttIntegration,
) -> Result<(String, u16, Transport), PublishConfigError> {
    let url = &settings.server;
    let server = crate::gateway_backend::parse_broker_url(url).map_err(|reason| {
        PublishConfigError::Server {
            url: url.to_owned(),
            reason,
        }
    })?;
    let files = tls_files::ClientFiles {
        section: "integration.mqtt",
        ca_cert: &settings.ca_cert,
        tls_cert: &settings.tls_cert,
        tls_key: &settings.tls_key,
    };
    let transport = match crate::gateway_backend::tls_for_server(url, &files)? {
        Some(tls) => Transport::Tls(tls),
        None => Transport::Tcp,
    };
    Ok((server.host, server.port, transport))
}

/// The MQTT integration's driver; see the [module documentation](self).
/// Dropping it ends the connection.
#[derive(Debug)]
pub struct MqttPublisher {
    client: AsyncClient,
    event_topic: String,
    encoding: Encoding,
    qos: QoS,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl MqttPublisher {
    /// Starts the client task for `[integration.mqtt]` (connecting happens
    /// in the background). The TLS files of an `ssl://` server are read
    /// here, so a bad one stops the start; a broker that refuses the
    /// connection (an unknown CA, a missing client certificate) is retried
    /// and counted in [`PublisherCounters::connection_errors`].
    ///
    /// Must be called within a tokio runtime.
    ///
    /// # Errors
    /// [`PublishConfigError`] when the server URL, the QoS or a TLS file
    /// cannot be used.
    pub fn start(settings: &MqttIntegration) -> Result<Self, PublishConfigError> {
        Self::start_inner(settings, None)
    }

    /// Starts the client as [`start`](Self::start) does, and also
    /// subscribes to the command topics (`command_topic` with `+` for
    /// every placeholder) after every (re)connection. Each command message
    /// received goes to the returned channel as `(topic, payload)`, to be
    /// checked by the consumer ([`CommandTopic::parse`](super::CommandTopic::parse),
    /// [`parse_downlink_command`](super::parse_downlink_command)); when the
    /// consumer is behind by `capacity` messages, new ones are dropped and
    /// counted.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with_commands(
        settings: &MqttIntegration,
        capacity: usize,
    ) -> Result<(Self, mpsc::Receiver<CommandMessage>), PublishConfigError> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let publisher = Self::start_inner(
            settings,
            Some(CommandRoute {
                filter: super::command_subscription(&settings.command_topic),
                tx,
            }),
        )?;
        Ok((publisher, rx))
    }

    fn start_inner(
        settings: &MqttIntegration,
        commands: Option<CommandRoute>,
    ) -> Result<Self, PublishConfigError> {
        let (host, port, transport) = server_transport(settings)?;
        let qos = v5::mqttbytes::qos(settings.qos).ok_or(PublishConfigError::Qos(settings.qos))?;
        let client_id = if settings.client_id.is_empty() {
            format!("ns-integration-{:016x}", rand::random::<u64>())
        } else {
            settings.client_id.clone()
        };
        // A persistent session only makes sense for a client id that comes
        // back: with a random one, each restart would leave behind a
        // session that never expires, its queued commands with it.
        let clean_session = settings.clean_session || settings.client_id.is_empty();
        let mut options = MqttOptions::new(client_id, host, port);
        // Nagle's algorithm stays on unless asked: under load it coalesces
        // the small MQTT writes, which measured ~20 % cheaper per uplink
        // than TCP_NODELAY (docs/benchmarks.md), at the cost of a few ms.
        crate::gateway_backend::set_tcp_nodelay(&mut options, settings.tcp_nodelay);
        options
            .set_transport(transport)
            .set_keep_alive(settings.keep_alive_interval.max(MIN_KEEP_ALIVE))
            .set_clean_start(clean_session)
            .set_request_channel_capacity(MQTT_QUEUE);
        if !clean_session {
            options.set_session_expiry_interval(Some(u32::MAX));
        }
        if !settings.username.is_empty() {
            options.set_credentials(settings.username.clone(), settings.password.clone());
        }
        let (client, eventloop) = AsyncClient::new(options, MQTT_QUEUE);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(drive_mqtt(
            eventloop,
            settings.server.clone(),
            Arc::clone(&counters),
            commands.map(|route| (route, client.clone(), qos)),
        ));
        Ok(Self {
            client,
            event_topic: settings.event_topic.clone(),
            encoding: settings.encoding(),
            qos,
            counters,
            task,
        })
    }

    /// Queues `event` on its topic, in the configured encoding. Never waits.
    ///
    /// # Errors
    /// [`PublishError::QueueFull`] when the client's queue is full (the
    /// event is dropped and counted); [`PublishError::NoDevice`] when the
    /// event names no device.
    pub fn publish(&self, event: &Event) -> Result<(), PublishError> {
        let counters = &self.counters;
        if event.device_info().is_none() {
            bump(&counters.failed);
            return Err(PublishError::NoDevice(event.kind()));
        }
        let topic = event.topic(&self.event_topic);
        let payload = event.encode(self.encoding);
        match self.client.try_publish(topic, self.qos, false, payload) {
            Ok(()) => {
                counters.published.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(_) => {
                if bump(&counters.dropped_queue_full) {
                    warn!(
                        kind = %event.kind(),
                        dropped = counters.dropped_queue_full.load(Ordering::Relaxed),
                        "MQTT integration queue full: events dropped"
                    );
                }
                Err(PublishError::QueueFull)
            }
        }
    }

    /// The counts so far.
    pub fn counters(&self) -> PublisherCounters {
        self.counters.snapshot()
    }

    /// Sends DISCONNECT after the queued events and waits (up to `wait`)
    /// for the client task to end; the task is ended regardless.
    pub async fn shutdown(mut self, wait: Duration) {
        if self.client.try_disconnect().is_ok() {
            let _ = tokio::time::timeout(wait, &mut self.task).await;
        }
        self.task.abort();
    }
}

impl Drop for MqttPublisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A command message as received: its topic and payload.
pub type CommandMessage = (String, Vec<u8>);

/// Where command messages go, and the subscription that brings them.
#[derive(Debug)]
struct CommandRoute {
    filter: String,
    tx: mpsc::Sender<CommandMessage>,
}

/// The MQTT client task: polls the event loop, backing off after errors;
/// with a command route, subscribes after each CONNACK and forwards what
/// arrives.
async fn drive_mqtt(
    mut eventloop: EventLoop,
    server: String,
    counters: Arc<Counters>,
    commands: Option<(CommandRoute, AsyncClient, QoS)>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match eventloop.poll().await {
            Ok(v5::Event::Incoming(Packet::ConnAck(_))) => {
                counters.connections.fetch_add(1, Ordering::Relaxed);
                backoff = MIN_BACKOFF;
                info!(server, "MQTT integration connected");
                if let Some((route, client, qos)) = &commands
                    && let Err(error) = client.try_subscribe(route.filter.clone(), *qos)
                {
                    warn!(server, %error, "MQTT integration: command subscription not sent");
                }
            }
            Ok(v5::Event::Incoming(Packet::Publish(publish))) => {
                let Some((route, ..)) = &commands else {
                    continue;
                };
                counters.commands_received.fetch_add(1, Ordering::Relaxed);
                let topic = String::from_utf8_lossy(&publish.topic).into_owned();
                if route
                    .tx
                    .try_send((topic, publish.payload.to_vec()))
                    .is_err()
                    && bump(&counters.commands_dropped)
                {
                    warn!(
                        server,
                        "MQTT integration: commands dropped, consumer behind"
                    );
                }
            }
            Ok(v5::Event::Outgoing(Outgoing::Disconnect)) => {
                info!(server, "MQTT integration disconnected");
                return;
            }
            Ok(_) => {}
            Err(ConnectionError::RequestsDone) => return,
            Err(error) => {
                if bump(&counters.connection_errors) {
                    warn!(server, %error, retry_in = ?backoff, "MQTT integration connection error");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(url: &str, ca_cert: &str) -> Result<(String, u16, bool), PublishConfigError> {
        let settings = MqttIntegration {
            server: url.into(),
            ca_cert: ca_cert.into(),
            ..Default::default()
        };
        let (host, port, transport) = server_transport(&settings)?;
        Ok((host, port, matches!(transport, Transport::Tls(_))))
    }

    #[test]
    fn servers_parse_with_default_port() {
        let ok = |url, host: &str, port, tls| {
            assert_eq!(server(url, "").unwrap(), (host.into(), port, tls), "{url}");
        };
        ok("tcp://127.0.0.1:1883", "127.0.0.1", 1883, false);
        ok("broker.local", "broker.local", 1883, false);
        ok("mqtt://[::1]:1884", "::1", 1884, false);
        assert!(matches!(
            server("ws://broker", ""),
            Err(PublishConfigError::Server { .. })
        ));
        assert!(matches!(
            server("tcp://:1883", ""),
            Err(PublishConfigError::Server { .. })
        ));
    }

    #[test]
    fn tls_server_reads_its_files_and_a_clear_one_does_not() {
        let e = server("ssl://broker:8883", "/absent/ca.pem").unwrap_err();
        let PublishConfigError::Tls(e) = e else {
            panic!("{e:?}")
        };
        assert!(
            e.to_string()
                .contains("integration.mqtt.ca_cert file \"/absent/ca.pem\""),
            "{e}"
        );
        assert_eq!(
            server("tcp://broker", "/absent/ca.pem").unwrap(),
            ("broker".into(), 1883, false)
        );
    }

    #[test]
    fn warnings_are_rate_limited_to_powers_of_two() {
        let counter = AtomicU64::new(0);
        let warned: Vec<bool> = (0..5).map(|_| bump(&counter)).collect();
        assert_eq!(warned, [true, true, false, true, false]);
    }
}
