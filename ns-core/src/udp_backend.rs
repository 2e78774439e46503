//! The built-in Semtech UDP gateway backend: packet forwarders talk GWMP
//! straight to the network server, with no gateway bridge or MQTT broker in
//! between.
//!
//! It presents the same interface as the MQTT
//! [`GatewayBackend`](crate::gateway_backend::GatewayBackend): a bounded
//! channel of [`GatewayEvent`]s (`Up`, `Stats`, `Ack`) in, and
//! [`UdpBackend::send_downlink`] out, so the network server's pipeline takes
//! events from either. The events are what ChirpStack's gateway bridge would
//! publish on `event/up`, `event/stats` and `event/ack`:
//! - every `rxpk` of a PUSH_DATA becomes one [`gw::UplinkFrame`] (one per
//!   antenna when it carries `rsig`), through
//!   [`mapping::uplink_frames`]; frames with a bad or missing CRC are dropped
//!   unless [`UdpBackendConfig::skip_crc_check`];
//! - a `stat` becomes a [`gw::GatewayStats`] ([`mapping::gateway_stats`]),
//!   with the per-frequency, per-modulation and per-status breakdowns the
//!   backend counted since the gateway's previous `stat`;
//! - a downlink is sent as PULL_RESP to the address of the gateway's latest
//!   PULL_DATA; its items are tried in order while the gateway answers with
//!   TX_ACK errors, and the outcome comes back as one `Ack`
//!   ([`mapping::downlink_tx_ack`]: untried items `IGNORED`).
//!
//! The protocol is the sans-IO [`Server`] of the `packet-forwarder` crate;
//! this module is the tokio task that owns the socket, feeds it datagrams,
//! downlinks and the time, and turns its events into [`GatewayEvent`]s.
//! The task runs on a thread of its own (named `semtech-udp`, with a
//! single-threaded tokio runtime), not on the caller's runtime: the system
//! calls, the `rxpk` JSON and the mapping to `gw` messages are a third of
//! the work per uplink, and gateways get their PUSH_ACKs in time however
//! busy the caller's runtime is with the pipeline. The thread ends with the
//! backend.
//! Events go out with `try_send`: when the channel is full they are dropped
//! and counted ([`UdpBackendCounters::events_dropped`]), so a slow consumer
//! never delays the PUSH_ACKs and PULL_ACKs gateways wait for.
//!
//! Gateways coming online (first datagram) and going offline (no PULL_DATA
//! within [`UdpBackendConfig::connection_timeout`]) are logged at `info`.
//! Rejected datagrams are counted and logged at `warn` on the 1st, 2nd, 4th,
//! 8th… occurrence, at `debug` otherwise.
//!
//! ```no_run
//! use ns_core::gateway_backend::GatewayEvent;
//! use ns_core::udp_backend::{UdpBackend, UdpBackendConfig};
//!
//! # async fn run() -> std::io::Result<()> {
//! let (backend, mut events) = UdpBackend::start(UdpBackendConfig::new("0.0.0.0:1700")).await?;
//! println!("packet forwarders can send to {}", backend.local_addr());
//! while let Some(event) = events.recv().await {
//!     match event {
//!         GatewayEvent::Up { gateway_id, frame, .. } => {
//!             // de-duplicate, answer with backend.send_downlink(&downlink)…
//!             # let _ = (gateway_id, frame);
//!         }
//!         GatewayEvent::Ack { ack, .. } => println!("downlink {} done", ack.downlink_id),
//!         _ => {}
//!     }
//! }
//! backend.shutdown().await;
//! # Ok(()) }
//! ```

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use lorawan::Eui64;
use packet_forwarder::gw::{self, Encoding};
use packet_forwarder::semtech_udp::mapping::{self, UplinkContext};
use packet_forwarder::semtech_udp::server::{self, DatagramError, Event, Server};
use packet_forwarder::semtech_udp::{Header, Identifier, PullData};
use packet_forwarder::stats::StatsCounter;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::gateway_backend::GatewayEvent;

/// The UDP receive buffer asked for: bursts from many gateways must not be
/// dropped by the kernel while the task is busy. The kernel may cap it
/// (`net.core.rmem_max`); the size obtained is logged.
const UDP_RECV_BUFFER: usize = 8 * 1024 * 1024;

/// At most this many datagrams are read per wake-up before timers and
/// downlinks get their turn.
const DRAIN_BATCH: usize = 1024;

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_536;

/// The settings of the built-in Semtech UDP backend, named as the gateway
/// bridge's `[backend.semtech_udp]` keys where they have a counterpart.
///
/// ```
/// use std::time::Duration;
/// use ns_core::udp_backend::UdpBackendConfig;
/// let mut config = UdpBackendConfig::new("127.0.0.1:0");
/// config.connection_timeout = Duration::from_secs(90);
/// assert_eq!(config.event_channel_capacity, 10_000);
/// assert!(!config.skip_crc_check);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UdpBackendConfig {
    /// `host:port` of the UDP socket (the forwarders' `serv_port_up` and
    /// `serv_port_down`); port 0 picks a free one, see
    /// [`UdpBackend::local_addr`].
    pub bind: String,
    /// `connection_timeout_duration`: a gateway without PULL_DATA for this
    /// long is offline and downlinks to it are refused. Default 60 s.
    pub connection_timeout: Duration,
    /// How long a version-2 gateway has to answer a PULL_RESP with TX_ACK
    /// before the item counts as failed. Default 5 s.
    pub tx_ack_timeout: Duration,
    /// How long after a PULL_RESP to a version-1 gateway (which never sends
    /// TX_ACK) the downlink is reported sent. Default 100 ms.
    pub v1_ack_delay: Duration,
    /// The most gateways tracked at once; datagrams from further ones are
    /// rejected. Default 100 000.
    pub max_gateways: usize,
    /// `skip_crc_check`: also forward frames whose CRC is bad or missing.
    pub skip_crc_check: bool,
    /// `fake_rx_time`: set `gw_time` to the server's clock for frames
    /// without `time`.
    pub fake_rx_time: bool,
    /// How many events wait for the consumer before new ones are dropped
    /// (at least 1).
    pub event_channel_capacity: usize,
    /// How many downlinks wait for the socket task before
    /// [`UdpBackend::send_downlink`] refuses new ones (at least 1).
    pub downlink_queue_capacity: usize,
}

impl UdpBackendConfig {
    /// The gateway bridge's defaults, bound to `bind`.
    pub fn new(bind: impl Into<String>) -> Self {
        let server = server::Config::default();
        Self {
            bind: bind.into(),
            connection_timeout: server.connection_timeout,
            tx_ack_timeout: server.tx_ack_timeout,
            v1_ack_delay: server.v1_ack_delay,
            max_gateways: server.max_gateways,
            skip_crc_check: false,
            fake_rx_time: false,
            event_channel_capacity: 10_000,
            downlink_queue_capacity: 1_000,
        }
    }

    fn server_config(&self) -> server::Config {
        let mut config = server::Config::default();
        config.connection_timeout = self.connection_timeout;
        config.tx_ack_timeout = self.tx_ack_timeout;
        config.v1_ack_delay = self.v1_ack_delay;
        config.max_gateways = self.max_gateways;
        config
    }
}

/// Why [`UdpBackend::send_downlink`] did not take a downlink. No `Ack`
/// event follows a refused downlink.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UdpSendError {
    /// The frame's `gateway_id` is not 16 hex digits (the caller's fault).
    #[error("gateway_id {0:?} is not 16 hex digits")]
    GatewayId(String),
    /// The gateway has sent no PULL_DATA, or none within the connection
    /// timeout: there is no address to send the downlink to.
    #[error("gateway {0} is not connected (no recent PULL_DATA)")]
    GatewayNotConnected(Eui64),
    /// The queue to the socket task is full.
    #[error("the UDP backend's downlink queue is full")]
    QueueFull,
    /// The socket task has ended (socket error, or the backend is shutting
    /// down).
    #[error("the UDP backend has stopped")]
    Stopped,
}

/// What the backend has seen and done since it started; all counts only
/// grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UdpBackendCounters {
    /// Datagrams received, whatever their content.
    pub datagrams_received: u64,
    /// Uplink frames (`Up` events) produced, whether or not the channel had
    /// room for them.
    pub uplinks: u64,
    /// Frames not forwarded because their CRC is bad or missing.
    pub uplinks_crc_filtered: u64,
    /// `Stats` events produced.
    pub stats: u64,
    /// `Ack` events produced.
    pub acks: u64,
    /// PULL_RESP datagrams sent (one per downlink item tried).
    pub downlinks_sent: u64,
    /// Datagrams the codec rejected: truncated, unknown version or
    /// identifier, trailing bytes, bad JSON.
    pub malformed_datagrams: u64,
    /// Well-formed datagrams not used: a type only servers send, a TX_ACK
    /// for no pending downlink, a new gateway beyond `max_gateways`.
    pub rejected_datagrams: u64,
    /// `rxpk`s or `stat`s that could not be mapped to `gw` messages.
    pub mapping_errors: u64,
    /// Events dropped because the event channel was full or closed.
    pub events_dropped: u64,
    /// Downlinks refused by [`UdpBackend::send_downlink`], downlinks with an
    /// item that cannot be a `txpk`, and downlinks reusing a pending id.
    pub downlink_errors: u64,
    /// Gateways that came online (first datagram since offline).
    pub gateways_connected: u64,
    /// Gateways that went offline (no PULL_DATA in time).
    pub gateways_disconnected: u64,
}

/// The counters as the socket task and the handle update them.
#[derive(Debug, Default)]
struct Counters {
    datagrams_received: AtomicU64,
    uplinks: AtomicU64,
    uplinks_crc_filtered: AtomicU64,
    stats: AtomicU64,
    acks: AtomicU64,
    downlinks_sent: AtomicU64,
    malformed_datagrams: AtomicU64,
    rejected_datagrams: AtomicU64,
    mapping_errors: AtomicU64,
    events_dropped: AtomicU64,
    downlink_errors: AtomicU64,
    gateways_connected: AtomicU64,
    gateways_disconnected: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> UdpBackendCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        UdpBackendCounters {
            datagrams_received: get(&self.datagrams_received),
            uplinks: get(&self.uplinks),
            uplinks_crc_filtered: get(&self.uplinks_crc_filtered),
            stats: get(&self.stats),
            acks: get(&self.acks),
            downlinks_sent: get(&self.downlinks_sent),
            malformed_datagrams: get(&self.malformed_datagrams),
            rejected_datagrams: get(&self.rejected_datagrams),
            mapping_errors: get(&self.mapping_errors),
            events_dropped: get(&self.events_dropped),
            downlink_errors: get(&self.downlink_errors),
            gateways_connected: get(&self.gateways_connected),
            gateways_disconnected: get(&self.gateways_disconnected),
        }
    }
}

/// Adds one; true when the new count is a power of two, the occurrences
/// worth a `warn`.
fn bump(counter: &AtomicU64) -> bool {
    (counter.fetch_add(1, Ordering::Relaxed) + 1).is_power_of_two()
}

/// What the handle and the socket task share.
#[derive(Debug, Default)]
struct Shared {
    counters: Counters,
    /// Gateways with a downlink path (a PULL_DATA within the connection
    /// timeout), so `send_downlink` can refuse the others at once.
    reachable: Mutex<HashSet<Eui64>>,
}

impl Shared {
    fn reachable(&self) -> MutexGuard<'_, HashSet<Eui64>> {
        self.reachable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The built-in Semtech UDP backend; see the [module documentation](self).
/// Dropping it ends the socket task.
#[derive(Debug)]
pub struct UdpBackend {
    local_addr: SocketAddr,
    downlinks: mpsc::Sender<gw::DownlinkFrame>,
    shared: Arc<Shared>,
    /// The socket task, on the backend's own runtime.
    task: JoinHandle<()>,
    /// Dropped with the backend: the backend's thread then stops its
    /// runtime and ends.
    _stop: oneshot::Sender<()>,
}

impl UdpBackend {
    /// Binds the UDP socket of `config` (with a large receive buffer),
    /// starts the thread and task that serve it and returns the handle with
    /// the receiving end of the event channel.
    ///
    /// Must be called within a tokio runtime (it resolves and binds there);
    /// the socket is then served on the backend's own thread.
    ///
    /// # Errors
    /// When `config.bind` cannot be resolved or bound, or the thread cannot
    /// be started.
    pub async fn start(
        config: UdpBackendConfig,
    ) -> Result<(Self, mpsc::Receiver<GatewayEvent>), io::Error> {
        let socket = UdpSocket::bind(config.bind.as_str())
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("UDP bind {}: {e}", config.bind)))?;
        let sock = socket2::SockRef::from(&socket);
        match sock
            .set_recv_buffer_size(UDP_RECV_BUFFER)
            .and_then(|()| sock.recv_buffer_size())
        {
            Ok(size) => debug!(size, "UDP receive buffer"),
            Err(e) => warn!(error = %e, "cannot set the UDP receive buffer size"),
        }
        let local_addr = socket.local_addr()?;
        // Moved to the backend's runtime: deregistered here, registered
        // there (`into_std` leaves it non-blocking).
        let socket = socket.into_std()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let socket = {
            let _on_backend_runtime = handle.enter();
            UdpSocket::from_std(socket)?
        };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("semtech-udp".into())
            .spawn(move || {
                // Runs the socket task until the backend is dropped; the
                // runtime's drop then drops the task and closes the socket.
                runtime.block_on(async {
                    let _ = stop_rx.await;
                });
            })?;
        let (event_tx, event_rx) = mpsc::channel(config.event_channel_capacity.max(1));
        let (down_tx, down_rx) = mpsc::channel(config.downlink_queue_capacity.max(1));
        let shared = Arc::new(Shared::default());
        let driver = Driver {
            server: Server::new(config.server_config()),
            socket,
            events: event_tx,
            shared: Arc::clone(&shared),
            skip_crc_check: config.skip_crc_check,
            fake_rx_time: config.fake_rx_time,
            downlinks: HashMap::new(),
            stats: HashMap::new(),
        };
        info!(udp = %local_addr, "Semtech UDP backend started");
        let task = handle.spawn(driver.run(down_rx));
        let backend = Self {
            local_addr,
            downlinks: down_tx,
            shared,
            task,
            _stop: stop_tx,
        };
        Ok((backend, event_rx))
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Queues `frame` for its gateway; never waits. The socket task sends
    /// the first item as PULL_RESP, the next ones on TX_ACK errors, and
    /// reports the outcome as one [`GatewayEvent::Ack`] (also when no item
    /// can be sent, e.g. a missing `tx_info`).
    ///
    /// # Errors
    /// [`UdpSendError`] when the frame's `gateway_id` is malformed, the
    /// gateway has no downlink path, or the queue is full; the downlink is
    /// dropped, counted, and no `Ack` follows.
    pub fn send_downlink(&self, frame: &gw::DownlinkFrame) -> Result<(), UdpSendError> {
        let result = self.try_send_downlink(frame);
        if let Err(e) = &result
            && bump(&self.shared.counters.downlink_errors)
        {
            warn!(gateway_id = frame.gateway_id, downlink_id = frame.downlink_id, error = %e, "downlink refused");
        }
        result
    }

    fn try_send_downlink(&self, frame: &gw::DownlinkFrame) -> Result<(), UdpSendError> {
        let gateway_id: Eui64 = frame
            .gateway_id
            .parse()
            .map_err(|_| UdpSendError::GatewayId(frame.gateway_id.clone()))?;
        if !self.is_connected(gateway_id) {
            return Err(UdpSendError::GatewayNotConnected(gateway_id));
        }
        self.downlinks.try_send(frame.clone()).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => UdpSendError::QueueFull,
            mpsc::error::TrySendError::Closed(_) => UdpSendError::Stopped,
        })
    }

    /// Whether `gateway_id` has a downlink path: it sent a PULL_DATA within
    /// the connection timeout.
    pub fn is_connected(&self, gateway_id: Eui64) -> bool {
        self.shared.reachable().contains(&gateway_id)
    }

    /// The counts so far.
    pub fn counters(&self) -> UdpBackendCounters {
        self.shared.counters.snapshot()
    }

    /// Ends the socket task and waits until it has, so the socket is closed
    /// when this returns. Pending downlinks get no `Ack`.
    pub async fn shutdown(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
        info!(udp = %self.local_addr, counters = ?self.counters(), "Semtech UDP backend stopped");
    }
}

impl Drop for UdpBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The socket task's state.
struct Driver {
    server: Server<SocketAddr>,
    socket: UdpSocket,
    events: mpsc::Sender<GatewayEvent>,
    shared: Arc<Shared>,
    skip_crc_check: bool,
    fake_rx_time: bool,
    /// Downlinks handed to the server, for their `DownlinkTxAck`.
    downlinks: HashMap<(Eui64, u32), gw::DownlinkFrame>,
    /// What the backend counts per gateway between two `stat`s.
    stats: HashMap<Eui64, StatsCounter>,
}

impl Driver {
    async fn run(mut self, mut downlinks: mpsc::Receiver<gw::DownlinkFrame>) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut handle_open = true;
        loop {
            let deadline = self.server.poll_timeout();
            // Not `biased`: a flood of datagrams must not starve the
            // timers and the downlinks.
            tokio::select! {
                ready = self.socket.readable() => {
                    if let Err(e) = ready {
                        error!(error = %e, "UDP socket failed: Semtech UDP backend stopped");
                        return;
                    }
                    if let Err(e) = self.drain_udp(&mut buf).await {
                        error!(error = %e, "UDP socket failed: Semtech UDP backend stopped");
                        return;
                    }
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.server.handle_timeout(Instant::now());
                }
                frame = downlinks.recv(), if handle_open => match frame {
                    Some(frame) => self.handle_down(frame),
                    // The handle is gone; its Drop aborts this task anyway.
                    None => handle_open = false,
                },
            }
            self.flush().await;
        }
    }

    /// Reads every datagram ready (up to [`DRAIN_BATCH`]), answering each
    /// before reading the next so PUSH_ACKs are not delayed by a burst.
    async fn drain_udp(&mut self, buf: &mut [u8]) -> io::Result<()> {
        for _ in 0..DRAIN_BATCH {
            match self.socket.try_recv_from(buf) {
                Ok((len, from)) => {
                    let datagram = buf.get(..len).unwrap_or_default();
                    self.handle_datagram(from, datagram);
                    self.flush().await;
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

    fn handle_datagram(&mut self, from: SocketAddr, datagram: &[u8]) {
        let counters = &self.shared.counters;
        counters.datagrams_received.fetch_add(1, Ordering::Relaxed);
        self.server.handle_datagram(Instant::now(), from, datagram);
        // A PULL_DATA the server accepted opens (or moves) the gateway's
        // downlink path; `send_downlink` needs to know at once.
        if let Ok(pull) = PullData::parse(datagram)
            && self
                .server
                .gateway(pull.gateway_eui)
                .is_some_and(|g| g.pull_address == Some(from))
            && self.shared.reachable().insert(pull.gateway_eui)
        {
            debug!(gateway_id = %pull.gateway_eui, %from, "gateway downlink path open");
        }
    }

    /// Sends the server's datagrams, then handles its events.
    async fn flush(&mut self) {
        while let Some(t) = self.server.poll_transmit() {
            if Header::parse(&t.bytes).is_ok_and(|h| h.identifier == Identifier::PullResp) {
                self.shared
                    .counters
                    .downlinks_sent
                    .fetch_add(1, Ordering::Relaxed);
            }
            if let Err(e) = self.socket.send_to(&t.bytes, t.destination).await {
                // One unreachable gateway must not stop the backend.
                warn!(error = %e, destination = %t.destination, "UDP send failed");
            }
        }
        while let Some(event) = self.server.poll_event() {
            self.handle_event(event);
        }
    }

    fn handle_event(&mut self, event: Event<SocketAddr>) {
        let shared = Arc::clone(&self.shared);
        let counters = &shared.counters;
        match event {
            Event::GatewayConnected {
                gateway_eui,
                address,
                version,
            } => {
                counters.gateways_connected.fetch_add(1, Ordering::Relaxed);
                info!(gateway_id = %gateway_eui, %address, ?version, "gateway connected");
            }
            Event::GatewayDisconnected { gateway_eui } => {
                counters
                    .gateways_disconnected
                    .fetch_add(1, Ordering::Relaxed);
                self.shared.reachable().remove(&gateway_eui);
                self.stats.remove(&gateway_eui);
                info!(gateway_id = %gateway_eui, "gateway disconnected: no PULL_DATA in time");
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
                                self.uplink(gateway_eui, frame);
                            }
                        }
                        Err(e) => {
                            if bump(&counters.mapping_errors) {
                                warn!(gateway_id = %gateway_eui, error = %e, "rxpk dropped");
                            } else {
                                debug!(gateway_id = %gateway_eui, error = %e, "rxpk dropped");
                            }
                        }
                    }
                }
            }
            Event::Stats {
                gateway_eui, stat, ..
            } => match mapping::gateway_stats(gateway_eui, &stat, None) {
                Ok(mut stats) => {
                    // The gateway's totals, the backend's breakdowns.
                    if let Some(counter) = self.stats.get_mut(&gateway_eui) {
                        counter.merge_into(&mut stats);
                    }
                    counters.stats.fetch_add(1, Ordering::Relaxed);
                    self.emit(GatewayEvent::Stats {
                        gateway_id: gateway_eui,
                        stats,
                    });
                }
                Err(e) => {
                    if bump(&counters.mapping_errors) {
                        warn!(gateway_id = %gateway_eui, error = %e, "stat dropped");
                    } else {
                        debug!(gateway_id = %gateway_eui, error = %e, "stat dropped");
                    }
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
                self.count_ack(gateway_eui, &frame, &statuses);
                debug!(gateway_id = %gateway_eui, downlink_id, ?statuses, "downlink ack");
                self.ack(gateway_eui, mapping::downlink_tx_ack(&frame, &statuses));
            }
            Event::DatagramError { from, error } => {
                let counter = match error {
                    DatagramError::Malformed(_) => &counters.malformed_datagrams,
                    _ => &counters.rejected_datagrams,
                };
                if bump(counter) {
                    warn!(%from, kind = error.kind(), error = %error, "datagram rejected");
                } else {
                    debug!(%from, kind = error.kind(), error = %error, "datagram rejected");
                }
            }
            other => debug!(event = ?other, "unhandled server event"),
        }
    }

    fn uplink(&mut self, gateway_eui: Eui64, frame: gw::UplinkFrame) {
        let shared = Arc::clone(&self.shared);
        let counters = &shared.counters;
        // Counted as received whatever its CRC, as the gateway bridge does.
        self.stats
            .entry(gateway_eui)
            .or_default()
            .count_uplink(&frame);
        let crc_ok = frame
            .rx_info
            .as_ref()
            .is_some_and(|rx| rx.crc_status() == gw::CrcStatus::CrcOk);
        if !crc_ok && !self.skip_crc_check {
            counters
                .uplinks_crc_filtered
                .fetch_add(1, Ordering::Relaxed);
            debug!(gateway_id = %gateway_eui, "frame without a good CRC not forwarded");
            return;
        }
        counters.uplinks.fetch_add(1, Ordering::Relaxed);
        self.emit(GatewayEvent::Up {
            gateway_id: gateway_eui,
            frame,
            encoding: Encoding::Protobuf,
        });
    }

    fn handle_down(&mut self, frame: gw::DownlinkFrame) {
        let shared = Arc::clone(&self.shared);
        let counters = &shared.counters;
        // `send_downlink` parsed it already; a failure here is a bug, not a
        // reason to panic.
        let Ok(gateway_eui) = frame.gateway_id.parse::<Eui64>() else {
            bump(&counters.downlink_errors);
            return;
        };
        let downlink_id = frame.downlink_id;
        if self.downlinks.contains_key(&(gateway_eui, downlink_id)) {
            // The pending one keeps its frame for its own ack; this one is
            // refused as the server refuses a clashing token.
            if bump(&counters.downlink_errors) {
                warn!(gateway_id = %gateway_eui, downlink_id, "downlink id already pending");
            }
            let ack = mapping::downlink_tx_ack(&frame, &[gw::TxAckStatus::QueueFull]);
            self.ack(gateway_eui, ack);
            return;
        }
        // Items are tried in order, so only the leading mappable ones can be
        // sent; an unmappable item ends the list.
        let mut items = Vec::with_capacity(frame.items.len());
        for (index, item) in frame.items.iter().enumerate() {
            match mapping::txpk(item) {
                Ok(txpk) => items.push(txpk),
                Err(e) => {
                    if bump(&counters.downlink_errors) {
                        warn!(gateway_id = %gateway_eui, downlink_id, index, error = %e, "downlink item cannot be sent");
                    }
                    break;
                }
            }
        }
        if items.is_empty() {
            // Nothing to try: report it at once rather than stay silent.
            let ack = mapping::downlink_tx_ack(&frame, &[gw::TxAckStatus::InternalError]);
            self.ack(gateway_eui, ack);
            return;
        }
        self.downlinks.insert((gateway_eui, downlink_id), frame);
        match self
            .server
            .send_downlink(Instant::now(), gateway_eui, downlink_id, items)
        {
            Ok(()) => self
                .stats
                .entry(gateway_eui)
                .or_default()
                .count_downlink_received(),
            // The gateway went offline since `send_downlink` checked; the
            // server queued a DownlinkAck saying so.
            Err(e) => {
                debug!(gateway_id = %gateway_eui, downlink_id, error = %e, "downlink not sent")
            }
        }
    }

    /// Counts a downlink's outcome for the gateway's next stats: the item
    /// that was not `IGNORED` decides.
    fn count_ack(
        &mut self,
        gateway_eui: Eui64,
        frame: &gw::DownlinkFrame,
        statuses: &[gw::TxAckStatus],
    ) {
        if let Some(counter) = self.stats.get_mut(&gateway_eui) {
            counter.count_tx_ack(frame, statuses);
        }
    }

    fn ack(&self, gateway_eui: Eui64, ack: gw::DownlinkTxAck) {
        self.shared.counters.acks.fetch_add(1, Ordering::Relaxed);
        self.emit(GatewayEvent::Ack {
            gateway_id: gateway_eui,
            ack,
        });
    }

    fn emit(&self, event: GatewayEvent) {
        let counters = &self.shared.counters;
        if self.events.try_send(event).is_err() && bump(&counters.events_dropped) {
            warn!(
                dropped = counters.events_dropped.load(Ordering::Relaxed),
                "gateway event channel full or closed: events dropped"
            );
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await;
    }
}

fn timestamp(t: SystemTime) -> gw::Timestamp {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    gw::Timestamp {
        seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(since.subsec_nanos()).unwrap_or(0),
    }
}
