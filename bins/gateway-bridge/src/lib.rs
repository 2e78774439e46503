//! `gateway-bridge`: Semtech UDP packet forwarders and LoRa Basics Station
//! gateways to MQTT, a drop-in replacement for ChirpStack Gateway Bridge.
//!
//! The protocol logic is sans-IO in the `packet-forwarder` crate
//! ([`packet_forwarder::semtech_udp::server::Server`] and
//! [`packet_forwarder::basic_station::Session`]); this crate is the thin
//! tokio driver around it: one UDP socket, one websocket listener (a task
//! per station), one MQTT connection (rumqttc), the [`config`] and the
//! topic templates.
//!
//! For every gateway the bridge publishes, with the configured marshaler
//! (protobuf or ChirpStack's JSON):
//! - `event/up` (`gw.UplinkFrame`, one per frame), `event/stats`
//!   (`gw.GatewayStats`), `event/ack` (`gw.DownlinkTxAck`);
//! - `event/raw` (`gw.RawPacketForwarderEvent`): Basics Station messages
//!   this bridge does not interpret;
//! - `state/conn` (`gw.ConnState`, retained): ONLINE on its first datagram
//!   or websocket connection, OFFLINE when it stops sending PULL_DATA,
//!   closes its websocket, or the bridge shuts down;
//!
//! and, while the gateway is connected, subscribes to its `command/#` topic
//! (again after every MQTT reconnect) and sends each `command/down`
//! (`gw.DownlinkFrame`) as PULL_RESP (trying the items in order) or as a
//! Basics Station `dnmsg`; `command/raw` goes to a station as is.
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
pub mod exec;
pub mod filters;
pub mod metadata;
pub mod metrics;
mod mqtt;
mod station;
mod topics;

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use lorawan::Eui64;
use packet_forwarder::basic_station::RouterConfigOptions;
use packet_forwarder::gw::{self, Encoding};
use packet_forwarder::semtech_udp::mapping::{self, UplinkContext};
use packet_forwarder::semtech_udp::server::{self, Event, Server};
use packet_forwarder::stats::StatsCounter;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::config::{BackendKind, Config, Marshaler};
use crate::filters::{Filters, Verdict};
use crate::metadata::MetadataHandle;
use crate::metrics::{ScrapeRequest, Snapshot};
use crate::mqtt::{LastWill, Mqtt, MqttInput};
use crate::station::{Refusal, StationCommand, StationEvent, StationListener};
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

/// Events queued from the station connections to the driver loop.
const STATION_EVENTS: usize = 4096;

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
    /// Commands the gateway's backend does not support (`config`; `raw`
    /// for Semtech UDP), or on topics that are not commands.
    pub commands_ignored: u64,
    /// MQTT requests dropped because the client's queue was full
    /// (broker unreachable for long).
    pub mqtt_dropped: u64,
    /// Basics Station connections opened.
    pub station_connects: u64,
    /// Basics Station connections closed.
    pub station_disconnects: u64,
    /// Basics Station messages that could not be used (bad JSON, unknown
    /// data rate, …).
    pub station_messages_rejected: u64,
    /// Basics Station connections refused: failed TLS handshake (including
    /// missing or untrusted client certificates).
    pub station_refused_tls: u64,
    /// Basics Station connections refused: client certificate of another
    /// EUI.
    pub station_refused_common_name: u64,
    /// Basics Station connections refused: no valid EUI in the request.
    pub station_refused_bad_request: u64,
    /// `event/raw` messages published.
    pub raw_events: u64,
    /// Uplinks not published because of `[filters]`: DevAddr not in
    /// `net_ids` / `dev_addr_prefixes`.
    pub uplinks_filtered_dev_addr: u64,
    /// … JoinEUI not in `join_euis` / `join_eui_prefixes`.
    pub uplinks_filtered_join_eui: u64,
    /// … rejoin-request of another NetID.
    pub uplinks_filtered_net_id: u64,
    /// `command/exec` requests run (or refused: unknown command).
    pub exec_requests: u64,
}

/// A bridge with its sockets bound, ready to [`run`](Bridge::run).
#[derive(Debug)]
pub struct Bridge {
    config: Config,
    /// `[filters]`, parsed once.
    filters: Filters,
    udp: Option<(UdpSocket, SocketAddr)>,
    station: Option<(StationListener, SocketAddr)>,
    station_events: mpsc::Receiver<StationEvent>,
    metrics: Option<(TcpListener, SocketAddr)>,
}

impl Bridge {
    /// Binds the sockets of the enabled backends (`[backend.semtech_udp]
    /// udp_bind`, `[backend.basic_station] bind`) and, when
    /// `[metrics.prometheus] endpoint_enabled`, the TCP listener of its
    /// `bind`.
    ///
    /// # Errors
    /// When an address cannot be bound or a TLS file cannot be used.
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        let udp = if config.backend.enabled(BackendKind::SemtechUdp) {
            Some(bind_udp(&config.backend.semtech_udp.udp_bind).await?)
        } else {
            None
        };
        let filters = Filters::new(&config.filters).map_err(anyhow::Error::msg)?;
        let (station_tx, station_events) = mpsc::channel(STATION_EVENTS);
        let station = if config.backend.enabled(BackendKind::BasicStation) {
            let (net_ids, join_eui_ranges) = filters.router_config_options();
            let options = RouterConfigOptions {
                net_ids,
                join_eui_ranges,
                ..RouterConfigOptions::default()
            };
            let listener =
                StationListener::bind(&config.backend.basic_station, options, station_tx).await?;
            let addr = listener.local_addr();
            Some((listener, addr))
        } else {
            None
        };
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
            filters,
            udp,
            station,
            station_events,
            metrics,
        })
    }

    /// The bound UDP address when the Semtech UDP backend is enabled, else
    /// the Basics Station listener's (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        match (&self.udp, &self.station) {
            (Some((_, addr)), _) | (None, Some((_, addr))) => *addr,
            // `Config` validation ensures at least one backend.
            (None, None) => SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    /// The bound UDP address of the Semtech UDP backend, when enabled.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().map(|&(_, addr)| addr)
    }

    /// The bound address of the Basics Station listener, when enabled.
    pub fn station_addr(&self) -> Option<SocketAddr> {
        self.station.as_ref().map(|&(_, addr)| addr)
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
        let encoding = match self.config.integration.marshaler {
            Marshaler::Protobuf => Encoding::Protobuf,
            Marshaler::Json => Encoding::Json,
        };
        let last_will = self
            .config
            .backend
            .gateway_id()
            .map_err(anyhow::Error::msg)?
            .map(|gateway_eui| LastWill {
                topic: topics.state(gateway_eui, "conn"),
                payload: gw::encode(
                    &conn_state(gateway_eui, gw::conn_state::State::Offline),
                    encoding,
                ),
                retain: self.config.integration.mqtt.state_retained,
            });
        let publish_latency = mqtt::publish_latency_histogram();
        let (mqtt, mut mqtt_rx, mqtt_task) = Mqtt::start(
            &self.config.integration.mqtt,
            last_will,
            publish_latency.clone(),
        )?;
        let udp = &self.config.backend.semtech_udp;
        let mut server_config = server::Config::default();
        server_config.connection_timeout = udp.connection_timeout_duration;
        // Scrapes ask the loop for a snapshot; without the endpoint the
        // sender is dropped and the branch below is disabled at once.
        let (scrape_tx, mut scrape_rx) = mpsc::channel::<ScrapeRequest>(16);
        let metrics_task = self.metrics.map(|(listener, addr)| {
            info!(metrics = %addr, "metrics endpoint started");
            tokio::spawn(metrics::serve(
                listener,
                scrape_tx.clone(),
                publish_latency.clone(),
            ))
        });
        drop(scrape_tx);
        let mut scrapes_open = true;
        let station_task: Option<JoinHandle<()>> = self
            .station
            .map(|(listener, _)| tokio::spawn(listener.serve()));
        let mut station_events = self.station_events;
        let mut stations_open = station_task.is_some();
        let udp_addr = self.udp.as_ref().map(|&(_, addr)| addr);
        let filters = self.filters;
        let (exec_tx, mut exec_rx) = mpsc::channel(64);
        info!(udp = ?udp_addr, "gateway bridge started");
        let mut driver = Driver {
            server: Server::new(server_config),
            socket: self.udp.map(|(socket, _)| socket),
            topics,
            mqtt,
            encoding,
            state_retained: self.config.integration.mqtt.state_retained,
            skip_crc_check: udp.skip_crc_check,
            fake_rx_time: udp.fake_rx_time,
            gateways: HashMap::new(),
            downlinks: HashMap::new(),
            counters: BridgeCounters::default(),
            udp_stats: HashMap::new(),
            filters,
            metadata: metadata::spawn(&self.config.meta_data),
            commands: Arc::new(self.config.commands.clone()),
            exec_results: exec_tx,
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
                ready = readable(driver.socket.as_ref()) => {
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
                event = station_events.recv(), if stations_open => match event {
                    Some(event) => driver.handle_station(event),
                    None => stations_open = false,
                },
                Some(response) = exec_rx.recv() => driver.publish_exec(&response),
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
        for task in metrics_task.into_iter().chain(station_task) {
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

/// Binds the Semtech UDP socket with a large receive buffer.
async fn bind_udp(bind: &str) -> anyhow::Result<(UdpSocket, SocketAddr)> {
    let socket = UdpSocket::bind(bind)
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
    let addr = socket.local_addr()?;
    Ok((socket, addr))
}

/// Waits until the socket is readable; never, without a socket.
async fn readable(socket: Option<&UdpSocket>) -> io::Result<()> {
    match socket {
        Some(socket) => socket.readable().await,
        None => std::future::pending().await,
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

/// How a connected gateway is reached.
#[derive(Debug)]
enum Link {
    /// Through the Semtech UDP server.
    Udp,
    /// Through its Basics Station connection `conn`.
    Station {
        conn: u64,
        commands: mpsc::Sender<StationCommand>,
    },
}

struct Driver {
    server: Server<SocketAddr>,
    socket: Option<UdpSocket>,
    topics: Topics,
    mqtt: Mqtt,
    encoding: Encoding,
    state_retained: bool,
    skip_crc_check: bool,
    fake_rx_time: bool,
    /// Gateways announced ONLINE and subscribed to.
    gateways: HashMap<Eui64, Link>,
    /// Downlinks handed to the server, for their `DownlinkTxAck`.
    downlinks: HashMap<(Eui64, u32), gw::DownlinkFrame>,
    counters: BridgeCounters,
    /// What the bridge counts per UDP gateway between two `stat`s.
    udp_stats: HashMap<Eui64, StatsCounter>,
    filters: Filters,
    metadata: MetadataHandle,
    commands: Arc<config::Commands>,
    /// Where the exec tasks send their answers.
    exec_results: mpsc::Sender<gw::GatewayCommandExecResponse>,
    mqtt_connected_before: bool,
    /// Whether the MQTT connection is up now.
    mqtt_connected: bool,
}

impl Driver {
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            server: *self.server.counters(),
            bridge: self.counters,
            gateways_connected: u64::try_from(self.gateways.len()).unwrap_or(u64::MAX),
            mqtt_connected: self.mqtt_connected,
        }
    }

    /// Reads every datagram ready (up to [`DRAIN_BATCH`]), answering each
    /// before reading the next so PUSH_ACKs are not delayed by a burst.
    async fn drain_udp(&mut self, buf: &mut [u8]) -> io::Result<()> {
        for _ in 0..DRAIN_BATCH {
            let Some(socket) = &self.socket else {
                return Ok(());
            };
            match socket.try_recv_from(buf) {
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
            let Some(socket) = &self.socket else {
                break;
            };
            if let Err(e) = socket.send_to(&t.bytes, t.destination).await {
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
                self.gateway_online(gateway_eui, Link::Udp);
            }
            Event::GatewayDisconnected { gateway_eui } => {
                info!(gateway_id = %gateway_eui, "gateway disconnected");
                self.udp_stats.remove(&gateway_eui);
                if matches!(self.gateways.get(&gateway_eui), Some(Link::Udp)) {
                    self.gateway_offline(gateway_eui);
                }
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
                                self.udp_stats
                                    .entry(gateway_eui)
                                    .or_default()
                                    .count_uplink(&frame);
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
                Ok(mut stats) => {
                    // The gateway's totals, the bridge's breakdowns.
                    if let Some(counter) = self.udp_stats.get_mut(&gateway_eui) {
                        counter.merge_into(&mut stats);
                    }
                    self.publish_stats(gateway_eui, stats);
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
                self.count_udp_ack(gateway_eui, &frame, &statuses);
                let ack = mapping::downlink_tx_ack(&frame, &statuses);
                debug!(gateway_id = %gateway_eui, downlink_id, ?statuses, "downlink ack");
                self.publish_ack(gateway_eui, &ack);
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
        match self.filters.check(&frame.phy_payload) {
            Verdict::Pass => {}
            verdict => {
                match verdict {
                    Verdict::DroppedJoinEui => self.counters.uplinks_filtered_join_eui += 1,
                    Verdict::DroppedNetId => self.counters.uplinks_filtered_net_id += 1,
                    _ => self.counters.uplinks_filtered_dev_addr += 1,
                }
                debug!(gateway_id = %gateway_eui, filter = verdict.label(), "frame filtered");
                return;
            }
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
                let gateways: Vec<Eui64> = self.gateways.keys().copied().collect();
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
        match kind {
            "down" => self.handle_down(topic, gateway_eui, payload),
            "raw" => self.handle_raw(topic, gateway_eui, payload),
            "exec" => self.handle_exec(topic, gateway_eui, payload),
            _ => {
                self.counters.commands_ignored += 1;
                debug!(topic, "command not supported");
            }
        }
    }

    /// Runs a configured command in its own task; the answer comes back
    /// through `exec_results` and goes to `event/exec`.
    fn handle_exec(&mut self, topic: &str, gateway_eui: Eui64, payload: &[u8]) {
        let mut request: gw::GatewayCommandExecRequest = match gw::decode(payload, self.encoding) {
            Ok(request) => request,
            Err(e) => {
                self.counters.downlink_errors += 1;
                warn!(topic, error = %e, "exec command dropped");
                return;
            }
        };
        self.counters.exec_requests += 1;
        // The answer goes to the topic's gateway whatever the payload says.
        request.gateway_id = gateway_eui.to_string();
        info!(gateway_id = %gateway_eui, command = request.command, exec_id = request.exec_id, "exec command");
        let commands = Arc::clone(&self.commands);
        let results = self.exec_results.clone();
        tokio::spawn(async move {
            let response = exec::execute(&commands, &request).await;
            let _ = results.send(response).await;
        });
    }

    fn handle_raw(&mut self, topic: &str, gateway_eui: Eui64, payload: &[u8]) {
        let Some(Link::Station { commands, .. }) = self.gateways.get(&gateway_eui) else {
            self.counters.commands_ignored += 1;
            debug!(
                topic,
                "raw command for a gateway that is not a connected station"
            );
            return;
        };
        match gw::decode::<gw::RawPacketForwarderCommand>(payload, self.encoding) {
            Ok(raw) => {
                if commands.try_send(StationCommand::Raw(raw)).is_err() {
                    self.counters.downlink_errors += 1;
                    warn!(gateway_id = %gateway_eui, "station command queue full, raw command dropped");
                }
            }
            Err(e) => {
                self.counters.downlink_errors += 1;
                warn!(topic, error = %e, "raw command dropped");
            }
        }
    }

    fn handle_down(&mut self, topic: &str, gateway_eui: Eui64, payload: &[u8]) {
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
        if let Some(Link::Station { commands, .. }) = self.gateways.get(&gateway_eui) {
            if let Err(e) = commands.try_send(StationCommand::Down(Box::new(frame))) {
                self.counters.downlink_errors += 1;
                let frame = match e {
                    mpsc::error::TrySendError::Full(StationCommand::Down(f))
                    | mpsc::error::TrySendError::Closed(StationCommand::Down(f)) => f,
                    _ => return,
                };
                warn!(gateway_id = %gateway_eui, downlink_id = frame.downlink_id, "station command queue full or closed, downlink dropped");
                let ack = station::failed_ack(&frame);
                self.publish_ack(gateway_eui, &ack);
            }
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
            self.publish_ack(gateway_eui, &ack);
            return;
        }
        let downlink_id = frame.downlink_id;
        self.downlinks
            .entry((gateway_eui, downlink_id))
            .or_insert(frame);
        match self
            .server
            .send_downlink(Instant::now(), gateway_eui, downlink_id, items)
        {
            Ok(()) => self
                .udp_stats
                .entry(gateway_eui)
                .or_default()
                .count_downlink_received(),
            // The server queued a DownlinkAck saying the same.
            Err(e) => {
                warn!(gateway_id = %gateway_eui, downlink_id, error = %e, "downlink not sent");
            }
        }
    }

    /// Counts a UDP downlink's outcome for the gateway's next stats: the
    /// item that was not `IGNORED` decides.
    fn count_udp_ack(
        &mut self,
        gateway_eui: Eui64,
        frame: &gw::DownlinkFrame,
        statuses: &[gw::TxAckStatus],
    ) {
        if let Some(counter) = self.udp_stats.get_mut(&gateway_eui) {
            counter.count_tx_ack(frame, statuses);
        }
    }

    fn handle_station(&mut self, event: StationEvent) {
        match event {
            StationEvent::Connected {
                gateway,
                conn,
                commands,
            } => {
                self.counters.station_connects += 1;
                // A station that reconnects before its old connection timed
                // out replaces it (dropping the old sender closes it);
                // ChirpStack refuses the new one instead, which keeps a
                // station behind a dead connection offline for read_timeout.
                let link = Link::Station { conn, commands };
                if let Some(old) = self.gateways.get_mut(&gateway) {
                    *old = link;
                } else {
                    self.gateway_online(gateway, link);
                }
            }
            StationEvent::Disconnected { gateway, conn } => {
                self.counters.station_disconnects += 1;
                if matches!(self.gateways.get(&gateway), Some(Link::Station { conn: c, .. }) if *c == conn)
                {
                    self.gateway_offline(gateway);
                }
            }
            StationEvent::Uplink(gateway, frame) => self.publish_uplink(gateway, &frame),
            StationEvent::Stats(gateway, stats) => self.publish_stats(gateway, *stats),
            StationEvent::TxAck(gateway, ack) => {
                debug!(gateway_id = %gateway, downlink_id = ack.downlink_id, "downlink ack");
                self.publish_ack(gateway, &ack);
            }
            StationEvent::Raw(gateway, raw) => {
                self.counters.raw_events += 1;
                let topic = self.topics.event(gateway, "raw");
                self.publish(topic, gw::encode(&raw, self.encoding), false);
            }
            StationEvent::Rejected { gateway, error } => {
                self.counters.station_messages_rejected += 1;
                warn!(gateway_id = %gateway, error = %error, "station message rejected");
            }
            StationEvent::Refused(refusal) => match refusal {
                Refusal::Tls => self.counters.station_refused_tls += 1,
                Refusal::CommonName => self.counters.station_refused_common_name += 1,
                Refusal::BadRequest => self.counters.station_refused_bad_request += 1,
            },
        }
    }

    /// Records a newly connected gateway: subscribe, publish ONLINE.
    fn gateway_online(&mut self, gateway_eui: Eui64, link: Link) {
        self.gateways.insert(gateway_eui, link);
        self.subscribe(gateway_eui);
        self.publish_state(gateway_eui, gw::conn_state::State::Online);
    }

    /// Forgets a gateway: unsubscribe, publish OFFLINE.
    fn gateway_offline(&mut self, gateway_eui: Eui64) {
        self.gateways.remove(&gateway_eui);
        if let Err(e) = self
            .mqtt
            .unsubscribe(self.topics.command_filter(gateway_eui))
        {
            self.mqtt_error(e);
        }
        self.publish_state(gateway_eui, gw::conn_state::State::Offline);
    }

    fn publish_stats(&mut self, gateway_eui: Eui64, mut stats: gw::GatewayStats) {
        self.metadata.apply_to(&mut stats.metadata);
        let topic = self.topics.event(gateway_eui, "stats");
        self.publish(topic, gw::encode(&stats, self.encoding), false);
    }

    fn publish_exec(&mut self, response: &gw::GatewayCommandExecResponse) {
        let Ok(gateway_eui) = response.gateway_id.parse::<Eui64>() else {
            return;
        };
        let topic = self.topics.event(gateway_eui, "exec");
        self.publish(topic, gw::encode(response, self.encoding), false);
    }

    fn publish_ack(&mut self, gateway_eui: Eui64, ack: &gw::DownlinkTxAck) {
        let topic = self.topics.event(gateway_eui, "ack");
        self.publish(topic, gw::encode(ack, self.encoding), false);
    }

    fn subscribe(&mut self, gateway_eui: Eui64) {
        if let Err(e) = self.mqtt.subscribe(self.topics.command_filter(gateway_eui)) {
            self.mqtt_error(e);
        }
    }

    fn publish_state(&mut self, gateway_eui: Eui64, state: gw::conn_state::State) {
        let message = conn_state(gateway_eui, state);
        let topic = self.topics.state(gateway_eui, "conn");
        let retain = self.state_retained;
        self.publish(topic, gw::encode(&message, self.encoding), retain);
    }

    fn publish(&mut self, topic: String, payload: Vec<u8>, retain: bool) {
        if let Err(e) = self.mqtt.publish(topic, payload, retain) {
            self.mqtt_error(e);
        }
    }

    fn mqtt_error(&mut self, e: mqtt::NotQueued) {
        self.counters.mqtt_dropped += 1;
        // Logged every 1000th time: a broker outage would otherwise flood.
        if self.counters.mqtt_dropped % 1000 == 1 {
            error!(error = %e, dropped = self.counters.mqtt_dropped, "MQTT queue full, messages dropped");
        }
    }

    fn shutdown(&mut self) {
        // Dropping the links' command senders closes the station
        // connections.
        let gateways: Vec<Eui64> = self.gateways.drain().map(|(eui, _)| eui).collect();
        for gateway_eui in gateways {
            self.publish_state(gateway_eui, gw::conn_state::State::Offline);
        }
        self.mqtt.disconnect();
    }
}

fn conn_state(gateway_eui: Eui64, state: gw::conn_state::State) -> gw::ConnState {
    gw::ConnState {
        gateway_id: gateway_eui.to_string(),
        state: state.into(),
        ..Default::default()
    }
}

fn timestamp(t: SystemTime) -> gw::Timestamp {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    gw::Timestamp {
        seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(since.subsec_nanos()).unwrap_or(0),
    }
}
