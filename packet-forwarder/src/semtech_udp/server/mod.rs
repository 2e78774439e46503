//! A sans-IO Semtech UDP (GWMP) server: what a gateway bridge runs behind its
//! `:1700` socket, with no socket and no clock of its own.
//!
//! [`Server`] is fed with datagrams ([`Server::handle_datagram`]), downlink
//! requests ([`Server::send_downlink`]) and the passing of time
//! ([`Server::handle_timeout`]); it hands back datagrams to send
//! ([`Server::poll_transmit`]) and things that happened
//! ([`Server::poll_event`]). The driver that owns the socket drains
//! `poll_transmit` before `poll_event`, so a PUSH_ACK leaves before the
//! PUSH_DATA's frames are processed, and sleeps until [`Server::poll_timeout`].
//!
//! # Time
//!
//! Time is a [`std::time::Instant`] passed in by the caller: the server never
//! reads a clock, so tests run on a simulated one (an `Instant` taken once,
//! plus `Duration`s) and are deterministic.
//!
//! # Gateways
//!
//! Many gateways share one server, keyed by gateway EUI, so several gateways
//! behind one NAT or packet router are told apart. A gateway is *connected*
//! from its first PULL_DATA or PUSH_DATA; a downlink goes to the source address
//! of its latest PULL_DATA, with that PULL_DATA's protocol version. A gateway
//! is *disconnected* (and forgotten) when no PULL_DATA came within
//! [`Config::connection_timeout`] of the previous one, or of its first
//! PUSH_DATA. PUSH_DATA alone does not keep a gateway connected: without
//! PULL_DATA there is no downlink path.
//!
//! # Downlinks
//!
//! [`Server::send_downlink`] takes the items of one downlink (e.g. RX1 then
//! RX2) and sends the first as a PULL_RESP. Its token is the downlink id's low
//! 16 bits, `downlink_id as u16`, written most significant byte first (byte 1
//! = bits 15–8, byte 2 = bits 7–0, as [`Header`] reads tokens); version-1
//! gateways ignore it. A version-2 gateway answers with a TX_ACK echoing the
//! token: on an error the next item is sent, in order; when one is accepted or
//! none is left, one [`Event::DownlinkAck`] reports a [`TxStatus`] per item
//! attempted. No TX_ACK within [`Config::tx_ack_timeout`] ends the downlink
//! with [`TxStatus::Timeout`]. Version-1 gateways never send TX_ACK: their
//! first item is reported [`TxStatus::Unacknowledged`] after
//! [`Config::v1_ack_delay`], and later items are never tried.
//!
//! Every `send_downlink` call ends in exactly one `DownlinkAck` event, also
//! when it fails at once (the returned [`SendError`] says why to the caller;
//! the event tells the network server).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use packet_forwarder::semtech_udp::server::{Config, Event, Server};
//!
//! let mut server = Server::new(Config::default());
//! let t0 = Instant::now();
//! let gateway = "127.0.0.1:40000".parse::<std::net::SocketAddr>().unwrap();
//! // PULL_DATA, version 2, token 0x1234, EUI 0102030405060708.
//! server.handle_datagram(t0, gateway, &[2, 0x12, 0x34, 2, 1, 2, 3, 4, 5, 6, 7, 8]);
//! let ack = server.poll_transmit().unwrap();
//! assert_eq!((ack.destination, ack.bytes), (gateway, vec![2, 0x12, 0x34, 4]));
//! assert!(matches!(server.poll_event(), Some(Event::GatewayConnected { .. })));
//! // Without another PULL_DATA the gateway is offline after a minute.
//! assert_eq!(server.poll_timeout(), Some(t0 + Duration::from_secs(60)));
//! server.handle_timeout(t0 + Duration::from_secs(60));
//! assert!(matches!(server.poll_event(), Some(Event::GatewayDisconnected { .. })));
//! ```

mod counters;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

use lorawan::Eui64;

pub use counters::{Counters, DownlinkCounters, ErrorCounters, PerIdentifier};

use super::{
    Error, Header, Identifier, ProtocolVersion, PullAck, PullData, PullResp, PullRespPayload,
    PushAck, PushData, RxPk, Stat, TxAck, TxAckError, TxPk,
};

/// The server's timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// A gateway with no PULL_DATA for this long is disconnected. Default 60 s,
    /// as the Go bridge's `connection_timeout_duration` (the reference
    /// forwarder sends PULL_DATA every 5 s).
    pub connection_timeout: Duration,
    /// How long a version-2 gateway has to answer a PULL_RESP with TX_ACK.
    /// Default 5 s: the TX_ACK acknowledges scheduling, not emission, and
    /// comes within milliseconds.
    pub tx_ack_timeout: Duration,
    /// How long after a PULL_RESP to a version-1 gateway (which never sends
    /// TX_ACK) the downlink is reported [`TxStatus::Unacknowledged`].
    /// Default 100 ms.
    pub v1_ack_delay: Duration,
    /// The most gateways tracked at once. A datagram from a further gateway is
    /// rejected ([`DatagramError::TooManyGateways`]) so that datagrams with
    /// made-up EUIs cannot grow the table without bound. Default 100 000.
    pub max_gateways: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            connection_timeout: Duration::from_secs(60),
            tx_ack_timeout: Duration::from_secs(5),
            v1_ack_delay: Duration::from_millis(100),
            max_gateways: 100_000,
        }
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit<A> {
    /// Where to send it.
    pub destination: A,
    /// The datagram.
    pub bytes: Vec<u8>,
}

/// What happened to one downlink item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TxStatus {
    /// The gateway accepted it (TX_ACK without error, or `NONE`).
    Accepted,
    /// The gateway accepted it with a warning, e.g. `TX_POWER` with the power
    /// actually used (dBm) as `value`.
    AcceptedWithWarning {
        /// The `txpk_ack.warn` value.
        warning: TxAckError,
        /// The `txpk_ack.value`.
        value: Option<i32>,
    },
    /// The gateway refused it with this `txpk_ack.error`.
    Rejected(TxAckError),
    /// No TX_ACK within [`Config::tx_ack_timeout`].
    Timeout,
    /// Sent to a version-1 gateway, which does not acknowledge.
    Unacknowledged,
    /// The gateway is unknown, disconnected, or has sent no PULL_DATA yet.
    GatewayNotConnected,
    /// A downlink with the same token (downlink id modulo 2¹⁶) is pending
    /// for this gateway.
    TokenInUse,
}

impl TxStatus {
    /// Whether the gateway took the item (or, version 1, may have).
    pub const fn is_sent(&self) -> bool {
        matches!(
            self,
            Self::Accepted | Self::AcceptedWithWarning { .. } | Self::Unacknowledged
        )
    }
}

/// Why a datagram was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DatagramError {
    /// The codec rejected it.
    #[error(transparent)]
    Malformed(#[from] Error),
    /// A packet type that only a server sends (PUSH_ACK, PULL_RESP, PULL_ACK).
    #[error("{0} is not sent to a server")]
    UnexpectedIdentifier(Identifier),
    /// A TX_ACK for no pending downlink: unknown gateway, unknown or expired
    /// token.
    #[error(
        "TX_ACK from gateway {gateway_eui} with token {token:#06x} matches no pending downlink"
    )]
    UnmatchedTxAck {
        /// The gateway that sent it.
        gateway_eui: Eui64,
        /// Its token.
        token: u16,
    },
    /// A datagram from a new gateway while [`Config::max_gateways`] are tracked.
    #[error("gateway {gateway_eui} not tracked: the limit of gateways is reached")]
    TooManyGateways {
        /// The gateway that sent it.
        gateway_eui: Eui64,
    },
}

impl DatagramError {
    /// A short label for logs and metrics, one per [`ErrorCounters`] field.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Malformed(e) => match e {
                Error::Truncated { .. } => "truncated",
                Error::UnknownVersion(_) => "unknown_version",
                Error::UnknownIdentifier(_) => "unknown_identifier",
                Error::TrailingBytes { .. } => "trailing_bytes",
                Error::Json { .. } => "json",
                _ => "other",
            },
            Self::UnexpectedIdentifier(_) => "unexpected_identifier",
            Self::UnmatchedTxAck { .. } => "unmatched_tx_ack",
            Self::TooManyGateways { .. } => "too_many_gateways",
        }
    }
}

/// Why [`Server::send_downlink`] could not send. A `DownlinkAck` event
/// carrying the matching [`TxStatus`] is queued as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The gateway is unknown, disconnected, or has sent no PULL_DATA yet.
    #[error("gateway {0} is not connected")]
    GatewayNotConnected(Eui64),
    /// The downlink has no items.
    #[error("downlink has no items")]
    NoItems,
    /// Another downlink with the same token is pending for this gateway.
    #[error("a downlink with token {0:#06x} is pending for this gateway")]
    TokenInUse(u16),
}

/// Something that happened, to be taken with [`Server::poll_event`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event<A> {
    /// A gateway sent its first PULL_DATA or PUSH_DATA (since it was last
    /// disconnected).
    GatewayConnected {
        /// The gateway.
        gateway_eui: Eui64,
        /// Where that datagram came from.
        address: A,
        /// Its protocol version.
        version: ProtocolVersion,
    },
    /// A gateway sent no PULL_DATA within [`Config::connection_timeout`].
    GatewayDisconnected {
        /// The gateway.
        gateway_eui: Eui64,
    },
    /// Frames from a PUSH_DATA (only when its `rxpk` is not empty).
    Uplink {
        /// The gateway.
        gateway_eui: Eui64,
        /// When the PUSH_DATA arrived (the `now` of `handle_datagram`).
        received_at: Instant,
        /// The frames, in datagram order.
        rxpk: Vec<RxPk>,
    },
    /// The status from a PUSH_DATA.
    Stats {
        /// The gateway.
        gateway_eui: Eui64,
        /// When the PUSH_DATA arrived.
        received_at: Instant,
        /// The status.
        stat: Stat,
    },
    /// The end of a downlink: one status per item attempted, in order.
    DownlinkAck {
        /// The gateway.
        gateway_eui: Eui64,
        /// The id given to [`Server::send_downlink`].
        downlink_id: u32,
        /// Item `i`'s outcome at index `i`; items not attempted are absent.
        statuses: Vec<TxStatus>,
    },
    /// A datagram was rejected; nothing else changed (a PUSH_ACK may still
    /// have been queued: it needs only the header).
    DatagramError {
        /// Where it came from.
        from: A,
        /// Why.
        error: DatagramError,
    },
}

/// What the server knows of a connected gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayInfo<A> {
    /// Source address of the latest PULL_DATA: where downlinks go.
    pub pull_address: Option<A>,
    /// Protocol version of the latest PULL_DATA (of the first PUSH_DATA
    /// before any PULL_DATA).
    pub version: ProtocolVersion,
    /// When the gateway is disconnected unless a PULL_DATA comes first.
    pub expires_at: Instant,
}

/// A pending downlink, keyed by (gateway EUI, token).
#[derive(Debug)]
struct Pending {
    downlink_id: u32,
    /// Items not yet tried.
    remaining: VecDeque<TxPk>,
    statuses: Vec<TxStatus>,
    /// Version of the gateway when the current item was sent.
    version: ProtocolVersion,
    deadline: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    Gateway(Eui64),
    Downlink(Eui64, u16),
}

/// The Semtech UDP server state machine, generic over the address type `A`
/// (`std::net::SocketAddr` in practice). See the [module](self) documentation.
#[derive(Debug)]
pub struct Server<A> {
    config: Config,
    gateways: HashMap<Eui64, GatewayInfo<A>>,
    pending: HashMap<(Eui64, u16), Pending>,
    /// Deadlines, earliest first. An entry is stale (and skipped) when the
    /// gateway or downlink it names has a different deadline by now, so
    /// refreshing a deadline is a push, not a search.
    timers: BinaryHeap<Reverse<(Instant, TimerKey)>>,
    transmits: VecDeque<Transmit<A>>,
    events: VecDeque<Event<A>>,
    counters: Counters,
}

impl<A: Copy + Eq + Hash + Debug> Server<A> {
    /// A server with no gateways.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            gateways: HashMap::new(),
            pending: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    /// The configuration.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// Everything counted so far.
    pub const fn counters(&self) -> &Counters {
        &self.counters
    }

    /// A connected gateway.
    pub fn gateway(&self, gateway_eui: Eui64) -> Option<GatewayInfo<A>> {
        self.gateways.get(&gateway_eui).copied()
    }

    /// How many gateways are connected.
    pub fn gateway_count(&self) -> usize {
        self.gateways.len()
    }

    /// How many downlinks wait for a TX_ACK or timeout.
    pub fn pending_downlinks(&self) -> usize {
        self.pending.len()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit<A>> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event<A>> {
        self.events.pop_front()
    }

    /// When [`Server::handle_timeout`] should be called next, if anything is
    /// waiting for time to pass. May be early, never late.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, key))) = self.timers.peek() {
            if self.is_live(deadline, key) {
                return Some(deadline);
            }
            self.timers.pop();
        }
        None
    }

    /// Disconnects the gateways and ends the downlinks whose deadline is at or
    /// before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((deadline, key))) = self.timers.peek() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            if !self.is_live(deadline, key) {
                continue;
            }
            match key {
                TimerKey::Gateway(gateway_eui) => {
                    self.gateways.remove(&gateway_eui);
                    self.counters.gateways_disconnected += 1;
                    self.events
                        .push_back(Event::GatewayDisconnected { gateway_eui });
                }
                TimerKey::Downlink(gateway_eui, token) => {
                    if let Some(mut p) = self.pending.remove(&(gateway_eui, token)) {
                        let status = match p.version {
                            ProtocolVersion::V1 => TxStatus::Unacknowledged,
                            ProtocolVersion::V2 => TxStatus::Timeout,
                        };
                        p.statuses.push(status);
                        self.finish(gateway_eui, p.downlink_id, p.statuses);
                    }
                }
            }
        }
    }

    /// Handles one datagram received from `from` at `now`.
    ///
    /// A PUSH_DATA is acknowledged as soon as its header is read, before (and
    /// whether or not) its JSON parses. A PULL_DATA is acknowledged and
    /// becomes the gateway's downlink address. A TX_ACK ends or continues its
    /// pending downlink. Anything else is counted and reported as
    /// [`Event::DatagramError`].
    pub fn handle_datagram(&mut self, now: Instant, from: A, datagram: &[u8]) {
        let header = match Header::parse(datagram) {
            Ok(h) => h,
            Err(e) => return self.reject(from, e.into()),
        };
        self.counters.datagrams_in.add(header.identifier);
        match header.identifier {
            Identifier::PushData => {
                let ack = PushAck {
                    version: header.version,
                    token: header.token,
                };
                self.queue(from, ack.to_vec(), Identifier::PushAck);
                match PushData::parse(datagram) {
                    Ok(p) => self.on_push_data(now, from, p),
                    Err(e) => self.reject(from, e.into()),
                }
            }
            Identifier::PullData => match PullData::parse(datagram) {
                Ok(p) => self.on_pull_data(now, from, p),
                Err(e) => self.reject(from, e.into()),
            },
            Identifier::TxAck => match TxAck::parse(datagram) {
                Ok(a) => self.on_tx_ack(now, from, a),
                Err(e) => self.reject(from, e.into()),
            },
            other => self.reject(from, DatagramError::UnexpectedIdentifier(other)),
        }
    }

    /// Sends a downlink: `items[0]` now, the next ones on TX_ACK errors.
    /// Ends in exactly one [`Event::DownlinkAck`]; on `Err` that event is
    /// already queued.
    pub fn send_downlink(
        &mut self,
        now: Instant,
        gateway_eui: Eui64,
        downlink_id: u32,
        items: Vec<TxPk>,
    ) -> Result<(), SendError> {
        self.counters.downlinks.requested += 1;
        let token = token(downlink_id);
        if items.is_empty() {
            self.finish(gateway_eui, downlink_id, Vec::new());
            return Err(SendError::NoItems);
        }
        if self.pending.contains_key(&(gateway_eui, token)) {
            self.finish(gateway_eui, downlink_id, vec![TxStatus::TokenInUse]);
            return Err(SendError::TokenInUse(token));
        }
        let pending = Pending {
            downlink_id,
            remaining: items.into(),
            statuses: Vec::new(),
            version: ProtocolVersion::V2,
            deadline: now,
        };
        if self.send_next(now, gateway_eui, token, pending) {
            Ok(())
        } else {
            Err(SendError::GatewayNotConnected(gateway_eui))
        }
    }

    fn on_push_data(&mut self, now: Instant, from: A, p: PushData) {
        let gateway_eui = p.gateway_eui;
        if !self.gateways.contains_key(&gateway_eui)
            && !self.connect(now, from, gateway_eui, p.version, None)
        {
            return;
        }
        if !p.payload.rxpk.is_empty() {
            self.counters.rxpk += p.payload.rxpk.len() as u64;
            self.events.push_back(Event::Uplink {
                gateway_eui,
                received_at: now,
                rxpk: p.payload.rxpk,
            });
        }
        if let Some(stat) = p.payload.stat {
            self.counters.stat += 1;
            self.events.push_back(Event::Stats {
                gateway_eui,
                received_at: now,
                stat,
            });
        }
    }

    fn on_pull_data(&mut self, now: Instant, from: A, p: PullData) {
        let expires_at = now + self.config.connection_timeout;
        match self.gateways.get_mut(&p.gateway_eui) {
            Some(g) => {
                g.pull_address = Some(from);
                g.version = p.version;
                g.expires_at = expires_at;
                self.timers
                    .push(Reverse((expires_at, TimerKey::Gateway(p.gateway_eui))));
            }
            None => {
                if !self.connect(now, from, p.gateway_eui, p.version, Some(from)) {
                    return;
                }
            }
        }
        let ack = PullAck {
            version: p.version,
            token: p.token,
        };
        self.queue(from, ack.to_vec(), Identifier::PullAck);
    }

    fn on_tx_ack(&mut self, now: Instant, from: A, ack: TxAck) {
        let key = (ack.gateway_eui, ack.token);
        let Some(mut pending) = self.pending.remove(&key) else {
            return self.reject(
                from,
                DatagramError::UnmatchedTxAck {
                    gateway_eui: ack.gateway_eui,
                    token: ack.token,
                },
            );
        };
        let txpk_ack = ack.payload.map(|p| p.txpk_ack).unwrap_or_default();
        let status = if txpk_ack.is_accepted() {
            match txpk_ack.warn {
                Some(warning) if warning != TxAckError::None => TxStatus::AcceptedWithWarning {
                    warning,
                    value: txpk_ack.value,
                },
                _ => TxStatus::Accepted,
            }
        } else {
            // `is_accepted` is false only for an error other than `NONE`.
            TxStatus::Rejected(txpk_ack.error.unwrap_or(TxAckError::None))
        };
        pending.statuses.push(status);
        if status.is_sent() || pending.remaining.is_empty() {
            return self.finish(ack.gateway_eui, pending.downlink_id, pending.statuses);
        }
        self.counters.downlinks.add(status);
        self.send_next(now, ack.gateway_eui, ack.token, pending);
    }

    /// Sends the next item of `pending` and keeps it pending; when the gateway
    /// has no downlink path, ends the downlink instead and returns false.
    fn send_next(
        &mut self,
        now: Instant,
        gateway_eui: Eui64,
        token: u16,
        mut pending: Pending,
    ) -> bool {
        let path = self
            .gateways
            .get(&gateway_eui)
            .and_then(|g| Some((g.pull_address?, g.version)));
        let (Some((destination, version)), Some(txpk)) = (path, pending.remaining.pop_front())
        else {
            pending.statuses.push(TxStatus::GatewayNotConnected);
            self.finish(gateway_eui, pending.downlink_id, pending.statuses);
            return false;
        };
        let resp = PullResp {
            version,
            token,
            payload: PullRespPayload { txpk },
        };
        self.queue(destination, resp.to_vec(), Identifier::PullResp);
        pending.version = version;
        pending.deadline = now
            + match version {
                ProtocolVersion::V1 => self.config.v1_ack_delay,
                ProtocolVersion::V2 => self.config.tx_ack_timeout,
            };
        self.timers.push(Reverse((
            pending.deadline,
            TimerKey::Downlink(gateway_eui, token),
        )));
        self.pending.insert((gateway_eui, token), pending);
        true
    }

    /// Emits the `DownlinkAck` of a downlink whose last status is not counted
    /// yet.
    fn finish(&mut self, gateway_eui: Eui64, downlink_id: u32, statuses: Vec<TxStatus>) {
        if let Some(&last) = statuses.last() {
            self.counters.downlinks.add(last);
        }
        self.counters.downlinks.acks += 1;
        self.events.push_back(Event::DownlinkAck {
            gateway_eui,
            downlink_id,
            statuses,
        });
    }

    fn connect(
        &mut self,
        now: Instant,
        from: A,
        gateway_eui: Eui64,
        version: ProtocolVersion,
        pull_address: Option<A>,
    ) -> bool {
        if self.gateways.len() >= self.config.max_gateways {
            self.reject(from, DatagramError::TooManyGateways { gateway_eui });
            return false;
        }
        let expires_at = now + self.config.connection_timeout;
        self.gateways.insert(
            gateway_eui,
            GatewayInfo {
                pull_address,
                version,
                expires_at,
            },
        );
        self.timers
            .push(Reverse((expires_at, TimerKey::Gateway(gateway_eui))));
        self.counters.gateways_connected += 1;
        self.events.push_back(Event::GatewayConnected {
            gateway_eui,
            address: from,
            version,
        });
        true
    }

    fn is_live(&self, deadline: Instant, key: TimerKey) -> bool {
        match key {
            TimerKey::Gateway(eui) => self
                .gateways
                .get(&eui)
                .is_some_and(|g| g.expires_at == deadline),
            TimerKey::Downlink(eui, token) => self
                .pending
                .get(&(eui, token))
                .is_some_and(|p| p.deadline == deadline),
        }
    }

    fn queue(&mut self, destination: A, bytes: Vec<u8>, identifier: Identifier) {
        self.counters.datagrams_out.add(identifier);
        self.transmits.push_back(Transmit { destination, bytes });
    }

    fn reject(&mut self, from: A, error: DatagramError) {
        self.counters.errors.add(&error);
        self.events.push_back(Event::DatagramError { from, error });
    }
}

/// The PULL_RESP token of a downlink: its id's low 16 bits.
///
/// ```
/// use packet_forwarder::semtech_udp::server::token;
/// assert_eq!(token(0x0012_3456), 0x3456); // on the wire: 0x34, 0x56
/// ```
pub const fn token(downlink_id: u32) -> u16 {
    downlink_id as u16
}
