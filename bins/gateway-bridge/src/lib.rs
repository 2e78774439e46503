//! `gateway-bridge`: Semtech UDP packet forwarders to MQTT, a drop-in
//! replacement for ChirpStack Gateway Bridge.
//!
//! The protocol logic is [`packet_forwarder::semtech_udp::server::Server`]
//! (sans-IO); this crate is the thin tokio driver around it: one UDP socket,
//! one MQTT connection (rumqttc), the [`config`] and the topic templates.
//!
//! For every gateway the bridge publishes, with the configured marshaler
//! (protobuf or ChirpStack's JSON):
//! - `event/up` (`gw.UplinkFrame`, one per frame), `event/stats`
//!   (`gw.GatewayStats`), `event/ack` (`gw.DownlinkTxAck`);
//! - `state/conn` (`gw.ConnState`, retained): ONLINE on its first datagram,
//!   OFFLINE when it stops sending PULL_DATA or the bridge shuts down;
//!
//! and, while the gateway is connected, subscribes to its `command/#` topic
//! (again after every MQTT reconnect) and sends each `command/down`
//! (`gw.DownlinkFrame`) as PULL_RESP, trying the items in order.
//!
//! With `[metrics.prometheus] endpoint_enabled = true` it also serves
//! `GET /metrics` (Prometheus text, see [`metrics`]) and `GET /health` on
//! `bind`.
//!
//! Embedding it:
//!
//! ```no_run
//! use gateway_bridge::{Bridge, config::Config};
//!
//! # async fn example() -> anyhow::Result<()> {
//! let config = Config::from_toml_strs(&[r#"
//!     [backend.semtech_udp]
//!     udp_bind = "127.0.0.1:0"
//!     [integration.mqtt.auth.generic]
//!     servers = ["tcp://127.0.0.1:1883"]
//! "#])?;
//! let bridge = Bridge::bind(config).await?;
//! println!("packet forwarders can send to {}", bridge.local_addr());
//! bridge.run(async { tokio::signal::ctrl_c().await.unwrap() }).await
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod config;
pub mod metrics;
mod mqtt;
mod topics;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use lorawan::Eui64;
use packet_forwarder::gw::{self, Encoding};
use packet_forwarder::semtech_udp::mapping::{self, UplinkContext};
use packet_forwarder::semtech_udp::server::{self, Event, Server};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::config::{Config, Marshaler};
use crate::metrics::{ScrapeRequest, Snapshot};
use crate::mqtt::{Mqtt, MqttInput};
use crate::topics::Topics;

/// The UDP receive buffer asked for: bursts from many gateways must not be
/// dropped by the kernel while the loop is busy. The kernel may cap it
/// (`net.core.rmem_max`); the size obtained is logged.
const UDP_RECV_BUFFER: usize = 8 * 1024 * 1024;

/// At most this many datagrams are read per wake-up before timers and MQTT
/// get their turn.
const DRAIN_BATCH: usize = 1024;

/// How long shutdown waits for the last MQTT messages (OFFLINE states) to
/// leave.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the driver counts beside the server's own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BridgeCounters {
    /// Frames published on `event/up`.
    pub uplinks_published: u64,
    /// Frames not published because their CRC is bad or missing.
    pub uplinks_crc_filtered: u64,
    /// `rxpk`s or `stat`s that could not be mapped to `gw` messages.
    pub mapping_errors: u64,
    /// `command/down` payloads that could not be decoded or used.
    pub downlink_errors: u64,
    /// Commands other than `down` (not supported by the UDP backend).
    pub commands_ignored: u64,
    /// MQTT requests dropped because the client's queue was full
    /// (broker unreachable for long).
    pub mqtt_dropped: u64,
}

/// A bridge with its UDP socket bound, ready to [`run`](Bridge::run).
#[derive(Debug)]
pub struct Bridge {
    config: Config,
    socket: UdpSocket,
    local_addr: SocketAddr,
    metrics: Option<(TcpListener, SocketAddr)>,
}

impl Bridge {
    /// Binds the UDP socket of `[backend.semtech_udp] udp_bind` and, when
    /// `[metrics.prometheus] endpoint_enabled`, the TCP listener of its
    /// `bind`.
    ///
    /// # Errors
    /// When an address cannot be bound.
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        let bind = &config.backend.semtech_udp.udp_bind;
        let socket = UdpSocket::bind(bind.as_str())
            .await
            .with_context(|| format!("cannot bind UDP socket to {bind}"))?;
        let sock = socket2::SockRef::from(&socket);
        match sock
            .set_recv_buffer_size(UDP_RECV_BUFFER)
            .and_then(|()| sock.recv_buffer_size())
        {
            Ok(size) => debug!(size, "UDP receive buffer"),
            Err(e) => warn!(error = %e, "cannot set the UDP receive buffer size"),
        }
        let local_addr = socket.local_addr()?;
        let prometheus = &config.metrics.prometheus;
        let metrics = if prometheus.endpoint_enabled {
            let listener = TcpListener::bind(prometheus.bind.as_str())
                .await
                .with_context(|| {
                    format!("cannot bind the metrics endpoint to {}", prometheus.bind)
                })?;
            let addr = listener.local_addr()?;
            Some((listener, addr))
        } else {
            None
        };
        Ok(Self {
            config,
            socket,
            local_addr,
            metrics,
        })
    }

    /// The bound UDP address (useful with port 0).
    pub const fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound address of the metrics endpoint, when enabled (useful with
    /// port 0).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|&(_, addr)| addr)
    }

    /// Runs until `shutdown` completes, then marks the connected gateways
    /// OFFLINE and disconnects from MQTT.
    ///
    /// # Errors
    /// When the configuration cannot be used (bad broker URL or topic
    /// template) or the UDP socket fails. Bad input from gateways or from
    /// MQTT is logged and counted, never an error.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let topics = Topics::new(&self.config.integration.mqtt).map_err(anyhow::Error::msg)?;
        let (mqtt, mut mqtt_rx, mqtt_task) = Mqtt::start(&self.config.integration.mqtt)?;
        let udp = &self.config.backend.semtech_udp;
        let mut server_config = server::Config::default();
        server_config.connection_timeout = udp.connection_timeout_duration;
        // Scrapes ask the loop for a snapshot; without the endpoint the
        // sender is dropped and the branch below is disabled at once.
        let (scrape_tx, mut scrape_rx) = mpsc::channel::<ScrapeRequest>(16);
        let metrics_task = self.metrics.map(|(listener, addr)| {
            info!(metrics = %addr, "metrics endpoint started");
            tokio::spawn(metrics::serve(listener, scrape_tx.clone()))
        });
        drop(scrape_tx);
        let mut scrapes_open = true;
        info!(udp = %self.local_addr, "gateway bridge started");
        let mut driver = Driver {
            server: Server::new(server_config),
            socket: self.socket,
            topics,
            mqtt,
            encoding: match self.config.integration.marshaler {
                Marshaler::Protobuf => Encoding::Protobuf,
                Marshaler::Json => Encoding::Json,
            },
            state_retained: self.config.integration.mqtt.state_retained,
            skip_crc_check: udp.skip_crc_check,
            fake_rx_time: udp.fake_rx_time,
            connected: HashSet::new(),
            downlinks: HashMap::new(),
            counters: BridgeCounters::default(),
            mqtt_connected_before: false,
            mqtt_connected: false,
        };
        let mut buf = vec![0u8; 65_536];
        tokio::pin!(shutdown);
        let result = loop {
            let deadline = driver.server.poll_timeout();
            tokio::select! {
                biased;
                () = &mut shutdown => break Ok(()),
                ready = driver.socket.readable() => {
                    if let Err(e) = ready {
                        break Err(e).context("UDP socket failed");
                    }
                    if let Err(e) = driver.drain_udp(&mut buf).await {
                        break Err(e).context("UDP socket failed");
                    }
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    driver.server.handle_timeout(Instant::now());
                }
                input = mqtt_rx.recv() => match input {
                    Some(input) => driver.handle_mqtt(input),
                    None => break Err(anyhow::anyhow!("MQTT task ended")),
                },
                request = scrape_rx.recv(), if scrapes_open => match request {
                    // The scrape may have timed out meanwhile.
                    Some(reply) => drop(reply.send(driver.snapshot())),
                    None => scrapes_open = false,
                },
            }
            if let Err(e) = driver.flush().await {
                break Err(e).context("UDP socket failed");
            }
        };
        if let Some(task) = metrics_task {
            // Closes the listener: the endpoint goes away with the bridge.
            task.abort();
            let _ = task.await;
        }
        driver.shutdown();
        drop(mqtt_rx);
        let mut mqtt_task = mqtt_task;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut mqtt_task)
            .await
            .is_err()
        {
            warn!("MQTT did not disconnect within {SHUTDOWN_GRACE:?}: OFFLINE states may be lost");
            mqtt_task.abort();
        }
        info!(counters = ?driver.counters, server = ?driver.server.counters(), "gateway bridge stopped");
        result
    }
}

/// Binds and runs a bridge until `shutdown` completes: [`Bridge::bind`] then
/// [`Bridge::run`].
///
/// # Errors
/// As those two.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    Bridge::bind(config).await?.run(shutdown).await
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await;
    }
}

struct Driver {
    server: Server<SocketAddr>,
    socket: UdpSocket,
    topics: Topics,
    mqtt: Mqtt,
    encoding: Encoding,
    state_retained: bool,
    skip_crc_check: bool,
    fake_rx_time: bool,
    /// Gateways announced ONLINE and subscribed to.
    connected: HashSet<Eui64>,
    /// Downlinks handed to the server, for their `DownlinkTxAck`.
    downlinks: HashMap<(Eui64, u32), gw::DownlinkFrame>,
    counters: BridgeCounters,
    mqtt_connected_before: bool,
    /// Whether the MQTT connection is up now.
    mqtt_connected: bool,
}

impl Driver {
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            server: *self.server.counters(),
            bridge: self.counters,
            gateways_connected: u64::try_from(self.server.gateway_count()).unwrap_or(u64::MAX),
            mqtt_connected: self.mqtt_connected,
        }
    }

    /// Reads every datagram ready (up to [`DRAIN_BATCH`]), answering each
    /// before reading the next so PUSH_ACKs are not delayed by a burst.
    async fn drain_udp(&mut self, buf: &mut [u8]) -> io::Result<()> {
        for _ in 0..DRAIN_BATCH {
            match self.socket.try_recv_from(buf) {
                Ok((len, from)) => {
                    self.server
                        .handle_datagram(Instant::now(), from, &buf[..len]);
                    self.flush().await?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // ICMP port unreachable from an earlier send shows up here on
                // some systems; it concerns one peer, not the socket.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    debug!(error = %e, "UDP receive");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sends the server's datagrams, then handles its events.
    async fn flush(&mut self) -> io::Result<()> {
        while let Some(t) = self.server.poll_transmit() {
            if let Err(e) = self.socket.send_to(&t.bytes, t.destination).await {
                // One unreachable gateway must not stop the bridge.
                warn!(error = %e, destination = %t.destination, "UDP send failed");
            }
        }
        while let Some(event) = self.server.poll_event() {
            self.handle_event(event);
        }
        Ok(())
    }

    fn handle_event(&mut self, event: Event<SocketAddr>) {
        match event {
            Event::GatewayConnected {
                gateway_eui,
                address,
                version,
            } => {
                info!(gateway_id = %gateway_eui, %address, ?version, "gateway connected");
                self.connected.insert(gateway_eui);
                self.subscribe(gateway_eui);
                self.publish_state(gateway_eui, gw::conn_state::State::Online);
            }
            Event::GatewayDisconnected { gateway_eui } => {
                info!(gateway_id = %gateway_eui, "gateway disconnected");
                self.connected.remove(&gateway_eui);
                if let Err(e) = self
                    .mqtt
                    .unsubscribe(self.topics.command_filter(gateway_eui))
                {
                    self.mqtt_error(e);
                }
                self.publish_state(gateway_eui, gw::conn_state::State::Offline);
            }
            Event::Uplink {
                gateway_eui, rxpk, ..
            } => {
                let mut ctx = UplinkContext::new(gateway_eui);
                if self.fake_rx_time {
                    ctx.fallback_time = Some(timestamp(SystemTime::now()));
                }
                for rxpk in &rxpk {
                    match mapping::uplink_frames(&ctx, rxpk, rand::random::<u32>) {
                        Ok(frames) => {
                            for frame in frames {
                                self.publish_uplink(gateway_eui, &frame);
                            }
                        }
                        Err(e) => {
                            self.counters.mapping_errors += 1;
                            warn!(gateway_id = %gateway_eui, error = %e, "rxpk dropped");
                        }
                    }
                }
            }
            Event::Stats {
                gateway_eui, stat, ..
            } => match mapping::gateway_stats(gateway_eui, &stat, None) {
                Ok(stats) => {
                    let topic = self.topics.event(gateway_eui, "stats");
                    self.publish(topic, gw::encode(&stats, self.encoding), false);
                }
                Err(e) => {
                    self.counters.mapping_errors += 1;
                    warn!(gateway_id = %gateway_eui, error = %e, "stat dropped");
                }
            },
            Event::DownlinkAck {
                gateway_eui,
                downlink_id,
                statuses,
            } => {
                let frame = self
                    .downlinks
                    .remove(&(gateway_eui, downlink_id))
                    .unwrap_or_else(|| gw::DownlinkFrame {
                        gateway_id: gateway_eui.to_string(),
                        downlink_id,
                        items: vec![gw::DownlinkFrameItem::default(); statuses.len()],
                        ..Default::default()
                    });
                let statuses: Vec<_> = statuses.iter().map(mapping::tx_status).collect();
                let ack = mapping::downlink_tx_ack(&frame, &statuses);
                debug!(gateway_id = %gateway_eui, downlink_id, ?statuses, "downlink ack");
                let topic = self.topics.event(gateway_eui, "ack");
                self.publish(topic, gw::encode(&ack, self.encoding), false);
            }
            Event::DatagramError { from, error } => {
                warn!(%from, kind = error.kind(), error = %error, "datagram rejected");
            }
            other => debug!(event = ?other, "unhandled server event"),
        }
    }

    fn publish_uplink(&mut self, gateway_eui: Eui64, frame: &gw::UplinkFrame) {
        let crc_ok = frame
            .rx_info
            .as_ref()
            .is_some_and(|rx| rx.crc_status() == gw::CrcStatus::CrcOk);
        if !crc_ok && !self.skip_crc_check {
            self.counters.uplinks_crc_filtered += 1;
            debug!(gateway_id = %gateway_eui, "frame without a good CRC not forwarded");
            return;
        }
        self.counters.uplinks_published += 1;
        let topic = self.topics.event(gateway_eui, "up");
        self.publish(topic, gw::encode(frame, self.encoding), false);
    }

    fn handle_mqtt(&mut self, input: MqttInput) {
        match input {
            MqttInput::Disconnected => self.mqtt_connected = false,
            MqttInput::Connected => {
                self.mqtt_connected = true;
                // What was queued before the first ConnAck is sent after it.
                if !self.mqtt_connected_before {
                    self.mqtt_connected_before = true;
                    return;
                }
                // Sessions (and a broker's retained messages) are not trusted
                // to survive a reconnect: subscribe again and restate every
                // gateway.
                let gateways: Vec<Eui64> = self.connected.iter().copied().collect();
                for gateway_eui in gateways {
                    self.subscribe(gateway_eui);
                    self.publish_state(gateway_eui, gw::conn_state::State::Online);
                }
            }
            MqttInput::Publish { topic, payload } => self.handle_command(&topic, &payload),
        }
    }

    fn handle_command(&mut self, topic: &str, payload: &[u8]) {
        let Some((gateway_eui, kind)) = self.topics.parse_command(topic) else {
            self.counters.commands_ignored += 1;
            debug!(topic, "message on a topic that is not a command");
            return;
        };
        if kind != "down" {
            self.counters.commands_ignored += 1;
            debug!(topic, "command not supported by the Semtech UDP backend");
            return;
        }
        let frame: gw::DownlinkFrame = match gw::decode(payload, self.encoding) {
            Ok(frame) => frame,
            Err(e) => {
                self.counters.downlink_errors += 1;
                warn!(topic, error = %e, "downlink dropped");
                return;
            }
        };
        if !frame.gateway_id.is_empty()
            && frame.gateway_id.parse::<Eui64>().ok() != Some(gateway_eui)
        {
            self.counters.downlink_errors += 1;
            warn!(
                topic,
                payload_gateway_id = frame.gateway_id,
                "downlink dropped: gateway_id differs from the topic's"
            );
            return;
        }
        // Items are tried in order, so only the leading mappable ones can be
        // sent; an unmappable item ends the list.
        let mut items = Vec::with_capacity(frame.items.len());
        let mut failure = None;
        for (i, item) in frame.items.iter().enumerate() {
            match mapping::txpk(item) {
                Ok(txpk) => items.push(txpk),
                Err(e) => {
                    failure = Some((i, e));
                    break;
                }
            }
        }
        if let Some((index, e)) = &failure {
            self.counters.downlink_errors += 1;
            warn!(gateway_id = %gateway_eui, downlink_id = frame.downlink_id, index, error = %e, "downlink item cannot be sent");
        }
        if items.is_empty() {
            // Nothing to try: report it at once rather than stay silent.
            let ack = mapping::downlink_tx_ack(&frame, &[gw::TxAckStatus::InternalError]);
            let topic = self.topics.event(gateway_eui, "ack");
            self.publish(topic, gw::encode(&ack, self.encoding), false);
            return;
        }
        let downlink_id = frame.downlink_id;
        self.downlinks
            .entry((gateway_eui, downlink_id))
            .or_insert(frame);
        if let Err(e) = self
            .server
            .send_downlink(Instant::now(), gateway_eui, downlink_id, items)
        {
            // The server queued a DownlinkAck saying the same.
            warn!(gateway_id = %gateway_eui, downlink_id, error = %e, "downlink not sent");
        }
    }

    fn subscribe(&mut self, gateway_eui: Eui64) {
        if let Err(e) = self.mqtt.subscribe(self.topics.command_filter(gateway_eui)) {
            self.mqtt_error(e);
        }
    }

    fn publish_state(&mut self, gateway_eui: Eui64, state: gw::conn_state::State) {
        let message = gw::ConnState {
            gateway_id: gateway_eui.to_string(),
            state: state.into(),
            ..Default::default()
        };
        let topic = self.topics.state(gateway_eui, "conn");
        let retain = self.state_retained;
        self.publish(topic, gw::encode(&message, self.encoding), retain);
    }

    fn publish(&mut self, topic: String, payload: Vec<u8>, retain: bool) {
        if let Err(e) = self.mqtt.publish(topic, payload, retain) {
            self.mqtt_error(e);
        }
    }

    fn mqtt_error(&mut self, e: rumqttc::ClientError) {
        self.counters.mqtt_dropped += 1;
        // Logged every 1000th time: a broker outage would otherwise flood.
        if self.counters.mqtt_dropped % 1000 == 1 {
            error!(error = %e, dropped = self.counters.mqtt_dropped, "MQTT queue full, messages dropped");
        }
    }

    fn shutdown(&mut self) {
        let gateways: Vec<Eui64> = self.connected.drain().collect();
        for gateway_eui in gateways {
            self.publish_state(gateway_eui, gw::conn_state::State::Offline);
        }
        self.mqtt.disconnect();
    }
}

fn timestamp(t: SystemTime) -> gw::Timestamp {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    gw::Timestamp {
        seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(since.subsec_nanos()).unwrap_or(0),
    }
}
